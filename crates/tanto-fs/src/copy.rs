//! Copies between two [`Root`]s, with a [`Filter`] (include/exclude patterns,
//! `.gitignore` files) and optionally another mode or owner. Sources are
//! read through descriptors (`*at` calls that never follow a symlink below
//! the copied path); symlinks are copied as symlinks.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use crate::path::base_name;
use crate::root::{chown_fd, dir_at, file_type, list, remove_if_not, remove_tree_at, Root, Stat};
use crate::{sys, Filter, FsError, Result};

/// Options of a copy.
pub struct CopyOpts<'a> {
    pub filter: &'a Filter,
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}

/// Copies `src_path` of `src` to `dst_path` of `dst`: a directory's contents
/// go into `dst_path`; a file becomes `dst_path` (or goes inside it when
/// `dst_path` ends with `/` or is an existing directory).
pub fn copy(src: &Root, src_path: &str, dst: &Root, dst_path: &str, opts: &CopyOpts<'_>) -> Result<()> {
    let fd = src.open_path(src_path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            FsError::SourceNotFound(src_path.to_string())
        } else {
            e.into()
        }
    })?;
    let st = rfs::fstat(&fd)?;
    if file_type(&st) == FileType::Directory {
        let sdir = rfs::openat(&fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let ddir = dst.mkdir_all(dst_path, 0o755, opts.owner)?;
        Ok(copy_dir(&sdir, &ddir, "", opts)?)
    } else {
        let into_dir =
            dst_path.ends_with('/') || dst.stat(dst_path, true)?.is_some_and(|s| file_type(&s) == FileType::Directory);
        let dest = if into_dir {
            format!("{}/{}", dst_path.trim_end_matches('/'), base_name(src_path))
        } else {
            dst_path.to_string()
        };
        let (ddir, name) = dst.parent(&dest, true)?;
        let sfile = sys::reopen(&fd, OFlags::RDONLY)?;
        Ok(copy_file(&sfile, &st, &ddir, &name, opts)?)
    }
}

fn copy_dir(sdir: &OwnedFd, ddir: &OwnedFd, prefix: &str, opts: &CopyOpts<'_>) -> io::Result<()> {
    opts.filter.enter(prefix, sdir);
    let res = (|| {
        for (name, st) in list(sdir)? {
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            copy_child(sdir, ddir, &name, &st, &rel, opts, true)?;
        }
        Ok(())
    })();
    opts.filter.leave();
    res
}

/// Copies the entry `name` of `sdir` (stat `st`, path `rel` below the copied
/// directory) into `ddir`, as part of a directory copy: a directory is merged
/// into one already there (with its contents when `recursive`), anything else
/// replaces what is there; metadata comes from the source unless `opts` say.
fn copy_child(
    sdir: &OwnedFd,
    ddir: &OwnedFd,
    name: &str,
    st: &Stat,
    rel: &str,
    opts: &CopyOpts<'_>,
    recursive: bool,
) -> io::Result<()> {
    let ft = file_type(st);
    if opts.filter.excluded(rel) || opts.filter.git_ignored(rel, ft == FileType::Directory) {
        return Ok(());
    }
    if ft == FileType::Directory {
        let child_src = dir_at(sdir, name)?;
        let included_here = opts.filter.included(rel);
        if !included_here && !has_included(&child_src, rel, opts.filter)? {
            return Ok(());
        }
        let child_dst = make_dir(ddir, name)?;
        if recursive {
            copy_dir(&child_src, &child_dst, rel, opts)?;
        }
        return apply_meta(&child_dst, st, opts.mode, opts.owner);
    }
    if !opts.filter.included(rel) {
        return Ok(());
    }
    copy_leaf(sdir, ddir, name, st, opts, rel)
}

