//! Introspection, answered by the executor itself from the schema model.
//!
//! Introspection objects are ordinary [`Obj`]s whose value is an [`Intro`] (indices into the
//! schema), so the normal executor handles their selections, fragments and aliases. Everything
//! here is synchronous and deterministic, which is what lets the executor memoize whole
//! introspection responses.

use std::sync::Arc;

use serde_json::Value as Json;

use super::resolver::{FieldError, Obj, Resolved};
use super::schema::{InputValueDef, Schema, TypeKind, TypeRef};
use super::value::{print_literal, Args};

/// What an introspection object stands for.
#[derive(Debug, Clone)]
pub(crate) enum Intro {
    Schema,
    Type(TypeRef),
    Field { ty: usize, field: usize },
    InputValue(ArgOwner, usize),
    EnumValue { ty: usize, value: usize },
    Directive(usize),
}

/// Where an `__InputValue` lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArgOwner {
    Field { ty: usize, field: usize },
    Directive(usize),
    InputObject(usize),
}

fn obj(type_name: &str, intro: Intro) -> Resolved {
    Resolved::Object(Obj { type_name: type_name.to_string(), value: Arc::new(intro) })
}

fn named(name: &str) -> Resolved {
    obj("__Type", Intro::Type(TypeRef::named(name)))
}

fn opt_str(s: Option<&str>) -> Resolved {
    match s {
        Some(s) => Resolved::Leaf(Json::String(s.to_string())),
        None => Resolved::Null,
    }
}

fn s(v: &str) -> Resolved {
    Resolved::Leaf(Json::String(v.to_string()))
}

fn include_deprecated(args: &Args) -> Result<bool, FieldError> {
    Ok(args.opt_bool("includeDeprecated")?.unwrap_or(false))
}

/// `__schema` and `__type(name:)` on the query root.
pub(crate) fn resolve_meta(schema: &Schema, field: &str, args: &Args) -> Result<Resolved, FieldError> {
    match field {
        "__schema" => Ok(obj("__Schema", Intro::Schema)),
        "__type" => {
            let name = args.string("name")?;
            Ok(match schema.get_type(name) {
                Some(_) => named(name),
                None => Resolved::Null,
            })
        }
        _ => Err(FieldError::new(format!("unknown meta field `{field}`"))),
    }
}

