//! `.gitignore` rules (gitignore(5)) for host uploads and copies with `gitignore: true`.
//!
//! A pattern with a `/` at the start or in the middle is anchored to the
//! directory of its `.gitignore`; otherwise it matches at any depth. A
//! trailing `/` matches directories only, `!` re-includes, and the last
//! matching rule wins. Deeper `.gitignore` files take precedence over
//! shallower ones. As in git, nothing inside an ignored directory can be
//! re-included (the walk does not enter ignored directories).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;

use globset::{GlobBuilder, GlobMatcher};
use rustix::fs::{self as rfs, FileType, Mode, OFlags};

/// The text of the `.gitignore` in directory `dir`, if it has a regular one.
pub fn read_in<Fd: AsFd>(dir: Fd) -> Option<String> {
    let fd = rfs::openat(dir, ".gitignore", OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let st = rfs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).ok()?;
    Some(text)
}

#[derive(Clone)]
struct Rule {
    glob: GlobMatcher,
    negated: bool,
    dir_only: bool,
}

/// The rules of one `.gitignore`, matched against paths relative to its directory.
#[derive(Clone)]
pub struct Gitignore {
    rules: Vec<Rule>,
}

/// What the rules say about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ignore,
    Keep,
    Unmatched,
}

impl Gitignore {
    pub fn parse(text: &str) -> Gitignore {
        let rules = text.lines().filter_map(parse_line).collect();
        Gitignore { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The verdict for `rel` (relative to this file's directory, `/`-separated).
    pub fn matched(&self, rel: &str, is_dir: bool) -> Verdict {
        for r in self.rules.iter().rev() {
            if r.dir_only && !is_dir {
                continue;
            }
            if r.glob.is_match(rel) {
                return if r.negated { Verdict::Keep } else { Verdict::Ignore };
            }
        }
        Verdict::Unmatched
    }
}

fn parse_line(line: &str) -> Option<Rule> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // Trailing spaces are dropped unless escaped with a backslash.
    let mut pat = line.to_string();
    while pat.ends_with(' ') && !pat.ends_with("\\ ") {
        pat.pop();
    }
    if pat.ends_with("\\ ") {
        pat.truncate(pat.len() - 2);
        pat.push(' ');
    }
    let mut negated = false;
    if let Some(rest) = pat.strip_prefix('!') {
        negated = true;
        pat = rest.to_string();
    } else if pat.starts_with("\\!") || pat.starts_with("\\#") {
        pat.remove(0);
    }
    let mut dir_only = false;
    if pat.ends_with('/') {
        dir_only = true;
        pat = pat.trim_end_matches('/').to_string();
    }
    if pat.is_empty() {
        return None;
    }
    let anchored = pat.contains('/');
    let pat = pat.trim_start_matches('/');
    let full = if anchored || pat.starts_with("**/") { pat.to_string() } else { format!("**/{pat}") };
    let glob = GlobBuilder::new(&full).literal_separator(true).backslash_escape(true).build().ok()?.compile_matcher();
    Some(Rule { glob, negated, dir_only })
}

/// The `.gitignore` files in effect while walking a tree: one frame per
/// directory on the current path (`None` where a directory has none).
#[derive(Default, Clone)]
pub struct Stack {
    frames: Vec<(String, Option<Gitignore>)>,
}

impl Stack {
    /// Enters directory `dir_rel` ("" for the root) with its `.gitignore` text, if any.
    pub fn push(&mut self, dir_rel: &str, text: Option<&str>) {
        let g = text.map(Gitignore::parse).filter(|g| !g.is_empty());
        self.frames.push((dir_rel.to_string(), g));
    }

    pub fn pop(&mut self) {
        self.frames.pop();
    }

    /// Whether `rel` (relative to the upload root) is ignored: the deepest
    /// `.gitignore` with a matching rule decides.
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        for (dir, g) in self.frames.iter().rev() {
            let Some(g) = g else { continue };
            let sub = if dir.is_empty() {
                rel
            } else {
                match rel.strip_prefix(dir.as_str()).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                }
            };
            match g.matched(sub, is_dir) {
                Verdict::Ignore => return true,
                Verdict::Keep => return false,
                Verdict::Unmatched => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        // (gitignore text, path, is_dir, ignored?)
        let cases: &[(&str, &str, bool, bool)] = &[
            ("*.log", "a.log", false, true),
            ("*.log", "sub/deep/a.log", false, true),
            ("*.log\n!keep.log", "keep.log", false, false),
            ("*.log\n!keep.log", "x/keep.log", false, false),
            ("/build", "build", true, true),
            ("/build", "src/build", true, false),
            ("build/", "build", false, false),
            ("build/", "src/build", true, true),
            ("doc/*.txt", "doc/a.txt", false, true),
            ("doc/*.txt", "doc/x/a.txt", false, false),
            ("doc/**/*.txt", "doc/x/a.txt", false, true),
            ("**/foo", "a/b/foo", false, true),
            ("a/**", "a/x/y", false, true),
            ("# comment\n\n", "# comment", false, false),
            ("\\#hash", "#hash", false, true),
            ("\\!bang", "!bang", false, true),
            ("trailing   ", "trailing", false, true),
            ("*.o\r\n", "x.o", false, true),
        ];
        for (text, path, is_dir, want) in cases {
            let mut s = Stack::default();
            s.push("", Some(text));
            assert_eq!(s.ignored(path, *is_dir), *want, "{text:?} {path}");
        }
    }

    #[test]
    fn deeper_files_win() {
        let mut s = Stack::default();
        s.push("", Some("*.txt"));
        s.push("sub", Some("!keep.txt"));
        assert!(s.ignored("a.txt", false));
        assert!(s.ignored("sub/other.txt", false));
        assert!(!s.ignored("sub/keep.txt", false));
        s.pop();
        assert!(s.ignored("sub/keep.txt", false));
    }
}
