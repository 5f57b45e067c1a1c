//! Copy bases: which snapshot a copy of one source snapshot onto one base
//! produced, so that the next copy of a newer version of that source (a later
//! host upload, a later step over it) can be made from the earlier result plus
//! the source's change, instead of copying the whole tree again.
//!
//! A row is a hint, never a result: the cache record of a copy is its vertex
//! key as for any op; a row whose result snapshot is gone is ignored.

use rusqlite::{params, Connection, OptionalExtension};

use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS copy_bases (
    base       INTEGER NOT NULL,      -- base snapshot id, 0 for an empty base
    src        INTEGER NOT NULL,      -- source snapshot id
    params     TEXT NOT NULL,         -- digest of the copy action (paths, mode, owner)
    result     INTEGER NOT NULL,      -- snapshot holding base + the copy
    generation INTEGER NOT NULL,      -- incremental copies in result's chain
    PRIMARY KEY (base, src, params)
);
";

pub(crate) fn init(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// A copy made earlier: `result` holds the base with the source copied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyBase {
    pub result: SnapshotId,
    pub generation: u32,
}

impl Store {
    /// The copy of `src` onto `base` with `params` made earlier, if its result
    /// is still committed.
    pub fn copy_base(
        &self,
        base: Option<SnapshotId>,
        src: SnapshotId,
        params: &str,
    ) -> Result<Option<CopyBase>, StoreError> {
        let row: Option<(i64, i64)> = {
            let db = self.inner.db.lock();
            db.query_row(
                "SELECT c.result, c.generation FROM copy_bases c JOIN snapshots s ON s.id = c.result
                 WHERE c.base = ?1 AND c.src = ?2 AND c.params = ?3 AND s.state = 'committed'",
                params![base.map_or(0, |b| b.0), src.0, params],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
        };
        Ok(row
            .map(|(result, generation)| CopyBase { result: SnapshotId(result), generation: generation as u32 })
            .filter(|c| self.snapshot_dir(c.result).is_dir()))
    }

    /// Remembers that copying `src` onto `base` with `params` gave `copy.result`
    /// (a committed snapshot).
    pub fn save_copy_base(
        &self,
        base: Option<SnapshotId>,
        src: SnapshotId,
        params: &str,
        copy: CopyBase,
    ) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "INSERT OR REPLACE INTO copy_bases (base, src, params, result, generation) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![base.map_or(0, |b| b.0), src.0, params, copy.result.0, copy.generation as i64],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheRecord;

    #[test]
    fn copy_bases_are_found_only_while_their_result_is_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let src = store.prepare(None).unwrap();
        let src_id = src.id;
        store.commit("src", &CacheRecord { outputs: vec![src.id], meta: None }).unwrap();
        let res = store.prepare(None).unwrap();
        let res_id = res.id;
        let copy = CopyBase { result: res_id, generation: 2 };
        store.save_copy_base(None, src_id, "p", copy).unwrap();
        // pending result: not a base yet
        assert_eq!(store.copy_base(None, src_id, "p").unwrap(), None);
        store.commit("res", &CacheRecord { outputs: vec![res_id], meta: None }).unwrap();
        // (base, params, found)
        let cases = [(None, "p", Some(copy)), (None, "q", None), (Some(src_id), "p", None)];
        for (base, params, want) in cases {
            assert_eq!(store.copy_base(base, src_id, params).unwrap(), want, "{base:?} {params}");
        }
        std::fs::remove_dir_all(store.snapshot_dir(res_id)).unwrap();
        assert_eq!(store.copy_base(None, src_id, "p").unwrap(), None, "a result whose files are gone is ignored");
    }
}
