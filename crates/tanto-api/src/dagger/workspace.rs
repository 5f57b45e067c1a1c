//! `Query.currentWorkspace`: the client's working directory as a workspace.
//!
//! The workspace directory is the session's `--workdir`; its boundary is the
//! nearest enclosing git root (a directory holding `.git`), or the directory
//! itself outside git. Paths given to `directory`, `file` and `findUp` are
//! relative to the workspace directory, or absolute from the boundary (as
//! Dagger's), and never resolve above the boundary: `..` past it is an
//! error, and the engine refuses a path that leaves it through a symlink.
//! The config file is Dagger's `.dagger/config.toml`, looked for in the
//! workspace directory and its parents up to the boundary. Fields that need
//! the module runtime (`checks`, `generators`, `services`, `update`) are not
//! implemented.

use tanto_contract::host::Workspace;

use super::dispatch::{fields, table, Fields};
use super::objects::{DirectoryObj, FileObj};
use super::{leaf, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::Resolved;

/// `p` as a path of workspace `ws` relative to its boundary (`""` is the boundary itself):
/// relative paths from the workspace directory, absolute ones from the boundary.
pub fn resolve(ws: &Workspace, p: &str) -> Result<String, ApiError> {
    let joined = if p.starts_with('/') { p.to_string() } else { format!("{}/{p}", ws.path) };
    let mut out: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(format!(
                        "workspace path `{p}` goes above the workspace boundary `{}`: use a path inside it",
                        ws.boundary
                    )
                    .into());
                }
            }
            c => out.push(c),
        }
    }
    Ok(out.join("/"))
}

table!(pub(super) WORKSPACE: Workspace = "Workspace", Object::Workspace(v) => v, &[WORKSPACE_FIELDS], &[]);

static WORKSPACE_FIELDS: Fields<Workspace> = fields! { |api, w, call, a|
    "path" => Ok(leaf(w.path.clone())),
    "address" => Ok(leaf(w.address())),
    "clientId" => Ok(leaf(w.client_id.clone())),
    "configPath" => Ok(leaf(w.config_path.clone())),
    "hasConfig" | "initialized" => Ok(leaf(!w.config_path.is_empty())),
    "directory" => {
        let rel = resolve(w, a.string("path")?)?;
        let root = api
            .engine
            .host
            .workspace_directory(
                w,
                &rel,
                a.opt_string_list("include")?.unwrap_or_default(),
                a.opt_string_list("exclude")?.unwrap_or_default(),
                a.opt_bool("gitignore")?.unwrap_or(false),
            )
            .await?;
        Ok(resolved(Object::Directory(DirectoryObj { root: Some(root), path: "/".into() })))
    },
    "file" => {
        let p = a.string("path")?;
        let rel = resolve(w, p)?;
        if rel.is_empty() {
            return Err(
                format!("workspace path `{p}` is the workspace root, not a file; use `directory`").into()
            );
        }
        let (root, path) = api.engine.host.workspace_file(w, &rel).await?;
        Ok(resolved(Object::File(FileObj { root: Some(root), path })))
    },
    "findUp" => {
        let name = a.string("name")?;
        if name.is_empty() || name.contains('/') || name == ".." {
            return Err(format!("`findUp` needs a plain file or directory name, not `{name}`").into());
        }
        let from = resolve(w, a.opt_string("from")?.unwrap_or("."))?;
        Ok(match api.engine.host.workspace_find_up(w, name, &from).await? {
            Some(p) => leaf(p),
            None => Resolved::Null,
        })
    },
};

impl Api {
    pub(super) async fn current_workspace(&self) -> Result<Resolved, ApiError> {
        Ok(resolved(Object::Workspace(self.engine.host.workspace().await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_boundary() {
        let w = Workspace { boundary: "/repo".into(), path: "app/web".into(), ..Default::default() };
        // (input, boundary-relative result or error)
        let cases: &[(&str, Result<&str, &str>)] = &[
            (".", Ok("app/web")),
            ("src", Ok("app/web/src")),
            ("../lib/x.rs", Ok("app/lib/x.rs")),
            ("../..", Ok("")),
            ("/", Ok("")),
            ("/go.mod", Ok("go.mod")),
            ("/a/../b", Ok("b")),
            ("../../..", Err("goes above the workspace boundary `/repo`")),
            ("/../etc", Err("goes above")),
        ];
        for (input, want) in cases {
            match (resolve(&w, input), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{input}"),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
        let at_root = Workspace { boundary: "/repo".into(), ..Default::default() };
        assert_eq!(resolve(&at_root, "x").unwrap(), "x");
        assert_eq!((at_root.address(), w.address()), ("/repo".to_string(), "/repo/app/web".to_string()));
    }
}
