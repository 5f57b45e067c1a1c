//! Secret values, in the engine's memory only (`crate::secrets`).

use tanto_contract::{EngineResult, Secrets};

use super::EngineBackend;

#[async_trait::async_trait]
impl Secrets for EngineBackend {
    fn set_secret(&self, identity: &str, plaintext: Vec<u8>) {
        self.worker().secrets.set(identity, plaintext);
    }

    fn register_secret_uri(&self, identity: &str, uri: &str) {
        self.worker().secrets.register_uri(identity, uri);
    }

    async fn secret_plaintext(&self, identity: &str) -> EngineResult<Vec<u8>> {
        Ok(self.worker().secrets.get(identity).await?.to_vec())
    }
}
