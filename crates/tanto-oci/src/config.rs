//! The engine config file (`engine.toml`), registry part in BuildKit's
//! `buildkitd.toml` format:
//!
//! ```toml
//! [registry."docker.io"]
//!   mirrors = ["127.0.0.1:5000"]
//! [registry."127.0.0.1:5000"]
//!   http = true            # plain HTTP
//!   # insecure = true      # HTTPS without certificate verification
//!   # ca = ["/etc/ssl/my-ca.pem"]
//! ```
//!
//! Every other top-level section is kept, untouched, in [`EngineConfig::extra`]
//! for the rest of the engine to read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Env var naming the config file; when set the file must exist.
pub const CONFIG_ENV: &str = "TANTO_CONFIG";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineConfig {
    /// `[registry."host"]` sections by host (`docker.io`, `127.0.0.1:5000`, ...).
    pub registries: BTreeMap<String, RegistryConfig>,
    /// All other top-level keys and sections, as written.
    pub extra: toml::Table,
}

/// One `[registry."host"]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]`, optionally `http://` or `https://` in front) tried
    /// before the registry itself, in order.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// `true`: talk plain HTTP to this host. Unset: plain HTTP for loopback
    /// hosts (`localhost`, `127.0.0.0/8`, `::1`), HTTPS otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<bool>,
    /// HTTPS without verifying the server certificate.
    #[serde(default)]
    pub insecure: bool,
    /// CA certificate files for this host (kept as data for now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
    /// Other keys of the section (`keypair`, ...), kept as written.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// How to reach one registry host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `host[:port]` as used in URLs.
    pub host: String,
    /// Plain HTTP instead of HTTPS.
    pub http: bool,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// True for a configured mirror, false for the registry itself.
    pub mirror: bool,
}

impl Endpoint {
    pub fn scheme(&self) -> &'static str {
        if self.http {
            "http"
        } else {
            "https"
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read engine config `{path}`: {source}{hint}", hint = if from_env(path) { "; fix TANTO_CONFIG or unset it" } else { "" })]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("engine config `{path}` line {line}, column {column}: {message}; fix the file (format: BuildKit's buildkitd.toml)")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("engine config `{path}`: {message}; fix the file (format: BuildKit's buildkitd.toml)")]
    Invalid { path: PathBuf, message: String },
}

fn from_env(path: &Path) -> bool {
    std::env::var_os(CONFIG_ENV).is_some_and(|v| Path::new(&v) == path)
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    registry: BTreeMap<String, RegistryConfig>,
    #[serde(flatten)]
    extra: toml::Table,
}

impl EngineConfig {
    /// Parses config text; errors name `<string>` as the file.
    pub fn from_toml_str(text: &str) -> Result<EngineConfig, ConfigError> {
        Self::parse(text, Path::new("<string>"))
    }

    /// Reads and parses `path`; a missing file is an error.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// The config file named by `TANTO_CONFIG`, else
    /// `$XDG_CONFIG_HOME/tanto/engine.toml`, else `$HOME/.config/tanto/engine.toml`.
    /// A missing default file is an empty config (and `None` as path); a
    /// missing file named by `TANTO_CONFIG` is an error.
    pub fn load_default() -> Result<(EngineConfig, Option<PathBuf>), ConfigError> {
        if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(p);
            return Ok((Self::load(&path)?, Some(path)));
        }
        let Some(path) = Self::default_path() else {
            return Ok((EngineConfig::default(), None));
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::parse(&text, &path)?, Some(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((EngineConfig::default(), None)),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// `$XDG_CONFIG_HOME/tanto/engine.toml` or `$HOME/.config/tanto/engine.toml`.
    pub fn default_path() -> Option<PathBuf> {
        let nonempty = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        nonempty("XDG_CONFIG_HOME")
            .or_else(|| nonempty("HOME").map(|h| h.join(".config")))
            .map(|d| d.join("tanto").join("engine.toml"))
    }

    fn parse(text: &str, path: &Path) -> Result<EngineConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().replace('\n', ": "),
            }
        })?;
        let mut registries = BTreeMap::new();
        for (host, rc) in raw.registry {
            let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                return Err(invalid(format!(
                    "`[registry.\"{host}\"]`: the key must be a registry host such as `docker.io` or `127.0.0.1:5000`"
                )));
            }
            for m in &rc.mirrors {
                if parse_mirror(m).is_none() {
                    return Err(invalid(format!("`[registry.\"{host}\"]`: mirror `{m}` must be `host[:port]` (optionally with `http://` or `https://`)")));
                }
            }
            registries.insert(canonical_host(&host).to_string(), rc);
        }
        Ok(EngineConfig { registries, extra: raw.extra })
    }

    /// The section for `host` (`docker.io` also answers for `index.docker.io`
    /// and `registry-1.docker.io`).
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries.get(canonical_host(host))
    }

    /// Endpoints to try for a registry named `registry` (as in image
    /// references, `docker.io` for Docker Hub): its mirrors in order, then
    /// the registry itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if let Some(rc) = self.registry(registry) {
            for m in &rc.mirrors {
                if let Some((host, scheme_http)) = parse_mirror(m) {
                    let mut ep = self.endpoint_for(&host, true);
                    if let Some(h) = scheme_http {
                        ep.http = h;
                    }
                    if !out.iter().any(|e: &Endpoint| e.host == ep.host) {
                        out.push(ep);
                    }
                }
            }
        }
        let origin = crate::reference::origin_host(canonical_host(registry));
        let ep = self.endpoint_for(origin, false);
        if !out.iter().any(|e| e.host == ep.host) {
            out.push(ep);
        }
        out
    }

    /// The endpoint for one host, with its own section's `http`/`insecure`.
    pub fn endpoint_for(&self, host: &str, mirror: bool) -> Endpoint {
        let rc = self.registry(host);
        let http = rc.and_then(|r| r.http).unwrap_or_else(|| is_loopback_host(host));
        Endpoint { host: host.to_string(), http, insecure: rc.is_some_and(|r| r.insecure), mirror }
    }

    /// True when `host` is to be spoken to over plain HTTP.
    pub fn is_plain_http(&self, host: &str) -> bool {
        self.endpoint_for(host, false).http
    }
}

