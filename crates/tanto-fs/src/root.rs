//! [`Root`]: a directory treated as `/`. Every path is resolved with
//! `openat2(RESOLVE_IN_ROOT)`, and entries are created with `*at` calls
//! relative to directory descriptors, so nothing — `..`, absolute symlinks,
//! symlinked parents — reaches outside the root.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

pub use rustix::fs::Stat;

use crate::overlay::is_whiteout;
use crate::path::{clean_abs, split_parent};
use crate::sys::{self, Resolve};
use crate::{passwd, FsError, Result};

pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// A path for `openat2` below the root ("." for the root itself).
fn rel(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        "."
    } else {
        p
    }
}

/// A directory treated as `/`.
pub struct Root {
    fd: OwnedFd,
    how: Resolve,
}

impl Root {
    /// Opens the directory at `path` (a trusted host path: symlinks in it are followed).
    pub fn open(path: &Path) -> Result<Root> {
        Root::open_with(path, Resolve::InRoot)
    }

    /// Like [`Root::open`], resolving paths below it as `how` says; checks
    /// that the kernel has `openat2` (Linux 5.6: `ENOSYS` before).
    pub fn open_with(path: &Path, how: Resolve) -> Result<Root> {
        let fd = rfs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let root = Root { fd, how };
        root.open_at(".", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok(root)
    }

    /// The root's own descriptor (`O_PATH`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` below the root with `flags` (and `mode` for a file it creates).
    pub fn open_at<P: rustix::path::Arg>(&self, path: P, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        sys::openat_resolved(&self.fd, path, flags, mode, self.how)
    }

    pub(crate) fn open_in(&self, path: &str, flags: OFlags, follow_last: bool) -> io::Result<OwnedFd> {
        let flags = if follow_last { flags } else { flags | OFlags::NOFOLLOW };
        self.open_at(rel(path), flags, Mode::empty())
    }

    /// The directory at `path` for reading, `None` when it does not exist.
    pub(crate) fn open_dir_opt(&self, path: &str) -> Result<Option<OwnedFd>> {
        match self.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the directory at `path`, creating missing components (root-owned,
    /// 0755, or `mode`/`owner` for the components it creates when given).
    pub fn mkdir_all(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) -> Result<OwnedFd> {
        let clean = clean_abs(path);
        let mut cur = String::from("/");
        let mut fd = self.open_in("/", OFlags::DIRECTORY | OFlags::RDONLY, true)?;
        for comp in clean.split('/').filter(|c| !c.is_empty()) {
            let next = if cur == "/" { format!("/{comp}") } else { format!("{cur}/{comp}") };
            match self.open_in(&next, OFlags::DIRECTORY | OFlags::RDONLY, true) {
                Ok(f) => fd = f,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    // A dangling symlink in the way is replaced by a directory.
                    if let Ok(st) = rfs::statat(&fd, comp, AtFlags::SYMLINK_NOFOLLOW) {
                        if file_type(&st) == FileType::Symlink || is_whiteout(&st) {
                            rfs::unlinkat(&fd, comp, AtFlags::empty())?;
                        }
                    }
                    match rfs::mkdirat(&fd, comp, Mode::from_raw_mode(mode)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    let child = dir_at(&fd, comp)?;
                    rfs::fchmod(&child, Mode::from_raw_mode(mode))?;
                    if let Some((u, g)) = owner {
                        chown_fd(&child, u, g)?;
                    }
                    fd = child;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(FsError::InTheWay(next)),
                Err(e) => return Err(e.into()),
            }
            cur = next;
        }
        Ok(fd)
    }

    /// The parent directory of `path` (created when `create`) and the final name.
    pub fn parent(&self, path: &str, create: bool) -> Result<(OwnedFd, String)> {
        let (parent, name) = split_parent(path);
        if name.is_empty() {
            return Err(FsError::RootItself);
        }
        let fd = if create {
            self.mkdir_all(&parent, 0o755, None)?
        } else {
            self.open_in(&parent, OFlags::DIRECTORY | OFlags::RDONLY, true)?
        };
        Ok((fd, name))
    }

    /// Opens the parent of `path` and stats the entry itself (not following a final symlink).
    pub(crate) fn entry(&self, path: &str) -> Result<(OwnedFd, String, Stat)> {
        let (dir, name) = self.parent(path, false)?;
        let st = rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| FsError::from(e).at(path))?;
        Ok((dir, name, st))
    }

    pub fn write_file(&self, path: &str, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
        let (dir, name) = self.parent(path, true)?;
        remove_if_not(&dir, &name, FileType::RegularFile)?;
        let fd = rfs::openat(
            &dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o7777),
        )?;
        let mut f = File::from(fd);
        f.write_all(data)?;
        rfs::fchmod(&f, Mode::from_raw_mode(mode & 0o7777))?;
        if let Some((u, g)) = owner {
            chown_fd(&f, u, g)?;
        }
        Ok(())
    }

    pub fn mkdir(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
        let fd = self.mkdir_all(path, mode, owner)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))?;
        if let Some((u, g)) = owner {
            chown_fd(&fd, u, g)?;
        }
        Ok(())
    }

