//! What an exec needs before it runs, from its [`ExecOp`]: the root filesystem
//! snapshot, the environment (secret values included), one mount source per
//! mount (one function per mount kind), CDI devices and its bound services.
//! Used by execs and by service containers.

use std::sync::Arc;

use tanto_exec::{Mount, MountSource, Network, ProcessSpec, Rootfs};
use tanto_model::{CacheSharing, CacheSource, ExecMount, ExecMountKind, ExecOp, FileAction, FileOp, Op, Owner, Vertex};
use tanto_store::SnapshotId;

use crate::secrets::SecretFile;
use crate::worker::{blocking, input_snapshot, owner_ids, Output, Pending, Worker};
use crate::EngineError;
use tanto_contract::Context as _;
use tanto_fs::{CopyOpts, Filter, Root};

/// A process spec ready to run, and what must live while it runs.
pub(crate) struct ExecSetup {
    pub spec: ProcessSpec,
    pub resources: ExecResources,
}

/// Snapshots (aborted unless committed), views, secret files and service leases of an exec.
pub(crate) struct ExecResources {
    pub pending: Pending,
    pub keep_alive: Vec<Box<dyn Send>>,
    pub secret_files: Vec<SecretFile>,
    pub used_secrets: Vec<Arc<Vec<u8>>>,
    pub services: crate::services::Bound,
}

/// The exec whose mounts are being made.
struct Ctx<'a> {
    vertex: &'a Vertex,
    inputs: &'a [Output],
    /// The root filesystem's input snapshot: owner names resolve with its
    /// `/etc/passwd` and `/etc/group`.
    rootfs: Option<SnapshotId>,
}

impl Ctx<'_> {
    /// The snapshot behind an input (`None`: empty).
    fn snapshot(&self, input: Option<u32>) -> Result<Option<SnapshotId>, EngineError> {
        input.map(|i| input_snapshot(self.vertex, self.inputs, i)).transpose()
    }
}

impl Worker {
    /// Everything `op` (the op of `vertex`) needs before it runs; its bound
    /// services started (their aliases and host names in `/etc/hosts`).
    pub(crate) async fn exec_setup(
        &self,
        vertex: &Vertex,
        op: &ExecOp,
        hostname: &str,
        inputs: &[Output],
    ) -> Result<ExecSetup, EngineError> {
        // another platform's binaries run only through a binfmt_misc handler
        let platform = tanto_oci::platform::Platform::parse(&op.platform)?;
        tanto_exec::binfmt::Binfmt::system().check(&platform.architecture, &op.platform)?;
        let mut res = ExecResources {
            pending: Pending::new(&self.store),
            keep_alive: Vec::new(),
            secret_files: Vec::new(),
            used_secrets: Vec::new(),
            services: Default::default(),
        };
        let cx = Ctx { vertex, inputs, rootfs: op.rootfs.map(|i| input_snapshot(vertex, inputs, i)).transpose()? };
        let rootfs = self.exec_rootfs(cx.rootfs, &mut res)?;
        let env = self.exec_env(op, &mut res).await?;
        let mut mounts = Vec::with_capacity(op.mounts.len());
        for m in &op.mounts {
            let source = self.mount_source(&cx, m, &mut res).await?;
            mounts.push(Mount { target: m.target.clone(), source });
        }
        let cdi = self.cdi_devices(op).await?;
        res.services = self.services.bind(&op.services).await?;
        let spec = ProcessSpec {
            rootfs,
            args: op.args.clone(),
            env,
            cwd: op.cwd.clone(),
            user: op.user.clone(),
            mounts,
            hostname: hostname.to_string(),
            network: if op.no_network { Network::Loopback } else { self.exec_network() },
            extra_hosts: res.services.hosts.clone(),
            stdin: op.stdin.clone().map(String::into_bytes),
            redirect_stdin: op.redirect_stdin.clone(),
            redirect_stdout: op.redirect_stdout.clone(),
            redirect_stderr: op.redirect_stderr.clone(),
            privileged: op.privileged,
            no_init: op.no_init,
            cdi,
            loopback_listener: None,
            terminal: false,
        };
        Ok(ExecSetup { spec, resources: res })
    }

    /// A writable snapshot over the root filesystem input, as an overlay.
    fn exec_rootfs(&self, snap: Option<SnapshotId>, res: &mut ExecResources) -> Result<Rootfs, EngineError> {
        let root = self.store.prepare(snap.map(|s| (s, "/")))?;
        let rootfs =
            Rootfs::Overlay { lowers: root.lowers.clone(), upper: root.upper.clone(), work: root.work.clone() };
        res.pending.items.push(root);
        Ok(rootfs)
    }

