//! What the engine remembers about work it can build on next time:
//!
//! - host uploads: per upload scope (host path + filters), the snapshot of the
//!   last upload and its file index (path → stat → file digest), so an
//!   unchanged tree costs a stat walk and a changed one becomes a small
//!   snapshot over the previous upload;
//! - layer blobs made from snapshots: committed snapshots never change, so the
//!   compressed layer tar made from one is made once per compression.

use rusqlite::{params, Connection, OptionalExtension};

use tanto_model::LayerBlob;

use crate::db::now;
use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploads (
    scope     TEXT PRIMARY KEY,       -- digest of host path + filters
    snapshot  INTEGER NOT NULL,       -- committed snapshot of the last upload
    tree      TEXT NOT NULL,          -- tree digest of the last upload
    depth     INTEGER NOT NULL,       -- upload snapshots in its chain
    idx       BLOB NOT NULL,          -- name of the index file under uploads/
    updated   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_blobs (
    snapshot    INTEGER NOT NULL,
    compression TEXT NOT NULL,        -- 'gzip' | 'zstd' | 'none'
    digest      TEXT NOT NULL,        -- sha256:<hex> of the blob
    diff_id     TEXT NOT NULL,        -- sha256:<hex> of the uncompressed tar
    size        INTEGER NOT NULL,
    PRIMARY KEY (snapshot, compression)
);
";

pub(crate) fn init(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(SCHEMA)
}

/// The last upload of one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub snapshot: SnapshotId,
    pub tree: String,
    pub depth: u32,
    pub index: Vec<u8>,
}

/// Index files live beside the database, not in it: they are large (about
/// 100 bytes per file) and rewritten whole, which a file does far cheaper.
/// A file is named by scope and snapshot, so a row never points at an index
/// that describes another snapshot; a missing or unreadable file only costs
/// a full upload.
fn index_name(scope: &str, snapshot: SnapshotId) -> String {
    let hex: String =
        scope.strip_prefix("sha256:").unwrap_or(scope).chars().filter(|c| c.is_ascii_alphanumeric()).take(64).collect();
    format!("{hex}-{}.idx", snapshot.0)
}

impl Store {
    fn uploads_dir(&self) -> std::path::PathBuf {
        self.inner.root.join("uploads")
    }

