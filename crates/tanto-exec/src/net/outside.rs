//! Where an executor's bridge lives. As root: the engine's own network
//! namespace, the host's. Rootless: a network namespace the engine makes for its
//! bridge (it may not add links or rules to the host's), connected to the
//! outside by `slirp4netns` — a tap device whose traffic leaves through the
//! user's own sockets — so containers reach the outside through the bridge's
//! masquerade rule as they do as root, and reach each other and their services
//! on the bridge the same way.
//!
//! Everything the bridge code does to "the host side" (netlink, iptables,
//! `/proc/sys/net`) runs through [`Outside::run`], on a thread that has entered
//! that namespace (network namespaces are per thread; processes forked there
//! start in it). The engine's own sockets to container addresses are made the
//! same way ([`Outside::socket`]): a socket keeps the namespace it was made in.
//!
//! Invariants: the namespace lives as long as the engine holds its descriptor
//! (and slirp4netns, which exits when the engine's end of its exit pipe closes,
//! also when the engine is killed); nothing is added to the host's network.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{runtime, sys, ExecError};

/// The name of the tap device slirp4netns makes in the namespace.
pub const TAP: &str = "tap0";
/// The resolver slirp4netns serves on its network (it asks the host's).
pub const SLIRP_DNS: &str = "10.0.2.3";

/// The bridge's outside.
pub(crate) enum Outside {
    /// The engine's own namespace (root).
    Host,
    /// A namespace of the engine's own with slirp4netns (rootless).
    Private(Private),
}

pub(crate) struct Private {
    ns: OwnedFd,
    slirp: Mutex<Child>,
    /// Closing it (also by dying) makes slirp4netns exit.
    _exit: OwnedFd,
}

impl Drop for Private {
    fn drop(&mut self) {
        let mut child = self.slirp.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn net_err(message: impl Into<String>) -> ExecError {
    ExecError::Network { message: message.into() }
}

impl Outside {
    /// A new private namespace connected by slirp4netns. Blocking (tens of ms).
    pub(crate) fn private() -> Result<Outside, ExecError> {
        let slirp = runtime::find_binary("slirp4netns").ok_or_else(|| {
            net_err("rootless networking needs `slirp4netns` (apt-get install slirp4netns); without it containers have no network")
        })?;
        let ns = std::thread::Builder::new()
            .name("tanto-netns".into())
            .spawn(sys::enter_new_netns)
            .map_err(|e| net_err(format!("starting a thread: {e}")))?
            .join()
            .map_err(|_| net_err("the network namespace thread panicked"))?
            .map_err(|e| net_err(format!("making the bridge's network namespace: {e}")))?;
        let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC);
        let (ready_r, ready_w) = pipe().map_err(|e| net_err(format!("making a pipe: {e}")))?;
        let (exit_r, exit_w) = pipe().map_err(|e| net_err(format!("making a pipe: {e}")))?;
        // Fixed descriptor numbers in the child: 3 ready, 4 exit, 5 the namespace.
        let raws = [ready_w.as_raw_fd(), exit_r.as_raw_fd(), ns.as_raw_fd()];
        let mut cmd = Command::new(&slirp);
        cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"])
            .args(["--ready-fd=3", "--exit-fd=4", "--netns-type=path", "/proc/self/fd/5", TAP])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: dup2 and fcntl only, in the forked child; the sources are above
        // 5 or moved there first, so no target overwrites a later source.
        unsafe {
            cmd.pre_exec(move || {
                let mut high = [0; 3];
                for (i, fd) in raws.iter().enumerate() {
                    high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10);
                    if high[i] < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                for (i, fd) in high.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as i32) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child =
            runtime::spawn_linked(cmd).map_err(|e| net_err(format!("starting `{}`: {e}", slirp.display())))?;
        drop((ready_w, exit_r));
        // Ready when it writes to the ready pipe; gone when the pipe closes first.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut ready = std::fs::File::from(ready_r);
        let waited = loop {
            let mut fds = [rustix::event::PollFd::new(&ready, rustix::event::PollFlags::IN)];
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = rustix::event::Timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ };
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(0) => break Err("it did not get ready within 10 s".to_string()),
                Ok(_) => {
                    let mut b = [0u8; 1];
                    break match ready.read(&mut b) {
                        Ok(1) => Ok(()),
                        _ => Err("it exited".to_string()),
                    };
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => break Err(e.to_string()),
            }
        };
        if let Err(why) = waited {
            let _ = child.kill();
            let out = child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string());
            return Err(net_err(format!(
                "slirp4netns did not connect the bridge's namespace ({why}): {}",
                out.unwrap_or_default()
            )));
        }
        // What it says later goes to the engine's log (a full pipe would block it).
        if let Some(err) = child.stderr.take() {
            let _ = std::thread::Builder::new().name("tanto-slirp-log".into()).spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                    tracing::warn!(target: "slirp4netns", "slirp4netns: {line}");
                }
            });
        }
        tracing::debug!(tap = TAP, "rootless network namespace connected by slirp4netns");
        Ok(Outside::Private(Private { ns, slirp: Mutex::new(child), _exit: exit_w }))
    }

    /// Moves the calling thread into the namespace (for threads that end after).
    pub(crate) fn enter(&self) -> io::Result<()> {
        match self {
            Outside::Host => Ok(()),
            Outside::Private(p) => Ok(rustix::thread::move_into_link_name_space(
                p.ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?),
        }
    }

    /// Runs `f` in the namespace: here (root), or on a thread that enters it.
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> Result<T, ExecError> + Send) -> Result<T, ExecError> {
        match self {
            Outside::Host => f(),
            Outside::Private(_) => std::thread::scope(|s| {
                std::thread::Builder::new()
                    .name("tanto-netns-outside".into())
                    .spawn_scoped(s, || {
                        self.enter().map_err(|e| net_err(format!("entering the bridge's network namespace: {e}")))?;
                        f()
                    })
                    .map_err(|e| net_err(format!("starting a thread: {e}")))?
                    .join()
                    .map_err(|_| net_err("a network thread panicked"))?
            }),
        }
    }

    /// A TCP socket (not yet connected or bound) in the namespace, non-blocking.
    pub(crate) fn socket(&self) -> io::Result<tokio::net::TcpSocket> {
        let stream = self
            .run(|| {
                let fd = rustix::net::socket_with(
                    rustix::net::AddressFamily::INET,
                    rustix::net::SocketType::STREAM,
                    rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
                    None,
                )
                .map_err(|e| net_err(format!("making a socket: {e}")))?;
                Ok(std::net::TcpStream::from(fd))
            })
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(tokio::net::TcpSocket::from_std_stream(stream))
    }
}
