//! The stat walk of a host tree: its entries in walk order, filtered, with
//! the digests of files whose stat says they did not change since the last
//! upload. The tree is read through descriptors opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: no symlink is followed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use sha2::{Digest as _, Sha256};
use tanto_fs::{gitignore, Filter, Resolve};

use super::index::{at, child_rel, Entry, Kind};
use super::{special_kind, UploadError, UploadSpec, COPY_THREADS};

// --- reading the host

pub(super) fn host_err(root: &Path, rel: &str) -> impl FnOnce(io::Error) -> UploadError {
    let path = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    move |source| UploadError::Read { path, source }
}

/// Opens `rel` below the host root without following any symlink.
pub(super) fn open_beneath(root: &OwnedFd, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    tanto_fs::openat_resolved(root, at(rel), flags | OFlags::NOFOLLOW, Mode::empty(), Resolve::Beneath)
}

pub(super) fn read_link(root: &OwnedFd, rel: &str) -> io::Result<Vec<u8>> {
    let fd = open_beneath(root, rel, OFlags::PATH)?;
    Ok(rfs::readlinkat(&fd, "", Vec::new())?.into_bytes())
}

pub(super) fn sha256_bytes(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Which side of a copy failed.
pub(super) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Hashes a host file (and copies it to `dest` when given).
pub(super) fn hash_file(
    root: &OwnedFd,
    rel: &str,
    mut dest: Option<&mut File>,
    buf: &mut [u8],
) -> Result<[u8; 32], CopyError> {
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

pub(super) struct Walker<'a> {
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
    pub(super) fn list(&mut self, dir: &OwnedFd, prefix: &str) -> Result<Vec<Item>, UploadError> {
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
                if !self.filter.may_include_below(&rel) {
                    continue; // no include pattern reaches into it: never opened
                }
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
            if kind == Kind::Other {
                let what = special_kind(st.st_mode as u32);
                return Err(UploadError::Special {
                    path: self.root_path.join(&rel),
                    what: what.unwrap_or("a special file"),
                    rel,
                });
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

    pub(super) fn leave(&mut self) {
        if let Some(g) = &mut self.gitignore {
            g.pop();
        }
    }

    /// Walks directory `dir` (at `prefix`); returns whether anything in it was kept.
    pub(super) fn walk(&mut self, dir: &OwnedFd, prefix: &str) -> Result<bool, UploadError> {
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
    pub(super) fn fork(&self) -> Walker<'a> {
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
    pub(super) fn walk_parallel(&mut self, dir: &OwnedFd, prefix: &str, threads: usize) -> Result<bool, UploadError> {
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
pub(super) type Subtree = (Vec<Entry>, bool);

/// An entry of a directory listing: a leaf, or a directory still to walk.
pub(super) enum Item {
    Leaf(Entry),
    Dir { entry: Entry, fd: OwnedFd, included_here: bool },
}

pub(super) fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// Stats the tree (reusing digests of unchanged files from `old`).
pub(super) fn scan(spec: &UploadSpec, root: &OwnedFd, old: Option<&[Entry]>) -> Result<Vec<Entry>, UploadError> {
    let filter = Filter::new(&spec.include, &spec.exclude)
        .map_err(|e| UploadError::Pattern { path: spec.path.clone(), message: e.to_string() })?;
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

/// Orders paths as the walk meets them: parents first, siblings by name
/// (bytes), each directory's entries before its next sibling.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(p: &str) -> Vec<&[u8]> {
        if p.is_empty() {
            Vec::new()
        } else {
            p.split('/').map(str::as_bytes).collect()
        }
    }
    parts(a).cmp(&parts(b))
}

/// The entries of an unfiltered tree whose `changes` since the walk that
/// made `old` are known: `old` without the removed paths (and what was
/// below them), with the changed paths stat'ed again (beneath the root, no
/// symlink followed), in walk order. The same as [`scan`] would find when
/// the changes are all there are.
pub(super) fn rescan(
    root_path: &Path,
    root: &OwnedFd,
    old: &[Entry],
    changes: &super::Changes,
) -> Result<Vec<Entry>, UploadError> {
    use std::collections::HashSet;
    let scan_start = now_ns();
    let removed: HashSet<&str> = changes.removed.iter().map(String::as_str).collect();
    let changed: HashSet<&str> = changes.changed.iter().map(String::as_str).collect();
    // an entry goes when it, or a directory above it, was removed or changed kind
    let gone = |rel: &str| {
        let mut p = rel;
        loop {
            if removed.contains(p) {
                return true;
            }
            match p.rsplit_once('/') {
                Some((parent, _)) => p = parent,
                None => return false,
            }
        }
    };
    let mut out: Vec<Entry> =
        old.iter().filter(|e| !changed.contains(e.rel.as_str()) && !gone(&e.rel)).cloned().collect();
    for rel in &changes.changed {
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None if rel.is_empty() => {
                let st = rfs::fstat(root).map_err(|e| host_err(root_path, "")(e.into()))?;
                out.push(Entry::from_stat(String::new(), Kind::Dir, &st, scan_start));
                continue;
            }
            None => ("", rel.as_str()),
        };
        let dir = match open_beneath(root, parent, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(host_err(root_path, rel)(e)),
        };
        let st = match rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(host_err(root_path, rel)(e.into())),
        };
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Symlink,
            FileType::Socket | FileType::Unknown => continue,
            _ => {
                return Err(UploadError::Special {
                    path: root_path.join(rel),
                    what: special_kind(st.st_mode as u32).unwrap_or("a special file"),
                    rel: rel.clone(),
                })
            }
        };
        let mut e = Entry::from_stat(rel.clone(), kind, &st, scan_start);
        if kind == Kind::Symlink {
            let target = rfs::readlinkat(&dir, name, Vec::new()).map_err(|err| host_err(root_path, rel)(err.into()))?;
            e.digest = Some(sha256_bytes(target.as_bytes()));
        }
        out.push(e);
    }
    out.sort_by(|a, b| walk_order(&a.rel, &b.rel));
    out.dedup_by(|a, b| a.rel == b.rel);
    Ok(out)
}
