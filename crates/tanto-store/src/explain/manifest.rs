//! Key manifests: what a step's cache key was made of, by name and digest.
//!
//! A manifest names each part of an op's own encoding (`cwd`, `env FOO`,
//! `secret env TOKEN`, `mount /src`, `action 1`, ...) with a digest of its
//! value, and each input with its cache key (and, for a host upload, the
//! uploaded tree's digest). It holds no value: plain values only as
//! digests, secrets only by name (their identity's keyed digest is hashed
//! again, so two manifests compare equal exactly when the secret did).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tanto_model::{ExecMountKind, FileAction, Op, PatchSource, StableHasher, Vertex};

/// What a step's key was made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The op's kind, one word (`exec`, `file`, `upload`, ...).
    pub kind: String,
    /// The step as progress shows it.
    pub label: String,
    /// What stays the same when the step's inputs or settings change: see
    /// [`identity`].
    pub identity: String,
    /// The op's own fields, by name, sorted.
    pub fields: Vec<Part>,
    /// The inputs, in input order.
    pub inputs: Vec<InputPart>,
    /// For a host upload: the digest of the uploaded tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// One field of an op's encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// `cwd`, `env FOO`, `secret env TOKEN`, `mount /run/s`, `action 2`, ...
    pub name: String,
    /// Digest of the encoded value (never shown).
    pub digest: String,
    /// What a reader is told the part is about: a secret's name, never its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One input of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPart {
    /// `rootfs`, `mount /src`, `base`, `copy source -> /app`, `input 2`, ...
    pub name: String,
    /// The input's cache key.
    pub key: String,
    pub output: u32,
    /// The input step, as progress shows it.
    pub label: String,
    /// For a host upload: the digest of the uploaded tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// The name a secret identity is shown by: `set:NAME@D` → `NAME`,
/// `uri:URI@D` → `URI`, `key:KEY` → `KEY`; never the keyed digest.
pub fn secret_name(identity: &str) -> String {
    let rest = identity.split_once(':').map(|(_, r)| r).unwrap_or(identity);
    match identity.split_once(':') {
        Some(("set" | "uri", _)) => rest.rsplit_once('@').map(|(n, _)| n).unwrap_or(rest).to_string(),
        _ => rest.to_string(),
    }
}

fn digest_of(v: &Json) -> String {
    let mut h = StableHasher::new();
    h.str("tanto-explain-part").json(v);
    h.finish().to_string()
}

/// A step's identity: what it is, without what it is made from. Two steps
/// of two runs with one identity are "the same step", and the inputs and
/// fields of their manifests are compared to say what changed.
///
/// - exec: its arguments (`exec make test`);
/// - file op: its actions without their content (`copy / -> /src`, `write /a`);
/// - upload: the host path; http: the URL; git: the URL or local path;
/// - image layer: the repository and the layer's position in the image.
pub fn identity(vertex: &Vertex) -> String {
    match &vertex.op {
        Op::ImageLayer(l) => {
            let mut depth = 0usize;
            let mut v = vertex;
            while let Some(below) = v.inputs.first() {
                depth += 1;
                v = &below.vertex;
            }
            format!("pull {}/{} layer {depth}", l.blob.repo.host, l.blob.repo.repository)
        }
        Op::Exec(e) => format!("exec {}", serde_json::to_string(&e.args).unwrap_or_default()),
        Op::File(f) => {
            let actions: Vec<String> = f.actions.iter().map(action_name).collect();
            format!("file {}", actions.join("; "))
        }
        Op::Local(l) => format!("upload {}", l.path),
        Op::Http(h) => format!("http {}", h.url),
        Op::Git(g) => match &g.local {
            Some(p) => format!("git directory {p}"),
            None => format!("git {}", g.url),
        },
        Op::Recorded(r) => format!("kept {}", r.label),
    }
}

/// An action by what it does and where, without its content.
fn action_name(a: &FileAction) -> String {
    match a {
        FileAction::Mkfile { path, .. } => format!("write {path}"),
        FileAction::Mkdir { path, .. } => format!("mkdir {path}"),
        FileAction::Rm { path, .. } => format!("rm {path}"),
        FileAction::Copy { src_path, dest, .. } => format!("copy {src_path} -> {dest}"),
        FileAction::Symlink { link, .. } => format!("symlink {link}"),
        FileAction::EnsureDir { path, .. } => format!("ensure dir {path}"),
        FileAction::Chown { path, .. } => format!("chown {path}"),
        FileAction::Timestamps { path, .. } => format!("timestamps {path}"),
        FileAction::Replace { path, .. } => format!("replace in {path}"),
        FileAction::Diff { dest, .. } => format!("diff -> {dest}"),
        FileAction::Unpack { src_path, dest, .. } => format!("unpack {src_path} -> {dest}"),
        FileAction::Patch { dir, .. } => format!("patch {dir}"),
        FileAction::ApplyChanges { dest, .. } => format!("apply changes -> {dest}"),
    }
}

