//! How much of the v0.21 schema the resolvers implement, measured by probing:
//! every field of a type is called on a real object of that type (obtained
//! through the API itself, starting from `Query`), with placeholder arguments,
//! against an engine that refuses all work ([`probe_engine`]). A field counts as
//! implemented unless the call fails with exactly `not implemented yet:
//! Type.field` — so the report cannot drift from the code. The engine
//! contract has no default methods, so nothing an engine leaves out can make
//! a field look present.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::{Api, Objects};
use tanto_gql::schema::{TypeDef, TypeKind, TypeRef};
use tanto_gql::{Args, FieldCall, Obj, Resolved, Resolver, Schema};

/// The types the coverage goal is about.
pub const CORE_TYPES: &[&str] =
    &["Query", "Container", "Directory", "File", "Host", "CacheVolume", "Secret", "GitRepository", "GitRef"];

#[derive(Debug, Clone, Serialize)]
pub struct TypeCoverage {
    pub type_name: String,
    pub implemented: Vec<String>,
    pub missing: Vec<String>,
    /// Fields left out of the count (`Query.load<T>FromID`, served generically).
    pub legacy: usize,
    /// No object of this type could be obtained, so every field counts as missing.
    pub unreachable: bool,
}

impl TypeCoverage {
    pub fn total(&self) -> usize {
        self.implemented.len() + self.missing.len()
    }

    pub fn percent(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            100.0 * self.implemented.len() as f64 / self.total() as f64
        }
    }
}

/// An engine that does no work: every call fails with `probe: no engine`.
pub fn probe_engine() -> tanto_contract::Engine {
    tanto_contract::Engine::new(Arc::new(tanto_contract::Refusing {
        message: "probe: no engine",
        platform: "linux/amd64",
    }))
}

fn is_legacy(type_name: &str, field: &str) -> bool {
    type_name == "Query" && field.starts_with("load") && field.ends_with("FromID")
}

/// The object type a field returns (through lists and non-null), if it is one.
fn object_type<'s>(schema: &'s Schema, ty: &TypeRef) -> Option<&'s TypeDef> {
    schema.get_type(ty.name()).filter(|t| t.kind == TypeKind::Object)
}

struct Probe {
    api: Api,
    schema: &'static Schema,
    parents: BTreeMap<String, Obj>,
    ids: BTreeMap<String, String>,
}

impl Probe {
    /// A placeholder for a required argument of type `ty`.
    fn placeholder(&self, ty: &TypeRef, expected: Option<&str>) -> Json {
        match ty {
            TypeRef::NonNull(inner) => self.placeholder(inner, expected),
            TypeRef::List(_) => json!([]),
            TypeRef::Named(name) => {
                let name: &str = name;
                match name {
                    "String" => json!("probe"),
                    "Int" => json!(0),
                    "Float" => json!(0.0),
                    "Boolean" => json!(false),
                    "Platform" => json!("linux/amd64"),
                    "JSON" => json!(null),
                    _ => {
                        let def = self.schema.get_type(name);
                        if let Some(t) = def.filter(|t| t.kind == TypeKind::Enum) {
                            return json!(t.enum_values.keys().next().map(|k| k.to_string()).unwrap_or_default());
                        }
                        if def.is_some_and(|t| t.kind == TypeKind::InputObject) {
                            return json!({});
                        }
                        // IDs: an object of the expected type when we have one.
                        let want = expected.map(str::to_string).or_else(|| name.strip_suffix("ID").map(str::to_string));
                        json!(want.and_then(|w| self.ids.get(&w).cloned()).unwrap_or_else(|| "probe:none".into()))
                    }
                }
            }
        }
    }

    fn args(&self, type_name: &str, field: &tanto_gql::schema::FieldDef) -> Args {
        let mut args = Args::new(type_name, field.name.clone());
        for (name, def) in &field.args {
            if let Some(d) = &def.default_json {
                args.insert(name.clone(), d.clone());
            } else if def.ty.is_non_null() {
                let expected =
                    def.directives.iter().find(|d| &*d.name == "expectedType").and_then(|d| d.arg("name")).and_then(
                        |v| match v {
                            async_graphql_value::ConstValue::String(s) => Some(s.clone()),
                            _ => None,
                        },
                    );
                args.insert(name.clone(), self.placeholder(&def.ty, expected.as_deref()));
            }
        }
        args
    }

