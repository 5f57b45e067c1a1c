//! `JSONValue` (`Query.json`, `File.asJSON`) and `Error` (`Query.error`).
//! A `JSON` scalar travels as JSON text in a string (as Dagger's SDKs send
//! it); a non-string literal is taken as the value itself.

use serde::Serialize;
use serde_json::Value as Json;

use super::dispatch::{fields, table, Fields};
use super::objects::FileObj;
use super::{leaf, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{json_kind, Args, Resolved};

#[derive(Debug, Clone, Default, Serialize)]
pub struct JsonValueObj {
    pub value: Json,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorObj {
    pub message: String,
    pub values: Vec<ErrorValueObj>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorValueObj {
    pub name: String,
    /// JSON text.
    pub value: String,
}

/// A `JSON` argument: parsed from JSON text, or the literal itself.
fn json_arg(a: &Args, name: &str) -> Result<Json, ApiError> {
    match a.get(name) {
        Some(Json::String(s)) => {
            serde_json::from_str(s).map_err(|e| ApiError::from(format!("`{name}` is not valid JSON: {e}")))
        }
        Some(v) => Ok(v.clone()),
        None => Err(format!("`{name}` is required").into()),
    }
}

/// Pretty JSON with a custom indent.
fn pretty(v: &Json, indent: &str) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).expect("serialising a JSON value cannot fail");
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// `v` with `value` set at `path`, creating objects on the way (null becomes an object).
fn with_field(mut v: Json, path: &[String], value: Json) -> Result<Json, String> {
    let Some((first, rest)) = path.split_first() else { return Ok(value) };
    if v.is_null() {
        v = Json::Object(Default::default());
    }
    let Json::Object(m) = &mut v else { return Err(format!("cannot set field `{first}` in {}", json_kind(&v))) };
    let child = m.remove(first).unwrap_or(Json::Null);
    m.insert(first.clone(), with_field(child, rest, value)?);
    Ok(v)
}

table!(pub(super) JSON_VALUE: JsonValueObj = "JSONValue", Object::JsonValue(v) => v, &[JSON_VALUE_FIELDS], &[]);

static JSON_VALUE_FIELDS: Fields<JsonValueObj> = fields! { |api, j, call, a|
    let new = |value: Json| -> Result<Resolved, ApiError> { Ok(resolved(Object::JsonValue(JsonValueObj { value }))) };
    let wrong = |want: &str| {
        ApiError::from(format!("`{}` needs {want}, but the value is {}", call.field, json_kind(&j.value)))
    };
    "asArray" => match &j.value {
        Json::Array(items) => Ok(Resolved::List(
            items.iter().map(|v| resolved(Object::JsonValue(JsonValueObj { value: v.clone() }))).collect(),
        )),
        _ => Err(wrong("an array")),
    },
    "asBoolean" => j.value.as_bool().map(leaf).ok_or_else(|| wrong("a boolean")),
    "asInteger" => j.value.as_i64().map(leaf).ok_or_else(|| wrong("an integer")),
    "asString" => j.value.as_str().map(|s| leaf(s.to_string())).ok_or_else(|| wrong("a string")),
    "contents" => {
        let text = if a.opt_bool("pretty")?.unwrap_or(false) {
            pretty(&j.value, a.opt_string("indent")?.unwrap_or("  "))
        } else {
            j.value.to_string()
        };
        Ok(leaf(text))
    },
    "fields" => match &j.value {
        Json::Object(m) => Ok(leaf(Json::Array(m.keys().cloned().map(Json::String).collect()))),
        _ => Err(wrong("an object")),
    },
    "field" => {
        let path = a.string_list("path")?;
        let mut cur = &j.value;
        for (i, k) in path.iter().enumerate() {
            cur = cur.get(k).ok_or_else(|| {
                ApiError::from(format!("no field `{}` in the JSON value", path[..=i].join(".")))
            })?;
        }
        new(cur.clone())
    },
    "newBoolean" => new(Json::Bool(a.bool("value")?)),
    "newInteger" => new(Json::from(a.int("value")?)),
    "newString" => new(Json::String(a.string("value")?.to_string())),
    "withContents" => new(json_arg(a, "contents")?),
    "withField" => {
        let value = match &*api.load(a.get("value").unwrap_or(&Json::Null), Some("JSONValue"))? {
            Object::JsonValue(v) => v.value.clone(),
            _ => unreachable!("type checked by load"),
        };
        new(with_field(j.value.clone(), &a.string_list("path")?, value)?)
    },
};

table!(pub(super) ERROR: ErrorObj = "Error", Object::Error(v) => v, &[ERROR_FIELDS], &[]);

static ERROR_FIELDS: Fields<ErrorObj> = fields! { |api, e, call, a|
    "message" => Ok(leaf(e.message.clone())),
    "values" => Ok(Resolved::List(e.values.iter().map(|v| resolved(Object::ErrorValue(v.clone()))).collect())),
    "withValue" => {
        let mut n = e.clone();
        n.values.push(ErrorValueObj {
            name: a.string("name")?.to_string(),
            value: json_arg(a, "value")?.to_string(),
        });
        Ok(resolved(Object::Error(n)))
    },
};

table!(pub(super) ERROR_VALUE: ErrorValueObj = "ErrorValue", Object::ErrorValue(v) => v, &[ERROR_VALUE_FIELDS], &[]);

static ERROR_VALUE_FIELDS: Fields<ErrorValueObj> = fields! { |api, v, call, a|
    "name" => Ok(leaf(v.name.clone())),
    "value" => Ok(leaf(v.value.clone())),
};

impl Api {
    /// `File.asJSON`: reads and parses the file (so it is evaluated here).
    pub(super) async fn file_as_json(&self, f: &FileObj) -> Result<Resolved, ApiError> {
        let data = self.engine.solve.read_file(f.root.as_ref(), &f.path).await?;
        let value = serde_json::from_slice(&data).map_err(|e| format!("`{}` is not JSON: {e}", f.path))?;
        Ok(resolved(Object::JsonValue(JsonValueObj { value })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn with_field_cases() {
        let p = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        for (start, path, value, want) in [
            (json!(null), "a", json!(1), Ok(json!({"a": 1}))),
            (json!({"a": {"b": 1}}), "a.c", json!("x"), Ok(json!({"a": {"b": 1, "c": "x"}}))),
            (json!({"a": 1}), "a.b", json!(2), Err("cannot set field `b` in a number")),
        ] {
            let got = with_field(start.clone(), &p(path), value);
            match want {
                Ok(w) => assert_eq!(got, Ok(w), "{start} {path}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{start} {path}: {got:?}"),
            }
        }
        assert_eq!(pretty(&json!({"a": [1]}), "\t"), "{\n\t\"a\": [\n\t\t1\n\t]\n}");
    }
}
