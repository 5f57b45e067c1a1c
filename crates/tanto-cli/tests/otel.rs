//! OpenTelemetry through the real `tanto` binary, spawned by the official
//! Python SDK, exporting to a real OTLP receiver on loopback
//! (`tanto_testkit::otlp`, HTTP/protobuf and gRPC): the SDK's own span, the
//! session, its queries and its steps are one trace; an exec sees its span's
//! `TRACEPARENT`; a rerun on the same cache still hits it; a receiver that is
//! down never fails or holds up the pipeline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tanto_testkit::otlp::{ReceivedSpan, Receiver};

tanto_testkit::tests! {
    // test                                                prerequisites                                       kind
    otel_one_trace_from_sdk_span_to_exec:                  [Root, Registry, Busybox, OciRuntime, PythonSdk]  sync;
    otel_receiver_down_never_holds_up_the_pipeline:        [Root, Registry, Busybox, OciRuntime, PythonSdk]  sync;
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// What one run of `otel_pipeline.py` printed.
struct Run {
    stdout: String,
    sdk_trace: String,
    sdk_span: String,
    close_seconds: f64,
    stderr: String,
}

/// Runs the pipeline script in `dir` (its state dir is `dir/state`): `sdk_env`
/// for the Python process, `engine_env` on top for the engine it spawns.
fn pipeline(dir: &Path, config: &Path, sdk_env: &[(&str, String)], engine_env: Value) -> Run {
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(workspace().join("crates/tanto-cli/tests/otel_pipeline.py"))
        .current_dir(dir)
        .env("_EXPERIMENTAL_DAGGER_CLI_BIN", env!("CARGO_BIN_EXE_tanto"))
        .env("TANTO_CONFIG", config)
        .env("TANTO_STATE_DIR", dir.join("state"))
        .env("ENGINE_OTEL_ENV", engine_env.to_string())
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .env_remove("TRACEPARENT");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")) {
        cmd.env_remove(k);
    }
    cmd.envs(sdk_env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("running otel_pipeline.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let line = stdout.lines().find_map(|l| l.strip_prefix("OTEL_CASE ")).unwrap_or_else(|| panic!("{stdout}"));
    let v: Value = serde_json::from_str(line).unwrap();
    Run {
        stdout: v["stdout"].as_str().unwrap().to_string(),
        sdk_trace: v["trace_id"].as_str().unwrap().to_string(),
        sdk_span: v["span_id"].as_str().unwrap().to_string(),
        close_seconds: v["close_seconds"].as_f64().unwrap(),
        stderr,
    }
}

fn find<'a>(spans: &'a [ReceivedSpan], what: &str, f: impl Fn(&ReceivedSpan) -> bool) -> &'a ReceivedSpan {
    spans.iter().find(|s| f(s)).unwrap_or_else(|| panic!("no {what} among {spans:#?}"))
}

