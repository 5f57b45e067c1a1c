//! Lexical path cleaning, one rule for all: empty and `.` components are
//! dropped, `..` removes the component before it and stops at the top (it
//! never climbs above `/` or above a relative path's start). No symlink is
//! looked at (resolving inside a root is `tanto_fs::Root`'s job): op paths,
//! selectors and API paths are all cleaned by these.

/// The byte ranges of the components of `p` that the rule above keeps.
fn ranges(p: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for c in p.split(|b| *b == b'/') {
        let range = (start, start + c.len());
        start += c.len() + 1;
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            _ => out.push(range),
        }
    }
    out
}

/// The components of `p` after the rule above (tar entry names, any bytes).
pub fn components(p: &[u8]) -> Vec<&[u8]> {
    ranges(p).into_iter().map(|(a, b)| &p[a..b]).collect()
}

/// The components of `p` after the rule above.
fn segments(p: &str) -> Vec<&str> {
    // `/` is ASCII, so every range starts and ends on a character boundary.
    ranges(p.as_bytes()).into_iter().map(|(a, b)| &p[a..b]).collect()
}

/// `p` as a clean absolute path: `/` for the top, never with a trailing `/`.
pub fn clean_abs(p: &str) -> String {
    format!("/{}", segments(p).join("/"))
}

/// `p` as a clean relative path (`""` for the top): a selector that cannot leave its root.
pub fn clean_rel(p: &str) -> String {
    segments(p).join("/")
}
