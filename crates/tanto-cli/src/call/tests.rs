//! The verbs over a fake transport: which queries go out, in which order,
//! and what is printed from the answers.

use std::cell::RefCell;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::call::catalog::tests::CONF;

struct Fake {
    /// (a substring of the query, the answer), first match wins.
    answers: Vec<(String, Result<Json, Vec<Json>>)>,
    log: RefCell<Vec<String>>,
}

impl Fake {
    fn new(answers: Vec<(&str, Result<Json, Vec<Json>>)>) -> Fake {
        Fake::with_types(serde_json::from_str(CONF).unwrap(), answers)
    }

    fn with_types(types: Json, answers: Vec<(&str, Result<Json, Vec<Json>>)>) -> Fake {
        let mut all: Vec<(String, Result<Json, Vec<Json>>)> =
            answers.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        all.push((
            "serve(includeDependencies: true)".into(),
            Ok(json!({"moduleSource": {"asModule": {"serve": null}}})),
        ));
        all.push(("asModule { name description objects".into(), Ok(json!({"moduleSource": {"asModule": types}}))));
        Fake { answers: all, log: RefCell::new(Vec::new()) }
    }

    /// The queries sent, each shortened to what tells them apart.
    fn sent(&self) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .map(|q| {
                if q.contains("serve(") {
                    "serve".to_string()
                } else if q.contains("asModule { name description objects") {
                    "types".to_string()
                } else if let Some(rest) = q.strip_prefix("{ __type(name: \"") {
                    format!("type {}", rest.split('"').next().unwrap())
                } else {
                    q.clone()
                }
            })
            .collect()
    }
}

