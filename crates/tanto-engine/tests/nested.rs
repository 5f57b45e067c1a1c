//! Nested engine sessions: an exec with `experimentalPrivilegedNesting` gets
//! an engine connection of its own (`DAGGER_SESSION_PORT`, a fresh
//! `DAGGER_SESSION_TOKEN`) on its loopback. Real engines (in-process), a real
//! registry, real containers; the client inside is busybox's `wget`.

mod common;

use common::*;
use serde_json::Value;

tanto_testkit::tests! {
    // test                                              prerequisites                          kind
    a_nested_session_runs_pipelines_of_its_own:          [Root, Registry, Busybox, OciRuntime]  async;
    a_nested_session_needs_its_token:                    [Root, Registry, Busybox, OciRuntime]  async;
    objects_made_in_a_nested_session_reach_the_caller:   [Root, Registry, Busybox, OciRuntime]  async;
    a_nested_session_cannot_reach_the_host:              [Root, Registry, Busybox, OciRuntime]  async;
}

/// A shell command that POSTs the GraphQL `query` to the nested session with
/// `auth` as the basic-auth user (`$DAGGER_SESSION_TOKEN` for the real one).
fn post(query: &str, auth: &str) -> String {
    let body = serde_json::json!({ "query": query }).to_string();
    format!(
        "wget -q -O- --header 'Content-Type: application/json' --post-data '{body}' \
         http://{auth}:@127.0.0.1:$DAGGER_SESSION_PORT/query 2>&1; echo \" exit=$?\""
    )
}

/// Runs `cmd` in busybox with a nested session and returns its stdout.
async fn nested_stdout(e: &tanto_engine::Engine, cmd: &str, nesting: bool) -> String {
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", {}], experimentalPrivilegedNesting: {nesting}) {{ stdout }} }} }} }}"#,
        Value::String(cmd.to_string())
    );
    let v = query(e, &q).await;
    assert!(v.get("errors").is_none(), "{cmd}: {v}");
    v["data"]["container"]["from"]["withExec"]["stdout"].as_str().unwrap().to_string()
}

async fn a_nested_session_runs_pipelines_of_its_own() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path()).await;
    let inner = r#"{ container { from(address: "busybox") { withExec(args: ["echo", "from the nested session"]) { stdout } } } }"#;
    // (command, nesting, what stdout holds)
    let cases = [
        ("echo port=${DAGGER_SESSION_PORT:-none}", false, "port=none".to_string()),
        ("test -n \"$DAGGER_SESSION_PORT\" && test ${#DAGGER_SESSION_TOKEN} -ge 32 && echo set", true, "set".into()),
        (&*post(inner, "$DAGGER_SESSION_TOKEN"), true, r#"{"stdout":"from the nested session\n"}"#.into()),
    ];
    for (cmd, nesting, want) in &cases {
        let out = nested_stdout(&e, cmd, *nesting).await;
        assert!(out.contains(want.as_str()), "{cmd}: {out}");
    }
}

async fn a_nested_session_needs_its_token() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path()).await;
    let q = "{ defaultPlatform }";
    // (basic-auth user, what the output holds)
    let cases = [("wrong-token", "401"), ("$DAGGER_SESSION_TOKEN", "linux/")];
    for (auth, want) in cases {
        let out = nested_stdout(&e, &post(q, auth), true).await;
        assert!(out.contains(want), "{auth}: {out}");
    }
    // two execs get two tokens
    let a = nested_stdout(&e, "echo $DAGGER_SESSION_TOKEN; echo a", true).await;
    let b = nested_stdout(&e, "echo $DAGGER_SESSION_TOKEN; echo b", true).await;
    assert_ne!(a.lines().next(), b.lines().next());
}

async fn objects_made_in_a_nested_session_reach_the_caller() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path()).await;
    let inner = r#"{ directory { withNewFile(path: "made.txt", contents: "made inside") { id } } }"#;
    let out = nested_stdout(&e, &post(inner, "$DAGGER_SESSION_TOKEN"), true).await;
    let body: Value = serde_json::from_str(out.trim_end().trim_end_matches("exit=0").trim()).expect(&out);
    let id = body["data"]["directory"]["withNewFile"]["id"].as_str().expect(&out);
    let q = format!(r#"{{ loadDirectoryFromID(id: "{id}") {{ file(path: "made.txt") {{ contents }} }} }}"#);
    let v = query(&e, &q).await;
    assert_eq!(v["data"]["loadDirectoryFromID"]["file"]["contents"], "made inside", "{v}");
}

async fn a_nested_session_cannot_reach_the_host() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path()).await;
    std::env::set_var("TANTO_NESTED_TEST_SECRET", "s3cr3t-value");
    // what the client's session may do, a nested one may not (a host directory
    // of the test's own: as a normal user, rootless, /etc has unreadable parts)
    let hostdir = tmp.path().join("hostdir");
    std::fs::create_dir_all(&hostdir).unwrap();
    std::fs::write(hostdir.join("f"), "x").unwrap();
    let dir_query = format!(r#"{{ host {{ directory(path: "{}") {{ entries }} }} }}"#, hostdir.display());
    let cases = [
        dir_query.as_str(),
        r#"{ host { file(path: "/etc/hostname") { contents } } }"#,
        r#"{ secret(uri: "env://TANTO_NESTED_TEST_SECRET") { plaintext } }"#,
        r#"{ directory { withNewFile(path: "x", contents: "y") { export(path: "/tmp/tanto-nested-export") } } }"#,
    ];
    for q in cases {
        let out = nested_stdout(&e, &post(q, "$DAGGER_SESSION_TOKEN"), true).await;
        assert!(out.contains("cannot reach the client's host"), "{q}: {out}");
        assert!(!out.contains("s3cr3t-value"), "{q}: {out}");
        // the client's own session still can
        let v = query(&e, q).await;
        assert!(v.get("errors").is_none(), "{q}: {v}");
    }
    let _ = std::fs::remove_dir_all("/tmp/tanto-nested-export");
}
