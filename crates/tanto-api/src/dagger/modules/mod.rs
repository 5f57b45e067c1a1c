//! Modules: `moduleSource` (a local module's `dagger.json`), `asModule`
//! (its runtime built and its types registered by its SDK), `Module.serve`
//! (its types and its field on `Query` added to this session's schema), and
//! calling its functions: every call runs the runtime container with a
//! nested session ([`scope`]) whose `currentFunctionCall` says what to run
//! and takes the result back (`returnValue`/`returnError`).
//!
//! Module values (instances of a module's object types) are [`ModValue`]s:
//! the object's fields as the SDK returned them, keyed by their original
//! names, with the module's digest. Results of function calls are kept for
//! the life of the engine (key: module digest, object state, function,
//! arguments); the steps a function runs are cached as any other.

mod call;
mod kept;
mod load;
mod runtime;
mod schema;
pub mod scope;
mod values;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as Json;

use super::dispatch::{fields, table, Fields};
use super::objects::{ContainerObj, DirectoryObj};
use super::typedefs::{FunctionObj, ModuleObj, ObjectTypeDefObj};
use super::{leaf, resolved, Object};
use crate::dagger::ApiError;
use tanto_gql::Resolved;

pub use values::ModValue;

/// A module found from a reference (`Query.moduleSource`): where it is and
/// what its `dagger.json` says.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleSourceObj {
    /// The module's root on the host (absolute; empty for a directory's module).
    pub root_host_path: String,
    /// Its context directory on the host: the nearest enclosing `.git`, else
    /// the root (empty for a directory's module).
    pub context_host_path: String,
    /// The context directory, for a module in a `Directory` (`asModuleSource`)
    /// or a git repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<DirectoryObj>,
    /// Where a git module came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
    /// The root relative to the context (`.` when they are the same).
    pub root_subpath: String,
    /// `dagger.json` as read (canonical JSON).
    pub config: Json,
    /// The root directory's content, uploaded.
    pub root: DirectoryObj,
    /// The content digest of the root directory.
    pub digest: String,
    /// The name it is known by when that is not its own (`withName`; a
    /// dependency's `name` in its dependent's `dagger.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_override: Option<String>,
}

impl ModuleSourceObj {
    /// Its own name, from its `dagger.json`: the one its SDK knows.
    pub fn name(&self) -> String {
        match self.config.get("name").and_then(Json::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => self.name_override.clone().unwrap_or_default(),
        }
    }

    /// The name it is served by: its override, else its own.
    pub fn module_name(&self) -> String {
        self.name_override.clone().unwrap_or_else(|| self.name())
    }

    /// The same source known by `name`.
    pub fn with_name(&self, name: &str) -> ModuleSourceObj {
        let name_override = if name.is_empty() || name == self.name() { None } else { Some(name.to_string()) };
        ModuleSourceObj { name_override, ..self.clone() }
    }

    pub fn sdk(&self) -> String {
        match self.config.get("sdk") {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Object(o)) => o.get("source").and_then(Json::as_str).unwrap_or_default().to_string(),
            _ => String::new(),
        }
    }

    pub fn engine_version(&self) -> String {
        self.config.get("engineVersion").and_then(Json::as_str).unwrap_or_default().to_string()
    }

    /// Where the module is, for messages: its host path, or its path in its directory.
    pub fn label(&self) -> String {
        if let Some(g) = &self.git {
            g.reference.clone()
        } else if self.context.is_some() {
            format!("{} (in a directory)", self.root_subpath)
        } else {
            self.root_host_path.clone()
        }
    }

    /// The module's source subpath within its root (`source` in `dagger.json`).
    pub fn source_subpath(&self) -> String {
        self.config.get("source").and_then(Json::as_str).unwrap_or(".").to_string()
    }
}

/// A git module's reference.
#[derive(Debug, Clone, Serialize)]
pub struct GitSource {
    /// As given (`github.com/o/r/sub@v1`).
    pub reference: String,
    pub clone_url: String,
    pub version: Option<String>,
    /// The commit checked out (the pin, when one was given).
    pub commit: String,
    /// The pin the dependent's `dagger.json` gave, if any.
    pub pin: Option<String>,
}

