//! Finding and driving the OCI runtime binary (crun or runc).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::{sys, ExecError, RuntimeKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Crun,
    Runc,
}

#[derive(Clone, Debug)]
pub(crate) struct Runtime {
    pub flavor: Flavor,
    pub path: PathBuf,
}

const SEARCH_DIRS: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// Finds an executable named `name` in `$PATH` and the usual system directories.
pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path_var = std::env::var("PATH").unwrap_or_default();
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(SEARCH_DIRS.iter().copied())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// Whether `path` is a statically linked ELF64 little-endian executable (no `PT_INTERP`),
/// i.e. runnable inside any root filesystem.
pub(crate) fn is_static_elf(path: &Path) -> bool {
    use std::io::Read;
    // Program headers sit near the start of any executable.
    let mut data = Vec::new();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.take(64 * 1024).read_to_end(&mut data).is_err() {
        return false;
    }
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| data.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        data.get(o..o + 4).is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != 3)
    })
}

/// A static init for containers (reaps zombies, forwards signals): `$TANTO_INIT`, else
/// tini-static, docker-init or catatonit when installed and statically linked.
pub(crate) fn find_init() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TANTO_INIT") {
        let p = PathBuf::from(p);
        return is_static_elf(&p).then_some(p);
    }
    ["tini-static", "docker-init", "catatonit"].into_iter().filter_map(find_binary).find(|p| is_static_elf(p))
}

/// Whether `init` takes tini's `-p SIGNAL` (a signal for itself when its parent, the
/// runtime, dies): its `-h` says so. catatonit has no such option.
pub(crate) fn init_takes_parent_death_signal(init: &Path) -> bool {
    let out = Command::new(init).arg("-h").stdin(Stdio::null()).stderr(Stdio::null()).output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("-p SIGNAL"))
}

/// A runtime process to start, and where to send the result.
type SpawnJob = (Command, std::sync::mpsc::SyncSender<std::io::Result<Child>>);

