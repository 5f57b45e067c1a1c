//! The client's local image store, through the Docker Engine API on a unix
//! socket (Docker's, or podman's Docker-compatible service):
//! `Host.containerImage` reads an image with `GET /images/{name}/get` (a
//! `docker save` tarball) and imports it like `Container.import`;
//! `Container.exportImage` writes the image as a tarball (OCI layout plus
//! Docker's `manifest.json`, tagged) and `POST`s it to `/images/load`.
//!
//! Which socket: `DOCKER_HOST` when it is set (only `unix://` is supported),
//! else the first of `/var/run/docker.sock`, `/run/podman/podman.sock` and
//! `$XDG_RUNTIME_DIR/podman/podman.sock` that answers `GET /_ping`. The
//! engine runs on the client's machine with the client's environment, so
//! these are the client's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tanto_api::dagger::backend::ImageOptions;
use tanto_api::dagger::objects::ContainerObj;
use tanto_api::dagger::ResolvedImage;
use tanto_gql::FieldError;
use tokio::io::AsyncWriteExt;

use crate::backend::EngineBackend;

const DEFAULT_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/podman/podman.sock"];

/// A daemon that answered on `socket`.
pub(crate) struct LocalDaemon {
    socket: PathBuf,
    client: reqwest::Client,
}

/// The sockets to try, and whether they come from `DOCKER_HOST`.
fn candidates(docker_host: Option<&str>, xdg_runtime_dir: Option<&str>) -> Result<(Vec<PathBuf>, bool), String> {
    if let Some(host) = docker_host.filter(|h| !h.is_empty()) {
        return match host.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => Ok((vec![PathBuf::from(p)], true)),
            _ => Err(format!(
                "DOCKER_HOST=`{host}` is not supported: tanto reaches the local image store over a unix socket; set DOCKER_HOST=unix:///path/to/docker.sock or unset it"
            )),
        };
    }
    let mut out: Vec<PathBuf> = DEFAULT_SOCKETS.iter().map(PathBuf::from).collect();
    if let Some(dir) = xdg_runtime_dir.filter(|d| !d.is_empty()) {
        out.push(Path::new(dir).join("podman/podman.sock"));
    }
    Ok((out, false))
}

/// Image names go into a URL path: only the characters of image references.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not an image name (such as `alpine:3.20` or `registry.example.com/team/app:v1`)"))
    }
}

/// The message of a Docker API error body (`{"message": ...}`), or the body.
fn api_message(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    match v.as_ref().and_then(|v| v["message"].as_str()) {
        Some(m) => m.to_string(),
        None => String::from_utf8_lossy(body).trim().to_string(),
    }
}

/// The first error in the JSON message stream of `/images/load`.
fn load_error(body: &[u8]) -> Option<String> {
    serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>().find_map(|v| {
        let v = v.ok()?;
        v["errorDetail"]["message"].as_str().or(v["error"].as_str()).map(str::to_string)
    })
}