    /// `env`, then the volatile variables (replacing same-named ones), then the
    /// secret variables with their values (which are also kept to scrub).
    async fn exec_env(&self, op: &ExecOp, res: &mut ExecResources) -> Result<Vec<String>, EngineError> {
        let mut env = op.env.clone();
        env.retain(|kv| !op.volatile_env.iter().any(|(k, _)| kv.split_once('=').map(|(n, _)| n) == Some(k.as_str())));
        env.extend(op.volatile_env.iter().map(|(k, v)| format!("{k}={v}")));
        for (name, identity) in &op.secret_env {
            let v = self.secrets.get(identity).await?;
            env.push(format!("{name}={}", String::from_utf8_lossy(&v)));
            res.used_secrets.push(v);
        }
        Ok(env)
    }

    async fn mount_source(
        &self,
        cx: &Ctx<'_>,
        m: &ExecMount,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        let target = m.target.as_str();
        match &m.kind {
            ExecMountKind::Dir { input, selector, readonly, owner } => {
                let what = format!("directory mount `{target}`");
                let snap = self.mount_content(cx, *input, selector, owner.as_ref(), &what).await?;
                self.dir_mount(snap, selector, *readonly, res)
            }
            ExecMountKind::File { input, selector, owner } => {
                let what = format!("file mount `{target}`");
                let snap = self.mount_content(cx, *input, selector, owner.as_ref(), &what).await?;
                self.file_mount(snap, selector, res)
            }
            ExecMountKind::Cache { volume, sharing, source, owner } => {
                let what = format!("cache mount `{target}`");
                let owner = owner.as_ref().map(|o| self.mount_owner(cx, o, &what)).transpose()?;
                self.cache_mount(cx, volume, *sharing, source.as_ref(), owner, res).await
            }
            ExecMountKind::Secret { secret, mode, owner } => {
                self.secret_mount(cx, target, secret, *mode, owner.as_ref(), res).await
            }
            ExecMountKind::Tmpfs { size } => Ok(MountSource::Tmpfs { size: *size }),
            ExecMountKind::Socket { host_path, owner } => self.socket_mount(cx, target, host_path, owner.as_ref(), res),
        }
    }

    /// The snapshot a directory or file mount shows: its input's, or with an
    /// `owner`, a copy of it in which `selector` and everything below it belong
    /// to the owner (Dagger mounts a chowned copy too). The copy is the file op
    /// `Chown` over the input, computed and cached like that vertex: the same
    /// key as `Directory.chown` to the same ids.
    async fn mount_content(
        &self,
        cx: &Ctx<'_>,
        input: Option<u32>,
        selector: &str,
        owner: Option<&Owner>,
        what: &str,
    ) -> Result<Option<SnapshotId>, EngineError> {
        let Some(owner) = owner else {
            return cx.snapshot(input);
        };
        let (uid, gid) = self.mount_owner(cx, owner, what)?;
        let (refs, outputs) = match input {
            Some(i) => (vec![cx.vertex.inputs[i as usize].clone()], vec![cx.inputs[i as usize].clone()]),
            None => (Vec::new(), Vec::new()),
        };
        let chown = FileAction::Chown { path: selector.to_string(), owner: Owner::ids(uid, gid) };
        let vertex = Vertex::new(Op::File(FileOp { base: input.map(|_| 0), actions: vec![chown] }), refs);
        let out = tanto_solver::Worker::compute(self, &vertex, vertex.key(), outputs)
            .await
            .map_err(|e| (*e).clone().context(format_args!("{what}: owner `{owner}`")))?;
        Ok(out.outputs.first().copied())
    }

    /// A directory: a read-only view, or a writable snapshot (an output of the exec).
    fn dir_mount(
        &self,
        snap: Option<SnapshotId>,
        selector: &str,
        readonly: bool,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        if readonly {
            let view = self.store.view(snap, selector)?;
            let src = MountSource::Bind { path: view.path().to_path_buf(), readonly: true };
            res.keep_alive.push(Box::new(view));
            Ok(src)
        } else {
            let prep = self.store.prepare(snap.map(|s| (s, selector)))?;
            let src = MountSource::Overlay {
                lowers: prep.lowers.clone(),
                upper: Some((prep.upper.clone(), prep.work.clone())),
            };
            res.pending.items.push(prep);
            Ok(src)
        }
    }

    /// A file, bound read-only from a view of its directory.
    fn file_mount(
        &self,
        snap: Option<SnapshotId>,
        selector: &str,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        let (parent, name) = match selector.rsplit_once('/') {
            Some((p, n)) => (if p.is_empty() { "/" } else { p }, n),
            None => ("/", selector),
        };
        let view = self.store.view(snap, parent)?;
        let path = view.path().join(name);
        res.keep_alive.push(Box::new(view));
        Ok(MountSource::Bind { path, readonly: true })
    }

