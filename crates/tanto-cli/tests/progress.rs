//! The progress a developer watches, in a real terminal: `tanto query` runs
//! under `tmux` and the pane is read with `capture-pane` while the steps run
//! and after. Each case names the mode asked for and what the screen must
//! (and must not) show: the live tree with a running step's last lines, the
//! finished steps and the summary, plain lines in CI or when asked, a failed
//! step's full output with its secret scrubbed, no colour under `NO_COLOR`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tanto_testkit::tmux::{shell_quote, Tmux};

tanto_testkit::tests! {
    // test                                          prerequisites                                 kind
    progress_in_a_real_terminal:                     [Root, Registry, Busybox, OciRuntime, Tmux]  sync;
}

const SECRET: &str = "s3cr3t-progress-value";

/// A query with one exec that prints a line every 0.3 s (`nonce` keeps it
/// out of the cache).
fn query(nonce: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "busybox:1.36") {{ withEnvVariable(name: "NONCE", value: "{nonce}") {{
            withExec(args: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo live-line-$i; sleep 0.3; done"]) {{ stdout }} }} }} }} }}"#
    )
}

/// A Python SDK pipeline (through `tanto run`) whose exec prints its secret
/// and fails; the script prints a line of its own first.
const FAILING_PY: &str = r#"
import os, sys, anyio, dagger
from dagger import dag

async def main():
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        print("script says hello", flush=True)
        tok = dag.set_secret("tok", os.environ["TANTO_TEST_SECRET"])
        await (
            dag.container().from_("busybox:1.36")
            .with_env_variable("NONCE", os.environ["NONCE"])
            .with_secret_variable("TOK", tok)
            .with_exec(["sh", "-c", "echo token=$TOK; echo compiling; echo error: boom; exit 3"])
            .sync()
        )

anyio.run(main)
"#;

struct Case {
    name: &'static str,
    /// `--progress` (none: auto).
    flag: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    fail: bool,
    /// Seen while the step runs (`None`: not checked).
    live: Option<fn(&str) -> bool>,
    /// On the screen at the end.
    end: &'static [&'static str],
    never: &'static [&'static str],
    /// Whether colour escapes are on the screen at the end.
    colour: bool,
}

fn progress_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).unwrap();
    let state = dir.path().join("state");
    let running_tree = |s: &str| {
        // a running exec with its time, and its last lines under it
        s.lines().any(|l| l.contains("#") && l.contains("exec sh -c for i in") && l.trim_end().ends_with('s'))
            && s.lines().any(|l| l.contains("│ live-line-"))
    };
    let cases = [
        Case {
            name: "auto-tty",
            flag: None,
            env: &[],
            fail: false,
            live: Some(running_tree),
            end: &["✔ #", "exec sh -c for i in", "steps:", "executed in", "EXIT=0"],
            never: &["DONE"],
            colour: true,
        },
        Case {
            name: "ci-plain",
            flag: None,
            env: &[("CI", "true")],
            fail: false,
            live: None,
            end: &["| live-line-3", " DONE ", "steps:", "EXIT=0"],
            never: &["✔", "⠋"],
            colour: false,
        },
        Case {
            name: "asked-plain",
            flag: Some("plain"),
            env: &[],
            fail: false,
            live: None,
            end: &["| live-line-10", " DONE ", "EXIT=0"],
            never: &["✔"],
            colour: false,
        },
        Case {
            name: "dots",
            flag: Some("dots"),
            env: &[],
            fail: false,
            live: None,
            end: &["..", "steps:", "EXIT=0"],
            never: &["live-line", "✔"],
            colour: false,
        },
        Case {
            name: "failed-scrubbed",
            flag: Some("tty"),
            env: &[],
            fail: true,
            live: None,
            end: &["script says hello", "failed", "│ token=***", "│ compiling", "│ error: boom", "1 failed", "EXIT=1"],
            never: &[SECRET],
            colour: true,
        },
        Case {
            name: "no-color",
            flag: Some("tty"),
            env: &[("NO_COLOR", "1")],
            fail: false,
            live: Some(running_tree),
            end: &["✔ #", "steps:", "EXIT=0"],
            never: &[],
            colour: false,
        },
    ];
    let python = tanto_testkit::prereq::python_with("dagger");
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let python = match (&python, c.fail) {
            (_, false) => None,
            (Ok(p), true) => Some(p.as_path()),
            (Err(e), true) => {
                // A Python with dagger-io is what this case runs; CI has one.
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    failures.push(format!("case {}: {e}", c.name));
                } else {
                    eprintln!("case {} skipped: {e}", c.name);
                }
                continue;
            }
        };
        if let Err(e) = run_case(c, i, dir.path(), &config, &state, python) {
            failures.push(format!("case {}: {e}", c.name));
        }
    }
    assert!(failures.is_empty(), "{} failing case(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

fn run_case(c: &Case, i: usize, dir: &Path, config: &Path, state: &Path, python: Option<&Path>) -> Result<(), String> {
    let nonce = format!("{}-{}-{i}", std::process::id(), c.name);
    let file: PathBuf = dir.join(format!("{}.input", c.name));
    std::fs::write(&file, if c.fail { FAILING_PY.to_string() } else { query(&nonce) }).unwrap();
    let mut script = String::from("env -u CI -u NO_COLOR -u TANTO_PROGRESS");
    for (k, v) in c.env {
        script.push_str(&format!(" {k}={}", shell_quote(v)));
    }
    script.push_str(&format!(
        " TANTO_CONFIG={} TANTO_STATE_DIR={} TANTO_TEST_SECRET={SECRET} NONCE={nonce} {}",
        shell_quote(&config.to_string_lossy()),
        shell_quote(&state.to_string_lossy()),
        shell_quote(env!("CARGO_BIN_EXE_tanto")),
    ));
    if let Some(f) = c.flag {
        script.push_str(&format!(" --progress={f}"));
    }
    match python {
        Some(py) => script.push_str(&format!(
            " run -- {} {}",
            shell_quote(&py.to_string_lossy()),
            shell_quote(&file.to_string_lossy())
        )),
        None => script.push_str(&format!(" query {} > /dev/null", shell_quote(&file.to_string_lossy()))),
    }
    let tmux = Tmux::new(c.name);
    tmux.start(&script, 120, 40);
    if let Some(live) = c.live {
        tmux.wait_for(Duration::from_secs(60), live).map_err(|s| format!("the live view never showed:\n{s}"))?;
    }
    let screen = tmux
        .wait_for(Duration::from_secs(90), |s| s.contains("EXIT="))
        .map_err(|s| format!("did not end within 90 s:\n{s}"))?;
    let mut problems = Vec::new();
    for want in c.end {
        if !screen.contains(want) {
            problems.push(format!("missing {want:?}"));
        }
    }
    for never in c.never {
        if screen.contains(never) {
            problems.push(format!("shows {never:?}"));
        }
    }
    let coloured = tmux.capture(true).contains("\x1b[3");
    if coloured != c.colour {
        problems.push(format!("colour escapes: {coloured}, want {}", c.colour));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n--- screen ---\n{screen}", problems.join(", ")))
    }
}