/// A module whose runtime is built and whose types are registered.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    /// Identity: the module's content, its configuration and its dependencies'.
    pub digest: String,
    pub source: ModuleSourceObj,
    /// What the SDK registered (object names namespaced as Dagger does).
    pub types: ModuleObj,
    /// The container every function call runs (its entrypoint is the SDK's).
    pub runtime: ContainerObj,
    pub deps: Vec<Arc<Loaded>>,
    /// Where it came from, for messages.
    pub source_label: String,
}

impl Loaded {
    /// The module's field on `Query` (`my-mod` → `myMod`).
    pub fn field_name(&self) -> String {
        tanto_module::names::lower_camel(&self.name)
    }

    /// The main object's GraphQL name (`my-mod` → `MyMod`).
    pub fn main_object_name(&self) -> String {
        tanto_module::names::camel(&self.name)
    }

    pub fn object(&self, gql_name: &str) -> Option<&ObjectTypeDefObj> {
        self.types.objects.iter().filter_map(|t| t.object.as_deref()).find(|o| o.name == gql_name)
    }

    /// The module as the API shows it (`Module`).
    pub fn module_obj(&self) -> ModuleObj {
        let mut m = self.types.clone();
        m.name = self.name.clone();
        m.loaded = Some(self.digest.clone());
        m
    }
}

/// `Query.currentFunctionCall`.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionCallObj {
    /// The function's original name (empty for a constructor).
    pub name: String,
    /// The parent object's original name (empty for registration).
    pub parent_name: String,
    /// The parent object's fields by original name.
    pub parent: Json,
    /// The arguments by original name, as JSON.
    pub input_args: Vec<(String, Json)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArgValueObj {
    pub name: String,
    pub value: Json,
}

/// `SDKConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct SdkConfigObj {
    pub source: String,
    pub debug: bool,
}

impl ModuleSourceObj {
    fn sdk_config(&self) -> Resolved {
        let debug = self.config.get("sdk").and_then(|s| s.get("debug")).and_then(Json::as_bool).unwrap_or(false);
        resolved(Object::SdkConfig(SdkConfigObj { source: self.sdk(), debug }))
    }
}

/// `Query.currentModule`.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentModuleObj {
    pub digest: String,
}

table!(pub(super) MODULE_SOURCE: ModuleSourceObj = "ModuleSource", Object::ModuleSource(s) => s, &[SOURCE_FIELDS], &[]);
table!(pub(super) FUNCTION_CALL: FunctionCallObj = "FunctionCall", Object::FunctionCall(c) => c, &[CALL_FIELDS], &[]);
table!(pub(super) FUNCTION_CALL_ARG_VALUE: ArgValueObj = "FunctionCallArgValue", Object::ArgValue(v) => v, &[ARG_VALUE_FIELDS], &[]);
table!(pub(super) SDK_CONFIG: SdkConfigObj = "SDKConfig", Object::SdkConfig(c) => c, &[SDK_CONFIG_FIELDS], &[]);
table!(pub(super) CURRENT_MODULE: CurrentModuleObj = "CurrentModule", Object::CurrentModule(m) => m, &[CURRENT_MODULE_FIELDS], &[]);

