//! The user's terminal attached to a container's PTY (`Container.terminal`):
//! the engine's controlling terminal (`/dev/tty`: `tanto call`, `tanto run`
//! and the `session` an SDK spawns from a terminal all have one) in raw mode,
//! bytes copied both ways until the container exits, its size followed on
//! SIGWINCH. Without a terminal the field fails at once, never waits.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tanto_exec::RunningContainer;

use crate::EngineError;

/// The user's terminal, open and checked.
pub(crate) struct UserTerminal {
    tty: std::fs::File,
}

impl UserTerminal {
    /// `/dev/tty`, or a clear error when this engine has no terminal.
    pub(crate) fn open() -> Result<UserTerminal, EngineError> {
        let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(|e| {
            EngineError::input(format!(
                "`terminal` needs an interactive terminal and this engine has none (/dev/tty: {e}): run tanto from a terminal, not from CI or a pipe"
            ))
        })?;
        if !rustix::termios::isatty(&tty) {
            return Err(EngineError::input("`terminal` needs an interactive terminal: /dev/tty is not one"));
        }
        Ok(UserTerminal { tty })
    }

    /// Starts `spec` with a PTY and connects the terminal to it until the
    /// container exits; its exit code.
    pub(crate) async fn run(
        self,
        executor: &tanto_exec::Executor,
        mut spec: tanto_exec::ProcessSpec,
    ) -> Result<i32, EngineError> {
        spec.terminal = true;
        let running = executor.start(spec, None).await?;
        let master = running
            .take_terminal()
            .ok_or_else(|| EngineError::internal("the runtime gave the container no terminal"))?;
        self.attach(master, &running).await
    }

    /// Connects the terminal to `running`'s PTY `master` until the container
    /// exits; its exit code.
    async fn attach(self, master: OwnedFd, running: &RunningContainer) -> Result<i32, EngineError> {
        let ended = async {
            match running.wait().await.as_ref() {
                Ok(info) => Ok(info.exit_code),
                Err(e) => Err(EngineError::new(tanto_model::Tiered::tier(e), format!("terminal: {e}"))),
            }
        };
        self.attach_until(master, ended).await
    }

    /// Connects the terminal to the PTY `master` until `ended` resolves (the
    /// process on the PTY's other side has exited); its result. One terminal
    /// at a time in this process; the user's mode comes back as soon as it
    /// ends, and also when this future is dropped.
    pub(crate) async fn attach_until(
        self,
        master: OwnedFd,
        ended: impl std::future::Future<Output = Result<i32, EngineError>>,
    ) -> Result<i32, EngineError> {
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = ONE_AT_A_TIME.lock().await;
        let io = |what: &str, e: std::io::Error| EngineError::internal(format!("terminal: {what}: {e}"));
        let master = std::fs::File::from(master);
        copy_size(&self.tty, &master);
        let saved = rustix::termios::tcgetattr(&self.tty).map_err(|e| io("reading its mode", e.into()))?;
        let mut raw = saved.clone();
        raw.make_raw();
        let stop = Arc::new(AtomicBool::new(false));
        let dup = |f: &std::fs::File| f.try_clone().map_err(|e| io("duplicating", e));
        let mut guard =
            Session { tty: dup(&self.tty)?, saved: Some(saved), stop: stop.clone(), resize: None, threads: Vec::new() };
        rustix::termios::tcsetattr(&self.tty, rustix::termios::OptionalActions::Now, &raw)
            .map_err(|e| io("setting raw mode", e.into()))?;
        // container -> user, and user -> container: both poll, so that they stop
        // when the process has exited even if something else holds the PTY open.
        guard.threads.push(copy_thread(dup(&master)?, dup(&self.tty)?, stop.clone(), true));
        guard.threads.push(copy_thread(dup(&self.tty)?, dup(&master)?, stop.clone(), false));
        // The size follows the user's window.
        let (tty, pty) = (dup(&self.tty)?, master);
        guard.resize = Some(tokio::spawn(async move {
            let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
                return;
            };
            while winch.recv().await.is_some() {
                copy_size(&tty, &pty);
            }
        }));
        let ended = ended.await;
        guard.finish().await;
        let mut tty = self.tty;
        let _ = tty.write_all(b"\r\n");
        ended
    }
}

/// Copies `from` to `to` until `stop` (after what is left has been read, when
/// `drain`), an error or the end of `from`.
fn copy_thread(
    mut from: std::fs::File,
    mut to: std::fs::File,
    stop: Arc<AtomicBool>,
    drain: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let stopping = stop.load(Ordering::Acquire);
            let mut fds = [rustix::event::PollFd::new(&from, rustix::event::PollFlags::IN)];
            let tick = rustix::event::Timespec { tv_sec: 0, tv_nsec: if stopping { 0 } else { 100_000_000 } };
            match rustix::event::poll(&mut fds, Some(&tick)) {
                Ok(0) if stopping || !drain && stop.load(Ordering::Acquire) => return,
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(_) => return,
            }
            if stopping && !drain {
                return;
            }
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// What a terminal session holds: the user's mode to put back, the copy
/// threads and the resize task. Dropped early (the request went away), it
/// still stops them and restores the mode.
struct Session {
    tty: std::fs::File,
    saved: Option<rustix::termios::Termios>,
    stop: Arc<AtomicBool>,
    resize: Option<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Stops everything, waits for the copies (briefly: they poll) and puts
    /// the user's mode back.
    async fn finish(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.resize.take() {
            r.abort();
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = rustix::termios::tcsetattr(&self.tty, rustix::termios::OptionalActions::Now, &saved);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.resize.take() {
            r.abort();
        }
        self.restore();
    }
}

/// Gives `to` (the PTY) the size of `from` (the user's terminal).
fn copy_size(from: &impl AsFd, to: &impl AsFd) {
    if let Ok(size) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, size);
    }
}
