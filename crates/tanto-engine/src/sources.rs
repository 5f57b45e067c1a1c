//! Remote sources: files over HTTP and git checkouts. Both are fetched on the
//! engine host (the engine is the client host too) into the content store or
//! a per-repository git cache, then materialised as snapshots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tanto_model::{Digest, GitOp, HttpOp};
use tokio::io::AsyncWriteExt;

use crate::worker::{blocking, Output, Pending, Worker};
use crate::EngineError;

/// Credentials for a git remote, as secret values.
#[derive(Default, Clone)]
pub struct GitAuth {
    pub header: Option<Arc<Vec<u8>>>,
    pub token: Option<(String, Arc<Vec<u8>>)>,
}

impl GitAuth {
    /// Git config passed through the environment (never on argv).
    fn env(&self) -> Vec<(String, String)> {
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
            Some(h) => vec![
                ("GIT_CONFIG_COUNT".into(), "1".into()),
                ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
                ("GIT_CONFIG_VALUE_0".into(), format!("Authorization: {h}")),
            ],
            None => vec![],
        }
    }
}

/// Runs `git` with a clean, non-interactive environment; returns stdout.
async fn git(args: &[&str], dir: Option<&Path>, auth: &GitAuth) -> Result<Vec<u8>, EngineError> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in auth.env() {
        cmd.env(k, v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EngineError::msg("`git` is not installed on the engine host: apt-get install git")
        } else {
            EngineError::msg(format!("running git: {e}"))
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(EngineError::msg(format!("git {}: {first}", args.first().copied().unwrap_or(""))));
    }
    Ok(out.stdout)
}

/// `(sha, ref name)` of every ref the remote advertises, HEAD first when present.
pub async fn ls_remote(url: &str, auth: &GitAuth) -> Result<Vec<(String, String)>, EngineError> {
    let out = git(&["ls-remote", "--symref", "--", url], None, auth)
        .await
        .map_err(|e| EngineError::msg(format!("listing refs of git repository `{url}`: {e}")))?;
    let mut refs = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        if line.starts_with("ref: ") {
            continue;
        }
        if let Some((sha, name)) = line.split_once('\t') {
            refs.push((sha.to_string(), name.to_string()));
        }
    }
    Ok(refs)
}

/// Resolves a ref (`main`, `v1.0`, `refs/heads/x`, `HEAD`, or a commit SHA) to a commit.
pub async fn resolve_ref(url: &str, reference: &str, kind: RefKind, auth: &GitAuth) -> Result<(String, String), EngineError> {
    if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok((reference.to_ascii_lowercase(), reference.to_string()));
    }
    let refs = ls_remote(url, auth).await?;
    let candidates: Vec<String> = match kind {
        RefKind::Branch => vec![format!("refs/heads/{reference}")],
        RefKind::Tag => vec![format!("refs/tags/{reference}^{{}}"), format!("refs/tags/{reference}")],
        RefKind::Any => vec![
            reference.to_string(),
            format!("refs/tags/{reference}^{{}}"),
            format!("refs/tags/{reference}"),
            format!("refs/heads/{reference}"),
            format!("refs/{reference}"),
        ],
    };
    for c in &candidates {
        if let Some((sha, _)) = refs.iter().find(|(_, n)| n == c) {
            return Ok((sha.clone(), c.trim_end_matches("^{}").to_string()));
        }
    }
    Err(EngineError::msg(format!("git repository `{url}` has no {} `{reference}`", kind.noun())))
}

#[derive(Clone, Copy)]
pub enum RefKind {
    Branch,
    Tag,
    Any,
}

impl RefKind {
    fn noun(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::Any => "ref",
        }
    }
}

