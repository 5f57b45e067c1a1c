//! More file operations inside a [`Root`]: create-if-missing directories,
//! recursive chown and timestamps, text replacement and directory diffs.
//! Same rules as the parent module: paths resolve with `RESOLVE_IN_ROOT`,
//! entries below are reached with `*at` calls and never followed.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use super::{copy_file, file_type, list, remove_entry, CopyOpts, Filter, Root};

mod patch;

fn dir_at(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    Ok(rfs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

/// Creates `path` (and missing parents) unless it is already a directory;
/// `owner` is resolved only when something is created.
pub fn ensure_dir(root: &Root, path: &str, mode: u32, owner: &str) -> io::Result<()> {
    if root.stat(path, true)?.is_some_and(|st| file_type(&st) == FileType::Directory) {
        return Ok(());
    }
    let owner = root.resolve_owner(owner)?;
    root.mkdir_all(path, mode, owner).map(|_| ())
}

/// Opens the parent of `path` and stats the entry itself (not following a final symlink).
fn entry(root: &Root, path: &str) -> io::Result<(OwnedFd, String, rfs::Stat)> {
    let (dir, name) = root.parent(path, false)?;
    let st = rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("`{path}`: {e}")))?;
    Ok((dir, name, st))
}

fn walk(dir: &OwnedFd, name: &str, st: &rfs::Stat, f: &dyn Fn(&OwnedFd, &str) -> io::Result<()>) -> io::Result<()> {
    if file_type(st) == FileType::Directory {
        let child = dir_at(dir, name)?;
        for (n, s) in list(&child)? {
            walk(&child, &n, &s, f)?;
        }
    }
    f(dir, name)
}

/// Sets the owner of `path` and everything below it (symlinks themselves, not their targets).
pub fn chown(root: &Root, path: &str, uid: u32, gid: u32) -> io::Result<()> {
    let set = |dir: &OwnedFd, name: &str| -> io::Result<()> {
        rfs::chownat(
            dir,
            name,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    };
    if crate::paths_clean(path) == "/" {
        let top = root.mkdir_all("/", 0o755, None)?;
        for (n, s) in list(&top)? {
            walk(&top, &n, &s, &set)?;
        }
        return Ok(rfs::fchown(&top, Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))?);
    }
    let (dir, name, st) = entry(root, path)?;
    walk(&dir, &name, &st, &set)
}

/// Sets the access and modification times of `path` and everything below it.
pub fn timestamps(root: &Root, path: &str, secs: i64) -> io::Result<()> {
    let ts = Timespec { tv_sec: secs as _, tv_nsec: 0 };
    let times = Timestamps { last_access: ts, last_modification: ts };
    let set = |dir: &OwnedFd, name: &str| -> io::Result<()> {
        rfs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    };
    if crate::paths_clean(path) == "/" {
        let top = root.mkdir_all("/", 0o755, None)?;
        for (n, s) in list(&top)? {
            walk(&top, &n, &s, &set)?;
        }
        return Ok(rfs::futimens(&top, &times)?);
    }
    let (dir, name, st) = entry(root, path)?;
    walk(&dir, &name, &st, &set)
}

/// The text of `data` with `search` replaced (see [`tanto_model::FileAction::Replace`]).
pub fn replaced(
    data: &str,
    search: &str,
    replacement: &str,
    all: bool,
    first_from: Option<u64>,
) -> Result<String, String> {
    if search.is_empty() {
        return Err("the search string must not be empty".into());
    }
    let start = match first_from {
        Some(n) if n > 1 => match data.match_indices('\n').nth(n as usize - 2) {
            Some((i, _)) => i + 1,
            None => return Err(format!("the file has fewer than {n} lines")),
        },
        _ => 0,
    };
    let (head, tail) = data.split_at(start);
    if !tail.contains(search) {
        return Err(format!(
            "`{search}` was not found{}",
            if start > 0 { format!(" from line {}", first_from.unwrap_or(1)) } else { String::new() }
        ));
    }
    if !all && first_from.is_none() {
        let n = tail.matches(search).count();
        if n > 1 {
            return Err(format!("`{search}` matches {n} times: pass `all` to replace every match or `firstFrom` to pick the first from a line"));
        }
    }
    let tail = if all { tail.replace(search, replacement) } else { tail.replacen(search, replacement, 1) };
    Ok(format!("{head}{tail}"))
}

