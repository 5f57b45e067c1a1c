//! A thin client of a remote engine: `tanto run`, `session`, `query` and
//! `call` with `TANTO_HOST` set (or with a local engine serving its unix
//! socket). The client attaches (one connection, upgraded: the engine asks,
//! the client's host answers — see `agent`), then sends its queries over a
//! second, HTTP/2, connection. An SDK talks to a local listener as usual
//! (`server::serve_session` with this as its handler).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;

use super::agent::Agent;
use super::proto::{ATTACH_PATH, CLIENT_HEADER, PIPELINE_HEADER, SESSION_HEADER, UPGRADE};
use super::stream::{self, Body};
use super::tls::ClientTls;
use super::Address;
use crate::EngineError;

/// Where a client finds its engine.
pub const HOST_ENV: &str = "TANTO_HOST";
/// What Dagger's CLI and SDKs read for the same (`tcp://` and `unix://` only).
pub const DAGGER_HOST_ENV: &str = "_EXPERIMENTAL_DAGGER_RUNNER_HOST";

/// A remote engine and how to reach it.
#[derive(Debug, Clone)]
pub struct Remote {
    pub address: Address,
    pub tls: ClientTls,
    pub token: Option<String>,
    /// The name the server's certificate must carry (default: the address's host).
    pub server_name: Option<String>,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Remote {
    /// The engine this client should use: `TANTO_HOST` (`tcp://HOST:PORT`,
    /// `unix:///PATH`, `local` for an engine in this process, or `auto`: as
    /// unset, the CLI having started the local engine), else
    /// `_EXPERIMENTAL_DAGGER_RUNNER_HOST`, else the local engine serving
    /// `default_socket` when one answers there. `None`: an engine in this process.
    pub fn from_env(default_socket: Option<&Path>) -> Result<Option<Remote>, EngineError> {
        let (var, value) = match (env(HOST_ENV).filter(|v| v != "auto"), env(DAGGER_HOST_ENV)) {
            (Some(v), _) => (HOST_ENV, v),
            (None, Some(v)) => (DAGGER_HOST_ENV, v),
            (None, None) => {
                let Some(sock) = default_socket.filter(|p| std::os::unix::net::UnixStream::connect(p).is_ok()) else {
                    return Ok(None);
                };
                tracing::debug!(socket = %sock.display(), "using the local engine that serves this socket");
                return Ok(Some(Remote::of(Address::Unix(sock.to_path_buf()))?));
            }
        };
        if value == "local" {
            return Ok(None);
        }
        let address = Address::parse(&value).map_err(|e| EngineError::input(format!("`{var}`: {e}")))?;
        Ok(Some(Remote::of(address)?))
    }

    /// A remote at `address`, with the TLS files and token of the environment.
    pub fn of(address: Address) -> Result<Remote, EngineError> {
        let token = match (env("TANTO_TOKEN"), env("TANTO_TOKEN_FILE")) {
            (Some(t), _) => Some(t),
            (None, Some(f)) => Some(super::read_token(Path::new(&f))?),
            (None, None) => None,
        };
        Ok(Remote {
            address,
            tls: ClientTls {
                ca: env("TANTO_TLS_CA").map(PathBuf::from),
                cert: env("TANTO_TLS_CERT").map(PathBuf::from),
                key: env("TANTO_TLS_KEY").map(PathBuf::from),
            },
            token,
            server_name: env("TANTO_TLS_SERVER_NAME"),
        })
    }

    async fn connect(&self, alpn: &[u8]) -> Result<Box<dyn Io>, EngineError> {
        let unreachable =
            |e: std::io::Error| EngineError::environment(format!("cannot reach the engine at `{}`: {e}", self.address));
        match &self.address {
            Address::Unix(p) => Ok(Box::new(tokio::net::UnixStream::connect(p).await.map_err(unreachable)?)),
            Address::Tcp(addr) => {
                let tcp = tokio::net::TcpStream::connect(addr).await.map_err(unreachable)?;
                let _ = tcp.set_nodelay(true);
                let config = super::tls::client_config(&self.tls, alpn)?;
                let host = self.server_name.clone().unwrap_or_else(|| super::host_part(addr).to_string());
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| EngineError::input(format!("`{host}` is not a server name for TLS: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| {
                    EngineError::environment(format!(
                        "TLS with the engine at `{}` failed: {e} (TANTO_TLS_CA names the CA that signed its certificate)",
                        self.address
                    ))
                })?;
                Ok(Box::new(tls))
            }
        }
    }

    fn uri(&self, path: &str) -> String {
        match &self.address {
            Address::Tcp(addr) => format!("https://{addr}{path}"),
            Address::Unix(_) => format!("http://localhost{path}"),
        }
    }

    /// Opens a session: the client's host (working directory `workdir`,
    /// export journal in `run_dir`) answers the engine until the session ends.
    pub async fn attach(&self, workdir: PathBuf, run_dir: PathBuf, pipeline: &str) -> Result<Attached, EngineError> {
        let io = self.connect(b"http/1.1").await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| EngineError::environment(format!("talking to the engine at `{}`: {e}", self.address)))?;
        tokio::spawn(conn.with_upgrades());
        let mut req = Request::get(self.uri(ATTACH_PATH))
            .header(hyper::header::CONNECTION, "upgrade")
            .header(hyper::header::UPGRADE, UPGRADE)
            .header(CLIENT_HEADER, client_id())
            .header(PIPELINE_HEADER, pipeline_name(pipeline));
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(stream::empty()).map_err(|e| EngineError::input(format!("the attach request: {e}")))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| EngineError::environment(format!("attaching to the engine at `{}`: {e}", self.address)))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status();
            let text = stream::read_all(resp.into_body(), 1 << 20, "the engine's answer").await.unwrap_or_default();
            let message = serde_json::from_slice::<Json>(&text)
                .ok()
                .and_then(|j| j.pointer("/errors/0/message").and_then(Json::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&text).into_owned());
            let e = format!("the engine at `{}` refused the session ({status}): {message}", self.address);
            return Err(if status == StatusCode::UNAUTHORIZED {
                EngineError::input(e)
            } else {
                EngineError::environment(e)
            });
        }
        let token = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| EngineError::environment("the engine gave no session token"))?;
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| EngineError::environment(format!("the engine's attach connection: {e}")))?;
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let agent = Arc::new(Agent::new(workdir, run_dir));
        let serving = agent.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve(TokioIo::new(upgraded)).await {
                tracing::debug!(error = %e, "the attach connection ended");
            }
            let _ = closed_tx.send(true);
        });
        let io = self.connect(b"h2").await?;
        let (queries, conn) = stream::h2_client(TokioIo::new(io))
            .await
            .map_err(|e| EngineError::environment(format!("talking to the engine at `{}`: {e}", self.address)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{token}:")));
        let back =
            super::agent::Back { send: queries.clone(), auth: auth.clone(), uri: self.uri(super::proto::TUNNEL_PATH) };
        let _ = agent.back.set(back);
        Ok(Attached { auth, queries, uri: self.uri("/query"), closed, address: self.address.to_string() })
    }
}

