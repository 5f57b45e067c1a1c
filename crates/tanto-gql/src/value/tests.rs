//! Coercion, argument accessors and literal printing, each as a table.

use super::*;

const SDL: &str = r#"
    enum Mode { FAST SLOW }
    input Opt { name: String!, level: Int = 3, tags: [String!] }
    scalar JSON
    type Thing { id: ID! }
    scalar ThingID
    type Query { x: Int }
"#;

/// Coerces the GraphQL literal `literal` to type `ty` with variables `vars`; `expected` is
/// the JSON result or `Err(substring of the message)`.
fn check(ty: &str, literal: &str, vars: Json, expected: Result<Json, &str>) {
    let schema = Schema::parse(SDL).expect("test schema");
    let doc = crate::parse::parse_query(&format!("{{ x(v: {literal}) }}")).expect("literal parses");
    let crate::ast::Selection::Field(f) = &doc.set(doc.operations[0].set)[0] else { panic!("a field") };
    let value = &f.arguments[0].value;
    let ty = TypeRef::from_ast(&async_graphql_parser::types::Type::new(ty).expect("type"));
    let vars = vars.as_object().cloned().unwrap_or_default();
    let got = Coercer::new(&schema, &vars).coerce(value, &ty).map_err(|e| e.to_string());
    match (&got, &expected) {
        (Ok(g), Ok(e)) => assert_eq!(g, e, "{ty} <- {literal}"),
        (Err(g), Err(e)) => {
            assert!(g.contains(e), "{ty} <- {literal}: error {g:?} lacks {e:?}")
        }
        _ => panic!("{ty} <- {literal}: got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn coercion() {
    use serde_json::json;
    let none = Json::Null;
    check("String", r#""a""#, none.clone(), Ok(json!("a")));
    check("String", "1", none.clone(), Err("expected a `String`, found 1"));
    check("String!", "null", none.clone(), Err("expected a non-null `String!`, found null"));
    check("Int", "42", none.clone(), Ok(json!(42)));
    check("Int", r#""42""#, none.clone(), Ok(json!(42)));
    check("Int", "4.0", none.clone(), Ok(json!(4)));
    check("Int", r#""x""#, none.clone(), Err("expected an `Int`, found \"x\""));
    check("Float", r#""1.5""#, none.clone(), Ok(json!(1.5)));
    check("Float", "2", none.clone(), Ok(json!(2)));
    check("Boolean", r#""true""#, none.clone(), Ok(json!(true)));
    check("Boolean", "false", none.clone(), Ok(json!(false)));
    check("ID", "123", none.clone(), Ok(json!("123")));
    check("ThingID", "123", none.clone(), Ok(json!("123")));
    check("ID", r#""abc""#, none.clone(), Ok(json!("abc")));
    check("Mode", "FAST", none.clone(), Ok(json!("FAST")));
    check("Mode", r#""SLOW""#, none.clone(), Ok(json!("SLOW")));
    check("Mode", "MEDIUM", none.clone(), Err("`MEDIUM` is not a value of enum `Mode`"));
    check("[String!]", r#""one""#, none.clone(), Ok(json!(["one"])));
    check("[String!]!", r#"["a", "b"]"#, none.clone(), Ok(json!(["a", "b"])));
    check("[String!]", r#"["a", null]"#, none.clone(), Err("at `1`: expected a non-null"));
    check("[Int]", "null", none.clone(), Ok(json!(null)));
    check("Opt", r#"{name: "n"}"#, none.clone(), Ok(json!({"name": "n", "level": 3})));
    check("Opt", r#"{name: "n", level: null}"#, none.clone(), Ok(json!({"name": "n", "level": 3})));
    check("Opt", r#"{name: "n", tags: "t"}"#, none.clone(), Ok(json!({"name": "n", "level": 3, "tags": ["t"]})));
    check("Opt", r#"{level: 1}"#, none.clone(), Err("field `name` of `Opt` is required"));
    check("Opt", r#"{name: "n", bogus: 1}"#, none.clone(), Err("`Opt` has no field `bogus`"));
    check("Opt", r#"{name: 1}"#, none.clone(), Err("at `name`: expected a `String`"));
    check("JSON", r#"{a: [1, "x", B]}"#, none.clone(), Ok(json!({"a": [1, "x", "B"]})));
    check("String", "$s", json!({"s": "from var"}), Ok(json!("from var")));
    check("[String!]", "[$s, \"b\"]", json!({"s": "a"}), Ok(json!(["a", "b"])));
    check("Mode", "$m", json!({"m": "SLOW"}), Ok(json!("SLOW")));
    check("String", "$missing", json!({}), Ok(json!(null)));
    check("Opt", "{name: $n}", json!({"n": "v"}), Ok(json!({"name": "v", "level": 3})));
    check("Thing", "1", none, Err("`Thing` is not an input type"));
}

#[test]
fn args_accessors() {
    use serde_json::json;
    let args = Args::new("Container", "withExec")
        .with("args", json!(["echo", "hi"]))
        .with("useEntrypoint", json!(false))
        .with("stdin", json!(""))
        .with("expect", json!("SUCCESS"))
        .with("nothing", Json::Null)
        .with("size", json!(7));
    assert_eq!(args.string_list("args").unwrap(), vec!["echo", "hi"]);
    assert!(!args.bool("useEntrypoint").unwrap());
    assert_eq!(args.string("stdin").unwrap(), "");
    assert_eq!(args.enum_value("expect").unwrap(), "SUCCESS");
    assert_eq!(args.opt_string("nothing").unwrap(), None);
    assert_eq!(args.get("nothing"), None);
    assert!(args.contains("nothing"));
    assert_eq!(args.opt_int("size").unwrap(), Some(7));
    assert_eq!(args.string("args").unwrap_err().message, "argument `args` of Container.withExec must be a string");
    assert_eq!(args.string("path").unwrap_err().message, "argument `path` of Container.withExec is required");
    assert_eq!(args.int("stdin").unwrap_err().message, "argument `stdin` of Container.withExec must be an integer");
}

#[test]
fn literals() {
    let cases: &[(&str, &str)] = &[
        (r#""a\"b\n""#, r#""a\"b\n""#),
        ("[]", "[]"),
        (r#"["x", "y"]"#, r#"["x", "y"]"#),
        ("SUCCESS", "SUCCESS"),
        ("420", "420"),
        ("1.5", "1.5"),
        ("{a: 1, b: [true]}", "{a: 1, b: [true]}"),
        ("null", "null"),
    ];
    for (src, want) in cases {
        let doc = async_graphql_parser::parse_schema(format!("type Q {{ f(a: Int = {src}): Int }}")).unwrap();
        let async_graphql_parser::types::TypeSystemDefinition::Type(t) = &doc.definitions[0] else { panic!() };
        let async_graphql_parser::types::TypeKind::Object(o) = &t.node.kind else { panic!() };
        let v = o.fields[0].node.arguments[0].node.default_value.as_ref().unwrap();
        assert_eq!(print_literal(&v.node), *want);
    }
}
