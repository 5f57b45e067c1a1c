//! The backend's host side: uploads from the client's host (`host.directory`,
//! `host.file`, `host.findUp`) and exports back to it (`Directory.export`,
//! `File.export`), plus the session's registry credentials.
//!
//! Host paths are relative to the session's working directory. Exports write
//! through [`tanto_fs::Root`] on the target: every path inside the target is
//! resolved with `RESOLVE_IN_ROOT`, and existing symlinks in the way are
//! replaced, never followed, so an export never writes outside its target.
//! A file export is written under a temporary name and renamed into place
//! (see [`crate::leftovers::AtomicFile`]): a crash never leaves half a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tanto_model::Ref;
use tanto_oci::registry::{Credential, RegistryAuth};
use tanto_solver::CacheStatus;

use crate::backend::EngineBackend;
use tanto_fs::{CopyOpts, Filter, Root};
use tanto_store::upload::{self, UploadSpec};

use crate::worker::blocking;
use crate::EngineError;
use tanto_contract::Context as _;

/// Credentials from `withRegistryAuth` by registry host, for the rest of the
/// session; shared by the backend (resolve, push) and the worker (blob fetches).
pub type SessionAuth = Arc<parking_lot::RwLock<std::collections::BTreeMap<String, Credential>>>;

/// The session's credentials plus Docker's (`~/.docker/config.json`) for each of `hosts`.
pub fn auth_for(session: &SessionAuth, hosts: &[&str]) -> RegistryAuth {
    let mut auth = RegistryAuth::anonymous();
    for (h, c) in session.read().iter() {
        auth.insert(h, c.clone());
    }
    for host in hosts {
        auth = tanto_oci::registry::with_docker_credentials(auth, host);
    }
    auth
}

/// What a session keeps about its client's host.
pub struct HostState {
    /// The client's working directory (`--workdir`).
    pub workdir: PathBuf,
    /// Registry credentials of the session.
    pub auth: SessionAuth,
    /// One upload per scope at a time (the second reuses the first's record).
    uploads: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl HostState {
    pub fn new(workdir: PathBuf, auth: SessionAuth) -> HostState {
        HostState { workdir, auth, uploads: Default::default() }
    }

    /// A host path made absolute against the working directory (`~/` is `$HOME`),
    /// cleaned lexically (symlinks are not resolved here).
    pub fn path(&self, p: &str) -> PathBuf {
        let joined = if let Some(rest) = p.strip_prefix("~/") {
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/")).join(rest)
        } else {
            self.workdir.join(p)
        };
        tanto_fs::path::clean_path(&joined)
    }
}

/// The engine's own owner: exported files belong to whoever runs the client's engine.
fn engine_owner() -> (u32, u32) {
    (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw())
}

/// Removes everything inside `dir` (not `dir` itself), never following symlinks.
fn wipe(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Makes `dir` a directory: creates it (and its parents) or checks it is one.
fn ensure_dir(dir: &Path) -> Result<(), EngineError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            Err(EngineError::input(format!("cannot export to `{}`: it exists and is not a directory", dir.display())))
        }
        Err(_) => std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::environment(format!("cannot create `{}`: {e}", dir.display()))),
    }
}

impl EngineBackend {
    /// Uploads a host directory; the returned ref's result is already in the cache.
    #[tracing::instrument(name = "upload", skip_all, fields(path = %spec.path.display(), digest, cache))]
    pub(crate) async fn upload_host_dir(&self, spec: UploadSpec) -> Result<Ref, EngineError> {
        let lock = {
            let mut locks = self.host.uploads.lock().await;
            locks.entry(spec.scope()).or_default().clone()
        };
        let _held = lock.lock().await;
        let store = self.worker().store.clone();
        let started = std::time::Instant::now();
        let path = spec.path.clone();
        let describe = store.clone();
        let up = blocking(move || Ok(upload::upload(&store, &spec)?)).await?;
        let cache = if up.stats.cached { CacheStatus::Store } else { CacheStatus::Computed };
        tracing::Span::current()
            .record("digest", tracing::field::display(up.vertex.key()))
            .record("cache", cache.as_str());
        let (key, what) = (up.vertex.key().to_string(), format!("upload {}", path.display()));
        if let Err(e) = blocking(move || Ok(describe.describe(&key, "local", &what, &[])?)).await {
            tracing::warn!(error = %e, "describing a host upload failed");
        }
        tracing::debug!(
            path = %path.display(),
            entries = up.stats.entries,
            hashed = up.stats.hashed,
            written = up.stats.written,
            removed = up.stats.removed,
            full = up.stats.full,
            cached = up.stats.cached,
            ms = started.elapsed().as_millis() as u64,
            timings = ?up.stats.timings,
            "host upload"
        );
        Ok(Ref::new(up.vertex, 0))
    }

