//! `Query.currentTypeDefs`: the schema this session serves, as type defs.
//!
//! Objects that have an `id` (and `Query`) become object type defs whose
//! functions are their fields (without `id`); interfaces become interface
//! type defs, input objects input type defs, enums enum type defs (members
//! carry their `@enumValue`), custom scalars scalar type defs. GraphQL's own
//! scalars (`String`, `Int`, `Float`, `Boolean`, `ID`) are kinds, not entries.
//!
//! References are stubs (a name and a kind). An argument typed `ID` with
//! `@expectedType(name: T)`, or a legacy `TID` scalar, takes a `T` (object or
//! interface); a bare `ID` stays the `ID` scalar. `@defaultPath`,
//! `@defaultAddress` and `@ignorePatterns` fill the argument's fields, and
//! defaults are shown as JSON text.
//!
//! `hideCore` drops the core functions of `Query` (a session without modules
//! then has a `Query` with no functions). `returnAllTypes` also lists every
//! type referenced anywhere, once, by canonical name (`String`, `[Port]`,
//! non-optional), the full definition winning over a stub.

use std::collections::{HashMap, VecDeque};

use async_graphql_value::ConstValue;

use super::{
    EnumTypeDefObj, EnumValueObj, FieldTypeDefObj, FunctionArgObj, FunctionObj, InputTypeDefObj, InterfaceTypeDefObj,
    Kind, ObjectTypeDefObj, ScalarTypeDefObj, TypeDefObj,
};
use tanto_gql::schema::{DirectiveUse, FieldDef, InputValueDef, TypeKind, TypeRef};
use tanto_gql::Schema;

/// The arguments of `currentTypeDefs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub return_all_types: bool,
    pub hide_core: bool,
}

const GRAPHQL_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];

fn directive<'a>(ds: &'a [DirectiveUse], name: &str) -> Option<&'a DirectiveUse> {
    ds.iter().find(|d| &*d.name == name)
}

