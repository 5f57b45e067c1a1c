//! The op graph: what a pipeline object's filesystem is made of.
//!
//! A [`Vertex`] is one operation with its input [`Ref`]s; a `Ref` picks one
//! output (a filesystem snapshot) of a vertex. Objects of the API (containers,
//! directories, files) hold `Ref`s; nothing runs until a leaf value asks the
//! solver for a `Ref`'s result.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};

use crate::digest::{Digest, StableHasher};

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

/// Where a blob can be fetched from. Not part of any key.
#[derive(Debug, Clone)]
pub struct BlobSource {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub host: String,
    pub repository: String,
    pub http: bool,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

/// One node of the op graph.
pub struct Vertex {
    pub op: Op,
    pub inputs: Vec<Ref>,
    key: OnceLock<Digest>,
}

impl Vertex {
    pub fn new(op: Op, inputs: Vec<Ref>) -> Arc<Vertex> {
        Arc::new(Vertex { op, inputs, key: OnceLock::new() })
    }

    /// The cache key: hash of the op's canonical encoding and its inputs' keys.
    /// Inputs are keyed first, deepest first, with a stack of our own: a chain
    /// of ten thousand ops needs no native stack per op.
    pub fn key(&self) -> Digest {
        if let Some(k) = self.key.get() {
            return *k;
        }
        let mut stack: Vec<(&Vertex, bool)> = vec![(self, false)];
        while let Some((v, inputs_done)) = stack.pop() {
            if v.key.get().is_some() {
                continue;
            }
            if inputs_done {
                v.own_key();
            } else {
                stack.push((v, true));
                stack.extend(v.inputs.iter().map(|i| (&*i.vertex, false)));
            }
        }
        self.own_key()
    }

    /// The key, once every input has one.
    fn own_key(&self) -> Digest {
        *self.key.get_or_init(|| {
            let mut h = StableHasher::new();
            h.json(&self.op).u64(self.inputs.len() as u64);
            for input in &self.inputs {
                h.digest(&input.vertex.key()).u64(input.output as u64);
            }
            h.finish()
        })
    }

    /// A short human label for progress output.
    pub fn label(&self) -> String {
        match &self.op {
            Op::ImageLayer(l) => format!("pull layer {}", l.blob.digest.short(12)),
            Op::Exec(e) => format!("exec {}", shell_words(&e.args)),
            Op::File(f) => {
                let n = f.actions.len();
                match f.actions.first() {
                    Some(a) if n == 1 => a.label(),
                    Some(a) => format!("{} (+{} more)", a.label(), n - 1),
                    None => "file op".into(),
                }
            }
            Op::Local(l) => format!("upload {}", l.path),
            Op::Http(h) => format!("http {}", h.url),
            Op::Git(g) => match &g.local {
                Some(path) => format!("git (directory {path}) {}", &g.commit[..g.commit.len().min(12)]),
                None => format!("git {} {}", g.url, &g.commit[..g.commit.len().min(12)]),
            },
        }
    }

    /// The kind of op, one word (the `op` field of the solver's `vertex` span).
    pub fn kind(&self) -> &'static str {
        match &self.op {
            Op::ImageLayer(_) => "pull",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Local(_) => "upload",
            Op::Http(_) => "http",
            Op::Git(_) => "git",
        }
    }

    pub fn exec(&self) -> Option<&ExecOp> {
        match &self.op {
            Op::Exec(e) => Some(e),
            _ => None,
        }
    }
}

impl Drop for Vertex {
    /// Drops the inputs this vertex held last one by one, not recursively: a
    /// chain of ten thousand ops would otherwise need stack for each.
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Vertex>> = self.inputs.drain(..).map(|r| r.vertex).collect();
        while let Some(v) = stack.pop() {
            if let Some(mut v) = Arc::into_inner(v) {
                stack.extend(v.inputs.drain(..).map(|r| r.vertex));
            }
        }
    }
}

impl fmt::Debug for Vertex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vertex({:?} {})", self.key(), self.label())
    }
}

