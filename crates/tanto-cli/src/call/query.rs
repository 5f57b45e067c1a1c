//! The GraphQL the CLI sends: loading and serving a module, reading its
//! types, making objects from flags (`address(value:)`), and the call
//! itself; and reading their answers. Text in, JSON out: no engine here.

use serde_json::Value as Json;

use super::catalog::Custom;
use super::chain::{ArgValue, LeafSelection, Lookup, Plan};

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The module's type definitions (read as `ModuleTypes` under
/// `moduleSource.asModule`).
pub fn types_query(module_ref: &str) -> String {
    format!(
        "{{ moduleSource(refString: {}) {{ asModule {{ {} }} }} }}",
        quote(module_ref),
        tanto_module::types::module_types_selection()
    )
}

/// Adds the module (and its dependencies) to this session's schema.
pub fn serve_query(module_ref: &str) -> String {
    format!(
        "{{ moduleSource(refString: {}) {{ asModule {{ serve(includeDependencies: true) }} }} }}",
        quote(module_ref)
    )
}

/// The `ModuleTypes` JSON in the answer to [`types_query`].
pub fn read_types(data: &Json) -> Option<&Json> {
    data.get("moduleSource")?.get("asModule")
}

/// How one lookup is selected under `Query`, and where its ID is in the answer.
fn lookup_selection(l: &Lookup) -> (String, &'static [&'static str]) {
    let v = quote(&l.value);
    let address = |sel: &str| format!("address(value: {v}) {{ {sel} }}");
    match l.kind {
        Custom::Container => (address("container { id: sync }"), &["container", "id"]),
        Custom::Directory if !l.exclude.is_empty() => {
            let ex: Vec<String> = l.exclude.iter().map(|e| quote(e)).collect();
            (address(&format!("directory(exclude: [{}]) {{ id }}", ex.join(", "))), &["directory", "id"])
        }
        Custom::Directory => (address("directory { id }"), &["directory", "id"]),
        Custom::File => (address("file { id }"), &["file", "id"]),
        Custom::Secret => (address("secret { id }"), &["secret", "id"]),
        Custom::Service => (address("service { id }"), &["service", "id"]),
        Custom::Socket => (address("socket { id }"), &["socket", "id"]),
        Custom::GitRepository => (address("gitRepository { id }"), &["gitRepository", "id"]),
        Custom::GitRef => (address("gitRef { id }"), &["gitRef", "id"]),
        Custom::CacheVolume => (format!("cacheVolume(key: {v}) {{ id }}"), &["id"]),
        Custom::ModuleSource => (format!("moduleSource(refString: {v}) {{ id }}"), &["id"]),
        Custom::Module => (format!("moduleSource(refString: {v}) {{ asModule {{ id }} }}"), &["asModule", "id"]),
        // Literals never become lookups.
        Custom::Platform | Custom::PortForward | Custom::BuildArg => (String::new(), &[]),
    }
}

/// One query making every lookup's object (`l0`, `l1`, ...), or `None`.
pub fn lookups_query(lookups: &[Lookup]) -> Option<String> {
    if lookups.is_empty() {
        return None;
    }
    let fields: Vec<String> =
        lookups.iter().enumerate().map(|(i, l)| format!("l{i}: {}", lookup_selection(l).0)).collect();
    Some(format!("{{ {} }}", fields.join(" ")))
}

/// The IDs in the answer to [`lookups_query`], in order.
pub fn read_lookups(lookups: &[Lookup], data: &Json) -> Result<Vec<String>, String> {
    lookups
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut v = data.get(format!("l{i}"));
            for key in lookup_selection(l).1 {
                v = v.and_then(|v| v.get(key));
            }
            v.and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("no ID for {} `{}` in the answer", l.kind.type_name(), l.value))
        })
        .collect()
}

fn literal(v: &ArgValue, ids: &[String], out: &mut String) {
    match v {
        ArgValue::Str(s) => out.push_str(&quote(s)),
        ArgValue::Int(i) => out.push_str(&i.to_string()),
        ArgValue::Float(f) => out.push_str(&serde_json::to_string(f).expect("a finite float serializes")),
        ArgValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ArgValue::Enum(e) => out.push_str(e),
        ArgValue::Lookup(i) => out.push_str(&quote(&ids[*i])),
        ArgValue::List(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                literal(item, ids, out);
            }
            out.push(']');
        }
        ArgValue::Object(fields) => {
            out.push('{');
            for (k, (name, item)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(": ");
                literal(item, ids, out);
            }
            out.push('}');
        }
    }
}

