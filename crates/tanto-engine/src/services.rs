//! The service manager: starts services on demand, shares them, stops them when unused.
//! (Over 600 lines: one manager for three service kinds, whose start, sharing and stop
//! are one state machine; the TCP forwarding it needs is at the end.)
//!
//! A service is keyed by its definition's digest. [`Services::acquire`] starts it once
//! (concurrent callers wait for the same start) and hands out a [`Lease`]; the last
//! lease to go stops it. Users: execs that bind it (for the length of the exec), host
//! tunnels over it, and an explicit `Service.start` (until `Service.stop` or the end of
//! the session). Kinds:
//! - container: the exec vertex `asService` built, run with [`tanto_exec::Executor::start`]
//!   on the engine's bridge after its inputs are solved and its own bindings started,
//!   then health-checked by connecting to its exposed TCP ports (unless skipped). Its
//!   snapshots are never committed: a service is not a cached result;
//! - host tunnel: TCP listeners on the host forwarding to the upstream service;
//! - host service (reverse tunnel): an extra host address on the bridge whose TCP
//!   listeners forward to a server on the host; only the session's own containers are
//!   served.
//!
//! Invariants: every started service is stopped when its last user goes and at
//! [`Services::shutdown`]; a failed start leaves nothing running; a session's services
//! are reachable only from its own containers (its own bridge).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use tanto_contract::image::Port;
use tanto_contract::service::{PortForward, ServiceSpec, ServiceSpecKind};
use tanto_exec::RunningContainer;
use tanto_model::{Digest, ServiceBinding, StableHasher};
use tanto_solver::Solver;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OnceCell;

use crate::exec_setup::ExecResources;
use crate::worker::Worker;
use crate::EngineError;

/// How long a container service may take to accept connections on its ports.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(300);
/// SIGTERM grace before SIGKILL when a service stops.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The same at the end of a session, so the session exits promptly.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("service `{digest}` is not known to this engine: services come from `asService`, `Host.tunnel` or `Host.service` of this session")]
    Unknown { digest: Digest },
    #[error("services need the engine's bridge network, which is not available: {reason}")]
    NoNetwork { reason: String },
    #[error("starting service `{hostname}`: {message}")]
    Start { hostname: String, message: String },
    #[error("service `{hostname}` exited before it was healthy (exit code {exit_code}); its output:\n{output}")]
    Exited { hostname: String, exit_code: i32, output: String },
    #[error("service `{hostname}` did not accept connections on port {port} within {} s: check that it listens on 0.0.0.0:{port}, or skip the check with `withExposedPort(experimentalSkipHealthcheck: true)`; its output:\n{output}", waited.as_secs())]
    Unhealthy { hostname: String, port: u16, waited: Duration, output: String },
    #[error("tunnel to `{hostname}`: {message}")]
    Tunnel { hostname: String, message: String },
    #[error("the engine is shutting down")]
    EngineGone,
}

impl tanto_model::Tiered for ServiceError {
    fn tier(&self) -> tanto_model::Tier {
        use tanto_model::Tier;
        match self {
            ServiceError::Unknown { .. } | ServiceError::Exited { .. } | ServiceError::Unhealthy { .. } => Tier::Input,
            _ => Tier::Environment,
        }
    }
}

/// A started service.
pub(crate) struct Instance {
    hostname: String,
    kind: InstanceKind,
}

enum InstanceKind {
    Container {
        running: RunningContainer,
        ip: Ipv4Addr,
        /// Snapshots (never committed), secret files, and leases of its own bindings.
        _resources: Mutex<ExecResources>,
    },
    Tunnel {
        host: String,
        ports: Vec<Port>,
        _listeners: Vec<AbortOnDrop>,
        _upstream: Lease,
    },
    Host {
        addr: tanto_exec::net::HostAddress,
        _listeners: Vec<AbortOnDrop>,
    },
}

