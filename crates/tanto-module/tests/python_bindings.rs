//! The Python bindings of dependency modules, run for real: `python_bindings.py` appends
//! them to a copy of dagger-io 0.21.11's `gen.py`, imports `dagger` from the copy, and runs
//! each case's calls through the SDK against a stand-in session (no server) whose schema is
//! the core SDL plus what the engine serves for the modules (`tests/data/*.graphqls`) and
//! which executes what the SDK sends with graphql-core. Each case checks the queries sent,
//! word for word, and the value or error the SDK gave back. The Python is the one
//! `tanto_testkit::prereq::python_with` finds (`TANTO_PYTHON`, else setup.sh's
//! `target/venv`, else `python3`); skipped when none has dagger-io, failed under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tanto_module::python::{bindings, py_name};
use tanto_module::types::ModuleTypes;

tanto_testkit::tests! {
    // test                                                      prerequisites               kind
    dependency_calls_send_the_queries_the_engine_serves:        [PythonSdk, PythonGraphql]  sync;
    python_names_are_the_codegens:                               [PythonSdk, PythonGraphql]  sync;
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn module(name: &str) -> ModuleTypes {
    serde_json::from_str(&read(&crate_dir().join(format!("tests/data/{name}.types.json")))).unwrap()
}

/// Runs `python_bindings.py` over `cases` and `names`; its report.
fn run(cases: &[&str], names: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("work");
    std::fs::create_dir(&workdir).unwrap();
    let data = crate_dir().join("tests/data");
    let input = json!({
        "workdir": workdir,
        "bindings": bindings(&[module("greeter"), module("my-mod")]),
        "sdl": [
            read(&crate_dir().join("../tanto-api/schema/dagger-v0.21.graphqls")),
            read(&data.join("greeter.graphqls")),
            read(&data.join("my-mod.graphqls")),
        ],
        "cases": cases,
        "names": names,
    });
    let input_path = dir.path().join("input.json");
    std::fs::write(&input_path, input.to_string()).unwrap();
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let out = Command::new(python)
        .arg(crate_dir().join("tests/python_bindings.py"))
        .arg(&input_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running python_bindings.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python_bindings.py failed:\n{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// What a case gives back.
enum Want {
    /// This value (JSON as the script encodes it).
    Value(Value),
    /// An error whose text holds these words.
    Error(&'static [&'static str]),
}

fn dependency_calls_send_the_queries_the_engine_serves() {
    use Want::*;
    // (body of `async def case(dag, dagger)`, queries sent (in order), result)
    let cases: Vec<(&str, &[&str], Want)> = vec![
        // greeter, as its main.py registers it
        (
            r#"return await dag.greeter().hello("x")"#,
            &[r#"{ greeter { hello: hello(name: "x") } }"#],
            Value(json!(r#"Greeter.hello({"name": "x"})"#)),
        ),
        (
            r#"return await dag.greeter().release()"#,
            &["{ greeter { release: release } }"],
            Value(json!("Greeter.release({})")),
        ),
        (r#"return dag.greeter()"#, &[], Value(json!({"built": "{ greeter }"}))),
        (r#"return await dag.greeter().id()"#, &["{ greeter { id: id } }"], Value(json!("id:Greeter"))),
        (
            r#"return await dag.load_greeter_from_id(dagger.GreeterID("id:Greeter")).hello("y")"#,
            &[r#"{ loadGreeterFromID(id: "id:Greeter") { hello: hello(name: "y") } }"#],
            Value(json!(r#"Greeter.hello({"name": "y"})"#)),
        ),
        (r#"return await dag.greeter().hello(3)"#, &[], Error(&["TypeError", "hello", "name=3"])),
        (r#"return dag.load_greeter_from_id("id:Greeter")"#, &[], Error(&["TypeError", "GreeterID"])),
        // the new names are exported from `dagger`, core calls still work
        (
            r#"return [n for n in ("Greeter", "GreeterID", "MyMod", "Pack", "Level", "Named") if hasattr(dagger, n)]"#,
            &[],
            Value(json!(["Greeter", "GreeterID", "MyMod", "Pack", "Level", "Named"])),
        ),
        (
            r#"return await dag.container().from_("alpine").stdout()"#,
            &[r#"{ container { from: from(address: "alpine") { stdout: stdout } } }"#],
            Value(json!(r#"Container.stdout({})"#)),
        ),
        // my-mod: constructor arguments (defaults left out), keyword names, snake names
        (
            r#"return await dag.my_mod("p", count=2, tag="t").prefix()"#,
            &[r#"{ myMod(prefix: "p", tag: "t") { prefix: prefix } }"#],
            Value(json!("MyMod.prefix({})")),
        ),
        (
            r#"return await dag.my_mod("p", count=3).describe_http_server()"#,
            &[r#"{ myMod(prefix: "p", count: 3) { describeHTTPServer: describeHTTPServer } }"#],
            Value(json!("MyMod.describeHTTPServer({})")),
        ),
        (
            r#"return await dag.my_mod("p").tags(from_="b", verbose=True)"#,
            &[r#"{ myMod(prefix: "p") { tags: tags(from: "b", verbose: true) } }"#],
            Value(json!(["MyMod.tags"])),
        ),
        // enums: the default left out, a member sent by name, the result as a member
        (
            r#"return await dag.my_mod("p").level()"#,
            &[r#"{ myMod(prefix: "p") { level: level } }"#],
            Value(json!("Level.LOW")),
        ),
        (
            r#"return await dag.my_mod("p").level(at=dagger.Level.LOW)"#,
            &[r#"{ myMod(prefix: "p") { level: level(at: LOW) } }"#],
            Value(json!("Level.LOW")),
        ),
        // object results chain; core objects too
        (
            r#"return await dag.my_mod("p").pack("a").size()"#,
            &[r#"{ myMod(prefix: "p") { pack: pack(name: "a") { size: size } } }"#],
            Value(json!(2)),
        ),
        (
            r#"return await dag.my_mod("p").with_prefix("q").with_(lambda m: m.with_prefix("r")).prefix()"#,
            &[
                r#"{ myMod(prefix: "p") { withPrefix: withPrefix(prefix: "q") { withPrefix: withPrefix(prefix: "r") { prefix: prefix } } } }"#,
            ],
            Value(json!("MyMod.prefix({})")),
        ),
        (
            r#"return await dag.my_mod("p").base().with_exec(["echo"]).stdout()"#,
            &[r#"{ myMod(prefix: "p") { base: base { withExec: withExec(args: ["echo"]) { stdout: stdout } } } }"#],
            Value(json!("Container.stdout({})")),
        ),
        // a list of objects: their IDs, then each loaded by `node`
        (
            "ps = await dag.my_mod(\"p\").packs(names=[\"x\"])\nreturn [await p.name() for p in ps]",
            &[
                r#"{ myMod(prefix: "p") { packs: packs(names: ["x"]) { id: id } } }"#,
                r#"{ node(id: "id:Pack") { ... on Pack { name: name } } }"#,
                r#"{ node(id: "id:Pack") { ... on Pack { name: name } } }"#,
            ],
            Value(json!(["Pack.name({})", "Pack.name({})"])),
        ),
        // object arguments go as their IDs (a module object and a list of core ones)
        (
            r#"return await dag.my_mod("p").merge(dag.my_mod("o").with_prefix("q"), dirs=[dag.directory()])"#,
            &[
                r#"{ myMod(prefix: "o") { withPrefix: withPrefix(prefix: "q") { id: id } } }"#,
                r#"{ directory { id: id } }"#,
                r#"{ myMod(prefix: "p") { merge: merge(other: "id:MyMod", dirs: ["id:Directory"]) } }"#,
            ],
            Value(json!(r#"MyMod.merge({"dirs": ["id:Directory"], "other": "id:MyMod"})"#)),
        ),
        (r#"return await dag.my_mod("p").merge(dag.greeter())"#, &[], Error(&["TypeError", "merge", "other"])),
        (
            r#"return await dag.my_mod("p").maybe()"#,
            &[r#"{ myMod(prefix: "p") { maybe: maybe } }"#],
            Value(json!("MyMod.maybe({})")),
        ),
        (
            r#"return await dag.my_mod("p").nothing()"#,
            &[r#"{ myMod(prefix: "p") { nothing: nothing } }"#],
            Value(json!(null)),
        ),
        (
            r#"return await dag.load_pack_from_id(dagger.PackID("id:Pack")).name()"#,
            &[r#"{ loadPackFromID(id: "id:Pack") { name: name } }"#],
            Value(json!("Pack.name({})")),
        ),
        (r#"return dag.my_mod()"#, &[], Error(&["TypeError", "prefix"])),
    ];
    let bodies: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let report = run(&bodies, &[]);
    let got = report["cases"].as_array().expect("cases in the report");
    assert_eq!(got.len(), cases.len());
    for ((body, sent, want), got) in cases.iter().zip(got) {
        let got_sent: Vec<&str> = got["sent"].as_array().unwrap().iter().map(|q| q.as_str().unwrap()).collect();
        // Object arguments are resolved concurrently: compare those queries as a set.
        let (mut a, mut b) = (got_sent.clone(), sent.to_vec());
        if let (Some(last_a), Some(last_b)) = (a.pop(), b.pop()) {
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!((a, last_a), (b, last_b), "queries sent by {body:?}: {got}");
        } else {
            assert_eq!(got_sent, *sent, "queries sent by {body:?}: {got}");
        }
        match want {
            Value(v) => assert_eq!(&got["result"], v, "result of {body:?}: {got}"),
            Error(words) => {
                let e = got["error"].as_str().unwrap_or_else(|| panic!("{body:?} should fail: {got}"));
                for w in *words {
                    assert!(e.contains(w), "{body:?}: {e:?} should mention {w:?}");
                }
            }
        }
    }
}

fn python_names_are_the_codegens() {
    let names = [
        "hello",
        "from",
        "self",
        "str",
        "type",
        "loadGreeterFromID",
        "loadMyModFromID",
        "describeHTTPServer",
        "withHTTPServerURL",
        "v2Api",
        "sha256Sum",
        "asOCITarball",
        "AB",
        "a1B2c",
        "X509Cert",
        "ID",
        "withIDs",
        "async",
        "import",
        "myMod",
        "under_score",
    ];
    let report = run(&[], &names);
    let want: Vec<&str> = report["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    let got: Vec<String> = names.iter().map(|n| py_name(n)).collect();
    assert_eq!(got, want, "names: {names:?}");
}
