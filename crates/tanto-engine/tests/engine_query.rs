//! `Query.address`, `Query.engine` (cache entries and prune) and
//! `Query.currentWorkspace`: real engines (in-process) against a real local
//! registry, as tables of cases. Needs root, crun or runc, docker-registry
//! and busybox-static.

use std::path::Path;

use serde_json::{json, Value};

mod common;

use common::{ask, ask_err, fixture, query};

tanto_testkit::tests! {
    addresses_are_images_paths_git_urls_secrets_and_services: [Root, Registry, Busybox, OciRuntime]    async;
    cache_entries_are_listed_and_pruned_for_real:             [Root, Registry, Busybox, OciRuntime]    async;
    the_current_workspace_reads_inside_its_boundary:          [Root, Registry, Busybox, OciRuntime]    async;
    prune_while_pipelines_run_breaks_nothing:                 [Root, Registry, Busybox, OciRuntime]    async;
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// Disk usage below `dir` (allocated blocks).
fn du(dir: &Path) -> u64 {
    tanto_store::disk_usage(dir)
}

async fn addresses_are_images_paths_git_urls_secrets_and_services() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    write(&work, &[("src/a.txt", "a"), ("src/b.log", "b"), ("note.txt", "hello note")]);
    std::env::set_var("TANTO_ADDRESS_TEST_SECRET", "s3cret");
    let _listener = std::os::unix::net::UnixListener::bind(work.join("app.sock")).unwrap();
    // A local repository with one commit.
    let repo = work.join("repo");
    write(&repo, &[("README", "local repo")]);
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README"],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"],
    ] {
        let st = std::process::Command::new("git").args(args).current_dir(&repo).status().unwrap();
        assert!(st.success(), "git {args:?}");
    }
    let e = common::engine_at(&fx, &work, &tmp.path().join("state")).await;

    // (query, path of the answer, expected)
    let cases = [
        (r#"{ address(value: "busybox") { value } }"#, "address.value", json!("busybox")),
        (
            r#"{ address(value: "busybox") { container { withExec(args: ["echo", "from address"]) { stdout } } } }"#,
            "address.container.withExec.stdout",
            json!("from address\n"),
        ),
        (
            r#"{ address(value: "src") { directory { entries } } }"#,
            "address.directory.entries",
            json!(["a.txt", "b.log"]),
        ),
        (
            r#"{ address(value: "./src") { directory(exclude: ["*.log"]) { entries } } }"#,
            "address.directory.entries",
            json!(["a.txt"]),
        ),
        (
            r#"{ address(value: "file://src") { directory(include: ["*.log"]) { entries } } }"#,
            "address.directory.entries",
            json!(["b.log"]),
        ),
        (r#"{ address(value: "note.txt") { file { contents } } }"#, "address.file.contents", json!("hello note")),
        (r#"{ address(value: "file://note.txt") { file { name } } }"#, "address.file.name", json!("note.txt")),
        (
            r#"{ address(value: "TANTO_ADDRESS_TEST_SECRET") { secret { plaintext } } }"#,
            "address.secret.plaintext",
            json!("s3cret"),
        ),
        (
            r#"{ address(value: "env:TANTO_ADDRESS_TEST_SECRET") { secret { uri } } }"#,
            "address.secret.uri",
            json!("env://TANTO_ADDRESS_TEST_SECRET"),
        ),
        (
            r#"{ address(value: "https://git.example.org/o/r.git") { gitRepository { url } } }"#,
            "address.gitRepository.url",
            json!("https://git.example.org/o/r.git"),
        ),
        (
            r#"{ address(value: "git.example.org/o/r") { gitRepository { url } } }"#,
            "address.gitRepository.url",
            json!("https://git.example.org/o/r"),
        ),
        (
            r#"{ address(value: "repo") { gitRepository { branches } } }"#,
            "address.gitRepository.branches",
            json!(["main"]),
        ),
        (
            r#"{ address(value: "repo#main") { gitRef { tree(discardGitDir: true) { entries } } } }"#,
            "address.gitRef.tree.entries",
            json!(["README"]),
        ),
    ];
    for (q, path, want) in cases {
        assert_eq!(ask(&e, q, path).await, want, "{q}");
    }
    // A host service from a tcp address: bound into a container, it is reachable there.
    let svc_id =
        ask(&e, r#"{ address(value: "tcp://localhost:8080") { service { id } } }"#, "address.service.id").await;
    assert!(svc_id.as_str().is_some_and(|s| s.starts_with("Service:")), "{svc_id}");
    let sock_id = ask(&e, r#"{ address(value: "app.sock") { socket { id } } }"#, "address.socket.id").await;
    assert!(sock_id.as_str().is_some_and(|s| s.starts_with("Socket:")), "{sock_id}");

    let errors = [
        (r#"{ address(value: "") { value } }"#, "must not be empty"),
        (r#"{ address(value: "https://git.example.org/o/r#main") { gitRepository { url } } }"#, "cannot name a ref"),
        (
            r#"{ address(value: "https://git.example.org/o/r#main:docs") { gitRef { ref } } }"#,
            "cannot name a subdirectory",
        ),
        (r#"{ address(value: "https://git.example.org/o/r") { file { contents } } }"#, "names no file"),
        (r#"{ address(value: "no-such-dir") { directory { entries } } }"#, "does not exist"),
        (r#"{ address(value: "no-such-dir") { gitRepository { url } } }"#, "does not exist"),
        (r#"{ address(value: "src") { gitRepository { url } } }"#, "is not a git repository"),
        (r#"{ address(value: "http://localhost:80") { service { id } } }"#, "unsupported scheme `http`"),
        (r#"{ address(value: "unix:///run/no-such.sock") { socket { id } } }"#, "no-such.sock"),
    ];
    for (q, want) in errors {
        let got = ask_err(&e, q).await;
        assert!(got.contains(want), "{q}: {got}");
    }
}

const BIG_STEP: &str = r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "head -c 400000 /dev/urandom > /big; echo made"]) { stdout } } } }"#;

const ENTRIES: &str = r#"{ engine { localCache { entrySet { entryCount diskSpaceBytes entries { description diskSpaceBytes recordType recordTypes activelyUsed createdTimeUnixNano mostRecentUseTimeUnixNano dagqlCall } } } } }"#;

async fn cache_entries_are_listed_and_pruned_for_real() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let e = common::engine_at(&fx, tmp.path(), &state).await;

    let name = ask(&e, "{ engine { name } }", "engine.name").await;
    assert!(name.as_str().is_some_and(|n| n.contains(&format!("-tanto-{}", std::process::id()))), "{name}");
    let policy = ask(
        &e,
        "{ engine { localCache { reservedSpace maxUsedSpace minFreeSpace targetSpace } } }",
        "engine.localCache",
    )
    .await;
    for f in ["reservedSpace", "maxUsedSpace", "minFreeSpace", "targetSpace"] {
        assert!(policy[f].as_i64().is_some_and(|v| v > 0), "{f}: {policy}");
    }

    assert_eq!(ask(&e, BIG_STEP, "container.from.withExec.stdout").await, json!("made\n"));
    let set = ask(&e, ENTRIES, "engine.localCache.entrySet").await;
    let entries = set["entries"].as_array().unwrap();
    assert!(set["entryCount"].as_i64().unwrap() >= 2, "a layer and the exec: {set}");
    assert_eq!(set["entryCount"].as_i64().unwrap() as usize, entries.len());
    let exec = entries
        .iter()
        .find(|x| x["description"].as_str().unwrap_or("").contains("head -c 400000"))
        .unwrap_or_else(|| panic!("no exec entry: {set}"));
    assert!(exec["diskSpaceBytes"].as_i64().unwrap() >= 400_000, "{exec}");
    assert_eq!((exec["recordType"].clone(), exec["recordTypes"].clone()), (json!("regular"), json!(["regular"])));
    assert!(exec["dagqlCall"].as_str().unwrap().starts_with("sha256:"), "{exec}");
    for x in entries {
        assert_eq!(x["activelyUsed"], json!(false), "nothing runs now: {x}");
        let (created, used) =
            (x["createdTimeUnixNano"].as_i64().unwrap(), x["mostRecentUseTimeUnixNano"].as_i64().unwrap());
        assert!(created > 1_600_000_000_000_000_000 && used >= created, "{x}");
    }
    let total: i64 = entries.iter().map(|x| x["diskSpaceBytes"].as_i64().unwrap()).sum();
    assert!(
        set["diskSpaceBytes"].as_i64().unwrap() <= total && set["diskSpaceBytes"].as_i64().unwrap() >= 400_000,
        "{set}"
    );
    // A key picks one entry.
    let key = exec["dagqlCall"].as_str().unwrap();
    let one = ask(
        &e,
        &format!(r#"{{ engine {{ localCache {{ entrySet(key: "{key}") {{ entryCount }} }} }} }}"#),
        "engine.localCache.entrySet.entryCount",
    )
    .await;
    assert_eq!(one, json!(1));

    // (prune arguments, entries left: "all" or "none")
    let snapshots = state.join("snapshots");
    let blobs = state.join("blobs/sha256");
    let before = (du(&snapshots), du(&blobs));
    let cases = [
        ("(maxUsedSpace: \"1TB\", minFreeSpace: \"1B\")", "all"),
        ("(useDefaultPolicy: true, maxUsedSpace: \"100%\", minFreeSpace: \"0\")", "all"),
        ("", "none"),
    ];
    for (args, left) in cases {
        let count_before = ask(&e, ENTRIES, "engine.localCache.entrySet.entryCount").await;
        assert_eq!(
            ask(&e, &format!("{{ engine {{ localCache {{ prune{args} }} }} }}"), "engine.localCache.prune").await,
            Value::Null
        );
        let count = ask(&e, ENTRIES, "engine.localCache.entrySet.entryCount").await;
        match left {
            "all" => assert_eq!(count, count_before, "prune{args} is within its limits"),
            _ => assert_eq!(count, json!(0), "prune{args} removes everything unused"),
        }
    }
    let after = (du(&snapshots), du(&blobs));
    assert!(after.0 + 400_000 <= before.0, "snapshots freed: {before:?} -> {after:?}");
    assert!(after.1 < before.1, "layer blobs freed: {before:?} -> {after:?}");
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 0, "no snapshot left");

    // The same engine runs it again: recomputed (its memory of the results is stale), not an error.
    let computed = e.solver.stats().computed;
    assert_eq!(ask(&e, BIG_STEP, "container.from.withExec.stdout").await, json!("made\n"));
    assert!(e.solver.stats().computed > computed, "recomputed after the prune");
    assert!(ask(&e, ENTRIES, "engine.localCache.entrySet.entryCount").await.as_i64().unwrap() >= 2);
    // And a new engine on the same state finds it in the cache again.
    let e2 = common::engine_at(&fx, tmp.path(), &state).await;
    assert_eq!(ask(&e2, BIG_STEP, "container.from.withExec.stdout").await, json!("made\n"));
    assert_eq!(e2.solver.stats().computed, 0, "{:?}", e2.solver.stats());

    let bad = ask_err(&e, r#"{ engine { localCache { prune(maxUsedSpace: "lots") } } }"#).await;
    assert!(bad.contains("prune(maxUsedSpace:)") && bad.contains("is not a size"), "{bad}");
}

async fn the_current_workspace_reads_inside_its_boundary() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    write(
        &root,
        &[
            ("repo/go.mod", "module x"),
            ("repo/app/web/index.html", "<p>hi</p>"),
            ("repo/app/web/lib/util.js", "u"),
            ("repo/app/.dagger/config.toml", "[modules]"),
            ("secret.txt", "outside"),
        ],
    );
    std::os::unix::fs::symlink(&root, repo.join("app/web/leak")).unwrap();
    let work = repo.join("app/web");
    let e = common::engine_at(&fx, &work, &root.join("state")).await;

    let ws =
        ask(&e, "{ currentWorkspace { path address configPath hasConfig initialized clientId } }", "currentWorkspace")
            .await;
    assert_eq!(
        ws,
        json!({"path": "app/web", "address": work.to_string_lossy(), "configPath": "app/.dagger/config.toml", "hasConfig": true, "initialized": true, "clientId": ws["clientId"]})
    );
    assert_eq!(ask(&e, "{ engine { clients } }", "engine.clients").await, json!([ws["clientId"]]));

    let cases = [
        (
            r#"{ currentWorkspace { directory(path: ".") { entries } } }"#,
            "currentWorkspace.directory.entries",
            json!(["index.html", "leak", "lib/"]),
        ),
        (
            r#"{ currentWorkspace { directory(path: "/", include: ["*.mod"]) { entries } } }"#,
            "currentWorkspace.directory.entries",
            json!(["go.mod"]),
        ),
        (
            r#"{ currentWorkspace { directory(path: "..", exclude: ["web"]) { entries } } }"#,
            "currentWorkspace.directory.entries",
            json!([".dagger/"]),
        ),
        (
            r#"{ currentWorkspace { file(path: "/go.mod") { contents } } }"#,
            "currentWorkspace.file.contents",
            json!("module x"),
        ),
        (
            r#"{ currentWorkspace { file(path: "../../go.mod") { name } } }"#,
            "currentWorkspace.file.name",
            json!("go.mod"),
        ),
        (
            r#"{ currentWorkspace { file(path: "lib/util.js") { contents } } }"#,
            "currentWorkspace.file.contents",
            json!("u"),
        ),
        (r#"{ currentWorkspace { findUp(name: "go.mod") } }"#, "currentWorkspace.findUp", json!("/go.mod")),
        (
            r#"{ currentWorkspace { findUp(name: "util.js", from: "lib") } }"#,
            "currentWorkspace.findUp",
            json!("/app/web/lib/util.js"),
        ),
        (
            r#"{ currentWorkspace { findUp(name: "config.toml", from: "/app/.dagger") } }"#,
            "currentWorkspace.findUp",
            json!("/app/.dagger/config.toml"),
        ),
        (r#"{ currentWorkspace { findUp(name: "secret.txt") } }"#, "currentWorkspace.findUp", Value::Null),
    ];
    for (q, path, want) in cases {
        assert_eq!(ask(&e, q, path).await, want, "{q}");
    }
    let errors = [
        (r#"{ currentWorkspace { directory(path: "../../..") { entries } } }"#, "goes above the workspace boundary"),
        (r#"{ currentWorkspace { directory(path: "leak") { entries } } }"#, "outside the workspace boundary"),
        (r#"{ currentWorkspace { file(path: "leak/secret.txt") { contents } } }"#, "outside the workspace boundary"),
        (r#"{ currentWorkspace { file(path: "nope.txt") { contents } } }"#, "does not exist"),
        (r#"{ currentWorkspace { findUp(name: "a/b") } }"#, "plain file or directory name"),
        (r#"{ currentWorkspace { checks { id } } }"#, "not implemented yet: Workspace.checks"),
    ];
    for (q, want) in errors {
        let got = ask_err(&e, q).await;
        assert!(got.contains(want), "{q}: {got}");
    }

    // Outside git and without a config, the workspace is the working directory itself.
    let plain = root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e2 = common::engine_at(&fx, &plain, &root.join("state")).await;
    let ws = ask(&e2, "{ currentWorkspace { path address configPath hasConfig } }", "currentWorkspace").await;
    assert_eq!(ws, json!({"path": "", "address": plain.to_string_lossy(), "configPath": "", "hasConfig": false}));
}

/// Pruning while pipelines run never breaks them: every result a step uses is
/// held (leased) from its lookup or commit until the step is done with it,
/// in this engine and in others on the same state dir.
async fn prune_while_pipelines_run_breaks_nothing() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let engines = [common::engine_at(&fx, tmp.path(), &state).await, common::engine_at(&fx, tmp.path(), &state).await];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pruners = Vec::new();
    for e in &engines {
        let (e, stop) = (e.clone(), stop.clone());
        pruners.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let got = query(&e, "{ engine { localCache { prune } } }").await;
                assert!(got.get("errors").is_none(), "prune failed: {got}");
                n += 1;
            }
            n
        }));
    }
    let mut runs = Vec::new();
    for i in 0..40 {
        let e = engines[i % 2].clone();
        runs.push(tokio::spawn(async move {
            // Repeated steps (hits that a prune races with) and new ones.
            let q = format!(
                r#"{{ container {{ from(address: "busybox") {{ withNewFile(path: "/a", contents: "{m}") {{ withExec(args: ["sh", "-c", "cat /a > /b; echo {i} >> /b"]) {{ withExec(args: ["cat", "/b"]) {{ stdout }} }} }} }} }} }}"#,
                m = i % 4
            );
            let got = query(&e, &q).await;
            let out = got["data"]["container"]["from"]["withNewFile"]["withExec"]["withExec"]["stdout"].clone();
            (out == json!(format!("{}{i}\n", i % 4)), got)
        }));
    }
    let mut failures = Vec::new();
    for r in runs {
        let (ok, got) = r.await.unwrap();
        if !ok {
            failures.push(got);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut prunes = 0;
    for p in pruners {
        prunes += p.await.unwrap();
    }
    assert!(prunes >= 2, "the pruners ran ({prunes})");
    assert!(failures.is_empty(), "{} of 40 pipelines failed during prunes: {:?}", failures.len(), failures.first());
}
