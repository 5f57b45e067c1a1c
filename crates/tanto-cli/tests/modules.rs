//! Python modules for real: `tanto init` (the `tanto` binary) writes Dagger's
//! template with `sdk/` and `uv.lock` from the runtime container, and the
//! runtime container `tanto_module::python::runtime` describes, built by an
//! in-process engine, imports the module — for a module `init` made (the
//! `uv sync` path) and for the conformance suite's `conf` module (no lock:
//! the `uv pip install` path). The base image is the conformance suite's
//! stand-in for `python:3.14-slim` in a local registry mirroring docker.io;
//! uv and dagger-io's dependencies come from PyPI through tanto's NAT. The
//! times of a cold build, a warm one (a new engine on the same state) and one
//! after a change to the module's code are printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Map, Value};
use tanto_engine::{Engine, EngineOptions};
use tanto_module::python::runtime::{self, Purpose};

tanto_testkit::tests! {
    // test                                                   prerequisites                                                 kind
    init_writes_the_template_and_its_runtime_imports_it:      [Root, Registry, Busybox, OciRuntime, Iptables, PythonImage, Pypi]  async;
    a_module_without_a_lock_gets_a_runtime_that_imports_it:   [Root, Registry, Busybox, OciRuntime, Iptables, PythonImage, Pypi]  async;
    install_then_call_reaches_the_dependency_and_develop_regenerates: [Root, Registry, Busybox, OciRuntime, Iptables, PythonImage, Pypi]  async;
    install_and_develop_refuse_what_dagger_refuses:           []                                                            sync;
    install_into_a_module_without_sdk_writes_dagger_json:     []                                                            sync;
}

struct Fixture {
    _registry: tanto_testkit::Registry,
    config: PathBuf,
    state: PathBuf,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
    let addr = registry.address();
    tanto_testkit::publish_busybox(&addr).expect("pushing busybox");
    let t = Instant::now();
    tanto_testkit::python_image::publish_python_image(&addr).expect("pushing the python image");
    eprintln!("python image pushed in {:.1}s", t.elapsed().as_secs_f64());
    let config = dir.path().join("engine.toml");
    tanto_testkit::write_engine_config(&config, &addr).expect("writing the engine config");
    let state = dir.path().join("state");
    Fixture { _registry: registry, config, state, dir }
}

async fn engine(fx: &Fixture) -> std::sync::Arc<Engine> {
    let mut opts = EngineOptions::from_env(Some(fx.dir.path().to_path_buf())).unwrap();
    opts.state_dir = fx.state.clone();
    opts.config = Some(fx.config.clone());
    opts.quiet = true;
    Engine::start(opts).await.expect("starting the engine")
}

async fn data(e: &Engine, query: &str, variables: Map<String, Value>) -> Value {
    let got = e
        .execute(tanto_gql::Request { query: query.to_string(), variables: Some(variables), operation_name: None })
        .await;
    assert!(got.get("errors").is_none(), "{query}\n{}", serde_json::to_string_pretty(&got).unwrap());
    got["data"].clone()
}

/// Builds the runtime of the module whose project is `project` (its own
/// context: no git around it) in a fresh engine; returns the container's ID
/// and the seconds it took, with the engine (IDs live as long as it does).
async fn build_runtime(fx: &Fixture, project: &Path, name: &str) -> (std::sync::Arc<Engine>, String, f64) {
    let e = engine(fx).await;
    let t = Instant::now();
    let input = runtime::Input {
        module_name: name.into(),
        source_subpath: ".".into(),
        pyproject: std::fs::read_to_string(project.join("pyproject.toml")).ok(),
        python_version_file: None,
        has_uv_lock: project.join("uv.lock").exists(),
        extra_bindings: None,
        env: Vec::new(),
        purpose: Purpose::Runtime,
    };
    let q = format!("{{ host {{ directory(path: {}) {{ id }} }} }}", json!(project.to_string_lossy()));
    let context = data(&e, &q, Map::new()).await["host"]["directory"]["id"].as_str().unwrap().to_string();
    let pre = runtime::prelude(&input);
    let ids = runtime::PreludeIds::from_data(&input, &data(&e, &pre.query, pre.variables).await).unwrap();
    let doc = runtime::document(&input, &ids).unwrap();
    let mut vars = doc.variables;
    if doc.lock_files.is_some() {
        vars.insert("lock".into(), context.clone().into());
    }
    vars.insert("context".into(), context.into());
    let got = data(&e, &doc.query, vars).await;
    let id = runtime::container_id(&got).expect("a container id").to_string();
    // the container is built when something needs it: its last step's output
    let q = "query($c: ID!) { loadContainerFromID(id: $c) { sync } }";
    data(&e, q, Map::from_iter([("c".to_string(), json!(id))])).await;
    (e, id, t.elapsed().as_secs_f64())
}

