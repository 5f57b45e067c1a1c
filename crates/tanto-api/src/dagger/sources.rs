//! Remote sources: `git` repositories and refs, and `http` files.

use serde::Serialize;
use serde_json::Value as Json;
use tanto_model::{GitOp, HttpOp, Op, Ref, Vertex};

use super::objects::{DirectoryObj, FileObj};
use super::{leaf, not_implemented, resolved, Api, Object};
use crate::gql::{Args, FieldCall, FieldError, Resolved};

/// Credentials for a git remote, as secret identities.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GitAuth {
    pub username: String,
    pub token: Option<String>,
    pub header: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GitRepositoryObj {
    pub url: String,
    pub keep_git_dir: bool,
    pub auth: GitAuth,
}

/// How a ref was named: resolved to a commit only when needed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    Branch,
    Tag,
    Any,
}

#[derive(Debug, Clone, Serialize)]
pub struct GitRefObj {
    pub repo: GitRepositoryObj,
    pub reference: String,
    pub kind: RefKind,
}

fn secret_identity(api: &Api, a: &Args, name: &str) -> Result<Option<String>, FieldError> {
    match a.get(name) {
        Some(id) => Ok(Some(api.load_secret(id)?.identity)),
        None => Ok(None),
    }
}

/// Matches `name` (a full ref such as `refs/tags/v1`) against glob-ish patterns
/// (`*` wildcards), on the full or the short name.
fn ref_matches(name: &str, short: &str, patterns: &[String]) -> bool {
    fn glob(p: &str, s: &str) -> bool {
        match p.split_once('*') {
            None => p == s,
            Some((head, rest)) => {
                let Some(tail) = s.strip_prefix(head) else { return false };
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
            }
        }
    }
    patterns.is_empty() || patterns.iter().any(|p| glob(p, name) || glob(p, short))
}

fn version_key(tag: &str) -> Option<Vec<u64>> {
    let v = tag.strip_prefix('v').unwrap_or(tag);
    let core = v.split(['-', '+']).next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && !v.contains('-'))
}

impl Api {
    pub(super) fn git_query(&self, a: &Args) -> Result<Resolved, FieldError> {
        let url = a.string("url")?.to_string();
        if url.is_empty() {
            return Err("git URL must not be empty".into());
        }
        if a.get("sshAuthSocket").is_some() {
            return Err("not implemented yet: Query.git(sshAuthSocket:): ssh remotes are not supported yet; use an https or file URL".into());
        }
        if a.get("experimentalServiceHost").is_some() {
            return Err("not implemented yet: Query.git(experimentalServiceHost:)".into());
        }
        let auth = GitAuth {
            username: a.opt_string("httpAuthUsername")?.unwrap_or("").to_string(),
            token: secret_identity(self, a, "httpAuthToken")?,
            header: secret_identity(self, a, "httpAuthHeader")?,
        };
        Ok(resolved(Object::GitRepository(GitRepositoryObj { url, keep_git_dir: a.opt_bool("keepGitDir")?.unwrap_or(true), auth })))
    }

