//! The types a command line walks through, as the same `ObjectDef` /
//! `Function` shapes: the module's own (its `ModuleTypes`), the core ones
//! (`Container`, `Directory`, ...) from the schema tanto serves, whose
//! `@expectedType` directives say which object an `ID` is (standard
//! introspection does not show directives), and any other type read by
//! GraphQL introspection when a chain reaches it. Which arguments become flags (and of what
//! kind) follows Dagger's `AddFlag` (`cmd/dagger/flags.go`).

use std::collections::BTreeMap;

use serde_json::Value as Json;
use tanto_module::names::{cli_name, lower_camel};
use tanto_module::types::{
    EnumDef, EnumMember, Function, FunctionArg, Kind, ListDef, ModuleTypes, Named, ObjectDef, ScalarDef, TypeDef,
};

/// A type the catalog does not hold yet: the caller introspects it and tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

/// The module's types and the core types fetched so far.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub module: ModuleTypes,
    core: BTreeMap<String, ObjectDef>,
    core_enums: BTreeMap<String, EnumDef>,
    /// Core fields (object, field) whose value is an object's ID, not the
    /// object (`sync`, `Service.start`): nothing can be selected under them.
    id_fields: std::collections::BTreeSet<(String, String)>,
}

/// Values that Dagger's CLI builds from a flag's text (`GetCustomFlagValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Custom {
    Container,
    Directory,
    File,
    Secret,
    Service,
    Socket,
    CacheVolume,
    ModuleSource,
    Module,
    GitRepository,
    GitRef,
    Platform,
    PortForward,
    BuildArg,
}

impl Custom {
    pub fn from_name(name: &str) -> Option<Custom> {
        Some(match name {
            "Container" => Custom::Container,
            "Directory" => Custom::Directory,
            "File" => Custom::File,
            "Secret" => Custom::Secret,
            "Service" => Custom::Service,
            "Socket" => Custom::Socket,
            "CacheVolume" => Custom::CacheVolume,
            "ModuleSource" => Custom::ModuleSource,
            "Module" => Custom::Module,
            "GitRepository" => Custom::GitRepository,
            "GitRef" => Custom::GitRef,
            "Platform" => Custom::Platform,
            "PortForward" => Custom::PortForward,
            "BuildArg" => Custom::BuildArg,
            _ => return None,
        })
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Custom::Container => "Container",
            Custom::Directory => "Directory",
            Custom::File => "File",
            Custom::Secret => "Secret",
            Custom::Service => "Service",
            Custom::Socket => "Socket",
            Custom::CacheVolume => "CacheVolume",
            Custom::ModuleSource => "ModuleSource",
            Custom::Module => "Module",
            Custom::GitRepository => "GitRepository",
            Custom::GitRef => "GitRef",
            Custom::Platform => "Platform",
            Custom::PortForward => "PortForward",
            Custom::BuildArg => "BuildArg",
        }
    }

    /// Whether a list of these is a flag (`GetCustomFlagValueSlice`).
    fn in_lists(self) -> bool {
        !matches!(self, Custom::GitRepository | Custom::GitRef)
    }
}

/// The kind of flag an argument is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagType {
    String,
    Int,
    Float,
    Bool,
    Enum(String),
    Custom(Custom),
    List(Box<FlagType>),
}

impl FlagType {
    /// The value type shown in help (`string`, `int`, `[]string`,
    /// `Directory`; an enum as its values, `DEBUG,INFO`, when `enums` has them).
    pub fn display(&self, enums: &std::collections::BTreeMap<String, Vec<String>>) -> String {
        match self {
            FlagType::String => "string".into(),
            FlagType::Int => "int".into(),
            FlagType::Float => "float".into(),
            FlagType::Bool => "bool".into(),
            FlagType::Enum(name) => enums.get(name).map(|v| v.join(",")).unwrap_or_else(|| name.clone()),
            FlagType::Custom(c) => c.type_name().into(),
            FlagType::List(e) => format!("[]{}", e.display(enums)),
        }
    }
}

