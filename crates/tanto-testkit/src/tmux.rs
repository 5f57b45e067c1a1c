//! A real terminal for tests: a `tmux` server of the test's own (its own
//! socket), one pane running a shell command, read with `capture-pane` and
//! typed into with `send-keys`. The server is killed when dropped.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server named after the process and `name` (nothing runs yet).
    pub fn new(name: &str) -> Tmux {
        Tmux { socket: format!("tanto-test-{}-{name}", std::process::id()) }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Starts `script` (a shell command) in a `cols`x`rows` pane; when it ends
    /// the pane shows `EXIT=<code>` and stays.
    pub fn start(&self, script: &str, cols: u16, rows: u16) {
        let status = self
            .cmd()
            .args(["new-session", "-d", "-s", "t", "-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(format!("{script}; echo EXIT=$?; sleep 600"))
            .status()
            .expect("starting tmux");
        assert!(status.success(), "tmux new-session failed");
    }

    /// The screen and its scrollback, with escape sequences when `escapes`.
    pub fn capture(&self, escapes: bool) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p", "-t", "t", "-S", "-200"]);
        if escapes {
            c.arg("-e");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names: `Enter`, `C-c`, or literal text).
    pub fn send_keys(&self, keys: &[&str]) {
        let status = self.cmd().args(["send-keys", "-t", "t"]).args(keys).status().expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys failed");
    }

    /// Resizes the window.
    pub fn resize(&self, cols: u16, rows: u16) {
        let _ =
            self.cmd().args(["resize-window", "-t", "t", "-x", &cols.to_string(), "-y", &rows.to_string()]).status();
    }

    /// Waits until the screen satisfies `ok`: the screen, or the last one seen.
    pub fn wait_for(&self, within: Duration, ok: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.capture(false);
            if ok(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