/// The call: each step nested in the one before, the leaf selection last.
/// `ids` are the lookups' IDs.
pub fn call_query(plan: &Plan, ids: &[String]) -> String {
    let mut q = String::from("{");
    for step in &plan.steps {
        q.push(' ');
        q.push_str(&step.field);
        if !step.args.is_empty() {
            q.push('(');
            for (k, (name, v)) in step.args.iter().enumerate() {
                if k > 0 {
                    q.push_str(", ");
                }
                q.push_str(name);
                q.push_str(": ");
                literal(v, ids, &mut q);
            }
            q.push(')');
        }
        q.push_str(" {");
    }
    // The last step's braces hold the leaf selection (or nothing: drop them).
    match &plan.leaf_selection {
        LeafSelection::None => {
            q.truncate(q.len() - 2);
        }
        LeafSelection::Id { sync: true } => q.push_str(" id: sync"),
        LeafSelection::Id { sync: false } => q.push_str(" id"),
        LeafSelection::Export { path, allow_parent_dir_path } => {
            q.push_str(&format!(" export(path: {}", quote(path)));
            if *allow_parent_dir_path {
                q.push_str(", allowParentDirPath: true");
            }
            q.push(')');
        }
    }
    let closing = if plan.leaf_selection == LeafSelection::None { plan.steps.len() - 1 } else { plan.steps.len() };
    for _ in 0..closing {
        q.push_str(" }");
    }
    q.push_str(" }");
    q
}

/// The result under the chain's fields: lists along the way map over
/// their elements; the leaf selection's key is unwrapped for `export`.
pub fn read_result(plan: &Plan, data: &Json) -> Json {
    let mut keys: Vec<&str> = plan.steps.iter().map(|s| s.field.as_str()).collect();
    if matches!(plan.leaf_selection, LeafSelection::Export { .. }) {
        keys.push("export");
    }
    descend(data, &keys)
}

