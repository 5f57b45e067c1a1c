//! The Dagger v0.21 API over tanto's model: object values, IDs and resolvers.
//!
//! Chain fields (`withExec`, `withNewFile`, ...) only build new object values
//! and ops; leaf fields (`stdout`, `contents`, `entries`, `sync`) ask the
//! engine ([`tanto_contract::Engine`]) for results. Fields not implemented yet fail with
//! `not implemented yet: Type.field`.

pub mod address;
pub mod changeset;
pub(crate) mod container;
pub mod coverage;
mod directory;
mod dispatch;
mod dockerfile;
pub mod engineobj;
pub mod env;
mod envfile;
pub mod error;
mod export;
pub mod healthcheck;
mod host;
mod jsonvalue;
pub mod modules;
pub mod objects;
mod paths;
mod query;
pub mod search;
pub mod service;
pub mod session;
pub mod socket;
pub mod sources;
mod surface;
pub mod typedefs;
pub mod workspace;
pub use query::API_VERSION;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value as Json;
use tanto_model::{FileAction, FileOp, Op, PatchSource, Ref, Vertex};

pub use error::{ApiError, ApiResult};
use objects::*;

use tanto_contract::cache::{CacheEntry, CacheEntrySet, CachePolicy, EngineInfo};
use tanto_contract::fs::EntryKind;
use tanto_contract::fs::{SearchMatch, Submatch};
use tanto_contract::host::Workspace;
use tanto_contract::{Engine, EngineError};

use dispatch::{fields, table};
use tanto_gql::{FieldCall, FieldError, Obj, Resolved, Resolver};

/// Every object value the API hands out.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "objects live for one field; boxing the container would cost an allocation per container field for nothing"
)]
pub enum Object {
    Query,
    Container(ContainerObj),
    Directory(DirectoryObj),
    File(FileObj),
    CacheVolume(CacheVolumeObj),
    Secret(SecretObj),
    EnvVariable(EnvVariableObj),
    Label(LabelObj),
    Port(Port),
    Host(HostObj),
    Service(service::ServiceObj),
    GitRepository(sources::GitRepositoryObj),
    GitRef(sources::GitRefObj),
    Stat(StatObj),
    EnvFile(envfile::EnvFileObj),
    Healthcheck(Healthcheck),
    SearchResult(SearchMatch),
    SearchSubmatch(Submatch),
    JsonValue(jsonvalue::JsonValueObj),
    Error(jsonvalue::ErrorObj),
    ErrorValue(jsonvalue::ErrorValueObj),
    Changeset(changeset::ChangesetObj),
    /// `TypeDef` and the type system values (`typedefs`).
    Def(typedefs::DefObj),
    Env(env::EnvObj),
    Binding(env::BindingObj),
    Cloud(session::CloudObj),
    Socket(socket::SocketObj),
    Address(address::AddressObj),
    Engine(EngineInfo),
    EngineCache(CachePolicy),
    EngineCacheEntrySet(CacheEntrySet),
    EngineCacheEntry(CacheEntry),
    Workspace(Workspace),
    ModuleSource(modules::ModuleSourceObj),
    FunctionCall(modules::FunctionCallObj),
    ArgValue(modules::ArgValueObj),
    CurrentModule(modules::CurrentModuleObj),
    SdkConfig(modules::SdkConfigObj),
    /// An instance of a module's object type.
    ModValue(modules::ModValue),
}

