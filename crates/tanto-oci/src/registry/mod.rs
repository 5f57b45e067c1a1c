//! Talking to registries (OCI distribution API): resolve a reference to a
//! platform manifest and its config, fetch blobs to files.
//!
//! Hosts are tried as BuildKit does: the configured mirrors of the image's
//! registry in order, then the registry itself (`registry-1.docker.io` for
//! `docker.io`). A host speaks plain HTTP when its `[registry."host"]`
//! section says `http = true` (or, unset, when it is a loopback address).
//! The first host that has the manifest also serves the blobs
//! ([`BlobRepo`]).
//!
//! Structure: [`transport`] does HTTP, auth and status mapping; this module
//! does the pull protocol. Push will sit beside pull on the same transport.

mod auth;
mod docker_config;
mod error;
mod push;
mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

pub use tanto_model::BlobRepo;
use tanto_model::BlobSource;

use crate::config::{Endpoint, EngineConfig};
use crate::image::ConfigBlob;
use crate::platform::Platform;
use crate::reference::ImageRef;

pub use auth::{Credential, RegistryAuth};
pub use docker_config::{docker_config_path, docker_credential_from, with_docker_credentials};
pub use error::{Attempt, Failure, OciError};
pub use push::PushError;
use transport::Transport;

/// Media types this module knows.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_MANIFEST_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const OCI_CONFIG: &str = crate::image::OCI_CONFIG;
    pub const DOCKER_CONFIG: &str = crate::image::DOCKER_CONFIG;
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// What we accept for manifests, most wanted first.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}

const MANIFEST_LIMIT: usize = 8 << 20;
const CONFIG_LIMIT: usize = 64 << 20;

/// One layer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// `sha256:<hex>` of the (compressed) blob.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

impl LayerDesc {
    /// Where this layer is fetched from in `repo` (what `ImageLayerOp`
    /// carries); fails on a digest that is not sha256.
    pub fn source(&self, repo: &BlobRepo) -> Result<BlobSource, tanto_model::DigestError> {
        Ok(BlobSource {
            digest: self.digest.parse()?,
            media_type: self.media_type.clone(),
            size: self.size,
            repo: repo.clone(),
        })
    }
}

/// A reference resolved to one platform's image.
#[derive(Debug, Clone)]
pub struct ResolvedManifest {
    /// The reference as asked for.
    pub reference: ImageRef,
    /// Digest of the chosen platform manifest (`sha256:...`).
    pub manifest_digest: String,
    /// Digest of the index / manifest list the reference pointed at, if it
    /// pointed at one.
    pub index_digest: Option<String>,
    pub manifest_media_type: String,
    /// The manifest exactly as served (its sha256 is `manifest_digest`).
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config_digest: String,
    pub config_media_type: String,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfiguration,
    /// The same config, tolerant model that keeps every field (see [`crate::image`]).
    pub image_config: ConfigBlob,
    pub layers: Vec<LayerDesc>,
    /// The platform asked for.
    pub platform: Platform,
    pub source: BlobRepo,
}

impl ResolvedManifest {
    /// The reference pinned to what it resolved to (the index digest when the
    /// tag named an index, as `docker pull` prints).
    pub fn pinned(&self) -> ImageRef {
        self.reference.with_digest(self.index_digest.clone().unwrap_or_else(|| self.manifest_digest.clone()))
    }

    /// `rootfs.diff_ids`, one per layer.
    pub fn diff_ids(&self) -> &[String] {
        &self.image_config.rootfs.diff_ids
    }
}

/// A registry client. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct Registry {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// Why one host could not serve a resolve: try the next, or stop.
enum HostError {
    Next(Failure),
    Stop(OciError),
}

