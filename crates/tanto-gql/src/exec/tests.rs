//! Executor tests: a small schema, a fake resolver, and one `check` helper.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::limits::{MAX_DEPTH, MAX_LIST_ITEMS, MAX_RESPONSE_POSITIONS};
use crate::{parse_request_body, FieldCall, FieldError, Obj, Request, Resolved, Resolver};

use super::*;

const SDL: &str = r#"
directive @expectedType(name: String!) on ARGUMENT_DEFINITION | FIELD_DEFINITION
interface Node { id: ID! }
interface Syncer implements Node { id: ID! sync: ID! }
enum Mode { FAST SLOW OCI OCIMediaTypes }
input Opt { name: String!, level: Int = 3 }
scalar JSON
scalar BoxID
type Query implements Node {
  id: ID!
  version: String!
  echo(s: String = "def", n: Int, b: Boolean = false, mode: Mode = FAST, list: [String!], id: ID, opt: Opt, f: Float, box: ID @expectedType(name: "Box")): JSON!
  need(x: String!): String!
  node(id: ID!): Node
  box(name: String!): Box!
  boxes(names: [String!]!): [Box!]!
  maybeBox(name: String): Box
  fail(msg: String!, typed: Boolean = false): String!
  failNullable(msg: String!, typed: Boolean = false): String
  nullNonNull: String!
  tags: [String!]!
  loadBoxFromID(id: BoxID!): Box!
  slow(ms: Int!): Int!
  noId: NoId!
  link: Link!
  old: String @deprecated(reason: "use `version`")
}
type Box implements Node & Syncer {
  id: ID!
  name: String!
  sync: ID!
  child(name: String!): Box!
  fail: String!
  failNullable: String
  maybe: String
}
type Other implements Node { id: ID! value: Int! }
type NoId { x: Int }
type Link { id: ID! n: Int! next: Link! maybeNext: Link fail: String! }
"#;

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::parse(SDL).expect("test schema parses"))
}

struct BoxVal(String);
struct LinkVal(u64);
struct OtherVal(i64);
struct Root;

fn exec_error(msg: &str) -> FieldError {
    FieldError::new(msg)
        .extension("_type", "EXEC_ERROR")
        .extension("cmd", json!(["sh", "-c", "exit 3"]))
        .extension("exitCode", 3)
        .extension("stdout", "out")
        .extension("stderr", "err")
}

struct Fake;

#[async_trait::async_trait]
impl Resolver for Fake {
    async fn resolve(&self, parent: &Obj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        let a = call.args;
        let boxed = |name: &str| Resolved::object("Box", BoxVal(name.to_string()));
        match (call.type_name, call.field) {
            ("Query", "id") => Ok(Resolved::leaf("query-id")),
            ("Query", "version") => Ok(Resolved::leaf("v0.21.11")),
            ("Query", "echo") => Ok(Resolved::Leaf(Json::Object(a.to_json()))),
            ("Query", "need") => Ok(Resolved::leaf(a.string("x")?)),
            ("Query", "node") => {
                let id = a.string("id")?;
                if let Some(name) = id.strip_prefix("box:") {
                    Ok(boxed(name))
                } else if let Some(v) = id.strip_prefix("other:") {
                    Ok(Resolved::object("Other", OtherVal(v.parse().map_err(|_| "bad other id")?)))
                } else {
                    Err(format!("cannot load `{id}`").into())
                }
            }
            ("Query", "box") => Ok(boxed(a.string("name")?)),
            ("Query", "boxes") => Ok(Resolved::List(a.string_list("names")?.iter().map(|n| boxed(n)).collect())),
            ("Query", "maybeBox") => Ok(a.opt_string("name")?.map(boxed).unwrap_or(Resolved::Null)),
            ("Query", "fail") | ("Query", "failNullable") => {
                let msg = a.string("msg")?;
                Err(if a.bool("typed")? { exec_error(msg) } else { FieldError::new(msg) })
            }
            ("Query", "nullNonNull") => Ok(Resolved::Null),
            ("Query", "tags") => Ok(Resolved::leaf(json!(["a", "b"]))),
            ("Query", "loadBoxFromID") => Ok(boxed(a.string("id")?.trim_start_matches("box:"))),
            ("Query", "slow") => {
                let ms = a.int("ms")?;
                tokio::time::sleep(Duration::from_millis(ms as u64)).await;
                Ok(Resolved::leaf(ms))
            }
            ("Query", "noId") => Ok(Resolved::object("NoId", ())),
            ("Query", "link") => Ok(Resolved::object("Link", LinkVal(0))),
            ("Link", f) => {
                let n = parent.downcast_ref::<LinkVal>().ok_or("not a link")?.0;
                match f {
                    "id" => Ok(Resolved::leaf(format!("link:{n}"))),
                    "n" => Ok(Resolved::leaf(n)),
                    "next" | "maybeNext" => Ok(Resolved::object("Link", LinkVal(n + 1))),
                    _ => Err(format!("link {n} failed").into()),
                }
            }
            ("Box", f) => {
                let b = parent.downcast_ref::<BoxVal>().ok_or("not a box")?;
                match f {
                    "id" | "sync" => Ok(Resolved::leaf(format!("box:{}", b.0))),
                    "name" => Ok(Resolved::leaf(b.0.clone())),
                    "child" => Ok(boxed(&format!("{}/{}", b.0, a.string("name")?))),
                    "fail" => Err(format!("box `{}` failed", b.0).into()),
                    "failNullable" => Err(format!("box `{}` failed softly", b.0).into()),
                    "maybe" => Ok(Resolved::Null),
                    _ => Err("unexpected Box field".into()),
                }
            }
            ("Other", "id") => Ok(Resolved::leaf(format!("other:{}", parent.downcast_ref::<OtherVal>().ok_or("?")?.0))),
            ("Other", "value") => Ok(Resolved::leaf(parent.downcast_ref::<OtherVal>().ok_or("?")?.0)),
            (t, f) => Err(format!("fake resolver has no `{t}.{f}`").into()),
        }
    }
}

