//! The cache keeps to its `[gc]` budget: engines with a budget of a few MB
//! run a series of distinct pipelines (each step writes 1 MB), and the
//! cache settles under the budget plus one step after each, least recently
//! used first, while a pipeline running alongside (in a second engine on the
//! same state dir) is never broken; with the disk "full" (`minFreeSpace =
//! "100%"`) the cache is pruned to its reserved floor (within a step) and
//! never below it. Needs root, docker-registry and busybox-static.

use std::path::Path;
use std::time::{Duration, Instant};

use tanto_engine::{Engine, EngineOptions};
use tanto_store::Store;

mod common;

use common::{ask, fixture, Fixture};

tanto_testkit::tests! {
    the_cache_keeps_to_its_budget_and_running_pipelines_keep_working: [Root, Registry, Busybox, OciRuntime] async;
}

const MB: u64 = 1_000_000;
/// What one step writes, with room for its directories.
const STEP: u64 = 1 << 20;
const SLACK: u64 = 64 << 10;

async fn engine_with_gc(fx: &Fixture, dir: &Path, gc: &str) -> std::sync::Arc<Engine> {
    let config = dir.join(format!("engine-{}.toml", uuid::Uuid::new_v4().simple()));
    let text = std::fs::read_to_string(&fx.config).unwrap();
    std::fs::write(&config, format!("{text}\n[gc]\n{gc}\n")).unwrap();
    let mut opts = EngineOptions::from_env(Some(dir.to_path_buf())).unwrap();
    opts.state_dir = dir.join("state");
    opts.config = Some(config);
    opts.quiet = true;
    Engine::start(opts).await.expect("starting the engine")
}

/// Pipeline `n`: one step writing 1 MB of random bytes; its stdout is a random token.
fn pipeline(n: usize) -> String {
    format!(
        r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "dd if=/dev/urandom of=/data bs=1048576 count=1 2>/dev/null && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' && echo ' {n}'"]) {{ stdout }} }} }} }}"#
    )
}

/// Waits for the GC to bring the cache to `limit` at most; the cache size then.
async fn settled(store: &Store, limit: u64) -> u64 {
    let deadline = Instant::now() + tanto_engine::gc::CHECK_INTERVAL * 6;
    loop {
        let used = store.cache_usage().unwrap();
        if used <= limit || Instant::now() > deadline {
            return used;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_cache_keeps_to_its_budget_and_running_pipelines_keep_working() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let budget = 8 * MB;
    let gc = format!("reservedSpace = \"1MB\"\nmaxUsedSpace = \"{budget}\"\nminFreeSpace = \"0\"\n");
    let engine = engine_with_gc(&fx, tmp.path(), &gc).await;
    // A second engine on the same state dir runs a long pipeline meanwhile.
    let other = engine_with_gc(&fx, tmp.path(), &gc).await;
    let store = Store::open(&tmp.path().join("state")).unwrap();

    let long = tokio::spawn(async move {
        let base = r#"from(address: "busybox") { withExec(args: ["sh", "-c", "dd if=/dev/urandom of=/big bs=1048576 count=2 2>/dev/null"])"#;
        // held while it runs: the step below writes over it as the cache churns
        let q = format!(
            r#"{{ container {{ {base} {{ withExec(args: ["sh", "-c", "sleep 4; wc -c < /big"]) {{ stdout }} }} }} }} }}"#
        );
        let first = ask(&other, &q, "container.from.withExec.withExec.stdout").await;
        // later, over the same first step (pruned meanwhile or not: it comes back)
        let q = format!(r#"{{ container {{ {base} {{ withExec(args: ["wc", "-c", "/big"]) {{ stdout }} }} }} }} }}"#);
        let again = ask(&other, &q, "container.from.withExec.withExec.stdout").await;
        (first, again)
    });

    let runs = 16;
    let started = Instant::now();
    let mut tokens = Vec::new();
    let (mut peak, mut peak_settled) = (0, 0);
    for n in 0..runs {
        let out = ask(&engine, &pipeline(n), "container.from.withExec.stdout").await;
        tokens.push(out.as_str().unwrap().to_string());
        peak = peak.max(store.cache_usage().unwrap());
        let used = settled(&store, budget + STEP + SLACK).await;
        peak_settled = peak_settled.max(used);
        assert!(
            used <= budget + STEP + SLACK,
            "after pipeline {n}: the cache uses {used} bytes, over {budget} + one step"
        );
    }
    let elapsed = started.elapsed();
    let (first, again) = long.await.unwrap();
    assert_eq!(first.as_str().unwrap().trim(), "2097152", "the long pipeline saw its whole input");
    assert!(again.as_str().unwrap().trim().starts_with("2097152"), "{again}");
    let state = tmp.path().join("state");
    let on_disk = tanto_store::disk_usage(&state.join("snapshots")) + tanto_store::disk_usage(&state.join("blobs"));
    eprintln!(
        "{runs} pipelines of 1 MB each in {elapsed:?}: cache peak {peak} B right after a step, {peak_settled} B settled (budget {budget} B); snapshots + blobs on disk at the end {on_disk} B"
    );

    // Least recently used first: the first pipeline is gone (it runs again,
    // with a new token), the last one is still cached (same token).
    let last = ask(&engine, &pipeline(runs - 1), "container.from.withExec.stdout").await;
    assert_eq!(last.as_str().unwrap(), tokens[runs - 1], "the most recent pipeline stays cached");
    let first_again = ask(&engine, &pipeline(0), "container.from.withExec.stdout").await;
    assert_ne!(first_again.as_str().unwrap(), tokens[0], "the oldest pipeline was pruned, so it ran again");

    // A "full" disk (never 100% free): pruned to the reserved floor, never below.
    let reserved = 4 * MB;
    let full = engine_with_gc(
        &fx,
        tmp.path(),
        &format!("reservedSpace = \"{reserved}\"\nmaxUsedSpace = \"1TB\"\nminFreeSpace = \"100%\"\n"),
    )
    .await;
    let mut newest = serde_json::Value::Null;
    for n in 100..104 {
        newest = ask(&full, &pipeline(n), "container.from.withExec.stdout").await;
    }
    let used = settled(&store, reserved + STEP + SLACK).await;
    assert!(
        (reserved..=reserved + STEP + SLACK).contains(&used),
        "with the disk full the cache is pruned to its reserved {reserved} bytes (within a step), not {used}"
    );
    eprintln!("with the disk full: the cache settled at {used} B (reserved {reserved} B)");
    let again = ask(&full, &pipeline(103), "container.from.withExec.stdout").await;
    assert_eq!(again, newest, "the most recent pipeline stays cached");
}
