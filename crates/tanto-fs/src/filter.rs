//! Include/exclude patterns in BuildKit's style, plus `.gitignore` files:
//! which entries of a copied (or uploaded) tree are kept.

use std::os::fd::AsFd;

use globset::{Glob, GlobMatcher};

use crate::{gitignore, FsError};

/// Include/exclude patterns are globs on paths relative to the copied
/// directory; an excluded directory excludes all below it, an included one
/// includes all below it, and `!` in an exclude pattern re-includes (the last
/// matching exclude pattern decides).
pub struct Filter {
    include: Vec<GlobMatcher>,
    /// The include patterns component by component, compiled once (see
    /// [`Filter::may_include_below`]).
    include_parts: Vec<Vec<Part>>,
    exclude: Vec<(GlobMatcher, bool)>,
    /// The source's `.gitignore` files on the current path, when asked for.
    gitignore: Option<parking_lot::Mutex<gitignore::Stack>>,
}

/// One component of an include pattern.
enum Part {
    /// `**`: reaches anything below.
    Any,
    /// A component with glob characters (`None`: one globset cannot compile
    /// alone, taken as matching).
    Glob(Option<GlobMatcher>),
    Literal(String),
}

fn parts_of(pattern: &str) -> Vec<Part> {
    pattern
        .split('/')
        .map(|p| match p {
            "**" => Part::Any,
            p if p.contains(['*', '?', '[', '{', '\\']) => Part::Glob(Glob::new(p).ok().map(|g| g.compile_matcher())),
            p => Part::Literal(p.to_string()),
        })
        .collect()
}

/// Whether an include pattern (its `parts`) can match `dir` or something
/// below it, component by component.
fn pattern_may_reach(parts: &[Part], dir: &str) -> bool {
    let mut parts = parts.iter();
    for d in dir.split('/') {
        match parts.next() {
            // the pattern names a parent of `dir`: all of it is included
            None | Some(Part::Any) => return true,
            Some(Part::Glob(m)) if !m.as_ref().is_none_or(|m| m.is_match(d)) => return false,
            Some(Part::Literal(p)) if p != d => return false,
            Some(_) => {}
        }
    }
    true
}

/// `name` with glob metacharacters escaped, so it matches only itself.
pub fn escape(name: &str) -> String {
    globset::escape(name)
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, FsError> {
        let compile = |p: &str| -> Result<GlobMatcher, FsError> {
            let p = p.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .map_err(|e| FsError::Pattern { pattern: p.to_string(), message: e.to_string() })
        };
        let include: Vec<GlobMatcher> =
            include.iter().filter(|p| !p.is_empty()).map(|p| compile(p)).collect::<Result<_, _>>()?;
        let exclude = exclude
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| match p.strip_prefix('!') {
                Some(neg) => compile(neg).map(|m| (m, true)),
                None => compile(p).map(|m| (m, false)),
            })
            .collect::<Result<_, _>>()?;
        let include_parts = include.iter().map(|m| parts_of(m.glob().glob())).collect();
        Ok(Filter { include, include_parts, exclude, gitignore: None })
    }

    /// A filter that keeps everything.
    pub fn none() -> Filter {
        Filter { include: Vec::new(), include_parts: Vec::new(), exclude: Vec::new(), gitignore: None }
    }

    /// Also leaves out what the copied tree's `.gitignore` files ignore.
    pub fn with_gitignore(mut self, on: bool) -> Filter {
        self.gitignore = on.then(Default::default);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.gitignore.is_none()
    }

    /// Whether there are include patterns (else everything not excluded is in).
    pub fn has_includes(&self) -> bool {
        !self.include.is_empty()
    }

    /// Entering source directory `dir` at `prefix` ("" for the copied root).
    pub(crate) fn enter<Fd: AsFd>(&self, prefix: &str, dir: Fd) {
        if let Some(g) = &self.gitignore {
            g.lock().push(prefix, gitignore::read_in(dir).as_deref());
        }
    }

    pub(crate) fn leave(&self) {
        if let Some(g) = &self.gitignore {
            g.lock().pop();
        }
    }

    pub(crate) fn git_ignored(&self, rel: &str, is_dir: bool) -> bool {
        self.gitignore.as_ref().is_some_and(|g| g.lock().ignored(rel, is_dir))
    }

    /// Whether something at or below directory `dir` can be included: without
    /// include patterns always; else when some pattern can reach into it. A
    /// walk need not open a directory no pattern reaches (`Host.file` of
    /// `/etc/hostname` never reads `/etc/ssl/private`).
    pub fn may_include_below(&self, dir: &str) -> bool {
        self.include.is_empty() || self.include_parts.iter().any(|parts| pattern_may_reach(parts, dir))
    }

    /// Whether `rel` is excluded by the exclude patterns.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (m, negated) in &self.exclude {
            if m.is_match(rel) {
                out = !negated;
            }
        }
        out
    }

    /// Whether `rel` itself or one of its parent directories was included.
    pub fn included(&self, rel: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_directories_includes_reach() {
        // (include patterns, directory, reached)
        let cases: [(&[&str], &str, bool); 12] = [
            (&["hostname"], "ssl", false),
            (&["hostname"], "hostname", true),
            (&["ssl/certs/*.pem"], "ssl", true),
            (&["ssl/certs/*.pem"], "ssl/certs", true),
            (&["ssl/certs/*.pem"], "ssl/private", false),
            (&["ssl"], "ssl/private/deep", true),
            (&["**/*.py"], "any/where", true),
            (&["src/**"], "docs", false),
            (&["s*/x"], "src", true),
            (&["s*/x"], "docs", false),
            (&[], "anything", true),
            (&["a", "b/c"], "b", true),
        ];
        for (include, dir, want) in cases {
            let f = Filter::new(&include.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &[]).unwrap();
            assert_eq!(f.may_include_below(dir), want, "{include:?} {dir}");
        }
        let escaped = Filter::new(&[escape("we[ir]d*")], &[]).unwrap();
        assert!(!escaped.may_include_below("other"));
        assert!(escaped.may_include_below("we[ir]d*"));
    }

    #[test]
    fn patterns() {
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        // (include, exclude, path, (included, excluded))
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a str, (bool, bool));
        let cases: &[Case] = &[
            (&[], &[], "a/b", (true, false)),
            (&["src"], &[], "src/a.rs", (true, false)),
            (&["src/"], &[], "doc/a.md", (false, false)),
            (&["./src/*.rs"], &[], "src/a.rs", (true, false)),
            (&["*.rs"], &[], "src/a.rs", (false, false)),
            (&[], &["*.log"], "a.log", (true, true)),
            (&[], &["*.log", "!keep.log"], "keep.log", (true, false)),
            (&[], &["/build"], "build", (true, true)),
        ];
        for (include, exclude, path, want) in cases {
            let f = Filter::new(&v(include), &v(exclude)).unwrap();
            assert_eq!((f.included(path), f.excluded(path)), *want, "{include:?} {exclude:?} {path}");
        }
        let e = Filter::new(&v(&["a[b"]), &[]).err().unwrap();
        assert!(e.to_string().starts_with("invalid pattern `a[b`: "), "{e}");
    }
}
