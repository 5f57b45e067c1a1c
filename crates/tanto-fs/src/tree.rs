//! Reading whole trees below a [`Root`]: content digests and glob matches.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use globset::GlobMatcher;
use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use sha2::{Digest as _, Sha256};

use crate::root::{dir_at, file_type, list, Root};
use crate::{FsError, Result};

/// A digest of the tree (or file) at `path`: content, names and — when
/// `with_metadata` — modes. Stable across machines.
pub fn digest(root: &Root, path: &str, with_metadata: bool) -> Result<String> {
    let st = root.stat(path, true)?.ok_or_else(|| FsError::NotFound(path.to_string()))?;
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
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        if with_metadata {
            h.update(st.st_mode.to_le_bytes());
        }
        match file_type(&st) {
            FileType::Directory => {
                h.update(b"d");
                digest_dir(&dir_at(dir, &name)?, &rel, with_metadata, h)?;
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
pub fn glob(root: &Root, path: &str, pattern: &str) -> Result<Vec<String>> {
    let m = globset::GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .map_err(|e| FsError::Glob { pattern: pattern.to_string(), message: e.to_string() })?
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
            glob_dir(&dir_at(dir, &name)?, &rel, m, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_digests() {
        let tmp = tempfile::tempdir().unwrap();
        for (p, data) in [("a.txt", "a"), ("sub/b.txt", "b"), ("sub/c.rs", "c")] {
            let path = tmp.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        let root = Root::open(tmp.path()).unwrap();
        // (directory, pattern, matches)
        let cases: &[(&str, &str, &[&str])] = &[
            ("/", "*.txt", &["a.txt"]),
            ("/", "**/*.txt", &["a.txt", "sub/b.txt"]),
            ("/sub", "./*", &["b.txt", "c.rs"]),
            ("/../sub", "*.rs", &["c.rs"]),
        ];
        for (dir, pattern, want) in cases {
            assert_eq!(glob(&root, dir, pattern).unwrap(), *want, "{dir} {pattern}");
        }
        assert!(matches!(glob(&root, "/", "a[").unwrap_err(), FsError::Glob { .. }));
        // digests depend on content and names only (without metadata)
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("b.txt"), "b").unwrap();
        std::fs::write(other.path().join("c.rs"), "c").unwrap();
        let other = Root::open(other.path()).unwrap();
        assert_eq!(digest(&root, "/sub", false).unwrap(), digest(&other, "/", false).unwrap());
        assert_ne!(digest(&root, "/", false).unwrap(), digest(&other, "/", false).unwrap());
        assert_eq!(digest(&root, "/nope", false).unwrap_err().to_string(), "`/nope` not found");
    }
}
