//! Overlayfs snapshots: each snapshot is one diff directory over a parent
//! snapshot seen at a selector (a sub-path of the parent's view).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{io_err, sys, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SnapshotId(pub i64);

/// A snapshot being written: mount `lowers` (topmost first) with `upper` and
/// `work`, then [`Store::commit`] it or [`Store::abort`] it.
#[derive(Debug)]
pub struct Prepared {
    pub id: SnapshotId,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub lowers: Vec<PathBuf>,
}

/// A read-only view of a snapshot chain at a sub-path. Unmounts on drop.
#[derive(Debug)]
pub struct View {
    path: PathBuf,
    mount: Option<PathBuf>,
    /// Keeps the snapshot (and its chain) from being pruned while the view is used.
    _lease: Option<crate::SnapshotLease>,
}

impl View {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            if let Err(e) = sys::unmount(&m) {
                tracing::warn!(path = %m.display(), error = %e, "unmounting a snapshot view failed");
            }
            let _ = std::fs::remove_dir(&m);
        }
    }
}

/// Normalises a selector to a relative path without `.`/`..` that cannot
/// leave its root.
pub fn clean_rel(path: &str) -> PathBuf {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.iter().collect()
}

enum Probe {
    Present,
    Absent,
}

/// Whether an entry of an overlay layer is a whiteout (a 0/0 character device).
pub fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    matches!(layer_xattr(p, "trusted.overlay.opaque"), Some(v) if v == b"y")
}

/// The value of extended attribute `name` of a layer entry (not following
/// symlinks), whatever its length, if it is set.
pub fn layer_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let len = rustix::fs::lgetxattr_query(p, name).ok()?;
    let mut buf = vec![0u8; len];
    let n = rustix::fs::lgetxattr(p, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// What one layer says about `rel`: (present as a directory here, hides lower layers).
fn probe(layer: &Path, rel: &Path) -> Result<(Probe, bool), StoreError> {
    let mut cut = is_opaque(layer);
    let mut p = layer.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let last = i + 1 == comps.len();
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Probe::Absent, cut)),
            Err(e) => return Err(io_err(&p)(e)),
            Ok(m) if is_whiteout(&m) => return Ok((Probe::Absent, true)),
            Ok(m) if m.is_dir() => {
                if is_opaque(&p) {
                    cut = true;
                }
                if last {
                    return Ok((Probe::Present, cut));
                }
            }
            Ok(m) if m.file_type().is_symlink() && !last => {
                return Err(StoreError::ViaSymlink(rel.display().to_string()));
            }
            // A file or symlink shadows everything below it.
            Ok(_) => return Ok((Probe::Absent, true)),
        }
    }
    Ok((Probe::Present, cut))
}

impl Store {
    pub(crate) fn snapshot_root(&self, id: SnapshotId) -> PathBuf {
        self.inner.root.join("snapshots").join(id.0.to_string())
    }

    /// The diff directory of a snapshot.
    pub fn snapshot_dir(&self, id: SnapshotId) -> PathBuf {
        self.snapshot_root(id).join("fs")
    }

    /// The directories that make up the view of `snap` at `selector`, topmost first.
    pub fn lowers(&self, snap: Option<SnapshotId>, selector: &str) -> Result<Vec<PathBuf>, StoreError> {
        let mut out = Vec::new();
        let mut cur = snap.map(|s| (s, clean_rel(selector)));
        while let Some((id, rel)) = cur {
            let dir = self.snapshot_dir(id);
            if !dir.is_dir() {
                return Err(StoreError::MissingSnapshot(id.0));
            }
            let (found, cut) = probe(&dir, &rel)?;
            if let Probe::Present = found {
                out.push(if rel.as_os_str().is_empty() { dir } else { dir.join(&rel) });
            }
            if cut {
                break;
            }
            cur = self.parent_of(id)?.map(|(p, sel)| (p, clean_rel(&sel).join(&rel)));
        }
        Ok(out)
    }

