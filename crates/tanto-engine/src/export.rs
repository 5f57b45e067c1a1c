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
        host_path(&self.workdir, p)
    }
}

/// A host path made absolute against `workdir` (`~/` is `$HOME`), cleaned
/// lexically (symlinks are not resolved here).
pub(crate) fn host_path(workdir: &Path, p: &str) -> PathBuf {
    let joined = if let Some(rest) = p.strip_prefix("~/") {
        std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/")).join(rest)
    } else {
        workdir.join(p)
    };
    tanto_fs::path::clean_path(&joined)
}

/// Checks a `findUp` name: a plain file or directory name.
pub(crate) fn find_up_name(name: &str) -> Result<(), EngineError> {
    if name.is_empty() || name.contains('/') {
        return Err(EngineError::input(format!("`findUp` needs a plain file or directory name, not `{name}`")));
    }
    Ok(())
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
    pub(crate) async fn upload_host_dir(&self, spec: UploadSpec) -> Result<Ref, EngineError> {
        self.upload_changed_dir(spec, None).await
    }

    /// [`EngineBackend::upload_host_dir`] of a directory whose changes since
    /// its last upload are known (`upload::upload_changed`).
    #[tracing::instrument(name = "upload", skip_all, fields(path = %spec.path.display(), digest, cache))]
    pub(crate) async fn upload_changed_dir(
        &self,
        spec: UploadSpec,
        changes: Option<upload::Changes>,
    ) -> Result<Ref, EngineError> {
        let lock = {
            let mut locks = self.host.uploads.lock().await;
            locks.entry(spec.scope()).or_default().clone()
        };
        let _held = lock.lock().await;
        let store = self.worker().store.clone();
        let started = std::time::Instant::now();
        let path = spec.path.clone();
        let describe = store.clone();
        let up = blocking(move || {
            Ok(match &changes {
                Some(c) => upload::upload_changed(&store, &spec, c)?,
                None => upload::upload(&store, &spec)?,
            })
        })
        .await?;
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
        find_up_name(name)?;
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
            source_dir(&src, &src_path)?;
            export_tree(&src, &src_path, &target, wipe_first)
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
        let src_path = path.to_string();
        let name = tanto_fs::path::clean_abs(path).rsplit('/').next().unwrap_or("").to_string();
        let target = file_target(self.host.path(dest), &name, allow_parent_dir)?;
        let out = target.clone();
        let run_dir = self.worker().executor.run_dir().to_path_buf();
        blocking(move || {
            let view = store.view(snap.id, "/")?;
            let src = Root::open(view.path())
                .map_err(|e| EngineError::internal(format!("opening the file to export: {e}")))?;
            let (mut from, mode, mtime) = source_file(&src, &src_path)?;
            write_exported_file(&mut from, mode, mtime, &run_dir, &target)
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

/// Checks that `src_path` of a snapshot is a directory to export.
pub(crate) fn source_dir(src: &Root, src_path: &str) -> Result<(), EngineError> {
    match src.stat(src_path, true).context(format_args!("`{src_path}`"))? {
        Some(st) if tanto_fs::file_type(&st) == rustix::fs::FileType::Directory => Ok(()),
        Some(_) => Err(EngineError::input(format!("`{src_path}` is not a directory"))),
        None => Err(EngineError::not_found(format!("directory `{src_path}` not found"))),
    }
}

/// Opens `src_path` of a snapshot, a regular file to export: the file, its
/// permission bits and its modification time.
pub(crate) fn source_file(src: &Root, src_path: &str) -> Result<(std::fs::File, u32, (i64, u32)), EngineError> {
    match src.stat(src_path, true).context(format_args!("`{src_path}`"))? {
        Some(st) if tanto_fs::file_type(&st) == rustix::fs::FileType::RegularFile => {
            let from = src.open_file(src_path).context(format_args!("`{src_path}`"))?;
            Ok((from, st.st_mode & 0o7777, (st.st_mtime, st.st_mtime_nsec as u32)))
        }
        Some(_) => Err(EngineError::input(format!("`{src_path}` is not a regular file"))),
        None => Err(EngineError::not_found(format!("file `{src_path}` not found"))),
    }
}

/// Writes directory `src_path` of `src` to the host directory `target`
/// (created if missing; emptied first when `wipe_first`), owned by this
/// process's user.
pub(crate) fn export_tree(src: &Root, src_path: &str, target: &Path, wipe_first: bool) -> Result<(), EngineError> {
    ensure_dir(target)?;
    if wipe_first {
        wipe(target)
            .map_err(|e| EngineError::environment(format!("wiping `{}` before the export: {e}", target.display())))?;
    }
    let dst =
        Root::open(target).map_err(|e| EngineError::environment(format!("opening `{}`: {e}", target.display())))?;
    copy_out(src, src_path, &dst, "/", target)
}

/// Where a file export named `name` writes for host path `target`: into it
/// when it is a directory and that is allowed.
pub(crate) fn file_target(target: PathBuf, name: &str, allow_parent_dir: bool) -> Result<PathBuf, EngineError> {
    if !std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Ok(target);
    }
    if !allow_parent_dir {
        return Err(EngineError::input(format!(
            "cannot export file `{name}` to `{}`: it is a directory; give a file path, or pass `allowParentDirPath: true` to write into it",
            target.display()
        )));
    }
    Ok(target.join(name))
}

/// Writes `from` to host path `target` (its directory created if missing;
/// owned by this process's user, with `mode` and `mtime`), complete or not
/// at all: under a temporary name first, then renamed over whatever is there
/// (a symlink is replaced, never written through). `run_dir` keeps the
/// journal that lets the next engine remove a temporary file a crash left.
pub(crate) fn write_exported_file(
    from: &mut impl std::io::Read,
    mode: u32,
    mtime: (i64, u32),
    run_dir: &Path,
    target: &Path,
) -> Result<(), EngineError> {
    use rustix::fs::{Gid, Mode, Timespec, Timestamps, Uid};
    let (Some(parent), Some(file_name)) = (target.parent(), target.file_name()) else {
        return Err(EngineError::input(format!("cannot export to `{}`", target.display())));
    };
    ensure_dir(parent)?;
    let mut write = || -> std::io::Result<()> {
        let mut out = crate::leftovers::AtomicFile::create(run_dir, parent, file_name)?;
        std::io::copy(from, out.file())?;
        let (uid, gid) = engine_owner();
        rustix::fs::fchown(&*out.file(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
        rustix::fs::fchmod(&*out.file(), Mode::from_raw_mode(mode & 0o7777))?;
        let ts = Timespec { tv_sec: mtime.0 as _, tv_nsec: mtime.1 as _ };
        rustix::fs::futimens(&*out.file(), &Timestamps { last_access: ts, last_modification: ts })?;
        out.commit()?;
        Ok(())
    };
    write().map_err(|e| EngineError::environment(format!("exporting to `{}`: {e}", target.display())))
}

/// Copies `src_path` of an engine snapshot to `dest` below a host directory,
/// owned by the engine's user (`target` names the export in errors).
fn copy_out(src: &Root, src_path: &str, dst: &Root, dest: &str, target: &std::path::Path) -> Result<(), EngineError> {
    let opts = CopyOpts { filter: &Filter::none(), mode: None, owner: Some(engine_owner()) };
    tanto_fs::copy(src, src_path, dst, dest, &opts).context(format_args!("exporting to `{}`", target.display()))
}
