//! The shared cache in an OCI registry (`[cache] registry = "host:port/repo"`,
//! `TANTO_CACHE`): results of execs and file operations, step by step, as OCI
//! artifacts tagged by their cache key.
//!
//! One entry: an OCI image manifest (artifact type [`ARTIFACT`]) whose config
//! blob is the record — exit code and output of an exec, and for each output
//! where its snapshot comes from: the same snapshot as input `i`'s, or a layer
//! (an OCI layer tar of the snapshot's own files, whiteouts included) over
//! input `i`'s snapshot at a selector, or over nothing.
//!
//! After a step commits, its entry is pushed in the background (blobs the
//! registry has are not sent again). On a local miss the engine asks the
//! registry for the key before solving the step's inputs: the inputs a hit
//! needs (its layers' parents) are made present the same way — from the local
//! cache, the registry, or for image layers from their image's registry — and
//! nothing else, so a step whose successors are all hits is never pulled.
//!
//! Invariants: steps that used a secret (as a variable or a mount) are never
//! pushed, nor are cache volumes (they are mounts, never outputs); an entry is
//! recorded locally only once all its layers are applied (the store's commit);
//! a registry that is down or refuses makes a miss, never a failed step.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tanto_model::{Op, Vertex};
use tanto_oci::{ImageRef, Registry, RegistryAuth};
use tanto_store::{ExecMeta, SnapshotId};

use crate::worker::{blocking, Output, Pending, Worker};
use crate::EngineError;

/// The artifact type of an entry's manifest.
pub const ARTIFACT: &str = "application/vnd.tanto.cache.v1";
const CONFIG_TYPE: &str = "application/vnd.tanto.cache.config.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotation of a layer that holds the digest of its uncompressed tar.
const DIFF_ID: &str = "org.opencontainers.image.diffid";
/// How long asking the registry for an entry may take.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Pushes in flight at once (the rest wait their turn).
const PUSHES_AT_ONCE: usize = 4;

/// Where results are shared, from the engine config's `[cache]` section and
/// `TANTO_CACHE` (a repository, or `off`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub registry: Option<String>,
    pub push: bool,
}

impl CacheSettings {
    pub fn from_config(
        config: &tanto_oci::config::EngineConfig,
        path: Option<&std::path::Path>,
        env: Option<&str>,
    ) -> Result<CacheSettings, EngineError> {
        let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "engine config".into());
        let mut out = CacheSettings { registry: None, push: true };
        if let Some(section) = config.extra.get("cache") {
            let t =
                section.as_table().ok_or_else(|| EngineError::input(format!("`{file}`: `[cache]` must be a table")))?;
            for (k, v) in t {
                match (k.as_str(), v.as_str(), v.as_bool()) {
                    ("registry", Some(s), _) => out.registry = Some(s.to_string()),
                    ("push", _, Some(b)) => out.push = b,
                    _ => {
                        return Err(EngineError::input(format!(
                            "`{file}`: `[cache] {k} = {v}` is not a setting: use `registry = \"host:port/repo\"` and `push = true|false`"
                        )))
                    }
                }
            }
        }
        match env.map(str::trim) {
            Some("") | None => {}
            Some("off") => out.registry = None,
            Some(repo) => out.registry = Some(repo.to_string()),
        }
        if let Some(r) = &out.registry {
            let parsed = ImageRef::parse(r).map_err(|e| {
                EngineError::input(format!("the shared cache repository `{r}` ({file} or TANTO_CACHE): {e}"))
            })?;
            if parsed.tag().is_some_and(|t| t != "latest") || parsed.digest().is_some() {
                return Err(EngineError::input(format!(
                    "the shared cache `{r}` names a repository, not a tag or digest: write it as `host:port/repo`"
                )));
            }
        }
        Ok(out)
    }
}

