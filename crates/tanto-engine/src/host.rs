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
//! directory is read. Sockets are skipped.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use sha2::{Digest as _, Sha256};
use tanto_model::{Digest, LocalOp, Op, StableHasher, Vertex};
use tanto_store::{CacheRecord, SnapshotId, Store, StoreError, UploadRecord};

use crate::fsops::Filter;
use crate::gitignore;

/// Upload snapshots in one chain before the next change is written as a full
/// copy. Each is one overlay layer of every view of the upload (the mount
/// option string holds ~100 layers); the full copy is the slow path (seconds
/// for 100k files), so chains are allowed to grow long.
pub const MAX_DEPTH: u32 = 32;

/// Files modified less than this before a scan are hashed again next time:
/// their stat may not change when they are written again within the
/// filesystem's timestamp granularity.
const RACY_NS: i128 = 100_000_000;

/// Threads walking the host tree and copying files of a full upload.
const COPY_THREADS: usize = 2;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl tanto_model::Tiered for UploadError {
    fn tier(&self) -> tanto_model::Tier {
        use tanto_model::Tier;
        match self {
            UploadError::NotFound(_) => Tier::NotFound,
            UploadError::NotADirectory(_) | UploadError::Pattern { .. } => Tier::Input,
            UploadError::Read { .. } | UploadError::Write { .. } => Tier::Environment,
            UploadError::Store(e) => tanto_model::Tiered::tier(e),
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    /// fifo, character or block device
    Other,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Dir => b'd',
            Kind::File => b'f',
            Kind::Symlink => b'l',
            Kind::Other => b'o',
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            b'd' => Kind::Dir,
            b'f' => Kind::File,
            b'l' => Kind::Symlink,
            b'o' => Kind::Other,
            _ => return None,
        })
    }
}

/// One entry of the index: its stat and content digest.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// `/`-separated path relative to the upload root; "" is the root.
    rel: String,
    kind: Kind,
    /// Full `st_mode` (type and permission bits).
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    rdev: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
    ino: u64,
    dev: u64,
    /// Modified too close to the scan that recorded it to trust its stat.
    racy: bool,
    /// Files: sha256 of the content; symlinks: of the target; others: zero.
    /// `None` until computed.
    digest: Option<[u8; 32]>,
}

impl Entry {
    fn from_stat(rel: String, kind: Kind, st: &rfs::Stat, scan_start: i128) -> Entry {
        let mtime = (st.st_mtime, st.st_mtime_nsec as u32);
        let ctime = (st.st_ctime, st.st_ctime_nsec as u32);
        let ns = |t: (i64, u32)| t.0 as i128 * 1_000_000_000 + t.1 as i128;
        let racy = ns(mtime) >= scan_start - RACY_NS || ns(ctime) >= scan_start - RACY_NS;
        Entry {
            rel,
            kind,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            rdev: st.st_rdev,
            mtime,
            ctime,
            ino: st.st_ino,
            dev: st.st_dev,
            racy,
            digest: match kind {
                Kind::Dir | Kind::Other => Some([0; 32]),
                _ => None,
            },
        }
    }

    /// The stat says the content cannot have changed since `old` was recorded.
    fn same_stat(&self, old: &Entry) -> bool {
        !old.racy
            && old.kind == self.kind
            && old.mode == self.mode
            && old.size == self.size
            && old.mtime == self.mtime
            && old.ctime == self.ctime
            && old.ino == self.ino
            && old.dev == self.dev
    }

    /// Same content and metadata as far as the snapshot is concerned.
    fn same_content(&self, old: &Entry) -> bool {
        old.kind == self.kind
            && old.mode == self.mode
            && old.uid == self.uid
            && old.gid == self.gid
            && old.digest == self.digest
            && (self.kind != Kind::Other || old.rdev == self.rdev)
    }

    fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

fn parent_rel(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

fn child_rel(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A path for `*at` calls relative to a root descriptor ("" is the root itself).
fn at(rel: &str) -> &str {
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

// --- the index, as stored in the upload record

const INDEX_MAGIC: &[u8; 8] = b"TANTOIX1";

fn encode_index(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 110);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&(e.rel.len() as u32).to_le_bytes());
        out.extend_from_slice(e.rel.as_bytes());
        out.push(e.kind.code());
        out.push(e.racy as u8);
        for v in [e.mode, e.uid, e.gid, e.mtime.1, e.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.size, e.rdev, e.mtime.0 as u64, e.ctime.0 as u64, e.ino, e.dev] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&e.digest.unwrap_or([0; 32]));
    }
    out
}

/// Decodes an index; `None` if it is not one this version wrote.
fn decode_index(data: &[u8]) -> Option<Vec<Entry>> {
    struct R<'a>(&'a [u8]);
    impl R<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
    }
    let mut r = R(data);
    if r.take(8)? != INDEX_MAGIC {
        return None;
    }
    let n = r.u64()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 24));
    for _ in 0..n {
        let len = r.u32()? as usize;
        let rel = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let kind = Kind::from_code(r.take(1)?[0])?;
        let racy = r.take(1)?[0] != 0;
        let (mode, uid, gid, mtime_ns, ctime_ns) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let (size, rdev, mtime, ctime, ino, dev) =
            (r.u64()?, r.u64()?, r.u64()? as i64, r.u64()? as i64, r.u64()?, r.u64()?);
        let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        out.push(Entry {
            rel,
            kind,
            mode,
            uid,
            gid,
            size,
            rdev,
            mtime: (mtime, mtime_ns),
            ctime: (ctime, ctime_ns),
            ino,
            dev,
            racy,
            digest: Some(digest),
        });
    }
    Some(out)
}

/// The tree digest: names, types, modes, owners and contents, in walk order.
fn tree_digest(entries: &[Entry]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"tanto-local-tree-v1\0");
    for e in entries {
        h.update((e.rel.len() as u64).to_le_bytes());
        h.update(e.rel.as_bytes());
        h.update([e.kind.code()]);
        h.update(e.mode.to_le_bytes());
        h.update(e.uid.to_le_bytes());
        h.update(e.gid.to_le_bytes());
        if e.kind == Kind::Other {
            h.update(e.rdev.to_le_bytes());
        }
        h.update(e.digest.unwrap_or([0; 32]));
    }
    Digest(h.finalize().into())
}

// --- reading the host

fn host_err(root: &Path, rel: &str) -> impl FnOnce(io::Error) -> UploadError {
    let path = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    move |source| UploadError::Read { path, source }
}

