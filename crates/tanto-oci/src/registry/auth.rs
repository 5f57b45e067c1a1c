//! Credentials, `WWW-Authenticate` challenges and the token cache.
//!
//! The flow is the distribution spec's (and oci-client's): ask anonymously;
//! on `401` with a `Bearer` challenge get a token from its realm (with basic
//! credentials when we have them) for `repository:<repo>:<actions>` and ask
//! again; on a `Basic` challenge send the credentials directly. Tokens are
//! cached per host, repository, actions and credential until they expire.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// Credentials by registry host; empty means anonymous. Secrets are never
/// printed (`Debug` shows hosts and user names only).
#[derive(Clone, Default)]
pub struct RegistryAuth {
    by_host: BTreeMap<String, Credential>,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (or access token as password).
    Basic { username: String, password: String },
    /// A registry bearer token, sent as is.
    Bearer(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.by_host.iter()).finish()
    }
}

/// `docker.io` for Docker Hub's aliases; scheme and path dropped
/// (`https://index.docker.io/v1/` is `docker.io`).
fn canonical(host: &str) -> String {
    let h = host.trim();
    let h = h.strip_prefix("https://").or_else(|| h.strip_prefix("http://")).unwrap_or(h);
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_string(),
        h => h.to_ascii_lowercase(),
    }
}

impl RegistryAuth {
    pub fn anonymous() -> RegistryAuth {
        RegistryAuth::default()
    }

    /// Adds (or replaces) the credential for `host` (`docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`; a URL such as `https://index.docker.io/v1/` works too).
    pub fn insert(&mut self, host: &str, credential: Credential) {
        self.by_host.insert(canonical(host), credential);
    }

    pub fn with(mut self, host: &str, credential: Credential) -> RegistryAuth {
        self.insert(host, credential);
        self
    }

    pub fn get(&self, host: &str) -> Option<&Credential> {
        self.by_host.get(&canonical(host))
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// Identifies a credential in cache keys without keeping it.
pub(crate) fn fingerprint(c: Option<&Credential>) -> String {
    let mut h = Sha256::new();
    match c {
        None => return "anonymous".into(),
        Some(Credential::Basic { username, password }) => {
            h.update(b"basic\0");
            h.update(username.as_bytes());
            h.update(b"\0");
            h.update(password.as_bytes());
        }
        Some(Credential::Bearer(t)) => {
            h.update(b"bearer\0");
            h.update(t.as_bytes());
        }
    }
    hex::encode(&h.finalize()[..12])
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="x",service="y", scope="a:b:pull,push"` (several
/// challenges may share one header).
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut s = header.trim();
    while !s.is_empty() {
        // token: a scheme (followed by space) or a param name (followed by '=')
        let end = s.find([' ', '=', ',']).unwrap_or(s.len());
        let word = &s[..end];
        let rest = s[end..].trim_start();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            let (value, remaining) = if let Some(q) = after_eq.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let mut consumed = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            consumed = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &q[consumed..])
            } else {
                let e = after_eq.find(',').unwrap_or(after_eq.len());
                (after_eq[..e].trim().to_string(), &after_eq[e..])
            };
            if let Some(last) = out.last_mut() {
                last.params.insert(word.to_ascii_lowercase(), value);
            }
            s = remaining.trim_start().trim_start_matches(',').trim_start();
        } else {
            if !word.is_empty() {
                out.push(Challenge { scheme: word.to_ascii_lowercase(), params: BTreeMap::new() });
            }
            s = rest.trim_start_matches(',').trim_start();
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub host: String,
    pub repository: String,
    pub actions: String,
    pub credential: String,
}

pub(crate) struct TokenCache {
    entries: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache { entries: Mutex::new(HashMap::new()) }
    }

    /// The `Authorization` header value for `key`, if still valid.
    pub fn get(&self, key: &TokenKey) -> Option<String> {
        let mut map = self.entries.lock().unwrap();
        match map.get(key) {
            Some((v, until)) if Instant::now() < *until => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: TokenKey, header: String, lifetime: Duration) {
        // renew a little early
        let lifetime = lifetime.saturating_sub(Duration::from_secs(10)).max(Duration::from_secs(5));
        self.entries.lock().unwrap().insert(key, (header, Instant::now() + lifetime));
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let cases: Vec<(&str, Vec<(&str, Vec<(&str, &str)>)>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                vec![(
                    "bearer",
                    vec![
                        ("realm", "https://auth.docker.io/token"),
                        ("scope", "repository:library/busybox:pull"),
                        ("service", "registry.docker.io"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://ghcr.io/token", service="ghcr.io", scope="repository:a/b:pull,push""#,
                vec![(
                    "bearer",
                    vec![
                        ("realm", "https://ghcr.io/token"),
                        ("scope", "repository:a/b:pull,push"),
                        ("service", "ghcr.io"),
                    ],
                )],
            ),
            (r#"Basic realm="Registry Realm""#, vec![("basic", vec![("realm", "Registry Realm")])]),
            (
                r#"Basic realm="x", Bearer realm="y",service=z"#,
                vec![("basic", vec![("realm", "x")]), ("bearer", vec![("realm", "y"), ("service", "z")])],
            ),
            (r#"Bearer realm="a\"b""#, vec![("bearer", vec![("realm", "a\"b")])]),
            ("", vec![]),
        ];
        for (header, want) in cases {
            let got = parse_challenges(header);
            let got: Vec<(String, Vec<(String, String)>)> =
                got.into_iter().map(|c| (c.scheme, c.params.into_iter().collect())).collect();
            let want: Vec<(String, Vec<(String, String)>)> = want
                .into_iter()
                .map(|(s, p)| (s.to_string(), p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
                .collect();
            assert_eq!(got, want, "{header}");
        }
    }

    #[test]
    fn credentials_by_host() {
        let auth = RegistryAuth::anonymous()
            .with("https://index.docker.io/v1/", Credential::Basic { username: "u".into(), password: "p".into() })
            .with("GHCR.io", Credential::Bearer("t".into()));
        assert!(auth.get("docker.io").is_some());
        assert!(auth.get("registry-1.docker.io").is_some());
        assert!(auth.get("ghcr.io").is_some());
        assert!(auth.get("quay.io").is_none());
        let dbg = format!("{auth:?}");
        assert!(!dbg.contains("\"p\"") && dbg.contains("***"), "{dbg}");
        assert_ne!(fingerprint(auth.get("docker.io")), fingerprint(None));
    }
}
