//! The module type system as plain values: `TypeDef` and what it builds
//! (`ObjectTypeDef`, `InterfaceTypeDef`, `InputTypeDef`, `ScalarTypeDef`,
//! `EnumTypeDef`, `EnumValueTypeDef`, `ListTypeDef`, `FieldTypeDef`),
//! `Function`, `FunctionArg`, `SourceMap`, `GeneratedCode` and `Module`
//! (`Query.typeDef/function/sourceMap/generatedCode/module`), plus
//! `Query.currentTypeDefs` ([`served`]).
//!
//! Every value is immutable: each `with*` returns a new one, and IDs hash the
//! whole value like any other object. Names are normalised as Dagger does
//! ([`names`]). Nothing here runs a module: `Module` fields that would need a
//! module runtime (serve, runtime, checks, ...) are not implemented yet.

mod fields;
pub mod names;
pub mod served;

pub(super) use fields::{
    ENUM_TYPE_DEF, ENUM_VALUE_TYPE_DEF, FIELD_TYPE_DEF, FUNCTION, FUNCTION_ARG, GENERATED_CODE, INPUT_TYPE_DEF,
    INTERFACE_TYPE_DEF, LIST_TYPE_DEF, MODULE, OBJECT_TYPE_DEF, QUERY_FIELDS, SCALAR_TYPE_DEF, SOURCE_MAP, TYPE_DEF,
};

use serde::{Deserialize, Serialize};

use super::objects::DirectoryObj;
use crate::dagger::ApiError;

/// `TypeDefKind`, shown with its `_KIND` name; the short aliases (`STRING`)
/// are accepted as input.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Float,
    Boolean,
    Scalar,
    List,
    Object,
    Interface,
    Input,
    Void,
    Enum,
}

impl Kind {
    const ALL: [(Kind, &'static str); 11] = [
        (Kind::String, "STRING_KIND"),
        (Kind::Integer, "INTEGER_KIND"),
        (Kind::Float, "FLOAT_KIND"),
        (Kind::Boolean, "BOOLEAN_KIND"),
        (Kind::Scalar, "SCALAR_KIND"),
        (Kind::List, "LIST_KIND"),
        (Kind::Object, "OBJECT_KIND"),
        (Kind::Interface, "INTERFACE_KIND"),
        (Kind::Input, "INPUT_KIND"),
        (Kind::Void, "VOID_KIND"),
        (Kind::Enum, "ENUM_KIND"),
    ];

    pub fn wire(self) -> &'static str {
        Kind::ALL.iter().find(|(k, _)| *k == self).map(|(_, w)| *w).expect("every kind is listed")
    }

    pub fn parse(s: &str) -> Option<Kind> {
        let full = if s.ends_with("_KIND") { s.to_string() } else { format!("{s}_KIND") };
        Kind::ALL.iter().find(|(_, w)| *w == full).map(|(k, _)| *k)
    }
}

