//! Remote sources: `git` repositories and refs, and `http` files.

use serde::Serialize;
use serde_json::Value as Json;
use tanto_contract::git::{pick_ref, GitAuth, GitRepo, RefKind};
use tanto_model::{Digest, DigestError, FileAction, GitOp, HttpOp, Op, Ref, Vertex};

use super::dispatch::{fields, table, Fields};
use super::objects::{DirectoryObj, FileObj};
use super::{leaf, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{Args, Resolved};

#[derive(Debug, Clone, Serialize)]
pub struct GitRepositoryObj {
    /// The remote; empty for a repository held in a directory.
    pub url: String,
    pub keep_git_dir: bool,
    pub auth: GitAuth,
    /// A repository held in a directory (`Directory.asGit`): its work tree,
    /// with `.git` inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<DirectoryObj>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GitRefObj {
    pub repo: GitRepositoryObj,
    pub reference: String,
    pub kind: RefKind,
}

fn secret_identity(api: &Api, a: &Args, name: &str) -> Result<Option<String>, ApiError> {
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

/// `p` as a glob that matches only itself.
fn glob_escape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '*' | '?' | '[' | ']' | '{' | '}' | '\\' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

fn version_key(tag: &str) -> Option<Vec<u64>> {
    let v = tag.strip_prefix('v').unwrap_or(tag);
    let core = v.split(['-', '+']).next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && !v.contains('-'))
}

table!(
    pub(super) GIT_REPOSITORY: GitRepositoryObj = "GitRepository",
    Object::GitRepository(v) => v,
    &[GIT_REPOSITORY_FIELDS],
    &[],
);

static GIT_REPOSITORY_FIELDS: Fields<GitRepositoryObj> = fields! { |api, g, call, a|
    let git_ref = |reference: &str, kind: RefKind| -> Result<Resolved, ApiError> {
        Ok(resolved(Object::GitRef(GitRefObj { repo: g.clone(), reference: reference.to_string(), kind })))
    };
    "url" => Ok(if g.dir.is_some() { Resolved::Null } else { leaf(g.url.clone()) }),
    "uncommitted" => Ok(resolved(Object::Changeset(api.uncommitted(g).await?))),
    "head" => git_ref("HEAD", RefKind::Any),
    "branch" => git_ref(a.string("name")?, RefKind::Branch),
    "tag" => git_ref(a.string("name")?, RefKind::Tag),
    "ref" | "commit" => git_ref(a.string(if call.field == "ref" { "name" } else { "id" })?, RefKind::Any),
    "branches" | "tags" => {
        let prefix = if call.field == "branches" { "refs/heads/" } else { "refs/tags/" };
        let patterns = a.opt_string_list("patterns")?.unwrap_or_default();
        let refs = api.repo_refs(g).await?;
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
    },
    "latestVersion" => {
        let refs = api.repo_refs(g).await?;
        let best = refs
            .iter()
            .filter_map(|(_, n)| n.strip_prefix("refs/tags/").filter(|t| !t.ends_with("^{}")))
            .filter_map(|t| version_key(t).map(|k| (k, t.to_string())))
            .max();
        match best {
            Some((_, tag)) => git_ref(&tag, RefKind::Tag),
            None => Err(format!("git repository {} has no version tags", repo_name(g)).into()),
        }
    },
};

table!(pub(super) GIT_REF: GitRefObj = "GitRef", Object::GitRef(v) => v, &[GIT_REF_FIELDS], &[]);

static GIT_REF_FIELDS: Fields<GitRefObj> = fields! { |api, r, call, a|
    "commit" => Ok(leaf(api.resolve_git_ref(r).await?.0)),
    "ref" => Ok(leaf(api.resolve_git_ref(r).await?.1)),
    "tree" => {
        let discard = a.opt_bool("discardGitDir")?.unwrap_or(false);
        let dir = api.git_tree(r, discard, a.opt_int("depth")?.unwrap_or(1)).await?;
        Ok(resolved(Object::Directory(dir)))
    },
    "commonAncestor" => {
        let other = match &*api.load(a.get("other").unwrap_or(&Json::Null), Some("GitRef"))? {
            Object::GitRef(o) => o.clone(),
            _ => unreachable!("type checked by load"),
        };
        if repo_identity(&r.repo) != repo_identity(&other.repo) {
            return Err(format!(
                "`commonAncestor` needs two refs of one repository, not of {} and of {}; take both refs from the same repository",
                repo_name(&r.repo),
                repo_name(&other.repo)
            )
            .into());
        }
        let (a_commit, _) = api.resolve_git_ref(r).await?;
        let (b_commit, _) = api.resolve_git_ref(&other).await?;
        let base = api.engine.sources.git_merge_base(&git_repo(&r.repo), &a_commit, &b_commit).await?;
        Ok(resolved(Object::GitRef(GitRefObj { repo: r.repo.clone(), reference: base, kind: RefKind::Any })))
    },
};

impl Api {
    pub(super) fn git_query(&self, a: &Args) -> Result<Resolved, ApiError> {
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
        Ok(resolved(Object::GitRepository(GitRepositoryObj {
            url,
            keep_git_dir: a.opt_bool("keepGitDir")?.unwrap_or(true),
            auth,
            dir: None,
        })))
    }

    pub(super) async fn http_query(&self, a: &Args) -> Result<Resolved, ApiError> {
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
        let digest: Digest = match a.opt_string("checksum")? {
            Some(c) if !c.is_empty() => {
                let c = if c.contains(':') { c.to_string() } else { format!("sha256:{c}") };
                c.parse().map_err(|_| format!("checksum `{c}` must be a sha256 digest (sha256:<64 hex digits>)"))?
            }
            _ => self
                .engine
                .sources
                .http_fetch(&url, auth_header.as_deref())
                .await?
                .parse()
                .map_err(|e: DigestError| e.to_string())?,
        };
        let op = HttpOp {
            digest,
            name: name.clone(),
            permissions: a.opt_int("permissions")?.unwrap_or(0o644) as u32,
            url,
            auth_header,
        };
        let r = Ref::new(Vertex::new(Op::Http(op), vec![]), 0);
        Ok(resolved(Object::File(FileObj { root: Some(r), path: format!("/{name}") })))
    }

    /// `(commit, full ref name)` of every ref of `g`.
    async fn repo_refs(&self, g: &GitRepositoryObj) -> Result<Vec<(String, String)>, ApiError> {
        match &g.dir {
            Some(d) => Ok(self.engine.sources.git_dir_refs(d.root.as_ref(), &d.path).await?),
            None => Ok(self.engine.sources.git_refs(&g.url, &g.auth).await?),
        }
    }

    /// Resolves `r` to `(commit, full ref name)`.
    async fn resolve_git_ref(&self, r: &GitRefObj) -> Result<(String, String), ApiError> {
        match &r.repo.dir {
            None => Ok(self.engine.sources.git_resolve(&r.repo.url, &r.reference, r.kind, &r.repo.auth).await?),
            Some(_) => {
                let refs = self.repo_refs(&r.repo).await?;
                pick_ref(&refs, &r.reference, r.kind).ok_or_else(|| {
                    format!("git repository {} has no {} `{}`", repo_name(&r.repo), r.kind.noun(), r.reference).into()
                })
            }
        }
    }

    /// The checkout of `r` (`GitRef.tree`).
    pub(super) async fn git_tree(
        &self,
        r: &GitRefObj,
        discard_git_dir: bool,
        depth: i64,
    ) -> Result<DirectoryObj, ApiError> {
        let (commit, full) = self.resolve_git_ref(r).await?;
        let (local, inputs) = match &r.repo.dir {
            Some(d) => {
                let root = d.root.clone().ok_or("an empty directory holds no git repository")?;
                (Some(d.path.clone()), vec![root])
            }
            None => (None, vec![]),
        };
        let op = GitOp {
            url: r.repo.url.clone(),
            commit,
            keep_git_dir: r.repo.keep_git_dir && !discard_git_dir,
            depth: depth.max(1) as u32,
            reference: full,
            local,
            auth_token: r.repo.auth.token.clone().map(|t| (r.repo.auth.username.clone(), t)),
            auth_header: r.repo.auth.header.clone(),
        };
        let root = Ref::new(Vertex::new(Op::Git(op), inputs), 0);
        Ok(DirectoryObj { root: Some(root), path: "/".into() })
    }

    /// `Directory.asGit`: the directory must hold a `.git` directory.
    pub(super) async fn directory_as_git(&self, d: &DirectoryObj) -> Result<Resolved, ApiError> {
        let dot_git = super::paths::within(&d.path, ".git");
        match self.engine.solve.stat(d.root.as_ref(), &dot_git, true).await? {
            Some(st) if st.kind == tanto_contract::fs::EntryKind::Dir => {}
            Some(_) => {
                return Err(format!(
                    "directory `{}` is not a git repository of its own: its `.git` is not a directory (a worktree or submodule link?); use the main repository's directory",
                    d.path
                )
                .into())
            }
            None => return Err(format!("directory `{}` is not a git repository: it has no `.git`; `asGit` needs a work tree with its `.git` directory", d.path).into()),
        }
        Ok(resolved(Object::GitRepository(GitRepositoryObj {
            url: String::new(),
            keep_git_dir: true,
            auth: GitAuth::default(),
            dir: Some(d.clone()),
        })))
    }

    /// `GitRepository.uncommitted`: what the work tree changes compared with
    /// HEAD, as Dagger computes it: `after` is the directory, `before` the
    /// same with tracked files as in HEAD and untracked (not ignored) ones
    /// removed, so `.git` and ignored files are no change. Empty for a remote.
    async fn uncommitted(&self, g: &GitRepositoryObj) -> Result<super::changeset::ChangesetObj, ApiError> {
        let head = GitRefObj { repo: g.clone(), reference: "HEAD".into(), kind: RefKind::Any };
        let Some(d) = &g.dir else {
            let tree = self.git_tree(&head, false, 1).await?;
            return Ok(super::changeset::ChangesetObj { before: tree.clone(), after: tree });
        };
        let head_tree = self.git_tree(&head, true, 1).await?;
        let mut include = vec![".git".to_string()];
        include.extend(
            self.engine
                .sources
                .git_dir_ignored(d.root.as_ref(), &d.path)
                .await?
                .iter()
                .map(|p| glob_escape(p.trim_end_matches('/'))),
        );
        let kept = FileAction::Copy {
            src: d.root.as_ref().map(|_| 0),
            src_path: d.path.clone(),
            dest: "/".into(),
            include,
            exclude: vec![],
            mode: None,
            owner: None,
            gitignore: false,
        };
        let base = super::file_op(None, kept, d.root.clone().into_iter().collect());
        let restored = FileAction::Copy {
            src: Some(0),
            src_path: "/".into(),
            dest: "/".into(),
            include: vec![],
            exclude: vec![],
            mode: None,
            owner: None,
            gitignore: false,
        };
        let before = super::file_op(Some(&base), restored, head_tree.root.into_iter().collect());
        Ok(super::changeset::ChangesetObj {
            before: DirectoryObj { root: Some(before), path: "/".into() },
            after: d.clone(),
        })
    }
}

/// How errors name a repository.
/// The repository as the engine knows it.
fn git_repo(g: &GitRepositoryObj) -> GitRepo {
    match &g.dir {
        Some(d) => GitRepo::Dir { root: d.root.clone(), path: d.path.clone() },
        None => GitRepo::Remote { url: g.url.clone(), auth: g.auth.clone() },
    }
}

fn repo_name(g: &GitRepositoryObj) -> String {
    match &g.dir {
        Some(d) => format!("`{}` (a directory)", d.path),
        None => format!("`{}`", g.url),
    }
}

/// Which repository `g` is (credentials and `keepGitDir` aside).
fn repo_identity(g: &GitRepositoryObj) -> String {
    match &g.dir {
        Some(d) => super::objects::object_id("Directory", d),
        None => g.url.clone(),
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
    }

    #[test]
    fn ignored_paths_are_matched_literally() {
        for (path, glob) in
            [("build", "build"), ("a b/c.log", "a b/c.log"), ("x[1]*?.log", "x[[]1[]][*][?].log"), ("{a}", "[{]a[}]")]
        {
            assert_eq!(glob_escape(path), glob);
        }
        assert_eq!(version_key("v1.0.0-rc1"), None);
    }
}
