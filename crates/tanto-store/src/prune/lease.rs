//! Snapshot leases: a snapshot held for a running step, in memory (counts per
//! store instance) and as a row of `leases` named by holder, so that prune in
//! any process leaves it alone.

use std::collections::HashMap;

use rusqlite::params;

use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

/// A snapshot held for a running step; released on drop.
pub struct SnapshotLease {
    store: Store,
    id: SnapshotId,
}

impl std::fmt::Debug for SnapshotLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotLease({})", self.id.0)
    }
}

impl Drop for SnapshotLease {
    fn drop(&mut self) {
        self.store.release(self.id);
    }
}

/// The leases this store instance holds: counts in memory, one row per snapshot.
#[derive(Default)]
pub(crate) struct Leases {
    counts: parking_lot::Mutex<HashMap<i64, usize>>,
}

pub(super) fn holder_alive(holder: &str) -> bool {
    crate::sys::owner_alive(holder.split('/').next().unwrap_or(""))
}

impl Store {
    /// Holds `id` for a running step: [`Store::prune`] in any process leaves it,
    /// and everything below it, alone until the lease is dropped.
    pub fn lease(&self, id: SnapshotId) -> Result<SnapshotLease, StoreError> {
        let first = {
            let mut counts = self.inner.leases.counts.lock();
            let n = counts.entry(id.0).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            let db = self.inner.db.lock();
            if let Err(e) = db.execute(
                "INSERT OR IGNORE INTO leases (snapshot, holder) VALUES (?1, ?2)",
                params![id.0, self.inner.holder],
            ) {
                drop(db);
                self.release(id);
                return Err(e.into());
            }
        }
        Ok(SnapshotLease { store: self.clone(), id })
    }

    fn release(&self, id: SnapshotId) {
        let last = {
            let mut counts = self.inner.leases.counts.lock();
            match counts.get_mut(&id.0) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(&id.0);
                    true
                }
                None => false,
            }
        };
        if last {
            let db = self.inner.db.lock();
            if let Err(e) =
                db.execute("DELETE FROM leases WHERE snapshot = ?1 AND holder = ?2", params![id.0, self.inner.holder])
            {
                tracing::warn!(error = %e, "releasing a snapshot lease failed");
            }
        }
    }
}
