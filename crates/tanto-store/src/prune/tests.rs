use super::*;
use crate::CacheRecord;

#[test]
fn policy_limits() {
    const G: u64 = 1 << 30;
    let p = |reserved, max_used, min_free, target| PrunePolicy { reserved, max_used, min_free, target };
    // (policy, used, free, limit)
    let cases = [
        (p(0, None, None, None), 10 * G, 100 * G, Some(0)),
        (p(2 * G, None, None, None), 10 * G, 100 * G, Some(2 * G)),
        (p(0, Some(20 * G), None, None), 10 * G, 100 * G, None),
        (p(0, Some(8 * G), None, None), 10 * G, 100 * G, Some(8 * G)),
        (p(0, Some(8 * G), None, Some(5 * G)), 10 * G, 100 * G, Some(5 * G)),
        (p(6 * G, Some(8 * G), None, Some(5 * G)), 10 * G, 100 * G, Some(6 * G)),
        (p(0, None, Some(20 * G), None), 10 * G, 15 * G, Some(5 * G)),
        (p(0, None, Some(20 * G), None), 10 * G, 25 * G, None),
        (p(0, Some(100 * G), Some(20 * G), None), 10 * G, 18 * G, Some(8 * G)),
        // a disk full of other files: down to the reserved floor, never below
        (p(3 * G, Some(100 * G), Some(20 * G), None), 5 * G, 0, Some(3 * G)),
    ];
    for (i, (policy, used, free, want)) in cases.into_iter().enumerate() {
        assert_eq!(policy.limit(used, free), want, "case {i}: {policy:?} used={used} free={free}");
    }
}

/// A committed snapshot over `parent` holding one file of `len` bytes.
fn snap(store: &Store, key: &str, parent: Option<SnapshotId>, len: usize) -> SnapshotId {
    let p = store.prepare(parent.map(|p| (p, "/"))).unwrap();
    std::fs::write(p.upper.join("data"), vec![7u8; len]).unwrap();
    let id = p.id;
    store.commit(key, &CacheRecord { outputs: vec![id], meta: None }).unwrap();
    id
}

fn set_used(store: &Store, key: &str, t: i64) {
    store
        .inner
        .db
        .lock()
        .execute("UPDATE cache SET last_used = ?2, used_ms = ?2 * 1000 WHERE key = ?1", params![key, t])
        .unwrap();
}

fn keys(store: &Store) -> Vec<String> {
    store.cache_entries().unwrap().into_iter().map(|e| e.key).collect()
}

#[test]
fn prune_removes_least_recently_used_and_keeps_what_is_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let base = snap(&store, "base", None, 64 << 10);
    let top = snap(&store, "top", Some(base), 64 << 10);
    let other = snap(&store, "other", None, 64 << 10);
    let blob = format!("sha256:{}", "b".repeat(64));
    std::fs::write(store.blob_path(&blob), vec![1u8; 32 << 10]).unwrap();
    store.describe("other", "image-layer", "pull other", std::slice::from_ref(&blob)).unwrap();
    for (k, t) in [("base", 10), ("top", 30), ("other", 20)] {
        set_used(&store, k, t);
    }
    let entries = store.cache_entries().unwrap();
    assert_eq!(
        entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["base", "other", "top"],
        "least recently used first"
    );
    let other_entry = &entries[1];
    assert_eq!((other_entry.kind.as_str(), other_entry.description.as_str()), ("image-layer", "pull other"));
    assert!(other_entry.size >= (64 << 10) + (32 << 10), "{other_entry:?}");

    // Just over the limit: `base` goes first but frees nothing (its snapshot
    // is under `top`), so `other` goes too, with its blob; `top` stays.
    let used = store.cache_usage().unwrap();
    let r = store.prune(&PrunePolicy { max_used: Some(used - 1), ..Default::default() }).unwrap();
    assert_eq!((r.records, r.snapshots, r.blobs), (2, 1, 1), "{r:?}");
    assert_eq!(r.after, r.before - r.freed);
    assert_eq!(keys(&store), ["top"]);
    assert!(store.snapshot_dir(base).is_dir(), "still the parent of `top`");
    assert!(!store.snapshot_dir(other).exists() && !store.blob_path(&blob).exists());
    // Under the limit now: nothing to do.
    assert_eq!(store.prune(&PrunePolicy { max_used: Some(used - 1), ..Default::default() }).unwrap().records, 0);

    // A lease keeps `top` and `base` below it.
    let lease = store.lease(top).unwrap();
    assert!(store.cache_entries().unwrap()[0].in_use);
    let r = store.prune(&PrunePolicy::default()).unwrap();
    assert_eq!((r.records, r.snapshots), (0, 0), "{r:?}");
    drop(lease);
    assert!(!store.cache_entries().unwrap()[0].in_use);

    // Unleased: `top` goes, then `base` with nothing left over it.
    let r = store.prune(&PrunePolicy::default()).unwrap();
    assert_eq!((r.records, r.snapshots), (1, 2), "{r:?}");
    assert!(keys(&store).is_empty());
    assert!(!store.snapshot_dir(base).exists() && !store.snapshot_dir(top).exists());
    assert_eq!(store.cache_usage().unwrap(), 0);
    assert!(store.lookup("top").unwrap().is_none());
}

