//! [`Args`]: the coerced arguments of one field call, with typed accessors whose errors name
//! the argument and the field.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::super::resolver::FieldError;

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
