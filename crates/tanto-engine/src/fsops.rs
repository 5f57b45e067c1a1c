//! File operations inside a root directory (a snapshot view or a mounted
//! overlay). Every path is resolved with `openat2(RESOLVE_IN_ROOT)`, and
//! entries are created with `*at` calls relative to directory descriptors, so
//! nothing — `..`, absolute symlinks, symlinked parents — reaches outside the root.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use sha2::{Digest as _, Sha256};

pub use rustix::fs::Stat;

pub mod extra;

fn rel(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        "."
    } else {
        p
    }
}

fn split_parent(path: &str) -> (String, String) {
    let clean = crate::paths_clean(path);
    match clean.rsplit_once('/') {
        Some((parent, name)) if !name.is_empty() => {
            (if parent.is_empty() { "/".into() } else { parent.into() }, name.into())
        }
        _ => ("/".into(), String::new()),
    }
}

pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn is_whiteout(st: &Stat) -> bool {
    file_type(st) == FileType::CharacterDevice && st.st_rdev == 0
}

/// A directory treated as `/`.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    fn open_in(&self, path: &str, flags: OFlags, follow_last: bool) -> io::Result<OwnedFd> {
        let mut flags = flags | OFlags::CLOEXEC;
        if !follow_last {
            flags |= OFlags::NOFOLLOW;
        }
        Ok(rfs::openat2(
            &self.fd,
            rel(path),
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }

    /// Opens the directory at `path`, creating missing components (root-owned,
    /// 0755, or `mode`/`owner` for the components it creates when given).
    pub fn mkdir_all(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) -> io::Result<OwnedFd> {
        let clean = crate::paths_clean(path);
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
                        Ok(()) => {}
                        Err(e) if e == rustix::io::Errno::EXIST => {}
                        Err(e) => return Err(e.into()),
                    }
                    let child = rfs::openat(
                        &fd,
                        comp,
                        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    rfs::fchmod(&child, Mode::from_raw_mode(mode))?;
                    if let Some((u, g)) = owner {
                        chown_fd(&child, u, g)?;
                    }
                    fd = child;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(io::Error::other(format!("`{next}` exists and is not a directory")));
                }
                Err(e) => return Err(e),
            }
            cur = next;
        }
        Ok(fd)
    }

    /// The parent directory of `path` (created when `create`) and the final name.
    pub fn parent(&self, path: &str, create: bool) -> io::Result<(OwnedFd, String)> {
        let (parent, name) = split_parent(path);
        if name.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the root directory itself cannot be used here"));
        }
        let fd = if create {
            self.mkdir_all(&parent, 0o755, None)?
        } else {
            self.open_in(&parent, OFlags::DIRECTORY | OFlags::RDONLY, true)?
        };
        Ok((fd, name))
    }

    pub fn write_file(&self, path: &str, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
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

    pub fn mkdir(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
        let fd = self.mkdir_all(path, mode, owner)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))?;
        if let Some((u, g)) = owner {
            chown_fd(&fd, u, g)?;
        }
        Ok(())
    }

    pub fn remove(&self, path: &str, allow_not_found: bool) -> io::Result<()> {
        let (dir, name) = match self.parent(path, false) {
            Ok(x) => x,
            Err(e) if allow_not_found && matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        match rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => remove_entry(&dir, &name),
            Err(e) if e == rustix::io::Errno::NOENT && allow_not_found => Ok(()),
            Err(e) => Err(io::Error::new(io::ErrorKind::NotFound, format!("`{path}`: {e}"))),
        }
    }

    pub fn symlink(&self, target: &str, link: &str) -> io::Result<()> {
        let (dir, name) = self.parent(link, true)?;
        if rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            remove_entry(&dir, &name)?;
        }
        rfs::symlinkat(target, &dir, name.as_str())?;
        Ok(())
    }

    /// Opens a regular file for reading (symlinks followed inside the root).
    pub fn open_file(&self, path: &str) -> io::Result<File> {
        let fd = self.open_in(path, OFlags::RDONLY, true)?;
        let st = rfs::fstat(&fd)?;
        if file_type(&st) != FileType::RegularFile {
            return Err(io::Error::other(format!("`{path}` is not a regular file")));
        }
        Ok(File::from(fd))
    }

    pub fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let fd = self.open_in(path, OFlags::RDONLY, true)?;
        let st = rfs::fstat(&fd)?;
        if file_type(&st) == FileType::Directory {
            return Err(io::Error::other(format!("`{path}` is a directory, not a file")));
        }
        let mut f = File::from(fd);
        let mut buf = Vec::with_capacity(st.st_size.max(0) as usize);
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }

    pub fn stat(&self, path: &str, follow: bool) -> io::Result<Option<Stat>> {
        match self.open_in(path, OFlags::PATH, follow) {
            Ok(fd) => {
                let st = rfs::fstat(&fd)?;
                Ok(if is_whiteout(&st) { None } else { Some(st) })
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
            // O_PATH|O_NOFOLLOW on a symlink opens the link itself, so ELOOP means a loop.
            Err(e) => Err(e),
        }
    }

    /// Entries of a directory, sorted by name, without overlay whiteouts.
    pub fn read_dir(&self, path: &str) -> io::Result<Vec<(String, Stat)>> {
        let fd = self.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOTDIR) {
                io::Error::other(format!("`{path}` is not a directory"))
            } else {
                e
            }
        })?;
        list(&fd)
    }

    /// Resolves an owner (`uid`, `uid:gid`, `user`, `user:group`) with the
    /// root's /etc/passwd and /etc/group. Empty = none.
    pub fn resolve_owner(&self, owner: &str) -> io::Result<Option<(u32, u32)>> {
        if owner.is_empty() {
            return Ok(None);
        }
        let (user, group) = match owner.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (owner, None),
        };
        let passwd = String::from_utf8_lossy(&self.read_file("/etc/passwd").unwrap_or_default()).into_owned();
        let groups = String::from_utf8_lossy(&self.read_file("/etc/group").unwrap_or_default()).into_owned();
        let find = |db: &str, name: &str| -> Option<(u32, u32)> {
            db.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() >= 3 && f[0] == name {
                    Some((f[2].parse().ok()?, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0)))
                } else {
                    None
                }
            })
        };
        let (uid, primary) = match user.parse::<u32>() {
            Ok(uid) => {
                let primary = passwd.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    if f.len() >= 4 && f[2] == user {
                        f[3].parse().ok()
                    } else {
                        None
                    }
                });
                (uid, primary.unwrap_or(uid))
            }
            Err(_) => find(&passwd, user).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("user `{user}` not found in the container's /etc/passwd"),
                )
            })?,
        };
        let gid = match group {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => find(&groups, g).map(|(gid, _)| gid).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("group `{g}` not found in the container's /etc/group"),
                    )
                })?,
            },
        };
        Ok(Some((uid, gid)))
    }

    /// Opens `path` (following symlinks inside the root) for reading metadata.
    fn open_path(&self, path: &str) -> io::Result<OwnedFd> {
        self.open_in(path, OFlags::PATH, true)
    }
}

