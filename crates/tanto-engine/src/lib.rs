//! tanto-engine: one engine — the store, the executor, the registry client and
//! the solver wired together — serving the Dagger API to sessions over HTTP.
//!
//! Each `tanto session` / `tanto run` process is a whole engine; engines that
//! share a state directory coordinate through the store (SQLite, file locks).
//!
//! Invariants:
//! - Every request is authenticated with the session token (HTTP Basic, the
//!   token as user name); anything else gets 401.
//! - Secret values live in memory ([`secrets::Secrets`]) and are scrubbed
//!   from exec output before it is recorded, logged or returned.
//! - Business logic lives below (solver, store, exec, oci, api); this crate wires.

mod backend;
pub mod cache;
mod cdi;
mod copyinc;
mod docker_api;
mod exec_setup;
pub mod explain;
mod export;
pub mod gc;
mod host;
mod image;
mod image_config;
mod leftovers;
mod nested;
pub mod progress;
pub mod remote;
pub mod remote_cache;
mod runlog;
mod search;
pub mod secrets;
pub mod server;
pub mod services;
mod socket;
pub mod sources;
mod sys;
pub mod telemetry;
mod terminal;
mod worker;
pub mod workspace;

/// What `tanto doctor` tries.
pub use tanto_exec::probe;
/// Rootless mode: entering the user namespace, and starting commands on the host.
pub use tanto_exec::userns;

/// How many IDs (from 0 up) this process can give files (see `tanto_fs::ids`).
pub fn mapped_ids() -> u64 {
    tanto_fs::ids::mapped_ids()
}

/// The platforms whose containers cannot run here (no binfmt_misc handler),
/// as `linux/ARCH (why)`; nothing is registered.
pub fn emulation_missing() -> Vec<String> {
    missing_platforms(
        &tanto_exec::binfmt::Binfmt::system().register_missing(&tanto_exec::binfmt::Interpreters::default(), false),
    )
}

/// The platforms a binfmt check found no way to run, as `linux/ARCH (why)`.
fn missing_platforms(report: &tanto_exec::binfmt::Report) -> Vec<String> {
    report.missing.iter().map(|(arch, why)| format!("linux/{arch} ({why})")).collect()
}

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value as Json;
use tanto_solver::Solver;
use tanto_store::Store;
use tracing::Instrument;

pub use backend::EngineBackend;
pub use worker::Worker;

pub use tanto_contract::{EngineError, EngineResult};

/// Says what failed when an IO call fails (see [`io_error`]).
pub(crate) trait IoContext<T> {
    fn at(self, what: impl std::fmt::Display) -> Result<T, EngineError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, what: impl std::fmt::Display) -> Result<T, EngineError> {
        self.map_err(|e| io_error(&e, format!("{what}: {e}")))
    }
}

/// An IO error as an engine error: `message` says what failed; a missing
/// path is the request's, anything else the host's.
pub(crate) fn io_error(e: &std::io::Error, message: impl Into<String>) -> EngineError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => EngineError::not_found(message),
        _ => EngineError::environment(message),
    }
}

/// Where an engine keeps its state and how it runs containers.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    /// The client's working directory: host paths are relative to it.
    pub workdir: PathBuf,
    pub runtime: tanto_exec::RuntimeKind,
    /// Engine config file; `None` = `TANTO_CONFIG` or the default location.
    pub config: Option<PathBuf>,
    /// No progress at all (same as `progress: ProgressMode::Quiet`).
    pub quiet: bool,
    /// How progress is shown on stderr.
    pub progress: progress::ProgressMode,
    /// A failed exec opens a shell in its container first (`--interactive`).
    pub interactive: bool,
    /// What this engine runs, as `tanto du` and `tanto explain` name its
    /// run: a command line (`python3 ci.py`, `call build`); may be empty.
    pub pipeline: String,
}

/// Root on the host (not root of a user namespace of our own: rootless mode).
fn is_root() -> bool {
    rustix::process::geteuid().is_root() && !rootless()
}

/// Whether this engine runs rootless: in a user namespace of its own
/// (`tanto_exec::userns`), as a normal user.
pub fn rootless() -> bool {
    tanto_exec::userns::entered()
}

/// The user this process runs for: its own ID, or in rootless mode the host
/// user that the namespace's root stands for.
fn host_uid() -> u32 {
    tanto_fs::ids::outer_uid(rustix::process::geteuid().as_raw()).unwrap_or(u32::MAX)
}

