//! `tanto engine serve`: one long-lived engine for many clients, on TCP with
//! TLS (and a token) or on a unix socket.
//!
//! Routes: `GET /healthz` (no auth: probes), `GET /v1/attach` upgraded into a
//! client session (the server token as `Authorization: Bearer`, or on a unix
//! socket a peer that is the engine's own user), `POST /query` of a session
//! (its token as the HTTP Basic user name, as SDKs send a local one). A
//! session lives as long as its attach connection; its objects are its own.
//! Tokens are compared in constant time and never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::mirror::Mirrors;
use super::proto::{
    ATTACH_PATH, CLIENT_HEADER, HEALTH_PATH, LISTENER_HEADER, PIPELINE_HEADER, SESSION_HEADER, TUNNEL_PATH, UPGRADE,
};
use super::session::{engine_of, ClientHost, ClientNet, Link};
use super::stream::{self, Body};
use super::tls::ServerTls;
use super::Address;
use crate::server::{basic_users, constant_time_eq, error_body, json_response};
use crate::telemetry::SessionTrace;
use crate::{Engine, EngineError};
use tanto_contract::QueryHandler;

/// How `tanto engine serve` listens.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub listen: Vec<Address>,
    pub tls: Option<ServerTls>,
    /// Clients present it as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Exit once no client has been attached for this long (an engine a
    /// client started on demand).
    pub idle_timeout: Option<Duration>,
}

/// How many sockets systemd passed this process (socket activation:
/// `LISTEN_PID` is this process, `LISTEN_FDS` of them from fd 3).
pub fn systemd_sockets() -> i32 {
    let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let n = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if ours {
        n.max(0)
    } else {
        0
    }
}

/// Sockets systemd passed (socket activation: `LISTEN_PID` is this process,
/// `LISTEN_FDS` of them from fd 3). Children never take them for theirs:
/// `LISTEN_PID` is not their PID.
fn activated() -> Vec<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    let n = systemd_sockets();
    if n == 0 {
        return Vec::new();
    }
    (3..3 + n)
        .map(|fd| {
            // SAFETY: systemd passes these descriptors to this process, open and ours alone
            let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
            let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
            fd
        })
        .collect()
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a client has to send a request's head; an HTTP/2 peer that does
/// not answer a ping within it is gone.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle HTTP/2 connection is pinged.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;

/// One client session: its API and its span.
struct Session {
    api: Arc<SessionApi>,
    trace: SessionTrace,
    net: Arc<ClientNet>,
}

/// A session's queries, answered by its own API.
struct SessionApi(tanto_api::Api);

#[async_trait::async_trait]
impl QueryHandler for SessionApi {
    async fn handle(&self, body: &[u8]) -> Vec<u8> {
        match tanto_gql::parse_request_body(body) {
            Ok(req) => {
                let span = crate::query_span(&req);
                self.0.execute_bytes(req).instrument(span).await
            }
            Err(errors) => serde_json::to_vec(&errors).unwrap_or_default(),
        }
    }
}

struct Server {
    engine: Arc<Engine>,
    backend: Arc<crate::EngineBackend>,
    mirrors: Arc<Mirrors>,
    token: Option<String>,
    sessions: DashMap<String, Arc<Session>>,
}