impl Object {
    pub fn type_name(&self) -> &str {
        match self {
            Object::Query => "Query",
            Object::Container(_) => "Container",
            Object::Directory(_) => "Directory",
            Object::File(_) => "File",
            Object::CacheVolume(_) => "CacheVolume",
            Object::Secret(_) => "Secret",
            Object::EnvVariable(_) => "EnvVariable",
            Object::Label(_) => "Label",
            Object::Port(_) => "Port",
            Object::Host(_) => "Host",
            Object::Service(_) => "Service",
            Object::GitRepository(_) => "GitRepository",
            Object::GitRef(_) => "GitRef",
            Object::Stat(_) => "Stat",
            Object::EnvFile(_) => "EnvFile",
            Object::Healthcheck(_) => "HealthcheckConfig",
            Object::SearchResult(_) => "SearchResult",
            Object::SearchSubmatch(_) => "SearchSubmatch",
            Object::JsonValue(_) => "JSONValue",
            Object::Error(_) => "Error",
            Object::ErrorValue(_) => "ErrorValue",
            Object::Changeset(_) => "Changeset",
            Object::Def(d) => d.type_name(),
            Object::Env(_) => "Env",
            Object::Binding(_) => "Binding",
            Object::Cloud(_) => "Cloud",
            Object::Socket(_) => "Socket",
            Object::Address(_) => "Address",
            Object::Engine(_) => "Engine",
            Object::EngineCache(_) => "EngineCache",
            Object::EngineCacheEntrySet(_) => "EngineCacheEntrySet",
            Object::EngineCacheEntry(_) => "EngineCacheEntry",
            Object::Workspace(_) => "Workspace",
            Object::ModuleSource(_) => "ModuleSource",
            Object::FunctionCall(_) => "FunctionCall",
            Object::ArgValue(_) => "FunctionCallArgValue",
            Object::CurrentModule(_) => "CurrentModule",
            Object::SdkConfig(_) => "SDKConfig",
            Object::ModValue(v) => &v.type_name,
        }
    }

    fn id(&self) -> String {
        let t = self.type_name();
        match self {
            Object::Query => "Query:root".to_string(),
            Object::Container(v) => object_id(t, v),
            Object::Directory(v) => object_id(t, v),
            Object::File(v) => object_id(t, v),
            Object::CacheVolume(v) => object_id(t, v),
            Object::Secret(v) => object_id(t, v),
            Object::EnvVariable(v) => object_id(t, v),
            Object::Label(v) => object_id(t, v),
            Object::Port(v) => object_id(t, v),
            Object::Host(v) => object_id(t, v),
            Object::Service(v) => object_id(t, v),
            Object::GitRepository(v) => object_id(t, v),
            Object::GitRef(v) => object_id(t, v),
            Object::Stat(v) => object_id(t, v),
            Object::EnvFile(v) => object_id(t, v),
            Object::Healthcheck(v) => object_id(t, v),
            Object::SearchResult(v) => object_id(t, v),
            Object::SearchSubmatch(v) => object_id(t, v),
            Object::JsonValue(v) => object_id(t, v),
            Object::Error(v) => object_id(t, v),
            Object::ErrorValue(v) => object_id(t, v),
            Object::Changeset(v) => object_id(t, v),
            Object::Def(v) => object_id(t, v),
            Object::Env(v) => object_id(t, v),
            Object::Binding(v) => object_id(t, v),
            Object::Cloud(v) => object_id(t, v),
            Object::Socket(v) => object_id(t, v),
            Object::Address(v) => object_id(t, v),
            Object::Engine(v) => object_id(t, v),
            Object::EngineCache(v) => object_id(t, v),
            Object::EngineCacheEntrySet(v) => object_id(t, v),
            Object::EngineCacheEntry(v) => object_id(t, v),
            Object::Workspace(v) => object_id(t, v),
            Object::ModuleSource(v) => object_id(t, v),
            Object::FunctionCall(v) => object_id(t, v),
            Object::ArgValue(v) => object_id(t, v),
            Object::CurrentModule(v) => object_id(t, v),
            Object::SdkConfig(v) => object_id(t, v),
            Object::ModValue(v) => object_id(t, v),
        }
    }

    pub fn into_obj(self) -> Obj {
        Obj { type_name: self.type_name().to_string(), value: Arc::new(self) }
    }
}

pub(crate) fn resolved(o: Object) -> Resolved {
    Resolved::Object(o.into_obj())
}

pub(crate) fn leaf(v: impl Into<Json>) -> Resolved {
    Resolved::Leaf(v.into())
}

/// The error of a field no table serves (only the dispatcher makes it, so the coverage report is exact).
fn not_implemented(call: &FieldCall<'_>) -> ApiError {
    ApiError::from(format!("not implemented yet: {}.{}", call.type_name, call.field))
}

