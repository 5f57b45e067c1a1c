//! The thin client's host as a remote engine reaches it: the HTTP/2 server
//! on the attach connection, answering each [`Op`] with the same code a
//! local engine runs on its own host (path rules, upload walks and filters,
//! workspace detection, secret URIs, export writes).
//!
//! Trust: the client trusts its engine, as a local engine's host trusts the
//! engine it runs (the engine may list, read, export to and connect from
//! what the user can). The checks here keep honest mistakes in bounds, they
//! are not a wall against a malicious engine: entries are sent only from a
//! directory this session listed, read beneath it without following symlinks.

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tanto_store::upload::{self, Listed, UploadSpec};

use super::proto::{Failure, FileSpec, Listing, Op, PathInfo, OP_HEADER};
use super::stream::{self, Body};
use crate::export::host_path;
use crate::EngineError;
use tanto_contract::fs::EntryKind;

/// The client's host: its working directory and where its exports journal.
pub(crate) struct Agent {
    workdir: PathBuf,
    run_dir: PathBuf,
    /// Directories this session listed: the only ones entries are sent from.
    listed: parking_lot::Mutex<HashSet<String>>,
    /// The way back to the engine, for connections listeners accept.
    pub(crate) back: std::sync::OnceLock<Back>,
    /// Listeners on this host (tunnels, `up`) by id; stopped when dropped.
    listeners: parking_lot::Mutex<std::collections::HashMap<String, AbortOnDrop>>,
}

/// The query connection to the engine, and the session's credentials.
#[derive(Clone)]
pub(crate) struct Back {
    pub(crate) send: hyper::client::conn::http2::SendRequest<Body>,
    pub(crate) auth: String,
    pub(crate) uri: String,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Back {
    /// Sends `conn` (accepted by listener `id`) to the engine's tunnel.
    async fn tunnel(&self, id: &str, conn: tokio::net::TcpStream) {
        let (tx, body) = stream::sender();
        let req = Request::post(&self.uri)
            .header(hyper::header::AUTHORIZATION, &self.auth)
            .header(super::proto::LISTENER_HEADER, id)
            .body(body);
        let Ok(req) = req else { return };
        match self.send.clone().send_request(req).await {
            Ok(resp) if resp.status().is_success() => stream::pipe(conn, resp.into_body(), tx).await,
            Ok(resp) => tracing::debug!(status = %resp.status(), "the engine refused a tunnelled connection"),
            Err(e) => tracing::debug!(error = %e, "tunnelling a connection to the engine failed"),
        }
    }
}

fn json(v: &impl serde::Serialize) -> Result<Body, EngineError> {
    serde_json::to_vec(v).map(stream::full).map_err(|e| EngineError::internal(e.to_string()))
}

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "other",
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    crate::worker::blocking(f).await
}

impl Agent {
    pub(crate) fn new(workdir: PathBuf, run_dir: PathBuf) -> Agent {
        Agent { workdir, run_dir, listed: Default::default(), back: Default::default(), listeners: Default::default() }
    }