fn chown_fd<Fd: AsFd>(fd: Fd, uid: u32, gid: u32) -> io::Result<()> {
    rfs::fchown(fd, Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))?;
    Ok(())
}

fn list(fd: &OwnedFd) -> io::Result<Vec<(String, Stat)>> {
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
fn remove_if_not(dir: &OwnedFd, name: &str, keep: FileType) -> io::Result<()> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if file_type(&st) == keep => Ok(()),
        Ok(_) => remove_entry(dir, name),
        Err(_) => Ok(()),
    }
}

/// Removes a file, link or whole directory tree below a directory descriptor.
fn remove_entry(dir: &OwnedFd, name: &str) -> io::Result<()> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if file_type(&st) == FileType::Directory {
        let child = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut d = rfs::Dir::read_from(&child)?;
        let mut names = Vec::new();
        while let Some(e) = d.read() {
            let e = e?;
            let n = e.file_name().to_string_lossy().into_owned();
            if n != "." && n != ".." {
                names.push(n);
            }
        }
        for n in names {
            remove_entry(&child, &n)?;
        }
        rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rfs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// Include/exclude patterns in BuildKit's style: patterns are globs on paths
/// relative to the copied directory; an excluded directory excludes all below it.
pub struct Filter {
    include: Vec<GlobMatcher>,
    exclude: Vec<(GlobMatcher, bool)>,
    /// The source's `.gitignore` files on the current path, when asked for.
    gitignore: Option<parking_lot::Mutex<crate::gitignore::Stack>>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, String> {
        let compile = |p: &str| -> Result<GlobMatcher, String> {
            let p = p.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .map_err(|e| format!("invalid pattern `{p}`: {e}"))
        };
        let include = include.iter().filter(|p| !p.is_empty()).map(|p| compile(p)).collect::<Result<_, _>>()?;
        let exclude = exclude
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| match p.strip_prefix('!') {
                Some(neg) => compile(neg).map(|m| (m, true)),
                None => compile(p).map(|m| (m, false)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Filter { include, exclude, gitignore: None })
    }

    /// A filter that keeps everything.
    pub fn none() -> Filter {
        Filter { include: Vec::new(), exclude: Vec::new(), gitignore: None }
    }

    /// Also leaves out what the copied tree's `.gitignore` files ignore.
    pub fn with_gitignore(mut self, on: bool) -> Filter {
        self.gitignore = on.then(Default::default);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.gitignore.is_none()
    }

    /// Entering source directory `dir` at `prefix` ("" for the copied root).
    fn enter(&self, prefix: &str, dir: &OwnedFd) {
        if let Some(g) = &self.gitignore {
            g.lock().push(prefix, crate::gitignore::read_in(dir).as_deref());
        }
    }

    fn leave(&self) {
        if let Some(g) = &self.gitignore {
            g.lock().pop();
        }
    }

    fn git_ignored(&self, rel: &str, is_dir: bool) -> bool {
        self.gitignore.as_ref().is_some_and(|g| g.lock().ignored(rel, is_dir))
    }

    pub(crate) fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (m, negated) in &self.exclude {
            if m.is_match(rel) {
                out = !negated;
            }
        }
        out
    }

    /// Whether `rel` itself or one of its parent directories was included.
    pub(crate) fn included(&self, rel: &str) -> bool {
        if self.include.is_empty() {
            return true;
        }
        let mut p = rel;
        loop {
            if self.include.iter().any(|m| m.is_match(p)) {
                return true;
            }
            match p.rsplit_once('/') {
                Some((parent, _)) => p = parent,
                None => return false,
            }
        }
    }
}

/// Options of a copy.
pub struct CopyOpts<'a> {
    pub filter: &'a Filter,
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}

