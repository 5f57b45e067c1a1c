//! A thin client's session on a remote engine: its own API (its own object
//! table: it sees only what it made), over the engine's solver and cache,
//! with the client's host reached over the attach connection ([`Link`]):
//! uploads through mirrors, exports, secrets read on the client, its
//! workspace, its unix sockets and network ([`ClientNet`]: connections to its
//! host, listeners on it). The engine's own host is never the client's: what
//! would reach it (the engine's docker store) is refused.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use tanto_contract::fs::EntryKind;
use tanto_contract::host::Workspace;
use tanto_contract::image::{ImageOptions, ImageVariant, ResolvedImage};
use tanto_contract::{EngineResult, Host, Images, Secrets};
use tanto_model::Ref;
use tanto_store::upload::UploadSpec;

use super::mirror::Mirrors;
use super::proto::{Failure, FileSpec, Listening, Listing, Op, PathInfo, OP_HEADER};
use super::stream::{self, Body};
use crate::backend::EngineBackend;
use crate::EngineError;

/// The largest JSON answer taken from a client (a listing of ~1M entries).
const MAX_ANSWER: usize = 512 << 20;

/// The engine's side of the attach connection: it asks, the client answers.
#[derive(Clone)]
pub(crate) struct Link {
    /// Set once the attach connection is up; dropped unset when it failed.
    send: tokio::sync::watch::Receiver<Option<hyper::client::conn::http2::SendRequest<Body>>>,
}

/// Sets a [`Link`] up once the attach connection is.
pub(crate) type LinkSetter = tokio::sync::watch::Sender<Option<hyper::client::conn::http2::SendRequest<Body>>>;

/// How long an op waits for the attach connection to come up.
const LINK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Link {
    pub(crate) fn new() -> (LinkSetter, Link) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        (tx, Link { send: rx })
    }

    async fn sender(&self) -> Result<hyper::client::conn::http2::SendRequest<Body>, EngineError> {
        let mut rx = self.send.clone();
        let down = || EngineError::environment("the client's attach connection is not up: the client may have gone");
        let ready = async { rx.wait_for(Option::is_some).await.ok().and_then(|s| s.clone()) };
        tokio::time::timeout(LINK_WAIT, ready).await.ok().flatten().ok_or_else(down)
    }

    /// Asks `op` with `body`; the answer's body, or the client's error.
    pub(crate) async fn call(&self, op: &Op, body: Body) -> Result<Incoming, EngineError> {
        let req = hyper::Request::post("/op")
            .header(OP_HEADER, op.encode())
            .body(body)
            .map_err(|e| EngineError::internal(format!("building a request to the client: {e}")))?;
        let gone = |e: hyper::Error| {
            EngineError::environment(format!("the client's host did not answer `{}`: {e}; it may have gone", op.name()))
        };
        let resp = self.sender().await?.send_request(req).await.map_err(gone)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.into_body());
        }
        let text = stream::read_all(resp.into_body(), 1 << 20, "the client's error").await?;
        Err(serde_json::from_slice::<Failure>(&text)
            .map(Failure::into_error)
            .unwrap_or_else(|_| EngineError::environment(format!("the client answered `{}` with {status}", op.name()))))
    }

    /// A connection to `target` (`tcp:HOST:PORT`, `unix:PATH`) on the client's host.
    pub(crate) async fn dial(&self, target: String) -> std::io::Result<tokio::io::DuplexStream> {
        let (tx, body) = stream::sender();
        let incoming = self.call(&Op::Connect { target }, body).await.map_err(std::io::Error::other)?;
        let (ours, theirs) = tokio::io::duplex(256 << 10);
        tokio::spawn(stream::pipe(theirs, incoming, tx));
        Ok(ours)
    }

    /// Asks `op` (no payload) and reads its JSON answer.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(&self, op: &Op) -> Result<T, EngineError> {
        self.json_with(op, stream::empty()).await
    }

    /// Asks `op` with `body` and reads its JSON answer.
    pub(crate) async fn json_with<T: serde::de::DeserializeOwned>(
        &self,
        op: &Op,
        body: Body,
    ) -> Result<T, EngineError> {
        let answer = self.call(op, body).await?;
        let data = stream::read_all(answer, MAX_ANSWER, "the client's answer").await?;
        serde_json::from_slice(&data).map_err(|e| {
            EngineError::internal(format!("the client's answer to `{}` is not what was asked: {e}", op.name()))
        })
    }
}

