//! The solver's worker: computes vertices with the store, the registry and
//! the executor, and records results in the store.

use std::path::PathBuf;
use std::sync::Arc;

use tanto_contract::ExecFailure;
use tanto_exec::ExitInfo;
use tanto_fs::{CopyOpts, Filter, Root};
use tanto_model::{
    Digest, ExecOp, Expect, FileAction, FileOp, ImageLayerOp, Op, Owner, PatchSource, Tiered as _, Vertex,
};
use tanto_store::explain::Status;
use tanto_store::{CacheRecord, ExecMeta, Prepared, SnapshotId, SnapshotLease, Store};

use crate::progress::Progress;
use crate::secrets::{scrub, scrub_str, Secrets};
use crate::EngineError;
use tracing::Instrument as _;

/// All outputs of one vertex.
#[derive(Debug)]
pub struct VertexResult {
    pub outputs: Vec<SnapshotId>,
    pub meta: Option<Arc<ExecMeta>>,
    /// Leases on `outputs` for as long as the result is in use: a prune (in
    /// this engine or another) never removes what a live session holds.
    pub leases: Vec<SnapshotLease>,
}

pub type Output = Arc<VertexResult>;

pub struct Worker {
    pub active: std::sync::atomic::AtomicUsize,
    pub store: Store,
    pub registry: tanto_oci::registry::Registry,
    pub executor: tanto_exec::Executor,
    pub secrets: Arc<Secrets>,
    pub progress: Progress,
    /// Services bound by execs, and the ones the API starts.
    pub services: Arc<crate::services::Services>,
    /// Registry credentials of the session (`withRegistryAuth`), for blob fetches.
    pub registry_auth: crate::export::SessionAuth,
    /// Where CDI specs (GPUs) are looked for, lowest priority first (see `cdi`).
    pub cdi_spec_dirs: Vec<PathBuf>,
    /// Opens the sessions of execs with `experimentalPrivilegedNesting` (set by the
    /// engine once its API exists).
    pub nested: std::sync::OnceLock<Arc<dyn tanto_contract::NestedSessions>>,
    /// The request body limit of nested sessions.
    pub max_request_bytes: usize,
    /// Automatic GC, poked after each recorded result.
    pub(crate) gc: Arc<crate::gc::Gc>,
    /// `--interactive`: a failed exec opens a shell in its container first
    /// (one at a time: the lock).
    pub interactive: Option<tokio::sync::Mutex<()>>,
    /// The steps this engine answered, for `tanto explain`.
    pub(crate) run_log: crate::runlog::RunLog,
    /// The shared cache in a registry, when configured (`[cache]`).
    pub(crate) remote: Option<Arc<crate::remote_cache::RemoteCache>>,
    /// Keys whose `compute` found their result in the shared cache (once
    /// their inputs were solved), until the solver asks.
    pub(crate) found_late: std::sync::Mutex<std::collections::HashSet<Digest>>,
}

fn out_of(rec: CacheRecord, leases: Vec<SnapshotLease>) -> Output {
    Arc::new(VertexResult { outputs: rec.outputs, meta: rec.meta.map(Arc::new), leases })
}

/// The snapshot behind input `i` of `vertex`.
pub(crate) fn input_snapshot(vertex: &Vertex, inputs: &[Output], i: u32) -> Result<SnapshotId, EngineError> {
    let r = &vertex.inputs[i as usize];
    inputs[i as usize]
        .outputs
        .get(r.output as usize)
        .copied()
        .ok_or_else(|| EngineError::internal(format!("input {i} has no output {}", r.output)))
}

#[async_trait::async_trait]
impl tanto_solver::Worker for Worker {
    type Output = Output;
    type Error = Arc<EngineError>;

    async fn lookup(&self, vertex: &Arc<Vertex>, key: Digest) -> Result<Option<Output>, Arc<EngineError>> {
        let mut found = self.lookup_local(key).await.map_err(Arc::new)?;
        if found.is_none() {
            // before the inputs are solved: a hit needs only its own parents
            found = self.pull(vertex, key, 0).await;
        }
        if found.is_some() {
            self.run_log.note(vertex, Status::Cached, None);
        }
        Ok(found)
    }

