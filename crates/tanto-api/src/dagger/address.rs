//! `Query.address(value)`: one string read as whatever the caller asks for,
//! with Dagger's rules (its `core/schema/address.go` and `util/gitutil`):
//!
//! - `container`: an image reference (`alpine`, `host:5000/a/b:tag@sha256:...`).
//! - `directory`, `file`, `gitRepository`, `gitRef`: a git URL — a scheme of
//!   `http`, `https`, `ssh` or `git`, or scp-style `user@host:path` — with an
//!   optional `#ref[:subdir]` fragment (or `@ref[:subdir]` after the path when
//!   there is no fragment); otherwise a host path (an optional `file://`
//!   stripped), relative to the session's working directory, read with the
//!   host upload (`directory` takes include / exclude / gitignore). As an
//!   extension, a schemeless `host.tld/owner/repo[@ref]` that is not an
//!   existing host path is read as `https://host.tld/owner/repo` (Dagger
//!   would fail on the missing path). A local repository is the host
//!   directory as `Directory.asGit` (`path#ref` for `gitRef`). `noCache` is
//!   accepted: host reads are always fresh (a stat walk of the tree).
//! - `secret`: a secret URI (`env://`, `file://`, `cmd://`); `NAME` is
//!   `env://NAME`, `env:NAME` is `env://NAME`, `?cacheKey=K` sets the cache key.
//! - `service`: `tcp://host:port` or `udp://host:port`, a server on the
//!   client's host (`Host.service` with that one port).
//! - `socket`: a unix socket path on the client's host (`unix://` optional),
//!   as `Host.unixSocket`.

use serde::Serialize;

use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::service::{ServiceKind, ServiceObj};
use super::sources::{GitRefObj, GitRepositoryObj};
use super::{leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_contract::git::{GitAuth, RefKind};
use tanto_contract::service::PortForward;
use tanto_gql::Resolved;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddressObj {
    pub value: String,
}

/// A git address: the remote to fetch and what to take from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitAddress {
    /// The remote without ref and subdir.
    pub remote: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
}

/// Splits a `ref[:subdir]` fragment.
fn fragment(f: &str) -> (Option<String>, Option<String>) {
    if f.is_empty() {
        return (None, None);
    }
    let (r, sub) = f.split_once(':').unwrap_or((f, ""));
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    (opt(r), opt(sub))
}

/// A path and its version: an explicit `#fragment` wins, else `path@ref[:subdir]`.
fn split_version(path: &str, frag: Option<&str>) -> (String, (Option<String>, Option<String>)) {
    match frag {
        Some(f) if !f.is_empty() => (path.to_string(), fragment(f)),
        _ => match path.split_once('@') {
            Some((p, v)) => (p.to_string(), fragment(v)),
            None => (path.to_string(), (None, None)),
        },
    }
}

/// Parses a git URL the way Dagger's `gitutil.ParseURL` does; `None` when
/// `s` is not one (then it is a host path).
pub fn parse_git(s: &str) -> Option<GitAddress> {
    if let Some((scheme, rest)) = s.split_once("://") {
        if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "ssh" | "git") {
                return None;
            }
            let (rest, frag) = match rest.split_once('#') {
                Some((r, f)) => (r, Some(f)),
                None => (rest, None),
            };
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if authority.is_empty() {
                return None;
            }
            let (path, (reference, subdir)) = split_version(path, frag);
            return Some(GitAddress { remote: format!("{scheme}://{authority}{path}"), reference, subdir });
        }
    }
    // scp-style: user@host:path[#fragment]
    let (user, rest) = s.split_once('@')?;
    let (host, path) = rest.split_once(':')?;
    let user_ok = !user.is_empty() && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !user_ok || !host_ok {
        return None;
    }
    let (path, frag) = match path.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (path, None),
    };
    let (path, (reference, subdir)) = split_version(path, frag);
    Some(GitAddress { remote: format!("{user}@{host}:{path}"), reference, subdir })
}

/// A schemeless `host.tld/owner/repo[@ref][#...]` (the tanto extension): its https form.
fn schemeless_git(s: &str) -> Option<GitAddress> {
    let host = s.split('/').next()?;
    let looks_like_host = host.contains('.')
        && !host.starts_with('.')
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
    if !looks_like_host || s.split('/').filter(|p| !p.is_empty()).count() < 3 || s.contains("://") {
        return None;
    }
    parse_git(&format!("https://{s}"))
}