impl From<Failure> for HostError {
    fn from(f: Failure) -> Self {
        HostError::Next(f)
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Registry {
    pub fn new(config: Arc<EngineConfig>) -> Registry {
        Registry { transport: Arc::new(Transport::new(config)) }
    }

    pub fn config(&self) -> &Arc<EngineConfig> {
        self.transport.config()
    }

    /// Resolves `r` for `platform`, anonymously.
    pub async fn resolve(&self, r: &ImageRef, platform: &Platform) -> Result<ResolvedManifest, OciError> {
        self.resolve_with_auth(r, platform, &RegistryAuth::anonymous()).await
    }

    /// Resolves `r` for `platform` with `auth`'s credentials: mirrors first,
    /// then the registry; follows an index to the platform's manifest, then
    /// fetches and checks the config.
    pub async fn resolve_with_auth(
        &self,
        r: &ImageRef,
        platform: &Platform,
        auth: &RegistryAuth,
    ) -> Result<ResolvedManifest, OciError> {
        let endpoints = self.transport.config().endpoints(r.registry());
        let mut attempts = Vec::new();
        for ep in &endpoints {
            match self.resolve_at(ep, r, platform, auth).await {
                Ok(image) => {
                    tracing::debug!(reference = %r, host = %ep.host, manifest = %image.manifest_digest, layers = image.layers.len(), "resolved");
                    return Ok(image);
                }
                Err(HostError::Stop(e)) => return Err(e),
                Err(HostError::Next(failure)) => {
                    tracing::debug!(host = %ep.host, reference = %r, ?failure, "resolve failed on this host");
                    attempts.push(Attempt { host: ep.host.clone(), mirror: ep.mirror, failure });
                }
            }
        }
        Err(OciError::from_attempts(r.to_string(), attempts))
    }

    async fn resolve_at(
        &self,
        ep: &Endpoint,
        r: &ImageRef,
        platform: &Platform,
        auth: &RegistryAuth,
    ) -> Result<ResolvedManifest, HostError> {
        let repo = r.repository();
        let (mut bytes, mut content_type) = self.get_manifest(ep, repo, r.reference(), auth).await?;
        let mut digest = sha256_digest(&bytes);
        if let Some(want) = r.digest() {
            if want != digest {
                return Err(HostError::Next(Failure::Invalid(format!(
                    "a manifest with digest `{digest}` for `{want}`"
                ))));
            }
        }
        let mut media_type = manifest_media_type(&bytes, content_type.as_deref());
        let mut index_digest = None;

        if media_type == media::OCI_INDEX || media_type == media::DOCKER_MANIFEST_LIST {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| Failure::Invalid(format!("a malformed image index for `{}`: {e}", r.reference())))?;
            let chosen = choose_platform(&index, platform).ok_or_else(|| {
                HostError::Stop(OciError::NoMatchingPlatform {
                    reference: r.to_string(),
                    platform: platform.to_string(),
                    available: available_platforms(&index),
                })
            })?;
            index_digest = Some(digest.clone());
            (bytes, content_type) = self.get_manifest(ep, repo, &chosen, auth).await?;
            digest = sha256_digest(&bytes);
            if digest != chosen {
                return Err(HostError::Next(Failure::Invalid(format!(
                    "a manifest with digest `{digest}` for `{chosen}`"
                ))));
            }
            media_type = manifest_media_type(&bytes, content_type.as_deref());
            if media_type == media::OCI_INDEX || media_type == media::DOCKER_MANIFEST_LIST {
                return Err(HostError::Stop(OciError::Unsupported {
                    reference: r.to_string(),
                    detail: format!("its index points to another index (`{chosen}`), which tanto does not follow"),
                }));
            }
        }
        if media_type == media::DOCKER_MANIFEST_V1 || media_type == media::DOCKER_MANIFEST_V1_SIGNED {
            return Err(HostError::Stop(OciError::Unsupported {
                reference: r.to_string(),
                detail:
                    "it uses Docker's schema 1 manifest, which is no longer supported; re-push it with a current tool"
                        .into(),
            }));
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            HostError::Stop(OciError::Malformed {
                reference: r.to_string(),
                detail: format!("its manifest `{digest}` cannot be read: {e}"),
            })
        })?;
        let config_media_type = manifest.config().media_type().to_string();
        if config_media_type != media::OCI_CONFIG && config_media_type != media::DOCKER_CONFIG {
            return Err(HostError::Stop(OciError::Unsupported {
                reference: r.to_string(),
                detail: format!("its config has media type `{config_media_type}` (an artifact, not an image)"),
            }));
        }
        let config_digest = manifest.config().digest().to_string();
        let src = BlobRepo { host: ep.host.clone(), repository: repo.to_string(), http: ep.http };
        let config_bytes = self.transport.get_blob_bytes(ep, repo, &config_digest, CONFIG_LIMIT, auth).await?;
        let actual = sha256_digest(&config_bytes);
        if actual != config_digest {
            return Err(HostError::Next(Failure::Invalid(format!(
                "a config with digest `{actual}` for `{config_digest}`"
            ))));
        }
        let image_config = ConfigBlob::from_slice(&config_bytes).map_err(|e| {
            HostError::Stop(OciError::Malformed {
                reference: r.to_string(),
                detail: format!("its config `{config_digest}` cannot be read: {e}"),
            })
        })?;
        let config = match serde_json::from_slice::<ImageConfiguration>(&config_bytes) {
            Ok(c) => c,
            Err(_) => image_config.to_oci().map_err(|e| {
                HostError::Stop(OciError::Malformed {
                    reference: r.to_string(),
                    detail: format!("its config `{config_digest}` cannot be read: {e}"),
                })
            })?,
        };
        let layers: Vec<LayerDesc> = manifest
            .layers()
            .iter()
            .map(|l| LayerDesc {
                digest: l.digest().to_string(),
                size: l.size(),
                media_type: l.media_type().to_string(),
            })
            .collect();
        if layers.len() != image_config.rootfs.diff_ids.len() {
            return Err(HostError::Stop(OciError::Malformed {
                reference: r.to_string(),
                detail: format!(
                    "its manifest lists {} layers but its config {} diff_ids",
                    layers.len(),
                    image_config.rootfs.diff_ids.len()
                ),
            }));
        }
        // a single image (or an index's entry) for another OS or CPU would
        // run the wrong binaries: refuse it, naming the platform it has (a
        // config's variant is not held against it: the index chose by variant)
        let has = image_config.platform();
        if !image_config.os.is_empty()
            && !image_config.architecture.is_empty()
            && (has.os != platform.os || has.architecture != platform.architecture)
        {
            return Err(HostError::Stop(OciError::NoMatchingPlatform {
                reference: r.to_string(),
                platform: platform.to_string(),
                available: has.to_string(),
            }));
        }
        Ok(ResolvedManifest {
            reference: r.clone(),
            manifest_digest: digest,
            index_digest,
            manifest_media_type: media_type,
            manifest_bytes: bytes,
            manifest,
            config_digest,
            config_media_type,
            config_bytes,
            config,
            image_config,
            layers,
            platform: platform.clone(),
            source: src,
        })
    }

