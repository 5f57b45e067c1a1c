//! Beyond one machine: a long-lived engine other machines use (`tanto
//! engine serve`, [`serve`]) and the thin clients that use it ([`client`]).
//!
//! Files: `serve.rs` (listeners, TLS and token auth, sessions), `session.rs`
//! (a client's session on the engine: its API, the client's host over the
//! attach connection), `mirror.rs` (client directories kept on the engine,
//! so only changes travel), `client.rs` (the thin client), `agent.rs` (the
//! client's host answering the engine), `proto.rs` (what the engine asks),
//! `stream.rs` (bodies), `tls.rs` (rustls configurations).

mod agent;
pub mod client;
mod mirror;
mod proto;
pub mod serve;
mod session;
mod stream;
pub mod tls;

use std::path::{Path, PathBuf};

use crate::EngineError;

pub use client::{Attached, Remote};
pub use serve::{serve, systemd_sockets, ServeOptions};

/// Where an engine listens, or a client finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `tcp://HOST:PORT` (always TLS).
    Tcp(String),
    /// `unix:///PATH`.
    Unix(PathBuf),
}

impl Address {
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let ok = rest.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("`{s}`: give tcp://HOST:PORT"));
            }
            return Ok(Address::Tcp(rest.to_string()));
        }
        if let Some(rest) = s.strip_prefix("unix://") {
            if !rest.starts_with('/') {
                return Err(format!("`{s}`: give an absolute path, unix:///PATH"));
            }
            return Ok(Address::Unix(PathBuf::from(rest)));
        }
        Err(format!("`{s}` is not an engine address: use tcp://HOST:PORT or unix:///PATH"))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "tcp://{a}"),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// The host of `HOST:PORT` (`[::1]:1234` → `::1`).
fn host_part(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A token from a file (its first line); an empty one is refused.
pub fn read_token(path: &Path) -> Result<String, EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::io_error(&e, format!("reading the token file `{}`: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(EngineError::input(format!("the token file `{}` is empty", path.display())));
    }
    Ok(token)
}

/// The unix socket a local engine serves by default (`tanto engine serve`
/// without `--listen`) and local clients look for: `RUN_DIR/engine.sock`.
pub fn default_socket(run_dir: &Path) -> PathBuf {
    run_dir.join("engine.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_named_without_flags() {
        for (line, want) in [
            ("python3 ci.py", "python3 ci.py"),
            ("deploy.sh --password hunter2", "deploy.sh"),
            ("query", "query"),
            ("env TOKEN=x make", "env"),
        ] {
            assert_eq!(client::pipeline_name(line), want, "{line}");
        }
    }

    #[test]
    fn addresses() {
        let cases: [(&str, Result<Address, &str>); 7] = [
            ("tcp://127.0.0.1:8443", Ok(Address::Tcp("127.0.0.1:8443".into()))),
            ("tcp://engine.example:443/", Ok(Address::Tcp("engine.example:443".into()))),
            ("tcp://[::1]:1234", Ok(Address::Tcp("[::1]:1234".into()))),
            ("unix:///run/tanto/engine.sock", Ok(Address::Unix("/run/tanto/engine.sock".into()))),
            ("unix://engine.sock", Err("give an absolute path")),
            ("tcp://host", Err("give tcp://HOST:PORT")),
            ("docker-container://dagger", Err("is not an engine address")),
        ];
        for (s, want) in cases {
            match (Address::parse(s), want) {
                (Ok(a), Ok(w)) => {
                    assert_eq!(a, w, "{s}");
                    assert_eq!(Address::parse(&a.to_string()).unwrap(), a, "{s} round trip");
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{s}: {e}"),
                (got, _) => panic!("{s}: {got:?}"),
            }
        }
        assert_eq!(host_part("[::1]:1234"), "::1");
        assert_eq!(host_part("127.0.0.1:1"), "127.0.0.1");
    }
}
