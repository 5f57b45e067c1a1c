//! Registry credentials from Docker's client config (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`): `auths` entries (`auth` = base64 of
//! `user:password`, or `username`/`password`), and credential helpers
//! (`credHelpers` per host, `credsStore` for all) run as
//! `docker-credential-<name> get` with the host on stdin.
//!
//! Identity tokens (`identitytoken`, OAuth refresh tokens) are not supported
//! and are skipped. Nothing read here is logged.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

use super::auth::{Credential, RegistryAuth};

#[derive(Debug, Default, serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Docker's config file path: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The names an `auths` key may use for `host` (`https://index.docker.io/v1/` for Docker Hub).
fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if matches!(host, "docker.io" | "registry-1.docker.io" | "index.docker.io") {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("index.docker.io".into());
        keys.push("docker.io".into());
    }
    keys
}

fn entry_credential(e: &AuthEntry) -> Option<Credential> {
    if let Some(t) = e.registry_token.as_deref().filter(|t| !t.is_empty()) {
        return Some(Credential::Bearer(t.to_string()));
    }
    if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD.decode(a.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        return Some(Credential::Basic { username: u.to_string(), password: p.to_string() });
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Credential::Basic { username: u.clone(), password: p.clone() }),
        _ => None,
    }
}

fn run_helper(helper: &str, host: &str) -> Option<Credential> {
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| tracing::debug!(helper, error = %e, "docker credential helper did not start"))
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let a: HelperAnswer = serde_json::from_slice(&out.stdout).ok()?;
    if a.username == "<token>" || a.secret.is_empty() {
        return None;
    }
    Some(Credential::Basic { username: a.username, password: a.secret })
}

/// Credentials for `host` in the Docker config at `path` (helpers first, as docker does).
pub fn docker_credential_from(path: &Path, host: &str) -> Option<Credential> {
    let text = std::fs::read(path).ok()?;
    let cfg: ConfigFile = match serde_json::from_slice(&text) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "docker config is not valid JSON; ignoring it");
            return None;
        }
    };
    let keys = keys_for(host);
    if let Some(helper) = keys.iter().find_map(|k| cfg.cred_helpers.get(k)) {
        if let Some(c) = keys.iter().find_map(|k| run_helper(helper, k)) {
            return Some(c);
        }
    }
    if let Some(c) = keys.iter().find_map(|k| cfg.auths.get(k)).and_then(entry_credential) {
        return Some(c);
    }
    let store = cfg.creds_store.as_deref().filter(|s| !s.is_empty())?;
    keys.iter().find_map(|k| run_helper(store, k))
}

/// `auth` plus Docker's credential for `host`, unless `auth` already has one.
pub fn with_docker_credentials(mut auth: RegistryAuth, host: &str) -> RegistryAuth {
    if auth.get(host).is_none() {
        if let Some(c) = docker_config_path().and_then(|p| docker_credential_from(&p, host)) {
            auth.insert(host, c);
        }
    }
    auth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{
                    "127.0.0.1:5000": {{"auth": "{b64}"}},
                    "https://index.docker.io/v1/": {{"username": "bob", "password": "pw"}},
                    "ghcr.io": {{"registrytoken": "tok"}},
                    "broken.example": {{"auth": "not base64!"}}
                }}}}"#
            ),
        )
        .unwrap();
        let basic = |u: &str, p: &str| Some(Credential::Basic { username: u.into(), password: p.into() });
        let cases = [
            ("127.0.0.1:5000", basic("alice", "s3cret")),
            ("docker.io", basic("bob", "pw")),
            ("registry-1.docker.io", basic("bob", "pw")),
            ("ghcr.io", Some(Credential::Bearer("tok".into()))),
            ("broken.example", None),
            ("quay.io", None),
        ];
        for (host, want) in cases {
            assert_eq!(docker_credential_from(&path, host), want, "{host}");
        }
        assert_eq!(docker_credential_from(&tmp.path().join("missing.json"), "quay.io"), None);
    }
}