static SOURCE_FIELDS: Fields<ModuleSourceObj> = fields! { |api, s, call, a|
    "asModule" => {
        let loaded = api.load_module(s).await?;
        Ok(resolved(Object::Def(super::typedefs::DefObj::Module(loaded.module_obj()))))
    },
    "asString" => Ok(leaf(match (&s.git, &s.context) {
        (Some(g), _) => g.reference.clone(),
        (None, Some(_)) => s.root_subpath.clone(),
        (None, None) => s.root_host_path.clone(),
    })),
    "moduleName" => Ok(leaf(s.module_name())),
    "moduleOriginalName" => Ok(leaf(s.name())),
    "withName" => Ok(resolved(Object::ModuleSource(s.with_name(a.string("name")?)))),
    "engineVersion" => Ok(leaf(s.engine_version())),
    "kind" => Ok(leaf(match (&s.git, &s.context) {
        (Some(_), _) => "GIT_SOURCE",
        (None, Some(_)) => "DIR_SOURCE",
        (None, None) => "LOCAL_SOURCE",
    })),
    "digest" => Ok(leaf(s.digest.clone())),
    "configExists" => Ok(leaf(true)),
    "sdk" => Ok(s.sdk_config()),
    "localContextDirectoryPath" => Ok(leaf(s.context_host_path.clone())),
    "sourceRootSubpath" => Ok(leaf(s.root_subpath.clone())),
    "sourceSubpath" => Ok(leaf(join_subpath(&s.root_subpath, &s.source_subpath()))),
    "originalSubpath" => Ok(leaf(s.root_subpath.clone())),
    "contextDirectory" => Ok(resolved(Object::Directory(s.context.clone().unwrap_or_else(|| s.root.clone())))),
    "directory" => {
        let path = super::paths::within(&s.root.path, a.string("path")?);
        Ok(resolved(Object::Directory(DirectoryObj { root: s.root.root.clone(), path })))
    },
    "cloneRef" => Ok(leaf(s.git.as_ref().map(|g| g.clone_url.clone()).unwrap_or_default())),
    "version" => Ok(leaf(s.git.as_ref().and_then(|g| g.version.clone()).unwrap_or_default())),
    "commit" => Ok(leaf(s.git.as_ref().map(|g| g.commit.clone()).unwrap_or_default())),
    "dependencies" => Ok(Resolved::List(
        api.dependency_sources(s).await?.into_iter().map(|d| resolved(Object::ModuleSource(d))).collect(),
    )),
    "pin" => Ok(leaf(s.git.as_ref().map(|g| g.pin.clone().unwrap_or_else(|| g.commit.clone())).unwrap_or_default())),
    "repoRootPath" => Ok(leaf(if s.git.is_some() { s.root_subpath.clone() } else { String::new() })),
};

static CALL_FIELDS: Fields<FunctionCallObj> = fields! { |api, c, call, a|
    "name" => Ok(leaf(c.name.clone())),
    "parentName" => Ok(leaf(c.parent_name.clone())),
    // `JSON` values travel as JSON text.
    "parent" => Ok(leaf(c.parent.to_string())),
    "inputArgs" => Ok(Resolved::List(
        c.input_args
            .iter()
            .map(|(name, value)| resolved(Object::ArgValue(ArgValueObj { name: name.clone(), value: value.clone() })))
            .collect(),
    )),
    "returnValue" => {
        api.return_from_call(scope::Returned::Value(a.get("value").cloned().unwrap_or(Json::Null)))?;
        Ok(Resolved::Null)
    },
    "returnError" => {
        let e = api.load(a.get("error").unwrap_or(&Json::Null), Some("Error"))?;
        let Object::Error(e) = &*e else { unreachable!("type checked by load") };
        api.return_from_call(scope::Returned::Error(e.message.clone()))?;
        Ok(Resolved::Null)
    },
};

static ARG_VALUE_FIELDS: Fields<ArgValueObj> = fields! { |api, v, call, a|
    "name" => Ok(leaf(v.name.clone())),
    "value" => Ok(leaf(v.value.to_string())),
};

static SDK_CONFIG_FIELDS: Fields<SdkConfigObj> = fields! { |api, c, call, a|
    "source" => Ok(leaf(c.source.clone())),
    "debug" => Ok(leaf(c.debug)),
};