    pub(crate) async fn do_host_directory(
        &self,
        path: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> Result<Ref, EngineError> {
        let spec = UploadSpec::directory(self.host.path(path), include, exclude, gitignore);
        self.upload_host_dir(spec).await
    }

    pub(crate) async fn do_host_file(&self, path: &str) -> Result<(Ref, String), EngineError> {
        let (spec, file) = UploadSpec::file(&self.host.path(path))?;
        Ok((self.upload_host_dir(spec).await?, file))
    }

    pub(crate) async fn do_host_find_up(&self, name: &str) -> Result<Option<String>, EngineError> {
        if name.is_empty() || name.contains('/') {
            return Err(EngineError::input(format!("`findUp` needs a plain file or directory name, not `{name}`")));
        }
        Ok(tanto_fs::path::find_up(&self.host.workdir, name))
    }

    #[tracing::instrument(name = "export", skip(self, root, wipe_first), fields(digest = root.map(|r| tracing::field::display(r.vertex.key()))))]
    pub(crate) async fn do_export_directory(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        wipe_first: bool,
    ) -> Result<String, EngineError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        let target = self.host.path(dest);
        let src_path = path.to_string();
        let out = target.clone();
        blocking(move || {
            let view = store.view(snap.id, "/")?;
            let src = Root::open(view.path())
                .map_err(|e| EngineError::internal(format!("opening the directory to export: {e}")))?;
            match src.stat(&src_path, true).context(format_args!("`{src_path}`"))? {
                Some(st) if tanto_fs::file_type(&st) == rustix::fs::FileType::Directory => {}
                Some(_) => return Err(EngineError::input(format!("`{src_path}` is not a directory"))),
                None => return Err(EngineError::not_found(format!("directory `{src_path}` not found"))),
            }
            ensure_dir(&target)?;
            if wipe_first {
                wipe(&target).map_err(|e| {
                    EngineError::environment(format!("wiping `{}` before the export: {e}", target.display()))
                })?;
            }
            let dst = Root::open(&target)
                .map_err(|e| EngineError::environment(format!("opening `{}`: {e}", target.display())))?;
            copy_out(&src, &src_path, &dst, "/", &target)
        })
        .await?;
        Ok(out.to_string_lossy().into_owned())
    }