    async fn compute(
        &self,
        vertex: &Arc<Vertex>,
        key: Digest,
        inputs: Vec<Output>,
    ) -> Result<Output, Arc<EngineError>> {
        // Another engine on this state dir may be computing the same key:
        // wait for it and take its result rather than doing the work twice.
        let _lease = self.lease(vertex, key).await.map_err(Arc::new)?;
        if let Some(out) = self.lookup_local(key).await.map_err(Arc::new)? {
            self.run_log.note(vertex, Status::Cached, None);
            return Ok(out);
        }
        // the inputs are here now: an entry whose parents could not be had before
        if let Some(out) = self.pull_held(vertex, 0).await {
            self.run_log.note(vertex, Status::Cached, None);
            self.found_late.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
            return Ok(out);
        }
        // A miss of a result that was in the cache once: say so.
        let evicted = {
            let (store, key) = (self.store.clone(), key.to_string());
            blocking(move || Ok(store.tombstone(&key)?)).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the tombstone of a cache record failed");
                None
            })
        };
        if let Some(t) = &evicted {
            self.progress
                .evicted(key, &format!("evicted ({} {}): running it again", evicted_by(&t.by), ago(t.evicted_ms)));
        }
        let res = match &vertex.op {
            Op::ImageLayer(op) => self.layer(vertex, op, key, &inputs).await,
            Op::File(op) => self.file_op(vertex, op, key, &inputs).await,
            Op::Exec(op) => self.exec(vertex, op, key, &inputs).await,
            Op::Local(op) => self.local(op, key).await,
            Op::Http(op) => self.http_op(op, key).await,
            Op::Git(op) => self.git_op(vertex, op, key, &inputs).await,
            // known by its key only: the cache had it when it was read back
            Op::Recorded(r) => Err(EngineError::not_found(format!(
                "{} ({key}) is no longer in the cache (pruned since it was kept): call the function again",
                r.label
            ))),
        };
        if res.is_ok() {
            // What made the record and the blobs it owns, for listing and pruning.
            let (kind, blobs) = match &vertex.op {
                Op::ImageLayer(op) => ("image-layer", vec![op.blob.digest.to_string()]),
                Op::File(_) => ("file", vec![]),
                Op::Exec(_) => ("exec", vec![]),
                Op::Local(_) => ("local", vec![]),
                Op::Http(op) => ("http", vec![op.digest.to_string()]),
                Op::Git(_) => ("git", vec![]),
                Op::Recorded(_) => ("kept", vec![]),
            };
            let (store, key, label) = (self.store.clone(), key.to_string(), vertex.label());
            if let Err(e) = blocking(move || Ok(store.describe(&key, kind, &label, &blobs)?)).await {
                tracing::warn!(error = %e, "describing a cache record failed");
            }
            // recorded (and held by this step): the cache may be over its budget now
            self.gc.poke();
            if let (Some(remote), Ok(out)) = (&self.remote, &res) {
                remote
                    .push_later(
                        self.store.clone(),
                        vertex.clone(),
                        vertex.key().to_string(),
                        inputs.clone(),
                        out.clone(),
                    )
                    .await;
            }
        }
        let status = if res.is_ok() { Status::Executed } else { Status::Failed };
        self.run_log.note(vertex, status, evicted);
        res.map_err(Arc::new)
    }

    fn reuse(&self, out: &Output) -> Option<Output> {
        match self.store.hold(&out.outputs) {
            Ok(Some(leases)) => {
                Some(Arc::new(VertexResult { outputs: out.outputs.clone(), meta: out.meta.clone(), leases }))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "holding a remembered result failed; solving it again");
                None
            }
        }
    }

    fn remember(&self, out: &Output) -> Output {
        Arc::new(VertexResult { outputs: out.outputs.clone(), meta: out.meta.clone(), leases: Vec::new() })
    }

    fn computed_from_cache(&self, key: Digest) -> bool {
        self.found_late.lock().unwrap_or_else(|p| p.into_inner()).remove(&key)
    }
}

impl Worker {
    /// The record of `key` in the local cache, held.
    async fn lookup_local(&self, key: Digest) -> Result<Option<Output>, EngineError> {
        let (store, key) = (self.store.clone(), key.to_string());
        let rec = blocking(move || Ok(store.lookup_held(&key)?)).await?;
        Ok(rec.map(|(rec, leases)| out_of(rec, leases)))
    }

