//! Undoing a container run: [`Cleanup`] owns everything a run made on the host (runtime
//! state, mounts, mount stubs, the network namespace, the bundle directory) and undoes it
//! when dropped; [`Bundle`] drops it on a detached thread when a run is cancelled.
//! [`cleanup_stale`] removes what engine processes that are gone left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;

use crate::sys;
use crate::view::{self, Stub};
use crate::{ExecError, Inner};

/// Everything to undo after a run; dropping it undoes it (blocking).
pub(crate) struct Cleanup {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    /// Host mount points we made, in mount order.
    pub(crate) mounts: Vec<PathBuf>,
    /// Nodes created only as mount targets, in creation order.
    pub(crate) stubs: Vec<Stub>,
    /// Overlays we mounted with an upper: (mount point, upper, lowers), to prune the
    /// directories overlayfs copied up only to hold stubs.
    pub(crate) overlays: Vec<(PathBuf, PathBuf, Vec<PathBuf>)>,
    pub(crate) child: Option<Child>,
    /// The network namespace on the bridge, released after the container is gone.
    pub(crate) net: Option<crate::net::Attachment>,
}

impl Cleanup {
    fn undo(&mut self) -> Result<(), ExecError> {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if self.inner.state_dir.join(&self.id).exists() {
            self.inner.runtime.destroy(&self.inner.state_dir, &self.id);
        }
        self.net = None;
        let removed = view::remove_stubs(&self.stubs).len();
        if !self.stubs.is_empty() {
            tracing::debug!(container = %self.id, created = self.stubs.len(), removed, "removed mount stubs");
        }
        let mut first_err = None;
        let mut unmounted = true;
        for m in self.mounts.drain(..).rev() {
            if let Err(e) = sys::unmount(&m) {
                tracing::error!(mount = %m.display(), error = %e, "could not unmount");
                unmounted = false;
                first_err.get_or_insert(ExecError::Unmount { target: m, source: e });
            }
        }
        if unmounted {
            self.prune_copied_up_parents();
        }
        self.stubs.clear();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                first_err.get_or_insert(ExecError::Io {
                    action: "removing bundle".into(),
                    path: self.dir.clone(),
                    source: e,
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Cleanup {
    /// Creating a stub in a directory that came from a lower copies that directory up;
    /// once the stub is gone the copy is an empty, unchanged directory in the upper.
    fn prune_copied_up_parents(&self) {
        let mut dirs: Vec<(&Path, &[PathBuf], PathBuf)> = Vec::new();
        for stub in &self.stubs {
            let Some((_, upper, lowers)) = self.overlays.iter().find(|(mnt, ..)| *mnt == stub.base) else {
                continue;
            };
            let mut rel = stub.parent_rel.clone();
            while !rel.as_os_str().is_empty() {
                if !dirs.iter().any(|(u, _, r)| *u == upper.as_path() && *r == rel) {
                    dirs.push((upper, lowers, rel.clone()));
                }
                rel.pop();
            }
        }
        // Deepest first, so emptied parents can go too.
        dirs.sort_by_key(|(_, _, r)| std::cmp::Reverse(r.components().count()));
        for (upper, lowers, rel) in dirs {
            if let Err(e) = sys::prune_copied_up_dir(upper, &rel, lowers) {
                tracing::debug!(dir = %rel.display(), error = %e, "could not prune a copied-up directory");
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            tracing::error!(container = %self.id, error = %e, "cleanup after a container run failed");
        }
    }
}

/// Owns a [`Cleanup`]; when dropped without [`Bundle::finish`] (cancellation) it kills the
/// container and cleans up on a detached thread, never on the async runtime.
pub(crate) struct Bundle {
    pub(crate) cleanup: Option<Cleanup>,
    pub(crate) log: PathBuf,
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            let spawned = std::thread::Builder::new().name("tanto-exec-cleanup".into()).spawn(move || drop(cleanup));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not spawn the cleanup thread");
            }
        }
    }
}

impl Bundle {
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.cleanup.as_mut().and_then(|c| c.child.as_mut()) {
            Some(child) => child.try_wait(),
            None => Ok(None),
        }
    }

    /// Reads the runtime log, then undoes everything. Returns the runtime's own error, if
    /// it logged one.
    pub fn finish(mut self) -> Result<Option<String>, ExecError> {
        let Some(mut cleanup) = self.cleanup.take() else {
            return Ok(None);
        };
        let logged = fs::read_to_string(&self.log).ok().and_then(|l| cleanup.inner.runtime.logged_error(&l));
        cleanup.undo()?;
        Ok(logged)
    }
}

/// Parses `t<pid>-<hex>` bundle names.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('t')?;
    let (pid, hex) = rest.split_once('-')?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes what dead engine processes left under `run_dir`: containers, mounts, bundles.
pub(crate) fn cleanup_stale(inner: &Inner) -> Result<usize, ExecError> {
    let mut cleaned = 0;
    let entries = fs::read_dir(&inner.run_dir).map_err(ExecError::io("listing", &inner.run_dir))?;
    let alive = |name: &str, dir: &Path| -> bool {
        let Some(pid) = owner_pid(name) else {
            return true;
        };
        let recorded: Option<u64> = fs::read_to_string(dir.join("owner"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|t| t.parse().ok()));
        match (sys::process_start_time(pid), recorded) {
            (None, _) => false,
            (Some(now), Some(rec)) => now == rec,
            // No owner file yet (bundle being created) or unreadable: trust the pid.
            (Some(_), None) => sys::pid_exists(pid),
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if owner_pid(&name).is_none() || alive(&name, &path) {
            continue;
        }
        tracing::info!(container = %name, "cleaning up a container left by a dead engine");
        if inner.state_dir.join(&name).exists() {
            inner.runtime.destroy(&inner.state_dir, &name);
        }
        for m in sys::mounts_under(&path).map_err(ExecError::io("reading", "/proc/self/mountinfo"))? {
            sys::unmount(&m).map_err(|source| ExecError::Unmount { target: m.clone(), source })?;
        }
        fs::remove_dir_all(&path).map_err(ExecError::io("removing stale bundle", &path))?;
        cleaned += 1;
    }
    // Runtime state whose bundle is already gone.
    if let Ok(states) = fs::read_dir(&inner.state_dir) {
        for entry in states.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner_dead = owner_pid(&name).is_some_and(|pid| !sys::pid_exists(pid));
            if owner_dead && !inner.run_dir.join(&name).exists() {
                inner.runtime.destroy(&inner.state_dir, &name);
                cleaned += 1;
            }
        }
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_names() {
        let cases =
            [("t123-0a1b2c3d4e5f6a7b", Some(123)), ("runtime", None), ("t12-", None), ("tx-ab", None), ("t5-zz", None)];
        for (name, expect) in cases {
            assert_eq!(owner_pid(name), expect, "{name}");
        }
        let id = crate::run::new_id();
        assert_eq!(owner_pid(&id), Some(std::process::id()));
    }
}
