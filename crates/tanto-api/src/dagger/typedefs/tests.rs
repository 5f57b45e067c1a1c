//! Type defs, functions, modules, envs and bindings through the executor:
//! chains read back, errors, ID round trips, the served schema as type defs,
//! and the whole schema surface of these types.

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::super::coverage::probe_engine;
use super::super::{Api, Objects};
use tanto_gql::schema::{TypeKind, TypeRef};
use tanto_gql::{execute, Args, FieldCall, Request, Resolver, Schema};

fn api() -> Api {
    Api::new(probe_engine(), Arc::new(Objects::default()))
}

async fn response(api: &Api, query: &str) -> Json {
    execute(crate::schema::dagger_v021(), api, Api::root(), Request::new(query)).await
}

/// `data` of a query that must succeed.
async fn data(api: &Api, query: &str) -> Json {
    let r = response(api, query).await;
    assert!(r.get("errors").is_none(), "{query}\n=> {r}");
    r["data"].clone()
}

/// The first error message of a query that must fail.
async fn error(api: &Api, query: &str) -> String {
    let r = response(api, query).await;
    r["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("{query} did not fail: {r}")).to_string()
}

/// The ID of the object at the end of `chain`, a Query selection of nested
/// single fields (`typeDef { withKind(kind: STRING) }`); a list gives its first.
async fn id(api: &Api, chain: &str) -> String {
    let core = chain.trim_end_matches(|c: char| c == '}' || c.is_whitespace());
    let q = format!("{{ x: {core} {{ id }} {} }}", "}".repeat(core.matches('{').count()));
    let d = data(api, &q).await;
    let mut v = &d["x"];
    loop {
        v = match v {
            Json::Array(items) => &items[0],
            Json::Object(m) if m.len() == 1 && !m.contains_key("id") => m.values().next().unwrap(),
            _ => break,
        };
    }
    v["id"].as_str().unwrap_or_else(|| panic!("{q} => {d}")).to_string()
}

#[tokio::test]
async fn type_def_chains_read_back() {
    let api = api();
    let s = id(&api, "typeDef { withKind(kind: STRING_KIND) }").await;
    let opt_int = id(&api, "typeDef { withKind(kind: INTEGER) { withOptional(optional: true) } }").await;
    let ctr = id(&api, r#"typeDef { withObject(name: "Container") }"#).await;
    let f = id(&api, &format!(r#"function(name: "do_thing", returnType: "{s}")"#)).await;
    // (chain under `typeDef`, selection, expected)
    let cases = [
        ("withKind(kind: STRING)", "kind name optional", json!({"kind": "STRING_KIND", "name": "String", "optional": false})),
        ("withKind(kind: BOOLEAN_KIND) { withOptional(optional: true)", "kind name optional", json!({"kind": "BOOLEAN_KIND", "name": "Boolean", "optional": true})),
        ("withKind(kind: VOID)", "name asObject { name } asList { id }", json!({"name": "Void", "asObject": null, "asList": null})),
        (&format!(r#"withListOf(elementType: "{s}")"#), "kind name asList { elementTypeDef { kind } }", json!({"kind": "LIST_KIND", "name": "[String]", "asList": {"elementTypeDef": {"kind": "STRING_KIND"}}})),
        (&format!(r#"withListOf(elementType: "{opt_int}")"#), "name", json!({"name": "[Int?]"})),
        (r#"withScalar(name: "my_scalar", description: "s")"#, "kind name asScalar { name description sourceModuleName }", json!({"kind": "SCALAR_KIND", "name": "MyScalar", "asScalar": {"name": "MyScalar", "description": "s", "sourceModuleName": ""}})),
        (
            &format!(r#"withObject(name: "my_obj", description: "an object", deprecated: "old") {{ withField(name: "some_field", typeDef: "{s}", description: "f") {{ withFunction(function: "{f}") {{ withConstructor(function: "{f}")"#),
            "name asObject { name description deprecated sourceMap { id } fields { name description deprecated typeDef { name } } functions { name returnType { name } } constructor { name returnType { name } } }",
            json!({"name": "MyObj", "asObject": {"name": "MyObj", "description": "an object", "deprecated": "old", "sourceMap": null,
                "fields": [{"name": "someField", "description": "f", "deprecated": null, "typeDef": {"name": "String"}}],
                "functions": [{"name": "doThing", "returnType": {"name": "String"}}],
                "constructor": {"name": "", "returnType": {"name": "String"}}}}),
        ),
        (
            &format!(r#"withInterface(name: "duck_like") {{ withFunction(function: "{f}")"#),
            "kind name asObject { name } asInterface { name functions { name } }",
            json!({"kind": "INTERFACE_KIND", "name": "DuckLike", "asObject": null, "asInterface": {"name": "DuckLike", "functions": [{"name": "doThing"}]}}),
        ),
        (
            r#"withEnum(name: "my_enum", description: "e") { withEnumMember(name: "fooBar", value: "foo", deprecated: "no") { withEnumValue(value: "BAZ")"#,
            "name asEnum { name description members { name value deprecated } values { name } }",
            json!({"name": "MyEnum", "asEnum": {"name": "MyEnum", "description": "e",
                "members": [{"name": "FOO_BAR", "value": "foo", "deprecated": "no"}, {"name": "BAZ", "value": "BAZ", "deprecated": null}],
                "values": [{"name": "FOO_BAR"}, {"name": "BAZ"}]}}),
        ),
        // The last `with*` wins; earlier parts stay hidden behind the kind.
        (&format!(r#"withListOf(elementType: "{ctr}") {{ withKind(kind: OBJECT)"#), "kind name asList { id }", json!({"kind": "OBJECT_KIND", "name": "", "asList": null})),
    ];
    for (chain, selection, want) in cases {
        let closing = "}".repeat(chain.matches('{').count());
        let q = format!("{{ typeDef {{ {chain} {{ {selection} }} {closing} }} }}");
        let got = data(&api, &q).await;
        // Walk down the chain of single-key objects to the selection.
        let mut v = &got["typeDef"];
        while let Json::Object(m) = v {
            if m.len() == 1 && m.keys().next().is_some_and(|k| k.starts_with("with")) {
                v = m.values().next().unwrap();
            } else {
                break;
            }
        }
        assert_eq!(v, &want, "{q}");
    }
}

#[tokio::test]
async fn type_def_errors() {
    let api = api();
    let s = id(&api, "typeDef { withKind(kind: STRING_KIND) }").await;
    let f = id(&api, &format!(r#"function(name: "f", returnType: "{s}")"#)).await;
    let e = id(&api, r#"typeDef { withEnum(name: "E") { withEnumMember(name: "A", value: "a") } }"#).await;
    // (query, expected message part)
    let cases = [
        ("{ typeDef { kind } }".to_string(), "TypeDef.kind: this type def has no kind yet: give it one with withKind"),
        (
            format!(
                r#"{{ typeDef {{ withKind(kind: STRING) {{ withField(name: "a", typeDef: "{s}") {{ id }} }} }} }}"#
            ),
            "withField needs an object type def, but this one is STRING_KIND: call withObject first",
        ),
        (
            format!(r#"{{ typeDef {{ withScalar(name: "S") {{ withFunction(function: "{f}") {{ id }} }} }} }}"#),
            "withFunction needs an object or interface type def, but this one is SCALAR_KIND",
        ),
        (
            format!(r#"{{ typeDef {{ withInterface(name: "I") {{ withConstructor(function: "{f}") {{ id }} }} }} }}"#),
            "withConstructor needs an object type def, but this one is INTERFACE_KIND",
        ),
        (
            r#"{ typeDef { withEnumMember(name: "A") { id } } }"#.to_string(),
            "withEnumMember needs an enum type def, but this one has no kind: call withEnum first",
        ),
        (
            format!(r#"{{ loadTypeDefFromID(id: "{e}") {{ withEnumMember(name: "1a") {{ id }} }} }}"#),
            "withEnumMember: enum member `1a` is not a valid name",
        ),
        (
            format!(r#"{{ loadTypeDefFromID(id: "{e}") {{ withEnumMember(name: "a") {{ id }} }} }}"#),
            "enum `E` already has member `A`",
        ),
        (
            format!(r#"{{ loadTypeDefFromID(id: "{e}") {{ withEnumMember(name: "B", value: "a") {{ id }} }} }}"#),
            "enum `E` already has member `A` with value `a`",
        ),
        (
            r#"{ typeDef { withObject(name: " ") { id } } }"#.to_string(),
            "withObject: the object name must not be empty",
        ),
        (format!(r#"{{ typeDef {{ withListOf(elementType: "{f}") {{ id }} }} }}"#), "is a Function, not a TypeDef"),
        (
            format!(
                r#"{{ function(name: "g", returnType: "{s}") {{ withArg(name: "a", typeDef: "{s}") {{ withArg(name: "a", typeDef: "{s}") {{ id }} }} }} }}"#
            ),
            "withArg: function `g` already has an argument `a`",
        ),
        (
            format!(
                r#"{{ function(name: "g", returnType: "{s}") {{ withArg(name: "a", typeDef: "{s}", defaultValue: "{{nope") {{ id }} }} }}"#
            ),
            "`defaultValue` is not JSON text",
        ),
        (
            format!(
                r#"{{ function(name: "g", returnType: "{s}") {{ withCachePolicy(policy: Never, timeToLive: "1m") {{ id }} }} }}"#
            ),
            "withCachePolicy: timeToLive applies to the Default policy only, not Never",
        ),
        (
            format!(
                r#"{{ function(name: "g", returnType: "{s}") {{ withCachePolicy(policy: Default, timeToLive: "soon") {{ id }} }} }}"#
            ),
            "withCachePolicy: duration `soon`",
        ),
    ];
    for (q, want) in cases {
        let got = error(&api, &q).await;
        assert!(got.contains(want), "{q}\n=> {got}\nwant: {want}");
    }
}

#[tokio::test]
async fn functions_and_args_read_back() {
    let api = api();
    let s = id(&api, "typeDef { withKind(kind: STRING_KIND) }").await;
    let sm = id(&api, r#"sourceMap(filename: "main.go", line: 3, column: 7)"#).await;
    let q = format!(
        r#"{{ function(name: "build_it", returnType: "{s}") {{
            withArg(name: "src_dir", typeDef: "{s}", description: "d", defaultValue: "\"x\"", defaultPath: "/src", ignore: ["*.tmp"], sourceMap: "{sm}", deprecated: "use other", defaultAddress: "a") {{
            withArg(name: "n", typeDef: "{s}") {{
            withDescription(description: "  builds  ") {{ withDeprecated(reason: "gone") {{ withSourceMap(sourceMap: "{sm}") {{
            withCachePolicy(policy: Default, timeToLive: "90s") {{ withCheck {{ withGenerator {{ withUp {{
              name description deprecated sourceModuleName returnType {{ name }}
              sourceMap {{ filename line column module url }}
              args {{ name description defaultValue defaultPath defaultAddress ignore deprecated sourceMap {{ line }} typeDef {{ kind optional }} }}
            }} }} }} }} }} }} }} }} }} }} }}"#
    );
    let got = data(&api, &q).await;
    let mut v = &got["function"];
    while v.get("name").is_none() {
        v = v.as_object().unwrap().values().next().unwrap();
    }
    assert_eq!(
        v,
        &json!({
            "name": "buildIt", "description": "builds", "deprecated": "gone", "sourceModuleName": "", "returnType": {"name": "String"},
            "sourceMap": {"filename": "main.go", "line": 3, "column": 7, "module": "", "url": ""},
            "args": [
                {"name": "srcDir", "description": "d", "defaultValue": "\"x\"", "defaultPath": "/src", "defaultAddress": "a", "ignore": ["*.tmp"], "deprecated": "use other", "sourceMap": {"line": 3}, "typeDef": {"kind": "STRING_KIND", "optional": true}},
                {"name": "n", "description": "", "defaultValue": "null", "defaultPath": "", "defaultAddress": "", "ignore": [], "deprecated": null, "sourceMap": null, "typeDef": {"kind": "STRING_KIND", "optional": false}},
            ]
        })
    );
    // Cache policy and the check/generator/up marks are part of the value.
    let plain = id(&api, &format!(r#"function(name: "build_it", returnType: "{s}")"#)).await;
    let again = id(&api, &format!(r#"function(name: "build_it", returnType: "{s}")"#)).await;
    let marked = id(&api, &format!(r#"function(name: "build_it", returnType: "{s}") {{ withCheck }}"#)).await;
    assert_eq!(plain, again, "same value, same ID");
    assert_ne!(plain, marked);
}

#[tokio::test]
async fn ids_round_trip_and_values_stay_immutable() {
    let api = api();
    let s = id(&api, "typeDef { withKind(kind: STRING_KIND) }").await;
    let dir = id(&api, "directory").await;
    let obj = id(&api, r#"typeDef { withObject(name: "Thing") }"#).await;
    // (chain, type, a field to read back, its value)
    let cases = [
        (r#"typeDef { withObject(name: "Thing") }"#.to_string(), "TypeDef", "name", json!("Thing")),
        (r#"typeDef { withObject(name: "Thing") { asObject } }"#.to_string(), "ObjectTypeDef", "name", json!("Thing")),
        (
            r#"typeDef { withInterface(name: "Iface") { asInterface } }"#.to_string(),
            "InterfaceTypeDef",
            "name",
            json!("Iface"),
        ),
        (r#"typeDef { withEnum(name: "E") { asEnum } }"#.to_string(), "EnumTypeDef", "name", json!("E")),
        (r#"typeDef { withScalar(name: "S") { asScalar } }"#.to_string(), "ScalarTypeDef", "name", json!("S")),
        (
            format!(r#"typeDef {{ withListOf(elementType: "{s}") {{ asList {{ elementTypeDef }} }} }}"#),
            "TypeDef",
            "name",
            json!("String"),
        ),
        (format!(r#"function(name: "f", returnType: "{s}")"#), "Function", "name", json!("f")),
        (
            format!(r#"function(name: "f", returnType: "{s}") {{ withArg(name: "a", typeDef: "{s}") {{ args }} }}"#),
            "FunctionArg",
            "name",
            json!("a"),
        ),
        (
            format!(
                r#"typeDef {{ withObject(name: "T") {{ withField(name: "fi", typeDef: "{s}") {{ asObject {{ fields }} }} }} }}"#
            ),
            "FieldTypeDef",
            "name",
            json!("fi"),
        ),
        (
            r#"typeDef { withEnum(name: "E") { withEnumValue(value: "V") { asEnum { members } } } }"#.to_string(),
            "EnumValueTypeDef",
            "value",
            json!("V"),
        ),
        (r#"sourceMap(filename: "a.py", line: 1, column: 2)"#.to_string(), "SourceMap", "filename", json!("a.py")),
        (
            format!(r#"generatedCode(code: "{dir}") {{ withVCSIgnoredPaths(paths: ["x"]) }}"#),
            "GeneratedCode",
            "vcsIgnoredPaths",
            json!(["x"]),
        ),
        (format!(r#"module {{ withObject(object: "{obj}") }}"#), "Module", "description", json!("")),
        (
            r#"env(privileged: true) { withStringInput(name: "a", value: "v", description: "d") }"#.to_string(),
            "Env",
            "inputs { name }",
            json!([{"name": "a"}]),
        ),
        (
            r#"env { withStringInput(name: "a", value: "v", description: "d") { input(name: "a") } }"#.to_string(),
            "Binding",
            "asString",
            json!("v"),
        ),
        ("cloud".to_string(), "Cloud", "id", Json::Null),
    ];
    for (chain, ty, field, want) in cases {
        let oid = id(&api, &chain).await;
        assert!(oid.starts_with(&format!("{ty}:")), "{chain}: {oid}");
        let key = field.split(' ').next().unwrap();
        let via_node = data(&api, &format!(r#"{{ node(id: "{oid}") {{ ... on {ty} {{ {field} }} }} }}"#)).await;
        let via_load = data(&api, &format!(r#"{{ load{ty}FromID(id: "{oid}") {{ {field} }} }}"#)).await;
        let want = if want.is_null() { json!(oid) } else { want };
        assert_eq!(via_node["node"][key], want, "{chain} via node");
        assert_eq!(via_load[format!("load{ty}FromID")][key], want, "{chain} via load{ty}FromID");
    }
    // A `with*` makes a new value and leaves its parent alone.
    let base = id(&api, r#"typeDef { withObject(name: "Base") }"#).await;
    let more = data(
        &api,
        &format!(r#"{{ loadTypeDefFromID(id: "{base}") {{ withField(name: "x", typeDef: "{s}") {{ id }} }} }}"#),
    )
    .await;
    assert_ne!(more["loadTypeDefFromID"]["withField"]["id"], json!(base));
    let fields =
        data(&api, &format!(r#"{{ loadTypeDefFromID(id: "{base}") {{ asObject {{ fields {{ name }} }} }} }}"#)).await;
    assert_eq!(fields["loadTypeDefFromID"]["asObject"]["fields"], json!([]));
}

#[tokio::test]
async fn modules_hold_type_defs() {
    let api = api();
    let obj = id(&api, r#"typeDef { withObject(name: "my_mod") }"#).await;
    let iface = id(&api, r#"typeDef { withInterface(name: "Shape") }"#).await;
    let en = id(&api, r#"typeDef { withEnum(name: "Color") }"#).await;
    let q = format!(
        r#"{{ module {{ withDescription(description: " a module ") {{ withObject(object: "{obj}") {{ withInterface(iface: "{iface}") {{ withEnum(enum: "{en}") {{
            name description objects {{ name }} interfaces {{ name }} enums {{ name }} dependencies {{ id }} source {{ id }} sdk {{ id }} }} }} }} }} }} }}"#
    );
    let got = data(&api, &q).await;
    let m = &got["module"]["withDescription"]["withObject"]["withInterface"]["withEnum"];
    assert_eq!(
        m,
        &json!({"name": "", "description": "a module", "objects": [{"name": "MyMod"}], "interfaces": [{"name": "Shape"}], "enums": [{"name": "Color"}], "dependencies": [], "source": null, "sdk": null})
    );
    // (query, expected error)
    let cases = [
        (
            format!(r#"{{ module {{ withObject(object: "{en}") {{ id }} }} }}"#),
            "Module.withObject: expected a named type def of kind OBJECT_KIND, but this one is ENUM_KIND (`Color`)",
        ),
        (
            format!(r#"{{ module {{ withEnum(enum: "{obj}") {{ id }} }} }}"#),
            "Module.withEnum: expected a named type def of kind ENUM_KIND, but this one is OBJECT_KIND (`MyMod`)",
        ),
        ("{ module { serve } }".to_string(), "not a loaded module: load one with `moduleSource(refString:).asModule`"),
        ("{ module { runtime { id } } }".to_string(), "not a loaded module"),
        (
            "{ module { generatedContextDirectory { id } } }".to_string(),
            "not implemented yet: Module.generatedContextDirectory",
        ),
    ];
    for (q, want) in cases {
        let got = error(&api, &q).await;
        assert!(got.contains(want), "{q}\n=> {got}");
    }
}

#[tokio::test]
async fn envs_bind_inputs_and_declare_outputs() {
    let api = api();
    let ctr = id(&api, "container").await;
    let dir = id(&api, r#"directory { withNewFile(path: "a", contents: "x") }"#).await;
    let env = id(
        &api,
        &format!(
            r#"env(writable: true) {{ withStringInput(name: "greeting", value: "hi", description: "what to say") {{
                withContainerInput(name: "base", value: "{ctr}", description: "a container") {{
                withStringInput(name: "greeting", value: "hello", description: "replaced") {{
                withDirectoryOutput(name: "out", description: "the result") {{ withStringOutput(name: "note", description: "n") {{
                withWorkspace(workspace: "{dir}") }} }} }} }} }} }}"#
        ),
    )
    .await;
    let got = data(
        &api,
        &format!(
            r#"{{ loadEnvFromID(id: "{env}") {{
                inputs {{ name typeName isNull asString }}
                outputs {{ name typeName isNull }}
                base: input(name: "base") {{ asContainer {{ id }} }}
                note: output(name: "note") {{ isNull asString }}
                workspace {{ id }}
                withoutOutputs {{ outputs {{ name }} }} }} }}"#
        ),
    )
    .await;
    let e = &got["loadEnvFromID"];
    assert_eq!(
        e["inputs"],
        json!([
            {"name": "greeting", "typeName": "String", "isNull": false, "asString": "hello"},
            {"name": "base", "typeName": "Container", "isNull": false, "asString": null},
        ])
    );
    assert_eq!(
        e["outputs"],
        json!([{"name": "out", "typeName": "Directory", "isNull": true}, {"name": "note", "typeName": "String", "isNull": true}])
    );
    assert_eq!(e["base"]["asContainer"]["id"], json!(ctr));
    assert_eq!(e["note"], json!({"isNull": true, "asString": null}));
    assert_eq!(e["workspace"]["id"], json!(dir));
    assert_eq!(e["withoutOutputs"]["outputs"], json!([]));
    // Digests follow the value.
    let digest = |v: &str| {
        format!(
            r#"{{ env {{ withStringInput(name: "a", value: "{v}", description: "") {{ input(name: "a") {{ digest }} }} }} }}"#
        )
    };
    let (d1, d2, d3) = (data(&api, &digest("x")).await, data(&api, &digest("x")).await, data(&api, &digest("y")).await);
    assert_eq!(d1, d2);
    assert_ne!(d1, d3);
    assert!(d1["env"]["withStringInput"]["input"]["digest"].as_str().unwrap().starts_with("sha256:"));
    // (query, expected error)
    let cases = [
        (
            format!(r#"{{ loadEnvFromID(id: "{env}") {{ input(name: "nope") {{ name }} }} }}"#),
            "env has no input `nope`: its inputs are `greeting`, `base`",
        ),
        (r#"{ env { output(name: "x") { name } } }"#.to_string(), "env has no output `x`: it has no outputs"),
        (
            format!(r#"{{ loadEnvFromID(id: "{env}") {{ input(name: "base") {{ asDirectory {{ id }} }} }} }}"#),
            "Binding.asDirectory: binding `base` holds a Container, not a Directory",
        ),
        (
            format!(r#"{{ loadEnvFromID(id: "{env}") {{ output(name: "out") {{ asDirectory {{ id }} }} }} }}"#),
            "binding `out` has no value: it is a declared Directory output",
        ),
        (
            format!(r#"{{ env {{ withDirectoryInput(name: "d", value: "{ctr}", description: "") {{ id }} }} }}"#),
            "is a Container, not a Directory",
        ),
        (r#"{ env { withCurrentModule { id } } }"#.to_string(), "not implemented yet: Env.withCurrentModule"),
        (r#"{ env { checks { id } } }"#.to_string(), "not implemented yet: Env.checks"),
    ];
    for (q, want) in cases {
        let got = error(&api, &q).await;
        assert!(got.contains(want), "{q}\n=> {got}");
    }
}

#[tokio::test]
async fn client_sessions_have_no_function_call_context_or_cloud() {
    let api = api();
    // (query, expected error)
    let cases = [
        ("{ currentModule { id } }", "currentModule: this session is a client session, not a module function call, so it has no current module; it exists inside a module function call (`tanto call`)"),
        ("{ currentFunctionCall { name } }", "currentFunctionCall: this session is a client session, not a module function call, so it has no current function call"),
        ("{ currentEnv { id } }", "currentEnv: this session is a client session, not a module function call, so it has no current env"),
        ("{ cloud { traceURL } }", "Cloud.traceURL: tanto is not connected to Dagger Cloud, so there is no trace URL"),
    ];
    for (q, want) in cases {
        let got = error(&api, q).await;
        assert!(got.starts_with(want), "{q}\n=> {got}");
    }
}

#[tokio::test]
async fn current_type_defs_describe_the_served_schema() {
    let api = api();
    let all = data(
        &api,
        "{ currentTypeDefs { kind name asObject { functions { name } } asEnum { members { name value } } asInput { fields { name typeDef { name } } } asInterface { functions { name } } } }",
    )
    .await;
    let defs = all["currentTypeDefs"].as_array().unwrap();
    let find = |name: &str| defs.iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    // (name, kind) present; GraphQL's own scalars are kinds, not entries.
    for (name, kind) in [
        ("Query", "OBJECT_KIND"),
        ("Container", "OBJECT_KIND"),
        ("TypeDef", "OBJECT_KIND"),
        ("Syncer", "INTERFACE_KIND"),
        ("TypeDefKind", "ENUM_KIND"),
        ("BuildArg", "INPUT_KIND"),
        ("Platform", "SCALAR_KIND"),
        ("JSON", "SCALAR_KIND"),
    ] {
        assert_eq!(find(name)["kind"], kind, "{name}");
    }
    for name in ["String", "ID", "Boolean", "__Type"] {
        assert!(defs.iter().all(|d| d["name"] != name), "{name} is not an entry");
    }
    let ctr_fns: Vec<&str> = find("Container")["asObject"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(ctr_fns.contains(&"withExec") && ctr_fns.contains(&"sync") && !ctr_fns.contains(&"id"), "{ctr_fns:?}");
    assert_eq!(find("Syncer")["asInterface"]["functions"], json!([{"name": "sync"}]));
    assert_eq!(
        find("BuildArg")["asInput"]["fields"],
        json!([{"name": "name", "typeDef": {"name": "String"}}, {"name": "value", "typeDef": {"name": "String"}}])
    );
    let kinds = find("TypeDefKind")["asEnum"]["members"].as_array().unwrap().clone();
    assert!(
        kinds.contains(&json!({"name": "STRING_KIND", "value": ""}))
            && kinds.contains(&json!({"name": "STRING", "value": "STRING_KIND"})),
        "{kinds:?}"
    );

    // Arguments: ID with @expectedType takes the object, a bare ID stays a scalar;
    // directives and defaults fill the argument.
    let q = r#"{ currentTypeDefs { name asObject { functions { name args { name defaultValue typeDef { kind name optional } } returnType { name optional } } } } }"#;
    let got = data(&api, q).await;
    let fns = |t: &str| {
        got["currentTypeDefs"].as_array().unwrap().iter().find(|d| d["name"] == t).unwrap()["asObject"]["functions"]
            .as_array()
            .unwrap()
            .clone()
    };
    let func =
        |t: &str, f: &str| fns(t).into_iter().find(|x| x["name"] == f).unwrap_or_else(|| panic!("{t}.{f} missing"));
    let arg = |t: &str, f: &str, a: &str| {
        func(t, f)["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == a)
            .cloned()
            .unwrap_or_else(|| panic!("{t}.{f}({a}) missing"))
    };
    // (type, field, arg, expected)
    let cases = [
        (
            "Container",
            "withDirectory",
            "source",
            json!({"name": "source", "defaultValue": "null", "typeDef": {"kind": "OBJECT_KIND", "name": "Directory", "optional": false}}),
        ),
        (
            "Container",
            "withExec",
            "args",
            json!({"name": "args", "defaultValue": "null", "typeDef": {"kind": "LIST_KIND", "name": "[String]", "optional": false}}),
        ),
        (
            "Query",
            "node",
            "id",
            json!({"name": "id", "defaultValue": "null", "typeDef": {"kind": "SCALAR_KIND", "name": "ID", "optional": false}}),
        ),
        (
            "Query",
            "loadContainerFromID",
            "id",
            json!({"name": "id", "defaultValue": "null", "typeDef": {"kind": "OBJECT_KIND", "name": "Container", "optional": false}}),
        ),
        (
            "Query",
            "cacheVolume",
            "sharing",
            json!({"name": "sharing", "defaultValue": "\"SHARED\"", "typeDef": {"kind": "ENUM_KIND", "name": "CacheSharingMode", "optional": true}}),
        ),
        (
            "Query",
            "file",
            "permissions",
            json!({"name": "permissions", "defaultValue": "420", "typeDef": {"kind": "INTEGER_KIND", "name": "Int", "optional": true}}),
        ),
    ];
    for (t, f, a, want) in cases {
        let got = arg(t, f, a);
        assert_eq!(got, want, "{t}.{f}({a})");
    }
    assert_eq!(func("Container", "sync")["returnType"], json!({"name": "ID", "optional": false}));
    assert_eq!(func("Container", "stdout")["returnType"], json!({"name": "String", "optional": false}));
    assert_eq!(func("Module", "runtime")["returnType"], json!({"name": "Container", "optional": true}));

    // hideCore: no core functions on Query (no modules are loaded).
    let hidden = data(&api, "{ currentTypeDefs(hideCore: true) { name asObject { functions { name } } } }").await;
    let query = hidden["currentTypeDefs"].as_array().unwrap().iter().find(|d| d["name"] == "Query").unwrap().clone();
    assert_eq!(query["asObject"]["functions"], json!([]));

    // returnAllTypes: every referenced type once, non-optional, full definitions.
    let every =
        data(&api, "{ currentTypeDefs(returnAllTypes: true) { name kind optional asObject { functions { name } } } }")
            .await;
    let every = every["currentTypeDefs"].as_array().unwrap();
    let names: Vec<&str> = every.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "names are unique");
    for n in ["String", "Int", "Boolean", "ID", "Void", "[String]", "[Container]", "Container", "Query"] {
        assert!(names.contains(&n), "{n} missing from returnAllTypes");
    }
    assert!(every.iter().all(|d| d["optional"] == false));
    let container = every.iter().find(|d| d["name"] == "Container").unwrap();
    assert!(!container["asObject"]["functions"].as_array().unwrap().is_empty(), "the definition wins over references");
    assert!(names.len() > defs.len());
}

/// A placeholder for a required argument (IDs: an object of the expected type).
fn placeholder(schema: &Schema, ty: &TypeRef, expected: Option<&str>, ids: &[(&str, String)]) -> Json {
    match ty {
        TypeRef::NonNull(inner) => placeholder(schema, inner, expected, ids),
        TypeRef::List(_) => json!([]),
        TypeRef::Named(name) => match &**name {
            "String" => json!("probe"),
            "Int" => json!(1),
            "Float" => json!(1.0),
            "Boolean" => json!(false),
            "JSON" => json!("1"),
            n => match schema.get_type(n) {
                Some(t) if t.kind == TypeKind::Enum => json!(t.enum_values.keys().next().unwrap().to_string()),
                _ => json!(ids
                    .iter()
                    .find(|(t, _)| Some(*t) == expected)
                    .map(|(_, id)| id.clone())
                    .unwrap_or_else(|| "probe:none".into())),
            },
        },
    }
}

/// Every field of these types either works or is one of the listed
/// runtime-bound fields that say `not implemented yet`.
#[tokio::test]
async fn the_whole_surface_of_these_types_is_served() {
    let api = api();
    let schema = crate::schema::dagger_v021();
    let s = id(&api, "typeDef { withKind(kind: STRING_KIND) }").await;
    let sm = id(&api, r#"sourceMap(filename: "f", line: 1, column: 1)"#).await;
    let f =
        id(&api, &format!(r#"function(name: "f", returnType: "{s}") {{ withArg(name: "a", typeDef: "{s}") }}"#)).await;
    let obj_td = id(&api, &format!(r#"typeDef {{ withObject(name: "O") {{ withField(name: "x", typeDef: "{s}") {{ withFunction(function: "{f}") }} }} }}"#)).await;
    let enum_td = id(&api, r#"typeDef { withEnum(name: "E") { withEnumValue(value: "V") } }"#).await;
    let dir = id(&api, "directory").await;
    let served = data(&api, r#"{ currentTypeDefs { name asInput { id } } }"#).await;
    let build_arg = served["currentTypeDefs"].as_array().unwrap().iter().find(|x| x["name"] == "BuildArg").unwrap()
        ["asInput"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids: Vec<(&str, String)> = vec![
        ("TypeDef", obj_td.clone()),
        ("Function", f.clone()),
        ("SourceMap", sm.clone()),
        ("Directory", dir.clone()),
        ("Container", id(&api, "container").await),
        ("Module", id(&api, "module").await),
    ];
    // (type, ID of an object of it, fields expected to be not implemented)
    let objects: Vec<(&str, String, Vec<&str>)> = vec![
        ("TypeDef", obj_td.clone(), vec![]),
        ("ObjectTypeDef", id(&api, &format!(r#"loadTypeDefFromID(id: "{obj_td}") {{ asObject }}"#)).await, vec![]),
        ("InterfaceTypeDef", id(&api, r#"typeDef { withInterface(name: "I") { asInterface } }"#).await, vec![]),
        ("InputTypeDef", build_arg, vec![]),
        ("ScalarTypeDef", id(&api, r#"typeDef { withScalar(name: "S") { asScalar } }"#).await, vec![]),
        ("EnumTypeDef", id(&api, &format!(r#"loadTypeDefFromID(id: "{enum_td}") {{ asEnum }}"#)).await, vec![]),
        (
            "EnumValueTypeDef",
            id(&api, r#"typeDef { withEnum(name: "E") { withEnumValue(value: "V") { asEnum { members } } } }"#).await,
            vec![],
        ),
        (
            "ListTypeDef",
            id(&api, &format!(r#"typeDef {{ withListOf(elementType: "{s}") {{ asList }} }}"#)).await,
            vec![],
        ),
        (
            "FieldTypeDef",
            id(&api, &format!(r#"loadTypeDefFromID(id: "{obj_td}") {{ asObject {{ fields }} }}"#)).await,
            vec![],
        ),
        ("Function", f.clone(), vec![]),
        ("FunctionArg", id(&api, &format!(r#"loadFunctionFromID(id: "{f}") {{ args }}"#)).await, vec![]),
        ("SourceMap", sm.clone(), vec![]),
        ("GeneratedCode", id(&api, &format!(r#"generatedCode(code: "{dir}")"#)).await, vec![]),
        (
            "Module",
            id(&api, "module").await,
            vec![
                "check",
                "checks",
                "generatedContextDirectory",
                "generator",
                "generators",
                "introspectionSchemaJSON",
                "services",
                "userDefaults",
            ],
        ),
        (
            "Env",
            id(&api, "env").await,
            vec!["check", "checks", "services", "withCurrentModule", "withMainModule", "withModule"],
        ),
        (
            "Binding",
            id(&api, r#"env { withStringInput(name: "a", value: "v", description: "") { input(name: "a") } }"#).await,
            vec![],
        ),
        ("Cloud", id(&api, "cloud").await, vec![]),
    ];
    for (ty, oid, missing) in objects {
        let parent = api.load(&json!(oid), Some(ty)).unwrap_or_else(|e| panic!("{ty}: {e}"));
        let parent = (*parent).clone().into_obj();
        let t = schema.get_type(ty).unwrap();
        let mut got_missing = Vec::new();
        for fdef in t.fields.values() {
            let mut args = Args::new(ty, fdef.name.clone());
            for (name, a) in &fdef.args {
                if let Some(d) = &a.default_json {
                    args.insert(name.clone(), d.clone());
                } else if a.ty.is_non_null() {
                    let expected =
                        a.directives.iter().find(|d| &*d.name == "expectedType").and_then(|d| d.arg("name")).and_then(
                            |v| match v {
                                async_graphql_value::ConstValue::String(s) => Some(s.clone()),
                                _ => None,
                            },
                        );
                    args.insert(name.clone(), placeholder(schema, &a.ty, expected.as_deref(), &ids));
                }
            }
            let call = FieldCall { schema, type_name: ty, field: &fdef.name, args: &args, def: fdef };
            if let Err(e) = api.resolve(&parent, &call).await {
                if e.message == format!("not implemented yet: {ty}.{}", fdef.name) {
                    got_missing.push(fdef.name.to_string());
                }
            }
        }
        assert_eq!(got_missing, missing, "{ty}: fields answering `not implemented yet`");
    }
}
