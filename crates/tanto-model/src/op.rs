//! The op graph: what a pipeline object's filesystem is made of.
//!
//! A [`Vertex`](crate::Vertex) (`vertex.rs`) is one operation with its input
//! [`Ref`](crate::Ref)s; a `Ref` picks one output (a filesystem snapshot) of a vertex. Objects of the API (containers,
//! directories, files) hold `Ref`s; nothing runs until a leaf value asks the
//! solver for a `Ref`'s result.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::blob::BlobSource;
use crate::digest::Digest;

/// One operation. Fields marked `#[serde(skip)]` are non-semantic (where to
/// fetch from, labels) and never enter the cache key.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// One image layer applied on top of its input (the layer below, if any).
    ImageLayer(ImageLayerOp),
    /// A process run in a container; output 0 is the root filesystem, then one
    /// output per writable directory mount, in mount order.
    Exec(ExecOp),
    /// File-level changes on a base filesystem (or on an empty one).
    File(FileOp),
    /// Host files uploaded into a snapshot; the key is the content digest.
    Local(LocalOp),
    /// A file downloaded over HTTP; the key is the content digest.
    Http(HttpOp),
    /// A git commit checked out; the key is the commit.
    Git(GitOp),
    /// A result known only by its cache key, as a kept function result names
    /// it (`Vertex::recorded`): it comes from the cache or not at all.
    Recorded(RecordedOp),
}

/// What a [`Op::Recorded`] vertex stands for: its label, for progress and
/// errors. Its key is the one it was recorded with.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedOp {
    pub label: String,
}

/// A downloaded file placed at `/name` of an empty filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct HttpOp {
    /// Digest of the content.
    pub digest: Digest,
    pub name: String,
    pub permissions: u32,
    /// Where to fetch it when the blob is not in the store.
    #[serde(skip)]
    pub url: String,
    /// Identity of a secret holding an Authorization header value.
    #[serde(skip)]
    pub auth_header: Option<String>,
}

/// A checkout of `commit` from the repository at `url`.
#[derive(Debug, Clone, Serialize)]
pub struct GitOp {
    pub url: String,
    pub commit: String,
    /// Keep `.git` in the tree.
    pub keep_git_dir: bool,
    pub depth: u32,
    /// The ref the commit was resolved from (checked out as a branch name in `.git`).
    pub reference: String,
    /// For a repository held in a directory (`Directory.asGit`): the path of
    /// its work tree inside input 0, which is then the vertex's only input
    /// and identity (`url` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// Credentials: (username, secret identity of a token), or a header secret.
    #[serde(skip)]
    pub auth_token: Option<(String, String)>,
    #[serde(skip)]
    pub auth_header: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageLayerOp {
    /// Digest of the uncompressed layer tar; with the input's key this is the
    /// layer's chain identity.
    pub diff_id: Digest,
    #[serde(skip)]
    pub blob: BlobSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Expect {
    Success,
    Failure,
    Any,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecOp {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// `(variable, secret identity)`: the identity is a name or URI, never a value.
    pub secret_env: Vec<(String, String)>,
    /// `(variable, value)` set after `env`: only the names enter the key
    /// (`withVolatileVariable`), so a new value reuses a cached result.
    #[serde(serialize_with = "names_only", skip_serializing_if = "Vec::is_empty")]
    pub volatile_env: Vec<(String, String)>,
    /// Only loopback, no outside network (Dockerfile `RUN --network=none`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_network: bool,
    /// CDI devices (`nvidia.com/gpu=0`, `nvidia.com/gpu=all`), sorted and
    /// unique: the key names the devices, never host device numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    pub cwd: String,
    pub user: String,
    /// Index into the vertex inputs of the root filesystem; `None` = empty.
    pub rootfs: Option<u32>,
    pub mounts: Vec<ExecMount>,
    /// Bytes written to the process's stdin.
    pub stdin: Option<String>,
    /// Container paths: stdin read from, stdout and stderr written to.
    pub redirect_stdin: Option<String>,
    pub redirect_stdout: Option<String>,
    pub redirect_stderr: Option<String>,
    pub expect: Expect,
    pub privileged: bool,
    /// `experimentalPrivilegedNesting`: the process gets an engine session of its
    /// own on its loopback (`DAGGER_SESSION_PORT`, `DAGGER_SESSION_TOKEN`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nesting: bool,
    pub no_init: bool,
    /// `os/arch[/variant]` of the container (never empty).
    pub platform: String,
    /// Services started for the exec and reachable by their aliases, in
    /// binding order: their definitions' digests enter the key.
    pub services: Vec<ServiceBinding>,
}

/// A service bound into an exec (`withServiceBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceBinding {
    /// The host name the exec reaches the service by.
    pub alias: String,
    /// The digest of the service's definition.
    pub service: Digest,
}

fn names_only<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(k, _)| k))
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecMount {
    pub target: String,
    pub kind: ExecMountKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExecMountKind {
    /// A directory from an input (`None` = empty), seen at `selector` inside it.
    /// Writable unless `readonly`; writable mounts have an output.
    /// With an `owner`, the container sees a copy owned by it.
    Dir {
        input: Option<u32>,
        selector: String,
        readonly: bool,
        owner: Option<Owner>,
    },
    /// A single file from an input; with an `owner`, a copy owned by it.
    File {
        input: Option<u32>,
        selector: String,
        owner: Option<Owner>,
    },
    /// A persistent cache volume, never part of a result. A new volume starts
    /// as a copy of `source` (else empty), owned by `owner` when given.
    Cache {
        volume: String,
        sharing: CacheSharing,
        source: Option<CacheSource>,
        owner: Option<Owner>,
    },
    /// A secret file; `secret` is the secret's identity, not its value.
    Secret {
        secret: String,
        mode: u32,
        owner: Option<Owner>,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// A unix socket of the engine's (= the client's) host, by its absolute
    /// path: the path is the key, never the inode or who answers on it.
    /// Bind-mounted as is; with an `owner`, a socket owned by that user
    /// (mode 0600) that forwards each connection to it.
    Socket {
        host_path: String,
        owner: Option<Owner>,
    },
}

/// What a new cache volume starts as: `selector` of input `input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheSource {
    pub input: u32,
    pub selector: String,
}

/// How concurrent execs share a cache volume (Dagger's `CacheSharingMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CacheSharing {
    /// Everyone uses the same directory at once.
    #[default]
    Shared,
    /// Each concurrent user gets its own directory.
    Private,
    /// One user at a time; others wait.
    Locked,
}

