//! The schema model: types, fields, arguments, enum values and directives, built from SDL.
//!
//! The model is read-only while requests run (the executor borrows it); descriptions are the one
//! thing meant to be filled in after parsing (`set_description`), because the SDL we serve carries
//! none and tanto writes its own from code. Builtin scalars, the standard directives and the
//! introspection types are always present, declared or not.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_graphql_parser::types as ast;
use async_graphql_value::ConstValue;
use indexmap::IndexMap;

use super::value::Coercer;

/// Standard scalars, directives and introspection types, merged into every schema.
const BUILTIN_SDL: &str = r#"
scalar String
scalar Int
scalar Float
scalar Boolean
scalar ID
directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
type __Schema {
  description: String
  types: [__Type!]!
  queryType: __Type!
  mutationType: __Type
  subscriptionType: __Type
  directives: [__Directive!]!
}
type __Type {
  kind: __TypeKind!
  name: String
  description: String
  specifiedByURL: String
  fields(includeDeprecated: Boolean = false): [__Field!]
  interfaces: [__Type!]
  possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean = false): [__InputValue!]
  ofType: __Type
  isOneOf: Boolean
}
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
type __Field {
  name: String!
  description: String
  args(includeDeprecated: Boolean = false): [__InputValue!]!
  type: __Type!
  isDeprecated: Boolean!
  deprecationReason: String
}
type __InputValue {
  name: String!
  description: String
  type: __Type!
  defaultValue: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __EnumValue {
  name: String!
  description: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __Directive {
  name: String!
  description: String
  isRepeatable: Boolean!
  locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean = false): [__InputValue!]!
}
enum __DirectiveLocation {
  QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION
  SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT
  INPUT_FIELD_DEFINITION
}
"#;

/// The meta fields every query root has besides its declared ones.
const META_SDL: &str = r#"
type __Meta {
  __schema: __Schema!
  __type(name: String!): __Type
}
"#;

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
/// allocates nothing.
pub(crate) type IntrospectionCache = Mutex<HashMap<String, Vec<CachedResponse>>>;

/// One memoized response, as a value and already serialized.
pub(crate) struct CachedResponse {
    pub operation_name: Option<String>,
    pub root_type: String,
    pub json: Arc<serde_json::Value>,
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
            intro_cache: Mutex::new(HashMap::new()),
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
    /// Parses an SDL document. Builtins are added when not declared; all references are checked
    /// and every default value is coerced once here.
    pub fn parse(sdl: &str) -> Result<Schema, SchemaError> {
        let doc = parse_sdl(sdl)?;
        let builtins = parse_sdl(BUILTIN_SDL)?;
        let meta = parse_sdl(META_SDL)?;

        let mut b = Builder::default();
        b.add_document(&doc, false)?;
        b.add_document(&builtins, true)?;
        let mut meta_b = Builder::default();
        meta_b.add_document(&meta, true)?;
        let meta_fields = meta_b.types.swap_remove("__Meta").map(|t| t.fields).unwrap_or_default();

        let query_type: Arc<str> = b.query_type.clone().unwrap_or_else(|| "Query".into());
        let mut schema = Schema {
            types: b.types,
            directives: b.directives,
            query_type,
            mutation_type: b.mutation_type,
            meta_fields,
            id_scalars: HashSet::new(),
            intro_cache: Mutex::new(HashMap::new()),
        };
        schema.finish()?;
        Ok(schema)
    }

    /// Checks references, computes possible types, ID scalars and coerced defaults.
    fn finish(&mut self) -> Result<(), SchemaError> {
        match self.types.get(&*self.query_type) {
            Some(t) if t.kind == TypeKind::Object => {}
            _ => return Err(SchemaError::MissingQueryType(self.query_type.to_string())),
        }
        if let Some(m) = &self.mutation_type {
            if self.types.get(&**m).map(|t| t.kind) != Some(TypeKind::Object) {
                return Err(SchemaError::UnknownType { name: m.to_string(), by: "schema".into() });
            }
        }

        // References.
        for t in self.types.values() {
            for i in &t.interfaces {
                match self.types.get(&**i) {
                    None => return Err(SchemaError::UnknownType { name: i.to_string(), by: t.name.to_string() }),
                    Some(it) if it.kind != TypeKind::Interface => {
                        return Err(SchemaError::NotAnInterface { name: i.to_string(), by: t.name.to_string() })
                    }
                    _ => {}
                }
            }
            if t.kind == TypeKind::Union {
                for m in &t.possible_types {
                    match self.types.get(&**m) {
                        None => return Err(SchemaError::UnknownType { name: m.to_string(), by: t.name.to_string() }),
                        Some(mt) if mt.kind != TypeKind::Object => {
                            return Err(SchemaError::NotAnObject { member: m.to_string(), union: t.name.to_string() })
                        }
                        _ => {}
                    }
                }
            }
            for f in t.fields.values() {
                let by = format!("{}.{}", t.name, f.name);
                match self.types.get(f.ty.name()) {
                    None => return Err(SchemaError::UnknownType { name: f.ty.name().into(), by }),
                    Some(ft) if ft.kind == TypeKind::InputObject => {
                        return Err(SchemaError::NotAnOutputType { ty: f.ty.to_string(), by })
                    }
                    _ => {}
                }
                for a in f.args.values() {
                    self.check_input(a, &format!("{}.{}({}:)", t.name, f.name, a.name))?;
                }
            }
            for a in t.input_fields.values() {
                self.check_input(a, &format!("{}.{}", t.name, a.name))?;
            }
        }
        for d in self.directives.values() {
            for a in d.args.values() {
                self.check_input(a, &format!("@{}({}:)", d.name, a.name))?;
            }
        }

        // Possible types of interfaces, transitively (an object implementing `Syncer` that forgot
        // to list `Node` is still a `Node`).
        let mut possible: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for t in self.types.values().filter(|t| t.kind == TypeKind::Object) {
            let mut seen: Vec<Arc<str>> = Vec::new();
            let mut stack: Vec<Arc<str>> = t.interfaces.clone();
            while let Some(i) = stack.pop() {
                if seen.contains(&i) {
                    continue;
                }
                if let Some(it) = self.types.get(&*i) {
                    stack.extend(it.interfaces.iter().cloned());
                }
                seen.push(i);
            }
            for i in seen {
                possible.entry(i).or_default().push(t.name.clone());
            }
        }
        for t in self.types.values_mut().filter(|t| t.kind == TypeKind::Interface) {
            t.possible_types = possible.remove(&t.name).unwrap_or_default();
        }

        // ID scalars: `ID` and `<T>ID` for every object or interface `T`.
        self.id_scalars = self
            .types
            .values()
            .filter(|t| t.kind == TypeKind::Scalar)
            .filter(|t| {
                &*t.name == "ID"
                    || t.name.strip_suffix("ID").is_some_and(|base| {
                        self.types.get(base).is_some_and(|bt| matches!(bt.kind, TypeKind::Object | TypeKind::Interface))
                    })
            })
            .map(|t| t.name.clone())
            .collect();

        // Coerced defaults.
        let mut defaults: Vec<(usize, usize, usize, serde_json::Value)> = Vec::new();
        let mut input_defaults: Vec<(usize, usize, serde_json::Value)> = Vec::new();
        let mut directive_defaults: Vec<(usize, usize, serde_json::Value)> = Vec::new();
        {
            let empty = serde_json::Map::new();
            let coercer = Coercer::new(self, &empty);
            let coerce = |a: &InputValueDef, by: String| -> Result<Option<serde_json::Value>, SchemaError> {
                match &a.default_value {
                    None => Ok(None),
                    Some(v) => coercer
                        .coerce(v, &a.ty)
                        .map(Some)
                        .map_err(|e| SchemaError::InvalidDefault { by, message: e.to_string() }),
                }
            };
            for (ti, t) in self.types.values().enumerate() {
                for (fi, f) in t.fields.values().enumerate() {
                    for (ai, a) in f.args.values().enumerate() {
                        if let Some(v) = coerce(a, format!("{}.{}({}:)", t.name, f.name, a.name))? {
                            defaults.push((ti, fi, ai, v));
                        }
                    }
                }
                for (ai, a) in t.input_fields.values().enumerate() {
                    if let Some(v) = coerce(a, format!("{}.{}", t.name, a.name))? {
                        input_defaults.push((ti, ai, v));
                    }
                }
            }
            for (di, d) in self.directives.values().enumerate() {
                for (ai, a) in d.args.values().enumerate() {
                    if let Some(v) = coerce(a, format!("@{}({}:)", d.name, a.name))? {
                        directive_defaults.push((di, ai, v));
                    }
                }
            }
        }
        for (ti, fi, ai, v) in defaults {
            if let Some(a) = self.types[ti].fields[fi].args.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for (ti, ai, v) in input_defaults {
            if let Some(a) = self.types[ti].input_fields.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for (di, ai, v) in directive_defaults {
            if let Some(a) = self.directives[di].args.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for f in self.meta_fields.values_mut() {
            for a in f.args.values_mut() {
                if let Some(ConstValue::Boolean(b)) = &a.default_value {
                    a.default_json = Some(serde_json::Value::Bool(*b));
                }
            }
        }
        Ok(())
    }

    fn check_input(&self, a: &InputValueDef, by: &str) -> Result<(), SchemaError> {
        match self.types.get(a.ty.name()) {
            None => Err(SchemaError::UnknownType { name: a.ty.name().into(), by: by.into() }),
            Some(t) if !t.kind.is_input() => Err(SchemaError::NotAnInputType { ty: a.ty.to_string(), by: by.into() }),
            _ => Ok(()),
        }
    }

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
            c.clear();
        }
    }
}

/// Renders a parser error with its position.
fn error_text(e: &async_graphql_parser::Error) -> String {
    match e.positions().next() {
        Some(p) => format!("{} (line {}, column {})", e.to_string().trim(), p.line, p.column),
        None => e.to_string().trim().to_string(),
    }
}

/// Parses SDL, fixing what async-graphql-parser 7 gets wrong: its grammar's `repeatable` rule
/// matches the empty string, so every directive definition comes back repeatable. We look at
/// the source text between a directive's name and its first location instead.
pub fn parse_sdl(src: &str) -> Result<ast::ServiceDocument, SchemaError> {
    let mut doc = async_graphql_parser::parse_schema(src).map_err(|e| SchemaError::Parse(error_text(&e)))?;
    let mut wanted: Vec<async_graphql_parser::Pos> = Vec::new();
    for def in &doc.definitions {
        if let ast::TypeSystemDefinition::Directive(d) = def {
            wanted.push(d.node.name.pos);
            if let Some(l) = d.node.locations.first() {
                wanted.push(l.pos);
            }
        }
    }
    if wanted.is_empty() {
        return Ok(doc);
    }
    let offsets = byte_offsets(src, &wanted);
    for def in &mut doc.definitions {
        if let ast::TypeSystemDefinition::Directive(d) = def {
            let d = &mut d.node;
            let start = offsets.get(&d.name.pos).copied();
            let end = d.locations.first().and_then(|l| offsets.get(&l.pos)).copied();
            d.is_repeatable = match (start, end) {
                (Some(s), Some(e)) if s < e => {
                    // `... [)] repeatable on LOC`: drop the `on` keyword, then look at the last word.
                    let head = src[s..e].trim_end();
                    let head = head.strip_suffix("on").unwrap_or(head).trim_end();
                    head.strip_suffix("repeatable")
                        .is_some_and(|before| before.ends_with(|c: char| c.is_whitespace() || c == ')' || c == ','))
                }
                _ => false,
            };
        }
    }
    Ok(doc)
}

/// Byte offsets of parser positions (1-based line and column, columns counted in chars, as the
/// parser counts them).
fn byte_offsets(src: &str, wanted: &[async_graphql_parser::Pos]) -> HashMap<async_graphql_parser::Pos, usize> {
    let mut sorted = wanted.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut next = 0;
    let mut out = HashMap::new();
    let (mut line, mut column) = (1usize, 1usize);
    for (i, ch) in src.char_indices() {
        let here = async_graphql_parser::Pos { line, column };
        while next < sorted.len() && sorted[next] < here {
            next += 1; // not at a char boundary we visit; give up on it
        }
        if next == sorted.len() {
            break;
        }
        if sorted[next] == here {
            out.insert(here, i);
            next += 1;
        }
        match ch {
            '\r' => column = 1,
            '\n' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    out
}

/// Accumulates SDL definitions into the model.
#[derive(Default)]
struct Builder {
    types: IndexMap<Arc<str>, TypeDef>,
    directives: IndexMap<Arc<str>, DirectiveDef>,
    query_type: Option<Arc<str>>,
    mutation_type: Option<Arc<str>>,
}

impl Builder {
    fn add_document(&mut self, doc: &ast::ServiceDocument, builtin: bool) -> Result<(), SchemaError> {
        for def in &doc.definitions {
            match def {
                ast::TypeSystemDefinition::Schema(s) => {
                    if builtin {
                        continue;
                    }
                    let s = &s.node;
                    if let Some(q) = &s.query {
                        self.query_type = Some(q.node.as_str().into());
                    }
                    if let Some(m) = &s.mutation {
                        self.mutation_type = Some(m.node.as_str().into());
                    }
                    if let Some(sub) = &s.subscription {
                        return Err(SchemaError::Subscription(sub.node.to_string()));
                    }
                }
                ast::TypeSystemDefinition::Directive(d) => {
                    let d = &d.node;
                    let name: Arc<str> = d.name.node.as_str().into();
                    if self.directives.contains_key(&name) {
                        if builtin {
                            continue; // the SDL redeclared a standard directive: keep its version
                        }
                        return Err(SchemaError::DuplicateDirective(name.to_string()));
                    }
                    let mut args = IndexMap::new();
                    for a in &d.arguments {
                        let a = input_value(&a.node);
                        if args.contains_key(&a.name) {
                            return Err(SchemaError::DuplicateMember(format!("@{name}({}:)", a.name)));
                        }
                        args.insert(a.name.clone(), a);
                    }
                    self.directives.insert(
                        name.clone(),
                        DirectiveDef {
                            name,
                            description: d.description.as_ref().map(|s| s.node.clone()),
                            args,
                            locations: d.locations.iter().map(|l| location_name(l.node)).collect(),
                            repeatable: d.is_repeatable,
                            builtin,
                        },
                    );
                }
                ast::TypeSystemDefinition::Type(t) => self.add_type(&t.node, builtin)?,
            }
        }
        Ok(())
    }

    fn add_type(&mut self, t: &ast::TypeDefinition, builtin: bool) -> Result<(), SchemaError> {
        let name = t.name.node.as_str();
        let kind = match &t.kind {
            ast::TypeKind::Scalar => TypeKind::Scalar,
            ast::TypeKind::Object(_) => TypeKind::Object,
            ast::TypeKind::Interface(_) => TypeKind::Interface,
            ast::TypeKind::Union(_) => TypeKind::Union,
            ast::TypeKind::Enum(_) => TypeKind::Enum,
            ast::TypeKind::InputObject(_) => TypeKind::InputObject,
        };
        if t.extend {
            match self.types.get(name) {
                Some(existing) if existing.kind == kind => {}
                _ => return Err(SchemaError::BadExtension(name.into())),
            }
        } else if self.types.contains_key(name) {
            if builtin {
                return Ok(()); // declared by the SDL itself (e.g. `scalar ID`)
            }
            return Err(SchemaError::DuplicateType(name.into()));
        } else {
            self.types.insert(name.into(), TypeDef::new(name, kind, builtin));
        }
        let Some(def) = self.types.get_mut(name) else {
            return Err(SchemaError::NoSuchType(name.into()));
        };
        if let Some(d) = &t.description {
            def.description = Some(d.node.clone());
        }
        for d in &t.directives {
            let du = directive_use(&d.node);
            if &*du.name == "specifiedBy" {
                if let Some(ConstValue::String(url)) = du.arg("url") {
                    def.specified_by_url = Some(url.clone());
                }
            }
            def.directives.push(du);
        }
        let dup = |member: &str| SchemaError::DuplicateMember(format!("{name}.{member}"));
        match &t.kind {
            ast::TypeKind::Scalar => {}
            ast::TypeKind::Object(ast::ObjectType { implements, fields })
            | ast::TypeKind::Interface(ast::InterfaceType { implements, fields }) => {
                for i in implements {
                    let i: Arc<str> = i.node.as_str().into();
                    if !def.interfaces.contains(&i) {
                        def.interfaces.push(i);
                    }
                }
                for f in fields {
                    let f = field_def(&f.node);
                    if def.fields.contains_key(&f.name) {
                        return Err(dup(&f.name));
                    }
                    def.fields.insert(f.name.clone(), f);
                }
            }
            ast::TypeKind::Union(u) => {
                for m in &u.members {
                    let m: Arc<str> = m.node.as_str().into();
                    if !def.possible_types.contains(&m) {
                        def.possible_types.push(m);
                    }
                }
            }
            ast::TypeKind::Enum(e) => {
                for v in &e.values {
                    let v = &v.node;
                    let directives: Vec<DirectiveUse> = v.directives.iter().map(|d| directive_use(&d.node)).collect();
                    let ev = EnumValueDef {
                        name: v.value.node.as_str().into(),
                        description: v.description.as_ref().map(|s| s.node.clone()),
                        deprecation: deprecation(&directives),
                        directives,
                    };
                    if def.enum_values.contains_key(&ev.name) {
                        return Err(dup(&ev.name));
                    }
                    def.enum_values.insert(ev.name.clone(), ev);
                }
            }
            ast::TypeKind::InputObject(io) => {
                for f in &io.fields {
                    let f = input_value(&f.node);
                    if def.input_fields.contains_key(&f.name) {
                        return Err(dup(&f.name));
                    }
                    def.input_fields.insert(f.name.clone(), f);
                }
            }
        }
        Ok(())
    }
}

fn directive_use(d: &ast::ConstDirective) -> DirectiveUse {
    DirectiveUse {
        name: d.name.node.as_str().into(),
        args: d.arguments.iter().map(|(n, v)| (n.node.as_str().into(), v.node.clone())).collect(),
    }
}

fn deprecation(directives: &[DirectiveUse]) -> Option<String> {
    let d = directives.iter().find(|d| &*d.name == "deprecated")?;
    Some(match d.arg("reason") {
        Some(ConstValue::String(s)) => s.clone(),
        _ => DEFAULT_DEPRECATION_REASON.to_string(),
    })
}

fn input_value(a: &ast::InputValueDefinition) -> InputValueDef {
    let directives: Vec<DirectiveUse> = a.directives.iter().map(|d| directive_use(&d.node)).collect();
    InputValueDef {
        name: a.name.node.as_str().into(),
        description: a.description.as_ref().map(|s| s.node.clone()),
        ty: TypeRef::from_ast(&a.ty.node),
        default_value: a.default_value.as_ref().map(|v| v.node.clone()),
        default_json: None,
        deprecation: deprecation(&directives),
        directives,
    }
}

fn field_def(f: &ast::FieldDefinition) -> FieldDef {
    let directives: Vec<DirectiveUse> = f.directives.iter().map(|d| directive_use(&d.node)).collect();
    let mut args = IndexMap::new();
    for a in &f.arguments {
        let a = input_value(&a.node);
        args.insert(a.name.clone(), a);
    }
    FieldDef {
        name: f.name.node.as_str().into(),
        description: f.description.as_ref().map(|s| s.node.clone()),
        args,
        ty: TypeRef::from_ast(&f.ty.node),
        deprecation: deprecation(&directives),
        directives,
    }
}

/// The `__DirectiveLocation` name of a parsed location.
pub(crate) fn location_name(l: ast::DirectiveLocation) -> &'static str {
    use ast::DirectiveLocation as L;
    match l {
        L::Query => "QUERY",
        L::Mutation => "MUTATION",
        L::Subscription => "SUBSCRIPTION",
        L::Field => "FIELD",
        L::FragmentDefinition => "FRAGMENT_DEFINITION",
        L::FragmentSpread => "FRAGMENT_SPREAD",
        L::InlineFragment => "INLINE_FRAGMENT",
        L::VariableDefinition => "VARIABLE_DEFINITION",
        L::Schema => "SCHEMA",
        L::Scalar => "SCALAR",
        L::Object => "OBJECT",
        L::FieldDefinition => "FIELD_DEFINITION",
        L::ArgumentDefinition => "ARGUMENT_DEFINITION",
        L::Interface => "INTERFACE",
        L::Union => "UNION",
        L::Enum => "ENUM",
        L::EnumValue => "ENUM_VALUE",
        L::InputObject => "INPUT_OBJECT",
        L::InputFieldDefinition => "INPUT_FIELD_DEFINITION",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `sdl` and compares the outcome with `expected` (`Ok(())` or the error message).
    fn check_parse(sdl: &str, expected: Result<(), &str>) {
        let got = Schema::parse(sdl).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "{sdl}");
    }

    #[test]
    fn parse_errors() {
        check_parse("type Query { a: Int }", Ok(()));
        check_parse("type Query { a: Int } extend type Query { b: String }", Ok(()));
        check_parse("type Q { a: Int }", Err("query root type `Query` is not defined"));
        check_parse("schema { query: Q } type Q { a: Int }", Ok(()));
        check_parse("type Query { a: Nope }", Err("`Query.a` refers to unknown type `Nope`"));
        check_parse("type Query { a: Int } type Query { b: Int }", Err("type `Query` is defined more than once"));
        check_parse("type Query { a: Int a: Int }", Err("`Query.a` is defined more than once"));
        check_parse(
            "type Query implements Query { a: Int }",
            Err("`Query` implements `Query`, which is not an interface"),
        );
        check_parse(
            "input I { a: Int } type Query { a: I }",
            Err("`Query.a` has type `I`, which is not an output type"),
        );
        check_parse(
            "type Query { a(x: Query): Int }",
            Err("`Query.a(x:)` has type `Query`, which is not an input type"),
        );
        check_parse(
            "enum E { A } type Query { a(x: E = B): Int }",
            Err("invalid default value for `Query.a(x:)`: `B` is not a value of enum `E` (expected one of A)"),
        );
        check_parse(
            "union U = Int type Query { a: U }",
            Err("union `U` has member `Int`, which is not an object type"),
        );
        check_parse(
            "extend type Nope { a: Int } type Query { a: Int }",
            Err("cannot extend `Nope`: no such type of that kind"),
        );
        assert!(Schema::parse("type Query {").unwrap_err().to_string().starts_with("cannot parse schema: "));
        let s = Schema::parse("directive @r repeatable on FIELD directive @n(a: Int) on FIELD type Query { a: Int }")
            .unwrap();
        assert!(s.get_directive("r").unwrap().repeatable);
        assert!(!s.get_directive("n").unwrap().repeatable);
        assert!(s.get_directive("skip").is_some() && s.get_type("__Type").is_some());
    }

    #[test]
    fn descriptions_can_be_set() {
        let mut s = Schema::parse("enum E { A } input I { x: Int } type Query { a(x: Int): E }").unwrap();
        s.set_description("Query", None, Some("The root.".to_string())).unwrap();
        s.set_description("Query", Some("a"), Some("A field.".to_string())).unwrap();
        s.set_description("E", Some("A"), Some("A value.".to_string())).unwrap();
        s.set_description("I", Some("x"), Some("An input field.".to_string())).unwrap();
        s.set_arg_description("Query", "a", "x", Some("An arg.".to_string())).unwrap();
        s.set_directive_description("skip", Some("Skips.".to_string())).unwrap();
        assert_eq!(s.get_type("Query").unwrap().description.as_deref(), Some("The root."));
        assert_eq!(s.field("Query", "a").unwrap().description.as_deref(), Some("A field."));
        assert_eq!(s.field("Query", "a").unwrap().args["x"].description.as_deref(), Some("An arg."));
        assert_eq!(
            s.set_description("Query", Some("nope"), None).unwrap_err().to_string(),
            "type `Query` has no field, argument, input field or enum value `nope`"
        );
        assert_eq!(s.set_description("Nope", None, None).unwrap_err().to_string(), "unknown type `Nope`");
    }
}
