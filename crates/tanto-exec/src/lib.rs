//! `tanto-exec` runs one process in a container: it turns a [`ProcessSpec`] (a root
//! filesystem description, ordered mounts, argv, env, user, network mode, stdio) into an
//! OCI bundle, runs it with crun or runc, streams and captures the output, and undoes
//! every mount, stub and runtime state afterwards, also when the `run` future is dropped.
//!
//! Invariants: every path taken from the container (cwd, redirects, mount targets, the
//! command, /etc/passwd) is resolved inside the container's root, never through a symlink
//! out of it; nodes created only as mount targets are removed from the writable layer
//! after the run, so committed layers never carry them; bundles live on tmpfs because
//! `config.json` holds the environment (secrets included); rlimits are never raised; no
//! mount outlives a run. All kernel calls live in the private `sys` module; resolving
//! inside a root and reading users and groups are tanto-fs's (`Root`, `passwd`).
//!
//! When the host has a static init (tini-static, docker-init, catatonit or `$TANTO_INIT`)
//! it is bound read-only at `/dev/init` (inside the container's /dev tmpfs, so the root
//! filesystem never sees it) and runs the command as its child, unless `no_init`.
//!
//! Containers die with their engine: the runtime is started with `PR_SET_PDEATHSIG`
//! (SIGKILL) and the init (tini's `-p SIGKILL`) dies with the runtime, taking the
//! container's PID namespace with it. A container without that init (`no_init`, or
//! catatonit) outlives a killed engine until the next engine's [`Executor::cleanup_stale`].
//! Unless privileged, the process has `no_new_privs` and the default seccomp profile.
//!
//! Networking: the host's namespace, a loopback-only one, or (after
//! [`Executor::enable_bridge`]) a namespace of its own on the executor's bridge with NAT
//! to the outside, made on a side thread while the bundle is prepared (see [`net`]).
//! [`Executor::start`] runs a container in the background (services) and hands out its
//! address, output and stop/kill.
//!
//! It must not depend on cache refs, images, the solver or GraphQL: it only sees
//! directories and mount lists. It needs root and an OCI runtime binary at run time.

pub mod binfmt;
pub mod cdi;
mod cleanup;
mod error;
mod lookup;
pub mod net;
pub mod probe;
mod run;
mod running;
mod runtime;
mod seccomp;
mod spec;
mod sys;
mod user;
pub mod userns;
mod view;

use std::fmt;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use error::ExecError;
pub use lookup::DEFAULT_PATH;
use running::OutputTail;
pub use running::{Exited, RunningContainer};

/// Which OCI runtime binary to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeKind {
    /// crun when it is installed and usable here, runc otherwise.
    #[default]
    Auto,
    Crun,
    Runc,
}

/// How an [`Executor`] is set up.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    pub runtime: RuntimeKind,
    /// Bundles and runtime state. Must be tmpfs (`config.json` holds secrets): a private
    /// tmpfs is mounted here when it is not.
    pub run_dir: PathBuf,
}

/// The network a container gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Network {
    /// Share the host's network namespace; the host's /etc/resolv.conf is bound in.
    Host,
    /// An own network namespace with only `lo`.
    #[default]
    Loopback,
    /// An own network namespace on the executor's bridge (see
    /// [`Executor::enable_bridge`]): `lo`, `eth0` with an address of the bridge's block,
    /// a default route with NAT to the outside, and the host's name servers.
    Bridge,
}

/// The root filesystem of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rootfs {
    /// Overlay of `lowers` (topmost first, may be empty) under a writable `upper`.
    Overlay { lowers: Vec<PathBuf>, upper: PathBuf, work: PathBuf },
    /// A writable directory used as is.
    Dir(PathBuf),
}