/// Runs `python -c CODE` in the runtime (its entrypoint left out); stdout.
async fn python(e: &Engine, id: &str, code: &str) -> String {
    let q = "query($c: ID!, $code: String!) { loadContainerFromID(id: $c) { \
             withExec(args: [\"python\", \"-c\", $code], useEntrypoint: false) { stdout } } }";
    let vars = Map::from_iter([("c".to_string(), json!(id)), ("code".to_string(), json!(code))]);
    data(e, q, vars).await["loadContainerFromID"]["withExec"]["stdout"].as_str().unwrap().to_string()
}

const IMPORT_CHECK: &str = "import os, dagger, {pkg}.main as m; \
    print(dagger.__file__); print(m.{main}.__name__); \
    print(os.environ['DAGGER_MODULE'], os.environ['DAGGER_DEFAULT_PYTHON_PACKAGE'], os.environ['DAGGER_MAIN_OBJECT'])";

/// Checks the runtime imports the vendored SDK and the module, then times a
/// warm rebuild (new engine, same state) and one after a change to main.py.
async fn check_runtime(fx: &Fixture, project: &Path, name: &str, pkg: &str, main: &str) {
    let (e, id, cold) = build_runtime(fx, project, name).await;
    let code = IMPORT_CHECK.replace("{pkg}", pkg).replace("{main}", main);
    let out = python(&e, &id, &code).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // the SDK is the vendored one, next to the module's code
    assert_eq!(lines[0], format!("/src/{name}/sdk/src/dagger/__init__.py"));
    assert_eq!(lines[1], main);
    assert_eq!(lines[2], format!("{name} {pkg} {main}"));
    // the entrypoint is Dagger's runtime.py
    let q = "query($c: ID!) { loadContainerFromID(id: $c) { entrypoint file(path: \"/runtime\") { contents } } }";
    let got = data(&e, q, Map::from_iter([("c".to_string(), json!(id))])).await;
    assert_eq!(got["loadContainerFromID"]["entrypoint"], json!(["/runtime"]));
    assert_eq!(got["loadContainerFromID"]["file"]["contents"], tanto_module::python::template::RUNTIME_PY);
    e.shutdown().await;

    let (e, warm_id, warm) = build_runtime(fx, project, name).await;
    assert_eq!(warm_id, id, "the same module gave another runtime");
    e.shutdown().await;

    let main_py = project.join(format!("src/{pkg}/main.py"));
    let mut text = std::fs::read_to_string(&main_py).unwrap();
    text.push_str("\nCHANGED = 'yes'\n");
    std::fs::write(&main_py, text).unwrap();
    let (e, changed_id, changed) = build_runtime(fx, project, name).await;
    assert_ne!(changed_id, id);
    let out = python(&e, &changed_id, &format!("import {pkg}.main as m; print(m.CHANGED)")).await;
    assert_eq!(out, "yes\n");
    e.shutdown().await;
    eprintln!("runtime of `{name}`: cold {cold:.1}s, warm {warm:.2}s, after a change to main.py {changed:.1}s");
}

fn tanto(fx: &Fixture, args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tanto"))
        .args(args)
        .current_dir(cwd)
        .env("TANTO_CONFIG", &fx.config)
        .env("TANTO_STATE_DIR", &fx.state)
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .output()
        .expect("running tanto")
}

