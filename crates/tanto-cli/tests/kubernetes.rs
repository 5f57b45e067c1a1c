//! The Kubernetes manifests of `deploy/kubernetes/`, offline: every document
//! deserialises into the `k8s-openapi` type of its kind with no unknown field
//! (typed, serialised back, and every key of the original must still be
//! there), and the deployment keeps what the engine needs: `tanto engine
//! serve` on TCP, HTTPS `/healthz` probes on the port the Service targets, the
//! state dir on a claim template, privileged, resource requests, the files the
//! command and environment name in Secrets and ConfigMaps that exist with
//! those keys, an engine config the engine accepts, and a kustomization that
//! lists every resource but the secret skeletons.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Secret, Service, Volume};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

tanto_testkit::tests! {
    // test                                            prerequisites  kind
    manifests_have_no_unknown_fields:                  []             sync;
    the_unknown_field_check_refuses_what_it_should:    []             sync;
    the_engine_serves_tls_and_is_probed_there:         []             sync;
    the_engine_keeps_its_state_and_privileges:         []             sync;
    mounted_files_exist_in_secrets_and_config_maps:    []             sync;
    the_engine_config_is_one_the_engine_accepts:       []             sync;
    the_kustomization_lists_every_resource:            []             sync;
}

/// The kinds the manifests may hold: (apiVersion/kind, the check of one document).
type Check = fn(&Value) -> Result<(), String>;
const KINDS: &[(&str, Check)] = &[
    ("apps/v1/StatefulSet", known_fields::<StatefulSet>),
    ("v1/Service", known_fields::<Service>),
    ("v1/ConfigMap", known_fields::<ConfigMap>),
    ("v1/Secret", known_fields::<Secret>),
    ("v1/Namespace", known_fields::<Namespace>),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// One document of a manifest file.
struct Doc {
    file: String,
    value: Value,
}

/// The documents of `text` as JSON (empty documents left out).
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for de in yaml_serde::Deserializer::from_str(text) {
        let yaml = <yaml_serde::Value as serde::Deserialize>::deserialize(de).map_err(|e| e.to_string())?;
        let json = serde_json::to_value(&yaml).map_err(|e| format!("not JSON-compatible: {e}"))?;
        if !json.is_null() {
            out.push(json);
        }
    }
    Ok(out)
}

/// Every document of every `*.yaml` but kustomization.yaml, in file order.
fn manifests() -> Vec<Doc> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few manifests in {}: {files:?}", dir().display());
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = documents(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!docs.is_empty(), "{file} holds no document");
        out.extend(docs.into_iter().map(|value| Doc { file: file.clone(), value }));
    }
    out
}

/// The documents of type `T`, typed.
fn all<T: k8s_openapi::Resource + DeserializeOwned>(docs: &[Doc]) -> Vec<T> {
    docs.iter()
        .filter(|d| d.value["apiVersion"] == T::API_VERSION && d.value["kind"] == T::KIND)
        .map(|d| serde_json::from_value(d.value.clone()).unwrap_or_else(|e| panic!("{}: {e}", d.file)))
        .collect()
}

fn one<T: k8s_openapi::Resource + DeserializeOwned>(docs: &[Doc]) -> T {
    let mut found = all::<T>(docs);
    assert_eq!(found.len(), 1, "one {} expected", T::KIND);
    found.remove(0)
}

/// `doc` as a `T`, refusing fields `T` does not have: the types ignore
/// unknown keys, so every key path of `doc` must survive a round trip.
fn known_fields<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut unknown = Vec::new();
    missing_keys(doc, &back, "", &mut unknown);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!("unknown field(s): {}", unknown.join(", ")))
    }
}

/// The key paths of `original` that `back` lacks. Only keys are compared:
/// quantities and int-or-strings may come back in another form.
fn missing_keys(original: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get(k) {
                    Some(bv) => missing_keys(v, bv, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            for (i, v) in o.iter().enumerate() {
                match b.get(i) {
                    Some(bv) => missing_keys(v, bv, &format!("{path}[{i}]"), out),
                    None => out.push(format!("{path}[{i}]")),
                }
            }
        }
        _ => {}
    }
}

