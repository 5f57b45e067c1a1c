//! `tanto du` and `tanto prune` through the real binary on a state dir that
//! `tanto query` filled: space per kind of record and the policy's limits,
//! then pruning by the policy (nothing: within it), down to a size, and
//! everything; what each freed is printed as `docker builder prune` does.
//! Needs root, docker-registry and busybox-static.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tanto_engine::cache::DiskSpace;

tanto_testkit::tests! {
    // test                                          prerequisites                          kind
    du_shows_the_space_and_prune_frees_it:           [Root, Registry, Busybox, OciRuntime]  sync;
}

fn tanto(env: &[(&str, &Path)], args: &[&str], stdin: Option<&str>) -> Output {
    tanto_testkit::run_with_input(Path::new(env!("CARGO_BIN_EXE_tanto")), env, args, stdin)
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The size printed after `Total reclaimed space: `.
fn reclaimed(text: &str) -> u64 {
    let line = text.lines().find_map(|l| l.strip_prefix("Total reclaimed space: ")).unwrap_or_else(|| panic!("{text}"));
    match DiskSpace::parse(line).unwrap() {
        DiskSpace::Bytes(b) => b,
        other => panic!("{line}: {other:?}"),
    }
}

fn du_shows_the_space_and_prune_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    // a policy the automatic GC never acts on
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[gc]\nreservedSpace = 0\nmaxUsedSpace = \"1TB\"\nminFreeSpace = 0\n"))
        .unwrap();
    let (state, run) = (dir.path().join("state"), dir.path().join("run"));
    let env = [("TANTO_CONFIG", config.as_path()), ("TANTO_STATE_DIR", &state), ("TANTO_RUN_DIR", &run)];
    for n in 0..3 {
        let q = format!(
            r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "dd if=/dev/urandom of=/data bs=1048576 count=1 2>/dev/null; echo {n}"]) {{ stdout }} }} }} }}"#
        );
        ok(tanto(&env, &["query"], Some(&q)), "query");
    }
    // a second pipeline: a query from a file
    let file = dir.path().join("other.graphql");
    std::fs::write(&file, r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "dd if=/dev/urandom of=/other bs=1048576 count=2 2>/dev/null"]) { exitCode } } } }"#).unwrap();
    ok(tanto(&env, &["query", file.to_str().unwrap()], None), "query FILE");
    let du = |what| -> Value { serde_json::from_str(&ok(tanto(&env, &["du", "--json"], None), what)).unwrap() };

    let before = du("du --json");
    // (kind, records)
    for (kind, records) in [("exec", 4), ("image-layer", 1)] {
        assert_eq!(before["kinds"][kind]["records"], records, "{kind}: {before}");
    }
    assert!(before["kinds"]["exec"]["bytes"].as_u64().unwrap() >= 3 << 20, "{before}");
    let (cache, total) = (before["cache"].as_u64().unwrap(), before["total"].as_u64().unwrap());
    assert!(cache >= 3 << 20 && total >= cache, "{before}");
    assert_eq!(before["policy"]["maxUsedSpace"], 1_000_000_000_000u64, "{before}");
    // per pipeline, most first: (name, runs, records, at least, unique at least);
    // the image layer is shared, so it is in neither's unique size
    let pipelines = before["pipelines"].as_array().unwrap();
    let named = format!("query {}", file.display());
    let cases = [("query", 3, 4, 3 << 20, 3 << 20), (named.as_str(), 1, 2, 2 << 20, 2 << 20)];
    assert_eq!(pipelines.len(), cases.len(), "{before}");
    for (p, (name, runs, records, bytes, unique)) in pipelines.iter().zip(cases) {
        assert_eq!((p["pipeline"].as_str().unwrap(), p["runs"].as_u64().unwrap()), (name, runs), "{p}");
        assert_eq!(p["records"], records, "{p}");
        let (b, u) = (p["bytes"].as_u64().unwrap(), p["exclusive"].as_u64().unwrap());
        assert!(b >= bytes && u >= unique && u < b, "{name}: {b} bytes, {u} unique: {p}");
        assert_eq!(p["workdir"].as_str().unwrap(), std::env::current_dir().unwrap().to_str().unwrap());
    }

    let table = ok(tanto(&env, &["du"], None), "du");
    eprintln!("{table}");
    for want in [
        "KIND",
        "exec ",
        "image-layer",
        "cache volumes",
        "total",
        "PIPELINE",
        "UNIQUE",
        "\nquery ",
        "used by none of the last 20 runs",
        "Policy: reservedSpace 0B, maxUsedSpace 1TB, minFreeSpace 0B",
    ] {
        assert!(table.contains(want), "`{want}` in:\n{table}");
    }

    // (arguments, cache at most after, something freed)
    // about one step less than there is: a record or two go, not all
    let keep = cache - 1_500_000;
    let keep_arg = format!("--keep-storage={keep}");
    let cases: [(&[&str], u64, bool); 3] =
        [(&["prune"], cache, false), (&["prune", &keep_arg], keep, true), (&["prune", "--all"], 0, true)];
    for (args, at_most, frees) in cases {
        let was = du("du --json")["cache"].as_u64().unwrap();
        let out = ok(tanto(&env, args, None), &args.join(" "));
        let now = du("du --json")["cache"].as_u64().unwrap();
        let freed = reclaimed(&out);
        assert!(now <= at_most, "{args:?}: the cache is {now} bytes, over {at_most}\n{out}");
        assert_eq!(freed > 0, frees, "{args:?}: {out}");
        assert!(freed.abs_diff(was - now) * 100 <= was - now, "{args:?}: printed {freed}, freed {}", was - now);
        if at_most > 0 {
            assert!(now > 0, "{args:?}: not everything goes");
        }
    }
    let after = du("du --json");
    assert_eq!(after["kinds"], serde_json::json!({}), "{after}");

    // A step whose result a prune removed says so when it runs again; `--filter`
    // removes only what matches.
    let q = r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo again"]) { stdout } } } }"#;
    let plain = |args: &[&str]| -> (String, String) {
        let mut all = vec!["--progress=plain"];
        all.extend_from_slice(args);
        let out = tanto(&env, &all, Some(q));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (ok(out, &args.join(" ")), err)
    };
    // (the image layer `prune --all` removed above comes back, and says so)
    let (_, first) = plain(&["query"]);
    assert!(first.contains("pull layer") && first.contains("evicted (pruned"), "{first}");
    let out = ok(tanto(&env, &["prune", "--filter", "type=image-layer"], None), "prune --filter type=image-layer");
    assert!(reclaimed(&out) > 0, "{out}");
    let (_, kept) = plain(&["query"]);
    assert!(kept.contains("exec sh -c echo again CACHED") && !kept.contains("evicted"), "{kept}");
    ok(tanto(&env, &["prune", "--filter", "type=exec", "--filter", "until=1h"], None), "prune until=1h");
    let (_, recent) = plain(&["query"]);
    assert!(recent.contains("CACHED"), "used within the hour, not pruned: {recent}");
    ok(tanto(&env, &["prune", "--filter", "type=exec"], None), "prune --filter type=exec");
    let (_, again) = plain(&["query"]);
    assert!(again.contains("evicted (pruned") && again.contains("run again after GC evicted them"), "{again}");
    let (_, hit) = plain(&["query"]);
    assert!(!hit.contains("evicted"), "recorded again: {hit}");
    let bad = tanto(&env, &["prune", "--filter", "type=volume"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown type `volume`"), "{bad:?}");

    let bad = tanto(&env, &["prune", "--keep-storage=1XB"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`--keep-storage`: `1XB` has an unknown unit"), "{bad:?}");
}
