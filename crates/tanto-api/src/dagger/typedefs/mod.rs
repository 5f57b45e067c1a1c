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

pub mod names;
pub mod served;

use serde::Serialize;
use serde_json::Value as Json;

use super::objects::DirectoryObj;
use super::{leaf, not_implemented, resolved, Api, Object};
use crate::dagger::ApiError;
use names::{to_camel, to_lower_camel, to_screaming_snake, valid_enum_name};
use tanto_gql::{Args, FieldCall, Resolved};

/// `TypeDefKind`, shown with its `_KIND` name; the short aliases (`STRING`)
/// are accepted as input.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SourceMapObj {
    pub module: String,
    pub filename: String,
    pub line: i64,
    pub column: i64,
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct InterfaceTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub source_map: Option<SourceMapObj>,
    pub functions: Vec<FunctionObj>,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct InputTypeDefObj {
    pub name: String,
    pub fields: Vec<FieldTypeDefObj>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ScalarTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EnumTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub members: Vec<EnumValueObj>,
    pub source_map: Option<SourceMapObj>,
    pub source_module_name: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EnumValueObj {
    pub name: String,
    pub original_name: String,
    pub value: String,
    pub description: String,
    pub source_map: Option<SourceMapObj>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FieldTypeDefObj {
    pub name: String,
    pub original_name: String,
    pub description: String,
    pub type_def: TypeDefObj,
    pub source_map: Option<SourceMapObj>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModuleObj {
    pub name: String,
    pub description: String,
    pub objects: Vec<TypeDefObj>,
    pub interfaces: Vec<TypeDefObj>,
    pub enums: Vec<TypeDefObj>,
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

fn def(d: DefObj) -> Resolved {
    resolved(Object::Def(d))
}

fn opt_string(v: &Option<String>) -> Resolved {
    v.clone().map(leaf).unwrap_or(Resolved::Null)
}

fn source_map(v: &Option<SourceMapObj>) -> Resolved {
    v.clone().map(|s| def(DefObj::SourceMap(s))).unwrap_or(Resolved::Null)
}

fn functions(fs: &[FunctionObj]) -> Resolved {
    Resolved::List(fs.iter().map(|f| def(DefObj::Function(f.clone()))).collect())
}

fn fields(fs: &[FieldTypeDefObj]) -> Resolved {
    Resolved::List(fs.iter().map(|f| def(DefObj::Field(f.clone()))).collect())
}

fn type_defs(ts: &[TypeDefObj]) -> Resolved {
    Resolved::List(ts.iter().map(|t| def(DefObj::TypeDef(t.clone()))).collect())
}

fn strings(v: &[String]) -> Resolved {
    leaf(Json::Array(v.iter().cloned().map(Json::String).collect()))
}

/// A `JSON` argument as JSON text: a string is JSON text already (checked),
/// another literal is the value itself.
fn json_text(a: &Args, name: &str) -> Result<Option<String>, ApiError> {
    match a.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => {
            let v: Json = serde_json::from_str(s).map_err(|e| {
                ApiError::from(format!(
                    "`{name}` is not JSON text ({e}): pass a JSON-encoded value, e.g. \"\\\"text\\\"\" or \"42\""
                ))
            })?;
            Ok(Some(v.to_string()))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

fn non_empty<'a>(what: &str, s: &'a str) -> Result<&'a str, ApiError> {
    if s.trim().is_empty() {
        Err(format!("{what} must not be empty").into())
    } else {
        Ok(s)
    }
}

/// The `Query` fields this module serves.
pub const QUERY_FIELDS: &[&str] = &["typeDef", "function", "sourceMap", "generatedCode", "module", "currentTypeDefs"];

impl Api {
    fn load_def(&self, id: &Json, want: &str) -> Result<DefObj, ApiError> {
        match &*self.load(id, Some(want))? {
            Object::Def(d) => Ok(d.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    fn arg_type_def(&self, a: &Args, name: &str) -> Result<TypeDefObj, ApiError> {
        match self.load_def(a.get(name).unwrap_or(&Json::Null), "TypeDef")? {
            DefObj::TypeDef(t) => Ok(t),
            _ => unreachable!("type checked by load"),
        }
    }

    fn arg_function(&self, a: &Args, name: &str) -> Result<FunctionObj, ApiError> {
        match self.load_def(a.get(name).unwrap_or(&Json::Null), "Function")? {
            DefObj::Function(f) => Ok(f),
            _ => unreachable!("type checked by load"),
        }
    }

    fn arg_source_map(&self, a: &Args, name: &str) -> Result<Option<SourceMapObj>, ApiError> {
        match a.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(id) => match self.load_def(id, "SourceMap")? {
                DefObj::SourceMap(s) => Ok(Some(s)),
                _ => unreachable!("type checked by load"),
            },
        }
    }

    pub(super) fn typedefs_query(&self, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        match call.field {
            "typeDef" => Ok(def(DefObj::TypeDef(TypeDefObj::default()))),
            "function" => {
                let name = non_empty("a function name", a.string("name")?)?;
                Ok(def(DefObj::Function(FunctionObj {
                    name: to_lower_camel(name),
                    original_name: name.to_string(),
                    return_type: Box::new(self.arg_type_def(a, "returnType")?),
                    ..Default::default()
                })))
            }
            "sourceMap" => Ok(def(DefObj::SourceMap(SourceMapObj {
                filename: a.string("filename")?.to_string(),
                line: a.int("line")?,
                column: a.int("column")?,
                ..Default::default()
            }))),
            "generatedCode" => Ok(def(DefObj::GeneratedCode(GeneratedCodeObj {
                code: self.load_directory(a.get("code").unwrap_or(&Json::Null))?,
                vcs_generated_paths: vec![],
                vcs_ignored_paths: vec![],
            }))),
            "module" => Ok(def(DefObj::Module(ModuleObj::default()))),
            "currentTypeDefs" => {
                let opts = served::Options {
                    return_all_types: a.opt_bool("returnAllTypes")?.unwrap_or(false),
                    hide_core: a.opt_bool("hideCore")?.unwrap_or(false),
                };
                Ok(type_defs(&served::type_defs(call.schema, opts)))
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) fn def_field(&self, d: &DefObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match d {
            DefObj::TypeDef(t) => self.type_def_field(t, call),
            DefObj::Object(o) => match call.field {
                "constructor" => {
                    Ok(o.constructor.as_ref().map(|f| def(DefObj::Function((**f).clone()))).unwrap_or(Resolved::Null))
                }
                "deprecated" => Ok(opt_string(&o.deprecated)),
                "description" => Ok(leaf(o.description.clone())),
                "fields" => Ok(fields(&o.fields)),
                "functions" => Ok(functions(&o.functions)),
                "name" => Ok(leaf(o.name.clone())),
                "sourceMap" => Ok(source_map(&o.source_map)),
                "sourceModuleName" => Ok(leaf(o.source_module_name.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::Interface(i) => match call.field {
                "description" => Ok(leaf(i.description.clone())),
                "functions" => Ok(functions(&i.functions)),
                "name" => Ok(leaf(i.name.clone())),
                "sourceMap" => Ok(source_map(&i.source_map)),
                "sourceModuleName" => Ok(leaf(i.source_module_name.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::Input(i) => match call.field {
                "fields" => Ok(fields(&i.fields)),
                "name" => Ok(leaf(i.name.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::Scalar(s) => match call.field {
                "description" => Ok(leaf(s.description.clone())),
                "name" => Ok(leaf(s.name.clone())),
                "sourceModuleName" => Ok(leaf(s.source_module_name.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::Enum(e) => match call.field {
                "description" => Ok(leaf(e.description.clone())),
                "members" | "values" => {
                    Ok(Resolved::List(e.members.iter().map(|m| def(DefObj::EnumValue(m.clone()))).collect()))
                }
                "name" => Ok(leaf(e.name.clone())),
                "sourceMap" => Ok(source_map(&e.source_map)),
                "sourceModuleName" => Ok(leaf(e.source_module_name.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::EnumValue(v) => match call.field {
                "deprecated" => Ok(opt_string(&v.deprecated)),
                "description" => Ok(leaf(v.description.clone())),
                "name" => Ok(leaf(v.name.clone())),
                "sourceMap" => Ok(source_map(&v.source_map)),
                "value" => Ok(leaf(v.value.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::List(element) => match call.field {
                "elementTypeDef" => Ok(def(DefObj::TypeDef(element.clone()))),
                _ => Err(not_implemented(call)),
            },
            DefObj::Field(f) => match call.field {
                "deprecated" => Ok(opt_string(&f.deprecated)),
                "description" => Ok(leaf(f.description.clone())),
                "name" => Ok(leaf(f.name.clone())),
                "sourceMap" => Ok(source_map(&f.source_map)),
                "typeDef" => Ok(def(DefObj::TypeDef(f.type_def.clone()))),
                _ => Err(not_implemented(call)),
            },
            DefObj::Function(f) => self.function_field(f, call),
            DefObj::FunctionArg(arg) => match call.field {
                "defaultAddress" => Ok(leaf(arg.default_address.clone())),
                "defaultPath" => Ok(leaf(arg.default_path.clone())),
                // `JSON!`: an argument without a default shows JSON `null`.
                "defaultValue" => Ok(leaf(arg.default_value.clone().unwrap_or_else(|| "null".into()))),
                "deprecated" => Ok(opt_string(&arg.deprecated)),
                "description" => Ok(leaf(arg.description.clone())),
                "ignore" => Ok(strings(&arg.ignore)),
                "name" => Ok(leaf(arg.name.clone())),
                "sourceMap" => Ok(source_map(&arg.source_map)),
                "typeDef" => Ok(def(DefObj::TypeDef(arg.type_def.clone()))),
                _ => Err(not_implemented(call)),
            },
            DefObj::SourceMap(s) => match call.field {
                "column" => Ok(leaf(s.column)),
                "filename" => Ok(leaf(s.filename.clone())),
                "line" => Ok(leaf(s.line)),
                "module" => Ok(leaf(s.module.clone())),
                "url" => Ok(leaf(s.url.clone())),
                _ => Err(not_implemented(call)),
            },
            DefObj::GeneratedCode(g) => {
                let mut n = g.clone();
                match call.field {
                    "code" => return Ok(resolved(Object::Directory(g.code.clone()))),
                    "vcsGeneratedPaths" => return Ok(strings(&g.vcs_generated_paths)),
                    "vcsIgnoredPaths" => return Ok(strings(&g.vcs_ignored_paths)),
                    "withVCSGeneratedPaths" => n.vcs_generated_paths = call.args.string_list("paths")?,
                    "withVCSIgnoredPaths" => n.vcs_ignored_paths = call.args.string_list("paths")?,
                    _ => return Err(not_implemented(call)),
                }
                Ok(def(DefObj::GeneratedCode(n)))
            }
            DefObj::Module(m) => self.module_field(m, call),
        }
    }

    fn type_def_field(&self, t: &TypeDefObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let part = |k: Kind, r: Option<DefObj>| {
            if t.kind == Some(k) {
                r.map(def).unwrap_or(Resolved::Null)
            } else {
                Resolved::Null
            }
        };
        let mut n = t.clone();
        match call.field {
            "asEnum" => return Ok(part(Kind::Enum, t.enum_.as_ref().map(|e| DefObj::Enum((**e).clone())))),
            "asInput" => return Ok(part(Kind::Input, t.input.as_ref().map(|e| DefObj::Input((**e).clone())))),
            "asInterface" => return Ok(part(Kind::Interface, t.interface.as_ref().map(|e| DefObj::Interface((**e).clone())))),
            "asList" => return Ok(part(Kind::List, t.list.as_ref().map(|e| DefObj::List((**e).clone())))),
            "asObject" => return Ok(part(Kind::Object, t.object.as_ref().map(|e| DefObj::Object((**e).clone())))),
            "asScalar" => return Ok(part(Kind::Scalar, t.scalar.as_ref().map(|e| DefObj::Scalar((**e).clone())))),
            "kind" => {
                return t.kind.map(|k| leaf(k.wire())).ok_or_else(|| {
                    ApiError::from("TypeDef.kind: this type def has no kind yet: give it one with withKind, withObject, withInterface, withEnum, withScalar or withListOf")
                })
            }
            "name" => return Ok(leaf(t.name())),
            "optional" => return Ok(leaf(t.optional)),
            "withKind" => {
                let k = a.enum_value("kind")?;
                n.kind = Some(Kind::parse(k).ok_or_else(|| ApiError::from(format!("`{k}` is not a TypeDefKind")))?);
            }
            "withOptional" => n.optional = a.bool("optional")?,
            "withListOf" => {
                n.kind = Some(Kind::List);
                n.list = Some(Box::new(self.arg_type_def(a, "elementType")?));
            }
            "withObject" => {
                let name = non_empty("withObject: the object name", a.string("name")?)?;
                n.kind = Some(Kind::Object);
                n.object = Some(Box::new(ObjectTypeDefObj {
                    name: to_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    deprecated: a.opt_string("deprecated")?.map(str::to_string),
                    ..Default::default()
                }));
            }
            "withInterface" => {
                let name = non_empty("withInterface: the interface name", a.string("name")?)?;
                n.kind = Some(Kind::Interface);
                n.interface = Some(Box::new(InterfaceTypeDefObj {
                    name: to_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    ..Default::default()
                }));
            }
            "withEnum" => {
                let name = non_empty("withEnum: the enum name", a.string("name")?)?;
                n.kind = Some(Kind::Enum);
                n.enum_ = Some(Box::new(EnumTypeDefObj {
                    name: to_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    ..Default::default()
                }));
            }
            "withScalar" => {
                let name = non_empty("withScalar: the scalar name", a.string("name")?)?;
                n.kind = Some(Kind::Scalar);
                n.scalar = Some(Box::new(ScalarTypeDefObj {
                    name: to_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    source_module_name: String::new(),
                }));
            }
            "withField" => {
                let name = non_empty("withField: the field name", a.string("name")?)?;
                let field = FieldTypeDefObj {
                    name: to_lower_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    type_def: self.arg_type_def(a, "typeDef")?,
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    deprecated: a.opt_string("deprecated")?.map(str::to_string),
                };
                n.object_mut("withField")?.fields.push(field);
            }
            "withFunction" => {
                let f = self.arg_function(a, "function")?;
                match (n.kind, n.object.as_mut(), n.interface.as_mut()) {
                    (Some(Kind::Object), Some(o), _) => o.functions.push(f),
                    (Some(Kind::Interface), _, Some(i)) => i.functions.push(f),
                    _ => {
                        return Err(format!(
                            "withFunction needs an object or interface type def, but this one {}: call withObject or withInterface first",
                            t.kind_phrase()
                        )
                        .into())
                    }
                }
            }
            "withConstructor" => {
                let mut f = self.arg_function(a, "function")?;
                // A constructor is called by its object's name, not its own.
                f.name.clear();
                f.original_name.clear();
                n.object_mut("withConstructor")?.constructor = Some(Box::new(f));
            }
            "withEnumValue" | "withEnumMember" => {
                let member = call.field == "withEnumMember";
                let (raw, value) = if member {
                    (a.string("name")?.to_string(), a.opt_string("value")?.unwrap_or_default().to_string())
                } else {
                    let v = a.string("value")?.to_string();
                    (v.clone(), v)
                };
                if !valid_enum_name(&raw) {
                    return Err(format!("{}: enum member `{raw}` is not a valid name: use letters, digits and underscores, not starting with a digit", call.field).into());
                }
                let name = if member { to_screaming_snake(&raw) } else { raw.clone() };
                let e = n.enum_mut(call.field)?;
                if let Some(dup) = e.members.iter().find(|m| m.name == name || (!value.is_empty() && m.value == value)) {
                    return Err(format!("{}: enum `{}` already has member `{}`{}", call.field, e.name, dup.name, if dup.name == name { String::new() } else { format!(" with value `{value}`") }).into());
                }
                e.members.push(EnumValueObj {
                    name,
                    original_name: raw,
                    value,
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    deprecated: a.opt_string("deprecated")?.map(str::to_string),
                });
            }
            _ => return Err(not_implemented(call)),
        }
        Ok(def(DefObj::TypeDef(n)))
    }

    fn function_field(&self, f: &FunctionObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let mut n = f.clone();
        match call.field {
            "args" => return Ok(Resolved::List(f.args.iter().map(|x| def(DefObj::FunctionArg(x.clone()))).collect())),
            "deprecated" => return Ok(opt_string(&f.deprecated)),
            "description" => return Ok(leaf(f.description.clone())),
            "name" => return Ok(leaf(f.name.clone())),
            "returnType" => return Ok(def(DefObj::TypeDef((*f.return_type).clone()))),
            "sourceMap" => return Ok(source_map(&f.source_map)),
            "sourceModuleName" => return Ok(leaf(f.source_module_name.clone())),
            "withArg" => {
                let name = non_empty("withArg: the argument name", a.string("name")?)?;
                if let Some(dup) = n.args.iter().find(|x| x.name == to_lower_camel(name)) {
                    return Err(format!("withArg: function `{}` already has an argument `{}`", f.name, dup.name).into());
                }
                n.args.push(FunctionArgObj {
                    name: to_lower_camel(name),
                    original_name: name.to_string(),
                    description: a.opt_string("description")?.unwrap_or_default().to_string(),
                    type_def: self.arg_type_def(a, "typeDef")?,
                    default_value: json_text(a, "defaultValue")?,
                    default_path: a.opt_string("defaultPath")?.unwrap_or_default().to_string(),
                    default_address: a.opt_string("defaultAddress")?.unwrap_or_default().to_string(),
                    ignore: a.opt_string_list("ignore")?.unwrap_or_default(),
                    source_map: self.arg_source_map(a, "sourceMap")?,
                    deprecated: a.opt_string("deprecated")?.map(str::to_string),
                });
            }
            "withCachePolicy" => {
                let policy = a.enum_value("policy")?.to_string();
                let ttl = a.opt_string("timeToLive")?.filter(|s| !s.is_empty());
                if let Some(ttl) = ttl {
                    if policy != "Default" {
                        return Err(format!("withCachePolicy: timeToLive applies to the Default policy only, not {policy}: drop timeToLive or use Default").into());
                    }
                    let ns = tanto_contract::image::parse_duration(ttl)
                        .map_err(|e| ApiError::from(format!("withCachePolicy: {e}")))?;
                    if ns <= 0 {
                        return Err(format!("withCachePolicy: timeToLive `{ttl}` must be positive").into());
                    }
                    n.cache_ttl = Some(tanto_contract::image::format_duration(ns));
                } else {
                    n.cache_ttl = None;
                }
                n.cache_policy = Some(policy);
            }
            "withCheck" => n.check = true,
            "withGenerator" => n.generator = true,
            "withUp" => n.up = true,
            "withDeprecated" => n.deprecated = Some(a.opt_string("reason")?.unwrap_or_default().to_string()),
            "withDescription" => n.description = a.string("description")?.trim().to_string(),
            "withSourceMap" => n.source_map = self.arg_source_map(a, "sourceMap")?,
            _ => return Err(not_implemented(call)),
        }
        Ok(def(DefObj::Function(n)))
    }

    fn module_field(&self, m: &ModuleObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let mut n = m.clone();
        let (list, want, what) = match call.field {
            "dependencies" => return Ok(Resolved::List(vec![])),
            "description" => return Ok(leaf(m.description.clone())),
            "enums" => return Ok(type_defs(&m.enums)),
            "interfaces" => return Ok(type_defs(&m.interfaces)),
            "objects" => return Ok(type_defs(&m.objects)),
            "name" => return Ok(leaf(m.name.clone())),
            // A module made with `Query.module` has no source and no SDK.
            "source" | "sdk" => return Ok(Resolved::Null),
            "withDescription" => {
                n.description = a.string("description")?.trim().to_string();
                return Ok(def(DefObj::Module(n)));
            }
            "withObject" => (&mut n.objects, Kind::Object, "object"),
            "withInterface" => (&mut n.interfaces, Kind::Interface, "iface"),
            "withEnum" => (&mut n.enums, Kind::Enum, "enum"),
            _ => return Err(not_implemented(call)),
        };
        let t = self.arg_type_def(a, what)?;
        if t.kind != Some(want) || t.name().is_empty() {
            return Err(format!(
                "Module.{}: expected a named type def of kind {}, but this one {}{}: build it with typeDef().{}",
                call.field,
                want.wire(),
                t.kind_phrase(),
                if t.name().is_empty() { String::new() } else { format!(" (`{}`)", t.name()) },
                call.field
            )
            .into());
        }
        list.push(t);
        Ok(def(DefObj::Module(n)))
    }
}

#[cfg(test)]
mod tests;
