//! HTTP to registries: one pooled client per TLS setting, the auth dance,
//! and mapping statuses to [`Failure`]s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::auth::{fingerprint, parse_challenges, Credential, RegistryAuth, TokenCache, TokenKey, TokenResponse};
use super::error::Failure;
use crate::config::{is_loopback_host, Endpoint, EngineConfig};

/// What a request needs to be allowed to do (the token scope's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Push comes with the push issue
pub(crate) enum Actions {
    Pull,
    Push,
}

impl Actions {
    fn scope_actions(self) -> &'static str {
        match self {
            Actions::Pull => "pull",
            Actions::Push => "pull,push",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    insecure: bool,
    /// No proxy (loopback hosts never go through one).
    direct: bool,
    ca: Vec<PathBuf>,
}

pub(crate) struct Transport {
    config: Arc<EngineConfig>,
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    tokens: TokenCache,
}

/// The transport error, without the URL reqwest puts on top: the chain of
/// causes (`client error (Connect): tcp connect error: Connection refused`).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    // hyper's generic wrappers say nothing the inner errors do not
    while parts.len() > 1 && (parts[0].starts_with("client error (") || parts[0] == "error resolving DNS") {
        parts.remove(0);
    }
    parts.retain(|p| p != "error resolving DNS");
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The `message` of a distribution-spec error body, else a short excerpt.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(b) = serde_json::from_slice::<Body>(body) {
        let msgs: Vec<String> = b
            .errors
            .into_iter()
            .map(|i| if i.message.is_empty() { i.code.to_ascii_lowercase().replace('_', " ") } else { i.message })
            .filter(|m| !m.is_empty())
            .collect();
        if !msgs.is_empty() {
            return msgs.join(", ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty() && text.len() <= 200 && !text.starts_with('<') {
        return text.to_string();
    }
    status.canonical_reason().map(|r| r.to_ascii_lowercase()).unwrap_or_default()
}

/// Reads a body of at most `limit` bytes.
pub(crate) async fn read_limited(mut resp: Response, limit: usize, what: &str) -> Result<Vec<u8>, Failure> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(Failure::Invalid(format!("a {what} larger than {limit} bytes")));
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > limit {
                    return Err(Failure::Invalid(format!("a {what} larger than {limit} bytes")));
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(Failure::Unreachable(format!("reading the {what}: {}", describe(&e)))),
        }
    }
}

/// Success, or the status as a [`Failure`].
async fn check_status(resp: Response) -> Result<Response, Failure> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = read_limited(resp, 64 << 10, "error body").await.unwrap_or_default();
    let msg = error_message(status, &body);
    Err(match status {
        StatusCode::NOT_FOUND => Failure::NotFound(if msg.is_empty() { "not found".into() } else { msg }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Failure::Unauthorized(format!("HTTP {}: {msg}", status.as_u16()))
        }
        s => Failure::Status(s.as_u16(), msg),
    })
}

impl Transport {
    pub fn new(config: Arc<EngineConfig>) -> Transport {
        Transport { config, clients: Mutex::new(HashMap::new()), tokens: TokenCache::new() }
    }

    pub fn config(&self) -> &Arc<EngineConfig> {
        &self.config
    }