impl CacheSharing {
    /// The enum value's name: `SHARED`, `PRIVATE`, `LOCKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheSharing::Shared => "SHARED",
            CacheSharing::Private => "PRIVATE",
            CacheSharing::Locked => "LOCKED",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cache sharing mode `{0}` is not SHARED, PRIVATE or LOCKED")]
pub struct CacheSharingError(pub String);

impl FromStr for CacheSharing {
    type Err = CacheSharingError;
    /// Any case (Dockerfiles write `sharing=locked`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "SHARED" => Ok(CacheSharing::Shared),
            "PRIVATE" => Ok(CacheSharing::Private),
            "LOCKED" => Ok(CacheSharing::Locked),
            _ => Err(CacheSharingError(s.to_string())),
        }
    }
}

impl fmt::Display for CacheSharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns what an op creates or a mount shows: a user and optionally a
/// group (else the user's primary group), each a number or a name looked up
/// in the container's `/etc/passwd` and `/etc/group` when the op runs.
/// Encoded (and displayed) as `user` or `user:group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user: OwnerId,
    pub group: Option<OwnerId>,
}

/// A numeric id or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerId {
    Id(u32),
    Name(String),
}

impl Owner {
    /// Reads `user`, `user:group`, `uid` or `uid:gid` (the group is what
    /// follows the first `:`); the empty string is no owner.
    pub fn parse(s: &str) -> Option<Owner> {
        if s.is_empty() {
            return None;
        }
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        Some(Owner { user: OwnerId::parse(user), group: group.map(OwnerId::parse) })
    }

    /// `uid:gid`.
    pub fn ids(uid: u32, gid: u32) -> Owner {
        Owner { user: OwnerId::Id(uid), group: Some(OwnerId::Id(gid)) }
    }
}