/// Checks how containers of other platforms run here (QEMU through
/// binfmt_misc), registers the handlers QEMU's installed emulators lack
/// (with the fix-binary flag), and says once what still cannot run.
async fn emulation() {
    let report = tokio::task::spawn_blocking(|| {
        tanto_exec::binfmt::Binfmt::system().register_missing(&tanto_exec::binfmt::Interpreters::default(), is_root())
    })
    .await
    .unwrap_or_default();
    for (arch, interpreter) in &report.registered {
        tracing::info!(platform = %format!("linux/{arch}"), %interpreter, "registered a binfmt_misc handler (fix-binary) to run this platform's containers");
    }
    if !report.missing.is_empty() {
        let list = missing_platforms(&report);
        tracing::warn!(
            "containers of these platforms cannot run here: {}; install qemu-user-static and register its binfmt_misc handlers with the F (fix-binary) flag (scripts/setup.sh does both)",
            list.join(", ")
        );
    }
}

/// Whether `p` (or, when it does not exist yet, its nearest existing parent)
/// belongs to this process's user: `su USER` keeps root's `HOME` and
/// `XDG_RUNTIME_DIR`, which a normal user must not take for its own.
fn owned_by_me(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    p.ancestors().find_map(|a| std::fs::metadata(a).ok()).is_some_and(|m| m.uid() == me)
}

/// An absolute directory from the environment variable `var`, if it is the user's.
fn user_dir(var: &str) -> Option<PathBuf> {
    let d = PathBuf::from(std::env::var_os(var).filter(|d| !d.is_empty())?);
    (d.is_absolute() && (is_root() || owned_by_me(&d))).then_some(d)
}

/// The user's home: `$HOME` when it is theirs, else their passwd entry's.
fn user_home() -> PathBuf {
    if let Some(h) = user_dir("HOME") {
        return h;
    }
    let uid = host_uid();
    tanto_exec::userns::passwd_entry(uid)
        .map(|(_, home)| home)
        .filter(|h| h.is_absolute())
        .unwrap_or_else(|| std::env::temp_dir().join(format!("tanto-home-{uid}")))
}

impl EngineOptions {
    /// Defaults from the environment: `TANTO_STATE_DIR`, `TANTO_RUN_DIR`, `TANTO_RUNTIME`.
    pub fn from_env(workdir: Option<PathBuf>) -> Result<EngineOptions, EngineError> {
        let state_dir = match std::env::var_os("TANTO_STATE_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ if is_root() => PathBuf::from("/var/lib/tanto"),
            _ => match user_dir("XDG_DATA_HOME") {
                Some(d) => d.join("tanto"),
                None => user_home().join(".local/share/tanto"),
            },
        };
        let run_dir = match std::env::var_os("TANTO_RUN_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ if is_root() => PathBuf::from("/run/tanto"),
            _ => match user_dir("XDG_RUNTIME_DIR") {
                Some(d) => d.join("tanto"),
                // a private tmpfs is mounted here (Executor::new), in the engine's own mount namespace
                None => {
                    let d = std::env::temp_dir().join(format!("tanto-{}", host_uid()));
                    match std::fs::symlink_metadata(&d) {
                        Ok(m) if !m.is_dir() || !owned_by_me(&d) => {
                            return Err(EngineError::environment(format!(
                                "`{}` is not a directory of yours: set XDG_RUNTIME_DIR (or TANTO_RUN_DIR) to a directory of your own",
                                d.display()
                            )))
                        }
                        _ => d,
                    }
                }
            },
        };
        let runtime = match std::env::var("TANTO_RUNTIME").unwrap_or_default().as_str() {
            "" | "auto" => tanto_exec::RuntimeKind::Auto,
            "crun" => tanto_exec::RuntimeKind::Crun,
            "runc" => tanto_exec::RuntimeKind::Runc,
            other => return Err(EngineError::input(format!("TANTO_RUNTIME=`{other}` is not one of auto, crun, runc"))),
        };
        let workdir = match workdir {
            Some(w) => w,
            None => std::env::current_dir()
                .map_err(|e| EngineError::environment(format!("cannot read the current directory: {e}")))?,
        };
        let workdir = std::path::absolute(&workdir).unwrap_or(workdir);
        Ok(EngineOptions {
            state_dir,
            run_dir,
            workdir,
            runtime,
            config: None,
            quiet: false,
            progress: Default::default(),
            interactive: false,
            pipeline: String::new(),
        })
    }
}

