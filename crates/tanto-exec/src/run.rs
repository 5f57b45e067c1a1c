//! One container run on the host side: [`start`] builds the bundle — the root
//! filesystem, mounts and their stubs, generated `/etc` files, the user, the
//! environment, stdio redirects and `config.json` — one step per method of
//! [`BundleBuilder`], then starts the runtime.
//!
//! All of this is blocking and runs on tokio's blocking pool. Everything made on the host
//! is recorded in a [`Cleanup`] as it is made; dropping it undoes it, so every early
//! return and every cancellation leaves no mount, bundle or container (see `cleanup`).

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Stdio};
use std::sync::Arc;

use crate::cdi::DeviceEdits;
use crate::cleanup::{Bundle, Cleanup};
use crate::lookup::{self, Lookup};
use crate::net::PendingAttachment;
use crate::spec::{self, SpecInput, SpecMount, SpecMountKind};
use crate::sys::{self, NodeKind};
use crate::user::{self, ExecUser};
use crate::view::{normalize, Backing, View};
use crate::{ExecError, Inner, Mount, MountSource, Network, ProcessSpec, Rootfs};

mod validate;
use validate::validate;

/// A started container: the runtime child plus its stdio.
pub(crate) struct Started {
    pub id: String,
    /// The container's address on the bridge.
    pub ip: Option<std::net::Ipv4Addr>,
    pub bundle: Bundle,
    pub stdin: Option<(ChildStdin, Vec<u8>)>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    pub pidfd: OwnedFd,
    /// The PTY master of a terminal container.
    pub console: Option<OwnedFd>,
}

/// Where the init is bound inside the container.
const INIT_PATH: &str = "/dev/init";

pub(crate) fn new_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}-{}", std::process::id(), &u[..16])
}

fn hosts_file(hostname: &str, extra: &[(String, IpAddr)]) -> String {
    let mut s = String::new();
    if hostname.is_empty() || hostname == "localhost" {
        s.push_str("127.0.0.1\tlocalhost\n");
    } else {
        s.push_str(&format!("127.0.0.1\tlocalhost {hostname}\n"));
    }
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), ExecError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(ExecError::io("writing", path))?;
    f.write_all(data).map_err(ExecError::io("writing", path))
}

/// Prepares the bundle and starts the runtime (blocking).
pub(crate) fn start(inner: Arc<Inner>, mut spec: ProcessSpec) -> Result<Started, ExecError> {
    validate(&spec)?;
    // The network namespace is made on a thread of its own while the bundle is set up.
    let pending_net = begin_network(&inner, &spec.network)?;
    let mut cl = new_bundle(&inner)?;
    let root = mount_rootfs(&spec.rootfs, &mut cl)?;
    let mut b = BundleBuilder { inner, view: View::new(root.clone()), root, cl, mounts: Vec::new() };

    b.system_mounts(spec.privileged)?;
    let hostname =
        if spec.hostname.is_empty() { b.cl.id[b.cl.id.len() - 12..].to_string() } else { spec.hostname.clone() };
    b.etc_files(&hostname, &spec.extra_hosts, &spec.network, pending_net)?;
    if let Some(req) = &spec.loopback_listener {
        let port = b.loopback_listener(req)?;
        spec.env.push(format!("{}={port}", req.port_env));
    }
    // The working directory, when it lives in the root filesystem: created there and kept.
    let cwd = normalize(if spec.cwd.is_empty() { "/" } else { &spec.cwd }, "/");
    let cwd_in_mount = spec.mounts.iter().any(|m| cwd.starts_with(normalize(&m.target, "/")));
    if !cwd_in_mount {
        b.workdir(&cwd)?;
    }
    let use_init = b.init(spec.no_init);
    b.cdi_mounts(&spec.cdi)?;
    b.user_mounts(&spec.mounts)?;
    if cwd_in_mount {
        b.workdir(&cwd)?;
    }
    let user = b.user(&spec.user)?;
    let cwd = cwd.to_string_lossy().into_owned();
    if spec.terminal && !spec.env.iter().any(|e| e.starts_with("TERM=")) {
        // A terminal wants a TERM (as Dagger sets for interactive execs).
        spec.env.push("TERM=xterm".into());
    }
    let env = b.env(std::mem::take(&mut spec.env), &spec.cdi, &user, &spec.args[0], &cwd)?;
    let stdio = b.redirects(&spec, &cwd, &user)?;
    let args: Vec<String> = if use_init {
        // The init dies with the runtime (and the runtime with the engine), taking the
        // container's processes with it when the engine is killed.
        let link: &[&str] = if b.inner.init_parent_death { &["-p", "SIGKILL"] } else { &[] };
        std::iter::once(INIT_PATH)
            .chain(link.iter().copied())
            .chain(std::iter::once("--"))
            .map(str::to_string)
            .chain(spec.args.iter().cloned())
            .collect()
    } else {
        spec.args.clone()
    };
    b.config(&spec, &args, &env, &cwd, &user, &hostname)?;
    b.spawn(stdio, spec.stdin.take(), spec.terminal)
}