/// Objects handed out by `id`/`sync`, loadable with `node(id:)` for the life of the engine.
#[derive(Default)]
pub struct Objects {
    map: RwLock<HashMap<String, Arc<Object>>>,
    /// Loaded modules by digest.
    modules: RwLock<HashMap<String, Arc<modules::Loaded>>>,
    /// Results of module function calls by call key (see `modules::call`).
    calls: RwLock<HashMap<String, (Json, Option<std::time::Instant>)>>,
}

impl Objects {
    pub fn register(&self, o: &Object) -> String {
        let id = o.id();
        self.map.write().entry(id.clone()).or_insert_with(|| Arc::new(o.clone()));
        id
    }

    pub fn get(&self, id: &str) -> Option<Arc<Object>> {
        self.map.read().get(id).cloned()
    }

    pub(crate) fn module(&self, digest: &str) -> Option<Arc<modules::Loaded>> {
        self.modules.read().get(digest).cloned()
    }

    pub(crate) fn keep_module(&self, m: Arc<modules::Loaded>) {
        self.modules.write().entry(m.digest.clone()).or_insert(m);
    }

    /// A kept function result, unless its time to live has passed.
    pub(crate) fn call_result(&self, key: &str) -> Option<Json> {
        match self.calls.read().get(key) {
            Some((v, expires)) if expires.is_none_or(|t| std::time::Instant::now() < t) => Some(v.clone()),
            _ => None,
        }
    }

    pub(crate) fn keep_call_result(&self, key: String, v: Json, ttl: Option<std::time::Duration>) {
        let expires = ttl.map(|d| std::time::Instant::now() + d);
        self.calls.write().insert(key, (v, expires));
    }
}

/// The resolver for one engine: the engine's capabilities plus the object table.
pub struct Api {
    pub engine: Engine,
    pub objects: Arc<Objects>,
    /// What this session serves (see `modules::scope`).
    pub(crate) scope: Arc<modules::scope::Scope>,
}

impl Api {
    /// A client session's API: the core schema, no function call.
    pub fn new(engine: Engine, objects: Arc<Objects>) -> Api {
        Api { engine, objects, scope: Arc::default() }
    }

    pub fn root() -> Obj {
        Object::Query.into_obj()
    }

    /// Loads an object by ID, checking its type when one is expected.
    pub(crate) fn load(&self, id: &Json, want: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let id = match id {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            other => return Err(format!("an object ID must be a string, got {other}").into()),
        };
        let o = self.objects.get(&id).ok_or_else(|| {
            ApiError::from(format!(
                "no object with ID `{}` in this engine: IDs come from `id` or `sync` of this engine's sessions",
                truncate(&id, 80)
            ))
        })?;
        if let Some(want) = want {
            if o.type_name() != want {
                return Err(format!("ID `{}` is a {}, not a {want}", truncate(&id, 80), o.type_name()).into());
            }
        }
        Ok(o)
    }

