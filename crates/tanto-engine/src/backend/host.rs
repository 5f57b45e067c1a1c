//! The client's host: uploads (`crate::export`, `crate::host`), exports,
//! unix sockets (`crate::socket`) and the workspace (`crate::workspace`).

use tanto_contract::fs::EntryKind;
use tanto_contract::host::Workspace;
use tanto_contract::{EngineResult, Host};
use tanto_model::Ref;

use super::EngineBackend;

#[async_trait::async_trait]
impl Host for EngineBackend {
    async fn host_directory(
        &self,
        path: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref> {
        self.do_host_directory(path, include, exclude, gitignore).await
    }

    async fn host_file(&self, path: &str) -> EngineResult<(Ref, String)> {
        self.do_host_file(path).await
    }

    async fn host_find_up(&self, name: &str) -> EngineResult<Option<String>> {
        self.do_host_find_up(name).await
    }

    async fn host_path(&self, path: &str) -> EngineResult<Option<(String, EntryKind)>> {
        Ok(self.do_host_path(path))
    }

    async fn host_unix_socket(&self, path: &str) -> EngineResult<String> {
        self.do_host_unix_socket(path).await
    }

    async fn export_directory(&self, root: Option<&Ref>, path: &str, dest: &str, wipe: bool) -> EngineResult<String> {
        self.do_export_directory(root, path, dest, wipe).await
    }

    async fn export_file(
        &self,
        root: Option<&Ref>,
        path: &str,
        dest: &str,
        allow_parent_dir: bool,
    ) -> EngineResult<String> {
        self.do_export_file(root, path, dest, allow_parent_dir).await
    }

    async fn workspace(&self) -> EngineResult<Workspace> {
        Ok(self.do_workspace())
    }

    async fn workspace_directory(
        &self,
        ws: &Workspace,
        rel: &str,
        include: Vec<String>,
        exclude: Vec<String>,
        gitignore: bool,
    ) -> EngineResult<Ref> {
        self.do_workspace_directory(ws, rel, include, exclude, gitignore).await
    }

    async fn workspace_file(&self, ws: &Workspace, rel: &str) -> EngineResult<(Ref, String)> {
        self.do_workspace_file(ws, rel).await
    }

    async fn workspace_find_up(&self, ws: &Workspace, name: &str, from: &str) -> EngineResult<Option<String>> {
        self.do_workspace_find_up(ws, name, from).await
    }
}