#[test]
fn a_write_over_a_snapshot_keeps_its_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let base = snap(&store, "base", None, 1024);
    let writing = store.prepare(Some((base, "/"))).unwrap();
    let r = store.prune(&PrunePolicy::default()).unwrap();
    assert_eq!((r.records, r.snapshots), (0, 0), "{r:?}");
    store.abort(writing);
    assert_eq!(store.prune(&PrunePolicy::default()).unwrap().snapshots, 1);
}

#[test]
fn directories_left_by_an_interrupted_prune_are_removed_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let s = snap(&store, "k", None, 10);
    store.inner.db.lock().execute_batch("DELETE FROM cache; DELETE FROM snapshots;").unwrap();
    assert!(store.snapshot_dir(s).is_dir());
    drop(store);
    let store = Store::open(tmp.path()).unwrap();
    assert!(!store.snapshot_dir(s).exists());
}

#[test]
fn usage_and_space_by_kind_count_each_snapshot_and_blob_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let base = snap(&store, "base", None, 64 << 10);
    let top = snap(&store, "top", Some(base), 32 << 10);
    // a second record with the same output: counted once
    store.commit("same", &CacheRecord { outputs: vec![top], meta: None }).unwrap();
    let blob = format!("sha256:{}", "b".repeat(64));
    let loose = format!("sha256:{}", "c".repeat(64));
    std::fs::write(store.blob_path(&blob), vec![1u8; 16 << 10]).unwrap();
    std::fs::write(store.blob_path(&loose), vec![1u8; 8 << 10]).unwrap();
    store.describe("base", "image-layer", "pull", std::slice::from_ref(&blob)).unwrap();
    store.describe("top", "exec", "run", &[]).unwrap();
    std::fs::create_dir_all(tmp.path().join("volumes/v")).unwrap();
    std::fs::write(tmp.path().join("volumes/v/f"), vec![0u8; 4 << 10]).unwrap();

    let size = |id: SnapshotId| disk_usage(&store.snapshot_dir(id));
    let file = |d: &str| file_size(&store.blob_path(d));
    let used = store.cache_usage().unwrap();
    assert_eq!(used, size(base) + size(top) + file(&blob), "snapshots and owned blobs");
    let _lease = store.lease(top).unwrap();
    let space = store.space().unwrap();
    // (kind, records, bytes, in use): records in key order, `same` before
    // `top`, so `same` counts their shared snapshot
    let cases = [("exec", 1, 0, 1), ("image-layer", 1, size(base) + file(&blob), 1), ("other", 1, size(top), 1)];
    for (kind, records, bytes, in_use) in cases {
        let k = &space.kinds[kind];
        assert_eq!((k.records, k.bytes, k.in_use), (records, bytes, in_use), "{kind}: {k:?}");
    }
    assert_eq!(space.kinds.len(), cases.len(), "{space:?}");
    assert_eq!(space.blobs, file(&loose), "only the blob no record owns");
    assert_eq!(space.lower_snapshots, 0, "`base` is an output");
    assert!(space.volumes >= 4 << 10, "{space:?}");
    assert_eq!(space.cache, used);
    assert_eq!(space.total, used + file(&loose) + space.volumes);
    let r = store.prune(&PrunePolicy::default()).unwrap();
    assert_eq!(r.before, used, "prune counts what cache_usage counts");
}

