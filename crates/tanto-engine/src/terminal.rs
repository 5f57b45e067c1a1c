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

    /// Connects the terminal to `running`'s PTY `master` until the container
    /// exits; its exit code.
    pub(crate) async fn attach(self, master: OwnedFd, running: &RunningContainer) -> Result<i32, EngineError> {
        let ended = async {
            match running.wait().await.as_ref() {
                Ok(info) => Ok(info.exit_code),
                Err(e) => Err(EngineError::new(tanto_model::Tiered::tier(e), format!("terminal: {e}"))),
            }
        };
        self.attach_until(master, ended).await
    }

    /// Connects the terminal to the PTY `master` until `ended` resolves (the
    /// process on the PTY's other side has exited); its result.
    pub(crate) async fn attach_until(
        self,
        master: OwnedFd,
        ended: impl std::future::Future<Output = Result<i32, EngineError>>,
    ) -> Result<i32, EngineError> {
        let io = |what: &str, e: std::io::Error| EngineError::internal(format!("terminal: {what}: {e}"));
        let master = std::fs::File::from(master);
        copy_size(&self.tty, &master);
        let saved = rustix::termios::tcgetattr(&self.tty).map_err(|e| io("reading its mode", e.into()))?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&self.tty, rustix::termios::OptionalActions::Now, &raw)
            .map_err(|e| io("setting raw mode", e.into()))?;
        let restore = Restore { tty: self.tty.try_clone().map_err(|e| io("duplicating", e))?, saved };
        let stop = Arc::new(AtomicBool::new(false));

        // container -> user: ends when the PTY's last slave closes (EIO).
        let (mut from, mut to) = (
            master.try_clone().map_err(|e| io("duplicating", e))?,
            self.tty.try_clone().map_err(|e| io("duplicating", e))?,
        );
        let output = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                    break;
                }
            }
        });
        // user -> container: polls so that it can stop when the container has exited.
        let (mut from, mut to) = (
            self.tty.try_clone().map_err(|e| io("duplicating", e))?,
            master.try_clone().map_err(|e| io("duplicating", e))?,
        );
        let stopped = stop.clone();
        let input = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Acquire) {
                let mut fds = [rustix::event::PollFd::new(&from, rustix::event::PollFlags::IN)];
                let tick = rustix::event::Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
                match rustix::event::poll(&mut fds, Some(&tick)) {
                    Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                    Ok(_) => {}
                    Err(_) => break,
                }
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        // The size follows the user's window.
        let resize = {
            let (tty, master) = (self.tty.try_clone().map_err(|e| io("duplicating", e))?, master);
            tokio::spawn(async move {
                let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                else {
                    return;
                };
                while winch.recv().await.is_some() {
                    copy_size(&tty, &master);
                }
            })
        };
        let ended = ended.await;
        resize.abort();
        stop.store(true, Ordering::Release);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = input.join();
            let _ = output.join();
        })
        .await;
        drop(restore);
        let mut tty = self.tty;
        let _ = tty.write_all(b"\r\n");
        ended
    }
}

/// Gives `to` (the PTY) the size of `from` (the user's terminal).
fn copy_size(from: &impl AsFd, to: &impl AsFd) {
    if let Ok(size) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, size);
    }
}

/// Puts the terminal's mode back, whatever happens.
struct Restore {
    tty: std::fs::File,
    saved: rustix::termios::Termios,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(&self.tty, rustix::termios::OptionalActions::Now, &self.saved);
    }
}
