//! Sizes: disk usage of snapshot trees (measured once: a committed snapshot
//! never changes) and blobs, and the free space of the state directory.

use std::collections::{BTreeSet, HashMap, HashSet};
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

/// Where the state directory's space goes (`tanto du`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpaceReport {
    /// Cache records by kind (`exec`, `image-layer`, `file`, `local`, `http`,
    /// `git`, `kept`; `other` when unknown): each snapshot and owned blob
    /// counted once, for the first record (by key) that has it.
    pub kinds: std::collections::BTreeMap<String, KindSpace>,
    /// Committed snapshots no record outputs (the lower layers of others).
    pub lower_snapshots: u64,
    /// Blob files no record owns (layer blobs made for exports, manifests, configs).
    pub blobs: u64,
    /// Cache volumes (never pruned).
    pub volumes: u64,
    /// Mirrors of remote clients' directories (`tanto engine serve`; removed
    /// when unused for a week).
    pub mirrors: u64,
    /// What the `[gc]` policy counts and pruning frees: committed snapshots
    /// and the blobs records and layer blobs own.
    pub cache: u64,
    /// Everything above.
    pub total: u64,
    /// The cache space per pipeline (its recorded runs), most first.
    pub pipelines: Vec<PipelineSpace>,
    /// Cache bytes no recorded run's records hold (older runs, or results
    /// of engines that recorded no run).
    pub unattributed: u64,
}

/// The records of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindSpace {
    pub records: usize,
    pub bytes: u64,
    /// Records a running step uses (pruning leaves them).
    pub in_use: usize,
}

impl Store {
    /// Disk space the cache uses: committed snapshots and the blobs records
    /// and layer blobs own. Cheap: sizes come from the database (a snapshot
    /// is measured once, when first counted) and one `stat` per blob; it is
    /// the figure [`Store::prune`] compares with its policy.
    pub fn cache_usage(&self) -> Result<u64, StoreError> {
        self.measure_snapshots()?;
        let (snaps, blobs) = {
            let db = self.inner.db.lock();
            let snaps: i64 =
                db.query_row("SELECT COALESCE(SUM(size), 0) FROM snapshots WHERE state = 'committed'", [], |r| {
                    r.get(0)
                })?;
            let mut blobs: BTreeSet<String> = BTreeSet::new();
            let mut stmt = db.prepare("SELECT blobs FROM cache WHERE blobs != '[]'")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                blobs.extend(serde_json::from_str::<Vec<String>>(&row?).unwrap_or_default());
            }
            let mut stmt = db.prepare("SELECT digest FROM layer_blobs")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                blobs.insert(row?);
            }
            (snaps.max(0) as u64, blobs)
        };
        Ok(snaps + blobs.iter().map(|d| file_size(&self.blob_path(d))).sum::<u64>())
    }

    /// Where the state directory's space goes, by kind of record.
    pub fn space(&self) -> Result<SpaceReport, StoreError> {
        self.measure_snapshots()?;
        let (model, runs, steps) = {
            let db = self.inner.db.lock();
            let model = super::Model::read(&db)?;
            let mut stmt = db.prepare("SELECT id, pipeline, workdir, finished_ms FROM runs")?;
            let runs = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = db.prepare("SELECT DISTINCT run, key FROM run_steps")?;
            let steps = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            (model, runs, steps)
        };
        let mut out = SpaceReport { cache: self.usage_of(&model), ..Default::default() };
        let mut seen_snaps: HashSet<i64> = HashSet::new();
        let mut seen_blobs: HashSet<String> = HashSet::new();
        for r in model.records.values() {
            let kind = if r.kind.is_empty() { "other" } else { r.kind.as_str() };
            let k = out.kinds.entry(kind.to_string()).or_default();
            k.records += 1;
            k.in_use += usize::from(model.record_in_use(r));
            for o in &r.outputs {
                if let Some(s) = model.snaps.get(o).filter(|s| s.committed && seen_snaps.insert(*o)) {
                    k.bytes += s.size;
                }
            }
            for b in &r.blobs {
                if seen_blobs.insert(b.clone()) {
                    k.bytes += file_size(&self.blob_path(b));
                }
            }
        }
        out.lower_snapshots =
            model.snaps.iter().filter(|(id, s)| s.committed && !seen_snaps.contains(id)).map(|(_, s)| s.size).sum();
        let blob_dir = self.inner.root.join("blobs/sha256");
        if let Ok(rd) = std::fs::read_dir(&blob_dir) {
            for e in rd.flatten() {
                let name = format!("sha256:{}", e.file_name().to_string_lossy());
                if !seen_blobs.contains(&name) {
                    out.blobs += file_size(&e.path());
                }
            }
        }
        out.volumes = disk_usage(&self.inner.root.join("volumes"));
        out.mirrors = disk_usage(&self.mirrors_dir());
        out.total = out.kinds.values().map(|k| k.bytes).sum::<u64>()
            + out.lower_snapshots
            + out.blobs
            + out.volumes
            + out.mirrors;
        let (pipelines, attributed) = self.pipelines_of(&model, runs, &steps);
        out.pipelines = pipelines;
        out.unattributed = out.cache.saturating_sub(attributed);
        Ok(out)
    }
}

