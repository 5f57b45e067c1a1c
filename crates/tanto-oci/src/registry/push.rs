//! Pushing images (OCI distribution API): blobs (skipped when the registry
//! has them, mounted from another repository of the same registry when we
//! know one that has them, else uploaded monolithically), then manifests.
//!
//! Pushes go to the registry itself, never to a mirror; plain HTTP follows
//! the engine config (`http = true`, or a loopback host). Auth is the same
//! dance as pulls with `pull,push` scope.

use std::path::{Path, PathBuf};

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::error::{Attempt, Failure};
use super::transport::Actions;
use super::{Registry, RegistryAuth};
use crate::config::Endpoint;
use crate::reference::ImageRef;

/// What a blob upload sends: a file read only if needed, or bytes in memory.
enum BlobBody<'a> {
    File(&'a Path),
    Memory(bytes::Bytes),
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot push to `{reference}`: {attempt}{hint}", hint = push_hint(.attempt))]
    Registry { reference: String, attempt: Attempt },
    #[error("cannot read `{reference}`: {attempt}{hint}", hint = push_hint(.attempt))]
    Read { reference: String, attempt: Attempt },
    #[error("cannot push blob `{digest}` to `{reference}`: {attempt}{hint}", hint = push_hint(.attempt))]
    Blob { reference: String, digest: String, attempt: Attempt },
    #[error("cannot read `{path}` to push it: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob `{path}` has digest `{actual}`, not `{digest}`; it changed in the state directory, remove the state directory's blob and try again")]
    Corrupt { path: PathBuf, digest: String, actual: String },
}

fn push_hint(a: &Attempt) -> &'static str {
    match a.failure {
        Failure::Unauthorized(_) => "; pass credentials with `withRegistryAuth` (or `docker login`) for this registry",
        Failure::Unreachable(_) => "; check that the registry is running and the address is right (plain-HTTP registries need `http = true` in the engine config)",
        Failure::NotFound(_) => "; check the repository name",
        _ => "",
    }
}

impl Registry {
    /// Where pushes for `r` go: the registry itself (no mirrors).
    fn push_endpoint(&self, r: &ImageRef) -> Endpoint {
        self.config().endpoint_for(r.origin_host(), false)
    }

    fn push_failure(r: &ImageRef, ep: &Endpoint, failure: Failure) -> PushError {
        PushError::Registry {
            reference: r.to_string(),
            attempt: Attempt { host: ep.host.clone(), mirror: false, failure },
        }
    }

    /// Whether the repository of `r` has blob `digest`.
    pub async fn has_blob(&self, r: &ImageRef, digest: &str, auth: &RegistryAuth) -> Result<bool, PushError> {
        let ep = self.push_endpoint(r);
        match self
            .transport
            .send(&ep, r.repository(), Method::HEAD, &format!("blobs/{digest}"), &[], None, Actions::Push, auth)
            .await
        {
            Ok(_) => Ok(true),
            Err(Failure::NotFound(_)) => Ok(false),
            Err(failure) => Err(PushError::Blob {
                reference: r.to_string(),
                digest: digest.into(),
                attempt: Attempt { host: ep.host.clone(), mirror: false, failure },
            }),
        }
    }

    /// Pushes the file `path` as blob `digest` to the repository of `r`,
    /// unless it is there already. `mount_from` names another repository of
    /// the same registry that has the blob (a cross-repository mount).
    /// Returns whether bytes were uploaded.
    pub async fn push_blob(
        &self,
        r: &ImageRef,
        digest: &str,
        path: &Path,
        mount_from: Option<&str>,
        auth: &RegistryAuth,
    ) -> Result<bool, PushError> {
        if self.has_blob(r, digest, auth).await? {
            return Ok(false);
        }
        self.upload(r, digest, mount_from, BlobBody::File(path), auth).await
    }

    /// Pushes a small blob held in memory (a config).
    pub async fn push_blob_bytes(
        &self,
        r: &ImageRef,
        digest: &str,
        data: &[u8],
        auth: &RegistryAuth,
    ) -> Result<(), PushError> {
        if self.has_blob(r, digest, auth).await? {
            return Ok(());
        }
        let body = BlobBody::Memory(bytes::Bytes::copy_from_slice(data));
        self.upload(r, digest, None, body, auth).await.map(|_| ())
    }

