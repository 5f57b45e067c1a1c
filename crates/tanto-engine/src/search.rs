//! `Directory.search`/`File.search` over a snapshot, with ripgrep's result
//! shape: one result per matching line (or per group of lines a multiline
//! match spans), the line with its terminator, its 1-based number, its byte
//! offset in the file, and the submatches' byte offsets within it. Binary
//! files (a NUL in the first 8 KiB) and symlinks are skipped, as rg does.

use globset::{GlobBuilder, GlobMatcher};
use regex::bytes::{Regex, RegexBuilder};
use rustix::fs::FileType;
use tanto_contract::fs::{SearchMatch, SearchOptions, Submatch};

use tanto_fs::gitignore::Stack;
use tanto_fs::path::clean_abs;
use tanto_fs::{file_type, Root};

/// Errors a user can fix: a bad pattern or glob.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search pattern `{pattern}` is not a valid regular expression: {reason}; pass `literal: true` to search for it as text")]
    Pattern { pattern: String, reason: String },
    #[error("search glob `{glob}` is invalid: {reason}")]
    Glob { glob: String, reason: String },
    #[error("`{path}`: {source}")]
    Io { path: String, source: tanto_fs::FsError },
}

impl tanto_model::Tiered for SearchError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            SearchError::Pattern { .. } | SearchError::Glob { .. } => tanto_model::Tier::Input,
            SearchError::Io { .. } => tanto_model::Tier::Environment,
        }
    }
}

struct Searcher<'a> {
    root: &'a Root,
    base: String,
    opts: &'a SearchOptions,
    re: Regex,
    globs: Vec<(GlobMatcher, bool)>,
    ignores: Stack,
    out: Vec<SearchMatch>,
}

fn io(path: &str) -> impl Fn(tanto_fs::FsError) -> SearchError + '_ {
    move |source| SearchError::Io { path: path.to_string(), source }
}

