//! The layers below the one being applied, seen through this one as
//! overlayfs shows them: an entry of this layer hides the same path below, a
//! whiteout hides it, an opaque directory hides everything below it in lower
//! layers, and the directories of several layers at one path merge.
//!
//! Lower layers are only read, through descriptors: each step opens one
//! name relative to its directory's descriptor with `O_NOFOLLOW`, so no
//! lookup leaves a layer's directory (`..` is never opened here: the walk in
//! `tree.rs` keeps its own stack). What is copied up (directories a layer
//! implies, a lower file a hard link names) is created in this layer with
//! `*at` calls that never follow the new name.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid};
use tanto_fs::overlay;

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn path_fd(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        os(name),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Whether the directory `name` in `dir` carries an opaque marker (a
/// directory we cannot read is taken as not opaque: only privileged
/// overlays have markers, and they can read everything).
fn is_opaque(dir: impl AsFd, name: &[u8]) -> bool {
    rfs::openat(dir, os(name), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .is_ok_and(overlay::has_opaque_marker)
}

/// One directory of the merged view during a walk.
pub(super) struct Level {
    /// The directory in the layer being applied, if it is there (always
    /// when the walk creates what is missing). `O_PATH`.
    pub up: Option<OwnedFd>,
    /// The lower layers' directories at the same path that show through,
    /// topmost first. `O_PATH`.
    pub low: Vec<OwnedFd>,
}

/// Where a non-directory entry of the merged view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    Up,
    /// In `Level::low[i]`.
    Low(usize),
}

/// What a name in a [`Level`] is in the merged view.
pub(super) enum Entry {
    Absent,
    /// A whiteout in the layer being applied (it hides what is below).
    WhiteoutUp,
    /// A directory: this layer's (if it has it) and the lower ones showing through.
    Dir(Level),
    /// A symlink (its target) and where it is.
    Symlink(Vec<u8>, At),
    /// A file, device, fifo or socket.
    Other(At),
}

/// The lower directories named `name` below `lows` that merge into one,
/// topmost first: down to the first opaque one, or to a non-directory or
/// whiteout that hides the rest.
fn lower_dirs(lows: &[OwnedFd], name: &[u8]) -> io::Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for l in lows {
        let st = match rfs::statat(l, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            break; // a whiteout, a file or a symlink hides what is below it
        }
        out.push(path_fd(l, name)?);
        if is_opaque(l, name) {
            break;
        }
    }
    Ok(out)
}

/// What `name` is in the directory `level`.
pub(super) fn lookup(level: &Level, name: &[u8]) -> io::Result<Entry> {
    if let Some(up) = &level.up {
        match rfs::statat(up, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if overlay::is_whiteout(&st) => return Ok(Entry::WhiteoutUp),
            Ok(st) => {
                return Ok(match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory => {
                        let low = if level.low.is_empty() || is_opaque(up, name) {
                            Vec::new()
                        } else {
                            lower_dirs(&level.low, name)?
                        };
                        Entry::Dir(Level { up: Some(path_fd(up, name)?), low })
                    }
                    FileType::Symlink => {
                        Entry::Symlink(rfs::readlinkat(up, os(name), Vec::new())?.into_bytes(), At::Up)
                    }
                    _ => Entry::Other(At::Up),
                })
            }
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (i, l) in level.low.iter().enumerate() {
        let st = match rfs::statat(l, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if overlay::is_whiteout(&st) {
            return Ok(Entry::Absent);
        }
        return Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Entry::Dir(Level { up: None, low: lower_dirs(&level.low[i..], name)? }),
            FileType::Symlink => Entry::Symlink(rfs::readlinkat(l, os(name), Vec::new())?.into_bytes(), At::Low(i)),
            _ => Entry::Other(At::Low(i)),
        });
    }
    Ok(Entry::Absent)
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec { tv_sec: st.st_atime as _, tv_nsec: st.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ },
    }
}

/// Owner changes an unprivileged apply cannot make are skipped, as for entries of the layer.
fn chown_ok(r: rustix::io::Result<()>, privileged: bool) -> io::Result<()> {
    match r {
        Err(rustix::io::Errno::PERM | rustix::io::Errno::INVAL) if !privileged => Ok(()),
        r => Ok(r?),
    }
}

/// Copies the extended attributes of `from` to `to` but overlayfs' own
/// (what overlayfs copy-up keeps: file capabilities, ACLs, user attributes).
fn copy_xattrs(from: &File, to: &File, what: &[u8]) {
    use xattr::FileExt as _;
    let Ok(names) = from.list_xattr() else { return };
    for name in names {
        if overlay::is_overlay_xattr(name.as_bytes()) {
            continue;
        }
        let Ok(Some(value)) = from.get_xattr(&name) else { continue };
        if let Err(e) = to.set_xattr(&name, &value) {
            tracing::debug!(entry = %String::from_utf8_lossy(what), xattr = %name.to_string_lossy(), error = %e, "cannot copy xattr up");
        }
    }
}

/// Creates the directory `name` in `parent` (this layer) as a copy of the
/// lower directory `lower` (owner, mode, xattrs; not its entries: they show
/// through). Returns its `O_PATH` descriptor and the times to set on it
/// once its children are written.
pub(super) fn copy_up_dir(
    parent: &OwnedFd,
    name: &[u8],
    lower: &OwnedFd,
    privileged: bool,
) -> io::Result<(OwnedFd, Timestamps)> {
    let st = rfs::fstat(lower)?;
    rfs::mkdirat(parent, os(name), Mode::from_raw_mode(0o700))?;
    let dir = File::from(rfs::openat(
        parent,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    chown_ok(rfs::fchown(&dir, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid))), privileged)?;
    rfs::fchmod(&dir, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    if let Ok(src) = rfs::openat(lower, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        copy_xattrs(&File::from(src), &dir, name);
    }
    Ok((path_fd(parent, name)?, times(&st)))
}

/// Copies the non-directory `name` of the lower directory `lower` into
/// `parent` (this layer), as overlayfs copies a file up before linking it:
/// contents, owner, mode, xattrs and times.
pub(super) fn copy_up_entry(parent: &OwnedFd, lower: &OwnedFd, name: &[u8], privileged: bool) -> io::Result<()> {
    let st = rfs::statat(lower, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    let (uid, gid) = (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    match ft {
        FileType::RegularFile => {
            let mut src = File::from(rfs::openat(
                lower,
                os(name),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?);
            let mut dst = File::from(rfs::openat(
                parent,
                os(name),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?);
            io::copy(&mut src, &mut dst)?;
            chown_ok(rfs::fchown(&dst, uid, gid), privileged)?;
            rfs::fchmod(&dst, mode)?;
            copy_xattrs(&src, &dst, name);
            rfs::futimens(&dst, &times(&st))?;
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(lower, os(name), Vec::new())?;
            rfs::symlinkat(target.as_c_str(), parent, os(name))?;
            chown_ok(rfs::chownat(parent, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW), privileged)?;
            rfs::utimensat(parent, os(name), &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {
            rfs::mknodat(parent, os(name), ft, mode, st.st_rdev)?;
            chown_ok(rfs::chownat(parent, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW), privileged)?;
            // a fresh node, never a symlink: chmodat may follow
            rfs::chmodat(parent, os(name), mode, AtFlags::empty())?;
            rfs::utimensat(parent, os(name), &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        _ => return Err(io::Error::from_raw_os_error(libc::EPERM)), // a directory: never hard-linked
    }
    Ok(())
}
