//! Writing an upload's snapshot: a full copy of the host tree, or what
//! changed since the last upload (changed entries and whiteouts) over it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use super::index::{at, parent_rel, Entry, Kind};
use super::walk::{hash_file, host_err, read_link, sha256_bytes, CopyError};
use super::{UploadError, COPY_THREADS};

// --- writing snapshots

pub(super) struct Writer<'a> {
    host: &'a OwnedFd,
    host_path: &'a Path,
    upper: OwnedFd,
    upper_path: &'a Path,
    euid: u32,
    egid: u32,
}

impl<'a> Writer<'a> {
    /// A writer copying from the host tree at `host` into the snapshot dir `upper`.
    pub(super) fn new(host: &'a OwnedFd, host_path: &'a Path, upper_path: &'a Path) -> Result<Writer<'a>, UploadError> {
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

    pub(super) fn werr(&self, rel: &str) -> impl FnOnce(io::Error) -> UploadError {
        let path = self.upper_path.join(rel);
        move |source| UploadError::Write { path, source }
    }

    /// Creates entry `e` (not a directory) at its path in the upper dir;
    /// returns its digest (files are hashed while copied).
    pub(super) fn create(&self, e: &Entry, buf: &mut [u8]) -> Result<[u8; 32], UploadError> {
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

    pub(super) fn mkdir(&self, rel: &str) -> Result<(), UploadError> {
        if rel.is_empty() {
            return Ok(());
        }
        match rfs::mkdirat(&self.upper, rel, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(err) => Err(self.werr(rel)(err.into())),
        }
    }

    pub(super) fn whiteout(&self, rel: &str) -> Result<(), UploadError> {
        tanto_fs::overlay::make_whiteout(&self.upper, rel).map_err(|err| self.werr(rel)(err.into()))
    }

    pub(super) fn meta_fd<Fd: AsFd>(&self, fd: Fd, e: &Entry) -> io::Result<()> {
        if (e.uid, e.gid) != (self.euid, self.egid) {
            rfs::fchown(&fd, Some(rfs::Uid::from_raw(e.uid)), Some(rfs::Gid::from_raw(e.gid)))?;
        }
        rfs::fchmod(&fd, Mode::from_raw_mode(e.perm()))?;
        let ts = Timespec { tv_sec: e.mtime.0 as _, tv_nsec: e.mtime.1 as _ };
        rfs::futimens(&fd, &Timestamps { last_access: ts, last_modification: ts })?;
        Ok(())
    }

    /// Owner, mode and mtime by path (directories, links, nodes).
    pub(super) fn meta_at(&self, e: &Entry, symlink: bool) -> io::Result<()> {
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
    pub(super) fn write_all(&self, entries: &mut [Entry]) -> Result<usize, UploadError> {
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
    pub(super) fn write_diff(&self, old: &[Entry], new: &[Entry]) -> Result<(usize, usize), UploadError> {
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
