//! Integration tests: real engines (in-process) against a real local registry
//! (Debian's docker-registry with a busybox image), running real containers.
//! Needs root, crun or runc, docker-registry and busybox-static.

use serde_json::{json, Value};

mod common;

use common::{ask, ask_err, engine, first_error, fixture, query};

tanto_testkit::tests! {
    pipelines_against_a_real_registry:                [Root, Registry, Busybox, OciRuntime]    async;
    a_chain_runs_once_and_stays_cached_after_restart: [Root, Registry, Busybox, OciRuntime]    async;
    identical_concurrent_requests_run_once:           [Root, Registry, Busybox, OciRuntime]    async;
    selecting_a_missing_path_fails_at_sync:           [Root]                                   async;
    mount_owners_apply_in_the_container:              [Root, Registry, Busybox, OciRuntime]    async;
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
    // Exec errors, a command that is not found among them: Dagger's EXEC_ERROR
    // extensions and `exit code: N` wording, then tanto's hint.
    // (args, exit code, stdout, stderr contains, message contains)
    let exec_cases: &[(&str, i64, &str, &str, &str)] = &[
        (r#"["sh", "-c", "echo out; echo err >&2; exit 3"]"#, 3, "out", "err", "exit code: 3"),
        (
            r#"["no-such-command", "x"]"#,
            127,
            "",
            "no-such-command",
            "did not complete successfully: exit code: 127: `no-such-command` was not found in the container's $PATH",
        ),
    ];
    for (args, code, stdout, stderr, message) in exec_cases {
        let q = format!(r#"{{ container {{ from(address: "busybox") {{ withExec(args: {args}) {{ stdout }} }} }} }}"#);
        let got = query(&e, &q).await;
        let err = &got["errors"][0];
        let ext = &err["extensions"];
        assert_eq!(ext["_type"], "EXEC_ERROR", "{got}");
        assert_eq!((ext["exitCode"].as_i64(), ext["stdout"].as_str()), (Some(*code), Some(*stdout)), "{got}");
        assert!(ext["stderr"].as_str().unwrap().contains(stderr), "{got}");
        assert!(ext["cmd"].is_array(), "{got}");
        assert!(err["message"].as_str().unwrap().contains(message), "{got}");
    }
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

/// Selecting a path that is not there fails when the object is evaluated
/// (`sync`), with Dagger's wording, and an existing one of the wrong kind too.
async fn selecting_a_missing_path_fails_at_sync() {
    let state = tempfile::tempdir().unwrap();
    let e = common::engine_offline(state.path()).await;
    let base = r#"directory { withNewFile(path: "foo", contents: "bar") { withNewDirectory(path: "sub")"#;
    // (selection on `base`, error it must contain; None: succeeds)
    let cases: &[(&str, Option<&str>)] = &[
        (r#"directory(path: "foobar") { sync }"#, Some("foobar: no such file or directory")),
        (r#"file(path: "nope") { sync }"#, Some("nope: no such file or directory")),
        (r#"directory(path: "sub/deeper") { sync }"#, Some("sub/deeper: no such file or directory")),
        (r#"directory(path: "foo") { sync }"#, Some("foo: not a directory")),
        (r#"file(path: "sub") { sync }"#, Some("sub: is a directory")),
        (r#"directory(path: "sub") { sync }"#, None),
        (r#"file(path: "foo") { sync }"#, None),
    ];
    for (sel, want) in cases {
        let v = query(&e, &format!("{{ {base} {{ {sel} }} }} }} }}")).await;
        match want {
            Some(w) => assert!(first_error(&v).contains(w), "{sel}: {v}"),
            None => assert!(v.get("errors").is_none(), "{sel}: {v}"),
        }
    }
    // The empty directory has no paths either.
    let v = query(&e, r#"{ directory { file(path: "nope") { sync } } }"#).await;
    assert!(first_error(&v).contains("nope: no such file or directory"), "{v}");
}

/// `owner` on directory, file and cache mounts: the container sees the
/// mounted content owned by that user and group (a chowned copy, as Dagger
/// makes; a cache volume is chowned when it is created), names resolved with
/// the container's /etc/passwd and /etc/group; the source stays as it was.
async fn mount_owners_apply_in_the_container() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let id = |q: &'static str, path: &'static str| {
        let e = e.clone();
        async move { ask(&e, q, path).await.as_str().unwrap().to_string() }
    };
    let dir =
        id(r#"{ directory { withNewFile(path: "sub/f", contents: "x") { id } } }"#, "directory.withNewFile.id").await;
    let file = id(r#"{ file(name: "f", contents: "x") { id } }"#, "file.id").await;
    let cache = |key: &str| format!(r#"{{ cacheVolume(key: "{key}") {{ id }} }}"#);
    let (c1, c2, c3) = (
        ask(&e, &cache("owned-empty"), "cacheVolume.id").await,
        ask(&e, &cache("owned-seeded"), "cacheVolume.id").await,
        ask(&e, &cache("not-owned"), "cacheVolume.id").await,
    );
    let (c1, c2, c3) = (c1.as_str().unwrap(), c2.as_str().unwrap(), c3.as_str().unwrap());
    // A user of the container's own, added before the mounts are made.
    let run = |mount: String, cmd: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "echo app:x:1234:2345::/:/bin/sh >> /etc/passwd"]) {{ {mount} {{ withExec(args: ["sh", "-c", "{cmd}"]) {{ stdout }} }} }} }} }} }}"#
        )
    };
    let stat = "stat -c %u:%g";
    // (field, its arguments after `path`, paths to stat, expected owners)
    let cases: &[(&str, String, &str, &str)] = &[
        (
            "Directory",
            format!(r#"source: "{dir}", owner: "1000:1000""#),
            "/m /m/sub /m/sub/f",
            "1000:1000 1000:1000 1000:1000",
        ),
        (
            "Directory",
            format!(r#"source: "{dir}", owner: "1000:2000", readOnly: true"#),
            "/m /m/sub/f",
            "1000:2000 1000:2000",
        ),
        ("Directory", format!(r#"source: "{dir}", owner: "app""#), "/m/sub/f", "1234:2345"),
        ("Directory", format!(r#"source: "{dir}", owner: "nobody""#), "/m", "65534:65534"),
        ("Directory", format!(r#"source: "{dir}""#), "/m /m/sub/f", "0:0 0:0"),
        ("File", format!(r#"source: "{file}", owner: "1000:1000""#), "/m", "1000:1000"),
        ("File", format!(r#"source: "{file}", owner: "app:nogroup""#), "/m", "1234:65534"),
        ("File", format!(r#"source: "{file}""#), "/m", "0:0"),
        ("Cache", format!(r#"cache: "{c1}", owner: "1000:1000""#), "/m", "1000:1000"),
        (
            "Cache",
            format!(r#"cache: "{c2}", source: "{dir}", owner: "app""#),
            "/m /m/sub /m/sub/f",
            "1234:2345 1234:2345 1234:2345",
        ),
        ("Cache", format!(r#"cache: "{c3}", source: "{dir}""#), "/m/sub/f", "0:0"),
    ];
    let stdout = |field: &str| format!("container.from.withExec.withMounted{field}.withExec.stdout");
    for (field, args, paths, want) in cases {
        let q = run(format!(r#"withMounted{field}(path: "/m", {args})"#), &format!("{stat} {paths}"));
        let want = want.split(' ').map(|o| format!("{o}\n")).collect::<String>();
        assert_eq!(ask(&e, &q, &stdout(field)).await, json!(want), "{field} {args}");
    }

    // A writable mount's output is the owned copy with the exec's changes.
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withMountedDirectory(path: "/m", source: "{dir}", owner: "1000:1000") {{ withExec(args: ["touch", "/m/new"]) {{ directory(path: "/m") {{ id }} }} }} }} }} }}"#
    );
    let out = ask(&e, &q, "container.from.withMountedDirectory.withExec.directory.id").await;
    let q = run(format!(r#"withMountedDirectory(path: "/o", source: {out})"#), &format!("{stat} /o/sub/f /o/new"));
    assert_eq!(ask(&e, &q, &stdout("Directory")).await, json!("1000:1000\n0:0\n"));

    let q = run(format!(r#"withMountedDirectory(path: "/m", source: "{dir}", owner: "nosuch")"#), "true");
    let err = ask_err(&e, &q).await;
    assert!(err.contains("nosuch") && err.contains("/etc/passwd"), "{err}");
}
