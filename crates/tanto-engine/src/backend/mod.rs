//! The engine's side of the contract (`tanto_contract`): [`EngineBackend`]
//! implements each capability in a file of its own — [`solve`] (results of
//! refs), [`images`], [`host`], [`services`], [`sources`] (git and http),
//! [`secrets`] and [`cache`] — over the solver, the store and the lower crates.
//! Errors are `EngineError`s with their tier; the API shapes them for the client.

mod cache;
mod host;
mod images;
mod secrets;
mod services;
mod solve;
mod sources;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tanto_contract::fs::{EntryKind, EntryStat};
use tanto_contract::image::ResolvedImage;
use tanto_model::Ref;
use tanto_solver::Solver;
use tanto_store::SnapshotId;

use crate::worker::{blocking, Worker};
use crate::EngineError;
use tanto_fs::{FsError, Root, Stat};

/// A solved filesystem and the result that holds it (see [`EngineBackend::snapshot`]).
pub(crate) struct Held {
    pub(crate) id: Option<SnapshotId>,
    _result: Option<crate::worker::Output>,
}

pub struct EngineBackend {
    pub(crate) solver: Arc<Solver<Worker>>,
    platform: String,
    /// Images resolved by this engine: `(address, platform)` → image.
    images: Mutex<HashMap<(String, String), ResolvedImage>>,
    /// The client's host: working directory, registry credentials (`export.rs`).
    pub(crate) host: crate::export::HostState,
    /// Name, client and cache settings (`cache.rs`).
    pub(crate) identity: crate::cache::EngineIdentity,
}

fn entry(name: String, st: &Stat) -> EntryStat {
    let kind = match tanto_fs::file_type(st) {
        rustix::fs::FileType::RegularFile => EntryKind::File,
        rustix::fs::FileType::Directory => EntryKind::Dir,
        rustix::fs::FileType::Symlink => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    EntryStat { name, kind, size: st.st_size.max(0) as u64, mode: st.st_mode & 0o7777 }
}

/// An error reading `path` of a result: a missing path is the caller's.
fn not_found(path: &str, e: FsError) -> EngineError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            EngineError::not_found(format!("{path}: no such file or directory"))
        }
        _ => EngineError::from(e).context(format_args!("`{path}`")),
    }
}

impl EngineBackend {
    /// `workdir`: the client's working directory (host paths are relative to it).
    pub fn new(solver: Arc<Solver<Worker>>, workdir: std::path::PathBuf) -> EngineBackend {
        let auth = solver.worker().registry_auth.clone();
        EngineBackend {
            solver,
            platform: tanto_oci::platform::Platform::host().to_string(),
            images: Mutex::new(HashMap::new()),
            host: crate::export::HostState::new(workdir, auth),
            identity: Default::default(),
        }
    }

    /// With the cache settings of the engine config (`[gc]`).
    pub fn with_gc(mut self, gc: crate::cache::GcSettings) -> EngineBackend {
        self.identity.gc = gc;
        self
    }

    pub(crate) fn worker(&self) -> &Arc<Worker> {
        self.solver.worker()
    }

    /// The snapshot of `root` (solving it; `None` for the empty filesystem),
    /// held from prunes for as long as the returned value lives.
    pub(crate) async fn snapshot(&self, root: Option<&Ref>) -> Result<Held, EngineError> {
        let Some(r) = root else { return Ok(Held { id: None, _result: None }) };
        let out = self.solver.solve(r.vertex.clone()).await.map_err(|e| (*e).clone())?;
        let id = out
            .outputs
            .get(r.output as usize)
            .copied()
            .ok_or_else(|| EngineError::internal(format!("no output {} for {:?}", r.output, r.vertex)))?;
        Ok(Held { id: Some(id), _result: Some(out) })
    }

    /// A view of directory `path` of `root` (for tools that need a host path).
    pub(crate) async fn view_of(&self, root: Option<&Ref>, path: &str) -> Result<tanto_store::View, EngineError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        let p = path.to_string();
        blocking(move || Ok(store.view(snap.id, &p)?)).await
    }

    /// Runs `f` on a read-only root of `root`'s filesystem, off the async runtime.
    pub(crate) async fn with_root<T: Send + 'static>(
        &self,
        root: Option<&Ref>,
        f: impl FnOnce(&Root) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        blocking(move || {
            let view = store.view(snap.id, "/")?;
            let r = Root::open(view.path()).map_err(|e| EngineError::internal(format!("opening a snapshot: {e}")))?;
            f(&r)
        })
        .await
    }
}