    /// A cache volume, held (and locked as `sharing` says) until the exec ends.
    /// A new one starts as a copy of `source`, and with an `owner` (uid, gid),
    /// the volume and that copy belong to it (as Dagger does).
    async fn cache_mount(
        &self,
        cx: &Ctx<'_>,
        volume: &str,
        sharing: CacheSharing,
        source: Option<&CacheSource>,
        owner: Option<(u32, u32)>,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        let source = match source {
            Some(s) => Some((cx.snapshot(Some(s.input))?, s.selector.clone())),
            None => None,
        };
        let (store, key) = (self.store.clone(), volume.to_string());
        let lease = blocking(move || {
            let lease = store.volume(&key, sharing)?;
            if !lease.fresh {
                return Ok(lease);
            }
            if let Some((snap, selector)) = source {
                let view = store.view(snap, &selector)?;
                let s = Root::open(view.path()).context("opening the cache volume's source")?;
                let d = Root::open(&lease.path).context("opening the cache volume")?;
                tanto_fs::copy(&s, "/", &d, "/", &CopyOpts { filter: &Filter::none(), mode: None, owner })
                    .context("initialising the cache volume from its source")?;
            }
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&lease.path, Some(uid), Some(gid))
                    .map_err(|e| EngineError::environment(format!("setting the owner of a new cache volume: {e}")))?;
            }
            Ok(lease)
        })
        .await?;
        let src = MountSource::Bind { path: lease.path.clone(), readonly: false };
        res.keep_alive.push(Box::new(lease));
        Ok(src)
    }

    /// A secret's value in a file of its own, bound read-only.
    async fn secret_mount(
        &self,
        cx: &Ctx<'_>,
        target: &str,
        secret: &str,
        mode: u32,
        owner: Option<&Owner>,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        let owner = owner.map(|o| self.mount_owner(cx, o, &format!("secret mount `{target}`"))).transpose()?;
        let value = self.secrets.get(secret).await?;
        let file = SecretFile::write(&self.executor.run_dir().join(crate::leftovers::SECRETS), &value, mode, owner)
            .map_err(|e| e.context(format_args!("secret mount `{target}`")))?;
        res.used_secrets.push(value);
        let src = MountSource::Bind { path: file.path().to_path_buf(), readonly: true };
        res.secret_files.push(file);
        Ok(src)
    }

    /// A unix socket of the host: bound as is, or with an `owner`, a socket
    /// of the engine's own owned by it that relays to the host's.
    fn socket_mount(
        &self,
        cx: &Ctx<'_>,
        target: &str,
        host_path: &str,
        owner: Option<&Owner>,
        res: &mut ExecResources,
    ) -> Result<MountSource, EngineError> {
        let what = format!("unix socket mount `{target}`");
        let path = crate::socket::check_socket(host_path).map_err(|e| EngineError::input(format!("{what}: {e}")))?;
        let Some(owner) = owner else {
            return Ok(MountSource::Bind { path, readonly: true });
        };
        let (uid, gid) = self.mount_owner(cx, owner, &what)?;
        let proxy =
            crate::socket::SocketProxy::start(&self.executor.run_dir().join(crate::leftovers::SOCKETS), path, uid, gid)
                .map_err(|e| EngineError::environment(format!("{what}: {e}")))?;
        let src = MountSource::Bind { path: proxy.path().to_path_buf(), readonly: true };
        res.keep_alive.push(Box::new(proxy));
        Ok(src)
    }

    /// The uid and gid of `owner`, names resolved with the container's
    /// `/etc/passwd` and `/etc/group`; `what` names the mount in errors.
    fn mount_owner(&self, cx: &Ctx<'_>, owner: &Owner, what: &str) -> Result<(u32, u32), EngineError> {
        let view = self.store.view(cx.rootfs, "/")?;
        let ids = Root::open(view.path()).and_then(|r| owner_ids(&r, Some(owner)));
        let ids = ids.map_err(|e| EngineError::from(e).context(format_args!("{what}: owner `{owner}`")))?;
        Ok(ids.unwrap_or((0, 0)))
    }

    /// CDI devices (GPUs), resolved against the host's specs now: the key
    /// names the devices, this run gets today's nodes and libraries.
    async fn cdi_devices(&self, op: &ExecOp) -> Result<tanto_exec::cdi::DeviceEdits, EngineError> {
        if op.devices.is_empty() {
            return Ok(tanto_exec::cdi::DeviceEdits::default());
        }
        let (dirs, names) = (self.cdi_spec_dirs.clone(), op.devices.clone());
        blocking(move || tanto_exec::cdi::resolve(&dirs, &names).map_err(|e| EngineError::input(e.to_string()))).await
    }

    /// The network of execs: a namespace of their own on the engine's bridge, or the
    /// host's when bridge networking could not be enabled.
    fn exec_network(&self) -> Network {
        if self.executor.bridge_config().is_some() {
            Network::Bridge
        } else {
            Network::Host
        }
    }
}
