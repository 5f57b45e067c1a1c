//! Schema tests: SDL that parses or not, and descriptions.

use super::*;

/// Parses `sdl` and compares the outcome with `expected` (`Ok(())` or the error message).
fn check_parse(sdl: &str, expected: Result<(), &str>) {
    let got = Schema::parse(sdl).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "{sdl}");
}

#[test]
fn parse_errors() {
    check_parse("type Query { a: Int }", Ok(()));
    check_parse("type Query { a: Int } extend type Query { b: String }", Ok(()));
    check_parse("type Q { a: Int }", Err("query root type `Query` is not defined"));
    check_parse("schema { query: Q } type Q { a: Int }", Ok(()));
    check_parse("type Query { a: Nope }", Err("`Query.a` refers to unknown type `Nope`"));
    check_parse("type Query { a: Int } type Query { b: Int }", Err("type `Query` is defined more than once"));
    check_parse("type Query { a: Int a: Int }", Err("`Query.a` is defined more than once"));
    check_parse("type Query implements Query { a: Int }", Err("`Query` implements `Query`, which is not an interface"));
    check_parse("input I { a: Int } type Query { a: I }", Err("`Query.a` has type `I`, which is not an output type"));
    check_parse("type Query { a(x: Query): Int }", Err("`Query.a(x:)` has type `Query`, which is not an input type"));
    check_parse(
        "enum E { A } type Query { a(x: E = B): Int }",
        Err("invalid default value for `Query.a(x:)`: `B` is not a value of enum `E` (expected one of A)"),
    );
    check_parse("union U = Int type Query { a: U }", Err("union `U` has member `Int`, which is not an object type"));
    check_parse(
        "extend type Nope { a: Int } type Query { a: Int }",
        Err("cannot extend `Nope`: no such type of that kind"),
    );
    assert!(Schema::parse("type Query {").unwrap_err().to_string().starts_with("cannot parse schema: "));
    let s =
        Schema::parse("directive @r repeatable on FIELD directive @n(a: Int) on FIELD type Query { a: Int }").unwrap();
    assert!(s.get_directive("r").unwrap().repeatable);
    assert!(!s.get_directive("n").unwrap().repeatable);
    assert!(s.get_directive("skip").is_some() && s.get_type("__Type").is_some());
}

#[test]
fn descriptions_can_be_set() {
    let mut s = Schema::parse("enum E { A } input I { x: Int } type Query { a(x: Int): E }").unwrap();
    s.set_description("Query", None, Some("The root.".to_string())).unwrap();
    s.set_description("Query", Some("a"), Some("A field.".to_string())).unwrap();
    s.set_description("E", Some("A"), Some("A value.".to_string())).unwrap();
    s.set_description("I", Some("x"), Some("An input field.".to_string())).unwrap();
    s.set_arg_description("Query", "a", "x", Some("An arg.".to_string())).unwrap();
    s.set_directive_description("skip", Some("Skips.".to_string())).unwrap();
    assert_eq!(s.get_type("Query").unwrap().description.as_deref(), Some("The root."));
    assert_eq!(s.field("Query", "a").unwrap().description.as_deref(), Some("A field."));
    assert_eq!(s.field("Query", "a").unwrap().args["x"].description.as_deref(), Some("An arg."));
    assert_eq!(
        s.set_description("Query", Some("nope"), None).unwrap_err().to_string(),
        "type `Query` has no field, argument, input field or enum value `nope`"
    );
    assert_eq!(s.set_description("Nope", None, None).unwrap_err().to_string(), "unknown type `Nope`");
}
