//! A terminal in a step, in a real terminal: `tmux` runs tanto, the test types
//! into the pane and reads it back. `Container.terminal` gives a shell in the
//! container's state (its environment, the pane's size, Ctrl-C, `exit`);
//! `tanto run -i` opens a shell in the container of the step that failed and
//! then ends with that step's error; without a terminal the field fails at
//! once with a clear message.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tanto_testkit::tmux::{shell_quote, Tmux};

tanto_testkit::tests! {
    // test                                  prerequisites                                             kind
    a_shell_in_a_container:                  [Root, Registry, Busybox, OciRuntime, Tmux]              sync;
    a_shell_where_a_step_failed:             [Root, Registry, Busybox, OciRuntime, Tmux, PythonSdk]   sync;
    a_shell_in_a_directory:                  [Root, Registry, Busybox, OciRuntime, Tmux, PythonSdk]   sync;
    a_shell_in_a_service:                    [Root, Registry, Busybox, OciRuntime, Iptables, Tmux, PythonSdk]  sync;
    no_terminal_is_a_clear_error:            [Root, Registry, Busybox, OciRuntime]                    sync;
}

const TERMINAL_QUERY: &str = r#"{ container { from(address: "busybox:1.36") {
    withEnvVariable(name: "GREETING", value: "hi") { withDefaultTerminalCmd(args: ["sh"]) {
    terminal { envVariable(name: "GREETING") } } } } } }"#;

/// `tanto ARGS` in a script for the pane, with the fixture's engine config.
fn tanto_script(config: &Path, state: &Path, args: &str) -> String {
    format!(
        "env -u CI TANTO_CONFIG={} TANTO_STATE_DIR={} {} {args}",
        shell_quote(&config.to_string_lossy()),
        shell_quote(&state.to_string_lossy()),
        shell_quote(env!("CARGO_BIN_EXE_tanto")),
    )
}

