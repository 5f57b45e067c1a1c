//! `tanto explain` through the real binary: `tanto query` builds a host
//! directory (a Dockerfile that copies it and runs a command on it) and runs
//! one more command on the result, on one state dir, run after run; after
//! each run `tanto explain --json` says which steps ran and why, and
//! `--fail-on-miss` fails exactly when a step could have come from the cache.
//! Needs root, docker-registry and busybox-static.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

tanto_testkit::tests! {
    // test                                                  prerequisites                          kind
    explain_says_why_each_step_of_the_last_run_ran:          [Root, Registry, Busybox, OciRuntime]  sync;
}

fn tanto(env: &[(&str, &Path)], args: &[&str], stdin: Option<&str>) -> Output {
    tanto_testkit::run_with_input(Path::new(env!("CARGO_BIN_EXE_tanto")), env, args, stdin)
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// What happens before a run.
enum Before {
    Nothing,
    /// Writes a file of the host directory.
    Write(&'static str, &'static str),
    /// `tanto prune --all`.
    PruneAll,
}

/// What `tanto explain` must say about the run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ran {
    /// Nothing ran: every step came from the cache.
    Nothing,
    /// Every step that ran is new.
    AllNew,
    /// The commands ran again because this host path changed.
    Changed(&'static str),
    /// The commands ran again because their results were pruned.
    Evicted,
}

fn explain_says_why_each_step_of_the_last_run_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    // a policy the automatic GC never acts on
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[gc]\nreservedSpace = 0\nmaxUsedSpace = \"1TB\"\nminFreeSpace = 0\n"))
        .unwrap();
    let (state, run, ctx) = (dir.path().join("state"), dir.path().join("run"), dir.path().join("ctx"));
    std::fs::create_dir_all(ctx.join("sub")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY . /src\nRUN cat /src/a.txt > /seen\n").unwrap();
    std::fs::write(ctx.join("a.txt"), "one\n").unwrap();
    std::fs::write(ctx.join("sub/b.txt"), "two\n").unwrap();
    let env = [("TANTO_CONFIG", config.as_path()), ("TANTO_STATE_DIR", &state), ("TANTO_RUN_DIR", &run)];
    let query = format!(
        r#"{{ host {{ directory(path: "{}") {{ dockerBuild {{ withExec(args: ["sh", "-c", "cat /seen /src/sub/b.txt"]) {{ stdout }} }} }} }} }}"#,
        ctx.display()
    );

    // (case, before the run, what explain says, `explain --fail-on-miss` fails)
    let cases: [(&str, Before, Ran, bool); 5] = [
        ("first run", Before::Nothing, Ran::AllNew, true),
        ("unchanged rerun", Before::Nothing, Ran::Nothing, false),
        ("one host file changed", Before::Write("a.txt", "uno\n"), Ran::Changed("a.txt"), true),
        ("a file in a subdirectory changed", Before::Write("sub/b.txt", "dos\n"), Ran::Changed("sub/b.txt"), true),
        ("pruned cache", Before::PruneAll, Ran::Evicted, true),
    ];
    for (case, before, want, fails) in cases {
        eprintln!("case: {case}");
        match before {
            Before::Nothing => {}
            Before::Write(path, text) => std::fs::write(ctx.join(path), text).unwrap(),
            Before::PruneAll => {
                ok(&tanto(&env, &["prune", "--all"], None), "prune --all");
            }
        }
        let q = tanto(&env, &["query"], Some(&query));
        let out: Value = serde_json::from_str(&ok(&q, case)).unwrap();
        assert!(out["data"]["host"]["directory"]["dockerBuild"]["withExec"]["stdout"].is_string(), "{case}: {out}");
        let progress = String::from_utf8_lossy(&q.stderr).into_owned();
        assert_eq!(progress.contains("evicted"), want == Ran::Evicted, "{case}: progress:\n{progress}");

        let e: Value = serde_json::from_str(&ok(&tanto(&env, &["explain", "--json"], None), case)).unwrap();
        let ran = e["executed"].as_array().unwrap();
        let reasons: Vec<&str> = ran.iter().map(|s| s["reason"].as_str().unwrap()).collect();
        let execs: Vec<&Value> = ran.iter().filter(|s| s["kind"] == "exec").collect();
        match want {
            Ran::Nothing => assert!(ran.is_empty(), "{case}: {e:#}"),
            Ran::AllNew => {
                assert!(!execs.is_empty(), "{case}: {e:#}");
                assert!(reasons.iter().all(|r| *r == "new"), "{case}: {e:#}");
            }
            Ran::Evicted => {
                assert_eq!(execs.len(), 2, "{case}: {e:#}");
                assert!(execs.iter().all(|s| s["reason"] == "evicted" && s["by"] == "prune"), "{case}: {e:#}");
            }
            Ran::Changed(path) => {
                // the commands ran, and one step names the upload and the path
                assert_eq!(execs.len(), 2, "{case}: {e:#}");
                assert!(reasons.iter().all(|r| *r == "input_changed"), "{case}: {e:#}");
                let changes: Vec<&Value> = ran.iter().flat_map(|s| s["changes"].as_array().unwrap()).collect();
                let named = changes.iter().find(|c| c["paths"]["changed"] == serde_json::json!([path]));
                let named = named.unwrap_or_else(|| panic!("{case}: no change names `{path}`: {e:#}"));
                assert_eq!(named["what"], "input", "{case}: {named}");
                assert!(named["label"].as_str().unwrap().starts_with("upload "), "{case}: {named}");
                // the text form names the step, the input and the path
                let text = ok(&tanto(&env, &["explain"], None), "explain");
                eprintln!("{text}");
                for want in ["exec sh -c cat /seen /src/sub/b.txt", "input `copy source -> /src` changed", path] {
                    assert!(text.contains(want), "{case}: `{want}` in:\n{text}");
                }
            }
        }
        assert_eq!(e["misses"].as_u64().unwrap() > 0, fails, "{case}: {e:#}");
        let gate = tanto(&env, &["explain", "--fail-on-miss"], None);
        assert_eq!(!gate.status.success(), fails, "{case}: {}", String::from_utf8_lossy(&gate.stderr));
    }
}