/// Replaces text in the regular file at `path`, keeping its mode and owner.
pub fn replace(
    root: &Root,
    path: &str,
    search: &str,
    replacement: &str,
    all: bool,
    first_from: Option<u64>,
) -> io::Result<()> {
    let fd = root.open_in(path, OFlags::RDWR, true)?;
    let st = rfs::fstat(&fd)?;
    if file_type(&st) != FileType::RegularFile {
        return Err(io::Error::other(format!("`{path}` is not a regular file")));
    }
    let mut f = std::fs::File::from(fd);
    let mut data = String::new();
    f.read_to_string(&mut data)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("`{path}` is not UTF-8 text")))?;
    let out = replaced(&data, search, replacement, all, first_from)
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e))?;
    rfs::ftruncate(&f, 0)?;
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(0))?;
    f.write_all(out.as_bytes())
}

fn same_content(a: &OwnedFd, b: &OwnedFd) -> io::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::from(a.try_clone()?), std::fs::File::from(b.try_clone()?));
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = fa.read(&mut ba)?;
        let mut nb = 0;
        while nb < na {
            let n = fb.read(&mut bb[nb..na])?;
            if n == 0 {
                return Ok(false);
            }
            nb += n;
        }
        if na == 0 {
            return Ok(fb.read(&mut bb[..1])? == 0);
        }
        if ba[..na] != bb[..na] {
            return Ok(false);
        }
    }
}

