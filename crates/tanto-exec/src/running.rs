//! A container started in the background ([`crate::Executor::start`]): its
//! output tail, its end, and stopping or killing it.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{join_error, ExecError, ExitInfo, Inner};

/// The last bytes of a running container's combined output.
#[derive(Default)]
pub(crate) struct OutputTail {
    buf: std::collections::VecDeque<u8>,
}

impl OutputTail {
    const LIMIT: usize = 64 * 1024;

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend(chunk);
        let excess = self.buf.len().saturating_sub(Self::LIMIT);
        self.buf.drain(..excess);
    }
}

/// How a started container ended: its exit, or why it could not be run to the end.
pub type Exited = Arc<Result<ExitInfo, ExecError>>;

/// A container started with [`Executor::start`]. Dropping the handle kills the
/// container and cleans up in the background.
pub struct RunningContainer {
    pub(crate) id: String,
    pub(crate) ip: Option<std::net::Ipv4Addr>,
    pub(crate) inner: Arc<Inner>,
    pub(crate) tail: Arc<Mutex<OutputTail>>,
    pub(crate) done: tokio::sync::watch::Receiver<Option<Exited>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
    /// The PTY master of a [`ProcessSpec::terminal`] container, until taken.
    pub(crate) terminal: Mutex<Option<std::os::fd::OwnedFd>>,
}

impl fmt::Debug for RunningContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningContainer").field("id", &self.id).field("ip", &self.ip).finish()
    }
}

impl RunningContainer {
    /// The runtime's container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The address on the bridge ([`Network::Bridge`] only).
    pub fn ip(&self) -> Option<std::net::Ipv4Addr> {
        self.ip
    }

    /// Runs `args` in this container (its root, environment and namespaces) with
    /// a PTY: the PTY's master, and the `exec` process, whose exit status is the
    /// command's. Blocking.
    pub fn exec_terminal(
        &self,
        args: &[String],
    ) -> Result<(std::os::fd::OwnedFd, std::process::Child), crate::ExecError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Named as the run dir's other files (a dead engine's are removed at start).
        let path = self.inner.run_dir.join(format!("t{}-tty{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _gone = RemoveOnDrop(path.clone());
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(crate::ExecError::io("listening on the console socket", &path))?;
        if self.inner.runtime.name() == "runc" {
            return Err(crate::ExecError::invalid(
                "terminals need crun: runc hands over a terminal only when detached (install crun, or set TANTO_RUNTIME=crun)",
            ));
        }
        let mut cmd = self.inner.runtime.exec_tty_command(&self.inner.state_dir, &self.id, &path, args);
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        let mut child =
            cmd.spawn().map_err(crate::ExecError::io("starting the OCI runtime", &self.inner.runtime.path))?;
        match crate::run::receive_console(&listener, &path, || child.try_wait().ok().flatten().is_some()) {
            Ok(master) => Ok((master, child)),
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                let said = out.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_default();
                Err(if said.is_empty() { e } else { crate::ExecError::invalid(format!("exec in the service: {said}")) })
            }
        }
    }

    /// The PTY master of a container started with [`crate::ProcessSpec::terminal`]
    /// (once).
    pub fn take_terminal(&self) -> Option<std::os::fd::OwnedFd> {
        self.terminal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The last 64 KiB of combined output so far.
    pub fn output(&self) -> Vec<u8> {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.buf.iter().copied().collect()
    }

    /// How it ended, if it has.
    pub fn exited(&self) -> Option<Exited> {
        self.done.borrow().clone()
    }

    /// Waits until the container has exited and everything is cleaned up.
    pub async fn wait(&self) -> Exited {
        let mut rx = self.done.clone();
        loop {
            if let Some(done) = rx.borrow_and_update().clone() {
                return done;
            }
            if rx.changed().await.is_err() {
                return Arc::new(Err(ExecError::Internal {
                    message: "the task driving the container ended without a result".into(),
                }));
            }
        }
    }

    /// Sends `signal` to the container's first process (the init, which forwards it).
    pub async fn signal(&self, signal: &'static str) -> Result<(), ExecError> {
        let (inner, id) = (self.inner.clone(), self.id.clone());
        tokio::task::spawn_blocking(move || inner.runtime.kill(&inner.state_dir, &id, signal))
            .await
            .map_err(join_error)?
    }

    /// SIGTERM, then SIGKILL after `grace` if it is still running; waits for the end.
    pub async fn stop(&self, grace: Duration) -> Exited {
        if self.exited().is_none() {
            if let Err(e) = self.signal("TERM").await {
                tracing::debug!(container = %self.id, error = %e, "SIGTERM failed");
            }
            if tokio::time::timeout(grace, self.wait()).await.is_err() {
                return self.kill().await;
            }
        }
        self.wait().await
    }

    /// SIGKILL to every process of the container; waits for the end.
    pub async fn kill(&self) -> Exited {
        if self.exited().is_none() {
            if let Err(e) = self.signal("KILL").await {
                tracing::debug!(container = %self.id, error = %e, "SIGKILL failed");
            }
        }
        self.wait().await
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        // Dropping the driving future kills the container and cleans up on a thread.
        self.task.abort();
    }
}

/// Removes a file when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