/// One mount, made after the root filesystem and the system mounts, in list order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Absolute container path.
    pub target: String,
    pub source: MountSource,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A host file or directory.
    Bind { path: PathBuf, readonly: bool },
    /// Overlay of `lowers` (topmost first); `upper` = `(upper, work)`, `None` = read-only.
    Overlay { lowers: Vec<PathBuf>, upper: Option<(PathBuf, PathBuf)> },
    /// A fresh tmpfs, optionally limited to `size` bytes.
    Tmpfs { size: Option<u64> },
}

/// What to run.
#[derive(Clone)]
pub struct ProcessSpec {
    pub rootfs: Rootfs,
    /// argv; `args[0]` is looked up in the container's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// `K=V` entries. `PATH` defaults to [`DEFAULT_PATH`], `HOME` to the user's home.
    pub env: Vec<String>,
    /// Absolute container path; created (root, 0755) when missing. Empty means `/`.
    pub cwd: String,
    /// `""` (root), `name`, `uid`, `name:group`, `uid:gid`.
    pub user: String,
    pub mounts: Vec<Mount>,
    /// Empty: derived from the container id.
    pub hostname: String,
    pub network: Network,
    /// Extra `/etc/hosts` entries.
    pub extra_hosts: Vec<(String, IpAddr)>,
    pub stdin: Option<Vec<u8>>,
    /// Container path whose contents become stdin.
    pub redirect_stdin: Option<String>,
    /// Container path (relative to `cwd` unless absolute) that receives stdout.
    pub redirect_stdout: Option<String>,
    pub redirect_stderr: Option<String>,
    /// All capabilities, no masked or read-only paths, writable /sys, all devices allowed.
    pub privileged: bool,
    /// Run `args` as PID 1 instead of under the executor's init (see
    /// [`Executor::init_path`]; without one the command is always PID 1).
    pub no_init: bool,
    /// CDI devices (GPUs), resolved with [`cdi::resolve`]: device nodes, cgroup
    /// rules, mounts, env, hooks and extra groups.
    pub cdi: cdi::DeviceEdits,
    /// A TCP listener on the container's loopback, made before the process starts
    /// (nested engine sessions); needs [`Network::Bridge`].
    pub loopback_listener: Option<LoopbackListener>,
    /// A terminal: the runtime makes a PTY, the process's controlling terminal
    /// and stdio, and hands its master over a console socket
    /// ([`RunningContainer::take_terminal`]); output is not captured.
    pub terminal: bool,
}

/// Asks for a TCP listener on `127.0.0.1` inside the container's network namespace:
/// the executor binds it on a free port before the process starts, sets `port_env` to
/// that port in the process's environment, and hands the listener over through
/// [`LoopbackListener::take`]. Only processes in the container can connect.
#[derive(Clone)]
pub struct LoopbackListener {
    pub port_env: String,
    slot: Arc<std::sync::Mutex<Option<std::net::TcpListener>>>,
}

impl LoopbackListener {
    pub fn new(port_env: impl Into<String>) -> LoopbackListener {
        LoopbackListener { port_env: port_env.into(), slot: Default::default() }
    }

    /// The listener, once the container has been started (non-blocking mode).
    pub fn take(&self) -> Option<std::net::TcpListener> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(crate) fn fill(&self, l: std::net::TcpListener) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(l);
    }
}

impl ProcessSpec {
    /// A spec with defaults: root user, cwd `/`, loopback network, no mounts.
    pub fn new(rootfs: Rootfs, args: Vec<String>) -> ProcessSpec {
        ProcessSpec {
            rootfs,
            args,
            env: Vec::new(),
            cwd: "/".to_string(),
            user: String::new(),
            mounts: Vec::new(),
            hostname: String::new(),
            network: Network::Loopback,
            extra_hosts: Vec::new(),
            stdin: None,
            redirect_stdin: None,
            redirect_stdout: None,
            redirect_stderr: None,
            privileged: false,
            no_init: false,
            cdi: cdi::DeviceEdits::default(),
            loopback_listener: None,
            terminal: false,
        }
    }
}

