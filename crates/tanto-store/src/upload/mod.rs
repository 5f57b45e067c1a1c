//! Host uploads: a directory on the client's host (with include, exclude and
//! gitignore filters) becomes a committed snapshot keyed by its content
//! (`Op::Local`, key = digest of names, types, modes, owners and contents).
//!
//! Incremental: each upload scope (host path + filters) remembers its last
//! upload in the store ([`UploadRecord`]: snapshot + file index). The next
//! upload stats every entry and reads only the files whose stat changed, or
//! that were modified too close to the previous scan for their stat to be
//! trusted (git's "racy clean" rule). An unchanged tree is then a cache hit
//! that wrote nothing; a changed one becomes a new snapshot over the previous
//! upload holding only the changed entries and whiteouts for removed ones.
//! Chains are squashed into a full copy once they are [`MAX_DEPTH`] deep.
//!
//! Safety: the host tree is read through descriptors with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: symlinks inside it are
//! uploaded as symlinks and never followed, so nothing outside the chosen
//! directory is read. Sockets are skipped; a FIFO or a device node is
//! refused with an error naming it (it is never opened: reading a FIFO would
//! wait for a writer), unless a filter leaves it out.
//!
//! Files: `index.rs` (the file index and its binary codec, the tree digest),
//! `walk.rs` (the stat walk of the host tree), `write.rs` (writing a full or
//! incremental snapshot), `record.rs` (the records kept in the store),
//! `remote.rs` (a client's listing and entries for a remote engine).

mod index;
mod record;
mod remote;
mod walk;
mod write;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustix::fs::{self as rfs, Mode, OFlags};
use tanto_model::{Digest, LocalOp, Op, StableHasher, Vertex};

pub(crate) use record::init as init_db;
pub use record::UploadRecord;
pub use remote::{decode_listing, encode_listing, list, write_entries, Listed};

use crate::{CacheRecord, SnapshotId, Store, StoreError};
use index::{decode_index, encode_index, tree_digest, Entry, Kind};
use walk::{hash_file, host_err, rescan, scan, CopyError};
use write::Writer;

/// Upload snapshots in one chain before the next change is written as a full
/// copy. Each is one overlay layer of every view of the upload (the mount
/// option string holds ~100 layers); the full copy is the slow path (seconds
/// for 100k files), so chains are allowed to grow long.
pub const MAX_DEPTH: u32 = 32;

/// Threads walking the host tree and copying files of a full upload.
pub(crate) const COPY_THREADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("host directory `{0}` does not exist; paths are relative to the session's working directory")]
    NotFound(PathBuf),
    #[error("host path `{0}` is not a directory; use `host.file` for files")]
    NotADirectory(PathBuf),
    #[error("reading host path `{path}`: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing the upload of `{path}` into the state directory: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("invalid include/exclude pattern for host directory `{path}`: {message}")]
    Pattern { path: PathBuf, message: String },
    #[error("host file `{0}` does not exist; paths are relative to the session's working directory")]
    FileNotFound(PathBuf),
    #[error("host file `{path}`: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error("host path `{0}` is a directory; use `host.directory` for directories")]
    IsADirectory(PathBuf),
    #[error("host path `{0}` is not a file")]
    NotAFile(PathBuf),
    #[error(
        "host path `{path}` is {what}: an upload holds regular files, directories and symlinks only; leave it out with `exclude: [\"{rel}\"]`"
    )]
    Special { path: PathBuf, what: &'static str, rel: String },
    #[error("host path `{path}` is {what}, not a regular file: `host.file` uploads regular files only")]
    SpecialFile { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl tanto_model::Tiered for UploadError {
    fn tier(&self) -> tanto_model::Tier {
        use tanto_model::Tier;
        match self {
            UploadError::NotFound(_) | UploadError::FileNotFound(_) => Tier::NotFound,
            UploadError::NotADirectory(_)
            | UploadError::Pattern { .. }
            | UploadError::IsADirectory(_)
            | UploadError::NotAFile(_)
            | UploadError::Special { .. }
            | UploadError::SpecialFile { .. } => Tier::Input,
            UploadError::Read { .. } | UploadError::Write { .. } | UploadError::File { .. } => Tier::Environment,
            UploadError::Store(e) => e.tier(),
        }
    }
}

/// What a file of mode `mode` is when it is neither a regular file, a
/// directory nor a symlink.
pub(crate) fn special_kind(mode: u32) -> Option<&'static str> {
    match rfs::FileType::from_raw_mode(mode as _) {
        rfs::FileType::Fifo => Some("a named pipe (FIFO)"),
        rfs::FileType::CharacterDevice => Some("a character device"),
        rfs::FileType::BlockDevice => Some("a block device"),
        rfs::FileType::Socket => Some("a unix socket"),
        _ => None,
    }
}

/// What to upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadSpec {
    /// Absolute host path of a directory.
    pub path: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub gitignore: bool,
}