impl FileAction {
    fn label(&self) -> String {
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

/// Joins argv for display the way a shell user would read it.
pub fn shell_words(args: &[String]) -> String {
    args.join(" ")
}

/// A reference to one output of a vertex.
#[derive(Clone)]
pub struct Ref {
    pub vertex: Arc<Vertex>,
    pub output: u32,
}

impl Ref {
    pub fn new(vertex: Arc<Vertex>, output: u32) -> Ref {
        Ref { vertex, output }
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{}", self.vertex, self.output)
    }
}

impl PartialEq for Ref {
    fn eq(&self, other: &Self) -> bool {
        self.output == other.output && self.vertex.key() == other.vertex.key()
    }
}

/// Refs encode as their vertex key and output: that is all an ID or a
/// parent key needs.
impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}#{}", self.vertex.key(), self.output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfile(path: &str, data: &str) -> Arc<Vertex> {
        Vertex::new(
            Op::File(FileOp {
                base: None,
                actions: vec![FileAction::Mkfile { path: path.into(), data: data.into(), mode: 0o644, owner: None }],
            }),
            vec![],
        )
    }

    #[test]
    fn keys_depend_on_semantics_only() {
        let layer = |host: &str, diff: &str| {
            let blob = BlobSource {
                digest: Digest::of(b"blob"),
                media_type: String::new(),
                size: 0,
                host: host.into(),
                repository: String::new(),
                http: false,
            };
            Vertex::new(Op::ImageLayer(ImageLayerOp { diff_id: Digest::of(diff.as_bytes()), blob }), vec![])
        };
        // (a, b, equal?)
        let cases: Vec<(Arc<Vertex>, Arc<Vertex>, bool)> = vec![
            (mkfile("/a", "x"), mkfile("/a", "x"), true),
            (mkfile("/a", "x"), mkfile("/a", "y"), false),
            (mkfile("/a", "x"), mkfile("/b", "x"), false),
            (layer("mirror", "sha256:1"), layer("origin", "sha256:1"), true),
            (layer("mirror", "sha256:1"), layer("mirror", "sha256:2"), false),
        ];
        for (i, (a, b, eq)) in cases.iter().enumerate() {
            assert_eq!(a.key() == b.key(), *eq, "case {i}");
        }
    }

    #[test]
    fn keys_depend_on_inputs() {
        let base1 = mkfile("/a", "1");
        let base2 = mkfile("/a", "2");
        let on = |base: &Arc<Vertex>| {
            Vertex::new(
                Op::File(FileOp {
                    base: Some(0),
                    actions: vec![FileAction::Rm { path: "/a".into(), allow_not_found: false }],
                }),
                vec![Ref::new(base.clone(), 0)],
            )
        };
        assert_ne!(on(&base1).key(), on(&base2).key());
        assert_eq!(on(&base1).key(), on(&mkfile("/a", "1")).key());
    }

    /// A chain of `n` file ops, each on the one before.
    fn chain(n: usize) -> Arc<Vertex> {
        let mut v = mkfile("/a", "0");
        for _ in 1..n {
            let op = Op::File(FileOp {
                base: Some(0),
                actions: vec![FileAction::Rm { path: "/a".into(), allow_not_found: true }],
            });
            v = Vertex::new(op, vec![Ref::new(v, 0)]);
        }
        v
    }

    #[test]
    fn long_chains_need_no_stack_per_op() {
        // On a 256 KiB stack: the key of the last op of 20 000, then the drop of them all.
        let run = || {
            let v = chain(20_000);
            let key = v.key();
            let again = chain(20_000).key();
            drop(v);
            key == again
        };
        let same = std::thread::Builder::new().stack_size(256 << 10).spawn(run).expect("spawn").join();
        assert_eq!(same.ok(), Some(true), "keys of equal chains are equal, and nothing overflowed");
    }

    #[test]
    fn owners_parse_and_encode_as_written() {
        use OwnerId::{Id, Name};
        // (input, parsed, encoding)
        let cases: &[(&str, Option<Owner>, &str)] = &[
            ("", None, "null"),
            ("1000", Some(Owner { user: Id(1000), group: None }), "\"1000\""),
            ("1000:50", Some(Owner::ids(1000, 50)), "\"1000:50\""),
            ("app", Some(Owner { user: Name("app".into()), group: None }), "\"app\""),
            ("app:staff", Some(Owner { user: Name("app".into()), group: Some(Name("staff".into())) }), "\"app:staff\""),
            ("0:wheel", Some(Owner { user: Id(0), group: Some(Name("wheel".into())) }), "\"0:wheel\""),
            // What follows the first `:` is the group, looked up as a name.
            ("a:b:c", Some(Owner { user: Name("a".into()), group: Some(Name("b:c".into())) }), "\"a:b:c\""),
            // Not a u32: a name.
            ("4294967296", Some(Owner { user: Name("4294967296".into()), group: None }), "\"4294967296\""),
            ("+1", Some(Owner { user: Name("+1".into()), group: None }), "\"+1\""),
        ];
        for (input, want, enc) in cases {
            let got = Owner::parse(input);
            assert_eq!(&got, want, "{input}");
            assert_eq!(serde_json::to_string(&got).unwrap(), *enc, "{input}");
            if let Some(o) = got {
                assert_eq!(o.to_string(), *input, "{input} displays as written");
            }
        }
    }

    #[test]
    fn cache_sharing_modes() {
        let cases: &[(&str, Option<CacheSharing>)] = &[
            ("SHARED", Some(CacheSharing::Shared)),
            ("private", Some(CacheSharing::Private)),
            ("Locked", Some(CacheSharing::Locked)),
            ("", None),
            ("exclusive", None),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<CacheSharing>().ok(), *want, "{input}");
            if let Some(mode) = want {
                assert_eq!(serde_json::to_string(mode).unwrap(), format!("\"{}\"", mode.as_str()));
            }
        }
        assert_eq!(CacheSharing::default(), CacheSharing::Shared);
    }
}