impl fmt::Debug for ProcessSpec {
    /// Environment values and stdin are redacted: they may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|e| e.split('=').next().unwrap_or("")).collect();
        f.debug_struct("ProcessSpec")
            .field("rootfs", &self.rootfs)
            .field("args", &self.args)
            .field("env_keys", &env)
            .field("cwd", &self.cwd)
            .field("user", &self.user)
            .field("mounts", &self.mounts)
            .field("hostname", &self.hostname)
            .field("network", &self.network)
            .field("extra_hosts", &self.extra_hosts)
            .field("stdin_len", &self.stdin.as_ref().map(|s| s.len()))
            .field("redirect_stdin", &self.redirect_stdin)
            .field("redirect_stdout", &self.redirect_stdout)
            .field("redirect_stderr", &self.redirect_stderr)
            .field("privileged", &self.privileged)
            .field("no_init", &self.no_init)
            .field("cdi_devices", &self.cdi.names)
            .field("loopback_listener", &self.loopback_listener.as_ref().map(|l| &l.port_env))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Receives output chunks as they arrive (for progress). Called on the async runtime:
/// keep it cheap.
pub type OutputSink = Arc<dyn Fn(OutputStream, &[u8]) + Send + Sync>;

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit status; 128+N when killed by signal N.
    pub exit_code: i32,
    /// Captured stdout (empty when redirected).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty when redirected).
    pub stderr: Vec<u8>,
    /// stdout and stderr in arrival order.
    pub combined: Vec<u8>,
    /// From the call of [`Executor::run`] to the end of cleanup.
    pub duration: Duration,
}

pub(crate) struct Inner {
    runtime: runtime::Runtime,
    run_dir: PathBuf,
    state_dir: PathBuf,
    caps: u64,
    pid: u32,
    start_time: u64,
    /// Static init binary bound in as PID 1 unless `no_init`.
    init: Option<PathBuf>,
    /// Whether the init takes tini's `-p SIGKILL` (dies with the runtime).
    init_parent_death: bool,
    /// The bridge network, once enabled.
    bridge: std::sync::OnceLock<Arc<net::BridgeNet>>,
}

/// Runs containers. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("runtime", &self.inner.runtime.path)
            .field("run_dir", &self.inner.run_dir)
            .finish()
    }
}

/// Serialises "is run_dir tmpfs? mount one" between executors of this process.
static RUN_DIR_SETUP: Mutex<()> = Mutex::new(());