    fn client(&self, ep: &Endpoint) -> Result<reqwest::Client, Failure> {
        let key = ClientKey {
            insecure: ep.insecure && !ep.http,
            direct: is_loopback_host(&ep.host),
            ca: if ep.http {
                Vec::new()
            } else {
                self.config.registry(&ep.host).map(|r| r.ca.clone()).unwrap_or_default()
            },
        };
        let mut clients = self.clients.lock().unwrap();
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(60));
        if key.direct {
            b = b.no_proxy();
        }
        if key.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        for path in &key.ca {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::Invalid(format!(
                    "nothing: cannot read CA file `{}` from the engine config: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Failure::Invalid(format!("nothing: CA file `{}` is not PEM: {e}", path.display())))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client =
            b.build().map_err(|e| Failure::Invalid(format!("nothing: cannot set up HTTP: {}", describe(&e))))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn url(ep: &Endpoint, repo: &str, suffix: &str) -> String {
        format!("{}://{}/v2/{}/{}", ep.scheme(), ep.host, repo, suffix)
    }

    /// `GET /v2/<repo>/<suffix>` with pull rights, authenticating as the host
    /// asks. Returns a 2xx response; anything else is a [`Failure`].
    pub async fn get(
        &self,
        ep: &Endpoint,
        repo: &str,
        suffix: &str,
        accept: Option<&str>,
        auth: &RegistryAuth,
    ) -> Result<Response, Failure> {
        let headers: Vec<(&str, &str)> = accept.map(|a| vec![(ACCEPT.as_str(), a)]).unwrap_or_default();
        self.send(ep, repo, Method::GET, suffix, &headers, None, Actions::Pull, auth).await
    }

    /// Any request under `/v2/<repo>/` (`suffix` may also be a full URL, as
    /// upload `Location`s are). The body is bytes so the request can be
    /// repeated after a `401`; push will stream large blobs only after
    /// authenticating with a small request first.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        ep: &Endpoint,
        repo: &str,
        method: Method,
        suffix: &str,
        headers: &[(&str, &str)],
        body: Option<bytes::Bytes>,
        actions: Actions,
        auth: &RegistryAuth,
    ) -> Result<Response, Failure> {
        let client = self.client(ep)?;
        let url = if suffix.starts_with("http://") || suffix.starts_with("https://") {
            suffix.to_string()
        } else {
            Self::url(ep, repo, suffix)
        };
        let credential = auth.get(&ep.host);
        let key = TokenKey {
            host: ep.host.clone(),
            repository: repo.to_string(),
            actions: actions.scope_actions().into(),
            credential: fingerprint(credential),
        };
        let mut authorization = self.tokens.get(&key);
        let mut retried = false;
        loop {
            let mut req = client.request(method.clone(), &url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            if let Some(h) = &authorization {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req.send().await.map_err(|e| Failure::Unreachable(describe(&e)))?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return check_status(resp).await;
            }
            retried = true;
            let challenges: Vec<_> = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect();
            let (header, lifetime) = if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
                let realm = bearer
                    .params
                    .get("realm")
                    .ok_or_else(|| Failure::Unauthorized("HTTP 401 with a Bearer challenge without a realm".into()))?;
                self.fetch_token(
                    &client,
                    realm,
                    bearer.params.get("service"),
                    &format!("repository:{repo}:{}", actions.scope_actions()),
                    credential,
                )
                .await?
            } else if challenges.iter().any(|c| c.scheme == "basic") {
                match credential {
                    Some(Credential::Basic { username, password }) => {
                        (basic_header(username, password), Duration::from_secs(3600))
                    }
                    _ => {
                        return Err(Failure::Unauthorized(
                            "HTTP 401: the registry wants a username and password".into(),
                        ))
                    }
                }
            } else {
                return check_status(resp).await;
            };
            self.tokens.put(key.clone(), header.clone(), lifetime);
            authorization = Some(header);
        }
    }

    /// Gets a token from `realm` for `scope`; returns the `Authorization` value.
    async fn fetch_token(
        &self,
        client: &reqwest::Client,
        realm: &str,
        service: Option<&String>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<(String, Duration), Failure> {
        if let Some(Credential::Bearer(t)) = credential {
            return Ok((format!("Bearer {t}"), Duration::from_secs(300)));
        }
        let mut url = reqwest::Url::parse(realm).map_err(|e| {
            Failure::Unauthorized(format!("HTTP 401 with a token realm `{realm}` that is not a URL: {e}"))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = client.get(url);
        if let Some(Credential::Basic { username, password }) = credential {
            req = req.header(AUTHORIZATION, basic_header(username, password));
        }
        let resp =
            req.send().await.map_err(|e| Failure::Unreachable(format!("token server `{realm}`: {}", describe(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_limited(resp, 64 << 10, "error body").await.unwrap_or_default();
            let msg = error_message(status, &body);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Failure::Unauthorized(format!("token server `{realm}` answered HTTP {}: {msg}", status.as_u16()))
                }
                s => Failure::Status(s.as_u16(), format!("token server `{realm}`: {msg}")),
            });
        }
        let body = read_limited(resp, 1 << 20, "token").await?;
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Failure::Invalid(format!("a token response that is not JSON ({e})")))?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Invalid("a token response without a token".into()))?;
        Ok((format!("Bearer {token}"), Duration::from_secs(t.expires_in.unwrap_or(60).max(60))))
    }

    /// A small blob into memory (no digest check here).
    pub async fn get_blob_bytes(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &str,
        limit: usize,
        auth: &RegistryAuth,
    ) -> Result<Vec<u8>, Failure> {
        let resp = self.get(ep, repo, &format!("blobs/{digest}"), None, auth).await?;
        read_limited(resp, limit, "blob").await
    }
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let cases = [
            (
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
                "manifest unknown",
            ),
            (404, r#"{"errors":[{"code":"NAME_UNKNOWN","message":""}]}"#, "name unknown"),
            (500, "", "internal server error"),
            (502, "<html>bad gateway</html>", "bad gateway"),
            (429, "slow down", "slow down"),
        ];
        for (code, body, want) in cases {
            assert_eq!(error_message(StatusCode::from_u16(code).unwrap(), body.as_bytes()), want);
        }
    }
}