/// Runs a search below directory `base` of `root`.
pub fn run(root: &Root, base: &str, opts: &SearchOptions) -> Result<Vec<SearchMatch>, SearchError> {
    let pattern = if opts.literal { regex::escape(&opts.pattern) } else { opts.pattern.clone() };
    let re = RegexBuilder::new(&pattern)
        .case_insensitive(opts.insensitive)
        .multi_line(true)
        .dot_matches_new_line(opts.multiline && opts.dotall)
        .build()
        .map_err(|e| SearchError::Pattern {
            pattern: opts.pattern.clone(),
            reason: e.to_string().lines().last().unwrap_or("").trim().to_string(),
        })?;
    let globs = opts
        .globs
        .iter()
        .map(|g| {
            let (neg, pat) = match g.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, g.as_str()),
            };
            // Like rg -g: a glob without `/` matches the file name at any depth.
            let full = if pat.contains('/') { pat.trim_start_matches('/').to_string() } else { format!("**/{pat}") };
            GlobBuilder::new(&full)
                .literal_separator(true)
                .build()
                .map(|m| (m.compile_matcher(), neg))
                .map_err(|e| SearchError::Glob { glob: g.clone(), reason: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut s = Searcher { root, base: clean_abs(base), opts, re, globs, ignores: Stack::default(), out: Vec::new() };
    if opts.paths.is_empty() {
        s.walk("")?;
    } else {
        for p in &opts.paths {
            let rel = clean_abs(p).trim_start_matches('/').to_string();
            match root.stat(&s.abs(&rel), false).map_err(io(p))? {
                Some(st) if file_type(&st) == FileType::Directory => s.walk(&rel)?,
                Some(st) if file_type(&st) == FileType::RegularFile => s.file(&rel, true)?,
                Some(_) => {}
                None => {
                    return Err(SearchError::Io {
                        path: p.clone(),
                        source: std::io::Error::from_raw_os_error(libc::ENOENT).into(),
                    })
                }
            }
        }
    }
    Ok(s.out)
}

impl Searcher<'_> {
    fn abs(&self, rel: &str) -> String {
        clean_abs(&format!("{}/{rel}", self.base))
    }

    fn full(&self) -> bool {
        self.opts.limit.is_some_and(|l| self.out.len() >= l)
    }

    fn walk(&mut self, dir: &str) -> Result<(), SearchError> {
        if self.opts.skip_ignored {
            let mut text = String::new();
            for name in [".gitignore", ".ignore", ".rgignore"] {
                let p = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
                if let Ok(data) = self.root.read_file(&self.abs(&p)) {
                    text.push_str(&String::from_utf8_lossy(&data));
                    text.push('\n');
                }
            }
            self.ignores.push(dir, Some(&text));
        }
        let entries = self.root.read_dir(&self.abs(dir)).map_err(io(dir))?;
        for (name, st) in entries {
            if self.full() {
                break;
            }
            let rel = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
            let ft = file_type(&st);
            if self.opts.skip_hidden && name.starts_with('.') {
                continue;
            }
            if self.opts.skip_ignored && (name == ".git" || self.ignores.ignored(&rel, ft == FileType::Directory)) {
                continue;
            }
            match ft {
                FileType::Directory => self.walk(&rel)?,
                FileType::RegularFile => self.file(&rel, false)?,
                _ => {}
            }
        }
        if self.opts.skip_ignored {
            self.ignores.pop();
        }
        Ok(())
    }

    fn file(&mut self, rel: &str, explicit: bool) -> Result<(), SearchError> {
        if !explicit && !self.globs.is_empty() {
            let mut keep = self.globs.iter().all(|(_, neg)| *neg);
            for (m, neg) in &self.globs {
                if m.is_match(rel) {
                    keep = !neg;
                }
            }
            if !keep {
                return Ok(());
            }
        }
        let data = self.root.read_file(&self.abs(rel)).map_err(io(rel))?;
        if data[..data.len().min(8192)].contains(&0) {
            return Ok(());
        }
        if self.opts.files_only {
            if self.re.is_match(&data) {
                self.out.push(SearchMatch { file_path: rel.to_string(), ..Default::default() });
            }
            return Ok(());
        }
        for hit in matches(&self.re, &data, self.opts.multiline) {
            if self.full() {
                break;
            }
            self.out.push(SearchMatch { file_path: rel.to_string(), ..hit });
        }
        Ok(())
    }
}

/// Start of the line holding byte `i`, and the end of it (after its `\n`).
fn line_bounds(data: &[u8], start: usize, end: usize) -> (usize, usize) {
    let ls = data[..start].iter().rposition(|b| *b == b'\n').map(|p| p + 1).unwrap_or(0);
    let last = if end > start { end - 1 } else { start };
    let le = data[last.min(data.len())..].iter().position(|b| *b == b'\n').map(|p| last + p + 1).unwrap_or(data.len());
    (ls, le.max(ls))
}

/// The lines a group of matches spans (start, end) and the matches in it (start, end).
type LineGroup = (usize, usize, Vec<(usize, usize)>);

/// The matches of `re` in `data`, grouped by the lines they span.
pub fn matches(re: &Regex, data: &[u8], multiline: bool) -> Vec<SearchMatch> {
    let mut out: Vec<LineGroup> = Vec::new();
    for m in re.find_iter(data) {
        if m.start() == m.end() && m.start() == data.len() && !data.is_empty() {
            continue;
        }
        if !multiline && data[m.start()..m.end()].contains(&b'\n') {
            // Without multiline a match never crosses a line: keep the part on its first line.
            let cut = m.start() + data[m.start()..m.end()].iter().position(|b| *b == b'\n').unwrap_or(0);
            push(&mut out, data, m.start(), cut);
            continue;
        }
        push(&mut out, data, m.start(), m.end());
    }
    let line_number = |off: usize| 1 + data[..off].iter().filter(|b| **b == b'\n').count() as i64;
    out.into_iter()
        .map(|(ls, le, subs)| SearchMatch {
            file_path: String::new(),
            line_number: line_number(ls),
            absolute_offset: ls as i64,
            matched_lines: String::from_utf8_lossy(&data[ls..le]).into_owned(),
            submatches: subs
                .into_iter()
                .map(|(s, e)| Submatch {
                    start: (s - ls) as i64,
                    end: (e - ls) as i64,
                    text: String::from_utf8_lossy(&data[s..e]).into_owned(),
                })
                .collect(),
        })
        .collect()
}

fn push(out: &mut Vec<LineGroup>, data: &[u8], s: usize, e: usize) {
    let (ls, le) = line_bounds(data, s, e);
    match out.last_mut() {
        Some(last) if ls < last.1 => {
            last.1 = last.1.max(le);
            last.2.push((s, e));
        }
        _ => out.push((ls, le, vec![(s, e)])),
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the cases are tables of tuples
mod tests {
    use super::*;

    fn check(pattern: &str, multiline: bool, data: &str, want: &[(i64, i64, &str, &[(i64, i64, &str)])]) {
        let re = RegexBuilder::new(pattern).multi_line(true).dot_matches_new_line(false).build().unwrap();
        let got = matches(&re, data.as_bytes(), multiline);
        let got: Vec<(i64, i64, String, Vec<(i64, i64, String)>)> = got
            .into_iter()
            .map(|r| {
                (
                    r.line_number,
                    r.absolute_offset,
                    r.matched_lines,
                    r.submatches.into_iter().map(|s| (s.start, s.end, s.text)).collect(),
                )
            })
            .collect();
        let want: Vec<(i64, i64, String, Vec<(i64, i64, String)>)> = want
            .iter()
            .map(|(n, o, l, s)| (*n, *o, l.to_string(), s.iter().map(|(a, b, t)| (*a, *b, t.to_string())).collect()))
            .collect();
        assert_eq!(got, want, "{pattern:?} in {data:?}");
    }

    #[test]
    fn match_cases() {
        check(
            "b",
            false,
            "abc\nbob\n",
            &[(1, 0, "abc\n", &[(1, 2, "b")]), (2, 4, "bob\n", &[(0, 1, "b"), (2, 3, "b")])],
        );
        check("^x$", false, "a\nx\nxx", &[(2, 2, "x\n", &[(0, 1, "x")])]);
        check("end", false, "no newline at the end", &[(1, 0, "no newline at the end", &[(18, 21, "end")])]);
        check("a\\nb", true, "xa\nby\nz\n", &[(1, 0, "xa\nby\n", &[(1, 4, "a\nb")])]);
        check("zzz", false, "abc\n", &[]);
    }
}
