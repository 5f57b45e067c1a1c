//! The file index of an upload (path → stat → content digest) as kept in
//! its upload record, its binary codec, and the tree digest that keys it.

use rustix::fs as rfs;
use sha2::{Digest as _, Sha256};
use tanto_model::Digest;

/// Files modified less than this before a scan are hashed again next time:
/// their stat may not change when they are written again within the
/// filesystem's timestamp granularity.
pub(super) const RACY_NS: i128 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Symlink,
    /// fifo, character or block device
    Other,
}

impl Kind {
    pub(super) fn code(self) -> u8 {
        match self {
            Kind::Dir => b'd',
            Kind::File => b'f',
            Kind::Symlink => b'l',
            Kind::Other => b'o',
        }
    }

    pub(super) fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            b'd' => Kind::Dir,
            b'f' => Kind::File,
            b'l' => Kind::Symlink,
            b'o' => Kind::Other,
            _ => return None,
        })
    }
}

/// One entry of the index: its stat and content digest.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    /// `/`-separated path relative to the upload root; "" is the root.
    pub(super) rel: String,
    pub(super) kind: Kind,
    /// Full `st_mode` (type and permission bits).
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) size: u64,
    pub(super) rdev: u64,
    pub(super) mtime: (i64, u32),
    pub(super) ctime: (i64, u32),
    pub(super) ino: u64,
    pub(super) dev: u64,
    /// Modified too close to the scan that recorded it to trust its stat.
    pub(super) racy: bool,
    /// Files: sha256 of the content; symlinks: of the target; others: zero.
    /// `None` until computed.
    pub(super) digest: Option<[u8; 32]>,
}

impl Entry {
    pub(super) fn from_stat(rel: String, kind: Kind, st: &rfs::Stat, scan_start: i128) -> Entry {
        let mtime = (st.st_mtime, st.st_mtime_nsec as u32);
        let ctime = (st.st_ctime, st.st_ctime_nsec as u32);
        let ns = |t: (i64, u32)| t.0 as i128 * 1_000_000_000 + t.1 as i128;
        let racy = ns(mtime) >= scan_start - RACY_NS || ns(ctime) >= scan_start - RACY_NS;
        Entry {
            rel,
            kind,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            rdev: st.st_rdev,
            mtime,
            ctime,
            ino: st.st_ino,
            dev: st.st_dev,
            racy,
            digest: match kind {
                Kind::Dir | Kind::Other => Some([0; 32]),
                _ => None,
            },
        }
    }

    /// The stat says the content cannot have changed since `old` was recorded.
    pub(super) fn same_stat(&self, old: &Entry) -> bool {
        !old.racy
            && old.kind == self.kind
            && old.mode == self.mode
            && old.size == self.size
            && old.mtime == self.mtime
            && old.ctime == self.ctime
            && old.ino == self.ino
            && old.dev == self.dev
    }

    /// Same content and metadata as far as the snapshot is concerned.
    pub(super) fn same_content(&self, old: &Entry) -> bool {
        old.kind == self.kind
            && old.mode == self.mode
            && old.uid == self.uid
            && old.gid == self.gid
            && old.digest == self.digest
            && (self.kind != Kind::Other || old.rdev == self.rdev)
    }

    pub(super) fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

pub(super) fn parent_rel(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

pub(super) fn child_rel(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A path for `*at` calls relative to a root descriptor ("" is the root itself).
pub(super) fn at(rel: &str) -> &str {
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

// --- the index, as stored in the upload record

pub(super) const INDEX_MAGIC: &[u8; 8] = b"TANTOIX1";

pub(super) fn encode_index(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 110);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&(e.rel.len() as u32).to_le_bytes());
        out.extend_from_slice(e.rel.as_bytes());
        out.push(e.kind.code());
        out.push(e.racy as u8);
        for v in [e.mode, e.uid, e.gid, e.mtime.1, e.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.size, e.rdev, e.mtime.0 as u64, e.ctime.0 as u64, e.ino, e.dev] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&e.digest.unwrap_or([0; 32]));
    }
    out
}

/// Decodes an index; `None` if it is not one this version wrote.
pub(super) fn decode_index(data: &[u8]) -> Option<Vec<Entry>> {
    struct R<'a>(&'a [u8]);
    impl R<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
    }
    let mut r = R(data);
    if r.take(8)? != INDEX_MAGIC {
        return None;
    }
    let n = r.u64()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 24));
    for _ in 0..n {
        let len = r.u32()? as usize;
        let rel = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let kind = Kind::from_code(r.take(1)?[0])?;
        let racy = r.take(1)?[0] != 0;
        let (mode, uid, gid, mtime_ns, ctime_ns) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let (size, rdev, mtime, ctime, ino, dev) =
            (r.u64()?, r.u64()?, r.u64()? as i64, r.u64()? as i64, r.u64()?, r.u64()?);
        let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        out.push(Entry {
            rel,
            kind,
            mode,
            uid,
            gid,
            size,
            rdev,
            mtime: (mtime, mtime_ns),
            ctime: (ctime, ctime_ns),
            ino,
            dev,
            racy,
            digest: Some(digest),
        });
    }
    Some(out)
}

/// The tree digest: names, types, modes, owners and contents, in walk order.
pub(super) fn tree_digest(entries: &[Entry]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"tanto-local-tree-v1\0");
    for e in entries {
        h.update((e.rel.len() as u64).to_le_bytes());
        h.update(e.rel.as_bytes());
        h.update([e.kind.code()]);
        h.update(e.mode.to_le_bytes());
        h.update(e.uid.to_le_bytes());
        h.update(e.gid.to_le_bytes());
        if e.kind == Kind::Other {
            h.update(e.rdev.to_le_bytes());
        }
        h.update(e.digest.unwrap_or([0; 32]));
    }
    Digest(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn index_round_trip() {
        let e = Entry {
            rel: "a/b".into(),
            kind: Kind::File,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            size: 3,
            rdev: 0,
            mtime: (4, 5),
            ctime: (-6, 7),
            ino: 8,
            dev: 9,
            racy: true,
            digest: Some([7; 32]),
        };
        let root = Entry { rel: String::new(), kind: Kind::Dir, racy: false, digest: Some([0; 32]), ..e.clone() };
        let entries = vec![root, e];
        assert_eq!(decode_index(&encode_index(&entries)), Some(entries));
        assert_eq!(decode_index(b"garbage"), None);
        assert_eq!(decode_index(&encode_index(&[])[..12]), None);
    }
}