async fn run(query: &str, vars: Json, operation_name: Option<&str>) -> Json {
    let req = Request {
        query: query.to_string(),
        variables: vars.as_object().cloned(),
        operation_name: operation_name.map(str::to_string),
    };
    execute(schema(), &Fake, Obj::new("Query", Root), req).await
}

/// Runs `query` with variables `vars` (or `null`) and compares the whole response body.
async fn check(query: &str, vars: Json, expected: Json) {
    let got = run(query, vars, None).await;
    assert_eq!(
        got,
        expected,
        "\nquery: {query}\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&expected).unwrap_or_default()
    );
}

fn loc(line: usize, column: usize) -> Json {
    json!([{"line": line, "column": column}])
}

#[tokio::test]
async fn arguments() {
    let n = Json::Null;
    check("{ version }", n.clone(), json!({"data": {"version": "v0.21.11"}})).await;
    // Schema defaults; absent optional args stay absent.
    check("{ echo }", n.clone(), json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST"}}})).await;
    // `null` for a defaulted arg means the default; without a default it stays null.
    check(
        "{ echo(s: null, mode: null, n: null) }",
        n.clone(),
        json!({"data": {"echo": {"s": "def", "n": null, "b": false, "mode": "FAST"}}}),
    )
    .await;
    // Quoted enums, enum aliases passed through unchanged.
    check(r#"{ echo(mode: "SLOW") }"#, n.clone(), json!({"data": {"echo": {"s": "def", "b": false, "mode": "SLOW"}}}))
        .await;
    check("{ echo(mode: OCI) }", n.clone(), json!({"data": {"echo": {"s": "def", "b": false, "mode": "OCI"}}})).await;
    // Numeric and boolean strings.
    check(
        r#"{ echo(n: "42", f: "1.5", b: "true") }"#,
        n.clone(),
        json!({"data": {"echo": {"s": "def", "n": 42, "b": true, "mode": "FAST", "f": 1.5}}}),
    )
    .await;
    // Int literal for ID (Python sends all-digit IDs as ints), and for `<T>ID` scalars.
    check(
        "{ echo(id: 123) }",
        n.clone(),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST", "id": "123"}}}),
    )
    .await;
    check("{ loadBoxFromID(id: 123) { id } }", n.clone(), json!({"data": {"loadBoxFromID": {"id": "box:123"}}})).await;
    // One value for a list.
    check(
        r#"{ echo(list: "x") }"#,
        n.clone(),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST", "list": ["x"]}}}),
    )
    .await;
    // Input objects get their field defaults.
    check(
        r#"{ echo(opt: {name: "a"}) }"#,
        n.clone(),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST", "opt": {"name": "a", "level": 3}}}}),
    )
    .await;
    // Unknown argument: rejected before execution.
    check(
        "{ echo(bogus: 1) }",
        n.clone(),
        json!({"errors": [{"message": "Unknown argument \"bogus\" on field \"Query.echo\".", "locations": loc(1, 8)}], "data": null}),
    )
    .await;
    // Missing required argument.
    check(
        "{ need }",
        n.clone(),
        json!({"errors": [{"message": "argument `x` of `Query.need` is required (type `String!`)", "locations": loc(1, 3), "path": ["need"]}], "data": null}),
    )
    .await;
    check(
        "{ echo(mode: MEDIUM) }",
        n.clone(),
        json!({"errors": [{
            "message": "invalid value for argument `mode` of `Query.echo`: `MEDIUM` is not a value of enum `Mode` (expected one of FAST, SLOW, OCI, OCIMediaTypes)",
            "locations": loc(1, 3), "path": ["echo"]}], "data": null}),
    )
    .await;
    check(
        r#"{ echo(opt: {name: "a", level: "x"}) }"#,
        n,
        json!({"errors": [{
            "message": "invalid value for argument `opt` of `Query.echo`: at `level`: expected an `Int`, found \"x\"",
            "locations": loc(1, 3), "path": ["echo"]}], "data": null}),
    )
    .await;
}

#[tokio::test]
async fn variables() {
    check(
        "query Q($s: String, $m: Mode = SLOW, $id: ID!) { echo(s: $s, mode: $m, id: $id) }",
        json!({"s": "x", "id": 5}),
        json!({"data": {"echo": {"s": "x", "b": false, "mode": "SLOW", "id": "5"}}}),
    )
    .await;
    // An unset nullable variable is an absent argument: the default applies.
    check(
        "query($s: String) { echo(s: $s) }",
        json!({}),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST"}}}),
    )
    .await;
    // Variables inside lists and input objects.
    check(
        r#"query($a: String!, $n: String!) { echo(list: [$a, "b"], opt: {name: $n}) }"#,
        json!({"a": "A", "n": "N"}),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "FAST", "list": ["A", "b"], "opt": {"name": "N", "level": 3}}}}),
    )
    .await;
    // A quoted enum in a variable.
    check(
        "query($m: Mode) { echo(mode: $m) }",
        json!({"m": "OCIMediaTypes"}),
        json!({"data": {"echo": {"s": "def", "b": false, "mode": "OCIMediaTypes"}}}),
    )
    .await;
    check(
        "query($id: ID!) { node(id: $id) { id } }",
        json!({}),
        json!({"errors": [{"message": "variable `$id` of required type `ID!` was not provided", "locations": loc(1, 7)}], "data": null}),
    )
    .await;
    check(
        "query($n: Int) { echo(n: $n) }",
        json!({"n": "x"}),
        json!({"errors": [{"message": "variable `$n` has an invalid value: expected an `Int`, found \"x\"", "locations": loc(1, 7)}], "data": null}),
    )
    .await;
    check(
        "query($b: Box) { version }",
        json!({}),
        json!({"errors": [{"message": "variable `$b` cannot be of non-input type `Box`", "locations": loc(1, 7)}], "data": null}),
    )
    .await;
    // @skip / @include, from literals and variables.
    check(
        "query($yes: Boolean!) { a: version @skip(if: $yes) b: version @include(if: $yes) c: version @include(if: false) }",
        json!({"yes": true}),
        json!({"data": {"b": "v0.21.11"}}),
    )
    .await;
}