/// A listener of either kind.
enum Listener {
    Tcp(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
    /// With whether the socket file is ours to remove (not systemd's).
    Unix(tokio::net::UnixListener, PathBuf, bool),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path, true) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Checks a TCP listener may serve: TLS and a way to authenticate clients.
fn tls_acceptor(opts: &ServeOptions, addr: &str) -> Result<tokio_rustls::TlsAcceptor, EngineError> {
    let Some(tls) = &opts.tls else {
        return Err(EngineError::input(format!(
            "`tcp://{addr}` needs TLS: give --tls-cert and --tls-key (and --tls-client-ca for client certificates)"
        )));
    };
    if opts.token.is_none() && tls.client_ca.is_none() {
        return Err(EngineError::input(format!(
            "`tcp://{addr}` needs client authentication: give --token-file, --tls-client-ca or both"
        )));
    }
    Ok(tokio_rustls::TlsAcceptor::from(super::tls::server_config(tls)?))
}

/// A socket systemd passed, as a listener.
fn from_systemd(fd: std::os::fd::OwnedFd, opts: &ServeOptions) -> Result<Listener, EngineError> {
    let bad = |e: std::io::Error| EngineError::environment(format!("a socket systemd passed: {e}"));
    let unix = std::os::unix::net::UnixListener::from(fd);
    match unix.local_addr() {
        Ok(addr) => {
            unix.set_nonblocking(true).map_err(bad)?;
            let path = addr.as_pathname().map(PathBuf::from).unwrap_or_default();
            Ok(Listener::Unix(tokio::net::UnixListener::from_std(unix).map_err(bad)?, path, false))
        }
        // not a unix socket (std checks the family): TCP
        Err(_) => {
            let l = std::net::TcpListener::from(std::os::fd::OwnedFd::from(unix));
            l.set_nonblocking(true).map_err(bad)?;
            let addr = l.local_addr().map_err(bad)?.to_string();
            let acceptor = tls_acceptor(opts, &addr)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l).map_err(bad)?, acceptor))
        }
    }
}

/// Checks the options and binds every listener.
async fn bind(opts: &ServeOptions, systemd: Vec<std::os::fd::OwnedFd>) -> Result<Vec<Listener>, EngineError> {
    if opts.listen.is_empty() && systemd.is_empty() {
        return Err(EngineError::input("give at least one --listen address: tcp://HOST:PORT or unix:///PATH"));
    }
    let mut out = Vec::new();
    for fd in systemd {
        out.push(from_systemd(fd, opts)?);
    }
    for a in &opts.listen {
        match a {
            Address::Tcp(addr) => {
                let acceptor = tls_acceptor(opts, addr)?;
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| EngineError::environment(format!("listening on `tcp://{addr}`: {e}")))?;
                out.push(Listener::Tcp(l, acceptor));
            }
            Address::Unix(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| EngineError::environment(format!("creating `{}`: {e}", parent.display())))?;
                }
                // a socket nobody answers on is an engine's that is gone
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(EngineError::environment(format!(
                        "an engine already serves `unix://{}`; stop it first",
                        path.display()
                    )));
                }
                // a stale socket is replaced; anything else named there is not ours to remove
                match std::fs::symlink_metadata(path) {
                    Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                        let _ = std::fs::remove_file(path);
                    }
                    Ok(_) => {
                        return Err(EngineError::input(format!(
                            "`{}` exists and is not a socket: give another --listen path",
                            path.display()
                        )))
                    }
                    Err(_) => {}
                }
                let l = tokio::net::UnixListener::bind(path)
                    .map_err(|e| EngineError::environment(format!("listening on `unix://{}`: {e}", path.display())))?;
                use std::os::unix::fs::PermissionsExt as _;
                let mode = if opts.token.is_some() { 0o666 } else { 0o600 };
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
                out.push(Listener::Unix(l, path.clone(), true));
            }
        }
    }
    Ok(out)
}

