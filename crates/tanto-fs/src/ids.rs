//! The user namespace this process runs in, as far as files care: which IDs it
//! can give files, and whether overlayfs keeps its markers in `trusted.*`
//! attributes (the initial namespace) or `user.*` ones (a user namespace of our
//! own: rootless mode, where overlays are mounted with `userxattr`).

use std::sync::OnceLock;

/// One line of `/proc/PID/uid_map` or `gid_map`: IDs `inner..inner+count` here
/// are `outer..outer+count` in the parent namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub inner: u32,
    pub outer: u32,
    pub count: u32,
}

/// The ranges of an ID map file's text; malformed lines are skipped.
pub fn parse_map(text: &str) -> Vec<Range> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().map(str::parse::<u32>);
            match (w.next(), w.next(), w.next()) {
                (Some(Ok(inner)), Some(Ok(outer)), Some(Ok(count))) => Some(Range { inner, outer, count }),
                _ => None,
            }
        })
        .collect()
}

/// Whether a map is the initial namespace's identity map.
pub fn is_initial(map: &[Range]) -> bool {
    map == [Range { inner: 0, outer: 0, count: u32::MAX }]
}

/// How many IDs from 0 up the map covers without a gap (65536 and more: every
/// ID an image usually has).
pub fn contiguous_from_zero(map: &[Range]) -> u64 {
    let mut next: u64 = 0;
    loop {
        match map.iter().find(|r| u64::from(r.inner) <= next && next < u64::from(r.inner) + u64::from(r.count)) {
            Some(r) => next = u64::from(r.inner) + u64::from(r.count),
            None => return next,
        }
    }
}

struct Own {
    uid: Vec<Range>,
    gid: Vec<Range>,
}

/// This process's maps, `None` in the initial namespace (or without /proc).
fn own_maps() -> Option<&'static Own> {
    let o = own();
    (!(o.uid.is_empty() || is_initial(&o.uid))).then_some(o)
}

fn own() -> &'static Own {
    static OWN: OnceLock<Own> = OnceLock::new();
    OWN.get_or_init(|| {
        let read = |p| std::fs::read_to_string(p).map(|t| parse_map(&t)).unwrap_or_default();
        Own { uid: read("/proc/self/uid_map"), gid: read("/proc/self/gid_map") }
    })
}

/// Whether this process runs in a user namespace other than the initial one
/// (rootless mode). Read once: a process changes user namespace only at its
/// start, before any thread.
pub fn in_user_namespace() -> bool {
    own_maps().is_some()
}

/// How many user IDs (from 0 up) this process can give files; 1 in a
/// namespace that maps only the user's own ID.
pub fn mapped_ids() -> u64 {
    match own_maps() {
        Some(o) => contiguous_from_zero(&o.uid).min(contiguous_from_zero(&o.gid)),
        None => u64::from(u32::MAX),
    }
}

/// Whether files can be given any owner an image names (root in the initial
/// namespace, or a namespace mapping at least 65536 IDs): when not, owner
/// changes that cannot be made are skipped and files stay the user's.
pub fn can_own_all() -> bool {
    rustix::process::geteuid().is_root() && mapped_ids() >= 65536
}

/// The ID of the parent namespace that `id` of this one stands for (itself in
/// the initial namespace).
pub fn outer_uid(id: u32) -> Option<u32> {
    let Some(o) = own_maps() else { return Some(id) };
    o.uid.iter().find(|r| r.inner <= id && id - r.inner < r.count).map(|r| r.outer + (id - r.inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        let r = |inner, outer, count| Range { inner, outer, count };
        // (map text, ranges, initial, contiguous from 0)
        let cases = [
            ("         0          0 4294967295\n", vec![r(0, 0, u32::MAX)], true, u64::from(u32::MAX)),
            ("0 1000 1\n1 100000 65536\n", vec![r(0, 1000, 1), r(1, 100000, 65536)], false, 65537),
            ("0 1000 1\n", vec![r(0, 1000, 1)], false, 1),
            ("1 100000 65536\n", vec![r(1, 100000, 65536)], false, 0),
            ("0 1000 1\n2 100000 10\n", vec![r(0, 1000, 1), r(2, 100000, 10)], false, 1),
            ("garbage\n0 x 1\n", vec![], false, 0),
        ];
        for (text, ranges, initial, contiguous) in cases {
            let got = parse_map(text);
            assert_eq!(got, ranges, "{text:?}");
            assert_eq!(is_initial(&got), initial, "{text:?}");
            assert_eq!(contiguous_from_zero(&got), contiguous, "{text:?}");
        }
    }
}
