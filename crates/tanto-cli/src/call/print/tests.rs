use serde_json::json;

use super::*;
use crate::call::catalog::tests::{conf, with_core};
use crate::call::chain::{walk, Walk};

fn plan(a: &[&str]) -> Plan {
    let c = with_core(conf());
    let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    match walk(&c, &a, std::path::Path::new("/w")) {
        Walk::Run(p) => *p,
        other => panic!("{a:?}: {other:?}"),
    }
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn results_print_like_dagger() {
    // (command line, result, tty, stdout)
    let cases: &[(&[&str], Json, bool, &str)] = &[
        (&["greet", "--name=W"], json!("> Hello, W!"), false, "> Hello, W!"),
        (&["greet", "--name=W"], json!("> Hello, W!"), true, "> Hello, W!\n"),
        (&["greet", "--name=W"], json!("line\n"), true, "line\n"),
        (&["add", "--a=2"], json!(12), false, "12"),
        (&["add", "--a=2"], json!(-3), false, "-3"),
        (&["negate"], json!(true), false, "true"),
        (&["negate"], json!(false), false, "false"),
        (&["shout", "--words=a,b,c"], json!(["a", "b", "c"]), false, "a\nb\nc\n"),
        (&["shout", "--words=a"], json!([]), false, ""),
        (&["shout", "--words=x,y", "--json"], json!(["x", "y"]), false, "[\n    \"x\",\n    \"y\"\n]\n"),
        (&["add", "--a=1", "--json"], json!(3), false, "3\n"),
        (&["greet", "--name=<&>", "--json"], json!("<&> \"q\""), false, "\"<&> \\\"q\\\"\"\n"),
        (&["build"], json!({"id": "Container:3f2a"}), false, "Container@3f2a\n"),
        (&["build", "file", "--path=/x"], json!({"id": "File:9c"}), false, "File@9c\n"),
        // an ID without a type prefix is shown under the chain's type
        (&["build"], json!({"id": "opaque"}), false, "Container@opaque\n"),
        // an object's ID is printed even with --json
        (&["build", "--json"], json!({"id": "Container:1"}), false, "Container@1\n"),
        (&["generate", "export", "--path=out2"], json!("/t/out2"), false, "/t/out2"),
        (
            &["random-id"],
            json!("0e5f0b8c-5b8e-4b8a-9f3a-1b2c3d4e5f60\n"),
            false,
            "0e5f0b8c-5b8e-4b8a-9f3a-1b2c3d4e5f60\n",
        ),
        (&["greet", "--name=W"], Json::Null, false, "<nil>"),
    ];
    for (line, result, tty, want) in cases {
        let out = response(&plan(line), result, *tty, None);
        assert_eq!((text(&out.stdout), text(&out.stderr), out.code), (*want, "", 0), "{line:?} {result}");
    }
}

#[test]
fn output_flag_reports_where_it_saved() {
    // an exported Directory: nothing on stdout, the engine's absolute path on stderr
    let out = response(&plan(&["generate", "-o", "out"]), &json!("/t/out"), false, Some("/w/out"));
    assert_eq!((text(&out.stdout), text(&out.stderr), out.file), ("", "Saved to \"/t/out\".\n", None));
    // a string result with -o is written to the file and printed too
    let out = response(&plan(&["greet", "--name=W", "-o", "g.txt"]), &json!("hi"), false, Some("/w/g.txt"));
    assert_eq!(text(&out.stdout), "hi");
    assert_eq!(text(&out.stderr), "Saved output to \"/w/g.txt\".\n");
    assert_eq!(out.file, Some(("/w/g.txt".to_string(), b"hi".to_vec())));
    // an export that answered something else is an error
    let out = response(&plan(&["generate", "-o", "out"]), &json!({"x": 1}), false, Some("/w/out"));
    assert_eq!((out.code, out.stdout.is_empty()), (1, true));
}

#[test]
fn numbers_print_as_go_prints_float64() {
    let cases: &[(Json, &str, &str)] = &[
        // (value, %+v, encoding/json)
        (json!(12), "12", "12"),
        (json!(-3), "-3", "-3"),
        (json!(0), "0", "0"),
        (json!(1.5), "1.5", "1.5"),
        (json!(123456), "123456", "123456"),
        // Dagger decodes results into float64: %v switches to an exponent at 1e6
        (json!(1000000), "1e+06", "1000000"),
        (json!(1234567), "1.234567e+06", "1234567"),
        (json!(-2500000), "-2.5e+06", "-2500000"),
        (json!(100000000000000000000.0), "1e+20", "100000000000000000000"),
        (json!(1e21), "1e+21", "1e+21"),
        (json!(0.0001), "0.0001", "0.0001"),
        (json!(0.00001), "1e-05", "0.00001"),
        (json!(0.0000001), "1e-07", "1e-7"),
        (json!(9007199254740993_i64), "9.007199254740992e+15", "9007199254740992"),
    ];
    for (v, plain_want, json_want) in cases {
        let mut p = Vec::new();
        plain(v, &mut p);
        let mut j = Vec::new();
        go_json(v, &mut j);
        assert_eq!((text(&p), text(&j)), (*plain_want, format!("{json_want}\n").as_str()), "{v}");
    }
}

#[test]
fn json_output_sorts_keys_and_indents_four_spaces() {
    let mut out = Vec::new();
    go_json(&json!({"b": [1, {"z": null, "a": true}], "a": {}, "c": []}), &mut out);
    assert_eq!(
        text(&out),
        "{\n    \"a\": {},\n    \"b\": [\n        1,\n        {\n            \"a\": true,\n            \"z\": null\n        }\n    ],\n    \"c\": []\n}\n"
    );
}

#[test]
fn errors_go_to_stderr_with_exit_1() {
    let out = query_errors(&[json!({"message": "ValueError: conformance-boom-1", "path": ["conf", "fail"]})]);
    assert_eq!((text(&out.stdout), text(&out.stderr), out.code), ("", "Error: ValueError: conformance-boom-1\n", 1));
    let out = query_errors(&[json!({
        "message": "process \"sh -c exit 3\" did not complete successfully: exit code: 3",
        "extensions": {"_type": "EXEC_ERROR", "exitCode": 3, "stdout": "out", "stderr": "err"}
    })]);
    assert_eq!(
        (text(&out.stderr), out.code),
        (
            "Error: process \"sh -c exit 3\" did not complete successfully: exit code: 3\nStdout:\nout\nStderr:\nerr\n",
            3
        )
    );
    let twice = json!({"message": "Cannot query field \"x\" on type \"Function\"."});
    let out = query_errors(&[twice.clone(), json!({"message": "other"}), twice]);
    assert_eq!(text(&out.stderr), "Error: Cannot query field \"x\" on type \"Function\".\nother\n");
    let out = Output::usage(&["greet".to_string()], "required flag(s) \"name\" not set");
    assert_eq!(
        text(&out.stderr),
        "Error: required flag(s) \"name\" not set\nRun 'tanto call greet --help' for usage.\n"
    );
}

#[test]
fn functions_table_matches_dagger() {
    let c = conf();
    let main = c.module.main_object().unwrap();
    let out = functions_list(&c.functions(main), &[], false);
    assert_eq!(
        text(&out.stdout),
        "Name        Description\n\
         add         Adds two integers.\n\
         build       Returns a container to chain further core functions on.\n\
         fail        Raises an exception with MESSAGE.\n\
         generate    Returns a directory to export to the host.\n\
         greet       Greets NAME, after the constructor's prefix.\n\
         negate      -\n\
         random-id   A kernel-generated UUID from an exec: equal on a cache hit, new when SALT changes.\n\
         shout       Returns the words, upper-cased when LOUD.\n\
         summarize   Lists a host directory and measures a secret, without revealing it.\n"
    );
    // on a terminal the header is bold, and the escapes take no width
    let out = functions_list(&c.functions(main)[..1], &[], true);
    assert_eq!(
        text(&out.stdout),
        "\x1b[1mName\x1b[0m    \x1b[1mDescription\x1b[0m\ngreet   Greets NAME, after the constructor's prefix.\n"
    );
    let out = functions_list(&[], &[], false);
    assert_eq!((text(&out.stdout), text(&out.stderr)), ("", "No functions found.\n"));
    let out = functions_list(&c.functions(main)[..1], &["odd-one".into()], false);
    assert!(text(&out.stdout).ends_with("\nSkipped 1 function(s) with unsupported types: odd-one\n"));
}

#[test]
fn quoting_follows_go() {
    let cases = [
        ("/t/out", "\"/t/out\""),
        ("a\"b\\c", "\"a\\\"b\\\\c\""),
        ("tab\there\n", "\"tab\\there\\n\""),
        ("\x01", "\"\\x01\""),
    ];
    for (s, want) in cases {
        assert_eq!(go_quote(s), want);
    }
}

#[test]
fn help_lists_functions_and_arguments() {
    let c = with_core(conf());
    let Walk::Help(h) = walk(&c, &["--help".to_string()], std::path::Path::new("/")) else { panic!() };
    let out = help(&h, None);
    let s = text(&out.stdout);
    assert!(
        s.starts_with(
            "Functions exercising what `call` must support.\n\nUSAGE\n  tanto call [options] [arguments] <function>\n"
        ),
        "{s}"
    );
    assert!(s.contains("\nFUNCTIONS\n  add         Adds two integers.\n"), "{s}");
    assert!(s.contains("  random-id   A kernel-generated UUID"), "{s}");
    assert!(s.contains("\nARGUMENTS\n      --prefix string   (default: \">\")\n"), "{s}");
    let Walk::Help(h) = walk(&c, &["greet".to_string(), "--help".to_string()], std::path::Path::new("/")) else {
        panic!()
    };
    let s = String::from_utf8(help(&h, None).stdout).unwrap();
    assert!(
        s.starts_with("Greets NAME, after the constructor's prefix.\n\nUSAGE\n  tanto call greet [arguments]\n"),
        "{s}"
    );
    assert!(s.contains("      --name string       [required]\n"), "{s}");
    assert!(s.contains("      --greeting string   (default: \"Hello\")\n"), "{s}");
}
