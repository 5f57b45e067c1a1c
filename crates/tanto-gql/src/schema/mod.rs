//! The schema model: types, fields, arguments, enum values and directives, built from SDL.
//!
//! The model is read-only while requests run (the executor borrows it); descriptions are the one
//! thing meant to be filled in after parsing (`set_description`), because the SDL we serve carries
//! none and tanto writes its own from code. Builtin scalars, the standard directives and the
//! introspection types are always present, declared or not.
//!
//! - this module: the model and its accessors;
//! - [`build`]: SDL definitions into the model;
//! - [`check`]: references, possible types, ID scalars and coerced defaults.

mod build;
mod check;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_graphql_parser::types as ast;
use async_graphql_value::ConstValue;
use indexmap::IndexMap;

/// Default reason of `@deprecated` without arguments (GraphQL spec).
pub const DEFAULT_DEPRECATION_REASON: &str = "No longer supported";

/// Why an SDL document cannot become a [`Schema`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot parse schema: {0}")]
    Parse(String),
    #[error("type `{0}` is defined more than once")]
    DuplicateType(String),
    #[error("directive `@{0}` is defined more than once")]
    DuplicateDirective(String),
    #[error("`{0}` is defined more than once")]
    DuplicateMember(String),
    #[error("`{by}` refers to unknown type `{name}`")]
    UnknownType { name: String, by: String },
    #[error("`{by}` implements `{name}`, which is not an interface")]
    NotAnInterface { name: String, by: String },
    #[error("union `{union}` has member `{member}`, which is not an object type")]
    NotAnObject { member: String, union: String },
    #[error("`{by}` has type `{ty}`, which is not an input type")]
    NotAnInputType { ty: String, by: String },
    #[error("`{by}` has type `{ty}`, which is not an output type")]
    NotAnOutputType { ty: String, by: String },
    #[error("invalid default value for `{by}`: {message}")]
    InvalidDefault { by: String, message: String },
    #[error("cannot extend `{0}`: no such type of that kind")]
    BadExtension(String),
    #[error("query root type `{0}` is not defined")]
    MissingQueryType(String),
    #[error("subscriptions are not supported (schema declares `{0}`)")]
    Subscription(String),
    #[error("unknown type `{0}`")]
    NoSuchType(String),
    #[error("type `{type_name}` has no field, argument, input field or enum value `{member}`")]
    NoSuchMember { type_name: String, member: String },
}

/// Kind of a named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl TypeKind {
    /// The `__TypeKind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeKind::Scalar => "SCALAR",
            TypeKind::Object => "OBJECT",
            TypeKind::Interface => "INTERFACE",
            TypeKind::Union => "UNION",
            TypeKind::Enum => "ENUM",
            TypeKind::InputObject => "INPUT_OBJECT",
        }
    }
    /// Scalars and enums: values without sub-selections.
    pub fn is_leaf(self) -> bool {
        matches!(self, TypeKind::Scalar | TypeKind::Enum)
    }
    /// Objects, interfaces and unions: values with sub-selections.
    pub fn is_composite(self) -> bool {
        matches!(self, TypeKind::Object | TypeKind::Interface | TypeKind::Union)
    }
    /// Types allowed for arguments and input fields.
    pub fn is_input(self) -> bool {
        matches!(self, TypeKind::Scalar | TypeKind::Enum | TypeKind::InputObject)
    }
}

/// A type reference: a named type, possibly wrapped in lists and non-null markers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    Named(Arc<str>),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    /// A reference to a named type.
    pub fn named(name: &str) -> TypeRef {
        TypeRef::Named(name.into())
    }
    /// The innermost named type.
    pub fn name(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.name(),
        }
    }
    pub fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }
    /// This type without its outer non-null marker.
    pub fn nullable(&self) -> &TypeRef {
        match self {
            TypeRef::NonNull(t) => t,
            t => t,
        }
    }
    pub(crate) fn from_ast(ty: &ast::Type) -> TypeRef {
        let base = match &ty.base {
            ast::BaseType::Named(n) => TypeRef::Named(n.as_str().into()),
            ast::BaseType::List(inner) => TypeRef::List(Box::new(TypeRef::from_ast(inner))),
        };
        if ty.nullable {
            base
        } else {
            TypeRef::NonNull(Box::new(base))
        }
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeRef::Named(n) => f.write_str(n),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

/// A directive applied in the SDL (`@expectedType(name: "Secret")`), kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectiveUse {
    pub name: Arc<str>,
    pub args: Vec<(Arc<str>, ConstValue)>,
}

impl DirectiveUse {
    /// The value of argument `name`, if given.
    pub fn arg(&self, name: &str) -> Option<&ConstValue> {
        self.args.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }
}