/// Makes `name` in `ddir` a directory (keeping one already there) and opens it.
pub(crate) fn make_dir(ddir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    remove_if_not(ddir, name, FileType::Directory)?;
    match rfs::mkdirat(ddir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    dir_at(ddir, name)
}

/// Copies the non-directory `name` of `sdir` (stat `st`) over whatever `ddir`
/// has under that name; `what` names it in warnings.
pub(crate) fn copy_leaf(
    sdir: &OwnedFd,
    ddir: &OwnedFd,
    name: &str,
    st: &Stat,
    opts: &CopyOpts<'_>,
    what: &str,
) -> io::Result<()> {
    let ft = file_type(st);
    match ft {
        FileType::RegularFile => {
            let f = rfs::openat(sdir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            copy_file(&f, st, ddir, name, opts)?;
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(sdir, name, Vec::new())?;
            if rfs::statat(ddir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                remove_tree_at(ddir, name)?;
            }
            rfs::symlinkat(target.as_c_str(), ddir, name)?;
            let (u, g) = opts.owner.unwrap_or((st.st_uid, st.st_gid));
            rfs::chownat(
                ddir,
                name,
                Some(rfs::Uid::from_raw(u)),
                Some(rfs::Gid::from_raw(g)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        _ => {
            if rfs::statat(ddir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                remove_tree_at(ddir, name)?;
            }
            if let Err(e) = rfs::mknodat(ddir, name, ft, Mode::from_raw_mode(st.st_mode & 0o7777), st.st_rdev) {
                tracing::warn!(path = what, error = %e, "skipping a special file that cannot be created");
            }
        }
    }
    Ok(())
}

/// Copies the single entry at `src_path` to `dst_path` (whose parent must
/// exist) as a directory copy would copy it as a child: see [`copy_child`].
/// Returns false when `src_path` does not exist.
pub fn copy_entry(
    src: &Root,
    src_path: &str,
    dst: &Root,
    dst_path: &str,
    opts: &CopyOpts<'_>,
    recursive: bool,
) -> Result<bool> {
    let (sdir, name) = match src.parent(src_path, false) {
        Ok(x) => x,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    let st = match rfs::statat(&sdir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let (ddir, dname) = dst.parent(dst_path, false)?;
    if dname != name {
        return Err(FsError::Rename { from: src_path.to_string(), to: dst_path.to_string() });
    }
    copy_child(&sdir, &ddir, &name, &st, &name, opts, recursive)?;
    Ok(true)
}

/// Applies `st`'s (or the given) owner, mode and modification time to the
/// directory at `path`, as a directory copy does for the directories it copies.
pub fn set_dir_meta(dst: &Root, path: &str, st: &Stat, opts: &CopyOpts<'_>) -> Result<()> {
    let dir = dst.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, false)?;
    Ok(apply_meta(&dir, st, opts.mode, opts.owner)?)
}

/// Whether anything below `dir` is included (so the directory must be created).
fn has_included(dir: &OwnedFd, prefix: &str, filter: &Filter) -> io::Result<bool> {
    if !filter.has_includes() {
        return Ok(true);
    }
    for (name, st) in list(dir)? {
        let rel = format!("{prefix}/{name}");
        if filter.excluded(&rel) {
            continue;
        }
        if filter.included(&rel) {
            return Ok(true);
        }
        if file_type(&st) == FileType::Directory && has_included(&dir_at(dir, &name)?, &rel, filter)? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn copy_file(src: &OwnedFd, st: &Stat, ddir: &OwnedFd, name: &str, opts: &CopyOpts<'_>) -> io::Result<()> {
    remove_if_not(ddir, name, FileType::RegularFile)?;
    let dfd = rfs::openat(
        ddir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut dfile = File::from(dfd);
    let mut sfile = File::from(src.try_clone()?);
    io::copy(&mut sfile, &mut dfile)?;
    apply_meta(&dfile, st, opts.mode, opts.owner)
}

/// Owner, mode (after the owner: chown clears setuid) and modification time.
pub(crate) fn apply_meta<Fd: AsFd>(fd: Fd, st: &Stat, mode: Option<u32>, owner: Option<(u32, u32)>) -> io::Result<()> {
    let (u, g) = owner.unwrap_or((st.st_uid, st.st_gid));
    chown_fd(&fd, u, g)?;
    rfs::fchmod(&fd, Mode::from_raw_mode(mode.unwrap_or(st.st_mode) & 0o7777))?;
    let ts = Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ };
    rfs::futimens(&fd, &Timestamps { last_access: ts, last_modification: ts })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{files, write_tree};

    #[test]
    fn copies_leave_out_what_gitignore_files_ignore() {
        let src = tempfile::tempdir().unwrap();
        write_tree(
            src.path(),
            &[
                (".gitignore", "*.log\nbuild/\n/top-only.txt\n"),
                ("a.txt", "a"),
                ("a.log", "log"),
                ("top-only.txt", "x"),
                ("build/out.bin", "bin"),
                ("sub/.gitignore", "!keep.log\nsecret.txt\n"),
                ("sub/keep.log", "kept"),
                ("sub/drop.log", "dropped"),
                ("sub/secret.txt", "s"),
                ("sub/top-only.txt", "anchored patterns only match at their own level"),
            ],
        );
        // (gitignore, expected tree)
        let cases: [(bool, &[&str]); 2] = [
            (true, &[".gitignore", "a.txt", "sub/", "sub/.gitignore", "sub/keep.log", "sub/top-only.txt"]),
            (
                false,
                &[
                    ".gitignore",
                    "a.log",
                    "a.txt",
                    "build/",
                    "build/out.bin",
                    "sub/",
                    "sub/.gitignore",
                    "sub/drop.log",
                    "sub/keep.log",
                    "sub/secret.txt",
                    "sub/top-only.txt",
                    "top-only.txt",
                ],
            ),
        ];
        for (gitignore, want) in cases {
            let dst = tempfile::tempdir().unwrap();
            let filter = Filter::none().with_gitignore(gitignore);
            let opts = CopyOpts { filter: &filter, mode: None, owner: None };
            copy(&Root::open(src.path()).unwrap(), "/", &Root::open(dst.path()).unwrap(), "/", &opts).unwrap();
            assert_eq!(files(dst.path()), want, "gitignore: {gitignore}");
        }
    }

    #[test]
    fn copies_stay_inside_their_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst, outside) = (tmp.path().join("src"), tmp.path().join("dst"), tmp.path().join("outside"));
        write_tree(&src, &[("dir/a.txt", "a"), ("f.txt", "f")]);
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        // symlinks in the destination that point out of it are replaced or resolved inside
        std::os::unix::fs::symlink(&outside, dst.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside", dst.join("rel")).unwrap();
        let filter = Filter::none();
        let opts = CopyOpts { filter: &filter, mode: None, owner: None };
        let (s, d) = (Root::open(&src).unwrap(), Root::open(&dst).unwrap());
        // (source path, destination path)
        let cases =
            [("/dir", "/abs"), ("/dir", "/rel/sub"), ("/f.txt", "/abs/x.txt"), ("/../../f.txt", "/../../g.txt")];
        for (from, to) in cases {
            copy(&s, from, &d, to, &opts).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        }
        assert_eq!(files(&outside), Vec::<String>::new(), "nothing written outside the root");
        assert!(dst.join("g.txt").is_file());
        let e = copy(&s, "/missing", &d, "/x", &opts).unwrap_err();
        assert_eq!(e.to_string(), "`/missing` not found in the source");
    }
}
