//! More file operations inside a [`Root`]: create-if-missing directories,
//! recursive chown and timestamps, text replacement. Paths resolve with
//! `RESOLVE_IN_ROOT`; entries below are reached with `*at` calls and never
//! followed.

use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{self as rfs, AtFlags, FileType, OFlags, Timespec, Timestamps};

use crate::path::clean_abs;
use crate::root::{dir_at, file_type, list, Root, Stat};
use crate::{FsError, Result};

/// Creates `path` (and missing parents) unless it is already a directory;
/// `owner` is resolved only when something is created.
pub fn ensure_dir(root: &Root, path: &str, mode: u32, owner: &str) -> Result<()> {
    if root.stat(path, true)?.is_some_and(|st| file_type(&st) == FileType::Directory) {
        return Ok(());
    }
    let owner = root.resolve_owner(owner)?;
    root.mkdir_all(path, mode, owner).map(|_| ())
}

/// Calls `f` on `name` of `dir` and, for a directory, first on everything below it.
fn walk(dir: &OwnedFd, name: &str, st: &Stat, f: &dyn Fn(&OwnedFd, &str) -> io::Result<()>) -> io::Result<()> {
    if file_type(st) == FileType::Directory {
        let child = dir_at(dir, name)?;
        for (n, s) in list(&child)? {
            walk(&child, &n, &s, f)?;
        }
    }
    f(dir, name)
}

/// Calls `set` on `path` and everything below it; for the root, `set_top` on the root itself.
fn walk_path(
    root: &Root,
    path: &str,
    set: &dyn Fn(&OwnedFd, &str) -> io::Result<()>,
    set_top: &dyn Fn(&OwnedFd) -> io::Result<()>,
) -> Result<()> {
    if clean_abs(path) == "/" {
        let top = root.mkdir_all("/", 0o755, None)?;
        for (n, s) in list(&top)? {
            walk(&top, &n, &s, set)?;
        }
        return Ok(set_top(&top)?);
    }
    let (dir, name, st) = root.entry(path)?;
    Ok(walk(&dir, &name, &st, set)?)
}

/// Sets the owner of `path` and everything below it (symlinks themselves, not their targets).
pub fn chown(root: &Root, path: &str, uid: u32, gid: u32) -> Result<()> {
    let (u, g) = (Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)));
    walk_path(root, path, &|dir, name| Ok(rfs::chownat(dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW)?), &|top| {
        Ok(rfs::fchown(top, u, g)?)
    })
}

/// Sets the access and modification times of `path` and everything below it.
pub fn timestamps(root: &Root, path: &str, secs: i64) -> Result<()> {
    let ts = Timespec { tv_sec: secs as _, tv_nsec: 0 };
    let times = Timestamps { last_access: ts, last_modification: ts };
    walk_path(root, path, &|dir, name| Ok(rfs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?), &|top| {
        Ok(rfs::futimens(top, &times)?)
    })
}

/// The text of `data` with `search` replaced: every match with `all`, else
/// the only one, or the first from line `first_from` (1-based) when given.
pub fn replaced(data: &str, search: &str, replacement: &str, all: bool, first_from: Option<u64>) -> Result<String> {
    if search.is_empty() {
        return Err(FsError::Replace("the search string must not be empty".into()));
    }
    let start = match first_from {
        Some(n) if n > 1 => match data.match_indices('\n').nth(n as usize - 2) {
            Some((i, _)) => i + 1,
            None => return Err(FsError::Replace(format!("the file has fewer than {n} lines"))),
        },
        _ => 0,
    };
    let (head, tail) = data.split_at(start);
    if !tail.contains(search) {
        return Err(FsError::Replace(format!(
            "`{search}` was not found{}",
            if start > 0 { format!(" from line {}", first_from.unwrap_or(1)) } else { String::new() }
        )));
    }
    if !all && first_from.is_none() {
        let n = tail.matches(search).count();
        if n > 1 {
            return Err(FsError::Replace(format!(
                "`{search}` matches {n} times: pass `all` to replace every match or `firstFrom` to pick the first from a line"
            )));
        }
    }
    let tail = if all { tail.replace(search, replacement) } else { tail.replacen(search, replacement, 1) };
    Ok(format!("{head}{tail}"))
}

/// Replaces text in the regular file at `path` (see [`replaced`]), keeping its mode and owner.
pub fn replace(
    root: &Root,
    path: &str,
    search: &str,
    replacement: &str,
    all: bool,
    first_from: Option<u64>,
) -> Result<()> {
    let fd = root.open_in(path, OFlags::RDWR, true)?;
    if file_type(&rfs::fstat(&fd)?) != FileType::RegularFile {
        return Err(FsError::NotAFile(path.to_string()));
    }
    let mut f = std::fs::File::from(fd);
    let mut data = String::new();
    f.read_to_string(&mut data).map_err(|_| FsError::NotText(path.to_string()))?;
    let out = replaced(&data, search, replacement, all, first_from)?;
    rfs::ftruncate(&f, 0)?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(f.write_all(out.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_cases() {
        let text = "a=1\nb=1\nc=1\n";
        // (search, replacement, all, first_from, expected text or error)
        for (search, rep, all, from, want) in [
            ("a=1", "a=2", false, None, Ok("a=2\nb=1\nc=1\n")),
            ("1", "2", false, None, Err("`1` matches 3 times")),
            ("1", "2", true, None, Ok("a=2\nb=2\nc=2\n")),
            ("1", "2", false, Some(2), Ok("a=1\nb=2\nc=1\n")),
            ("1", "2", true, Some(3), Ok("a=1\nb=1\nc=2\n")),
            ("x", "2", false, None, Err("`x` was not found")),
            ("a", "2", false, Some(2), Err("`a` was not found from line 2")),
            ("1", "2", false, Some(9), Err("fewer than 9 lines")),
            ("", "2", false, None, Err("must not be empty")),
        ] {
            let got = replaced(text, search, rep, all, from).map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{search} {from:?}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{search} {from:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn recursive_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("d/e")).unwrap();
        std::fs::write(tmp.path().join("d/e/f"), "f").unwrap();
        std::os::unix::fs::symlink("/nowhere", tmp.path().join("d/link")).unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let mtime = |p: &str| std::fs::symlink_metadata(tmp.path().join(p)).unwrap().modified().unwrap();
        let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        // (path, seconds, paths that get them)
        let cases: &[(&str, i64, &[&str])] = &[("/d/e", 1000, &["d/e", "d/e/f"]), ("/", 2000, &["", "d", "d/link"])];
        for (path, secs, changed) in cases {
            timestamps(&root, path, *secs).unwrap();
            for p in *changed {
                assert_eq!(mtime(p), at(*secs as u64), "{path}: {p}");
            }
        }
        let e = timestamps(&root, "/missing", 1).unwrap_err();
        assert!(e.is_not_found() && e.to_string().starts_with("`/missing`: "), "{e}");
    }
}