/// What input `i` of `vertex` is to its op.
fn input_name(vertex: &Vertex, i: u32) -> String {
    let some = Some(i);
    let name = match &vertex.op {
        Op::Exec(e) if e.rootfs == some => Some("rootfs".to_string()),
        Op::Exec(e) => e.mounts.iter().find_map(|m| match &m.kind {
            ExecMountKind::Dir { input, .. } | ExecMountKind::File { input, .. } if *input == some => {
                Some(format!("mount {}", m.target))
            }
            ExecMountKind::Cache { source: Some(s), .. } if s.input == i => Some(format!("cache source {}", m.target)),
            _ => None,
        }),
        Op::File(f) if f.base == some => Some("base".to_string()),
        Op::File(f) => f.actions.iter().find_map(|a| match a {
            FileAction::Copy { src, dest, .. } | FileAction::Unpack { src, dest, .. } if *src == some => {
                Some(format!("copy source -> {dest}"))
            }
            FileAction::Diff { lower, dest, .. } | FileAction::ApplyChanges { lower, dest, .. } if *lower == some => {
                Some(format!("lower of {dest}"))
            }
            FileAction::Diff { upper, dest, .. } | FileAction::ApplyChanges { upper, dest, .. } if *upper == some => {
                Some(format!("upper of {dest}"))
            }
            FileAction::Patch { dir, patch: PatchSource::File { src, .. } } if *src == i => {
                Some(format!("patch file of {dir}"))
            }
            _ => None,
        }),
        Op::ImageLayer(_) => Some("layer below".to_string()),
        Op::Git(_) => Some("repository directory".to_string()),
        _ => None,
    };
    name.unwrap_or_else(|| format!("input {i}"))
}

/// The parts of one field of the op's encoding: lists of variables, mounts
/// and actions are split into one part per item, so a change names the item.
fn field_parts(op: &Op, name: &str, value: &Json, out: &mut Vec<Part>) {
    let part = |name: String, v: &Json, secret: Option<String>| Part { name, digest: digest_of(v), secret };
    match (op, name, value) {
        (Op::Exec(_), "env", Json::Array(items)) => {
            for item in items {
                let s = item.as_str().unwrap_or_default();
                let (var, val) = s.split_once('=').unwrap_or((s, ""));
                out.push(part(format!("env {var}"), &Json::String(val.to_string()), None));
            }
        }
        (Op::Exec(e), "secret_env", _) => {
            for (var, identity) in &e.secret_env {
                out.push(part(
                    format!("secret env {var}"),
                    &Json::String(identity.clone()),
                    Some(secret_name(identity)),
                ));
            }
        }
        (Op::Exec(e), "mounts", Json::Array(items)) => {
            for (m, v) in e.mounts.iter().zip(items) {
                let secret = match &m.kind {
                    ExecMountKind::Secret { secret, .. } => Some(secret_name(secret)),
                    _ => None,
                };
                out.push(part(format!("mount {}", m.target), v, secret));
            }
        }
        (Op::File(f), "actions", Json::Array(items)) => {
            for (i, (a, v)) in f.actions.iter().zip(items).enumerate() {
                out.push(part(format!("action {} ({})", i + 1, action_name(a)), v, None));
            }
        }
        _ => out.push(part(name.to_string(), value, None)),
    }
}

/// The manifest of `vertex`'s key.
pub fn manifest(vertex: &Vertex) -> Manifest {
    let mut fields = Vec::new();
    if let Ok(Json::Object(map)) = serde_json::to_value(&vertex.op) {
        for (k, v) in &map {
            if k != "op" {
                field_parts(&vertex.op, k, v, &mut fields);
            }
        }
    }
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    let inputs = vertex
        .inputs
        .iter()
        .enumerate()
        .map(|(i, r)| InputPart {
            name: input_name(vertex, i as u32),
            key: r.vertex.key().to_string(),
            output: r.output,
            label: r.vertex.label(),
            upload: match &r.vertex.op {
                Op::Local(l) => Some(l.digest.to_string()),
                _ => None,
            },
        })
        .collect();
    let upload = match &vertex.op {
        Op::Local(l) => Some(l.digest.to_string()),
        _ => None,
    };
    Manifest {
        kind: vertex.kind().to_string(),
        label: vertex.label(),
        identity: identity(vertex),
        fields,
        inputs,
        upload,
    }
}
