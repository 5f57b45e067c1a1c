//! The cache keeping to its budget: automatic GC and the CLI's `prune`/`du`.
//!
//! After a step's result is recorded ([`Gc::poke`], at most one check per
//! [`CHECK_INTERVAL`], and once at engine start) a background task measures
//! the cache cheaply ([`tanto_store::Store::cache_usage`]) and the disk, and
//! when they pass the `[gc]` policy ([`trigger`]: the cache over
//! `maxUsedSpace`, or free space under `minFreeSpace`) prunes least recently
//! used records down to `targetSpace`, never below `reservedSpace` (so a disk
//! filled by other files never wipes the cache) and never what a running
//! step holds (snapshot leases). Requests never wait for it. One prune runs
//! at a time per state directory, across engine processes: whoever holds
//! the store's GC lease prunes, the others skip that check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tanto_contract::cache::CachePolicy;
pub use tanto_store::SpaceReport;
use tanto_store::{PrunePolicy, PruneReport, Store, StoreError};

use crate::cache::{format_size, store_policy, DiskSpace, GcSettings};
use crate::{EngineError, EngineOptions};

/// How often, at most, an engine checks its cache against the policy.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// The cache's size and its disk's, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub cache: u64,
    pub disk_total: u64,
    pub disk_free: u64,
}

/// What GC needs of a state directory: [`Store`], or a fake in tests.
pub trait CacheSpace: Send + Sync {
    fn usage(&self) -> Result<Usage, StoreError>;
    /// The GC lease; `None` while another process prunes.
    fn try_exclusive(&self) -> Result<Option<Box<dyn Send>>, StoreError>;
    fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport, StoreError>;
}

impl CacheSpace for Store {
    fn usage(&self) -> Result<Usage, StoreError> {
        let cache = self.cache_usage()?;
        // An unreadable disk: nothing is short of space.
        let (disk_total, disk_free) = tanto_store::disk_space(self.root()).unwrap_or((0, u64::MAX));
        Ok(Usage { cache, disk_total, disk_free })
    }

    fn try_exclusive(&self) -> Result<Option<Box<dyn Send>>, StoreError> {
        Ok(self.try_gc_lease()?.map(|l| Box::new(l) as Box<dyn Send>))
    }

    fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport, StoreError> {
        Store::prune(self, policy)
    }
}

/// The prune `usage` calls for under `settings`: `None` while the cache is
/// within its limits (or only the reserved floor would be left to prune).
pub fn trigger(settings: &GcSettings, usage: &Usage) -> Option<PrunePolicy> {
    let policy = store_policy(&settings.resolve(usage.disk_total));
    let limit = policy.limit(usage.cache, usage.disk_free)?;
    (limit < usage.cache).then_some(policy)
}

/// What one GC check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The cache is within the policy.
    Within,
    /// Another process is pruning this state directory.
    Busy,
    Pruned(PruneReport),
}

/// One GC check: measure, and prune when the policy says so.
pub fn collect(space: &dyn CacheSpace, settings: &GcSettings) -> Result<Outcome, StoreError> {
    let usage = space.usage()?;
    let Some(policy) = trigger(settings, &usage) else { return Ok(Outcome::Within) };
    let Some(_lease) = space.try_exclusive()? else { return Ok(Outcome::Busy) };
    Ok(Outcome::Pruned(space.prune(&policy)?))
}