fn directive_str(ds: &[DirectiveUse], name: &str, arg: &str) -> Option<String> {
    match directive(ds, name)?.arg(arg)? {
        ConstValue::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn directive_strings(ds: &[DirectiveUse], name: &str, arg: &str) -> Vec<String> {
    match directive(ds, name).and_then(|d| d.arg(arg)) {
        Some(ConstValue::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                ConstValue::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// The type def of a reference to `ty`. `expected` is the `@expectedType` of
/// an `ID` argument. `None` for types a type def cannot show (unions).
fn reference(schema: &Schema, ty: &TypeRef, input: bool, expected: Option<&str>) -> Option<TypeDefObj> {
    fn go(schema: &Schema, ty: &TypeRef, non_null: bool, input: bool, expected: Option<&str>) -> Option<TypeDefObj> {
        let t = match ty {
            TypeRef::NonNull(inner) => return go(schema, inner, true, input, expected),
            TypeRef::List(inner) => TypeDefObj::list_of(go(schema, inner, false, input, expected)?),
            TypeRef::Named(name) => named(schema, name, input, expected)?,
        };
        Some(t.optional(!non_null))
    }
    go(schema, ty, false, input, expected)
}

fn named(schema: &Schema, name: &str, input: bool, expected: Option<&str>) -> Option<TypeDefObj> {
    let object_or_interface = |n: &str| match schema.get_type(n).map(|t| t.kind) {
        Some(TypeKind::Object) => Some(TypeDefObj::named(Kind::Object, n)),
        Some(TypeKind::Interface) => Some(TypeDefObj::named(Kind::Interface, n)),
        _ => None,
    };
    let def = schema.get_type(name)?;
    Some(match def.kind {
        TypeKind::Scalar => {
            if input {
                let target = if name == "ID" { expected } else { name.strip_suffix("ID") };
                if let Some(t) = target.and_then(object_or_interface) {
                    return Some(t);
                }
            }
            match name {
                "String" => TypeDefObj::of(Kind::String),
                "Int" => TypeDefObj::of(Kind::Integer),
                "Float" => TypeDefObj::of(Kind::Float),
                "Boolean" => TypeDefObj::of(Kind::Boolean),
                "Void" => TypeDefObj::of(Kind::Void),
                _ => TypeDefObj::named(Kind::Scalar, name),
            }
        }
        TypeKind::Enum => TypeDefObj::named(Kind::Enum, name),
        TypeKind::InputObject => TypeDefObj::named(Kind::Input, name),
        TypeKind::Object => TypeDefObj::named(Kind::Object, name),
        TypeKind::Interface => TypeDefObj::named(Kind::Interface, name),
        TypeKind::Union => return None,
    })
}

fn argument(schema: &Schema, a: &InputValueDef) -> Option<FunctionArgObj> {
    let expected = directive_str(&a.directives, "expectedType", "name");
    Some(FunctionArgObj {
        name: a.name.to_string(),
        original_name: a.name.to_string(),
        description: a.description.clone().unwrap_or_default(),
        type_def: reference(schema, &a.ty, true, expected.as_deref())?,
        default_value: a.default_json.as_ref().map(|v| v.to_string()),
        default_path: directive_str(&a.directives, "defaultPath", "path").unwrap_or_default(),
        default_address: directive_str(&a.directives, "defaultAddress", "address").unwrap_or_default(),
        ignore: directive_strings(&a.directives, "ignorePatterns", "patterns"),
        source_map: None,
        deprecated: a.deprecation.clone(),
    })
}

fn function(schema: &Schema, f: &FieldDef) -> Option<FunctionObj> {
    Some(FunctionObj {
        name: f.name.to_string(),
        original_name: f.name.to_string(),
        description: f.description.clone().unwrap_or_default(),
        args: f.args.values().filter_map(|a| argument(schema, a)).collect(),
        return_type: Box::new(reference(schema, &f.ty, false, None)?),
        deprecated: f.deprecation.clone(),
        ..Default::default()
    })
}

/// The functions of an object or interface: its fields but `id`.
fn functions<'s>(schema: &Schema, fields: impl Iterator<Item = &'s FieldDef>) -> Vec<FunctionObj> {
    fields.filter(|f| &*f.name != "id").filter_map(|f| function(schema, f)).collect()
}

/// The type defs `currentTypeDefs` answers with.
pub fn type_defs(schema: &Schema, opts: Options) -> Vec<TypeDefObj> {
    let mut out = Vec::new();
    for t in schema.types() {
        let name = &*t.name;
        if t.builtin || name.starts_with("__") {
            continue;
        }
        let description = t.description.clone().unwrap_or_default();
        let def = match t.kind {
            TypeKind::Object => {
                let is_query = name == schema.query_type();
                if !is_query && !t.fields.contains_key("id") {
                    continue;
                }
                let functions = if is_query && opts.hide_core { vec![] } else { functions(schema, t.fields.values()) };
                let mut d = TypeDefObj::of(Kind::Object);
                d.object = Some(Box::new(ObjectTypeDefObj {
                    name: name.to_string(),
                    original_name: name.to_string(),
                    description,
                    functions,
                    deprecated: None,
                    ..Default::default()
                }));
                d
            }
            TypeKind::Interface => {
                let mut d = TypeDefObj::of(Kind::Interface);
                d.interface = Some(Box::new(InterfaceTypeDefObj {
                    name: name.to_string(),
                    original_name: name.to_string(),
                    description,
                    functions: functions(schema, t.fields.values()),
                    ..Default::default()
                }));
                d
            }
            TypeKind::InputObject => {
                let mut d = TypeDefObj::of(Kind::Input);
                d.input = Some(Box::new(InputTypeDefObj {
                    name: name.to_string(),
                    fields: t
                        .input_fields
                        .values()
                        .filter_map(|f| {
                            Some(FieldTypeDefObj {
                                name: f.name.to_string(),
                                original_name: f.name.to_string(),
                                description: f.description.clone().unwrap_or_default(),
                                type_def: reference(schema, &f.ty, false, None)?,
                                source_map: None,
                                deprecated: f.deprecation.clone(),
                            })
                        })
                        .collect(),
                }));
                d
            }
            TypeKind::Enum => {
                let mut d = TypeDefObj::of(Kind::Enum);
                d.enum_ = Some(Box::new(EnumTypeDefObj {
                    name: name.to_string(),
                    original_name: name.to_string(),
                    description,
                    members: t
                        .enum_values
                        .values()
                        .map(|v| EnumValueObj {
                            name: v.name.to_string(),
                            original_name: v.name.to_string(),
                            value: directive_str(&v.directives, "enumValue", "value").unwrap_or_default(),
                            description: v.description.clone().unwrap_or_default(),
                            source_map: None,
                            deprecated: v.deprecation.clone(),
                        })
                        .collect(),
                    ..Default::default()
                }));
                d
            }
            TypeKind::Scalar if !GRAPHQL_SCALARS.contains(&name) => {
                let mut d = TypeDefObj::of(Kind::Scalar);
                d.scalar = Some(Box::new(ScalarTypeDefObj {
                    name: name.to_string(),
                    original_name: name.to_string(),
                    description,
                    source_module_name: String::new(),
                }));
                d
            }
            _ => continue,
        };
        out.push(def);
    }
    if opts.return_all_types {
        closure(out)
    } else {
        out
    }
}

/// Whether `t` is a bare reference rather than a definition.
fn is_stub(t: &TypeDefObj) -> bool {
    match t.kind {
        Some(Kind::Object) => {
            t.object.as_ref().is_none_or(|o| o.fields.is_empty() && o.functions.is_empty() && o.constructor.is_none())
        }
        Some(Kind::Interface) => t.interface.as_ref().is_none_or(|i| i.functions.is_empty()),
        Some(Kind::Input) => t.input.as_ref().is_none_or(|i| i.fields.is_empty()),
        Some(Kind::Enum) => t.enum_.as_ref().is_none_or(|e| e.members.is_empty()),
        _ => false,
    }
}

/// The type defs `t` refers to directly.
fn references(t: &TypeDefObj) -> Vec<&TypeDefObj> {
    fn of_function(f: &FunctionObj) -> impl Iterator<Item = &TypeDefObj> {
        std::iter::once(&*f.return_type).chain(f.args.iter().map(|a| &a.type_def))
    }
    let mut refs: Vec<&TypeDefObj> = Vec::new();
    match t.kind {
        Some(Kind::List) => refs.extend(t.list.as_deref()),
        Some(Kind::Object) => {
            if let Some(o) = &t.object {
                refs.extend(o.fields.iter().map(|f| &f.type_def));
                refs.extend(o.functions.iter().chain(o.constructor.as_deref()).flat_map(of_function));
            }
        }
        Some(Kind::Interface) => refs.extend(t.interface.iter().flat_map(|i| i.functions.iter().flat_map(of_function))),
        Some(Kind::Input) => refs.extend(t.input.iter().flat_map(|i| i.fields.iter().map(|f| &f.type_def))),
        _ => {}
    }
    refs
}

/// `defs` plus every type they reference, once each by canonical name, in
/// order of first appearance; non-optional; definitions replace stubs.
fn closure(defs: Vec<TypeDefObj>) -> Vec<TypeDefObj> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: HashMap<String, TypeDefObj> = HashMap::new();
    let mut queue: VecDeque<TypeDefObj> = defs.into();
    while let Some(t) = queue.pop_front() {
        let t = t.optional(false);
        let name = t.name();
        if name.is_empty() {
            continue;
        }
        let new = match by_name.get(&name) {
            None => {
                order.push(name.clone());
                true
            }
            Some(old) => is_stub(old) && !is_stub(&t),
        };
        if new {
            queue.extend(references(&t).into_iter().cloned());
            by_name.insert(name, t);
        }
    }
    order.into_iter().filter_map(|n| by_name.remove(&n)).collect()
}