/// A field of an introspection object.
pub(crate) fn resolve(schema: &Schema, parent: &Obj, field: &str, args: &Args) -> Result<Resolved, FieldError> {
    let Some(intro) = parent.value.downcast_ref::<Intro>() else {
        return Err(FieldError::new(format!("`{}` is not an introspection object", parent.type_name)));
    };
    let gone = || FieldError::new("introspection object refers to a missing schema element");
    let unknown = || FieldError::new(format!("unknown introspection field `{}.{field}`", parent.type_name));
    match intro {
        Intro::Schema => match field {
            "description" => Ok(Resolved::Null),
            "types" => Ok(Resolved::List(schema.types().map(|t| named(&t.name)).collect())),
            "queryType" => Ok(named(schema.query_type())),
            "mutationType" => Ok(schema.mutation_type().map(named).unwrap_or(Resolved::Null)),
            "subscriptionType" => Ok(Resolved::Null),
            "directives" => Ok(Resolved::List(
                (0..schema.directives().count()).map(|i| obj("__Directive", Intro::Directive(i))).collect(),
            )),
            _ => Err(unknown()),
        },
        Intro::Type(tr) => match tr {
            TypeRef::List(inner) | TypeRef::NonNull(inner) => match field {
                "kind" => Ok(s(if matches!(tr, TypeRef::List(_)) { "LIST" } else { "NON_NULL" })),
                "ofType" => Ok(obj("__Type", Intro::Type((**inner).clone()))),
                "name" | "description" | "specifiedByURL" | "fields" | "interfaces" | "possibleTypes"
                | "enumValues" | "inputFields" | "isOneOf" => Ok(Resolved::Null),
                _ => Err(unknown()),
            },
            TypeRef::Named(name) => {
                let (ti, t) = schema.type_index(name).ok_or_else(gone)?;
                match field {
                    "kind" => Ok(s(t.kind.as_str())),
                    "name" => Ok(s(&t.name)),
                    "description" => Ok(opt_str(t.description.as_deref())),
                    "specifiedByURL" => Ok(opt_str(t.specified_by_url.as_deref())),
                    "ofType" => Ok(Resolved::Null),
                    "isOneOf" => Ok(if t.kind == TypeKind::InputObject {
                        Resolved::Leaf(Json::Bool(false))
                    } else {
                        Resolved::Null
                    }),
                    "fields" => {
                        if !matches!(t.kind, TypeKind::Object | TypeKind::Interface) {
                            return Ok(Resolved::Null);
                        }
                        let all = include_deprecated(args)?;
                        Ok(Resolved::List(
                            t.fields
                                .values()
                                .enumerate()
                                .filter(|(_, f)| all || f.deprecation.is_none())
                                .map(|(fi, _)| obj("__Field", Intro::Field { ty: ti, field: fi }))
                                .collect(),
                        ))
                    }
                    "interfaces" => Ok(if matches!(t.kind, TypeKind::Object | TypeKind::Interface) {
                        Resolved::List(t.interfaces.iter().map(|i| named(i)).collect())
                    } else {
                        Resolved::Null
                    }),
                    "possibleTypes" => Ok(if matches!(t.kind, TypeKind::Interface | TypeKind::Union) {
                        Resolved::List(t.possible_types.iter().map(|i| named(i)).collect())
                    } else {
                        Resolved::Null
                    }),
                    "enumValues" => {
                        if t.kind != TypeKind::Enum {
                            return Ok(Resolved::Null);
                        }
                        let all = include_deprecated(args)?;
                        Ok(Resolved::List(
                            t.enum_values
                                .values()
                                .enumerate()
                                .filter(|(_, v)| all || v.deprecation.is_none())
                                .map(|(vi, _)| obj("__EnumValue", Intro::EnumValue { ty: ti, value: vi }))
                                .collect(),
                        ))
                    }
                    "inputFields" => {
                        if t.kind != TypeKind::InputObject {
                            return Ok(Resolved::Null);
                        }
                        let all = include_deprecated(args)?;
                        Ok(input_values(t.input_fields.values(), all, ArgOwner::InputObject(ti)))
                    }
                    _ => Err(unknown()),
                }
            }
        },
        Intro::Field { ty, field: fi } => {
            let f = schema.type_at(*ty).and_then(|t| t.fields.get_index(*fi)).map(|(_, f)| f).ok_or_else(gone)?;
            match field {
                "name" => Ok(s(&f.name)),
                "description" => Ok(opt_str(f.description.as_deref())),
                "args" => Ok(input_values(
                    f.args.values(),
                    include_deprecated(args)?,
                    ArgOwner::Field { ty: *ty, field: *fi },
                )),
                "type" => Ok(obj("__Type", Intro::Type(f.ty.clone()))),
                "isDeprecated" => Ok(Resolved::Leaf(Json::Bool(f.deprecation.is_some()))),
                "deprecationReason" => Ok(opt_str(f.deprecation.as_deref())),
                _ => Err(unknown()),
            }
        }
        Intro::InputValue(owner, i) => {
            let v = input_value(schema, *owner, *i).ok_or_else(gone)?;
            match field {
                "name" => Ok(s(&v.name)),
                "description" => Ok(opt_str(v.description.as_deref())),
                "type" => Ok(obj("__Type", Intro::Type(v.ty.clone()))),
                "defaultValue" => Ok(match &v.default_value {
                    Some(d) => Resolved::Leaf(Json::String(print_literal(d))),
                    None => Resolved::Null,
                }),
                "isDeprecated" => Ok(Resolved::Leaf(Json::Bool(v.deprecation.is_some()))),
                "deprecationReason" => Ok(opt_str(v.deprecation.as_deref())),
                _ => Err(unknown()),
            }
        }
        Intro::EnumValue { ty, value } => {
            let v =
                schema.type_at(*ty).and_then(|t| t.enum_values.get_index(*value)).map(|(_, v)| v).ok_or_else(gone)?;
            match field {
                "name" => Ok(s(&v.name)),
                "description" => Ok(opt_str(v.description.as_deref())),
                "isDeprecated" => Ok(Resolved::Leaf(Json::Bool(v.deprecation.is_some()))),
                "deprecationReason" => Ok(opt_str(v.deprecation.as_deref())),
                _ => Err(unknown()),
            }
        }
        Intro::Directive(di) => {
            let d = schema.directive_at(*di).ok_or_else(gone)?;
            match field {
                "name" => Ok(s(&d.name)),
                "description" => Ok(opt_str(d.description.as_deref())),
                "isRepeatable" => Ok(Resolved::Leaf(Json::Bool(d.repeatable))),
                "locations" => Ok(Resolved::Leaf(Json::Array(
                    d.locations.iter().map(|l| Json::String((*l).to_string())).collect(),
                ))),
                "args" => Ok(input_values(d.args.values(), include_deprecated(args)?, ArgOwner::Directive(*di))),
                _ => Err(unknown()),
            }
        }
    }
}

fn input_values<'a>(values: impl Iterator<Item = &'a InputValueDef>, all: bool, owner: ArgOwner) -> Resolved {
    Resolved::List(
        values
            .enumerate()
            .filter(|(_, v)| all || v.deprecation.is_none())
            .map(|(i, _)| obj("__InputValue", Intro::InputValue(owner, i)))
            .collect(),
    )
}

fn input_value(schema: &Schema, owner: ArgOwner, i: usize) -> Option<&InputValueDef> {
    let map = match owner {
        ArgOwner::Field { ty, field } => &schema.type_at(ty)?.fields.get_index(field)?.1.args,
        ArgOwner::Directive(d) => &schema.directive_at(d)?.args,
        ArgOwner::InputObject(ty) => &schema.type_at(ty)?.input_fields,
    };
    map.get_index(i).map(|(_, v)| v)
}