    pub(super) async fn http_query(&self, a: &Args) -> Result<Resolved, FieldError> {
        let url = a.string("url")?.to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("`{url}` is not an http(s) URL").into());
        }
        if a.get("experimentalServiceHost").is_some() {
            return Err("not implemented yet: Query.http(experimentalServiceHost:)".into());
        }
        let name = match a.opt_string("name")? {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => {
                let path = url.split(['?', '#']).next().unwrap_or("");
                let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
                match after_host.rsplit('/').next() {
                    Some(n) if !n.is_empty() => n.to_string(),
                    _ => "index.html".to_string(),
                }
            }
        };
        if name.contains('/') {
            return Err(format!("file name `{name}` must not contain `/`").into());
        }
        let auth_header = secret_identity(self, a, "authHeader")?;
        let digest = match a.opt_string("checksum")? {
            Some(c) if !c.is_empty() => {
                let c = if c.contains(':') { c.to_string() } else { format!("sha256:{c}") };
                if !c.starts_with("sha256:") {
                    return Err(format!("checksum `{c}` must be a sha256 digest").into());
                }
                c
            }
            _ => self.backend.http_fetch(&url, auth_header.as_deref()).await?,
        };
        let op = HttpOp { digest, name: name.clone(), permissions: a.opt_int("permissions")?.unwrap_or(0o644) as u32, url, auth_header };
        let r = Ref::new(Vertex::new(Op::Http(op), vec![]), 0);
        Ok(resolved(Object::File(FileObj { root: Some(r), path: format!("/{name}") })))
    }

    pub(super) async fn git_repository(&self, g: &GitRepositoryObj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        let a = call.args;
        let git_ref = |reference: &str, kind: RefKind| {
            Ok(resolved(Object::GitRef(GitRefObj { repo: g.clone(), reference: reference.to_string(), kind })))
        };
        match call.field {
            "url" => Ok(leaf(g.url.clone())),
            "head" => git_ref("HEAD", RefKind::Any),
            "branch" => git_ref(a.string("name")?, RefKind::Branch),
            "tag" => git_ref(a.string("name")?, RefKind::Tag),
            "ref" | "commit" => git_ref(a.string(if call.field == "ref" { "name" } else { "id" })?, RefKind::Any),
            "branches" | "tags" => {
                let prefix = if call.field == "branches" { "refs/heads/" } else { "refs/tags/" };
                let patterns = a.opt_string_list("patterns")?.unwrap_or_default();
                let refs = self.backend.git_refs(&g.url, &g.auth).await?;
                let mut names: Vec<String> = refs
                    .into_iter()
                    .filter_map(|(_, name)| {
                        let short = name.strip_prefix(prefix)?;
                        (!short.ends_with("^{}") && ref_matches(&name, short, &patterns)).then(|| short.to_string())
                    })
                    .collect();
                names.sort();
                names.dedup();
                Ok(leaf(Json::Array(names.into_iter().map(Json::String).collect())))
            }
            "latestVersion" => {
                let refs = self.backend.git_refs(&g.url, &g.auth).await?;
                let best = refs
                    .iter()
                    .filter_map(|(_, n)| n.strip_prefix("refs/tags/").filter(|t| !t.ends_with("^{}")))
                    .filter_map(|t| version_key(t).map(|k| (k, t.to_string())))
                    .max();
                match best {
                    Some((_, tag)) => git_ref(&tag, RefKind::Tag),
                    None => Err(format!("git repository `{}` has no version tags", g.url).into()),
                }
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn git_ref(&self, r: &GitRefObj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        let a = call.args;
        match call.field {
            "commit" => Ok(leaf(self.backend.git_resolve(&r.repo.url, &r.reference, r.kind, &r.repo.auth).await?.0)),
            "ref" => Ok(leaf(self.backend.git_resolve(&r.repo.url, &r.reference, r.kind, &r.repo.auth).await?.1)),
            "tree" => {
                let (commit, full) = self.backend.git_resolve(&r.repo.url, &r.reference, r.kind, &r.repo.auth).await?;
                let discard = a.opt_bool("discardGitDir")?.unwrap_or(false);
                let op = GitOp {
                    url: r.repo.url.clone(),
                    commit,
                    keep_git_dir: r.repo.keep_git_dir && !discard,
                    depth: a.opt_int("depth")?.unwrap_or(1).max(1) as u32,
                    reference: full,
                    auth_token: r.repo.auth.token.clone().map(|t| (r.repo.auth.username.clone(), t)),
                    auth_header: r.repo.auth.header.clone(),
                };
                let root = Ref::new(Vertex::new(Op::Git(op), vec![]), 0);
                Ok(resolved(Object::Directory(DirectoryObj { root: Some(root), path: "/".into() })))
            }
            _ => Err(not_implemented(call)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_patterns() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (name, short, patterns, want) in [
            ("refs/tags/v1.2", "v1.2", p(&[]), true),
            ("refs/tags/v1.2", "v1.2", p(&["v1.*"]), true),
            ("refs/tags/v1.2", "v1.2", p(&["refs/tags/v*"]), true),
            ("refs/tags/v1.2", "v1.2", p(&["v2*"]), false),
        ] {
            assert_eq!(ref_matches(name, short, &patterns), want, "{name} {patterns:?}");
        }
        assert!(version_key("v1.10.0") > version_key("v1.9.3"));
        assert_eq!(version_key("v1.0.0-rc1"), None);
    }
}
