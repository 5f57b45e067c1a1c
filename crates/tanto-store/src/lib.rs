//! tanto-store: everything tanto keeps on disk under its state directory —
//! content-addressed blobs, overlayfs snapshots, the cache index and cache volumes —
//! and host uploads into it ([`upload`]: the stat walk, its file index and the
//! upload snapshots). File work goes through tanto-fs.
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
//! - `uploads/` — the file index of each upload scope's last upload.
//! - runs, their steps' key manifests, tombstones of evicted results and
//!   the paths uploads changed (`explain/`): what `tanto explain` reads.
//!
//! Invariants:
//! - A snapshot is `pending` while it is written and becomes `committed` in the
//!   same transaction that records the cache entry pointing at it, so a crash
//!   leaves nothing half-made: pending snapshots of dead processes are removed
//!   at the next open.
//! - Committed snapshot directories are never written again.
//! - Nothing secret is stored here: exec output is scrubbed before it is recorded.
//! - Host uploads never follow a symlink inside the uploaded tree (they read it
//!   with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`); an upload record only
//!   points at a committed snapshot whose content its index describes.
//! - This crate runs no processes; its only mounts are read-only and writable
//!   views of snapshots.

mod copymemo;
mod db;
mod durable;
pub mod explain;
mod lease;
mod memo;
mod prune;
mod snapshot;
mod sys;
pub mod upload;
mod volume;

pub use copymemo::CopyBase;
pub use db::{CacheRecord, ExecMeta};
pub use lease::Lease;
pub use prune::{
    disk_space, disk_usage, KindSpace, ListedRecord, PipelineSpace, PrunePolicy, PruneReport, RecordFilter,
    SnapshotLease, SpaceReport,
};
pub use snapshot::{Prepared, SnapshotId, View};
pub use upload::UploadRecord;
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
    #[error(
        "the state directory `{path}` was made in {made} mode and this engine runs in {now} mode (their snapshots mark overlays differently): use another state directory (TANTO_STATE_DIR)"
    )]
    OtherMode { path: PathBuf, made: &'static str, now: &'static str },
}

impl tanto_model::Tiered for StoreError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            StoreError::ViaSymlink(_) => tanto_model::Tier::Input,
            StoreError::Db(_) | StoreError::MissingSnapshot(_) => tanto_model::Tier::Internal,
            StoreError::Io { .. } | StoreError::Mount { .. } | StoreError::OtherMode { .. } => {
                tanto_model::Tier::Environment
            }
        }
    }
}

/// The file that says which overlay markers the state dir's snapshots carry.
const MODE_FILE: &str = "overlay-markers";

/// Refuses a state dir whose snapshots carry the other mode's overlay markers
/// (`trusted.overlay.*` as root, `user.overlay.*` rootless): mounted the
/// other way, deleted directories would come back. A dir without the file
/// (new, or made before it existed, by root) takes this process's mode.
fn check_mode(root: &Path) -> Result<(), StoreError> {
    let (now, who) = if tanto_fs::overlay::userxattr() { ("user", "rootless") } else { ("trusted", "root") };
    let path = root.join(MODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(made) if made.trim() == now => Ok(()),
        Ok(made) => Err(StoreError::OtherMode {
            path: root.to_path_buf(),
            made: if made.trim() == "user" { "rootless" } else { "root" },
            now: who,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = root.join(format!("tmp/{MODE_FILE}.{}", std::process::id()));
            std::fs::write(&tmp, format!("{now}\n")).map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
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
    /// Group `syncfs` before records are written (`durable.rs`).
    syncer: durable::Syncer,
}

impl Store {
    /// Opens (creating if needed) the state directory and recovers from crashes
    /// of earlier engines.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["", "blobs/sha256", "snapshots", "volumes", "mnt", "tmp", "locks"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        check_mode(root)?;
        let conn = db::open(&root.join("meta.db"))?;
        upload::init_db(&conn)?;
        copymemo::init(&conn)?;
        memo::init(&conn)?;
        prune::init(&conn)?;
        explain::init(&conn)?;
        let owner = sys::owner_token(std::process::id());
        let holder = format!("{owner}/{}", uuid::Uuid::new_v4().simple());
        let store = Store {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                db: Mutex::new(conn),
                owner,
                holder,
                leases: Default::default(),
                syncer: Default::default(),
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

    /// The state directory's secret key (32 random bytes, made once, mode
    /// 0600): what keyed digests of secret values are computed with, so
    /// that engines sharing this state dir give a secret the same identity
    /// and nobody without this file can test guesses against a digest.
    pub fn secret_key(&self) -> Result<[u8; 32], StoreError> {
        let path = self.inner.root.join("secret.key");
        let read = |p: &Path| -> Result<Option<[u8; 32]>, StoreError> {
            match std::fs::read(p) {
                Ok(b) => b.try_into().map(Some).map_err(|b: Vec<u8>| StoreError::Io {
                    path: p.to_path_buf(),
                    source: std::io::Error::other(format!("{} bytes, not 32: remove it to make a new key", b.len())),
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::Io { path: p.to_path_buf(), source: e }),
            }
        };
        if let Some(k) = read(&path)? {
            return Ok(k);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(format!("no randomness for the secret key: {e}")),
        })?;
        // Written whole beside it, then linked in: a second engine racing us
        // either links first (we read its key) or finds ours complete.
        let tmp = self.tmp_path("secret-key");
        let written = (|| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
            match std::fs::hard_link(&tmp, &path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        written.map_err(io_err(&path))?;
        read(&path)?.ok_or_else(|| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other("the secret key vanished while it was made"),
        })
    }

    /// Where a remote engine keeps its mirrors of clients' directories.
    pub fn mirrors_dir(&self) -> PathBuf {
        self.inner.root.join("mirrors")
    }

    /// A fresh scratch path on the state filesystem (removed by the caller).
    pub fn tmp_path(&self, hint: &str) -> PathBuf {
        self.inner.root.join("tmp").join(format!("{}-{}-{}", std::process::id(), hint, uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_syncs_the_snapshot_before_recording_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let prep = store.prepare(None).unwrap();
        std::fs::write(prep.upper.join("data"), b"result").unwrap();
        let id = prep.id;
        assert_eq!(store.inner.syncer.covered(), 0);
        store.commit("sha256:k", &CacheRecord { outputs: vec![id], meta: None }).unwrap();
        assert_eq!(store.inner.syncer.covered(), 1, "one sync, covering the commit");
        assert!(store.lookup("sha256:k").unwrap().is_some());
    }

    #[test]
    fn the_secret_key_is_made_once_per_state_dir_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (s1, s2, other) =
            (Store::open(a.path()).unwrap(), Store::open(a.path()).unwrap(), Store::open(b.path()).unwrap());
        let k1 = s1.secret_key().unwrap();
        assert_eq!(s2.secret_key().unwrap(), k1, "engines sharing a state dir share the key");
        assert_ne!(other.secret_key().unwrap(), k1, "another state dir has another key");
        let mode = std::fs::metadata(a.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(a.path().join("secret.key"), b"short").unwrap();
        assert!(s1.secret_key().unwrap_err().to_string().contains("not 32"));
    }
}