impl Executor {
    /// Finds the runtime (crun preferred), makes crun usable on hybrid cgroup hosts, and
    /// makes sure `run_dir` exists on tmpfs. Blocking; needs root.
    pub fn new(cfg: ExecutorConfig) -> Result<Executor, ExecError> {
        let runtime = runtime::select(cfg.runtime)?;
        let run_dir = cfg.run_dir;
        {
            let _guard = RUN_DIR_SETUP.lock().unwrap_or_else(|p| p.into_inner());
            std::fs::create_dir_all(&run_dir).map_err(ExecError::io("creating run dir", &run_dir))?;
            if userns::entered() {
                // the user's alone (it may sit in /tmp)
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700));
            }
            let tmpfs = sys::is_tmpfs(&run_dir).map_err(ExecError::io("checking the filesystem of", &run_dir))?;
            if !tmpfs {
                sys::mount_private_tmpfs(&run_dir).map_err(|source| ExecError::Mount {
                    what: "a private tmpfs for bundles".into(),
                    target: run_dir.clone(),
                    source,
                })?;
            }
        }
        let state_dir = run_dir.join("runtime");
        std::fs::create_dir_all(&state_dir).map_err(ExecError::io("creating", &state_dir))?;
        let pid = std::process::id();
        let init = runtime::find_init();
        let inner = Inner {
            runtime,
            run_dir,
            state_dir,
            caps: sys::effective_caps(),
            pid,
            start_time: sys::process_start_time(pid).unwrap_or(0),
            init_parent_death: init.as_deref().is_some_and(runtime::init_takes_parent_death_signal),
            init,
            bridge: std::sync::OnceLock::new(),
        };
        tracing::debug!(runtime = %inner.runtime.path.display(), run_dir = %inner.run_dir.display(), "executor ready");
        Ok(Executor { inner: Arc::new(inner) })
    }

    /// `"crun"` or `"runc"`.
    pub fn runtime_name(&self) -> &str {
        self.inner.runtime.name()
    }

    /// The init run as PID 1 (unless [`ProcessSpec::no_init`]): `$TANTO_INIT`, or a
    /// statically linked tini-static/docker-init/catatonit found on the host. `None`: the
    /// command itself is PID 1.
    pub fn init_path(&self) -> Option<&std::path::Path> {
        self.inner.init.as_deref()
    }

    /// The bundle/state directory.
    pub fn run_dir(&self) -> &std::path::Path {
        &self.inner.run_dir
    }

    /// Runs `spec` to completion. A non-zero exit is `Ok`; errors mean the process could
    /// not be run. Dropping the future kills the container and cleans up in the
    /// background.
    pub async fn run(&self, spec: ProcessSpec, events: Option<OutputSink>) -> Result<ExitInfo, ExecError> {
        let started_at = Instant::now();
        let inner = self.inner.clone();
        let started = tokio::task::spawn_blocking(move || run::start(inner, spec)).await.map_err(join_error)??;
        drive(self.inner.clone(), started, events, started_at).await
    }

    /// Starts `spec` and returns at once: the container keeps running until it exits,
    /// [`RunningContainer::stop`] or [`RunningContainer::kill`] ends it, or the handle is
    /// dropped (which kills it and cleans up in the background). Output goes to
    /// `events` and into a bounded buffer ([`RunningContainer::output`]).
    pub async fn start(&self, spec: ProcessSpec, events: Option<OutputSink>) -> Result<RunningContainer, ExecError> {
        let started_at = Instant::now();
        let inner = self.inner.clone();
        let mut started = tokio::task::spawn_blocking(move || run::start(inner, spec)).await.map_err(join_error)??;
        let (id, ip) = (started.id.clone(), started.ip);
        let terminal = Mutex::new(started.console.take());
        let tail = Arc::new(Mutex::new(OutputTail::default()));
        let sink: OutputSink = {
            let tail = tail.clone();
            Arc::new(move |stream, chunk| {
                tail.lock().unwrap_or_else(|p| p.into_inner()).push(chunk);
                if let Some(events) = &events {
                    events(stream, chunk);
                }
            })
        };
        let (tx, rx) = tokio::sync::watch::channel(None);
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let res = drive(inner, started, Some(sink), started_at).await;
            let _ = tx.send(Some(Arc::new(res)));
        });
        Ok(RunningContainer { id, ip, inner: self.inner.clone(), tail, done: rx, task, terminal })
    }

    /// Enables [`Network::Bridge`] for this executor and cleans up what engines that are
    /// gone left of their networks (see [`net`]). The bridge itself is created at first
    /// use. Blocking; call once.
    ///
    /// Rootless (in a user namespace of our own) the bridge goes in a network namespace
    /// of this executor's, connected by slirp4netns, and its slots are kept under the
    /// run dir.
    pub fn enable_bridge(&self, mut cfg: net::BridgeConfig) -> Result<usize, ExecError> {
        let rootless = userns::entered();
        if rootless && cfg.state_dir == net::BridgeConfig::default().state_dir {
            cfg.state_dir = self.inner.run_dir.join("net");
        }
        std::fs::create_dir_all(&cfg.state_dir).map_err(ExecError::io("creating", &cfg.state_dir))?;
        let bridge = Arc::new(net::BridgeNet::new(cfg, rootless)?);
        let cleaned = bridge.reconcile()?;
        self.inner
            .bridge
            .set(bridge)
            .map_err(|_| ExecError::Internal { message: "the bridge network is already enabled".into() })?;
        Ok(cleaned)
    }

    /// The bridge configuration, when [`Executor::enable_bridge`] was called.
    pub fn bridge_config(&self) -> Option<&net::BridgeConfig> {
        self.inner.bridge.get().map(|b| b.config())
    }

    /// The host's address on the bridge, once the bridge exists.
    pub fn bridge_gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.inner.bridge.get().and_then(|b| b.gateway())
    }

    /// An extra address of the host on the bridge that containers can reach (for
    /// reverse tunnels); removed when dropped. Creates the bridge if needed.
    pub async fn bridge_host_address(&self) -> Result<net::HostAddress, ExecError> {
        let bridge = self.inner.bridge.get().cloned().ok_or_else(|| {
            ExecError::invalid(
                "bridge networking is not enabled on this executor: call `Executor::enable_bridge` first",
            )
        })?;
        tokio::task::spawn_blocking(move || bridge.host_address()).await.map_err(join_error)?
    }

    /// A TCP socket for `addr` on the bridge, not yet connected or bound: made
    /// in the bridge's network namespace when that is not the engine's own
    /// (rootless; a thread enters it), else here.
    async fn bridge_socket(&self, addr: &std::net::SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
        match self.inner.bridge.get().cloned() {
            Some(bridge) if bridge.rootless() => {
                tokio::task::spawn_blocking(move || bridge.socket()).await.map_err(std::io::Error::other)?
            }
            _ if addr.is_ipv6() => tokio::net::TcpSocket::new_v6(),
            _ => tokio::net::TcpSocket::new_v4(),
        }
    }

    /// A TCP connection to `addr` on the bridge (a container's or service's address),
    /// made from the bridge's network namespace (rootless: not the engine's own).
    pub async fn bridge_connect(&self, addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        self.bridge_socket(&addr).await?.connect(addr).await
    }

    /// A TCP listener on `addr`, an address on the bridge (see
    /// [`Executor::bridge_host_address`]), in the bridge's network namespace.
    pub async fn bridge_listen(&self, addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
        let socket = self.bridge_socket(&addr).await?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    }

    /// Removes the bridge, its rules and its slot (see [`net`]); containers still on it
    /// lose their network. Call at shutdown; idempotent.
    pub async fn teardown_network(&self) -> Result<(), ExecError> {
        let Some(bridge) = self.inner.bridge.get().cloned() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || bridge.teardown()).await.map_err(join_error)?
    }

    /// Removes bundles, mounts and runtime state left under `run_dir` by engine processes
    /// that are gone (bundle names carry the owner's pid, an `owner` file its start
    /// time). Returns how many were cleaned. Live engines' containers are left alone.
    pub async fn cleanup_stale(&self) -> Result<usize, ExecError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || cleanup::cleanup_stale(&inner)).await.map_err(join_error)?
    }
}

