//! One container run on the host side: the bundle directory, host-side mounts, mount
//! stubs, stdio redirects, the runtime child, and the cleanup that undoes all of it.
//!
//! All of this is blocking and runs on tokio's blocking pool (or a detached thread when a
//! run is cancelled). [`Cleanup`] owns everything that must be undone; dropping it undoes
//! it, so every early return and every cancellation leaves no mount, bundle or container.

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus, Stdio};
use std::sync::Arc;

use crate::lookup::{self, Lookup};
use crate::spec::{self, SpecInput, SpecMount, SpecMountKind};
use crate::sys::{self, NodeKind};
use crate::user;
use crate::view::{self, normalize, Backing, Stub, View};
use crate::{ExecError, Inner, MountSource, Network, ProcessSpec, Rootfs};

/// Everything to undo after a run; dropping it undoes it (blocking).
pub(crate) struct Cleanup {
    inner: Arc<Inner>,
    id: String,
    dir: PathBuf,
    /// Host mount points we made, in mount order.
    mounts: Vec<PathBuf>,
    /// Nodes created only as mount targets, in creation order.
    stubs: Vec<Stub>,
    /// Overlays we mounted with an upper: (mount point, upper, lowers), to prune the
    /// directories overlayfs copied up only to hold stubs.
    overlays: Vec<(PathBuf, PathBuf, Vec<PathBuf>)>,
    child: Option<Child>,
    /// The network namespace on the bridge, released after the container is gone.
    net: Option<crate::net::Attachment>,
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
}

/// Owns a [`Cleanup`]; when dropped without [`Bundle::finish`] (cancellation) it kills the
/// container and cleans up on a detached thread, never on the async runtime.
pub(crate) struct Bundle {
    cleanup: Option<Cleanup>,
    log: PathBuf,
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

/// Where the init is bound inside the container.
const INIT_PATH: &str = "/dev/init";

fn new_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}-{}", std::process::id(), &u[..16])
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