    /// `vertex` from the shared cache, under its in-flight lease (errors are
    /// a miss, said in the log); `depth`: how many hits above it wait for it.
    async fn pull(&self, vertex: &Arc<Vertex>, key: Digest, depth: usize) -> Option<Output> {
        let remote = self.remote.as_ref()?;
        if !remote.may_have_now(vertex) {
            return None;
        }
        let _lease = match self.lease(vertex, key).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "shared cache: taking a step's lease failed");
                return None;
            }
        };
        match self.lookup_local(key).await {
            Ok(Some(out)) => return Some(out),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "looking a step up failed"),
        }
        self.pull_held(vertex, depth).await
    }

    /// `vertex` from the shared cache, its lease held by the caller.
    async fn pull_held(&self, vertex: &Arc<Vertex>, depth: usize) -> Option<Output> {
        let remote = self.remote.as_ref()?;
        if !remote.may_have(vertex) {
            return None;
        }
        match remote.pull(self, vertex, depth).await {
            Ok(found) => found,
            Err(e) => {
                remote.failed(vertex, e);
                None
            }
        }
    }

    /// The result of `vertex` when it can be had without running anything:
    /// the local cache, the shared cache, or (image layers) its image's
    /// registry; `None` otherwise. `depth` counts the hits above it that wait
    /// for it: deeper than [`LAZY_DEPTH`] it is left to the solver (which
    /// solves long chains without a stack per level), and the hit is pulled
    /// once its parents are solved.
    pub(crate) fn ensure<'a>(
        &'a self,
        vertex: &'a Arc<Vertex>,
        depth: usize,
    ) -> futures::future::BoxFuture<'a, Result<Option<Output>, EngineError>> {
        Box::pin(async move {
            let key = vertex.key();
            if let Some(out) = self.lookup_local(key).await? {
                return Ok(Some(out));
            }
            if depth > LAZY_DEPTH {
                return Ok(None);
            }
            match &vertex.op {
                Op::ImageLayer(op) => {
                    let mut inputs = Vec::new();
                    for r in &vertex.inputs {
                        match self.ensure(&r.vertex, depth + 1).await? {
                            Some(out) => inputs.push(out),
                            None => return Ok(None),
                        }
                    }
                    let _lease = self.lease(vertex, key).await?;
                    if let Some(out) = self.lookup_local(key).await? {
                        return Ok(Some(out));
                    }
                    let out = self.layer(vertex, op, key, &inputs).await?;
                    // owned by its record, as when the solver computes it
                    let (store, k, label, blobs) =
                        (self.store.clone(), key.to_string(), vertex.label(), vec![op.blob.digest.to_string()]);
                    blocking(move || Ok(store.describe(&k, "image-layer", &label, &blobs)?)).await?;
                    Ok(Some(out))
                }
                _ => Ok(self.pull(vertex, key, depth).await),
            }
        })
    }

    /// The in-flight lease of `key` (see tanto-store `lease`), waiting while
    /// another engine process holds it.
    async fn lease(&self, vertex: &Vertex, key: Digest) -> Result<tanto_store::Lease, EngineError> {
        let key_s = key.to_string();
        let mut delay = std::time::Duration::from_millis(1);
        let mut waited = false;
        loop {
            if let Some(lease) = self.store.try_lease(&key_s)? {
                return Ok(lease);
            }
            if !waited {
                waited = true;
                tracing::debug!(key = %key_s, step = %vertex.label(), "another engine is computing this step; waiting for its result");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_millis(25));
        }
    }
}

/// How many steps deep a shared-cache hit makes its parents present itself
/// (each level is a future polled inside the one above it).
const LAZY_DEPTH: usize = 16;

/// Who evicted a record, for people: `gc` or `prune`.
pub fn evicted_by(by: &str) -> &'static str {
    match by {
        "prune" => "pruned",
        _ => "removed by GC",
    }
}

/// How long ago a time (milliseconds since the epoch) was, for people.
pub fn ago(ms: i64) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let s = (now - ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// Runs blocking filesystem work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::internal(e.to_string()))?
}

/// Prepared snapshots that are aborted unless committed.
pub(crate) struct Pending {
    store: Store,
    pub(crate) items: Vec<Prepared>,
}

impl Pending {
    pub(crate) fn new(store: &Store) -> Pending {
        Pending { store: store.clone(), items: Vec::new() }
    }

    fn ids(&self) -> Vec<SnapshotId> {
        self.items.iter().map(|p| p.id).collect()
    }

