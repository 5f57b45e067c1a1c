//! An engine that does no work: every call that would need one fails.

use std::sync::Arc;
use tanto_model::Ref;

use crate::cache::{CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};
use crate::fs::{ChangeLists, EntryKind, EntryStat, ExecOutput, SearchMatch, SearchOptions};
use crate::git::{GitAuth, GitRefName, GitRepo, RefKind};
use crate::host::Workspace;
use crate::image::{ImageOptions, ImageVariant, Port, ResolvedImage};
use crate::service::{PortForward, ServiceSpec};
use crate::{Cache, EngineError, EngineResult, Host, Images, Secrets, Services, Solve, Sources};

/// Refuses all engine work with `message` (what `tanto schema coverage`
/// probes the API against, and what tests put behind the capabilities they
/// do not fake). Registering a secret or a service is accepted and
/// forgotten (a secret's identity is then its name or URI).
#[derive(Debug, Clone, Copy)]
pub struct Refusing {
    pub message: &'static str,
    /// What `default_platform` says.
    pub platform: &'static str,
}

impl Refusing {
    fn no<T>(&self) -> EngineResult<T> {
        Err(EngineError::environment(self.message))
    }
}

#[async_trait::async_trait]
impl Solve for Refusing {
    async fn sync(&self, _: &Ref) -> EngineResult<()> {
        self.no()
    }
    async fn exec_output(&self, _: &Ref) -> EngineResult<ExecOutput> {
        self.no()
    }
    async fn read_file(&self, _: Option<&Ref>, _: &str) -> EngineResult<Vec<u8>> {
        self.no()
    }
    async fn read_dir(&self, _: Option<&Ref>, _: &str) -> EngineResult<Vec<EntryStat>> {
        self.no()
    }
    async fn stat(&self, _: Option<&Ref>, _: &str, _: bool) -> EngineResult<Option<EntryStat>> {
        self.no()
    }
    async fn glob(&self, _: Option<&Ref>, _: &str, _: &str) -> EngineResult<Vec<String>> {
        self.no()
    }
    async fn digest(&self, _: Option<&Ref>, _: &str, _: bool) -> EngineResult<String> {
        self.no()
    }
    async fn changes(&self, _: Option<&Ref>, _: &str, _: Option<&Ref>, _: &str) -> EngineResult<ChangeLists> {
        self.no()
    }
    async fn search(&self, _: Option<&Ref>, _: &str, _: &SearchOptions) -> EngineResult<Vec<SearchMatch>> {
        self.no()
    }

