//! The graph: a [`Vertex`] is one [`Op`] with its input [`Ref`]s, keyed by
//! its op's canonical encoding and its inputs' keys; a `Ref` picks one output.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};

use crate::digest::{Digest, StableHasher};
use crate::op::{ExecOp, Op};

/// One node of the op graph.
pub struct Vertex {
    pub op: Op,
    pub inputs: Vec<Ref>,
    key: OnceLock<Digest>,
}

impl Vertex {
    pub fn new(op: Op, inputs: Vec<Ref>) -> Arc<Vertex> {
        Arc::new(Vertex { op, inputs, key: OnceLock::new() })
    }

    /// A vertex known only by its cache key (see [`Op::Recorded`]): what a
    /// [`Ref`] read back from its encoding (`key#output`) points at.
    pub fn recorded(key: Digest) -> Arc<Vertex> {
        let op = Op::Recorded(crate::op::RecordedOp { label: format!("kept result {}", key.short(12)) });
        Arc::new(Vertex { op, inputs: Vec::new(), key: OnceLock::from(key) })
    }

    /// The cache key: hash of the op's canonical encoding and its inputs' keys.
    /// Inputs are keyed first, deepest first, with a stack of our own: a chain
    /// of ten thousand ops needs no native stack per op.
    pub fn key(&self) -> Digest {
        if let Some(k) = self.key.get() {
            return *k;
        }
        let mut stack: Vec<(&Vertex, bool)> = vec![(self, false)];
        while let Some((v, inputs_done)) = stack.pop() {
            if v.key.get().is_some() {
                continue;
            }
            if inputs_done {
                v.own_key();
            } else {
                stack.push((v, true));
                stack.extend(v.inputs.iter().map(|i| (&*i.vertex, false)));
            }
        }
        self.own_key()
    }

    /// The key, once every input has one.
    fn own_key(&self) -> Digest {
        *self.key.get_or_init(|| {
            let mut h = StableHasher::new();
            h.json(&self.op).u64(self.inputs.len() as u64);
            for input in &self.inputs {
                h.digest(&input.vertex.key()).u64(input.output as u64);
            }
            h.finish()
        })
    }

    /// A short human label for progress output.
    pub fn label(&self) -> String {
        match &self.op {
            Op::ImageLayer(l) => format!("pull layer {}", l.blob.digest.short(12)),
            Op::Exec(e) => {
                // an inline script shows as its first line
                let args: Vec<String> = e
                    .args
                    .iter()
                    .map(|a| match a.split_once('\n') {
                        Some((first, _)) => format!("{first} …"),
                        None => a.clone(),
                    })
                    .collect();
                format!("exec {}", shell_words(&args))
            }
            Op::File(f) => {
                let n = f.actions.len();
                match f.actions.first() {
                    Some(a) if n == 1 => a.label(),
                    Some(a) => format!("{} (+{} more)", a.label(), n - 1),
                    None => "file op".into(),
                }
            }
            Op::Local(l) => format!("upload {}", l.path),
            Op::Http(h) => format!("http {}", h.url),
            Op::Git(g) => match &g.local {
                Some(path) => format!("git (directory {path}) {}", &g.commit[..g.commit.len().min(12)]),
                None => format!("git {} {}", g.url, &g.commit[..g.commit.len().min(12)]),
            },
            Op::Recorded(r) => r.label.clone(),
        }
    }

    /// The kind of op, one word (the `op` field of the solver's `vertex` span).
    pub fn kind(&self) -> &'static str {
        match &self.op {
            Op::ImageLayer(_) => "pull",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Local(_) => "upload",
            Op::Http(_) => "http",
            Op::Git(_) => "git",
            Op::Recorded(_) => "kept",
        }
    }

    pub fn exec(&self) -> Option<&ExecOp> {
        match &self.op {
            Op::Exec(e) => Some(e),
            _ => None,
        }
    }
}

impl Drop for Vertex {
    /// Drops the inputs this vertex held last one by one, not recursively: a
    /// chain of ten thousand ops would otherwise need stack for each.
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Vertex>> = self.inputs.drain(..).map(|r| r.vertex).collect();
        while let Some(v) = stack.pop() {
            if let Some(mut v) = Arc::into_inner(v) {
                stack.extend(v.inputs.drain(..).map(|r| r.vertex));
            }
        }
    }
}

impl fmt::Debug for Vertex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vertex({:?} {})", self.key(), self.label())
    }
}

/// Joins argv for display the way a shell user would read it.
pub fn shell_words(args: &[String]) -> String {
    args.join(" ")
}

/// A reference to one output of a vertex.
#[derive(Clone)]
pub struct Ref {
    pub vertex: Arc<Vertex>,
    pub output: u32,
}

impl Ref {
    pub fn new(vertex: Arc<Vertex>, output: u32) -> Ref {
        Ref { vertex, output }
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{}", self.vertex, self.output)
    }
}

impl PartialEq for Ref {
    fn eq(&self, other: &Self) -> bool {
        self.output == other.output && self.vertex.key() == other.vertex.key()
    }
}

/// Refs encode as their vertex key and output: that is all an ID or a
/// parent key needs.
impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}#{}", self.vertex.key(), self.output))
    }
}

impl std::str::FromStr for Ref {
    type Err = String;

    /// `key#output`, as a `Ref` is encoded: a [`Vertex::recorded`] output.
    fn from_str(s: &str) -> Result<Ref, String> {
        let (key, output) = s.rsplit_once('#').ok_or_else(|| format!("`{s}` is not a ref (key#output)"))?;
        let key: Digest = key.parse().map_err(|e| format!("ref `{s}`: {e}"))?;
        let output = output.parse().map_err(|_| format!("ref `{s}`: bad output number"))?;
        Ok(Ref::new(Vertex::recorded(key), output))
    }
}

impl<'de> serde::Deserialize<'de> for Ref {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ref, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