/// The flag kind of `arg`, or `None` when the CLI cannot take it.
pub fn flag_type(arg: &FunctionArg, core_object: bool) -> Option<FlagType> {
    if arg.name == "id" && core_object && arg.type_def.kind == Kind::Object {
        return None;
    }
    scalar_flag_type(&arg.type_def, true)
}

fn scalar_flag_type(t: &TypeDef, top: bool) -> Option<FlagType> {
    Some(match t.kind {
        Kind::String => FlagType::String,
        Kind::Integer => FlagType::Int,
        Kind::Float => FlagType::Float,
        Kind::Boolean => FlagType::Bool,
        Kind::Scalar => match Custom::from_name(&t.type_name()) {
            Some(c) if top || c.in_lists() => FlagType::Custom(c),
            _ => FlagType::String,
        },
        Kind::Enum => match Custom::from_name(&t.type_name()) {
            Some(c) => FlagType::Custom(c),
            None => FlagType::Enum(t.type_name()),
        },
        Kind::Object | Kind::Input => match Custom::from_name(&t.type_name()) {
            Some(c) if top || c.in_lists() => FlagType::Custom(c),
            _ => return None,
        },
        Kind::List if top => {
            let e = &t.as_list.as_ref()?.element_type_def;
            FlagType::List(Box::new(scalar_flag_type(e, false)?))
        }
        _ => return None,
    })
}

/// Dagger's `IsRequired`: not optional and no default value — nor a
/// `defaultPath` (Dagger's `withArg` makes such an argument's type optional).
pub fn required(arg: &FunctionArg) -> bool {
    arg.required()
}

/// The object or interface a type leads to (a list's element's), by name.
pub fn object_name(t: &TypeDef) -> Option<String> {
    let t = match (&t.kind, &t.as_list) {
        (Kind::List, Some(l)) => &*l.element_type_def,
        _ => t,
    };
    match t.kind {
        Kind::Object | Kind::Interface => Some(t.type_name()),
        _ => None,
    }
}

/// Functions hidden from the CLI (Dagger's `dagui.ShouldSkipFunction`).
fn skip_function(object: &str, function: &str) -> bool {
    match object {
        "TypeDef" | "Function" => true,
        "Module" => matches!(function, "withDescription" | "withObject" | "withInterface" | "withEnum"),
        _ => false,
    }
}

impl Catalog {
    pub fn new(module: ModuleTypes) -> Catalog {
        Catalog { module, ..Default::default() }
    }

    /// Whether `owner.field` (a core field) returns an object's ID rather than
    /// the object.
    pub fn returns_id(&self, owner: &str, field: &str) -> bool {
        self.id_fields.contains(&(owner.to_string(), field.to_string()))
    }

    /// Adds the objects, interfaces and enums of `schema` (the core API)
    /// that the module does not define.
    pub fn with_schema(mut self, schema: &tanto_gql::Schema) -> Catalog {
        use tanto_gql::schema::TypeKind;
        for t in schema.types().filter(|t| !t.builtin && !t.name.starts_with("__")) {
            let name = t.name.to_string();
            match t.kind {
                TypeKind::Object | TypeKind::Interface if name != schema.query_type() => {
                    let functions = t.fields.values().map(|f| schema_function(schema, &name, f)).collect();
                    for f in t.fields.values().filter(|f| is_id(schema, &f.ty)) {
                        self.id_fields.insert((name.clone(), f.name.to_string()));
                    }
                    let description = t.description.clone();
                    self.core.insert(name.clone(), ObjectDef { name, description, functions, ..Default::default() });
                }
                TypeKind::Enum => {
                    let members = t
                        .enum_values
                        .values()
                        .map(|v| EnumMember {
                            name: v.name.to_string(),
                            value: None,
                            description: v.description.clone(),
                        })
                        .collect();
                    let description = t.description.clone();
                    self.core_enums.insert(name.clone(), EnumDef { name, description, members });
                }
                _ => {}
            }
        }
        self
    }

