//! Remote sources: files over HTTP and git checkouts. Both are fetched on the
//! engine host (the engine is the client host too) into the content store or
//! a per-repository git cache, then materialised as snapshots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tanto_contract::git::{is_commit_sha, pick_ref, RefKind};
use tanto_model::{Digest, GitOp, HttpOp, Tier, Vertex};
use tokio::io::AsyncWriteExt;

use crate::worker::{blocking, Output, Pending, Worker};
use crate::{EngineError, IoContext};

/// Credentials for a git remote, as secret values.
#[derive(Default, Clone)]
pub struct GitCredentials {
    pub header: Option<Arc<Vec<u8>>>,
    pub token: Option<(String, Arc<Vec<u8>>)>,
}

impl GitCredentials {
    /// Git config for the credentials (passed through the environment, never on argv).
    fn config(&self) -> Vec<(String, String)> {
        use base64::Engine as _;
        let header = match (&self.header, &self.token) {
            (Some(h), _) => Some(String::from_utf8_lossy(h).into_owned()),
            (None, Some((user, token))) => {
                let user = if user.is_empty() { "x-access-token" } else { user.as_str() };
                let raw = format!("{user}:{}", String::from_utf8_lossy(token));
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
            }
            _ => None,
        };
        match header {
            Some(h) => vec![("http.extraHeader".into(), format!("Authorization: {h}"))],
            None => vec![],
        }
    }
}

/// Config for git run on a repository that came from a directory (an
/// upload, a container's output): its files may belong to anyone
/// (`safe.directory`), and nothing its own config names may run on the
/// engine host. Command-scope config overrides the repository's.
const LOCAL_REPO_CONFIG: &[(&str, &str)] = &[
    ("safe.directory", "*"),
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("uploadpack.allowAnySHA1InWant", "true"),
    ("protocol.file.allow", "always"),
];

/// Runs `git` with a clean, non-interactive environment; returns stdout.
async fn git(args: &[&str], dir: Option<&Path>, auth: &GitCredentials) -> Result<Vec<u8>, EngineError> {
    git_with(&auth.config(), args, dir).await
}

/// Runs `git` on a repository that came from a directory (see [`LOCAL_REPO_CONFIG`]).
async fn git_local(args: &[&str], dir: Option<&Path>) -> Result<Vec<u8>, EngineError> {
    let config: Vec<(String, String)> = LOCAL_REPO_CONFIG.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    git_with(&config, args, dir).await
}

async fn git_with(config: &[(String, String)], args: &[&str], dir: Option<&Path>) -> Result<Vec<u8>, EngineError> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent")
        .env("GIT_CONFIG_COUNT", config.len().to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (i, (k, v)) in config.iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), k).env(format!("GIT_CONFIG_VALUE_{i}"), v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EngineError::environment("`git` is not installed on the engine host: apt-get install git")
        } else {
            EngineError::environment(format!("running git: {e}"))
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(EngineError::environment(format!("git {}: {first}", args.first().copied().unwrap_or(""))));
    }
    Ok(out.stdout)
}

fn parse_ls_remote(out: &[u8]) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    for line in String::from_utf8_lossy(out).lines() {
        if line.starts_with("ref: ") {
            continue;
        }
        if let Some((sha, name)) = line.split_once('\t') {
            refs.push((sha.to_string(), name.to_string()));
        }
    }
    refs
}

/// `(sha, ref name)` of every ref the remote advertises, HEAD first when present.
pub async fn ls_remote(url: &str, auth: &GitCredentials) -> Result<Vec<(String, String)>, EngineError> {
    let out = git(&["ls-remote", "--symref", "--", url], None, auth)
        .await
        .map_err(|e| e.context(format_args!("listing refs of git repository `{url}`")))?;
    Ok(parse_ls_remote(&out))
}

/// Resolves a ref (`main`, `v1.0`, `refs/heads/x`, `HEAD`, or a commit SHA) to a commit.
pub async fn resolve_ref(
    url: &str,
    reference: &str,
    kind: RefKind,
    auth: &GitCredentials,
) -> Result<(String, String), EngineError> {
    if is_commit_sha(reference) {
        return Ok((reference.to_ascii_lowercase(), reference.to_string()));
    }
    let refs = ls_remote(url, auth).await?;
    pick_ref(&refs, reference, kind)
        .ok_or_else(|| EngineError::not_found(format!("git repository `{url}` has no {} `{reference}`", kind.noun())))
}

