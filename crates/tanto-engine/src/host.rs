//! Host uploads on the engine side: the walker, its index and the snapshot
//! writing live in tanto-store (`tanto_store::upload`); the backend's
//! `host.directory`/`host.file` (`export.rs`) resolve session paths and
//! call it; this is the worker's side of an `Op::Local` whose result is
//! no longer in the cache.

use std::sync::Arc;

use tanto_model::{Digest, LocalOp};
use tanto_store::upload::{upload, UploadSpec};

impl crate::worker::Worker {
    /// Computes an `Op::Local` whose result is not in the cache (an upload
    /// normally commits its own result): uploads the directory again and
    /// checks it still has the content the op was built for.
    pub(crate) async fn local(&self, op: &LocalOp, key: Digest) -> Result<crate::worker::Output, crate::EngineError> {
        if op.path.is_empty() {
            // made in place (an `asTarball` file), not read from the host
            return Err(crate::EngineError::not_found(
                "a file made by `asTarball` is no longer in the cache; call `asTarball` again",
            ));
        }
        let store = self.store.clone();
        let spec = UploadSpec::from_op(op);
        let want = op.digest;
        let up = tokio::task::spawn_blocking(move || upload(&store, &spec))
            .await
            .map_err(|e| crate::EngineError::internal(e.to_string()))??;
        if up.vertex.key() != key {
            let now = up.tree();
            return Err(crate::EngineError::input(format!(
                "host directory `{}` changed since it was read (content {want} is now {now}); read it again with `host.directory`",
                op.path
            )));
        }
        let leases = vec![self.store.lease(up.snapshot)?];
        Ok(Arc::new(crate::worker::VertexResult { outputs: vec![up.snapshot], meta: None, leases }))
    }
}