    /// Commits a record whose outputs are `ids`: the pending snapshots and
    /// committed ones (the same snapshot as an input's).
    pub(crate) fn commit_outputs(
        mut self,
        key: &str,
        ids: Vec<SnapshotId>,
        meta: Option<ExecMeta>,
    ) -> Result<Output, EngineError> {
        let rec = CacheRecord { outputs: ids, meta };
        // Held from before the commit, so no prune can take the result away
        // between its commit and its first use.
        let leases = rec.outputs.iter().map(|id| self.store.lease(*id)).collect::<Result<Vec<_>, _>>()?;
        self.store.commit(key, &rec)?;
        self.items.clear();
        Ok(out_of(rec, leases))
    }

    pub(crate) fn commit(self, key: &str, meta: Option<ExecMeta>) -> Result<Output, EngineError> {
        let ids = self.ids();
        self.commit_outputs(key, ids, meta)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for p in self.items.drain(..) {
            self.store.abort(p);
        }
    }
}

struct ActiveGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Worker {
    /// Execs running right now (including ones being cancelled).
    pub fn active_execs(&self) -> usize {
        self.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn layer(
        &self,
        vertex: &Vertex,
        op: &ImageLayerOp,
        key: Digest,
        inputs: &[Output],
    ) -> Result<Output, EngineError> {
        let blob = &op.blob;
        let digest = blob.digest.to_string();
        let path = self.store.blob_path(&digest);
        if !path.is_file() {
            let auth = crate::export::auth_for(&self.registry_auth, &[&blob.repo.host]);
            self.registry.fetch_blob_with_auth(&blob.repo, &digest, Some(blob.size), &path, &auth).await?;
        }
        let parent = if vertex.inputs.is_empty() { None } else { Some(input_snapshot(vertex, inputs, 0)?) };
        let store = self.store.clone();
        let media_type = blob.media_type.clone();
        let want = op.diff_id.to_string();
        let key = key.to_string();
        blocking(move || {
            let mut pending = Pending::new(&store);
            let prep = store.prepare(parent.map(|p| (p, "/")))?;
            let (upper, lowers) = (prep.upper.clone(), prep.lowers.clone());
            pending.items.push(prep);
            let stats = tanto_oci::layer::apply_layer(&path, &media_type, &upper, &lowers)?;
            if stats.diff_id != want {
                return Err(EngineError::input(format!(
                    "layer `{}` unpacked to {} but the image config says {want}: the image is corrupt",
                    path.display(),
                    stats.diff_id
                )));
            }
            pending.commit(&key, None)
        })
        .await
    }

    async fn file_op(
        &self,
        vertex: &Vertex,
        op: &FileOp,
        key: Digest,
        inputs: &[Output],
    ) -> Result<Output, EngineError> {
        let base = op.base.map(|i| input_snapshot(vertex, inputs, i)).transpose()?;
        let sources: Vec<Option<SnapshotId>> =
            (0..vertex.inputs.len() as u32).map(|i| input_snapshot(vertex, inputs, i).ok()).collect();
        let store = self.store.clone();
        let op = op.clone();
        let key = key.to_string();
        blocking(move || file_op_blocking(&store, base, &op, &sources, &key)).await
    }

    /// Runs an exec in an `exec` span (its exit code, and an error status when it fails).
    async fn exec(&self, vertex: &Vertex, op: &ExecOp, key: Digest, inputs: &[Output]) -> Result<Output, EngineError> {
        let span = tracing::info_span!(
            "exec",
            digest = %key,
            command = tracing::field::Empty,
            exit_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let res = self.exec_in(vertex, op, key, inputs, &span).instrument(span.clone()).await;
        match &res {
            Ok(out) => {
                if let Some(meta) = &out.meta {
                    span.record("exit_code", meta.exit_code);
                }
            }
            Err(e) => {
                if let EngineError::Exec(f) = e {
                    span.record("exit_code", f.exit_code);
                }
                span.record("otel.status_code", "ERROR");
            }
        }
        res
    }

    async fn exec_in(
        &self,
        vertex: &Vertex,
        op: &ExecOp,
        key: Digest,
        inputs: &[Output],
        span: &tracing::Span,
    ) -> Result<Output, EngineError> {
        let crate::exec_setup::ExecSetup { mut spec, resources } =
            self.exec_setup(vertex, op, &format!("tanto-{}", key.short(10)), inputs).await?;
        let crate::exec_setup::ExecResources { pending, keep_alive, secret_files, used_secrets, services } = resources;
        if crate::telemetry::enabled() {
            // the command as progress shows it, scrubbed of the secrets this exec uses
            span.record("command", scrub_str(&vertex.label(), &used_secrets));
            // added to the process only, never to the op: outside the cache key
            let trace_env = crate::telemetry::exec_env(span, &spec.env);
            spec.env.extend(trace_env);
        }
        let _cleanup = secret_files;
        let sink = self.progress.exec_sink(key, used_secrets.clone());
        self.active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let active = ActiveGuard(&self.active);
        let res = if op.nesting {
            let session = match self.nested.get() {
                Some(n) => n.open(),
                None => return Err(EngineError::internal("nested sessions are not set up in this engine")),
            };
            crate::nested::run_with_session(&self.executor, spec, sink, session, self.max_request_bytes)
                .await
                .map_err(Nested)
        } else {
            self.executor.run(spec, sink).await.map_err(Direct)
        };
        drop(active);
        drop(keep_alive);
        drop(services);
        let info: ExitInfo = match res {
            Ok(info) => info,
            Err(Direct(tanto_exec::ExecError::CommandNotFound { cmd, search_path })) => {
                // As a runtime reports it: exit code 127, the reason on stderr.
                let cmd = scrub_str(&cmd, &used_secrets);
                return Err(EngineError::exec(ExecFailure {
                    cmd: op.args.iter().map(|a| scrub_str(a, &used_secrets)).collect(),
                    exit_code: 127,
                    stdout: Vec::new(),
                    stderr: format!("exec: `{cmd}`: executable file not found in $PATH ({search_path})").into_bytes(),
                    hint: Some(format!(
                        "`{cmd}` was not found in the container's $PATH; install it in the image or use an absolute path"
                    )),
                }));
            }
            Err(Direct(e)) => return Err(EngineError::new(e.tier(), scrub_str(&e.to_string(), &used_secrets))),
            Err(Nested(e)) => return Err(EngineError::new(e.tier(), scrub_str(&e.to_string(), &used_secrets))),
        };
        let meta = ExecMeta {
            exit_code: info.exit_code,
            stdout: scrub(&info.stdout, &used_secrets),
            stderr: scrub(&info.stderr, &used_secrets),
            combined: scrub(&info.combined, &used_secrets),
        };
        if !used_secrets.is_empty() {
            self.progress.output(key, &meta.combined);
        }
        let failed = match op.expect {
            Expect::Success => meta.exit_code != 0,
            Expect::Failure => meta.exit_code == 0,
            Expect::Any => false,
        };
        if failed {
            if let Some(lock) = &self.interactive {
                let _one = lock.lock().await;
                self.debug_shell(vertex, op, key, inputs).await;
            }
            return Err(EngineError::exec(ExecFailure {
                cmd: op.args.iter().map(|a| scrub_str(a, &used_secrets)).collect(),
                exit_code: meta.exit_code,
                stdout: meta.stdout,
                stderr: meta.stderr,
                hint: None,
            }));
        }
        let key = key.to_string();
        blocking(move || pending.commit(&key, Some(meta))).await
    }
}

impl Worker {
    /// `--interactive`: a shell (`sh`) attached to the user's terminal in the
    /// container of the exec that failed — its input state (the failed
    /// command's own changes are gone), mounts and environment. Problems are
    /// said and otherwise ignored: the step's error follows either way.
    async fn debug_shell(&self, vertex: &Vertex, op: &ExecOp, key: Digest, inputs: &[Output]) {
        let tty = match crate::terminal::UserTerminal::open() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("--interactive: no shell for the failed step: {e}");
                return;
            }
        };
        let setup = match self.exec_setup(vertex, op, &format!("tanto-{}", key.short(10)), inputs).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("--interactive: no shell for the failed step: {e}");
                return;
            }
        };
        let mut spec = setup.spec;
        spec.args = vec!["sh".into()];
        spec.stdin = None;
        spec.redirect_stdin = None;
        spec.redirect_stdout = None;
        spec.redirect_stderr = None;
        let crate::exec_setup::ExecResources { keep_alive, secret_files, services, .. } = setup.resources;
        let _cleanup = secret_files;
        let _paused = self.progress.pause();
        {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "\r\n`{}` failed: a shell in its container (as it was before the command, with its mounts and environment); `exit` to go on\r",
                vertex.label()
            );
        }
        if let Err(e) = tty.run(&self.executor, spec).await {
            tracing::warn!("--interactive: the shell for the failed step: {e}");
        }
        drop((keep_alive, services));
    }
}