/// Copies `src_path` of `src` to `dst_path` of `dst`: a directory's contents
/// go into `dst_path`; a file becomes `dst_path` (or goes inside it when
/// `dst_path` ends with `/` or is an existing directory).
pub fn copy(src: &Root, src_path: &str, dst: &Root, dst_path: &str, opts: &CopyOpts<'_>) -> io::Result<()> {
    let fd = src.open_path(src_path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            io::Error::new(io::ErrorKind::NotFound, format!("`{src_path}` not found in the source"))
        } else {
            e
        }
    })?;
    let st = rfs::fstat(&fd)?;
    if file_type(&st) == FileType::Directory {
        let sdir = rfs::openat(&fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let ddir = dst.mkdir_all(dst_path, 0o755, opts.owner)?;
        copy_dir(&sdir, &ddir, "", opts)
    } else {
        let into_dir =
            dst_path.ends_with('/') || dst.stat(dst_path, true)?.is_some_and(|s| file_type(&s) == FileType::Directory);
        let dest = if into_dir {
            let name = crate::paths_clean(src_path).rsplit('/').next().unwrap_or("file").to_string();
            format!("{}/{}", dst_path.trim_end_matches('/'), name)
        } else {
            dst_path.to_string()
        };
        let (ddir, name) = dst.parent(&dest, true)?;
        let sfile = reopen(&fd)?;
        copy_file(&sfile, &st, &ddir, &name, opts)
    }
}