fn hosts_file(hostname: &str, extra: &[(String, std::net::IpAddr)]) -> String {
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

fn validate(spec: &ProcessSpec) -> Result<(), ExecError> {
    if spec.args.is_empty() || spec.args[0].is_empty() {
        return Err(ExecError::invalid("`args` is empty: give the command to run as its first element"));
    }
    if !spec.cwd.is_empty() && !spec.cwd.starts_with('/') {
        return Err(ExecError::invalid(format!("working directory `{}` must be an absolute path", spec.cwd)));
    }
    for m in &spec.mounts {
        if !m.target.starts_with('/') || normalize(&m.target, "/") == Path::new("/") {
            return Err(ExecError::invalid(format!(
                "mount target `{}` must be an absolute path other than `/`",
                m.target
            )));
        }
    }
    if spec.stdin.is_some() && spec.redirect_stdin.is_some() {
        return Err(ExecError::invalid("`stdin` and `redirect_stdin` are both set: use one"));
    }
    Ok(())
}

/// Prepares the bundle and starts the runtime (blocking).
pub(crate) fn start(inner: Arc<Inner>, mut spec: ProcessSpec) -> Result<Started, ExecError> {
    validate(&spec)?;
    // The network namespace is made on a thread of its own while the bundle is set up.
    let mut pending_net = match spec.network {
        Network::Bridge => Some(
            inner
                .bridge
                .get()
                .ok_or_else(|| {
                    ExecError::invalid(
                        "bridge networking is not enabled on this executor: call `Executor::enable_bridge` first",
                    )
                })?
                .begin_attach()?,
        ),
        _ => None,
    };
    let id = new_id();
    let dir = inner.run_dir.join(&id);
    fs::DirBuilder::new().mode(0o700).create(&dir).map_err(ExecError::io("creating bundle", &dir))?;
    let mut cl = Cleanup {
        inner: inner.clone(),
        id: id.clone(),
        dir: dir.clone(),
        mounts: Vec::new(),
        stubs: Vec::new(),
        overlays: Vec::new(),
        child: None,
        net: None,
    };
    write_file(&dir.join("owner"), format!("{} {}\n", inner.pid, inner.start_time).as_bytes(), 0o600)?;

    // Root filesystem.
    let root = match &spec.rootfs {
        Rootfs::Dir(p) => p.clone(),
        Rootfs::Overlay { lowers, upper, .. } if lowers.is_empty() => upper.clone(),
        Rootfs::Overlay { lowers, upper, work } => {
            let target = dir.join("rootfs");
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

    let mut view = View::new(root.clone());
    let mut spec_mounts: Vec<SpecMount> = Vec::new();
    let stub_err = |t: &Path| ExecError::io("creating mount target", t.to_path_buf());

    // System filesystems: only their mount points can need stubs.
    for (target, ..) in spec::system_mounts(spec.privileged) {
        let target = Path::new(target);
        let (resolved, stubs) = view.ensure(target, NodeKind::Dir, usize::MAX).map_err(stub_err(target))?;
        cl.stubs.extend(stubs);
        view.push(resolved.unwrap_or_else(|| target.to_path_buf()), Backing::Virtual);
    }

    // Generated /etc files.
    let hostname = if spec.hostname.is_empty() { id[id.len() - 12..].to_string() } else { spec.hostname.clone() };
    let mut etc: Vec<(&str, PathBuf)> = Vec::new();
    let hosts = dir.join("hosts");
    write_file(&hosts, hosts_file(&hostname, &spec.extra_hosts).as_bytes(), 0o644)?;
    etc.push(("/etc/hosts", hosts));
    let hostname_file = dir.join("hostname");
    write_file(&hostname_file, format!("{hostname}\n").as_bytes(), 0o644)?;
    etc.push(("/etc/hostname", hostname_file));
    match spec.network {
        Network::Host => {
            if let Ok(data) = fs::read("/etc/resolv.conf") {
                let resolv = dir.join("resolv.conf");
                write_file(&resolv, &data, 0o644)?;
                etc.push(("/etc/resolv.conf", resolv));
            }
        }
        Network::Bridge => {
            let pending = pending_net.take().expect("begun above for a bridge network");
            cl.net = Some(pending.finish()?);
            let resolv = dir.join("resolv.conf");
            write_file(&resolv, &crate::net::resolv_conf(), 0o644)?;
            etc.push(("/etc/resolv.conf", resolv));
        }
        Network::Loopback => {}
    }
    for (target, source) in etc {
        let target = Path::new(target);
        let (resolved, stubs) = view.ensure(target, NodeKind::File, usize::MAX).map_err(stub_err(target))?;
        cl.stubs.extend(stubs);
        let target = resolved.unwrap_or_else(|| target.to_path_buf());
        view.push(target.clone(), Backing::Host { base: source.clone(), writable: false });
        spec_mounts.push(SpecMount { target, kind: SpecMountKind::Bind { source, readonly: false } });
    }

    // Working directory, when it lives in the root filesystem: created there and kept.
    let cwd = normalize(if spec.cwd.is_empty() { "/" } else { &spec.cwd }, "/");
    let cwd_in_mount = spec.mounts.iter().any(|m| cwd.starts_with(normalize(&m.target, "/")));
    let ensure_cwd = |view: &View| -> Result<(), ExecError> {
        view.ensure(&cwd, NodeKind::Dir, usize::MAX).map_err(ExecError::io("creating working directory", &cwd))?;
        Ok(())
    };
    if !cwd_in_mount {
        ensure_cwd(&view)?;
    }

    // The init, inside the /dev tmpfs (no stub in the root filesystem).
    let use_init = !spec.no_init && inner.init.is_some();
    if let (true, Some(init)) = (use_init, &inner.init) {
        let target = PathBuf::from(INIT_PATH);
        view.push(target.clone(), Backing::Host { base: init.clone(), writable: false });
        spec_mounts.push(SpecMount { target, kind: SpecMountKind::Bind { source: init.clone(), readonly: true } });
    }

    // Mounts of CDI devices (before the caller's, so theirs can go on top),
    // parents before children.
    let mut cdi_mounts: Vec<&crate::cdi::ResolvedMount> = spec.cdi.mounts.iter().collect();
    cdi_mounts.sort_by_key(|m| Path::new(&m.target).components().count());
    for m in cdi_mounts {
        let target = normalize(&m.target, "/");
        let (backing, node) = if m.is_bind() {
            let meta = fs::metadata(&m.source).map_err(|e| {
                ExecError::invalid(format!(
                    "cdi devices {}: the mount source `{}` for `{}` is not usable on the host ({e}); is the driver installed? regenerate the spec",
                    spec.cdi.names.join(", "),
                    m.source.display(),
                    m.target
                ))
            })?;
            let node = if meta.is_dir() { NodeKind::Dir } else { NodeKind::File };
            (Backing::Host { base: m.source.clone(), writable: !m.readonly() }, node)
        } else {
            (Backing::Virtual, NodeKind::Dir)
        };
        let (resolved, stubs) = view.ensure(&target, node, usize::MAX).map_err(stub_err(&target))?;
        cl.stubs.extend(stubs);
        let target = resolved.unwrap_or(target);
        view.push(target.clone(), backing);
        spec_mounts.push(SpecMount {
            target,
            kind: SpecMountKind::Raw { typ: m.typ.clone(), source: m.source.clone(), options: m.options.clone() },
        });
    }

    // The caller's mounts, in order.
    for (i, m) in spec.mounts.iter().enumerate() {
        let target = normalize(&m.target, "/");
        let (kind, backing, node) = match &m.source {
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
                    let host = dir.join(format!("m{i}"));
                    fs::create_dir(&host).map_err(ExecError::io("creating", &host))?;
                    let uw = upper.as_ref().map(|(u, w)| (u.as_path(), w.as_path()));
                    sys::mount_overlay(&host, lowers, uw).map_err(|source| ExecError::Mount {
                        what: format!("an overlay ({} lowers) for `{}`", lowers.len(), m.target),
                        target: host.clone(),
                        source,
                    })?;
                    cl.mounts.push(host.clone());
                    if let Some((u, _)) = upper {
                        cl.overlays.push((host.clone(), u.clone(), lowers.to_vec()));
                    }
                    (
                        SpecMountKind::Bind { source: host.clone(), readonly: upper.is_none() },
                        Backing::Host { base: host, writable: upper.is_some() },
                        NodeKind::Dir,
                    )
                }
            },
            MountSource::Tmpfs { size } => (SpecMountKind::Tmpfs { size: *size }, Backing::Virtual, NodeKind::Dir),
        };
        let (resolved, stubs) = view.ensure(&target, node, usize::MAX).map_err(stub_err(&target))?;
        cl.stubs.extend(stubs);
        let target = resolved.unwrap_or(target);
        view.push(target.clone(), backing);
        spec_mounts.push(SpecMount { target, kind });
    }
    if cwd_in_mount {
        ensure_cwd(&view)?;
    }

    // Identity.
    let read_etc = |path: &str| -> Result<Option<String>, ExecError> {
        let p = Path::new(path);
        match view.host_location(p) {
            Ok(Some((base, rel))) => sys::read_in_root(&base, &rel, 16 << 20)
                .map(|o| o.map(|b| String::from_utf8_lossy(&b).into_owned()))
                .map_err(ExecError::io("reading the container's", p)),
            Ok(None) | Err(_) => Ok(None),
        }
    };
    let passwd = read_etc("/etc/passwd")?;
    let group = read_etc("/etc/group")?;
    let user = user::resolve_user(&spec.user, passwd.as_deref(), group.as_deref())?;

    let mut env = std::mem::take(&mut spec.env);
    crate::cdi::merge_env(&mut env, &spec.cdi.env);
    let search_path = lookup::path_of(&env).map(str::to_string);
    if search_path.is_none() {
        env.push(format!("PATH={}", lookup::DEFAULT_PATH));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let search_path = search_path.unwrap_or_else(|| lookup::DEFAULT_PATH.to_string());
    let cwd_str = cwd.to_string_lossy().into_owned();
    if lookup::find_command(&view, &spec.args[0], &search_path, &cwd_str) == Lookup::NotFound {
        return Err(ExecError::CommandNotFound { cmd: spec.args[0].clone(), search_path });
    }

    // Redirects, opened inside the container's filesystems.
    let open_redirect = |path: &str, write: bool| -> Result<fs::File, ExecError> {
        let cpath = normalize(path, &cwd_str);
        let loc = view.host_location(&cpath).map_err(ExecError::io("opening redirect", &cpath))?;
        let Some((base, rel)) = loc else {
            return Err(ExecError::invalid(format!(
                "redirect `{path}` points into a filesystem that only exists inside the container (tmpfs, /proc, /dev)"
            )));
        };
        sys::open_redirect(&base, &rel, write, (user.uid, user.gid)).map_err(ExecError::io("opening redirect", &cpath))
    };
    let stdin_file = spec.redirect_stdin.as_deref().map(|p| open_redirect(p, false)).transpose()?;
    let stdout_file = spec.redirect_stdout.as_deref().map(|p| open_redirect(p, true)).transpose()?;
    let stderr_file = spec.redirect_stderr.as_deref().map(|p| open_redirect(p, true)).transpose()?;

    let args: Vec<String> = if use_init {
        [INIT_PATH.to_string(), "--".to_string()].into_iter().chain(spec.args.iter().cloned()).collect()
    } else {
        spec.args.clone()
    };

    // config.json (mode 0600 on tmpfs: it holds the environment, secrets included).
    let config = spec::build(&SpecInput {
        root: &root,
        args: &args,
        env: &env,
        cwd: &cwd_str,
        user: &user,
        hostname: &hostname,
        network: &spec.network,
        netns: cl.net.as_ref().map(|n| n.netns_path()).as_deref(),
        privileged: spec.privileged,
        available_caps: inner.caps,
        mounts: &spec_mounts,
        devices: &if spec.privileged { sys::host_devices() } else { Vec::new() },
        cdi: &spec.cdi,
    })?;
    let json = serde_json::to_vec(&config)
        .map_err(|e| ExecError::Internal { message: format!("serialising config.json: {e}") })?;
    write_file(&dir.join("config.json"), &json, 0o600)?;

    // Start the runtime.
    let log = dir.join("runtime.log");
    let mut cmd = inner.runtime.run_command(&inner.state_dir, &dir, &id, &log);
    let stdin_bytes = spec.stdin.take();
    cmd.stdin(match (&stdin_file, &stdin_bytes) {
        (Some(f), _) => Stdio::from(f.try_clone().map_err(ExecError::io("duplicating", "stdin redirect"))?),
        (None, Some(_)) => Stdio::piped(),
        (None, None) => Stdio::null(),
    });
    cmd.stdout(match stdout_file {
        Some(f) => Stdio::from(f),
        None => Stdio::piped(),
    });
    cmd.stderr(match stderr_file {
        Some(f) => Stdio::from(f),
        None => Stdio::piped(),
    });
    let mut child = cmd.spawn().map_err(ExecError::io("starting the OCI runtime", &inner.runtime.path))?;
    drop(stdin_file);
    let pidfd = sys::pidfd_open(child.id());
    let stdin = child.stdin.take().map(|s| (s, stdin_bytes.unwrap_or_default()));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let ip = cl.net.as_ref().map(|n| n.ip());
    cl.child = Some(child);
    let pidfd = pidfd.map_err(ExecError::io("opening a pidfd for", &inner.runtime.path))?;
    tracing::debug!(container = %id, runtime = inner.runtime.name(), "container started");
    Ok(Started { id, ip, bundle: Bundle { cleanup: Some(cl), log }, stdin, stdout, stderr, pidfd })
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
        let id = new_id();
        assert_eq!(owner_pid(&id), Some(std::process::id()));
    }

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
