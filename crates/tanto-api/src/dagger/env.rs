//! `Env` (`Query.env`) and `Binding`: a store of named inputs (values of any
//! object type we serve, or strings) and declared outputs, plus a workspace
//! directory. Immutable like every object: each `with*` returns a new env.
//!
//! `with<T>Input` / `with<T>Output` / `Binding.as<T>` are served for every
//! `T` by name; an input's value is loaded by ID and checked to be a `T`.
//! Outputs are declarations: nothing fills them until an LLM or module
//! function runs, which tanto does not do yet. Fields that need modules or
//! LLMs (`withModule`, `withMainModule`, `withCurrentModule`, `check`,
//! `checks`, `services`) are not implemented yet.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::Value as Json;
use tanto_model::StableHasher;

use super::objects::DirectoryObj;
use super::{leaf, not_implemented, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{FieldCall, Resolved};

#[derive(Debug, Clone, Serialize)]
pub struct EnvObj {
    pub privileged: bool,
    pub writable: bool,
    pub inputs: Vec<BindingObj>,
    pub outputs: Vec<BindingObj>,
    pub workspace: DirectoryObj,
}

impl EnvObj {
    pub fn new(privileged: bool, writable: bool) -> EnvObj {
        EnvObj { privileged, writable, inputs: vec![], outputs: vec![], workspace: DirectoryObj::empty() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BindingObj {
    pub name: String,
    pub description: String,
    /// The GraphQL type of the value (`String`, `Container`, ...).
    pub type_name: String,
    pub value: BindingValue,
}

#[derive(Debug, Clone, Serialize)]
pub enum BindingValue {
    /// A declared output not filled yet.
    Null,
    String(String),
    /// Encoded by the object's ID.
    Object(#[serde(serialize_with = "ser_object")] Arc<Object>),
}

fn ser_object<S: Serializer>(o: &Arc<Object>, s: S) -> Result<S::Ok, S::Error> {
    o.id().serialize(s)
}

/// Replaces the binding of the same name (keeping its place) or appends.
fn upsert(list: &mut Vec<BindingObj>, b: BindingObj) {
    match list.iter_mut().find(|x| x.name == b.name) {
        Some(slot) => *slot = b,
        None => list.push(b),
    }
}

fn bindings(list: &[BindingObj]) -> Resolved {
    Resolved::List(list.iter().map(|b| resolved(Object::Binding(b.clone()))).collect())
}

fn find(list: &[BindingObj], what: &str, name: &str) -> Result<Resolved, ApiError> {
    match list.iter().find(|b| b.name == name) {
        Some(b) => Ok(resolved(Object::Binding(b.clone()))),
        None => {
            let names: Vec<String> = list.iter().map(|b| format!("`{}`", b.name)).collect();
            let have = if names.is_empty() {
                format!("it has no {what}s")
            } else {
                format!("its {what}s are {}", names.join(", "))
            };
            Err(format!(
                "env has no {what} `{name}`: {have}; add one with with<Type>{}",
                if what == "input" { "Input" } else { "Output" }
            )
            .into())
        }
    }
}

/// `T` of `with<T>Input` / `with<T>Output`, or `None`.
fn binding_type<'a>(field: &'a str, suffix: &str) -> Option<&'a str> {
    field.strip_prefix("with")?.strip_suffix(suffix).filter(|t| !t.is_empty())
}

impl Api {
    pub(super) fn env_query(&self, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let privileged = a.opt_bool("privileged")?.unwrap_or(false);
        let writable = a.opt_bool("writable")?.unwrap_or(false);
        Ok(resolved(Object::Env(EnvObj::new(privileged, writable))))
    }

    pub(super) fn env(&self, e: &EnvObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let mut n = e.clone();
        match call.field {
            "input" => return find(&e.inputs, "input", a.string("name")?),
            "output" => return find(&e.outputs, "output", a.string("name")?),
            "inputs" => return Ok(bindings(&e.inputs)),
            "outputs" => return Ok(bindings(&e.outputs)),
            "workspace" => return Ok(resolved(Object::Directory(e.workspace.clone()))),
            "withWorkspace" => n.workspace = self.load_directory(a.get("workspace").unwrap_or(&Json::Null))?,
            "withoutOutputs" => n.outputs.clear(),
            "withStringInput" => upsert(
                &mut n.inputs,
                BindingObj {
                    name: a.string("name")?.to_string(),
                    description: a.string("description")?.to_string(),
                    type_name: "String".into(),
                    value: BindingValue::String(a.string("value")?.to_string()),
                },
            ),
            // Needs modules or LLMs.
            "withModule" | "withMainModule" | "withCurrentModule" | "check" | "checks" | "services" => {
                return Err(not_implemented(call))
            }
            f => {
                if let Some(t) = binding_type(f, "Input") {
                    let value = self.load(a.get("value").unwrap_or(&Json::Null), Some(t))?;
                    upsert(
                        &mut n.inputs,
                        BindingObj {
                            name: a.string("name")?.to_string(),
                            description: a.string("description")?.to_string(),
                            type_name: t.to_string(),
                            value: BindingValue::Object(value),
                        },
                    );
                } else if let Some(t) = binding_type(f, "Output") {
                    upsert(
                        &mut n.outputs,
                        BindingObj {
                            name: a.string("name")?.to_string(),
                            description: a.string("description")?.to_string(),
                            type_name: t.to_string(),
                            value: BindingValue::Null,
                        },
                    );
                } else {
                    return Err(not_implemented(call));
                }
            }
        }
        Ok(resolved(Object::Env(n)))
    }

    pub(super) fn binding(&self, b: &BindingObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match call.field {
            "name" => Ok(leaf(b.name.clone())),
            "typeName" => Ok(leaf(b.type_name.clone())),
            "isNull" => Ok(leaf(matches!(b.value, BindingValue::Null))),
            "digest" => {
                let mut h = StableHasher::new();
                h.str(&b.type_name);
                match &b.value {
                    BindingValue::Null => h.str("null"),
                    BindingValue::String(s) => h.str("string").str(s),
                    BindingValue::Object(o) => h.str("object").str(&o.id()),
                };
                Ok(leaf(h.finish().to_string()))
            }
            "asString" => Ok(match &b.value {
                BindingValue::String(s) => leaf(s.clone()),
                _ => Resolved::Null,
            }),
            f => {
                let Some(want) = f.strip_prefix("as").filter(|t| !t.is_empty()) else {
                    return Err(not_implemented(call));
                };
                match &b.value {
                    BindingValue::Object(o) if o.type_name() == want => Ok(resolved((**o).clone())),
                    BindingValue::Null => Err(format!(
                        "Binding.{f}: binding `{}` has no value: it is a declared {} output that nothing has filled",
                        b.name, b.type_name
                    )
                    .into()),
                    _ => Err(format!(
                        "Binding.{f}: binding `{}` holds a {}, not a {want}: use as{}",
                        b.name, b.type_name, b.type_name
                    )
                    .into()),
                }
            }
        }
    }
}
