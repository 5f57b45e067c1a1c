//! A host-side view of the container's filesystem before it starts: the root plus the
//! mounts in the order the runtime will make them. It answers "where on the host does
//! container path P live" and resolves symlinks the way the kernel will inside the
//! container (absolute links restart at the container root, `..` stops at `/`).
//!
//! Lookups (`lstat`, `readlink`) only touch paths built from already-resolved, symlink-free
//! prefixes; anything that writes goes through [`crate::sys`] with `RESOLVE_IN_ROOT`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::sys::{self, NodeKind};

/// What backs a mounted subtree.
#[derive(Clone, Debug)]
pub enum Backing {
    /// A host directory (or file) that holds the subtree.
    Host { base: PathBuf, writable: bool },
    /// A filesystem created inside the container (proc, sysfs, tmpfs): empty before start.
    Virtual,
}

#[derive(Clone, Debug)]
struct ViewMount {
    target: PathBuf,
    backing: Backing,
}

/// Root plus ordered mounts.
#[derive(Clone, Debug)]
pub struct View {
    root: PathBuf,
    mounts: Vec<ViewMount>,
}

/// Where a (symlink-free, absolute) container path lives.
#[derive(Debug)]
pub enum Location<'a> {
    Host { base: &'a Path, rel: PathBuf, writable: bool },
    Virtual,
}

/// Result of resolving a container path.
#[derive(Debug)]
pub enum Resolved {
    /// Exists; `path` is the symlink-free container path.
    Found { path: PathBuf, meta: fs::Metadata },
    /// `parent` (symlink-free, exists) has no entry `name`; `rest` are the components after it.
    Missing { parent: PathBuf, name: OsString, rest: Vec<OsString> },
    /// Lies inside a filesystem that only exists once the container runs.
    Virtual {
        #[allow(dead_code)]
        path: PathBuf,
    },
}

/// A node created only so something could be mounted on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    pub base: PathBuf,
    pub parent_rel: PathBuf,
    pub name: OsString,
}

const MAX_SYMLINKS: usize = 40;

/// Lexically normalises an absolute container path (`.`/`..`/duplicate slashes), joining
/// relative paths to `cwd`.
pub fn normalize(path: &str, cwd: &str) -> PathBuf {
    let joined = if path.starts_with('/') { PathBuf::from(path) } else { Path::new(cwd).join(path) };
    tanto_fs::path::clean_path(&joined)
}

impl View {
    pub fn new(root: PathBuf) -> View {
        View { root, mounts: Vec::new() }
    }

    pub fn push(&mut self, target: PathBuf, backing: Backing) {
        self.mounts.push(ViewMount { target, backing });
    }