/// How running an exec failed: the executor's own error, or the nested session's.
enum RunError {
    Direct(tanto_exec::ExecError),
    Nested(EngineError),
}
use RunError::{Direct, Nested};

/// A file op: incrementally from an earlier copy when it is one copy of a
/// source that has one (see `copyinc`), else by applying its actions to a
/// new snapshot over `base`.
pub(crate) fn file_op_blocking(
    store: &Store,
    base: Option<SnapshotId>,
    op: &FileOp,
    sources: &[Option<SnapshotId>],
    key: &str,
) -> Result<Output, EngineError> {
    let plan = crate::copyinc::CopyPlan::of(op, base, sources);
    if let Some(plan) = &plan {
        if let Some(out) = crate::copyinc::try_incremental(store, plan, key)? {
            return Ok(out);
        }
    }
    let (out, id) = apply_actions(store, base, &op.actions, sources, key)?;
    if let Some(plan) = &plan {
        plan.remember(store, id, 0);
    }
    Ok(out)
}

/// Applies `actions` to a new snapshot over `base` and commits it under `key`.
pub(crate) fn apply_actions(
    store: &Store,
    base: Option<SnapshotId>,
    actions: &[FileAction],
    sources: &[Option<SnapshotId>],
    key: &str,
) -> Result<(Output, SnapshotId), EngineError> {
    let mut pending = Pending::new(store);
    let prep = store.prepare(base.map(|b| (b, "/")))?;
    let id = prep.id;
    let view = store.mount_rw(&prep)?;
    pending.items.push(prep);
    let root = Root::open(view.path()).map_err(|e| EngineError::internal(format!("opening the snapshot: {e}")))?;
    for action in actions {
        apply_action(store, &root, action, sources)?;
    }
    drop(root);
    drop(view);
    Ok((pending.commit(key, None)?, id))
}