/// The check of a document by its apiVersion and kind; unknown kinds fail.
fn check(doc: &Value) -> Result<(), String> {
    let kind = format!("{}/{}", doc["apiVersion"].as_str().unwrap_or("?"), doc["kind"].as_str().unwrap_or("?"));
    let (_, check) = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .ok_or_else(|| format!("`{kind}` is not a kind these manifests may hold (add it to KINDS)"))?;
    check(doc)
}

fn manifests_have_no_unknown_fields() {
    let docs = manifests();
    let mut failures = Vec::new();
    for d in &docs {
        let name = d.value["metadata"]["name"].as_str().unwrap_or("?");
        if let Err(e) = check(&d.value) {
            failures.push(format!("{}: {} `{name}`: {e}", d.file, d.value["kind"].as_str().unwrap_or("?")));
        }
    }
    assert!(failures.is_empty(), "invalid manifests:\n{}", failures.join("\n"));
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d.value["kind"].as_str()).collect();
    for k in ["StatefulSet", "Service", "ConfigMap", "Secret", "Namespace"] {
        assert!(kinds.contains(k), "no {k} in the manifests: {kinds:?}");
    }
}

fn the_unknown_field_check_refuses_what_it_should() {
    let sts = |extra: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: e}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n{extra}  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n      containers:\n        - name: c\n          image: i\n          ports: [{{containerPort: 8443}}]\n          livenessProbe: {{httpGet: {{port: 8443, path: /healthz, scheme: HTTPS}}}}\n          resources: {{requests: {{cpu: \"2\", memory: 4Gi}}}}\n"
        )
    };
    // (document, the error it must give: None = accepted)
    let cases: Vec<(String, Option<&str>)> = vec![
        (sts(""), None),
        (sts("  replicas: 1\n"), None),
        (sts("  replicaz: 1\n"), Some("unknown field(s): spec.replicaz")),
        (
            sts("  volumeClaimTemplates: [{metadata: {name: s}, spec: {resourcez: {}}}]\n"),
            Some("unknown field(s): spec.volumeClaimTemplates[0].spec.resourcez"),
        ),
        (
            sts("").replace("image: i", "image: i\n          privilegd: true"),
            Some("unknown field(s): spec.template.spec.containers[0].privilegd"),
        ),
        (sts("  replicas: one\n"), Some("invalid type")),
        (sts("").replace("apps/v1", "apps/v1beta2"), Some("is not a kind these manifests may hold")),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {token: t}\n".into(), None),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstrinData: {token: t}\n".into(), Some("strinData")),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, targetPrt: 2}]}\n".into(),
            Some("spec.ports[0].targetPrt"),
        ),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n".into(), Some("`v1/Pod` is not a kind")),
    ];
    for (text, want) in cases {
        let docs = documents(&text).unwrap();
        let got = check(&docs[0]);
        match (want, got) {
            (None, Ok(())) => {}
            (Some(w), Err(e)) => assert!(e.contains(w), "want an error with `{w}`, got `{e}` for\n{text}"),
            (want, got) => panic!("want {want:?}, got {got:?} for\n{text}"),
        }
    }
}

/// The engine's container.
fn engine(docs: &[Doc]) -> (StatefulSet, Container) {
    let sts: StatefulSet = one(docs);
    let spec = sts.spec.as_ref().unwrap().template.spec.as_ref().expect("a pod spec");
    let containers: Vec<&Container> =
        spec.containers.iter().filter(|c| c.command.as_ref().is_some_and(|c| c.starts_with(&serve()))).collect();
    assert_eq!(containers.len(), 1, "one container runs `tanto engine serve`: {:?}", spec.containers);
    let c = containers[0].clone();
    (sts, c)
}

fn serve() -> [String; 3] {
    ["tanto".into(), "engine".into(), "serve".into()]
}

/// The value of flag `name` in `command` (`--name VALUE` or `--name=VALUE`), each time it is given.
fn flag(command: &[String], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in command.iter().enumerate() {
        if a == name {
            out.push(command.get(i + 1).unwrap_or_else(|| panic!("{name} without a value")).clone());
        } else if let Some(v) = a.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            out.push(v.to_string());
        }
    }
    out
}

/// A container port by number or name.
fn port_of(c: &Container, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port named `{name}`"))
                .container_port
        }
    }
}

fn env(c: &Container, name: &str) -> Option<String> {
    c.env.iter().flatten().find(|e| e.name == name).and_then(|e| e.value.clone())
}