    /// Calls `type_name.field` on `parent`; `Err(message)` on failure (or panic).
    async fn call(
        &self,
        parent: &Obj,
        type_name: &str,
        field: &tanto_gql::schema::FieldDef,
    ) -> Result<Resolved, String> {
        let args = self.args(type_name, field);
        let call = FieldCall { schema: self.schema, type_name, field: &field.name, args: &args, def: field };
        match std::panic::AssertUnwindSafe(self.api.resolve(parent, &call)).catch_unwind().await {
            Ok(r) => r.map_err(|e| e.message),
            Err(_) => Err(format!("panicked: {type_name}.{}", field.name)),
        }
    }

    fn remember(&mut self, obj: &Obj) {
        if self.parents.contains_key(&obj.type_name) {
            return;
        }
        if let Some(o) = obj.value.downcast_ref::<super::Object>() {
            let id = self.api.objects.register(o);
            self.ids.insert(obj.type_name.clone(), id);
        }
        self.parents.insert(obj.type_name.clone(), obj.clone());
    }

    /// Calls `field` with `args` on the known object of `type_name` and, when
    /// it returns an object of the same type, uses that richer object instead.
    async fn enrich(&mut self, type_name: &str, field: &str, args: Json) {
        let (Some(parent), Some(def)) = (self.parents.get(type_name).cloned(), self.schema.field(type_name, field))
        else {
            return;
        };
        let mut a = self.args(type_name, def);
        if let Json::Object(m) = args {
            for (k, v) in m {
                a.insert(k, v);
            }
        }
        let call = FieldCall { schema: self.schema, type_name, field, args: &a, def };
        if let Ok(Ok(Resolved::Object(o))) =
            std::panic::AssertUnwindSafe(self.api.resolve(&parent, &call)).catch_unwind().await
        {
            if o.type_name == type_name {
                self.parents.insert(type_name.to_string(), o);
            }
        }
    }

    /// Finds an object of every reachable type by calling object-returning fields.
    async fn discover(&mut self) {
        self.remember(&Api::root());
        self.discover_round().await;
        // Objects that only come out of a container with some configuration.
        for (field, args) in [
            ("withEnvVariable", json!({"name": "A", "value": "1"})),
            ("withLabel", json!({"name": "l", "value": "v"})),
            ("withExposedPort", json!({"port": 80})),
            ("withDockerHealthcheck", json!({"args": ["true"]})),
            ("withDefaultArgs", json!({"args": ["true"]})),
        ] {
            self.enrich("Container", field, args).await;
        }
        self.discover_round().await;
    }

    async fn discover_round(&mut self) {
        loop {
            let mut found = false;
            let known: Vec<(String, Obj)> = self.parents.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (tname, parent) in known {
                let Some(t) = self.schema.get_type(&tname) else { continue };
                for f in t.fields.values() {
                    let Some(rt) = object_type(self.schema, &f.ty) else { continue };
                    if self.parents.contains_key(&*rt.name) || is_legacy(&tname, &f.name) || &*f.name == "node" {
                        continue;
                    }
                    let obj = match self.call(&parent, &tname, f).await {
                        Ok(Resolved::Object(o)) => Some(o),
                        Ok(Resolved::List(items)) => items.into_iter().find_map(|i| match i {
                            Resolved::Object(o) => Some(o),
                            _ => None,
                        }),
                        _ => None,
                    };
                    if let Some(o) = obj.filter(|o| o.type_name == *rt.name) {
                        self.remember(&o);
                        found = true;
                    }
                }
            }
            if !found {
                break;
            }
        }
    }
}

/// Probes the resolvers for `types` of `schema`.
pub async fn probe(schema: &'static Schema, types: &[&str]) -> Vec<TypeCoverage> {
    let api = Api::new(probe_engine(), Arc::new(Objects::default()));
    let mut p = Probe { api, schema, parents: BTreeMap::new(), ids: BTreeMap::new() };
    p.discover().await;
    let mut out = Vec::new();
    for &tname in types {
        let Some(t) = schema.get_type(tname) else { continue };
        let mut cov = TypeCoverage {
            type_name: tname.to_string(),
            implemented: vec![],
            missing: vec![],
            legacy: 0,
            unreachable: false,
        };
        let parent = p.parents.get(tname).cloned();
        cov.unreachable = parent.is_none();
        let marker = |f: &str| format!("not implemented yet: {tname}.{f}");
        for f in t.fields.values() {
            if is_legacy(tname, &f.name) {
                cov.legacy += 1;
                continue;
            }
            let implemented = match &parent {
                None => false,
                Some(parent) => !matches!(p.call(parent, tname, f).await, Err(m) if m == marker(&f.name)),
            };
            if implemented {
                cov.implemented.push(f.name.to_string());
            } else {
                cov.missing.push(f.name.to_string());
            }
        }
        out.push(cov);
    }
    out
}

