//! The API's [`Backend`]: image resolution, solving, and reading results.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tanto_api::dagger::backend::ImageOptions;
use tanto_api::dagger::objects::{ContainerObj, FileObj, ImageConfig, PortObj};
use tanto_api::dagger::{Backend, EntryKind, EntryStat, ExecOutput, ResolvedImage};
use tanto_api::gql::FieldError;
use tanto_model::Ref;
use tanto_solver::Solver;
use tanto_store::SnapshotId;

use crate::fsops::{self, Root, Stat};
use crate::worker::Worker;
use crate::EngineError;

pub struct EngineBackend {
    pub(crate) solver: Arc<Solver<Worker>>,
    platform: String,
    images: Mutex<HashMap<(String, String), ResolvedImage>>,
    /// The client's host: working directory, registry credentials (`export.rs`).
    pub(crate) host: crate::export::HostState,
    /// Name, client and cache settings (`cache.rs`).
    pub(crate) identity: crate::cache::EngineIdentity,
}

fn field_err(e: &EngineError) -> FieldError {
    FieldError::from(e)
}

fn entry(name: String, st: &Stat) -> EntryStat {
    let kind = match fsops::file_type(st) {
        rustix::fs::FileType::RegularFile => EntryKind::File,
        rustix::fs::FileType::Directory => EntryKind::Dir,
        rustix::fs::FileType::Symlink => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    EntryStat { name, kind, size: st.st_size.max(0) as u64, mode: st.st_mode & 0o7777 }
}

pub(crate) fn image_config(raw: &tanto_oci::image::ImageConfig) -> ImageConfig {
    let c = &raw.config;
    ImageConfig {
        env: c.env.clone(),
        user: c.user.clone().unwrap_or_default(),
        workdir: c.working_dir.clone().unwrap_or_default(),
        entrypoint: c.entrypoint.clone().unwrap_or_default(),
        cmd: c.cmd.clone().unwrap_or_default(),
        labels: c.labels.clone(),
        exposed_ports: c
            .exposed_ports
            .keys()
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                Some(PortObj {
                    port: port.parse().ok()?,
                    protocol: proto.to_ascii_uppercase(),
                    description: None,
                    skip_healthcheck: false,
                })
            })
            .collect(),
        volumes: c.volumes.keys().cloned().collect(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        healthcheck: c.extra.get("Healthcheck").and_then(tanto_api::dagger::objects::HealthcheckObj::from_docker_json),
    }
}

impl EngineBackend {
    async fn git_auth(
        &self,
        auth: &tanto_api::dagger::sources::GitAuth,
    ) -> Result<crate::sources::GitAuth, FieldError> {
        let secrets = &self.worker().secrets;
        let mut out = crate::sources::GitAuth::default();
        if let Some(id) = &auth.header {
            out.header = Some(secrets.get(id).await.map_err(|e| field_err(&e))?);
        }
        if let Some(id) = &auth.token {
            out.token = Some((auth.username.clone(), secrets.get(id).await.map_err(|e| field_err(&e))?));
        }
        Ok(out)
    }

    /// `workdir`: the client's working directory (host paths are relative to it).
    pub fn new(solver: Arc<Solver<Worker>>, workdir: std::path::PathBuf) -> EngineBackend {
        let auth = solver.worker().registry_auth.clone();
        EngineBackend {
            solver,
            platform: tanto_oci::platform::Platform::host().to_string(),
            images: Mutex::new(HashMap::new()),
            host: crate::export::HostState::new(workdir, auth),
            identity: Default::default(),
        }
    }

    /// With the cache settings of the engine config (`[gc]`).
    pub fn with_gc(mut self, gc: crate::cache::GcSettings) -> EngineBackend {
        self.identity.gc = gc;
        self
    }

    pub(crate) fn worker(&self) -> &Arc<Worker> {
        self.solver.worker()
    }

    pub(crate) async fn snapshot(&self, root: Option<&Ref>) -> Result<Option<SnapshotId>, FieldError> {
        let Some(r) = root else { return Ok(None) };
        let out = self.solver.solve(r.vertex.clone()).await.map_err(|e| field_err(&e))?;
        out.outputs
            .get(r.output as usize)
            .copied()
            .map(Some)
            .ok_or_else(|| FieldError::from(format!("internal error: no output {} for {:?}", r.output, r.vertex)))
    }

