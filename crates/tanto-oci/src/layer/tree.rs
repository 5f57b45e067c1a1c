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
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, Dev, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use tanto_fs::{overlay, Resolve, Root};

use super::lower::{self, At, Entry, Level};

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
    /// The layers below, topmost first (`O_PATH`): only read.
    lowers: Vec<OwnedFd>,
    /// Directories copied up from a lower layer and their times, set back
    /// once their children are written.
    copied_up: Vec<(Vec<Vec<u8>>, Timestamps)>,
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
    /// `dest` over `lowers` (the layers below, topmost first; trusted
    /// paths). Fails with `ENOSYS` on kernels without `openat2`.
    pub fn open(dest: &Path, lowers: &[PathBuf]) -> io::Result<Tree> {
        let root = Root::open_with(dest, Resolve::InRootSameMount)?;
        let lowers = lowers
            .iter()
            .map(|l| {
                rfs::open(l, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(Into::into)
            })
            .collect::<io::Result<_>>()?;
        Ok(Tree { root, cache: None, privileged: tanto_fs::ids::can_own_all(), lowers, copied_up: Vec::new() })
    }

    /// Sets the times of the directories copied up back to the lower
    /// layer's (creating their children changed them); call before the
    /// layer's own directory times are set.
    pub fn restore_copied_up_times(&mut self) {
        for (path, times) in std::mem::take(&mut self.copied_up) {
            let components: Vec<&[u8]> = path.iter().map(|c| c.as_slice()).collect();
            let r = self
                .resolve(&components, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)
                .and_then(|fd| Ok(rfs::futimens(&fd, &times)?));
            if let Err(e) = r {
                tracing::debug!(path = %String::from_utf8_lossy(&join(&components)), error = %e, "cannot set the times of a copied-up directory");
            }
        }
    }

    /// Opens `components` (relative to the root) with `flags`.
    fn resolve(&self, components: &[&[u8]], flags: OFlags) -> io::Result<OwnedFd> {
        self.root.open_at(os(&join(components)), flags, Mode::empty())
    }

    /// The directory `components` as the merged view (this layer over the
    /// lower ones) has it, created in this layer if it is not there: a
    /// directory of a lower layer is copied up (its owner, mode, xattrs and
    /// times: an entry under `/tmp` leaves `/tmp` 1777), one that is nowhere
    /// is made with mode 0755, like containerd.
    fn parent(&mut self, components: &[&[u8]]) -> io::Result<Rc<OwnedFd>> {
        let key = join(components);
        if let Some((k, fd)) = &self.cache {
            if *k == key {
                return Ok(fd.clone());
            }
        }
        // All there in this layer: it shadows every lower one, so the merged
        // view resolves the same way.
        let fd = match self.resolve(components, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if matches!(errno(&e), libc::ENOENT | libc::ENOTDIR) => {
                self.walk(components, true)?.and_then(|l| l.up).ok_or(e)?
            }
            Err(e) => return Err(e),
        };
        let fd = Rc::new(fd);
        self.cache = Some((key, fd.clone()));
        Ok(fd)
    }

    /// Walks `components` through the merged view, following symlinks
    /// (dangling ones too, like containerd's `RootPath` + `MkdirAll`) inside
    /// the root. With `create`, what is missing in this layer is made (see
    /// [`Tree::parent`]) and the result always has `up`; without, nothing is
    /// written and `None` means the path is not there.
    fn walk(&mut self, components: &[&[u8]], create: bool) -> io::Result<Option<Level>> {
        let mut path: Vec<Vec<u8>> = components.iter().map(|c| c.to_vec()).collect();
        let mut expansions = 0;
        'restart: loop {
            let root = Level {
                up: Some(self.resolve(&[], OFlags::PATH | OFlags::DIRECTORY)?),
                low: self.lowers.iter().map(|l| l.try_clone()).collect::<io::Result<_>>()?,
            };
            // (name, directory) from the root down; `..` pops, stopping at the root
            let mut stack: Vec<(Vec<u8>, Level)> = vec![(Vec::new(), root)];
            for i in 0..path.len() {
                let name = path[i].clone();
                match &name[..] {
                    b"" | b"." => continue,
                    b".." => {
                        if stack.len() > 1 {
                            stack.pop();
                        }
                        continue;
                    }
                    _ => {}
                }
                let here = &stack.last().expect("the root is never popped").1;
                let next = match lower::lookup(here, &name)? {
                    Entry::Dir(level) if level.up.is_some() || !create => level,
                    Entry::Dir(Level { low, .. }) => {
                        let up = here.up.as_ref().expect("a creating walk has this layer's directory");
                        let (fd, times) = lower::copy_up_dir(up, &name, &low[0], self.privileged)?;
                        let mut at: Vec<Vec<u8>> = stack[1..].iter().map(|(n, _)| n.clone()).collect();
                        at.push(name.clone());
                        self.copied_up.push((at, times));
                        Level { up: Some(fd), low }
                    }
                    Entry::Symlink(target, _) => {
                        expansions += 1;
                        if expansions > 40 {
                            return Err(io::Error::from_raw_os_error(libc::ELOOP));
                        }
                        let mut next: Vec<Vec<u8>> = if target.starts_with(b"/") {
                            Vec::new()
                        } else {
                            stack[1..].iter().map(|(n, _)| n.clone()).collect()
                        };
                        next.extend(target.split(|b| *b == b'/').filter(|c| !c.is_empty()).map(|c| c.to_vec()));
                        next.extend(path[i + 1..].iter().cloned());
                        path = next;
                        continue 'restart;
                    }
                    Entry::Absent | Entry::WhiteoutUp if !create => return Ok(None),
                    entry @ (Entry::Absent | Entry::WhiteoutUp) => {
                        let up = here.up.as_ref().expect("a creating walk has this layer's directory");
                        let over_whiteout = matches!(entry, Entry::WhiteoutUp);
                        if over_whiteout {
                            // this layer deleted what was below: the directory
                            // it now implies starts empty (opaque), as overlayfs
                            // makes a directory created over a whiteout
                            self.cache = None;
                            rfs::unlinkat(up, os(&name), AtFlags::empty())?;
                        }
                        rfs::mkdirat(up, os(&name), Mode::from_raw_mode(0o755))?;
                        rfs::chmodat(up, os(&name), Mode::from_raw_mode(0o755), AtFlags::empty())?;
                        if over_whiteout {
                            let fd = rfs::openat(
                                up,
                                os(&name),
                                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                                Mode::empty(),
                            )?;
                            rfs::fsetxattr(&fd, overlay::opaque(), b"y", XattrFlags::empty())?;
                        }
                        let fd = rfs::openat(
                            up,
                            os(&name),
                            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )?;
                        Level { up: Some(fd), low: Vec::new() }
                    }
                    Entry::Other(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
                };
                stack.push((name, next));
            }
            return Ok(stack.pop().map(|(_, level)| level));
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
            Err(rustix::io::Errno::INVAL) if tanto_fs::ids::in_user_namespace() => Err(io::Error::other(format!(
                "the layer gives an entry an owner outside the IDs this user namespace maps (0-{}): give the user a subordinate range of 65536 IDs in /etc/subuid and /etc/subgid",
                tanto_fs::ids::mapped_ids().saturating_sub(1)
            ))),
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

    /// `name` becomes another name of `target` (a path inside the root, as
    /// the merged view has it). A target in a lower layer is copied up into
    /// this one first (as overlayfs does on `link`), so both names are one
    /// file of this layer. A missing target is `NotFound`.
    pub fn hardlink(&mut self, parent: &[&[u8]], name: &[u8], target: &[&[u8]]) -> io::Result<()> {
        let Some((tname, tparent)) = target.split_last() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let not_found = || io::Error::from(io::ErrorKind::NotFound);
        // the common case: a file this layer wrote (it shadows every lower one)
        if let Ok(tp) = self.resolve(tparent, OFlags::PATH | OFlags::DIRECTORY) {
            match rfs::statat(&tp, os(tname), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if overlay::is_whiteout(&st) => return Err(not_found()),
                Ok(_) => {
                    let p = self.parent(parent)?;
                    return self
                        .create_replacing(&p, name, || rfs::linkat(&tp, os(tname), &*p, os(name), AtFlags::empty()));
                }
                Err(_) => {}
            }
        }
        // read-only first: a link to nothing must not leave directories behind
        let level = self.walk(tparent, false)?.ok_or_else(not_found)?;
        let at = match lower::lookup(&level, tname)? {
            Entry::Other(at) | Entry::Symlink(_, at) => at,
            // hard links to directories are not a thing
            Entry::Dir(_) => return Err(io::Error::from_raw_os_error(libc::EPERM)),
            Entry::Absent | Entry::WhiteoutUp => return Err(not_found()),
        };
        let tp = match at {
            At::Up => level.up.expect("an entry of this layer has its directory"),
            At::Low(i) => {
                let up = self.walk(tparent, true)?.and_then(|l| l.up).ok_or_else(not_found)?;
                lower::copy_up_entry(&up, &level.low[i], tname, self.privileged)?;
                up
            }
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
        rfs::fsetxattr(&fd, overlay::opaque(), b"y", XattrFlags::empty())?;
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
