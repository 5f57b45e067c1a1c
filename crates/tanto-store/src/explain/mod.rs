//! Why steps re-ran: the runs of a state dir (each engine's life) with the
//! steps each one answered, what each step's key was made of
//! ([`manifest`]), tombstones of evicted results and the paths each host
//! upload changed; [`reason`] explains the last run from them.
//!
//! Invariants:
//! - Nothing here holds a secret value or a secret's keyed digest in a form
//!   that is shown: manifests keep digests of values and secrets' names.
//! - A run is written in one transaction: a crash leaves the run whole or
//!   absent. Only the last [`KEEP_RUNS`] runs, [`KEEP_TOMBSTONES`] tombstones
//!   and [`KEEP_UPLOAD_CHANGES`] upload changes are kept.

pub mod manifest;
pub mod reason;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use tanto_model::Vertex;

pub use manifest::{manifest, Manifest};
pub use reason::{explain, Change, Explained, Explanation, PathChanges, Reason, RunRows, Status, StepRow, Tombstone};

use crate::db::now_ms;
use crate::{Store, StoreError};

/// Runs kept for explanations.
pub const KEEP_RUNS: i64 = 20;
/// Tombstones of evicted results kept, the most recent ones.
pub const KEEP_TOMBSTONES: i64 = 20_000;
/// Upload changes kept, the most recent ones.
pub const KEEP_UPLOAD_CHANGES: i64 = 1_000;
/// Paths listed per kind of change of an upload.
pub const MAX_PATHS: usize = 200;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_steps (
    run         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    key         TEXT NOT NULL,          -- the step's cache key
    identity    TEXT NOT NULL,          -- what stays the same across changed inputs
    status      TEXT NOT NULL,          -- 'cached' | 'executed' | 'failed' | 'never'
    evicted_ms  INTEGER,                -- a miss of an evicted key: when it was evicted
    evicted_by  TEXT,
    PRIMARY KEY (run, seq)
);
CREATE INDEX IF NOT EXISTS run_steps_key ON run_steps (key);
CREATE TABLE IF NOT EXISTS step_manifests (
    key         TEXT PRIMARY KEY,
    manifest    TEXT NOT NULL           -- JSON: names and digests, never values
);
CREATE TABLE IF NOT EXISTS tombstones (
    key         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    evicted_ms  INTEGER NOT NULL,
    by          TEXT NOT NULL           -- 'gc' | 'prune'
);
CREATE INDEX IF NOT EXISTS tombstones_time ON tombstones (evicted_ms);
CREATE TABLE IF NOT EXISTS upload_changes (
    tree        TEXT NOT NULL,          -- tree digest of an upload
    previous    TEXT NOT NULL,          -- tree digest of the scope's upload before it
    changes     TEXT NOT NULL,          -- JSON PathChanges
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (tree, previous)
);
";

/// Columns added to tables of earlier versions.
const COLUMNS: &[(&str, &str, &str)] = &[
    // what ran: the command `tanto run` started, the SDK program that started
    // a `session`, `call <module> <function>`, ...; and in which directory
    ("runs", "pipeline", "TEXT NOT NULL DEFAULT ''"),
    ("runs", "workdir", "TEXT NOT NULL DEFAULT ''"),
];

pub(crate) fn init(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(SCHEMA)?;
    crate::db::add_columns(conn, COLUMNS)
}

/// What a run was: the pipeline (a command line, never a secret's value:
/// the engine scrubs it) and the directory it ran in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunName {
    pub pipeline: String,
    pub workdir: String,
}

/// One step of a run as the engine logged it.
#[derive(Debug, Clone)]
pub struct LoggedStep {
    pub vertex: Arc<Vertex>,
    pub status: Status,
    pub evicted: Option<Tombstone>,
}

/// Writes tombstones for records removed by a prune (in its transaction).
pub(crate) fn bury(
    tx: &rusqlite::Transaction<'_>,
    gone: &[(String, String, String)],
    by: &str,
) -> Result<(), rusqlite::Error> {
    let t = now_ms();
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO tombstones (key, kind, description, evicted_ms, by) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (key, kind, description) in gone {
        stmt.execute(params![key, kind, description, t, by])?;
    }
    Ok(())
}