fn descend(v: &Json, keys: &[&str]) -> Json {
    let Some((first, rest)) = keys.split_first() else {
        return v.clone();
    };
    match v {
        Json::Array(items) => Json::Array(items.iter().map(|i| descend(i, keys)).collect()),
        Json::Object(m) => descend(m.get(*first).unwrap_or(&Json::Null), rest),
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::catalog::object;
    use crate::call::chain::Step;
    use serde_json::json;

    fn step(field: &str, args: Vec<(&str, ArgValue)>) -> Step {
        Step { field: field.into(), args: args.into_iter().map(|(n, v)| (n.to_string(), v)).collect() }
    }

    fn plan(steps: Vec<Step>, leaf_selection: LeafSelection) -> Plan {
        Plan { steps, lookups: Vec::new(), leaf: object("X", false), leaf_selection, json: false, output: None }
    }

    #[test]
    fn call_queries() {
        let ids = vec!["Directory:abc".to_string(), "Secret:def".to_string()];
        // (plan, query)
        let cases = [
            (
                plan(
                    vec![step("conf", vec![]), step("greet", vec![("name", ArgValue::Str("W \"x\"".into()))])],
                    LeafSelection::None,
                ),
                r#"{ conf { greet(name: "W \"x\"") } }"#,
            ),
            (
                plan(
                    vec![
                        step("conf", vec![("prefix", ArgValue::Str(">>".into()))]),
                        step("add", vec![("a", ArgValue::Int(2)), ("b", ArgValue::Int(-5))]),
                    ],
                    LeafSelection::None,
                ),
                r#"{ conf(prefix: ">>") { add(a: 2, b: -5) } }"#,
            ),
            (
                plan(
                    vec![
                        step("conf", vec![]),
                        step("summarize", vec![("src", ArgValue::Lookup(0)), ("token", ArgValue::Lookup(1))]),
                    ],
                    LeafSelection::None,
                ),
                r#"{ conf { summarize(src: "Directory:abc", token: "Secret:def") } }"#,
            ),
            (
                plan(
                    vec![
                        step("conf", vec![]),
                        step("build", vec![]),
                        step(
                            "withExec",
                            vec![(
                                "args",
                                ArgValue::List(vec![ArgValue::Str("cat".into()), ArgValue::Str("/x".into())]),
                            )],
                        ),
                        step("stdout", vec![]),
                    ],
                    LeafSelection::None,
                ),
                r#"{ conf { build { withExec(args: ["cat", "/x"]) { stdout } } } }"#,
            ),
            (
                plan(vec![step("conf", vec![]), step("build", vec![])], LeafSelection::Id { sync: true }),
                "{ conf { build { id: sync } } }",
            ),
            (
                plan(vec![step("conf", vec![]), step("other", vec![])], LeafSelection::Id { sync: false }),
                "{ conf { other { id } } }",
            ),
            (
                plan(
                    vec![step("conf", vec![]), step("generate", vec![("greeting", ArgValue::Str("hey".into()))])],
                    LeafSelection::Export { path: "/tmp/out".into(), allow_parent_dir_path: false },
                ),
                r#"{ conf { generate(greeting: "hey") { export(path: "/tmp/out") } } }"#,
            ),
            (
                plan(
                    vec![
                        step("conf", vec![]),
                        step(
                            "x",
                            vec![
                                ("p", ArgValue::Enum("UDP".into())),
                                ("f", ArgValue::Float(1.5)),
                                ("b", ArgValue::Bool(false)),
                                (
                                    "ports",
                                    ArgValue::Object(vec![
                                        ("frontend".into(), ArgValue::Int(8080)),
                                        ("backend".into(), ArgValue::Int(80)),
                                    ]),
                                ),
                            ],
                        ),
                    ],
                    LeafSelection::Export { path: "/o".into(), allow_parent_dir_path: true },
                ),
                r#"{ conf { x(p: UDP, f: 1.5, b: false, ports: {frontend: 8080, backend: 80}) { export(path: "/o", allowParentDirPath: true) } } }"#,
            ),
            (plan(vec![step("conf", vec![])], LeafSelection::Id { sync: false }), "{ conf { id } }"),
        ];
        for (p, want) in cases {
            assert_eq!(call_query(&p, &ids), want);
        }
    }

    #[test]
    fn lookups() {
        let l = |kind, value: &str, exclude: &[&str]| Lookup {
            kind,
            value: value.into(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        };
        let lookups = vec![
            l(Custom::Directory, ".", &[]),
            l(Custom::Secret, "env://MY_TOKEN", &[]),
            l(Custom::Container, "alpine:latest", &[]),
            l(Custom::Directory, "src", &["node_modules", "*.o"]),
            l(Custom::CacheVolume, "cache", &[]),
            l(Custom::Module, "./dep", &[]),
        ];
        assert_eq!(
            lookups_query(&lookups).unwrap(),
            r#"{ l0: address(value: ".") { directory { id } } l1: address(value: "env://MY_TOKEN") { secret { id } } l2: address(value: "alpine:latest") { container { id: sync } } l3: address(value: "src") { directory(exclude: ["node_modules", "*.o"]) { id } } l4: cacheVolume(key: "cache") { id } l5: moduleSource(refString: "./dep") { asModule { id } } }"#
        );
        assert_eq!(lookups_query(&[]), None);
        let data = json!({
            "l0": {"directory": {"id": "Directory:1"}},
            "l1": {"secret": {"id": "Secret:2"}},
            "l2": {"container": {"id": "Container:3"}},
            "l3": {"directory": {"id": "Directory:4"}},
            "l4": {"id": "CacheVolume:5"},
            "l5": {"asModule": {"id": "Module:6"}},
        });
        assert_eq!(
            read_lookups(&lookups, &data).unwrap(),
            ["Directory:1", "Secret:2", "Container:3", "Directory:4", "CacheVolume:5", "Module:6"]
        );
        assert_eq!(
            read_lookups(&lookups[..1], &json!({"l0": null})),
            Err("no ID for Directory `.` in the answer".to_string())
        );
    }

    #[test]
    fn results_are_read_under_the_chain() {
        let p = plan(vec![step("conf", vec![]), step("shout", vec![])], LeafSelection::None);
        assert_eq!(read_result(&p, &json!({"conf": {"shout": ["A", "B"]}})), json!(["A", "B"]));
        let p = plan(
            vec![step("conf", vec![]), step("generate", vec![])],
            LeafSelection::Export { path: "/o".into(), allow_parent_dir_path: false },
        );
        assert_eq!(read_result(&p, &json!({"conf": {"generate": {"export": "/o"}}})), json!("/o"));
        let p = plan(vec![step("conf", vec![]), step("build", vec![])], LeafSelection::Id { sync: true });
        assert_eq!(read_result(&p, &json!({"conf": {"build": {"id": "Container:ab"}}})), json!({"id": "Container:ab"}));
        // a list along the chain maps over its elements
        let p = plan(vec![step("conf", vec![]), step("items", vec![]), step("name", vec![])], LeafSelection::None);
        assert_eq!(read_result(&p, &json!({"conf": {"items": [{"name": "a"}, {"name": "b"}]}})), json!(["a", "b"]));
        assert_eq!(read_result(&p, &json!({"conf": null})), Json::Null);
    }

    #[test]
    fn module_queries() {
        assert_eq!(
            serve_query("/w/conf"),
            r#"{ moduleSource(refString: "/w/conf") { asModule { serve(includeDependencies: true) } } }"#
        );
        assert!(types_query("/w/conf").starts_with(r#"{ moduleSource(refString: "/w/conf") { asModule { name "#));
        let data = json!({"moduleSource": {"asModule": {"name": "conf"}}});
        assert_eq!(read_types(&data), Some(&json!({"name": "conf"})));
    }
}