    /// Maps a symlink-free absolute container path to its backing store, looking only at the
    /// first `upto` mounts (the state when mount number `upto` is made).
    pub fn locate(&self, path: &Path, upto: usize) -> Location<'_> {
        let hit = self.mounts[..upto.min(self.mounts.len())].iter().rev().find(|m| path.starts_with(&m.target));
        match hit {
            None => Location::Host {
                base: &self.root,
                rel: path.strip_prefix("/").unwrap_or(path).to_path_buf(),
                writable: true,
            },
            Some(ViewMount { backing: Backing::Virtual, .. }) => Location::Virtual,
            Some(ViewMount { target, backing: Backing::Host { base, writable } }) => Location::Host {
                base,
                rel: path.strip_prefix(target).unwrap_or(Path::new("")).to_path_buf(),
                writable: *writable,
            },
        }
    }

    fn is_mount_ancestor(&self, path: &Path, upto: usize) -> bool {
        self.mounts[..upto.min(self.mounts.len())].iter().any(|m| m.target.starts_with(path) && m.target != path)
    }

    /// Resolves `path` (absolute) like the kernel would inside the container.
    pub fn resolve(&self, path: &Path, follow_last: bool, upto: usize) -> io::Result<Resolved> {
        let mut todo: VecDeque<OsString> = components(path).collect();
        let mut cur = PathBuf::from("/");
        let mut links = 0;
        let mut meta: Option<fs::Metadata> = None;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                cur.pop();
                meta = None;
                continue;
            }
            let cand = cur.join(&c);
            let host = match self.locate(&cand, upto) {
                Location::Virtual => {
                    let mut p = cand;
                    p.extend(todo);
                    return Ok(Resolved::Virtual { path: p });
                }
                Location::Host { base, rel, .. } => base.join(rel),
            };
            let m = match fs::symlink_metadata(&host) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound && self.is_mount_ancestor(&cand, upto) => {
                    // The runtime creates the directories leading to a mount point.
                    cur = cand;
                    meta = None;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Resolved::Missing { parent: cur, name: c, rest: todo.into() })
                }
                Err(e) => return Err(e),
            };
            if m.file_type().is_symlink() && (follow_last || !todo.is_empty()) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::other(format!("too many levels of symbolic links at `{}`", cand.display())));
                }
                let target = fs::read_link(&host)?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(t);
                }
                meta = None;
                continue;
            }
            if !todo.is_empty() && !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("`{}` is not a directory", cand.display()),
                ));
            }
            cur = cand;
            meta = Some(m);
        }
        let meta = match meta {
            Some(m) => m,
            None => match self.locate(&cur, upto) {
                Location::Virtual => return Ok(Resolved::Virtual { path: cur }),
                Location::Host { base, rel, .. } => match fs::metadata(base.join(rel)) {
                    Ok(m) => m,
                    // A mount point's parent the runtime will create.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && self.is_mount_ancestor(&cur, upto) => {
                        return Ok(Resolved::Virtual { path: cur })
                    }
                    Err(e) => return Err(e),
                },
            },
        };
        Ok(Resolved::Found { path: cur, meta })
    }

    /// Makes sure `path` exists, creating missing components (directories, and a file for
    /// the last one when `last` is [`NodeKind::File`]). Returns the symlink-free path when
    /// it could be made or already existed and the nodes created, in creation order.
    /// Nothing is created inside virtual or read-only filesystems: there the runtime
    /// decides.
    pub fn ensure(&self, path: &Path, last: NodeKind, upto: usize) -> io::Result<(Option<PathBuf>, Vec<Stub>)> {
        let mut created = Vec::new();
        for _ in 0..4096 {
            match self.resolve(path, true, upto)? {
                Resolved::Found { path, .. } => return Ok((Some(path), created)),
                Resolved::Virtual { .. } => return Ok((None, created)),
                Resolved::Missing { parent, name, rest } => {
                    let Location::Host { base, rel, writable } = self.locate(&parent, upto) else {
                        return Ok((None, created));
                    };
                    if !writable {
                        return Ok((None, created));
                    }
                    let kind = if rest.is_empty() { last } else { NodeKind::Dir };
                    match sys::create_in_root(base, &rel, &name, kind) {
                        Ok(()) => created.push(Stub { base: base.to_path_buf(), parent_rel: rel, name }),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(io::Error::other(format!("could not create `{}`", path.display())))
    }

    /// Host location for reading/writing a container file: the base directory and the path
    /// inside it, to be opened with `RESOLVE_IN_ROOT`.
    pub fn host_location(&self, path: &Path) -> io::Result<Option<(PathBuf, PathBuf)>> {
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file path")),
        };
        // Resolve the final component too when it exists (it may be a symlink).
        let target = match self.resolve(path, true, usize::MAX)? {
            Resolved::Found { path, .. } => path,
            Resolved::Virtual { .. } => return Ok(None),
            Resolved::Missing { parent, name, rest } if rest.is_empty() => parent.join(name),
            Resolved::Missing { .. } => match self.resolve(dir, true, usize::MAX)? {
                Resolved::Found { path, .. } => path.join(name),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("directory `{}` does not exist", dir.display()),
                    ))
                }
            },
        };
        match self.locate(&target, usize::MAX) {
            Location::Host { base, rel, .. } => Ok(Some((base.to_path_buf(), rel))),
            Location::Virtual => Ok(None),
        }
    }
}

