//! The client's workspace (`Query.currentWorkspace`, see
//! `tanto_contract::host::Workspace`): detection from the session's working
//! directory, and reads through the host upload. Paths arrive relative to the
//! boundary (already kept inside it lexically by the API); here they are
//! also checked after symlinks resolve, so a link inside the workspace never
//! leads a read outside it.

use std::path::{Path, PathBuf};

use tanto_contract::fs::EntryKind;
use tanto_contract::host::{Workspace, CONFIG_FILE};
use tanto_model::Ref;

use crate::backend::EngineBackend;
use crate::EngineError;

/// The workspace of a client working in `workdir`: the boundary is the
/// nearest directory (from `workdir` up) holding `.git`, else `workdir`;
/// the config is the nearest `.dagger/config.toml` from `workdir` up to the boundary.
pub fn detect(workdir: &Path, client_id: &str) -> Workspace {
    let dir = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    let boundary = dir.ancestors().find(|d| d.join(".git").symlink_metadata().is_ok()).unwrap_or(&dir).to_path_buf();
    let rel = |p: &Path| p.strip_prefix(&boundary).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default();
    let config_path = dir
        .ancestors()
        .take_while(|d| d.starts_with(&boundary))
        .find(|d| d.join(CONFIG_FILE).is_file())
        .map(|d| {
            let r = rel(d);
            if r.is_empty() {
                CONFIG_FILE.to_string()
            } else {
                format!("{r}/{CONFIG_FILE}")
            }
        })
        .unwrap_or_default();
    Workspace {
        boundary: boundary.to_string_lossy().into_owned(),
        path: rel(&dir),
        config_path,
        client_id: client_id.to_string(),
    }
}

/// `rel` below the boundary, checked to stay inside it once symlinks resolve.
/// `None` when nothing is there.
pub(crate) fn inside(ws: &Workspace, rel: &str) -> Result<Option<PathBuf>, EngineError> {
    let boundary = Path::new(&ws.boundary);
    let path = if rel.is_empty() { boundary.to_path_buf() } else { boundary.join(rel) };
    let real = match std::fs::canonicalize(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::io_error(&e, format!("workspace path `/{rel}`: {e}"))),
    };
    let real_boundary = std::fs::canonicalize(boundary).unwrap_or_else(|_| boundary.to_path_buf());
    if !real.starts_with(&real_boundary) {
        return Err(EngineError::input(format!(
            "workspace path `/{rel}` leads to `{}` through a symlink, outside the workspace boundary `{}`",
            real.display(),
            ws.boundary
        )));
    }
    Ok(Some(real))
}

pub(crate) fn missing(ws: &Workspace, rel: &str, what: &str) -> EngineError {
    EngineError::not_found(format!(
        "workspace {what} `/{rel}` does not exist in `{}` (relative paths start at the workspace directory `/{}`)",
        ws.boundary, ws.path
    ))
}

/// `name` in directory `from` (relative to the boundary) or the nearest
/// parent up to the boundary that has it, as `/path` from the boundary.
pub(crate) fn find_up(ws: &Workspace, name: &str, from: &str) -> Result<Option<String>, EngineError> {
    let mut cur = from.to_string();
    loop {
        // A start (or parent) reached through a symlink must stay inside.
        if inside(ws, &cur)?.is_some() {
            let candidate = if cur.is_empty() { name.to_string() } else { format!("{cur}/{name}") };
            if Path::new(&ws.boundary).join(&candidate).symlink_metadata().is_ok() {
                return Ok(Some(format!("/{candidate}")));
            }
        }
        if cur.is_empty() {
            return Ok(None);
        }
        cur = cur.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
    }
}

/// What is at host path `abs` (symlinks not followed); `None` when nothing is.
pub(crate) fn path_kind(abs: &Path) -> Option<EntryKind> {
    let m = abs.symlink_metadata().ok()?;
    Some(if m.is_dir() {
        EntryKind::Dir
    } else if m.is_file() {
        EntryKind::File
    } else if m.file_type().is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    })
}

impl EngineBackend {
    pub(crate) fn do_workspace(&self) -> Workspace {
        detect(&self.host.workdir, &self.identity.client_id)
    }

    pub(crate) async fn do_workspace_directory(
        &self,
        ws: &Workspace,
        rel: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> Result<Ref, EngineError> {
        let real = inside(ws, rel)?.ok_or_else(|| missing(ws, rel, "directory"))?;
        self.do_host_directory(&real.to_string_lossy(), include, exclude, gitignore).await
    }

    pub(crate) async fn do_workspace_file(&self, ws: &Workspace, rel: &str) -> Result<(Ref, String), EngineError> {
        let real = inside(ws, rel)?.ok_or_else(|| missing(ws, rel, "file"))?;
        self.do_host_file(&real.to_string_lossy()).await
    }

    pub(crate) async fn do_workspace_find_up(
        &self,
        ws: &Workspace,
        name: &str,
        from: &str,
    ) -> Result<Option<String>, EngineError> {
        find_up(ws, name, from)
    }

    pub(crate) fn do_host_path(&self, path: &str) -> Option<(String, EntryKind)> {
        let abs = self.host.path(path);
        Some((abs.to_string_lossy().into_owned(), path_kind(&abs)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let repo = root.join("repo");
        for d in ["repo/.git", "repo/app/web", "repo/app/.dagger", "plain/sub"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(repo.join("app/.dagger/config.toml"), "").unwrap();
        let s = |p: &Path| p.to_string_lossy().into_owned();
        // (workdir, boundary, path, config path)
        let cases = [
            (repo.join("app/web"), s(&repo), "app/web", "app/.dagger/config.toml"),
            (repo.join("app"), s(&repo), "app", "app/.dagger/config.toml"),
            (repo.clone(), s(&repo), "", ""),
            (root.join("plain/sub"), s(&root.join("plain/sub")), "", ""),
        ];
        for (workdir, boundary, path, config) in cases {
            let ws = detect(&workdir, "c1");
            assert_eq!(
                (ws.boundary.as_str(), ws.path.as_str(), ws.config_path.as_str()),
                (boundary.as_str(), path, config),
                "{}",
                workdir.display()
            );
            assert_eq!(ws.client_id, "c1");
        }
    }

    #[test]
    fn symlinks_out_of_the_boundary_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join("ws/.git")).unwrap();
        std::fs::create_dir_all(root.join("ws/in")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("ws/out")).unwrap();
        std::os::unix::fs::symlink("in", root.join("ws/alias")).unwrap();
        let ws = detect(&root.join("ws"), "c");
        assert_eq!(inside(&ws, "in").unwrap(), Some(root.join("ws/in")));
        assert_eq!(inside(&ws, "alias").unwrap(), Some(root.join("ws/in")));
        assert_eq!(inside(&ws, "nothing").unwrap(), None);
        let e = inside(&ws, "out").unwrap_err();
        assert!(e.to_string().contains("outside the workspace boundary"), "{e}");
    }
}