    /// A view of directory `path` of `root` (for tools that need a host path).
    async fn view_of(&self, root: Option<&Ref>, path: &str) -> Result<tanto_store::View, FieldError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        let p = path.to_string();
        tokio::task::spawn_blocking(move || store.view(snap, &p).map_err(|e| FieldError::from(e.to_string())))
            .await
            .map_err(|e| FieldError::from(format!("internal error: {e}")))?
    }

    /// Runs `f` on a read-only root of `root`'s filesystem, off the async runtime.
    async fn with_root<T: Send + 'static>(
        &self,
        root: Option<&Ref>,
        f: impl FnOnce(&Root) -> Result<T, FieldError> + Send + 'static,
    ) -> Result<T, FieldError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        tokio::task::spawn_blocking(move || {
            let view = store.view(snap, "/").map_err(|e| FieldError::from(e.to_string()))?;
            let r = Root::open(view.path()).map_err(|e| FieldError::from(format!("opening a snapshot: {e}")))?;
            f(&r)
        })
        .await
        .map_err(|e| FieldError::from(format!("internal error: {e}")))?
    }
}

fn not_found(path: &str, e: std::io::Error) -> FieldError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => FieldError::from(format!("`{path}`: no such file or directory")),
        _ => FieldError::from(format!("`{path}`: {e}")),
    }
}

#[async_trait::async_trait]
impl Backend for EngineBackend {
    fn default_platform(&self) -> String {
        self.platform.clone()
    }

