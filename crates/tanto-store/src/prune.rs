//! The cache as records you can list and prune.
//!
//! - What a record is: its kind and a description (set by the engine after it
//!   records a result, [`Store::describe`]) and the blobs it owns (a pulled
//!   layer, a download).
//! - Sizes: a committed snapshot never changes, so its disk usage is measured
//!   once (allocated blocks of its diff directory) and kept in `snapshots.size`.
//! - In use: a snapshot is in use while a live process holds a [`SnapshotLease`] on it
//!   (a read-only view is mounted: read mounts of execs, file reads, exports)
//!   or has a pending snapshot over it (an exec or file op writing on top of
//!   it), and so are all the snapshots below it in its chain. Leases are rows
//!   of `leases` named by holder (`pid:starttime/instance`); rows of dead
//!   processes are ignored and removed.
//! - Pruning ([`Store::prune`]) removes records that are not in use, least
//!   recently used first, until the policy is met (and stops before a record
//!   whose removal would take the cache below the reserved floor), then every committed
//!   snapshot no record needs any more (not an output, not under another
//!   snapshot, not in use), upload records over removed snapshots, and the
//!   blobs only removed records owned. Rows go in one transaction first; the
//!   files after it commits, so a crash leaves at worst directories without a
//!   row, which the next [`Store::open`] removes. Cache volumes are not touched.
//!
//! Files: `prune/lease.rs` (snapshot leases), `prune/usage.rs` (sizes: the
//! cache's usage as prune counts it, cheaply, and where the space goes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use crate::snapshot::SnapshotId;
use crate::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS leases (
    snapshot  INTEGER NOT NULL,
    holder    TEXT NOT NULL,          -- pid:starttime/instance of the process using it
    PRIMARY KEY (snapshot, holder)
);
";

/// Columns added to tables of earlier versions: (table, column, definition).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("cache", "kind", "TEXT NOT NULL DEFAULT ''"),
    ("cache", "description", "TEXT NOT NULL DEFAULT ''"),
    ("cache", "blobs", "TEXT NOT NULL DEFAULT '[]'"),
    ("snapshots", "size", "INTEGER"),
    // last use in milliseconds (`last_used` is in seconds)
    ("cache", "used_ms", "INTEGER"),
];

pub(crate) fn init(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(SCHEMA)?;
    crate::db::add_columns(conn, COLUMNS)?;
    // records by outputs: `hold` marks them used
    conn.execute_batch("CREATE INDEX IF NOT EXISTS cache_outputs ON cache (outputs)")?;
    Ok(())
}

/// One cache record, as listed by [`Store::cache_entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRecord {
    /// The vertex key (`sha256:...`).
    pub key: String,
    /// What made it (`exec`, `file`, `image-layer`, `local`, `git`, `http`, ...; empty if unknown).
    pub kind: String,
    pub description: String,
    pub outputs: Vec<SnapshotId>,
    /// Blobs (`sha256:...`) the record owns.
    pub blobs: Vec<String>,
    /// Disk usage of its output snapshots and owned blobs, in bytes.
    pub size: u64,
    /// Seconds since the epoch.
    pub created: i64,
    pub last_used: i64,
    /// A running step uses one of its snapshots.
    pub in_use: bool,
}

/// How far to prune; all sizes in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunePolicy {
    /// Never prune the cache below this.
    pub reserved: u64,
    /// Prune when the cache uses more than this.
    pub max_used: Option<u64>,
    /// Prune when the state filesystem has less free space than this.
    pub min_free: Option<u64>,
    /// Once pruning, go down to this.
    pub target: Option<u64>,
}

impl PrunePolicy {
    /// The size the cache must shrink to (`None`: nothing to do), given its
    /// current size and the free space of its filesystem.
    ///
    /// Without `max_used` and `min_free` everything not in use goes, down to
    /// `reserved`. Otherwise pruning starts when the cache is over `max_used`
    /// or free space is under `min_free`, and goes down to what meets both,
    /// or to `target` when that is lower; never below `reserved`.
    pub fn limit(&self, used: u64, free: u64) -> Option<u64> {
        if self.max_used.is_none() && self.min_free.is_none() {
            return Some(self.reserved);
        }
        let over = self.max_used.is_some_and(|m| used > m);
        let short = self.min_free.is_some_and(|m| free < m);
        if !over && !short {
            return None;
        }
        let mut limit = self.max_used.unwrap_or(u64::MAX);
        if let Some(m) = self.min_free.filter(|m| free < *m) {
            limit = limit.min(used.saturating_sub(m - free));
        }
        if let Some(t) = self.target {
            limit = limit.min(t);
        }
        Some(limit.max(self.reserved))
    }
}

