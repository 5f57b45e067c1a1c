//! The kernel calls that keep a lookup inside its directory: `openat2` with
//! resolve flags (the only place in the workspace that sets them), reopening
//! an `O_PATH` descriptor, and extended attributes read without following a
//! symlink. There is no `unsafe` here; each call that must not escape its
//! directory carries a `// SAFETY (containment):` note instead.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};

/// How a path below a directory descriptor is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The directory is `/`: `..` stops at it and absolute symlinks restart
    /// at it; `/proc/*/fd`-style magic links are refused.
    InRoot,
    /// [`Resolve::InRoot`], and the lookup never crosses a mount point (layer apply).
    InRootSameMount,
    /// Strictly below the directory through no symlink at all (a final
    /// symlink is opened as itself with `O_PATH | O_NOFOLLOW`, else refused).
    Beneath,
}

impl Resolve {
    fn flags(self) -> ResolveFlags {
        match self {
            Resolve::InRoot => ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            Resolve::InRootSameMount => ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
            Resolve::Beneath => ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        }
    }
}

/// Opens `path` below the directory `dir` as `how` says (`O_CLOEXEC` is always
/// added). Fails with `ENOSYS` on kernels without `openat2` (before 5.6).
pub fn openat_resolved<Fd: AsFd, P: rustix::path::Arg>(
    dir: Fd,
    path: P,
    flags: OFlags,
    mode: Mode,
    how: Resolve,
) -> io::Result<OwnedFd> {
    // SAFETY (containment): with RESOLVE_IN_ROOT the kernel treats `dir` as `/` for the
    // whole lookup (`..` and absolute symlinks included); RESOLVE_BENEATH refuses to
    // leave `dir` and NO_SYMLINKS any symlink; NO_MAGICLINKS refuses /proc/*/fd jumps.
    Ok(rfs::openat2(dir, path, flags | OFlags::CLOEXEC, mode, how.flags())?)
}

/// Reopens an `O_PATH` descriptor with `flags` (through `/proc/self/fd`: the
/// same inode, no path lookup that could be raced).
pub fn reopen(fd: &OwnedFd, flags: OFlags) -> io::Result<OwnedFd> {
    // SAFETY (containment): `/proc/self/fd/N` names the inode `fd` already refers to.
    Ok(rfs::open(format!("/proc/self/fd/{}", fd.as_raw_fd()), flags | OFlags::CLOEXEC, Mode::empty())?)
}

/// The value of extended attribute `name` of `path` (not following a final
/// symlink), whatever its length, if it is set.
pub fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let len = rfs::lgetxattr_query(path, name).ok()?;
    let mut buf = vec![0u8; len];
    let n = rfs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Whether extended attribute `name` is set on the open file `fd`.
pub fn fhasxattr<Fd: AsFd>(fd: Fd, name: &str) -> bool {
    rfs::fgetxattr_query(fd, name).is_ok()
}
