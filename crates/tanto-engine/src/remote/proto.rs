//! What an engine asks a thin client's host over the attach connection.
//!
//! After `GET /v1/attach` is upgraded, the engine is the HTTP/2 client and
//! the thin client the server (BuildKit's session attachables, turned
//! around so that one TLS connection the client opened carries them). Each
//! request is `POST /op` with the [`Op`] as base64url JSON in the
//! [`OP_HEADER`] header and the op's payload as the body (a listing, a tar
//! stream, a file); the answer is 200 with the result (JSON, or a stream), or
//! an error status with a JSON [`Failure`] that keeps the error's tier.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tanto_contract::host::Workspace;
use tanto_model::Tier;

use crate::EngineError;

/// Upgrades an authenticated request into a client session.
pub const ATTACH_PATH: &str = "/v1/attach";
/// The protocol name of the upgrade.
pub const UPGRADE: &str = "tanto-attach/1";
/// Answers 200 without authentication while the engine serves (probes).
pub const HEALTH_PATH: &str = "/healthz";
/// The session's token, in the upgrade's answer: queries send it as the
/// HTTP Basic user name, as SDKs send a local session's.
pub const SESSION_HEADER: &str = "x-tanto-session";
/// The client's stable ID (its mirrors on the engine are kept per client).
pub const CLIENT_HEADER: &str = "x-tanto-client-id";
/// What the client runs, as `tanto du` and `tanto explain` name it.
pub const PIPELINE_HEADER: &str = "x-tanto-pipeline";
/// The op of a request to the client.
pub const OP_HEADER: &str = "x-tanto-op";

/// One question to the client's host. Paths are the client's: relative ones
/// to its working directory, `~/` its home.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// → [`PathInfo`]: a path made absolute, and what is there.
    Path { path: String },
    /// → `Option<String>`: `name` in the working directory or its nearest parent.
    FindUp { name: String },
    /// → [`FileSpec`]: the directory and include that upload one file.
    File { path: String },
    /// → [`Listing`]: the entries of a directory, filtered as an upload filters.
    List { path: String, include: Vec<String>, exclude: Vec<String>, gitignore: bool },
    /// Body: the `Listed` entries wanted (`encode_listing`) → a tar stream of them, from
    /// the absolute directory `dir` a `List` answered.
    Entries { dir: String },
    /// → `Workspace` of the working directory.
    Workspace { client_id: String },
    /// → `Option<String>`: the absolute path of `rel` in the workspace (kept inside it).
    WorkspacePath { ws: Workspace, rel: String },
    /// → `Option<String>`.
    WorkspaceFindUp { ws: Workspace, name: String, from: String },
    /// → the secret's value: `env://`, `file://`, `cmd://` read on the client.
    Secret { uri: String },
    /// Body: a tar stream → the absolute path written.
    ExportDir { dest: String, wipe: bool },
    /// Body: the file's bytes → the absolute path written.
    ExportFile { dest: String, name: String, allow_parent_dir: bool, mode: u32, mtime: (i64, u32) },
    /// A connection on the client's host, full duplex: the body is what the
    /// engine sends, the answer's body what comes back. `target` is
    /// `tcp:HOST:PORT` or `unix:PATH`.
    Connect { target: String },
    /// → [`Listening`]: listen on the client's 127.0.0.1:`port` (0: any);
    /// each connection comes back as `POST` [`TUNNEL_PATH`] on the query
    /// connection, naming the listener in [`LISTENER_HEADER`].
    Listen { port: u16 },
    /// Stop the listener `id`.
    Unlisten { id: String },
}

/// A listener on the client's host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Listening {
    pub id: String,
    pub port: u16,
}

/// Where a client sends a connection one of its listeners accepted.
pub const TUNNEL_PATH: &str = "/v1/tunnel";
/// The listener a tunnelled connection came to.
pub const LISTENER_HEADER: &str = "x-tanto-listener";

impl Op {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(header: &str) -> Result<Op, EngineError> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header.trim())
            .map_err(|e| EngineError::input(format!("the engine's request is not base64url: {e}")))?;
        serde_json::from_slice(&raw)
            .map_err(|e| EngineError::input(format!("the engine asked what this client does not know: {e}")))
    }

    /// A short name for errors and logs (never a secret's URI: it may hold a command).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Path { .. } => "path",
            Op::FindUp { .. } => "find-up",
            Op::File { .. } => "file",
            Op::List { .. } => "list",
            Op::Entries { .. } => "entries",
            Op::Workspace { .. } => "workspace",
            Op::WorkspacePath { .. } => "workspace-path",
            Op::WorkspaceFindUp { .. } => "workspace-find-up",
            Op::Secret { .. } => "secret",
            Op::ExportDir { .. } => "export-dir",
            Op::ExportFile { .. } => "export-file",
            Op::Connect { .. } => "connect",
            Op::Listen { .. } => "listen",
            Op::Unlisten { .. } => "unlisten",
        }
    }
}

