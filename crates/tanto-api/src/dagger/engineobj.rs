//! `Query.engine`: the engine serving this session (`Engine`), its local
//! cache (`EngineCache`) with its records (`EngineCacheEntrySet`,
//! `EngineCacheEntry`) and `prune`. Values come from the engine when the
//! object is made, so an entry set is a snapshot of the cache at that moment.

use serde_json::Value as Json;
use tanto_contract::cache::{CacheEntry, CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};

use super::{leaf, not_implemented, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{FieldCall, Resolved};

impl Api {
    pub(super) async fn engine_query(&self) -> Result<Resolved, ApiError> {
        Ok(resolved(Object::Engine(self.engine.cache.engine_info().await?)))
    }

    pub(super) async fn engine_field(&self, e: &EngineInfo, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match call.field {
            "name" => Ok(leaf(e.name.clone())),
            "clients" => Ok(leaf(Json::Array(e.clients.iter().cloned().map(Json::String).collect()))),
            "localCache" => Ok(resolved(Object::EngineCache(self.engine.cache.cache_policy().await?))),
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache(&self, c: &CachePolicy, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        match call.field {
            "maxUsedSpace" => Ok(leaf(c.max_used_space)),
            "minFreeSpace" => Ok(leaf(c.min_free_space)),
            "reservedSpace" => Ok(leaf(c.reserved_space)),
            "targetSpace" => Ok(leaf(c.target_space)),
            "entrySet" => {
                let key = a.opt_string("key")?.unwrap_or("");
                Ok(resolved(Object::EngineCacheEntrySet(self.engine.cache.cache_entries(key).await?)))
            }
            "prune" => {
                let s = |n: &str| -> Result<String, ApiError> { Ok(a.opt_string(n)?.unwrap_or("").to_string()) };
                let req = PruneRequest {
                    use_default_policy: a.opt_bool("useDefaultPolicy")?.unwrap_or(false),
                    max_used_space: s("maxUsedSpace")?,
                    reserved_space: s("reservedSpace")?,
                    min_free_space: s("minFreeSpace")?,
                    target_space: s("targetSpace")?,
                };
                self.engine.cache.cache_prune(&req).await?;
                Ok(Resolved::Null)
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache_entry_set(
        &self,
        s: &CacheEntrySet,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, ApiError> {
        match call.field {
            "diskSpaceBytes" => Ok(leaf(s.disk_space_bytes)),
            "entryCount" => Ok(leaf(s.entries.len())),
            "entries" => {
                Ok(Resolved::List(s.entries.iter().map(|e| resolved(Object::EngineCacheEntry(e.clone()))).collect()))
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn engine_cache_entry(&self, e: &CacheEntry, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
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