/// An argument or input field.
#[derive(Debug, Clone)]
pub struct InputValueDef {
    pub name: Arc<str>,
    pub description: Option<String>,
    pub ty: TypeRef,
    /// The default as written in the SDL (`SUCCESS`, `[]`, `"."`).
    pub default_value: Option<ConstValue>,
    /// The default coerced to its JSON form, as resolvers see it in [`super::Args`].
    pub default_json: Option<serde_json::Value>,
    /// `Some(reason)` when `@deprecated`.
    pub deprecation: Option<String>,
    pub directives: Vec<DirectiveUse>,
}

/// A field of an object or interface.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: Arc<str>,
    pub description: Option<String>,
    pub args: IndexMap<Arc<str>, InputValueDef>,
    pub ty: TypeRef,
    /// `Some(reason)` when `@deprecated`.
    pub deprecation: Option<String>,
    pub directives: Vec<DirectiveUse>,
}

/// A value of an enum type.
#[derive(Debug, Clone)]
pub struct EnumValueDef {
    pub name: Arc<str>,
    pub description: Option<String>,
    pub deprecation: Option<String>,
    pub directives: Vec<DirectiveUse>,
}

/// A named type. Only the members that fit its kind are non-empty.
#[derive(Debug, Clone)]
pub struct TypeDef {
    pub name: Arc<str>,
    pub kind: TypeKind,
    pub description: Option<String>,
    /// Objects and interfaces.
    pub fields: IndexMap<Arc<str>, FieldDef>,
    /// Objects and interfaces: the interfaces they declare.
    pub interfaces: Vec<Arc<str>>,
    /// Interfaces and unions: the object types that can appear.
    pub possible_types: Vec<Arc<str>>,
    pub enum_values: IndexMap<Arc<str>, EnumValueDef>,
    pub input_fields: IndexMap<Arc<str>, InputValueDef>,
    pub specified_by_url: Option<String>,
    pub directives: Vec<DirectiveUse>,
    /// Standard scalars and introspection types: present in every schema.
    pub builtin: bool,
}

impl TypeDef {
    fn new(name: &str, kind: TypeKind, builtin: bool) -> TypeDef {
        TypeDef {
            name: name.into(),
            kind,
            description: None,
            fields: IndexMap::new(),
            interfaces: Vec::new(),
            possible_types: Vec::new(),
            enum_values: IndexMap::new(),
            input_fields: IndexMap::new(),
            specified_by_url: None,
            directives: Vec::new(),
            builtin,
        }
    }
    /// Whether this object or interface declares interface `iface`.
    pub fn implements(&self, iface: &str) -> bool {
        self.interfaces.iter().any(|i| &**i == iface)
    }
}

/// A directive definition.
#[derive(Debug, Clone)]
pub struct DirectiveDef {
    pub name: Arc<str>,
    pub description: Option<String>,
    pub args: IndexMap<Arc<str>, InputValueDef>,
    /// `__DirectiveLocation` names (`FIELD_DEFINITION`, ...).
    pub locations: Vec<&'static str>,
    pub repeatable: bool,
    pub builtin: bool,
}

/// Memoized responses of introspection-only requests, by query text first so that a lookup
/// allocates nothing; `bytes` counts what they hold.
#[derive(Default)]
pub(crate) struct Memo {
    pub entries: HashMap<String, Vec<CachedResponse>>,
    pub bytes: usize,
}

pub(crate) type IntrospectionCache = Mutex<Memo>;

/// One memoized response, serialized.
pub(crate) struct CachedResponse {
    pub operation_name: Option<String>,
    pub root_type: String,
    pub bytes: Arc<[u8]>,
}

/// A GraphQL schema: what the executor validates and introspects against.
pub struct Schema {
    types: IndexMap<Arc<str>, TypeDef>,
    directives: IndexMap<Arc<str>, DirectiveDef>,
    query_type: Arc<str>,
    mutation_type: Option<Arc<str>>,
    /// `__schema` and `__type`, available on the query root only.
    meta_fields: IndexMap<Arc<str>, FieldDef>,
    /// Scalars whose values are object IDs (`ID` and the legacy `<T>ID`): Int literals become strings.
    id_scalars: HashSet<Arc<str>>,
    pub(crate) intro_cache: IntrospectionCache,
}

impl Clone for Schema {
    fn clone(&self) -> Schema {
        Schema {
            types: self.types.clone(),
            directives: self.directives.clone(),
            query_type: self.query_type.clone(),
            mutation_type: self.mutation_type.clone(),
            meta_fields: self.meta_fields.clone(),
            id_scalars: self.id_scalars.clone(),
            intro_cache: Mutex::new(Memo::default()),
        }
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("query_type", &self.query_type)
            .field("types", &self.types.len())
            .field("directives", &self.directives.len())
            .finish()
    }
}