/// What the engine's logs and runs name this client's pipeline by: its
/// program and first argument, never flags or values (`deploy.sh --password x`
/// is `deploy.sh`): the engine's logs are other people's too.
pub(super) fn pipeline_name(pipeline: &str) -> String {
    pipeline
        .split_whitespace()
        .take(2)
        .take_while(|w| !w.starts_with('-') && !w.contains('='))
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// This client's stable ID (its mirrors on engines are kept under it):
/// `$XDG_CACHE_HOME/tanto/client-id` or `~/.cache/tanto/client-id`.
fn client_id() -> String {
    let dir = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("tanto"));
    let Some(dir) = dir else { return uuid::Uuid::new_v4().to_string() };
    let file = dir.join("client-id");
    if let Ok(id) = std::fs::read_to_string(&file) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, &id));
    id
}

/// A session on a remote engine.
pub struct Attached {
    auth: String,
    queries: hyper::client::conn::http2::SendRequest<Body>,
    uri: String,
    closed: tokio::sync::watch::Receiver<bool>,
    address: String,
}

impl Attached {
    /// Sends one GraphQL request body; the response body.
    pub async fn query(&self, body: Vec<u8>) -> Result<Vec<u8>, EngineError> {
        let req = Request::post(&self.uri)
            .header(hyper::header::AUTHORIZATION, &self.auth)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(stream::full(body))
            .map_err(|e| EngineError::internal(format!("a query request: {e}")))?;
        let lost =
            |e: hyper::Error| EngineError::environment(format!("the engine at `{}` did not answer: {e}", self.address));
        let resp = self.queries.clone().send_request(req).await.map_err(lost)?;
        let status = resp.status();
        let data: Bytes = stream::read_all(resp.into_body(), usize::MAX, "the engine's answer").await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(EngineError::environment(format!("the engine at `{}` ended this session", self.address)));
        }
        Ok(data.to_vec())
    }

    /// Executes a request; the whole response (errors as GraphQL errors).
    pub async fn execute(&self, req: &tanto_gql::Request) -> Json {
        let mut body = serde_json::json!({"query": req.query});
        if let Some(v) = &req.variables {
            body["variables"] = Json::Object(v.clone());
        }
        if let Some(op) = &req.operation_name {
            body["operationName"] = Json::String(op.clone());
        }
        let sent = serde_json::to_vec(&body).unwrap_or_default();
        match self.query(sent).await {
            Ok(data) => serde_json::from_slice(&data)
                .unwrap_or_else(|e| error_json(&format!("the engine's answer is not JSON: {e}"))),
            Err(e) => error_json(&e.to_string()),
        }
    }

    /// Resolves when the engine ends the session (or its connection is lost).
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|c| *c).await;
    }
}

fn error_json(message: &str) -> Json {
    serde_json::json!({"data": null, "errors": [{"message": message}]})
}

#[async_trait::async_trait]
impl tanto_contract::QueryHandler for Attached {
    async fn handle(&self, body: &[u8]) -> Vec<u8> {
        match self.query(body.to_vec()).await {
            Ok(data) => data,
            Err(e) => serde_json::to_vec(&error_json(&e.to_string())).unwrap_or_default(),
        }
    }
}
