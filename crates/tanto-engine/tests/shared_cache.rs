//! The shared cache in a registry (`[cache] registry`): real engines with
//! separate state dirs and one real docker-registry on loopback. A step whose
//! output carries a random stamp (a UUID) shows whether it ran again.

use std::path::{Path, PathBuf};

use tanto_engine::Engine;

mod common;

use common::{engine_with, fixture, query, Fixture};

tanto_testkit::tests! {
    a_second_engine_runs_nothing_the_first_shared: [Root, Registry, Busybox, OciRuntime] async;
    what_is_not_shared:                            [Root, Registry, Busybox, OciRuntime] async;
    a_chain_deeper_than_one_lazy_pull:             [Root, Registry, Busybox, OciRuntime] async;
}

/// The fixture's engine config plus a `[cache]` section.
fn config_with(fx: &Fixture, dir: &Path, name: &str, cache: &str) -> PathBuf {
    let base = std::fs::read_to_string(&fx.config).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{base}\n[cache]\n{cache}\n")).unwrap();
    path
}

async fn stdout(e: &Engine, q: &str) -> String {
    let v = query(e, q).await;
    assert!(v.get("errors").is_none(), "{q}: {v}");
    fn find(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(m) => {
                m.get("stdout").and_then(|s| s.as_str().map(str::to_string)).or_else(|| m.values().find_map(find))
            }
            _ => None,
        }
    }
    find(&v["data"]).unwrap_or_else(|| panic!("no stdout in {v}"))
}

/// Three steps (an exec that also deletes an image file, a file op, an exec)
/// and `top` over them.
fn chain(tag: &str, top: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "echo {tag}; cat /proc/sys/kernel/random/uuid > /stamp; mkdir /d; echo a > /d/a; rm /bin/ping; chmod 0700 /"]) {{ withNewFile(path: "/d/b", contents: "b") {{ withExec(args: ["sh", "-c", "cat /stamp; ls /d"]) {{ {top} }} }} }} }} }} }}"#
    )
}

async fn a_second_engine_runs_nothing_the_first_shared() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&fx, dir.path(), "shared.toml", &format!("registry = \"{}/tanto-cache\"", fx.addr));
    let q = chain("shared", "stdout");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let first = {
        let e = engine_with(&config, &a).await;
        let out = stdout(&e, &q).await;
        e.shutdown().await; // waits for its pushes
        out
    };
    let e = engine_with(&config, &b).await;
    // (what, query, expected stdout: None = the first engine's)
    let cases: [(&str, String, Option<&str>); 2] = [
        ("the same pipeline on an empty state dir is served from the registry", q.clone(), None),
        (
            "a new step over the pulled steps sees their files, deletions and root",
            chain(
                "shared",
                r#"withExec(args: ["sh", "-c", "ls /d; test -e /bin/ping || echo ping-gone; stat -c %a /"]) { stdout }"#,
            ),
            Some("a\nb\nping-gone\n700\n"),
        ),
    ];
    for (what, q, want) in cases {
        let got = stdout(&e, &q).await;
        assert_eq!(got, want.map(str::to_string).unwrap_or_else(|| first.clone()), "{what}");
    }
    let run = e.explain().await.unwrap().expect("a recorded run");
    let ran: Vec<&str> = run.executed.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(ran.len(), 1, "only the new step ran: {ran:?}");
}