    /// Answers the engine on `io` until the connection ends.
    pub(crate) async fn serve<I>(self: Arc<Self>, io: I) -> Result<(), hyper::Error>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let svc = hyper::service::service_fn(move |req| {
            let agent = self.clone();
            async move { Ok::<_, Infallible>(agent.answer(req).await) }
        });
        hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(io), svc).await
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        let op = match req.headers().get(OP_HEADER).and_then(|v| v.to_str().ok()) {
            Some(h) => Op::decode(h),
            None => Err(EngineError::input("the engine's request names no op")),
        };
        let name = op.as_ref().map(Op::name).unwrap_or("?");
        let result = match op {
            Ok(op) => self.run(op, req.into_body()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(body) => Response::new(body),
            Err(e) => {
                tracing::debug!(op = name, error = %e, "answering the engine failed");
                let status = match e.tier() {
                    tanto_model::Tier::Input => StatusCode::BAD_REQUEST,
                    tanto_model::Tier::NotFound => StatusCode::NOT_FOUND,
                    tanto_model::Tier::Environment => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let mut r = Response::new(json(&Failure::of(&e)).unwrap_or_else(|_| stream::empty()));
                *r.status_mut() = status;
                r
            }
        }
    }

    async fn run(&self, op: Op, body: Incoming) -> Result<Body, EngineError> {
        match op {
            Op::Path { path } => {
                let abs = host_path(&self.workdir, &path);
                let kind = crate::workspace::path_kind(&abs).map(|k| kind_name(k).to_string());
                json(&PathInfo { abs: abs.to_string_lossy().into_owned(), kind })
            }
            Op::FindUp { name } => {
                crate::export::find_up_name(&name)?;
                json(&tanto_fs::path::find_up(&self.workdir, &name))
            }
            Op::File { path } => {
                let abs = host_path(&self.workdir, &path);
                let (spec, path) = blocking(move || Ok(UploadSpec::file(&abs)?)).await?;
                json(&FileSpec { dir: spec.path.to_string_lossy().into_owned(), include: spec.include, path })
            }
            Op::List { path, include, exclude, gitignore } => {
                let spec = UploadSpec::directory(host_path(&self.workdir, &path), include, exclude, gitignore);
                let abs = spec.path.to_string_lossy().into_owned();
                let (spec, entries) = blocking(move || {
                    let entries = upload::list(&spec)?;
                    Ok((spec, entries))
                })
                .await?;
                self.listed.lock().insert(abs.clone());
                Ok(stream::full(Listing { abs, include: spec.include, exclude: spec.exclude, entries }.encode()))
            }
            Op::Entries { dir } => {
                if !self.listed.lock().contains(&dir) {
                    return Err(EngineError::input(format!(
                        "the engine asked for files of `{dir}`, which this session did not list"
                    )));
                }
                let wanted = stream::read_all(body, 1 << 30, "the entries the engine wants").await?;
                let wanted: Vec<Listed> = upload::decode_listing(&wanted)
                    .ok_or_else(|| EngineError::input("the entries the engine wants are not a listing"))?;
                Ok(stream::from_blocking(move |w| {
                    upload::write_entries(std::path::Path::new(&dir), &wanted, w).map(drop)
                }))
            }
            Op::Workspace { client_id } => json(&crate::workspace::detect(&self.workdir, &client_id)),
            Op::WorkspacePath { ws, rel } => {
                let p = blocking(move || crate::workspace::inside(&ws, &rel)).await?;
                json(&p.map(|p| p.to_string_lossy().into_owned()))
            }
            Op::WorkspaceFindUp { ws, name, from } => {
                json(&blocking(move || crate::workspace::find_up(&ws, &name, &from)).await?)
            }
            Op::Secret { uri } => Ok(stream::full(crate::secrets::resolve_uri(&uri, &self.workdir).await?)),
            Op::ExportDir { dest, wipe } => {
                let target = host_path(&self.workdir, &dest);
                let reader = stream::reader(body);
                let out = target.clone();
                blocking(move || {
                    let tmp = tempfile::Builder::new()
                        .prefix(".tanto-export-")
                        .tempdir()
                        .map_err(|e| EngineError::environment(format!("making a temporary directory: {e}")))?;
                    // a plain unpack (no OCI whiteouts: a `.wh.NAME` file is a file) into a
                    // new, empty directory; the tar crate keeps every entry inside it
                    let mut archive = tar::Archive::new(reader);
                    archive.set_preserve_permissions(true);
                    archive.set_preserve_mtime(true);
                    archive.unpack(tmp.path()).map_err(|e| {
                        EngineError::environment(format!("receiving the export to `{}`: {e}", target.display()))
                    })?;
                    let src = tanto_fs::Root::open(tmp.path())
                        .map_err(|e| EngineError::internal(format!("opening the received export: {e}")))?;
                    crate::export::export_tree(&src, "/", &target, wipe)
                })
                .await?;
                json(&out.to_string_lossy())
            }
            Op::Connect { target } => {
                let (tx, out) = stream::sender();
                let refused = |e: std::io::Error| {
                    EngineError::environment(format!("connecting to `{target}` on the client: {e}"))
                };
                if let Some(path) = target.strip_prefix("unix:") {
                    let conn =
                        tokio::net::UnixStream::connect(host_path(&self.workdir, path)).await.map_err(refused)?;
                    tokio::spawn(stream::pipe(conn, body, tx));
                } else if let Some(addr) = target.strip_prefix("tcp:") {
                    let conn = tokio::net::TcpStream::connect(addr).await.map_err(refused)?;
                    let _ = conn.set_nodelay(true);
                    tokio::spawn(stream::pipe(conn, body, tx));
                } else {
                    return Err(EngineError::input(format!(
                        "the engine asked to connect to `{target}`: not tcp: or unix:"
                    )));
                }
                Ok(out)
            }
            Op::Listen { port } => {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
                    EngineError::environment(format!("listening on 127.0.0.1:{port} on the client: {e}"))
                })?;
                let port = listener.local_addr().map_err(|e| EngineError::environment(e.to_string()))?.port();
                let id = uuid::Uuid::new_v4().to_string();
                let Some(back) = self.back.get().cloned() else {
                    return Err(EngineError::environment("the client's query connection is not up yet"));
                };
                let back = Arc::new(back);
                let listener_id = id.clone();
                let task = tokio::spawn(async move {
                    while let Ok((conn, _)) = listener.accept().await {
                        let _ = conn.set_nodelay(true);
                        let (back, id) = (back.clone(), listener_id.clone());
                        tokio::spawn(async move { back.tunnel(&id, conn).await });
                    }
                });
                self.listeners.lock().insert(id.clone(), AbortOnDrop(task));
                json(&super::proto::Listening { id, port })
            }
            Op::Unlisten { id } => {
                self.listeners.lock().remove(&id);
                Ok(stream::empty())
            }
            Op::ExportFile { dest, name, allow_parent_dir, mode, mtime } => {
                let target = crate::export::file_target(host_path(&self.workdir, &dest), &name, allow_parent_dir)?;
                let mut reader = stream::reader(body);
                let (run_dir, out) = (self.run_dir.clone(), target.clone());
                blocking(move || crate::export::write_exported_file(&mut reader, mode, mtime, &run_dir, &target))
                    .await?;
                json(&out.to_string_lossy())
            }
        }
    }
}
