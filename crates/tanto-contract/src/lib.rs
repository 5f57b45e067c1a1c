//! tanto-contract: what the API asks of the engine, in the model's terms.
//!
//! The API builds ops and objects; when a leaf needs a result it asks the
//! engine through the capability traits below ([`Solve`], [`Images`],
//! [`Host`], [`Services`], [`Sources`], [`Secrets`], [`Cache`]), held
//! together as an [`Engine`]. Their request and result types live here, below the API, so
//! the engine implements them without knowing GraphQL, and every method
//! returns an [`EngineError`] that carries its [`Tier`] (and, for a failed
//! exec, its payload). The API turns an `EngineError` into a GraphQL error in
//! one place.
//!
//! Invariants: secret values never appear in these types (secrets are named
//! by identity); types are plain data. Depends only on tanto-model; must not
//! depend on tokio, GraphQL or any engine crate.

pub mod cache;
pub mod error;
pub mod fs;
pub mod git;
pub mod host;
pub mod image;
mod refusing;
pub mod service;

pub use error::{Context, EngineError, EngineResult, ExecFailure};
pub use refusing::Refusing;
pub use tanto_model::{Tier, Tiered};

use std::sync::Arc;

use tanto_model::Ref;

use cache::{CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};
use fs::{ChangeLists, EntryKind, EntryStat, ExecOutput, SearchMatch, SearchOptions};
use git::{GitAuth, GitRefName, GitRepo, RefKind};
use host::Workspace;
use image::{ImageOptions, ImageVariant, ResolvedImage};
use service::{PortForward, ServiceSpec};

/// Solving refs and reading their results.
#[async_trait::async_trait]
pub trait Solve: Send + Sync {
    /// Makes sure the result of `r` exists (runs what must run).
    async fn sync(&self, r: &Ref) -> EngineResult<()>;

    /// The output of the exec vertex `r` points into.
    async fn exec_output(&self, r: &Ref) -> EngineResult<ExecOutput>;

