//! Integration tests of `Directory.dockerBuild`, the file actions behind
//! `diff`/`chown`/`withTimestamps`/`withReplaced`, and secret hygiene: real
//! engines (in-process) against a real local registry, running real
//! containers. Needs root, crun or runc, docker-registry and busybox-static.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tanto_engine::Engine;

mod common;

use common::{engine, first_error, fixture, query};

tanto_testkit::tests! {
    // test                                                            prerequisites                          kind
    docker_build_builds_the_target_lazily_and_caches_every_step:       [Root, Registry, Busybox, OciRuntime]  async;
    docker_build_of_a_richer_dockerfile:                               [Root, Registry, Busybox, OciRuntime]  async;
    healthchecks_round_trip_through_a_registry:                        [Root, Registry, Busybox, OciRuntime]  async;
    docker_build_add_unpacks_local_archives_and_runs_shebang_heredocs: [Root, Registry, Busybox, OciRuntime]  async;
    directory_and_file_actions:                                        [Root, Registry, Busybox, OciRuntime]  async;
    secrets_are_used_by_name_and_never_stored:                         [Root, Registry, Busybox, OciRuntime]  async;
    a_changed_secret_value_is_another_secret:                          [Root, Registry, Busybox, OciRuntime]  async;
}

/// The single leaf of a successful answer (queries here select one path).
fn leaf(v: &Value) -> Value {
    assert!(v.get("errors").is_none(), "{v}");
    let mut cur = &v["data"];
    while let Value::Object(m) = cur {
        assert_eq!(m.len(), 1, "{v}");
        cur = m.values().next().unwrap();
    }
    cur.clone()
}

async fn ok(e: &Engine, q: &str) -> Value {
    leaf(&query(e, q).await)
}

/// A GraphQL string literal.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `directory { withNewFile ... { <rest> } }` with the files in order.
fn dir_query(files: &[(&str, &str)], rest: &str) -> String {
    let mut q = String::from("{ directory { ");
    for (path, contents) in files {
        q.push_str(&format!("withNewFile(path: {}, contents: {}) {{ ", lit(path), lit(contents)));
    }
    q.push_str(rest);
    for _ in 0..files.len() + 2 {
        q.push_str(" }");
    }
    q
}

const DOCKERFILE: &str = r#"ARG BASE=busybox:1.36
FROM ${BASE} AS build
ARG V=default
WORKDIR /w
COPY src/ ./src/
RUN echo "v=$V" > out.txt && cat /proc/sys/kernel/random/uuid > stamp && ls src > listing
RUN <<EOF
echo heredoc >> out.txt
EOF

FROM busybox:1.36 AS broken
RUN exit 7

FROM busybox:1.36 AS final
COPY --from=build --chown=1000:1000 /w/ /app/
WORKDIR /tmp
ENV GREETING=hi
CMD ["cat", "/app/out.txt"]
"#;

