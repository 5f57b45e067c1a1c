use super::*;

/// The type definitions the Python SDK registers for the conformance
/// suite's `conf` module (`testdata/conf/src/conf/main.py`).
pub const CONF: &str = include_str!("../testdata/conf.json");

pub fn conf() -> Catalog {
    Catalog::new(serde_json::from_str(CONF).expect("conf.json parses as ModuleTypes"))
}

/// The catalog with the core types of the schema tanto serves.
pub fn with_core(c: Catalog) -> Catalog {
    c.with_schema(tanto_api::schema::dagger_v021())
}

#[test]
fn functions_are_the_supported_ones_in_order() {
    let c = conf();
    let main = c.module.main_object().expect("conf has a main object");
    let names: Vec<String> = c.functions(main).iter().map(|f| cli_name(&f.name)).collect();
    assert_eq!(
        names,
        ["greet", "add", "negate", "shout", "summarize", "build", "generate", "fail", "random-id"],
        "declaration order, constructor attribute not a function"
    );
    assert_eq!(c.function(main, "random-id").map(|f| f.name), Some("randomId".into()));
    assert_eq!(c.function(main, "randomId").map(|f| f.name), Some("randomId".into()));
    assert_eq!(c.function(main, "nope"), None);
}

#[test]
fn flag_types_follow_dagger() {
    let c = with_core(conf());
    let main = c.module.main_object().unwrap();
    let arg = |f: &str, a: &str| -> FunctionArg {
        let f = c.function(main, f).unwrap();
        f.args.iter().find(|x| x.name == a).unwrap().clone()
    };
    // (function, arg, flag type, required)
    let cases = [
        ("greet", "name", Some(FlagType::String), true),
        ("greet", "greeting", Some(FlagType::String), false),
        ("add", "a", Some(FlagType::Int), true),
        ("negate", "value", Some(FlagType::Bool), false),
        ("shout", "words", Some(FlagType::List(Box::new(FlagType::String))), true),
        ("summarize", "src", Some(FlagType::Custom(Custom::Directory)), true),
        ("summarize", "token", Some(FlagType::Custom(Custom::Secret)), true),
    ];
    for (f, a, want, req) in cases {
        let a = arg(f, a);
        assert_eq!((flag_type(&a, false), required(&a)), (want, req), "{f} {}", a.name);
    }
    // core arguments: `ID`s are the objects their @expectedType names
    let ctr = c.object("Container").unwrap();
    // (function, arg, flag type, required)
    let core_cases = [
        ("with-exec", "args", Some(FlagType::List(Box::new(FlagType::String))), true),
        ("with-exec", "expand", Some(FlagType::Bool), false),
        ("with-directory", "source", Some(FlagType::Custom(Custom::Directory)), true),
        ("with-secret-variable", "secret", Some(FlagType::Custom(Custom::Secret)), true),
        ("with-mounted-cache", "cache", Some(FlagType::Custom(Custom::CacheVolume)), true),
        ("with-mounted-cache", "source", Some(FlagType::Custom(Custom::Directory)), false),
        ("with-service-binding", "service", Some(FlagType::Custom(Custom::Service)), true),
        ("with-exposed-port", "protocol", Some(FlagType::Enum("NetworkProtocol".into())), false),
    ];
    for (f, a, want, req) in core_cases {
        let f = c.function(ctr, f).unwrap_or_else(|| panic!("Container.{f}"));
        let a = f.args.iter().find(|x| x.name == a).unwrap();
        assert_eq!((flag_type(a, true), required(a)), (want, req), "{} {}", f.name, a.name);
    }
    let protocol = c.function(ctr, "with-exposed-port").unwrap();
    let protocol = protocol.args.iter().find(|a| a.name == "protocol").unwrap();
    assert_eq!(protocol.default_value.as_deref(), Some("\"TCP\""));
    // return types: `sync` and `id` give the Container itself
    let returns = |f: &str| object_name(&c.function(ctr, f).unwrap().return_type);
    assert_eq!(returns("file").as_deref(), Some("File"));
    assert_eq!(returns("sync").as_deref(), Some("Container"));
    assert_eq!(returns("id").as_deref(), Some("Container"));
    assert_eq!(returns("stdout"), None);
    assert_eq!(c.enum_def("NetworkProtocol").unwrap().members.len(), 2);
}

#[test]
fn unsupported_required_args_hide_a_function() {
    let mut c = with_core(conf());
    let mut obj = c.object("Container").unwrap().clone();
    let mut f = obj.functions[0].clone();
    f.name = "withThing".into();
    f.args = vec![FunctionArg {
        name: "thing".into(),
        original_name: None,
        description: None,
        default_value: None,
        default_path: None,
        ignore: None,
        type_def: object("Thing", false),
    }];
    obj.functions.push(f);
    c.core.insert("Container".into(), obj.clone());
    assert!(c.function(&obj, "with-thing").is_none());
    assert!(c.function(&obj, "with-exec").is_some());
}

#[test]
fn other_types_come_from_introspection() {
    let mut c = conf();
    let t = serde_json::json!({
        "kind": "OBJECT", "name": "Greeter", "description": "greets",
        "fields": [
            {"name": "hello", "description": "Says hello.", "args": [
                {"name": "name", "description": null, "defaultValue": null,
                 "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String"}}},
                {"name": "style", "description": null, "defaultValue": "PLAIN",
                 "type": {"kind": "ENUM", "name": "Style"}}
            ], "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String"}}},
            {"name": "friends", "description": null, "args": [], "type": {"kind": "NON_NULL", "ofType":
                {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {"kind": "OBJECT", "name": "Greeter"}}}}},
            {"name": "__typename", "args": [], "type": {"kind": "SCALAR", "name": "String"}}
        ],
        "enumValues": null
    });
    c.add_introspected("Greeter", &t).unwrap();
    let g = c.object("Greeter").unwrap();
    assert_eq!(g.description.as_deref(), Some("greets"));
    let names: Vec<&str> = g.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["hello", "friends"]);
    let hello = &g.functions[0];
    assert_eq!((required(&hello.args[0]), required(&hello.args[1])), (true, false));
    assert_eq!(hello.args[1].default_value.as_deref(), Some("\"PLAIN\""));
    assert_eq!(flag_type(&hello.args[1], true), Some(FlagType::Enum("Style".into())));
    assert_eq!(g.functions[1].return_type.type_name(), "[Greeter!]");
    let e = serde_json::json!({"kind": "ENUM", "name": "Style", "enumValues": [{"name": "PLAIN"}, {"name": "FANCY"}]});
    c.add_introspected("Style", &e).unwrap();
    assert_eq!(c.enum_def("Style").unwrap().members.len(), 2);
    assert_eq!(c.add_introspected("Nope", &serde_json::json!({})), Err("type `Nope` is not in the schema".to_string()));
}

#[test]
fn missing_types_are_named() {
    let c = conf();
    assert_eq!(c.object("Container").err(), Some(Missing("Container".into())));
    assert_eq!(c.enum_def("NetworkProtocol").err(), Some(Missing("NetworkProtocol".into())));
    assert!(c.object("Conf").is_ok());
}