/// A running engine.
pub struct Engine {
    pub api: tanto_api::Api,
    /// The contract's implementation (remote sessions build their own API over it).
    pub(crate) backend: Arc<EngineBackend>,
    pub solver: Arc<Solver<Worker>>,
    pub options: EngineOptions,
    pub server: server::ServerSettings,
}

/// The engine config of `options` (its file, else `TANTO_CONFIG` or the
/// default location) and the file it came from.
pub(crate) fn load_config(
    options: &EngineOptions,
) -> Result<(tanto_oci::config::EngineConfig, Option<PathBuf>), EngineError> {
    let (config, path) = match &options.config {
        Some(p) => (tanto_oci::config::EngineConfig::load(p), Some(p.clone())),
        None => tanto_oci::config::EngineConfig::load_default().map(|(c, p)| (Ok(c), p))?,
    };
    Ok((config?, path))
}

impl Engine {
    pub async fn start(options: EngineOptions) -> Result<Arc<Engine>, EngineError> {
        if !rustix::process::geteuid().is_root() {
            return Err(EngineError::environment(
                "the engine must start as root or in its own user namespace: run it through the `tanto` command, which enters one for a normal user (rootless mode)",
            ));
        }
        let ids = tanto_fs::ids::mapped_ids();
        if ids <= 1 {
            tracing::warn!("rootless with only your own ID mapped: {}", tanto_exec::userns::SINGLE_LIMITS);
        } else if ids < 65536 {
            tracing::warn!(
                "this user namespace maps {ids} IDs: files and users of images with higher IDs fail; give the user a subordinate range of 65536 IDs"
            );
        }
        let (config, config_path) = load_config(&options)?;
        if let Some(p) = &config_path {
            tracing::debug!(path = %p.display(), "engine config");
        }
        let store = {
            let dir = options.state_dir.clone();
            tokio::task::spawn_blocking(move || Store::open(&dir))
                .await
                .map_err(|e| EngineError::internal(format!("opening the state directory: {e}")))??
        };
        let executor = tanto_exec::Executor::new(tanto_exec::ExecutorConfig {
            runtime: options.runtime,
            run_dir: options.run_dir.clone(),
        })?;
        if let Err(e) = executor.cleanup_stale().await {
            tracing::warn!(error = %e, "cleaning up after earlier engines failed");
        }
        // after their containers are gone: the secret files and sockets they had mounted
        let run_dir = executor.run_dir().to_path_buf();
        match tokio::task::spawn_blocking(move || leftovers::remove_dead(&run_dir)).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(removed, "removed the secret files, sockets and exports of engines that are gone")
            }
            Err(e) => tracing::warn!(error = %e, "cleaning up after earlier engines failed"),
        }
        emulation().await;
        let net = services::network_settings(&config, config_path.as_deref())?;
        let gc = cache::GcSettings::from_config(&config, config_path.as_deref())?;
        let server = server::ServerSettings::from_config(
            &config,
            config_path.as_deref(),
            std::env::var("TANTO_MAX_REQUEST_BYTES").ok().as_deref(),
        )?;
        if net.enabled {
            let (ex, cfg) = (executor.clone(), net.bridge.clone());
            match tokio::task::spawn_blocking(move || ex.enable_bridge(cfg)).await {
                Ok(Ok(cleaned)) if cleaned > 0 => {
                    tracing::info!(cleaned, "removed the networks of engines that are gone")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "bridge networking is off: execs share the host's network and services cannot start")
                }
                Err(e) => tracing::warn!(error = %e, "bridge networking is off"),
            }
        }
        let cdi_spec_dirs =
            cdi::spec_dirs(&config, config_path.as_deref(), std::env::var("TANTO_CDI_SPEC_DIRS").ok().as_deref())?;
        let services = services::Services::new(net.tunnel_bind);
        let shared = remote_cache::CacheSettings::from_config(
            &config,
            config_path.as_deref(),
            std::env::var("TANTO_CACHE").ok().as_deref(),
        )?;
        let registry = tanto_oci::registry::Registry::new(Arc::new(config));
        let remote = remote_cache::RemoteCache::new(&shared, registry.clone());
        let secret_key = {
            let store = store.clone();
            worker::blocking(move || Ok(store.secret_key()?)).await?
        };
        let secrets = Arc::new(secrets::Secrets::new(options.workdir.clone(), secret_key));
        let progress =
            progress::Progress::new(if options.quiet { progress::ProgressMode::Quiet } else { options.progress })
                .scrubbing(secrets.clone());
        let store_for_gc = store.clone();
        let worker = Arc::new(Worker {
            active: Default::default(),
            store,
            registry,
            executor,
            secrets,
            progress: progress.clone(),
            services: services.clone(),
            registry_auth: Default::default(),
            cdi_spec_dirs,
            nested: Default::default(),
            max_request_bytes: server.max_request_bytes,
            gc: gc::Gc::new(Arc::new(store_for_gc), gc.clone(), gc::CHECK_INTERVAL),
            interactive: options.interactive.then(|| tokio::sync::Mutex::new(())),
            run_log: runlog::RunLog::new(tanto_store::explain::RunName {
                pipeline: options.pipeline.clone(),
                workdir: options.workdir.display().to_string(),
            }),
            remote,
            found_late: Default::default(),
        });
        let solver = Solver::new(worker);
        services.set_solver(&solver);
        let p = progress.clone();
        solver.subscribe(Arc::new(move |e| p.on_event(e)));
        solver.worker().gc.poke(); // once at start, in the background
        let backend = Arc::new(EngineBackend::new(solver.clone(), options.workdir.clone()).with_gc(gc));
        let api =
            tanto_api::Api::new(tanto_contract::Engine::new(backend.clone()), Arc::new(tanto_api::Objects::default()));
        // Execs with `experimentalPrivilegedNesting` get sessions of this API.
        let _ = solver.worker().nested.set(api.nested_sessions());
        Ok(Arc::new(Engine { api, backend, solver, options, server }))
    }

    /// The engine's progress view (stderr).
    pub fn progress(&self) -> &progress::Progress {
        &self.solver.worker().progress
    }

    /// Waits (briefly) for cancelled containers to be cleaned up before exit.
    pub async fn shutdown(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.solver.worker().active_execs() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let worker = self.solver.worker();
        worker.gc.idle(std::time::Duration::from_secs(10)).await;
        if let Some(remote) = &worker.remote {
            // the results it shares outlive it
            remote.flush(std::time::Duration::from_secs(120)).await;
        }
        worker.services.shutdown().await;
        if let Err(e) = worker.executor.teardown_network().await {
            tracing::warn!(error = %e, "removing the engine's network failed");
        }
        worker.progress.stop_live();
        self.record_run().await;
    }

    /// Records the steps this engine answered as a run of its state dir
    /// (once: [`Engine::shutdown`] does it); the run's id, `None` when it
    /// answered no step.
    pub async fn record_run(&self) -> Option<i64> {
        let worker = self.solver.worker().clone();
        tokio::task::spawn_blocking(move || worker.run_log.record(&worker.store, &worker.secrets)).await.ok().flatten()
    }

    /// Why the steps of this engine's run ran (recording the run first).
    pub async fn explain(&self) -> Result<Option<tanto_store::explain::Explanation>, EngineError> {
        let Some(id) = self.record_run().await else { return Ok(None) };
        let store = self.solver.worker().store.clone();
        worker::blocking(move || Ok(store.explain_run(Some(id))?)).await
    }

    /// Like [`Engine::execute`], serialised (cheaper for large answers such as introspection).
    pub async fn execute_bytes(&self, req: tanto_gql::Request) -> Vec<u8> {
        let span = query_span(&req);
        self.api.execute_bytes(req).instrument(span).await
    }

    /// Executes one GraphQL request; the result is the whole response body.
    pub async fn execute(&self, req: tanto_gql::Request) -> Json {
        let span = query_span(&req);
        self.api.execute(req).instrument(span).await
    }
}

#[async_trait::async_trait]
impl tanto_contract::QueryHandler for Engine {
    async fn handle(&self, body: &[u8]) -> Vec<u8> {
        match tanto_gql::parse_request_body(body) {
            Ok(request) => self.execute_bytes(request).await,
            Err(errors) => serde_json::to_vec(&errors).unwrap_or_default(),
        }
    }
}

/// The `query` span of one GraphQL request: its operation name and size, never its
/// text (a query may carry a secret's plaintext). The solver's spans nest inside it.
pub(crate) fn query_span(req: &tanto_gql::Request) -> tracing::Span {
    tracing::info_span!("query", operation = req.operation_name.as_deref().unwrap_or(""), bytes = req.query.len())
}