    #[allow(dead_code)] // used by publish(platformVariants) and export
    pub(crate) fn load_container(&self, id: &Json) -> Result<ContainerObj, ApiError> {
        match &*self.load(id, Some("Container"))? {
            Object::Container(c) => Ok(c.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    pub(crate) fn load_directory(&self, id: &Json) -> Result<DirectoryObj, ApiError> {
        match &*self.load(id, Some("Directory"))? {
            Object::Directory(d) => Ok(d.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    pub(crate) fn load_file(&self, id: &Json) -> Result<FileObj, ApiError> {
        match &*self.load(id, Some("File"))? {
            Object::File(f) => Ok(f.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    pub(crate) fn load_secret(&self, id: &Json) -> Result<SecretObj, ApiError> {
        match &*self.load(id, Some("Secret"))? {
            Object::Secret(s) => Ok(s.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    pub(crate) fn load_cache_volume(&self, id: &Json) -> Result<CacheVolumeObj, ApiError> {
        match &*self.load(id, Some("CacheVolume"))? {
            Object::CacheVolume(c) => Ok(c.clone()),
            _ => unreachable!("type checked by load"),
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        format!(
            "{}...",
            &s[..s.char_indices().take_while(|(i, _)| *i < n).last().map(|(i, c)| i + c.len_utf8()).unwrap_or(0)]
        )
    }
}

#[async_trait::async_trait]
impl Resolver for Api {
    async fn resolve(&self, parent: &Obj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        self.resolve_field(parent, call).await.map_err(FieldError::from)
    }
}

impl Api {
    async fn resolve_field(&self, parent: &Obj, call: &FieldCall<'_>) -> ApiResult<Resolved> {
        let Some(object) = parent.value.downcast_ref::<Object>() else {
            return Err(ApiError::from(format!("internal error: {} is not an API object", parent.type_name)));
        };
        // Fields every object has.
        match call.field {
            "id" => return Ok(leaf(self.objects.register(object))),
            "sync" if !matches!(object, Object::Query) => {
                self.sync(object).await?;
                return Ok(leaf(self.objects.register(object)));
            }
            _ => {}
        }
        match object {
            Object::ModValue(v) => return self.resolve_mod_value(v, call).await,
            Object::Query => {
                if let Some(r) = self.served_query_field(call).await {
                    return r;
                }
            }
            _ => {}
        }
        match dispatch::table_of(object.type_name()).and_then(|t| t.resolve(self, object, call)) {
            Some(f) => f.await,
            None => Err(not_implemented(call)),
        }
    }
}

/// Every type the API serves, by its table (see [`dispatch`]).
static TABLES: &[&dyn dispatch::ObjectFields] = &[
    &query::QUERY,
    &container::CONTAINER,
    &directory::DIRECTORY,
    &directory::FILE,
    &CACHE_VOLUME,
    &SECRET,
    &ENV_VARIABLE,
    &LABEL,
    &PORT,
    &host::HOST,
    &service::SERVICE,
    &sources::GIT_REPOSITORY,
    &sources::GIT_REF,
    &surface::STAT,
    &envfile::ENV_FILE,
    &healthcheck::HEALTHCHECK,
    &search::SEARCH_RESULT,
    &search::SEARCH_SUBMATCH,
    &jsonvalue::JSON_VALUE,
    &jsonvalue::ERROR,
    &jsonvalue::ERROR_VALUE,
    &changeset::CHANGESET,
    &typedefs::TYPE_DEF,
    &typedefs::OBJECT_TYPE_DEF,
    &typedefs::INTERFACE_TYPE_DEF,
    &typedefs::INPUT_TYPE_DEF,
    &typedefs::SCALAR_TYPE_DEF,
    &typedefs::ENUM_TYPE_DEF,
    &typedefs::ENUM_VALUE_TYPE_DEF,
    &typedefs::LIST_TYPE_DEF,
    &typedefs::FIELD_TYPE_DEF,
    &typedefs::FUNCTION,
    &typedefs::FUNCTION_ARG,
    &typedefs::SOURCE_MAP,
    &typedefs::GENERATED_CODE,
    &typedefs::MODULE,
    &env::ENV,
    &env::BINDING,
    &session::CLOUD,
    &socket::SOCKET,
    &address::ADDRESS,
    &engineobj::ENGINE,
    &engineobj::ENGINE_CACHE,
    &engineobj::ENGINE_CACHE_ENTRY_SET,
    &engineobj::ENGINE_CACHE_ENTRY,
    &workspace::WORKSPACE,
    &modules::MODULE_SOURCE,
    &modules::FUNCTION_CALL,
    &modules::FUNCTION_CALL_ARG_VALUE,
    &modules::CURRENT_MODULE,
    &modules::SDK_CONFIG,
];

// A cache volume has no fields of its own yet (its ID aside).
table!(CACHE_VOLUME: CacheVolumeObj = "CacheVolume", Object::CacheVolume(c) => c, &[], &[]);
table!(SECRET: SecretObj = "Secret", Object::Secret(s) => s, &[SECRET_FIELDS], &[]);
table!(ENV_VARIABLE: EnvVariableObj = "EnvVariable", Object::EnvVariable(v) => v, &[ENV_VARIABLE_FIELDS], &[]);
table!(LABEL: LabelObj = "Label", Object::Label(l) => l, &[LABEL_FIELDS], &[]);
table!(PORT: Port = "Port", Object::Port(p) => p, &[PORT_FIELDS], &[]);

static SECRET_FIELDS: dispatch::Fields<SecretObj> = fields! { |api, s, call, a|
    "name" => Ok(leaf(s.name.clone())),
    "uri" => Ok(leaf(s.uri.clone())),
    "plaintext" => {
        let v = api.engine.secrets.secret_plaintext(&s.identity).await?;
        Ok(leaf(String::from_utf8_lossy(&v).into_owned()))
    },
};

static ENV_VARIABLE_FIELDS: dispatch::Fields<EnvVariableObj> = fields! { |api, v, call, a|
    "name" => Ok(leaf(v.name.clone())),
    "value" => Ok(leaf(v.value.clone())),
};

static LABEL_FIELDS: dispatch::Fields<LabelObj> = fields! { |api, l, call, a|
    "name" => Ok(leaf(l.name.clone())),
    "value" => Ok(leaf(l.value.clone())),
};

static PORT_FIELDS: dispatch::Fields<Port> = fields! { |api, p, call, a|
    "port" => Ok(leaf(p.port)),
    "protocol" => Ok(leaf(p.protocol.clone())),
    "description" => Ok(p.description.clone().map(leaf).unwrap_or(Resolved::Null)),
    "experimentalSkipHealthcheck" => Ok(leaf(p.skip_healthcheck)),
};

impl Api {
    async fn sync(&self, object: &Object) -> Result<(), ApiError> {
        let r = match object {
            Object::Container(c) => {
                // An exec's result covers the root filesystem and every mount output.
                if let Some(r) = c.exec.as_ref().or(c.rootfs.as_ref()) {
                    self.engine.solve.sync(r).await?;
                }
                return Ok(());
            }
            Object::Directory(d) if d.path == "/" => d.root.as_ref(),
            Object::Directory(d) => return self.expect_entry(d.root.as_ref(), &d.path, EntryKind::Dir).await,
            Object::File(f) => return self.expect_entry(f.root.as_ref(), &f.path, EntryKind::File).await,
            _ => None,
        };
        if let Some(r) = r {
            self.engine.solve.sync(r).await?;
        }
        Ok(())
    }

    /// Solves `root` and checks that `path` in it is a `want` (symlinks
    /// followed), with Dagger's wording when it is missing.
    async fn expect_entry(&self, root: Option<&Ref>, path: &str, want: EntryKind) -> Result<(), ApiError> {
        let st = self.engine.solve.stat(root, path, false).await?;
        match st.map(|st| st.kind) {
            None => Err(EngineError::not_found(format!("{path}: no such file or directory")).into()),
            Some(k) if k == want => Ok(()),
            Some(EntryKind::Dir) => Err(EngineError::input(format!("{path}: is a directory, not a file")).into()),
            Some(_) if want == EntryKind::Dir => Err(EngineError::input(format!("{path}: not a directory")).into()),
            Some(_) => Err(EngineError::input(format!("{path}: not a regular file")).into()),
        }
    }
}

/// Adds a file action on top of `base`, merging into `base` when it is itself
/// a file op (one layer for a run of file changes). `sources` are the refs the
/// action's `src` indices point at (0-based within `sources`).
pub(crate) fn file_op(base: Option<&Ref>, mut action: FileAction, sources: Vec<Ref>) -> Ref {
    const MAX_MERGED: usize = 64;
    let (mut actions, mut inputs, base_idx) = match base {
        Some(r) => match &r.vertex.op {
            Op::File(f) if r.output == 0 && f.actions.len() < MAX_MERGED => {
                (f.actions.clone(), r.vertex.inputs.clone(), f.base)
            }
            _ => (Vec::new(), vec![r.clone()], Some(0)),
        },
        None => (Vec::new(), Vec::new(), None),
    };
    let offset = inputs.len() as u32;
    match &mut action {
        FileAction::Copy { src, .. } | FileAction::Unpack { src, .. } => {
            if let Some(i) = src {
                *i += offset;
            }
        }
        FileAction::Patch { patch: PatchSource::File { src, .. }, .. } => *src += offset,
        FileAction::Diff { lower, upper, .. } | FileAction::ApplyChanges { lower, upper, .. } => {
            for i in [lower, upper].into_iter().flatten() {
                *i += offset;
            }
        }
        _ => {}
    }
    inputs.extend(sources);
    actions.push(action);
    Ref::new(Vertex::new(Op::File(FileOp { base: base_idx, actions }), inputs), 0)
}
