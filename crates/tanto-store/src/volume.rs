//! Cache volumes: persistent directories mounted into execs, never part of a result.

use std::fs::File;
use std::path::PathBuf;

use rustix::fs::{flock, FlockOperation};
use sha2::{Digest, Sha256};

use tanto_model::CacheSharing;

use crate::{io_err, Store, StoreError};

/// A cache volume directory held for one exec; the lock is released on drop.
#[derive(Debug)]
pub struct VolumeLease {
    pub path: PathBuf,
    /// True when the directory was created by this lease (for seeding from a source).
    pub fresh: bool,
    _lock: File,
}

impl Store {
    /// Takes a cache volume for use. Blocks while a `Locked` volume is in use
    /// elsewhere: call it off the async runtime.
    pub fn volume(&self, key: &str, sharing: CacheSharing) -> Result<VolumeLease, StoreError> {
        let hex = hex::encode(Sha256::digest(key.as_bytes()));
        let base = self.inner.root.join("volumes").join(&hex);
        std::fs::create_dir_all(&base).map_err(io_err(&base))?;
        let _ = std::fs::write(base.join("key"), key);
        let open_lock = |name: &str| {
            let p = base.join(name);
            File::options().create(true).truncate(false).write(true).open(&p).map_err(io_err(&p))
        };
        let data_dir = |name: &str| -> Result<(PathBuf, bool), StoreError> {
            let p = base.join(name);
            match std::fs::create_dir(&p) {
                Ok(()) => Ok((p, true)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((p, false)),
                Err(e) => Err(io_err(&p)(e)),
            }
        };
        match sharing {
            CacheSharing::Shared | CacheSharing::Locked => {
                let lock = open_lock("lock")?;
                let op = if sharing == CacheSharing::Shared {
                    FlockOperation::LockShared
                } else {
                    FlockOperation::LockExclusive
                };
                flock(&lock, op).map_err(|e| io_err(base.join("lock"))(e.into()))?;
                let (path, fresh) = data_dir("data")?;
                Ok(VolumeLease { path, fresh, _lock: lock })
            }
            CacheSharing::Private => {
                for n in 0.. {
                    let (lock_name, dir_name) = if n == 0 {
                        ("lock".to_string(), "data".to_string())
                    } else {
                        (format!("lock-{n}"), format!("data-{n}"))
                    };
                    let lock = open_lock(&lock_name)?;
                    if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
                        let (path, fresh) = data_dir(&dir_name)?;
                        return Ok(VolumeLease { path, fresh, _lock: lock });
                    }
                }
                unreachable!("an unbounded search always finds a free private volume")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let a = store.volume("k", CacheSharing::Shared).unwrap();
        let b = store.volume("k", CacheSharing::Shared).unwrap();
        assert_eq!(a.path, b.path);
        assert!(a.fresh && !b.fresh);
        drop((a, b));
        let p1 = store.volume("k", CacheSharing::Private).unwrap();
        let p2 = store.volume("k", CacheSharing::Private).unwrap();
        assert_ne!(p1.path, p2.path);
        assert_ne!(store.volume("other", CacheSharing::Locked).unwrap().path, p1.path);
    }
}
