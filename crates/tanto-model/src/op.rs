//! The op graph: what a pipeline object's filesystem is made of.
//!
//! A [`Vertex`] is one operation with its input [`Ref`]s; a `Ref` picks one
//! output (a filesystem snapshot) of a vertex. Objects of the API (containers,
//! directories, files) hold `Ref`s; nothing runs until a leaf value asks the
//! solver for a `Ref`'s result.

use std::fmt;
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
    /// Digest of the content (`sha256:...`).
    pub digest: String,
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
    pub diff_id: String,
    #[serde(skip)]
    pub blob: BlobSource,
}

/// Where a blob can be fetched from. Not part of any key.
#[derive(Debug, Clone, Default)]
pub struct BlobSource {
    pub digest: String,
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
    pub stdin: String,
    pub redirect_stdin: String,
    pub redirect_stdout: String,
    pub redirect_stderr: String,
    pub expect: Expect,
    pub privileged: bool,
    pub no_init: bool,
    pub platform: String,
    /// Extra key material (e.g. the definitions of bound services).
    pub extra: Vec<String>,
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
    Dir {
        input: Option<u32>,
        selector: String,
        readonly: bool,
        owner: String,
    },
    /// A single file from an input.
    File {
        input: Option<u32>,
        selector: String,
        owner: String,
    },
    /// A persistent cache volume, never part of a result.
    Cache {
        volume: String,
        sharing: String,
        source: Option<u32>,
        selector: String,
        owner: String,
    },
    /// A secret file; `secret` is the secret's identity, not its value.
    Secret {
        secret: String,
        mode: u32,
        owner: String,
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
        owner: String,
    },
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
        owner: String,
    },
    Mkdir {
        path: String,
        mode: u32,
        owner: String,
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
        owner: String,
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
        owner: String,
    },
    /// Changes the owner of `path` and, for a directory, of everything below it.
    Chown {
        path: String,
        owner: String,
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
        owner: String,
    },
    /// Applies a git-style unified diff to the directory `dir`: the text
    /// `patch`, or the file `src_path` of input `src` when `src_path` is set.
    Patch {
        dir: String,
        patch: String,
        src: Option<u32>,
        src_path: String,
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
    pub fn key(&self) -> Digest {
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
            Op::ImageLayer(l) => format!("pull layer {}", short_digest(&l.blob.digest)),
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

fn short_digest(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    &hex[..hex.len().min(12)]
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
                actions: vec![FileAction::Mkfile {
                    path: path.into(),
                    data: data.into(),
                    mode: 0o644,
                    owner: String::new(),
                }],
            }),
            vec![],
        )
    }

    #[test]
    fn keys_depend_on_semantics_only() {
        let layer = |host: &str, diff: &str| {
            Vertex::new(
                Op::ImageLayer(ImageLayerOp {
                    diff_id: diff.into(),
                    blob: BlobSource { host: host.into(), ..Default::default() },
                }),
                vec![],
            )
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
}
