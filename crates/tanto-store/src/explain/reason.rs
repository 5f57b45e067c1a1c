//! Why a step ran: pure functions over recorded runs (no IO), so the rules
//! are tested as tables of cases.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;

/// How a step of a run was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// From the cache.
    Cached,
    /// Computed, and its result recorded.
    Executed,
    /// Computed, and it failed (failures are never cached).
    Failed,
    /// Run each time, never cached (a function's runtime, a service).
    Never,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Cached => "cached",
            Status::Executed => "executed",
            Status::Failed => "failed",
            Status::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "cached" => Status::Cached,
            "failed" => Status::Failed,
            "never" => Status::Never,
            _ => Status::Executed,
        }
    }
}

/// A result removed from the cache: its key, when and by what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Milliseconds since the epoch.
    pub evicted_ms: i64,
    /// `gc` (automatic) or `prune` (`tanto prune`, `engine.localCache.prune`).
    pub by: String,
}

/// One step of a recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub key: String,
    pub identity: String,
    pub status: Status,
    /// Set when the step missed a key that had been evicted.
    pub evicted: Option<Tombstone>,
    /// `None` when it was not kept (trimmed, or never written).
    pub manifest: Option<Manifest>,
}

/// One recorded run: an engine's life (a `tanto run`, `call`, `query` or SDK session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRows {
    pub id: i64,
    pub name: super::RunName,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub steps: Vec<StepRow>,
}

/// Which paths of an uploaded host directory differ between two uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// More paths changed than are listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One thing that differs between a step's key and the previous one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `input`, `host` (an upload's content), `env`, `secret` or `field`.
    pub what: String,
    /// The input (`mount /src`), variable, secret or field name.
    pub name: String,
    /// `changed`, `added` or `removed`.
    pub change: String,
    /// Inputs: the previous and the new cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Inputs: the input step, as progress shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Inputs: the number of the executed step of this run that made the new input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// Host uploads: the paths that differ (`None` when not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<PathChanges>,
}

impl Change {
    fn new(what: &str, name: &str, change: &str) -> Change {
        Change {
            what: what.into(),
            name: name.into(),
            change: change.into(),
            old: None,
            new: None,
            label: None,
            step: None,
            paths: None,
        }
    }
}

/// Why a step ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// No earlier run (of those kept) had this step.
    New,
    /// The step ran before with another key: what differs.
    InputChanged { previous_run: i64, changes: Vec<Change> },
    /// Its result was in the cache and removed by GC or a prune.
    Evicted { evicted_ms: i64, by: String },
    /// Run each time by design.
    NeverCached,
    /// The same step failed in an earlier run; failures are never cached.
    FailedBefore { previous_run: i64 },
    /// The same step was recorded before and its result is gone without a
    /// tombstone (its files were removed outside GC).
    Lost { previous_run: i64 },
}

/// One step that ran, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explained {
    /// 1-based, in the order the steps finished.
    pub step: usize,
    pub key: String,
    pub kind: String,
    pub label: String,
    pub status: Status,
    #[serde(flatten)]
    pub reason: Reason,
}

/// Why each step of a run ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub run: i64,
    /// What ran (see [`super::RunName`]); empty for runs recorded before it was.
    #[serde(default)]
    pub pipeline: String,
    #[serde(default)]
    pub workdir: String,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// Distinct steps of the run.
    pub steps: usize,
    pub cached: usize,
    pub executed: Vec<Explained>,
}

impl Explanation {
    /// Steps that could have come from the cache and did not.
    pub fn misses(&self) -> usize {
        self.executed.iter().filter(|s| s.status != Status::Never).count()
    }
}