/// `(sha, ref name)` of every ref of the repository whose work tree is `dir`, HEAD first.
pub async fn dir_refs(dir: &Path) -> Result<Vec<(String, String)>, EngineError> {
    let path = dir.to_string_lossy();
    let out = git_local(&["ls-remote", "--", &path], None).await?;
    Ok(parse_ls_remote(&out))
}

/// The ignored paths of the work tree `dir` (ignored directories as one entry ending in `/`).
pub async fn dir_ignored(dir: &Path) -> Result<Vec<String>, EngineError> {
    let out =
        git_local(&["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"], Some(dir)).await?;
    Ok(out.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect())
}

/// The best common ancestor of commits `a` and `b` of the repository at `dir`.
async fn merge_base_in(dir: &Path, a: &str, b: &str, local: bool) -> Result<String, EngineError> {
    let args = ["merge-base", "--", a, b];
    let out =
        if local { git_local(&args, Some(dir)).await } else { git(&args, Some(dir), &GitCredentials::default()).await };
    match out {
        Ok(o) => Ok(String::from_utf8_lossy(&o).trim().to_string()),
        // merge-base exits 1 without a word when there is no common ancestor.
        Err(e) if e.to_string().ends_with("git merge-base: ") => {
            Err(EngineError::not_found(format!("commits {a} and {b} have no common ancestor")))
        }
        Err(e) => Err(e.context(format_args!("finding the common ancestor of {a} and {b}"))),
    }
}

/// The best common ancestor of `a` and `b` in the work tree `dir`.
pub async fn dir_merge_base(dir: &Path, a: &str, b: &str) -> Result<String, EngineError> {
    merge_base_in(dir, a, b, true).await
}

/// The best common ancestor of `a` and `b` of the remote `url` (with their full history).
pub async fn merge_base(
    worker: &Worker,
    url: &str,
    a: &str,
    b: &str,
    auth: &GitCredentials,
) -> Result<String, EngineError> {
    let (cache, lock) = cache_with(worker, url, &[a, b], auth).await?;
    let out = merge_base_in(&cache, a, b, false).await;
    drop(lock);
    out
}

/// The bare cache of `url`, locked, holding `commits` (fetched with full history).
async fn cache_with(
    worker: &Worker,
    url: &str,
    commits: &[&str],
    auth: &GitCredentials,
) -> Result<(PathBuf, std::fs::File), EngineError> {
    let cache = git_cache_dir(worker, url);
    tokio::fs::create_dir_all(&cache).await.at(format_args!("creating `{}`", cache.display()))?;
    let lock_path = cache.with_extension("lock");
    let lock = blocking(move || {
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at(format_args!("opening `{}`", lock_path.display()))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .at(format_args!("locking `{}`", lock_path.display()))?;
        Ok(f)
    })
    .await?;
    if !cache.join("HEAD").exists() {
        git(&["init", "-q", "--bare", "."], Some(&cache), auth).await?;
    }
    for commit in commits {
        let have = git(&["cat-file", "-e", &format!("{commit}^{{commit}}")], Some(&cache), auth).await.is_ok();
        if !have {
            let by_sha = git(&["fetch", "-q", "--no-tags", "--", url, commit], Some(&cache), auth).await;
            if by_sha.is_err() {
                git(&["fetch", "-q", "--tags", "--", url, "+refs/heads/*:refs/remotes/origin/*"], Some(&cache), auth)
                    .await
                    .map_err(|e| e.context(format_args!("fetching `{commit}` from `{url}`")))?;
            }
        }
    }
    Ok((cache, lock))
}

/// Downloads `url` into the content store; returns its digest.
pub async fn download(
    worker: &Worker,
    url: &str,
    auth_header: Option<&[u8]>,
    expect: Option<&str>,
) -> Result<String, EngineError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EngineError::internal(format!("http client: {e}")))?;
    let mut req = client.get(url);
    if let Some(h) = auth_header {
        req = req.header(reqwest::header::AUTHORIZATION, String::from_utf8_lossy(h).into_owned());
    }
    let resp =
        req.send().await.map_err(|e| EngineError::environment(format!("fetching `{url}`: {}", flat_error(&e))))?;
    if !resp.status().is_success() {
        let tier = if resp.status() == reqwest::StatusCode::NOT_FOUND { Tier::NotFound } else { Tier::Environment };
        return Err(EngineError::new(tier, format!("fetching `{url}`: HTTP {}", resp.status())));
    }
    let tmp = worker.store.tmp_path("http");
    let mut file =
        tokio::fs::File::create(&tmp).await.map_err(|e| EngineError::environment(format!("{}: {e}", tmp.display())))?;
    let mut hasher = Sha256::new();
    let mut stream = resp.bytes_stream();
    let result: Result<(), EngineError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| EngineError::environment(format!("fetching `{url}`: {}", flat_error(&e))))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.at(format_args!("writing `{}`", tmp.display()))?;
        }
        file.flush().await.at(format_args!("writing `{}`", tmp.display()))?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    if let Some(want) = expect {
        if want != digest {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(EngineError::input(format!("`{url}` has digest {digest}, not the expected {want}")));
        }
    }
    let dest = worker.store.blob_path(&digest);
    tokio::fs::rename(&tmp, &dest).await.map_err(|e| EngineError::environment(format!("{}: {e}", dest.display())))?;
    Ok(digest)
}