/// Opens `rel` below the host root without following any symlink.
fn open_beneath(root: &OwnedFd, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(rfs::openat2(
        root,
        at(rel),
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

fn read_link(root: &OwnedFd, rel: &str) -> io::Result<Vec<u8>> {
    let fd = open_beneath(root, rel, OFlags::PATH)?;
    Ok(rfs::readlinkat(&fd, "", Vec::new())?.into_bytes())
}

fn sha256_bytes(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Which side of a copy failed.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Hashes a host file (and copies it to `dest` when given).
fn hash_file(root: &OwnedFd, rel: &str, mut dest: Option<&mut File>, buf: &mut [u8]) -> Result<[u8; 32], CopyError> {
    let fd = open_beneath(root, rel, OFlags::RDONLY).map_err(CopyError::Read)?;
    let mut f = File::from(fd);
    let mut h = Sha256::new();
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        h.update(&buf[..n]);
        if let Some(d) = dest.as_deref_mut() {
            d.write_all(&buf[..n]).map_err(CopyError::Write)?;
        }
    }
    Ok(h.finalize().into())
}

struct Walker<'a> {
    root_path: &'a Path,
    filter: &'a Filter,
    gitignore: Option<gitignore::Stack>,
    old: Option<&'a HashMap<&'a str, &'a Entry>>,
    scan_start: i128,
    out: Vec<Entry>,
}

impl<'a> Walker<'a> {
    /// The entries of directory `dir` (at `prefix`) that pass the filters,
    /// sorted by name. Enters the directory's `.gitignore` frame (the caller
    /// leaves it with [`Walker::leave`]).
    fn list(&mut self, dir: &OwnedFd, prefix: &str) -> Result<Vec<Item>, UploadError> {
        if let Some(g) = &mut self.gitignore {
            g.push(prefix, gitignore::read_in(dir).as_deref());
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        {
            let mut d = rfs::Dir::read_from(dir).map_err(|e| host_err(self.root_path, prefix)(e.into()))?;
            while let Some(ent) = d.read() {
                let ent = ent.map_err(|e| host_err(self.root_path, prefix)(e.into()))?;
                let name = ent.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(name.to_vec());
                }
            }
        }
        names.sort();
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            let Ok(name) = String::from_utf8(name) else {
                tracing::warn!(dir = %self.root_path.join(prefix).display(), "skipping a file name that is not UTF-8");
                continue;
            };
            let rel = child_rel(prefix, &name);
            let st = match rfs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // removed while we were walking
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(host_err(self.root_path, &rel)(e.into())),
            };
            let kind = match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => Kind::Dir,
                FileType::RegularFile => Kind::File,
                FileType::Symlink => Kind::Symlink,
                FileType::Socket | FileType::Unknown => continue,
                _ => Kind::Other,
            };
            let is_dir = kind == Kind::Dir;
            if self.filter.excluded(&rel) || self.gitignore.as_ref().is_some_and(|g| g.ignored(&rel, is_dir)) {
                continue;
            }
            if is_dir {
                let fd = match rfs::openat(
                    dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(host_err(self.root_path, &rel)(e.into())),
                };
                let included_here = self.filter.included(&rel);
                items.push(Item::Dir { entry: Entry::from_stat(rel, kind, &st, self.scan_start), fd, included_here });
                continue;
            }
            if !self.filter.included(&rel) {
                continue;
            }
            let mut e = Entry::from_stat(rel, kind, &st, self.scan_start);
            match kind {
                Kind::File => {
                    if let Some(old) = self.old.and_then(|m| m.get(e.rel.as_str())) {
                        if e.same_stat(old) {
                            e.digest = old.digest;
                        }
                    }
                }
                Kind::Symlink => {
                    let target = rfs::readlinkat(dir, name.as_str(), Vec::new())
                        .map_err(|err| host_err(self.root_path, &e.rel)(err.into()))?;
                    e.digest = Some(sha256_bytes(target.as_bytes()));
                }
                _ => {}
            }
            items.push(Item::Leaf(e));
        }
        Ok(items)
    }

    fn leave(&mut self) {
        if let Some(g) = &mut self.gitignore {
            g.pop();
        }
    }

    /// Walks directory `dir` (at `prefix`); returns whether anything in it was kept.
    fn walk(&mut self, dir: &OwnedFd, prefix: &str) -> Result<bool, UploadError> {
        let items = self.list(dir, prefix)?;
        let mut kept = false;
        for item in items {
            match item {
                Item::Leaf(e) => {
                    self.out.push(e);
                    kept = true;
                }
                Item::Dir { entry, fd, included_here } => {
                    let at_index = self.out.len();
                    let rel = entry.rel.clone();
                    self.out.push(entry);
                    if self.walk(&fd, &rel)? || included_here {
                        kept = true;
                    } else {
                        self.out.truncate(at_index);
                    }
                }
            }
        }
        self.leave();
        Ok(kept)
    }

    /// A walker for a subtree, with this one's filters and `.gitignore` frames.
    fn fork(&self) -> Walker<'a> {
        Walker {
            root_path: self.root_path,
            filter: self.filter,
            gitignore: self.gitignore.clone(),
            old: self.old,
            scan_start: self.scan_start,
            out: Vec::new(),
        }
    }

    /// Like [`Walker::walk`], with the subdirectories of `dir` walked by
    /// `threads` threads (a stat walk is mostly system calls).
    fn walk_parallel(&mut self, dir: &OwnedFd, prefix: &str, threads: usize) -> Result<bool, UploadError> {
        let items = self.list(dir, prefix)?;
        let subdirs: Vec<(usize, &OwnedFd, &str)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Dir { entry, fd, .. } => Some((i, fd, entry.rel.as_str())),
                Item::Leaf(_) => None,
            })
            .collect();
        let mut below: HashMap<usize, Subtree> = HashMap::new();
        if !subdirs.is_empty() {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let this = &*self;
            let results: Vec<Result<Vec<(usize, Subtree)>, UploadError>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads.min(subdirs.len()))
                    .map(|_| {
                        s.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(&(i, fd, rel)) = subdirs.get(k) else {
                                    break;
                                };
                                let mut w = this.fork();
                                let kept = w.walk(fd, rel)?;
                                done.push((i, (w.out, kept)));
                            }
                            Ok(done)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("upload scan thread panicked")).collect()
            });
            for r in results {
                below.extend(r?);
            }
        }
        let mut kept = false;
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Item::Leaf(e) => {
                    self.out.push(e);
                    kept = true;
                }
                Item::Dir { entry, included_here, .. } => {
                    let (sub, kept_below) = below.remove(&i).unwrap_or_default();
                    if kept_below || included_here {
                        self.out.push(entry);
                        self.out.extend(sub);
                        kept = true;
                    }
                }
            }
        }
        self.leave();
        Ok(kept)
    }
}