/// The PTY master the runtime sends over the console socket (`--console-socket`):
/// one message whose ancillary data holds the descriptor.
/// `gone` says when the runtime has exited (then nothing will come).
pub(crate) fn receive_console(
    listener: &std::os::unix::net::UnixListener,
    path: &Path,
    mut gone: impl FnMut() -> bool,
) -> Result<OwnedFd, ExecError> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let io = |e: std::io::Error| ExecError::io("receiving the terminal from the runtime over", path)(e);
    // The runtime connects once the container is created (or exits on failure).
    listener.set_nonblocking(true).map_err(io)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline => {
                if gone() {
                    return Err(ExecError::invalid("the runtime exited before it made the terminal (see its log)"));
                }
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => return Err(io(e)),
        }
    };
    stream.set_nonblocking(false).map_err(io)?;
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 4096];
    rustix::net::recvmsg(&stream, &mut [std::io::IoSliceMut::new(&mut name)], &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| io(e.into()))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(ExecError::Internal { message: "the runtime sent no terminal over the console socket".into() })
}

/// Starts attaching a network namespace to the bridge, for [`Network::Bridge`].
fn begin_network(inner: &Inner, network: &Network) -> Result<Option<PendingAttachment>, ExecError> {
    match network {
        Network::Bridge => Ok(Some(
            inner
                .bridge
                .get()
                .ok_or_else(|| {
                    ExecError::invalid(
                        "bridge networking is not enabled on this executor: call `Executor::enable_bridge` first",
                    )
                })?
                .begin_attach()?,
        )),
        _ => Ok(None),
    }
}

/// A new bundle directory (mode 0700) with its `owner` file (pid and start time).
fn new_bundle(inner: &Arc<Inner>) -> Result<Cleanup, ExecError> {
    let id = new_id();
    let dir = inner.run_dir.join(&id);
    fs::DirBuilder::new().mode(0o700).create(&dir).map_err(ExecError::io("creating bundle", &dir))?;
    let cl = Cleanup {
        inner: inner.clone(),
        id,
        dir: dir.clone(),
        mounts: Vec::new(),
        stubs: Vec::new(),
        overlays: Vec::new(),
        child: None,
        net: None,
    };
    write_file(&dir.join("owner"), format!("{} {}\n", inner.pid, inner.start_time).as_bytes(), 0o600)?;
    Ok(cl)
}

/// The root filesystem on the host: a directory, or an overlay mounted in the bundle.
fn mount_rootfs(rootfs: &Rootfs, cl: &mut Cleanup) -> Result<PathBuf, ExecError> {
    let root = match rootfs {
        Rootfs::Dir(p) => p.clone(),
        Rootfs::Overlay { lowers, upper, .. } if lowers.is_empty() => upper.clone(),
        Rootfs::Overlay { lowers, upper, work } => {
            let target = cl.dir.join("rootfs");
            fs::create_dir(&target).map_err(ExecError::io("creating", &target))?;
            sys::mount_overlay(&target, lowers, Some((upper, work))).map_err(|source| ExecError::Mount {
                what: format!("the root overlay ({} lowers, upper `{}`)", lowers.len(), upper.display()),
                target: target.clone(),
                source,
            })?;
            cl.mounts.push(target.clone());
            cl.overlays.push((target.clone(), upper.clone(), lowers.clone()));
            target
        }
    };
    if !root.is_dir() {
        return Err(ExecError::Io {
            action: "using root filesystem".into(),
            path: root,
            source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        });
    }
    Ok(root)
}