    /// Whether `name` is one of the module's objects or interfaces.
    pub fn is_module_type(&self, name: &str) -> bool {
        self.module_object(name).is_some()
    }

    fn module_object(&self, name: &str) -> Option<&ObjectDef> {
        self.module.object(name).or_else(|| {
            self.module.interfaces.iter().filter_map(|t| t.as_interface.as_deref()).find(|o| o.name == name)
        })
    }

    /// An object or interface by name.
    pub fn object(&self, name: &str) -> Result<&ObjectDef, Missing> {
        self.module_object(name).or_else(|| self.core.get(name)).ok_or_else(|| Missing(name.to_string()))
    }

    /// An enum by name.
    pub fn enum_def(&self, name: &str) -> Result<&EnumDef, Missing> {
        self.module
            .enums
            .iter()
            .filter_map(|t| t.as_enum.as_ref())
            .find(|e| e.name == name)
            .or_else(|| self.core_enums.get(name))
            .ok_or_else(|| Missing(name.to_string()))
    }

    /// The functions the CLI offers on an object: its fields (as functions
    /// without arguments) then its functions, less the hidden ones and those
    /// with a required argument no flag can give.
    pub fn functions(&self, obj: &ObjectDef) -> Vec<Function> {
        self.functions_split(obj).0
    }

    /// [`Catalog::functions`], and the CLI names of the functions skipped
    /// for an argument no flag can give.
    pub fn functions_split(&self, obj: &ObjectDef) -> (Vec<Function>, Vec<String>) {
        let core = !self.is_module_type(&obj.name);
        let fields = obj.fields.iter().map(|f| Function {
            name: f.name.clone(),
            original_name: None,
            description: f.description.clone(),
            args: Vec::new(),
            return_type: f.type_def.clone(),
        });
        let (mut offered, mut skipped) = (Vec::new(), Vec::new());
        for f in fields.chain(obj.functions.iter().cloned()) {
            if skip_function(&obj.name, &f.name) || f.args.iter().any(|a| required(a) && flag_type(a, core).is_none()) {
                skipped.push(cli_name(&f.name));
            } else {
                offered.push(f);
            }
        }
        (offered, skipped)
    }

    /// The function named `name` (CLI or GraphQL spelling) on `obj`.
    pub fn function(&self, obj: &ObjectDef, name: &str) -> Option<Function> {
        self.functions(obj).into_iter().find(|f| f.name == name || cli_name(&f.name) == name)
    }

    /// Adds a core type from the JSON of [`introspection_query`]'s `__type`.
    pub fn add_introspected(&mut self, name: &str, t: &Json) -> Result<(), String> {
        let kind = t.get("kind").and_then(Json::as_str).unwrap_or("");
        let description = t.get("description").and_then(Json::as_str).map(str::to_string);
        match kind {
            "OBJECT" | "INTERFACE" => {
                let mut functions = Vec::new();
                for f in t.get("fields").and_then(Json::as_array).into_iter().flatten() {
                    let fname = f.get("name").and_then(Json::as_str).unwrap_or_default();
                    if fname.starts_with("__") {
                        continue;
                    }
                    let mut args = Vec::new();
                    for a in f.get("args").and_then(Json::as_array).into_iter().flatten() {
                        let type_def = type_ref(a.get("type").unwrap_or(&Json::Null))?;
                        args.push(FunctionArg {
                            name: a.get("name").and_then(Json::as_str).unwrap_or_default().to_string(),
                            original_name: None,
                            description: a.get("description").and_then(Json::as_str).map(str::to_string),
                            default_value: a.get("defaultValue").and_then(Json::as_str).map(literal_to_json),
                            default_path: None,
                            ignore: None,
                            type_def,
                        });
                    }
                    functions.push(Function {
                        name: fname.to_string(),
                        original_name: None,
                        description: f.get("description").and_then(Json::as_str).map(str::to_string),
                        args,
                        return_type: type_ref(f.get("type").unwrap_or(&Json::Null))?,
                    });
                }
                let obj = ObjectDef { name: name.to_string(), description, functions, ..Default::default() };
                self.core.insert(name.to_string(), obj);
            }
            "ENUM" => {
                let members = t
                    .get("enumValues")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| EnumMember {
                        name: v.get("name").and_then(Json::as_str).unwrap_or_default().to_string(),
                        value: None,
                        description: v.get("description").and_then(Json::as_str).map(str::to_string),
                    })
                    .collect();
                self.core_enums.insert(name.to_string(), EnumDef { name: name.to_string(), description, members });
            }
            "" => return Err(format!("type `{name}` is not in the schema")),
            other => return Err(format!("type `{name}` is a {other}, not an object, interface or enum")),
        }
        Ok(())
    }
}