    /// Starts a new snapshot over `parent` (seen at its selector).
    pub fn prepare(&self, parent: Option<(SnapshotId, &str)>) -> Result<Prepared, StoreError> {
        let lowers = match parent {
            Some((p, sel)) => self.lowers(Some(p), sel)?,
            None => Vec::new(),
        };
        let id = self.insert_pending(parent)?;
        let root = self.snapshot_root(id);
        let upper = root.join("fs");
        let work = root.join("work");
        for d in [&upper, &work] {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        Ok(Prepared { id, upper, work, lowers })
    }

    /// Throws away a snapshot that was not committed.
    pub fn abort(&self, prepared: Prepared) {
        let root = self.snapshot_root(prepared.id);
        for m in sys::mounts_below(&root) {
            let _ = sys::unmount(&m);
        }
        if let Err(e) = std::fs::remove_dir_all(&root) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %root.display(), error = %e, "removing an aborted snapshot failed");
            }
        }
        if let Err(e) = self.delete_snapshot_row(prepared.id) {
            tracing::warn!(error = %e, "forgetting an aborted snapshot failed");
        }
    }

    /// A writable view of a prepared snapshot: writes land in its upper dir.
    /// Unmount (drop the view) before committing.
    pub fn mount_rw(&self, prepared: &Prepared) -> Result<View, StoreError> {
        if prepared.lowers.is_empty() {
            return Ok(View { path: prepared.upper.clone(), mount: None, _lease: None });
        }
        let target =
            self.inner.root.join("mnt").join(format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&target).map_err(io_err(&target))?;
        if let Err(source) = sys::mount_overlay(&prepared.lowers, Some((&prepared.upper, &prepared.work)), &target) {
            let _ = std::fs::remove_dir(&target);
            return Err(StoreError::Mount { path: target, source });
        }
        Ok(View { path: target.clone(), mount: Some(target), _lease: None })
    }

    /// A read-only view of `snap` at `selector` (an empty directory for `None`).
    pub fn view(&self, snap: Option<SnapshotId>, selector: &str) -> Result<View, StoreError> {
        let lease = snap.map(|s| self.lease(s)).transpose()?;
        let lowers = self.lowers(snap, selector)?;
        match lowers.len() {
            0 => {
                let empty = self.inner.root.join("empty");
                std::fs::create_dir_all(&empty).map_err(io_err(&empty))?;
                Ok(View { path: empty, mount: None, _lease: lease })
            }
            1 => Ok(View { path: lowers.into_iter().next().expect("one lower"), mount: None, _lease: lease }),
            _ => {
                let target = self.inner.root.join("mnt").join(format!(
                    "{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir(&target).map_err(io_err(&target))?;
                if let Err(source) = sys::mount_overlay(&lowers, None, &target) {
                    let _ = std::fs::remove_dir(&target);
                    return Err(StoreError::Mount { path: target, source });
                }
                Ok(View { path: target.clone(), mount: Some(target), _lease: lease })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheRecord;

    #[test]
    fn selectors_never_leave_their_root() {
        for (input, want) in [("/a/b", "a/b"), ("a/../../b", "b"), ("", ""), ("/../..", ""), ("./x/.", "x")] {
            assert_eq!(clean_rel(input), PathBuf::from(want), "{input}");
        }
    }

    #[test]
    fn chains_and_selectors_give_the_right_lowers() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let base = store.prepare(None).unwrap();
        std::fs::create_dir_all(base.upper.join("src/sub")).unwrap();
        std::fs::write(base.upper.join("src/a"), "a").unwrap();
        store.commit("k1", &CacheRecord { outputs: vec![base.id], meta: None }).unwrap();

        let top = store.prepare(Some((base.id, "/src"))).unwrap();
        assert_eq!(top.lowers, vec![store.snapshot_dir(base.id).join("src")]);
        std::fs::write(top.upper.join("b"), "b").unwrap();
        store.commit("k2", &CacheRecord { outputs: vec![top.id], meta: None }).unwrap();

        // (snapshot, selector, expected lowers)
        let cases = [
            (top.id, "", vec![store.snapshot_dir(top.id), store.snapshot_dir(base.id).join("src")]),
            (top.id, "sub", vec![store.snapshot_dir(base.id).join("src/sub")]),
            (top.id, "nope", vec![]),
        ];
        for (snap, sel, want) in cases {
            assert_eq!(store.lowers(Some(snap), sel).unwrap(), want, "{sel}");
        }
        assert!(store.lookup("k2").unwrap().is_some());
        assert!(store.lookup("k3").unwrap().is_none());
    }

    #[test]
    fn pending_snapshots_of_dead_engines_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let p = store.prepare(None).unwrap();
        let dir = p.upper.clone();
        {
            let db = store.inner.db.lock();
            db.execute("UPDATE snapshots SET owner = '999999999:1' WHERE id = ?1", [p.id.0]).unwrap();
        }
        drop(store);
        let store = Store::open(tmp.path()).unwrap();
        assert!(!dir.exists());
        assert!(matches!(store.lowers(Some(p.id), ""), Err(StoreError::MissingSnapshot(_))));
    }
}
