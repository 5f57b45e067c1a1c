//! Paths: the lexical cleaning rule of `tanto_model::path` (empty and `.`
//! components dropped, `..` never above the top), applied to host paths too,
//! and `findUp`. No symlink is looked at; resolving inside a root is
//! [`crate::Root`]'s job.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use tanto_model::path::{clean_abs, clean_rel, components};

/// A host path made absolute and clean by the same rule (relative paths count
/// from `/`; names need not be UTF-8).
pub fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    out.extend(components(p.as_os_str().as_bytes()).into_iter().map(OsStr::from_bytes));
    out
}

/// The clean parent directory and final name of `path` (`("/", "")` for the top).
pub fn split_parent(path: &str) -> (String, String) {
    let clean = clean_abs(path);
    match clean.rsplit_once('/') {
        Some((parent, name)) if !name.is_empty() => {
            (if parent.is_empty() { "/".into() } else { parent.into() }, name.into())
        }
        _ => ("/".into(), String::new()),
    }
}

/// The last component of the clean `path` (`""` for the top).
pub fn base_name(path: &str) -> String {
    split_parent(path).1
}

/// `name` in the directory `dir` or the nearest parent that has it (any
/// kind of entry, a dangling symlink too), as a path relative to `dir`.
pub fn find_up(dir: &Path, name: &str) -> Option<String> {
    let mut cur = Some(dir);
    let mut ups = 0usize;
    while let Some(d) = cur {
        if std::fs::symlink_metadata(d.join(name)).is_ok() {
            return Some(format!("{}{name}", "../".repeat(ups)));
        }
        cur = d.parent();
        ups += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        // (input, clean_abs, clean_rel)
        let cases = [
            ("/a/b", "/a/b", "a/b"),
            ("a/b/", "/a/b", "a/b"),
            ("a/../../b", "/b", "b"),
            ("", "/", ""),
            ("/", "/", ""),
            ("/../..", "/", ""),
            ("./x/.", "/x", "x"),
            ("//a//./b/../c", "/a/c", "a/c"),
            ("../../etc/x", "/etc/x", "etc/x"),
            ("a/./b/..", "/a", "a"),
            ("./", "/", ""),
            ("/é/../ü/", "/ü", "ü"),
        ];
        for (input, abs, rel) in cases {
            assert_eq!((clean_abs(input).as_str(), clean_rel(input).as_str()), (abs, rel), "{input:?}");
            assert_eq!(clean_path(Path::new(input)), PathBuf::from(abs), "{input:?}");
            assert_eq!(components(input.as_bytes()).join(&b'/'), rel.as_bytes(), "{input:?}");
        }
    }

    #[test]
    fn parents() {
        // (path, parent, name)
        let cases = [("/a/b", "/a", "b"), ("a", "/", "a"), ("/", "/", ""), ("/a/b/../c/", "/a", "c")];
        for (path, parent, name) in cases {
            assert_eq!(split_parent(path), (parent.to_string(), name.to_string()), "{path}");
            assert_eq!(base_name(path), name, "{path}");
        }
    }

    #[test]
    fn find_up_cases() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(tmp.path().join("a/marker"), "").unwrap();
        std::fs::write(deep.join("here"), "").unwrap();
        // (name, expected)
        let cases = [("here", Some("here")), ("marker", Some("../../marker")), ("no-such-name-anywhere-xyz", None)];
        for (name, want) in cases {
            assert_eq!(find_up(&deep, name).as_deref(), want, "{name}");
        }
    }
}