fn components(p: &Path) -> impl Iterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// Removes stubs (newest first) that are still empty; returns those removed.
pub fn remove_stubs(stubs: &[Stub]) -> Vec<&Stub> {
    stubs.iter().rev().filter(|s| sys::remove_if_empty_stub(&s.base, &s.parent_rel, &s.name).unwrap_or(false)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, View) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        for d in ["bin", "usr/bin", "etc", "data"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::write(r.join("bin/busybox"), b"x").unwrap();
        symlink("/bin/busybox", r.join("bin/sh")).unwrap();
        symlink("../../bin/busybox", r.join("usr/bin/env")).unwrap();
        symlink("/usr/bin", r.join("ubin")).unwrap();
        symlink("../../../../../etc", r.join("escape")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        let m = t.path().join("mnt");
        fs::create_dir_all(m.join("tool")).unwrap();
        fs::write(m.join("tool/run"), b"y").unwrap();
        let mut v = View::new(r);
        v.push(PathBuf::from("/proc"), Backing::Virtual);
        v.push(PathBuf::from("/opt/m"), Backing::Host { base: m, writable: true });
        (t, v)
    }

    fn check(view: &View, path: &str, expect: &str) {
        let got = match view.resolve(Path::new(path), true, usize::MAX) {
            Ok(Resolved::Found { path, .. }) => format!("found {}", path.display()),
            Ok(Resolved::Missing { parent, name, rest }) => {
                format!("missing {} in {} (+{})", name.to_string_lossy(), parent.display(), rest.len())
            }
            Ok(Resolved::Virtual { path }) => format!("virtual {}", path.display()),
            Err(e) => format!("error {e}"),
        };
        assert_eq!(got, expect, "resolving {path}");
    }

    #[test]
    fn resolve_cases() {
        let (_t, v) = tree();
        let cases = [
            ("/bin/sh", "found /bin/busybox"),
            ("/usr/bin/env", "found /bin/busybox"),
            ("/ubin/env", "found /bin/busybox"),
            ("/escape", "found /etc"),
            ("/../../bin/busybox", "found /bin/busybox"),
            ("/nope/x", "missing nope in / (+1)"),
            ("/proc/self/exe", "virtual /proc/self/exe"),
            ("/opt/m/tool/run", "found /opt/m/tool/run"),
            ("/opt/m/tool/none", "missing none in /opt/m/tool (+0)"),
            ("/loop1", "error too many levels of symbolic links at `/loop1`"),
            ("/bin/busybox/x", "error `/bin/busybox` is not a directory"),
        ];
        for (p, e) in cases {
            check(&v, p, e);
        }
    }

    #[test]
    fn ensure_creates_and_records_stubs() {
        let (t, v) = tree();
        let (p, stubs) = v.ensure(Path::new("/a/b/c"), NodeKind::File, usize::MAX).unwrap();
        assert_eq!(p.unwrap(), PathBuf::from("/a/b/c"));
        assert_eq!(stubs.len(), 3);
        assert!(t.path().join("root/a/b/c").is_file());
        // Inside a mount: created in the mount's backing dir.
        let (_, stubs2) = v.ensure(Path::new("/opt/m/new"), NodeKind::Dir, usize::MAX).unwrap();
        assert_eq!(stubs2.len(), 1);
        assert!(t.path().join("mnt/new").is_dir());
        // Virtual: nothing created.
        let (p, stubs3) = v.ensure(Path::new("/proc/x"), NodeKind::Dir, usize::MAX).unwrap();
        assert!(p.is_none() && stubs3.is_empty());
        // A stub that got content stays, empty ones go.
        fs::write(t.path().join("root/a/b/keep"), b"data").unwrap();
        let removed = remove_stubs(&stubs);
        assert_eq!(removed.len(), 1);
        assert!(t.path().join("root/a/b/keep").exists());
        assert!(!t.path().join("root/a/b/c").exists());
    }
}