/// Serves `engine` as `opts` says until `shutdown` resolves; says where it
/// listens through `ready` once every listener is bound.
pub async fn serve(
    engine: Arc<Engine>,
    opts: ServeOptions,
    ready: impl FnOnce(&[Address]),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), EngineError> {
    let listeners = bind(&opts, activated()).await?;
    let bound: Vec<Address> = listeners
        .iter()
        .map(|l| match l {
            Listener::Tcp(t, _) => Address::Tcp(t.local_addr().map(|a| a.to_string()).unwrap_or_default()),
            Listener::Unix(_, p, _) => Address::Unix(p.clone()),
        })
        .collect();
    ready(&bound);
    let backend = engine.backend.clone();
    let server = Arc::new(Server {
        mirrors: Arc::new(Mirrors::new(engine.solver.worker().store.mirrors_dir())),
        engine,
        backend,
        token: opts.token,
        sessions: DashMap::new(),
    });
    let mut conns = JoinSet::new();
    let mut accepts = JoinSet::new();
    let mirrors = server.mirrors.clone();
    accepts.spawn(async move {
        loop {
            let removed = mirrors.prune(super::mirror::MIRROR_TTL).await;
            if removed > 0 {
                tracing::info!(removed, "removed client directory mirrors unused for a week");
            }
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        }
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Conn>(64);
    for l in listeners {
        let tx = tx.clone();
        accepts.spawn(async move { accept_loop(l, tx).await });
    }
    drop(tx);
    tokio::pin!(shutdown);
    let mut idle_since = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick(), if opts.idle_timeout.is_some() => {
                if !server.sessions.is_empty() {
                    idle_since = std::time::Instant::now();
                } else if opts.idle_timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                    tracing::info!("no client for {:?}: the engine stops", opts.idle_timeout.unwrap_or_default());
                    break;
                }
            }
            Some(conn) = rx.recv(), if conns.len() < MAX_CONNECTIONS => {
                let server = server.clone();
                conns.spawn(async move { server.connection(conn).await });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    accepts.shutdown().await;
    conns.shutdown().await;
    server.sessions.clear();
    Ok(())
}

/// Who is at the other end of a connection, as far as the listener knows.
#[derive(Clone, Copy)]
enum Peer {
    /// On the unix socket: whether it is the engine's own user (`SO_PEERCRED`).
    Unix { owner: bool },
    /// Through TLS (with a client certificate when the listener asks for one).
    Tls,
}

/// An accepted connection.
enum Conn {
    Tls(tokio::net::TcpStream, tokio_rustls::TlsAcceptor),
    /// With whether the peer is the engine's own user.
    Unix(tokio::net::UnixStream, bool),
}

async fn accept_loop(l: Listener, tx: tokio::sync::mpsc::Sender<Conn>) {
    loop {
        let conn = match &l {
            Listener::Tcp(t, acceptor) => match t.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    Conn::Tls(s, acceptor.clone())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Listener::Unix(u, _, _) => match u.accept().await {
                Ok((s, _)) => {
                    let me = rustix::process::geteuid().as_raw();
                    let owner = s.peer_cred().is_ok_and(|c| c.uid() == me);
                    Conn::Unix(s, owner)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if tx.send(conn).await.is_err() {
            return;
        }
    }
}

fn boxed(r: Response<http_body_util::Full<Bytes>>) -> Response<Body> {
    r.map(|b| b.map_err(|never| match never {}).boxed())
}

fn refuse(status: StatusCode, message: &str) -> Response<Body> {
    boxed(json_response(status, &error_body(message)))
}

/// A connection one of a client's listeners accepted, joined to its tunnel.
async fn tunnel(net: &ClientNet, req: Request<Incoming>) -> Response<Body> {
    let id = req.headers().get(LISTENER_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (ours, theirs) = tokio::io::duplex(256 << 10);
    if !net.accepted(&id, ours).await {
        return refuse(StatusCode::NOT_FOUND, &format!("no tunnel listens as `{id}` in this session"));
    }
    let (tx, body) = stream::sender();
    tokio::spawn(stream::pipe(theirs, req.into_body(), tx));
    Response::new(body)
}

impl Server {
    async fn connection(self: Arc<Self>, conn: Conn) {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        // a client that never sends a request head is let go
        builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(KEEP_ALIVE)
            .keep_alive_timeout(HEADER_TIMEOUT);
        let peer = match conn {
            Conn::Unix(_, owner) => Peer::Unix { owner },
            Conn::Tls(..) => Peer::Tls,
        };
        let server = self.clone();
        let svc = hyper::service::service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, std::convert::Infallible>(server.route(req, peer).await) }
        });
        let result = match conn {
            Conn::Tls(tcp, acceptor) => {
                let tls = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(error = %e, "a client's TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await
            }
            Conn::Unix(s, _) => builder.serve_connection_with_upgrades(TokioIo::new(s), svc).await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended");
        }
    }

    async fn route(self: Arc<Self>, req: Request<Incoming>, peer: Peer) -> Response<Body> {
        match req.uri().path() {
            HEALTH_PATH => {
                let body = serde_json::json!({"status": "ok", "sessions": self.sessions.len()});
                boxed(json_response(StatusCode::OK, &body))
            }
            ATTACH_PATH => self.attach(req, peer),
            _ => {
                let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let session = basic_users(auth).into_iter().find_map(|user| {
                    std::str::from_utf8(&user).ok().and_then(|t| self.sessions.get(t).map(|s| s.clone()))
                });
                let Some(session) = session else {
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized: attach first (GET /v1/attach), then send the session's token as the HTTP Basic user name",
                    );
                };
                if req.uri().path() == TUNNEL_PATH {
                    return tunnel(&session.net, req).await;
                }
                let limit = self.engine.server.max_request_bytes;
                boxed(crate::server::answer(session.api.clone(), limit, &session.trace, req).await)
            }
        }
    }

    /// Whether a request may open a session.
    fn may_attach(&self, req: &Request<Incoming>, peer: Peer) -> bool {
        let bearer = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match (&self.token, bearer, peer) {
            (Some(t), Some(b), _) => constant_time_eq(t.as_bytes(), b.as_bytes()),
            // a unix socket's own user (SO_PEERCRED) needs no token
            (_, _, Peer::Unix { owner }) => owner,
            // without a token a TLS listener has a client CA (`bind` refuses
            // it otherwise): the handshake vouched for the client
            (None, _, Peer::Tls) => true,
            (Some(_), None, Peer::Tls) => false,
        }
    }

    fn attach(self: Arc<Self>, mut req: Request<Incoming>, peer: Peer) -> Response<Body> {
        if !self.may_attach(&req, peer) {
            return refuse(StatusCode::UNAUTHORIZED, "unauthorized: send the engine's token as `Authorization: Bearer TOKEN` (TANTO_TOKEN or TANTO_TOKEN_FILE)");
        }
        let upgrade = req.headers().get(hyper::header::UPGRADE).and_then(|v| v.to_str().ok());
        if upgrade != Some(UPGRADE) {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("attach with `Upgrade: {UPGRADE}`: use a tanto client of this version"),
            );
        }
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let client_id: String =
            header(CLIENT_HEADER).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
        let client_id = if client_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { client_id };
        let pipeline = header(PIPELINE_HEADER);
        let token = uuid::Uuid::new_v4().to_string();
        let on_upgrade = hyper::upgrade::on(&mut req);
        let (set_link, link) = Link::new();
        let network = uuid::Uuid::new_v4().to_string();
        let services = self.engine.solver.worker().services.clone();
        let net = Arc::new(ClientNet { link: link.clone(), listeners: Default::default() });
        services.add_client(&network, net.clone());
        let host = Arc::new(ClientHost {
            link,
            backend: self.backend.clone(),
            mirrors: self.mirrors.clone(),
            client_id: client_id.clone(),
            network: network.clone(),
            sockets: Default::default(),
        });
        let api = tanto_api::Api::new(engine_of(host), Arc::new(tanto_api::Objects::default()));
        let span = tracing::info_span!("session", client = %client_id, pipeline = %pipeline);
        let session = Arc::new(Session { api: Arc::new(SessionApi(api)), trace: SessionTrace::new(span), net });
        self.sessions.insert(token.clone(), session);
        let server = self.clone();
        let session_token = token.clone();
        tokio::spawn(async move {
            let attached = async {
                let upgraded = on_upgrade.await.map_err(|e| format!("not upgraded: {e}"))?;
                stream::h2_client(upgraded).await.map_err(|e| format!("no HTTP/2: {e}"))
            };
            match attached.await {
                Ok((send, conn)) => {
                    let _ = set_link.send(Some(send));
                    tracing::info!(client = %client_id, pipeline = %pipeline, "a client attached");
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "a client's attach connection ended");
                    }
                    tracing::info!(client = %client_id, "a client left");
                }
                Err(e) => tracing::info!(client = %client_id, "a client's attach failed: {e}"),
            }
            server.sessions.remove(&session_token);
            services.remove_client(&network);
        });
        let mut resp = Response::new(stream::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("upgrade"));
        h.insert(hyper::header::UPGRADE, hyper::header::HeaderValue::from_static(UPGRADE));
        if let Ok(v) = hyper::header::HeaderValue::from_str(&token) {
            h.insert(SESSION_HEADER, v);
        }
        resp
    }
}
