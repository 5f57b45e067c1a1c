//! An exec error, a registry error and a bad argument reach the official
//! Python SDK (dagger-io) as distinct, clear errors, through the real `tanto`
//! binary (`session`, as the SDK spawns it) against a real local registry;
//! the session keeps serving after each.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

tanto_testkit::tests! {
    // test                                           prerequisites                                       kind
    sdk_sees_exec_registry_and_argument_errors_apart: [Root, Registry, Busybox, OciRuntime, PythonSdk]  sync;
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn sdk_sees_exec_registry_and_argument_errors_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let out = Command::new(python)
        .arg(workspace().join("crates/tanto-cli/tests/sdk_errors.py"))
        .current_dir(dir.path())
        .env("_EXPERIMENTAL_DAGGER_CLI_BIN", env!("CARGO_BIN_EXE_tanto"))
        .env("TANTO_CONFIG", &config)
        .env("TANTO_STATE_DIR", dir.path().join("state"))
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .output()
        .expect("running sdk_errors.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let cases: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SDK_ERROR_CASE "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    // (case, kind the SDK raised, words the message must hold)
    let want: &[(&str, &str, &[&str])] = &[
        ("exec", "ExecError", &["exit code: 7"]),
        ("registry", "QueryError", &["busybox:no-such-tag", "not found"]),
        ("argument", "QueryError", &["port 70000", "1-65535"]),
        ("still-serving", "ok", &[]),
    ];
    assert_eq!(cases.len(), want.len(), "{stdout}");
    for (got, (name, kind, words)) in cases.iter().zip(want) {
        assert_eq!(got["case"], *name, "{got}");
        assert_eq!(got["kind"], *kind, "{got}");
        let message = got["message"].as_str().unwrap_or("");
        for w in *words {
            assert!(message.contains(w), "{name}: {message:?} should mention {w:?}");
        }
    }
    assert_eq!(cases[0]["exit_code"], 7);
    let messages: Vec<&str> = cases[..3].iter().map(|c| c["message"].as_str().unwrap()).collect();
    assert!(messages[1] != messages[2] && !messages[1].contains("exit code"), "{messages:?}");
}
