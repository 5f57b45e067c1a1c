//! Secret values, in memory only, and scrubbing them out of output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::EngineError;

/// Secret values by identity. Never written to disk.
///
/// Identities: `set:NAME@D` (`setSecret`), `uri:URI@D` (`secret(uri)`, read
/// when made) and `key:KEY` (`secret(uri, cacheKey)`, read when first used),
/// where `D` is [`keyed_digest`] of the value under the state dir's secret key.
pub struct Secrets {
    values: RwLock<HashMap<String, Arc<Vec<u8>>>>,
    /// Where `key:KEY` identities get their value.
    uris: RwLock<HashMap<String, String>>,
    /// Relative `file://` paths are relative to the client's working directory.
    workdir: PathBuf,
    /// The state dir's secret key (`tanto_store::Store::secret_key`).
    key: [u8; 32],
}

/// A digest of `value` (as secret `name`) that only the holder of `key` can
/// compute: HMAC-SHA256 over the length-prefixed name and the value, 128 bits
/// in hex. Equal values of a name give equal digests on every engine that
/// shares the state dir; nobody without the key can test a guess against it.
pub fn keyed_digest(key: &[u8; 32], name: &str, value: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&(name.len() as u64).to_be_bytes());
    mac.update(name.as_bytes());
    mac.update(value);
    hex::encode(&mac.finalize().into_bytes()[..16])
}

impl Secrets {
    pub fn new(workdir: PathBuf, key: [u8; 32]) -> Secrets {
        Secrets { values: RwLock::new(HashMap::new()), uris: RwLock::new(HashMap::new()), workdir, key }
    }

    fn keep(&self, identity: String, value: Vec<u8>) -> String {
        self.values.write().insert(identity.clone(), Arc::new(value));
        identity
    }

    /// `s` with every secret value this engine knows replaced.
    pub(crate) fn scrub_known(&self, s: &str) -> String {
        self.scrub_if_known(s).unwrap_or_else(|| s.to_string())
    }

    /// `s` with every secret value this engine knows replaced (as [`scrub`]
    /// does: a multi-line value's lines too); `None` when nothing was.
    pub(crate) fn scrub_if_known(&self, s: &str) -> Option<String> {
        let values: Vec<Arc<Vec<u8>>> = self.values.read().values().cloned().collect();
        if values.is_empty() {
            return None;
        }
        let scrubbed = scrub_str(s, &values);
        (scrubbed != s).then_some(scrubbed)
    }

    /// Keeps secret `name`; returns its identity (`set:NAME@DIGEST`).
    pub fn set(&self, name: &str, value: Vec<u8>) -> String {
        let identity = format!("set:{name}@{}", keyed_digest(&self.key, name, &value));
        self.keep(identity, value)
    }

    /// A secret from `uri`: read now (`uri:URI@DIGEST`), or, with a cache
    /// key, named by it (`key:KEY`) and read when first used.
    pub async fn from_uri(&self, uri: &str, cache_key: Option<&str>) -> Result<String, EngineError> {
        if let Some(k) = cache_key {
            let identity = format!("key:{k}");
            self.uris.write().insert(identity.clone(), uri.to_string());
            return Ok(identity);
        }
        let value = resolve_uri(uri, &self.workdir).await?;
        Ok(self.keep_resolved(uri, None, value))
    }

    /// Keeps the value a client read for `uri` (a remote engine's client reads
    /// its own): its identity is as [`Secrets::from_uri`] makes it; with a
    /// cache key, the key's.
    pub(crate) fn keep_resolved(&self, uri: &str, cache_key: Option<&str>, value: Vec<u8>) -> String {
        let identity = match cache_key {
            Some(k) => format!("key:{k}"),
            None => format!("uri:{uri}@{}", keyed_digest(&self.key, uri, &value)),
        };
        self.keep(identity, value)
    }

