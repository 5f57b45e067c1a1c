//! The introspection query gql 4 (dagger-io 0.21.11) sends at connect, against the full Dagger
//! v0.21 schema; and the response through graphql-core's `graphql.build_client_schema`, exactly
//! as the SDK does (with the Python `tanto_testkit::prereq::python_with` finds).

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{json, Value as Json};
use tanto_gql::{execute, FieldCall, FieldError, Obj, Request, Resolved, Resolver};

const GQL4_INTROSPECTION: &str = include_str!("data/gql4_introspection.graphql");

/// Introspection never reaches the resolver.
struct Unreachable;

#[async_trait::async_trait]
impl Resolver for Unreachable {
    async fn resolve(&self, _: &Obj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        Err(format!("resolver called for `{}.{}`", call.type_name, call.field).into())
    }
}

async fn introspect() -> Json {
    let req = Request {
        query: GQL4_INTROSPECTION.to_string(),
        variables: None,
        operation_name: Some("IntrospectionQuery".into()),
    };
    execute(tanto_api::schema::dagger_v021(), &Unreachable, Obj::new("Query", ()), req).await
}

fn find<'a>(list: &'a Json, name: &str) -> &'a Json {
    list.as_array().and_then(|a| a.iter().find(|t| t["name"] == name)).unwrap_or_else(|| panic!("`{name}` not found"))
}

/// Named type of a `TypeRef` chain.
fn named(t: &Json) -> &str {
    if t["ofType"].is_null() {
        t["name"].as_str().unwrap_or_default()
    } else {
        named(&t["ofType"])
    }
}

tanto_testkit::tests! {
    // test                                           prerequisites      kind
    gql4_introspection_on_dagger_schema:              []                 async;
    graphql_core_builds_a_client_schema_from_it:      [PythonGraphql]    async;
}

async fn gql4_introspection_on_dagger_schema() {
    let start = Instant::now();
    let body = introspect().await;
    let cold = start.elapsed();
    assert!(body.get("errors").is_none(), "errors: {}", body["errors"]);
    let schema = &body["data"]["__schema"];
    assert_eq!(schema["queryType"], json!({"name": "Query", "kind": "OBJECT"}));
    assert_eq!(schema["mutationType"], Json::Null);
    assert_eq!(schema["subscriptionType"], Json::Null);
    let types = &schema["types"];

    let query = find(types, "Query");
    let load = find(&query["fields"], "loadContainerFromID");
    assert_eq!(
        load["type"],
        json!({"kind": "NON_NULL", "name": null, "ofType": {"kind": "OBJECT", "name": "Container", "ofType": null}})
    );
    assert_eq!(load["args"][0]["name"], "id");
    assert_eq!(named(&load["args"][0]["type"]), "ContainerID");
    let loads = query["fields"].as_array().map(|f| {
        f.iter().filter(|f| f["name"].as_str().is_some_and(|n| n.starts_with("load") && n.ends_with("FromID"))).count()
    });
    assert_eq!(loads, Some(67));
    assert_eq!(find(types, "ContainerID")["kind"], "SCALAR");

    let container = find(types, "Container");
    let with_exec = find(&container["fields"], "withExec");
    let expect = find(&with_exec["args"], "expect");
    assert_eq!(expect["defaultValue"], "SUCCESS");
    assert_eq!(expect["isDeprecated"], false);
    assert_eq!(find(&with_exec["args"], "stdin")["defaultValue"], "\"\"");
    assert_eq!(find(&with_exec["args"], "args")["defaultValue"], Json::Null);
    let ifaces: Vec<&str> = container["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ifaces, ["Exportable", "Node", "Syncer"]);
    assert_eq!(container["possibleTypes"], Json::Null);
    assert_eq!(container["enumValues"], Json::Null);

    // Deprecated args are listed (includeDeprecated: true) with their reason.
    let git = find(&query["fields"], "git");
    let keep = find(&git["args"], "keepGitDir");
    assert_eq!(
        (&keep["isDeprecated"], &keep["deprecationReason"], &keep["defaultValue"]),
        (&json!(true), &json!("Set to true to keep .git directory."), &json!("true"))
    );

    let node = find(types, "Node");
    assert!(node["possibleTypes"].as_array().is_some_and(|p| p.iter().any(|t| t["name"] == "Container")));
    let media = find(types, "ImageMediaTypes");
    assert!(media["enumValues"].as_array().is_some_and(|v| v.iter().any(|e| e["name"] == "OCI")));

    // Every object lists its interfaces (maybe none); every referenced type is defined.
    let names: HashSet<&str> = types.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.len(), types.as_array().unwrap().len(), "type names are unique");
    for t in types.as_array().unwrap() {
        if t["kind"] == "OBJECT" {
            assert!(t["interfaces"].is_array(), "{}", t["name"]);
        }
        for f in t["fields"].as_array().into_iter().flatten() {
            assert!(names.contains(named(&f["type"])), "{}.{}", t["name"], f["name"]);
            for a in f["args"].as_array().into_iter().flatten() {
                assert!(names.contains(named(&a["type"])), "{}.{}({})", t["name"], f["name"], a["name"]);
            }
        }
    }
    let directives: Vec<&str> =
        schema["directives"].as_array().unwrap().iter().filter_map(|d| d["name"].as_str()).collect();
    for d in ["include", "skip", "deprecated", "specifiedBy", "expectedType", "experimental", "enumValue"] {
        assert!(directives.contains(&d), "directive `@{d}`");
    }

    // Memoized: the second answer is the same and much cheaper.
    let start = Instant::now();
    let again = introspect().await;
    let warm = start.elapsed();
    assert_eq!(again, body);
    let size = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
    let values = count_values(&body);
    eprintln!("introspection: {size} bytes, {values} values, cold {cold:?}, memoized {warm:?}");
    // The SDKs' introspection stays far below the executor's limit on response size.
    assert!(values < tanto_gql::limits::MAX_RESPONSE_POSITIONS / 10, "{values} values");
}

/// How many JSON values `v` holds, itself included.
fn count_values(v: &Json) -> usize {
    let mut stack = vec![v];
    let mut n = 0;
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Json::Array(a) => stack.extend(a),
            Json::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    n
}

async fn graphql_core_builds_a_client_schema_from_it() {
    let body = introspect().await;
    let python = tanto_testkit::prereq::python_with("graphql").unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("tanto-introspection-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("making a temp dir");
    let file = dir.join("introspection.json");
    std::fs::write(&file, serde_json::to_vec(&body).expect("serializes")).expect("writes temp file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/build_client_schema.py");
    let out = std::process::Command::new(&python).arg(script).arg(&file).output();
    if std::env::var_os("TANTO_KEEP_INTROSPECTION").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let o = out.unwrap_or_else(|e| panic!("cannot run `{}`: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "build_client_schema failed:\n{stdout}\n{stderr}");
    eprintln!("build_client_schema: {}", stdout.trim());
}
