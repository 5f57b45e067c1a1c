//! `Query.engine`: the engine serving this session (`Engine`), its local
//! cache (`EngineCache`) with its records (`EngineCacheEntrySet`,
//! `EngineCacheEntry`) and `prune`. Values come from the backend when the
//! object is made, so an entry set is a snapshot of the cache at that moment.

use serde::Serialize;
use serde_json::Value as Json;

use super::{leaf, not_implemented, resolved, Api, Object};
use tanto_gql::{FieldCall, FieldError, Resolved};

/// `Engine`: its name and the clients connected to it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EngineObj {
    pub name: String,
    pub clients: Vec<String>,
}

/// `EngineCache`: the space settings of the engine's default prune policy, in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct EngineCacheObj {
    pub max_used_space: i64,
    pub min_free_space: i64,
    pub reserved_space: i64,
    pub target_space: i64,
}

/// One cache record (`EngineCacheEntry`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EngineCacheEntryObj {
    /// The record's cache key (`sha256:...`), shown as `dagqlCall`.
    pub key: String,
    pub description: String,
    pub disk_space_bytes: i64,
    pub created_time_unix_nano: i64,
    pub most_recent_use_time_unix_nano: i64,
    pub actively_used: bool,
    /// BuildKit's usage record type: `regular`, `source.local`, `source.git.checkout`.
    pub record_type: String,
}

/// `EngineCacheEntrySet`: the records at the time the set was made.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EngineCacheEntrySetObj {
    pub entries: Vec<EngineCacheEntryObj>,
    /// Disk space of the set, blobs and snapshots shared by entries counted once.
    pub disk_space_bytes: i64,
}

/// `EngineCache.prune` arguments: sizes as given (`"10GB"`, `"20%"`, `""` = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRequest {
    pub use_default_policy: bool,
    pub max_used_space: String,
    pub reserved_space: String,
    pub min_free_space: String,
    pub target_space: String,
}

impl Api {
    pub(super) async fn engine_query(&self) -> Result<Resolved, FieldError> {
        Ok(resolved(Object::Engine(self.backend.engine_info().await?)))
    }

    pub(super) async fn engine_field(&self, e: &EngineObj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        match call.field {
            "name" => Ok(leaf(e.name.clone())),
            "clients" => Ok(leaf(Json::Array(e.clients.iter().cloned().map(Json::String).collect()))),
            "localCache" => Ok(resolved(Object::EngineCache(self.backend.cache_policy().await?))),
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache(&self, c: &EngineCacheObj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        let a = call.args;
        match call.field {
            "maxUsedSpace" => Ok(leaf(c.max_used_space)),
            "minFreeSpace" => Ok(leaf(c.min_free_space)),
            "reservedSpace" => Ok(leaf(c.reserved_space)),
            "targetSpace" => Ok(leaf(c.target_space)),
            "entrySet" => {
                let key = a.opt_string("key")?.unwrap_or("");
                Ok(resolved(Object::EngineCacheEntrySet(self.backend.cache_entries(key).await?)))
            }
            "prune" => {
                let s = |n: &str| -> Result<String, FieldError> { Ok(a.opt_string(n)?.unwrap_or("").to_string()) };
                let req = PruneRequest {
                    use_default_policy: a.opt_bool("useDefaultPolicy")?.unwrap_or(false),
                    max_used_space: s("maxUsedSpace")?,
                    reserved_space: s("reservedSpace")?,
                    min_free_space: s("minFreeSpace")?,
                    target_space: s("targetSpace")?,
                };
                self.backend.cache_prune(&req).await?;
                Ok(Resolved::Null)
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache_entry_set(
        &self,
        s: &EngineCacheEntrySetObj,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, FieldError> {
        match call.field {
            "diskSpaceBytes" => Ok(leaf(s.disk_space_bytes)),
            "entryCount" => Ok(leaf(s.entries.len())),
            "entries" => {
                Ok(Resolved::List(s.entries.iter().map(|e| resolved(Object::EngineCacheEntry(e.clone()))).collect()))
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache_entry(
        &self,
        e: &EngineCacheEntryObj,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, FieldError> {
        match call.field {
            "activelyUsed" => Ok(leaf(e.actively_used)),
            "createdTimeUnixNano" => Ok(leaf(e.created_time_unix_nano)),
            "mostRecentUseTimeUnixNano" => Ok(leaf(e.most_recent_use_time_unix_nano)),
            "dagqlCall" => Ok(leaf(e.key.clone())),
            "description" => Ok(leaf(e.description.clone())),
            "diskSpaceBytes" => Ok(leaf(e.disk_space_bytes)),
            "recordType" => Ok(leaf(e.record_type.clone())),
            "recordTypes" => Ok(leaf(Json::Array(vec![Json::String(e.record_type.clone())]))),
            _ => Err(not_implemented(call)),
        }
    }
}
