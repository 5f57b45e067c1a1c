//! Registry errors, worded for the person who typed the image name.

use std::fmt;
use std::path::PathBuf;

use tanto_model::{Tier, Tiered};

use crate::reference::RefError;

/// What went wrong talking to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host answered that it does not have it (the registry's message).
    NotFound(String),
    /// No answer: DNS, connection, TLS or timeout (the transport's message).
    Unreachable(String),
    /// 401/403 after trying the credentials we have.
    Unauthorized(String),
    /// Any other HTTP status.
    Status(u16, String),
    /// An answer we cannot use: wrong digest, malformed JSON, too large.
    Invalid(String),
}

/// One host tried while resolving or fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub host: String,
    pub mirror: bool,
    pub failure: Failure,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.mirror { format!("mirror {}", self.host) } else { self.host.clone() };
        match &self.failure {
            Failure::NotFound(m) => write!(f, "{who} says {m}"),
            Failure::Unreachable(m) => write!(f, "{who} unreachable: {m}"),
            Failure::Unauthorized(m) => write!(f, "{who} denied access: {m}"),
            Failure::Status(code, m) if m.is_empty() => write!(f, "{who} answered HTTP {code}"),
            Failure::Status(code, m) => write!(f, "{who} answered HTTP {code}: {m}"),
            Failure::Invalid(m) => write!(f, "{who} sent {m}"),
        }
    }
}

pub(crate) struct Attempts<'a>(pub &'a [Attempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

fn hosts(attempts: &[Attempt]) -> String {
    attempts.iter().map(|a| format!("`{}`", a.host)).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Reference(#[from] RefError),

    /// Some host said the image does not exist; the others were unreachable
    /// or said the same.
    #[error("`{reference}` not found: {}; check the name and tag", Attempts(.attempts))]
    NotFound { reference: String, attempts: Vec<Attempt> },

    /// No host could be reached.
    #[error("cannot pull `{reference}`: {}; check that the registry is running and the address is right (and the network, for remote registries)", Attempts(.attempts))]
    Unreachable { reference: String, attempts: Vec<Attempt> },

    /// A host wanted credentials we do not have (or rejected ours).
    #[error("cannot pull `{reference}`: access denied ({}); if the image is private, pass credentials with `withRegistryAuth` (or `docker login`); also check the name, registries deny access to names that do not exist", Attempts(.attempts))]
    Unauthorized { reference: String, attempts: Vec<Attempt> },

    /// Mixed or other failures.
    #[error("cannot pull `{reference}`: {}", Attempts(.attempts))]
    Registry { reference: String, attempts: Vec<Attempt> },

    #[error(
        "`{reference}` has no image for platform `{platform}` (it has: {available}); choose one of those platforms"
    )]
    NoMatchingPlatform { reference: String, platform: String, available: String },

    #[error("`{reference}` is not a container image: {detail}")]
    Unsupported { reference: String, detail: String },

    #[error("`{reference}`: {detail}; the image is malformed, rebuild or re-push it")]
    Malformed { reference: String, detail: String },

    /// Fetching a blob failed.
    #[error("cannot fetch blob `{digest}` of `{repository}`: {attempt}{hint}", hint = blob_hint(.attempt))]
    Blob { digest: String, repository: String, attempt: Attempt },

    #[error(
        "blob `{digest}` from `{host}` has digest `{actual}` ({size} bytes); the download was corrupted, try again"
    )]
    DigestMismatch { digest: String, host: String, actual: String, size: u64 },

    #[error("cannot write `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid registry setting for `{host}`: {detail}; fix the engine config")]
    Config { host: String, detail: String },
}

fn blob_hint(a: &Attempt) -> &'static str {
    match a.failure {
        Failure::NotFound(_) => "; the registry lost the blob: push the image again",
        Failure::Unreachable(_) => "; check that the registry is running and reachable",
        Failure::Unauthorized(_) => "; pass credentials with `withRegistryAuth` (or `docker login`)",
        _ => "",
    }
}

impl OciError {
    /// Builds the error for a reference after every host failed.
    pub(crate) fn from_attempts(reference: String, attempts: Vec<Attempt>) -> OciError {
        let all = |f: fn(&Failure) -> bool| attempts.iter().all(|a| f(&a.failure));
        let any = |f: fn(&Failure) -> bool| attempts.iter().any(|a| f(&a.failure));
        let not_found = |f: &Failure| matches!(f, Failure::NotFound(_));
        let unreachable = |f: &Failure| matches!(f, Failure::Unreachable(_));
        let unauthorized = |f: &Failure| matches!(f, Failure::Unauthorized(_));
        if attempts.is_empty() {
            OciError::Registry { reference, attempts }
        } else if any(not_found) && all(|f| matches!(f, Failure::NotFound(_) | Failure::Unreachable(_))) {
            OciError::NotFound { reference, attempts }
        } else if all(unreachable) {
            OciError::Unreachable { reference, attempts }
        } else if any(unauthorized)
            && all(|f| matches!(f, Failure::Unauthorized(_) | Failure::Unreachable(_) | Failure::NotFound(_)))
        {
            OciError::Unauthorized { reference, attempts }
        } else {
            OciError::Registry { reference, attempts }
        }
    }