fn the_engine_serves_tls_and_is_probed_there() {
    let docs = manifests();
    let (sts, c) = engine(&docs);
    let command = c.command.clone().unwrap();
    let listen = flag(&command, "--listen");
    let tcp: Vec<&String> = listen.iter().filter(|l| l.starts_with("tcp://")).collect();
    assert_eq!(tcp.len(), 1, "one `--listen tcp://HOST:PORT`: {command:?}");
    let port: i32 = tcp[0].rsplit(':').next().unwrap().parse().unwrap_or_else(|e| panic!("{}: {e}", tcp[0]));
    for f in ["--tls-cert", "--tls-key", "--token-file"] {
        assert_eq!(flag(&command, f).len(), 1, "{f} once (TCP needs TLS; the token guards it): {command:?}");
    }
    assert!(
        c.ports.iter().flatten().any(|p| p.container_port == port),
        "the listen port {port} is a container port: {:?}",
        c.ports
    );
    // The Service reaches the engine's pods on that port.
    let svc: Service = one(&docs);
    let spec = svc.spec.as_ref().unwrap();
    assert!(matches!(spec.type_.as_deref(), None | Some("ClusterIP")), "{:?}", spec.type_);
    assert_eq!(sts.spec.as_ref().unwrap().service_name.as_deref(), svc.metadata.name.as_deref());
    let labels = sts.spec.as_ref().unwrap().template.metadata.as_ref().unwrap().labels.clone().unwrap();
    for (k, v) in spec.selector.as_ref().expect("a selector") {
        assert_eq!(labels.get(k), Some(v), "the Service's selector {k}={v} selects the engine's pods");
    }
    let ports = spec.ports.as_ref().unwrap();
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0].port, 8443);
    let target = ports[0].target_port.clone().unwrap_or(IntOrString::Int(ports[0].port));
    assert_eq!(port_of(&c, &target), port, "the Service targets the listen port");
    // (probe, required): each is an HTTPS GET of /healthz on that port.
    let probes = [
        ("liveness", &c.liveness_probe, true),
        ("readiness", &c.readiness_probe, true),
        ("startup", &c.startup_probe, false),
    ];
    for (what, probe, required) in probes {
        let Some(probe) = probe else {
            assert!(!required, "no {what} probe");
            continue;
        };
        let get = probe.http_get.as_ref().unwrap_or_else(|| panic!("the {what} probe is an httpGet"));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "{what} probe");
        assert_eq!(get.path.as_deref(), Some("/healthz"), "{what} probe");
        assert_eq!(port_of(&c, &get.port), port, "the {what} probe's port");
    }
}

fn the_engine_keeps_its_state_and_privileges() {
    let docs = manifests();
    let (sts, c) = engine(&docs);
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1), "one engine per cache volume");
    let pod = spec.template.spec.as_ref().unwrap();
    let state = env(&c, "TANTO_STATE_DIR").expect("TANTO_STATE_DIR set");
    let mount = c.volume_mounts.iter().flatten().find(|m| m.mount_path == state).expect("a mount at TANTO_STATE_DIR");
    let templates = spec.volume_claim_templates.as_ref().expect("volumeClaimTemplates");
    let claim = templates
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(mount.name.as_str()))
        .unwrap_or_else(|| panic!("the state dir's volume `{}` is a claim template", mount.name));
    assert!(
        !pod.volumes.iter().flatten().any(|v| v.name == mount.name),
        "a pod volume shadows the claim `{}`",
        mount.name
    );
    let claim_spec = claim.spec.as_ref().unwrap();
    assert_eq!(claim_spec.access_modes.as_deref(), Some(&["ReadWriteOnce".to_string()][..]));
    assert!(claim_spec.resources.as_ref().and_then(|r| r.requests.as_ref()).is_some_and(|r| r.contains_key("storage")));
    // the run dir: scratch space
    if let Some(run) = env(&c, "TANTO_RUN_DIR") {
        let m = c.volume_mounts.iter().flatten().find(|m| m.mount_path == run).expect("a mount at TANTO_RUN_DIR");
        let v = pod.volumes.iter().flatten().find(|v| v.name == m.name).expect("the run dir's volume");
        assert!(v.empty_dir.is_some(), "the run dir is an emptyDir: {v:?}");
    }
    let sc = c.security_context.as_ref().expect("a securityContext");
    assert_eq!(sc.privileged, Some(true), "the engine runs containers: privileged");
    assert!(matches!(sc.run_as_user, None | Some(0)), "as root: {:?}", sc.run_as_user);
    assert_ne!(sc.run_as_non_root, Some(true));
    let resources = c.resources.as_ref().expect("resources");
    let requests = resources.requests.as_ref().expect("resources.requests");
    for r in ["cpu", "memory"] {
        assert!(requests.contains_key(r), "resources.requests.{r}");
    }
    assert!(resources.limits.as_ref().is_some_and(|l| l.contains_key("memory")), "a memory limit");
    let grace = pod.termination_grace_period_seconds.unwrap_or(30);
    assert!(grace >= 120, "terminationGracePeriodSeconds {grace}: too short for pushes to the shared cache to finish");
}