#[tokio::test]
async fn selections() {
    let n = Json::Null;
    // Fragments on interfaces through node(id:), lenient on interface-implements-interface.
    check(
        r#"{ node(id: "box:a") { ... on Syncer { sync } ... on Box { name } ... on Other { value } } }"#,
        n.clone(),
        json!({"data": {"node": {"sync": "box:a", "name": "a"}}}),
    )
    .await;
    check(
        r#"query { node(id: "other:7") { ...F __typename } } fragment F on Other { value id }"#,
        n.clone(),
        json!({"data": {"node": {"value": 7, "id": "other:7", "__typename": "Other"}}}),
    )
    .await;
    check(r#"{ node(id: "box:a") { id } }"#, n.clone(), json!({"data": {"node": {"id": "box:a"}}})).await;
    // Aliases, merging of same-key fields, nested objects.
    check(
        r#"{ a: box(name: "x") { n: name } b: box(name: "y") { child(name: "z") { name } } }"#,
        n.clone(),
        json!({"data": {"a": {"n": "x"}, "b": {"child": {"name": "y/z"}}}}),
    )
    .await;
    check(
        r#"{ box(name: "x") { name } box(name: "x") { id } }"#,
        n.clone(),
        json!({"data": {"box": {"name": "x", "id": "box:x"}}}),
    )
    .await;
    check("{ __typename }", n.clone(), json!({"data": {"__typename": "Query"}})).await;
    // Lists of objects and of leaves.
    check(
        r#"{ boxes(names: ["a", "b"]) { name } tags }"#,
        n.clone(),
        json!({"data": {"boxes": [{"name": "a"}, {"name": "b"}], "tags": ["a", "b"]}}),
    )
    .await;
    // Object field without a sub-selection: its id (lenient ScalarLeafs).
    check(r#"{ box(name: "x") }"#, n.clone(), json!({"data": {"box": "box:x"}})).await;
    check(
        "{ noId }",
        n.clone(),
        json!({"errors": [{"message": "Field \"noId\" of type \"NoId!\" must have a selection of subfields. Did you mean \"noId { ... }\"?", "locations": loc(1, 3)}], "data": null}),
    )
    .await;
    check(
        "{ version { x } }",
        n.clone(),
        json!({"errors": [{"message": "Field \"version\" must not have a selection since type \"String!\" has no subfields.", "locations": loc(1, 3)}], "data": null}),
    )
    .await;
    // Unknown fields, fragments, types: rejected before anything resolves.
    check(
        "{ version\n  box(name: \"x\") { nope } }",
        n.clone(),
        json!({"errors": [{"message": "Cannot query field \"nope\" on type \"Box\".", "locations": loc(2, 20)}], "data": null}),
    )
    .await;
    check(
        "{ ...Missing }",
        n.clone(),
        json!({"errors": [{"message": "Unknown fragment \"Missing\".", "locations": loc(1, 3)}], "data": null}),
    )
    .await;
    check(
        "{ node(id: \"box:a\") { ... on Nope { id } } }",
        n.clone(),
        json!({"errors": [{"message": "Unknown type \"Nope\".", "locations": loc(1, 30)}], "data": null}),
    )
    .await;
    check(
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        n.clone(),
        json!({"errors": [{"message": "Cannot spread fragment \"A\" within itself.", "locations": loc(1, 61)}], "data": null}),
    )
    .await;
    // Meta fields only on the root.
    check(
        r#"{ box(name: "x") { __schema { queryType { name } } } }"#,
        n,
        json!({"errors": [{"message": "Cannot query field \"__schema\" on type \"Box\".", "locations": loc(1, 20)}], "data": null}),
    )
    .await;
}

#[tokio::test]
async fn errors_and_null_propagation() {
    let n = Json::Null;
    // A nullable field absorbs its error.
    check(
        r#"{ version failNullable(msg: "soft") }"#,
        n.clone(),
        json!({"errors": [{"message": "soft", "locations": loc(1, 11), "path": ["failNullable"]}],
               "data": {"version": "v0.21.11", "failNullable": null}}),
    )
    .await;
    // A non-null field's error nulls its nullable parent ...
    check(
        r#"{ version maybeBox(name: "m") { name fail } }"#,
        n.clone(),
        json!({"errors": [{"message": "box `m` failed", "locations": loc(1, 38), "path": ["maybeBox", "fail"]}],
               "data": {"version": "v0.21.11", "maybeBox": null}}),
    )
    .await;
    // ... and climbs to `data: null` through non-null parents.
    check(
        r#"{ box(name: "b") { fail } version }"#,
        n.clone(),
        json!({"errors": [{"message": "box `b` failed", "locations": loc(1, 20), "path": ["box", "fail"]}], "data": null}),
    )
    .await;
    check(
        "{ nullNonNull }",
        n.clone(),
        json!({"errors": [{"message": "Cannot return null for non-nullable field Query.nullNonNull.", "locations": loc(1, 3), "path": ["nullNonNull"]}], "data": null}),
    )
    .await;
    // List items carry their index in the path.
    check(
        r#"{ boxes(names: ["a", "b"]) { name failNullable } }"#,
        n.clone(),
        json!({"errors": [
                {"message": "box `a` failed softly", "locations": loc(1, 35), "path": ["boxes", 0, "failNullable"]},
                {"message": "box `b` failed softly", "locations": loc(1, 35), "path": ["boxes", 1, "failNullable"]}],
               "data": {"boxes": [{"name": "a", "failNullable": null}, {"name": "b", "failNullable": null}]}}),
    )
    .await;
    check(
        r#"{ boxes(names: ["a"]) { fail } }"#,
        n.clone(),
        json!({"errors": [{"message": "box `a` failed", "locations": loc(1, 25), "path": ["boxes", 0, "fail"]}], "data": null}),
    )
    .await;
    // Errors with `extensions._type` come first, whatever the query order.
    check(
        r#"{ a: failNullable(msg: "plain") b: failNullable(msg: "exec", typed: true) }"#,
        n.clone(),
        json!({"errors": [
                {"message": "exec", "locations": loc(1, 33), "path": ["b"],
                 "extensions": {"_type": "EXEC_ERROR", "cmd": ["sh", "-c", "exit 3"], "exitCode": 3, "stdout": "out", "stderr": "err"}},
                {"message": "plain", "locations": loc(1, 3), "path": ["a"]}],
               "data": {"a": null, "b": null}}),
    )
    .await;
    // Resolver errors on node(id:) (nullable) keep the rest.
    check(
        r#"{ node(id: "bogus") { id } version }"#,
        n,
        json!({"errors": [{"message": "cannot load `bogus`", "locations": loc(1, 3), "path": ["node"]}],
               "data": {"node": null, "version": "v0.21.11"}}),
    )
    .await;
}

#[tokio::test]
async fn operations_and_syntax() {
    let n = Json::Null;
    check("mutation { version }", n.clone(), json!({"data": {"version": "v0.21.11"}})).await;
    check(
        "subscription { version }",
        n.clone(),
        json!({"errors": [{"message": "subscriptions are not supported", "locations": loc(1, 1)}], "data": null}),
    )
    .await;
    let doc = "query A { version } query B { tags }";
    assert_eq!(run(doc, n.clone(), Some("B")).await, json!({"data": {"tags": ["a", "b"]}}));
    assert_eq!(
        run(doc, n.clone(), None).await,
        json!({"errors": [{"message": "the document has several operations: set `operationName` to pick one"}], "data": null})
    );
    assert_eq!(
        run(doc, n.clone(), Some("C")).await,
        json!({"errors": [{"message": "unknown operation named `C`"}], "data": null})
    );
    check(
        "{ version ",
        n.clone(),
        json!({"errors": [{"message": "syntax error: expected a selection or `}`, found the end of the query (line 1, column 11)", "locations": loc(1, 11)}], "data": null}),
    )
    .await;
    // The offending source (maybe a secret) is not quoted back.
    check(
        r#"{ setSecret(name: "x", plaintext: "s3cr3t) }"#,
        n.clone(),
        json!({"errors": [{"message": "syntax error: unterminated string (line 1, column 35)", "locations": loc(1, 35)}], "data": null}),
    )
    .await;
    check(
        "",
        n.clone(),
        json!({"errors": [{"message": "syntax error: expected an operation or a fragment, found the end of the query (line 1, column 1)", "locations": loc(1, 1)}], "data": null}),
    )
    .await;
    // Response keys keep selection order, and nothing unrequested is added.
    let got = run(r#"{ tags version __typename a: box(name: "x") { name id } }"#, n, None).await;
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        r#"{"data":{"tags":["a","b"],"version":"v0.21.11","__typename":"Query","a":{"name":"x","id":"box:x"}}}"#
    );
}

#[tokio::test]
async fn siblings_run_concurrently() {
    let start = Instant::now();
    let got = run("{ a: slow(ms: 300) b: slow(ms: 300) c: slow(ms: 300) }", Json::Null, None).await;
    assert_eq!(got, json!({"data": {"a": 300, "b": 300, "c": 300}}));
    assert!(start.elapsed() < Duration::from_millis(800), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn introspection_small() {
    let n = Json::Null;
    check(
        r#"{ __type(name: "Box") { name kind interfaces { name } possibleTypes { name } fields { name } } }"#,
        n.clone(),
        json!({"data": {"__type": {"name": "Box", "kind": "OBJECT", "interfaces": [{"name": "Node"}, {"name": "Syncer"}],
            "possibleTypes": null,
            "fields": [{"name": "id"}, {"name": "name"}, {"name": "sync"}, {"name": "child"}, {"name": "fail"}, {"name": "failNullable"}, {"name": "maybe"}]}}}),
    )
    .await;
    check(
        r#"{ __type(name: "Node") { kind possibleTypes { name } interfaces { name } } t: __type(name: "Nope") { name } }"#,
        n.clone(),
        json!({"data": {"__type": {"kind": "INTERFACE", "possibleTypes": [{"name": "Query"}, {"name": "Box"}, {"name": "Other"}], "interfaces": []}, "t": null}}),
    )
    .await;
    check(
        r#"{ __type(name: "Opt") { inputFields { name defaultValue type { kind name ofType { kind name } } } isOneOf fields { name } } }"#,
        n.clone(),
        json!({"data": {"__type": {"inputFields": [
            {"name": "name", "defaultValue": null, "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String"}}},
            {"name": "level", "defaultValue": "3", "type": {"kind": "SCALAR", "name": "Int", "ofType": null}}],
            "isOneOf": false, "fields": null}}}),
    )
    .await;
    // Deprecated fields are hidden unless asked for.
    let q = r#"{ __type(name: "Query") { a: fields { name } b: fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }"#;
    let got = run(q, n.clone(), None).await;
    let names = |v: &Json| {
        v.as_array()
            .map(|a| a.iter().filter_map(|f| f["name"].as_str().map(str::to_string)).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(!names(&got["data"]["__type"]["a"]).contains(&"old".to_string()), "{got}");
    let b = &got["data"]["__type"]["b"];
    let old = b.as_array().and_then(|a| a.iter().find(|f| f["name"] == "old")).cloned().unwrap_or_default();
    assert_eq!(old, json!({"name": "old", "isDeprecated": true, "deprecationReason": "use `version`"}));
    // Argument defaults print as GraphQL literals.
    let q = r#"{ __type(name: "Query") { fields { name args { name defaultValue } } } }"#;
    let got = run(q, n.clone(), None).await;
    let echo = got["data"]["__type"]["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "echo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(echo["args"][0], json!({"name": "s", "defaultValue": "\"def\""}));
    assert_eq!(echo["args"][3], json!({"name": "mode", "defaultValue": "FAST"}));
    // Directives with their args; schema with no mutation/subscription roots.
    check(
        r#"{ __schema { queryType { name } mutationType { name } subscriptionType { name } directives { name isRepeatable locations args { name type { name kind } } } } }"#,
        n,
        json!({"data": {"__schema": {"queryType": {"name": "Query"}, "mutationType": null, "subscriptionType": null, "directives": [
            {"name": "expectedType", "isRepeatable": false, "locations": ["ARGUMENT_DEFINITION", "FIELD_DEFINITION"], "args": [{"name": "name", "type": {"name": null, "kind": "NON_NULL"}}]},
            {"name": "include", "isRepeatable": false, "locations": ["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"], "args": [{"name": "if", "type": {"name": null, "kind": "NON_NULL"}}]},
            {"name": "skip", "isRepeatable": false, "locations": ["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"], "args": [{"name": "if", "type": {"name": null, "kind": "NON_NULL"}}]},
            {"name": "deprecated", "isRepeatable": false, "locations": ["FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INPUT_FIELD_DEFINITION", "ENUM_VALUE"], "args": [{"name": "reason", "type": {"name": "String", "kind": "SCALAR"}}]},
            {"name": "specifiedBy", "isRepeatable": false, "locations": ["SCALAR"], "args": [{"name": "url", "type": {"name": null, "kind": "NON_NULL"}}]}]}}}),
    )
    .await;
}

#[tokio::test]
async fn introspection_is_memoized() {
    let schema = Schema::parse(SDL).expect("parses");
    let q = "{ __schema { types { name } } }";
    let first = execute(&schema, &Fake, Obj::new("Query", Root), Request::new(q)).await;
    assert_eq!(schema.intro_cache.lock().map(|c| c.entries.len()).unwrap_or(0), 1);
    let second = execute(&schema, &Fake, Obj::new("Query", Root), Request::new(q)).await;
    assert_eq!(first, second);
    let bytes = execute_bytes(&schema, &Fake, Obj::new("Query", Root), Request::new(q)).await;
    assert_eq!(serde_json::from_slice::<Json>(&bytes).ok(), Some(first));
    let bytes = execute_bytes(&schema, &Fake, Obj::new("Query", Root), Request::new("{ version }")).await;
    assert_eq!(String::from_utf8_lossy(&bytes), r#"{"data":{"version":"v0.21.11"}}"#);
    // Queries that reach the resolver are never memoized.
    let _ = execute(&schema, &Fake, Obj::new("Query", Root), Request::new("{ version __typename }")).await;
    assert_eq!(schema.intro_cache.lock().map(|c| c.entries.len()).unwrap_or(0), 1);
    // Changing a description invalidates.
    let mut schema = schema;
    schema.set_description("Box", None, Some("A box.".to_string())).expect("Box exists");
    assert_eq!(schema.intro_cache.lock().map(|c| c.entries.len()).unwrap_or(0), 0);
}

/// Parses `body` and compares with `expected`: the request, or the error message.
fn check_body(body: &[u8], expected: Result<Request, &str>) {
    match (parse_request_body(body), expected) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(got), Err(msg)) => {
            assert_eq!(got, json!({"errors": [{"message": msg}], "data": null}), "{}", String::from_utf8_lossy(body))
        }
        (got, want) => panic!("{}: got {got:?}, want {want:?}", String::from_utf8_lossy(body)),
    }
}

#[test]
fn request_bodies() {
    check_body(br#"{"query": "{ version }"}"#, Ok(Request::new("{ version }")));
    check_body(
        br#"{"query": "q", "variables": {"a": 1}, "operationName": "Q"}"#,
        Ok(Request {
            query: "q".into(),
            variables: json!({"a": 1}).as_object().cloned(),
            operation_name: Some("Q".into()),
        }),
    );
    check_body(br#"{"query": "q", "variables": null, "operationName": null}"#, Ok(Request::new("q")));
    check_body(
        br#"{"query": "q", "variables": "{\"a\": 1}"}"#,
        Ok(Request { query: "q".into(), variables: json!({"a": 1}).as_object().cloned(), operation_name: None }),
    );
    check_body(b"not json", Err("request body is not valid JSON: expected ident at line 1 column 2"));
    check_body(b"", Err("request body is not valid JSON: EOF while parsing a value at line 1 column 0"));
    check_body(b"[]", Err("request body must be a JSON object with a `query` string"));
    check_body(b"{}", Err("request body has no `query`: send {\"query\": \"{ ... }\"}"));
    check_body(br#"{"query": 42}"#, Err("`query` must be a string, not a number"));
    check_body(br#"{"query": "q", "variables": [1]}"#, Err("`variables` must be an object, not an array"));
    check_body(br#"{"query": "q", "operationName": 1}"#, Err("`operationName` must be a string, not a number"));
}

/// `{ link { next { next { ... { <leaf> } } } } }` with `calls` times `next`.
fn chain(calls: usize, leaf: &str) -> String {
    format!("{{ link {{ {}{leaf}{} }} }}", "next { ".repeat(calls), " }".repeat(calls))
}

/// Runs `query` as a tokio worker would, on a thread with a 2 MiB stack, and returns the
/// response bytes and its `errors`.
fn run_on_worker_stack(query: String) -> (Vec<u8>, Json) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let bytes = execute_bytes(schema(), &Fake, Obj::new("Query", Root), Request::new(query.as_str())).await;
                // The value itself, built and dropped on this stack too.
                let value = execute(schema(), &Fake, Obj::new("Query", Root), Request::new(query)).await;
                let errors = value.get("errors").cloned().unwrap_or(Json::Null);
                crate::drop_json(value);
                (bytes, errors)
            })
        })
        .expect("spawning a thread")
        .join()
        .expect("executing does not overflow a worker's stack")
}

#[test]
fn long_chains() {
    // (calls, leaf, expected end of the response): the innermost object, then one `}` per level.
    let cases: &[(usize, &str, Result<&str, &str>)] = &[
        (62, "n", Ok(r#"{"n":62}"#)),
        (1_000, "n", Ok(r#"{"n":1000}"#)),
        (10_000, "n", Ok(r#"{"n":10000}"#)),
        // The whole nesting the parser allows: `{`, `link`, then the calls.
        (MAX_DEPTH - 2, "id", Ok(r#"{"id":"link:19998"}"#)),
        // A non-null failure at the bottom nulls every non-null level up to `data`.
        (10_000, "fail", Err("link 10000 failed")),
    ];
    for &(calls, leaf, want) in cases {
        let (bytes, errors) = run_on_worker_stack(chain(calls, leaf));
        let text = String::from_utf8_lossy(&bytes);
        match want {
            Ok(end) => {
                assert_eq!(errors, Json::Null, "{calls} calls");
                let prefix = format!(r#"{{"data":{{"link":{}"#, r#"{"next":"#.repeat(calls));
                assert!(text.starts_with(&prefix), "{calls} calls: {}", &text[..100.min(text.len())]);
                assert!(text.ends_with(&format!("{end}{}", "}".repeat(calls + 2))), "{calls} calls");
            }
            Err(message) => {
                let path = errors[0]["path"].as_array().map(Vec::len);
                assert_eq!((errors[0]["message"].as_str(), path), (Some(message), Some(calls + 2)));
                assert!(text.ends_with(r#""data":null}"#), "{calls} calls");
            }
        }
    }
    // A nullable link stops the failure where it is: everything above it stays.
    let q = format!("{{ link {{ {}maybeNext {{ fail }}{} }} }}", "next { ".repeat(5_000), " }".repeat(5_000));
    let (bytes, errors) = run_on_worker_stack(q);
    assert_eq!(errors[0]["message"], "link 5001 failed");
    assert!(String::from_utf8_lossy(&bytes).ends_with(&format!(r#"{{"maybeNext":null}}{}"#, "}".repeat(5_002))));
    // One more level than the limit: refused before anything runs.
    let (bytes, _) = run_on_worker_stack(chain(MAX_DEPTH - 1, "n"));
    let want = json!({"errors": [{
        "message": format!(
            "query nesting depth {} exceeds tanto's limit of {MAX_DEPTH} (line 1, column {})",
            MAX_DEPTH + 1,
            8 + 7 * (MAX_DEPTH - 1)
        ),
        "locations": loc(1, 8 + 7 * (MAX_DEPTH - 1))}], "data": null});
    assert_eq!(serde_json::from_slice::<Json>(&bytes).ok(), Some(want));
}

#[tokio::test]
async fn request_limits() {
    // Fragments spread over two aliases per level double the response at each level.
    let mut q = String::from("{ link { ...F0 } } ");
    for i in 0..20 {
        q.push_str(&format!("fragment F{i} on Link {{ a: next {{ ...F{} }} b: next {{ ...F{} }} }} ", i + 1, i + 1));
    }
    q.push_str("fragment F20 on Link { n }");
    let got = run(&q, Json::Null, None).await;
    assert_eq!(
        got,
        json!({"errors": [{"message": format!(
            "the response would have more than {MAX_RESPONSE_POSITIONS} fields and list items, tanto's limit: select \
             less, or split the query"
        )}], "data": null})
    );
    // Many aliases: linear, not quadratic, in their number.
    let start = Instant::now();
    let aliases: String = (0..50_000).map(|i| format!("a{i}: version ")).collect();
    let got = run(&format!("{{ {aliases} }}"), Json::Null, None).await;
    assert_eq!(got["data"].as_object().map(|m| m.len()), Some(50_000));
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    // Long lists, as variables.
    let items = |n: usize| Json::Array(vec![json!("x"); n]);
    let got = run("query($l: [String!]) { echo(list: $l) }", json!({"l": items(MAX_LIST_ITEMS)}), None).await;
    assert_eq!(got["data"]["echo"]["list"].as_array().map(Vec::len), Some(MAX_LIST_ITEMS));
    let got = run("query($l: [String!]) { echo(list: $l) }", json!({"l": items(MAX_LIST_ITEMS + 1)}), None).await;
    assert_eq!(
        got["errors"][0]["message"],
        format!(
            "variable `$l` has an invalid value: a list of {} items is longer than tanto's limit of {MAX_LIST_ITEMS}",
            MAX_LIST_ITEMS + 1
        )
    );
}