/// The entries of a walked subtree, and whether any was kept.
type Subtree = (Vec<Entry>, bool);

/// An entry of a directory listing: a leaf, or a directory still to walk.
enum Item {
    Leaf(Entry),
    Dir { entry: Entry, fd: OwnedFd, included_here: bool },
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// Stats the tree (reusing digests of unchanged files from `old`).
fn scan(spec: &UploadSpec, root: &OwnedFd, old: Option<&[Entry]>) -> Result<Vec<Entry>, UploadError> {
    let filter = Filter::new(&spec.include, &spec.exclude)
        .map_err(|message| UploadError::Pattern { path: spec.path.clone(), message })?;
    let old_map: Option<HashMap<&str, &Entry>> = old.map(|o| o.iter().map(|e| (e.rel.as_str(), e)).collect());
    let scan_start = now_ns();
    let root_st = rfs::fstat(root).map_err(|e| host_err(&spec.path, "")(e.into()))?;
    let mut w = Walker {
        root_path: &spec.path,
        filter: &filter,
        gitignore: spec.gitignore.then(gitignore::Stack::default),
        old: old_map.as_ref(),
        scan_start,
        out: Vec::new(),
    };
    w.out.push(Entry::from_stat(String::new(), Kind::Dir, &root_st, scan_start));
    w.walk_parallel(root, "", COPY_THREADS)?;
    Ok(w.out)
}

// --- writing snapshots

struct Writer<'a> {
    host: &'a OwnedFd,
    host_path: &'a Path,
    upper: OwnedFd,
    upper_path: &'a Path,
    euid: u32,
    egid: u32,
}