/// Which records a prune may remove (`tanto prune --filter`); the default
/// allows any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Record kinds (`exec`, `image-layer`, `file`, ...); empty: any.
    pub kinds: Vec<String>,
    /// Only records not used for at least this many milliseconds.
    pub unused_for_ms: Option<i64>,
}

impl RecordFilter {
    fn matches(&self, kind: &str, used_ms: i64, now_ms: i64) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self.unused_for_ms.is_none_or(|d| now_ms.saturating_sub(used_ms) >= d)
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub records: usize,
    pub snapshots: usize,
    pub blobs: usize,
    /// Bytes freed (snapshots and blobs).
    pub freed: u64,
    /// Cache size before and after, in bytes.
    pub before: u64,
    pub after: u64,
}

/// Everything prune and listing need, read in one go.
struct Model {
    /// key → (outputs, blobs, kind, description, created, last_used)
    records: BTreeMap<String, Rec>,
    /// id → (parent, committed, size)
    snaps: HashMap<i64, Snap>,
    in_use: HashSet<i64>,
    layer_blobs: Vec<(i64, String)>,
    uploads: Vec<(String, i64, String)>,
}

#[derive(Clone)]
struct Rec {
    outputs: Vec<i64>,
    blobs: Vec<String>,
    kind: String,
    description: String,
    created: i64,
    last_used: i64,
    /// Last use in milliseconds: the order of pruning.
    used_ms: i64,
}

struct Snap {
    parent: Option<i64>,
    committed: bool,
    size: u64,
}

