//! Git-style unified diffs (`Directory.withPatch`): parsing and applying to
//! text, and [`apply_patch`] to a directory of a [`Root`]. Supports several
//! files per patch, new and deleted files, `\ No newline at end of file`, and
//! hunks that moved (they are searched for around their stated line).
//! Renames, copies, mode changes and binary patches are refused with a clear
//! error.

use crate::path::clean_abs;
use crate::{FsError, Result, Root};

#[derive(Debug, Clone, PartialEq)]
pub struct FilePatch {
    /// Path relative to the patched directory; `None` for /dev/null.
    pub old: Option<String>,
    pub new: Option<String>,
    pub hunks: Vec<Hunk>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hunk {
    pub old_start: usize,
    /// (kind, text without the newline): kind is ' ', '-' or '+'.
    pub lines: Vec<(char, String)>,
    /// The old / new side ends without a newline.
    pub old_no_eol: bool,
    pub new_no_eol: bool,
}

fn strip_prefix(p: &str) -> Option<String> {
    let p = p.split('\t').next().unwrap_or(p).trim_end();
    if p == "/dev/null" {
        return None;
    }
    let p = p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")).unwrap_or(p);
    Some(p.to_string())
}

fn range(s: &str) -> Result<(usize, usize), String> {
    let (start, len) = match s.split_once(',') {
        Some((a, b)) => (a, b),
        None => (s, "1"),
    };
    Ok((
        start.parse().map_err(|_| format!("bad hunk range `{s}`"))?,
        len.parse().map_err(|_| format!("bad hunk range `{s}`"))?,
    ))
}

/// Parses a patch into per-file patches.
pub fn parse(text: &str) -> Result<Vec<FilePatch>, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("rename from")
            || l.starts_with("copy from")
            || l.starts_with("old mode")
            || l.starts_with("GIT binary patch")
            || l.starts_with("Binary files")
        {
            return Err(format!("`{l}`: renames, copies, mode changes and binary patches are not supported"));
        }
        if let (Some(old), Some(new)) = (l.strip_prefix("--- "), lines.get(i + 1).and_then(|n| n.strip_prefix("+++ ")))
        {
            out.push(FilePatch { old: strip_prefix(old), new: strip_prefix(new), hunks: Vec::new() });
            i += 2;
            continue;
        }
        if let Some(h) = l.strip_prefix("@@ ") {
            let fp = out.last_mut().ok_or("a hunk comes before any `---`/`+++` file header")?;
            let spec = h.split(" @@").next().unwrap_or("");
            let mut parts = spec.split_whitespace();
            let (old_start, old_len) =
                range(parts.next().and_then(|p| p.strip_prefix('-')).ok_or(format!("bad hunk header `{l}`"))?)?;
            let (_, new_len) =
                range(parts.next().and_then(|p| p.strip_prefix('+')).ok_or(format!("bad hunk header `{l}`"))?)?;
            let mut hunk = Hunk { old_start, lines: Vec::new(), old_no_eol: false, new_no_eol: false };
            let (mut o, mut n) = (0, 0);
            i += 1;
            while i < lines.len() && (o < old_len || n < new_len || lines[i].starts_with('\\')) {
                let hl = lines[i];
                if let Some(rest) = hl.strip_prefix('\\') {
                    let _ = rest;
                    match hunk.lines.last() {
                        Some(('-', _)) => hunk.old_no_eol = true,
                        Some(('+', _)) => hunk.new_no_eol = true,
                        _ => {
                            hunk.old_no_eol = true;
                            hunk.new_no_eol = true;
                        }
                    }
                    i += 1;
                    continue;
                }
                let (kind, body) = match hl.chars().next() {
                    Some(c @ (' ' | '-' | '+')) => (c, hl[1..].to_string()),
                    None => (' ', String::new()),
                    Some(_) => return Err(format!("hunk line `{hl}` does not start with ' ', '-' or '+'")),
                };
                match kind {
                    ' ' => {
                        o += 1;
                        n += 1;
                    }
                    '-' => o += 1,
                    _ => n += 1,
                }
                hunk.lines.push((kind, body));
                i += 1;
            }
            if o != old_len || n != new_len {
                return Err(format!("hunk `{l}` is truncated"));
            }
            fp.hunks.push(hunk);
            continue;
        }
        i += 1;
    }
    if out.is_empty() {
        return Err("the patch has no file changes (`---`/`+++` headers)".into());
    }
    Ok(out)
}