/// What differs between two manifests of one step. `uploads` says which
/// paths differ between two uploaded trees (new, old), when it is known.
pub fn diff(old: &Manifest, new: &Manifest, uploads: &dyn Fn(&str, &str) -> Option<PathChanges>) -> Vec<Change> {
    let mut out = Vec::new();
    // a host upload: its content, and which paths changed
    if let (Some(a), Some(b)) = (&old.upload, &new.upload) {
        if a != b {
            let name = new.label.strip_prefix("upload ").unwrap_or(&new.label);
            out.push(Change {
                old: Some(a.clone()),
                new: Some(b.clone()),
                paths: uploads(b, a),
                ..Change::new("host", name, "changed")
            });
        }
        return out;
    }
    // fields: sorted by name in both
    let olds: HashMap<&str, &super::manifest::Part> = old.fields.iter().map(|p| (p.name.as_str(), p)).collect();
    let news: HashMap<&str, &super::manifest::Part> = new.fields.iter().map(|p| (p.name.as_str(), p)).collect();
    let field_change = |p: &super::manifest::Part, change: &str| {
        if let Some(var) = p.name.strip_prefix("env ") {
            Change::new("env", var, change)
        } else if let Some(secret) = &p.secret {
            Change { label: Some(p.name.clone()), ..Change::new("secret", secret, change) }
        } else {
            Change::new("field", &p.name, change)
        }
    };
    for p in &new.fields {
        match olds.get(p.name.as_str()) {
            None => out.push(field_change(p, "added")),
            Some(o) if o.digest != p.digest => {
                // a secret's name may be what changed: show the new one
                out.push(field_change(p, "changed"))
            }
            Some(_) => {}
        }
    }
    for p in &old.fields {
        if !news.contains_key(p.name.as_str()) {
            out.push(field_change(p, "removed"));
        }
    }
    // inputs: by name (an op names each of its inputs once, else by position)
    let oldi: HashMap<&str, &super::manifest::InputPart> = old.inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    let newi: HashMap<&str, &super::manifest::InputPart> = new.inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    for i in &new.inputs {
        match oldi.get(i.name.as_str()) {
            None => out.push(Change {
                new: Some(i.key.clone()),
                label: Some(i.label.clone()),
                ..Change::new("input", &i.name, "added")
            }),
            Some(o) if o.key != i.key || o.output != i.output => {
                let paths = match (&o.upload, &i.upload) {
                    (Some(a), Some(b)) => uploads(b, a),
                    _ => None,
                };
                out.push(Change {
                    old: Some(o.key.clone()),
                    new: Some(i.key.clone()),
                    label: Some(i.label.clone()),
                    paths,
                    ..Change::new("input", &i.name, "changed")
                })
            }
            Some(_) => {}
        }
    }
    for o in &old.inputs {
        if !newi.contains_key(o.name.as_str()) {
            out.push(Change {
                old: Some(o.key.clone()),
                label: Some(o.label.clone()),
                ..Change::new("input", &o.name, "removed")
            });
        }
    }
    out
}

/// Explains the steps of `last` that ran, against `earlier` runs (newest first).
pub fn explain(
    last: &RunRows,
    earlier: &[RunRows],
    uploads: &dyn Fn(&str, &str) -> Option<PathChanges>,
) -> Explanation {
    let ran: Vec<&StepRow> = last.steps.iter().filter(|s| s.status != Status::Cached).collect();
    let numbers: HashMap<&str, usize> = ran.iter().enumerate().map(|(n, s)| (s.key.as_str(), n + 1)).collect();
    let executed = ran
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let (kind, label) = match &s.manifest {
                Some(m) => (m.kind.clone(), m.label.clone()),
                None => (String::new(), s.identity.clone()),
            };
            let mut reason = reason_of(s, earlier, uploads);
            if let Reason::InputChanged { changes, .. } = &mut reason {
                for c in changes.iter_mut() {
                    c.step = c.new.as_deref().and_then(|k| numbers.get(k).copied());
                }
            }
            Explained { step: n + 1, key: s.key.clone(), kind, label, status: s.status, reason }
        })
        .collect();
    Explanation {
        run: last.id,
        pipeline: last.name.pipeline.clone(),
        workdir: last.name.workdir.clone(),
        started_ms: last.started_ms,
        finished_ms: last.finished_ms,
        steps: last.steps.len(),
        cached: last.steps.iter().filter(|s| s.status == Status::Cached).count(),
        executed,
    }
}

fn reason_of(s: &StepRow, earlier: &[RunRows], uploads: &dyn Fn(&str, &str) -> Option<PathChanges>) -> Reason {
    if s.status == Status::Never {
        return Reason::NeverCached;
    }
    if let Some(t) = &s.evicted {
        return Reason::Evicted { evicted_ms: t.evicted_ms, by: t.by.clone() };
    }
    // The most recent earlier run with this step; of its candidates, the
    // one whose key differs least.
    for run in earlier {
        let candidates: Vec<&StepRow> = run.steps.iter().filter(|p| p.identity == s.identity).collect();
        if candidates.is_empty() {
            continue;
        }
        if let Some(same) = candidates.iter().find(|p| p.key == s.key) {
            return match same.status {
                Status::Failed => Reason::FailedBefore { previous_run: run.id },
                _ => Reason::Lost { previous_run: run.id },
            };
        }
        let Some(new) = &s.manifest else { return Reason::New };
        let best = candidates
            .iter()
            .filter_map(|p| p.manifest.as_ref())
            .map(|m| diff(m, new, uploads))
            .min_by_key(|changes| changes.len());
        if let Some(changes) = best {
            return Reason::InputChanged { previous_run: run.id, changes };
        }
    }
    Reason::New
}