    /// The image (or blob) does not exist where we looked.
    pub fn is_not_found(&self) -> bool {
        match self {
            OciError::NotFound { .. } => true,
            OciError::Blob { attempt, .. } => matches!(attempt.failure, Failure::NotFound(_)),
            _ => false,
        }
    }

    /// No registry could be reached at all.
    pub fn is_unreachable(&self) -> bool {
        match self {
            OciError::Unreachable { .. } => true,
            OciError::Blob { attempt, .. } => matches!(attempt.failure, Failure::Unreachable(_)),
            _ => false,
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        match self {
            OciError::Unauthorized { .. } => true,
            OciError::Blob { attempt, .. } => matches!(attempt.failure, Failure::Unauthorized(_)),
            _ => false,
        }
    }

    /// Worth retrying later (network trouble, server errors, corrupted downloads).
    pub fn is_transient(&self) -> bool {
        match self {
            OciError::Unreachable { .. } | OciError::DigestMismatch { .. } => true,
            OciError::Blob { attempt, .. } => {
                matches!(attempt.failure, Failure::Unreachable(_) | Failure::Status(500..=599, _))
            }
            OciError::Registry { attempts, .. } => {
                attempts.iter().any(|a| matches!(a.failure, Failure::Unreachable(_) | Failure::Status(500..=599, _)))
            }
            _ => false,
        }
    }

    /// The hosts this error is about, for logs.
    pub fn hosts(&self) -> String {
        match self {
            OciError::NotFound { attempts, .. }
            | OciError::Unreachable { attempts, .. }
            | OciError::Unauthorized { attempts, .. }
            | OciError::Registry { attempts, .. } => hosts(attempts),
            OciError::Blob { attempt, .. } => format!("`{}`", attempt.host),
            OciError::DigestMismatch { host, .. } => format!("`{host}`"),
            _ => String::new(),
        }
    }
}

impl Tiered for OciError {
    fn tier(&self) -> Tier {
        match self {
            OciError::NotFound { .. } => Tier::NotFound,
            OciError::Reference(_)
            | OciError::Unauthorized { .. }
            | OciError::NoMatchingPlatform { .. }
            | OciError::Unsupported { .. }
            | OciError::Malformed { .. }
            | OciError::Config { .. } => Tier::Input,
            OciError::Blob { attempt, .. } if matches!(attempt.failure, Failure::Unauthorized(_)) => Tier::Input,
            _ => Tier::Environment,
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn a(host: &str, mirror: bool, failure: Failure) -> Attempt {
        Attempt { host: host.into(), mirror, failure }
    }

    #[test]
    fn classification_and_wording() {
        let r = "docker.io/library/busybox:nosuch".to_string();
        let nf = || Failure::NotFound("manifest unknown".into());
        let down = || Failure::Unreachable("dns error".into());
        let denied = || Failure::Unauthorized("401 Unauthorized".into());
        // (attempts, not_found?, unreachable?, unauthorized?, message fragments)
        let cases: Vec<(Vec<Attempt>, bool, bool, bool, Vec<&str>)> = vec![
            (
                vec![a("127.0.0.1:5000", true, nf()), a("registry-1.docker.io", false, down())],
                true,
                false,
                false,
                vec![
                    "`docker.io/library/busybox:nosuch` not found: mirror 127.0.0.1:5000 says manifest unknown; registry-1.docker.io unreachable: dns error",
                ],
            ),
            (vec![a("127.0.0.1:5000", false, nf())], true, false, false, vec!["not found: 127.0.0.1:5000 says manifest unknown"]),
            (
                vec![a("127.0.0.1:5999", false, down())],
                false,
                true,
                false,
                vec!["cannot pull `docker.io/library/busybox:nosuch`", "127.0.0.1:5999 unreachable", "running"],
            ),
            (
                vec![a("127.0.0.1:5000", true, down()), a("registry-1.docker.io", false, denied())],
                false,
                false,
                true,
                vec!["access denied", "withRegistryAuth", "docker login"],
            ),
            (
                vec![a("h", false, Failure::Status(500, "boom".into()))],
                false,
                false,
                false,
                vec!["h answered HTTP 500: boom"],
            ),
        ];
        for (attempts, nf, ur, ua, fragments) in cases {
            let e = OciError::from_attempts(r.clone(), attempts);
            assert_eq!((e.is_not_found(), e.is_unreachable(), e.is_unauthorized()), (nf, ur, ua), "{e}");
            let msg = e.to_string();
            for f in fragments {
                assert!(msg.contains(f), "{msg:?} should contain {f:?}");
            }
        }
    }
}