/// `owner`'s uid and gid, names resolved with `root`'s `/etc/passwd` and `/etc/group`.
pub(crate) fn owner_ids(root: &Root, owner: Option<&Owner>) -> tanto_fs::Result<Option<(u32, u32)>> {
    match owner {
        Some(owner) => root.resolve_owner(&owner.to_string()),
        None => Ok(None),
    }
}

fn io_msg<E: Into<EngineError>>(what: &str) -> impl Fn(E) -> EngineError + '_ {
    move |e| e.into().context(what)
}

fn apply_action(
    store: &Store,
    root: &Root,
    action: &FileAction,
    sources: &[Option<SnapshotId>],
) -> Result<(), EngineError> {
    match action {
        FileAction::Mkfile { path, data, mode, owner } => {
            let owner = owner_ids(root, owner.as_ref()).map_err(io_msg("resolving the owner"))?;
            root.write_file(path, data.as_bytes(), *mode, owner).map_err(io_msg(&format!("writing `{path}`")))
        }
        FileAction::Mkdir { path, mode, owner } => {
            let owner = owner_ids(root, owner.as_ref()).map_err(io_msg("resolving the owner"))?;
            root.mkdir(path, *mode, owner).map_err(io_msg(&format!("creating directory `{path}`")))
        }
        FileAction::Rm { path, allow_not_found } => {
            root.remove(path, *allow_not_found).map_err(io_msg(&format!("removing `{path}`")))
        }
        FileAction::Symlink { target, link } => {
            root.symlink(target, link).map_err(io_msg(&format!("creating symlink `{link}`")))
        }
        FileAction::Copy { src, src_path, dest, include, exclude, mode, owner, gitignore } => {
            let filter = Filter::new(include, exclude)?.with_gitignore(*gitignore);
            let owner = owner_ids(root, owner.as_ref()).map_err(io_msg("resolving the owner"))?;
            let snap = match src {
                Some(i) => sources.get(*i as usize).copied().flatten(),
                None => None,
            };
            let view = store.view(snap, "/")?;
            let src_root = Root::open(view.path()).map_err(io_msg("opening the copy source"))?;
            if snap.is_none() && src_path == "/" {
                return root.mkdir(dest, 0o755, owner).map_err(io_msg(&format!("creating directory `{dest}`")));
            }
            tanto_fs::copy(&src_root, src_path, root, dest, &CopyOpts { filter: &filter, mode: *mode, owner })
                .map_err(io_msg(&format!("copying `{src_path}` to `{dest}`")))
        }
        FileAction::EnsureDir { path, mode, owner } => {
            let owner = owner.as_ref().map(Owner::to_string).unwrap_or_default();
            tanto_fs::ensure_dir(root, path, *mode, &owner).map_err(io_msg(&format!("creating directory `{path}`")))
        }
        FileAction::Chown { path, owner } => {
            let (uid, gid) = owner_ids(root, Some(owner))
                .map_err(io_msg("resolving the owner"))?
                .ok_or_else(|| EngineError::input(format!("chown of `{path}` needs an owner such as `1000:1000`")))?;
            tanto_fs::chown(root, path, uid, gid).map_err(io_msg(&format!("changing the owner of `{path}`")))
        }
        FileAction::Timestamps { path, timestamp } => {
            tanto_fs::timestamps(root, path, *timestamp).map_err(io_msg(&format!("setting the timestamps of `{path}`")))
        }
        FileAction::Replace { path, search, replacement, all, first_from } => {
            tanto_fs::replace(root, path, search, replacement, *all, *first_from)
                .map_err(io_msg(&format!("replacing text in `{path}`")))
        }
        FileAction::Patch { dir, patch } => {
            let text = match patch {
                PatchSource::Text(text) => text.clone(),
                PatchSource::File { src, path } => {
                    let snap = sources.get(*src as usize).copied().flatten();
                    let view = store.view(snap, "/")?;
                    let data = Root::open(view.path())
                        .and_then(|r| r.read_file(path))
                        .map_err(io_msg(&format!("reading the patch `{path}`")))?;
                    String::from_utf8(data)
                        .map_err(|_| EngineError::input(format!("the patch `{path}` is not UTF-8 text")))?
                }
            };
            tanto_fs::apply_patch(root, dir, &text).map_err(io_msg(&format!("applying a patch to `{dir}`")))
        }
        FileAction::Unpack { src, src_path, dest, mode, owner } => {
            let owner = owner_ids(root, owner.as_ref()).map_err(io_msg("resolving the owner"))?;
            let snap = src.and_then(|i| sources.get(i as usize).copied().flatten());
            let view = store.view(snap, "/")?;
            let src_root = Root::open(view.path()).map_err(io_msg("opening the ADD source"))?;
            let filter = Filter::none();
            tanto_oci::layer::unpack_or_copy(
                &src_root,
                src_path,
                root,
                dest,
                &CopyOpts { filter: &filter, mode: *mode, owner },
            )
            .map_err(io_msg(&format!("adding `{src_path}` to `{dest}`")))
        }
        FileAction::ApplyChanges { lower, lower_path, upper, upper_path, dest } => {
            let snap = |i: &Option<u32>| i.and_then(|i| sources.get(i as usize).copied().flatten());
            let (lview, uview) = (store.view(snap(lower), "/")?, store.view(snap(upper), "/")?);
            let lroot = Root::open(lview.path()).map_err(io_msg("opening the changes' base"))?;
            let uroot = Root::open(uview.path()).map_err(io_msg("opening the changed side"))?;
            tanto_fs::apply_changes(&lroot, lower_path, &uroot, upper_path, root, dest)
                .map_err(io_msg(&format!("applying changes to `{dest}`")))
        }
        FileAction::Diff { lower, lower_path, upper, upper_path, dest } => {
            let snap = |i: &Option<u32>| i.and_then(|i| sources.get(i as usize).copied().flatten());
            let (lview, uview) = (store.view(snap(lower), "/")?, store.view(snap(upper), "/")?);
            let lroot = Root::open(lview.path()).map_err(io_msg("opening the diff's lower side"))?;
            let uroot = Root::open(uview.path()).map_err(io_msg("opening the diff's upper side"))?;
            tanto_fs::diff(&lroot, lower_path, &uroot, upper_path, root, dest)
                .map_err(io_msg(&format!("comparing `{upper_path}` with `{lower_path}`")))
        }
    }
}
