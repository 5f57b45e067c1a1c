//! In-flight leases: one engine process at a time computes a given cache key.
//!
//! Every `tanto session` is a whole engine, and several can share a state
//! directory. Within one process the solver already runs identical work once;
//! across processes, an engine takes the key's lease (an exclusive `flock` on
//! `locks/<hex>`) before computing it, and whoever waited for the lease looks
//! the key up again before computing it itself. The kernel drops the lock when
//! a process dies, so a crash never leaves a key stuck.
//!
//! The holder unlinks the lock file before closing it; a waiter that then
//! gets the lock on the unlinked file sees that the path no longer names its
//! file and tries again, so exactly one process holds a key's lease at a time.
//! The GC lease (`locks/gc`) works the same way: one prune at a time per
//! state directory.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use rustix::fs::{flock, FlockOperation};

use crate::{io_err, Store, StoreError};

/// The right to compute one cache key; released on drop.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    _file: File,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Store {
    /// Takes the in-flight lease of `key` if no other process holds it.
    pub fn try_lease(&self, key: &str) -> Result<Option<Lease>, StoreError> {
        let name = key.strip_prefix("sha256:").unwrap_or(key);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(StoreError::Io {
                path: PathBuf::from(key),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "a lease key must be a digest"),
            });
        }
        try_lock(self.inner.root.join("locks").join(name))
    }

    /// Takes the state directory's GC lease if no other process holds it:
    /// one prune at a time per state directory, across engine processes.
    pub fn try_gc_lease(&self) -> Result<Option<Lease>, StoreError> {
        try_lock(self.inner.root.join("locks").join("gc"))
    }
}

/// An exclusive `flock` on `path` (created if needed) unless another holder has it.
fn try_lock(path: PathBuf) -> Result<Option<Lease>, StoreError> {
    loop {
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(io_err(&path)(e.into())),
        }
        let ours = file.metadata().map_err(io_err(&path))?.ino();
        match std::fs::metadata(&path) {
            Ok(m) if m.ino() == ours => return Ok(Some(Lease { path, _file: file })),
            // The previous holder removed the file as we locked it: take the new one.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_key_until_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (Store::open(tmp.path()).unwrap(), Store::open(tmp.path()).unwrap());
        let key = format!("sha256:{}", "ab".repeat(32));
        let held = a.try_lease(&key).unwrap().expect("free at first");
        // (store, key, free)
        let other = format!("sha256:{}", "cd".repeat(32));
        let cases = [(&a, key.as_str(), false), (&b, key.as_str(), false), (&b, other.as_str(), true)];
        for (store, k, free) in cases {
            assert_eq!(store.try_lease(k).unwrap().is_some(), free, "{k}");
        }
        drop(held);
        assert!(b.try_lease(&key).unwrap().is_some(), "free again once dropped");
        assert!(!tmp.path().join("locks").join("ab".repeat(32)).exists(), "lock files are removed");
        assert!(a.try_lease("../../etc/passwd").is_err(), "keys are digests, never paths");
        let gc = a.try_gc_lease().unwrap().expect("no gc running");
        assert!(b.try_gc_lease().unwrap().is_none(), "one gc per state dir");
        drop(gc);
        assert!(b.try_gc_lease().unwrap().is_some(), "free again once dropped");
    }
}
