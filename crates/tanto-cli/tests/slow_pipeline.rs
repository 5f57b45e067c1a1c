//! Slow tier (`slow` in the table): a real-world style Python CI pipeline, driven by the
//! official Dagger Python SDK (dagger-io 0.21.11) against the `tanto` binary, in two
//! separate sessions on one state dir. The pipeline is `slow_pipeline.py` next to this
//! file; the project is `examples/pyproject`; the base image is the testkit's
//! `debian-python-pip` (mmdebstrap, the same code path as benchmark B6's image), pushed
//! to a docker-registry started here. The containers reach PyPI through tanto's NAT,
//! with the host's pip settings (index, proxies, CA bundle) forwarded.
//!
//! ```sh
//! cargo nextest run --cargo-profile release -p tanto-cli --run-ignored ignored-only -E 'test(slow_python_pipeline)'
//! ```
//!
//! Needs root, docker-registry, mmdebstrap (and the apt mirror the first time in a
//! month: the image is cached in /var/cache/tanto), PyPI, and a Python with dagger-io
//! (`TANTO_PYTHON`, else `target/venv/bin/python` from scripts/setup.sh, else `python3`).
//! `TANTO_BIN` runs another tanto binary (e.g. target/release/tanto) instead of this
//! build's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

tanto_testkit::tests! {
    // test                                             prerequisites                                          kind
    slow_python_pipeline_twice_second_from_cache:       [Root, Registry, OciRuntime, Iptables, PythonSdk]  sync slow;
}

/// One session of the pipeline; returns its `SLOW_PIPELINE_RESULT`.
fn session(run: &Run, changed_requirement: Option<&str>) -> Value {
    let mut cmd = Command::new(&run.python);
    cmd.arg(workspace().join("crates/tanto-cli/tests/slow_pipeline.py"))
        .args(["--image", &run.image, "--registry", &run.registry, "--verbose", "--project"])
        .arg(workspace().join("examples/pyproject"))
        .current_dir(run.dir.path())
        .env("_EXPERIMENTAL_DAGGER_CLI_BIN", &run.tanto)
        .env("TANTO_CONFIG", &run.config)
        .env("TANTO_STATE_DIR", &run.state)
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN");
    if let Some(req) = changed_requirement {
        cmd.args(["--changed-requirement", req]);
    }
    let out = cmd.output().expect("running slow_pipeline.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SLOW_PIPELINE_RESULT "))
        .and_then(|j| serde_json::from_str::<Value>(j).ok());
    match (out.status.success(), result) {
        (true, Some(v)) => v,
        _ => {
            let tail: Vec<&str> = stderr.lines().rev().take(200).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "the pipeline failed ({}):\n--- stderr (last 200 lines) ---\n{}\n--- stdout ---\n{stdout}",
                out.status,
                tail.join("\n")
            );
        }
    }
}

struct Run {
    python: PathBuf,
    tanto: PathBuf,
    image: String,
    registry: String,
    config: PathBuf,
    state: PathBuf,
    dir: tempfile::TempDir,
}

fn slow_python_pipeline_twice_second_from_cache() {
    let python = tanto_testkit::prereq::python_with("dagger").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
    let addr = registry.address();
    let t = Instant::now();
    let image = tanto_testkit::DEBIAN_PYTHON_PIP.publish(&addr).expect("building and pushing debian-python-pip");
    eprintln!("fixture image {image} ready in {:.1}s", t.elapsed().as_secs_f64());
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, format!("[registry.\"{addr}\"]\n  http = true\n")).unwrap();
    let tanto = std::env::var_os("TANTO_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_tanto").into());
    let run = Run { python, tanto, image, registry: addr, config, state: dir.path().join("state"), dir };

    let t = Instant::now();
    let cold = session(&run, None);
    let cold_wall = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let warm = session(&run, Some("docopt==0.6.2"));
    let warm_wall = t.elapsed().as_secs_f64();
    for (name, r, wall) in [("cold", &cold, cold_wall), ("warm", &warm, warm_wall)] {
        eprintln!(
            "{name} session: {wall:.1}s in all; steps (s, cumulative) {}; forwarded {}",
            r["timings"], r["forwarded"]
        );
    }

    // Cold: install and tests each really ran once (the pipeline script checked their output).
    assert_eq!(cold["counts"], json!({"pip-install": 1, "pytest": 1}), "cold run counts");
    // Warm, another session: install, tests, publish and pull-back came from tanto's cache
    // (no step appended to the counters again), with the same outputs and the same image...
    assert_eq!(warm["counts"]["pytest"], json!(1), "the tests ran again in the second session");
    assert_eq!(warm["install_output"], cold["install_output"], "install output differs: not from the cache");
    assert_eq!(warm["test_output"], cold["test_output"], "test output differs: not from the cache");
    assert_eq!(warm["published"], cold["published"], "the second session published another image");
    // ...while the changed requirement made a new install step (it ran: counter 2) whose
    // docopt wheel came from the pip cache volume (checked by the script: `Using cached`).
    assert_eq!(warm["counts"]["pip-install"], json!(2), "the changed pip install did not run");
    let changed = warm["changed_install_output"].as_str().unwrap();
    assert!(changed.contains("Using cached docopt-0.6.2-"), "{changed}");
    assert!(!changed.contains("Building wheel for docopt"), "docopt was built again:\n{changed}");
    let (c, w) = (cold["timings"]["publish"].as_f64().unwrap(), warm["timings"]["publish"].as_f64().unwrap());
    eprintln!("cold pipeline to publish {c:.1}s, warm {w:.2}s");
    let t = Instant::now();
    drop(registry);
    let stop = t.elapsed().as_secs_f64();
    drop(run);
    eprintln!("teardown: registry stopped in {stop:.1}s, temp dir removed in {:.1}s", t.elapsed().as_secs_f64() - stop);
}
