//! Remote sources: git repositories and HTTP downloads (`crate::sources`).

use tanto_contract::git::{GitAuth, GitRefName, GitRepo, RefKind};
use tanto_contract::{EngineResult, Sources};
use tanto_model::Ref;

use super::EngineBackend;
use crate::sources::{self as src, GitCredentials};

impl EngineBackend {
    /// The values of a remote's credentials.
    async fn git_credentials(&self, auth: &GitAuth) -> EngineResult<GitCredentials> {
        let secrets = &self.worker().secrets;
        let mut out = GitCredentials::default();
        if let Some(id) = &auth.header {
            out.header = Some(secrets.get(id).await?);
        }
        if let Some(id) = &auth.token {
            out.token = Some((auth.username.clone(), secrets.get(id).await?));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Sources for EngineBackend {
    async fn http_fetch(&self, url: &str, auth_header: Option<&str>) -> EngineResult<String> {
        let header = match auth_header {
            Some(id) => Some(self.worker().secrets.get(id).await?),
            None => None,
        };
        src::download(self.worker(), url, header.as_deref().map(|v| v.as_slice()), None).await
    }

    async fn git_refs(&self, url: &str, auth: &GitAuth) -> EngineResult<Vec<GitRefName>> {
        let creds = self.git_credentials(auth).await?;
        src::ls_remote(url, &creds).await
    }

    async fn git_resolve(&self, url: &str, reference: &str, kind: RefKind, auth: &GitAuth) -> EngineResult<GitRefName> {
        let creds = self.git_credentials(auth).await?;
        src::resolve_ref(url, reference, kind, &creds).await
    }

    async fn git_dir_refs(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<GitRefName>> {
        let view = self.view_of(root, path).await?;
        src::dir_refs(view.path()).await.map_err(|e| e.context(format_args!("git repository `{path}` (a directory)")))
    }

    async fn git_dir_ignored(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<String>> {
        let view = self.view_of(root, path).await?;
        src::dir_ignored(view.path())
            .await
            .map_err(|e| e.context(format_args!("git repository `{path}` (a directory)")))
    }

    async fn git_merge_base(&self, repo: &GitRepo, a: &str, b: &str) -> EngineResult<String> {
        match repo {
            GitRepo::Dir { root, path } => {
                let view = self.view_of(root.as_ref(), path).await?;
                src::dir_merge_base(view.path(), a, b).await
            }
            GitRepo::Remote { url, auth } => {
                let creds = self.git_credentials(auth).await?;
                src::merge_base(self.worker(), url, a, b, &creds).await
            }
        }
    }
}
