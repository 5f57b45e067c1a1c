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

use super::dispatch::{field, fields, table, Fields, Handler};
use super::objects::DirectoryObj;
use super::{leaf, resolved, Api, Object};
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

/// `T` of `with<T>Input` / `with<T>Output`.
fn binding_type<'a>(field: &'a str, suffix: &str) -> &'a str {
    &field["with".len()..field.len() - suffix.len()]
}

/// An env with `change` made.
fn changed(e: &EnvObj, change: impl FnOnce(&mut EnvObj)) -> Result<Resolved, ApiError> {
    let mut n = e.clone();
    change(&mut n);
    Ok(resolved(Object::Env(n)))
}

/// A binding declared by `a` (`name`, `description`) of `type_name` holding `value`.
fn binding(a: &tanto_gql::Args, type_name: &str, value: BindingValue) -> Result<BindingObj, ApiError> {
    Ok(BindingObj {
        name: a.string("name")?.to_string(),
        description: a.string("description")?.to_string(),
        type_name: type_name.to_string(),
        value,
    })
}

impl Api {
    pub(super) fn env_query(&self, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let privileged = a.opt_bool("privileged")?.unwrap_or(false);
        let writable = a.opt_bool("writable")?.unwrap_or(false);
        Ok(resolved(Object::Env(EnvObj::new(privileged, writable))))
    }
}

// Env; `with<T>Input` and `with<T>Output` for every `T` by name.
table!(
    pub(super) ENV: EnvObj = "Env",
    Object::Env(e) => e,
    &[ENV_FIELDS],
    &[("with", "Input", WITH_INPUT), ("with", "Output", WITH_OUTPUT)],
);

/// `with<T>Input(name, value, description)`: `value` must be a `T`.
const WITH_INPUT: Handler<EnvObj> = field!(|api, e, call, a| {
    let t = binding_type(call.field, "Input");
    let value = api.load(a.get("value").unwrap_or(&Json::Null), Some(t))?;
    let b = binding(a, t, BindingValue::Object(value))?;
    changed(e, |n| upsert(&mut n.inputs, b))
});

/// `with<T>Output(name, description)`: a declared output of type `T`.
const WITH_OUTPUT: Handler<EnvObj> = field!(|api, e, call, a| {
    let b = binding(a, binding_type(call.field, "Output"), BindingValue::Null)?;
    changed(e, |n| upsert(&mut n.outputs, b))
});

static ENV_FIELDS: Fields<EnvObj> = fields! { |api, e, call, a|
    "input" => find(&e.inputs, "input", a.string("name")?),
    "output" => find(&e.outputs, "output", a.string("name")?),
    "inputs" => Ok(bindings(&e.inputs)),
    "outputs" => Ok(bindings(&e.outputs)),
    "workspace" => Ok(resolved(Object::Directory(e.workspace.clone()))),
    "withWorkspace" => {
        let dir = api.load_directory(a.get("workspace").unwrap_or(&Json::Null))?;
        changed(e, |n| n.workspace = dir)
    },
    "withoutOutputs" => changed(e, |n| n.outputs.clear()),
    "withStringInput" => {
        let b = binding(a, "String", BindingValue::String(a.string("value")?.to_string()))?;
        changed(e, |n| upsert(&mut n.inputs, b))
    },
};

// Binding; `as<T>` for every object type `T` by name.
table!(
    pub(super) BINDING: BindingObj = "Binding",
    Object::Binding(b) => b,
    &[BINDING_FIELDS],
    &[("as", "", field!(|api, b, call, a| binding_as(b, call.field)))],
);

static BINDING_FIELDS: Fields<BindingObj> = fields! { |api, b, call, a|
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
    },
    "asString" => Ok(match &b.value {
        BindingValue::String(s) => leaf(s.clone()),
        _ => Resolved::Null,
    }),
};

/// `Binding.as<T>`: the bound object, which must be a `T`.
fn binding_as(b: &BindingObj, f: &str) -> Result<Resolved, ApiError> {
    let want = &f["as".len()..];
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