    /// The value of a secret, resolving a `key:` secret's URI the first time.
    pub async fn get(&self, identity: &str) -> Result<Arc<Vec<u8>>, EngineError> {
        if let Some(v) = self.values.read().get(identity) {
            return Ok(v.clone());
        }
        let Some(uri) = self.uris.read().get(identity).cloned() else {
            let name = identity.split_once(':').map(|(_, n)| n).unwrap_or(identity);
            let name = name.rsplit_once('@').map(|(n, _)| n).unwrap_or(name);
            return Err(EngineError::not_found(format!(
                "secret `{name}` has no value in this engine: secrets live in the memory of the session that made them"
            )));
        };
        let value = Arc::new(resolve_uri(&uri, &self.workdir).await?);
        self.values.write().insert(identity.to_string(), value.clone());
        Ok(value)
    }
}

/// Reads the secret `uri` on this host: `env://NAME`, `file://PATH` and
/// `cmd://COMMAND` (run by `sh -c`; relative paths and the command's
/// directory are `workdir`), trailing newlines of a command's output cut.
pub async fn resolve_uri(uri: &str, workdir: &Path) -> Result<Vec<u8>, EngineError> {
    if let Some(name) = uri.strip_prefix("env://") {
        return std::env::var_os(name).map(|v| v.into_encoded_bytes()).ok_or_else(|| {
            EngineError::not_found(format!(
                "secret `{uri}`: environment variable `{name}` is not set in the client's environment"
            ))
        });
    }
    if let Some(path) = uri.strip_prefix("file://") {
        let p = workdir.join(path);
        return tokio::fs::read(&p)
            .await
            .map_err(|e| crate::io_error(&e, format!("secret `{uri}`: cannot read `{}`: {e}", p.display())));
    }
    if let Some(cmd) = uri.strip_prefix("cmd://") {
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(workdir)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| EngineError::environment(format!("secret `{uri}`: cannot run the command: {e}")))?;
        if !out.status.success() {
            return Err(EngineError::input(format!("secret `{uri}`: the command failed with {}", out.status)));
        }
        let mut v = out.stdout;
        while v.last() == Some(&b'\n') {
            v.pop();
        }
        return Ok(v);
    }
    Err(EngineError::input(format!("secret URI `{uri}` is not supported: use env://, file:// or cmd://")))
}