impl Model {
    fn read(db: &Connection) -> Result<Model, StoreError> {
        let mut records = BTreeMap::new();
        {
            let mut stmt =
                db.prepare("SELECT key, outputs, blobs, kind, description, created, last_used, COALESCE(used_ms, last_used * 1000) FROM cache")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })?;
            for row in rows {
                let (key, outputs, blobs, kind, description, created, last_used, used_ms) = row?;
                records.insert(
                    key,
                    Rec {
                        outputs: serde_json::from_str(&outputs).unwrap_or_default(),
                        blobs: serde_json::from_str(&blobs).unwrap_or_default(),
                        kind,
                        description,
                        created,
                        last_used,
                        used_ms,
                    },
                );
            }
        }
        let mut snaps = HashMap::new();
        let mut pending_parents = Vec::new();
        {
            let mut stmt = db.prepare("SELECT id, parent, state, owner, size FROM snapshots")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })?;
            for row in rows {
                let (id, parent, state, owner, size) = row?;
                let committed = state == "committed";
                if !committed && crate::sys::owner_alive(&owner) {
                    pending_parents.extend(parent);
                }
                snaps.insert(id, Snap { parent, committed, size: size.unwrap_or(0).max(0) as u64 });
            }
        }
        let mut leased = Vec::new();
        let mut dead = Vec::new();
        {
            let mut stmt = db.prepare("SELECT snapshot, holder FROM leases")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, holder) = row?;
                if holder_alive(&holder) {
                    leased.push(id);
                } else {
                    dead.push(holder);
                }
            }
        }
        for h in dead {
            db.execute("DELETE FROM leases WHERE holder = ?1", params![h])?;
        }
        // In use: leased or written over, and everything below in the chain.
        let mut in_use = HashSet::new();
        for mut cur in leased.into_iter().chain(pending_parents) {
            while in_use.insert(cur) {
                match snaps.get(&cur).and_then(|s| s.parent) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
        }
        let layer_blobs = {
            let mut stmt = db.prepare("SELECT snapshot, digest FROM layer_blobs")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let uploads = {
            let mut stmt = db.prepare("SELECT scope, snapshot, idx FROM uploads")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    String::from_utf8_lossy(&r.get::<_, Vec<u8>>(2)?).into_owned(),
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        Ok(Model { records, snaps, in_use, layer_blobs, uploads })
    }

    fn record_in_use(&self, r: &Rec) -> bool {
        r.outputs.iter().any(|o| self.in_use.contains(o))
    }
}

/// What removing record `r` would free: its outputs nothing else needs, the
/// snapshots below them that nothing else needs then, and the blobs only it
/// owns.
fn freed_by(
    r: &Rec,
    m: &Model,
    refs: &HashMap<i64, usize>,
    blob_refs: &HashMap<String, usize>,
    layer_digests: &HashSet<String>,
    blob_size: &dyn Fn(&String) -> u64,
) -> u64 {
    let mut released: HashMap<i64, usize> = HashMap::new();
    let mut free_now = Vec::new();
    let mut total = 0;
    let gone = |id: i64, released: &HashMap<i64, usize>| {
        m.snaps.get(&id).is_some_and(|s| s.committed)
            && !m.in_use.contains(&id)
            && refs.get(&id).copied().unwrap_or(0) <= released.get(&id).copied().unwrap_or(0)
    };
    for o in &r.outputs {
        *released.entry(*o).or_default() += 1;
    }
    for o in &r.outputs {
        if gone(*o, &released) && !free_now.contains(o) {
            free_now.push(*o);
        }
    }
    let mut seen = HashSet::new();
    while let Some(id) = free_now.pop() {
        if !seen.insert(id) {
            continue;
        }
        let s = &m.snaps[&id];
        total += s.size;
        if let Some(p) = s.parent {
            *released.entry(p).or_default() += 1;
            if gone(p, &released) {
                free_now.push(p);
            }
        }
    }
    let mut own: HashMap<&String, usize> = HashMap::new();
    for b in &r.blobs {
        *own.entry(b).or_default() += 1;
    }
    for (b, n) in own {
        if blob_refs.get(b).copied().unwrap_or(0) <= n && !layer_digests.contains(b) {
            total += blob_size(b);
        }
    }
    total
}

impl Store {
    /// Records what made the result under `key` (shown by [`Store::cache_entries`])
    /// and the blobs it owns (removed with it by [`Store::prune`]).
    pub fn describe(&self, key: &str, kind: &str, description: &str, blobs: &[String]) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "UPDATE cache SET kind = ?2, description = ?3, blobs = ?4 WHERE key = ?1",
            params![key, kind, description, serde_json::to_string(blobs).expect("strings encode")],
        )?;
        Ok(())
    }

    /// Every cache record, least recently used first.
    pub fn cache_entries(&self) -> Result<Vec<ListedRecord>, StoreError> {
        self.measure_snapshots()?;
        let model = {
            let db = self.inner.db.lock();
            Model::read(&db)?
        };
        let blob_sizes = self.blob_sizes(model.records.values().flat_map(|r| r.blobs.iter()));
        let mut out: Vec<(i64, ListedRecord)> = model
            .records
            .iter()
            .map(|(key, r)| {
                (
                    r.used_ms,
                    ListedRecord {
                        key: key.clone(),
                        kind: r.kind.clone(),
                        description: r.description.clone(),
                        outputs: r.outputs.iter().map(|o| SnapshotId(*o)).collect(),
                        blobs: r.blobs.clone(),
                        size: r.outputs.iter().filter_map(|o| model.snaps.get(o)).map(|s| s.size).sum::<u64>()
                            + r.blobs.iter().map(|b| blob_sizes.get(b).copied().unwrap_or(0)).sum::<u64>(),
                        created: r.created,
                        last_used: r.last_used,
                        in_use: model.record_in_use(r),
                    },
                )
            })
            .collect();
        out.sort_by(|(a_ms, a), (b_ms, b)| (a_ms, a.created, &a.key).cmp(&(b_ms, b.created, &b.key)));
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    fn usage_of(&self, model: &Model) -> u64 {
        let blobs: BTreeSet<&String> = model
            .records
            .values()
            .flat_map(|r| r.blobs.iter())
            .chain(model.layer_blobs.iter().map(|(_, d)| d))
            .collect();
        let snaps: u64 = model.snaps.values().filter(|s| s.committed).map(|s| s.size).sum();
        snaps + blobs.into_iter().map(|d| file_size(&self.blob_path(d))).sum::<u64>()
    }

    /// Removes records that are not in use, least recently used first, until
    /// `policy` is met (see [`PrunePolicy::limit`]), with the snapshots and
    /// blobs nothing else needs. See the module docs.
    pub fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport, StoreError> {
        self.prune_matching(policy, &RecordFilter::default(), "gc")
    }

    /// [`Store::prune`] among the records `filter` allows, the removed
    /// records' tombstones saying `by` removed them (`gc`: the automatic GC;
    /// `prune`: a prune someone asked for).
    pub fn prune_matching(
        &self,
        policy: &PrunePolicy,
        filter: &RecordFilter,
        by: &str,
    ) -> Result<PruneReport, StoreError> {
        self.measure_snapshots()?;
        let now_ms = crate::db::now_ms();
        let free = free_space(self.root()).unwrap_or(u64::MAX);
        let mut report = PruneReport::default();
        let (dead_snaps, dead_blobs, dead_indexes) = {
            let mut db = self.inner.db.lock();
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut m = Model::read(&tx)?;
            let blob_size = |d: &String| file_size(&self.blob_path(d));
            let mut used = self.usage_of(&m);
            report.before = used;
            let Some(limit) = policy.limit(used, free) else {
                report.after = used;
                return Ok(report);
            };
            let mut candidates: Vec<(i64, i64, String)> = m
                .records
                .iter()
                .filter(|(_, r)| !m.record_in_use(r) && filter.matches(&r.kind, r.used_ms, now_ms))
                .map(|(k, r)| (r.used_ms, r.created, k.clone()))
                .collect();
            candidates.sort();
            let mut gone_records: Vec<String> = Vec::new();
            // (key, kind, description) of each removed record: its tombstone
            let mut buried: Vec<(String, String, String)> = Vec::new();
            let mut gone_snaps: Vec<i64> = Vec::new();
            let mut owned_blobs: BTreeSet<String> = BTreeSet::new();
            let mut candidates = candidates.into_iter();
            // What needs each snapshot (records' outputs, snapshots over it)
            // and each owned blob, counted once and kept as things go: a
            // prune is linear in the records, not quadratic.
            let mut refs: HashMap<i64, usize> = HashMap::new();
            for o in m.records.values().flat_map(|r| r.outputs.iter()) {
                *refs.entry(*o).or_default() += 1;
            }
            for p in m.snaps.values().filter_map(|s| s.parent) {
                *refs.entry(p).or_default() += 1;
            }
            let mut blob_refs: HashMap<String, usize> = HashMap::new();
            for b in m.records.values().flat_map(|r| r.blobs.iter()) {
                *blob_refs.entry(b.clone()).or_default() += 1;
            }
            let layer_digests: HashSet<String> = m.layer_blobs.iter().map(|(_, d)| d.clone()).collect();
            let unneeded = |id: i64, snaps: &HashMap<i64, Snap>, refs: &HashMap<i64, usize>| {
                snaps.get(&id).is_some_and(|s| s.committed)
                    && !m.in_use.contains(&id)
                    && refs.get(&id).copied().unwrap_or(0) == 0
            };
            let release = |id: i64, refs: &mut HashMap<i64, usize>| {
                if let Some(n) = refs.get_mut(&id) {
                    *n = n.saturating_sub(1);
                }
            };
            // Snapshots no one needs (left by records removed earlier), then
            // records, least recently used first; children before parents.
            let mut free_now: Vec<i64> = m.snaps.keys().copied().filter(|id| unneeded(*id, &m.snaps, &refs)).collect();
            loop {
                while let Some(id) = free_now.pop() {
                    let Some(s) = m.snaps.remove(&id) else { continue };
                    used = used.saturating_sub(s.size);
                    report.freed += s.size;
                    gone_snaps.push(id);
                    if let Some(p) = s.parent {
                        release(p, &mut refs);
                        if unneeded(p, &m.snaps, &refs) {
                            free_now.push(p);
                        }
                    }
                }
                if used <= limit {
                    break;
                }
                let Some((_, _, key)) = candidates.next() else { break };
                // Never below the reserved floor: the most recent records stay.
                let frees = freed_by(&m.records[&key], &m, &refs, &blob_refs, &layer_digests, &blob_size);
                if used.saturating_sub(frees) < policy.reserved {
                    break;
                }
                let r = m.records.remove(&key).expect("candidates are records");
                for o in &r.outputs {
                    release(*o, &mut refs);
                    if unneeded(*o, &m.snaps, &refs) && !free_now.contains(o) {
                        free_now.push(*o);
                    }
                }
                // Blobs leave the count once no remaining record owns them.
                for b in &r.blobs {
                    let n = blob_refs.get_mut(b).expect("counted above");
                    *n -= 1;
                    if *n == 0 && !layer_digests.contains(b) {
                        let n = blob_size(b);
                        used = used.saturating_sub(n);
                        report.freed += n;
                    }
                    owned_blobs.insert(b.clone());
                }
                buried.push((key.clone(), r.kind.clone(), r.description.clone()));
                gone_records.push(key);
            }
            // Layer blobs made from removed snapshots go with them.
            let gone: HashSet<i64> = gone_snaps.iter().copied().collect();
            let (dead_layers, live_layers): (Vec<_>, Vec<_>) =
                m.layer_blobs.iter().cloned().partition(|(s, _)| gone.contains(s));
            let keep_blobs: HashSet<&String> =
                m.records.values().flat_map(|r| r.blobs.iter()).chain(live_layers.iter().map(|(_, d)| d)).collect();
            let mut dead_blobs: BTreeSet<String> = BTreeSet::new();
            for d in owned_blobs.iter().chain(dead_layers.iter().map(|(_, d)| d)) {
                if !keep_blobs.contains(d) {
                    dead_blobs.insert(d.clone());
                }
            }
            for (_, d) in &dead_layers {
                if dead_blobs.contains(d) && !owned_blobs.contains(d) {
                    let n = blob_size(d);
                    used = used.saturating_sub(n);
                    report.freed += n;
                }
            }
            let dead_uploads: Vec<&(String, i64, String)> =
                m.uploads.iter().filter(|(_, s, _)| gone.contains(s)).collect();
            for key in &gone_records {
                tx.execute("DELETE FROM cache WHERE key = ?1", params![key])?;
            }
            crate::explain::bury(&tx, &buried, by)?;
            for (scope, _, _) in &dead_uploads {
                tx.execute("DELETE FROM uploads WHERE scope = ?1", params![scope])?;
            }
            for (s, _) in &dead_layers {
                tx.execute("DELETE FROM layer_blobs WHERE snapshot = ?1", params![s])?;
            }
            // Memos of incremental copies that involve a removed snapshot.
            for id in &gone_snaps {
                tx.execute("DELETE FROM copy_bases WHERE base = ?1 OR src = ?1 OR result = ?1", params![id])?;
            }
            // Children before parents (the foreign key on `parent`).
            for id in &gone_snaps {
                tx.execute("DELETE FROM leases WHERE snapshot = ?1", params![id])?;
                tx.execute("DELETE FROM snapshots WHERE id = ?1", params![id])?;
            }
            tx.commit()?;
            report.records = gone_records.len();
            report.snapshots = gone_snaps.len();
            report.blobs = dead_blobs.len();
            report.after = used;
            (gone_snaps, dead_blobs, dead_uploads.into_iter().map(|(_, _, idx)| idx.clone()).collect::<Vec<_>>())
        };
        for id in dead_snaps {
            let dir = self.snapshot_root(SnapshotId(id));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %dir.display(), error = %e, "removing a pruned snapshot failed");
                }
            }
        }
        for d in dead_blobs {
            let _ = std::fs::remove_file(self.blob_path(&d));
        }
        for idx in dead_indexes {
            let _ = std::fs::remove_file(self.inner.root.join("uploads").join(idx));
        }
        Ok(report)
    }

    /// Snapshot directories without a row: left by a prune that stopped
    /// between its transaction and removing the files. (A snapshot's row is
    /// always written before its directory, and removed after it.)
    pub(crate) fn remove_orphan_dirs(&self) -> Result<(), StoreError> {
        let ids: HashSet<i64> = {
            let db = self.inner.db.lock();
            let mut stmt = db.prepare("SELECT id FROM snapshots")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let dir = self.inner.root.join("snapshots");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else { continue };
            if !ids.contains(&id) {
                // Re-check under the lock: a row is written before its directory.
                let exists = {
                    let db = self.inner.db.lock();
                    db.query_row("SELECT 1 FROM snapshots WHERE id = ?1", params![id], |_| Ok(())).optional()?.is_some()
                };
                if !exists {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }
}

mod lease;
mod usage;

use lease::holder_alive;
pub(crate) use lease::Leases;
pub use lease::SnapshotLease;
pub use usage::{disk_space, disk_usage, KindSpace, PipelineSpace, SpaceReport};
use usage::{file_size, free_space};

#[cfg(test)]
mod tests;