/// Downloads `url` into the content store; returns its digest.
pub async fn download(worker: &Worker, url: &str, auth_header: Option<&[u8]>, expect: Option<&str>) -> Result<String, EngineError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EngineError::msg(format!("http client: {e}")))?;
    let mut req = client.get(url);
    if let Some(h) = auth_header {
        req = req.header(reqwest::header::AUTHORIZATION, String::from_utf8_lossy(h).into_owned());
    }
    let resp = req.send().await.map_err(|e| EngineError::msg(format!("fetching `{url}`: {}", flat_error(&e))))?;
    if !resp.status().is_success() {
        return Err(EngineError::msg(format!("fetching `{url}`: HTTP {}", resp.status())));
    }
    let tmp = worker.store.tmp_path("http");
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| EngineError::msg(format!("{}: {e}", tmp.display())))?;
    let mut hasher = Sha256::new();
    let mut stream = resp.bytes_stream();
    let result: Result<(), EngineError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| EngineError::msg(format!("fetching `{url}`: {}", flat_error(&e))))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
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
            return Err(EngineError::msg(format!("`{url}` has digest {digest}, not the expected {want}")));
        }
    }
    let dest = worker.store.blob_path(&digest);
    tokio::fs::rename(&tmp, &dest).await.map_err(|e| EngineError::msg(format!("{}: {e}", dest.display())))?;
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
        let blob = self.store.blob_path(&op.digest);
        if !blob.is_file() {
            let header = match &op.auth_header {
                Some(id) => Some(self.secrets.get(id).await?),
                None => None,
            };
            download(self, &op.url, header.as_deref().map(|v| v.as_slice()), Some(&op.digest)).await?;
        }
        let store = self.store.clone();
        let (name, mode, key) = (op.name.clone(), op.permissions, key.to_string());
        blocking(move || {
            let mut pending = Pending::new(&store);
            let prep = store.prepare(None)?;
            let dest = prep.upper.join(&name);
            pending.items.push(prep);
            std::fs::copy(&blob, &dest).map_err(|e| EngineError::msg(format!("placing the download: {e}")))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))?;
            pending.commit(&key, None)
        })
        .await
    }

    pub(crate) async fn git_op(&self, op: &GitOp, key: Digest) -> Result<Output, EngineError> {
        let mut auth = GitAuth::default();
        if let Some(id) = &op.auth_header {
            auth.header = Some(self.secrets.get(id).await?);
        }
        if let Some((user, id)) = &op.auth_token {
            auth.token = Some((user.clone(), self.secrets.get(id).await?));
        }
        // One bare cache per remote, guarded by a lock: fetch the commit into it.
        let cache = git_cache_dir(self, &op.url);
        tokio::fs::create_dir_all(&cache).await?;
        let lock_path = cache.with_extension("lock");
        let lock = blocking(move || {
            let f = std::fs::File::options().create(true).truncate(false).write(true).open(&lock_path)?;
            rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(std::io::Error::from)?;
            Ok(f)
        })
        .await?;
        if !cache.join("HEAD").exists() {
            git(&["init", "-q", "--bare", "."], Some(&cache), &auth).await?;
        }
        let have = git(&["cat-file", "-e", &format!("{}^{{commit}}", op.commit)], Some(&cache), &auth).await.is_ok();
        if !have {
            let by_sha = git(&["fetch", "-q", "--no-tags", "--", &op.url, &op.commit], Some(&cache), &auth).await;
            if by_sha.is_err() {
                git(&["fetch", "-q", "--tags", "--", &op.url, "+refs/heads/*:refs/remotes/origin/*"], Some(&cache), &auth)
                    .await
                    .map_err(|e| EngineError::msg(format!("fetching `{}` from `{}`: {e}", op.commit, op.url)))?;
            }
        }
        let mut pending = Pending::new(&self.store);
        let prep = self.store.prepare(None)?;
        let upper = prep.upper.clone();
        pending.items.push(prep);
        let cache_str = cache.to_string_lossy().into_owned();
        let branch = op.reference.strip_prefix("refs/heads/").unwrap_or("");
        let no_auth = GitAuth::default();
        git(&["init", "-q", "."], Some(&upper), &no_auth).await?;
        let depth = op.depth.max(1).to_string();
        git(&["fetch", "-q", "--depth", &depth, "--no-tags", "--", &cache_str, &op.commit], Some(&upper), &no_auth).await?;
        if branch.is_empty() {
            git(&["checkout", "-q", "--detach", &op.commit], Some(&upper), &no_auth).await?;
        } else {
            git(&["checkout", "-q", "-B", branch, &op.commit], Some(&upper), &no_auth).await?;
        }
        git(&["remote", "add", "origin", &op.url], Some(&upper), &no_auth).await?;
        drop(lock);
        if !op.keep_git_dir {
            tokio::fs::remove_dir_all(upper.join(".git")).await?;
        }
        let key = key.to_string();
        blocking(move || pending.commit(&key, None)).await
    }
}