    async fn get_manifest(
        &self,
        ep: &Endpoint,
        repo: &str,
        reference: &str,
        auth: &RegistryAuth,
    ) -> Result<(Vec<u8>, Option<String>), Failure> {
        let resp =
            self.transport.get(ep, repo, &format!("manifests/{reference}"), Some(media::MANIFEST_ACCEPT), auth).await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
        let bytes = transport::read_limited(resp, MANIFEST_LIMIT, "manifest").await?;
        Ok((bytes, content_type))
    }

    /// Fetches blob `digest` from `src` into `dest`, anonymously.
    pub async fn fetch_blob(
        &self,
        src: &BlobRepo,
        digest: &str,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<(), OciError> {
        self.fetch_blob_with_auth(src, digest, size, dest, &RegistryAuth::anonymous()).await
    }

    /// Streams blob `digest` from `src` to a temp file beside `dest`, checks
    /// its size and sha256, syncs it and renames it to `dest`. On any failure
    /// (or if the future is dropped) the temp file is removed.
    pub async fn fetch_blob_with_auth(
        &self,
        src: &BlobRepo,
        digest: &str,
        size: Option<u64>,
        dest: &Path,
        auth: &RegistryAuth,
    ) -> Result<(), OciError> {
        let ep = self.endpoint_of(src);
        let blob_err = |failure| OciError::Blob {
            digest: digest.to_string(),
            repository: format!("{}/{}", src.host, src.repository),
            attempt: Attempt { host: src.host.clone(), mirror: false, failure },
        };
        let hex_want = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                blob_err(Failure::Invalid(format!(
                    "nothing: `{digest}` is not a sha256 digest, the only kind tanto checks"
                )))
            })?;

        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OciError::Io { path, source }
        };
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.map_err(io_err(dir))?;
        let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "blob".into());
        let tmp = dir.join(format!(".{file_name}.partial-{}-{}", std::process::id(), unique()));
        let guard = RemoveOnDrop(Some(tmp.clone()));

        let mut resp =
            self.transport.get(&ep, &src.repository, &format!("blobs/{digest}"), None, auth).await.map_err(blob_err)?;
        if let (Some(want), Some(len)) = (size, resp.content_length()) {
            if want != len {
                return Err(blob_err(Failure::Invalid(format!("{len} bytes where the manifest says {want}"))));
            }
        }
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).await.map_err(io_err(&tmp))?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    return Err(blob_err(Failure::Unreachable(format!(
                        "download interrupted: {}",
                        transport::describe(&e)
                    ))))
                }
            };
            written += chunk.len() as u64;
            if size.is_some_and(|s| written > s) {
                return Err(blob_err(Failure::Invalid(format!(
                    "more than the {} bytes the manifest says",
                    size.unwrap_or(0)
                ))));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(io_err(&tmp))?;
        }
        out.flush().await.map_err(io_err(&tmp))?;
        let file = out.into_inner();
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(hex_want) || size.is_some_and(|s| s != written) {
            return Err(OciError::DigestMismatch {
                digest: digest.to_string(),
                host: src.host.clone(),
                actual: format!("sha256:{actual}"),
                size: written,
            });
        }
        file.sync_data().await.map_err(io_err(&tmp))?;
        drop(file);
        tokio::fs::rename(&tmp, dest).await.map_err(io_err(dest))?;
        guard.disarm();
        Ok(())
    }

    /// Reads a small blob (a config, a manifest by digest) into memory,
    /// checking its digest.
    pub async fn fetch_blob_bytes(
        &self,
        src: &BlobRepo,
        digest: &str,
        limit: usize,
        auth: &RegistryAuth,
    ) -> Result<Vec<u8>, OciError> {
        let ep = self.endpoint_of(src);
        let blob_err = |failure| OciError::Blob {
            digest: digest.to_string(),
            repository: format!("{}/{}", src.host, src.repository),
            attempt: Attempt { host: src.host.clone(), mirror: false, failure },
        };
        let bytes = self.transport.get_blob_bytes(&ep, &src.repository, digest, limit, auth).await.map_err(blob_err)?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                digest: digest.into(),
                host: src.host.clone(),
                actual,
                size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn endpoint_of(&self, src: &BlobRepo) -> Endpoint {
        let mut ep = self.transport.config().endpoint_for(&src.host, false);
        ep.http = src.http;
        ep
    }
}

struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (N.fetch_add(1, Ordering::Relaxed) << 32) | t as u64
}

/// The manifest's type: its `mediaType` field, else the `Content-Type`, else by shape.
fn manifest_media_type(bytes: &[u8], content_type: Option<&str>) -> String {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default, rename = "mediaType")]
        media_type: Option<String>,
        #[serde(default, rename = "schemaVersion")]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Option<Probe> = serde_json::from_slice(bytes).ok();
    if let Some(mt) = probe.as_ref().and_then(|p| p.media_type.clone()).filter(|m| !m.is_empty()) {
        return mt;
    }
    if let Some(ct) = content_type.filter(|c| c.starts_with("application/vnd.")) {
        return ct.to_string();
    }
    match probe {
        Some(p) if p.schema_version == Some(1) => media::DOCKER_MANIFEST_V1.to_string(),
        Some(p) if p.manifests.is_some() => media::OCI_INDEX.to_string(),
        _ => media::OCI_MANIFEST.to_string(),
    }
}

fn is_attestation(d: &oci_spec::image::Descriptor) -> bool {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest")
        || d.platform().as_ref().is_some_and(|p| p.os().to_string() == "unknown")
}

/// The digest of the best manifest for `platform` in `index`.
fn choose_platform(index: &ImageIndex, platform: &Platform) -> Option<String> {
    let candidates: Vec<_> = index.manifests().iter().filter(|d| !is_attestation(d)).collect();
    let mut best: Option<(u32, String)> = None;
    for d in &candidates {
        if let Some(p) = d.platform() {
            if let Some(score) = platform.match_score(&Platform::from(p)) {
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, d.digest().to_string()));
                }
            }
        }
    }
    if best.is_none() && candidates.len() == 1 && candidates[0].platform().is_none() {
        return Some(candidates[0].digest().to_string());
    }
    best.map(|(_, d)| d)
}

fn available_platforms(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .filter_map(|d| d.platform().as_ref().map(|p| Platform::from(p).to_string()))
        .collect();
    if list.is_empty() {
        "no platforms listed".into()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests;
