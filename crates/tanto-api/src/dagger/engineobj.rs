//! `Query.engine`: the engine serving this session (`Engine`), its local
//! cache (`EngineCache`) with its records (`EngineCacheEntrySet`,
//! `EngineCacheEntry`) and `prune`. Values come from the engine when the
//! object is made, so an entry set is a snapshot of the cache at that moment.

use serde_json::Value as Json;
use tanto_contract::cache::{CacheEntry, CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};

use super::dispatch::{fields, table, Fields};
use super::{leaf, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::Resolved;

table!(pub(super) ENGINE: EngineInfo = "Engine", Object::Engine(v) => v, &[ENGINE_FIELDS], &[]);

static ENGINE_FIELDS: Fields<EngineInfo> = fields! { |api, e, call, a|
    "name" => Ok(leaf(e.name.clone())),
    "clients" => Ok(leaf(Json::Array(e.clients.iter().cloned().map(Json::String).collect()))),
    "localCache" => Ok(resolved(Object::EngineCache(api.engine.cache.cache_policy().await?))),
};

table!(pub(super) ENGINE_CACHE: CachePolicy = "EngineCache", Object::EngineCache(v) => v, &[ENGINE_CACHE_FIELDS], &[]);

static ENGINE_CACHE_FIELDS: Fields<CachePolicy> = fields! { |api, c, call, a|
    "maxUsedSpace" => Ok(leaf(c.max_used_space)),
    "minFreeSpace" => Ok(leaf(c.min_free_space)),
    "reservedSpace" => Ok(leaf(c.reserved_space)),
    "targetSpace" => Ok(leaf(c.target_space)),
    "entrySet" => {
        let key = a.opt_string("key")?.unwrap_or("");
        Ok(resolved(Object::EngineCacheEntrySet(api.engine.cache.cache_entries(key).await?)))
    },
    "prune" => {
        let s = |n: &str| -> Result<String, ApiError> { Ok(a.opt_string(n)?.unwrap_or("").to_string()) };
        let req = PruneRequest {
            use_default_policy: a.opt_bool("useDefaultPolicy")?.unwrap_or(false),
            max_used_space: s("maxUsedSpace")?,
            reserved_space: s("reservedSpace")?,
            min_free_space: s("minFreeSpace")?,
            target_space: s("targetSpace")?,
        };
        api.engine.cache.cache_prune(&req).await?;
        Ok(Resolved::Null)
    },
};

table!(
    pub(super) ENGINE_CACHE_ENTRY_SET: CacheEntrySet = "EngineCacheEntrySet",
    Object::EngineCacheEntrySet(v) => v,
    &[ENGINE_CACHE_ENTRY_SET_FIELDS],
    &[],
);

static ENGINE_CACHE_ENTRY_SET_FIELDS: Fields<CacheEntrySet> = fields! { |api, s, call, a|
    "diskSpaceBytes" => Ok(leaf(s.disk_space_bytes)),
    "entryCount" => Ok(leaf(s.entries.len())),
    "entries" => {
        Ok(Resolved::List(s.entries.iter().map(|e| resolved(Object::EngineCacheEntry(e.clone()))).collect()))
    },
};

table!(
    pub(super) ENGINE_CACHE_ENTRY: CacheEntry = "EngineCacheEntry",
    Object::EngineCacheEntry(v) => v,
    &[ENGINE_CACHE_ENTRY_FIELDS],
    &[],
);

static ENGINE_CACHE_ENTRY_FIELDS: Fields<CacheEntry> = fields! { |api, e, call, a|
    "activelyUsed" => Ok(leaf(e.actively_used)),
    "createdTimeUnixNano" => Ok(leaf(e.created_time_unix_nano)),
    "mostRecentUseTimeUnixNano" => Ok(leaf(e.most_recent_use_time_unix_nano)),
    "dagqlCall" => Ok(leaf(e.key.clone())),
    "description" => Ok(leaf(e.description.clone())),
    "diskSpaceBytes" => Ok(leaf(e.disk_space_bytes)),
    "recordType" => Ok(leaf(e.record_type.clone())),
    "recordTypes" => Ok(leaf(Json::Array(vec![Json::String(e.record_type.clone())]))),
};

impl Api {
    pub(super) async fn engine_query(&self) -> Result<Resolved, ApiError> {
        Ok(resolved(Object::Engine(self.engine.cache.engine_info().await?)))
    }
}