async fn docker_build_builds_the_target_lazily_and_caches_every_step() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let files =
        [("Dockerfile", DOCKERFILE), ("src/a.txt", "A"), ("src/skip.log", "no"), (".dockerignore", "**/*.log\n")];
    let build = |rest: &str| {
        dir_query(&files, &format!(r#"dockerBuild(buildArgs: [{{name: "V", value: "cli"}}]) {{ {rest} }}"#))
    };

    let e = engine(&fx, state.path()).await;
    // (selection on the built container, expected answer)
    let cases: &[(&str, Value)] = &[
        (r#"file(path: "/app/out.txt") { contents }"#, json!("v=cli\nheredoc\n")),
        (r#"file(path: "/app/listing") { contents }"#, json!("a.txt\n")),
        (r#"withExec(args: ["stat", "-c", "%u:%g", "/app/out.txt"]) { stdout }"#, json!("1000:1000\n")),
        (r#"withExec(args: ["stat", "-c", "%a", "/tmp"]) { stdout }"#, json!("1777\n")),
        (r#"withExec(args: []) { stdout }"#, json!("v=cli\nheredoc\n")),
        ("workdir", json!("/tmp")),
        (r#"envVariable(name: "GREETING")"#, json!("hi")),
        (r#"envVariable(name: "V")"#, Value::Null),
    ];
    for (sel, want) in cases {
        assert_eq!(&ok(&e, &build(sel)).await, want, "{sel}");
    }
    let stamp = ok(&e, &build(r#"file(path: "/app/stamp") { contents }"#)).await;

    // The broken stage is real: asking for it fails with its exit code.
    let broken = query(&e, &dir_query(&files, r#"dockerBuild(target: "broken") { sync }"#)).await;
    assert!(first_error(&broken).contains("exit code: 7"), "{broken}");
    e.shutdown().await;
    drop(e);

    // A new engine on the same state reuses every step.
    let e = engine(&fx, state.path()).await;
    assert_eq!(ok(&e, &build(r#"file(path: "/app/stamp") { contents }"#)).await, stamp);
    // A different build arg reruns the RUN that sees it.
    let other = dir_query(
        &files,
        r#"dockerBuild(buildArgs: [{name: "V", value: "x"}]) { file(path: "/app/stamp") { contents } }"#,
    );
    assert_ne!(ok(&e, &other).await, stamp);
}

const RICH: &str = r#"# syntax=docker/dockerfile:1
FROM busybox:1.36 AS tools
RUN mkdir -p /opt/tool && echo tool-v1 > /opt/tool/VERSION

FROM busybox:1.36
ARG SRC=app
ENV PATH=$PATH:/opt/bin APP_HOME=/srv/app
SHELL ["/bin/sh", "-ec"]
WORKDIR $APP_HOME
COPY --chown=nobody:nogroup ${SRC}/ ./
COPY ["conf/a b.conf", "conf/"]
RUN --mount=type=bind,from=tools,source=/opt/tool,target=/mnt/tool     --mount=type=cache,target=/var/cache/x     cat /mnt/tool/VERSION > tool.txt;     echo run >> /var/cache/x/log;     test ! -e /mnt/tool/VERSION.keep
USER nobody
RUN id -u > /tmp/uid && touch /tmp/by-nobody
WORKDIR sub
RUN pwd > /tmp/pwd
RUN --network=none wc -l < /proc/net/dev > /tmp/netdev
EXPOSE 8080
"#;

async fn docker_build_of_a_richer_dockerfile() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let files = [
        ("Dockerfile", RICH),
        ("app/main.sh", "echo main"),
        ("app/lib/util.sh", "echo util"),
        ("app/debug.log", "noise"),
        ("conf/a b.conf", "x=1"),
        (".dockerignore", "**/*.log\n"),
    ];
    let sh = |cmd: &str| format!(r#"withExec(args: ["sh", "-c", {}]) {{ stdout }}"#, lit(cmd));
    // (selection on the built container, expected answer)
    let cases: Vec<(String, Value)> = vec![
        (sh("cd /srv/app && find . -type f | sort"), json!("./conf/a b.conf\n./lib/util.sh\n./main.sh\n./tool.txt\n")),
        (sh("stat -c %U:%G /srv/app/main.sh /srv/app/lib"), json!("nobody:nogroup\nnobody:nogroup\n")),
        (
            sh("cat /srv/app/tool.txt /tmp/uid /tmp/pwd; stat -c %U /tmp/by-nobody"),
            json!("tool-v1\n65534\n/srv/app/sub\nnobody\n"),
        ),
        (sh("echo $PATH"), json!("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin\n")),
        (sh("cat /tmp/netdev"), json!("3\n")),
        ("workdir".into(), json!("/srv/app/sub")),
        ("user".into(), json!("nobody")),
        ("exposedPorts { port protocol }".into(), json!([{"port": 8080, "protocol": "TCP"}])),
    ];
    for (sel, want) in &cases {
        let q = dir_query(&files, &format!("dockerBuild {{ {sel} }}"));
        let got = query(&e, &q).await;
        let mut cur = &got["data"];
        while let Value::Object(m) = cur {
            if m.len() != 1 {
                break;
            }
            cur = m.values().next().unwrap();
        }
        assert_eq!(cur, want, "{sel}: {got}");
    }
}

async fn healthchecks_round_trip_through_a_registry() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let df = "FROM busybox:1.36\nHEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- http://localhost/ || exit 1\n";
    let published = ok(
        &e,
        &dir_query(&[("Dockerfile", df)], &format!(r#"dockerBuild {{ publish(address: "{}/test/hc:1") }}"#, fx.addr)),
    )
    .await;
    let pulled = format!(
        r#"{{ container {{ from(address: "{}") {{ dockerHealthcheck {{ args shell interval timeout startPeriod retries }} }} }} }}"#,
        published.as_str().unwrap()
    );
    let got = query(&e, &pulled).await;
    assert_eq!(
        got["data"]["container"]["from"]["dockerHealthcheck"],
        json!({"args": ["wget -q -O- http://localhost/ || exit 1"], "shell": true, "interval": "30s", "timeout": "3s", "startPeriod": "", "retries": 2}),
        "{got}"
    );
    let api = r#"{ container { from(address: "busybox") { withDockerHealthcheck(args: ["true"], interval: "1m30s") { dockerHealthcheck { args interval } withoutDockerHealthcheck { dockerHealthcheck { args } } } } } }"#;
    let got = query(&e, api).await;
    assert_eq!(
        got["data"]["container"]["from"]["withDockerHealthcheck"],
        json!({"dockerHealthcheck": {"args": ["true"], "interval": "1m30s"}, "withoutDockerHealthcheck": {"dockerHealthcheck": null}}),
        "{got}"
    );
    let bad = query(&e, r#"{ container { withDockerHealthcheck(args: ["true"], interval: "soon") { id } } }"#).await;
    assert!(first_error(&bad).contains("duration `soon`"), "{bad}");
}

/// A plain tar with one file (ASCII, so it fits in a GraphQL string).
fn tar_with(name: &str, content: &str) -> String {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    for (at, field) in [(100, "0000644\0"), (108, "0000000\0"), (116, "0000000\0"), (136, "00000000000\0")] {
        h[at..at + field.len()].copy_from_slice(field.as_bytes());
    }
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[156] = b'0';
    h[257..265].copy_from_slice(b"ustar\x0000");
    let sum: u32 = h.iter().map(|b| *b as u32).sum::<u32>() + 8 * b' ' as u32;
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h;
    out.extend_from_slice(content.as_bytes());
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    String::from_utf8(out).unwrap()
}

async fn docker_build_add_unpacks_local_archives_and_runs_shebang_heredocs() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let df = "FROM busybox:1.36\nADD files.tar /x/\nADD notes.txt /y/\nCOPY files.tar /z/\nRUN <<EOF\n#!/bin/sh\necho \"script $0\" > /sb\nEOF\n";
    let files =
        [("Dockerfile", df), ("files.tar", &tar_with("hello.txt", "from the tar\n")[..]), ("notes.txt", "plain\n")];
    let q = dir_query(
        &files,
        r#"dockerBuild { withExec(args: ["sh", "-c", "cat /x/hello.txt /y/notes.txt /sb; ls /z"]) { stdout } }"#,
    );
    assert_eq!(ok(&e, &q).await, json!("from the tar\nplain\nscript /dev/pipes/EOF\nfiles.tar\n"));
}

async fn directory_and_file_actions() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;

    let base = ok(&e, &dir_query(&[("a.txt", "1"), ("d/b.txt", "2")], "id")).await;
    let changed =
        ok(&e, &dir_query(&[("a.txt", "1"), ("d/b.txt", "changed"), ("d/new.txt", "3"), ("c.txt", "4")], "id")).await;
    let (base, changed) = (base.as_str().unwrap(), changed.as_str().unwrap());
    let in_busybox = |mount: &str, cmd: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withMountedDirectory(path: "/m", source: {mount}) {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }} }}"#,
            lit(cmd)
        )
    };
    let sub = |q: &str, id: &str| q.replace("$ID", id);
    let chowned =
        ok(&e, &sub(r#"{ loadDirectoryFromID(id: "$ID") { chown(path: "d", owner: "1000:2000") { id } } }"#, base))
            .await;
    let stamped =
        ok(&e, &sub(r#"{ loadDirectoryFromID(id: "$ID") { withTimestamps(timestamp: 1672531199) { id } } }"#, base))
            .await;

    // (query, expected answer)
    let cases: Vec<(String, Value)> = vec![
        (sub(&format!(r#"{{ loadDirectoryFromID(id: "$ID") {{ diff(other: {}) {{ glob(pattern: "**") }} }} }}"#, lit(changed)), base), json!(["c.txt", "d", "d/b.txt", "d/new.txt"])),
        (in_busybox(&lit(chowned.as_str().unwrap()), "stat -c %u:%g /m/d /m/d/b.txt /m/a.txt"), json!("1000:2000\n1000:2000\n0:0\n")),
        (in_busybox(&lit(stamped.as_str().unwrap()), "stat -c %Y /m/a.txt /m/d/b.txt"), json!("1672531199\n1672531199\n")),
        (r#"{ file(name: "f", contents: "x=1\ny=1\n") { withReplaced(search: "1", replacement: "2", firstFrom: 2) { contents } } }"#.into(), json!("x=1\ny=2\n")),
        (r#"{ file(name: "f", contents: "x=1\ny=1\n") { withReplaced(search: "1", replacement: "2", all: true) { contents } } }"#.into(), json!("x=2\ny=2\n")),
        (r#"{ file(name: "f", contents: "abc") { stat { size } } }"#.into(), json!(3)),
        (sub(r#"{ loadDirectoryFromID(id: "$ID") { filter(exclude: ["d"]) { entries } } }"#, changed), json!(["a.txt", "c.txt"])),
        (sub(r#"{ loadDirectoryFromID(id: "$ID") { findUp(name: "a.txt", start: "d") } }"#, base), json!("a.txt")),
    ];
    for (q, want) in &cases {
        assert_eq!(&ok(&e, q).await, want, "{q}");
    }
    let err = query(
        &e,
        r#"{ file(name: "f", contents: "1 1") { withReplaced(search: "1", replacement: "2") { contents } } }"#,
    )
    .await;
    assert!(first_error(&err).contains("`1` matches 2 times"), "{err}");
    // Patches: inline and from a file; they change, create and delete files.
    let patch = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-1\n+one\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+new\n--- a/d/b.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-2\n\\ No newline at end of file\n";
    let patched = format!(
        r#"{{ loadDirectoryFromID(id: "{base}") {{ withPatch(patch: {}) {{ glob(pattern: "**") file(path: "a.txt") {{ contents }} }} }} }}"#,
        lit(patch)
    );
    let got = query(&e, &patched).await;
    assert_eq!(
        got["data"]["loadDirectoryFromID"]["withPatch"],
        json!({"glob": ["a.txt", "d", "n.txt"], "file": {"contents": "one\n"}}),
        "{got}"
    );
    let patch_file = ok(&e, &format!(r#"{{ file(name: "p.diff", contents: {}) {{ id }} }}"#, lit(patch))).await;
    let from_file = format!(
        r#"{{ loadDirectoryFromID(id: "{base}") {{ withPatchFile(patch: {patch_file}) {{ file(path: "n.txt") {{ contents }} }} }} }}"#
    );
    assert_eq!(ok(&e, &from_file).await, json!("new\n"));
    let bad = query(
        &e,
        &format!(r#"{{ loadDirectoryFromID(id: "{changed}") {{ withPatch(patch: {}) {{ entries }} }} }}"#, lit(patch)),
    )
    .await;
    assert!(first_error(&bad).contains("does not apply"), "{bad}");

    // Search, ripgrep-style.
    let tree = dir_query(
        &[("a.md", "hello world\nbye\n"), ("src/b.rs", "// hello\nfn x() {}\n"), (".hidden/c.md", "hello")],
        "id",
    );
    let tree = ok(&e, &tree).await;
    let tree = tree.as_str().unwrap();
    let search_cases: Vec<(&str, Value)> = vec![
        (
            r#"search(pattern: "hel+o") { filePath lineNumber absoluteOffset matchedLines submatches { start end text } }"#,
            json!([
                {"filePath": ".hidden/c.md", "lineNumber": 1, "absoluteOffset": 0, "matchedLines": "hello", "submatches": [{"start": 0, "end": 5, "text": "hello"}]},
                {"filePath": "a.md", "lineNumber": 1, "absoluteOffset": 0, "matchedLines": "hello world\n", "submatches": [{"start": 0, "end": 5, "text": "hello"}]},
                {"filePath": "src/b.rs", "lineNumber": 1, "absoluteOffset": 0, "matchedLines": "// hello\n", "submatches": [{"start": 3, "end": 8, "text": "hello"}]},
            ]),
        ),
        (
            r#"search(pattern: "HELLO", insensitive: true, globs: ["*.md"], skipHidden: true) { filePath }"#,
            json!([{"filePath": "a.md"}]),
        ),
        (
            r#"search(pattern: "o", filesOnly: true, limit: 2) { filePath }"#,
            json!([{"filePath": ".hidden/c.md"}, {"filePath": "a.md"}]),
        ),
        (
            r#"search(pattern: "fn x() {}", literal: true, paths: ["src"]) { filePath lineNumber absoluteOffset }"#,
            json!([{"filePath": "src/b.rs", "lineNumber": 2, "absoluteOffset": 9}]),
        ),
    ];
    for (sel, want) in &search_cases {
        let got = query(&e, &format!(r#"{{ loadDirectoryFromID(id: "{tree}") {{ {sel} }} }}"#)).await;
        assert_eq!(&got["data"]["loadDirectoryFromID"]["search"], want, "{sel}: {got}");
    }
    let got =
        query(&e, r#"{ file(name: "f.txt", contents: "x\ny x\n") { search(pattern: "x") { lineNumber } } }"#).await;
    assert_eq!(got["data"]["file"]["search"], json!([{"lineNumber": 1}, {"lineNumber": 2}]), "{got}");
    let bad =
        query(&e, &format!(r#"{{ loadDirectoryFromID(id: "{tree}") {{ search(pattern: "(") {{ filePath }} }} }}"#))
            .await;
    assert!(first_error(&bad).contains("is not a valid regular expression"), "{bad}");

    // Changesets: what changed, and applying it elsewhere (removals too).
    let forward = format!(r#"loadDirectoryFromID(id: "{changed}") {{ changes(from: "{base}") "#);
    let backward = format!(r#"loadDirectoryFromID(id: "{base}") {{ changes(from: "{changed}") "#);
    let change_cases: Vec<(String, Value)> = vec![
        (
            format!("{{ {forward} {{ addedPaths modifiedPaths removedPaths isEmpty }} }} }}"),
            json!({"addedPaths": ["c.txt", "d/new.txt"], "modifiedPaths": ["d/b.txt"], "removedPaths": [], "isEmpty": false}),
        ),
        (
            format!("{{ {backward} {{ addedPaths removedPaths }} }} }}"),
            json!({"addedPaths": [], "removedPaths": ["c.txt", "d/new.txt"]}),
        ),
        (
            format!("{{ {forward} {{ layer {{ glob(pattern: \"**\") }} }} }} }}"),
            json!({"layer": {"glob": ["c.txt", "d", "d/b.txt", "d/new.txt"]}}),
        ),
    ];
    for (q, want) in &change_cases {
        let got = query(&e, q).await;
        assert_eq!(&got["data"]["loadDirectoryFromID"]["changes"], want, "{q}: {got}");
    }
    let empty =
        ok(&e, &format!(r#"{{ loadDirectoryFromID(id: "{base}") {{ changes(from: "{base}") {{ isEmpty }} }} }}"#))
            .await;
    assert_eq!(empty, json!(true));
    let back_id = ok(&e, &format!("{{ {backward} {{ id }} }} }}")).await;
    let applied = format!(
        r#"{{ loadDirectoryFromID(id: "{changed}") {{ withNewFile(path: "x.txt", contents: "x") {{ withChanges(changes: {back_id}) {{ glob(pattern: "**") }} }} }} }}"#
    );
    assert_eq!(ok(&e, &applied).await, json!(["a.txt", "d", "d/b.txt", "x.txt"]));

    // JSON values and errors.
    let json_cases: Vec<(&str, Value)> = vec![
        (
            r#"{ file(name: "a.json", contents: "{\"k\": {\"n\": [1, 2]}}") { asJSON { field(path: ["k", "n"]) { contents } } } }"#,
            json!("[1,2]"),
        ),
        (r#"{ json { withField(path: ["a", "b"], value: "$V") { contents } } }"#, json!("{\"a\":{\"b\":\"x\"}}")),
        (r#"{ error(message: "bad") { withValue(name: "n", value: "1") { message } } }"#, json!("bad")),
    ];
    let v = ok(&e, r#"{ json { newString(value: "x") { id } } }"#).await;
    for (q, want) in &json_cases {
        assert_eq!(&ok(&e, &q.replace("$V", v.as_str().unwrap())).await, want, "{q}");
    }

    let err = query(&e, r#"{ container { withError(err: "boom") { id } } }"#).await;
    assert_eq!(first_error(&err), "boom");

    // Env files.
    let env = ok(&e, r##"{ file(name: ".env", contents: "# c\nA=1\nB=\"${A}2 x\"\n") { asEnvFile { withVariable(name: "C", value: "'$A'") { id } } } }"##).await;
    let env = env.as_str().unwrap();
    let env_cases: Vec<(String, Value)> = vec![
        (sub(r##"{ loadEnvFileFromID(id: "$ID") { get(name: "B") } }"##, env), json!("12 x")),
        (sub(r##"{ loadEnvFileFromID(id: "$ID") { get(name: "B", raw: true) } }"##, env), json!("\"${A}2 x\"")),
        (sub(r##"{ loadEnvFileFromID(id: "$ID") { asFile { contents } } }"##, env), json!("A=1\nB=\"${A}2 x\"\nC='$A'\n")),
        (sub(r##"{ container { from(address: "busybox") { withEnvFileVariables(source: "$ID") { withExec(args: ["sh", "-c", "echo \"$B|$C\""]) { stdout } } } } }"##, env), json!("12 x|$A\n")),
        (r##"{ envFile { withVariable(name: "APP_X", value: "1") { withVariable(name: "Y", value: "2") { namespace(prefix: "APP_") { exists(name: "X") } } } } }"##.into(), json!(true)),
    ];
    for (q, want) in &env_cases {
        assert_eq!(&ok(&e, q).await, want, "{q}");
    }

    // A volatile variable's value does not invalidate the exec cache; its name does.
    let volatile = |name: &str, value: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withVolatileVariable(name: "{name}", value: "{value}") {{ withExec(args: ["sh", "-c", "cat /proc/sys/kernel/random/uuid; echo $V"]) {{ stdout }} }} }} }} }}"#
        )
    };
    let first = ok(&e, &volatile("V", "1")).await;
    assert!(first.as_str().unwrap().ends_with("\n1\n"), "{first}");
    assert_eq!(ok(&e, &volatile("V", "2")).await, first);
    assert_ne!(ok(&e, &volatile("W", "1")).await, first);
}

/// The output of a step that uses secret `name` (set to `value`) and prints the time.
async fn stamp(e: &Engine, name: &str, value: &str) -> Value {
    let id = ok(e, &format!(r#"{{ setSecret(name: "{name}", plaintext: {}) {{ id }} }}"#, lit(value))).await;
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withSecretVariable(name: "S", secret: {}) {{ withExec(args: ["cat", "/proc/sys/kernel/random/uuid"]) {{ stdout }} }} }} }} }}"#,
        id
    );
    ok(e, &q).await
}

/// Every file under `dir` whose bytes contain one of `needles`.
fn files_containing(dir: &Path, needles: &[&[u8]]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for entry in rd.flatten() {
            let p = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                if let Ok(data) = std::fs::read(&p) {
                    if needles.iter().any(|n| data.windows(n.len()).any(|w| w == *n)) {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

async fn secrets_are_used_by_name_and_never_stored() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let line1 = format!("line-one-{nanos:x}");
    let line2 = format!("line-two-{:x}", nanos.wrapping_mul(7919));
    let plain = format!("{line1}\n{line2}");
    let e = engine(&fx, state.path()).await;
    let set = format!(r#"setSecret(name: "tok", plaintext: {})"#, lit(&plain));
    let sec = ok(&e, &format!("{{ {set} {{ id }} }}")).await;
    let sec = sec.as_str().unwrap();
    assert!(!sec.contains(&line1));
    let ctr = |rest: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withSecretVariable(name: "TOK", secret: "{sec}") {{ withMountedSecret(path: "/run/tok", source: "{sec}", owner: "nobody", mode: 288) {{ {rest} }} }} }} }} }}"#
        )
    };
    // (selection, expected answer)
    let cases: &[(&str, Value)] = &[
        (
            r#"withExec(args: ["sh", "-c", "test \"$TOK\" = \"$(cat /run/tok)\" && echo \"$TOK\""]) { stdout }"#,
            json!("***\n"),
        ),
        (
            r#"withExec(args: ["sh", "-c", "echo \"$TOK\" | tr '\\n' ' '; echo; sed 's/^/  /' /run/tok >&2"]) { stdout }"#,
            json!("*** *** \n"),
        ),
        (r#"withExec(args: ["sh", "-c", "sed 's/^/  /' /run/tok >&2"]) { stderr }"#, json!("  ***\n  ***")),
        (r#"withExec(args: ["stat", "-c", "%U %a", "/run/tok"]) { stdout }"#, json!("nobody 440\n")),
    ];
    for (sel, want) in cases {
        assert_eq!(&ok(&e, &ctr(sel)).await, want, "{sel}");
    }
    let ctr_id = ok(&e, &ctr("id")).await;
    assert!(!ctr_id.as_str().unwrap().contains(&line1));
    let failed = query(&e, &ctr(r#"withExec(args: ["sh", "-c", "echo \"$TOK\"; exit 4"]) { sync }"#)).await;
    let ext = &failed["errors"][0]["extensions"];
    assert_eq!((ext["exitCode"].clone(), ext["stdout"].clone()), (json!(4), json!("***")), "{failed}");
    assert!(!failed.to_string().contains(&line1));

    // A build secret, mounted by name.
    let df = "FROM busybox:1.36\nRUN --mount=type=secret,id=tok,mode=0444 wc -l < /run/secrets/tok > /lines\n";
    let built = dir_query(
        &[("Dockerfile", df)],
        &format!(r#"dockerBuild(secrets: ["{sec}"]) {{ file(path: "/lines") {{ contents }} }}"#),
    );
    assert_eq!(ok(&e, &built).await, json!("1\n"));

    // The cache key names the secret and a keyed digest of its value (never
    // the value): the same value is a hit in another engine on this state
    // dir, a changed value or another secret runs again.
    let s1 = stamp(&e, "a", "v1").await;
    e.shutdown().await;
    drop(e);
    let e = engine(&fx, state.path()).await;
    assert_eq!(stamp(&e, "a", "v1").await, s1, "the same secret and value in another engine: cached");
    assert_ne!(stamp(&e, "a", "v2").await, s1, "a changed value: rerun");
    assert_ne!(stamp(&e, "b", "v1").await, s1, "another secret: rerun");
    e.shutdown().await;
    drop(e);

    let leaks = files_containing(state.path(), &[line1.as_bytes(), line2.as_bytes()]);
    assert!(leaks.is_empty(), "secret plaintext under the state dir: {leaks:?}");
}

async fn a_changed_secret_value_is_another_secret() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let id = |v: &str| format!(r#"{{ setSecret(name: "tok", plaintext: {}) {{ id }} }}"#, lit(v));
    let (a, bb) = (ok(&e, &id("A")).await, ok(&e, &id("BB")).await);
    assert_ne!(a, bb, "setSecret with a new value gives a new ID");
    let plain = |id: &Value| format!(r#"{{ loadSecretFromID(id: {id}) {{ plaintext }} }}"#);
    assert_eq!(ok(&e, &plain(&a)).await, json!("A"), "the old ID keeps its value");
    assert_eq!(ok(&e, &plain(&bb)).await, json!("BB"));
    let len = |id: &Value| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withSecretVariable(name: "S", secret: {id}) {{ withExec(args: ["sh", "-c", "printf %s \"$S\" | wc -c"]) {{ stdout }} }} }} }} }}"#
        )
    };
    assert_eq!(ok(&e, &len(&a)).await, json!("1\n"));
    assert_eq!(ok(&e, &len(&bb)).await, json!("2\n"), "the step runs again with the new value");
    for id in [&a, &bb] {
        assert!(!id.as_str().unwrap().contains("BB"), "{id}");
    }
}