/// A client's network as the engine's services use it: connections to its
/// host, and listeners on it whose connections arrive as tunnel requests.
pub(crate) struct ClientNet {
    pub(crate) link: Link,
    /// Listeners on the client by id: where their connections go.
    pub(crate) listeners: dashmap::DashMap<String, tokio::sync::mpsc::Sender<tokio::io::DuplexStream>>,
}

#[async_trait::async_trait]
impl crate::services::ClientNetwork for ClientNet {
    async fn dial(&self, host: &str, port: u16) -> std::io::Result<tokio::io::DuplexStream> {
        self.link.dial(format!("tcp:{host}:{port}")).await
    }

    async fn listen(&self, port: u16) -> std::io::Result<(u16, tokio::sync::mpsc::Receiver<tokio::io::DuplexStream>)> {
        let l: Listening = self.link.json(&Op::Listen { port }).await.map_err(std::io::Error::other)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        self.listeners.insert(l.id.clone(), tx.clone());
        // when the tunnel is dropped, the client stops listening
        let (link, id) = (self.link.clone(), l.id);
        tokio::spawn(async move {
            tx.closed().await;
            let _ = link.call(&Op::Unlisten { id }, stream::empty()).await;
        });
        Ok((l.port, rx))
    }
}

impl ClientNet {
    /// A connection the client's listener `id` accepted.
    pub(crate) async fn accepted(&self, id: &str, conn: tokio::io::DuplexStream) -> bool {
        let Some(tx) = self.listeners.get(id).map(|t| t.clone()) else { return false };
        if tx.send(conn).await.is_err() {
            self.listeners.remove(id);
            return false;
        }
        true
    }
}

/// A client's host as one session of a remote engine sees it.
pub(crate) struct ClientHost {
    pub(crate) link: Link,
    pub(crate) backend: Arc<EngineBackend>,
    pub(crate) mirrors: Arc<Mirrors>,
    pub(crate) client_id: String,
    /// This session's client network in the engine's services.
    pub(crate) network: String,
    /// Sockets in the engine's run dir relaying to the client's unix sockets, by client path.
    pub(crate) sockets: parking_lot::Mutex<std::collections::HashMap<String, Arc<ClientSocket>>>,
}

/// A unix socket in the engine's run dir whose connections go to a socket on
/// the client's host; removed when dropped (with its session).
pub(crate) struct ClientSocket {
    path: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClientSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ClientSocket {
    fn start(link: Link, dir: &std::path::Path, target: String) -> Result<ClientSocket, EngineError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::environment(format!("creating `{}`: {e}", dir.display())))?;
        let path = dir.join(crate::leftovers::owned_name(".sock"));
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|e| EngineError::environment(format!("listening on `{}`: {e}", path.display())))?;
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (link, target) = (link.clone(), target.clone());
                tokio::spawn(async move {
                    match link.dial(target.clone()).await {
                        Ok(mut up) => {
                            let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "relaying a connection to the client's socket failed"),
                    }
                });
            }
        });
        Ok(ClientSocket { path, task })
    }
}

/// What a remote session cannot do yet, as the API names missing fields.
fn remote_only(field: &str, why: &str) -> EngineError {
    EngineError::input(format!("not implemented yet: {field} through a remote engine (TANTO_HOST): {why}"))
}