    /// Reads a regular file at `path` inside the filesystem `root` (None = empty).
    async fn read_file(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<u8>>;

    /// Lists a directory (sorted by name).
    async fn read_dir(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<EntryStat>>;

    /// Stats a path (symlinks followed unless `no_follow`); `None` when absent.
    async fn stat(&self, root: Option<&Ref>, path: &str, no_follow: bool) -> EngineResult<Option<EntryStat>>;

    /// Paths under `path` matching a glob pattern, relative to `path`.
    async fn glob(&self, root: Option<&Ref>, path: &str, pattern: &str) -> EngineResult<Vec<String>>;

    /// A content digest of the tree at `path` (file or directory).
    async fn digest(&self, root: Option<&Ref>, path: &str, with_metadata: bool) -> EngineResult<String>;

    /// What `upper_path` of `upper` adds, modifies and removes compared with `lower_path` of `lower`.
    async fn changes(
        &self,
        lower: Option<&Ref>,
        lower_path: &str,
        upper: Option<&Ref>,
        upper_path: &str,
    ) -> EngineResult<ChangeLists>;

    /// Matches of `opts` in the files below directory `path` of `root`, by path then position.
    async fn search(&self, root: Option<&Ref>, path: &str, opts: &SearchOptions) -> EngineResult<Vec<SearchMatch>>;

    /// Runs the exec vertex `exec` points into once, never cached, with a nested
    /// engine session served by `session` on the container's loopback
    /// (`DAGGER_SESSION_PORT`, a fresh `DAGGER_SESSION_TOKEN`); its inputs are solved
    /// (and cached) as usual, its filesystem changes are dropped. Module function
    /// calls run this way. A non-zero exit is `Ok`. `label` names the run in
    /// progress (`call Hello.greet (module hello)`): each run is a step of its own.
    async fn run_nested(&self, exec: &Ref, session: Arc<dyn QueryHandler>, label: &str) -> EngineResult<ExecOutput>;

    /// Runs the exec vertex `exec` points into once, never cached, with a PTY
    /// attached to the user's terminal until it exits (`Container.terminal`);
    /// its exit code. Fails at once when the engine has no terminal.
    async fn run_terminal(&self, exec: &Ref) -> EngineResult<i32>;
}

/// Answers the GraphQL requests of one engine session: a request body (JSON) in,
/// a response body out. The engine owns the transport (listener, token, limits).
#[async_trait::async_trait]
pub trait QueryHandler: Send + Sync {
    async fn handle(&self, body: &[u8]) -> Vec<u8>;
}

/// Opens the session of an exec with `experimentalPrivilegedNesting`: the API
/// gives the engine one at start.
pub trait NestedSessions: Send + Sync {
    fn open(&self) -> Arc<dyn QueryHandler>;
}

/// Images in and out: registries, tarballs, the client's image store.
#[async_trait::async_trait]
pub trait Images: Send + Sync {
    fn default_platform(&self) -> String;

    /// Resolves an image reference to a digest and reads its config.
    async fn resolve_image(&self, address: &str, platform: &str) -> EngineResult<ResolvedImage>;

    /// Writes an OCI tarball of `variants` (one per platform) to host path
    /// `dest`; returns the absolute path written.
    async fn export_image(&self, variants: &[ImageVariant], dest: &str, opts: &ImageOptions) -> EngineResult<String>;

    /// An OCI tarball of `variants` as a file: (root, path of the file in it).
    async fn image_tarball(&self, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<(Ref, String)>;

    /// Pushes `variants` to `address`; returns `address@sha256:...`.
    async fn publish(&self, address: &str, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<String>;

    /// Reads an image from the OCI or docker tarball at `path` of `root`
    /// (`tag` picks one when it holds several).
    async fn import_image(
        &self,
        root: Option<&Ref>,
        path: &str,
        tag: &str,
        platform: &str,
    ) -> EngineResult<ResolvedImage>;

    /// Credentials for a registry, for the rest of the session (as Dagger does).
    async fn add_registry_auth(&self, address: &str, username: &str, secret_identity: &str) -> EngineResult<()>;

    fn remove_registry_auth(&self, address: &str);

    /// An image of the client's docker or podman image store (a `docker save` of `name`).
    async fn host_container_image(&self, name: &str, platform: &str) -> EngineResult<ResolvedImage>;

    /// Loads `variants` into the client's docker or podman image store, tagged `name`.
    async fn load_host_image(&self, name: &str, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<()>;
}

/// The client's host: files in and out, sockets, the workspace.
#[async_trait::async_trait]
pub trait Host: Send + Sync {
    /// Uploads a host directory (relative to the session's working directory);
    /// returns the root of the uploaded tree.
    async fn host_directory(
        &self,
        path: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref>;

    /// Uploads one host file; returns the root holding it and its path there.
    async fn host_file(&self, path: &str) -> EngineResult<(Ref, String)>;

    /// `name` in the working directory or the nearest parent that has it,
    /// relative to the working directory.
    async fn host_find_up(&self, name: &str) -> EngineResult<Option<String>>;

    /// A host path (relative to the working directory) made absolute, and what
    /// is there (symlinks not followed); `None` when nothing is.
    async fn host_path(&self, path: &str) -> EngineResult<Option<(String, EntryKind)>>;

    /// The absolute host path of the unix socket `path` (relative to the working directory).
    async fn host_unix_socket(&self, path: &str) -> EngineResult<String>;

    /// Writes the directory `path` of `root` to host path `dest`; returns the absolute path written.
    async fn export_directory(&self, root: Option<&Ref>, path: &str, dest: &str, wipe: bool) -> EngineResult<String>;

    /// Writes the file `path` of `root` to host path `dest`; returns the absolute path written.
    async fn export_file(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        allow_parent_dir: bool,
    ) -> EngineResult<String>;

    /// Where the client's host network is, for `Host.service` (connections
    /// to it), `Host.tunnel` and `up` (listeners on it): `None`, the engine's
    /// own host; `Some(id)`, a remote engine's client, reached through the
    /// engine's client network `id` (part of those services' identity).
    fn host_network(&self) -> EngineResult<Option<String>> {
        Ok(None)
    }

    /// The client's workspace.
    async fn workspace(&self) -> EngineResult<Workspace>;

    /// Uploads directory `rel` (relative to the boundary) of a workspace.
    async fn workspace_directory(
        &self,
        ws: &Workspace,
        rel: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref>;

    /// Uploads file `rel` (relative to the boundary) of a workspace: the root holding it and its path there.
    async fn workspace_file(&self, ws: &Workspace, rel: &str) -> EngineResult<(Ref, String)>;

    /// `name` in directory `from` (relative to the boundary) or the nearest
    /// parent up to the boundary that has it, as `/path` from the boundary.
    async fn workspace_find_up(&self, ws: &Workspace, name: &str, from: &str) -> EngineResult<Option<String>>;
}

/// Services: started on demand, shared, stopped when unused.
#[async_trait::async_trait]
pub trait Services: Send + Sync {
    /// Learns a service definition, so execs that bind it (by digest) can start it.
    fn register_service(&self, svc: &ServiceSpec);

    /// Starts a service (if it is not running) and keeps it running until
    /// [`Services::stop_service`] or the end of the session.
    async fn start_service(&self, svc: &ServiceSpec) -> EngineResult<()>;

    /// Stops a running service (SIGTERM, or SIGKILL when `kill`); not running is fine.
    async fn stop_service(&self, svc: &ServiceSpec, kill: bool) -> EngineResult<()>;

    /// The host and ports of a host tunnel, started if needed.
    async fn service_ports(&self, svc: &ServiceSpec) -> EngineResult<(String, Vec<image::Port>)>;

    /// Forwards `ports` (all exposed ports when empty) of the service to the host until
    /// the service exits or the request is cancelled.
    async fn service_up(
        &self,
        svc: &ServiceSpec,
        ports: Vec<PortForward>,
        random: bool,
        client: Option<&str>,
    ) -> EngineResult<()>;

    /// Runs `cmd` in the service's container (started if needed) attached to the
    /// user's terminal until it exits (`Service.terminal`); its exit code.
    async fn service_terminal(&self, svc: &ServiceSpec, cmd: Vec<String>) -> EngineResult<i32>;
}

/// Remote sources: git repositories and HTTP downloads.
#[async_trait::async_trait]
pub trait Sources: Send + Sync {
    /// Downloads `url` into the content store; returns its digest. `auth_header`
    /// is the identity of a secret holding an Authorization header value.
    async fn http_fetch(&self, url: &str, auth_header: Option<&str>) -> EngineResult<String>;

    /// Every ref a git remote advertises.
    async fn git_refs(&self, url: &str, auth: &GitAuth) -> EngineResult<Vec<GitRefName>>;

    /// Resolves a ref of a git remote.
    async fn git_resolve(&self, url: &str, reference: &str, kind: RefKind, auth: &GitAuth) -> EngineResult<GitRefName>;

    /// Every ref of the repository whose work tree is `path` of `root` (HEAD first).
    async fn git_dir_refs(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<GitRefName>>;

    /// The ignored paths of that work tree (directories end with `/`), relative to it.
    async fn git_dir_ignored(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<String>>;

    /// The best common ancestor of two commits of `repo`.
    async fn git_merge_base(&self, repo: &GitRepo, a: &str, b: &str) -> EngineResult<String>;
}

/// Secret values, held in the engine's memory only.
///
/// A secret's identity names it in ops and IDs and enters cache keys; it is
/// its name (or URI) and a keyed digest of its value, so a changed value is
/// another secret, while the value itself can never be read back from a key.
#[async_trait::async_trait]
pub trait Secrets: Send + Sync {
    /// Keeps `plaintext` in memory as secret `name`; returns its identity.
    fn set_secret(&self, name: &str, plaintext: Vec<u8>) -> String;

    /// A secret read from `uri` (`env://`, `file://`, `cmd://` on the client's
    /// host); returns its identity. Without a `cache_key` the value is read
    /// now and is part of the identity; with one, the identity is the key
    /// and the value is read when first used.
    async fn secret_from_uri(&self, uri: &str, cache_key: Option<&str>) -> EngineResult<String>;

    /// The value of a secret: from memory, or resolved from its URI on the client host.
    async fn secret_plaintext(&self, identity: &str) -> EngineResult<Vec<u8>>;
}

/// The engine itself and its cache.
#[async_trait::async_trait]
pub trait Cache: Send + Sync {
    /// This engine's name and the clients connected to it.
    async fn engine_info(&self) -> EngineResult<EngineInfo>;

    /// The space settings of the engine's default prune policy.
    async fn cache_policy(&self) -> EngineResult<CachePolicy>;

    /// The cache records whose key starts with `key` (all for `""`).
    async fn cache_entries(&self, key: &str) -> EngineResult<CacheEntrySet>;

    /// Prunes cache records not in use (see `EngineCache.prune`).
    async fn cache_prune(&self, req: &PruneRequest) -> EngineResult<()>;

    /// A small value kept in the state dir under `key` (a digest), with its
    /// age in seconds: what a module registered, a function's plain result.
    async fn memo(&self, key: &str) -> EngineResult<Option<(Vec<u8>, u64)>>;

    /// Keeps `value` under `key` for later engines on the same state dir.
    async fn set_memo(&self, key: &str, value: &[u8]) -> EngineResult<()>;
}

/// An engine as the API holds it: one handle per capability, so a test can
/// put a fake behind one capability and [`Refusing`] behind the others.
#[derive(Clone)]
pub struct Engine {
    pub solve: Arc<dyn Solve>,
    pub images: Arc<dyn Images>,
    pub host: Arc<dyn Host>,
    pub services: Arc<dyn Services>,
    pub sources: Arc<dyn Sources>,
    pub secrets: Arc<dyn Secrets>,
    pub cache: Arc<dyn Cache>,
}

impl Engine {
    /// All capabilities served by one value.
    pub fn new<T>(e: Arc<T>) -> Engine
    where
        T: Solve + Images + Host + Services + Sources + Secrets + Cache + 'static,
    {
        Engine {
            solve: e.clone(),
            images: e.clone(),
            host: e.clone(),
            services: e.clone(),
            sources: e.clone(),
            secrets: e.clone(),
            cache: e,
        }
    }
}
