//! Secret values, in the engine's memory only (`crate::secrets`).

use tanto_contract::{EngineResult, Secrets};

use super::EngineBackend;

#[async_trait::async_trait]
impl Secrets for EngineBackend {
    fn set_secret(&self, name: &str, plaintext: Vec<u8>) -> String {
        self.worker().secrets.set(name, plaintext)
    }

    async fn secret_from_uri(&self, uri: &str, cache_key: Option<&str>) -> EngineResult<String> {
        self.worker().secrets.from_uri(uri, cache_key).await
    }

    async fn secret_plaintext(&self, identity: &str) -> EngineResult<Vec<u8>> {
        Ok(self.worker().secrets.get(identity).await?.to_vec())
    }
}