fn kind_of(name: &str) -> EntryKind {
    match name {
        "file" => EntryKind::File,
        "dir" => EntryKind::Dir,
        "symlink" => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

impl ClientHost {
    /// Uploads what the client lists for `list` (an `Op::List`): its mirror
    /// synced, then uploaded (or, unchanged, its last upload).
    async fn upload(&self, list: Op) -> Result<Ref, EngineError> {
        let t = std::time::Instant::now();
        let body = self.link.call(&list, stream::empty()).await?;
        let listing = Listing::decode(&stream::read_all(body, MAX_ANSWER, "the client's listing").await?)?;
        tracing::debug!(
            entries = listing.entries.len(),
            ms = t.elapsed().as_millis() as u64,
            "listed a client directory"
        );
        let backend = self.backend.clone();
        self.mirrors
            .sync(&self.link, &self.client_id, listing, |tree, changes| async move {
                backend.upload_changed_dir(UploadSpec::directory(tree, vec![], vec![], false), changes).await
            })
            .await
    }
}

#[async_trait::async_trait]
impl Host for ClientHost {
    async fn host_directory(
        &self,
        path: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref> {
        self.upload(Op::List { path: path.into(), include, exclude, gitignore }).await
    }

    async fn host_file(&self, path: &str) -> EngineResult<(Ref, String)> {
        let file: FileSpec = self.link.json(&Op::File { path: path.into() }).await?;
        let op = Op::List { path: file.dir, include: file.include, exclude: vec![], gitignore: false };
        Ok((self.upload(op).await?, file.path))
    }

    async fn host_find_up(&self, name: &str) -> EngineResult<Option<String>> {
        crate::export::find_up_name(name)?;
        self.link.json(&Op::FindUp { name: name.into() }).await
    }

    async fn host_path(&self, path: &str) -> EngineResult<Option<(String, EntryKind)>> {
        let info: PathInfo = self.link.json(&Op::Path { path: path.into() }).await?;
        Ok(info.kind.map(|k| (info.abs, kind_of(&k))))
    }

    async fn host_unix_socket(&self, path: &str) -> EngineResult<String> {
        // the client checks the socket is there, and names it absolutely
        let info: PathInfo = self.link.json(&Op::Path { path: path.into() }).await?;
        match info.kind.as_deref() {
            None => {
                return Err(EngineError::not_found(format!(
                    "no unix socket at `{}` on the client: start the server that listens there, or fix the path",
                    info.abs
                )))
            }
            Some("other") => {}
            Some(_) => return Err(EngineError::input(format!("`{}` on the client is not a unix socket", info.abs))),
        }
        if let Some(s) = self.sockets.lock().get(&info.abs) {
            return Ok(s.path.to_string_lossy().into_owned());
        }
        let dir = self.backend.worker().executor.run_dir().join("client-sockets");
        let socket = Arc::new(ClientSocket::start(self.link.clone(), &dir, format!("unix:{}", info.abs))?);
        let path = socket.path.to_string_lossy().into_owned();
        self.sockets.lock().insert(info.abs, socket);
        Ok(path)
    }

    fn host_network(&self) -> EngineResult<Option<String>> {
        Ok(Some(self.network.clone()))
    }

    async fn export_directory(&self, root: Option<&Ref>, path: &str, dest: &str, wipe: bool) -> EngineResult<String> {
        let check = path.to_string();
        self.backend.with_root(root, move |src| crate::export::source_dir(src, &check)).await?;
        let view = self.backend.view_of(root, path).await?;
        let body = stream::from_blocking(move |w| tanto_oci::layer::diff::write_tree_tar(view.path(), w).map(drop));
        self.link.json_with(&Op::ExportDir { dest: dest.into(), wipe }, body).await
    }

    async fn export_file(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        allow_parent_dir: bool,
    ) -> EngineResult<String> {
        let name = tanto_fs::path::clean_abs(path).rsplit('/').next().unwrap_or("").to_string();
        let src_path = path.to_string();
        let (from, mode, mtime) =
            self.backend.with_root(root, move |src| crate::export::source_file(src, &src_path)).await?;
        let body = stream::from_blocking(move |w| {
            let mut from = from;
            std::io::copy(&mut from, w).map(drop)
        });
        let op = Op::ExportFile { dest: dest.into(), name, allow_parent_dir, mode, mtime };
        self.link.json_with(&op, body).await
    }

    async fn workspace(&self) -> EngineResult<Workspace> {
        self.link.json(&Op::Workspace { client_id: self.client_id.clone() }).await
    }

    async fn workspace_directory(
        &self,
        ws: &Workspace,
        rel: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref> {
        let abs: Option<String> = self.link.json(&Op::WorkspacePath { ws: ws.clone(), rel: rel.into() }).await?;
        let abs = abs.ok_or_else(|| crate::workspace::missing(ws, rel, "directory"))?;
        self.host_directory(&abs, include, exclude, gitignore).await
    }

    async fn workspace_file(&self, ws: &Workspace, rel: &str) -> EngineResult<(Ref, String)> {
        let abs: Option<String> = self.link.json(&Op::WorkspacePath { ws: ws.clone(), rel: rel.into() }).await?;
        let abs = abs.ok_or_else(|| crate::workspace::missing(ws, rel, "file"))?;
        self.host_file(&abs).await
    }

    async fn workspace_find_up(&self, ws: &Workspace, name: &str, from: &str) -> EngineResult<Option<String>> {
        let op = Op::WorkspaceFindUp { ws: ws.clone(), name: name.into(), from: from.into() };
        self.link.json(&op).await
    }
}

/// Secrets of a remote session: URIs are read on the client.
#[async_trait::async_trait]
impl Secrets for ClientHost {
    fn set_secret(&self, name: &str, plaintext: Vec<u8>) -> String {
        self.backend.set_secret(name, plaintext)
    }

    async fn secret_from_uri(&self, uri: &str, cache_key: Option<&str>) -> EngineResult<String> {
        let body = self.link.call(&Op::Secret { uri: uri.into() }, stream::empty()).await?;
        let value: Bytes = stream::read_all(body, 1 << 20, "a secret from the client").await?;
        // A cache key would name the value engine-wide: another client with the
        // same key would get this client's value. Through a remote engine the
        // secret is named by its value (equal values still share cache entries).
        let _ = cache_key;
        Ok(self.backend.worker().secrets.keep_resolved(uri, None, value.to_vec()))
    }

    async fn secret_plaintext(&self, identity: &str) -> EngineResult<Vec<u8>> {
        self.backend.secret_plaintext(identity).await
    }
}

/// Images of a remote session: tarballs are exported to the client; the
/// client's docker or podman store is out of reach.
#[async_trait::async_trait]
impl Images for ClientHost {
    fn default_platform(&self) -> String {
        self.backend.default_platform()
    }

    async fn resolve_image(&self, address: &str, platform: &str) -> EngineResult<ResolvedImage> {
        self.backend.resolve_image(address, platform).await
    }

    async fn export_image(&self, variants: &[ImageVariant], dest: &str, opts: &ImageOptions) -> EngineResult<String> {
        let (root, path) = self.backend.image_tarball(variants, opts).await?;
        self.export_file(Some(&root), &path, dest, false).await
    }

    async fn image_tarball(&self, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<(Ref, String)> {
        self.backend.image_tarball(variants, opts).await
    }

    async fn publish(&self, address: &str, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<String> {
        self.backend.publish(address, variants, opts).await
    }

    async fn import_image(
        &self,
        root: Option<&Ref>,
        path: &str,
        tag: &str,
        platform: &str,
    ) -> EngineResult<ResolvedImage> {
        self.backend.import_image(root, path, tag, platform).await
    }

    async fn add_registry_auth(&self, address: &str, username: &str, secret_identity: &str) -> EngineResult<()> {
        self.backend.add_registry_auth(address, username, secret_identity).await
    }

    fn remove_registry_auth(&self, address: &str) {
        self.backend.remove_registry_auth(address)
    }

    async fn host_container_image(&self, _name: &str, _platform: &str) -> EngineResult<ResolvedImage> {
        Err(remote_only("Host.containerImage", "the client's docker or podman store is on another machine"))
    }

    async fn load_host_image(&self, _name: &str, _variants: &[ImageVariant], _opts: &ImageOptions) -> EngineResult<()> {
        Err(remote_only("Container.export to the client's image store", "it is on another machine"))
    }
}

/// The contract of a remote session: the engine's solver, services, sources
/// and cache; the client's host, secrets and image exports.
pub(crate) fn engine_of(host: Arc<ClientHost>) -> tanto_contract::Engine {
    let backend = host.backend.clone();
    tanto_contract::Engine {
        solve: backend.clone(),
        images: host.clone(),
        host: host.clone(),
        services: backend.clone(),
        sources: backend.clone(),
        secrets: host,
        cache: backend,
    }
}
