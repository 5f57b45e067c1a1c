//! tanto-store: everything tanto keeps on disk under its state directory —
//! content-addressed blobs, overlayfs snapshots, the cache index and cache volumes.
//!
//! Layout of `TANTO_STATE_DIR`:
//! - `meta.db` — SQLite (WAL) metadata: snapshots, cache records, leases of
//!   snapshots in use (`prune.rs`). SQLite rather
//!   than redb because every `tanto session` process is a whole engine and
//!   several may share one state dir at once; SQLite is multi-process safe.
//! - `blobs/sha256/<hex>` — verified blobs (image layers, configs, manifests).
//! - `snapshots/<id>/fs` — one overlayfs layer (a diff) per snapshot.
//! - `volumes/<hex>/` — cache volumes.
//! - `mnt/` — temporary read-only views of snapshot chains.
//! - `locks/<hex>` — in-flight leases: which engine computes a cache key now.
//!
//! Invariants:
//! - A snapshot is `pending` while it is written and becomes `committed` in the
//!   same transaction that records the cache entry pointing at it, so a crash
//!   leaves nothing half-made: pending snapshots of dead processes are removed
//!   at the next open.
//! - Committed snapshot directories are never written again.
//! - Nothing secret is stored here: exec output is scrubbed before it is recorded.
//! - This crate runs no processes; its only mounts are read-only views.

mod copymemo;
mod db;
mod lease;
mod prune;
mod snapshot;
mod sys;
mod upload;
mod volume;

pub use copymemo::CopyBase;
pub use db::{CacheRecord, ExecMeta};
pub use lease::Lease;
pub use prune::{disk_space, disk_usage, CacheEntry, PrunePolicy, PruneReport, SnapshotLease};
pub use snapshot::{clean_rel, is_whiteout, layer_xattr, Prepared, SnapshotId, View};
pub use upload::{LayerBlob, UploadRecord};
pub use volume::VolumeLease;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("snapshot {0} is missing from the state directory; run `tanto prune` or remove the state directory")]
    MissingSnapshot(i64),
    #[error(
        "path `{0}` goes through a symbolic link inside a snapshot; this is not supported yet for mounts and views"
    )]
    ViaSymlink(String),
    #[error("mount of a snapshot view at `{path}` failed: {source}")]
    Mount { path: PathBuf, source: std::io::Error },
}

pub(crate) fn io_err(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.as_ref().to_path_buf();
    move |source| StoreError::Io { path, source }
}

/// The state directory. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    db: Mutex<rusqlite::Connection>,
    owner: String,
    /// Names this instance's snapshot leases (`owner/instance`).
    holder: String,
    leases: prune::Leases,
}

impl Store {
    /// Opens (creating if needed) the state directory and recovers from crashes
    /// of earlier engines.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["", "blobs/sha256", "snapshots", "volumes", "mnt", "tmp", "locks"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let conn = db::open(&root.join("meta.db"))?;
        upload::init(&conn)?;
        copymemo::init(&conn)?;
        prune::init(&conn)?;
        let owner = sys::owner_token(std::process::id());
        let holder = format!("{owner}/{}", uuid::Uuid::new_v4().simple());
        let store = Store {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                db: Mutex::new(conn),
                owner,
                holder,
                leases: Default::default(),
            }),
        };
        store.recover()?;
        store.remove_orphan_dirs()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where a blob with this digest (`sha256:<hex>`) lives, whether or not it exists yet.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.inner.root.join("blobs/sha256").join(hex)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A fresh scratch path on the state filesystem (removed by the caller).
    pub fn tmp_path(&self, hint: &str) -> PathBuf {
        self.inner.root.join("tmp").join(format!("{}-{}-{}", std::process::id(), hint, uuid::Uuid::new_v4().simple()))
    }
}