/// Types each line and waits for what it must show; the failures.
fn converse(tmux: &Tmux, steps: &[(&str, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (keys, want) in steps {
        if !keys.is_empty() {
            if *keys == "C-c" {
                tmux.send_keys(&["C-c"]);
            } else {
                tmux.send_keys(&[keys, "Enter"]);
            }
        }
        if let Err(screen) = tmux.wait_for(Duration::from_secs(60), |s| s.contains(want)) {
            failures.push(format!("after typing {keys:?} the screen lacks {want:?}:\n{screen}"));
            break;
        }
    }
    failures
}

fn a_shell_in_a_container() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).unwrap();
    let query = dir.path().join("terminal.graphql");
    std::fs::write(&query, TERMINAL_QUERY).unwrap();
    let tmux = Tmux::new("terminal");
    let script =
        tanto_script(&config, &dir.path().join("state"), &format!("query {}", shell_quote(&query.to_string_lossy())));
    tmux.start(&script, 100, 30);
    // (typed, then seen on the screen)
    let mut failures = converse(
        &tmux,
        &[
            ("", "/ #"),
            ("echo x-$((6*7))-$GREETING", "x-42-hi"),
            ("stty size", "30 100"),
            ("tty", "/dev/pts/"),
            ("sleep 60", ""),
            ("C-c", "^C"),
            ("echo after-$((1+2))", "after-3"),
            ("exit 3", "EXIT=0"),
        ],
    );
    // the query goes on with the container once the shell exits
    let screen = tmux.capture(false);
    if failures.is_empty() && !screen.contains(r#""envVariable": "hi""#) {
        failures.push(format!("no query result after the shell:\n{screen}"));
    }
    // the pane's size reaches the container when it changes
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let tmux = Tmux::new("resize");
    tmux.start(&script, 100, 30);
    let mut failures = converse(&tmux, &[("", "/ #")]);
    tmux.resize(90, 25);
    std::thread::sleep(Duration::from_millis(300));
    failures.extend(converse(&tmux, &[("stty size", "25 90"), ("exit", "EXIT=0")]));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const FAILING_PY: &str = r#"
import os, sys, anyio, dagger
from dagger import dag

async def main():
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        await (
            dag.container().from_("busybox:1.36")
            .with_env_variable("STAGE", "build-" + os.environ["NONCE"])
            .with_new_file("/work/input.txt", "the input\n")
            .with_workdir("/work")
            .with_exec(["sh", "-c", "echo compiling; exit 7"])
            .sync()
        )

anyio.run(main)
"#;

fn a_shell_where_a_step_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).unwrap();
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let script_file = dir.path().join("failing.py");
    std::fs::write(&script_file, FAILING_PY).unwrap();
    let tmux = Tmux::new("interactive");
    let script = tanto_script(
        &config,
        &dir.path().join("state"),
        &format!(
            "run -i -- env NONCE={} {} {}",
            std::process::id(),
            shell_quote(&python.to_string_lossy()),
            shell_quote(&script_file.to_string_lossy())
        ),
    );
    tmux.start(&script, 120, 40);
    let failures = converse(
        &tmux,
        &[
            ("", "failed: a shell in its container"),
            ("", "/work #"),
            ("cat input.txt; echo stage=$STAGE", "stage=build-"),
            ("", "the input"),
            ("exit", "EXIT=1"),
        ],
    );
    let screen = tmux.capture(false);
    let mut failures = failures;
    if failures.is_empty() && !screen.contains("exit code: 7") {
        failures.push(format!("the step's error is not shown after the shell:\n{screen}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const SERVICE_PY: &str = r#"
import sys, anyio, dagger
from dagger import dag

async def main():
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        svc = (
            dag.container().from_("busybox:1.36")
            .with_new_file("/www/index.html", "svc-page\n")
            .with_exposed_port(8080)
            .as_service(args=["httpd", "-f", "-p", "8080", "-h", "/www"])
        )
        await svc.terminal().sync()
        print("service back")

anyio.run(main)
"#;

/// `Service.terminal`: a shell in the running service's container.
fn a_shell_in_a_service() {
    let failures = python_in_tmux(
        "service",
        SERVICE_PY,
        &[
            ("", "/ #"),
            ("wget -qO- http://127.0.0.1:8080/", "svc-page"),
            ("ps", "httpd -f -p 8080"),
            ("exit", "service back"),
            ("", "EXIT=0"),
        ],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs `script` with `tanto run` and the SDK's Python in a pane, and converses.
fn python_in_tmux(name: &str, script: &str, steps: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).unwrap();
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let script_file = dir.path().join(format!("{name}.py"));
    std::fs::write(&script_file, script).unwrap();
    let tmux = Tmux::new(name);
    let command = tanto_script(
        &config,
        &dir.path().join("state"),
        &format!("run -- {} {}", shell_quote(&python.to_string_lossy()), shell_quote(&script_file.to_string_lossy())),
    );
    tmux.start(&command, 100, 30);
    converse(&tmux, steps)
}

const DIRECTORY_PY: &str = r#"
import sys, anyio, dagger
from dagger import dag

async def main():
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        d = dag.directory().with_new_file("a.txt", "dir-content\n")
        await d.terminal(container=dag.container().from_("busybox:1.36")).sync()
        print("directory back")

anyio.run(main)
"#;

/// `Directory.terminal`: the directory read-only at /src of the given container.
fn a_shell_in_a_directory() {
    let failures = python_in_tmux(
        "directory",
        DIRECTORY_PY,
        &[
            ("", "/src #"),
            ("cat a.txt", "dir-content"),
            ("touch b", "Read-only file system"),
            ("exit", "directory back"),
            ("", "EXIT=0"),
        ],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn no_terminal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).unwrap();
    let query = dir.path().join("terminal.graphql");
    std::fs::write(&query, TERMINAL_QUERY).unwrap();
    // setsid: no controlling terminal, as in CI
    let t = Instant::now();
    let out = Command::new("setsid")
        .arg(env!("CARGO_BIN_EXE_tanto"))
        .args(["query", query.to_str().unwrap()])
        .env("TANTO_CONFIG", &config)
        .env("TANTO_STATE_DIR", dir.path().join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("`terminal` needs an interactive terminal and this engine has none"), "{stdout}");
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
}
