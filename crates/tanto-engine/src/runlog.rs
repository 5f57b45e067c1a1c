//! The steps this engine answered, for `tanto explain`: kept in memory while
//! the engine runs (a push per step: nothing on the hot path touches the
//! database) and recorded in the state dir as one run, in one transaction,
//! when the engine shuts down.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tanto_model::{Digest, Vertex};
use tanto_store::explain::{LoggedStep, RunName, Status, Tombstone};
use tanto_store::Store;

pub(crate) struct RunLog {
    name: RunName,
    started_ms: i64,
    inner: Mutex<Steps>,
}

#[derive(Default)]
struct Steps {
    index: HashMap<Digest, usize>,
    steps: Vec<LoggedStep>,
    /// The run, once recorded.
    recorded: Option<Option<i64>>,
}

impl RunLog {
    pub(crate) fn new(name: RunName) -> RunLog {
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        RunLog { name, started_ms, inner: Default::default() }
    }

    /// Notes how `vertex` was answered. A step is listed once, where it was
    /// first answered; a later computation of it (its result pruned while
    /// the engine ran, or a step run each time) says so.
    pub(crate) fn note(&self, vertex: &Arc<Vertex>, status: Status, evicted: Option<Tombstone>) {
        let key = vertex.key();
        let mut st = self.inner.lock();
        match st.index.get(&key).copied() {
            Some(i) => {
                let s = &mut st.steps[i];
                if s.status == Status::Cached && status != Status::Cached {
                    s.status = status;
                    s.evicted = evicted;
                }
            }
            None => {
                let n = st.steps.len();
                st.index.insert(key, n);
                st.steps.push(LoggedStep { vertex: vertex.clone(), status, evicted });
            }
        }
    }

    /// Records the run in `store` (once; later calls return the same id),
    /// its name scrubbed of the session's secrets.
    pub(crate) fn record(&self, store: &Store, secrets: &crate::secrets::Secrets) -> Option<i64> {
        let mut st = self.inner.lock();
        if let Some(id) = st.recorded {
            return id;
        }
        let name = RunName { pipeline: secrets.scrub_known(&self.name.pipeline), workdir: self.name.workdir.clone() };
        let id = match store.record_run(&name, self.started_ms, &st.steps) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "recording the run's steps for `tanto explain` failed");
                None
            }
        };
        st.recorded = Some(id);
        st.steps.clear();
        st.index.clear();
        id
    }
}