/// Whether `t` is an ID scalar (`ID`, or a `...ID` scalar of older schemas).
fn is_id(schema: &tanto_gql::Schema, t: &tanto_gql::schema::TypeRef) -> bool {
    use tanto_gql::schema::{TypeKind, TypeRef};
    match t {
        TypeRef::NonNull(inner) => is_id(schema, inner),
        TypeRef::Named(n) => {
            &**n == "ID"
                || (n.len() > 2 && n.ends_with("ID") && schema.get_type(n).is_some_and(|t| t.kind == TypeKind::Scalar))
        }
        TypeRef::List(_) => false,
    }
}

/// The `@expectedType(name:)` among `directives`.
fn expected_type(directives: &[tanto_gql::schema::DirectiveUse]) -> Option<String> {
    let d = directives.iter().find(|d| &*d.name == "expectedType")?;
    serde_json::from_str::<String>(&d.arg("name")?.to_string()).ok()
}

/// A schema field as a function; `ID`s are the objects their
/// `@expectedType` names (an `id` field's, its own object's).
fn schema_function(schema: &tanto_gql::Schema, owner: &str, f: &tanto_gql::schema::FieldDef) -> Function {
    let expected = expected_type(&f.directives).or_else(|| (&*f.name == "id").then(|| owner.to_string()));
    let args = f
        .args
        .values()
        .map(|a| FunctionArg {
            name: a.name.to_string(),
            original_name: None,
            description: a.description.clone(),
            default_value: a.default_value.as_ref().map(|v| literal_to_json(&v.to_string())),
            default_path: None,
            ignore: None,
            type_def: schema_type(schema, &a.ty, expected_type(&a.directives).as_deref()),
        })
        .collect();
    Function {
        name: f.name.to_string(),
        original_name: None,
        description: f.description.clone(),
        args,
        return_type: schema_type(schema, &f.ty, expected.as_deref()),
    }
}

fn schema_type(schema: &tanto_gql::Schema, t: &tanto_gql::schema::TypeRef, expected: Option<&str>) -> TypeDef {
    use tanto_gql::schema::{TypeKind, TypeRef};
    let (inner, optional) = match t {
        TypeRef::NonNull(inner) => (&**inner, false),
        t => (t, true),
    };
    let base = |kind| TypeDef { optional, ..bare(kind) };
    match inner {
        TypeRef::List(element) => TypeDef {
            as_list: Some(ListDef { element_type_def: Box::new(schema_type(schema, element, expected)) }),
            ..base(Kind::List)
        },
        TypeRef::NonNull(_) => schema_type(schema, inner, expected),
        TypeRef::Named(name) => {
            let name = &**name;
            match (schema.get_type(name).map(|t| t.kind), name) {
                (_, "String") => base(Kind::String),
                (_, "Int") => base(Kind::Integer),
                (_, "Float") => base(Kind::Float),
                (_, "Boolean") => base(Kind::Boolean),
                (_, "Void") => base(Kind::Void),
                (_, "ID") => match expected {
                    Some(o) => object(o, optional),
                    None => base(Kind::String),
                },
                (Some(TypeKind::Scalar), n) if n.len() > 2 && n.ends_with("ID") => object(&n[..n.len() - 2], optional),
                (Some(TypeKind::Object), n) => object(n, optional),
                (Some(TypeKind::Interface), n) => TypeDef {
                    as_interface: Some(Box::new(ObjectDef { name: n.to_string(), ..Default::default() })),
                    ..base(Kind::Interface)
                },
                (Some(TypeKind::Enum), n) => {
                    TypeDef { as_enum: Some(EnumDef { name: n.to_string(), ..Default::default() }), ..base(Kind::Enum) }
                }
                (Some(TypeKind::InputObject), n) => {
                    TypeDef { as_input: Some(Named { name: n.to_string() }), ..base(Kind::Input) }
                }
                (_, n) => TypeDef {
                    as_scalar: Some(ScalarDef { name: n.to_string(), description: None }),
                    ..base(Kind::Scalar)
                },
            }
        }
    }
}