/// The report as printed by `tanto schema coverage`.
pub fn render(report: &[TypeCoverage], with_implemented: bool) -> String {
    let mut s = String::new();
    let (mut done, mut total) = (0, 0);
    s.push_str("type            implemented   coverage\n");
    for c in report {
        done += c.implemented.len();
        total += c.total();
        s.push_str(&format!(
            "{:<15} {:>5}/{:<5}   {:>6.1}%{}\n",
            c.type_name,
            c.implemented.len(),
            c.total(),
            c.percent(),
            if c.unreachable { "  (the probe could not make an object of this type: all counted missing)" } else { "" }
        ));
    }
    s.push_str(&format!(
        "{:<15} {:>5}/{:<5}   {:>6.1}%\n",
        "all",
        done,
        total,
        if total == 0 { 100.0 } else { 100.0 * done as f64 / total as f64 }
    ));
    for c in report {
        if c.legacy > 0 {
            s.push_str(&format!(
                "\n{}: {} legacy load<T>FromID fields are served for every type and not counted above\n",
                c.type_name, c.legacy
            ));
        }
    }
    s.push_str("\nremaining:\n");
    for c in report {
        if !c.missing.is_empty() {
            s.push_str(&format!("  {}: {}\n", c.type_name, c.missing.join(", ")));
        }
    }
    if with_implemented {
        s.push_str("\nimplemented:\n");
        for c in report {
            s.push_str(&format!("  {}: {}\n", c.type_name, c.implemented.join(", ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(report: &'a [TypeCoverage], t: &str) -> &'a TypeCoverage {
        report.iter().find(|c| c.type_name == t).unwrap_or_else(|| panic!("{t} missing from the report"))
    }

    #[tokio::test]
    async fn probe_tells_implemented_from_missing() {
        let report = probe(crate::schema::dagger_v021(), CORE_TYPES).await;
        assert_eq!(report.len(), CORE_TYPES.len());
        // (type, field, implemented?)
        for (t, f, want) in [
            ("Query", "container", true),
            ("Query", "version", true),
            ("Query", "address", true),
            ("Query", "changeset", true),
            ("Query", "engine", true),
            ("Query", "currentWorkspace", true),
            ("Container", "withExec", true),
            ("Container", "stdout", true),
            ("Container", "id", true),
            ("Container", "terminal", false),
            ("Directory", "dockerBuild", true),
            ("Directory", "diff", true),
            ("Directory", "terminal", false),
            ("File", "withReplaced", true),
            ("Secret", "plaintext", true),
            ("Host", "unixSocket", true),
            ("Host", "containerImage", true),
            ("Container", "withUnixSocket", true),
            ("Container", "exportImage", true),
            ("Directory", "asGit", true),
            ("GitRepository", "uncommitted", true),
            ("GitRef", "commonAncestor", true),
        ] {
            let c = find(&report, t);
            assert!(!c.unreachable, "{t} unreachable");
            let got = c.implemented.iter().any(|x| x == f);
            assert_eq!(got, want, "{t}.{f}: implemented={got}");
            assert_ne!(got, c.missing.iter().any(|x| x == f), "{t}.{f} is in exactly one list");
        }
        let q = find(&report, "Query");
        assert!(q.legacy > 50, "legacy load<T>FromID fields are set apart");
        assert!(!q.implemented.iter().chain(&q.missing).any(|f| f.starts_with("load")));
    }

    #[test]
    fn render_lists_what_remains() {
        let r = vec![TypeCoverage {
            type_name: "File".into(),
            implemented: vec!["name".into()],
            missing: vec!["asJSON".into()],
            legacy: 0,
            unreachable: false,
        }];
        let s = render(&r, false);
        assert!(s.contains("File                1/2         50.0%"), "{s}");
        assert!(s.contains("remaining:\n  File: asJSON\n"), "{s}");
    }
}
