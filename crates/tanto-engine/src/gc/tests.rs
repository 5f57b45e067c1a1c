use std::sync::atomic::AtomicUsize;

use super::*;

const MB: u64 = 1_000_000;
const GB: u64 = 1_000_000_000;

fn settings(
    reserved: Option<&str>,
    max_used: Option<&str>,
    min_free: Option<&str>,
    target: Option<&str>,
) -> GcSettings {
    let p = |v: Option<&str>| v.map(|s| DiskSpace::parse(s).unwrap());
    GcSettings {
        reserved_space: p(reserved),
        max_used_space: p(max_used),
        min_free_space: p(min_free),
        target_space: p(target),
    }
}

fn usage(cache: u64, disk_total: u64, disk_free: u64) -> Usage {
    Usage { cache, disk_total, disk_free }
}

#[test]
fn trigger_decisions() {
    // (settings, usage, the size the cache must shrink to)
    let cases = [
        // within the budget
        (settings(Some("1MB"), Some("10MB"), Some("0"), None), usage(5 * MB, 100 * GB, 50 * GB), None),
        (settings(Some("1MB"), Some("10MB"), Some("0"), None), usage(10 * MB, 100 * GB, 50 * GB), None),
        // over maxUsedSpace: down to targetSpace (default: maxUsedSpace)
        (settings(Some("1MB"), Some("10MB"), Some("0"), None), usage(11 * MB, 100 * GB, 50 * GB), Some(10 * MB)),
        (settings(Some("1MB"), Some("10MB"), Some("0"), Some("4MB")), usage(11 * MB, 100 * GB, 50 * GB), Some(4 * MB)),
        // never below reservedSpace
        (settings(Some("6MB"), Some("10MB"), Some("0"), Some("4MB")), usage(11 * MB, 100 * GB, 50 * GB), Some(6 * MB)),
        // percentages of the disk
        (settings(Some("0"), Some("50%"), Some("0"), None), usage(60 * MB, 100 * MB, 40 * MB), Some(50 * MB)),
        // the disk short of free space: free what is missing
        (settings(Some("1GB"), Some("100GB"), Some("20GB"), None), usage(30 * GB, 100 * GB, 15 * GB), Some(25 * GB)),
        // a disk filled by other files: down to the reserved floor, no further
        (settings(Some("2GB"), Some("100GB"), Some("20GB"), None), usage(5 * GB, 100 * GB, 0), Some(2 * GB)),
        // ... and nothing at all when the cache is within that floor
        (settings(Some("2GB"), Some("100GB"), Some("20GB"), None), usage(2 * GB, 100 * GB, 0), None),
        // Dagger's defaults on a 1 TB disk, half free
        (settings(None, None, None, None), usage(100 * GB, 1000 * GB, 500 * GB), None),
        (settings(None, None, None, None), usage(800 * GB, 1000 * GB, 150 * GB), Some(750 * GB)),
    ];
    for (i, (s, u, want)) in cases.into_iter().enumerate() {
        let got = trigger(&s, &u).map(|p| p.limit(u.cache, u.disk_free).expect("a triggered policy has a limit"));
        assert_eq!(got, want, "case {i}: {s:?} {u:?}");
    }
}

/// A state directory with a given usage; records the prunes asked of it.
struct FakeSpace {
    usage: Result<Usage, ()>,
    busy: bool,
    checks: AtomicUsize,
    prunes: parking_lot::Mutex<Vec<PrunePolicy>>,
}

impl FakeSpace {
    fn new(usage: Result<Usage, ()>, busy: bool) -> FakeSpace {
        FakeSpace { usage, busy, checks: AtomicUsize::new(0), prunes: Default::default() }
    }
}

impl CacheSpace for FakeSpace {
    fn usage(&self) -> Result<Usage, StoreError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        self.usage.map_err(|()| StoreError::MissingSnapshot(7))
    }

    fn try_exclusive(&self) -> Result<Option<Box<dyn Send>>, StoreError> {
        Ok((!self.busy).then(|| Box::new(()) as Box<dyn Send>))
    }

    fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport, StoreError> {
        self.prunes.lock().push(*policy);
        let u = self.usage.unwrap();
        let after = policy.limit(u.cache, u.disk_free).unwrap_or(u.cache);
        Ok(PruneReport { records: 1, freed: u.cache - after, before: u.cache, after, ..Default::default() })
    }
}