    /// One blob upload: POST to start it (or to mount the blob from
    /// `mount_from`), then PUT the bytes to the returned location. A file is
    /// read only when the registry wants its bytes, and checked against
    /// `digest` first. Returns whether bytes were uploaded.
    async fn upload(
        &self,
        r: &ImageRef,
        digest: &str,
        mount_from: Option<&str>,
        body: BlobBody<'_>,
        auth: &RegistryAuth,
    ) -> Result<bool, PushError> {
        let ep = self.push_endpoint(r);
        let blob_err = |failure| PushError::Blob {
            reference: r.to_string(),
            digest: digest.into(),
            attempt: Attempt { host: ep.host.clone(), mirror: false, failure },
        };
        let start = match mount_from.filter(|from| *from != r.repository()) {
            Some(from) => format!("blobs/uploads/?mount={digest}&from={from}"),
            None => "blobs/uploads/".to_string(),
        };
        let resp = self
            .transport
            .send(
                &ep,
                r.repository(),
                Method::POST,
                &start,
                &[(CONTENT_LENGTH.as_str(), "0")],
                None,
                Actions::Push,
                auth,
            )
            .await
            .map_err(blob_err)?;
        if resp.status() == StatusCode::CREATED && mount_from.is_some() {
            return Ok(false);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| blob_err(Failure::Invalid("an upload answer without a Location header".into())))?
            .to_string();
        let data = match body {
            BlobBody::Memory(data) => data,
            BlobBody::File(path) => {
                let data =
                    tokio::fs::read(path).await.map_err(|source| PushError::Io { path: path.to_path_buf(), source })?;
                let actual = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
                if actual != digest {
                    return Err(PushError::Corrupt { path: path.to_path_buf(), digest: digest.into(), actual });
                }
                bytes::Bytes::from(data)
            }
        };
        let url = upload_url(&ep, &location, digest);
        let len = data.len().to_string();
        self.transport
            .send(
                &ep,
                r.repository(),
                Method::PUT,
                &url,
                &[(CONTENT_TYPE.as_str(), "application/octet-stream"), (CONTENT_LENGTH.as_str(), &len)],
                Some(data),
                Actions::Push,
                auth,
            )
            .await
            .map_err(blob_err)?;
        Ok(true)
    }

    /// The manifest `reference` (a tag or digest) of the repository of `r`,
    /// as stored (no platform resolution, no mirrors), at most `limit` bytes;
    /// `None` when the repository has no such manifest.
    pub async fn fetch_manifest_raw(
        &self,
        r: &ImageRef,
        reference: &str,
        accept: &str,
        limit: usize,
        auth: &RegistryAuth,
    ) -> Result<Option<Vec<u8>>, PushError> {
        let ep = self.push_endpoint(r);
        match self.transport.get(&ep, r.repository(), &format!("manifests/{reference}"), Some(accept), auth).await {
            Ok(resp) => super::transport::read_limited(resp, limit, "manifest")
                .await
                .map(Some)
                .map_err(|f| Self::read_failure(r, &ep, f)),
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(Self::read_failure(r, &ep, f)),
        }
    }

    fn read_failure(r: &ImageRef, ep: &Endpoint, failure: Failure) -> PushError {
        PushError::Read { reference: r.to_string(), attempt: Attempt { host: ep.host.clone(), mirror: false, failure } }
    }

    /// Puts a manifest (or index) under `reference` (a tag or its digest) in
    /// the repository of `r`; returns its digest.
    pub async fn push_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        media_type: &str,
        data: &[u8],
        auth: &RegistryAuth,
    ) -> Result<String, PushError> {
        let ep = self.push_endpoint(r);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let len = data.len().to_string();
        let resp = self
            .transport
            .send(
                &ep,
                r.repository(),
                Method::PUT,
                &format!("manifests/{reference}"),
                &[(CONTENT_TYPE.as_str(), media_type), (CONTENT_LENGTH.as_str(), &len)],
                Some(bytes::Bytes::copy_from_slice(data)),
                Actions::Push,
                auth,
            )
            .await
            .map_err(|f| Self::push_failure(r, &ep, f))?;
        if let Some(got) = resp.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()) {
            if got != digest {
                return Err(Self::push_failure(
                    r,
                    &ep,
                    Failure::Invalid(format!("digest `{got}` for a manifest whose digest is `{digest}`")),
                ));
            }
        }
        Ok(digest)
    }
}

/// The URL to `PUT` an upload to: `location` (absolute or relative) with the digest added.
fn upload_url(ep: &Endpoint, location: &str, digest: &str) -> String {
    let base = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}://{}{}", ep.scheme(), ep.host, location)
    } else {
        format!("{}://{}/{}", ep.scheme(), ep.host, location)
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}digest={digest}")
}

impl tanto_model::Tiered for PushError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            PushError::Registry { attempt, .. } | PushError::Blob { attempt, .. }
                if matches!(attempt.failure, super::Failure::Unauthorized(_)) =>
            {
                tanto_model::Tier::Input
            }
            PushError::Corrupt { .. } => tanto_model::Tier::Internal,
            _ => tanto_model::Tier::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_urls() {
        let ep = Endpoint { host: "127.0.0.1:5000".into(), http: true, insecure: false, mirror: false };
        let d = "sha256:ab";
        let cases = [
            (
                "/v2/a/blobs/uploads/u1?_state=x",
                "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x&digest=sha256:ab",
            ),
            ("/v2/a/blobs/uploads/u1", "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?digest=sha256:ab"),
            ("https://other/up/1?x=1", "https://other/up/1?x=1&digest=sha256:ab"),
        ];
        for (loc, want) in cases {
            assert_eq!(upload_url(&ep, loc, d), want);
        }
    }
}
