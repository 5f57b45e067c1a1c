//! Where a local module lives (`core/schema/modulesource.go` `localModuleSource`,
//! `core/modulesource.go` dependency loading): its **context directory** is
//! the nearest ancestor holding `.git` (a directory, or a file as in a git
//! worktree), else the module's own root; the module is loaded from that
//! directory with the root's subpath inside it, and a local dependency must
//! lie inside it too. Paths are handled lexically, as Dagger does (`..`
//! against the joined path, symlinks not followed).

use std::path::{Component, Path, PathBuf};

use crate::config::FILENAME;

/// Why a module or dependency cannot be placed in its context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("module path `{}` must be absolute", .0.display())]
    NotAbsolute(PathBuf),
    #[error("source root path {source_root:?} escapes context {context:?}")]
    RootEscapes { source_root: String, context: String },
    #[error(
        "local module dep source path {0:?} is absolute: a dependency's source must be relative to the module's root"
    )]
    DependencyAbsolute(String),
    #[error("local module dep source path {rel:?} escapes context {context:?}: a local dependency must lie inside the module's git repository (or, without one, inside the module's own directory)")]
    DependencyEscapes { rel: String, context: String },
}

/// A local module placed in its context directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The context directory (absolute).
    pub context: PathBuf,
    /// The module's root (the `dagger.json` directory) relative to the
    /// context, `.` when they are the same; `/`-separated, no `..`.
    pub subpath: String,
    /// Whether the context is a git root (else it is the module's root).
    pub git: bool,
}

impl Location {
    /// The module's root (absolute).
    pub fn root(&self) -> PathBuf {
        if self.subpath == "." {
            self.context.clone()
        } else {
            self.context.join(&self.subpath)
        }
    }
}

/// The nearest directory from `start` up (itself included) that holds
/// `dagger.json`: the module root `tanto call -m DIR` finds.
pub fn find_module_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join(FILENAME).is_file()).map(Path::to_path_buf)
}

/// The nearest directory from `start` up that holds `.git` (directory or file).
pub fn find_git_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| std::fs::symlink_metadata(d.join(".git")).is_ok()).map(Path::to_path_buf)
}

/// Places the module whose root is `root` (absolute): its context is the
/// nearest git root at or above it, else `root` itself.
pub fn locate(root: &Path) -> Result<Location, ContextError> {
    if !root.is_absolute() {
        return Err(ContextError::NotAbsolute(root.into()));
    }
    let root = clean(root);
    let (context, git) = match find_git_root(&root) {
        Some(g) => (g, true),
        None => (root.clone(), false),
    };
    let subpath = relative(&context, &root).ok_or_else(|| ContextError::RootEscapes {
        source_root: root.display().to_string(),
        context: context.display().to_string(),
    })?;
    Ok(Location { context, subpath, git })
}

/// Where a local dependency of the module at `module` lives: `source`
/// (from `dagger.json`, relative to the module's root) resolved and checked
/// to stay inside the module's context. Returns the dependency's root
/// relative to the context (`.`-free, `/`-separated).
pub fn resolve_dependency(module: &Location, source: &str) -> Result<String, ContextError> {
    if Path::new(source).is_absolute() {
        return Err(ContextError::DependencyAbsolute(source.into()));
    }
    let joined = clean(&module.root().join(source));
    let rel = lexical_rel(&module.context, &joined);
    if rel == ".." || rel.starts_with("../") {
        return Err(ContextError::DependencyEscapes { rel, context: module.context.display().to_string() });
    }
    Ok(rel)
}

/// What a dependency's `source` refers to (`core/modulerefs.go`
/// `FastModuleSourceKindCheck`, then a stat of the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Local,
    Git,
}

/// The kind of a ref without looking at the filesystem, when that is enough.
pub fn fast_kind(source: &str, pin: Option<&str>) -> Option<SourceKind> {
    if pin.is_some_and(|p| !p.is_empty()) {
        return Some(SourceKind::Git);
    }
    if source.starts_with('/') || source.starts_with('.') {
        return Some(SourceKind::Local);
    }
    if ["http://", "https://", "ssh://"].iter().any(|s| source.starts_with(s)) {
        return Some(SourceKind::Git);
    }
    if !source.contains('.') {
        return Some(SourceKind::Local);
    }
    None
}

/// The kind of a dependency ref of the module at `module`: a dotted ref that
/// names an existing local directory is local, else git.
pub fn kind(module: &Location, source: &str, pin: Option<&str>) -> SourceKind {
    fast_kind(source, pin).unwrap_or_else(|| {
        if module.root().join(source).is_dir() {
            SourceKind::Local
        } else {
            SourceKind::Git
        }
    })
}

/// `path` with `.` removed and `..` applied lexically (`/..` stays `/`).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            c => out.push(c.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `path` relative to `base` when it is `base` or below it.
fn relative(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let s = rel.to_string_lossy().to_string();
    Some(if s.is_empty() { ".".into() } else { s })
}