impl UploadSpec {
    /// An upload of the host directory `path` (absolute). Patterns that
    /// point outside the directory (`..`, absolute) are dropped, as Dagger does.
    pub fn directory(path: PathBuf, include: Vec<String>, exclude: Vec<String>, gitignore: bool) -> UploadSpec {
        let local = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .filter(|p| !p.trim_start_matches('!').starts_with("..") && !p.trim_start_matches('!').starts_with('/'))
                .collect()
        };
        UploadSpec { path, include: local(include), exclude: local(exclude), gitignore }
    }

    /// An upload of the host file `path` (absolute; a symlink counts as what
    /// it points to): its directory with the file's name as the only include.
    /// Returns the spec and the file's path in the uploaded tree.
    pub fn file(path: &std::path::Path) -> Result<(UploadSpec, String), UploadError> {
        let real = std::fs::canonicalize(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => UploadError::FileNotFound(path.to_path_buf()),
            _ => UploadError::File { path: path.to_path_buf(), source: e },
        })?;
        // stat, never open: opening a FIFO waits for a writer
        let meta = std::fs::metadata(&real).map_err(|e| UploadError::File { path: path.to_path_buf(), source: e })?;
        if meta.is_dir() {
            return Err(UploadError::IsADirectory(path.to_path_buf()));
        }
        if let Some(what) = special_kind(std::os::unix::fs::MetadataExt::mode(&meta)) {
            return Err(UploadError::SpecialFile { path: path.to_path_buf(), what });
        }
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            return Err(UploadError::NotAFile(path.to_path_buf()));
        };
        let name = name.to_string_lossy().into_owned();
        let spec = UploadSpec {
            path: parent.to_path_buf(),
            include: vec![tanto_fs::escape(&name)],
            exclude: vec![],
            gitignore: false,
        };
        Ok((spec, format!("/{name}")))
    }

    /// Identifies the upload scope (the record of the last upload).
    pub fn scope(&self) -> String {
        let mut h = StableHasher::new();
        h.str("host-upload-scope").json(self);
        h.finish().to_string()
    }

    /// The op of an upload of this spec whose tree digest is `tree`.
    pub fn vertex(&self, tree: Digest) -> Arc<Vertex> {
        Vertex::new(
            Op::Local(LocalOp {
                digest: tree,
                path: self.path.to_string_lossy().into_owned(),
                include: self.include.clone(),
                exclude: self.exclude.clone(),
                gitignore: self.gitignore,
            }),
            vec![],
        )
    }

    pub fn from_op(op: &LocalOp) -> UploadSpec {
        UploadSpec {
            path: PathBuf::from(&op.path),
            include: op.include.clone(),
            exclude: op.exclude.clone(),
            gitignore: op.gitignore,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadStats {
    /// Entries in the uploaded tree (the root included).
    pub entries: usize,
    /// Files read to compute their digest.
    pub hashed: usize,
    /// Entries written into a new snapshot.
    pub written: usize,
    /// Whiteouts written for removed entries.
    pub removed: usize,
    /// A full copy (no usable previous upload, or the chain was squashed).
    pub full: bool,
    /// The tree was already in the cache: no snapshot was written.
    pub cached: bool,
    /// Where the time went.
    pub timings: Timings,
}

/// Milliseconds per phase of an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Reading and decoding the previous upload's record.
    pub record: f64,
    /// Walking and stat-ing the host tree.
    pub scan: f64,
    /// Reading files whose digest was not known (without writing them).
    pub hash: f64,
    /// Writing the snapshot (a full copy includes reading and hashing).
    pub write: f64,
    /// Saving the new record.
    pub save: f64,
}

/// The result of an upload: the op (its key is the cache key of `snapshot`).
pub struct Uploaded {
    pub vertex: Arc<Vertex>,
    pub snapshot: SnapshotId,
    pub stats: UploadStats,
}

/// Length of a snapshot's parent chain (itself included).
fn chain_depth(store: &Store, mut snap: SnapshotId) -> Result<u32, StoreError> {
    let mut n = 1;
    while let Some((p, _)) = store.snapshot_parent(snap)? {
        n += 1;
        snap = p;
    }
    Ok(n)
}

/// Uploads `spec` into the store (blocking). See the module docs.
pub fn upload(store: &Store, spec: &UploadSpec) -> Result<Uploaded, UploadError> {
    upload_known(store, spec, None)
}

/// What changed in a tree since its last upload, as whoever changed it
/// knows (a remote engine's mirror of a client directory): paths written
/// again or new, and paths removed (with what was below them).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// [`upload`] of a tree whose `changes` since its last upload are known:
/// only the changed paths are stat'ed again, the rest of the walk comes
/// from the last upload's index. With filters, or without a usable last
/// upload, the tree is walked as [`upload`] walks it.
pub fn upload_changed(store: &Store, spec: &UploadSpec, changes: &Changes) -> Result<Uploaded, UploadError> {
    upload_known(store, spec, Some(changes))
}

fn upload_known(store: &Store, spec: &UploadSpec, changes: Option<&Changes>) -> Result<Uploaded, UploadError> {
    let root = match rfs::open(&spec.path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(UploadError::NotFound(spec.path.clone())),
        Err(rustix::io::Errno::NOTDIR) => return Err(UploadError::NotADirectory(spec.path.clone())),
        Err(e) => return Err(UploadError::Read { path: spec.path.clone(), source: e.into() }),
    };
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
    let t = std::time::Instant::now();
    let scope = spec.scope();
    let record = store.upload_record(&scope)?;
    let old: Option<(UploadRecord, Vec<Entry>)> = record.and_then(|r| decode_index(&r.index).map(|idx| (r, idx)));
    let mut timings = Timings { record: ms(t), ..Default::default() };
    let t = std::time::Instant::now();
    let unfiltered = spec.include.is_empty() && spec.exclude.is_empty() && !spec.gitignore;
    let mut entries = match (changes, &old) {
        (Some(c), Some((_, idx))) if unfiltered => rescan(&spec.path, &root, idx, c)?,
        _ => scan(spec, &root, old.as_ref().map(|(_, idx)| idx.as_slice()))?,
    };
    timings.scan = ms(t);
    let mut stats = UploadStats { entries: entries.len(), ..Default::default() };
    let t_write = std::time::Instant::now();

    let full_copy =
        |entries: &mut Vec<Entry>, stats: &mut UploadStats| -> Result<(Arc<Vertex>, SnapshotId), UploadError> {
            let prep = store.prepare(None)?;
            let result = (|| {
                let w = Writer::new(&root, &spec.path, &prep.upper)?;
                w.write_all(entries)
            })();
            let written = match result {
                Ok(n) => n,
                Err(e) => {
                    store.abort(prep);
                    return Err(e);
                }
            };
            stats.full = true;
            stats.hashed = entries.iter().filter(|e| e.kind == Kind::File).count();
            let vertex = spec.vertex(tree_digest(entries));
            let key = vertex.key().to_string();
            if let Some(rec) = store.lookup(&key)? {
                store.abort(prep);
                stats.cached = true;
                return Ok((vertex, rec.outputs[0]));
            }
            stats.written = written;
            let id = prep.id;
            store.commit(&key, &CacheRecord { outputs: vec![id], meta: None })?;
            Ok((vertex, id))
        };

    let (vertex, snapshot) = match &old {
        None => full_copy(&mut entries, &mut stats)?,
        Some((rec, old_entries)) => {
            let t = std::time::Instant::now();
            let mut buf = vec![0u8; 256 << 10];
            for e in entries.iter_mut().filter(|e| e.digest.is_none()) {
                let d = match hash_file(&root, &e.rel, None, &mut buf) {
                    Ok(d) => d,
                    Err(CopyError::Read(err) | CopyError::Write(err)) => return Err(host_err(&spec.path, &e.rel)(err)),
                };
                e.digest = Some(d);
                stats.hashed += 1;
            }
            timings.hash = ms(t);
            let vertex = spec.vertex(tree_digest(&entries));
            let key = vertex.key().to_string();
            if let Some(hit) = store.lookup(&key)? {
                stats.cached = true;
                (vertex, hit.outputs[0])
            } else if rec.depth >= MAX_DEPTH {
                full_copy(&mut entries, &mut stats)?
            } else {
                let prep = store.prepare(Some((rec.snapshot, "/")))?;
                let result = (|| {
                    let w = Writer::new(&root, &spec.path, &prep.upper)?;
                    w.write_diff(old_entries, &entries)
                })();
                match result {
                    Ok((written, removed)) => {
                        stats.written = written;
                        stats.removed = removed;
                    }
                    Err(e) => {
                        store.abort(prep);
                        return Err(e);
                    }
                }
                let id = prep.id;
                store.commit(&key, &CacheRecord { outputs: vec![id], meta: None })?;
                (vertex, id)
            }
        }
    };

    timings.write = ms(t_write) - timings.hash;
    let t = std::time::Instant::now();
    let index = encode_index(&entries);
    let unchanged = old.as_ref().is_some_and(|(r, _)| r.snapshot == snapshot && r.index == index);
    if !unchanged {
        let depth = chain_depth(store, snapshot)?;
        let tree = vertex_digest(&vertex);
        // Which paths changed since the scope's last upload, for `tanto explain`.
        if let Some((rec, old_entries)) = old.as_ref().filter(|(r, _)| r.tree != tree) {
            let changes = crate::explain::path_changes(&entry_states(old_entries), &entry_states(&entries));
            if let Err(e) = store.save_upload_changes(&tree, &rec.tree, &changes) {
                tracing::warn!(error = %e, "remembering which paths of an upload changed failed");
            }
        }
        store.save_upload_record(&scope, &UploadRecord { snapshot, tree, depth, index })?;
    }
    timings.save = ms(t);
    stats.timings = timings;
    Ok(Uploaded { vertex, snapshot, stats })
}

impl Uploaded {
    /// The digest of the uploaded tree (`sha256:<hex>`).
    pub fn tree(&self) -> String {
        vertex_digest(&self.vertex)
    }
}

/// Each entry's path (the root left out) and a digest of what it is (type,
/// mode, owner, content), sorted by path.
fn entry_states(entries: &[Entry]) -> Vec<(&str, [u8; 32])> {
    use sha2::{Digest as _, Sha256};
    let mut v: Vec<(&str, [u8; 32])> = entries
        .iter()
        .filter(|e| !e.rel.is_empty())
        .map(|e| {
            let mut h = Sha256::new();
            h.update([e.kind.code()]);
            h.update(e.mode.to_le_bytes());
            h.update(e.uid.to_le_bytes());
            h.update(e.gid.to_le_bytes());
            h.update(e.digest.unwrap_or_default());
            (e.rel.as_str(), h.finalize().into())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn vertex_digest(v: &Vertex) -> String {
    match &v.op {
        Op::Local(l) => l.digest.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_changes_upload_as_a_walk_would() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        let write = |rel: &str, text: &str| {
            let p = tree.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        for (rel, text) in [("a.txt", "a"), ("d/x", "x"), ("d/sub/y", "y"), ("e/z", "z"), ("a/b", "b")] {
            write(rel, text);
        }
        std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
        let (one, two) = (Store::open(&tmp.path().join("one")).unwrap(), Store::open(&tmp.path().join("two")).unwrap());
        let spec = UploadSpec::directory(tree.clone(), vec![], vec![], false);
        upload(&one, &spec).unwrap();
        // rewritten, new (a directory with a file, a name between `a` and `a/b` in
        // walk order), removed (a directory), replaced (a directory by a file), retargeted
        write("a.txt", "A");
        write("new/n1", "n1");
        write("a-b", "ab");
        std::fs::remove_dir_all(tree.join("d/sub")).unwrap();
        std::fs::remove_dir_all(tree.join("e")).unwrap();
        write("e", "now a file");
        std::fs::remove_file(tree.join("link")).unwrap();
        std::os::unix::fs::symlink("d/x", tree.join("link")).unwrap();
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let changes = Changes {
            changed: v(&["a.txt", "new", "new/n1", "a-b", "e", "link", "d"]),
            removed: v(&["d/sub", "e", "link"]),
        };
        let known = upload_changed(&one, &spec, &changes).unwrap();
        let walked = upload(&two, &spec).unwrap();
        assert_eq!(known.tree(), walked.tree(), "the same tree as a walk finds");
        assert_eq!(known.stats.entries, walked.stats.entries);
        assert!(!known.stats.full, "written as a diff over the last upload");
        // the next walk of the first store agrees with what it recorded
        let again = upload(&one, &spec).unwrap();
        assert!(again.stats.cached && again.tree() == known.tree(), "{:?}", again.stats);
    }

    #[test]
    fn specs_of_host_paths() {
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let dir = UploadSpec::directory("/src".into(), v(&["a", "../b", "/c", "!./d"]), v(&["!../e", "f/"]), true);
        assert_eq!((dir.include, dir.exclude), (v(&["a", "!./d"]), v(&["f/"])), "patterns outside are dropped");

        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(root.join("a[1].txt"), "x").unwrap();
        std::os::unix::fs::symlink("a[1].txt", root.join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        // (host path, expected spec include and path in the tree, or error)
        type Want<'a> = Result<(&'a str, &'a str), &'a str>;
        let cases: [(&str, Want); 4] = [
            ("a[1].txt", Ok(("a[[]1[]].txt", "/a[1].txt"))),
            ("link", Ok(("a[[]1[]].txt", "/a[1].txt"))),
            ("dangling", Err("does not exist; paths are relative to the session's working directory")),
            ("", Err("is a directory; use `host.directory` for directories")),
        ];
        for (name, want) in cases {
            let got = UploadSpec::file(&root.join(name));
            match (got, want) {
                (Ok((spec, path)), Ok((include, want_path))) => {
                    assert_eq!(
                        (spec.path.as_path(), spec.include, path.as_str()),
                        (root.as_path(), v(&[include]), want_path)
                    )
                }
                (Err(e), Err(msg)) => assert!(e.to_string().ends_with(msg), "{name}: {e}"),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }
}
