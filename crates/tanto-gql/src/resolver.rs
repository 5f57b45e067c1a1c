//! What the executor asks of its user: a [`Resolver`] that answers the fields of objects, with
//! the values ([`Resolved`], [`Obj`]) and errors ([`FieldError`]) it returns.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::schema::{FieldDef, Schema};
use super::value::Args;

/// The value behind a GraphQL object: whatever the resolver put there.
pub type ObjectValue = Arc<dyn Any + Send + Sync>;

/// A GraphQL object: its concrete object type name and the resolver's value.
#[derive(Clone)]
pub struct Obj {
    pub type_name: String,
    pub value: ObjectValue,
}

impl Obj {
    /// An object of type `type_name` wrapping `value`.
    pub fn new<T: Any + Send + Sync>(type_name: impl Into<String>, value: T) -> Obj {
        Obj { type_name: type_name.into(), value: Arc::new(value) }
    }
    /// The wrapped value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value.downcast_ref::<T>()
    }
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Obj").field("type_name", &self.type_name).finish_non_exhaustive()
    }
}

/// What a resolver returns for a field.
#[derive(Debug, Clone)]
pub enum Resolved {
    Null,
    /// A scalar or enum value (or a whole list of them, as a JSON array), passed through as is.
    Leaf(Json),
    /// An object; its sub-selection is executed against `type_name`.
    Object(Obj),
    /// A list whose items are completed one by one (objects get their sub-selection).
    List(Vec<Resolved>),
}

impl Resolved {
    /// A leaf value.
    pub fn leaf(v: impl Into<Json>) -> Resolved {
        Resolved::Leaf(v.into())
    }
    /// An object of type `type_name` wrapping `value`.
    pub fn object<T: Any + Send + Sync>(type_name: impl Into<String>, value: T) -> Resolved {
        Resolved::Object(Obj::new(type_name, value))
    }
}

impl From<Obj> for Resolved {
    fn from(o: Obj) -> Resolved {
        Resolved::Object(o)
    }
}

/// A field's failure, as reported in the response's `errors`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldError {
    pub message: String,
    pub extensions: Option<Map<String, Json>>,
}

impl FieldError {
    pub fn new(message: impl Into<String>) -> FieldError {
        FieldError { message: message.into(), extensions: None }
    }
    /// An error carrying `extensions` (e.g. `{"_type": "EXEC_ERROR", ...}`).
    pub fn with_extensions(message: impl Into<String>, extensions: Map<String, Json>) -> FieldError {
        FieldError { message: message.into(), extensions: Some(extensions) }
    }
    /// Adds one extension entry.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<Json>) -> FieldError {
        self.extensions.get_or_insert_with(Map::new).insert(key.into(), value.into());
        self
    }
}

impl From<String> for FieldError {
    fn from(message: String) -> FieldError {
        FieldError::new(message)
    }
}

impl From<&str> for FieldError {
    fn from(message: &str) -> FieldError {
        FieldError::new(message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// One field to resolve.
pub struct FieldCall<'a> {
    pub schema: &'a Schema,
    /// The concrete object type of the parent.
    pub type_name: &'a str,
    pub field: &'a str,
    pub args: &'a Args,
    /// The field's definition (on the concrete type).
    pub def: &'a FieldDef,
}

/// Resolves the fields of non-introspection objects.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    async fn resolve(&self, parent: &Obj, field: &FieldCall<'_>) -> Result<Resolved, FieldError>;
}