async fn init_writes_the_template_and_its_runtime_imports_it() {
    let fx = fixture();
    let base = fx.dir.path().join("work");
    std::fs::create_dir(&base).unwrap();
    let target = base.join("hello");
    let t = Instant::now();
    let out = tanto(&fx, &["init", "--sdk=python", "--name=hello", target.to_str().unwrap()], &base);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "init failed:\n{stderr}");
    eprintln!("tanto init: {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Initialized module hello in {}\n", target.display()));

    let read = |p: &str| std::fs::read_to_string(target.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(target.join(p)).unwrap().permissions().mode() & 0o777
    };
    // (file, its contents, its mode)
    let files = [
        ("dagger.json", "{\n  \"name\": \"hello\",\n  \"engineVersion\": \"v0.21.11\",\n  \"sdk\": {\n    \"source\": \"python\"\n  }\n}\n".to_string(), 0o644),
        ("pyproject.toml", tanto_module::python::template::pyproject("hello", None), 0o644),
        ("src/hello/__init__.py", tanto_module::python::template::init_py("hello"), 0o644),
        ("src/hello/main.py", tanto_module::python::template::main_py("hello"), 0o644),
        (".gitignore", "/.venv\n/**/__pycache__\n/sdk\n".to_string(), 0o600),
        (".gitattributes", "/sdk/** linguist-generated\n".to_string(), 0o600),
        ("LICENSE", tanto_module::python::template::LICENSE_APACHE_2_0.to_string(), 0o600),
    ];
    for (path, contents, want_mode) in &files {
        assert_eq!(&read(path), contents, "{path}");
        assert_eq!(mode(path), *want_mode, "{path}");
    }
    assert!(read("pyproject.toml").ends_with("[tool.uv.sources]\ndagger-io = { path = \"sdk\", editable = true }\n"));
    // the vendored SDK (no tests, no docs; the codegen member uv needs) and the lock
    assert!(read("sdk/pyproject.toml").contains("name = \"dagger-io\"\nversion = \"0.21.11\""));
    assert!(target.join("sdk/src/dagger/client/gen.py").is_file());
    assert!(target.join("sdk/codegen/pyproject.toml").is_file());
    assert!(!target.join("sdk/tests").exists() && !target.join("sdk/docs").exists());
    let lock = read("uv.lock");
    assert!(lock.contains("name = \"dagger-io\"\nversion = \"0.21.11\"\nsource = { editable = \"sdk\" }"), "{lock}");
    assert!(lock.contains("name = \"hello\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }"), "{lock}");
    // nothing else
    let mut entries: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    assert_eq!(
        entries,
        [".gitattributes", ".gitignore", "LICENSE", "dagger.json", "pyproject.toml", "sdk", "src", "uv.lock"]
    );

    // a second init refuses; an unknown SDK is refused
    let out = tanto(&fx, &["init", "--sdk=python", target.to_str().unwrap()], &base);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("module already exists"), "{out:?}");
    let out = tanto(&fx, &["init", "--sdk=go", "--name=x", "other"], &base);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sdk `go` is not supported by tanto yet; supported: python"),
        "{out:?}"
    );
    assert!(!base.join("other").exists());

    check_runtime(&fx, &target, "hello", "hello", "Hello").await;
}

async fn a_module_without_a_lock_gets_a_runtime_that_imports_it() {
    let fx = fixture();
    let src = tanto_testkit::prereq::workspace().join("../shared/conformance/modules/testdata/conf");
    let project = fx.dir.path().join("conf");
    let status = Command::new("cp").arg("-r").arg(&src).arg(&project).status().unwrap();
    assert!(status.success());
    assert!(!project.join("uv.lock").exists());
    check_runtime(&fx, &project, "conf", "conf", "Conf").await;
}

const GREETER_MAIN: &str = r#"from dagger import function, object_type


@object_type
class Greeter:
    @function
    def hello(self, name: str) -> str:
        """Greets NAME."""
        return f"Hello from greeter, {name}!"
"#;

const APP_MAIN: &str = r#"from dagger import dag, function, object_type


@object_type
class App:
    @function
    async def relay(self, name: str) -> str:
        """Asks the greeter dependency to greet NAME."""
        return "app got: " + await dag.greeter().hello(name)
"#;

/// A directory made a git repository (the context of the modules in it).
fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("git").args(["init", "-q"]).arg(dir).status().map(|s| s.success()).unwrap_or(false);
    if !ok {
        std::fs::create_dir_all(dir.join(".git")).unwrap();
    }
}

