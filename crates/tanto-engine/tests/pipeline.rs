//! Integration tests: real engines (in-process) against a real local registry
//! (Debian's docker-registry with a busybox image), running real containers.
//! Needs root, crun or runc, docker-registry and busybox-static.

use serde_json::{json, Value};

mod common;

use common::{engine, first_error, fixture, query};

tanto_testkit::tests! {
    // test                                           prerequisites                          kind
    pipelines_against_a_real_registry:                [Root, Registry, Busybox, OciRuntime]  async;
    a_chain_runs_once_and_stays_cached_after_restart: [Root, Registry, Busybox, OciRuntime]  async;
    identical_concurrent_requests_run_once:           [Root, Registry, Busybox, OciRuntime]  async;
}

/// Follows `path` (dot-separated keys) into `data`.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(&v["data"], |v, k| &v[k])
}

async fn pipelines_against_a_real_registry() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;

    // (query, path to the answer, expected answer)
    let ok_cases: &[(&str, &str, Value)] = &[
        (
            r#"{ container { from(address: "busybox:1.36") { withExec(args: ["echo", "hello"]) { stdout } } } }"#,
            "container.from.withExec.stdout",
            json!("hello\n"),
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo err >&2; exit 3"], expect: ANY) { exitCode } } } }"#,
            "container.from.withExec.exitCode",
            json!(3),
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["cat"], stdin: "piped") { stdout } } } }"#,
            "container.from.withExec.stdout",
            json!("piped"),
        ),
        (
            r#"{ container { from(address: "busybox") { withUser(name: "nobody") { withExec(args: ["id", "-u"]) { stdout } } } } }"#,
            "container.from.withUser.withExec.stdout",
            json!("65534\n"),
        ),
        (
            r#"{ container { from(address: "busybox") { withWorkdir(path: "/w") { withNewFile(path: "a.txt", contents: "A") { withExec(args: ["cat", "a.txt"]) { stdout } } } } } }"#,
            "container.from.withWorkdir.withNewFile.withExec.stdout",
            json!("A"),
        ),
        (
            r#"{ container { from(address: "busybox") { withEnvVariable(name: "X", value: "1") { withEnvVariable(name: "Y", value: "${X}2", expand: true) { withExec(args: ["sh", "-c", "echo $Y"]) { stdout } } } } } }"#,
            "container.from.withEnvVariable.withEnvVariable.withExec.stdout",
            json!("12\n"),
        ),
        (
            r#"{ directory { withNewFile(path: "a/b.txt", contents: "bee") { withNewDirectory(path: "empty") { entries } } } }"#,
            "directory.withNewFile.withNewDirectory.entries",
            json!(["a/", "empty/"]),
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "mkdir -p /out && echo x > /out/f && rm /etc/group"]) { directory(path: "/out") { entries } } } } }"#,
            "container.from.withExec.directory.entries",
            json!(["f"]),
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["rm", "/etc/group"]) { withExec(args: ["sh", "-c", "test -e /etc/group || echo gone"]) { stdout } } } } }"#,
            "container.from.withExec.withExec.stdout",
            json!("gone\n"),
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo hi > /o"], redirectStdout: "/o2") { file(path: "/o") { contents } } } } }"#,
            "container.from.withExec.file.contents",
            json!("hi\n"),
        ),
    ];
    for (q, path, want) in ok_cases {
        let got = query(&e, q).await;
        assert!(got.get("errors").is_none(), "{q}: {got}");
        assert_eq!(at(&got, path), want, "{q}");
    }

    // Bad input: a clear error, and the engine keeps serving.
    let missing_tag =
        format!(r#"{{ container {{ from(address: "{}/library/busybox:nosuch") {{ sync }} }} }}"#, fx.addr);
    let err_cases: &[(&str, &[&str])] = &[
        (r#"{ container { from(address: "invalid!!ref") { sync } } }"#, &["invalid!!ref"]),
        (&missing_tag, &["nosuch", "not found"]),
        (r#"{ container { from(address: "127.0.0.1:1/x/y:z") { sync } } }"#, &["127.0.0.1:1"]),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["no-such-command"]) { sync } } } }"#,
            &["no-such-command", "not found"],
        ),
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo out; exit 3"]) { stdout } } } }"#,
            &["exit code: 3"],
        ),
    ];
    for (q, needles) in err_cases {
        let got = query(&e, q).await;
        let msg = first_error(&got);
        for n in *needles {
            assert!(msg.contains(n), "{q}: error {msg:?} should mention {n:?} ({got})");
        }
        assert_eq!(at(&query(&e, "{ version }").await, "version"), &json!("v0.21.11"));
    }
    let exec_err = query(&e, r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo out; echo err >&2; exit 3"]) { stdout } } } }"#).await;
    let ext = &exec_err["errors"][0]["extensions"];
    assert_eq!(ext["_type"], "EXEC_ERROR");
    assert_eq!(
        (ext["exitCode"].clone(), ext["stdout"].clone(), ext["stderr"].clone()),
        (json!(3), json!("out"), json!("err"))
    );
}

fn chain_query(n: usize, tag: &str) -> String {
    let mut q = String::from(r#"{ container { from(address: "busybox") { "#);
    for i in 0..n {
        q.push_str(&format!(r#"withExec(args: ["sh", "-c", "echo {i} > /f_{i}_{tag}"]) {{ "#));
    }
    q.push_str("sync ");
    for _ in 0..n + 3 {
        q.push_str("} ");
    }
    q
}

async fn a_chain_runs_once_and_stays_cached_after_restart() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let q = chain_query(20, "restart");
    {
        let e = engine(&fx, state.path()).await;
        let got = query(&e, &q).await;
        assert!(got.get("errors").is_none(), "{got}");
        let s = e.solver.stats();
        assert_eq!(s.computed, 20 + 1, "20 execs and 1 layer ran: {s:?}");
        // the same pipeline again in this engine: nothing runs
        query(&e, &q).await;
        assert_eq!(e.solver.stats().computed, 21);
    }
    // a new engine on the same state (a restart): all cache hits
    let e = engine(&fx, state.path()).await;
    let got = query(&e, &q).await;
    assert!(got.get("errors").is_none(), "{got}");
    let s = e.solver.stats();
    assert_eq!(s.computed, 0, "{s:?}");
    assert!(s.cache_hits >= 1, "{s:?}");
}

async fn identical_concurrent_requests_run_once() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let q = r#"{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "sleep 0.3; echo once"]) { stdout } } } }"#;
    let results = futures::future::join_all((0..8).map(|_| query(&e, q))).await;
    for r in &results {
        assert_eq!(at(r, "container.from.withExec.stdout"), &json!("once\n"), "{r}");
    }
    assert_eq!(e.solver.stats().computed, 2, "one layer and one exec");
}
