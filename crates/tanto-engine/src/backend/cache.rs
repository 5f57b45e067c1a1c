//! The engine and its cache (`crate::cache`).

use tanto_contract::cache::{CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};
use tanto_contract::{Cache, EngineResult};

use super::EngineBackend;

#[async_trait::async_trait]
impl Cache for EngineBackend {
    async fn engine_info(&self) -> EngineResult<EngineInfo> {
        Ok(self.do_engine_info())
    }

    async fn cache_policy(&self) -> EngineResult<CachePolicy> {
        Ok(self.do_cache_policy())
    }

    async fn cache_entries(&self, key: &str) -> EngineResult<CacheEntrySet> {
        self.do_cache_entries(key).await
    }

    async fn cache_prune(&self, req: &PruneRequest) -> EngineResult<()> {
        self.do_cache_prune(req).await
    }
}