async fn install_then_call_reaches_the_dependency_and_develop_regenerates() {
    let fx = fixture();
    let ws = fx.dir.path().join("ws");
    git_repo(&ws);
    for name in ["greeter", "app"] {
        let out = tanto(&fx, &["init", "--sdk=python", &format!("--name={name}"), name], &ws);
        assert!(out.status.success(), "init {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let app = ws.join("app");
    std::fs::write(ws.join("greeter/src/greeter/main.py"), GREETER_MAIN).unwrap();
    std::fs::write(app.join("src/app/main.py"), APP_MAIN).unwrap();
    let gen_py = app.join("sdk/src/dagger/client/gen.py");
    const BINDINGS: &str = "# Bindings of the dependency modules (greeter), written by tanto.";
    assert!(!std::fs::read_to_string(&gen_py).unwrap().contains(BINDINGS));

    let t = Instant::now();
    let out = tanto(&fx, &["install", "../greeter"], &app);
    assert!(out.status.success(), "install: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("tanto install: {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Installed module dependency \"greeter\"\n");
    let config = std::fs::read_to_string(app.join("dagger.json")).unwrap();
    assert_eq!(
        config,
        "{\n  \"name\": \"app\",\n  \"engineVersion\": \"v0.21.11\",\n  \"sdk\": {\n    \"source\": \"python\"\n  },\n  \
         \"dependencies\": [\n    {\n      \"name\": \"greeter\",\n      \"source\": \"../greeter\"\n    }\n  ]\n}\n"
    );
    // the dependency's bindings are in the vendored SDK, for the IDE as for the runtime
    let gen = std::fs::read_to_string(&gen_py).unwrap();
    assert!(gen.contains(BINDINGS), "no bindings in gen.py");
    assert!(gen.contains("class Greeter("), "no Greeter class in gen.py");
    assert!(app.join("uv.lock").is_file());

    let out = tanto(&fx, &["call", "relay", "--name=Ada"], &app);
    assert!(out.status.success(), "call: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "app got: Hello from greeter, Ada!");

    // develop brings back a deleted sdk/, bindings included; the user's files stay
    std::fs::remove_dir_all(app.join("sdk")).unwrap();
    std::fs::remove_file(app.join(".gitattributes")).unwrap();
    let t = Instant::now();
    let out = tanto(&fx, &["develop"], &app);
    assert!(out.status.success(), "develop: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("tanto develop: {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(std::fs::read_to_string(&gen_py).unwrap(), gen);
    assert_eq!(std::fs::read_to_string(app.join("src/app/main.py")).unwrap(), APP_MAIN);
    assert_eq!(std::fs::read_to_string(app.join("dagger.json")).unwrap(), config);
    assert_eq!(std::fs::read_to_string(app.join(".gitattributes")).unwrap(), "/sdk/** linguist-generated\n");
    assert!(app.join("sdk/pyproject.toml").is_file());

    // the dependent's name for a dependency (its entry's `name`) is the one
    // its code calls it by: `dag.salute()`, the SDK inside still `Greeter`
    let renamed = config.replace("\"name\": \"greeter\"", "\"name\": \"salute\"");
    std::fs::write(app.join("dagger.json"), &renamed).unwrap();
    std::fs::write(app.join("src/app/main.py"), APP_MAIN.replace("dag.greeter()", "dag.salute()")).unwrap();
    let out = tanto(&fx, &["develop"], &app);
    assert!(out.status.success(), "develop: {}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&gen_py).unwrap().contains("class Salute("), "no Salute class in gen.py");
    let out = tanto(&fx, &["call", "relay", "--name=Bo"], &app);
    assert!(out.status.success(), "call: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "app got: Hello from greeter, Bo!");
}

/// Writes `entries` under `base`: `dir/` a directory, `name=text` a file.
fn write_tree(base: &Path, entries: &[&str]) {
    for e in entries {
        match e.split_once('=') {
            Some((path, text)) => {
                let p = base.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            None => std::fs::create_dir_all(base.join(e)).unwrap(),
        }
    }
}

/// `tanto ARGS` in `cwd`, with no engine configuration (these refuse before one starts).
fn tanto_bare(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tanto"))
        .args(args)
        .current_dir(cwd)
        .env("TANTO_STATE_DIR", cwd.join(".no-state"))
        .output()
        .expect("running tanto")
}

const APP_JSON: &str =
    "app/dagger.json={\"name\":\"app\",\"engineVersion\":\"v0.21.8\",\"sdk\":{\"source\":\"python\"}}";
const GREETER_JSON: &str = "greeter/dagger.json={\"name\":\"greeter\",\"sdk\":\"python\"}";

fn install_and_develop_refuse_what_dagger_refuses() {
    let app_with_dep = "app/dagger.json={\"name\":\"app\",\"sdk\":\"python\",\"dependencies\":[{\"name\":\"greeter\",\"source\":\"../greeter\"}]}";
    let other_greeter = "other/dagger.json={\"name\":\"greeter\",\"sdk\":\"python\"}";
    // (tree, cwd, args, the error: `{}` is the temp dir)
    let cases: &[(&[&str], &str, &[&str], &str)] = &[
        // no git: the context is the module's own directory
        (&[APP_JSON, GREETER_JSON], "app", &["install", "../greeter"],
         "tanto: failed to install dependency: local module dependency context directory \"{}/greeter\" is not in parent context directory \"{}/app\""),
        // another repository
        (&["ws/.git/", "ws/app/dagger.json={\"name\":\"app\"}", "other/.git/", "other/greeter/dagger.json={\"name\":\"greeter\"}"], "ws/app", &["install", "../../other/greeter"],
         "tanto: failed to install dependency: local module dependency context directory \"{}/other\" is not in parent context directory \"{}/ws\""),
        (&[".git/", APP_JSON, "lib/"], "app", &["install", "../lib"], "tanto: no dagger.json in `{}/lib`: a dependency must be a module"),
        (&[".git/", APP_JSON], "app", &["install", "../nope"], "tanto: local path \"../nope\" does not exist"),
        (&[".git/", APP_JSON], "app", &["install", "."], "tanto: the module at \"{}/app\" cannot be a dependency of itself"),
        (&[".git/", APP_JSON], ".", &["install", "-m", "app", "./app"], "tanto: the module at \"{}/app\" cannot be a dependency of itself"),
        (&[".git/", APP_JSON], "app", &["install", "github.com/acme/lib@v1.0"], "tanto: `github.com/acme/lib@v1.0` is a git module: tanto does not install git dependencies yet"),
        (&[".git/", app_with_dep, GREETER_JSON, other_greeter], "app", &["install", "../other"],
         "tanto: failed to install dependency: duplicate dependency name \"greeter\""),
        (&["x/"], "x", &["install", "../y"], "tanto: no dagger.json in `{}/x` or any parent directory"),
        (&["x/"], "x", &["develop"], "tanto: no dagger.json in `{}/x` or any parent directory"),
        (&["app/dagger.json={\"name\":\"app\"}"], "app", &["develop"], "tanto: tanto develop on a module without an SDK requires either --sdk or --source"),
        (&["app/dagger.json={\"name\":\"app\"}"], "app", &["develop", "--sdk=go"], "tanto: sdk `go` is not supported by tanto yet; supported: python"),
        (&[APP_JSON], "app", &["develop", "--source=src"], "tanto: cannot update module source path that has already been set to \".\""),
        (&[APP_JSON], "app", &["develop", "--source=.."], "tanto: --source `..` must be inside the module's directory"),
    ];
    for (entries, cwd, args, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        write_tree(&base, entries);
        let before: Vec<_> = entries
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(p, _)| std::fs::read(base.join(p)).unwrap())
            .collect();
        let out = tanto_bare(args, &base.join(cwd));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = want.replace("{}", &base.to_string_lossy());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with(&want), "{args:?}:\n  got  {stderr}\n  want {want}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let after: Vec<_> = entries
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(p, _)| std::fs::read(base.join(p)).unwrap())
            .collect();
        assert_eq!(before, after, "{args:?} changed a file");
    }
}

fn install_into_a_module_without_sdk_writes_dagger_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    write_tree(
        &base,
        &[
            ".git/",
            "app/dagger.json={\"name\":\"app\",\"engineVersion\":\"v0.20.0\",\"dependencies\":[{\"name\":\"zed\",\"source\":\"../zed\"}]}",
            GREETER_JSON,
            "zed/dagger.json={\"name\":\"zed\"}",
            "lib/m/dagger.json={\"name\":\"m\"}",
        ],
    );
    let app = base.join("app");
    // (args, stdout, dependencies after)
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["install", "../greeter"],
            "Installed module dependency \"greeter\"\n",
            r#"[{"name":"greeter","source":"../greeter"},{"name":"zed","source":"../zed"}]"#,
        ),
        // the same module again, under another name: replaced
        (
            &["install", "-n", "hi", "../greeter/"],
            "Installed module dependency \"hi\"\n",
            r#"[{"name":"hi","source":"../greeter"},{"name":"zed","source":"../zed"}]"#,
        ),
        (
            &["use", "--name=a", "../lib/m"],
            "Installed module dependency \"a\"\n",
            r#"[{"name":"a","source":"../lib/m"},{"name":"hi","source":"../greeter"},{"name":"zed","source":"../zed"}]"#,
        ),
    ];
    for (args, stdout, deps) in cases {
        let out = tanto_bare(args, &app);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), *stdout);
        let config: Value = serde_json::from_slice(&std::fs::read(app.join("dagger.json")).unwrap()).unwrap();
        assert_eq!(config["dependencies"], serde_json::from_str::<Value>(deps).unwrap(), "{args:?}");
        assert_eq!(config["engineVersion"], "v0.21.11");
    }
    // written as Dagger writes it
    let text = std::fs::read_to_string(app.join("dagger.json")).unwrap();
    assert!(text.starts_with("{\n  \"name\": \"app\",\n  \"engineVersion\": \"v0.21.11\",\n  \"dependencies\": [\n    {\n      \"name\": \"a\",\n"), "{text}");
    // develop --source on a module without an SDK sets the source only
    let out = tanto_bare(&["develop", "--source=ci"], &app);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: Value = serde_json::from_slice(&std::fs::read(app.join("dagger.json")).unwrap()).unwrap();
    assert_eq!(config["source"], "ci");
    assert!(!app.join("ci").exists());
}
