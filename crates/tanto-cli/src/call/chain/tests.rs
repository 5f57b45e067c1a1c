use std::path::Path;

use super::*;
use crate::call::catalog::tests::{conf, with_core};
use crate::call::query::call_query;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn run(catalog: &Catalog, a: &[&str]) -> Walk {
    walk(catalog, &args(a), Path::new("/work/here"))
}

/// The query a command line makes (lookups' IDs shown as `ID0`, `ID1`, ...).
fn query_of(catalog: &Catalog, a: &[&str]) -> String {
    match run(catalog, a) {
        Walk::Run(plan) => {
            let ids: Vec<String> = (0..plan.lookups.len()).map(|i| format!("ID{i}")).collect();
            call_query(&plan, &ids)
        }
        other => panic!("{a:?}: expected a plan, got {other:?}"),
    }
}

#[test]
fn command_lines_become_queries() {
    let c = with_core(conf());
    let cases: &[(&[&str], &str)] = &[
        (&["greet", "--name=World"], r#"{ conf { greet(name: "World") } }"#),
        (&["greet", "--name=World", "--greeting=Hi"], r#"{ conf { greet(name: "World", greeting: "Hi") } }"#),
        (&["greet", "--greeting=Hi", "--name=World"], r#"{ conf { greet(name: "World", greeting: "Hi") } }"#),
        (&["greet", "--name", "Ada"], r#"{ conf { greet(name: "Ada") } }"#),
        (&["greet", "--name=a", "--name=b"], r#"{ conf { greet(name: "b") } }"#),
        (&["add", "--a=2"], "{ conf { add(a: 2) } }"),
        (&["add", "--a", "2", "--b", "-5"], "{ conf { add(a: 2, b: -5) } }"),
        (&["negate"], "{ conf { negate } }"),
        (&["negate", "--value"], "{ conf { negate(value: true) } }"),
        (&["negate", "--value=false"], "{ conf { negate(value: false) } }"),
        (&["shout", "--words=a,b,c"], r#"{ conf { shout(words: ["a", "b", "c"]) } }"#),
        (&["shout", "--words=x,y", "--loud"], r#"{ conf { shout(words: ["x", "y"], loud: true) } }"#),
        (&["shout", "--words=x", "--words", "y,z"], r#"{ conf { shout(words: ["x", "y", "z"]) } }"#),
        (&["shout", "--words=\"a,b\",c"], r#"{ conf { shout(words: ["a,b", "c"]) } }"#),
        (&["--prefix=>>", "greet", "--name=World"], r#"{ conf(prefix: ">>") { greet(name: "World") } }"#),
        (
            &["--prefix", "::", "greet", "--name=W", "--greeting=Yo"],
            r#"{ conf(prefix: "::") { greet(name: "W", greeting: "Yo") } }"#,
        ),
        (&["-m", "/mods/conf", "greet", "--name=x"], r#"{ conf { greet(name: "x") } }"#),
        (&["greet", "--name=x", "--json"], r#"{ conf { greet(name: "x") } }"#),
        (&["summarize", "--src=.", "--token=env://MY_TOKEN"], r#"{ conf { summarize(src: "ID0", token: "ID1") } }"#),
        (
            &["build", "with-exec", "--args=cat,/built.txt,/etc/alpine-release", "stdout"],
            r#"{ conf { build { withExec(args: ["cat", "/built.txt", "/etc/alpine-release"]) { stdout } } } }"#,
        ),
        (
            &["build", "file", "--path=/etc/alpine-release", "contents"],
            r#"{ conf { build { file(path: "/etc/alpine-release") { contents } } } }"#,
        ),
        (&["build"], "{ conf { build { id: sync } } }"),
        // a field that returns an ID scalar: nothing under it
        (&["build", "sync"], "{ conf { build { sync } } }"),
        (&["build", "as-service", "start"], "{ conf { build { asService { start } } } }"),
        (
            &["build", "with-exposed-port", "--port=80", "--protocol=udp"],
            "{ conf { build { withExposedPort(port: 80, protocol: UDP) { id: sync } } } }",
        ),
        (
            &["generate", "--greeting=hey", "-o", "out"],
            r#"{ conf { generate(greeting: "hey") { export(path: "/work/here/out") } } }"#,
        ),
        (&["generate", "export", "--path=out2"], r#"{ conf { generate { export(path: "out2") } } }"#),
        (&["build", "-o", "../img.tar"], r#"{ conf { build { export(path: "/work/img.tar") } } }"#),
        (
            &["build", "file", "--path=/x", "--output=f"],
            r#"{ conf { build { file(path: "/x") { export(path: "/work/here/f", allowParentDirPath: true) } } } }"#,
        ),
        (&["greet", "--name=x", "-o", "greeting.txt"], r#"{ conf { greet(name: "x") } }"#),
        (&["fail", "--message=boom"], r#"{ conf { fail(message: "boom") } }"#),
        (&["random-id", "--salt=S"], r#"{ conf { randomId(salt: "S") } }"#),
        (&["randomId", "--salt=S"], r#"{ conf { randomId(salt: "S") } }"#),
        (&["greet", "--", "--name=x"], ""),
    ];
    for (input, want) in cases {
        if want.is_empty() {
            // `--` ends the flags: `--name=x` is then an unknown command
            assert!(matches!(run(&c, input), Walk::Usage { .. }), "{input:?}");
            continue;
        }
        assert_eq!(query_of(&c, input), *want, "{input:?}");
    }
}

#[test]
fn plans_carry_lookups_and_output_options() {
    let c = with_core(conf());
    let Walk::Run(plan) = run(&c, &["summarize", "--src=.", "--token=env:MY_TOKEN", "--json"]) else { panic!() };
    assert_eq!(
        plan.lookups,
        vec![
            Lookup { kind: Custom::Directory, value: ".".into(), exclude: vec![] },
            Lookup { kind: Custom::Secret, value: "env:MY_TOKEN".into(), exclude: vec![] },
        ]
    );
    assert!(plan.json);
    assert_eq!(plan.output, None);
    let Walk::Run(plan) = run(&c, &["generate", "-o", "out"]) else { panic!() };
    assert_eq!(plan.output.as_deref(), Some("out"));
    assert_eq!(plan.leaf.type_name(), "Directory");
    let Walk::Run(plan) = run(&c, &["shout", "--words=a", "-j"]) else { panic!() };
    assert!(plan.json);
    assert_eq!(plan.leaf.type_name(), "[String!]");
}

#[test]
fn usage_errors_name_the_command() {
    let c = with_core(conf());
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&["nope"], &[], r#"unknown command "nope" for "tanto call""#),
        (&["greet", "--name=x", "--nope=1"], &["greet"], "unknown flag: --nope"),
        (&["--nope", "greet"], &[], "unknown flag: --nope"),
        (&["greet"], &["greet"], r#"required flag(s) "name" not set"#),
        (&["summarize"], &["summarize"], r#"required flag(s) "src", "token" not set"#),
        (&["greet", "--name=x", "extra"], &["greet"], r#"unknown command "extra" for "tanto call greet""#),
        (&["build", "nope"], &["build"], r#"unknown command "nope" for "tanto call build""#),
        (&["greet", "--name"], &["greet"], "flag needs an argument: --name"),
        (
            &["add", "--a=x"],
            &["add"],
            r#"invalid argument "x" for "--a" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
        ),
        (
            &["negate", "--value=maybe"],
            &["negate"],
            r#"invalid argument "maybe" for "--value" flag: strconv.ParseBool: parsing "maybe": invalid syntax"#,
        ),
        (
            &["build", "with-exposed-port", "--port=80", "--protocol=sctp"],
            &["build", "with-exposed-port"],
            r#"invalid argument "sctp" for "--protocol" flag: value should be one of TCP,UDP"#,
        ),
        (&["build", "with-exec"], &["build", "with-exec"], r#"required flag(s) "args" not set"#),
        (
            &["build", "sync", "stdout"],
            &["build", "sync"],
            r#""tanto call build sync" returns an ID, not an object: nothing can follow it (drop "stdout" and what comes after)"#,
        ),
    ];
    for (input, path, message) in cases {
        assert_eq!(run(&c, input), Walk::Usage { path: args(path), message: message.to_string() }, "{input:?}");
    }
}

#[test]
fn types_the_catalog_lacks_are_asked_for_when_a_chain_reaches_them() {
    let c = conf();
    let cases: &[(&[&str], &str)] = &[
        (&["build"], "Container"),
        (&["build", "with-exec", "--args=a"], "Container"),
        (&["generate", "-o", "out"], "Directory"),
    ];
    for (input, missing) in cases {
        assert_eq!(run(&c, input), Walk::Missing(missing.to_string()), "{input:?}");
    }
    // scalars need nothing fetched
    assert!(matches!(run(&c, &["greet", "--name=x"]), Walk::Run(_)));
}

#[test]
fn help_shows_the_command_it_is_on() {
    let c = with_core(conf());
    // (args, path, function names offered)
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["--help"], &[], &["add", "build", "fail", "generate", "greet", "negate", "randomId", "shout", "summarize"]),
        (&["greet", "--help"], &["greet"], &[]),
        (&["-h", "greet"], &["greet"], &[]),
        (&["build", "-h"], &["build"], &["asService", "asTarball", "combinedOutput", "defaultArgs", "directory"]),
    ];
    for (input, path, functions) in cases {
        match run(&c, input) {
            Walk::Help(h) => {
                assert_eq!(h.path, args(path), "{input:?}");
                let names: Vec<&str> = h.functions.iter().map(|f| f.name.as_str()).take(functions.len()).collect();
                assert_eq!(names, *functions, "{input:?}");
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

#[test]
fn prescan_finds_the_module_flag_before_the_function() {
    let cases: &[(&[&str], Option<&str>, bool)] = &[
        (&["-m", "dir", "greet"], Some("dir"), false),
        (&["--mod=dir", "greet", "--help"], Some("dir"), true),
        (&["--prefix", ">>", "-m", "dir", "greet"], Some("dir"), false),
        (&["greet", "-m", "late"], None, false),
        (&["greet", "--", "--help"], None, false),
    ];
    for (input, module, help) in cases {
        let (m, h) = prescan(&args(input)).unwrap();
        assert_eq!((m.as_deref(), h), (*module, *help), "{input:?}");
    }
}
