//! Durable commits: what a cache record points at reaches the disk before the
//! record does, so a power loss leaves either no record or a whole result.
//!
//! One `syncfs` of the state filesystem covers every file and directory a
//! step wrote; concurrent commits share one (group commit): a commit waits
//! for a sync that *started* after its writes were done, and runs one itself
//! only when none did.

use std::path::Path;

use parking_lot::Mutex;

/// Tickets of commits whose writes are done, and how far syncs have covered.
#[derive(Default)]
pub(crate) struct Syncer {
    /// The next ticket.
    next: std::sync::atomic::AtomicU64,
    /// Every ticket below this one is on disk. Held while a sync runs.
    covered: Mutex<u64>,
}

impl Syncer {
    /// Returns once everything written before the call is on disk.
    pub(crate) fn sync(&self, root: &Path) -> std::io::Result<()> {
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut covered = self.covered.lock();
        if *covered > ticket {
            return Ok(());
        }
        // Every ticket handed out so far belongs to writes already done.
        let upto = self.next.load(std::sync::atomic::Ordering::SeqCst);
        let dir = std::fs::File::open(root)?;
        rustix::fs::syncfs(&dir)?;
        *covered = upto;
        Ok(())
    }

    /// Every ticket below this is on disk.
    #[cfg(test)]
    pub(crate) fn covered(&self) -> u64 {
        *self.covered.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_commits_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Syncer::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, p) = (s.clone(), dir.path().to_path_buf());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        s.sync(&p).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let covered = *s.covered.lock();
        assert_eq!(covered, 160, "the last sync covers every ticket");
        assert!(s.sync(Path::new("/nonexistent-tanto-dir")).is_err(), "a failed sync is an error");
    }
}