static CURRENT_MODULE_FIELDS: Fields<CurrentModuleObj> = fields! { |api, m, call, a|
    "name" => Ok(leaf(api.current_module()?.name.clone())),
    "dependencies" => Ok(Resolved::List(
        api.current_module()?
            .deps
            .iter()
            .map(|d| resolved(Object::Def(super::typedefs::DefObj::Module(d.module_obj()))))
            .collect(),
    )),
    "source" => Ok(resolved(Object::Directory(api.current_module()?.source.root.clone()))),
    "workdir" => {
        let m = api.current_module()?;
        let path = super::paths::within(&m.source.root.path, a.string("path")?);
        Ok(resolved(Object::Directory(DirectoryObj { root: m.source.root.root.clone(), path })))
    },
    "workdirFile" => {
        let m = api.current_module()?;
        let path = super::paths::within(&m.source.root.path, a.string("path")?);
        Ok(resolved(Object::File(super::objects::FileObj { root: m.source.root.root.clone(), path })))
    },
};

/// `Module` fields of a loaded module (the type-definition fields are in `typedefs`).
pub(super) static MODULE_FIELDS: Fields<ModuleObj> = fields! { |api, m, call, a|
    "serve" => {
        let loaded = api.loaded_of(m)?;
        let mut serve = vec![loaded.clone()];
        if a.opt_bool("includeDependencies")?.unwrap_or(false) {
            serve.extend(loaded.deps.iter().cloned());
        }
        api.scope.serve(serve)?;
        Ok(Resolved::Null)
    },
    // A module made with `Query.module` has no source, no SDK and no dependencies.
    "source" => Ok(match &m.loaded {
        None => Resolved::Null,
        Some(_) => resolved(Object::ModuleSource(api.loaded_of(m)?.source.clone())),
    }),
    "sdk" => Ok(match &m.loaded {
        None => Resolved::Null,
        Some(_) => api.loaded_of(m)?.source.sdk_config(),
    }),
    "runtime" => Ok(resolved(Object::Container(api.loaded_of(m)?.runtime.clone()))),
    "dependencies" => Ok(match &m.loaded {
        None => Resolved::List(vec![]),
        Some(_) => Resolved::List(
            api.loaded_of(m)?
                .deps
                .iter()
                .map(|d| resolved(Object::Def(super::typedefs::DefObj::Module(d.module_obj()))))
                .collect(),
        ),
    }),
};

impl crate::Api {
    /// The loaded module behind a `Module` value.
    fn loaded_of(&self, m: &ModuleObj) -> Result<Arc<Loaded>, ApiError> {
        let digest = m.loaded.as_deref().ok_or_else(|| {
            ApiError::from(
                "this module is a type definition being built (`Query.module`), not a loaded module: load one with `moduleSource(refString:).asModule`",
            )
        })?;
        self.objects
            .module(digest)
            .ok_or_else(|| ApiError::from(format!("module {digest} is not loaded in this engine")))
    }

    fn current_module(&self) -> Result<Arc<Loaded>, ApiError> {
        match &self.scope.call {
            Some(c) => Ok(c.module.clone()),
            None => Err(super::session::no_function_call_context("currentModule")),
        }
    }

    /// `Query.currentModule` / `currentFunctionCall`.
    pub(super) fn current_call_field(&self, field: &str) -> Result<Resolved, ApiError> {
        let Some(c) = &self.scope.call else {
            return Err(super::session::no_function_call_context(field));
        };
        Ok(match field {
            "currentModule" => resolved(Object::CurrentModule(CurrentModuleObj { digest: c.module.digest.clone() })),
            _ => resolved(Object::FunctionCall(c.call.clone())),
        })
    }

    fn return_from_call(&self, r: scope::Returned) -> Result<(), ApiError> {
        let Some(c) = &self.scope.call else {
            return Err(super::session::no_function_call_context("currentFunctionCall"));
        };
        let mut slot = c.returned.lock();
        if slot.is_some() {
            return Err("this function call has already returned".into());
        }
        *slot = Some(r);
        Ok(())
    }
}

fn join_subpath(root: &str, sub: &str) -> String {
    match (root, sub) {
        (".", s) => s.to_string(),
        (r, ".") => r.to_string(),
        (r, s) => format!("{r}/{s}"),
    }
}

/// The function of a module object by its GraphQL field name.
pub(super) fn function<'a>(o: &'a ObjectTypeDefObj, field: &str) -> Option<&'a FunctionObj> {
    o.functions.iter().find(|f| f.name == field)
}
