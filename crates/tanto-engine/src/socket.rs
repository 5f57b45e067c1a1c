//! Unix sockets of the client's host in containers (`Host.unixSocket`,
//! `Container.withUnixSocket`).
//!
//! The engine runs on the client's machine, so a socket is forwarded by
//! bind-mounting its host path at the target. With an `owner`, the container
//! gets a socket of its own instead, owned by that user with mode 0600 (as
//! Dagger's forwarded sockets are), that relays every connection to the host
//! socket: the host socket's owner and mode are never changed.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::backend::EngineBackend;
use crate::EngineError;

/// `path` if it is a unix socket now.
pub(crate) fn check_socket(path: &str) -> Result<PathBuf, String> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(PathBuf::from(path)),
        Ok(_) => Err(format!("`{path}` is not a unix socket")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("no unix socket at `{path}`: start the server that listens there"))
        }
        Err(e) => Err(format!("`{path}`: {e}")),
    }
}

/// A socket in the engine's run dir relaying to a host socket, until dropped.
pub(crate) struct SocketProxy {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl SocketProxy {
    /// Listens on a new socket under `dir`, owned by `uid:gid`, mode 0600.
    pub(crate) fn start(dir: &Path, target: PathBuf, uid: u32, gid: u32) -> Result<SocketProxy, String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating `{}`: {e}", dir.display()))?;
        let path = dir.join(crate::leftovers::owned_name(".sock"));
        let listener =
            tokio::net::UnixListener::bind(&path).map_err(|e| format!("listening on `{}`: {e}", path.display()))?;
        let ready = std::os::unix::fs::chown(&path, Some(uid), Some(gid))
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)));
        if let Err(e) = ready {
            let _ = std::fs::remove_file(&path);
            return Err(format!("setting the owner of `{}`: {e}", path.display()));
        }
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    match tokio::net::UnixStream::connect(&target).await {
                        Ok(mut upstream) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                        Err(e) => {
                            tracing::warn!(socket = %target.display(), error = %e, "relaying a unix socket connection")
                        }
                    }
                });
            }
        });
        Ok(SocketProxy { path, task })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl EngineBackend {
    /// The canonical host path of the socket at `path` (relative to the workdir).
    pub(crate) async fn do_host_unix_socket(&self, path: &str) -> Result<String, EngineError> {
        let full = self.host.path(path);
        let canonical = std::fs::canonicalize(&full).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::not_found(format!(
                "no unix socket at `{}`: start the server that listens there, or fix the path",
                full.display()
            )),
            _ => EngineError::environment(format!("`{}`: {e}", full.display())),
        })?;
        let s = canonical.to_string_lossy().into_owned();
        check_socket(&s).map_err(EngineError::input)?;
        Ok(s)
    }
}