/// `PID-STARTTIME` of this process: names of files an engine keeps in the run dir
/// start with it, so the next engine can tell a dead owner's from a live one's (see
/// [`owner_alive`]).
pub fn owner_token() -> String {
    let pid = std::process::id();
    format!("{pid}-{}", sys::process_start_time(pid).unwrap_or(0))
}

/// Whether the owner named at the start of `name` (`PID-STARTTIME-...`, see
/// [`owner_token`]; or `PID-...` as older engines named files) is still running.
/// A name without an owner counts as alive (it is left alone).
pub fn owner_alive(name: &str) -> bool {
    let mut parts = name.split('-');
    let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    match parts.next().and_then(|t| t.parse::<u64>().ok()) {
        Some(start) => sys::process_start_time(pid) == Some(start),
        None => sys::pid_exists(pid),
    }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> ExecError {
    ExecError::Internal { message: format!("blocking task failed: {e}") }
}

/// Feeds stdin, captures output, waits for the exit and cleans up.
async fn drive(
    inner: Arc<Inner>,
    started: run::Started,
    events: Option<OutputSink>,
    started_at: Instant,
) -> Result<ExitInfo, ExecError> {
    let t_started = started_at.elapsed();
    let run::Started { mut bundle, stdin, stdout, stderr, pidfd, .. } = started;

    let feed = async {
        if let Some((pipe, data)) = stdin {
            if let Ok(mut tx) = tokio::net::unix::pipe::Sender::from_owned_fd(OwnedFd::from(pipe)) {
                // EPIPE just means the process did not read everything.
                let _ = tx.write_all(&data).await;
            }
        }
    };
    let capture = capture_output(stdout.map(OwnedFd::from), stderr.map(OwnedFd::from), events);
    let ((), captured) = tokio::join!(feed, capture);
    let (out, err, combined) = captured.map_err(ExecError::io("reading the output of", "the container"))?;

    let status = wait_exit(&mut bundle, pidfd).await?;
    let t_exited = started_at.elapsed();
    let logged = tokio::task::spawn_blocking(move || bundle.finish()).await.map_err(join_error)??;
    tracing::debug!(
        runtime = inner.runtime.name(),
        prepare_us = t_started.as_micros() as u64,
        run_us = (t_exited - t_started).as_micros() as u64,
        cleanup_us = (started_at.elapsed() - t_exited).as_micros() as u64,
        "container run timing"
    );
    if let Some(message) = logged {
        return Err(ExecError::Runtime { runtime: inner.runtime.name().to_string(), message });
    }
    use std::os::unix::process::ExitStatusExt;
    let exit_code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1);
    Ok(ExitInfo { exit_code, stdout: out, stderr: err, combined, duration: started_at.elapsed() })
}