/// Applies the hunks of one file to its old text (`None` = absent).
pub fn apply(old: Option<&str>, fp: &FilePatch) -> Result<String, String> {
    let text = old.unwrap_or("");
    let ends_with_nl = text.is_empty() || text.ends_with('\n');
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut no_eol = !ends_with_nl;
    let mut delta: isize = 0;
    let name = fp.new.as_deref().or(fp.old.as_deref()).unwrap_or("?");
    for h in &fp.hunks {
        let old_side: Vec<&str> = h.lines.iter().filter(|(k, _)| *k != '+').map(|(_, t)| t.as_str()).collect();
        let new_side: Vec<String> = h.lines.iter().filter(|(k, _)| *k != '-').map(|(_, t)| t.clone()).collect();
        let want = (h.old_start.max(1) as isize - 1 + delta).max(0) as usize;
        let want = if old_side.is_empty() && h.old_start == 0 { 0 } else { want };
        let fits = |at: usize| {
            at + old_side.len() <= lines.len()
                && lines[at..at + old_side.len()].iter().zip(&old_side).all(|(a, b)| a == b)
        };
        let at = (0..=lines.len())
            .flat_map(|d| [want.checked_sub(d), Some(want + d)])
            .flatten()
            .filter(|&a| a <= lines.len())
            .find(|&a| fits(a))
            .ok_or_else(|| {
                format!(
                    "hunk at line {} of `{name}` does not apply: the file differs from what the patch expects",
                    h.old_start
                )
            })?;
        let at_end = at + old_side.len() == lines.len();
        lines.splice(at..at + old_side.len(), new_side.iter().cloned());
        delta += new_side.len() as isize - old_side.len() as isize;
        if at_end {
            no_eol = h.new_no_eol;
        }
    }
    let mut out = lines.join("\n");
    if !lines.is_empty() && !no_eol {
        out.push('\n');
    }
    Ok(out)
}

/// Applies a git-style unified diff to the directory `dir`: files are
/// changed, created or deleted; modes and owners of changed files are kept.
pub fn apply_patch(root: &Root, dir: &str, text: &str) -> Result<()> {
    let at = |p: &str| clean_abs(&format!("{dir}/{p}"));
    for fp in parse(text).map_err(FsError::Patch)? {
        if let (Some(o), Some(n)) = (&fp.old, &fp.new) {
            if o != n {
                return Err(FsError::Patch(format!("`{o}` -> `{n}`: renames are not supported")));
            }
        }
        let old = match &fp.old {
            Some(p) => {
                let data = root.read_file(&at(p)).map_err(|e| e.at(p.as_str()))?;
                Some(String::from_utf8(data).map_err(|_| FsError::NotText(p.clone()))?)
            }
            None => None,
        };
        let out = apply(old.as_deref(), &fp).map_err(FsError::Patch)?;
        match &fp.new {
            None => root.remove(&at(fp.old.as_deref().unwrap_or_default()), false)?,
            Some(p) => {
                let path = at(p);
                if fp.old.is_none() && root.stat(&path, false)?.is_some() {
                    return Err(FsError::Patch(format!("`{p}` already exists but the patch creates it")));
                }
                let mode = root.stat(&path, true)?.map(|st| st.st_mode & 0o7777).unwrap_or(0o644);
                root.write_file(&path, out.as_bytes(), mode, None)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "diff --git a/file.txt b/file.txt\nindex 1234567..abcdef8 100644\n--- a/file.txt\n+++ b/file.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n\
diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n\
diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";

    #[test]
    fn parse_files() {
        let fps = parse(PATCH).unwrap();
        let names: Vec<(Option<&str>, Option<&str>)> =
            fps.iter().map(|f| (f.old.as_deref(), f.new.as_deref())).collect();
        assert_eq!(
            names,
            vec![(Some("file.txt"), Some("file.txt")), (None, Some("new.txt")), (Some("gone.txt"), None)]
        );
        assert!(fps[1].hunks[0].new_no_eol);
    }

    #[test]
    fn apply_cases() {
        let fps = parse(PATCH).unwrap();
        // (old text, file patch, expected)
        let cases: Vec<(Option<&str>, &FilePatch, Result<&str, &str>)> = vec![
            (Some("one\ntwo\nthree\n"), &fps[0], Ok("one\nTWO\nthree\n")),
            (Some("zero\none\ntwo\nthree\n"), &fps[0], Ok("zero\none\nTWO\nthree\n")),
            (Some("one\nthree\n"), &fps[0], Err("does not apply")),
            (None, &fps[1], Ok("a\nb")),
            (Some("bye\n"), &fps[2], Ok("")),
        ];
        for (old, fp, want) in cases {
            let got = apply(old, fp);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{old:?}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{old:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn patches_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("src")).unwrap();
        for (p, data) in [("src/file.txt", "one\ntwo\nthree\n"), ("src/gone.txt", "bye\n")] {
            std::fs::write(tmp.path().join(p), data).unwrap();
        }
        let root = Root::open(tmp.path()).unwrap();
        apply_patch(&root, "/src", PATCH).unwrap();
        // (path, content after the patch; None = removed)
        let cases =
            [("src/file.txt", Some("one\nTWO\nthree\n")), ("src/new.txt", Some("a\nb")), ("src/gone.txt", None)];
        for (p, want) in cases {
            assert_eq!(std::fs::read_to_string(tmp.path().join(p)).ok().as_deref(), want, "{p}");
        }
        // applying it again fails: the texts differ from what it expects
        let e = apply_patch(&root, "/src", PATCH).unwrap_err();
        assert!(e.to_string().contains("does not apply"), "{e}");
    }

    #[test]
    fn refusals() {
        for (text, want) in [
            ("rename from a\nrename to b\n", "renames"),
            ("just text", "no file changes"),
            ("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n", "truncated"),
        ] {
            assert!(parse(text).unwrap_err().contains(want), "{text:?}");
        }
    }
}