impl OwnerId {
    fn parse(s: &str) -> OwnerId {
        // A number that does not fit a u32 is no id: it is looked up as a name.
        match s.parse::<u32>() {
            Ok(id) if !s.starts_with('+') => OwnerId::Id(id),
            _ => OwnerId::Name(s.to_string()),
        }
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerId::Id(id) => write!(f, "{id}"),
            OwnerId::Name(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{}:{g}", self.user),
            None => write!(f, "{}", self.user),
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Owner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Owner, D::Error> {
        let s = String::deserialize(d)?;
        Owner::parse(&s).ok_or_else(|| serde::de::Error::custom("an empty owner"))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOp {
    /// Index into the vertex inputs of the base filesystem; `None` = empty.
    pub base: Option<u32>,
    pub actions: Vec<FileAction>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FileAction {
    Mkfile {
        path: String,
        data: String,
        mode: u32,
        owner: Option<Owner>,
    },
    Mkdir {
        path: String,
        mode: u32,
        owner: Option<Owner>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
    },
    /// Copies `src_path` of input `src` to `dest`. A directory source copies its
    /// contents into `dest`; a file source becomes `dest` itself.
    Copy {
        src: Option<u32>,
        src_path: String,
        dest: String,
        include: Vec<String>,
        exclude: Vec<String>,
        mode: Option<u32>,
        owner: Option<Owner>,
        /// Leave out what the source's `.gitignore` files ignore.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        gitignore: bool,
    },
    Symlink {
        target: String,
        link: String,
    },
    /// Creates `path` and missing parents with `mode`/`owner`; existing
    /// directories are left as they are (Dockerfile `WORKDIR`).
    EnsureDir {
        path: String,
        mode: u32,
        owner: Option<Owner>,
    },
    /// Changes the owner of `path` and, for a directory, of everything below it.
    Chown {
        path: String,
        owner: Owner,
    },
    /// Sets the access and modification times of `path` and everything below it.
    Timestamps {
        path: String,
        timestamp: i64,
    },
    /// Replaces `search` with `replacement` in the file at `path`: the first
    /// match at or after line `first_from` (1-based), or every match when `all`.
    Replace {
        path: String,
        search: String,
        replacement: String,
        all: bool,
        first_from: Option<u64>,
    },
    /// Writes to `dest` what `upper_path` of input `upper` adds or changes
    /// compared with `lower_path` of input `lower` (`None` = empty).
    Diff {
        lower: Option<u32>,
        lower_path: String,
        upper: Option<u32>,
        upper_path: String,
        dest: String,
    },
    /// Dockerfile `ADD` of a local source: a tar archive file (plain, gzip or
    /// zstd) is unpacked into `dest`; anything else is copied as by `Copy`.
    Unpack {
        src: Option<u32>,
        src_path: String,
        dest: String,
        mode: Option<u32>,
        owner: Option<Owner>,
    },
    /// Applies a git-style unified diff to the directory `dir`.
    Patch {
        dir: String,
        patch: PatchSource,
    },
    /// Like `Diff`, and also removes from `dest` what `upper` no longer has
    /// compared with `lower` (`Directory.withChanges`).
    ApplyChanges {
        lower: Option<u32>,
        lower_path: String,
        upper: Option<u32>,
        upper_path: String,
        dest: String,
    },
}

/// Where a patch comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchSource {
    /// The diff itself (`withPatch`).
    Text(String),
    /// The file at `path` of input `src` (`withPatchFile`).
    File { src: u32, path: String },
}

/// Host content: `digest` is the digest of the uploaded tree (names, types,
/// modes, owners, file contents), so the key changes exactly when the content
/// does. Where it came from is not part of the key.
#[derive(Debug, Clone, Serialize)]
pub struct LocalOp {
    pub digest: Digest,
    /// Absolute host path of the uploaded directory.
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub include: Vec<String>,
    #[serde(skip)]
    pub exclude: Vec<String>,
    #[serde(skip)]
    pub gitignore: bool,
}

impl FileAction {
    pub(crate) fn label(&self) -> String {
        match self {
            FileAction::Mkfile { path, .. } => format!("write {path}"),
            FileAction::Mkdir { path, .. } => format!("mkdir {path}"),
            FileAction::Rm { path, .. } => format!("rm {path}"),
            FileAction::Copy { src_path, dest, .. } => format!("copy {src_path} -> {dest}"),
            FileAction::Symlink { target, link } => format!("symlink {link} -> {target}"),
            FileAction::EnsureDir { path, .. } => format!("mkdir -p {path}"),
            FileAction::Chown { path, owner } => format!("chown {owner} {path}"),
            FileAction::Timestamps { path, timestamp } => format!("touch -d @{timestamp} {path}"),
            FileAction::Replace { path, .. } => format!("replace in {path}"),
            FileAction::Diff { lower_path, upper_path, .. } => format!("diff {lower_path} {upper_path}"),
            FileAction::Unpack { src_path, dest, .. } => format!("add {src_path} -> {dest}"),
            FileAction::Patch { dir, .. } => format!("patch {dir}"),
            FileAction::ApplyChanges { dest, .. } => format!("apply changes to {dest}"),
        }
    }
}

#[cfg(test)]
mod tests;
