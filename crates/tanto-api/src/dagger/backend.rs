//! What the API needs from the engine. The API builds ops; the backend solves
//! them and reads results. Implemented by tanto-engine; tests can fake it.

use tanto_model::{BlobSource, Digest, Ref};

use super::objects::{ContainerObj, FileObj, ImageConfig};
use crate::gql::FieldError;

/// An image resolved from a registry (tag resolved to a digest).
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Normalised `host/repo:tag@sha256:...`.
    pub reference: String,
    pub platform: String,
    pub config: ImageConfig,
    /// Bottom layer first: (diff_id, where to fetch the blob).
    pub layers: Vec<(Digest, BlobSource)>,
}

/// Output of a finished exec, already scrubbed of secrets.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub combined: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

#[derive(Debug, Clone)]
pub struct EntryStat {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
}

/// The engine side of the API.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    fn default_platform(&self) -> String;

    /// Resolves an image reference to a digest and reads its config.
    async fn resolve_image(&self, address: &str, platform: &str) -> Result<ResolvedImage, FieldError>;

    /// Makes sure the result of `r` exists (runs what must run).
    async fn sync(&self, r: &Ref) -> Result<(), FieldError>;

    /// The output of the exec vertex `r` points into.
    async fn exec_output(&self, r: &Ref) -> Result<ExecOutput, FieldError>;

    /// Reads a regular file at `path` inside the filesystem `root` (None = empty).
    async fn read_file(&self, root: Option<&Ref>, path: &str) -> Result<Vec<u8>, FieldError>;

    /// Lists a directory (sorted by name).
    async fn read_dir(&self, root: Option<&Ref>, path: &str) -> Result<Vec<EntryStat>, FieldError>;

    /// Stats a path (symlinks followed unless `no_follow`); `None` when absent.
    async fn stat(&self, root: Option<&Ref>, path: &str, no_follow: bool) -> Result<Option<EntryStat>, FieldError>;

    /// Paths under `path` matching a glob pattern, relative to `path`.
    async fn glob(&self, root: Option<&Ref>, path: &str, pattern: &str) -> Result<Vec<String>, FieldError>;

    /// A content digest of the tree at `path` (file or directory).
    async fn digest(&self, root: Option<&Ref>, path: &str, with_metadata: bool) -> Result<String, FieldError>;

    /// Downloads `url` into the content store; returns its digest. `auth_header`
    /// is the identity of a secret holding an Authorization header value.
    async fn http_fetch(&self, url: &str, auth_header: Option<&str>) -> Result<String, FieldError>;

    /// `(commit, full ref name)` of every ref a git remote advertises.
    async fn git_refs(&self, url: &str, auth: &super::sources::GitAuth) -> Result<Vec<(String, String)>, FieldError>;

    /// Resolves a ref of a git remote to `(commit, full ref name)`.
    async fn git_resolve(
        &self,
        url: &str,
        reference: &str,
        kind: super::sources::RefKind,
        auth: &super::sources::GitAuth,
    ) -> Result<(String, String), FieldError>;

    /// Records a secret value in memory under `identity`.
    fn set_secret(&self, identity: &str, plaintext: Vec<u8>);

    /// The value of a secret: from memory, or resolved from its URI on the client host.
    async fn secret_plaintext(&self, identity: &str, uri: &str) -> Result<Vec<u8>, FieldError>;

    /// Says where the value of a secret whose identity is not its URI
    /// (`secret(uri, cacheKey)`) comes from; it is resolved when first used.
    fn register_secret_uri(&self, _identity: &str, _uri: &str) {}

    // --- host files in, artifacts and images out (see `super::export`)

    /// Uploads a host directory (relative to the session's working directory);
    /// returns the root of the uploaded tree.
    async fn host_directory(
        &self,
        _path: &str,
        _include: Vec<String>,
        _exclude: Vec<String>,
        _gitignore: bool,
    ) -> Result<Ref, FieldError> {
        Err("not implemented yet: Host.directory".into())
    }

    /// Uploads one host file; returns the root holding it and its path there.
    async fn host_file(&self, _path: &str) -> Result<(Ref, String), FieldError> {
        Err("not implemented yet: Host.file".into())
    }

    /// `name` in the working directory or the nearest parent that has it,
    /// relative to the working directory.
    async fn host_find_up(&self, _name: &str) -> Result<Option<String>, FieldError> {
        Err("not implemented yet: Host.findUp".into())
    }

    /// Writes the directory `path` of `root` to host path `dest`; returns the absolute path written.
    async fn export_directory(
        &self,
        _root: Option<&Ref>,
        _path: &str,
        _dest: &str,
        _wipe: bool,
    ) -> Result<String, FieldError> {
        Err("not implemented yet: Directory.export".into())
    }

    /// Writes the file `path` of `root` to host path `dest`; returns the absolute path written.
    async fn export_file(
        &self,
        _root: Option<&Ref>,
        _path: &str,
        _dest: &str,
        _allow_parent_dir: bool,
    ) -> Result<String, FieldError> {
        Err("not implemented yet: File.export".into())
    }

    /// Writes an OCI tarball of `variants` (one container per platform) to
    /// host path `dest`; returns the absolute path written.
    async fn export_image(
        &self,
        _variants: &[ContainerObj],
        _dest: &str,
        _opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        Err("not implemented yet: Container.export".into())
    }

    /// An OCI tarball of `variants` as a file: (root, path of the file in it).
    async fn image_tarball(
        &self,
        _variants: &[ContainerObj],
        _opts: &ImageOptions,
    ) -> Result<(Ref, String), FieldError> {
        Err("not implemented yet: Container.asTarball".into())
    }

    /// Pushes `variants` to `address`; returns `address@sha256:...`.
    async fn publish(
        &self,
        _address: &str,
        _variants: &[ContainerObj],
        _opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        Err("not implemented yet: Container.publish".into())
    }

    /// Reads an image from an OCI or docker tarball (`tag` picks one when it holds several).
    async fn import_image(&self, _source: &FileObj, _tag: &str, _platform: &str) -> Result<ResolvedImage, FieldError> {
        Err("not implemented yet: Container.import".into())
    }

    /// Credentials for a registry, for the rest of the session (as Dagger does).
    async fn add_registry_auth(
        &self,
        _address: &str,
        _username: &str,
        _secret_identity: &str,
    ) -> Result<(), FieldError> {
        Err("not implemented yet: Container.withRegistryAuth".into())
    }

    fn remove_registry_auth(&self, _address: &str) {}

    // --- services (see `super::service`)

    /// Learns a service definition, so execs that bind it (by digest) can start it.
    fn register_service(&self, _svc: &super::service::ServiceSpec) {}

    /// Starts a service (if it is not running) and keeps it running until
    /// [`Backend::stop_service`] or the end of the session.
    async fn start_service(&self, _svc: &super::service::ServiceSpec) -> Result<(), FieldError> {
        Err("not implemented yet: Service.start".into())
    }

    /// Stops a running service (SIGTERM, or SIGKILL when `kill`); not running is fine.
    async fn stop_service(&self, _svc: &super::service::ServiceSpec, _kill: bool) -> Result<(), FieldError> {
        Err("not implemented yet: Service.stop".into())
    }

    /// The host and ports of a host tunnel, started if needed.
    async fn service_ports(
        &self,
        _svc: &super::service::ServiceSpec,
    ) -> Result<(String, Vec<super::objects::PortObj>), FieldError> {
        Err("not implemented yet: Service.ports".into())
    }

    /// Forwards `ports` (all exposed ports when empty) of the service to the host until
    /// the service exits or the request is cancelled.
    async fn service_up(
        &self,
        _svc: &super::service::ServiceSpec,
        _ports: Vec<super::service::PortForwardObj>,
        _random: bool,
    ) -> Result<(), FieldError> {
        Err("not implemented yet: Service.up".into())
    }

    // --- the client's host: sockets and its docker/podman image store (see `super::socket`, `super::export`)

    /// The absolute host path of the unix socket `path` (relative to the working directory).
    async fn host_unix_socket(&self, _path: &str) -> Result<String, FieldError> {
        Err("not implemented yet: Host.unixSocket".into())
    }

    /// An image of the client's docker or podman image store (a `docker save` of `name`).
    async fn host_container_image(&self, _name: &str, _platform: &str) -> Result<ResolvedImage, FieldError> {
        Err("not implemented yet: Host.containerImage".into())
    }

    /// Loads `variants` into the client's docker or podman image store, tagged `name`.
    async fn load_host_image(
        &self,
        _name: &str,
        _variants: &[ContainerObj],
        _opts: &ImageOptions,
    ) -> Result<(), FieldError> {
        Err("not implemented yet: Container.exportImage".into())
    }

    // --- git repositories held in a directory (`Directory.asGit`, see `super::sources`)

    /// `(commit, full ref name)` of every ref of the repository whose work
    /// tree is `path` of `root` (HEAD first).
    async fn git_dir_refs(&self, _root: Option<&Ref>, _path: &str) -> Result<Vec<(String, String)>, FieldError> {
        Err("not implemented yet: Directory.asGit".into())
    }

    /// The ignored paths of that work tree (directories end with `/`), relative to it.
    async fn git_dir_ignored(&self, _root: Option<&Ref>, _path: &str) -> Result<Vec<String>, FieldError> {
        Err("not implemented yet: GitRepository.uncommitted".into())
    }

    /// The best common ancestor of two commits of `repo`.
    async fn git_merge_base(
        &self,
        _repo: &super::sources::GitRepositoryObj,
        _a: &str,
        _b: &str,
    ) -> Result<String, FieldError> {
        Err("not implemented yet: GitRef.commonAncestor".into())
    }

    /// What `upper_path` of `upper` adds, modifies and removes compared with `lower_path` of `lower`.
    async fn changes(
        &self,
        _lower: Option<&Ref>,
        _lower_path: &str,
        _upper: Option<&Ref>,
        _upper_path: &str,
    ) -> Result<super::changeset::ChangeLists, FieldError> {
        Err("not implemented yet: Changeset.addedPaths".into())
    }

    // --- the engine, its cache and the client's workspace (`super::engineobj`, `super::workspace`)

    /// This engine's name and the clients connected to it.
    async fn engine_info(&self) -> Result<super::engineobj::EngineObj, FieldError> {
        Err("not implemented yet: Query.engine".into())
    }

    /// The space settings of the engine's default prune policy.
    async fn cache_policy(&self) -> Result<super::engineobj::EngineCacheObj, FieldError> {
        Err("not implemented yet: Engine.localCache".into())
    }

    /// The cache records whose key starts with `key` (all for `""`).
    async fn cache_entries(&self, _key: &str) -> Result<super::engineobj::EngineCacheEntrySetObj, FieldError> {
        Err("not implemented yet: EngineCache.entrySet".into())
    }

    /// Prunes cache records not in use (see `EngineCache.prune`).
    async fn cache_prune(&self, _req: &super::engineobj::PruneRequest) -> Result<(), FieldError> {
        Err("not implemented yet: EngineCache.prune".into())
    }

    /// A host path (relative to the working directory) made absolute, and what
    /// is there (symlinks not followed); `None` when nothing is.
    async fn host_path(&self, _path: &str) -> Result<Option<(String, EntryKind)>, FieldError> {
        Err("not implemented yet: Address.directory".into())
    }

    /// The client's workspace (see `super::workspace`).
    async fn workspace(&self) -> Result<super::workspace::WorkspaceObj, FieldError> {
        Err("not implemented yet: Query.currentWorkspace".into())
    }

    /// Uploads directory `rel` (relative to the boundary) of a workspace.
    async fn workspace_directory(
        &self,
        _ws: &super::workspace::WorkspaceObj,
        _rel: &str,
        _include: Vec<String>,
        _exclude: Vec<String>,
        _gitignore: bool,
    ) -> Result<Ref, FieldError> {
        Err("not implemented yet: Workspace.directory".into())
    }

    /// Uploads file `rel` (relative to the boundary) of a workspace: the root holding it and its path there.
    async fn workspace_file(
        &self,
        _ws: &super::workspace::WorkspaceObj,
        _rel: &str,
    ) -> Result<(Ref, String), FieldError> {
        Err("not implemented yet: Workspace.file".into())
    }

    /// `name` in directory `from` (relative to the boundary) or the nearest
    /// parent up to the boundary that has it, as `/path` from the boundary.
    async fn workspace_find_up(
        &self,
        _ws: &super::workspace::WorkspaceObj,
        _name: &str,
        _from: &str,
    ) -> Result<Option<String>, FieldError> {
        Err("not implemented yet: Workspace.findUp".into())
    }

    /// Matches of `opts` in the files below directory `path` of `root`, by path then position.
    async fn search(
        &self,
        _root: Option<&Ref>,
        _path: &str,
        _opts: &super::search::SearchOptions,
    ) -> Result<Vec<super::search::SearchResultObj>, FieldError> {
        Err("not implemented yet: Directory.search".into())
    }
}

/// How images are written (publish, export, asTarball).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Recompress every layer: `Some(Gzip | Zstd | Uncompressed)`; `None`
    /// keeps pulled layers as they are and writes new ones with gzip.
    pub forced_compression: Option<Compression>,
    /// Docker media types instead of OCI ones.
    pub docker_media_types: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Uncompressed,
}