fn flat(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl LocalDaemon {
    /// The first daemon that answers, from the environment of this process.
    pub(crate) async fn connect() -> Result<LocalDaemon, String> {
        let host = std::env::var("DOCKER_HOST").ok();
        let xdg = std::env::var("XDG_RUNTIME_DIR").ok();
        let (sockets, from_env) = candidates(host.as_deref(), xdg.as_deref())?;
        let mut tried = Vec::new();
        for socket in sockets {
            match Self::ping(&socket).await {
                Ok(d) => return Ok(d),
                Err(e) => tried.push(e),
            }
        }
        if from_env {
            return Err(format!(
                "no docker or podman daemon answers on DOCKER_HOST: {}; start the daemon, or fix or unset DOCKER_HOST",
                tried.join("; ")
            ));
        }
        Err(format!(
            "no docker or podman daemon answers ({}): start one (`systemctl start docker`, or `podman system service --time=0 unix:///run/podman/podman.sock`), or set DOCKER_HOST=unix:///path/to/its.sock",
            tried.join("; ")
        ))
    }

    async fn ping(socket: &Path) -> Result<LocalDaemon, String> {
        if !socket.exists() {
            return Err(format!("no socket at `{}`", socket.display()));
        }
        let client = reqwest::Client::builder()
            .unix_socket(socket)
            .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        let d = LocalDaemon { socket: socket.to_path_buf(), client };
        let resp = d
            .client
            .get(d.url("/_ping"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("`{}`: {}", socket.display(), flat(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("`{}` answers `GET /_ping` with HTTP {}", socket.display(), resp.status()));
        }
        Ok(d)
    }

    fn url(&self, path: &str) -> String {
        format!("http://localhost{path}")
    }

    fn at(&self) -> String {
        format!("the image store at `{}`", self.socket.display())
    }

    /// Writes `docker save NAME` to `dest`.
    pub(crate) async fn save(&self, name: &str, dest: &Path) -> Result<(), String> {
        check_name(name)?;
        let resp = self
            .client
            .get(self.url(&format!("/images/{name}/get")))
            .send()
            .await
            .map_err(|e| format!("reading image `{name}` from {}: {}", self.at(), flat(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(format!(
                "image `{name}` is not in {}: pull or build it there first (`docker pull {name}`)",
                self.at()
            ));
        }
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(format!("reading image `{name}` from {}: HTTP {status}: {}", self.at(), api_message(&body)));
        }
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| format!("`{}`: {e}", dest.display()))?;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading image `{name}` from {}: {}", self.at(), flat(&e)))?;
            file.write_all(&chunk).await.map_err(|e| format!("`{}`: {e}", dest.display()))?;
        }
        file.flush().await.map_err(|e| format!("`{}`: {e}", dest.display()))?;
        Ok(())
    }

    /// `docker load < tarball`.
    pub(crate) async fn load(&self, tarball: &Path) -> Result<(), String> {
        let file = tokio::fs::File::open(tarball).await.map_err(|e| format!("`{}`: {e}", tarball.display()))?;
        let resp = self
            .client
            .post(self.url("/images/load?quiet=1"))
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(reqwest::Body::from(file))
            .send()
            .await
            .map_err(|e| format!("loading the image into {}: {}", self.at(), flat(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("loading the image into {}: {}", self.at(), flat(&e)))?;
        if !status.is_success() {
            return Err(format!("loading the image into {}: HTTP {status}: {}", self.at(), api_message(&body)));
        }
        // Docker answers 200 and reports failures in its message stream.
        match load_error(&body) {
            Some(e) => Err(format!("loading the image into {}: {e}", self.at())),
            None => Ok(()),
        }
    }

    /// The ID of image `name`, if the store has it.
    pub(crate) async fn image_id(&self, name: &str) -> Result<Option<String>, String> {
        check_name(name)?;
        let resp = self
            .client
            .get(self.url(&format!("/images/{name}/json")))
            .send()
            .await
            .map_err(|e| format!("inspecting image `{name}` in {}: {}", self.at(), flat(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("inspecting image `{name}` in {}: HTTP {status}: {}", self.at(), api_message(&body)));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("inspecting image `{name}`: {e}"))?;
        Ok(v["Id"].as_str().map(str::to_string))
    }

    /// Tags image `id` as `repo:tag`.
    pub(crate) async fn tag(&self, id: &str, repo: &str, tag: &str) -> Result<(), String> {
        check_name(id)?;
        let mut url = reqwest::Url::parse(&self.url(&format!("/images/{id}/tag"))).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("repo", repo).append_pair("tag", tag);
        let resp = self
            .client
            .post(url)
            .send()
            .await
            .map_err(|e| format!("tagging `{repo}:{tag}` in {}: {}", self.at(), flat(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(format!("tagging `{repo}:{tag}` in {}: HTTP {status}: {}", self.at(), api_message(&body)));
        }
        Ok(())
    }
}

/// `name` split into repository and tag (`latest` when it has none).
fn repo_and_tag(name: &str) -> Result<(String, String), String> {
    tanto_oci::reference::ImageRef::parse(name).map_err(|e| format!("`{name}` is not an image name: {e}"))?;
    if name.contains('@') {
        return Err(format!("cannot export an image as `{name}`: give a name and tag, not a digest"));
    }
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    Ok(match name[last_slash..].rfind(':') {
        Some(i) => (name[..last_slash + i].to_string(), name[last_slash + i + 1..].to_string()),
        None => (name.to_string(), "latest".to_string()),
    })
}

impl EngineBackend {
    pub(crate) async fn do_host_container_image(
        &self,
        name: &str,
        platform: &str,
    ) -> Result<ResolvedImage, FieldError> {
        check_name(name).map_err(FieldError::from)?;
        let daemon = LocalDaemon::connect().await.map_err(FieldError::from)?;
        let tmp = self.worker().store.tmp_path("docker-save");
        let out = async {
            daemon.save(name, &tmp).await.map_err(FieldError::from)?;
            let file = std::fs::File::open(&tmp).map_err(|e| FieldError::from(format!("`{}`: {e}", tmp.display())))?;
            self.import_tarball_file(file, Path::new(name), "", platform).await
        }
        .await;
        let _ = std::fs::remove_file(&tmp);
        let mut img = out.map_err(|e| FieldError::from(format!("image `{name}` of the host: {}", e.message)))?;
        if img.reference.starts_with("sha256:") {
            img.reference = name.to_string();
        }
        Ok(img)
    }

    pub(crate) async fn do_load_host_image(
        &self,
        name: &str,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<(), FieldError> {
        check_name(name).map_err(FieldError::from)?;
        let (repo, tag) = repo_and_tag(name).map_err(FieldError::from)?;
        let full = format!("{repo}:{tag}");
        let daemon = LocalDaemon::connect().await.map_err(FieldError::from)?;
        let built = self.build_image(variants, opts).await?;
        let config_digest = built.config_digest().to_string();
        let tmp = self.worker().store.tmp_path("docker-load");
        let out = async {
            let (t, n) = (tmp.clone(), full.clone());
            let written = tokio::task::spawn_blocking(move || crate::image::write_layout(&built, &t, Some(&n)))
                .await
                .map_err(|e| FieldError::from(format!("internal error: {e}")))?;
            written.map_err(|e| FieldError::from(format!("writing the image tarball: {e}")))?;
            daemon.load(&tmp).await.map_err(FieldError::from)?;
            // A store that ignores the tarball's tag (or a multi-platform
            // index) gets the tag set explicitly.
            if daemon.image_id(&full).await.map_err(FieldError::from)?.is_none() {
                daemon.tag(&config_digest, &repo, &tag).await.map_err(FieldError::from)?;
            }
            match daemon.image_id(&full).await.map_err(FieldError::from)? {
                Some(_) => Ok(()),
                None => {
                    Err(FieldError::from(format!("{} loaded the image but has no `{full}` afterwards", daemon.at())))
                }
            }
        }
        .await;
        let _ = std::fs::remove_file(&tmp);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_to_try() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        // (DOCKER_HOST, XDG_RUNTIME_DIR, sockets, from DOCKER_HOST)
        for (host, xdg, want, env) in [
            (None, None, p(&["/var/run/docker.sock", "/run/podman/podman.sock"]), false),
            (
                Some(""),
                Some("/run/user/1000"),
                p(&["/var/run/docker.sock", "/run/podman/podman.sock", "/run/user/1000/podman/podman.sock"]),
                false,
            ),
            (Some("unix:///tmp/d.sock"), Some("/run/user/1000"), p(&["/tmp/d.sock"]), true),
        ] {
            assert_eq!(candidates(host, xdg).unwrap(), (want, env), "{host:?} {xdg:?}");
        }
        for host in ["tcp://127.0.0.1:2375", "unix://", "ssh://me@host"] {
            let e = candidates(Some(host), None).unwrap_err();
            assert!(e.contains("DOCKER_HOST") && e.contains(host), "{e}");
        }
    }

    #[test]
    fn names_and_tags() {
        for (name, want) in [
            ("alpine", Some(("alpine", "latest"))),
            ("alpine:3.20", Some(("alpine", "3.20"))),
            ("localhost:5000/team/app", Some(("localhost:5000/team/app", "latest"))),
            ("localhost:5000/team/app:v1", Some(("localhost:5000/team/app", "v1"))),
            ("alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", None),
        ] {
            let got = repo_and_tag(name).ok();
            assert_eq!(got.as_ref().map(|(r, t)| (r.as_str(), t.as_str())), want, "{name}");
        }
        for (name, ok) in [
            ("alpine:3.20", true),
            ("a/b@sha256:00", true),
            ("../../etc", false),
            ("a b", false),
            ("a?x=1", false),
            ("", false),
        ] {
            assert_eq!(check_name(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn load_stream_errors() {
        for (body, want) in [
            (&br#"{"stream":"Loaded image: a:latest\n"}"#[..], None),
            (br#"{"stream":"x"}{"errorDetail":{"message":"bad layer"},"error":"bad layer"}"#, Some("bad layer")),
            (br#"{"error":"no space"}"#, Some("no space")),
        ] {
            assert_eq!(load_error(body).as_deref(), want);
        }
    }
}