async fn what_is_not_shared() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{}/tanto-cache-2", fx.addr);
    let read_only = config_with(&fx, dir.path(), "ro.toml", &format!("registry = \"{repo}\"\npush = false"));
    let shared = config_with(&fx, dir.path(), "rw.toml", &format!("registry = \"{repo}\""));
    let down = config_with(&fx, dir.path(), "down.toml", "registry = \"127.0.0.1:9/tanto-cache\"");
    std::env::set_var("TANTO_SHARED_CACHE_TEST_SECRET", "s3cr3t");
    // (what, config of the first engine, whether the step uses a secret): the
    // second engine (shared config, empty state dir) runs the step again
    let cases = [
        ("a read-only engine (push = false) pushes nothing", &read_only, Secret::None),
        ("a step that used a secret is never pushed", &shared, Secret::Used),
        ("nor is one that copies what a secret step wrote", &shared, Secret::Derived),
        ("a registry that is down is a miss, not a failure", &down, Secret::None),
    ];
    for (i, (what, first_config, secret)) in cases.into_iter().enumerate() {
        let q = format!("case-{i}");
        let first = {
            let e = engine_with(first_config, &dir.path().join(format!("first-{i}"))).await;
            let out = stdout(&e, &step(&e, &q, secret).await).await;
            e.shutdown().await;
            out
        };
        let e = engine_with(&shared, &dir.path().join(format!("second-{i}"))).await;
        let second = stdout(&e, &step(&e, &q, secret).await).await;
        e.shutdown().await;
        assert_ne!(first, second, "{what}: the second engine ran the step itself");
    }
}

#[derive(Clone, Copy)]
enum Secret {
    None,
    /// The step reads a secret variable.
    Used,
    /// A later step, in another container, reads a file the secret step wrote.
    Derived,
}

/// A stamped step, as `secret` says.
async fn step(e: &Engine, tag: &str, secret: Secret) -> String {
    if let Secret::None = secret {
        return chain(tag, "stdout");
    }
    let v = query(e, r#"{ secret(uri: "env://TANTO_SHARED_CACHE_TEST_SECRET") { id } }"#).await;
    let id = v["data"]["secret"]["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    let secret_step = format!(
        r#"container {{ from(address: "busybox") {{ withSecretVariable(name: "S", secret: "{id}") {{ withExec(args: ["sh", "-c", "echo {tag}; cat /proc/sys/kernel/random/uuid; mkdir -p /out; echo \"$S\" > /out/s"])"#
    );
    if let Secret::Used = secret {
        return format!("{{ {secret_step} {{ stdout }} }} }} }} }}");
    }
    let v = query(e, &format!("{{ {secret_step} {{ directory(path: \"/out\") {{ id }} }} }} }} }} }}")).await;
    let dir = v["data"]["container"]["from"]["withSecretVariable"]["withExec"]["directory"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    format!(
        r#"{{ container {{ from(address: "busybox") {{ withDirectory(path: "/x", source: "{dir}") {{ withExec(args: ["sh", "-c", "cat /proc/sys/kernel/random/uuid; cat /x/s"]) {{ stdout }} }} }} }} }}"#
    )
}

/// A chain deeper than a hit makes present before its inputs are solved
/// (16 steps): the rest is pulled as the solver reaches it, still with
/// nothing run, and reported as cached.
async fn a_chain_deeper_than_one_lazy_pull() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&fx, dir.path(), "deep.toml", &format!("registry = \"{}/tanto-deep\"", fx.addr));
    let n = 80;
    let mut q = String::from(r#"{ container { from(address: "busybox") { "#);
    for i in 0..n {
        q.push_str(&format!(
            r#"withExec(args: ["sh", "-c", "echo {i} > /f{i}; cat /proc/sys/kernel/random/uuid > /last"]) {{ "#
        ));
    }
    q.push_str(r#"withExec(args: ["cat", "/last"]) { stdout }"#);
    q.push_str(&" }".repeat(n + 3));
    let first = {
        let e = engine_with(&config, &dir.path().join("a")).await;
        let out = stdout(&e, &q).await;
        e.shutdown().await;
        out
    };
    let e = engine_with(&config, &dir.path().join("b")).await;
    assert_eq!(stdout(&e, &q).await, first, "the second engine ran nothing");
    let run = e.explain().await.unwrap().expect("a recorded run");
    assert!(
        run.executed.is_empty(),
        "nothing executed: {:?}",
        run.executed.iter().map(|s| &s.label).collect::<Vec<_>>()
    );
    let stats = e.solver.stats();
    assert_eq!(stats.computed, 0, "the solver counted nothing as run: {stats:?}");
}