/// One check of the automatic GC, logged: a line at info when it freed something.
fn check(space: &dyn CacheSpace, settings: &GcSettings) {
    let started = Instant::now();
    match collect(space, settings) {
        Ok(Outcome::Pruned(r)) if r.records + r.snapshots + r.blobs > 0 => tracing::info!(
            freed = r.freed,
            records = r.records,
            snapshots = r.snapshots,
            blobs = r.blobs,
            ms = started.elapsed().as_millis() as u64,
            "cache gc: freed {} ({} -> {})",
            format_size(r.freed),
            format_size(r.before),
            format_size(r.after),
        ),
        Ok(Outcome::Pruned(r)) => {
            tracing::debug!(cache = r.before, "cache gc: over the policy, but every record is in use")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cache gc failed; it runs again after the next step"),
    }
}

/// An engine's automatic GC: debounced checks in the background.
pub(crate) struct Gc {
    space: Arc<dyn CacheSpace>,
    settings: GcSettings,
    interval: Duration,
    /// A result was recorded since the last check began.
    dirty: AtomicBool,
    /// A task is going to check (or checking).
    scheduled: AtomicBool,
    /// A check is running (on the blocking pool).
    running: AtomicBool,
    last: parking_lot::Mutex<Option<Instant>>,
}

impl Gc {
    pub(crate) fn new(space: Arc<dyn CacheSpace>, settings: GcSettings, interval: Duration) -> Arc<Gc> {
        Arc::new(Gc {
            space,
            settings,
            interval,
            dirty: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            running: AtomicBool::new(false),
            last: parking_lot::Mutex::new(None),
        })
    }

    /// Something was recorded: check the cache soon (within the interval
    /// since the last check), in the background. Call on a tokio runtime.
    pub(crate) fn poke(self: &Arc<Self>) {
        self.dirty.store(true, Ordering::SeqCst);
        if self.scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(self.clone().checks());
    }

    /// Waits (up to `limit`) for a running check to finish, so that an
    /// engine that stops leaves no prune half done (a pending check is
    /// left to the next engine's start).
    pub(crate) async fn idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.running.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn checks(self: Arc<Self>) {
        loop {
            let due = self.last.lock().map(|t| t + self.interval);
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            self.dirty.store(false, Ordering::SeqCst);
            *self.last.lock() = Some(Instant::now());
            let (space, settings) = (self.space.clone(), self.settings.clone());
            self.running.store(true, Ordering::SeqCst);
            if let Err(e) = tokio::task::spawn_blocking(move || check(&*space, &settings)).await {
                tracing::warn!(error = %e, "cache gc stopped; it runs again after the next step");
            }
            self.running.store(false, Ordering::SeqCst);
            self.scheduled.store(false, Ordering::SeqCst);
            // Poked during the check: go again (unless a new task took over).
            if !self.dirty.load(Ordering::SeqCst) || self.scheduled.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }
}

/// How far `tanto prune` goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PruneScope {
    /// As the `[gc]` policy says (nothing when the cache is within it).
    Policy,
    /// Everything no running step holds.
    All,
    /// Down to this size.
    KeepStorage(DiskSpace),
}

impl PruneScope {
    pub fn policy(self, settings: &GcSettings, disk_total: u64) -> PrunePolicy {
        match self {
            PruneScope::Policy => store_policy(&settings.resolve(disk_total)),
            PruneScope::All => PrunePolicy::default(),
            PruneScope::KeepStorage(d) => {
                let b = d.bytes(disk_total);
                PrunePolicy { reserved: 0, max_used: Some(b), min_free: None, target: Some(b) }
            }
        }
    }
}

/// Prunes with `policy` (among the records `filter` allows) once this process holds the GC lease (waiting for
/// another process's prune to end). Blocking.
pub fn prune_exclusive(
    store: &Store,
    policy: &PrunePolicy,
    filter: &tanto_store::RecordFilter,
) -> Result<PruneReport, StoreError> {
    let _lease = loop {
        if let Some(l) = store.try_gc_lease()? {
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    store.prune_matching(policy, filter, "prune")
}

/// The state directory and `[gc]` settings of `options`, without an engine.
fn open_state(options: &EngineOptions) -> Result<(Store, GcSettings), EngineError> {
    let (config, path) = crate::load_config(options)?;
    let settings = GcSettings::from_config(&config, path.as_deref())?;
    let store = Store::open(&options.state_dir)?;
    Ok((store, settings))
}

/// `tanto prune`: prunes the state directory of `options`, among the records
/// `filter` allows. Blocking.
pub fn prune_state(
    options: &EngineOptions,
    scope: PruneScope,
    filter: &tanto_store::RecordFilter,
) -> Result<PruneReport, EngineError> {
    let (store, settings) = open_state(options)?;
    let total = tanto_store::disk_space(store.root()).map(|(t, _)| t).unwrap_or(0);
    Ok(prune_exclusive(&store, &scope.policy(&settings, total), filter)?)
}

/// `tanto prune --filter` values: `type=KIND` (`exec`, `image-layer`, `file`,
/// `local`, `http`, `git`, `kept`; repeatable) and `until=DURATION` (not used
/// for at least that long: `24h`, `90m`).
pub fn parse_filters(filters: &[String]) -> Result<tanto_store::RecordFilter, String> {
    const KINDS: [&str; 7] = ["exec", "image-layer", "file", "local", "http", "git", "kept"];
    let mut f = tanto_store::RecordFilter::default();
    for raw in filters {
        let (key, value) =
            raw.split_once('=').ok_or_else(|| format!("filter `{raw}`: use `type=KIND` or `until=DURATION`"))?;
        match key.trim() {
            "type" => {
                let kind = value.trim();
                if !KINDS.contains(&kind) {
                    return Err(format!("filter `{raw}`: unknown type `{kind}`: one of {}", KINDS.join(", ")));
                }
                f.kinds.push(kind.to_string());
            }
            "until" => {
                let ns = tanto_contract::image::parse_duration(value.trim())
                    .map_err(|e| format!("filter `{raw}`: {e} (a duration such as `24h` or `90m`)"))?;
                f.unused_for_ms = Some(ns.max(0) / 1_000_000);
            }
            other => return Err(format!("filter `{raw}`: unknown filter `{other}`: use `type` or `until`")),
        }
    }
    Ok(f)
}

/// What `tanto du` shows.
pub struct SpaceState {
    /// Where the space goes, per kind of record and per pipeline.
    pub space: SpaceReport,
    /// The `[gc]` policy's limits.
    pub policy: CachePolicy,
    pub disk_total: u64,
    pub disk_free: u64,
}

/// `tanto du`: where the space goes, the policy's limits and the disk's size and free space.
pub fn space_state(options: &EngineOptions) -> Result<SpaceState, EngineError> {
    let (store, settings) = open_state(options)?;
    let (disk_total, disk_free) = tanto_store::disk_space(store.root()).unwrap_or((0, 0));
    Ok(SpaceState { space: store.space()?, policy: settings.resolve(disk_total), disk_total, disk_free })
}

#[cfg(test)]
mod tests;