type Captured = (Vec<u8>, Vec<u8>, Vec<u8>);

async fn capture_output(
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    sink: Option<OutputSink>,
) -> std::io::Result<Captured> {
    use tokio::net::unix::pipe::Receiver;
    let mut out_rx = stdout.map(Receiver::from_owned_fd).transpose()?;
    let mut err_rx = stderr.map(Receiver::from_owned_fd).transpose()?;
    let (mut out, mut err, mut combined) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf_out = vec![0u8; 64 * 1024];
    let mut buf_err = vec![0u8; 64 * 1024];
    loop {
        // Two pipes lose the interleaving; when both have data, stdout goes
        // first, which keeps `echo out; echo err >&2` in order.
        let (stream, n) = tokio::select! {
            biased;
            r = async { out_rx.as_mut().unwrap().read(&mut buf_out).await }, if out_rx.is_some() => (OutputStream::Stdout, r?),
            r = async { err_rx.as_mut().unwrap().read(&mut buf_err).await }, if err_rx.is_some() => (OutputStream::Stderr, r?),
            else => break,
        };
        let (chunk, dest) = match stream {
            OutputStream::Stdout => (&buf_out[..n], &mut out),
            OutputStream::Stderr => (&buf_err[..n], &mut err),
        };
        if n == 0 {
            match stream {
                OutputStream::Stdout => out_rx = None,
                OutputStream::Stderr => err_rx = None,
            }
            continue;
        }
        dest.extend_from_slice(chunk);
        combined.extend_from_slice(chunk);
        if let Some(sink) = &sink {
            sink(stream, chunk);
        }
    }
    Ok((out, err, combined))
}

async fn wait_exit(bundle: &mut cleanup::Bundle, pidfd: OwnedFd) -> Result<std::process::ExitStatus, ExecError> {
    let afd = sys::async_pidfd(pidfd).map_err(ExecError::io("watching", "the runtime process"))?;
    loop {
        if let Some(status) = bundle.try_wait().map_err(ExecError::io("waiting for", "the runtime process"))? {
            return Ok(status);
        }
        let mut guard = afd.readable().await.map_err(ExecError::io("waiting for", "the runtime process"))?;
        guard.clear_ready();
    }
}