#[test]
fn a_check_prunes_only_when_over_the_policy_and_the_state_dir_is_free() {
    let s = settings(Some("1MB"), Some("10MB"), Some("0"), Some("8MB"));
    let over = Ok(usage(12 * MB, 100 * GB, 50 * GB));
    let within = Ok(usage(9 * MB, 100 * GB, 50 * GB));
    let pruned = PruneReport { records: 1, freed: 4 * MB, before: 12 * MB, after: 8 * MB, ..Default::default() };
    // (usage, another process prunes, outcome or error, prunes asked)
    type Case = (Result<Usage, ()>, bool, Result<Outcome, &'static str>, usize);
    let cases: [Case; 4] = [
        (within, false, Ok(Outcome::Within), 0),
        (over, false, Ok(Outcome::Pruned(pruned)), 1),
        (over, true, Ok(Outcome::Busy), 0),
        (Err(()), false, Err("snapshot 7 is missing"), 0),
    ];
    for (i, (u, busy, want, prunes)) in cases.into_iter().enumerate() {
        let space = FakeSpace::new(u, busy);
        match (collect(&space, &s), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "case {i}"),
            (Err(e), Err(w)) => assert!(e.to_string().contains(w), "case {i}: {e}"),
            (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
        }
        let asked = space.prunes.lock().clone();
        assert_eq!(asked.len(), prunes, "case {i}");
        if let Some(p) = asked.first() {
            assert_eq!(
                *p,
                PrunePolicy { reserved: MB, max_used: Some(10 * MB), min_free: Some(0), target: Some(8 * MB) }
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pokes_are_debounced_and_the_last_one_is_checked() {
    let space = Arc::new(FakeSpace::new(Ok(usage(MB, 100 * GB, 50 * GB)), false));
    let interval = Duration::from_secs(1);
    let gc = Gc::new(space.clone(), GcSettings::default(), interval);
    let checks = || space.checks.load(Ordering::SeqCst);
    // Waits up to `limit` for `n` checks; the checks then.
    let reach = |n: usize, limit: Duration| async move {
        let deadline = Instant::now() + limit;
        while checks() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        checks()
    };
    gc.poke();
    assert_eq!(reach(1, interval / 2).await, 1, "the first poke checks at once");
    for _ in 0..50 {
        gc.poke();
    }
    tokio::time::sleep(interval / 5).await;
    assert_eq!(checks(), 1, "pokes within the interval wait for it");
    assert_eq!(reach(2, interval * 3).await, 2, "... and then make one check");
    tokio::time::sleep(interval * 3 / 2).await;
    assert_eq!(checks(), 2, "no poke, no check");
    gc.poke();
    assert_eq!(reach(3, interval / 2).await, 3, "a poke after a quiet interval checks at once");
    gc.idle(interval).await;
    assert!(!gc.running.load(Ordering::SeqCst), "idle once the check is done");
}

#[test]
fn prune_filters() {
    let day = 24 * 3600 * 1000;
    // (--filter values, the filter or the error's start)
    let cases: Vec<(&[&str], Result<tanto_store::RecordFilter, &str>)> = vec![
        (&[], Ok(Default::default())),
        (&["type=exec"], Ok(tanto_store::RecordFilter { kinds: vec!["exec".into()], unused_for_ms: None })),
        (
            &["type=exec", "type=image-layer", "until=24h"],
            Ok(tanto_store::RecordFilter {
                kinds: vec!["exec".into(), "image-layer".into()],
                unused_for_ms: Some(day),
            }),
        ),
        (&["until=90m"], Ok(tanto_store::RecordFilter { kinds: vec![], unused_for_ms: Some(90 * 60 * 1000) })),
        (&["type=volume"], Err("filter `type=volume`: unknown type `volume`")),
        (&["until=soon"], Err("filter `until=soon`: ")),
        (&["label=x"], Err("filter `label=x`: unknown filter `label`")),
        (&["exec"], Err("filter `exec`: use `type=KIND` or `until=DURATION`")),
    ];
    for (input, want) in cases {
        let input: Vec<String> = input.iter().map(|s| s.to_string()).collect();
        match (super::parse_filters(&input), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input:?}"),
            (Err(got), Err(start)) => assert!(got.starts_with(start), "{input:?}: {got}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }
}