impl Schema {
    /// All named types, declared ones first (in SDL order), then builtins.
    pub fn types(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.values()
    }
    /// The named type `name`.
    pub fn get_type(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }
    pub(crate) fn type_index(&self, name: &str) -> Option<(usize, &TypeDef)> {
        self.types.get_full(name).map(|(i, _, t)| (i, t))
    }
    pub(crate) fn type_at(&self, index: usize) -> Option<&TypeDef> {
        self.types.get_index(index).map(|(_, t)| t)
    }
    /// All directive definitions, declared ones first, then the standard ones.
    pub fn directives(&self) -> impl Iterator<Item = &DirectiveDef> {
        self.directives.values()
    }
    pub fn get_directive(&self, name: &str) -> Option<&DirectiveDef> {
        self.directives.get(name)
    }
    pub(crate) fn directive_at(&self, index: usize) -> Option<&DirectiveDef> {
        self.directives.get_index(index).map(|(_, d)| d)
    }
    /// Name of the query root type (`Query`).
    pub fn query_type(&self) -> &str {
        &self.query_type
    }
    /// Name of the mutation root type, if the SDL declares one.
    pub fn mutation_type(&self) -> Option<&str> {
        self.mutation_type.as_deref()
    }
    /// Field `field` of object or interface `type_name`.
    pub fn field(&self, type_name: &str, field: &str) -> Option<&FieldDef> {
        self.types.get(type_name)?.fields.get(field)
    }
    /// `__schema` / `__type`: the meta fields of the query root.
    pub(crate) fn meta_field(&self, name: &str) -> Option<&FieldDef> {
        self.meta_fields.get(name)
    }
    /// Whether scalar `name` holds object IDs (`ID`, `ContainerID`, ...).
    pub fn is_id_scalar(&self, name: &str) -> bool {
        self.id_scalars.contains(name)
    }
    /// Whether a value of object type `object` matches type condition `condition` (the object
    /// itself, an interface it implements directly or transitively, or a union containing it).
    pub fn type_applies(&self, object: &str, condition: &str) -> bool {
        if object == condition {
            return true;
        }
        match self.types.get(condition) {
            Some(c) if matches!(c.kind, TypeKind::Interface | TypeKind::Union) => {
                c.possible_types.iter().any(|p| &**p == object)
            }
            _ => false,
        }
    }

    /// Sets the description of type `type_name`, or of its member `member` (a field, an input
    /// field or an enum value, looked up in that order). `None` text clears it.
    pub fn set_description(
        &mut self,
        type_name: &str,
        member: Option<&str>,
        text: impl Into<Option<String>>,
    ) -> Result<(), SchemaError> {
        let text = text.into();
        let t = self.types.get_mut(type_name).ok_or_else(|| SchemaError::NoSuchType(type_name.into()))?;
        let slot = match member {
            None => &mut t.description,
            Some(m) => {
                if let Some(f) = t.fields.get_mut(m) {
                    &mut f.description
                } else if let Some(f) = t.input_fields.get_mut(m) {
                    &mut f.description
                } else if let Some(v) = t.enum_values.get_mut(m) {
                    &mut v.description
                } else {
                    return Err(SchemaError::NoSuchMember { type_name: type_name.into(), member: m.into() });
                }
            }
        };
        *slot = text;
        self.clear_cache();
        Ok(())
    }

    /// Sets the description of argument `arg` of field `type_name.field`.
    pub fn set_arg_description(
        &mut self,
        type_name: &str,
        field: &str,
        arg: &str,
        text: impl Into<Option<String>>,
    ) -> Result<(), SchemaError> {
        let t = self.types.get_mut(type_name).ok_or_else(|| SchemaError::NoSuchType(type_name.into()))?;
        let a = t.fields.get_mut(field).and_then(|f| f.args.get_mut(arg)).ok_or_else(|| SchemaError::NoSuchMember {
            type_name: type_name.into(),
            member: format!("{field}({arg}:)"),
        })?;
        a.description = text.into();
        self.clear_cache();
        Ok(())
    }

    /// Sets the description of directive `@name`.
    pub fn set_directive_description(
        &mut self,
        name: &str,
        text: impl Into<Option<String>>,
    ) -> Result<(), SchemaError> {
        let d = self.directives.get_mut(name).ok_or_else(|| SchemaError::NoSuchType(format!("@{name}")))?;
        d.description = text.into();
        self.clear_cache();
        Ok(())
    }

    fn clear_cache(&mut self) {
        if let Ok(c) = self.intro_cache.get_mut() {
            *c = Memo::default();
        }
    }
}