    async fn run_nested(&self, _: &Ref, _: Arc<dyn crate::QueryHandler>, _: &str) -> EngineResult<ExecOutput> {
        self.no()
    }
    async fn run_terminal(&self, _: &Ref) -> EngineResult<i32> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Images for Refusing {
    fn default_platform(&self) -> String {
        self.platform.to_string()
    }
    async fn resolve_image(&self, _: &str, _: &str) -> EngineResult<ResolvedImage> {
        self.no()
    }
    async fn export_image(&self, _: &[ImageVariant], _: &str, _: &ImageOptions) -> EngineResult<String> {
        self.no()
    }
    async fn image_tarball(&self, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<(Ref, String)> {
        self.no()
    }
    async fn publish(&self, _: &str, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<String> {
        self.no()
    }
    async fn import_image(&self, _: Option<&Ref>, _: &str, _: &str, _: &str) -> EngineResult<ResolvedImage> {
        self.no()
    }
    async fn add_registry_auth(&self, _: &str, _: &str, _: &str) -> EngineResult<()> {
        self.no()
    }
    fn remove_registry_auth(&self, _: &str) {}
    async fn host_container_image(&self, _: &str, _: &str) -> EngineResult<ResolvedImage> {
        self.no()
    }
    async fn load_host_image(&self, _: &str, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<()> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Host for Refusing {
    fn host_network(&self) -> EngineResult<Option<String>> {
        self.no()
    }
    async fn host_directory(&self, _: &str, _: Vec<String>, _: Vec<String>, _: bool) -> EngineResult<Ref> {
        self.no()
    }
    async fn host_file(&self, _: &str) -> EngineResult<(Ref, String)> {
        self.no()
    }
    async fn host_find_up(&self, _: &str) -> EngineResult<Option<String>> {
        self.no()
    }
    async fn host_path(&self, _: &str) -> EngineResult<Option<(String, EntryKind)>> {
        self.no()
    }
    async fn host_unix_socket(&self, _: &str) -> EngineResult<String> {
        self.no()
    }
    async fn export_directory(&self, _: Option<&Ref>, _: &str, _: &str, _: bool) -> EngineResult<String> {
        self.no()
    }
    async fn export_file(&self, _: Option<&Ref>, _: &str, _: &str, _: bool) -> EngineResult<String> {
        self.no()
    }
    async fn workspace(&self) -> EngineResult<Workspace> {
        self.no()
    }
    async fn workspace_directory(
        &self,
        _: &Workspace,
        _: &str,
        _: Vec<String>,
        _: Vec<String>,
        _: bool,
    ) -> EngineResult<Ref> {
        self.no()
    }
    async fn workspace_file(&self, _: &Workspace, _: &str) -> EngineResult<(Ref, String)> {
        self.no()
    }
    async fn workspace_find_up(&self, _: &Workspace, _: &str, _: &str) -> EngineResult<Option<String>> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Services for Refusing {
    fn register_service(&self, _: &ServiceSpec) {}
    async fn start_service(&self, _: &ServiceSpec) -> EngineResult<()> {
        self.no()
    }
    async fn stop_service(&self, _: &ServiceSpec, _: bool) -> EngineResult<()> {
        self.no()
    }
    async fn service_ports(&self, _: &ServiceSpec) -> EngineResult<(String, Vec<Port>)> {
        self.no()
    }
    async fn service_up(&self, _: &ServiceSpec, _: Vec<PortForward>, _: bool, _: Option<&str>) -> EngineResult<()> {
        self.no()
    }
    async fn service_terminal(&self, _: &ServiceSpec, _: Vec<String>) -> EngineResult<i32> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Sources for Refusing {
    async fn http_fetch(&self, _: &str, _: Option<&str>) -> EngineResult<String> {
        self.no()
    }
    async fn git_refs(&self, _: &str, _: &GitAuth) -> EngineResult<Vec<GitRefName>> {
        self.no()
    }
    async fn git_resolve(&self, _: &str, _: &str, _: RefKind, _: &GitAuth) -> EngineResult<GitRefName> {
        self.no()
    }
    async fn git_dir_refs(&self, _: Option<&Ref>, _: &str) -> EngineResult<Vec<GitRefName>> {
        self.no()
    }
    async fn git_dir_ignored(&self, _: Option<&Ref>, _: &str) -> EngineResult<Vec<String>> {
        self.no()
    }
    async fn git_merge_base(&self, _: &GitRepo, _: &str, _: &str) -> EngineResult<String> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Secrets for Refusing {
    fn set_secret(&self, name: &str, _: Vec<u8>) -> String {
        format!("set:{name}")
    }
    async fn secret_from_uri(&self, uri: &str, _: Option<&str>) -> EngineResult<String> {
        Ok(format!("uri:{uri}"))
    }
    async fn secret_plaintext(&self, _: &str) -> EngineResult<Vec<u8>> {
        self.no()
    }
}

#[async_trait::async_trait]
impl Cache for Refusing {
    async fn engine_info(&self) -> EngineResult<EngineInfo> {
        self.no()
    }
    async fn cache_policy(&self) -> EngineResult<CachePolicy> {
        self.no()
    }
    async fn cache_entries(&self, _: &str) -> EngineResult<CacheEntrySet> {
        self.no()
    }
    async fn cache_prune(&self, _: &PruneRequest) -> EngineResult<()> {
        self.no()
    }
    async fn memo(&self, _: &str) -> EngineResult<Option<(Vec<u8>, u64)>> {
        Ok(None)
    }
    async fn set_memo(&self, _: &str, _: &[u8]) -> EngineResult<()> {
        Ok(())
    }
}