impl Instance {
    /// The address containers reach it at.
    fn address(&self) -> Option<IpAddr> {
        match &self.kind {
            InstanceKind::Container { ip, .. } => Some(IpAddr::V4(*ip)),
            InstanceKind::Host { addr, .. } => Some(IpAddr::V4(addr.ip())),
            InstanceKind::Tunnel { .. } => None,
        }
    }

    async fn stop(&self, grace: Option<Duration>) {
        tracing::debug!(service = %self.hostname, kill = grace.is_none(), "stopping service");
        if let InstanceKind::Container { running, .. } = &self.kind {
            let _ = match grace {
                Some(g) => running.stop(g).await,
                None => running.kill().await,
            };
        }
        // Listeners stop when the instance is dropped.
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One service, started at most once.
struct Slot {
    cell: OnceCell<Arc<Instance>>,
}

/// A user's hold on a running service; dropping the last one stops it.
pub(crate) struct Lease {
    services: Arc<Services>,
    key: Digest,
    slot: Arc<Slot>,
    instance: Option<Arc<Instance>>,
}

impl Lease {
    fn instance(&self) -> &Arc<Instance> {
        self.instance.as_ref().expect("a returned lease has an instance")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.services.release(&self.key, &self.slot);
    }
}

/// The services an exec binds, and the `/etc/hosts` entries that reach them.
#[derive(Default)]
pub(crate) struct Bound {
    pub hosts: Vec<(String, IpAddr)>,
    _leases: Vec<Lease>,
}

pub struct Services {
    solver: OnceLock<Weak<Solver<Worker>>>,
    defs: DashMap<Digest, ServiceSpec>,
    /// Running (or starting) services and their number of leases.
    slots: Mutex<HashMap<Digest, (Arc<Slot>, usize)>>,
    /// Leases of explicit `Service.start`s.
    held: Mutex<HashMap<Digest, Lease>>,
    /// Services being stopped in the background (weak: a stopped tunnel must release
    /// its upstream).
    stopping: Mutex<Vec<(Weak<Instance>, tokio::task::JoinHandle<()>)>>,
    runtime: tokio::runtime::Handle,
    /// Where host tunnels listen.
    tunnel_bind: IpAddr,
    /// The networks of remote engines' clients, by id.
    clients: DashMap<String, Arc<dyn ClientNetwork>>,
}

/// The network of a host other than the engine's: a remote engine's client
/// (`Host.service`, `Host.tunnel` and `up` of its session).
#[async_trait::async_trait]
pub(crate) trait ClientNetwork: Send + Sync {
    /// A connection to `host:port` on that host.
    async fn dial(&self, host: &str, port: u16) -> std::io::Result<tokio::io::DuplexStream>;

    /// Listens on that host's loopback, `port` (0: any); the port and its
    /// connections, until the receiver is dropped.
    async fn listen(&self, port: u16) -> std::io::Result<(u16, tokio::sync::mpsc::Receiver<tokio::io::DuplexStream>)>;
}

/// Where a host service's connections go.
#[derive(Clone)]
enum Upstream {
    /// `host:port` from the engine's own host.
    Local(String),
    /// `host`, `port` on a client's host.
    Client(Arc<dyn ClientNetwork>, String, u16),
}

impl Services {
    /// Lets services of client network `id` reach and listen on its host.
    pub(crate) fn add_client(&self, id: &str, net: Arc<dyn ClientNetwork>) {
        self.clients.insert(id.to_string(), net);
    }

    pub(crate) fn remove_client(&self, id: &str) {
        self.clients.remove(id);
    }

    fn client(&self, id: &str) -> Result<Arc<dyn ClientNetwork>, String> {
        self.clients
            .get(id)
            .map(|d| d.clone())
            .ok_or_else(|| "the client whose host this is has left: it lives as long as its session".to_string())
    }

    /// Must be called on the runtime; [`Services::set_solver`] before use.
    pub fn new(tunnel_bind: IpAddr) -> Arc<Services> {
        Arc::new(Services {
            solver: OnceLock::new(),
            defs: DashMap::new(),
            slots: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            stopping: Mutex::new(Vec::new()),
            runtime: tokio::runtime::Handle::current(),
            tunnel_bind,
            clients: DashMap::new(),
        })
    }

    pub fn set_solver(&self, solver: &Arc<Solver<Worker>>) {
        let _ = self.solver.set(Arc::downgrade(solver));
    }

    fn solver(&self) -> Result<Arc<Solver<Worker>>, ServiceError> {
        self.solver.get().and_then(Weak::upgrade).ok_or(ServiceError::EngineGone)
    }

    pub fn register(&self, spec: &ServiceSpec) {
        self.defs.entry(spec.digest).or_insert_with(|| spec.clone());
        if let ServiceSpecKind::Tunnel { upstream, .. } = &spec.kind {
            self.register(upstream);
        }
    }

    /// How many services run (or start) right now.
    pub fn running(&self) -> usize {
        self.slots.lock().len()
    }

    /// Starts the services an exec binds, all at once, and waits until they are healthy.
    pub(crate) async fn bind(self: &Arc<Self>, bindings: &[ServiceBinding]) -> Result<Bound, EngineError> {
        let wanted: Vec<(&str, ServiceSpec)> = bindings
            .iter()
            .map(|b| {
                self.defs
                    .get(&b.service)
                    .map(|s| (b.alias.as_str(), s.clone()))
                    .ok_or(ServiceError::Unknown { digest: b.service })
            })
            .collect::<Result<_, _>>()?;
        if wanted.is_empty() {
            return Ok(Bound::default());
        }
        let leases = futures::future::try_join_all(wanted.iter().map(|(_, spec)| self.acquire(spec.clone()))).await?;
        let mut hosts = Vec::new();
        for ((alias, spec), lease) in wanted.iter().zip(&leases) {
            let ip = lease.instance().address().ok_or_else(|| ServiceError::Tunnel {
                hostname: spec.hostname.clone(),
                message: "a host tunnel cannot be bound to a container".into(),
            })?;
            hosts.push((alias.to_string(), ip));
            if !hosts.iter().any(|(h, _)| *h == spec.hostname) {
                hosts.push((spec.hostname.clone(), ip));
            }
        }
        Ok(Bound { hosts, _leases: leases })
    }

    /// Starts `spec` unless it runs, and holds it until [`Services::stop`].
    pub async fn start_held(self: &Arc<Self>, spec: &ServiceSpec) -> Result<(), EngineError> {
        self.register(spec);
        if self.held.lock().contains_key(&spec.digest) {
            return Ok(());
        }
        let lease = self.acquire(spec.clone()).await?;
        self.held.lock().entry(spec.digest).or_insert(lease);
        Ok(())
    }

    /// Stops `spec` if it runs, whoever uses it.
    pub async fn stop(&self, spec: &ServiceSpec, kill: bool) -> Result<(), EngineError> {
        let held = self.held.lock().remove(&spec.digest);
        let slot = self.slots.lock().remove(&spec.digest).map(|(s, _)| s);
        drop(held);
        if let Some(inst) = slot.and_then(|s| s.cell.get().cloned()) {
            inst.stop(if kill { None } else { Some(STOP_GRACE) }).await;
        }
        Ok(())
    }

    /// The host and ports of a (held) host tunnel.
    pub async fn tunnel_ports(self: &Arc<Self>, spec: &ServiceSpec) -> Result<(String, Vec<Port>), EngineError> {
        self.start_held(spec).await?;
        let held = self.held.lock();
        match held.get(&spec.digest).map(|l| &l.instance().kind) {
            Some(InstanceKind::Tunnel { host, ports, .. }) => Ok((host.clone(), ports.clone())),
            _ => Err(EngineError::internal(format!("service `{}` is not a tunnel", spec.hostname))),
        }
    }

    /// Tunnels `spec`'s ports to the host until it exits (or the caller goes away).
    pub async fn up(
        self: &Arc<Self>,
        spec: &ServiceSpec,
        ports: Vec<PortForward>,
        random: bool,
        client: Option<&str>,
    ) -> Result<(), EngineError> {
        self.register(spec);
        let digest = {
            let mut h = StableHasher::new();
            h.str("up").digest(&spec.digest).u64(random as u64).json(&ports);
            if let Some(c) = client {
                h.str(c);
            }
            h.finish()
        };
        let tunnel = ServiceSpec {
            digest,
            hostname: spec.hostname.clone(),
            kind: ServiceSpecKind::Tunnel {
                upstream: Box::new(spec.clone()),
                ports,
                native: !random,
                client: client.map(str::to_string),
            },
        };
        let lease = self.acquire(tunnel).await?;
        let InstanceKind::Tunnel { _upstream: upstream, ports, .. } = &lease.instance().kind else {
            return Err(EngineError::internal("`up` made no tunnel"));
        };
        for p in ports {
            tracing::info!(port = p.port, "service `{}` is up on the host", spec.hostname);
        }
        match &upstream.instance().kind {
            InstanceKind::Container { running, .. } => {
                let ended = running.wait().await;
                match ended.as_ref() {
                    Ok(info) if info.exit_code == 0 => Ok(()),
                    Ok(info) => Err(EngineError::input(format!(
                        "service `{}` exited with code {}",
                        spec.hostname, info.exit_code
                    ))),
                    Err(e) => {
                        Err(EngineError::new(tanto_model::Tiered::tier(e), format!("service `{}`: {e}", spec.hostname)))
                    }
                }
            }
            _ => std::future::pending().await,
        }
    }

    /// Runs `args` in `spec`'s container (started if needed) with a PTY: its
    /// master, the `exec` process and the lease that keeps the service up.
    pub(crate) async fn exec_terminal(
        self: &Arc<Self>,
        spec: &ServiceSpec,
        args: Vec<String>,
    ) -> Result<(std::os::fd::OwnedFd, std::process::Child, impl Send), EngineError> {
        self.register(spec);
        let lease = self.acquire(spec.clone()).await?;
        let instance = lease.instance().clone();
        if !matches!(instance.kind, InstanceKind::Container { .. }) {
            return Err(EngineError::input(format!(
                "service `{}` is a tunnel: it has no container to open a terminal in",
                spec.hostname
            )));
        }
        let (master, child) = crate::worker::blocking(move || match &instance.kind {
            InstanceKind::Container { running, .. } => Ok(running.exec_terminal(&args)?),
            _ => unreachable!("checked above"),
        })
        .await?;
        Ok((master, child, lease))
    }

    /// Stops everything: at the end of the session.
    pub async fn shutdown(&self) {
        let held: Vec<Lease> = self.held.lock().drain().map(|(_, l)| l).collect();
        let slots: Vec<Arc<Slot>> = self.slots.lock().drain().map(|(_, (s, _))| s).collect();
        drop(held);
        let stops = slots
            .iter()
            .filter_map(|s| s.cell.get().cloned())
            .map(|i| async move { i.stop(Some(SHUTDOWN_GRACE)).await });
        futures::future::join_all(stops).await;
        // Services already stopping get the short grace too.
        let stopping: Vec<_> = self.stopping.lock().drain(..).collect();
        let stops = stopping.into_iter().map(|(inst, h)| async move {
            if let Some(inst) = inst.upgrade().filter(|_| !h.is_finished()) {
                inst.stop(Some(SHUTDOWN_GRACE)).await;
            }
            let _ = h.await;
        });
        futures::future::join_all(stops).await;
    }

    /// A lease on `spec`, started (once) if it is not running.
    fn acquire(
        self: &Arc<Self>,
        spec: ServiceSpec,
    ) -> futures::future::BoxFuture<'static, Result<Lease, ServiceError>> {
        let this = self.clone();
        Box::pin(async move {
            let key = spec.digest;
            let slot = {
                let mut slots = this.slots.lock();
                let entry = slots.entry(key).or_insert_with(|| (Arc::new(Slot { cell: OnceCell::new() }), 0));
                entry.1 += 1;
                entry.0.clone()
            };
            let mut lease = Lease { services: this.clone(), key, slot: slot.clone(), instance: None };
            let t = Instant::now();
            let instance = slot.cell.get_or_try_init(|| this.start(&spec)).await?;
            if t.elapsed() > Duration::from_millis(1) {
                tracing::debug!(service = %spec.hostname, ms = t.elapsed().as_millis() as u64, "service ready");
            }
            lease.instance = Some(instance.clone());
            Ok(lease)
        })
    }

    fn release(&self, key: &Digest, slot: &Arc<Slot>) {
        let removed = {
            let mut slots = self.slots.lock();
            match slots.get_mut(key) {
                Some((s, users)) if Arc::ptr_eq(s, slot) => {
                    *users -= 1;
                    if *users == 0 {
                        slots.remove(key).map(|(s, _)| s)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(inst) = removed.and_then(|s| s.cell.get().cloned()) {
            let stopped = inst.clone();
            let h = self.runtime.spawn(async move { stopped.stop(Some(STOP_GRACE)).await });
            let mut stopping = self.stopping.lock();
            stopping.retain(|(_, h)| !h.is_finished());
            stopping.push((Arc::downgrade(&inst), h));
        }
    }

    async fn start(self: &Arc<Self>, spec: &ServiceSpec) -> Result<Arc<Instance>, ServiceError> {
        let kind = match &spec.kind {
            ServiceSpecKind::Container { exec, ports } => self.start_container(spec, exec, ports).await?,
            ServiceSpecKind::Tunnel { upstream, ports, native, client } => {
                self.start_tunnel(spec, upstream, ports, *native, client.as_deref()).await?
            }
            ServiceSpecKind::Host { host, ports, client } => {
                self.start_host(spec, host, ports, client.as_deref()).await?
            }
        };
        Ok(Arc::new(Instance { hostname: spec.hostname.clone(), kind }))
    }

    async fn start_container(
        self: &Arc<Self>,
        spec: &ServiceSpec,
        exec: &Arc<tanto_model::Vertex>,
        ports: &[Port],
    ) -> Result<InstanceKind, ServiceError> {
        let hostname = spec.hostname.clone();
        let fail = |message: String| ServiceError::Start { hostname: hostname.clone(), message };
        let solver = self.solver()?;
        let worker = solver.worker().clone();
        if worker.executor.bridge_config().is_none() {
            return Err(ServiceError::NoNetwork {
                reason: "bridge networking could not be enabled at engine start (see the engine's log)".into(),
            });
        }
        let op = exec.exec().ok_or_else(|| fail("the service is not an exec".into()))?;
        let inputs = futures::future::try_join_all(exec.inputs.iter().map(|r| solver.solve(r.vertex.clone())))
            .await
            .map_err(|e| fail(e.to_string()))?;
        // services are definitions, never results: run each time
        worker.run_log.note(exec, tanto_store::explain::Status::Never, None);
        let setup = worker.exec_setup(exec, op, &hostname, &inputs).await.map_err(|e| fail(e.to_string()))?;
        let sink = worker.progress.exec_sink(exec.key(), setup.resources.used_secrets.clone());
        let t = Instant::now();
        let running = worker.executor.start(setup.spec, sink).await.map_err(|e| fail(e.to_string()))?;
        let ip = running.ip().ok_or_else(|| fail("the container has no address on the bridge".into()))?;
        tracing::debug!(service = %hostname, %ip, started_ms = t.elapsed().as_millis() as u64, "service container started");
        health_check(&worker.executor, &running, &hostname, ip, ports).await?;
        tracing::debug!(service = %hostname, %ip, healthy_ms = t.elapsed().as_millis() as u64, "service healthy");
        Ok(InstanceKind::Container { running, ip, _resources: Mutex::new(setup.resources) })
    }

    async fn start_tunnel(
        self: &Arc<Self>,
        spec: &ServiceSpec,
        upstream: &ServiceSpec,
        ports: &[PortForward],
        native: bool,
        client: Option<&str>,
    ) -> Result<InstanceKind, ServiceError> {
        let err = |message: String| ServiceError::Tunnel { hostname: upstream.hostname.clone(), message };
        let net = client.map(|id| self.client(id)).transpose().map_err(err)?;
        let up = self.acquire(upstream.clone()).await?;
        let target = up.instance().address().ok_or_else(|| err("the upstream is itself a host tunnel".into()))?;
        let forwards: Vec<PortForward> = if ports.is_empty() {
            let exposed = match &upstream.kind {
                ServiceSpecKind::Container { ports, .. } => {
                    ports.iter().map(|p| (p.port as u16, p.protocol.clone())).collect()
                }
                ServiceSpecKind::Host { ports, .. } => {
                    ports.iter().map(|p| (p.frontend.unwrap_or(p.backend), p.protocol.clone())).collect()
                }
                ServiceSpecKind::Tunnel { .. } => Vec::new(),
            };
            exposed
                .into_iter()
                .map(|(port, protocol): (u16, String)| PortForward {
                    frontend: native.then_some(port),
                    backend: port,
                    protocol,
                })
                .collect()
        } else {
            ports
                .iter()
                .map(|p| PortForward { frontend: p.frontend.or(native.then_some(p.backend)), ..p.clone() })
                .collect()
        };
        if forwards.is_empty() {
            return Err(err(
                "the service exposes no ports: pass `ports`, or use `withExposedPort` before `asService`".into()
            ));
        }
        let mut listeners = Vec::new();
        let mut out = Vec::new();
        for f in &forwards {
            if f.protocol != "TCP" {
                return Err(err(format!("{} port {}: only TCP can be tunnelled for now", f.protocol, f.backend)));
            }
            let backend = SocketAddr::new(target, f.backend);
            let executor = self.solver()?.worker().executor.clone();
            let front = f.frontend.unwrap_or(0);
            let (bind, port) = match &net {
                None => {
                    let listener = TcpListener::bind((self.tunnel_bind, front))
                        .await
                        .map_err(|e| err(format!("listening on {}:{front}: {e}", self.tunnel_bind)))?;
                    let port = listener.local_addr().map_err(|e| err(e.to_string()))?.port();
                    listeners.push(AbortOnDrop(tokio::spawn(forward(listener, backend, executor))));
                    (self.tunnel_bind.to_string(), port)
                }
                Some(net) => {
                    let (port, incoming) = net
                        .listen(front)
                        .await
                        .map_err(|e| err(format!("listening on the client's 127.0.0.1:{front}: {e}")))?;
                    listeners.push(AbortOnDrop(tokio::spawn(forward_incoming(incoming, backend, executor))));
                    ("the client's 127.0.0.1".to_string(), port)
                }
            };
            out.push(Port {
                port: port as i64,
                protocol: "TCP".into(),
                description: Some(format!("tunnel {bind}:{port} -> {}:{}", upstream.hostname, f.backend)),
                skip_healthcheck: false,
            });
        }
        let host = if net.is_some() || self.tunnel_bind.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.tunnel_bind.to_string()
        };
        let _ = spec;
        Ok(InstanceKind::Tunnel { host, ports: out, _listeners: listeners, _upstream: up })
    }

    async fn start_host(
        self: &Arc<Self>,
        spec: &ServiceSpec,
        host: &str,
        ports: &[PortForward],
        client: Option<&str>,
    ) -> Result<InstanceKind, ServiceError> {
        let err = |message: String| ServiceError::Tunnel { hostname: spec.hostname.clone(), message };
        let dialer = client.map(|id| self.client(id)).transpose().map_err(err)?;
        let worker = self.solver()?.worker().clone();
        let addr = worker
            .executor
            .bridge_host_address()
            .await
            .map_err(|e| ServiceError::NoNetwork { reason: e.to_string() })?;
        let block = addr.block();
        let mut listeners = Vec::new();
        for p in ports {
            if p.protocol != "TCP" {
                return Err(err(format!("{} port {}: only TCP can be tunnelled for now", p.protocol, p.backend)));
            }
            let front = p.frontend.unwrap_or(p.backend);
            let listener = worker
                .executor
                .bridge_listen((addr.ip(), front).into())
                .await
                .map_err(|e| err(format!("listening on {}:{front}: {e}", addr.ip())))?;
            let upstream = match &dialer {
                None => Upstream::Local(format!("{host}:{}", p.backend)),
                Some(d) => Upstream::Client(d.clone(), host.to_string(), p.backend),
            };
            let allowed = Box::new(move |peer: IpAddr| matches!(peer, IpAddr::V4(v4) if block.contains(v4)));
            listeners.push(AbortOnDrop(tokio::spawn(forward_to_host(listener, upstream, allowed))));
        }
        Ok(InstanceKind::Host { addr, _listeners: listeners })
    }
}

/// Waits until `ip` accepts TCP connections on every exposed TCP port that is not
/// skipped, the container exits, or [`HEALTH_TIMEOUT`] passes.
async fn health_check(
    executor: &tanto_exec::Executor,
    running: &RunningContainer,
    hostname: &str,
    ip: Ipv4Addr,
    ports: &[Port],
) -> Result<(), ServiceError> {
    let start = Instant::now();
    let output = |r: &RunningContainer| String::from_utf8_lossy(&r.output()).trim().to_string();
    for p in ports.iter().filter(|p| p.protocol == "TCP" && !p.skip_healthcheck) {
        let port = p.port as u16;
        let mut delay = Duration::from_millis(2);
        loop {
            if let Some(ended) = running.exited() {
                let exit_code = ended.as_ref().as_ref().map(|i| i.exit_code).unwrap_or(-1);
                return Err(ServiceError::Exited {
                    hostname: hostname.to_string(),
                    exit_code,
                    output: output(running),
                });
            }
            // Short attempts: a SYN lost while the container comes up would otherwise cost a
            // one-second retransmission.
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(100), executor.bridge_connect((ip, port).into())).await
            {
                break;
            }
            tracing::trace!(port, ms = start.elapsed().as_millis() as u64, "health check: not yet");
            if start.elapsed() > HEALTH_TIMEOUT {
                return Err(ServiceError::Unhealthy {
                    hostname: hostname.to_string(),
                    port,
                    waited: start.elapsed(),
                    output: output(running),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Pipes one tunnelled connection to `backend` (on the bridge).
async fn to_service<C>(mut inbound: C, backend: SocketAddr, executor: tanto_exec::Executor)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match executor.bridge_connect(backend).await {
        Ok(mut outbound) => {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        }
        Err(e) => tracing::debug!(%backend, error = %e, "tunnel: connecting to the service failed"),
    }
}

/// Pipes each connection a client's listener brings to `backend`.
async fn forward_incoming(
    mut incoming: tokio::sync::mpsc::Receiver<tokio::io::DuplexStream>,
    backend: SocketAddr,
    executor: tanto_exec::Executor,
) {
    while let Some(inbound) = incoming.recv().await {
        tokio::spawn(to_service(inbound, backend, executor.clone()));
    }
}

/// Accepts connections and pipes each to `backend` (on the bridge).
async fn forward(listener: TcpListener, backend: SocketAddr, executor: tanto_exec::Executor) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        tokio::spawn(to_service(inbound, backend, executor.clone()));
    }
}

/// Accepts connections from allowed peers and pipes each to `upstream` (`host:port`).
async fn forward_to_host(
    listener: TcpListener,
    upstream: Upstream,
    allowed: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
) {
    loop {
        let Ok((mut inbound, peer)) = listener.accept().await else { continue };
        if !allowed(peer.ip()) {
            tracing::debug!(%peer, "host service: refused a peer outside the session");
            continue;
        }
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let result = match &upstream {
                Upstream::Local(addr) => match TcpStream::connect(addr.as_str()).await {
                    Ok(mut outbound) => tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await.map(drop),
                    Err(e) => Err(e),
                },
                Upstream::Client(dialer, host, port) => match dialer.dial(host, *port).await {
                    Ok(mut outbound) => tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await.map(drop),
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "host service: a connection to the host failed");
            }
        });
    }
}

/// The bridge settings from the engine config's `[network]` section:
/// `subnet` (default 10.87.0.0/16), `block_prefix` (24), `mtu` (the host's),
/// `tunnel_bind` (127.0.0.1), `enabled` (true).
pub(crate) struct NetworkSettings {
    pub enabled: bool,
    pub bridge: tanto_exec::net::BridgeConfig,
    pub tunnel_bind: IpAddr,
}

pub(crate) fn network_settings(
    config: &tanto_oci::config::EngineConfig,
    path: Option<&std::path::Path>,
) -> Result<NetworkSettings, EngineError> {
    let mut out = NetworkSettings {
        enabled: true,
        bridge: tanto_exec::net::BridgeConfig::default(),
        tunnel_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let Some(section) = config.extra.get("network") else { return Ok(out) };
    let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the engine config".into());
    let bad = |key: &str, why: String| EngineError::input(format!("`{file}`: `[network] {key}`: {why}"));
    let table = section.as_table().ok_or_else(|| bad("", "must be a table".into()))?;
    for (key, value) in table {
        match key.as_str() {
            "subnet" => {
                let s = value.as_str().ok_or_else(|| bad(key, "must be a string like \"10.87.0.0/16\"".into()))?;
                out.bridge.subnet = s.parse().map_err(|e: tanto_exec::net::SubnetError| bad(key, e.to_string()))?;
            }
            "block_prefix" => {
                let n = value
                    .as_integer()
                    .filter(|n| (1..=32).contains(n))
                    .ok_or_else(|| bad(key, "must be a prefix length like 24".into()))?;
                out.bridge.block_prefix = n as u8;
            }
            "mtu" => {
                let n = value
                    .as_integer()
                    .filter(|n| (576..=65535).contains(n))
                    .ok_or_else(|| bad(key, "must be a number from 576 to 65535".into()))?;
                out.bridge.mtu = Some(n as u32);
            }
            "tunnel_bind" => {
                let s = value.as_str().ok_or_else(|| bad(key, "must be an address like \"127.0.0.1\"".into()))?;
                out.tunnel_bind = s.parse().map_err(|_| bad(key, format!("`{s}` is not an IP address")))?;
            }
            "enabled" => out.enabled = value.as_bool().ok_or_else(|| bad(key, "must be true or false".into()))?,
            other => {
                return Err(bad(other, "unknown key: use subnet, block_prefix, mtu, tunnel_bind or enabled".into()))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_section() {
        // (config text, Ok(subnet/prefix/mtu/bind) or Err(fragment))
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("", Ok("10.87.0.0/16 24 None 127.0.0.1")),
            (
                "[network]\nsubnet = \"10.99.0.0/20\"\nblock_prefix = 26\nmtu = 1400\ntunnel_bind = \"0.0.0.0\"\n",
                Ok("10.99.0.0/20 26 Some(1400) 0.0.0.0"),
            ),
            ("[network]\nsubnet = \"10.99.0.1/16\"\n", Err("host bits are set")),
            ("[network]\nsubnet = 5\n", Err("must be a string")),
            ("[network]\nmtu = 10\n", Err("576 to 65535")),
            ("[network]\nsubnett = \"x\"\n", Err("unknown key")),
        ];
        for (text, want) in cases {
            let cfg = tanto_oci::config::EngineConfig::from_toml_str(text).unwrap();
            let got = network_settings(&cfg, None)
                .map(|s| format!("{} {} {:?} {}", s.bridge.subnet, s.bridge.block_prefix, s.bridge.mtu, s.tunnel_bind))
                .map_err(|e| e.to_string());
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{text}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{text}: {g}"),
                (w, g) => panic!("{text}: want {w:?}, got {g:?}"),
            }
        }
    }
}