/// The cache space the recorded runs of one pipeline use (`tanto du`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpace {
    /// What ran (see [`crate::explain::RunName`]); empty for runs recorded
    /// before runs were named.
    pub pipeline: String,
    pub workdir: String,
    /// Its recorded runs (of the last [`crate::explain::KEEP_RUNS`]).
    pub runs: usize,
    pub last_run_ms: i64,
    /// Cache records its runs used that are still in the cache.
    pub records: usize,
    /// What those hold: their snapshots and the snapshots below them, their
    /// blobs and the layer blobs made of their snapshots.
    pub bytes: u64,
    /// Of that, what no other pipeline's runs use.
    pub exclusive: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Held {
    Snapshot(i64),
    Blob(String),
}

impl Store {
    /// The cache space `runs` (id, pipeline, workdir, finished) use, per
    /// pipeline (the same name and directory over several runs count once),
    /// most first; and the bytes any of them holds.
    fn pipelines_of(
        &self,
        model: &super::Model,
        runs: Vec<(i64, String, String, i64)>,
        steps: &[(i64, String)],
    ) -> (Vec<PipelineSpace>, u64) {
        // pipelines in order of first appearance; runs → pipeline index
        let mut out: Vec<PipelineSpace> = Vec::new();
        let mut run_of: HashMap<i64, usize> = HashMap::new();
        for (id, pipeline, workdir, finished_ms) in runs {
            let i = match out.iter().position(|p| p.pipeline == pipeline && p.workdir == workdir) {
                Some(i) => i,
                None => {
                    out.push(PipelineSpace { pipeline, workdir, ..Default::default() });
                    out.len() - 1
                }
            };
            out[i].runs += 1;
            out[i].last_run_ms = out[i].last_run_ms.max(finished_ms);
            run_of.insert(id, i);
        }
        let layer_blobs: HashMap<i64, Vec<&String>> = model.layer_blobs.iter().fold(HashMap::new(), |mut m, (s, d)| {
            m.entry(*s).or_default().push(d);
            m
        });
        // what each pipeline holds, and how many pipelines hold each thing
        let mut held: Vec<HashSet<Held>> = vec![HashSet::new(); out.len()];
        let mut keys: Vec<HashSet<&str>> = vec![HashSet::new(); out.len()];
        for (run, key) in steps {
            let (Some(&i), Some(rec)) = (run_of.get(run), model.records.get(key)) else { continue };
            if !keys[i].insert(key) {
                continue;
            }
            for b in &rec.blobs {
                held[i].insert(Held::Blob(b.clone()));
            }
            for &o in &rec.outputs {
                let mut cur = Some(o);
                while let Some(id) = cur {
                    let Some(s) = model.snaps.get(&id).filter(|s| s.committed) else { break };
                    if !held[i].insert(Held::Snapshot(id)) {
                        break;
                    }
                    for d in layer_blobs.get(&id).into_iter().flatten() {
                        held[i].insert(Held::Blob((*d).clone()));
                    }
                    cur = s.parent;
                }
            }
        }
        let mut holders: HashMap<&Held, usize> = HashMap::new();
        for h in held.iter().flatten() {
            *holders.entry(h).or_default() += 1;
        }
        let size = |h: &Held| match h {
            Held::Snapshot(id) => model.snaps.get(id).map_or(0, |s| s.size),
            Held::Blob(d) => file_size(&self.blob_path(d)),
        };
        let sizes: HashMap<&Held, u64> = holders.keys().map(|h| (*h, size(h))).collect();
        for (i, p) in out.iter_mut().enumerate() {
            p.records = keys[i].len();
            p.bytes = held[i].iter().map(|h| sizes[h]).sum();
            p.exclusive = held[i].iter().filter(|h| holders[h] == 1).map(|h| sizes[h]).sum();
        }
        out.retain(|p| p.records > 0);
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.last_run_ms.cmp(&a.last_run_ms)));
        (out, sizes.values().sum())
    }
}
