//! Where a local module lives (`core/schema/modulesource.go` `localModuleSource`,
//! `core/modulesource.go` dependency loading): its **context directory** is
//! the nearest ancestor holding `.git` (a directory, or a file as in a git
//! worktree), else the module's own root; the module is loaded from that
//! directory with the root's subpath inside it, and a local dependency must
//! lie inside it too. Paths are handled lexically, as Dagger does (`..`
//! against the joined path, symlinks not followed).

use std::path::{Component, Path, PathBuf};

use crate::config::{Dependency, FILENAME};

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
    #[error("local module dep source path {rel:?} escapes context {context:?}: a local dependency must lie inside the module's git repository (or, without one, inside the module's own directory): run `git init` in a directory above both")]
    DependencyEscapes { rel: String, context: String },
    #[error("local module dependency context directory {dep_context:?} is not in parent context directory {context:?}: a local dependency must lie inside the module's git repository (or, without one, inside the module's own directory): run `git init` in a directory above both")]
    DependencyOutside { dep_context: String, context: String },
    #[error("the module at {0:?} cannot be a dependency of itself: give the path of another module")]
    SelfDependency(String),
    #[error("duplicate dependency name {0:?}: the module already has a dependency of that name; install this one under another name (--name)")]
    DuplicateName(String),
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

/// The `source` under which the module whose root is `dep_root` (absolute)
/// is a dependency of the module at `module` (`dagger install`: Dagger's
/// `withDependencies` and `loadModuleSourceConfig`): its root relative to
/// the module's root. The dependency's own context (its nearest git root,
/// else its root) must lie inside the module's context.
pub fn dependency_source(module: &Location, dep_root: &Path) -> Result<String, ContextError> {
    let dep_root = clean(dep_root);
    let root = module.root();
    if dep_root == root {
        return Err(ContextError::SelfDependency(root.display().to_string()));
    }
    let dep = locate(&dep_root)?;
    let rel = lexical_rel(&module.context, &dep.context);
    if rel == ".." || rel.starts_with("../") {
        return Err(ContextError::DependencyOutside {
            dep_context: dep.context.display().to_string(),
            context: module.context.display().to_string(),
        });
    }
    Ok(lexical_rel(&root, &dep_root))
}

/// `dependencies` with `new` added as Dagger's `withDependencies` does
/// (`deduplicateAndSortItems`): an entry for the same module (the same
/// directory, or the same git ref) is replaced by the new one, names must
/// then be unique, and the list is sorted by name. `root` is the module's
/// root, against which local sources resolve.
pub fn add_dependency(root: &Path, deps: &[Dependency], new: Dependency) -> Result<Vec<Dependency>, ContextError> {
    let place = |d: &Dependency| -> String {
        let local = match fast_kind(&d.source, d.pin.as_deref()) {
            Some(k) => k == SourceKind::Local,
            None => root.join(&d.source).is_dir(),
        };
        if local {
            clean(&root.join(&d.source)).display().to_string()
        } else {
            d.source.clone()
        }
    };
    let mut places = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(deps.len() + 1);
    for d in std::iter::once(new).chain(deps.iter().cloned()) {
        if !places.insert(place(&d)) {
            continue;
        }
        if !d.name.is_empty() && !names.insert(d.name.clone()) {
            return Err(ContextError::DuplicateName(d.name));
        }
        out.push(d);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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
    fn installed_dependencies_stay_in_the_context() {
        // (entries, module root, dependency root, source or error)
        type Case<'a> = (&'a [&'a str], &'a str, &'a str, Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            (&[".git/", "app/dagger.json", "greeter/dagger.json"], "app", "greeter", Ok("../greeter")),
            (&[".git/", "a/app/dagger.json", "lib/x/dagger.json"], "a/app", "lib/x", Ok("../../lib/x")),
            (&["app/dagger.json", "app/deps/lib/dagger.json"], "app", "app/deps/lib", Ok("deps/lib")),
            // a nested repository inside the module's repository is inside its context
            (
                &[".git/", "app/dagger.json", "vendor/g/.git/", "vendor/g/dagger.json"],
                "app",
                "vendor/g",
                Ok("../vendor/g"),
            ),
            // no git: the context is the module's own root
            (&["app/dagger.json", "greeter/dagger.json"], "app", "greeter", Err("outside")),
            // another repository
            (
                &["ws/.git/", "ws/app/dagger.json", "other/greeter/dagger.json"],
                "ws/app",
                "other/greeter",
                Err("outside"),
            ),
            (&[".git/", "app/dagger.json"], "app", "app", Err("self")),
            (&[".git/", "app/dagger.json"], "app", "app/./", Err("self")),
        ];
        for (entries, root, dep, want) in cases {
            let dir = tree(entries);
            let base = dir.path().canonicalize().unwrap();
            let module = locate(&base.join(root)).unwrap();
            let got = dependency_source(&module, &base.join(dep));
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{entries:?}"),
                (Err("outside"), Err(ContextError::DependencyOutside { dep_context, context })) => {
                    assert_eq!(context, module.context.display().to_string(), "{entries:?}");
                    assert!(!Path::new(&dep_context).starts_with(&module.context), "{entries:?}");
                }
                (Err("self"), Err(ContextError::SelfDependency(p))) => {
                    assert_eq!(p, module.root().display().to_string())
                }
                (w, g) => panic!("{entries:?}: want {w:?}, got {g:?}"),
            }
        }
        let err = ContextError::DependencyOutside { dep_context: "/o/g".into(), context: "/ws".into() }.to_string();
        assert!(
            err.starts_with(
                "local module dependency context directory \"/o/g\" is not in parent context directory \"/ws\""
            ),
            "{err}"
        );
    }

    #[test]
    fn dependencies_are_replaced_by_place_unique_by_name_and_sorted() {
        let dep = |n: &str, s: &str| Dependency::local(n, s);
        let names = |deps: &[Dependency]| deps.iter().map(|d| format!("{}={}", d.name, d.source)).collect::<Vec<_>>();
        let root = Path::new("/ws/app");
        // (existing, new, result or the duplicate name)
        type Case<'a> = (Vec<Dependency>, Dependency, Result<&'a [&'a str], &'a str>);
        let cases: Vec<Case> = vec![
            (vec![], dep("greeter", "../greeter"), Ok(&["greeter=../greeter"])),
            (vec![dep("zed", "../zed"), dep("b", "../b")], dep("m", "../m"), Ok(&["b=../b", "m=../m", "zed=../zed"])),
            // the same directory, written another way: replaced (here: renamed)
            (vec![dep("greeter", "../greeter")], dep("hi", "./../greeter/"), Ok(&["hi=./../greeter/"])),
            // the same name for another directory: refused
            (vec![dep("greeter", "../greeter")], dep("greeter", "../other"), Err("greeter")),
            // git refs are compared as written
            (
                vec![dep("lib", "github.com/acme/lib@v1")],
                dep("lib2", "github.com/acme/lib@v2"),
                Ok(&["lib=github.com/acme/lib@v1", "lib2=github.com/acme/lib@v2"]),
            ),
        ];
        for (existing, new, want) in cases {
            let got = add_dependency(root, &existing, new.clone());
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(names(&g), w, "{new:?}"),
                (Err(n), Err(ContextError::DuplicateName(g))) => assert_eq!(g, n),
                (w, g) => panic!("{new:?}: want {w:?}, got {g:?}"),
            }
        }
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
