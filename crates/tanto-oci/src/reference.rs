//! Image references with Docker's normalisation rules.
//!
//! `busybox` is `docker.io/library/busybox:latest`, `foo/bar:1` is
//! `docker.io/foo/bar:1`, a first component with a `.` or a `:` (or
//! `localhost`) is a registry host. A reference with a digest and no tag keeps
//! no tag; one with both keeps both (the digest wins when resolving).

use std::fmt;
use std::str::FromStr;

/// The registry host Docker Hub images are named under.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub is actually served from.
pub const DOCKER_HUB_ORIGIN: &str = "registry-1.docker.io";

const NAME_TOTAL_MAX: usize = 255;

/// A fully normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{input}`: {reason}")]
pub struct RefError {
    pub input: String,
    pub reason: RefErrorReason,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefErrorReason {
    #[error("it is empty; give an image such as `alpine:3.20` or `docker.io/library/busybox:latest`")]
    Empty,
    #[error("repository names must be lowercase (`{0}`)")]
    Uppercase(String),
    #[error(
        "expected `[registry[:port]/]repository[:tag][@sha256:<64 hex digits>]`, e.g. `docker.io/library/busybox:1.36`"
    )]
    Format,
    #[error("`{0}` is not a valid registry host")]
    Registry(String),
    #[error("`{0}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128 characters)")]
    Tag(String),
    #[error("`{0}` is not a valid digest; expected `sha256:` followed by 64 lowercase hex digits")]
    Digest(String),
    #[error("the repository name is longer than {NAME_TOTAL_MAX} characters")]
    TooLong,
}