/// Replaces every occurrence of each secret (longest first) with `***`.
/// The lines of a multi-line secret are scrubbed one by one too (those of
/// at least 6 non-blank bytes), so a secret printed with other line endings,
/// indented or in part still does not show.
pub fn scrub(data: &[u8], secrets: &[Arc<Vec<u8>>]) -> Vec<u8> {
    let mut sorted: Vec<&[u8]> = secrets.iter().map(|s| s.as_slice()).filter(|s| !s.is_empty()).collect();
    for s in secrets.iter().filter(|s| s.contains(&b'\n')) {
        for line in s.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().filter(|b| !b.is_ascii_whitespace()).count() >= 6 {
                sorted.push(line);
            }
        }
    }
    if sorted.is_empty() {
        return data.to_vec();
    }
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    'outer: while i < data.len() {
        for s in &sorted {
            if data[i..].starts_with(s) {
                out.extend_from_slice(b"***");
                i += s.len();
                continue 'outer;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

pub fn scrub_str(s: &str, secrets: &[Arc<Vec<u8>>]) -> String {
    String::from_utf8_lossy(&scrub(s.as_bytes(), secrets)).into_owned()
}

/// A secret's value in a file of its own for one exec (a secret mount),
/// removed when dropped, however the exec ends. The directory must be on
/// tmpfs (the executor's run dir): secret values never reach a disk.
pub(crate) struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    /// Writes `value` to a new file in `dir` with `mode` (permission bits)
    /// and, when given, owned by `owner` (uid, gid).
    pub(crate) fn write(
        dir: &Path,
        value: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<SecretFile, EngineError> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::environment(format!("creating {}: {e}", dir.display())))?;
        // named after the engine, so the next one removes it if this one is killed
        let file = SecretFile { path: dir.join(crate::leftovers::owned_name("")) };
        let mode = mode & 0o7777;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&file.path)
            .map_err(|e| EngineError::environment(format!("writing a secret file: {e}")))?;
        f.write_all(value).map_err(|e| EngineError::environment(format!("writing a secret file: {e}")))?;
        // The umask may have taken bits away.
        let _ = std::fs::set_permissions(&file.path, std::fs::Permissions::from_mode(mode));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&file.path, Some(uid), Some(gid))
                .map_err(|e| EngineError::environment(format!("setting the owner of a secret file: {e}")))?;
        }
        Ok(file)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identities_name_the_value_through_a_keyed_digest() {
        std::env::set_var("TANTO_SECRETS_TEST", "from-env");
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let s = Secrets::new(std::env::temp_dir(), k1);
        let a = s.set("tok", b"A".to_vec());
        let bb = s.set("tok", b"BB".to_vec());
        assert_ne!(a, bb, "a new value is a new secret");
        assert_eq!(a, Secrets::new(std::env::temp_dir(), k1).set("tok", b"A".to_vec()), "same key, same identity");
        assert_ne!(a, Secrets::new(std::env::temp_dir(), k2).set("tok", b"A".to_vec()), "the digest is keyed");
        assert!(a.starts_with("set:tok@") && !a.contains('A'), "{a}");
        let from_env = s.from_uri("env://TANTO_SECRETS_TEST", None).await.unwrap();
        let keyed = s.from_uri("env://TANTO_SECRETS_TEST", Some("k1")).await.unwrap();
        assert_eq!(keyed, "key:k1");
        // (identity, value or error)
        for (identity, want) in [
            (a.as_str(), Ok("A")),
            (bb.as_str(), Ok("BB")),
            (from_env.as_str(), Ok("from-env")),
            ("key:k1", Ok("from-env")),
            ("key:unknown", Err("secret `unknown` has no value in this engine")),
            ("set:gone@00", Err("secret `gone` has no value")),
        ] {
            let got =
                s.get(identity).await.map(|v| String::from_utf8_lossy(&v).into_owned()).map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{identity}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{identity}: {got:?}"),
            }
        }
        // (uri, value or error) read when the secret is made
        for (uri, want) in [
            ("env://TANTO_SECRETS_TEST_MISSING", Err("is not set in the client's environment")),
            ("cmd://printf 'x\\n\\n'", Ok("x")),
        ] {
            let got = match s.from_uri(uri, None).await {
                Ok(id) => Ok(String::from_utf8_lossy(&s.get(&id).await.unwrap()).into_owned()),
                Err(e) => Err(e.to_string()),
            };
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{uri}"),
                Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{uri}: {got:?}"),
            }
        }
    }

    /// (mode asked, owner) → the file's mode and owner; the file goes when dropped.
    #[test]
    fn secret_files() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let me = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
        for (mode, owner) in [(0o400, None), (0o640, Some(me)), (0o10_755, None)] {
            let f = SecretFile::write(dir.path(), b"value", mode, owner).unwrap();
            let meta = std::fs::metadata(f.path()).unwrap();
            assert_eq!(meta.mode() & 0o7777, mode & 0o7777, "{mode:o}");
            assert_eq!((meta.uid(), meta.gid()), me, "{mode:o}");
            assert_eq!(std::fs::read(f.path()).unwrap(), b"value");
            let path = f.path().to_path_buf();
            drop(f);
            assert!(!path.exists(), "{mode:o}: removed when dropped");
        }
    }

    #[test]
    fn scrub_cases() {
        let secrets = vec![
            Arc::new(b"abc".to_vec()),
            Arc::new(b"abcdef".to_vec()),
            Arc::new(b"two\nlines".to_vec()),
            Arc::new(b"-----BEGIN KEY-----\nMIIEvQIBADANBg\nend".to_vec()),
            Arc::new(vec![]),
        ];
        for (input, want) in [
            ("xabcx", "x***x"),
            ("abcdefg", "***g"),
            ("say two\nlines now", "say *** now"),
            ("say two\r\nlines now", "say two\r\nlines now"),
            ("k: -----BEGIN KEY-----\r\n  MIIEvQIBADANBg\r\nend", "k: ***\r\n  ***\r\nend"),
            ("nothing", "nothing"),
            ("", ""),
        ] {
            assert_eq!(scrub_str(input, &secrets), want, "{input:?}");
        }
    }
}