/// A `TypeDef`. The `as*` parts are kept as set (like Dagger); each is shown
/// only while `kind` matches it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TypeDefObj {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    pub optional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Box<TypeDefObj>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Box<ObjectTypeDefObj>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<Box<InterfaceTypeDefObj>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Box<InputTypeDefObj>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Box<ScalarTypeDefObj>>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "enum")]
    pub enum_: Option<Box<EnumTypeDefObj>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceMapObj {
    pub module: String,
    pub filename: String,
    pub line: i64,
    pub column: i64,
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub source_map: Option<SourceMapObj>,
    pub fields: Vec<FieldTypeDefObj>,
    pub functions: Vec<FunctionObj>,
    pub constructor: Option<Box<FunctionObj>>,
    pub deprecated: Option<String>,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InterfaceTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub source_map: Option<SourceMapObj>,
    pub functions: Vec<FunctionObj>,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputTypeDefObj {
    pub name: String,
    pub fields: Vec<FieldTypeDefObj>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ScalarTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnumTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub members: Vec<EnumValueObj>,
    pub source_map: Option<SourceMapObj>,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnumValueObj {
    pub name: String,
    pub original_name: String,
    pub value: String,
    pub description: String,
    pub source_map: Option<SourceMapObj>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FieldTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub type_def: TypeDefObj,
    pub source_map: Option<SourceMapObj>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FunctionObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub args: Vec<FunctionArgObj>,
    pub return_type: Box<TypeDefObj>,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMapObj>,
    pub source_module_name: String,
    /// `withCachePolicy`: a `FunctionCachePolicy` value and a Go duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<String>,
    /// `withCheck`, `withGenerator`, `withUp`.
    pub check: bool,
    pub generator: bool,
    pub up: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FunctionArgObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub type_def: TypeDefObj,
    /// JSON text, when the argument has a default.
    pub default_value: Option<String>,
    pub default_path: String,
    pub default_address: String,
    pub ignore: Vec<String>,
    pub source_map: Option<SourceMapObj>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratedCodeObj {
    pub code: DirectoryObj,
    pub vcs_generated_paths: Vec<String>,
    pub vcs_ignored_paths: Vec<String>,
}

/// A module as data (`Query.module`): what an SDK registers with `with*`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModuleObj {
    pub name: String,
    pub description: String,
    pub objects: Vec<TypeDefObj>,
    pub interfaces: Vec<TypeDefObj>,
    pub enums: Vec<TypeDefObj>,
    /// The digest of the loaded module this value shows (`asModule`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded: Option<String>,
}

/// Every value of this family, as one API object variant.
#[derive(Debug, Clone, Serialize)]
pub enum DefObj {
    TypeDef(TypeDefObj),
    Object(ObjectTypeDefObj),
    Interface(InterfaceTypeDefObj),
    Input(InputTypeDefObj),
    Scalar(ScalarTypeDefObj),
    Enum(EnumTypeDefObj),
    EnumValue(EnumValueObj),
    List(TypeDefObj),
    Field(FieldTypeDefObj),
    Function(FunctionObj),
    FunctionArg(FunctionArgObj),
    SourceMap(SourceMapObj),
    GeneratedCode(GeneratedCodeObj),
    Module(ModuleObj),
}

impl DefObj {
    pub fn type_name(&self) -> &'static str {
        match self {
            DefObj::TypeDef(_) => "TypeDef",
            DefObj::Object(_) => "ObjectTypeDef",
            DefObj::Interface(_) => "InterfaceTypeDef",
            DefObj::Input(_) => "InputTypeDef",
            DefObj::Scalar(_) => "ScalarTypeDef",
            DefObj::Enum(_) => "EnumTypeDef",
            DefObj::EnumValue(_) => "EnumValueTypeDef",
            DefObj::List(_) => "ListTypeDef",
            DefObj::Field(_) => "FieldTypeDef",
            DefObj::Function(_) => "Function",
            DefObj::FunctionArg(_) => "FunctionArg",
            DefObj::SourceMap(_) => "SourceMap",
            DefObj::GeneratedCode(_) => "GeneratedCode",
            DefObj::Module(_) => "Module",
        }
    }
}

impl TypeDefObj {
    pub fn of(kind: Kind) -> TypeDefObj {
        TypeDefObj { kind: Some(kind), ..Default::default() }
    }

    pub fn list_of(element: TypeDefObj) -> TypeDefObj {
        TypeDefObj { list: Some(Box::new(element)), ..TypeDefObj::of(Kind::List) }
    }

    /// A reference to a named type (`Kind::Object`, `Interface`, `Input`,
    /// `Enum` or `Scalar`), without its members.
    pub fn named(kind: Kind, name: &str) -> TypeDefObj {
        let mut t = TypeDefObj::of(kind);
        let name = name.to_string();
        match kind {
            Kind::Object => {
                t.object = Some(Box::new(ObjectTypeDefObj { original_name: name.clone(), name, ..Default::default() }))
            }
            Kind::Interface => {
                t.interface =
                    Some(Box::new(InterfaceTypeDefObj { original_name: name.clone(), name, ..Default::default() }))
            }
            Kind::Input => t.input = Some(Box::new(InputTypeDefObj { name, fields: vec![] })),
            Kind::Enum => {
                t.enum_ = Some(Box::new(EnumTypeDefObj { original_name: name.clone(), name, ..Default::default() }))
            }
            Kind::Scalar => {
                t.scalar = Some(Box::new(ScalarTypeDefObj { original_name: name.clone(), name, ..Default::default() }))
            }
            _ => {}
        }
        t
    }

    pub fn optional(mut self, optional: bool) -> TypeDefObj {
        self.optional = optional;
        self
    }

    /// The canonical non-optional name: `String`, `Int`, `Container`,
    /// `[String]`, `[Directory?]`; empty while the type def has no kind.
    pub fn name(&self) -> String {
        match self.kind {
            None => String::new(),
            Some(Kind::String) => "String".into(),
            Some(Kind::Integer) => "Int".into(),
            Some(Kind::Float) => "Float".into(),
            Some(Kind::Boolean) => "Boolean".into(),
            Some(Kind::Void) => "Void".into(),
            Some(Kind::Scalar) => self.scalar.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            Some(Kind::Enum) => self.enum_.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            Some(Kind::Input) => self.input.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            Some(Kind::Object) => self.object.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            Some(Kind::Interface) => self.interface.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            Some(Kind::List) => match &self.list {
                Some(e) => {
                    let n = e.name();
                    if n.is_empty() {
                        String::new()
                    } else {
                        format!("[{n}{}]", if e.optional { "?" } else { "" })
                    }
                }
                None => String::new(),
            },
        }
    }

    /// `is STRING_KIND` / `has no kind`, for error messages.
    fn kind_phrase(&self) -> String {
        self.kind.map(|k| format!("is {}", k.wire())).unwrap_or_else(|| "has no kind".into())
    }

    /// The object part, or an error for `what` naming what this is instead.
    fn object_mut(&mut self, what: &str) -> Result<&mut ObjectTypeDefObj, ApiError> {
        let kind = self.kind_phrase();
        match (self.kind, self.object.as_mut()) {
            (Some(Kind::Object), Some(o)) => Ok(o),
            _ => Err(format!("{what} needs an object type def, but this one {kind}: call withObject first").into()),
        }
    }

    fn enum_mut(&mut self, what: &str) -> Result<&mut EnumTypeDefObj, ApiError> {
        let kind = self.kind_phrase();
        match (self.kind, self.enum_.as_mut()) {
            (Some(Kind::Enum), Some(e)) => Ok(e),
            _ => Err(format!("{what} needs an enum type def, but this one {kind}: call withEnum first").into()),
        }
    }
}

#[cfg(test)]
mod tests;
