//! The metadata database: snapshots and cache records.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::prune::SnapshotLease;
use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    parent    INTEGER REFERENCES snapshots(id),
    selector  TEXT NOT NULL DEFAULT '',
    state     TEXT NOT NULL,          -- 'pending' | 'committed'
    owner     TEXT NOT NULL,          -- pid:starttime of the writer while pending
    created   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key       TEXT PRIMARY KEY,       -- sha256:<hex> vertex key
    outputs   TEXT NOT NULL,          -- JSON array of snapshot ids
    exit_code INTEGER,                -- exec results only
    stdout    BLOB,
    stderr    BLOB,
    combined  BLOB,
    created   INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
";

pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Adds columns that tables of earlier versions lack: `(table, column,
/// definition)`. Several engines may migrate at once: a duplicate column is fine.
pub(crate) fn add_columns(conn: &Connection, columns: &[(&str, &str, &str)]) -> Result<(), rusqlite::Error> {
    for (table, column, def) in columns {
        let has = conn
            .prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?
            .query_row(params![column], |_| Ok(()))
            .optional()?
            .is_some();
        if !has {
            if let Err(e) = conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {def}")) {
                if !e.to_string().contains("duplicate column") {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Milliseconds since the epoch: a record's last use, so that pruning finds
/// the least recently used of records used within the same second.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Output of a finished process, as recorded (already scrubbed of secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecMeta {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub combined: Vec<u8>,
}

/// The result of one vertex: its output snapshots, plus process output for execs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub outputs: Vec<SnapshotId>,
    pub meta: Option<ExecMeta>,
}

impl Store {
    /// Looks a vertex key up; a record whose snapshots are gone counts as a miss.
    /// The record under `key` with a [`SnapshotLease`] on each of its
    /// outputs (see [`Store::hold`]); `None` when there is none, or when a
    /// prune removed it while it was looked up.
    pub fn lookup_held(&self, key: &str) -> Result<Option<(CacheRecord, Vec<SnapshotLease>)>, StoreError> {
        let Some(rec) = self.lookup(key)? else { return Ok(None) };
        Ok(self.hold(&rec.outputs)?.map(|leases| (rec, leases)))
    }

    /// Leases on committed snapshots `ids`: a [`Store::prune`] in any process
    /// leaves them (and their chains) alone until the leases drop. The leases
    /// are taken first and the snapshots checked after, so a prune that ran
    /// in between gives `None`, never a lease on a snapshot that is gone.
    /// The records of exactly these outputs count as used now.
    pub fn hold(&self, ids: &[SnapshotId]) -> Result<Option<Vec<SnapshotLease>>, StoreError> {
        let leases = ids.iter().map(|id| self.lease(*id)).collect::<Result<Vec<_>, _>>()?;
        let db = self.inner.db.lock();
        for id in ids {
            let state: Option<String> =
                db.query_row("SELECT state FROM snapshots WHERE id = ?1", params![id.0], |r| r.get(0)).optional()?;
            if state.as_deref() != Some("committed") {
                drop(db);
                return Ok(None);
            }
        }
        // A use, as a lookup is: pruning goes least recently used first.
        let ids: Vec<i64> = ids.iter().map(|s| s.0).collect();
        db.execute(
            "UPDATE cache SET last_used = ?2, used_ms = ?3 WHERE outputs = ?1",
            params![serde_json::to_string(&ids).expect("ids encode"), now(), now_ms()],
        )?;
        drop(db);
        Ok(Some(leases))
    }

    pub fn lookup(&self, key: &str) -> Result<Option<CacheRecord>, StoreError> {
        let db = self.inner.db.lock();
        let row = db
            .query_row(
                "SELECT outputs, exit_code, stdout, stderr, combined FROM cache WHERE key = ?1",
                params![key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i32>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((outputs, exit_code, stdout, stderr, combined)) = row else { return Ok(None) };
        let ids: Vec<i64> = serde_json::from_str(&outputs).unwrap_or_default();
        for id in &ids {
            if !self.snapshot_dir(SnapshotId(*id)).is_dir() {
                db.execute("DELETE FROM cache WHERE key = ?1", params![key])?;
                return Ok(None);
            }
        }
        db.execute("UPDATE cache SET last_used = ?2, used_ms = ?3 WHERE key = ?1", params![key, now(), now_ms()])?;
        Ok(Some(CacheRecord {
            outputs: ids.into_iter().map(SnapshotId).collect(),
            meta: exit_code.map(|exit_code| ExecMeta {
                exit_code,
                stdout: stdout.unwrap_or_default(),
                stderr: stderr.unwrap_or_default(),
                combined: combined.unwrap_or_default(),
            }),
        }))
    }

    /// Commits pending snapshots and records `rec` under `key`, atomically
    /// and durably: the snapshots' files are on disk (`syncfs`, shared by
    /// concurrent commits) before the transaction that records them.
    /// Snapshots in `rec.outputs` that are already committed stay as they are.
    pub fn commit(&self, key: &str, rec: &CacheRecord) -> Result<(), StoreError> {
        for id in &rec.outputs {
            let work = self.snapshot_root(*id).join("work");
            if work.exists() {
                let _ = std::fs::remove_dir_all(&work);
            }
        }
        // The snapshots' files before the record that points at them.
        self.inner.syncer.sync(&self.inner.root).map_err(crate::io_err(&self.inner.root))?;
        let mut db = self.inner.db.lock();
        let tx = db.transaction()?;
        for id in &rec.outputs {
            tx.execute("UPDATE snapshots SET state = 'committed' WHERE id = ?1", params![id.0])?;
        }
        let ids: Vec<i64> = rec.outputs.iter().map(|s| s.0).collect();
        let t = now();
        let meta = rec.meta.as_ref();
        // Recorded again: no longer evicted.
        tx.execute("DELETE FROM tombstones WHERE key = ?1", params![key])?;
        tx.execute(
            "INSERT OR REPLACE INTO cache (key, outputs, exit_code, stdout, stderr, combined, created, last_used, used_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![
                key,
                serde_json::to_string(&ids).expect("ids encode"),
                meta.map(|m| m.exit_code),
                meta.map(|m| &m.stdout),
                meta.map(|m| &m.stderr),
                meta.map(|m| &m.combined),
                t,
                now_ms()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes pending snapshots left by engines that died, and stale view mounts.
    pub(crate) fn recover(&self) -> Result<(), StoreError> {
        let stale: Vec<(i64, String)> = {
            let db = self.inner.db.lock();
            let mut stmt = db.prepare("SELECT id, owner FROM snapshots WHERE state = 'pending'")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            rows.filter_map(Result::ok).filter(|(_, owner): &(i64, String)| !crate::sys::owner_alive(owner)).collect()
        };
        for (id, _) in &stale {
            let dir = self.snapshot_root(SnapshotId(*id));
            for m in crate::sys::mounts_below(&dir) {
                let _ = crate::sys::unmount(&m);
            }
            let _ = std::fs::remove_dir_all(&dir);
            let db = self.inner.db.lock();
            db.execute("DELETE FROM snapshots WHERE id = ?1", params![id])?;
        }
        if !stale.is_empty() {
            tracing::info!(count = stale.len(), "removed unfinished snapshots of engines that stopped");
        }
        // Views and scratch files of dead engines: names start with their pid.
        for sub in ["mnt", "tmp"] {
            let dir = self.inner.root.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    let path = e.path();
                    for m in crate::sys::mounts_below(&path) {
                        let _ = crate::sys::unmount(&m);
                    }
                    let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn insert_pending(&self, parent: Option<(SnapshotId, &str)>) -> Result<SnapshotId, StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "INSERT INTO snapshots (parent, selector, state, owner, created) VALUES (?1, ?2, 'pending', ?3, ?4)",
            params![parent.map(|p| p.0 .0), parent.map(|p| p.1).unwrap_or(""), self.inner.owner, now()],
        )?;
        Ok(SnapshotId(db.last_insert_rowid()))
    }

    pub(crate) fn delete_snapshot_row(&self, id: SnapshotId) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute("DELETE FROM snapshots WHERE id = ?1 AND state = 'pending'", params![id.0])?;
        Ok(())
    }

    /// The snapshot `id` was prepared over, and the selector it sees it at.
    pub fn parent_of(&self, id: SnapshotId) -> Result<Option<(SnapshotId, String)>, StoreError> {
        let db = self.inner.db.lock();
        let row: Option<(Option<i64>, String)> = db
            .query_row("SELECT parent, selector FROM snapshots WHERE id = ?1", params![id.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match row {
            None => Err(StoreError::MissingSnapshot(id.0)),
            Some((parent, sel)) => Ok(parent.map(|p| (SnapshotId(p), sel))),
        }
    }
}