/// Redirected stdio, opened inside the container's filesystems.
struct Redirects {
    stdin: Option<fs::File>,
    stdout: Option<fs::File>,
    stderr: Option<fs::File>,
}

/// A bundle being built: what to undo, the container's filesystem as the process will
/// see it (to resolve paths inside it, never through a symlink out of it), and the
/// mounts of `config.json` after the system ones, in order.
struct BundleBuilder {
    inner: Arc<Inner>,
    cl: Cleanup,
    /// The root filesystem on the host.
    root: PathBuf,
    view: View,
    mounts: Vec<SpecMount>,
}

impl BundleBuilder {
    /// Makes `target` exist in the container's filesystem as `node` (creating stubs
    /// where needed, recorded for removal) and records what will be mounted there.
    /// Returns the target with symlinks inside the container resolved.
    fn place(&mut self, target: &Path, node: NodeKind, backing: Backing) -> Result<PathBuf, ExecError> {
        let (resolved, stubs) = self
            .view
            .ensure(target, node, usize::MAX)
            .map_err(ExecError::io("creating mount target", target.to_path_buf()))?;
        self.cl.stubs.extend(stubs);
        let target = resolved.unwrap_or_else(|| target.to_path_buf());
        self.view.push(target.clone(), backing);
        Ok(target)
    }

    /// The filesystems the runtime mounts itself (/proc, /dev ...): only their mount
    /// points can need stubs.
    fn system_mounts(&mut self, privileged: bool) -> Result<(), ExecError> {
        for (target, ..) in spec::system_mounts(privileged) {
            self.place(Path::new(target), NodeKind::Dir, Backing::Virtual)?;
        }
        Ok(())
    }

    /// Generated `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` (the host's, or the
    /// bridge's name servers once the namespace is attached), bound in.
    fn etc_files(
        &mut self,
        hostname: &str,
        extra_hosts: &[(String, IpAddr)],
        network: &Network,
        pending_net: Option<PendingAttachment>,
    ) -> Result<(), ExecError> {
        let dir = self.cl.dir.clone();
        let mut etc: Vec<(&str, PathBuf)> = Vec::new();
        let hosts = dir.join("hosts");
        write_file(&hosts, hosts_file(hostname, extra_hosts).as_bytes(), 0o644)?;
        etc.push(("/etc/hosts", hosts));
        let hostname_file = dir.join("hostname");
        write_file(&hostname_file, format!("{hostname}\n").as_bytes(), 0o644)?;
        etc.push(("/etc/hostname", hostname_file));
        match network {
            Network::Host => {
                if let Ok(data) = fs::read("/etc/resolv.conf") {
                    let resolv = dir.join("resolv.conf");
                    write_file(&resolv, &data, 0o644)?;
                    etc.push(("/etc/resolv.conf", resolv));
                }
            }
            Network::Bridge => {
                let pending = pending_net.expect("begun for a bridge network");
                self.cl.net = Some(pending.finish()?);
                let resolv = dir.join("resolv.conf");
                write_file(&resolv, &crate::net::resolv_conf(), 0o644)?;
                etc.push(("/etc/resolv.conf", resolv));
            }
            Network::Loopback => {}
        }
        for (target, source) in etc {
            let backing = Backing::Host { base: source.clone(), writable: false };
            let target = self.place(Path::new(target), NodeKind::File, backing)?;
            self.mounts.push(SpecMount { target, kind: SpecMountKind::Bind { source, readonly: false } });
        }
        Ok(())
    }

    /// Binds the requested loopback listener in the container's namespace; returns its port.
    fn loopback_listener(&self, req: &crate::LoopbackListener) -> Result<u16, ExecError> {
        let net = self.cl.net.as_ref().ok_or_else(|| {
            ExecError::invalid("a listener in the container needs bridge networking, which is off in this engine")
        })?;
        let l = net.listen_loopback().map_err(|e| ExecError::io("binding a listener in the container", "lo")(e))?;
        let port = l.local_addr().map_err(|e| ExecError::io("binding a listener in the container", "lo")(e))?.port();
        req.fill(l);
        Ok(port)
    }