/// The Secret or ConfigMap key behind file `path` of the container, as
/// (volume, key) from its mounts and the volume's items.
fn file_source<'a>(pod_volumes: &'a [Volume], c: &Container, path: &str) -> (&'a Volume, String) {
    let (m, rel) = c
        .volume_mounts
        .iter()
        .flatten()
        .find_map(|m| Some((m, path.strip_prefix(&m.mount_path)?.strip_prefix('/')?)))
        .unwrap_or_else(|| panic!("`{path}` is in no volume mount"));
    let v = pod_volumes.iter().find(|v| v.name == m.name).unwrap_or_else(|| panic!("no volume `{}`", m.name));
    let items =
        v.secret.as_ref().and_then(|s| s.items.clone()).or_else(|| v.config_map.as_ref().and_then(|s| s.items.clone()));
    let key = match items {
        Some(items) => items
            .iter()
            .find(|i| i.path == rel)
            .unwrap_or_else(|| panic!("`{path}`: no item of `{}`", v.name))
            .key
            .clone(),
        None => rel.to_string(),
    };
    (v, key)
}

fn mounted_files_exist_in_secrets_and_config_maps() {
    let docs = manifests();
    let (sts, c) = engine(&docs);
    let volumes = sts.spec.unwrap().template.spec.unwrap().volumes.unwrap_or_default();
    let secrets: Vec<Secret> = all(&docs);
    let maps: Vec<ConfigMap> = all(&docs);
    let secret_keys = |name: &str| -> BTreeSet<String> {
        let s = secrets.iter().find(|s| s.metadata.name.as_deref() == Some(name)).unwrap_or_else(|| {
            panic!("the Secret `{name}` is mounted but not in the manifests (secrets.example.yaml)")
        });
        s.data
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .chain(s.string_data.iter().flatten().map(|(k, _)| k.clone()))
            .collect()
    };
    let map_keys = |name: &str| -> BTreeSet<String> {
        let m = maps
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("the ConfigMap `{name}` is mounted but not in the manifests"));
        m.data.iter().flatten().map(|(k, _)| k.clone()).collect()
    };
    // every Secret and ConfigMap a volume names exists, with the keys its items name
    for v in &volumes {
        if let Some(s) = &v.secret {
            let keys = secret_keys(s.secret_name.as_deref().expect("secretName"));
            for i in s.items.iter().flatten() {
                assert!(keys.contains(&i.key), "volume `{}`: the Secret has no key `{}`", v.name, i.key);
            }
        }
        if let Some(m) = &v.config_map {
            let keys = map_keys(&m.name);
            for i in m.items.iter().flatten() {
                assert!(keys.contains(&i.key), "volume `{}`: the ConfigMap has no key `{}`", v.name, i.key);
            }
        }
    }
    // (file the engine reads, where it is named, the secret type it must come from: None = a ConfigMap)
    let command = c.command.clone().unwrap();
    let arg = |f: &str| flag(&command, f).pop().unwrap_or_else(|| panic!("no {f}"));
    let mut files = vec![
        (arg("--tls-cert"), "--tls-cert", Some("kubernetes.io/tls")),
        (arg("--tls-key"), "--tls-key", Some("kubernetes.io/tls")),
        (arg("--token-file"), "--token-file", Some("Opaque")),
        (env(&c, "TANTO_CONFIG").expect("TANTO_CONFIG"), "TANTO_CONFIG", None),
    ];
    if let Some(d) = env(&c, "DOCKER_CONFIG") {
        files.push((format!("{d}/config.json"), "DOCKER_CONFIG", Some("kubernetes.io/dockerconfigjson")));
    }
    for (path, named, secret_type) in files {
        let (v, key) = file_source(&volumes, &c, &path);
        match (secret_type, &v.secret, &v.config_map) {
            (Some(t), Some(s), _) => {
                let name = s.secret_name.as_deref().unwrap();
                assert!(secret_keys(name).contains(&key), "{named} `{path}`: the Secret `{name}` has no key `{key}`");
                let secret = secrets.iter().find(|s| s.metadata.name.as_deref() == Some(name)).unwrap();
                assert_eq!(secret.type_.as_deref().unwrap_or("Opaque"), t, "the Secret `{name}`'s type");
            }
            (None, _, Some(m)) => {
                assert!(
                    map_keys(&m.name).contains(&key),
                    "{named} `{path}`: the ConfigMap `{}` has no key `{key}`",
                    m.name
                )
            }
            _ => panic!("{named} `{path}` comes from volume {v:?}"),
        }
    }
}