impl Store {
    /// Records a finished run and its steps (in order), in one transaction,
    /// and forgets runs beyond the last [`KEEP_RUNS`]. Returns the run's id;
    /// a run without steps is not recorded (`None`).
    pub fn record_run(&self, name: &RunName, started_ms: i64, steps: &[LoggedStep]) -> Result<Option<i64>, StoreError> {
        if steps.is_empty() {
            return Ok(None);
        }
        let mut db = self.inner.db.lock();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO runs (started_ms, finished_ms, pipeline, workdir) VALUES (?1, ?2, ?3, ?4)",
            params![started_ms, now_ms(), name.pipeline, name.workdir],
        )?;
        let run = tx.last_insert_rowid();
        {
            let mut step = tx.prepare_cached(
                "INSERT INTO run_steps (run, seq, key, identity, status, evicted_ms, evicted_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut has = tx.prepare_cached("SELECT 1 FROM step_manifests WHERE key = ?1")?;
            let mut put = tx.prepare_cached("INSERT OR IGNORE INTO step_manifests (key, manifest) VALUES (?1, ?2)")?;
            for (seq, s) in steps.iter().enumerate() {
                let key = s.vertex.key().to_string();
                step.execute(params![
                    run,
                    seq as i64,
                    key,
                    manifest::identity(&s.vertex),
                    s.status.as_str(),
                    s.evicted.as_ref().map(|t| t.evicted_ms),
                    s.evicted.as_ref().map(|t| t.by.as_str()),
                ])?;
                if has.query_row(params![key], |_| Ok(())).optional()?.is_none() {
                    let m = serde_json::to_string(&manifest(&s.vertex)).expect("manifests encode");
                    put.execute(params![key, m])?;
                }
            }
        }
        let runs: i64 = tx.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))?;
        if runs > KEEP_RUNS {
            tx.execute(
                "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
                params![KEEP_RUNS],
            )?;
            tx.execute("DELETE FROM run_steps WHERE run NOT IN (SELECT id FROM runs)", [])?;
            tx.execute("DELETE FROM step_manifests WHERE key NOT IN (SELECT key FROM run_steps)", [])?;
            for (table, time, keep) in
                [("tombstones", "evicted_ms", KEEP_TOMBSTONES), ("upload_changes", "created_ms", KEEP_UPLOAD_CHANGES)]
            {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE rowid NOT IN (SELECT rowid FROM {table} ORDER BY {time} DESC LIMIT ?1)"
                    ),
                    params![keep],
                )?;
            }
        }
        tx.commit()?;
        Ok(Some(run))
    }

    /// When and by what `key`'s result was evicted, if it was.
    pub fn tombstone(&self, key: &str) -> Result<Option<Tombstone>, StoreError> {
        let db = self.inner.db.lock();
        Ok(db
            .query_row("SELECT evicted_ms, by FROM tombstones WHERE key = ?1", params![key], |r| {
                Ok(Tombstone { evicted_ms: r.get(0)?, by: r.get(1)? })
            })
            .optional()?)
    }

    /// Remembers which paths differ between upload `tree` and the one before it.
    pub(crate) fn save_upload_changes(
        &self,
        tree: &str,
        previous: &str,
        changes: &PathChanges,
    ) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "INSERT OR REPLACE INTO upload_changes (tree, previous, changes, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![tree, previous, serde_json::to_string(changes).expect("path changes encode"), now_ms()],
        )?;
        Ok(())
    }

    /// Which paths differ between upload `tree` and an earlier `previous`
    /// of the same scope; `None` when not known (the scope was uploaded in
    /// between, or the record is gone).
    pub fn upload_changes(&self, tree: &str, previous: &str) -> Result<Option<PathChanges>, StoreError> {
        let db = self.inner.db.lock();
        let text: Option<String> = db
            .query_row(
                "SELECT changes FROM upload_changes WHERE tree = ?1 AND previous = ?2",
                params![tree, previous],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The most recent recorded run, if any.
    pub fn last_run(&self) -> Result<Option<i64>, StoreError> {
        let db = self.inner.db.lock();
        Ok(db.query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))?)
    }

    /// The recorded run `id` with its steps.
    pub fn run(&self, id: i64) -> Result<Option<RunRows>, StoreError> {
        let db = self.inner.db.lock();
        let head: Option<(i64, i64, RunName)> = db
            .query_row("SELECT started_ms, finished_ms, pipeline, workdir FROM runs WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, RunName { pipeline: r.get(2)?, workdir: r.get(3)? }))
            })
            .optional()?;
        let Some((started_ms, finished_ms, name)) = head else { return Ok(None) };
        let mut stmt = db.prepare_cached(
            "SELECT s.key, s.identity, s.status, s.evicted_ms, s.evicted_by, m.manifest
             FROM run_steps s LEFT JOIN step_manifests m ON m.key = s.key WHERE s.run = ?1 ORDER BY s.seq",
        )?;
        let steps = stmt
            .query_map(params![id], |r| {
                let evicted = match (r.get::<_, Option<i64>>(3)?, r.get::<_, Option<String>>(4)?) {
                    (Some(evicted_ms), by) => Some(Tombstone { evicted_ms, by: by.unwrap_or_default() }),
                    _ => None,
                };
                let manifest: Option<String> = r.get(5)?;
                Ok(StepRow {
                    key: r.get(0)?,
                    identity: r.get(1)?,
                    status: Status::parse(&r.get::<_, String>(2)?),
                    evicted,
                    // an unreadable manifest only costs the detail
                    manifest: manifest.and_then(|m| serde_json::from_str(&m).ok()),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(RunRows { id, name, started_ms, finished_ms, steps }))
    }

    /// Why the steps of run `id` (default: the last one) ran; `None` when
    /// no run is recorded.
    pub fn explain_run(&self, id: Option<i64>) -> Result<Option<Explanation>, StoreError> {
        let Some(id) = (match id {
            Some(id) => Some(id),
            None => self.last_run()?,
        }) else {
            return Ok(None);
        };
        let Some(last) = self.run(id)? else { return Ok(None) };
        let ids: Vec<i64> = {
            let db = self.inner.db.lock();
            let mut stmt = db.prepare("SELECT id FROM runs WHERE id < ?1 ORDER BY id DESC")?;
            let ids = stmt.query_map(params![id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            ids
        };
        let mut earlier = Vec::with_capacity(ids.len());
        for i in ids {
            if let Some(r) = self.run(i)? {
                earlier.push(r);
            }
        }
        let uploads = |tree: &str, previous: &str| self.upload_changes(tree, previous).ok().flatten();
        Ok(Some(explain(&last, &earlier, &uploads)))
    }
}

/// Which paths differ between two lists of `(path, what it is)`, each
/// sorted by path; at most [`MAX_PATHS`] of each kind are listed.
pub fn path_changes<'a>(old: &[(&'a str, [u8; 32])], new: &[(&'a str, [u8; 32])]) -> PathChanges {
    let mut c = PathChanges::default();
    let push = |v: &mut Vec<String>, p: &str, truncated: &mut bool| {
        if v.len() < MAX_PATHS {
            v.push(p.to_string());
        } else {
            *truncated = true;
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.0 == n.0 => {
                if o.1 != n.1 {
                    push(&mut c.changed, n.0, &mut c.truncated);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.0 < n.0 => {
                push(&mut c.removed, o.0, &mut c.truncated);
                i += 1;
            }
            (Some(_), Some(n)) | (None, Some(n)) => {
                push(&mut c.added, n.0, &mut c.truncated);
                j += 1;
            }
            (Some(o), None) => {
                push(&mut c.removed, o.0, &mut c.truncated);
                i += 1;
            }
            (None, None) => break,
        }
    }
    c
}