/// Go's `filepath.Rel` over cleaned absolute paths: may start with `..`.
fn lexical_rel(base: &Path, path: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let p: Vec<_> = path.components().collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), b.len() - common).collect();
    parts.extend(p[common..].iter().map(|c| c.as_os_str().to_string_lossy().to_string()));
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for e in entries {
            let p = dir.path().join(e.trim_end_matches('/'));
            if e.ends_with('/') {
                std::fs::create_dir_all(&p).unwrap();
            } else {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "").unwrap();
            }
        }
        dir
    }

    #[test]
    fn context_is_the_nearest_git_root_else_the_module() {
        // (entries, module root, context, subpath, git)
        let cases: &[(&[&str], &str, &str, &str, bool)] = &[
            (&["m/dagger.json"], "m", "m", ".", false),
            (&[".git/", "m/dagger.json"], "m", ".", "m", true),
            (&[".git/", "a/b/m/dagger.json"], "a/b/m", ".", "a/b/m", true),
            // a worktree's .git is a file
            (&[".git", "m/dagger.json"], "m", ".", "m", true),
            // the nearest one wins
            (&[".git/", "sub/.git/", "sub/m/dagger.json"], "sub/m", "sub", "m", true),
            (&["m/.git/", "m/dagger.json"], "m", "m", ".", true),
        ];
        for (entries, root, context, subpath, git) in cases {
            let dir = tree(entries);
            let base = dir.path().canonicalize().unwrap();
            let loc = locate(&base.join(root)).unwrap();
            let want_context = if *context == "." { base.clone() } else { base.join(context) };
            assert_eq!((&loc.context, loc.subpath.as_str(), loc.git), (&want_context, *subpath, *git), "{entries:?}");
            assert_eq!(loc.root(), base.join(root));
        }
        assert_eq!(locate(Path::new("rel")), Err(ContextError::NotAbsolute("rel".into())));
    }

    #[test]
    fn finds_the_module_root_upwards() {
        let dir = tree(&["m/dagger.json", "m/src/pkg/x.py"]);
        let base = dir.path();
        assert_eq!(find_module_root(&base.join("m/src/pkg")), Some(base.join("m")));
        assert_eq!(find_module_root(&base.join("m")), Some(base.join("m")));
        assert_eq!(find_module_root(base), None);
    }

    #[test]
    fn dependencies_resolve_inside_the_context() {
        let loc = Location { context: "/ws".into(), subpath: "app".into(), git: true };
        let solo = Location { context: "/ws/app".into(), subpath: ".".into(), git: false };
        // (module, source, result)
        let cases: Vec<(&Location, &str, Result<String, ContextError>)> = vec![
            (&loc, "../greeter", Ok("greeter".into())),
            (&loc, "./deps/lib", Ok("app/deps/lib".into())),
            (&loc, "deps/../lib", Ok("app/lib".into())),
            (&loc, "..", Ok(".".into())),
            (
                &loc,
                "../../other",
                Err(ContextError::DependencyEscapes { rel: "../other".into(), context: "/ws".into() }),
            ),
            (
                &solo,
                "../greeter",
                Err(ContextError::DependencyEscapes { rel: "../greeter".into(), context: "/ws/app".into() }),
            ),
            (&solo, "lib", Ok("lib".into())),
            (&loc, "/abs/dep", Err(ContextError::DependencyAbsolute("/abs/dep".into()))),
        ];
        for (module, source, want) in cases {
            assert_eq!(resolve_dependency(module, source), want, "{source} from {module:?}");
        }
        let err = resolve_dependency(&solo, "../greeter").unwrap_err().to_string();
        assert!(err.starts_with("local module dep source path \"../greeter\" escapes context \"/ws/app\""), "{err}");
    }

    #[test]
    fn ref_kinds() {
        // (source, pin, fast kind)
        let cases = [
            ("../greeter", None, Some(SourceKind::Local)),
            ("./x", None, Some(SourceKind::Local)),
            ("/abs", None, Some(SourceKind::Local)),
            ("greeter", None, Some(SourceKind::Local)),
            ("github.com/acme/lib@v1", None, None),
            ("https://github.com/acme/lib", None, Some(SourceKind::Git)),
            ("greeter", Some("abc"), Some(SourceKind::Git)),
        ];
        for (source, pin, want) in cases {
            assert_eq!(fast_kind(source, pin), want, "{source}");
        }
        let dir = tree(&["m/dagger.json", "m/lib.v2/dagger.json"]);
        let loc = locate(&dir.path().canonicalize().unwrap().join("m")).unwrap();
        assert_eq!(kind(&loc, "lib.v2", None), SourceKind::Local);
        assert_eq!(kind(&loc, "github.com/acme/lib", None), SourceKind::Git);
    }

    #[test]
    fn lexical_paths() {
        let cases = [
            ("/a/b/../c", "/a/c"),
            ("/a/./b/", "/a/b"),
            ("/..", "/"),
            ("/a/../..", "/"),
            ("a/..", "."),
            ("a/../..", ".."),
            ("../../x", "../../x"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(Path::new(input)), PathBuf::from(want), "{input}");
        }
        assert_eq!(lexical_rel(Path::new("/a/b"), Path::new("/a/c/d")), "../c/d");
        assert_eq!(lexical_rel(Path::new("/a"), Path::new("/a")), ".");
    }
}