    pub fn remove(&self, path: &str, allow_not_found: bool) -> Result<()> {
        let (dir, name) = match self.parent(path, false) {
            Ok(x) => x,
            Err(e) if allow_not_found && e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        match rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(remove_tree_at(&dir, &name)?),
            Err(rustix::io::Errno::NOENT) if allow_not_found => Ok(()),
            Err(e) => Err(FsError::from(e).at(path)),
        }
    }

    pub fn symlink(&self, target: &str, link: &str) -> Result<()> {
        let (dir, name) = self.parent(link, true)?;
        if rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            remove_tree_at(&dir, &name)?;
        }
        rfs::symlinkat(target, &dir, name.as_str())?;
        Ok(())
    }

    /// Opens a regular file for reading (symlinks followed inside the root).
    /// Anything else is refused before it is opened: opening a FIFO would
    /// wait for a writer, opening a device could act on it.
    pub fn open_file(&self, path: &str) -> Result<File> {
        Ok(self.open_regular(path)?.0)
    }

    fn open_regular(&self, path: &str) -> Result<(File, Stat)> {
        let fd = self.open_in(path, OFlags::PATH, true)?;
        let st = rfs::fstat(&fd)?;
        match file_type(&st) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(FsError::IsADirectory(path.to_string())),
            _ => return Err(FsError::NotAFile(path.to_string())),
        }
        Ok((File::from(sys::reopen(&fd, OFlags::RDONLY)?), st))
    }

    /// The contents of a regular file (symlinks followed inside the root).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let (mut f, st) = self.open_regular(path)?;
        let mut buf = Vec::with_capacity(st.st_size.max(0) as usize);
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// The entry at `path` (`None` when it does not exist or is a whiteout).
    pub fn stat(&self, path: &str, follow: bool) -> Result<Option<Stat>> {
        match self.open_in(path, OFlags::PATH, follow) {
            Ok(fd) => {
                let st = rfs::fstat(&fd)?;
                Ok(if is_whiteout(&st) { None } else { Some(st) })
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
            // O_PATH|O_NOFOLLOW on a symlink opens the link itself, so ELOOP means a loop.
            Err(e) => Err(e.into()),
        }
    }

    /// Entries of a directory, sorted by name, without overlay whiteouts.
    pub fn read_dir(&self, path: &str) -> Result<Vec<(String, Stat)>> {
        let fd = self.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOTDIR) {
                FsError::NotADirectory(path.to_string())
            } else {
                e.into()
            }
        })?;
        Ok(list(&fd)?)
    }

    /// Resolves an owner of files (`uid`, `uid:gid`, `user`, `user:group`,
    /// see [`passwd::resolve_owner`]) with the root's /etc/passwd and
    /// /etc/group. Empty = none.
    pub fn resolve_owner(&self, owner: &str) -> Result<Option<(u32, u32)>> {
        if owner.is_empty() {
            return Ok(None);
        }
        let text = |p: &str| String::from_utf8_lossy(&self.read_file(p).unwrap_or_default()).into_owned();
        passwd::resolve_owner(owner, &text("/etc/passwd"), &text("/etc/group"))
    }

    /// Opens `path` (following symlinks inside the root) for reading metadata.
    pub(crate) fn open_path(&self, path: &str) -> io::Result<OwnedFd> {
        self.open_in(path, OFlags::PATH, true)
    }
}

/// Opens the directory `name` in `dir` for reading, never following a symlink.
pub(crate) fn dir_at<Fd: AsFd>(dir: Fd, name: &str) -> io::Result<OwnedFd> {
    Ok(rfs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

pub(crate) fn chown_fd<Fd: AsFd>(fd: Fd, uid: u32, gid: u32) -> io::Result<()> {
    rfs::fchown(fd, Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))?;
    Ok(())
}

/// The entries of an open directory (not `.`/`..`), sorted by name, without
/// overlay whiteouts.
pub(crate) fn list(fd: &OwnedFd) -> io::Result<Vec<(String, Stat)>> {
    let mut out = Vec::new();
    let mut dir = rfs::Dir::read_from(fd)?;
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let st = rfs::statat(fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if is_whiteout(&st) {
            continue;
        }
        out.push((name, st));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Removes `name` in `dir` unless it already is of type `keep`.
pub(crate) fn remove_if_not(dir: &OwnedFd, name: &str, keep: FileType) -> io::Result<()> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if file_type(&st) == keep => Ok(()),
        Ok(_) => remove_tree_at(dir, name),
        Err(_) => Ok(()),
    }
}

/// Removes the file, link or whole directory tree `name` of the directory
/// `dir`, never following a symlink. A missing `name` is `NotFound`.
pub fn remove_tree_at<Fd: AsFd, P: rustix::path::Arg + Copy>(dir: Fd, name: P) -> io::Result<()> {
    let dir = dir.as_fd();
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if file_type(&st) == FileType::Directory {
        let child = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        for e in rfs::Dir::read_from(&child)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        for n in names {
            remove_tree_at(&child, OsStr::from_bytes(&n))?;
        }
        rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rfs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}