/// Reopens an O_PATH descriptor for reading.
fn reopen(fd: &OwnedFd) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    Ok(rfs::open(format!("/proc/self/fd/{}", fd.as_raw_fd()), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?)
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
        let child_src = rfs::openat(
            sdir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let included_here = opts.filter.included(rel);
        if !included_here && !has_included(&child_src, rel, opts.filter)? {
            return Ok(());
        }
        remove_if_not(ddir, name, FileType::Directory)?;
        match rfs::mkdirat(ddir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let child_dst = rfs::openat(
            ddir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if recursive {
            copy_dir(&child_src, &child_dst, rel, opts)?;
        }
        return apply_meta(&child_dst, st, opts.mode, opts.owner);
    }
    if !opts.filter.included(rel) {
        return Ok(());
    }
    match ft {
        FileType::RegularFile => {
            let f = rfs::openat(sdir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            copy_file(&f, st, ddir, name, opts)?;
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(sdir, name, Vec::new())?;
            if rfs::statat(ddir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                remove_entry(ddir, name)?;
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
                remove_entry(ddir, name)?;
            }
            if let Err(e) = rfs::mknodat(ddir, name, ft, Mode::from_raw_mode(st.st_mode & 0o7777), st.st_rdev) {
                tracing::warn!(path = rel, error = %e, "skipping a special file that cannot be created");
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
) -> io::Result<bool> {
    let (sdir, name) = match src.parent(src_path, false) {
        Ok(x) => x,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let st = match rfs::statat(&sdir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let (ddir, dname) = dst.parent(dst_path, false)?;
    if dname != name {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("copy_entry renames `{src_path}` to `{dst_path}`"),
        ));
    }
    copy_child(&sdir, &ddir, &name, &st, &name, opts, recursive)?;
    Ok(true)
}

/// Applies `st`'s (or the given) owner, mode and modification time to the
/// directory at `path`, as a directory copy does for the directories it copies.
pub fn set_dir_meta(dst: &Root, path: &str, st: &Stat, opts: &CopyOpts<'_>) -> io::Result<()> {
    let dir = dst.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, false)?;
    apply_meta(&dir, st, opts.mode, opts.owner)
}

/// Whether anything below `dir` is included (so the directory must be created).
fn has_included(dir: &OwnedFd, prefix: &str, filter: &Filter) -> io::Result<bool> {
    if filter.include.is_empty() {
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
        if file_type(&st) == FileType::Directory {
            let child = rfs::openat(
                dir,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            if has_included(&child, &rel, filter)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn copy_file(src: &OwnedFd, st: &Stat, ddir: &OwnedFd, name: &str, opts: &CopyOpts<'_>) -> io::Result<()> {
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

fn apply_meta<Fd: AsFd>(fd: Fd, st: &Stat, mode: Option<u32>, owner: Option<(u32, u32)>) -> io::Result<()> {
    let (u, g) = owner.unwrap_or((st.st_uid, st.st_gid));
    chown_fd(&fd, u, g)?;
    rfs::fchmod(&fd, Mode::from_raw_mode(mode.unwrap_or(st.st_mode) & 0o7777))?;
    let ts = Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ };
    rfs::futimens(&fd, &Timestamps { last_access: ts, last_modification: ts })?;
    Ok(())
}

/// A digest of the tree (or file) at `path`: content, names and — when
/// `with_metadata` — modes. Stable across machines.
pub fn digest(root: &Root, path: &str, with_metadata: bool) -> io::Result<String> {
    let st =
        root.stat(path, true)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("`{path}` not found")))?;
    if file_type(&st) != FileType::Directory {
        let data = root.read_file(path)?;
        if !with_metadata {
            return Ok(format!("sha256:{}", hex::encode(Sha256::digest(&data))));
        }
        let mut h = Sha256::new();
        h.update((st.st_mode & 0o7777).to_le_bytes());
        h.update(Sha256::digest(&data));
        return Ok(format!("sha256:{}", hex::encode(h.finalize())));
    }
    let fd = root.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
    let mut h = Sha256::new();
    digest_dir(&fd, "", with_metadata, &mut h)?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn digest_dir(dir: &OwnedFd, prefix: &str, with_metadata: bool, h: &mut Sha256) -> io::Result<()> {
    for (name, st) in list(dir)? {
        let rel = format!("{prefix}/{name}");
        let ft = file_type(&st);
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        if with_metadata {
            h.update(st.st_mode.to_le_bytes());
        }
        match ft {
            FileType::Directory => {
                h.update(b"d");
                let child = rfs::openat(
                    dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                digest_dir(&child, &rel, with_metadata, h)?;
            }
            FileType::RegularFile => {
                h.update(b"f");
                let f = rfs::openat(
                    dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let mut data = Vec::new();
                File::from(f).read_to_end(&mut data)?;
                h.update(Sha256::digest(&data));
            }
            FileType::Symlink => {
                h.update(b"l");
                h.update(rfs::readlinkat(dir, name.as_str(), Vec::new())?.as_bytes());
            }
            _ => {
                h.update(b"o");
                h.update(st.st_rdev.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Paths below `path` (relative to it) that match `pattern`, sorted.
pub fn glob(root: &Root, path: &str, pattern: &str) -> io::Result<Vec<String>> {
    let m = globset::GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid glob pattern `{pattern}`: {e}")))?
        .compile_matcher();
    let fd = root.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
    let mut out = Vec::new();
    glob_dir(&fd, "", &m, &mut out)?;
    out.sort();
    Ok(out)
}

fn glob_dir(dir: &OwnedFd, prefix: &str, m: &GlobMatcher, out: &mut Vec<String>) -> io::Result<()> {
    for (name, st) in list(dir)? {
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if m.is_match(&rel) {
            out.push(rel.clone());
        }
        if file_type(&st) == FileType::Directory {
            let child = rfs::openat(
                dir,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            glob_dir(&child, &rel, m, out)?;
        }
    }
    Ok(())
}

/// For tests and callers that only have a path.
pub fn root_at(path: impl Into<PathBuf>) -> io::Result<Root> {
    Root::open(&path.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let r = format!("{rel}{}", e.file_name().to_string_lossy());
                if e.file_type().unwrap().is_dir() {
                    out.push(format!("{r}/"));
                    walk(&e.path(), &format!("{r}/"), out);
                } else {
                    out.push(r);
                }
            }
        }
        walk(root, "", &mut out);
        out.sort();
        out
    }

    #[test]
    fn copies_leave_out_what_gitignore_files_ignore() {
        let src = tempfile::tempdir().unwrap();
        for (path, data) in [
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
        ] {
            let p = src.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
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
}