impl ImageRef {
    /// Parses and normalises a reference the way `docker pull` does.
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        let err = |reason| RefError { input: input.to_string(), reason };
        let s = input.trim();
        if s.is_empty() {
            return Err(err(RefErrorReason::Empty));
        }
        if s.contains(char::is_whitespace) || s.contains("://") {
            return Err(err(RefErrorReason::Format));
        }
        // digest
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                validate_digest(d).map_err(err)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        if rest.is_empty() {
            return Err(err(RefErrorReason::Format));
        }
        // tag: the last `:` after the last `/`
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                let tag = &rest[i + 1..];
                if !valid_tag(tag) {
                    return Err(err(RefErrorReason::Tag(tag.to_string())));
                }
                (&rest[..i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        // registry host
        let (registry, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[') =>
            {
                if !valid_host(first) {
                    return Err(err(RefErrorReason::Registry(first.to_string())));
                }
                (first.to_string(), remainder.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        if repository.is_empty() {
            return Err(err(RefErrorReason::Format));
        }
        for component in repository.split('/') {
            if !valid_path_component(component) {
                if component.chars().any(|c| c.is_ascii_uppercase())
                    && valid_path_component(&component.to_ascii_lowercase())
                {
                    return Err(err(RefErrorReason::Uppercase(repository.clone())));
                }
                return Err(err(RefErrorReason::Format));
            }
        }
        if registry.len() + 1 + repository.len() > NAME_TOTAL_MAX {
            return Err(err(RefErrorReason::TooLong));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// The registry host as named (`docker.io` for Docker Hub), with its port if any.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `sha256:<hex>` when the reference pins a digest.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned to `digest`, keeping the tag for display.
    pub fn with_digest(&self, digest: impl Into<String>) -> ImageRef {
        ImageRef { digest: Some(digest.into()), ..self.clone() }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: impl Into<String>) -> ImageRef {
        ImageRef { tag: Some(tag.into()), digest: None, ..self.clone() }
    }

    /// The host that serves this registry's API (`registry-1.docker.io` for `docker.io`).
    pub fn origin_host(&self) -> &str {
        origin_host(&self.registry)
    }
}

/// The host serving the registry API for a registry name.
pub fn origin_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_ORIGIN
    } else {
        registry
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({self})")
    }
}

impl FromStr for ImageRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `sha256:<64 lowercase hex>`; other algorithms of the OCI grammar
/// (`sha512:<128 hex>`) are accepted too.
pub(crate) fn validate_digest(d: &str) -> Result<(), RefErrorReason> {
    let bad = || RefErrorReason::Digest(d.to_string());
    let (algo, hex) = d.split_once(':').ok_or_else(bad)?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    Ok(())
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `host[:port]` where host is DNS labels, an IPv4 address or `[ipv6]`.
fn valid_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("x", Some(p)),
                None => return false,
            },
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

impl tanto_model::Tiered for RefError {
    fn tier(&self) -> tanto_model::Tier {
        tanto_model::Tier::Input
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    const D: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    /// input -> Ok((registry, repository, tag, digest, display)) or Err(reason fragment)
    fn check(input: &str, expected: Result<(&str, &str, Option<&str>, Option<&str>), &str>) {
        match (ImageRef::parse(input), expected) {
            (Ok(r), Ok((reg, repo, tag, digest))) => {
                assert_eq!(
                    (r.registry(), r.repository(), r.tag(), r.digest()),
                    (reg, repo, tag, digest),
                    "parsing `{input}`"
                );
                // Display is the full normalised form, and parses back to itself
                assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r, "round trip of `{input}`");
            }
            (Err(e), Err(fragment)) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("`{input}`")), "{msg:?} should name the input");
                assert!(msg.contains(fragment), "{msg:?} should contain {fragment:?}");
            }
            (got, want) => panic!("parsing `{input}`: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_table() {
        let dd = Some(D);
        let cases: Vec<(String, Result<(&str, &str, Option<&str>, Option<&str>), &str>)> = vec![
            ("busybox".into(), Ok(("docker.io", "library/busybox", Some("latest"), None))),
            ("busybox:1.36".into(), Ok(("docker.io", "library/busybox", Some("1.36"), None))),
            ("foo/bar:1".into(), Ok(("docker.io", "foo/bar", Some("1"), None))),
            ("docker.io/busybox".into(), Ok(("docker.io", "library/busybox", Some("latest"), None))),
            ("index.docker.io/library/busybox:1".into(), Ok(("docker.io", "library/busybox", Some("1"), None))),
            ("127.0.0.1:5000/x/y:t".into(), Ok(("127.0.0.1:5000", "x/y", Some("t"), None))),
            ("127.0.0.1:5000/busybox".into(), Ok(("127.0.0.1:5000", "busybox", Some("latest"), None))),
            ("localhost/app".into(), Ok(("localhost", "app", Some("latest"), None))),
            ("localhost:5000/a/b/c".into(), Ok(("localhost:5000", "a/b/c", Some("latest"), None))),
            ("ghcr.io/dagger/engine:v0.21.0".into(), Ok(("ghcr.io", "dagger/engine", Some("v0.21.0"), None))),
            (format!("host.example/x@{D}"), Ok(("host.example", "x", None, dd))),
            (format!("busybox@{D}"), Ok(("docker.io", "library/busybox", None, dd))),
            (format!("busybox:1.36@{D}"), Ok(("docker.io", "library/busybox", Some("1.36"), dd))),
            ("[::1]:5000/a:b".into(), Ok(("[::1]:5000", "a", Some("b"), None))),
            ("a__b/c.d-e---f".into(), Ok(("docker.io", "a__b/c.d-e---f", Some("latest"), None))),
            ("invalid!!ref".into(), Err("expected `[registry[:port]/]repository")),
            ("".into(), Err("it is empty")),
            ("   ".into(), Err("it is empty")),
            ("Busybox".into(), Err("must be lowercase")),
            ("docker.io/Library/Busybox:1".into(), Err("must be lowercase")),
            ("busybox:".into(), Err("not a valid tag")),
            ("busybox:-x".into(), Err("not a valid tag")),
            ("busybox@sha256:abc".into(), Err("not a valid digest")),
            ("busybox@md5:abc".into(), Err("not a valid digest")),
            ("a//b".into(), Err("expected")),
            ("a/b/".into(), Err("expected")),
            ("foo_/bar".into(), Err("expected")),
            ("http://x/y".into(), Err("expected")),
            ("bad_host.io:x/y".into(), Err("not a valid registry host")),
            ("-bad.io:50/y".into(), Err("not a valid registry host")),
            (format!("x/{}", "a".repeat(300)), Err("longer than")),
        ];
        for (input, want) in cases {
            check(&input, want);
        }
    }

    #[test]
    fn display_is_fully_normalised() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("foo/bar:1", "docker.io/foo/bar:1"),
            ("127.0.0.1:5000/x/y:t", "127.0.0.1:5000/x/y:t"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want);
        }
        let r = ImageRef::parse(&format!("busybox:1.36@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox:1.36@{D}"));
        assert_eq!(r.reference(), D);
        assert_eq!(r.origin_host(), "registry-1.docker.io");
        assert_eq!(r.name(), "docker.io/library/busybox");
    }
}