    #[tracing::instrument(name = "export", skip(self, root, allow_parent_dir), fields(digest = root.map(|r| tracing::field::display(r.vertex.key()))))]
    pub(crate) async fn do_export_file(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        allow_parent_dir: bool,
    ) -> Result<String, EngineError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        let mut target = self.host.path(dest);
        let src_path = path.to_string();
        let name = tanto_fs::path::clean_abs(path).rsplit('/').next().unwrap_or("").to_string();
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            if !allow_parent_dir {
                return Err(EngineError::input(format!(
                    "cannot export file `{name}` to `{}`: it is a directory; give a file path, or pass `allowParentDirPath: true` to write into it",
                    target.display()
                )));
            }
            target = target.join(&name);
        }
        let out = target.clone();
        let run_dir = self.worker().executor.run_dir().to_path_buf();
        blocking(move || {
            let view = store.view(snap.id, "/")?;
            let src = Root::open(view.path())
                .map_err(|e| EngineError::internal(format!("opening the file to export: {e}")))?;
            match src.stat(&src_path, true).context(format_args!("`{src_path}`"))? {
                Some(st) if tanto_fs::file_type(&st) == rustix::fs::FileType::RegularFile => {}
                Some(_) => return Err(EngineError::input(format!("`{src_path}` is not a regular file"))),
                None => return Err(EngineError::not_found(format!("file `{src_path}` not found"))),
            }
            let (Some(parent), Some(file_name)) = (target.parent(), target.file_name()) else {
                return Err(EngineError::input(format!("cannot export to `{}`", target.display())));
            };
            ensure_dir(parent)?;
            let mut from = src.open_file(&src_path).context(format_args!("`{src_path}`"))?;
            export_file(&mut from, &run_dir, parent, file_name)
                .map_err(|e| EngineError::environment(format!("exporting to `{}`: {e}", target.display())))
        })
        .await?;
        Ok(out.to_string_lossy().into_owned())
    }

    pub(crate) async fn do_add_registry_auth(
        &self,
        address: &str,
        username: &str,
        secret_identity: &str,
    ) -> Result<(), EngineError> {
        let secret = self.worker().secrets.get(secret_identity).await?;
        let password = String::from_utf8(secret.to_vec())
            .map_err(|_| EngineError::input("the registry password secret is not UTF-8 text"))?;
        let host = registry_host(address)?;
        self.host.auth.write().insert(host, Credential::Basic { username: username.to_string(), password });
        Ok(())
    }

    pub(crate) fn do_remove_registry_auth(&self, address: &str) {
        if let Ok(host) = registry_host(address) {
            self.host.auth.write().remove(&host);
        }
    }

    /// The session's credentials plus Docker's for `host`.
    pub(crate) fn registry_auth(&self, host: &str) -> RegistryAuth {
        auth_for(&self.host.auth, &[host])
    }

    /// Credentials for pulling `r`: for its registry and each of its mirrors.
    pub(crate) fn pull_auth(&self, r: &tanto_oci::reference::ImageRef) -> RegistryAuth {
        let endpoints = self.worker().registry.config().endpoints(r.registry());
        let mut hosts: Vec<&str> = vec![r.registry()];
        hosts.extend(endpoints.iter().map(|e| e.host.as_str()));
        auth_for(&self.host.auth, &hosts)
    }
}

/// The registry host of an address (`docker.io` for Docker Hub names).
fn registry_host(address: &str) -> Result<String, EngineError> {
    if !address.contains('/') {
        // a bare host (`127.0.0.1:5000`, `ghcr.io`)
        return Ok(address.trim_end_matches('/').to_string());
    }
    let r = tanto_oci::reference::ImageRef::parse(address)?;
    Ok(r.registry().to_string())
}

/// Writes the file `from` to `dir/name` (owned by the engine's user, with the
/// source's mode and modification time), complete or not at all: under a
/// temporary name first, then renamed over whatever is there (a symlink is
/// replaced, never written through).
fn export_file(from: &mut std::fs::File, run_dir: &Path, dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<()> {
    use rustix::fs::{Gid, Mode, Timespec, Timestamps, Uid};
    let st = rustix::fs::fstat(&*from)?;
    let mut out = crate::leftovers::AtomicFile::create(run_dir, dir, name)?;
    std::io::copy(from, out.file())?;
    let (uid, gid) = engine_owner();
    rustix::fs::fchown(&*out.file(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    rustix::fs::fchmod(&*out.file(), Mode::from_raw_mode(st.st_mode & 0o7777))?;
    let ts = Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ };
    rustix::fs::futimens(&*out.file(), &Timestamps { last_access: ts, last_modification: ts })?;
    out.commit()?;
    Ok(())
}

/// Copies `src_path` of an engine snapshot to `dest` below a host directory,
/// owned by the engine's user (`target` names the export in errors).
fn copy_out(src: &Root, src_path: &str, dst: &Root, dest: &str, target: &std::path::Path) -> Result<(), EngineError> {
    let opts = CopyOpts { filter: &Filter::none(), mode: None, owner: Some(engine_owner()) };
    tanto_fs::copy(src, src_path, dst, dest, &opts).context(format_args!("exporting to `{}`", target.display()))
}