    /// The last upload of `scope`, unless its snapshot or index is gone.
    pub fn upload_record(&self, scope: &str) -> Result<Option<UploadRecord>, StoreError> {
        let row = {
            let db = self.inner.db.lock();
            db.query_row("SELECT snapshot, tree, depth, idx FROM uploads WHERE scope = ?1", params![scope], |r| {
                Ok((SnapshotId(r.get(0)?), r.get::<_, String>(1)?, r.get::<_, i64>(2)? as u32, r.get::<_, Vec<u8>>(3)?))
            })
            .optional()?
        };
        let Some((snapshot, tree, depth, name)) = row else {
            return Ok(None);
        };
        if !self.snapshot_dir(snapshot).is_dir() {
            return Ok(None);
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        match std::fs::read(self.uploads_dir().join(&name)) {
            Ok(index) => Ok(Some(UploadRecord { snapshot, tree, depth, index })),
            Err(_) => Ok(None),
        }
    }

    /// Remembers `rec` as the last upload of `scope`; its snapshot must be committed.
    pub fn save_upload_record(&self, scope: &str, rec: &UploadRecord) -> Result<(), StoreError> {
        let dir = self.uploads_dir();
        std::fs::create_dir_all(&dir).map_err(crate::io_err(&dir))?;
        let name = index_name(scope, rec.snapshot);
        let path = dir.join(&name);
        let tmp = self.tmp_path("index");
        std::fs::write(&tmp, &rec.index).map_err(crate::io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(crate::io_err(&path))?;
        let previous: Option<Vec<u8>> = {
            let db = self.inner.db.lock();
            let prev =
                db.query_row("SELECT idx FROM uploads WHERE scope = ?1", params![scope], |r| r.get(0)).optional()?;
            db.execute(
                "INSERT OR REPLACE INTO uploads (scope, snapshot, tree, depth, idx, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![scope, rec.snapshot.0, rec.tree, rec.depth as i64, name.as_bytes(), now()],
            )?;
            prev
        };
        if let Some(prev) = previous.map(|p| String::from_utf8_lossy(&p).into_owned()).filter(|p| *p != name) {
            let _ = std::fs::remove_file(dir.join(prev));
        }
        Ok(())
    }

    /// The parent of a snapshot and the selector it is seen at, if any.
    pub fn snapshot_parent(&self, id: SnapshotId) -> Result<Option<(SnapshotId, String)>, StoreError> {
        self.parent_of(id)
    }

    /// The layer blob made earlier from `snapshot`'s diff with `compression`,
    /// if the blob is still there.
    pub fn layer_blob(&self, snapshot: SnapshotId, compression: &str) -> Result<Option<LayerBlob>, StoreError> {
        let row = {
            let db = self.inner.db.lock();
            db.query_row(
                "SELECT digest, diff_id, size FROM layer_blobs WHERE snapshot = ?1 AND compression = ?2",
                params![snapshot.0, compression],
                |r| Ok(LayerBlob { digest: r.get(0)?, diff_id: r.get(1)?, size: r.get::<_, i64>(2)? as u64 }),
            )
            .optional()?
        };
        Ok(row.filter(|b| self.has_blob(&b.digest)))
    }

    pub fn save_layer_blob(&self, snapshot: SnapshotId, compression: &str, blob: &LayerBlob) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "INSERT OR REPLACE INTO layer_blobs (snapshot, compression, digest, diff_id, size) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![snapshot.0, compression, blob.digest, blob.diff_id, blob.size as i64],
        )?;
        Ok(())
    }

    /// Moves a verified file into the blob store as `digest` (atomic rename;
    /// `src` must be on the state filesystem, e.g. from [`Store::tmp_path`]).
    pub fn put_blob_file(&self, digest: &str, src: &std::path::Path) -> Result<std::path::PathBuf, StoreError> {
        let dest = self.blob_path(digest);
        if dest.is_file() {
            let _ = std::fs::remove_file(src);
            return Ok(dest);
        }
        std::fs::rename(src, &dest).map_err(crate::io_err(&dest))?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheRecord;

    #[test]
    fn upload_records_round_trip_and_vanish_with_their_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let p = store.prepare(None).unwrap();
        let id = p.id;
        store.commit("k", &CacheRecord { outputs: vec![id], meta: None }).unwrap();
        let rec = UploadRecord { snapshot: id, tree: "sha256:t".into(), depth: 1, index: vec![1, 2, 3] };
        assert_eq!(store.upload_record("s").unwrap(), None);
        store.save_upload_record("s", &rec).unwrap();
        assert_eq!(store.upload_record("s").unwrap(), Some(rec.clone()));
        // a newer upload of the same scope replaces it
        let rec2 = UploadRecord { depth: 2, ..rec };
        store.save_upload_record("s", &rec2).unwrap();
        assert_eq!(store.upload_record("s").unwrap(), Some(rec2));
        std::fs::remove_dir_all(store.snapshot_dir(id)).unwrap();
        assert_eq!(store.upload_record("s").unwrap(), None);
    }

    #[test]
    fn layer_blobs_need_their_blob_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let blob = LayerBlob { digest: digest.clone(), diff_id: "sha256:d".into(), size: 3 };
        store.save_layer_blob(SnapshotId(7), "gzip", &blob).unwrap();
        assert_eq!(store.layer_blob(SnapshotId(7), "gzip").unwrap(), None, "no blob file yet");
        let src = store.tmp_path("blob");
        std::fs::write(&src, "abc").unwrap();
        store.put_blob_file(&digest, &src).unwrap();
        assert_eq!(store.layer_blob(SnapshotId(7), "gzip").unwrap(), Some(blob));
        assert_eq!(store.layer_blob(SnapshotId(7), "zstd").unwrap(), None);
    }
}