    /// Creates the working directory (root, 0755) where it is missing.
    fn workdir(&self, cwd: &Path) -> Result<(), ExecError> {
        self.view.ensure(cwd, NodeKind::Dir, usize::MAX).map_err(ExecError::io("creating working directory", cwd))?;
        Ok(())
    }

    /// Binds the executor's init inside the /dev tmpfs (no stub in the root filesystem),
    /// unless `no_init` or there is none. Returns whether it runs the command.
    fn init(&mut self, no_init: bool) -> bool {
        let Some(init) = self.inner.init.clone().filter(|_| !no_init) else {
            return false;
        };
        let target = PathBuf::from(INIT_PATH);
        self.view.push(target.clone(), Backing::Host { base: init.clone(), writable: false });
        self.mounts.push(SpecMount { target, kind: SpecMountKind::Bind { source: init, readonly: true } });
        true
    }

    /// The mounts of CDI devices (before the caller's, so theirs can go on top), parents
    /// before children.
    fn cdi_mounts(&mut self, cdi: &DeviceEdits) -> Result<(), ExecError> {
        let mut cdi_mounts: Vec<&crate::cdi::ResolvedMount> = cdi.mounts.iter().collect();
        cdi_mounts.sort_by_key(|m| Path::new(&m.target).components().count());
        for m in cdi_mounts {
            let target = normalize(&m.target, "/");
            let (backing, node) = if m.is_bind() {
                let meta = fs::metadata(&m.source).map_err(|e| {
                    ExecError::invalid(format!(
                        "cdi devices {}: the mount source `{}` for `{}` is not usable on the host ({e}); is the driver installed? regenerate the spec",
                        cdi.names.join(", "),
                        m.source.display(),
                        m.target
                    ))
                })?;
                let node = if meta.is_dir() { NodeKind::Dir } else { NodeKind::File };
                (Backing::Host { base: m.source.clone(), writable: !m.readonly() }, node)
            } else {
                (Backing::Virtual, NodeKind::Dir)
            };
            let target = self.place(&target, node, backing)?;
            let kind = SpecMountKind::Raw { typ: m.typ.clone(), source: m.source.clone(), options: m.options.clone() };
            self.mounts.push(SpecMount { target, kind });
        }
        Ok(())
    }

    /// The caller's mounts, in order; overlays of several lowers are mounted in the bundle.
    fn user_mounts(&mut self, mounts: &[Mount]) -> Result<(), ExecError> {
        for (i, m) in mounts.iter().enumerate() {
            let target = normalize(&m.target, "/");
            let (kind, backing, node) = self.user_mount_source(i, m)?;
            let target = self.place(&target, node, backing)?;
            self.mounts.push(SpecMount { target, kind });
        }
        Ok(())
    }

    /// What the `i`th mount binds, how the container sees it, and the node it needs.
    fn user_mount_source(&mut self, i: usize, m: &Mount) -> Result<(SpecMountKind, Backing, NodeKind), ExecError> {
        Ok(match &m.source {
            MountSource::Bind { path, readonly } => {
                let meta = fs::metadata(path).map_err(ExecError::io("reading bind mount source", path))?;
                let node = if meta.is_dir() { NodeKind::Dir } else { NodeKind::File };
                (
                    SpecMountKind::Bind { source: path.clone(), readonly: *readonly },
                    Backing::Host { base: path.clone(), writable: !readonly },
                    node,
                )
            }
            MountSource::Overlay { lowers, upper } => match (lowers.as_slice(), upper) {
                ([], None) => {
                    return Err(ExecError::invalid(format!(
                        "overlay mount at `{}` has neither lowers nor an upper",
                        m.target
                    )))
                }
                ([], Some((upper, _))) => (
                    SpecMountKind::Bind { source: upper.clone(), readonly: false },
                    Backing::Host { base: upper.clone(), writable: true },
                    NodeKind::Dir,
                ),
                ([single], None) => (
                    SpecMountKind::Bind { source: single.clone(), readonly: true },
                    Backing::Host { base: single.clone(), writable: false },
                    NodeKind::Dir,
                ),
                (lowers, upper) => {
                    let host = self.cl.dir.join(format!("m{i}"));
                    fs::create_dir(&host).map_err(ExecError::io("creating", &host))?;
                    let uw = upper.as_ref().map(|(u, w)| (u.as_path(), w.as_path()));
                    sys::mount_overlay(&host, lowers, uw).map_err(|source| ExecError::Mount {
                        what: format!("an overlay ({} lowers) for `{}`", lowers.len(), m.target),
                        target: host.clone(),
                        source,
                    })?;
                    self.cl.mounts.push(host.clone());
                    if let Some((u, _)) = upper {
                        self.cl.overlays.push((host.clone(), u.clone(), lowers.to_vec()));
                    }
                    (
                        SpecMountKind::Bind { source: host.clone(), readonly: upper.is_none() },
                        Backing::Host { base: host, writable: upper.is_some() },
                        NodeKind::Dir,
                    )
                }
            },
            MountSource::Tmpfs { size } => (SpecMountKind::Tmpfs { size: *size }, Backing::Virtual, NodeKind::Dir),
        })
    }

