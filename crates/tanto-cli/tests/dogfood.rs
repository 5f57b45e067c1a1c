//! Dogfooding: tanto's own image, built by a tanto pipeline
//! (`deploy/image/build.py` under `tanto run`, from a Debian base with
//! `apt-get install`), published to a real local registry under the name the
//! Kubernetes manifest gives (`registry.example.com/...`, mirrored to the
//! local registry), then run as the manifest says — its command, env,
//! privileged, state and run volumes, port, probe — as a service of another
//! tanto engine. Through a tunnel, the manifest's probe gets 200 over HTTPS
//! and a thin client runs a pipeline through the engine inside.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

tanto_testkit::tests! {
    // test                                                   prerequisites                                                    kind
    the_manifests_image_built_by_tanto_serves_a_pipeline:     [Root, Registry, Busybox, OciRuntime, PythonSdk, DebianMirror]  sync;
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what}: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The engine container of the StatefulSet in `deploy/kubernetes/engine.yaml`.
fn manifest_container() -> Value {
    let text = std::fs::read_to_string(workspace().join("deploy/kubernetes/engine.yaml")).unwrap();
    let doc: Value = yaml_serde::from_str(&text).unwrap();
    assert_eq!(doc["kind"], "StatefulSet", "{doc}");
    doc["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("`{flag}` in {args:?}"));
    &args[i + 1]
}

fn the_manifests_image_built_by_tanto_serves_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    let addr = registry.address();
    tanto_testkit::DEBIAN_BASE.publish(&addr).expect("the Debian base image");
    let c = manifest_container();
    let image = c["image"].as_str().unwrap().to_string();
    let (image_host, image_path) = image.split_once('/').unwrap();
    // the manifest's registry is this one, as a mirror
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[registry.\"{image_host}\"]\n  mirrors = [\"{addr}\"]\n")).unwrap();
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let tanto = env!("CARGO_BIN_EXE_tanto");
    let state = dir.path().join("state");
    let engine = |cmd: &mut Command| {
        cmd.current_dir(workspace())
            .env("TANTO_CONFIG", &config)
            .env("TANTO_STATE_DIR", &state)
            .env("TANTO_HOST", "local")
            .env_remove("DAGGER_SESSION_PORT")
            .env_remove("DAGGER_SESSION_TOKEN");
    };

    // the image, built by the repository's own pipeline
    let published = format!("{addr}/{image_path}");
    let mut build = Command::new(tanto);
    build.args(["run", python.to_str().unwrap(), "deploy/image/build.py", "--binary", tanto, "--base", "debian"]);
    build.args(["--publish", &published]);
    engine(&mut build);
    let out = run(&mut build, "deploy/image/build.py");
    assert!(out.trim().starts_with(&format!("{published}@sha256:")), "{out}");

    // run as the manifest says
    let command: Vec<String> = c["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect();
    assert_eq!(&command[..3], ["tanto", "engine", "serve"], "{command:?}");
    let env: serde_json::Map<String, Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect();
    let mounts: Vec<&str> =
        c["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    let (state_dir, run_dir) = (env["TANTO_STATE_DIR"].as_str().unwrap(), env["TANTO_RUN_DIR"].as_str().unwrap());
    assert!(mounts.contains(&state_dir) && mounts.contains(&run_dir), "{mounts:?}");
    let probe = &c["readinessProbe"]["httpGet"];
    assert_eq!(probe["scheme"], "HTTPS", "{probe}");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], probe["path"], "{c}");
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert!(flag(&command, "--listen").ends_with(&format!(":{port}")), "{command:?}");

    // the Secrets and ConfigMap the manifest mounts, as files
    let key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "dogfood CA");
    let ca = ca_params.self_signed(&key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["tanto-engine.tanto.svc".to_string(), "localhost".into()]).unwrap();
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "tanto-engine");
    let leaf = leaf_params.signed_by(&leaf_key, &rcgen::Issuer::new(ca_params, &key)).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let inner_config =
        "[registry.\"docker.io\"]\n  mirrors = [\"registry:5000\"]\n[registry.\"registry:5000\"]\n  http = true\n";
    let files = json!({
        flag(&command, "--tls-cert"): leaf.pem(),
        flag(&command, "--tls-key"): leaf_key.serialize_pem(),
        flag(&command, "--token-file"): "dogfood-token\n",
        env["TANTO_CONFIG"].as_str().unwrap(): inner_config,
    });
    let spec = json!({
        "image": image,
        "env": env,
        "files": files,
        "state_dir": state_dir,
        "run_dir": run_dir,
        "registry_port": addr.rsplit_once(':').unwrap().1.parse::<u16>().unwrap(),
        "port": port,
        "probe_path": probe["path"],
        "command": command,
        "privileged": c["securityContext"]["privileged"],
        "ca": ca_file,
        "token": "dogfood-token",
        "tanto": tanto,
    });
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let mut serve = Command::new(tanto);
    let script = workspace().join("crates/tanto-cli/tests/dogfood.py");
    serve.args(["run", python.to_str().unwrap(), script.to_str().unwrap(), spec_file.to_str().unwrap()]);
    engine(&mut serve);
    let out = run(&mut serve, "dogfood.py");
    let cases: Vec<Value> =
        out.lines().filter_map(|l| l.strip_prefix("DOGFOOD_CASE ")).map(|j| serde_json::from_str(j).unwrap()).collect();
    let get = |name: &str| cases.iter().find(|c| c["case"] == name).unwrap_or_else(|| panic!("{name}: {out}")).clone();
    let probe = get("probe");
    assert_eq!(probe["status"], 200, "{probe}");
    assert!(probe["body"].as_str().unwrap().contains("\"status\":\"ok\""), "{probe}");
    let client = get("client");
    assert_eq!(client["code"], 0, "{client}");
    assert!(client["stdout"].as_str().unwrap().contains("inner Linux"), "{client}");
}