/// What `tanto doctor` says of the shared cache of `options`' config and
/// `TANTO_CACHE`: `None` when there is none; else whether its registry can be
/// read (asked for an entry that does not exist), and whether it is pushed to.
pub async fn probe(options: &crate::EngineOptions) -> Option<Result<String, String>> {
    let (config, path) = match crate::load_config(options) {
        Ok(c) => c,
        Err(e) => return Some(Err(e.to_string())),
    };
    let settings =
        match CacheSettings::from_config(&config, path.as_deref(), std::env::var("TANTO_CACHE").ok().as_deref()) {
            Ok(s) => s,
            Err(e) => return Some(Err(e.to_string())),
        };
    let repo = settings.registry.clone()?;
    let cache = RemoteCache::new(&settings, Registry::new(Arc::new(config)))?;
    let asked =
        cache.registry.fetch_manifest_raw(&cache.repo, "tanto-doctor-probe", MANIFEST_TYPE, 1 << 20, &cache.auth);
    Some(match tokio::time::timeout(ASK_TIMEOUT, asked).await {
        Ok(Ok(_)) => Ok(format!(
            "`{repo}` answers; results are {}",
            if settings.push { "pulled and pushed" } else { "pulled only (push = false)" }
        )),
        Ok(Err(e)) => Err(format!("`{repo}`: {e}")),
        Err(_) => Err(format!("`{repo}` did not answer within {} s", ASK_TIMEOUT.as_secs())),
    })
}

/// The record in an entry's config blob.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(default, with = "b64")]
    stdout: Vec<u8>,
    #[serde(default, with = "b64")]
    stderr: Vec<u8>,
    #[serde(default, with = "b64")]
    combined: Vec<u8>,
    outputs: Vec<Out>,
}

/// Where one output's snapshot comes from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "from", rename_all = "snake_case")]
enum Out {
    /// The snapshot of the step's input `input` (a mount read back unchanged).
    Input { input: u32 },
    /// Layer `layer` of the manifest over input `parent`'s snapshot seen at
    /// `selector`; `root`: the snapshot's own root directory (a layer has no
    /// entry for it, and a step may have changed it).
    Layer { layer: usize, parent: Option<u32>, selector: String, root: RootMeta },
}

/// Owner, mode and modification time of a snapshot's root directory.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
struct RootMeta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    mtime_nsec: i64,
}

