//! The schema a session serves once it has served modules: the core schema
//! extended with each module's field on `Query` (its constructor), its
//! object types (fields and functions), `<T>ID` scalars and
//! `load<T>FromID`, and its enums — written as SDL and added to the core.

use std::fmt::Write;
use std::sync::Arc;

use serde_json::Value as Json;
use tanto_gql::Schema;

use super::Loaded;
use crate::dagger::typedefs::{FunctionArgObj, FunctionObj, Kind, TypeDefObj};
use crate::ApiError;

/// The core schema plus `served`.
pub(super) fn served_schema(served: &[Arc<Loaded>]) -> Result<Schema, ApiError> {
    let sdl = sdl(served);
    crate::schema::dagger_v021()
        .extended(&sdl)
        .map_err(|e| ApiError::from(format!("serving module types: {e}; the generated SDL was:\n{sdl}")))
}

/// The SDL `served` add to the core schema.
pub(super) fn sdl(served: &[Arc<Loaded>]) -> String {
    let mut out = String::new();
    let mut query = String::new();
    for m in served {
        let main = m.main_object_name();
        let ctor_args =
            m.object(&main).and_then(|o| o.constructor.as_deref()).map(|c| args(&c.args)).unwrap_or_default();
        if !m.types.description.is_empty() {
            let _ = writeln!(query, "  {}", description(&m.types.description));
        }
        let _ = writeln!(query, "  {}{ctor_args}: {main}!", m.field_name());
        for t in &m.types.objects {
            let Some(o) = t.object.as_deref() else { continue };
            let _ = writeln!(query, "  load{0}FromID(id: {0}ID!): {0}!", o.name);
            let _ = writeln!(out, "scalar {}ID", o.name);
            if !o.description.is_empty() {
                let _ = writeln!(out, "{}", description(&o.description));
            }
            let _ = writeln!(out, "type {} implements Node {{\n  id: ID!", o.name);
            for f in &o.fields {
                if !f.description.is_empty() {
                    let _ = writeln!(out, "  {}", description(&f.description));
                }
                let _ = writeln!(out, "  {}: {}", f.name, output_type(&f.type_def));
            }
            for f in &o.functions {
                function(&mut out, f);
            }
            out.push_str("}\n");
        }
        for t in &m.types.interfaces {
            let Some(i) = t.interface.as_deref() else { continue };
            let _ = writeln!(out, "scalar {}ID", i.name);
            let _ = writeln!(out, "interface {} {{\n  id: ID!", i.name);
            for f in &i.functions {
                function(&mut out, f);
            }
            out.push_str("}\n");
        }
        for t in &m.types.enums {
            let Some(e) = t.enum_.as_deref() else { continue };
            let _ = writeln!(out, "enum {} {{", e.name);
            for v in &e.members {
                let _ = writeln!(out, "  {}", v.name);
            }
            out.push_str("}\n");
        }
    }
    if !query.is_empty() {
        let _ = write!(out, "extend type Query {{\n{query}}}\n");
    }
    out
}

fn function(out: &mut String, f: &FunctionObj) {
    if !f.description.is_empty() {
        let _ = writeln!(out, "  {}", description(&f.description));
    }
    let _ = writeln!(out, "  {}{}: {}", f.name, args(&f.args), output_type(&f.return_type));
}

fn args(list: &[FunctionArgObj]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = list
        .iter()
        .map(|a| {
            let has_default = default_of(a).is_some();
            let optional = a.type_def.optional || has_default || !a.default_path.is_empty();
            let mut s = format!("{}: {}", a.name, input_type(&a.type_def, optional));
            if let Some(v) = default_of(a) {
                let _ = write!(s, " = {}", literal(&v, &a.type_def));
            }
            if let Some(name) = object_name(&a.type_def) {
                let _ = write!(s, " @expectedType(name: \"{name}\")");
            }
            s
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// An argument's default value, when it has one (`null` is none).
fn default_of(a: &FunctionArgObj) -> Option<Json> {
    let v: Json = serde_json::from_str(a.default_value.as_deref()?).ok()?;
    (!v.is_null()).then_some(v)
}

fn object_name(t: &TypeDefObj) -> Option<String> {
    match t.kind {
        Some(Kind::Object) | Some(Kind::Interface) => Some(t.name()),
        _ => None,
    }
}

fn base_name(t: &TypeDefObj, input: bool) -> String {
    match t.kind {
        Some(Kind::List) => {
            let e = t.list.as_deref().cloned().unwrap_or_default();
            format!("[{}]", if input { input_type(&e, e.optional) } else { output_type(&e) })
        }
        Some(Kind::Object) | Some(Kind::Interface) if input => "ID".to_string(),
        Some(Kind::Void) | None => "Void".to_string(),
        _ => t.name(),
    }
}

fn input_type(t: &TypeDefObj, optional: bool) -> String {
    let b = base_name(t, true);
    if optional {
        b
    } else {
        format!("{b}!")
    }
}

fn output_type(t: &TypeDefObj) -> String {
    let b = base_name(t, false);
    if t.optional || matches!(t.kind, Some(Kind::Void) | None) {
        b
    } else {
        format!("{b}!")
    }
}

/// A default value as a GraphQL literal (enum values bare).
fn literal(v: &Json, t: &TypeDefObj) -> String {
    match (v, t.kind) {
        (Json::String(s), Some(Kind::Enum)) => s.clone(),
        (Json::Array(items), _) => {
            let e = t.list.as_deref().cloned().unwrap_or_default();
            format!("[{}]", items.iter().map(|i| literal(i, &e)).collect::<Vec<_>>().join(", "))
        }
        (Json::Object(o), _) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k}: {}", literal(v, &TypeDefObj::default())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (v, _) => v.to_string(),
    }
}

fn description(d: &str) -> String {
    format!("\"\"\"{}\"\"\"", d.replace("\"\"\"", "\\\"\"\""))
}