impl Transport for Fake {
    async fn query(&self, query: String) -> Result<Json, Vec<Json>> {
        self.log.borrow_mut().push(query.clone());
        for (needle, answer) in &self.answers {
            if query.contains(needle.as_str()) {
                return answer.clone();
            }
        }
        panic!("unexpected query: {query}")
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

async fn run_call(fake: &Fake, a: &[&str]) -> Output {
    call(fake, "/mods/conf", &args(a), Path::new("/data"), false).await
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[tokio::test]
async fn calls_go_out_in_order_and_print_their_answers() {
    // (command line, call answer, queries sent after the types, stdout, stderr)
    type Case<'a> = (&'a [&'a str], Json, &'a [&'a str], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &["greet", "--name=World"],
            json!({"conf": {"greet": "> Hello, World!"}}),
            &["serve", r#"{ conf { greet(name: "World") } }"#],
            "> Hello, World!",
            "",
        ),
        (
            &["summarize", "--src=.", "--token=env://MY_TOKEN"],
            json!({"conf": {"summarize": "entries=a.txt,sub/\na.txt=alpha\ntoken_length=3\n"}}),
            &[
                "serve",
                r#"{ l0: address(value: ".") { directory { id } } l1: address(value: "env://MY_TOKEN") { secret { id } } }"#,
                r#"{ conf { summarize(src: "Directory:d1", token: "Secret:s1") } }"#,
            ],
            "entries=a.txt,sub/\na.txt=alpha\ntoken_length=3\n",
            "",
        ),
        (
            &["build", "with-exec", "--args=cat,/etc/alpine-release", "stdout"],
            json!({"conf": {"build": {"withExec": {"stdout": "3.21.3\n"}}}}),
            &["serve", r#"{ conf { build { withExec(args: ["cat", "/etc/alpine-release"]) { stdout } } } }"#],
            "3.21.3\n",
            "",
        ),
        (
            &["build"],
            json!({"conf": {"build": {"id": "Container:9f86d0"}}}),
            &["serve", "{ conf { build { id: sync } } }"],
            "Container@9f86d0\n",
            "",
        ),
        (
            &["generate", "--greeting=hey", "-o", "out"],
            json!({"conf": {"generate": {"export": "/data/out"}}}),
            &["serve", r#"{ conf { generate(greeting: "hey") { export(path: "/data/out") } } }"#],
            "",
            "Saved to \"/data/out\".\n",
        ),
    ];
    for (line, answer, sent, stdout, stderr) in cases {
        let fake = Fake::new(vec![
            (
                "address(",
                Ok(json!({"l0": {"directory": {"id": "Directory:d1"}}, "l1": {"secret": {"id": "Secret:s1"}}})),
            ),
            ("{ conf", Ok(answer.clone())),
        ]);
        let out = run_call(&fake, line).await;
        assert_eq!(
            (text(&out.stdout), text(&out.stderr), out.code),
            (stdout.to_string(), stderr.to_string(), 0),
            "{line:?}"
        );
        let mut want = vec!["types".to_string()];
        want.extend(sent.iter().map(|s| s.to_string()));
        assert_eq!(fake.sent(), want, "{line:?}");
    }
}

#[tokio::test]
async fn usage_errors_stop_before_the_module_is_served() {
    let cases: &[(&[&str], &str)] = &[
        (&["nope"], "Error: unknown command \"nope\" for \"tanto call\"\nRun 'tanto call --help' for usage.\n"),
        (&["greet", "--name=x", "--nope=1"], "Error: unknown flag: --nope\nRun 'tanto call greet --help' for usage.\n"),
        (&["greet"], "Error: required flag(s) \"name\" not set\nRun 'tanto call greet --help' for usage.\n"),
    ];
    for (line, stderr) in cases {
        let fake = Fake::new(vec![]);
        let out = run_call(&fake, line).await;
        assert_eq!(
            (text(&out.stdout), text(&out.stderr), out.code),
            (String::new(), stderr.to_string(), 1),
            "{line:?}"
        );
        assert_eq!(fake.sent(), ["types"], "{line:?}");
    }
}

#[tokio::test]
async fn a_failing_function_prints_its_error_and_exits_1() {
    let fake = Fake::new(vec![(
        "{ conf",
        Err(vec![json!({"message": "ValueError: conformance-boom-1", "path": ["conf", "fail"]})]),
    )]);
    let out = run_call(&fake, &["fail", "--message=conformance-boom-1"]).await;
    assert_eq!(
        (text(&out.stdout), text(&out.stderr), out.code),
        (String::new(), "Error: ValueError: conformance-boom-1\n".to_string(), 1)
    );
    // a module that does not load
    let mut fake = Fake::new(vec![]);
    fake.answers.insert(0, ("asModule { name".into(), Err(vec![json!({"message": "module `x` not found"})])));
    let out = run_call(&fake, &["greet", "--name=x"]).await;
    assert_eq!((text(&out.stderr), out.code), ("Error: module `x` not found\n".to_string(), 1));
}

#[tokio::test]
async fn help_needs_no_serve() {
    let fake = Fake::new(vec![]);
    let out = run_call(&fake, &["--help"]).await;
    assert_eq!(out.code, 0);
    assert!(text(&out.stdout).contains("\nFUNCTIONS\n"), "{}", text(&out.stdout));
    assert_eq!(fake.sent(), ["types"]);
}

#[tokio::test]
async fn functions_lists_the_object_a_chain_ends_in() {
    // (function names, stdout starts with, stderr, queries)
    let cases: &[(&[&str], &str, &str, &[&str])] = &[
        (&[], "Name        Description\nadd         Adds two integers.\n", "", &["types"]),
        (&["build"], "Name                          Description\nas-service                    -\n", "", &["types"]),
        (&["build", "file"], "Name              Description\nas-env-file       -\n", "", &["types"]),
        (
            &["greet"],
            "",
            "Error: function \"greet\" returns type \"STRING_KIND\" with no further functions available\n",
            &["types"],
        ),
        (
            &["shout"],
            "",
            "Error: function \"shout\" returns type \"LIST_KIND\" with no further functions available\n",
            &["types"],
        ),
        (&["nope"], "", "Error: no function \"nope\" in type \"Conf\"\n", &["types"]),
    ];
    for (names, stdout, stderr, sent) in cases {
        let fake = Fake::new(vec![]);
        let out = functions(&fake, "/mods/conf", &args(names), false).await;
        assert!(text(&out.stdout).starts_with(stdout), "{names:?}: {}", text(&out.stdout));
        assert_eq!(text(&out.stderr), *stderr, "{names:?}");
        assert_eq!(out.code, if stderr.is_empty() { 0 } else { 1 });
        assert_eq!(fake.sent(), *sent, "{names:?}");
    }
}

#[tokio::test]
async fn types_outside_the_module_and_the_core_are_introspected_once() {
    // a function returning an object of a dependency (`Greeter`)
    let mut types: Json = serde_json::from_str(CONF).unwrap();
    let functions = types["objects"][0]["asObject"]["functions"].as_array_mut().unwrap();
    let mut dep = functions[0].clone();
    dep["name"] = json!("dep");
    dep["args"] = json!([]);
    dep["returnType"] = json!({"kind": "OBJECT_KIND", "optional": false, "asObject": {"name": "Greeter"}});
    functions.push(dep);
    let greeter = json!({"__type": {"kind": "OBJECT", "name": "Greeter", "description": null, "fields": [
        {"name": "hello", "description": "Says hello.", "args": [{"name": "name", "description": null, "defaultValue": null,
            "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String", "ofType": null}}}],
         "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String", "ofType": null}}}
    ], "enumValues": null}});
    let fake = Fake::with_types(
        types.clone(),
        vec![
            ("__type(name: \"Greeter\")", Ok(greeter.clone())),
            ("{ conf", Ok(json!({"conf": {"dep": {"hello": "hi Ada"}}}))),
        ],
    );
    let out = run_call(&fake, &["dep", "hello", "--name=Ada"]).await;
    assert_eq!((text(&out.stdout), out.code), ("hi Ada".to_string(), 0), "{}", text(&out.stderr));
    assert_eq!(fake.sent(), ["types", "type Greeter", "serve", r#"{ conf { dep { hello(name: "Ada") } } }"#]);
    // a type nobody knows: one introspection, then a clear error
    let fake = Fake::with_types(types, vec![("__type(name: \"Greeter\")", Ok(json!({"__type": null})))]);
    let out = run_call(&fake, &["dep", "hello", "--name=Ada"]).await;
    assert_eq!((text(&out.stderr), out.code), ("Error: type `Greeter` is not in the schema\n".to_string(), 1));
    assert_eq!(fake.sent(), ["types", "type Greeter"]);
}

#[test]
fn the_module_defaults_to_the_nearest_dagger_json() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("mod");
    std::fs::create_dir_all(module.join("src/deep")).unwrap();
    std::fs::write(module.join("dagger.json"), "{}").unwrap();
    let m = module.to_string_lossy().into_owned();
    // (-m flag, cwd, module)
    let cases: Vec<(Option<&str>, std::path::PathBuf, Result<String, ()>)> = vec![
        (None, module.join("src/deep"), Ok(m.clone())),
        (None, module.clone(), Ok(m.clone())),
        (None, tmp.path().to_path_buf(), Err(())),
        (Some("mod"), tmp.path().to_path_buf(), Ok(m.clone())),
        (Some("../.."), module.join("src/deep"), Ok(m.clone())),
        (Some("https://github.com/o/r"), tmp.path().to_path_buf(), Ok("https://github.com/o/r".into())),
        (Some("git@github.com:o/r.git"), tmp.path().to_path_buf(), Ok("git@github.com:o/r.git".into())),
        (Some("github.com/o/r/sub@v1"), tmp.path().to_path_buf(), Ok("github.com/o/r/sub@v1".into())),
        (Some("file:///srv/r.git/sub"), tmp.path().to_path_buf(), Ok("file:///srv/r.git/sub".into())),
        (Some("./missing"), tmp.path().to_path_buf(), Ok(tmp.path().join("missing").to_string_lossy().into_owned())),
        (Some(""), tmp.path().to_path_buf(), Err(())),
    ];
    for (flag, cwd, want) in cases {
        assert_eq!(module_ref(flag, &cwd).map_err(|_| ()), want, "{flag:?} from {}", cwd.display());
    }
}

#[tokio::test]
async fn an_argument_with_a_default_path_may_be_left_out() {
    // summarize's `src` given a defaultPath (its type not marked optional, as
    // tanto's `withArg` leaves it): the flag may be left out
    let mut types: Json = serde_json::from_str(CONF).unwrap();
    let functions = types["objects"][0]["asObject"]["functions"].as_array_mut().unwrap();
    let summarize = functions.iter_mut().find(|f| f["name"] == "summarize").unwrap();
    summarize["args"][0]["defaultPath"] = json!("data");
    let fake = Fake::with_types(
        types,
        vec![
            ("address(", Ok(json!({"l0": {"secret": {"id": "Secret:s1"}}}))),
            ("{ conf", Ok(json!({"conf": {"summarize": "ok"}}))),
        ],
    );
    let out = run_call(&fake, &["summarize", "--token=env://T"]).await;
    assert_eq!((text(&out.stdout), text(&out.stderr), out.code), ("ok".to_string(), String::new(), 0));
    assert_eq!(fake.sent().last().unwrap(), r#"{ conf { summarize(token: "Secret:s1") } }"#);
}

#[tokio::test]
async fn help_shows_an_enum_flag_as_its_values() {
    let fake = Fake::new(vec![]);
    let out = run_call(&fake, &["build", "with-exposed-port", "--help"]).await;
    assert_eq!(out.code, 0, "{}", text(&out.stderr));
    let help = text(&out.stdout);
    let row = help.lines().find(|l| l.contains("--protocol")).unwrap_or_default();
    assert!(row.contains("--protocol TCP,UDP"), "{help}");
}

#[test]
fn explain_flags_are_tanto_s_before_the_function_only() {
    let v = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    // (command line, what `call` sees, --explain, --fail-on-miss)
    let cases: [(&[&str], &[&str], bool, bool); 4] = [
        (&["greet"], &["greet"], false, false),
        (&["--explain", "-m", "m", "greet"], &["-m", "m", "greet"], true, false),
        (&["--fail-on-miss", "--mod", "--explain", "greet"], &["--mod", "--explain", "greet"], false, true),
        (&["greet", "--explain", "--fail-on-miss"], &["greet", "--explain", "--fail-on-miss"], false, false),
    ];
    for (args, want, explain, fail) in cases {
        assert_eq!(super::explain_flags(v(args)), (v(want), explain, fail), "{args:?}");
    }
}
