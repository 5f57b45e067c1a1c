//! The engine and its cache (`crate::cache`).

use tanto_contract::cache::{CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};
use tanto_contract::{Cache, EngineResult};

use super::EngineBackend;
use crate::worker::blocking;

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

    async fn memo(&self, key: &str) -> EngineResult<Option<(Vec<u8>, u64)>> {
        let store = self.worker().store.clone();
        let key = key.to_string();
        blocking(move || Ok(store.memo(&key)?)).await
    }

    async fn set_memo(&self, key: &str, value: &[u8]) -> EngineResult<()> {
        let store = self.worker().store.clone();
        let (key, value) = (key.to_string(), value.to_vec());
        blocking(move || Ok(store.set_memo(&key, &value)?)).await
    }
}
