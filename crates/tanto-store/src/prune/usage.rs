//! Sizes: disk usage of snapshot trees (measured once: a committed snapshot
//! never changes) and blobs, and the free space of the state directory.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::params;

use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

/// Disk usage of a tree: allocated blocks of every entry, hard links once.
pub fn disk_usage(path: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
        let mut n = 0;
        if m.nlink() <= 1 || m.is_dir() || seen.insert((m.dev(), m.ino())) {
            n += m.blocks() * 512;
        }
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    n += walk(&e.path(), seen);
                }
            }
        }
        n
    }
    walk(path, &mut HashSet::new())
}

pub(super) fn file_size(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).map(|m| m.blocks() * 512).unwrap_or(0)
}

/// Total and free bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some((st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize))
}

pub(super) fn free_space(path: &Path) -> Option<u64> {
    disk_space(path).map(|(_, free)| free)
}

impl Store {
    /// Measures committed snapshots whose size is not known yet.
    pub(super) fn measure_snapshots(&self) -> Result<(), StoreError> {
        let todo: Vec<i64> = {
            let db = self.inner.db.lock();
            let mut stmt = db.prepare("SELECT id FROM snapshots WHERE state = 'committed' AND size IS NULL")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        for id in todo {
            let size = disk_usage(&self.snapshot_dir(SnapshotId(id)));
            let db = self.inner.db.lock();
            db.execute(
                "UPDATE snapshots SET size = ?2 WHERE id = ?1 AND state = 'committed'",
                params![id, size as i64],
            )?;
        }
        Ok(())
    }

    pub(super) fn blob_sizes<'a>(&self, digests: impl IntoIterator<Item = &'a String>) -> HashMap<String, u64> {
        digests.into_iter().map(|d| (d.clone(), file_size(&self.blob_path(d)))).collect()
    }
}