/// A local path of an address: `file://` stripped.
fn local_path(v: &str) -> &str {
    v.strip_prefix("file://").unwrap_or(v)
}

/// A secret address as a secret URI and cache key (Dagger's normalisation).
pub fn secret_uri(addr: &str) -> Result<(String, Option<String>), ApiError> {
    let mut uri = if addr.contains(':') { addr.to_string() } else { format!("env://{addr}") };
    let (source, val) = uri.split_once(':').expect("has a colon");
    if !val.starts_with("//") {
        uri = format!("{source}://{val}");
    }
    let mut cache_key = None;
    if let Some((base, query)) = uri.clone().split_once('?') {
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cacheKey", v)) if !v.is_empty() => cache_key = Some(v.to_string()),
                _ => rest.push(pair),
            }
        }
        if cache_key.is_some() {
            uri = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        }
    }
    Ok((uri, cache_key))
}

/// A service address: (host, port forward).
pub fn service_addr(addr: &str) -> Result<(String, PortForward), ApiError> {
    let bad =
        |why: &str| ApiError::from(format!("service address `{addr}` {why}: use tcp://HOST:PORT or udp://HOST:PORT"));
    let (scheme, rest) = addr.split_once("://").ok_or_else(|| bad("has no scheme"))?;
    let protocol = match scheme.to_ascii_lowercase().as_str() {
        "tcp" => "TCP",
        "udp" => "UDP",
        _ => return Err(bad(&format!("has the unsupported scheme `{scheme}`"))),
    };
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once("]:").ok_or_else(|| bad("has no port"))?;
            (h, p)
        }
        None => hostport.rsplit_once(':').ok_or_else(|| bad("has no port"))?,
    };
    let port: u16 =
        port.parse().ok().filter(|p| *p > 0).ok_or_else(|| bad(&format!("has an invalid port `{port}`")))?;
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    Ok((host.to_string(), PortForward { frontend: Some(port), backend: port, protocol: protocol.into() }))
}

table!(pub(super) ADDRESS: AddressObj = "Address", Object::Address(v) => v, &[ADDRESS_FIELDS], &[]);

static ADDRESS_FIELDS: Fields<AddressObj> = fields! { |api, addr, call, a|
    let v = addr.value.as_str();
    "value" => Ok(leaf(v)),
    "container" => {
        let base = ContainerObj::scratch(api.engine.images.default_platform());
        Ok(resolved(Object::Container(api.container_from(&base, v).await?)))
    },
    "directory" => match api.git_address(v).await? {
        Some(g) => {
            let tree = api.git_tree(&Api::git_ref_of(&g), false, 1).await?;
            let path = g.subdir.as_deref().map(paths::clean_abs).unwrap_or_else(|| "/".into());
            Ok(resolved(Object::Directory(DirectoryObj { root: tree.root, path })))
        }
        None => {
            let root = api
                .engine
                .host
                .host_directory(
                    local_path(v),
                    a.opt_string_list("include")?.unwrap_or_default(),
                    a.opt_string_list("exclude")?.unwrap_or_default(),
                    a.opt_bool("gitignore")?.unwrap_or(false),
                )
                .await?;
            Ok(resolved(Object::Directory(DirectoryObj { root: Some(root), path: "/".into() })))
        }
    },
    "file" => match api.git_address(v).await? {
        Some(g) => {
            let Some(sub) = g.subdir.as_deref() else {
                return Err(
                    format!("address `{v}` names no file in the git repository: add `#REF:PATH`").into()
                );
            };
            let tree = api.git_tree(&Api::git_ref_of(&g), false, 1).await?;
            Ok(resolved(Object::File(FileObj { root: tree.root, path: paths::clean_abs(sub) })))
        }
        None => {
            let (root, path) = api.engine.host.host_file(local_path(v)).await?;
            Ok(resolved(Object::File(FileObj { root: Some(root), path })))
        }
    },
    "gitRepository" => match api.git_address(v).await? {
        Some(g) if g.reference.is_some() => {
            Err(format!("git repository address `{v}` cannot name a ref; use `gitRef`").into())
        }
        Some(g) if g.subdir.is_some() => {
            Err(format!("git repository address `{v}` cannot name a subdirectory; use `directory`").into())
        }
        Some(g) => Ok(resolved(Object::GitRepository(Api::git_repo(g.remote)))),
        None => Ok(resolved(Object::GitRepository(api.local_git(local_path(v)).await?))),
    },
    "gitRef" => match api.git_address(v).await? {
        Some(g) if g.subdir.is_some() => {
            Err(format!("git ref address `{v}` cannot name a subdirectory; use `directory`").into())
        }
        Some(g) => Ok(resolved(Object::GitRef(Api::git_ref_of(&g)))),
        None => {
            let (path, reference) = v.split_once('#').unwrap_or((v, ""));
            let repo = api.local_git(local_path(path)).await?;
            let reference = if reference.is_empty() { "HEAD".to_string() } else { reference.to_string() };
            Ok(resolved(Object::GitRef(GitRefObj { repo, reference, kind: RefKind::Any })))
        }
    },
    "secret" => {
        let (uri, cache_key) = secret_uri(v)?;
        Ok(resolved(Object::Secret(api.secret_from_uri(uri, cache_key.as_deref()).await?)))
    },
    "socket" => {
        let host_path = api.engine.host.host_unix_socket(v.strip_prefix("unix://").unwrap_or(v)).await?;
        Ok(resolved(Object::Socket(super::socket::SocketObj { host_path })))
    },
    "service" => {
        let (host, port) = service_addr(v)?;
        let client = api.engine.host.host_network()?;
        let svc = ServiceObj { kind: ServiceKind::Host { host, ports: vec![port], client }, custom_hostname: None };
        api.engine.services.register_service(&svc.spec());
        Ok(resolved(Object::Service(svc)))
    },
};

