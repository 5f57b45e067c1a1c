//! The engine and its cache (`Query.engine`).

use serde::Serialize;

/// `Engine`: this engine's name and the clients connected to it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EngineInfo {
    pub name: String,
    pub clients: Vec<String>,
}

/// `EngineCache`: the space settings of the engine's default prune policy, in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CachePolicy {
    pub max_used_space: i64,
    pub min_free_space: i64,
    pub reserved_space: i64,
    pub target_space: i64,
}

/// One cache record (`EngineCacheEntry`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CacheEntry {
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
pub struct CacheEntrySet {
    pub entries: Vec<CacheEntry>,
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
