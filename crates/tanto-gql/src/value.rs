//! Input values: lenient coercion of literals, variables and defaults into JSON, the [`Args`]
//! handed to resolvers, and GraphQL literal printing.
//!
//! Coercion is deliberately more forgiving than the GraphQL spec (see `dagger-compat.md` §2.5):
//! enums may come quoted, Int/Float/Boolean may come as strings, IDs may come as Int literals, and
//! a single value stands for a one-element list. Enum values are passed through by the name the
//! client used; aliases (`OCI` vs `OCIMediaTypes`) are the resolvers' business.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use async_graphql_value::{ConstValue, Number, Value};
use serde_json::{Map, Value as Json};

use super::exec::FieldError;
use super::schema::{Schema, TypeKind, TypeRef};

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

/// Coerced argument values of one field call, by name, in schema order. Defaults are applied;
/// an argument passed as `null` without a default is present as `Null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    type_name: Arc<str>,
    field: Arc<str>,
    values: Vec<(Arc<str>, Json)>,
}

impl Args {
    /// Empty arguments of field `type_name.field` (the names only appear in error messages).
    pub fn new(type_name: impl Into<Arc<str>>, field: impl Into<Arc<str>>) -> Args {
        Args { type_name: type_name.into(), field: field.into(), values: Vec::new() }
    }
    /// Adds or replaces an argument value.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: Json) {
        let name = name.into();
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }
    /// Builder form of [`Args::insert`].
    pub fn with(mut self, name: impl Into<Arc<str>>, value: Json) -> Args {
        self.insert(name, value);
        self
    }
    pub(crate) fn with_capacity(type_name: Arc<str>, field: Arc<str>, n: usize) -> Args {
        Args { type_name, field, values: Vec::with_capacity(n) }
    }
    pub(crate) fn push(&mut self, name: Arc<str>, value: Json) {
        self.values.push((name, value));
    }

    /// All values, in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.values.iter().map(|(n, v)| (&**n, v))
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// The arguments as a JSON object.
    pub fn to_json(&self) -> Map<String, Json> {
        self.values.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
    }

    /// The value of `name`; `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.values.iter().find(|(n, _)| &**n == name).map(|(_, v)| v).filter(|v| !v.is_null())
    }
    /// Whether `name` was given or defaulted (even as null).
    pub fn contains(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| &**n == name)
    }

    fn err(&self, name: &str, what: &str) -> FieldError {
        FieldError::new(format!("argument `{name}` of {}.{} must be {what}", self.type_name, self.field))
    }
    fn required(&self, name: &str) -> Result<&Json, FieldError> {
        self.get(name).ok_or_else(|| {
            FieldError::new(format!("argument `{name}` of {}.{} is required", self.type_name, self.field))
        })
    }

    pub fn string(&self, name: &str) -> Result<&str, FieldError> {
        self.required(name)?.as_str().ok_or_else(|| self.err(name, "a string"))
    }
    pub fn opt_string(&self, name: &str) -> Result<Option<&str>, FieldError> {
        self.get(name).map(|v| v.as_str().ok_or_else(|| self.err(name, "a string"))).transpose()
    }
    pub fn int(&self, name: &str) -> Result<i64, FieldError> {
        self.required(name)?.as_i64().ok_or_else(|| self.err(name, "an integer"))
    }
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, FieldError> {
        self.get(name).map(|v| v.as_i64().ok_or_else(|| self.err(name, "an integer"))).transpose()
    }
    pub fn float(&self, name: &str) -> Result<f64, FieldError> {
        self.required(name)?.as_f64().ok_or_else(|| self.err(name, "a number"))
    }
    pub fn opt_float(&self, name: &str) -> Result<Option<f64>, FieldError> {
        self.get(name).map(|v| v.as_f64().ok_or_else(|| self.err(name, "a number"))).transpose()
    }
    pub fn bool(&self, name: &str) -> Result<bool, FieldError> {
        self.required(name)?.as_bool().ok_or_else(|| self.err(name, "a boolean"))
    }
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        self.get(name).map(|v| v.as_bool().ok_or_else(|| self.err(name, "a boolean"))).transpose()
    }
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, FieldError> {
        self.opt_string_list(name)?.ok_or_else(|| {
            FieldError::new(format!("argument `{name}` of {}.{} is required", self.type_name, self.field))
        })
    }
    pub fn opt_string_list(&self, name: &str) -> Result<Option<Vec<String>>, FieldError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let items = v.as_array().ok_or_else(|| self.err(name, "a list of strings"))?;
        items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| self.err(name, "a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
    /// An enum value, by the name the client used.
    pub fn enum_value(&self, name: &str) -> Result<&str, FieldError> {
        self.required(name)?.as_str().ok_or_else(|| self.err(name, "an enum value"))
    }
    pub fn opt_enum_value(&self, name: &str) -> Result<Option<&str>, FieldError> {
        self.get(name).map(|v| v.as_str().ok_or_else(|| self.err(name, "an enum value"))).transpose()
    }
    pub fn list(&self, name: &str) -> Result<&[Json], FieldError> {
        self.required(name)?.as_array().map(Vec::as_slice).ok_or_else(|| self.err(name, "a list"))
    }
    pub fn opt_list(&self, name: &str) -> Result<Option<&[Json]>, FieldError> {
        self.get(name).map(|v| v.as_array().map(Vec::as_slice).ok_or_else(|| self.err(name, "a list"))).transpose()
    }
    pub fn object(&self, name: &str) -> Result<&Map<String, Json>, FieldError> {
        self.required(name)?.as_object().ok_or_else(|| self.err(name, "an object"))
    }
    pub fn opt_object(&self, name: &str) -> Result<Option<&Map<String, Json>>, FieldError> {
        self.get(name).map(|v| v.as_object().ok_or_else(|| self.err(name, "an object"))).transpose()
    }
}

/// Prints a const value as a GraphQL literal (`"a\"b"`, `[1, 2]`, `{name: "x"}`, `SUCCESS`), as
/// introspection's `defaultValue` and the SDL printer need.
pub fn print_literal(v: &ConstValue) -> String {
    let mut out = String::new();
    write_literal(&mut out, v);
    out
}

fn write_literal(out: &mut String, v: &ConstValue) {
    match v {
        ConstValue::Null => out.push_str("null"),
        ConstValue::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ConstValue::String(s) => write_string(out, s),
        ConstValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        ConstValue::Binary(b) => write_string(out, &String::from_utf8_lossy(b)),
        ConstValue::Enum(e) => out.push_str(e),
        ConstValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(out, item);
            }
            out.push(']');
        }
        ConstValue::Object(fields) => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                write_literal(out, item);
            }
            out.push('}');
        }
    }
}

/// Writes a GraphQL string literal (JSON-compatible escaping).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
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
        let doc = async_graphql_parser::parse_query(format!("{{ x(v: {literal}) }}")).expect("literal parses");
        let async_graphql_parser::types::DocumentOperations::Single(op) = doc.operations else {
            panic!("one operation")
        };
        let async_graphql_parser::types::Selection::Field(f) = &op.node.selection_set.node.items[0].node else {
            panic!("a field")
        };
        let value = &f.node.arguments[0].1.node;
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
}