impl RootMeta {
    fn read(dir: &std::path::Path) -> std::io::Result<RootMeta> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(dir)?;
        Ok(RootMeta {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }

    fn apply(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::lchown(dir, Some(self.uid), Some(self.gid))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(self.mode))?;
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: self.mtime as _, tv_nsec: self.mtime_nsec as _ },
            last_modification: rustix::fs::Timespec { tv_sec: self.mtime as _, tv_nsec: self.mtime_nsec as _ },
        };
        rustix::fs::utimensat(rustix::fs::CWD, dir, &t, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// The tag of the entry for `key` (`sha256:<hex>` → `sha256-<hex>`).
fn tag(key: &str) -> String {
    key.replace(':', "-")
}

/// Whether `d` is a digest in its canonical form (`sha256:<64 lower-case hex>`,
/// what names a blob file).
fn valid_digest(d: &str) -> bool {
    d.parse::<tanto_model::Digest>().is_ok_and(|g| g.to_string() == d)
}

/// Whether the step itself may be shared: not one that saw a secret, a host
/// socket, a nested session, a service or a device (its result may hold what
/// it saw, or depend on something outside the graph).
fn clean_op(v: &Vertex) -> bool {
    use tanto_model::op::ExecMountKind;
    match &v.op {
        Op::Exec(e) => {
            e.secret_env.is_empty()
                && !e.nesting
                && e.services.is_empty()
                && e.devices.is_empty()
                && !e
                    .mounts
                    .iter()
                    .any(|m| matches!(m.kind, ExecMountKind::Secret { .. } | ExecMountKind::Socket { .. }))
        }
        _ => true,
    }
}

/// Whether a step's result may be shared: an exec or file operation, clean
/// itself and with nothing unclean anywhere below it (a copy of a file a
/// secret step wrote holds the secret too). Walked without recursion, what is
/// known remembered in `memo`.
fn shareable(v: &Arc<Vertex>, memo: &std::sync::Mutex<HashMap<String, bool>>) -> bool {
    if !matches!(v.op, Op::Exec(_) | Op::File(_)) {
        return false;
    }
    let mut memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    let mut stack: Vec<(Arc<Vertex>, bool)> = vec![(v.clone(), false)];
    while let Some((cur, expanded)) = stack.pop() {
        let key = cur.key().to_string();
        if memo.contains_key(&key) {
            continue;
        }
        if !expanded {
            stack.push((cur.clone(), true));
            stack.extend(
                cur.inputs
                    .iter()
                    .filter(|r| !memo.contains_key(&r.vertex.key().to_string()))
                    .map(|r| (r.vertex.clone(), false)),
            );
            continue;
        }
        let clean = clean_op(&cur) && cur.inputs.iter().all(|r| memo.get(&r.vertex.key().to_string()) == Some(&true));
        memo.insert(key, clean);
    }
    memo.get(&v.key().to_string()) == Some(&true)
}

/// Why a pull did not give a result.
pub enum PullError {
    /// The registry could not be read (down, refusing): pulls stop.
    Registry(EngineError),
    /// This entry is unusable (malformed, for another key): a miss of its key.
    Entry(EngineError),
    /// Something here failed (disk, a parent's image layer): the step runs.
    Local(EngineError),
}

fn entry_err(key: &str, what: impl std::fmt::Display) -> PullError {
    PullError::Entry(EngineError::environment(format!("the shared cache's entry for {key}: {what}")))
}

/// The shared cache of one engine.
pub struct RemoteCache {
    repo: ImageRef,
    push: bool,
    registry: Registry,
    auth: RegistryAuth,
    /// Background pushes, awaited at shutdown.
    pushes: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    /// At most this many pushes talk to the registry at once.
    push_slots: Arc<tokio::sync::Semaphore>,
    /// Keys the registry had no (usable) entry for, asked once per engine.
    absent: std::sync::Mutex<HashSet<String>>,
    /// Keys with an entry whose parents could not be had before the solver
    /// solved them (too deep, or made by running something): asked again
    /// only once their parents are here, never again before (no deep dive
    /// per step of a long chain).
    needs_parents: std::sync::Mutex<HashSet<String>>,
    /// Which steps may be shared (see [`shareable`]), by key.
    clean: std::sync::Mutex<HashMap<String, bool>>,
    /// Set at the first failure to read the registry (pulls) or to write it
    /// (pushes: a read-only token, say): said once, then the engine goes on
    /// without it.
    down: AtomicBool,
    push_down: AtomicBool,
}

impl RemoteCache {
    pub fn new(settings: &CacheSettings, registry: Registry) -> Option<Arc<RemoteCache>> {
        let repo = ImageRef::parse(settings.registry.as_deref()?).ok()?;
        let auth = tanto_oci::registry::with_docker_credentials(RegistryAuth::anonymous(), repo.origin_host());
        Some(Arc::new(RemoteCache {
            repo,
            push: settings.push,
            registry,
            auth,
            pushes: Default::default(),
            push_slots: Arc::new(tokio::sync::Semaphore::new(PUSHES_AT_ONCE)),
            absent: Default::default(),
            needs_parents: Default::default(),
            clean: Default::default(),
            down: Default::default(),
            push_down: Default::default(),
        }))
    }

    /// Whether to ask for `vertex` before its inputs are solved: not when an
    /// earlier ask found its parents missing.
    pub fn may_have_now(&self, vertex: &Arc<Vertex>) -> bool {
        self.may_have(vertex)
            && !self.needs_parents.lock().unwrap_or_else(|p| p.into_inner()).contains(&vertex.key().to_string())
    }

    /// Whether an entry for `vertex` may be in the registry (a shareable step
    /// not found missing before, the registry readable).
    pub fn may_have(&self, vertex: &Arc<Vertex>) -> bool {
        !self.down.load(Ordering::Relaxed)
            && !self.absent.lock().unwrap_or_else(|p| p.into_inner()).contains(&vertex.key().to_string())
            && shareable(vertex, &self.clean)
    }

    /// A pull that failed: the registry's fault stops pulls (said once); a
    /// bad entry is a miss of its key; a local failure is said and the step runs.
    pub fn failed(&self, vertex: &Vertex, e: PullError) {
        match e {
            PullError::Registry(e) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(repository = %self.repo, error = %e, "the shared cache cannot be read: steps run here");
                }
            }
            PullError::Entry(e) => {
                tracing::warn!(step = %vertex.label(), error = %e, "an unusable entry in the shared cache: running the step");
                self.absent.lock().unwrap_or_else(|p| p.into_inner()).insert(vertex.key().to_string());
            }
            PullError::Local(e) => {
                tracing::warn!(step = %vertex.label(), error = %e, "taking a result from the shared cache failed: running the step")
            }
        }
    }

    fn push_failed(&self, e: &EngineError) {
        if !self.push_down.swap(true, Ordering::Relaxed) {
            tracing::warn!(repository = %self.repo, error = %e, "the shared cache cannot be written: results are not shared (`push = false` for read-only runners)");
        }
    }

    /// Waits (at most `limit`) for the pushes in flight.
    pub async fn flush(&self, limit: std::time::Duration) {
        let mut set = self.pushes.lock().await;
        let deadline = tokio::time::Instant::now() + limit;
        while !set.is_empty() {
            if tokio::time::timeout_at(deadline, set.join_next()).await.is_err() {
                tracing::warn!(left = set.len(), "shared cache: pushes still running at exit were dropped");
                set.abort_all();
                return;
            }
        }
    }

    /// Pushes the result `out` of `vertex` (key `key`, inputs `inputs`) in the background.
    pub async fn push_later(
        self: &Arc<Self>,
        store: tanto_store::Store,
        vertex: Arc<Vertex>,
        key: String,
        inputs: Vec<Output>,
        out: Output,
    ) {
        if !self.push || self.push_down.load(Ordering::Relaxed) || !shareable(&vertex, &self.clean) {
            return;
        }
        let this = self.clone();
        let mut pushes = self.pushes.lock().await;
        while pushes.try_join_next().is_some() {} // the finished ones
        pushes.spawn(async move {
            let Ok(_slot) = this.push_slots.clone().acquire_owned().await else { return };
            let t = std::time::Instant::now();
            match this.push(store, &vertex, &key, &inputs, &out).await {
                Ok(true) => tracing::debug!(key, ms = t.elapsed().as_millis() as u64, "shared cache: pushed"),
                Ok(false) => {}
                Err(e) => this.push_failed(&e),
            }
        });
    }

    /// Pushes one entry; `false` when the registry has it already or its
    /// outputs cannot be described.
    async fn push(
        &self,
        store: tanto_store::Store,
        vertex: &Vertex,
        key: &str,
        inputs: &[Output],
        out: &Output,
    ) -> Result<bool, EngineError> {
        let err = |e: tanto_oci::registry::PushError| EngineError::environment(e.to_string());
        if self
            .registry
            .fetch_manifest_raw(&self.repo, &tag(key), MANIFEST_TYPE, 4 << 20, &self.auth)
            .await
            .map_err(err)?
            .is_some()
        {
            return Ok(false);
        }
        // Each input's snapshot, as the step saw it.
        let input_snaps: Vec<Option<SnapshotId>> =
            (0..vertex.inputs.len() as u32).map(|i| crate::worker::input_snapshot(vertex, inputs, i).ok()).collect();
        let ids = out.outputs.clone();
        let dir = store.tmp_path("cache-push");
        let described = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| EngineError::internal(format!("{}: {e}", dir.display())))?;
            let mut outs = Vec::new();
            let mut layers = Vec::new();
            for id in ids {
                if let Some(i) = input_snaps.iter().position(|s| *s == Some(id)) {
                    outs.push(Out::Input { input: i as u32 });
                    continue;
                }
                let parent = match store.parent_of(id)? {
                    None => None,
                    Some((p, sel)) => match input_snaps.iter().position(|s| *s == Some(p)) {
                        Some(i) => Some((i as u32, sel)),
                        None => return Ok(None), // over a snapshot that is no input: not shareable
                    },
                };
                let fs = store.snapshot_dir(id);
                let root = RootMeta::read(&fs).map_err(|e| EngineError::internal(format!("{}: {e}", fs.display())))?;
                let path = dir.join(format!("layer-{}", layers.len()));
                let blob = tanto_oci::layer::diff::write_layer(
                    &fs,
                    tanto_oci::layer::diff::TreeKind::Diff,
                    tanto_model::Compression::Gzip,
                    &path,
                )
                .map_err(|e| EngineError::internal(format!("making a layer of a result: {e}")))?;
                let (parent, selector) = match parent {
                    Some((i, sel)) => (Some(i), sel),
                    None => (None, String::new()),
                };
                outs.push(Out::Layer { layer: layers.len(), parent, selector, root });
                layers.push((blob, path));
            }
            Ok(Some((outs, layers, dir)))
        })
        .await?;
        let Some((outs, layers, dir)) = described else { return Ok(false) };
        let res = self.upload(key, out, outs, &layers).await;
        let _ = std::fs::remove_dir_all(&dir);
        res.map(|()| true)
    }

    async fn upload(
        &self,
        key: &str,
        out: &Output,
        outputs: Vec<Out>,
        layers: &[(tanto_model::LayerBlob, std::path::PathBuf)],
    ) -> Result<(), EngineError> {
        let err = |e: tanto_oci::registry::PushError| EngineError::environment(e.to_string());
        for (blob, path) in layers {
            self.registry.push_blob(&self.repo, &blob.digest, path, None, &self.auth).await.map_err(err)?;
        }
        let meta = out.meta.as_deref();
        let entry = Entry {
            key: key.to_string(),
            exit_code: meta.map(|m| m.exit_code),
            stdout: meta.map(|m| m.stdout.clone()).unwrap_or_default(),
            stderr: meta.map(|m| m.stderr.clone()).unwrap_or_default(),
            combined: meta.map(|m| m.combined.clone()).unwrap_or_default(),
            outputs,
        };
        let config = serde_json::to_vec(&entry).map_err(|e| EngineError::internal(e.to_string()))?;
        let config_digest = tanto_model::Digest::of(&config).to_string();
        self.registry.push_blob_bytes(&self.repo, &config_digest, &config, &self.auth).await.map_err(err)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|(b, _)| serde_json::json!({
                "mediaType": LAYER_TYPE, "digest": b.digest, "size": b.size,
                "annotations": {DIFF_ID: b.diff_id},
            })).collect::<Vec<_>>(),
            "annotations": {"dev.tanto.cache.key": key},
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| EngineError::internal(e.to_string()))?;
        self.registry.push_manifest(&self.repo, &tag(key), MANIFEST_TYPE, &bytes, &self.auth).await.map_err(err)?;
        Ok(())
    }

    /// The result of `vertex` from the registry, recorded locally (the
    /// caller holds the step's in-flight lease); `None` when the registry has
    /// no entry for it, or its parents cannot be had without running something.
    pub async fn pull(&self, worker: &Worker, vertex: &Arc<Vertex>, depth: usize) -> Result<Option<Output>, PullError> {
        let key = vertex.key().to_string();
        let reg = |e: tanto_oci::registry::PushError| PullError::Registry(EngineError::environment(e.to_string()));
        // A registry that takes connections and never answers must not hold steps up.
        let slow = || {
            PullError::Registry(EngineError::environment(format!(
                "`{}` did not answer within {} s",
                self.repo,
                ASK_TIMEOUT.as_secs()
            )))
        };
        let tag = tag(&key);
        let asked = self.registry.fetch_manifest_raw(&self.repo, &tag, MANIFEST_TYPE, 4 << 20, &self.auth);
        let Some(manifest) = tokio::time::timeout(ASK_TIMEOUT, asked).await.map_err(|_| slow())?.map_err(reg)? else {
            self.absent.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Desc {
            digest: String,
            size: u64,
            #[serde(default)]
            annotations: HashMap<String, String>,
        }
        #[derive(Deserialize)]
        struct Manifest {
            config: Desc,
            #[serde(default)]
            layers: Vec<Desc>,
        }
        let m: Manifest =
            serde_json::from_slice(&manifest).map_err(|e| entry_err(&key, format!("not a manifest: {e}")))?;
        if let Some(bad) = std::iter::once(&m.config).chain(&m.layers).find(|d| !valid_digest(&d.digest)) {
            return Err(entry_err(&key, format!("`{}` is not a sha256 digest", bad.digest)));
        }
        let blobs_at = tanto_oci::BlobRepo {
            host: self.repo.origin_host().to_string(),
            repository: self.repo.repository().to_string(),
            http: self.registry.config().endpoint_for(self.repo.origin_host(), false).http,
        };
        let config = self.registry.fetch_blob_bytes(&blobs_at, &m.config.digest, 16 << 20, &self.auth);
        let config = tokio::time::timeout(ASK_TIMEOUT, config)
            .await
            .map_err(|_| slow())?
            .map_err(|e| PullError::Registry(e.into()))?;
        let entry: Entry = serde_json::from_slice(&config).map_err(|e| entry_err(&key, format!("malformed: {e}")))?;
        if entry.key != key {
            return Err(entry_err(&key, format!("it is tagged for this key but made for {}", entry.key)));
        }
        // The parents its outputs need, and nothing more.
        let mut parents: Vec<Option<Output>> = vec![None; vertex.inputs.len()];
        for o in &entry.outputs {
            let i = match o {
                Out::Input { input } => Some(*input),
                Out::Layer { parent, .. } => *parent,
            };
            let Some(i) = i else { continue };
            let r = vertex
                .inputs
                .get(i as usize)
                .ok_or_else(|| entry_err(&key, format!("it names input {i}, which the step has not")))?;
            if parents[i as usize].is_none() {
                match worker.ensure(&r.vertex, depth + 1).await.map_err(PullError::Local)? {
                    Some(out) => parents[i as usize] = Some(out),
                    None => {
                        self.needs_parents.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
                        return Ok(None);
                    }
                }
            }
        }
        let parent_snap = |i: u32| -> Result<SnapshotId, PullError> {
            let r = &vertex.inputs[i as usize];
            parents[i as usize]
                .as_ref()
                .and_then(|o| o.outputs.get(r.output as usize).copied())
                .ok_or_else(|| entry_err(&key, format!("input {i} has no output {}", r.output)))
        };
        /// How one output is made here.
        enum Made {
            Same(SnapshotId),
            Layer {
                blob: std::path::PathBuf,
                diff_id: Option<String>,
                parent: Option<SnapshotId>,
                selector: String,
                root: RootMeta,
            },
        }
        let mut plan = Vec::new();
        let mut blobs = Vec::new();
        for o in &entry.outputs {
            match o {
                Out::Input { input } => plan.push(Made::Same(parent_snap(*input)?)),
                Out::Layer { layer, parent, selector, root } => {
                    let l = m
                        .layers
                        .get(*layer)
                        .ok_or_else(|| entry_err(&key, format!("it names layer {layer}, which it has not")))?;
                    let parent = parent.map(parent_snap).transpose()?;
                    let path = worker.store.blob_path(&l.digest);
                    if !path.is_file() {
                        self.registry
                            .fetch_blob_with_auth(&blobs_at, &l.digest, Some(l.size), &path, &self.auth)
                            .await
                            .map_err(|e| PullError::Registry(e.into()))?;
                    }
                    blobs.push(l.digest.clone());
                    plan.push(Made::Layer {
                        blob: path,
                        diff_id: l.annotations.get(DIFF_ID).cloned(),
                        parent,
                        selector: selector.clone(),
                        root: *root,
                    });
                }
            }
        }
        let meta = entry.exit_code.map(|exit_code| ExecMeta {
            exit_code,
            stdout: entry.stdout,
            stderr: entry.stderr,
            combined: entry.combined,
        });
        let store = worker.store.clone();
        let (kind, label) = (if matches!(vertex.op, Op::Exec(_)) { "exec" } else { "file" }, vertex.label());
        let out = blocking(move || {
            let mut pending = Pending::new(&store);
            let mut ids = Vec::new();
            for made in plan {
                match made {
                    Made::Same(id) => ids.push(id),
                    Made::Layer { blob, diff_id, parent, selector, root } => {
                        let sel = if selector.is_empty() { "/".to_string() } else { selector };
                        let prep = store.prepare(parent.map(|p| (p, sel.as_str())))?;
                        let (upper, lowers) = (prep.upper.clone(), prep.lowers.clone());
                        ids.push(prep.id);
                        pending.items.push(prep);
                        let stats = tanto_oci::layer::apply_layer(&blob, LAYER_TYPE, &upper, &lowers)?;
                        if diff_id.as_deref().is_some_and(|d| d != stats.diff_id) {
                            return Err(EngineError::environment(format!(
                                "a layer of the shared cache's entry for {key} unpacked to {} but the entry says {}",
                                stats.diff_id,
                                diff_id.unwrap_or_default()
                            )));
                        }
                        root.apply(&upper).map_err(|e| EngineError::internal(format!("{}: {e}", upper.display())))?;
                    }
                }
            }
            let out = pending.commit_outputs(&key, ids, meta)?;
            // owned by its record: GC, `du` and `explain` see it
            store.describe(&key, kind, &label, &blobs)?;
            Ok(out)
        })
        .await
        .map_err(PullError::Local)?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = |text: &str| {
            let p = dir.path().join("engine.toml");
            std::fs::write(&p, text).unwrap();
            tanto_oci::config::EngineConfig::load(&p).unwrap()
        };
        // (config, TANTO_CACHE, registry, push / error)
        type Want<'a> = Result<(Option<&'a str>, bool), &'a str>;
        let cases: [(&str, Option<&str>, Want); 6] = [
            ("", None, Ok((None, true))),
            ("[cache]\nregistry = \"127.0.0.1:5000/cache\"\n", None, Ok((Some("127.0.0.1:5000/cache"), true))),
            ("[cache]\nregistry = \"r:5000/c\"\npush = false\n", None, Ok((Some("r:5000/c"), false))),
            ("[cache]\nregistry = \"r:5000/c\"\n", Some("off"), Ok((None, true))),
            ("", Some("h:1/x"), Ok((Some("h:1/x"), true))),
            ("[cache]\nregistery = \"r:5000/c\"\n", None, Err("is not a setting")),
        ];
        for (text, env, want) in cases {
            let got = CacheSettings::from_config(&cfg(text), None, env);
            match (got, want) {
                (Ok(s), Ok((reg, push))) => assert_eq!((s.registry.as_deref(), s.push), (reg, push), "{text} {env:?}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e}"),
                (got, want) => panic!("{text} {env:?}: {got:?} / {want:?}"),
            }
        }
    }

    #[test]
    fn entries_round_trip() {
        let e = Entry {
            key: "sha256:ab".into(),
            exit_code: Some(0),
            stdout: b"hi\n".to_vec(),
            stderr: vec![],
            combined: b"hi\n".to_vec(),
            outputs: vec![
                Out::Layer {
                    layer: 0,
                    parent: Some(0),
                    selector: "/".into(),
                    root: RootMeta { uid: 0, gid: 0, mode: 0o700, mtime: 1, mtime_nsec: 2 },
                },
                Out::Input { input: 1 },
            ],
        };
        let back: Entry = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
        assert_eq!((back.key, back.stdout, back.outputs), (e.key, e.stdout, e.outputs));
        assert_eq!(tag("sha256:ab"), "sha256-ab");
        // (digest, well-formed)
        let cases = [
            (format!("sha256:{}", "a".repeat(64)), true),
            (format!("sha256:{}", "A".repeat(64)), false),
            ("sha256:../../etc".to_string(), false),
            (format!("sha512:{}", "a".repeat(64)), false),
        ];
        for (d, want) in cases {
            assert_eq!(valid_digest(&d), want, "{d}");
        }
    }
}
