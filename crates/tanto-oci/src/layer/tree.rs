//! File operations confined to one directory tree (the layer's `dest`).
//!
//! Every lookup goes through `openat2(root, path, RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, so `..` and symlinks (absolute
//! ones included) are resolved as if `root` were `/`. The last component of
//! an entry is then created or replaced with `*at` calls relative to its
//! parent's descriptor that never follow it (`O_NOFOLLOW`, `O_EXCL`,
//! `AT_SYMLINK_NOFOLLOW`).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, Dev, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use tanto_fs::{overlay, Resolve, Root};

/// Metadata of one tar entry.
#[derive(Debug, Clone, Default)]
pub(super) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub atime: Option<(i64, u32)>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub(super) struct Tree {
    root: Root,
    /// The last parent directory looked up: entries of a tar come grouped by
    /// directory, so this saves most lookups. Dropped whenever something is
    /// removed (that can change what a path means).
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    privileged: bool,
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn join(components: &[&[u8]]) -> Vec<u8> {
    if components.is_empty() {
        b".".to_vec()
    } else {
        components.join(&b'/')
    }
}

fn timespec(sec: i64, nsec: u32) -> Timespec {
    Timespec { tv_sec: sec, tv_nsec: nsec as _ }
}

impl Tree {
    /// Fails with `ENOSYS` on kernels without `openat2`.
    pub fn open(dest: &Path) -> io::Result<Tree> {
        let root = Root::open_with(dest, Resolve::InRootSameMount)?;
        Ok(Tree { root, cache: None, privileged: rustix::process::geteuid().is_root() })
    }

    /// Opens `components` (relative to the root) with `flags`.
    fn resolve(&self, components: &[&[u8]], flags: OFlags) -> io::Result<OwnedFd> {
        self.root.open_at(os(&join(components)), flags, Mode::empty())
    }

    /// The directory `components`, created (mode 0755, like containerd) if missing.
    fn parent(&mut self, components: &[&[u8]]) -> io::Result<Rc<OwnedFd>> {
        let key = join(components);
        if let Some((k, fd)) = &self.cache {
            if *k == key {
                return Ok(fd.clone());
            }
        }
        let fd = match self.resolve(components, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if errno(&e) == libc::ENOENT => self.create_dirs(components)?,
            Err(e) => return Err(e),
        };
        let fd = Rc::new(fd);
        self.cache = Some((key, fd.clone()));
        Ok(fd)
    }

    /// Creates the missing directories of `components`, following symlinks
    /// (dangling ones too, like containerd's `RootPath` + `MkdirAll`) inside
    /// the root.
    fn create_dirs(&self, components: &[&[u8]]) -> io::Result<OwnedFd> {
        let mut path: Vec<Vec<u8>> = components.iter().map(|c| c.to_vec()).collect();
        let mut expansions = 0;
        'restart: loop {
            let mut current = self.resolve(&[], OFlags::PATH | OFlags::DIRECTORY)?;
            for i in 0..path.len() {
                let prefix: Vec<&[u8]> = path[..=i].iter().map(|c| c.as_slice()).collect();
                current = match self.resolve(&prefix, OFlags::PATH | OFlags::DIRECTORY) {
                    Ok(fd) => fd,
                    Err(e) if errno(&e) == libc::ENOENT => {
                        let name = os(&path[i]);
                        match rfs::mkdirat(&current, name, Mode::from_raw_mode(0o755)) {
                            Ok(()) => rfs::chmodat(&current, name, Mode::from_raw_mode(0o755), AtFlags::empty())?,
                            Err(rustix::io::Errno::EXIST) => {
                                // there, but not resolvable: a dangling symlink; create its target
                                let st = rfs::statat(&current, name, AtFlags::SYMLINK_NOFOLLOW)?;
                                if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                                    return Err(e);
                                }
                                expansions += 1;
                                if expansions > 40 {
                                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                                }
                                let target = rfs::readlinkat(&current, name, Vec::new())?.into_bytes();
                                let target_parts =
                                    target.split(|b| *b == b'/').filter(|c| !c.is_empty()).map(|c| c.to_vec());
                                let mut next: Vec<Vec<u8>> =
                                    if target.starts_with(b"/") { Vec::new() } else { path[..i].to_vec() };
                                next.extend(target_parts);
                                next.extend(path[i + 1..].iter().cloned());
                                path = next;
                                continue 'restart;
                            }
                            Err(e) => return Err(e.into()),
                        }
                        self.resolve(&prefix, OFlags::PATH | OFlags::DIRECTORY)?
                    }
                    Err(e) => return Err(e),
                };
            }
            return Ok(current);
        }
    }

    /// Removes `name` in `parent`, recursively if it is a directory; absent is fine.
    fn remove(&mut self, parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
        self.cache = None;
        remove_all(parent, os(name))
    }

    /// Runs `create`; if the name exists, removes it and runs `create` again.
    fn create_replacing(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        mut create: impl FnMut() -> rustix::io::Result<()>,
    ) -> io::Result<()> {
        match create() {
            Err(rustix::io::Errno::EXIST) => {
                self.remove(parent, name)?;
                Ok(create()?)
            }
            r => Ok(r?),
        }
    }

    fn chown_result(&self, r: rustix::io::Result<()>) -> io::Result<()> {
        match r {
            Err(rustix::io::Errno::PERM | rustix::io::Errno::INVAL) if !self.privileged => Ok(()),
            r => Ok(r?),
        }
    }

    fn set_xattrs(&self, fd: impl AsFd, meta: &Meta, what: &[u8]) {
        for (name, value) in &meta.xattrs {
            if overlay::is_overlay_xattr(name) {
                tracing::warn!(entry = %String::from_utf8_lossy(what), xattr = %String::from_utf8_lossy(name), "ignoring overlayfs xattr from the layer");
                continue;
            }
            if let Err(e) = rfs::fsetxattr(&fd, os(name), value, XattrFlags::empty()) {
                if name.starts_with(b"security.") {
                    tracing::debug!(entry = %String::from_utf8_lossy(what), xattr = %String::from_utf8_lossy(name), error = %e, "cannot set xattr");
                } else {
                    tracing::warn!(entry = %String::from_utf8_lossy(what), xattr = %String::from_utf8_lossy(name), error = %e, "cannot set xattr");
                }
            }
        }
    }

    /// Owner, mode (after the owner: chown clears setuid) and xattrs on an open descriptor.
    fn apply_meta(&self, fd: impl AsFd, meta: &Meta, what: &[u8]) -> io::Result<()> {
        let fd = fd.as_fd();
        self.chown_result(rfs::fchown(fd, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid))))?;
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
        self.set_xattrs(fd, meta, what);
        Ok(())
    }

    fn times(meta: &Meta) -> Timestamps {
        let (asec, ansec) = meta.atime.unwrap_or((meta.mtime, meta.mtime_nsec));
        Timestamps { last_access: timespec(asec, ansec), last_modification: timespec(meta.mtime, meta.mtime_nsec) }
    }

    pub fn directory(&mut self, parent: &[&[u8]], name: &[u8], meta: &Meta) -> io::Result<()> {
        let p = self.parent(parent)?;
        match rfs::mkdirat(&*p, os(name), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                let st = rfs::statat(&*p, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.remove(&p, name)?;
                    rfs::mkdirat(&*p, os(name), Mode::from_raw_mode(0o700))?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        let fd = rfs::openat(
            &*p,
            os(name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.apply_meta(&fd, meta, name)
    }

    /// Creates an empty regular file, replacing whatever had the name.
    pub fn create_file(&mut self, parent: &[&[u8]], name: &[u8]) -> io::Result<File> {
        let p = self.parent(parent)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let open = || rfs::openat(&*p, os(name), flags, Mode::from_raw_mode(0o600));
        let fd = match open() {
            Err(rustix::io::Errno::EXIST) => {
                self.remove(&p, name)?;
                open()?
            }
            r => r?,
        };
        Ok(File::from(fd))
    }

    /// Owner, mode, xattrs and times of a file written by [`Tree::create_file`].
    pub fn finish_file(&self, file: &File, meta: &Meta, name: &[u8]) -> io::Result<()> {
        self.apply_meta(file, meta, name)?;
        rfs::futimens(file, &Self::times(meta))?;
        Ok(())
    }

    pub fn symlink(&mut self, parent: &[&[u8]], name: &[u8], target: &[u8], meta: &Meta) -> io::Result<()> {
        let p = self.parent(parent)?;
        // No cache drop needed: a new symlink cannot be a component of the
        // cached directory's path (that path resolved, so whatever was at
        // this name was a directory, and replacing it went through `remove`).
        self.create_replacing(&p, name, || rfs::symlinkat(os(target), &*p, os(name)))?;
        self.chown_result(rfs::chownat(
            &*p,
            os(name),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ))?;
        rfs::utimensat(&*p, os(name), &Self::times(meta), AtFlags::SYMLINK_NOFOLLOW)?;
        if !meta.xattrs.is_empty() {
            tracing::debug!(entry = %String::from_utf8_lossy(name), "not setting xattrs on a symlink");
        }
        Ok(())
    }

    /// `name` becomes another name of `target` (a path inside the root).
    /// A missing target is `NotFound`.
    pub fn hardlink(&mut self, parent: &[&[u8]], name: &[u8], target: &[&[u8]]) -> io::Result<()> {
        let Some((tname, tparent)) = target.split_last() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let tp = match self.resolve(tparent, OFlags::PATH | OFlags::DIRECTORY) {
            Err(e) if matches!(errno(&e), libc::ENOENT | libc::ENOTDIR) => return Err(io::ErrorKind::NotFound.into()),
            r => r?,
        };
        match rfs::statat(&tp, os(tname), AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Err(io::ErrorKind::NotFound.into()),
            r => r?,
        };
        let p = self.parent(parent)?;
        self.create_replacing(&p, name, || rfs::linkat(&tp, os(tname), &*p, os(name), AtFlags::empty()))
    }

    /// A device node or fifo.
    pub fn node(
        &mut self,
        parent: &[&[u8]],
        name: &[u8],
        ft: FileType,
        major: u32,
        minor: u32,
        meta: &Meta,
    ) -> io::Result<()> {
        let p = self.parent(parent)?;
        let mode = Mode::from_raw_mode(meta.mode);
        let dev: Dev = rfs::makedev(major, minor);
        self.create_replacing(&p, name, || rfs::mknodat(&*p, os(name), ft, mode, dev))?;
        self.chown_result(rfs::chownat(
            &*p,
            os(name),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ))?;
        // a fresh node, never a symlink: chmodat may follow
        rfs::chmodat(&*p, os(name), mode, AtFlags::empty())?;
        rfs::utimensat(&*p, os(name), &Self::times(meta), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// An overlayfs whiteout for `name`: a character device 0:0.
    pub fn whiteout(&mut self, parent: &[&[u8]], name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
        let p = self.parent(parent)?;
        self.create_replacing(&p, name, || overlay::make_whiteout(&*p, os(name)))?;
        self.chown_result(rfs::chownat(
            &*p,
            os(name),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ))
    }

    /// Marks the directory `components` opaque for overlayfs.
    pub fn set_opaque(&mut self, components: &[&[u8]]) -> io::Result<()> {
        self.parent(components)?; // creates it if needed
        let fd = self.resolve(components, OFlags::RDONLY | OFlags::DIRECTORY)?;
        rfs::fsetxattr(&fd, overlay::OPAQUE, b"y", XattrFlags::empty())?;
        Ok(())
    }

    pub fn set_dir_time(&self, components: &[&[u8]], sec: i64, nsec: u32) -> io::Result<()> {
        let fd = self.resolve(components, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)?;
        let t = timespec(sec, nsec);
        rfs::futimens(&fd, &Timestamps { last_access: t, last_modification: t })?;
        Ok(())
    }
}

/// Removes `name` under `dir` and, for a directory, everything in it,
/// never following symlinks; absent is fine.
fn remove_all(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match tanto_fs::remove_tree_at(dir, name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