/// Starts `cmd` (the runtime's `run`) so that it is killed when this process dies:
/// `PR_SET_PDEATHSIG` with SIGKILL. The kernel sends that signal when the *thread*
/// that forked the child ends, so every such child is forked by one thread that
/// lives as long as the process, never by a pool thread that may retire while the
/// container runs.
pub(crate) fn spawn_linked(mut cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<SpawnJob>>> = std::sync::OnceLock::new();
    let parent = std::process::id();
    sys::kill_with_parent(&mut cmd, parent);
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        let started = std::thread::Builder::new().name("tanto-exec-spawner".into()).spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        if let Err(e) = started {
            tracing::error!(error = %e, "could not start the runtime spawner thread");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = std::sync::mpsc::sync_channel(1);
    let sent = spawner.lock().unwrap_or_else(|p| p.into_inner()).send((cmd, reply_tx));
    if sent.is_err() {
        return Err(std::io::Error::other("the runtime spawner thread is gone"));
    }
    reply_rx.recv().map_err(|_| std::io::Error::other("the runtime spawner thread is gone"))?
}

/// Serialises the host-wide cgroup fix between executors of this process.
static CGROUP_FIX: Mutex<()> = Mutex::new(());

/// crun 1.8 refuses hybrid cgroup layouts whose v2 hierarchy still has controllers
/// (`cgroups in hybrid mode not supported, drop all controllers from cgroupv2`). Mounting a
/// v1 hierarchy for each such controller (in practice `hugetlb`) empties the v2 list; the
/// kernel keeps the hierarchy until reboot.
pub(crate) fn fix_crun_cgroups() -> Result<(), String> {
    let _guard = CGROUP_FIX.lock().unwrap_or_else(|p| p.into_inner());
    let controllers = sys::hybrid_v2_controllers();
    if controllers.is_empty() {
        return Ok(());
    }
    for c in &controllers {
        if let Err(e) = sys::mount_cgroup_v1(c) {
            if sys::hybrid_v2_controllers().is_empty() {
                // Another process fixed it meanwhile.
                return Ok(());
            }
            return Err(format!(
                "the cgroup v2 hierarchy holds `{}` and mounting a v1 `{c}` hierarchy at `/sys/fs/cgroup/{c}` failed: {e}",
                controllers.join(" ")
            ));
        }
    }
    let left = sys::hybrid_v2_controllers();
    if left.is_empty() {
        tracing::info!(controllers = %controllers.join(","), "mounted v1 cgroup hierarchies so crun accepts the hybrid layout");
        Ok(())
    } else {
        Err(format!("the cgroup v2 hierarchy still holds `{}` after mounting v1 hierarchies", left.join(" ")))
    }
}

/// Picks the runtime for `kind`, applying the crun cgroup fix when crun is chosen.
pub(crate) fn select(kind: RuntimeKind) -> Result<Runtime, ExecError> {
    choose(kind, fix_crun_cgroups)
}

/// Picks the runtime for `kind`; `crun_usable` makes crun usable here (or says
/// why it cannot be).
pub(crate) fn choose(kind: RuntimeKind, crun_usable: impl Fn() -> Result<(), String>) -> Result<Runtime, ExecError> {
    let crun = || find_binary("crun").map(|path| Runtime { flavor: Flavor::Crun, path });
    let runc = || find_binary("runc").map(|path| Runtime { flavor: Flavor::Runc, path });
    match kind {
        RuntimeKind::Crun => {
            let rt = crun().ok_or_else(|| ExecError::RuntimeNotFound { wanted: "`crun`".into() })?;
            crun_usable().map_err(|message| ExecError::RuntimeUnusable { runtime: "crun".into(), message })?;
            Ok(rt)
        }
        RuntimeKind::Runc => runc().ok_or_else(|| ExecError::RuntimeNotFound { wanted: "`runc`".into() }),
        RuntimeKind::Auto => match (crun(), runc()) {
            (Some(c), r) => match crun_usable() {
                Ok(()) => Ok(c),
                Err(message) => match r {
                    Some(r) => {
                        tracing::warn!(%message, "crun is unusable here, falling back to runc");
                        Ok(r)
                    }
                    None => Err(ExecError::RuntimeUnusable { runtime: "crun".into(), message }),
                },
            },
            (None, Some(r)) => Ok(r),
            (None, None) => Err(ExecError::RuntimeNotFound { wanted: "`crun` and `runc`".into() }),
        },
    }
}

impl Runtime {
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Crun => "crun",
            Flavor::Runc => "runc",
        }
    }

    fn base_command(&self, state_root: &Path, log: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env_clear().env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        cmd.arg("--root").arg(state_root);
        if let Some(log) = log {
            match self.flavor {
                Flavor::Crun => {
                    let mut a = std::ffi::OsString::from("--log=file:");
                    a.push(log);
                    cmd.arg(a).arg("--log-format=json");
                }
                Flavor::Runc => {
                    cmd.arg("--log").arg(log).arg("--log-format").arg("json");
                }
            }
        }
        cmd
    }

    /// `<runtime> --root STATE --log LOG run --bundle BUNDLE ID`
    pub fn run_command(
        &self,
        state_root: &Path,
        bundle: &Path,
        id: &str,
        log: &Path,
        console: Option<&Path>,
    ) -> Command {
        let mut cmd = self.base_command(state_root, Some(log));
        cmd.arg("run").arg("--bundle").arg(bundle);
        if let Some(socket) = console {
            cmd.arg("--console-socket").arg(socket);
        }
        cmd.arg(id);
        cmd
    }

    /// `exec` of `args` in the running container `id` with a PTY whose master
    /// the runtime sends over `console` (`--tty --console-socket`).
    pub fn exec_tty_command(&self, state_root: &Path, id: &str, console: &Path, args: &[String]) -> Command {
        let mut cmd = self.base_command(state_root, None);
        // (no `--env`: crun would replace the process environment with it)
        cmd.arg("exec").arg("--tty").arg("--console-socket").arg(console).arg(id).args(args);
        cmd
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the first process of container `id`. A
    /// container that is not running (any more) is not an error.
    pub fn kill(&self, state_root: &Path, id: &str, signal: &str) -> Result<(), ExecError> {
        let out = self
            .base_command(state_root, None)
            .args(["kill", id, signal])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(ExecError::io("running the OCI runtime", &self.path))?;
        if out.status.success() || !state_root.join(id).exists() {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.contains("not running") || message.contains("does not exist") {
            return Ok(());
        }
        Err(ExecError::Runtime { runtime: self.name().to_string(), message: format!("kill {signal}: {message}") })
    }

    /// Kills every process of container `id` and deletes it; errors are ignored (the
    /// container may never have been created).
    pub fn destroy(&self, state_root: &Path, id: &str) {
        for args in [&["kill", "-a", id, "KILL"][..], &["delete", "-f", id][..]] {
            let res = self
                .base_command(state_root, None)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(e) = res {
                tracing::warn!(runtime = self.name(), container = id, error = %e, "could not run the runtime to clean up");
            }
        }
    }

    /// The error the runtime logged, if any (JSON lines with `level` and `msg`).
    pub fn logged_error(&self, log: &str) -> Option<String> {
        let mut errors = Vec::new();
        for line in log.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => {
                    let level = v.get("level").and_then(|l| l.as_str()).unwrap_or("");
                    if matches!(level, "error" | "fatal" | "panic") {
                        if let Some(msg) = v.get("msg").and_then(|m| m.as_str()) {
                            errors.push(msg.trim().to_string());
                        }
                    }
                }
                Err(_) => {
                    if line.contains("error") {
                        errors.push(line.to_string());
                    }
                }
            }
        }
        if errors.is_empty() {
            None
        } else {
            Some(errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_elf_detection() {
        if Path::new("/bin/busybox").exists() {
            assert!(is_static_elf(Path::new("/bin/busybox")));
        }
        assert!(!is_static_elf(Path::new("/bin/sh")), "/bin/sh is dynamically linked on Debian");
        assert!(!is_static_elf(Path::new("/etc/passwd")));
    }

    #[test]
    fn runtime_log_parsing() {
        let rt = Runtime { flavor: Flavor::Runc, path: "/usr/sbin/runc".into() };
        let cases = [
            ("", None),
            ("{\"level\":\"warning\",\"msg\":\"ignored\"}\n", None),
            ("{\"level\":\"error\",\"msg\":\"runc run failed: boom\",\"time\":\"x\"}\n", Some("runc run failed: boom")),
            ("{\"msg\":\"a\",\"level\":\"error\"}\n{\"msg\":\"b\",\"level\":\"error\"}\n", Some("a; b")),
        ];
        for (log, expect) in cases {
            assert_eq!(rt.logged_error(log).as_deref(), expect, "log {log:?}");
        }
    }
}