/// Whether entry `name` is the same in `lower` and `upper` (type, mode, owner, content or target).
fn unchanged(lower: &OwnedFd, upper: &OwnedFd, name: &str, ust: &rfs::Stat) -> io::Result<bool> {
    let Ok(lst) = rfs::statat(lower, name, AtFlags::SYMLINK_NOFOLLOW) else { return Ok(false) };
    let ft = file_type(ust);
    if file_type(&lst) != ft || lst.st_mode != ust.st_mode || lst.st_uid != ust.st_uid || lst.st_gid != ust.st_gid {
        return Ok(false);
    }
    Ok(match ft {
        FileType::RegularFile => {
            lst.st_size == ust.st_size && {
                let open = |d: &OwnedFd| {
                    rfs::openat(d, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                };
                same_content(&open(lower)?, &open(upper)?)?
            }
        }
        FileType::Symlink => rfs::readlinkat(lower, name, Vec::new())? == rfs::readlinkat(upper, name, Vec::new())?,
        FileType::Directory => true,
        _ => lst.st_rdev == ust.st_rdev,
    })
}

/// Copies into `dst` what `upper` adds or changes compared with `lower`;
/// returns whether anything was written.
fn diff_dir(lower: Option<&OwnedFd>, upper: &OwnedFd, dst: &OwnedFd, opts: &CopyOpts<'_>) -> io::Result<bool> {
    let mut wrote = false;
    for (name, st) in list(upper)? {
        let ft = file_type(&st);
        let same = match lower {
            Some(l) => unchanged(l, upper, &name, &st)?,
            None => false,
        };
        if ft == FileType::Directory {
            let usub = dir_at(upper, &name)?;
            let lsub = if same { lower.map(|l| dir_at(l, &name)).transpose()? } else { None };
            match rfs::mkdirat(dst, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let dsub = dir_at(dst, &name)?;
            let inner = diff_dir(lsub.as_ref(), &usub, &dsub, opts)?;
            if same && !inner {
                drop(dsub);
                rfs::unlinkat(dst, name.as_str(), AtFlags::REMOVEDIR)?;
                continue;
            }
            super::apply_meta(&dsub, &st, None, None)?;
            wrote = true;
            continue;
        }
        if same {
            continue;
        }
        wrote = true;
        match ft {
            FileType::RegularFile => {
                let f = rfs::openat(
                    upper,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_file(&f, &st, dst, &name, opts)?;
            }
            FileType::Symlink => {
                if rfs::statat(dst, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    remove_entry(dst, &name)?;
                }
                let target = rfs::readlinkat(upper, name.as_str(), Vec::new())?;
                rfs::symlinkat(target.as_c_str(), dst, name.as_str())?;
                rfs::chownat(
                    dst,
                    name.as_str(),
                    Some(rfs::Uid::from_raw(st.st_uid)),
                    Some(rfs::Gid::from_raw(st.st_gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            _ => {
                if let Err(e) =
                    rfs::mknodat(dst, name.as_str(), ft, Mode::from_raw_mode(st.st_mode & 0o7777), st.st_rdev)
                {
                    tracing::warn!(name, error = %e, "skipping a special file that cannot be created");
                }
            }
        }
    }
    Ok(wrote)
}

/// Writes to `dest` of `dst` what `upper_path` of `upper` adds or changes
/// compared with `lower_path` of `lower`. Removals are not represented.
pub fn diff(lower: &Root, lower_path: &str, upper: &Root, upper_path: &str, dst: &Root, dest: &str) -> io::Result<()> {
    let lfd = match lower.open_in(lower_path, OFlags::RDONLY | OFlags::DIRECTORY, true) {
        Ok(fd) => Some(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(e),
    };
    let ufd = upper.open_in(upper_path, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
    let dfd = dst.mkdir_all(dest, 0o755, None)?;
    let filter = Filter::none();
    let opts = CopyOpts { filter: &filter, mode: None, owner: None };
    diff_dir(lfd.as_ref(), &ufd, &dfd, &opts).map(|_| ())
}

/// What `upper` adds, modifies and removes compared with `lower` (paths
/// relative to them; a directory added or removed is listed once, with a
/// trailing `/`, without its contents; modified lists files, links and
/// other non-directories whose type, mode, owner or content changed).
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

fn changes_dir(lower: Option<&OwnedFd>, upper: Option<&OwnedFd>, prefix: &str, out: &mut Changes) -> io::Result<()> {
    let lentries = match lower {
        Some(l) => list(l)?,
        None => Vec::new(),
    };
    let uentries = match upper {
        Some(u) => list(u)?,
        None => Vec::new(),
    };
    let rel = |n: &str| if prefix.is_empty() { n.to_string() } else { format!("{prefix}/{n}") };
    for (name, ust) in &uentries {
        let is_dir = file_type(ust) == FileType::Directory;
        let lst = lentries.iter().find(|(n, _)| n == name).map(|(_, s)| s);
        match lst {
            None => out.added.push(if is_dir { format!("{}/", rel(name)) } else { rel(name) }),
            Some(lst) if is_dir && file_type(lst) == FileType::Directory => {
                let (l, u) = (lower.map(|l| dir_at(l, name)).transpose()?, upper.map(|u| dir_at(u, name)).transpose()?);
                changes_dir(l.as_ref(), u.as_ref(), &rel(name), out)?;
            }
            Some(_) => {
                let (Some(l), Some(u)) = (lower, upper) else { continue };
                if !unchanged(l, u, name, ust)? {
                    out.modified.push(if is_dir { format!("{}/", rel(name)) } else { rel(name) });
                }
            }
        }
    }
    for (name, lst) in &lentries {
        if !uentries.iter().any(|(n, _)| n == name) {
            out.removed.push(if file_type(lst) == FileType::Directory { format!("{}/", rel(name)) } else { rel(name) });
        }
    }
    Ok(())
}

fn open_dir_opt(root: &Root, path: &str) -> io::Result<Option<OwnedFd>> {
    match root.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The changes from `lower_path` of `lower` to `upper_path` of `upper`, sorted.
pub fn changes(lower: &Root, lower_path: &str, upper: &Root, upper_path: &str) -> io::Result<Changes> {
    let (l, u) = (open_dir_opt(lower, lower_path)?, open_dir_opt(upper, upper_path)?);
    let mut out = Changes::default();
    changes_dir(l.as_ref(), u.as_ref(), "", &mut out)?;
    out.added.sort();
    out.modified.sort();
    out.removed.sort();
    Ok(out)
}

/// Applies the changes from `lower` to `upper` onto `dest` of `dst`: what
/// was added or modified is copied, what was removed is removed.
pub fn apply_changes(
    lower: &Root,
    lower_path: &str,
    upper: &Root,
    upper_path: &str,
    dst: &Root,
    dest: &str,
) -> io::Result<()> {
    let c = changes(lower, lower_path, upper, upper_path)?;
    for p in &c.removed {
        dst.remove(&crate::paths_clean(&format!("{dest}/{p}")), true)?;
    }
    diff(lower, lower_path, upper, upper_path, dst, dest)
}

/// Applies a git-style unified diff to the directory `dir`: files are
/// changed, created or deleted; modes and owners of changed files are kept.
pub fn apply_patch(root: &Root, dir: &str, text: &str) -> io::Result<()> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let at = |p: &str| crate::paths_clean(&format!("{dir}/{p}"));
    for fp in patch::parse(text).map_err(invalid)? {
        if let (Some(o), Some(n)) = (&fp.old, &fp.new) {
            if o != n {
                return Err(invalid(format!("`{o}` -> `{n}`: renames are not supported")));
            }
        }
        let old = match &fp.old {
            Some(p) => {
                let data = root.read_file(&at(p)).map_err(|e| io::Error::new(e.kind(), format!("`{p}`: {e}")))?;
                Some(String::from_utf8(data).map_err(|_| invalid(format!("`{p}` is not UTF-8 text")))?)
            }
            None => None,
        };
        let out = patch::apply(old.as_deref(), &fp).map_err(invalid)?;
        match &fp.new {
            None => root.remove(&at(fp.old.as_deref().unwrap_or_default()), false)?,
            Some(p) => {
                let path = at(p);
                if fp.old.is_none() && root.stat(&path, false)?.is_some() {
                    return Err(invalid(format!("`{p}` already exists but the patch creates it")));
                }
                let mode = root.stat(&path, true)?.map(|st| st.st_mode & 0o7777).unwrap_or(0o644);
                root.write_file(&path, out.as_bytes(), mode, None)?;
            }
        }
    }
    Ok(())
}

/// Whether a 512-byte block is a tar header (its checksum matches).
fn is_tar_header(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|b| *b == 0) {
        return false;
    }
    let field: String = h[148..156].iter().map(|b| *b as char).collect();
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else { return false };
    let sum: u32 =
        h[..512].iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { b' ' as u32 } else { *b as u32 }).sum();
    sum == want
}

/// `file` decompressed (gzip or zstd, by magic bytes) from its start.
fn decompressed(file: &std::fs::File) -> io::Result<Box<dyn Read>> {
    use std::io::Seek;
    let mut f = file.try_clone()?;
    f.seek(io::SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(f)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::new(f)?),
        _ => Box::new(f),
    })
}

/// Dockerfile `ADD` of a local source: a regular file that is a tar archive
/// (plain, gzip or zstd) is unpacked into the directory `dst_path` (with the
/// layer-apply rules: nothing leaves the directory); anything else is copied.
pub fn unpack_or_copy(src: &Root, src_path: &str, dst: &Root, dst_path: &str, opts: &CopyOpts<'_>) -> io::Result<()> {
    let fd = match src.open_in(src_path, OFlags::RDONLY, true) {
        Ok(fd) => fd,
        Err(_) => return super::copy(src, src_path, dst, dst_path, opts),
    };
    if file_type(&rfs::fstat(&fd)?) != FileType::RegularFile {
        return super::copy(src, src_path, dst, dst_path, opts);
    }
    let file = std::fs::File::from(fd);
    let mut head = [0u8; 512];
    let is_tar = {
        let mut r = decompressed(&file)?;
        let mut n = 0;
        while n < head.len() {
            match r.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        n == head.len() && is_tar_header(&head)
    };
    if !is_tar {
        return super::copy(src, src_path, dst, dst_path, opts);
    }
    use std::os::fd::AsRawFd;
    let dir = dst.mkdir_all(dst_path, 0o755, opts.owner)?;
    let dir_path = std::path::PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    tanto_oci::layer::apply_tar(decompressed(&file)?, &dir_path)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_header_cases() {
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"a.txt");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        let sum: u32 = h.iter().map(|b| *b as u32).sum::<u32>() + 8 * b' ' as u32;
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert!(is_tar_header(&h));
        let mut bad = h;
        bad[0] = b'b';
        assert!(!is_tar_header(&bad), "checksum mismatch");
        assert!(!is_tar_header(&[0u8; 512]), "zero block");
        assert!(!is_tar_header(b"plain text"), "short");
    }

    #[test]
    fn replaced_cases() {
        let text = "a=1\nb=1\nc=1\n";
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
            let got = replaced(text, search, rep, all, from);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{search} {from:?}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{search} {from:?}: {got:?}"),
            }
        }
    }
}