#[test]
fn holding_a_remembered_result_counts_as_a_use() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let a = snap(&store, "a", None, 10);
    snap(&store, "b", None, 10);
    set_used(&store, "a", 10);
    set_used(&store, "b", 20);
    assert_eq!(keys(&store), ["a", "b"]);
    // (what is used, order after)
    drop(store.hold(&[a]).unwrap().expect("committed"));
    assert_eq!(keys(&store), ["b", "a"], "`a` is the most recently used now");
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert!(store.lookup("b").unwrap().is_some());
    assert_eq!(keys(&store), ["a", "b"], "a lookup is a use too");
}

#[test]
fn pruning_stops_at_the_reserved_floor() {
    // (floor: the usage less one record's size plus this, records left): the
    // limit is the floor (a "full disk"); a record whose removal would go
    // below it stays, and so do the more recent ones
    let cases: [(i64, &[&str]); 2] = [(-100, &["b", "c"]), (100, &["a", "b", "c"])];
    for (delta, left) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            snap(&store, k, None, 64 << 10);
            set_used(&store, k, 10 + i as i64);
        }
        let used = store.cache_usage().unwrap();
        let one = store.cache_entries().unwrap()[0].size;
        let reserved = (used - one).saturating_add_signed(delta);
        let policy = PrunePolicy { reserved, max_used: Some(0), min_free: None, target: None };
        assert_eq!(policy.limit(used, u64::MAX), Some(reserved));
        let r = store.prune(&policy).unwrap();
        assert!(r.after >= reserved, "{r:?} used={used} reserved={reserved}");
        assert_eq!(keys(&store), left, "floor {reserved} of {used}");
    }
}

#[test]
fn filters_choose_what_may_go() {
    let now = crate::db::now_ms() / 1000;
    // (filter, records left)
    let day = 24 * 3600 * 1000;
    let cases: Vec<(RecordFilter, &[&str])> = vec![
        (RecordFilter::default(), &[]),
        (RecordFilter { kinds: vec!["image-layer".into()], unused_for_ms: None }, &["new-exec", "old-exec"]),
        (RecordFilter { kinds: vec![], unused_for_ms: Some(day) }, &["new-exec"]),
        (RecordFilter { kinds: vec!["exec".into()], unused_for_ms: Some(day) }, &["layer", "new-exec"]),
        (RecordFilter { kinds: vec!["http".into()], unused_for_ms: None }, &["layer", "new-exec", "old-exec"]),
    ];
    for (filter, left) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        for (key, kind, age_days) in [("old-exec", "exec", 3), ("new-exec", "exec", 0), ("layer", "image-layer", 2)] {
            snap(&store, key, None, 1 << 10);
            store.describe(key, kind, key, &[]).unwrap();
            set_used(&store, key, now - age_days * 24 * 3600);
        }
        store.prune_matching(&PrunePolicy::default(), &filter, "prune").unwrap();
        let mut got = keys(&store);
        got.sort();
        assert_eq!(got, left.to_vec(), "{filter:?}");
    }
}

#[test]
fn a_pruned_record_leaves_a_tombstone_until_recorded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    snap(&store, "k", None, 1 << 10);
    assert_eq!(store.tombstone("k").unwrap(), None);
    store.prune(&PrunePolicy::default()).unwrap();
    let t = store.tombstone("k").unwrap().expect("a tombstone");
    assert!((crate::db::now_ms() - t.evicted_ms).abs() < 60_000, "{t:?}");
    snap(&store, "k", None, 1 << 10);
    assert_eq!(store.tombstone("k").unwrap(), None, "recorded again");
}