    async fn resolve_image(&self, address: &str, platform: &str) -> Result<ResolvedImage, FieldError> {
        let cache_key = (address.to_string(), platform.to_string());
        if let Some(img) = self.images.lock().get(&cache_key) {
            return Ok(img.clone());
        }
        let r = tanto_oci::reference::ImageRef::parse(address).map_err(|e| FieldError::from(e.to_string()))?;
        let want: tanto_oci::platform::Platform =
            platform.parse().map_err(|e: tanto_oci::platform::PlatformError| FieldError::from(e.to_string()))?;
        let img = self
            .worker()
            .registry
            .resolve_with_auth(&r, &want, &self.pull_auth(&r))
            .await
            .map_err(|e| FieldError::from(e.to_string()))?;
        let raw = tanto_oci::image::ImageConfig::from_slice(&img.config_bytes)
            .map_err(|e| FieldError::from(format!("image `{address}` has an unreadable config: {e}")))?;
        let diff_ids = &raw.rootfs.diff_ids;
        if diff_ids.len() != img.layers.len() {
            return Err(format!(
                "image `{address}` is inconsistent: {} layers but {} diff_ids in its config",
                img.layers.len(),
                diff_ids.len()
            )
            .into());
        }
        let layers = img
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(l, diff)| Ok((diff.parse()?, img.source.for_layer(l)?)))
            .collect::<Result<_, tanto_model::DigestError>>()
            .map_err(|e| FieldError::from(format!("image `{address}`: {e}")))?;
        let name = match img.reference.tag() {
            Some(tag) => format!("{}:{tag}", img.reference.name()),
            None => img.reference.name(),
        };
        let resolved = ResolvedImage {
            reference: format!("{name}@{}", img.manifest_digest),
            platform: raw.platform().to_string(),
            config: image_config(&raw),
            layers,
        };
        self.images.lock().insert(cache_key, resolved.clone());
        Ok(resolved)
    }

    async fn sync(&self, r: &Ref) -> Result<(), FieldError> {
        self.solver.solve(r.vertex.clone()).await.map(|_| ()).map_err(|e| field_err(&e))
    }

    async fn exec_output(&self, r: &Ref) -> Result<ExecOutput, FieldError> {
        let out = self.solver.solve(r.vertex.clone()).await.map_err(|e| field_err(&e))?;
        let meta =
            out.meta.as_ref().ok_or_else(|| FieldError::from("internal error: the last exec has no output record"))?;
        Ok(ExecOutput {
            exit_code: meta.exit_code,
            stdout: meta.stdout.clone(),
            stderr: meta.stderr.clone(),
            combined: meta.combined.clone(),
        })
    }

    async fn read_file(&self, root: Option<&Ref>, path: &str) -> Result<Vec<u8>, FieldError> {
        let p = path.to_string();
        self.with_root(root, move |r| r.read_file(&p).map_err(|e| not_found(&p, e))).await
    }

    async fn read_dir(&self, root: Option<&Ref>, path: &str) -> Result<Vec<EntryStat>, FieldError> {
        let p = path.to_string();
        self.with_root(root, move |r| {
            let entries = r.read_dir(&p).map_err(|e| not_found(&p, e))?;
            Ok(entries.into_iter().map(|(name, st)| entry(name, &st)).collect())
        })
        .await
    }

    async fn stat(&self, root: Option<&Ref>, path: &str, no_follow: bool) -> Result<Option<EntryStat>, FieldError> {
        let p = path.to_string();
        self.with_root(root, move |r| {
            let st = r.stat(&p, !no_follow).map_err(|e| not_found(&p, e))?;
            Ok(st.map(|st| entry(crate::paths_clean(&p).rsplit('/').next().unwrap_or("").to_string(), &st)))
        })
        .await
    }

    async fn glob(&self, root: Option<&Ref>, path: &str, pattern: &str) -> Result<Vec<String>, FieldError> {
        let (p, pat) = (path.to_string(), pattern.to_string());
        self.with_root(root, move |r| fsops::glob(r, &p, &pat).map_err(|e| not_found(&p, e))).await
    }

    async fn digest(&self, root: Option<&Ref>, path: &str, with_metadata: bool) -> Result<String, FieldError> {
        let p = path.to_string();
        self.with_root(root, move |r| fsops::digest(r, &p, with_metadata).map_err(|e| not_found(&p, e))).await
    }

    async fn http_fetch(&self, url: &str, auth_header: Option<&str>) -> Result<String, FieldError> {
        let header = match auth_header {
            Some(id) => Some(self.worker().secrets.get(id).await.map_err(|e| field_err(&e))?),
            None => None,
        };
        crate::sources::download(self.worker(), url, header.as_deref().map(|v| v.as_slice()), None)
            .await
            .map_err(|e| field_err(&e))
    }

    async fn git_refs(
        &self,
        url: &str,
        auth: &tanto_api::dagger::sources::GitAuth,
    ) -> Result<Vec<(String, String)>, FieldError> {
        let auth = self.git_auth(auth).await?;
        crate::sources::ls_remote(url, &auth).await.map_err(|e| field_err(&e))
    }

    async fn git_resolve(
        &self,
        url: &str,
        reference: &str,
        kind: tanto_api::dagger::sources::RefKind,
        auth: &tanto_api::dagger::sources::GitAuth,
    ) -> Result<(String, String), FieldError> {
        use tanto_api::dagger::sources::RefKind as K;
        let auth = self.git_auth(auth).await?;
        let kind = match kind {
            K::Branch => crate::sources::RefKind::Branch,
            K::Tag => crate::sources::RefKind::Tag,
            K::Any => crate::sources::RefKind::Any,
        };
        crate::sources::resolve_ref(url, reference, kind, &auth).await.map_err(|e| field_err(&e))
    }

    fn set_secret(&self, identity: &str, plaintext: Vec<u8>) {
        self.worker().secrets.set(identity, plaintext);
    }

    async fn secret_plaintext(&self, identity: &str, _uri: &str) -> Result<Vec<u8>, FieldError> {
        self.worker().secrets.get(identity).await.map(|v| v.to_vec()).map_err(|e| field_err(&e))
    }

    // --- host files in, artifacts and images out: `export.rs`, `image.rs`

    async fn host_directory(
        &self,
        path: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> Result<Ref, FieldError> {
        self.do_host_directory(path, include, exclude, gitignore).await
    }

    async fn host_file(&self, path: &str) -> Result<(Ref, String), FieldError> {
        self.do_host_file(path).await
    }

    async fn host_find_up(&self, name: &str) -> Result<Option<String>, FieldError> {
        self.do_host_find_up(name).await
    }

    async fn export_directory(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        wipe: bool,
    ) -> Result<String, FieldError> {
        self.do_export_directory(root, path, dest, wipe).await
    }

    async fn export_file(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        allow_parent_dir: bool,
    ) -> Result<String, FieldError> {
        self.do_export_file(root, path, dest, allow_parent_dir).await
    }

    async fn export_image(
        &self,
        variants: &[ContainerObj],
        dest: &str,
        opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        self.do_export_image(variants, dest, opts).await
    }

    async fn image_tarball(&self, variants: &[ContainerObj], opts: &ImageOptions) -> Result<(Ref, String), FieldError> {
        self.do_image_tarball(variants, opts).await
    }

    async fn publish(
        &self,
        address: &str,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        self.do_publish(address, variants, opts).await
    }

    async fn import_image(&self, source: &FileObj, tag: &str, platform: &str) -> Result<ResolvedImage, FieldError> {
        self.do_import_image(source, tag, platform).await
    }

    async fn add_registry_auth(&self, address: &str, username: &str, secret_identity: &str) -> Result<(), FieldError> {
        self.do_add_registry_auth(address, username, secret_identity).await
    }

    fn remove_registry_auth(&self, address: &str) {
        self.do_remove_registry_auth(address)
    }

    // --- services (crate::services)

    fn register_service(&self, svc: &tanto_api::dagger::service::ServiceSpec) {
        self.worker().services.register(svc);
    }

    async fn start_service(&self, svc: &tanto_api::dagger::service::ServiceSpec) -> Result<(), FieldError> {
        self.worker().services.start_held(svc).await.map_err(|e| field_err(&e))
    }

    async fn stop_service(&self, svc: &tanto_api::dagger::service::ServiceSpec, kill: bool) -> Result<(), FieldError> {
        self.worker().services.stop(svc, kill).await.map_err(|e| field_err(&e))
    }

    async fn service_ports(
        &self,
        svc: &tanto_api::dagger::service::ServiceSpec,
    ) -> Result<(String, Vec<PortObj>), FieldError> {
        self.worker().services.tunnel_ports(svc).await.map_err(|e| field_err(&e))
    }

    async fn service_up(
        &self,
        svc: &tanto_api::dagger::service::ServiceSpec,
        ports: Vec<tanto_api::dagger::service::PortForwardObj>,
        random: bool,
    ) -> Result<(), FieldError> {
        self.worker().services.up(svc, ports, random).await.map_err(|e| field_err(&e))
    }

    async fn search(
        &self,
        root: Option<&Ref>,
        path: &str,
        opts: &tanto_api::dagger::search::SearchOptions,
    ) -> Result<Vec<tanto_api::dagger::search::SearchResultObj>, FieldError> {
        let (p, o) = (path.to_string(), opts.clone());
        self.with_root(root, move |r| crate::search::run(r, &p, &o).map_err(|e| FieldError::from(e.to_string()))).await
    }

    async fn changes(
        &self,
        lower: Option<&Ref>,
        lower_path: &str,
        upper: Option<&Ref>,
        upper_path: &str,
    ) -> Result<tanto_api::dagger::changeset::ChangeLists, FieldError> {
        let (ls, us) = (self.snapshot(lower).await?, self.snapshot(upper).await?);
        let store = self.worker().store.clone();
        let (lp, up) = (lower_path.to_string(), upper_path.to_string());
        tokio::task::spawn_blocking(move || {
            let (lv, uv) = (
                store.view(ls, "/").map_err(|e| FieldError::from(e.to_string()))?,
                store.view(us, "/").map_err(|e| FieldError::from(e.to_string()))?,
            );
            let open =
                |p: &std::path::Path| Root::open(p).map_err(|e| FieldError::from(format!("opening a snapshot: {e}")));
            let c = fsops::extra::changes(&open(lv.path())?, &lp, &open(uv.path())?, &up)
                .map_err(|e| FieldError::from(format!("comparing `{up}` with `{lp}`: {e}")))?;
            Ok(tanto_api::dagger::changeset::ChangeLists { added: c.added, modified: c.modified, removed: c.removed })
        })
        .await
        .map_err(|e| FieldError::from(format!("internal error: {e}")))?
    }

    // --- the client's host: sockets (`socket.rs`), its image store (`docker_api.rs`)

    async fn host_unix_socket(&self, path: &str) -> Result<String, FieldError> {
        self.do_host_unix_socket(path).await
    }

    async fn host_container_image(&self, name: &str, platform: &str) -> Result<ResolvedImage, FieldError> {
        self.do_host_container_image(name, platform).await
    }

    async fn load_host_image(
        &self,
        name: &str,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<(), FieldError> {
        self.do_load_host_image(name, variants, opts).await
    }

    // --- git repositories held in directories (`sources.rs`)

    async fn git_dir_refs(&self, root: Option<&Ref>, path: &str) -> Result<Vec<(String, String)>, FieldError> {
        let view = self.view_of(root, path).await?;
        crate::sources::dir_refs(view.path())
            .await
            .map_err(|e| FieldError::from(format!("git repository `{path}` (a directory): {e}")))
    }

    async fn git_dir_ignored(&self, root: Option<&Ref>, path: &str) -> Result<Vec<String>, FieldError> {
        let view = self.view_of(root, path).await?;
        crate::sources::dir_ignored(view.path())
            .await
            .map_err(|e| FieldError::from(format!("git repository `{path}` (a directory): {e}")))
    }

    async fn git_merge_base(
        &self,
        repo: &tanto_api::dagger::sources::GitRepositoryObj,
        a: &str,
        b: &str,
    ) -> Result<String, FieldError> {
        match &repo.dir {
            Some(d) => {
                let view = self.view_of(d.root.as_ref(), &d.path).await?;
                crate::sources::dir_merge_base(view.path(), a, b).await.map_err(|e| field_err(&e))
            }
            None => {
                let auth = self.git_auth(&repo.auth).await?;
                crate::sources::merge_base(self.worker(), &repo.url, a, b, &auth).await.map_err(|e| field_err(&e))
            }
        }
    }

    fn register_secret_uri(&self, identity: &str, uri: &str) {
        self.worker().secrets.register_uri(identity, uri);
    }

    // --- the engine, its cache, the workspace: `cache.rs`, `workspace.rs`

    async fn engine_info(&self) -> Result<tanto_api::dagger::engineobj::EngineObj, FieldError> {
        Ok(self.do_engine_info())
    }

    async fn cache_policy(&self) -> Result<tanto_api::dagger::engineobj::EngineCacheObj, FieldError> {
        Ok(self.do_cache_policy())
    }

    async fn cache_entries(
        &self,
        key: &str,
    ) -> Result<tanto_api::dagger::engineobj::EngineCacheEntrySetObj, FieldError> {
        self.do_cache_entries(key).await
    }

    async fn cache_prune(&self, req: &tanto_api::dagger::engineobj::PruneRequest) -> Result<(), FieldError> {
        self.do_cache_prune(req).await
    }

    async fn host_path(&self, path: &str) -> Result<Option<(String, EntryKind)>, FieldError> {
        Ok(self.do_host_path(path))
    }

    async fn workspace(&self) -> Result<tanto_api::dagger::workspace::WorkspaceObj, FieldError> {
        Ok(self.do_workspace())
    }

    async fn workspace_directory(
        &self,
        ws: &tanto_api::dagger::workspace::WorkspaceObj,
        rel: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> Result<Ref, FieldError> {
        self.do_workspace_directory(ws, rel, include, exclude, gitignore).await
    }

    async fn workspace_file(
        &self,
        ws: &tanto_api::dagger::workspace::WorkspaceObj,
        rel: &str,
    ) -> Result<(Ref, String), FieldError> {
        self.do_workspace_file(ws, rel).await
    }

    async fn workspace_find_up(
        &self,
        ws: &tanto_api::dagger::workspace::WorkspaceObj,
        name: &str,
        from: &str,
    ) -> Result<Option<String>, FieldError> {
        self.do_workspace_find_up(ws, name, from).await
    }
}