impl<'a> Writer<'a> {
    /// A writer copying from the host tree at `host` into the snapshot dir `upper`.
    fn new(host: &'a OwnedFd, host_path: &'a Path, upper_path: &'a Path) -> Result<Writer<'a>, UploadError> {
        let upper = rfs::open(upper_path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| UploadError::Write { path: upper_path.to_path_buf(), source: e.into() })?;
        Ok(Writer {
            host,
            host_path,
            upper,
            upper_path,
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
        })
    }

    fn werr(&self, rel: &str) -> impl FnOnce(io::Error) -> UploadError {
        let path = self.upper_path.join(rel);
        move |source| UploadError::Write { path, source }
    }

    /// Creates entry `e` (not a directory) at its path in the upper dir;
    /// returns its digest (files are hashed while copied).
    fn create(&self, e: &Entry, buf: &mut [u8]) -> Result<[u8; 32], UploadError> {
        let rel = e.rel.as_str();
        match e.kind {
            Kind::File => {
                let fd = rfs::openat(
                    &self.upper,
                    rel,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|err| self.werr(rel)(err.into()))?;
                let mut f = File::from(fd);
                let digest = match hash_file(self.host, rel, Some(&mut f), buf) {
                    Ok(d) => d,
                    Err(CopyError::Read(err)) => return Err(host_err(self.host_path, rel)(err)),
                    Err(CopyError::Write(err)) => return Err(self.werr(rel)(err)),
                };
                self.meta_fd(&f, e).map_err(self.werr(rel))?;
                Ok(digest)
            }
            Kind::Symlink => {
                let target = read_link(self.host, rel).map_err(host_err(self.host_path, rel))?;
                rfs::symlinkat(target.as_slice(), &self.upper, rel).map_err(|err| self.werr(rel)(err.into()))?;
                self.meta_at(e, true).map_err(self.werr(rel))?;
                Ok(sha256_bytes(&target))
            }
            Kind::Other => {
                let ft = FileType::from_raw_mode(e.mode);
                rfs::mknodat(&self.upper, rel, ft, Mode::from_raw_mode(e.perm()), e.rdev)
                    .map_err(|err| self.werr(rel)(err.into()))?;
                self.meta_at(e, false).map_err(self.werr(rel))?;
                Ok([0; 32])
            }
            Kind::Dir => unreachable!("directories are made by mkdir"),
        }
    }

    fn mkdir(&self, rel: &str) -> Result<(), UploadError> {
        if rel.is_empty() {
            return Ok(());
        }
        match rfs::mkdirat(&self.upper, rel, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(err) => Err(self.werr(rel)(err.into())),
        }
    }

    fn whiteout(&self, rel: &str) -> Result<(), UploadError> {
        rfs::mknodat(&self.upper, rel, FileType::CharacterDevice, Mode::empty(), 0)
            .map_err(|err| self.werr(rel)(err.into()))
    }

    fn meta_fd<Fd: AsFd>(&self, fd: Fd, e: &Entry) -> io::Result<()> {
        if (e.uid, e.gid) != (self.euid, self.egid) {
            rfs::fchown(&fd, Some(rfs::Uid::from_raw(e.uid)), Some(rfs::Gid::from_raw(e.gid)))?;
        }
        rfs::fchmod(&fd, Mode::from_raw_mode(e.perm()))?;
        let ts = Timespec { tv_sec: e.mtime.0 as _, tv_nsec: e.mtime.1 as _ };
        rfs::futimens(&fd, &Timestamps { last_access: ts, last_modification: ts })?;
        Ok(())
    }

    /// Owner, mode and mtime by path (directories, links, nodes).
    fn meta_at(&self, e: &Entry, symlink: bool) -> io::Result<()> {
        let rel = at(&e.rel);
        let flags = if symlink { AtFlags::SYMLINK_NOFOLLOW } else { AtFlags::empty() };
        if (e.uid, e.gid) != (self.euid, self.egid) {
            rfs::chownat(
                &self.upper,
                rel,
                Some(rfs::Uid::from_raw(e.uid)),
                Some(rfs::Gid::from_raw(e.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        if !symlink {
            rfs::chmodat(&self.upper, rel, Mode::from_raw_mode(e.perm()), AtFlags::empty())?;
        }
        let ts = Timespec { tv_sec: e.mtime.0 as _, tv_nsec: e.mtime.1 as _ };
        rfs::utimensat(&self.upper, rel, &Timestamps { last_access: ts, last_modification: ts }, flags)?;
        Ok(())
    }

    /// Writes every entry (a full copy), filling in digests.
    fn write_all(&self, entries: &mut [Entry]) -> Result<usize, UploadError> {
        for e in entries.iter().filter(|e| e.kind == Kind::Dir) {
            self.mkdir(&e.rel)?;
        }
        let work: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].kind != Kind::Dir).collect();
        let written = work.len();
        type Digests = Vec<(usize, [u8; 32])>;
        let results: Vec<Result<Digests, UploadError>> = std::thread::scope(|s| {
            let entries = &*entries;
            let handles: Vec<_> = (0..COPY_THREADS)
                .map(|t| {
                    let mine: Vec<usize> = work.iter().copied().skip(t).step_by(COPY_THREADS).collect();
                    s.spawn(move || {
                        let mut buf = vec![0u8; 256 << 10];
                        mine.into_iter().map(|i| self.create(&entries[i], &mut buf).map(|d| (i, d))).collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("upload copy thread panicked")).collect()
        });
        for r in results {
            for (i, d) in r? {
                entries[i].digest = Some(d);
            }
        }
        // Directory metadata last, deepest first (creating entries changes mtimes).
        for e in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
            self.meta_at(e, false).map_err(self.werr(&e.rel))?;
        }
        Ok(written + entries.iter().filter(|e| e.kind == Kind::Dir).count())
    }

    /// Writes what differs between `old` and `new` (digests all known) over
    /// a lower layer holding `old`. Returns (entries written, whiteouts).
    fn write_diff(&self, old: &[Entry], new: &[Entry]) -> Result<(usize, usize), UploadError> {
        let old_map: HashMap<&str, &Entry> = old.iter().map(|e| (e.rel.as_str(), e)).collect();
        let new_map: HashMap<&str, &Entry> = new.iter().map(|e| (e.rel.as_str(), e)).collect();
        let mut made: HashSet<String> = HashSet::new();
        let mut dirs: Vec<&Entry> = Vec::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut written = 0;

        // Makes the directory `rel` (and its parents) in the upper dir, with
        // the new tree's metadata applied at the end.
        fn ensure<'e>(
            w: &Writer<'_>,
            rel: &str,
            new_map: &HashMap<&str, &'e Entry>,
            made: &mut HashSet<String>,
            dirs: &mut Vec<&'e Entry>,
        ) -> Result<(), UploadError> {
            if made.contains(rel) {
                return Ok(());
            }
            if !rel.is_empty() {
                ensure(w, parent_rel(rel), new_map, made, dirs)?;
                // a non-directory of the new tree never has children, so `rel` is a directory here
                w.mkdir(rel)?;
            }
            made.insert(rel.to_string());
            if let Some(e) = new_map.get(rel) {
                dirs.push(e);
            }
            Ok(())
        }

        // The root's attributes come from the upper dir: always apply them.
        ensure(self, "", &new_map, &mut made, &mut dirs)?;
        for e in new {
            let same = old_map.get(e.rel.as_str()).is_some_and(|o| e.same_content(o));
            if same {
                continue;
            }
            if e.kind == Kind::Dir {
                ensure(self, &e.rel, &new_map, &mut made, &mut dirs)?;
            } else {
                ensure(self, parent_rel(&e.rel), &new_map, &mut made, &mut dirs)?;
                if old_map.contains_key(e.rel.as_str()) {
                    // replaced: a changed file at the same path
                    if rfs::statat(&self.upper, e.rel.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                        rfs::unlinkat(&self.upper, e.rel.as_str(), AtFlags::empty())
                            .map_err(|err| self.werr(&e.rel)(err.into()))?;
                    }
                }
                self.create(e, &mut buf)?;
            }
            written += 1;
        }
        let mut removed = 0;
        for o in old {
            if o.rel.is_empty() || new_map.contains_key(o.rel.as_str()) {
                continue;
            }
            // Only where the parent is a directory in both trees: otherwise a
            // whiteout or a new non-directory higher up already hides it.
            let parent = parent_rel(&o.rel);
            let parent_dir_in = |m: &HashMap<&str, &Entry>| m.get(parent).is_some_and(|p| p.kind == Kind::Dir);
            if !(parent_dir_in(&old_map) && parent_dir_in(&new_map)) {
                continue;
            }
            ensure(self, parent, &new_map, &mut made, &mut dirs)?;
            self.whiteout(&o.rel)?;
            removed += 1;
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.len()));
        for e in dirs {
            self.meta_at(e, false).map_err(self.werr(&e.rel))?;
        }
        Ok((written, removed))
    }
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
    let mut entries = scan(spec, &root, old.as_ref().map(|(_, idx)| idx.as_slice()))?;
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
        store.save_upload_record(&scope, &UploadRecord { snapshot, tree: vertex_digest(&vertex), depth, index })?;
    }
    timings.save = ms(t);
    stats.timings = timings;
    Ok(Uploaded { vertex, snapshot, stats })
}

fn vertex_digest(v: &Vertex) -> String {
    match &v.op {
        Op::Local(l) => l.digest.to_string(),
        _ => String::new(),
    }
}

/// `name` in the working directory or the nearest parent that has it, as a
/// path relative to the working directory.
pub fn find_up(workdir: &Path, name: &str) -> Option<String> {
    let mut dir = Some(workdir);
    let mut ups = 0usize;
    while let Some(d) = dir {
        if std::fs::symlink_metadata(d.join(name)).is_ok() {
            let mut rel = String::new();
            for _ in 0..ups {
                rel.push_str("../");
            }
            rel.push_str(name);
            return Some(rel);
        }
        dir = d.parent();
        ups += 1;
    }
    None
}

impl crate::worker::Worker {
    /// Computes an `Op::Local` whose result is not in the cache (an upload
    /// normally commits its own result): uploads the directory again and
    /// checks it still has the content the op was built for.
    pub(crate) async fn local(&self, op: &LocalOp, key: Digest) -> Result<crate::worker::Output, crate::EngineError> {
        if op.path.is_empty() {
            // made in place (an `asTarball` file), not read from the host
            return Err(crate::EngineError::not_found(
                "a file made by `asTarball` is no longer in the cache; call `asTarball` again",
            ));
        }
        let store = self.store.clone();
        let spec = UploadSpec::from_op(op);
        let want = op.digest;
        let up = tokio::task::spawn_blocking(move || upload(&store, &spec))
            .await
            .map_err(|e| crate::EngineError::internal(e.to_string()))??;
        if up.vertex.key() != key {
            let now = vertex_digest(&up.vertex);
            return Err(crate::EngineError::input(format!(
                "host directory `{}` changed since it was read (content {want} is now {now}); read it again with `host.directory`",
                op.path
            )));
        }
        let leases = vec![self.store.lease(up.snapshot)?];
        Ok(Arc::new(crate::worker::VertexResult { outputs: vec![up.snapshot], meta: None, leases }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip() {
        let e = Entry {
            rel: "a/b".into(),
            kind: Kind::File,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            size: 3,
            rdev: 0,
            mtime: (4, 5),
            ctime: (-6, 7),
            ino: 8,
            dev: 9,
            racy: true,
            digest: Some([7; 32]),
        };
        let root = Entry { rel: String::new(), kind: Kind::Dir, racy: false, digest: Some([0; 32]), ..e.clone() };
        let entries = vec![root, e];
        assert_eq!(decode_index(&encode_index(&entries)), Some(entries));
        assert_eq!(decode_index(b"garbage"), None);
        assert_eq!(decode_index(&encode_index(&[])[..12]), None);
    }

    #[test]
    fn find_up_cases() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(tmp.path().join("a/marker"), "").unwrap();
        std::fs::write(deep.join("here"), "").unwrap();
        assert_eq!(find_up(&deep, "here").as_deref(), Some("here"));
        assert_eq!(find_up(&deep, "marker").as_deref(), Some("../../marker"));
        assert_eq!(find_up(&deep, "no-such-name-anywhere-xyz"), None);
    }
}