fn flat_error(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn git_cache_dir(worker: &Worker, url: &str) -> PathBuf {
    worker.store.root().join("git").join(hex::encode(Sha256::digest(url.as_bytes())))
}

impl Worker {
    pub(crate) async fn http_op(&self, op: &HttpOp, key: Digest) -> Result<Output, EngineError> {
        let digest = op.digest.to_string();
        let blob = self.store.blob_path(&digest);
        if !blob.is_file() {
            let header = match &op.auth_header {
                Some(id) => Some(self.secrets.get(id).await?),
                None => None,
            };
            download(self, &op.url, header.as_deref().map(|v| v.as_slice()), Some(&digest)).await?;
        }
        let store = self.store.clone();
        let (name, mode, key) = (op.name.clone(), op.permissions, key.to_string());
        blocking(move || {
            let mut pending = Pending::new(&store);
            let prep = store.prepare(None)?;
            let dest = prep.upper.join(&name);
            pending.items.push(prep);
            std::fs::copy(&blob, &dest).map_err(|e| EngineError::environment(format!("placing the download: {e}")))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))
                .at(format_args!("setting the mode of `{}`", dest.display()))?;
            pending.commit(&key, None)
        })
        .await
    }

    pub(crate) async fn git_op(
        &self,
        vertex: &Vertex,
        op: &GitOp,
        key: Digest,
        inputs: &[Output],
    ) -> Result<Output, EngineError> {
        let mut auth = GitCredentials::default();
        if let Some(id) = &op.auth_header {
            auth.header = Some(self.secrets.get(id).await?);
        }
        if let Some((user, id)) = &op.auth_token {
            auth.token = Some((user.clone(), self.secrets.get(id).await?));
        }
        // Where the commit comes from: the remote's bare cache (locked, the
        // commit fetched into it), or the repository held in input 0.
        let (source, guard): (String, Box<dyn Send>) = match &op.local {
            None => {
                let (cache, lock) = cache_with(self, &op.url, &[&op.commit], &auth).await?;
                (cache.to_string_lossy().into_owned(), Box::new(lock))
            }
            Some(selector) => {
                let snap = crate::worker::input_snapshot(vertex, inputs, 0)?;
                let (store, sel) = (self.store.clone(), selector.clone());
                let view = blocking(move || Ok(store.view(Some(snap), &sel)?)).await?;
                (view.path().to_string_lossy().into_owned(), Box::new(view))
            }
        };
        let mut pending = Pending::new(&self.store);
        let prep = self.store.prepare(None)?;
        let upper = prep.upper.clone();
        pending.items.push(prep);
        let branch = op.reference.strip_prefix("refs/heads/").unwrap_or("");
        let no_auth = GitCredentials::default();
        git(&["init", "-q", "."], Some(&upper), &no_auth).await?;
        let depth = op.depth.max(1).to_string();
        let fetch = ["fetch", "-q", "--depth", &depth, "--no-tags", "--", &source, &op.commit];
        match op.local {
            None => git(&fetch, Some(&upper), &no_auth).await?,
            Some(_) => git_local(&fetch, Some(&upper)).await?,
        };
        drop(guard);
        if branch.is_empty() {
            git(&["checkout", "-q", "--detach", &op.commit], Some(&upper), &no_auth).await?;
        } else {
            git(&["checkout", "-q", "-B", branch, &op.commit], Some(&upper), &no_auth).await?;
        }
        if op.local.is_none() {
            git(&["remote", "add", "origin", &op.url], Some(&upper), &no_auth).await?;
        }
        if !op.keep_git_dir {
            tokio::fs::remove_dir_all(upper.join(".git")).await.at("removing `.git` from the checkout")?;
        }
        let key = key.to_string();
        blocking(move || pending.commit(&key, None)).await
    }
}