    /// The process's identity: `user` resolved with the container's /etc/passwd and
    /// /etc/group (as mounted).
    fn user(&self, user: &str) -> Result<ExecUser, ExecError> {
        let read_etc = |path: &str| -> Result<Option<String>, ExecError> {
            let p = Path::new(path);
            match self.view.host_location(p) {
                Ok(Some((base, rel))) => sys::read_in_root(&base, &rel, 16 << 20)
                    .map(|o| o.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .map_err(ExecError::io("reading the container's", p)),
                Ok(None) | Err(_) => Ok(None),
            }
        };
        let passwd = read_etc("/etc/passwd")?;
        let group = read_etc("/etc/group")?;
        let mut resolved = user::resolve_user(user, passwd.as_deref(), group.as_deref())?;
        // Rootless with only the user's own ID: no other ID exists here; the
        // groups that do not are left out, a user or group that does not is an error.
        let mapped = tanto_fs::ids::mapped_ids();
        resolved.additional_gids.retain(|g| u64::from(*g) < mapped);
        if let Some(id) = [resolved.uid, resolved.gid].into_iter().find(|id| u64::from(*id) >= mapped) {
            return Err(ExecError::InvalidUser { user: user.to_string(), reason: crate::userns::unmapped(id, mapped) });
        }
        Ok(resolved)
    }

    /// The environment: `env` with the CDI devices' variables, `PATH` and `HOME`
    /// defaulted; fails when `command` is not found on that `PATH`.
    fn env(
        &self,
        mut env: Vec<String>,
        cdi: &DeviceEdits,
        user: &ExecUser,
        command: &str,
        cwd: &str,
    ) -> Result<Vec<String>, ExecError> {
        crate::cdi::merge_env(&mut env, &cdi.env);
        let search_path = lookup::path_of(&env).map(str::to_string);
        if search_path.is_none() {
            env.push(format!("PATH={}", lookup::DEFAULT_PATH));
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", user.home));
        }
        let search_path = search_path.unwrap_or_else(|| lookup::DEFAULT_PATH.to_string());
        if lookup::find_command(&self.view, command, &search_path, cwd) == Lookup::NotFound {
            return Err(ExecError::CommandNotFound { cmd: command.to_string(), search_path });
        }
        Ok(env)
    }

    /// Opens the redirects inside the container's filesystems (relative to `cwd`),
    /// files created owned by `user`.
    fn redirects(&self, spec: &ProcessSpec, cwd: &str, user: &ExecUser) -> Result<Redirects, ExecError> {
        let open = |path: &Option<String>, write: bool| -> Result<Option<fs::File>, ExecError> {
            let Some(path) = path else { return Ok(None) };
            let cpath = normalize(path, cwd);
            let loc = self.view.host_location(&cpath).map_err(ExecError::io("opening redirect", &cpath))?;
            let Some((base, rel)) = loc else {
                return Err(ExecError::invalid(format!(
                    "redirect `{path}` points into a filesystem that only exists inside the container (tmpfs, /proc, /dev)"
                )));
            };
            sys::open_redirect(&base, &rel, write, (user.uid, user.gid))
                .map(Some)
                .map_err(ExecError::io("opening redirect", &cpath))
        };
        Ok(Redirects {
            stdin: open(&spec.redirect_stdin, false)?,
            stdout: open(&spec.redirect_stdout, true)?,
            stderr: open(&spec.redirect_stderr, true)?,
        })
    }

    /// Writes `config.json` (mode 0600 on tmpfs: it holds the environment, secrets
    /// included).
    fn config(
        &self,
        spec: &ProcessSpec,
        args: &[String],
        env: &[String],
        cwd: &str,
        user: &ExecUser,
        hostname: &str,
    ) -> Result<(), ExecError> {
        let config = spec::build(&SpecInput {
            root: &self.root,
            args,
            env,
            cwd,
            user,
            hostname,
            network: &spec.network,
            netns: self.cl.net.as_ref().map(|n| n.netns_path()).as_deref(),
            privileged: spec.privileged,
            available_caps: self.inner.caps,
            mounts: &self.mounts,
            devices: &if spec.privileged { sys::host_devices() } else { Vec::new() },
            cdi: &spec.cdi,
            terminal: spec.terminal,
        })?;
        let json = serde_json::to_vec(&config)
            .map_err(|e| ExecError::Internal { message: format!("serialising config.json: {e}") })?;
        write_file(&self.cl.dir.join("config.json"), &json, 0o600)
    }

    /// Starts the runtime with the container's stdio: redirects, `stdin` bytes through a
    /// pipe, output captured through pipes.
    fn spawn(mut self, stdio: Redirects, stdin_bytes: Option<Vec<u8>>, terminal: bool) -> Result<Started, ExecError> {
        let inner = self.inner.clone();
        let (id, dir) = (self.cl.id.clone(), self.cl.dir.clone());
        let log = dir.join("runtime.log");
        // A terminal: the runtime sends the PTY master it makes over this socket.
        let console = if terminal {
            if inner.runtime.name() == "runc" {
                return Err(ExecError::invalid(
                    "terminals need crun: runc hands over a container's terminal only when detached (install crun, or set TANTO_RUNTIME=crun)",
                ));
            }
            let path = dir.join("console.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path)
                .map_err(ExecError::io("listening on the console socket", &path))?;
            Some((path, listener))
        } else {
            None
        };
        let mut cmd =
            inner.runtime.run_command(&inner.state_dir, &dir, &id, &log, console.as_ref().map(|(p, _)| p.as_path()));
        if terminal {
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        } else {
            cmd.stdin(match (&stdio.stdin, &stdin_bytes) {
                (Some(f), _) => Stdio::from(f.try_clone().map_err(ExecError::io("duplicating", "stdin redirect"))?),
                (None, Some(_)) => Stdio::piped(),
                (None, None) => Stdio::null(),
            });
            cmd.stdout(match stdio.stdout {
                Some(f) => Stdio::from(f),
                None => Stdio::piped(),
            });
            cmd.stderr(match stdio.stderr {
                Some(f) => Stdio::from(f),
                None => Stdio::piped(),
            });
        }
        let mut child = crate::runtime::spawn_linked(cmd)
            .map_err(ExecError::io("starting the OCI runtime", &inner.runtime.path))?;
        drop(stdio.stdin);
        let pidfd = sys::pidfd_open(child.id());
        let stdin = child.stdin.take().map(|s| (s, stdin_bytes.unwrap_or_default()));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let ip = self.cl.net.as_ref().map(|n| n.ip());
        self.cl.child = Some(child);
        let pidfd = pidfd.map_err(ExecError::io("opening a pidfd for", &inner.runtime.path))?;
        let console = match console {
            Some((path, listener)) => {
                let child = self.cl.child.as_mut();
                let mut child = child;
                Some(receive_console(&listener, &path, || {
                    child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
                })?)
            }
            None => None,
        };
        tracing::debug!(container = %id, runtime = inner.runtime.name(), "container started");
        Ok(Started { id, ip, bundle: Bundle { cleanup: Some(self.cl), log }, stdin, stdout, stderr, pidfd, console })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_content() {
        let extra =
            vec![("db".to_string(), "10.0.0.2".parse().unwrap()), ("v6".to_string(), "fd00::1".parse().unwrap())];
        assert_eq!(
            hosts_file("box", &extra),
            "127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\nfd00::1\tv6\n"
        );
        assert_eq!(hosts_file("", &[]), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    }
}
