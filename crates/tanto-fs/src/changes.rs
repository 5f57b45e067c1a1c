//! Differences between two trees (`Directory.diff`, `Directory.changes`,
//! `withChanges`): what the upper side adds, changes and removes compared
//! with the lower side, and writing those differences into a third tree.

use std::io::{self, Read};
use std::os::fd::OwnedFd;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

use crate::copy::{apply_meta, copy_leaf, CopyOpts};
use crate::path::clean_abs;
use crate::root::{dir_at, file_type, list, Root, Stat};
use crate::{Filter, Result};

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
fn unchanged(lower: &OwnedFd, upper: &OwnedFd, name: &str, ust: &Stat) -> io::Result<bool> {
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
        let same = match lower {
            Some(l) => unchanged(l, upper, &name, &st)?,
            None => false,
        };
        if file_type(&st) == FileType::Directory {
            let usub = dir_at(upper, &name)?;
            let lsub = if same { lower.map(|l| dir_at(l, &name)).transpose()? } else { None };
            let created = match rfs::mkdirat(dst, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => true,
                Err(rustix::io::Errno::EXIST) => false,
                Err(e) => return Err(e.into()),
            };
            let dsub = dir_at(dst, &name)?;
            let inner = diff_dir(lsub.as_ref(), &usub, &dsub, opts)?;
            if same && !inner {
                // Nothing changed below: take away the directory made for it,
                // never one the destination already had.
                drop(dsub);
                if created {
                    rfs::unlinkat(dst, name.as_str(), AtFlags::REMOVEDIR)?;
                }
                continue;
            }
            apply_meta(&dsub, &st, None, None)?;
            wrote = true;
            continue;
        }
        if same {
            continue;
        }
        wrote = true;
        copy_leaf(upper, dst, &name, &st, opts, &name)?;
    }
    Ok(wrote)
}

/// Writes to `dest` of `dst` what `upper_path` of `upper` adds or changes
/// compared with `lower_path` of `lower`. Removals are not represented.
pub fn diff(lower: &Root, lower_path: &str, upper: &Root, upper_path: &str, dst: &Root, dest: &str) -> Result<()> {
    let lfd = lower.open_dir_opt(lower_path)?;
    let ufd = upper.open_in(upper_path, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
    let dfd = dst.mkdir_all(dest, 0o755, None)?;
    let filter = Filter::none();
    let opts = CopyOpts { filter: &filter, mode: None, owner: None };
    diff_dir(lfd.as_ref(), &ufd, &dfd, &opts)?;
    Ok(())
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
    let shown = |n: &str, st: &Stat| {
        if file_type(st) == FileType::Directory {
            format!("{}/", rel(n))
        } else {
            rel(n)
        }
    };
    for (name, ust) in &uentries {
        let is_dir = file_type(ust) == FileType::Directory;
        let lst = lentries.iter().find(|(n, _)| n == name).map(|(_, s)| s);
        match lst {
            None => out.added.push(shown(name, ust)),
            Some(lst) if is_dir && file_type(lst) == FileType::Directory => {
                let (l, u) = (lower.map(|l| dir_at(l, name)).transpose()?, upper.map(|u| dir_at(u, name)).transpose()?);
                changes_dir(l.as_ref(), u.as_ref(), &rel(name), out)?;
            }
            Some(_) => {
                let (Some(l), Some(u)) = (lower, upper) else { continue };
                if !unchanged(l, u, name, ust)? {
                    out.modified.push(shown(name, ust));
                }
            }
        }
    }
    for (name, lst) in &lentries {
        if !uentries.iter().any(|(n, _)| n == name) {
            out.removed.push(shown(name, lst));
        }
    }
    Ok(())
}

/// The changes from `lower_path` of `lower` to `upper_path` of `upper`, sorted.
pub fn changes(lower: &Root, lower_path: &str, upper: &Root, upper_path: &str) -> Result<Changes> {
    let (l, u) = (lower.open_dir_opt(lower_path)?, upper.open_dir_opt(upper_path)?);
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
) -> Result<()> {
    let c = changes(lower, lower_path, upper, upper_path)?;
    for p in &c.removed {
        dst.remove(&clean_abs(&format!("{dest}/{p}")), true)?;
    }
    diff(lower, lower_path, upper, upper_path, dst, dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{files, write_tree};

    #[test]
    fn changes_between_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        write_tree(&lower, &[("same.txt", "s"), ("mod.txt", "1"), ("gone.txt", "g"), ("olddir/x", "x"), ("d/k", "k")]);
        write_tree(&upper, &[("same.txt", "s"), ("mod.txt", "2"), ("new.txt", "n"), ("newdir/y", "y"), ("d/k", "k")]);
        let (l, u) = (Root::open(&lower).unwrap(), Root::open(&upper).unwrap());
        let c = changes(&l, "/", &u, "/").unwrap();
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            c,
            Changes {
                added: v(&["new.txt", "newdir/"]),
                modified: v(&["mod.txt"]),
                removed: v(&["gone.txt", "olddir/"])
            }
        );
        // (operation, tree of the destination after it, starting from a copy of the lower side)
        type Apply = fn(&Root, &Root, &Root) -> Result<()>;
        let cases: [(&str, Apply, &[&str]); 2] = [
            ("diff", |l, u, d| diff(l, "/", u, "/", d, "/"), &["mod.txt", "new.txt", "newdir/", "newdir/y"]),
            (
                "apply_changes",
                |l, u, d| apply_changes(l, "/", u, "/", d, "/"),
                &["d/", "d/k", "mod.txt", "new.txt", "newdir/", "newdir/y", "same.txt"],
            ),
        ];
        for (what, apply, want) in cases {
            let dst = tmp.path().join(what);
            if what == "apply_changes" {
                write_tree(
                    &dst,
                    &[("same.txt", "s"), ("mod.txt", "1"), ("gone.txt", "g"), ("olddir/x", "x"), ("d/k", "k")],
                );
            } else {
                std::fs::create_dir_all(&dst).unwrap();
            }
            apply(&l, &u, &Root::open(&dst).unwrap()).unwrap();
            assert_eq!(files(&dst), *want, "{what}");
            assert_eq!(std::fs::read_to_string(dst.join("mod.txt")).unwrap(), "2", "{what}");
        }
    }
}