fn bare(kind: Kind) -> TypeDef {
    TypeDef {
        kind,
        optional: false,
        as_object: None,
        as_interface: None,
        as_enum: None,
        as_scalar: None,
        as_input: None,
        as_list: None,
    }
}

/// The introspection query for one type, read by [`Catalog::add_introspected`].
pub fn introspection_query(name: &str) -> String {
    let r = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
    format!(
        "{{ __type(name: {}) {{ kind name description fields {{ name description args {{ name description \
         defaultValue type {{ {r} }} }} type {{ {r} }} }} enumValues {{ name description }} }} }}",
        serde_json::to_string(name).expect("a string serializes")
    )
}

/// A GraphQL default value literal as JSON text (`"hi"`, `3`, `TCP` → `"TCP"`).
fn literal_to_json(lit: &str) -> String {
    match serde_json::from_str::<Json>(lit) {
        Ok(_) => lit.to_string(),
        Err(_) => serde_json::to_string(lit).expect("a string serializes"),
    }
}

/// An introspection type reference as a `TypeDef`, the way Dagger's core
/// type definitions read: IDs of objects are the objects.
fn type_ref(t: &Json) -> Result<TypeDef, String> {
    let mut optional = true;
    let mut t = t;
    if t.get("kind").and_then(Json::as_str) == Some("NON_NULL") {
        optional = false;
        t = t.get("ofType").ok_or("a NON_NULL type without ofType")?;
    }
    let kind = t.get("kind").and_then(Json::as_str).ok_or("a type reference without kind")?;
    let name = t.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
    let base = |kind| TypeDef { optional, ..bare(kind) };
    Ok(match kind {
        "LIST" => {
            let element = type_ref(t.get("ofType").ok_or("a LIST type without ofType")?)?;
            TypeDef { as_list: Some(ListDef { element_type_def: Box::new(element) }), ..base(Kind::List) }
        }
        "SCALAR" => match name.as_str() {
            "String" => base(Kind::String),
            "Int" => base(Kind::Integer),
            "Float" => base(Kind::Float),
            "Boolean" => base(Kind::Boolean),
            "Void" => base(Kind::Void),
            n if n.len() > 2 && n.ends_with("ID") => object(&n[..n.len() - 2], optional),
            _ => TypeDef { as_scalar: Some(ScalarDef { name, description: None }), ..base(Kind::Scalar) },
        },
        "OBJECT" => object(&name, optional),
        "INTERFACE" => {
            TypeDef { as_interface: Some(Box::new(ObjectDef { name, ..Default::default() })), ..base(Kind::Interface) }
        }
        "ENUM" => TypeDef { as_enum: Some(EnumDef { name, ..Default::default() }), ..base(Kind::Enum) },
        "INPUT_OBJECT" => TypeDef { as_input: Some(Named { name }), ..base(Kind::Input) },
        other => return Err(format!("unexpected type kind `{other}`")),
    })
}

/// A reference to the object `name`.
pub fn object(name: &str, optional: bool) -> TypeDef {
    TypeDef {
        optional,
        as_object: Some(Box::new(ObjectDef { name: name.to_string(), ..Default::default() })),
        ..bare(Kind::Object)
    }
}

/// The field on `Query` that constructs the module's main object.
pub fn constructor_field(module_name: &str) -> String {
    lower_camel(module_name)
}

#[cfg(test)]
pub(crate) mod tests;