fn canonical_host(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    }
}

/// `host[:port]` with an optional scheme; returns the host and `Some(http?)`
/// when a scheme was given.
fn parse_mirror(m: &str) -> Option<(String, Option<bool>)> {
    let (rest, http) = if let Some(r) = m.strip_prefix("http://") {
        (r, Some(true))
    } else if let Some(r) = m.strip_prefix("https://") {
        (r, Some(false))
    } else {
        (m, None)
    };
    let host = rest.trim_end_matches('/');
    let ok = !host.is_empty()
        && !host.contains('/')
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'));
    ok.then(|| (host.to_string(), http))
}

/// `localhost`, `127.0.0.0/8`, `::1` (with or without a port).
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host }).unwrap_or(host)
    };
    name == "localhost" || name == "::1" || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

impl tanto_model::Tiered for ConfigError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            ConfigError::Read { .. } => tanto_model::Tier::Environment,
            ConfigError::Syntax { .. } | ConfigError::Invalid { .. } => tanto_model::Tier::Input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_format() {
        let cfg = EngineConfig::from_toml_str(
            r#"
# the conformance suite's file
[registry."docker.io"]
  mirrors = ["127.0.0.1:5000"]

[registry."127.0.0.1:5000"]
  http = true

[registry."my.corp:443"]
  insecure = true
  ca = ["/etc/ca.pem"]
  [[registry."my.corp:443".keypair]]
    key = "/k"
    cert = "/c"

[cache]
budget = "10GB"

[network]
subnet = "10.87.0.0/16"
"#,
        )
        .unwrap();
        assert_eq!(cfg.registry("docker.io").unwrap().mirrors, vec!["127.0.0.1:5000"]);
        assert_eq!(cfg.registry("127.0.0.1:5000").unwrap().http, Some(true));
        let corp = cfg.registry("my.corp:443").unwrap();
        assert!(corp.insecure);
        assert_eq!(corp.ca, vec![PathBuf::from("/etc/ca.pem")]);
        assert!(corp.extra.contains_key("keypair"));
        assert_eq!(cfg.extra["cache"]["budget"].as_str(), Some("10GB"));
        assert_eq!(cfg.extra["network"]["subnet"].as_str(), Some("10.87.0.0/16"));
        assert!(!cfg.extra.contains_key("registry"));
    }

    #[test]
    fn endpoints_table() {
        let cfg = EngineConfig::from_toml_str(
            r#"
[registry."docker.io"]
mirrors = ["127.0.0.1:5000", "https://mirror.example", "http://plain.example:8080/"]
[registry."127.0.0.1:5000"]
http = true
[registry."localhost:5001"]
http = false
[registry."ghcr.io"]
insecure = true
"#,
        )
        .unwrap();
        let show = |reg: &str| {
            cfg.endpoints(reg)
                .iter()
                .map(|e| {
                    format!(
                        "{}://{}{}{}",
                        e.scheme(),
                        e.host,
                        if e.mirror { " mirror" } else { "" },
                        if e.insecure { " insecure" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
        };
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (
                "docker.io",
                vec![
                    "http://127.0.0.1:5000 mirror",
                    "https://mirror.example mirror",
                    "http://plain.example:8080 mirror",
                    "https://registry-1.docker.io",
                ],
            ),
            ("127.0.0.1:5000", vec!["http://127.0.0.1:5000"]),
            ("127.0.0.1:6000", vec!["http://127.0.0.1:6000"]),
            ("localhost:5001", vec!["https://localhost:5001"]),
            ("localhost", vec!["http://localhost"]),
            ("[::1]:5000", vec!["http://[::1]:5000"]),
            ("ghcr.io", vec!["https://ghcr.io insecure"]),
            ("quay.io", vec!["https://quay.io"]),
        ];
        for (reg, want) in cases {
            assert_eq!(show(reg), want, "endpoints of {reg}");
        }
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let cases = [
            ("[registry.\"docker.io\"]\nmirrors = [\"a\" \"b\"]\n", "line 2"),
            ("[registry.\"docker.io\"]\nmirrors = \"127.0.0.1:5000\"\n", "line 2"),
            ("x = 1\n[registry.\"docker.io\"]\nhttp = \"yes\"\n", "line 3"),
            ("[registry.\"docker.io\"]\nmirrors = [\"a/b\"]\n", "mirror `a/b`"),
        ];
        for (text, fragment) in cases {
            let err = EngineConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains("`<string>`"), "{err}");
            assert!(err.contains(fragment), "{err:?} should contain {fragment:?}");
        }
    }

    #[test]
    fn load_paths() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = EngineConfig::load(&missing).unwrap_err().to_string();
        assert!(err.contains(&format!("`{}`", missing.display())), "{err}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "a = 1\nb = \n").unwrap();
        let err = EngineConfig::load(&bad).unwrap_err().to_string();
        assert!(err.contains(&format!("`{}` line 2", bad.display())), "{err}");
    }

    #[test]
    fn loopback() {
        for (h, want) in [
            ("localhost", true),
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:80", true),
            ("10.0.0.1:5000", false),
            ("docker.io", false),
        ] {
            assert_eq!(is_loopback_host(h), want, "{h}");
        }
    }
}
