//! A module's type definitions as the API returns them: the JSON of
//! [`MODULE_TYPES_SELECTION`] under `Module` (or of `currentTypeDefs`
//! entries under [`TYPE_DEF_SELECTION`]). The CLI reads them to list and
//! call functions; SDK code generators read them to write bindings.

use serde::{Deserialize, Serialize};

/// The selection of one `TypeDef`, deep enough for a function's argument
/// and return types (lists of lists included).
pub const TYPE_REF_SELECTION: &str = "kind optional asObject { name } asInterface { name } asEnum { name } \
     asScalar { name } asInput { name } asList { elementTypeDef { kind optional asObject { name } \
     asInterface { name } asEnum { name } asScalar { name } asInput { name } asList { elementTypeDef { \
     kind optional asObject { name } asInterface { name } asEnum { name } asScalar { name } } } } }";

/// The selection of a function (`Function`).
pub fn function_selection() -> String {
    format!(
        "name description args {{ name description defaultValue defaultPath \
         ignore typeDef {{ {TYPE_REF_SELECTION} }} }} returnType {{ {TYPE_REF_SELECTION} }}"
    )
}

/// The selection of a full `TypeDef` (objects, interfaces and enums with
/// their members).
pub fn type_def_selection() -> String {
    let f = function_selection();
    format!(
        "kind optional asObject {{ name description fields {{ name description typeDef {{ \
         {TYPE_REF_SELECTION} }} }} functions {{ {f} }} constructor {{ {f} }} }} \
         asInterface {{ name description functions {{ {f} }} }} \
         asEnum {{ name description members {{ name value description }} }} \
         asScalar {{ name description }}"
    )
}

/// The selection under a `Module` that [`ModuleTypes`] reads.
pub fn module_types_selection() -> String {
    let t = type_def_selection();
    format!("name description objects {{ {t} }} interfaces {{ {t} }} enums {{ {t} }}")
}

/// `TypeDefKind` as the wire writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "STRING_KIND")]
    String,
    #[serde(rename = "INTEGER_KIND")]
    Integer,
    #[serde(rename = "FLOAT_KIND")]
    Float,
    #[serde(rename = "BOOLEAN_KIND")]
    Boolean,
    #[serde(rename = "SCALAR_KIND")]
    Scalar,
    #[serde(rename = "LIST_KIND")]
    List,
    #[serde(rename = "OBJECT_KIND")]
    Object,
    #[serde(rename = "INTERFACE_KIND")]
    Interface,
    #[serde(rename = "INPUT_KIND")]
    Input,
    #[serde(rename = "VOID_KIND")]
    Void,
    #[serde(rename = "ENUM_KIND")]
    Enum,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Named {
    pub name: String,
}

/// A `TypeDef`: its kind, and the part for that kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeDef {
    pub kind: Kind,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub as_object: Option<Box<ObjectDef>>,
    #[serde(default)]
    pub as_interface: Option<Box<ObjectDef>>,
    #[serde(default)]
    pub as_enum: Option<EnumDef>,
    #[serde(default)]
    pub as_scalar: Option<ScalarDef>,
    #[serde(default)]
    pub as_input: Option<Named>,
    #[serde(default)]
    pub as_list: Option<ListDef>,
}

impl TypeDef {
    /// The GraphQL name of the type (`String`, `Container`, `[String!]`),
    /// without the `!` of a required one.
    pub fn type_name(&self) -> String {
        match self.kind {
            Kind::String => "String".into(),
            Kind::Integer => "Int".into(),
            Kind::Float => "Float".into(),
            Kind::Boolean => "Boolean".into(),
            Kind::Void => "Void".into(),
            Kind::List => match &self.as_list {
                Some(l) => {
                    let e = &l.element_type_def;
                    format!("[{}{}]", e.type_name(), if e.optional { "" } else { "!" })
                }
                None => "[]".into(),
            },
            Kind::Object => self.as_object.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            Kind::Interface => self.as_interface.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            Kind::Enum => self.as_enum.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            Kind::Scalar => self.as_scalar.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            Kind::Input => self.as_input.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDef {
    pub element_type_def: Box<TypeDef>,
}

/// An object or interface: its name, fields, functions and constructor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDef {
    pub name: String,
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    #[serde(default)]
    pub functions: Vec<Function>,
    #[serde(default)]
    pub constructor: Option<Box<Function>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub type_def: TypeDef,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnumDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub members: Vec<EnumMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnumMember {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalarDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A function (or a constructor, whose name is empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    /// The GraphQL field name (lowerCamel).
    pub name: String,
    /// The name the SDK registered (Python: snake_case).
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub args: Vec<FunctionArg>,
    pub return_type: TypeDef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionArg {
    pub name: String,
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The default as JSON text (`"\"hi\""`, `"3"`); `null` or empty when there is none.
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default)]
    pub default_path: Option<String>,
    #[serde(default)]
    pub ignore: Option<Vec<String>>,
    pub type_def: TypeDef,
}

impl FunctionArg {
    /// Whether a caller must pass it: not optional and no default.
    pub fn required(&self) -> bool {
        !self.type_def.optional
            && self.default_value.as_deref().is_none_or(|d| d.is_empty() || d == "null")
            && self.default_path.as_deref().is_none_or(|d| d.is_empty())
    }
}

/// A module's types (the JSON of [`module_types_selection`] under `Module`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleTypes {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub objects: Vec<TypeDef>,
    #[serde(default)]
    pub interfaces: Vec<TypeDef>,
    #[serde(default)]
    pub enums: Vec<TypeDef>,
}

impl ModuleTypes {
    /// The module's main object: the one named after the module (`my-mod` → `MyMod`).
    pub fn main_object(&self) -> Option<&ObjectDef> {
        let want = crate::names::camel(&self.name);
        self.objects.iter().filter_map(|t| t.as_object.as_deref()).find(|o| o.name == want)
    }

    /// An object of this module by its GraphQL name.
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().filter_map(|t| t.as_object.as_deref()).find(|o| o.name == name)
    }
}