/// A path of the client's host and what is there (`file`, `dir`, `symlink`, `other`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathInfo {
    pub abs: String,
    pub kind: Option<String>,
}

/// An upload of one file: its directory with the file as the only include.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSpec {
    pub dir: String,
    pub include: Vec<String>,
    /// The file's path in the uploaded tree (`/name`).
    pub path: String,
}

/// A directory's entries, its absolute path and the filters that made it.
/// On the wire: a JSON line of the rest, then the entries in the upload
/// index's binary form (`tanto_store::upload::encode_listing`).
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub abs: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub entries: Vec<tanto_store::upload::Listed>,
}

#[derive(Serialize, Deserialize)]
struct ListingHead {
    abs: String,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Listing {
    pub fn encode(&self) -> Vec<u8> {
        let head = ListingHead { abs: self.abs.clone(), include: self.include.clone(), exclude: self.exclude.clone() };
        let mut out = serde_json::to_vec(&head).unwrap_or_default();
        out.push(b'\n');
        out.extend(tanto_store::upload::encode_listing(&self.entries));
        out
    }

    pub fn decode(data: &[u8]) -> Result<Listing, EngineError> {
        let bad =
            |why: &str| EngineError::internal(format!("the client's listing is not one this engine reads: {why}"));
        let split = data.iter().position(|b| *b == b'\n').ok_or_else(|| bad("no head"))?;
        let head: ListingHead = serde_json::from_slice(&data[..split]).map_err(|e| bad(&e.to_string()))?;
        let entries = tanto_store::upload::decode_listing(&data[split + 1..]).ok_or_else(|| bad("bad entries"))?;
        Ok(Listing { abs: head.abs, include: head.include, exclude: head.exclude, entries })
    }
}

/// An error answered by the client, with its tier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub tier: String,
    pub message: String,
}

impl Failure {
    pub fn of(e: &EngineError) -> Failure {
        Failure { tier: tier_name(e.tier()).into(), message: e.to_string() }
    }

    pub fn into_error(self) -> EngineError {
        let tier = match self.tier.as_str() {
            "input" => Tier::Input,
            "not-found" => Tier::NotFound,
            "environment" => Tier::Environment,
            _ => Tier::Internal,
        };
        EngineError::Failed { tier, message: self.message }
    }
}

fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Input => "input",
        Tier::NotFound => "not-found",
        Tier::Environment => "environment",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let ws = Workspace {
            boundary: "/src".into(),
            path: "app".into(),
            config_path: String::new(),
            client_id: "c".into(),
        };
        let cases = [
            Op::Path { path: "~/x y/é".into() },
            Op::List { path: ".".into(), include: vec!["*.py".into()], exclude: vec![], gitignore: true },
            Op::WorkspaceFindUp { ws, name: "dagger.json".into(), from: "app".into() },
            Op::ExportFile { dest: "out".into(), name: "f".into(), allow_parent_dir: true, mode: 0o755, mtime: (1, 2) },
        ];
        for op in cases {
            let header = op.encode();
            assert!(header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{header}");
            assert_eq!(Op::decode(&header).unwrap(), op);
        }
        assert!(Op::decode("!!").unwrap_err().to_string().contains("not base64url"));
    }

    #[test]
    fn listings_round_trip() {
        let entry = tanto_store::upload::Listed {
            path: "a/é".into(),
            kind: 'f',
            mode: 0o100644,
            uid: 1000,
            gid: 1000,
            size: 3,
            mtime: (1, 2),
            ctime: (3, 4),
            ino: 5,
            dev: 6,
            racy: true,
        };
        let l = Listing { abs: "/src".into(), include: vec!["*.py".into()], exclude: vec![], entries: vec![entry] };
        assert_eq!(Listing::decode(&l.encode()).unwrap(), l);
        assert!(Listing::decode(b"{}").unwrap_err().to_string().contains("no head"));
    }

    #[test]
    fn failures_keep_their_tier() {
        for e in [
            EngineError::input("a"),
            EngineError::not_found("b"),
            EngineError::environment("c"),
            EngineError::internal("d"),
        ] {
            let back = Failure::of(&e).into_error();
            assert_eq!((back.tier(), back.to_string()), (e.tier(), e.to_string()));
        }
    }
}
