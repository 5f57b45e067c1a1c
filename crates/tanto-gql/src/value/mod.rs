//! Input values: lenient coercion of literals, variables and defaults into JSON, the [`Args`]
//! handed to resolvers, and GraphQL literal printing.
//!
//! Coercion is deliberately more forgiving than the GraphQL spec (see `dagger-compat.md` §2.5):
//! enums may come quoted, Int/Float/Boolean may come as strings, IDs may come as Int literals, and
//! a single value stands for a one-element list. Enum values are passed through by the name the
//! client used; aliases (`OCI` vs `OCIMediaTypes`) are the resolvers' business.
//!
//! - this module: coercion ([`Coercer`]);
//! - [`args`]: the coerced arguments as resolvers see them;
//! - [`literal`]: GraphQL literal printing.

mod args;
mod literal;
#[cfg(test)]
mod tests;

use std::fmt;

use async_graphql_value::{ConstValue, Number, Value};
use serde_json::{Map, Value as Json};

use super::limits::MAX_LIST_ITEMS;
use super::schema::{Schema, TypeKind, TypeRef};
pub use args::Args;
pub use literal::print_literal;
pub(crate) use literal::write_string;

/// A uniform view of the three kinds of input we coerce: query literals (may hold variables),
/// SDL/const literals, and JSON variable values.
pub(crate) enum View<'a, T> {
    Null,
    Bool(bool),
    Number(&'a Number),
    Str(&'a str),
    Enum(&'a str),
    List(&'a [T]),
    Object(Vec<(&'a str, &'a T)>),
    Var(&'a str),
    Binary,
}

pub(crate) trait InputLike: Sized {
    fn view(&self) -> View<'_, Self>;
}

impl InputLike for Value {
    fn view(&self) -> View<'_, Self> {
        match self {
            Value::Variable(n) => View::Var(n.as_str()),
            Value::Null => View::Null,
            Value::Number(n) => View::Number(n),
            Value::String(s) => View::Str(s),
            Value::Boolean(b) => View::Bool(*b),
            Value::Binary(_) => View::Binary,
            Value::Enum(e) => View::Enum(e.as_str()),
            Value::List(l) => View::List(l),
            Value::Object(o) => View::Object(o.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }
}

impl InputLike for ConstValue {
    fn view(&self) -> View<'_, Self> {
        match self {
            ConstValue::Null => View::Null,
            ConstValue::Number(n) => View::Number(n),
            ConstValue::String(s) => View::Str(s),
            ConstValue::Boolean(b) => View::Bool(*b),
            ConstValue::Binary(_) => View::Binary,
            ConstValue::Enum(e) => View::Enum(e.as_str()),
            ConstValue::List(l) => View::List(l),
            ConstValue::Object(o) => View::Object(o.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }
}

impl InputLike for Json {
    fn view(&self) -> View<'_, Self> {
        match self {
            Json::Null => View::Null,
            Json::Bool(b) => View::Bool(*b),
            Json::Number(n) => View::Number(n),
            Json::String(s) => View::Str(s),
            Json::Array(a) => View::List(a),
            Json::Object(o) => View::Object(o.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }
}

/// Why a value does not fit its type; `path` locates it inside lists and input objects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CoerceError {
    pub path: Vec<String>,
    pub message: String,
}

impl fmt::Display for CoerceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{}`: {}", self.path.join("."), self.message)
        }
    }
}

impl CoerceError {
    fn new(message: String) -> CoerceError {
        CoerceError { path: Vec::new(), message }
    }
    fn at(mut self, seg: String) -> CoerceError {
        self.path.insert(0, seg);
        self
    }
}

/// Coerces input values against schema types, resolving variables from a coerced variable map.
pub(crate) struct Coercer<'a> {
    schema: &'a Schema,
    vars: &'a Map<String, Json>,
}

impl<'a> Coercer<'a> {
    pub fn new(schema: &'a Schema, vars: &'a Map<String, Json>) -> Coercer<'a> {
        Coercer { schema, vars }
    }

    /// Coerces `v` to `ty`. A null (or unset variable) at a nullable position yields `Null`.
    pub fn coerce<T: InputLike>(&self, v: &T, ty: &TypeRef) -> Result<Json, CoerceError> {
        let view = v.view();
        if let View::Var(name) = view {
            return match self.vars.get(name) {
                Some(j) => self.coerce(j, ty),
                None => self.coerce(&Json::Null, ty),
            };
        }
        match ty {
            TypeRef::NonNull(inner) => {
                let out = self.coerce(v, inner)?;
                if out.is_null() {
                    Err(CoerceError::new(format!("expected a non-null `{ty}`, found null")))
                } else {
                    Ok(out)
                }
            }
            TypeRef::List(inner) => match view {
                View::Null => Ok(Json::Null),
                View::List(items) => {
                    if items.len() > MAX_LIST_ITEMS {
                        return Err(CoerceError::new(format!(
                            "a list of {} items is longer than tanto's limit of {MAX_LIST_ITEMS}",
                            items.len()
                        )));
                    }
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(self.coerce(item, inner).map_err(|e| e.at(i.to_string()))?);
                    }
                    Ok(Json::Array(out))
                }
                // A single value where a list is expected is a one-element list.
                _ => Ok(Json::Array(vec![self.coerce(v, inner)?])),
            },
            TypeRef::Named(name) => {
                if let View::Null = view {
                    return Ok(Json::Null);
                }
                self.coerce_named(v, view, name)
            }
        }
    }

    fn coerce_named<T: InputLike>(&self, v: &T, view: View<'_, T>, name: &str) -> Result<Json, CoerceError> {
        let Some(def) = self.schema.get_type(name) else {
            return Err(CoerceError::new(format!("unknown type `{name}`")));
        };
        let mismatch = |what: &str| CoerceError::new(format!("expected {what}, found {}", describe(v)));
        match def.kind {
            TypeKind::Scalar => match name {
                "String" => match view {
                    View::Str(s) => Ok(Json::String(s.to_string())),
                    _ => Err(mismatch("a `String`")),
                },
                "Int" => match view {
                    View::Number(n) => int_of_number(n).map(Json::from).ok_or_else(|| mismatch("an `Int`")),
                    View::Str(s) => s.trim().parse::<i64>().map(Json::from).map_err(|_| mismatch("an `Int`")),
                    _ => Err(mismatch("an `Int`")),
                },
                "Float" => {
                    let f = match view {
                        View::Number(n) => n.as_f64(),
                        View::Str(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    match f {
                        Some(f) if f.is_finite() => {
                            // Keep integers integral so `1` stays `1` for resolvers.
                            if let View::Number(n) = view {
                                return Ok(Json::Number(n.clone()));
                            }
                            serde_json::Number::from_f64(f).map(Json::Number).ok_or_else(|| mismatch("a `Float`"))
                        }
                        _ => Err(mismatch("a `Float`")),
                    }
                }
                "Boolean" => match view {
                    View::Bool(b) => Ok(Json::Bool(b)),
                    View::Str("true") => Ok(Json::Bool(true)),
                    View::Str("false") => Ok(Json::Bool(false)),
                    _ => Err(mismatch("a `Boolean`")),
                },
                _ if self.schema.is_id_scalar(name) => match view {
                    View::Str(s) => Ok(Json::String(s.to_string())),
                    View::Number(n) if n.is_i64() || n.is_u64() => Ok(Json::String(n.to_string())),
                    _ => Err(mismatch(&format!("an `{name}`"))),
                },
                // Custom scalars (JSON, Platform, Void, ...): any literal, as JSON.
                _ => self.to_json(v),
            },
            TypeKind::Enum => match view {
                View::Enum(s) | View::Str(s) => {
                    if def.enum_values.contains_key(s) {
                        Ok(Json::String(s.to_string()))
                    } else {
                        let names: Vec<&str> = def.enum_values.keys().map(|k| &**k).collect();
                        Err(CoerceError::new(format!(
                            "`{s}` is not a value of enum `{name}` (expected one of {})",
                            names.join(", ")
                        )))
                    }
                }
                _ => Err(mismatch(&format!("a `{name}` enum value"))),
            },
            TypeKind::InputObject => {
                let View::Object(entries) = view else {
                    return Err(mismatch(&format!("a `{name}` input object")));
                };
                for (k, _) in &entries {
                    if !def.input_fields.contains_key(*k) {
                        return Err(CoerceError::new(format!("`{name}` has no field `{k}`")));
                    }
                }
                let mut out = Map::new();
                for f in def.input_fields.values() {
                    let given = entries.iter().find(|(k, _)| *k == &*f.name).map(|(_, v)| *v);
                    let value = match given {
                        Some(g) => self.coerce(g, f.ty.nullable()).map_err(|e| e.at(f.name.to_string()))?,
                        None => Json::Null,
                    };
                    if value.is_null() {
                        if let Some(d) = &f.default_json {
                            out.insert(f.name.to_string(), d.clone());
                        } else if f.ty.is_non_null() {
                            return Err(CoerceError::new(format!(
                                "field `{}` of `{name}` is required (type `{}`)",
                                f.name, f.ty
                            )));
                        } else if given.is_some() {
                            out.insert(f.name.to_string(), Json::Null);
                        }
                    } else {
                        out.insert(f.name.to_string(), value);
                    }
                }
                Ok(Json::Object(out))
            }
            TypeKind::Object | TypeKind::Interface | TypeKind::Union => {
                Err(CoerceError::new(format!("`{name}` is not an input type")))
            }
        }
    }

    /// Converts a literal to JSON as-is (custom scalars), resolving variables inside it.
    fn to_json<T: InputLike>(&self, v: &T) -> Result<Json, CoerceError> {
        Ok(match v.view() {
            View::Null => Json::Null,
            View::Bool(b) => Json::Bool(b),
            View::Number(n) => Json::Number(n.clone()),
            View::Str(s) | View::Enum(s) => Json::String(s.to_string()),
            View::List(items) => Json::Array(items.iter().map(|i| self.to_json(i)).collect::<Result<_, _>>()?),
            View::Object(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    m.insert(k.to_string(), self.to_json(v)?);
                }
                Json::Object(m)
            }
            View::Var(name) => self.vars.get(name).cloned().unwrap_or(Json::Null),
            View::Binary => return Err(CoerceError::new("binary values are not supported".into())),
        })
    }
}

fn int_of_number(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 {
        Some(f as i64)
    } else {
        None
    }
}

/// A short rendering of an input value for error messages.
fn describe<T: InputLike>(v: &T) -> String {
    match v.view() {
        View::Null => "null".into(),
        View::Bool(b) => b.to_string(),
        View::Number(n) => n.to_string(),
        View::Str(s) => {
            let mut out = String::new();
            write_string(&mut out, if s.len() > 80 { &s[..floor_char_boundary(s, 80)] } else { s });
            out
        }
        View::Enum(e) => e.to_string(),
        View::List(_) => "a list".into(),
        View::Object(_) => "an object".into(),
        View::Var(v) => format!("${v}"),
        View::Binary => "binary".into(),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
