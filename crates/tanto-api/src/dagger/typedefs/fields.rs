//! The fields of the type system values: `Query.typeDef/function/sourceMap/
//! generatedCode/module/currentTypeDefs` and one table per type.

use serde_json::Value as Json;

use super::names::{to_camel, to_lower_camel, to_screaming_snake, valid_enum_name};
use super::*;
use crate::dagger::dispatch::{fields, table, Fields};
use crate::dagger::{leaf, resolved, Api, ApiError, Object};
use tanto_gql::{Args, Resolved};

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

fn field_defs(fs: &[FieldTypeDefObj]) -> Resolved {
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
}

/// The `Query` fields of this module.
pub(in crate::dagger) static QUERY_FIELDS: Fields<()> = fields! { |api, q, call, a|
    "typeDef" => Ok(def(DefObj::TypeDef(TypeDefObj::default()))),
    "function" => {
        // An empty name is a constructor's (`withConstructor`).
        let name = a.string("name")?;
        Ok(def(DefObj::Function(FunctionObj {
            name: to_lower_camel(name),
            original_name: name.to_string(),
            return_type: Box::new(api.arg_type_def(a, "returnType")?),
            ..Default::default()
        })))
    },
    "sourceMap" => Ok(def(DefObj::SourceMap(SourceMapObj {
        filename: a.string("filename")?.to_string(),
        line: a.int("line")?,
        column: a.int("column")?,
        ..Default::default()
    }))),
    "generatedCode" => Ok(def(DefObj::GeneratedCode(GeneratedCodeObj {
        code: api.load_directory(a.get("code").unwrap_or(&Json::Null))?,
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
    },
};

/// A table over one `DefObj` variant: `def_table!(NAME, "Type", Variant, RustType, FIELDS)`.
macro_rules! def_table {
    ($name:ident, $type_name:literal, $variant:ident, $t:ty, $fields:ident) => {
        table!(pub(in crate::dagger) $name: $t = $type_name, Object::Def(DefObj::$variant(v)) => v, &[$fields], &[]);
    };
}

def_table!(TYPE_DEF, "TypeDef", TypeDef, TypeDefObj, TYPE_DEF_FIELDS);
def_table!(OBJECT_TYPE_DEF, "ObjectTypeDef", Object, ObjectTypeDefObj, OBJECT_FIELDS);
def_table!(INTERFACE_TYPE_DEF, "InterfaceTypeDef", Interface, InterfaceTypeDefObj, INTERFACE_FIELDS);
def_table!(INPUT_TYPE_DEF, "InputTypeDef", Input, InputTypeDefObj, INPUT_FIELDS);
def_table!(SCALAR_TYPE_DEF, "ScalarTypeDef", Scalar, ScalarTypeDefObj, SCALAR_FIELDS);
def_table!(ENUM_TYPE_DEF, "EnumTypeDef", Enum, EnumTypeDefObj, ENUM_FIELDS);
def_table!(ENUM_VALUE_TYPE_DEF, "EnumValueTypeDef", EnumValue, EnumValueObj, ENUM_VALUE_FIELDS);
def_table!(LIST_TYPE_DEF, "ListTypeDef", List, TypeDefObj, LIST_FIELDS);
def_table!(FIELD_TYPE_DEF, "FieldTypeDef", Field, FieldTypeDefObj, FIELD_FIELDS);
def_table!(FUNCTION, "Function", Function, FunctionObj, FUNCTION_FIELDS);
def_table!(FUNCTION_ARG, "FunctionArg", FunctionArg, FunctionArgObj, FUNCTION_ARG_FIELDS);
def_table!(SOURCE_MAP, "SourceMap", SourceMap, SourceMapObj, SOURCE_MAP_FIELDS);
def_table!(GENERATED_CODE, "GeneratedCode", GeneratedCode, GeneratedCodeObj, GENERATED_CODE_FIELDS);
table!(pub(in crate::dagger) MODULE: ModuleObj = "Module", Object::Def(DefObj::Module(v)) => v, &[MODULE_FIELDS, crate::dagger::modules::MODULE_FIELDS], &[]);

static OBJECT_FIELDS: Fields<ObjectTypeDefObj> = fields! { |api, o, call, a|
    "constructor" => {
        Ok(o.constructor.as_ref().map(|f| def(DefObj::Function((**f).clone()))).unwrap_or(Resolved::Null))
    },
    "deprecated" => Ok(opt_string(&o.deprecated)),
    "description" => Ok(leaf(o.description.clone())),
    "fields" => Ok(field_defs(&o.fields)),
    "functions" => Ok(functions(&o.functions)),
    "name" => Ok(leaf(o.name.clone())),
    "sourceMap" => Ok(source_map(&o.source_map)),
    "sourceModuleName" => Ok(leaf(o.source_module_name.clone())),
};

static INTERFACE_FIELDS: Fields<InterfaceTypeDefObj> = fields! { |api, i, call, a|
    "description" => Ok(leaf(i.description.clone())),
    "functions" => Ok(functions(&i.functions)),
    "name" => Ok(leaf(i.name.clone())),
    "sourceMap" => Ok(source_map(&i.source_map)),
    "sourceModuleName" => Ok(leaf(i.source_module_name.clone())),
};

static INPUT_FIELDS: Fields<InputTypeDefObj> = fields! { |api, i, call, a|
    "fields" => Ok(field_defs(&i.fields)),
    "name" => Ok(leaf(i.name.clone())),
};

static SCALAR_FIELDS: Fields<ScalarTypeDefObj> = fields! { |api, s, call, a|
    "description" => Ok(leaf(s.description.clone())),
    "name" => Ok(leaf(s.name.clone())),
    "sourceModuleName" => Ok(leaf(s.source_module_name.clone())),
};

static ENUM_FIELDS: Fields<EnumTypeDefObj> = fields! { |api, e, call, a|
    "description" => Ok(leaf(e.description.clone())),
    "members" | "values" => {
        Ok(Resolved::List(e.members.iter().map(|m| def(DefObj::EnumValue(m.clone()))).collect()))
    },
    "name" => Ok(leaf(e.name.clone())),
    "sourceMap" => Ok(source_map(&e.source_map)),
    "sourceModuleName" => Ok(leaf(e.source_module_name.clone())),
};

static ENUM_VALUE_FIELDS: Fields<EnumValueObj> = fields! { |api, v, call, a|
    "deprecated" => Ok(opt_string(&v.deprecated)),
    "description" => Ok(leaf(v.description.clone())),
    "name" => Ok(leaf(v.name.clone())),
    "sourceMap" => Ok(source_map(&v.source_map)),
    "value" => Ok(leaf(v.value.clone())),
};

static LIST_FIELDS: Fields<TypeDefObj> = fields! { |api, element, call, a|
    "elementTypeDef" => Ok(def(DefObj::TypeDef(element.clone()))),
};

static FIELD_FIELDS: Fields<FieldTypeDefObj> = fields! { |api, f, call, a|
    "deprecated" => Ok(opt_string(&f.deprecated)),
    "description" => Ok(leaf(f.description.clone())),
    "name" => Ok(leaf(f.name.clone())),
    "sourceMap" => Ok(source_map(&f.source_map)),
    "typeDef" => Ok(def(DefObj::TypeDef(f.type_def.clone()))),
};

static FUNCTION_ARG_FIELDS: Fields<FunctionArgObj> = fields! { |api, arg, call, a|
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
};

static SOURCE_MAP_FIELDS: Fields<SourceMapObj> = fields! { |api, s, call, a|
    "column" => Ok(leaf(s.column)),
    "filename" => Ok(leaf(s.filename.clone())),
    "line" => Ok(leaf(s.line)),
    "module" => Ok(leaf(s.module.clone())),
    "url" => Ok(leaf(s.url.clone())),
};

static GENERATED_CODE_FIELDS: Fields<GeneratedCodeObj> = fields! { |api, g, call, a|
    let with = |n: GeneratedCodeObj| -> Result<Resolved, ApiError> { Ok(def(DefObj::GeneratedCode(n))) };
    "code" => Ok(resolved(Object::Directory(g.code.clone()))),
    "vcsGeneratedPaths" => Ok(strings(&g.vcs_generated_paths)),
    "vcsIgnoredPaths" => Ok(strings(&g.vcs_ignored_paths)),
    "withVCSGeneratedPaths" => with(GeneratedCodeObj { vcs_generated_paths: a.string_list("paths")?, ..g.clone() }),
    "withVCSIgnoredPaths" => with(GeneratedCodeObj { vcs_ignored_paths: a.string_list("paths")?, ..g.clone() }),
};

/// `t` with `change` made, as a field's value.
fn type_def_with(
    t: &TypeDefObj,
    change: impl FnOnce(&mut TypeDefObj) -> Result<(), ApiError>,
) -> Result<Resolved, ApiError> {
    let mut n = t.clone();
    change(&mut n)?;
    Ok(def(DefObj::TypeDef(n)))
}

static TYPE_DEF_FIELDS: Fields<TypeDefObj> = fields! { |api, t, call, a|
    let part = |k: Kind, r: Option<DefObj>| -> Result<Resolved, ApiError> {
        Ok(if t.kind == Some(k) { r.map(def).unwrap_or(Resolved::Null) } else { Resolved::Null })
    };
    "asEnum" => part(Kind::Enum, t.enum_.as_ref().map(|e| DefObj::Enum((**e).clone()))),
    "asInput" => part(Kind::Input, t.input.as_ref().map(|e| DefObj::Input((**e).clone()))),
    "asInterface" => part(Kind::Interface, t.interface.as_ref().map(|e| DefObj::Interface((**e).clone()))),
    "asList" => part(Kind::List, t.list.as_ref().map(|e| DefObj::List((**e).clone()))),
    "asObject" => part(Kind::Object, t.object.as_ref().map(|e| DefObj::Object((**e).clone()))),
    "asScalar" => part(Kind::Scalar, t.scalar.as_ref().map(|e| DefObj::Scalar((**e).clone()))),
    "kind" => t.kind.map(|k| leaf(k.wire())).ok_or_else(|| {
        ApiError::from("TypeDef.kind: this type def has no kind yet: give it one with withKind, withObject, withInterface, withEnum, withScalar or withListOf")
    }),
    "name" => Ok(leaf(t.name())),
    "optional" => Ok(leaf(t.optional)),
    "withKind" => {
        let k = a.enum_value("kind")?;
        let kind = Kind::parse(k).ok_or_else(|| ApiError::from(format!("`{k}` is not a TypeDefKind")))?;
        type_def_with(t, |n| {
            n.kind = Some(kind);
            Ok(())
        })
    },
    "withOptional" => {
        let optional = a.bool("optional")?;
        type_def_with(t, |n| {
            n.optional = optional;
            Ok(())
        })
    },
    "withListOf" => {
        let element = api.arg_type_def(a, "elementType")?;
        type_def_with(t, |n| {
            n.kind = Some(Kind::List);
            n.list = Some(Box::new(element));
            Ok(())
        })
    },
    "withObject" => {
        let name = non_empty("withObject: the object name", a.string("name")?)?;
        let object = ObjectTypeDefObj {
            name: to_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            source_map: api.arg_source_map(a, "sourceMap")?,
            deprecated: a.opt_string("deprecated")?.map(str::to_string),
            ..Default::default()
        };
        type_def_with(t, |n| {
            n.kind = Some(Kind::Object);
            n.object = Some(Box::new(object));
            Ok(())
        })
    },
    "withInterface" => {
        let name = non_empty("withInterface: the interface name", a.string("name")?)?;
        let interface = InterfaceTypeDefObj {
            name: to_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            source_map: api.arg_source_map(a, "sourceMap")?,
            ..Default::default()
        };
        type_def_with(t, |n| {
            n.kind = Some(Kind::Interface);
            n.interface = Some(Box::new(interface));
            Ok(())
        })
    },
    "withEnum" => {
        let name = non_empty("withEnum: the enum name", a.string("name")?)?;
        let enum_ = EnumTypeDefObj {
            name: to_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            source_map: api.arg_source_map(a, "sourceMap")?,
            ..Default::default()
        };
        type_def_with(t, |n| {
            n.kind = Some(Kind::Enum);
            n.enum_ = Some(Box::new(enum_));
            Ok(())
        })
    },
    "withScalar" => {
        let name = non_empty("withScalar: the scalar name", a.string("name")?)?;
        let scalar = ScalarTypeDefObj {
            name: to_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            source_module_name: String::new(),
        };
        type_def_with(t, |n| {
            n.kind = Some(Kind::Scalar);
            n.scalar = Some(Box::new(scalar));
            Ok(())
        })
    },
    "withField" => {
        let name = non_empty("withField: the field name", a.string("name")?)?;
        let field = FieldTypeDefObj {
            name: to_lower_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            type_def: api.arg_type_def(a, "typeDef")?,
            source_map: api.arg_source_map(a, "sourceMap")?,
            deprecated: a.opt_string("deprecated")?.map(str::to_string),
        };
        type_def_with(t, |n| {
            n.object_mut("withField")?.fields.push(field);
            Ok(())
        })
    },
    "withFunction" => {
        let f = api.arg_function(a, "function")?;
        type_def_with(t, |n| {
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
            Ok(())
        })
    },
    "withConstructor" => {
        let mut f = api.arg_function(a, "function")?;
        // A constructor is called by its object's name, not its own.
        f.name.clear();
        f.original_name.clear();
        type_def_with(t, |n| {
            n.object_mut("withConstructor")?.constructor = Some(Box::new(f));
            Ok(())
        })
    },
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
        let mut n = t.clone();
        let e = n.enum_mut(call.field)?;
        if let Some(dup) = e.members.iter().find(|m| m.name == name || (!value.is_empty() && m.value == value)) {
            return Err(format!("{}: enum `{}` already has member `{}`{}", call.field, e.name, dup.name, if dup.name == name { String::new() } else { format!(" with value `{value}`") }).into());
        }
        e.members.push(EnumValueObj {
            name,
            original_name: raw,
            value,
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            source_map: api.arg_source_map(a, "sourceMap")?,
            deprecated: a.opt_string("deprecated")?.map(str::to_string),
        });
        Ok(def(DefObj::TypeDef(n)))
    },
};

static FUNCTION_FIELDS: Fields<FunctionObj> = fields! { |api, f, call, a|
    let with = |n: FunctionObj| -> Result<Resolved, ApiError> { Ok(def(DefObj::Function(n))) };
    "args" => Ok(Resolved::List(f.args.iter().map(|x| def(DefObj::FunctionArg(x.clone()))).collect())),
    "deprecated" => Ok(opt_string(&f.deprecated)),
    "description" => Ok(leaf(f.description.clone())),
    "name" => Ok(leaf(f.name.clone())),
    "returnType" => Ok(def(DefObj::TypeDef((*f.return_type).clone()))),
    "sourceMap" => Ok(source_map(&f.source_map)),
    "sourceModuleName" => Ok(leaf(f.source_module_name.clone())),
    "withArg" => {
        let name = non_empty("withArg: the argument name", a.string("name")?)?;
        if let Some(dup) = f.args.iter().find(|x| x.name == to_lower_camel(name)) {
            return Err(format!("withArg: function `{}` already has an argument `{}`", f.name, dup.name).into());
        }
        let mut n = f.clone();
        let default_path = a.opt_string("defaultPath")?.unwrap_or_default().to_string();
        let default_address = a.opt_string("defaultAddress")?.unwrap_or_default().to_string();
        let mut type_def = api.arg_type_def(a, "typeDef")?;
        // As Dagger: an argument with a default path or address may be left out.
        if !default_path.is_empty() || !default_address.is_empty() {
            type_def.optional = true;
        }
        n.args.push(FunctionArgObj {
            name: to_lower_camel(name),
            original_name: name.to_string(),
            description: a.opt_string("description")?.unwrap_or_default().to_string(),
            type_def,
            default_value: json_text(a, "defaultValue")?,
            default_path,
            default_address,
            ignore: a.opt_string_list("ignore")?.unwrap_or_default(),
            source_map: api.arg_source_map(a, "sourceMap")?,
            deprecated: a.opt_string("deprecated")?.map(str::to_string),
        });
        with(n)
    },
    "withCachePolicy" => {
        let policy = a.enum_value("policy")?.to_string();
        let ttl = a.opt_string("timeToLive")?.filter(|s| !s.is_empty());
        let cache_ttl = match ttl {
            Some(ttl) => {
                if policy != "Default" {
                    return Err(format!("withCachePolicy: timeToLive applies to the Default policy only, not {policy}: drop timeToLive or use Default").into());
                }
                let ns = tanto_contract::image::parse_duration(ttl)
                    .map_err(|e| ApiError::from(format!("withCachePolicy: {e}")))?;
                if ns <= 0 {
                    return Err(format!("withCachePolicy: timeToLive `{ttl}` must be positive").into());
                }
                Some(tanto_contract::image::format_duration(ns))
            }
            None => None,
        };
        with(FunctionObj { cache_ttl, cache_policy: Some(policy), ..f.clone() })
    },
    "withCheck" => with(FunctionObj { check: true, ..f.clone() }),
    "withGenerator" => with(FunctionObj { generator: true, ..f.clone() }),
    "withUp" => with(FunctionObj { up: true, ..f.clone() }),
    "withDeprecated" => {
        with(FunctionObj { deprecated: Some(a.opt_string("reason")?.unwrap_or_default().to_string()), ..f.clone() })
    },
    "withDescription" => with(FunctionObj { description: a.string("description")?.trim().to_string(), ..f.clone() }),
    "withSourceMap" => with(FunctionObj { source_map: api.arg_source_map(a, "sourceMap")?, ..f.clone() }),
};

/// `Module.withObject/withInterface/withEnum`: `m` with the type def in
/// argument `what` (of kind `want`) added to the list `list` picks.
fn module_with(
    api: &Api,
    m: &ModuleObj,
    field: &str,
    a: &Args,
    (want, what): (Kind, &str),
    list: fn(&mut ModuleObj) -> &mut Vec<TypeDefObj>,
) -> Result<Resolved, ApiError> {
    let t = api.arg_type_def(a, what)?;
    if t.kind != Some(want) || t.name().is_empty() {
        return Err(format!(
            "Module.{field}: expected a named type def of kind {}, but this one {}{}: build it with typeDef().{field}",
            want.wire(),
            t.kind_phrase(),
            if t.name().is_empty() { String::new() } else { format!(" (`{}`)", t.name()) },
        )
        .into());
    }
    let mut n = m.clone();
    list(&mut n).push(t);
    Ok(def(DefObj::Module(n)))
}

static MODULE_FIELDS: Fields<ModuleObj> = fields! { |api, m, call, a|
    "description" => Ok(leaf(m.description.clone())),
    "enums" => Ok(type_defs(&m.enums)),
    "interfaces" => Ok(type_defs(&m.interfaces)),
    "objects" => Ok(type_defs(&m.objects)),
    "name" => Ok(leaf(m.name.clone())),
    "withDescription" => {
        Ok(def(DefObj::Module(ModuleObj { description: a.string("description")?.trim().to_string(), ..m.clone() })))
    },
    "withObject" => module_with(api, m, call.field, a, (Kind::Object, "object"), |n| &mut n.objects),
    "withInterface" => module_with(api, m, call.field, a, (Kind::Interface, "iface"), |n| &mut n.interfaces),
    "withEnum" => module_with(api, m, call.field, a, (Kind::Enum, "enum"), |n| &mut n.enums),
};