fn otel_one_trace_from_sdk_span_to_exec() {
    // (engine protocol, a TRACEPARENT given to the SDK and so to the session it spawns)
    let cases: &[(&str, Option<&str>)] =
        &[("http/protobuf", None), ("grpc", Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))];
    for (protocol, traceparent) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
        let receiver = Receiver::start().unwrap();
        let engine_endpoint = if *protocol == "grpc" { &receiver.grpc_endpoint } else { &receiver.http_endpoint };
        // the SDK exports over HTTP (dagger-io has no gRPC exporter); the engine as the case says
        let mut sdk_env = vec![
            ("OTEL_TRACES_EXPORTER", "otlp".to_string()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string()),
        ];
        if let Some(tp) = traceparent {
            sdk_env.push(("TRACEPARENT", tp.to_string()));
        }
        let engine_env =
            json!({"OTEL_EXPORTER_OTLP_ENDPOINT": engine_endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol});

        // first run: the exec runs
        let run = pipeline(dir.path(), &config, &sdk_env, engine_env.clone());
        let trace = run.sdk_trace.clone();
        if let Some(tp) = traceparent {
            assert_eq!(trace, tp.split('-').nth(1).unwrap(), "{protocol}: the SDK joins TRACEPARENT's trace");
        }
        let spans = receiver.wait_for(Duration::from_secs(10), |s| {
            s.iter().any(|s| s.name == "sdk-pipeline") && s.iter().any(|s| s.name == "session")
        });
        let ours: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
        let names = |service: &str| {
            let mut n: Vec<&str> = ours.iter().filter(|s| s.service == service).map(|s| s.name.as_str()).collect();
            n.sort();
            n.dedup();
            n
        };
        assert_eq!(names("dagger-python-sdk"), ["sdk-pipeline"], "{protocol}: {spans:#?}");
        assert_eq!(names("tanto"), ["exec", "query", "session", "solve", "vertex"], "{protocol}: {spans:#?}");
        // every span of this run is in that one trace
        assert_eq!(ours.len(), spans.len(), "{protocol}: spans outside the trace: {spans:#?}");
        let via = if *protocol == "grpc" { "grpc" } else { "http" };
        assert!(ours.iter().filter(|s| s.service == "tanto").all(|s| s.via == via), "{protocol}: {spans:#?}");

        let sdk = find(&spans, "SDK span", |s| s.name == "sdk-pipeline");
        assert_eq!(sdk.span_id, run.sdk_span);
        let session = find(&spans, "session span", |s| s.name == "session");
        let session_parent = match traceparent {
            Some(tp) => tp.split('-').nth(2).unwrap().to_string(),
            // no TRACEPARENT: the session takes the first request's trace context
            None => sdk.span_id.clone(),
        };
        assert_eq!(session.parent_span_id, session_parent, "{protocol}: session's parent");
        // queries are children of the SDK's span (the traceparent header)
        assert!(spans.iter().any(|s| s.name == "query" && s.parent_span_id == sdk.span_id), "{protocol}: {spans:#?}");

        let step = find(&spans, "exec step", |s| s.name == "vertex" && s.attr("op") == Some("exec"));
        assert!(step.attr("digest").is_some_and(|d| d.starts_with("sha256:")), "{step:?}");
        assert_eq!(step.attr("cache"), Some("computed"), "{step:?}");
        assert!(step.attr("label").is_some_and(|l| l.contains("echo tp=")), "{step:?}");
        let exec = find(&spans, "exec span", |s| s.name == "exec");
        assert_eq!(exec.parent_span_id, step.span_id);
        assert_eq!(exec.attr("exit_code"), Some("0"), "{exec:?}");
        assert_eq!(exec.attr("digest"), step.attr("digest"));
        // the container saw the exec span's context
        assert_eq!(run.stdout.trim(), format!("tp=00-{trace}-{}-01", exec.span_id), "{protocol}");

        // a rerun on the same cache (another engine, another trace) hits the cache:
        // TRACEPARENT is not in the exec's key
        let rerun_env: Vec<(&str, String)> = sdk_env.iter().filter(|(k, _)| *k != "TRACEPARENT").cloned().collect();
        let rerun = pipeline(dir.path(), &config, &rerun_env, engine_env);
        assert_ne!(rerun.sdk_trace, trace);
        assert_eq!(rerun.stdout, run.stdout, "{protocol}: the cached output");
        let spans = receiver.wait_for(Duration::from_secs(10), |s| {
            s.iter().any(|s| s.name == "session" && s.trace_id == rerun.sdk_trace)
        });
        let again: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == rerun.sdk_trace).collect();
        let step = again
            .iter()
            .find(|s| s.name == "vertex" && s.attr("op") == Some("exec"))
            .unwrap_or_else(|| panic!("{protocol}: no exec step in the rerun: {again:#?}"));
        assert_eq!(step.attr("cache"), Some("store"), "{protocol}: {step:?}");
        assert!(!again.iter().any(|s| s.name == "exec"), "{protocol}: nothing ran: {again:#?}");
    }
}

fn otel_receiver_down_never_holds_up_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // (engine protocol)
    for protocol in ["http/protobuf", "grpc"] {
        let engine_env = json!({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol});
        let run = pipeline(dir.path(), &config, &[], engine_env);
        assert!(run.stdout.starts_with("tp=00-"), "{protocol}: {}", run.stdout);
        // the flush at exit is bounded (3 s) and the engine exits 0 (else the SDK raised)
        assert!(run.close_seconds < 8.0, "{protocol}: closing took {}s\n{}", run.close_seconds, run.stderr);
        let warnings = run.stderr.matches("OpenTelemetry:").count();
        assert_eq!(warnings, 1, "{protocol}: one warning\n{}", run.stderr);
    }
}
