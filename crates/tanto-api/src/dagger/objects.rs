//! The values behind API objects. They are immutable: every chain field makes
//! a new value. Each serialises canonically (refs as vertex keys, never secret
//! values), and its ID is a hash of that encoding.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tanto_model::{CacheSharing, Digest, Owner, Ref, StableHasher};

use tanto_gql::Args;

use crate::dagger::ApiError;

pub use tanto_contract::image::{Healthcheck, ImageConfig, Port};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryObj {
    pub root: Option<Ref>,
    /// Absolute path of this directory inside `root`.
    pub path: String,
}

impl DirectoryObj {
    pub fn empty() -> DirectoryObj {
        DirectoryObj { root: None, path: "/".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileObj {
    pub root: Option<Ref>,
    /// Absolute path of this file inside `root`.
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheVolumeObj {
    pub key: String,
}

/// A secret. `identity` names the value held by the engine (in memory only);
/// the value itself is never part of this struct.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretObj {
    pub name: String,
    pub uri: String,
    pub identity: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CtrMountSource {
    Dir {
        dir: DirectoryObj,
        readonly: bool,
        owner: Option<Owner>,
    },
    File {
        file: FileObj,
        owner: Option<Owner>,
    },
    Cache {
        volume: CacheVolumeObj,
        sharing: CacheSharing,
        source: Option<DirectoryObj>,
        owner: Option<Owner>,
    },
    Secret {
        secret: SecretObj,
        mode: u32,
        owner: Option<Owner>,
    },
    Tmp {
        size: Option<u64>,
    },
    /// A unix socket of the client's host (`withUnixSocket`): never read
    /// back (a kept result holds none).
    #[serde(skip_deserializing)]
    Socket {
        socket: super::socket::SocketObj,
        owner: Option<Owner>,
    },
}

/// The optional `owner` argument (`uid`, `uid:gid`, `user`, `user:group`;
/// empty or absent is none).
pub(crate) fn opt_owner(a: &Args) -> Result<Option<Owner>, ApiError> {
    Ok(a.opt_string("owner")?.and_then(Owner::parse))
}

/// The required `owner` argument of `chown`.
pub(crate) fn owner(a: &Args) -> Result<Owner, ApiError> {
    Owner::parse(a.string("owner")?)
        .ok_or_else(|| "`owner` must not be empty: use `uid`, `uid:gid`, `user` or `user:group`".into())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CtrMount {
    pub target: String,
    pub source: CtrMountSource,
}

/// Read back (`Deserialize`) from its encoding only by kept function results
/// (`modules::kept`): its refs become [`tanto_model::Vertex::recorded`] ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerObj {
    pub rootfs: Option<Ref>,
    pub platform: String,
    pub config: ImageConfig,
    pub mounts: Vec<CtrMount>,
    pub secret_env: Vec<(String, SecretObj)>,
    /// The last exec: `stdout`, `stderr` and `exitCode` read its result.
    #[serde(serialize_with = "ser_exec", deserialize_with = "de_exec")]
    pub exec: Option<Ref>,
    pub image_ref: Option<String>,
    /// OCI manifest annotations (`withAnnotation`).
    pub annotations: BTreeMap<String, String>,
    /// Services bound by `withServiceBinding`, in binding order.
    #[serde(skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub services: Vec<super::service::ServiceBindingObj>,
    /// `withVolatileVariable`s: set for execs, their values outside exec keys.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub volatile_env: Vec<(String, String)>,
    /// CDI devices for execs and services (`experimentalWithGPU`,
    /// `experimentalWithAllGPUs`): fully-qualified, sorted, unique.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gpus: Vec<String>,
    /// `withDefaultTerminalCmd`: what `terminal` runs when given no `cmd`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_cmd: Option<TerminalCmd>,
}

/// A command `Container.terminal` runs, with its exec options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TerminalCmd {
    pub args: Vec<String>,
    pub nesting: bool,
    pub insecure_root_capabilities: bool,
}

fn ser_exec<S: serde::Serializer>(v: &Option<Ref>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(|r| r.vertex.key()).serialize(s)
}

fn de_exec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Ref>, D::Error> {
    let key: Option<tanto_model::Digest> = Option::deserialize(d)?;
    Ok(key.map(|k| Ref::new(tanto_model::Vertex::recorded(k), 0)))
}

impl ContainerObj {
    pub fn scratch(platform: String) -> ContainerObj {
        ContainerObj {
            rootfs: None,
            platform,
            config: ImageConfig::default(),
            mounts: Vec::new(),
            secret_env: Vec::new(),
            exec: None,
            image_ref: None,
            annotations: BTreeMap::new(),
            services: Vec::new(),
            volatile_env: Vec::new(),
            gpus: Vec::new(),
            terminal_cmd: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvVariableObj {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelObj {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostObj {}

/// What `stat` returns: `file_type` is a `FileType` enum value.
#[derive(Debug, Clone, Serialize)]
pub struct StatObj {
    pub name: String,
    pub size: i64,
    pub permissions: i64,
    pub file_type: String,
}

/// The ID of an object: its type and the digest of its canonical encoding.
/// Never all digits (SDKs would send it as an Int), never secret values.
pub fn object_id<T: Serialize>(type_name: &str, value: &T) -> String {
    let mut h = StableHasher::new();
    h.str(type_name).json(value);
    let d: Digest = h.finish();
    format!("{type_name}:{}", d.hex())
}

pub type Shared<T> = Arc<T>;
