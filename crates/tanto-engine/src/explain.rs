//! `tanto explain`: why the steps of a state dir's last run ran (see
//! tanto-store `explain`), read without an engine.

pub use tanto_store::explain::{Change, Explained, Explanation, PathChanges, Reason, Status, KEEP_RUNS};

use crate::{EngineError, EngineOptions};

/// Why the steps of the last run of `options`' state dir ran; `None` when no
/// run is recorded there. Blocking.
pub fn explain_state(options: &EngineOptions) -> Result<Option<Explanation>, EngineError> {
    let store = tanto_store::Store::open(&options.state_dir)?;
    Ok(store.explain_run(None)?)
}

pub use crate::worker::{ago, evicted_by};