fn the_engine_config_is_one_the_engine_accepts() {
    let docs = manifests();
    let (_, c) = engine(&docs);
    let path = env(&c, "TANTO_CONFIG").expect("TANTO_CONFIG");
    let key = Path::new(&path).file_name().unwrap().to_str().unwrap();
    let map: ConfigMap = one(&docs);
    let text = map.data.as_ref().and_then(|d| d.get(key)).unwrap_or_else(|| panic!("no `{key}` in the ConfigMap"));
    let config: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"));
    // [cache]: the keys remote_cache.rs accepts, a repository (no tag or digest)
    let cache = config.get("cache").and_then(|c| c.as_table()).expect("a [cache] table");
    let registry = cache.get("registry").and_then(|r| r.as_str()).expect("[cache] registry = \"host/repo\"");
    let last = registry.rsplit('/').next().unwrap();
    assert!(registry.contains('/') && !last.contains(':') && !last.contains('@'), "a repository: {registry}");
    for (k, v) in cache {
        match k.as_str() {
            "registry" => {}
            "push" => assert!(v.is_bool(), "[cache] push is true or false"),
            other => panic!("[cache] {other}: not a setting"),
        }
    }
    // [gc]: the keys cache.rs accepts, as sizes it parses
    for (k, v) in config.get("gc").and_then(|g| g.as_table()).expect("a [gc] table") {
        assert!(["reservedSpace", "maxUsedSpace", "minFreeSpace", "targetSpace"].contains(&k.as_str()), "[gc] {k}");
        match v {
            toml::Value::Integer(n) => assert!(*n >= 0, "[gc] {k}"),
            toml::Value::String(s) => {
                tanto_engine::cache::DiskSpace::parse(s).unwrap_or_else(|e| panic!("[gc] {k}: {e}"));
            }
            other => panic!("[gc] {k} = {other}"),
        }
    }
}

fn the_kustomization_lists_every_resource() {
    let text = std::fs::read_to_string(dir().join("kustomization.yaml")).unwrap();
    let k: Value = documents(&text).unwrap().pop().expect("a kustomization");
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k["kind"], "Kustomization");
    let object = k.as_object().unwrap();
    let unknown: Vec<&String> =
        object.keys().filter(|key| !["apiVersion", "kind", "namespace", "resources"].contains(&key.as_str())).collect();
    assert!(unknown.is_empty(), "kustomization.yaml: fields this test does not check: {unknown:?}");
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    // the secret skeletons stay out: `kubectl apply -k` must not overwrite real secrets
    let want: BTreeSet<String> = files.iter().filter(|f| *f != "secrets.example.yaml").cloned().collect();
    assert!(files.contains("secrets.example.yaml"));
    assert_eq!(listed, want, "kustomization.yaml's resources: every manifest but secrets.example.yaml");
    // one namespace: the kustomization's, the Namespace's and the secret skeletons'
    let namespace = k["namespace"].as_str().expect("namespace");
    let docs = manifests();
    assert_eq!(one::<Namespace>(&docs).metadata.name.as_deref(), Some(namespace));
    for s in all::<Secret>(&docs) {
        assert_eq!(s.metadata.namespace.as_deref(), Some(namespace), "the Secret {:?}", s.metadata.name);
    }
}