impl Api {
    /// The git address `v` stands for: a git URL, or (extension) a schemeless
    /// `host.tld/owner/repo` that is not a host path.
    async fn git_address(&self, v: &str) -> Result<Option<GitAddress>, ApiError> {
        if let Some(g) = parse_git(v) {
            return Ok(Some(g));
        }
        match schemeless_git(v) {
            Some(g) if self.engine.host.host_path(v).await?.is_none() => Ok(Some(g)),
            _ => Ok(None),
        }
    }

    fn git_repo(remote: String) -> GitRepositoryObj {
        GitRepositoryObj { url: remote, keep_git_dir: true, auth: GitAuth::default(), dir: None }
    }

    fn git_ref_of(g: &GitAddress) -> GitRefObj {
        GitRefObj {
            repo: Api::git_repo(g.remote.clone()),
            reference: g.reference.clone().unwrap_or_else(|| "HEAD".into()),
            kind: RefKind::Any,
        }
    }

    /// A local git repository: the host directory read as `Directory.asGit`.
    async fn local_git(&self, path: &str) -> Result<GitRepositoryObj, ApiError> {
        let root = self.engine.host.host_directory(path, vec![], vec![], false).await?;
        let dir = DirectoryObj { root: Some(root), path: "/".into() };
        match self.directory_as_git(&dir).await? {
            Resolved::Object(o) => match o.value.downcast_ref::<Object>() {
                Some(Object::GitRepository(g)) => Ok(g.clone()),
                _ => Err("internal error: `asGit` did not return a git repository".into()),
            },
            _ => Err("internal error: `asGit` did not return a git repository".into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the cases are tables of tuples
mod tests {
    use super::*;

    #[test]
    fn git_addresses() {
        // (address, Some((remote, ref, subdir)) or None for a host path)
        let cases: &[(&str, Option<(&str, Option<&str>, Option<&str>)>)] = &[
            ("https://github.com/moby/buildkit", Some(("https://github.com/moby/buildkit", None, None))),
            ("HTTP://github.com/moby/buildkit", Some(("http://github.com/moby/buildkit", None, None))),
            (
                "https://github.com/moby/buildkit#v1.0.0",
                Some(("https://github.com/moby/buildkit", Some("v1.0.0"), None)),
            ),
            (
                "https://github.com/moby/buildkit@v1.0.0",
                Some(("https://github.com/moby/buildkit", Some("v1.0.0"), None)),
            ),
            (
                "http://github.com/moby/buildkit#v1.0.0:subdir",
                Some(("http://github.com/moby/buildkit", Some("v1.0.0"), Some("subdir"))),
            ),
            ("https://github.com/moby/buildkit#:docs", Some(("https://github.com/moby/buildkit", None, Some("docs")))),
            (
                "http://foo:bar@github.com/moby/buildkit#main",
                Some(("http://foo:bar@github.com/moby/buildkit", Some("main"), None)),
            ),
            (
                "ssh://git@github.com:22/moby/buildkit.git",
                Some(("ssh://git@github.com:22/moby/buildkit.git", None, None)),
            ),
            ("git://host.xz:1234/path/to/repo.git", Some(("git://host.xz:1234/path/to/repo.git", None, None))),
            ("git@github.com:moby/buildkit.git", Some(("git@github.com:moby/buildkit.git", None, None))),
            (
                "git@github.com:moby/buildkit.git#v1.0.0:hack",
                Some(("git@github.com:moby/buildkit.git", Some("v1.0.0"), Some("hack"))),
            ),
            (
                "git@github.com:moby/buildkit.git@v1.0.0",
                Some(("git@github.com:moby/buildkit.git", Some("v1.0.0"), None)),
            ),
            ("httpx://github.com/moby/buildkit", None),
            ("file:///srv/repo", None),
            ("./src", None),
            ("/abs/path", None),
            ("github.com/moby/buildkit", None),
            ("alpine:3.20", None),
        ];
        for (input, want) in cases {
            let got = parse_git(input).map(|g| (g.remote, g.reference, g.subdir));
            let want = want.map(|(r, f, s)| (r.to_string(), f.map(str::to_string), s.map(str::to_string)));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn schemeless_git_addresses() {
        let cases: &[(&str, Option<(&str, Option<&str>)>)] = &[
            ("github.com/moby/buildkit", Some(("https://github.com/moby/buildkit", None))),
            ("github.com/moby/buildkit@v0.12.0", Some(("https://github.com/moby/buildkit", Some("v0.12.0")))),
            (
                "gitlab.example.org/group/sub/repo#main",
                Some(("https://gitlab.example.org/group/sub/repo", Some("main"))),
            ),
            ("src/lib/x", None),
            ("github.com/only-owner", None),
            ("./github.com/a/b", None),
        ];
        for (input, want) in cases {
            let got = schemeless_git(input).map(|g| (g.remote, g.reference));
            let want = want.map(|(r, f)| (r.to_string(), f.map(str::to_string)));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn secret_addresses() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("MY_TOKEN", "env://MY_TOKEN", None),
            ("env:MY_TOKEN", "env://MY_TOKEN", None),
            ("env://MY_TOKEN", "env://MY_TOKEN", None),
            ("file://./token.txt", "file://./token.txt", None),
            ("cmd://echo hi", "cmd://echo hi", None),
            ("env://TOKEN?cacheKey=k1", "env://TOKEN", Some("k1")),
            ("op://vault/item?cacheKey=k2&field=x", "op://vault/item?field=x", Some("k2")),
        ];
        for (input, uri, key) in cases {
            let (got_uri, got_key) = secret_uri(input).unwrap();
            assert_eq!((got_uri.as_str(), got_key.as_deref()), (*uri, *key), "{input}");
        }
    }

    #[test]
    fn service_addresses() {
        let cases: &[(&str, Result<(&str, u16, &str), &str>)] = &[
            ("tcp://localhost:8080", Ok(("localhost", 8080, "TCP"))),
            ("udp://10.0.0.1:53", Ok(("10.0.0.1", 53, "UDP"))),
            ("tcp://[::1]:5432", Ok(("::1", 5432, "TCP"))),
            ("http://localhost:80", Err("unsupported scheme `http`")),
            ("tcp://localhost", Err("has no port")),
            ("tcp://localhost:0", Err("invalid port `0`")),
            ("localhost:80", Err("has no scheme")),
        ];
        for (input, want) in cases {
            match (service_addr(input), want) {
                (Ok((h, p)), Ok((wh, wp, wproto))) => {
                    assert_eq!(
                        (h.as_str(), p.backend, p.frontend, p.protocol.as_str()),
                        (*wh, *wp, Some(*wp), *wproto),
                        "{input}"
                    )
                }
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{input}: {}", e),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
