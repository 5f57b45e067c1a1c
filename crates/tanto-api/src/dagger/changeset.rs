//! `Changeset` (`Directory.changes`, `Directory.withChanges`): the difference
//! between two directories, with removals. Paths and emptiness ask the
//! backend; `layer` and `withChanges` are file actions, so they stay lazy.

use serde::Serialize;
use serde_json::Value as Json;
use tanto_model::{FileAction, Ref};

use super::dispatch::{fields, table, Fields};
use super::objects::DirectoryObj;
use super::{file_op, leaf, resolved, Api, Object};
use crate::dagger::ApiError;

#[derive(Debug, Clone, Serialize)]
pub struct ChangesetObj {
    pub before: DirectoryObj,
    pub after: DirectoryObj,
}

/// The sources of a two-input action and their indices.
fn sides(before: &DirectoryObj, after: &DirectoryObj) -> (Option<u32>, Option<u32>, Vec<Ref>) {
    let mut sources = Vec::new();
    let mut idx = |r: &Option<Ref>| {
        r.as_ref().map(|r| {
            sources.push(r.clone());
            (sources.len() - 1) as u32
        })
    };
    let (l, u) = (idx(&before.root), idx(&after.root));
    (l, u, sources)
}

impl ChangesetObj {
    /// The action that applies this changeset at `dest`.
    pub fn apply_action(&self, dest: &str) -> (FileAction, Vec<Ref>) {
        let (lower, upper, sources) = sides(&self.before, &self.after);
        let action = FileAction::ApplyChanges {
            lower,
            lower_path: self.before.path.clone(),
            upper,
            upper_path: self.after.path.clone(),
            dest: dest.to_string(),
        };
        (action, sources)
    }
}

table!(pub(super) CHANGESET: ChangesetObj = "Changeset", Object::Changeset(v) => v, &[CHANGESET_FIELDS], &[]);

static CHANGESET_FIELDS: Fields<ChangesetObj> = fields! { |api, c, call, a|
    let strings = |v: Vec<String>| leaf(Json::Array(v.into_iter().map(Json::String).collect()));
    "before" => Ok(resolved(Object::Directory(c.before.clone()))),
    "after" => Ok(resolved(Object::Directory(c.after.clone()))),
    "layer" => {
        let (lower, upper, sources) = sides(&c.before, &c.after);
        let action = FileAction::Diff {
            lower,
            lower_path: c.before.path.clone(),
            upper,
            upper_path: c.after.path.clone(),
            dest: "/".into(),
        };
        Ok(resolved(Object::Directory(DirectoryObj {
            root: Some(file_op(None, action, sources)),
            path: "/".into(),
        })))
    },
    "addedPaths" | "modifiedPaths" | "removedPaths" | "isEmpty" => {
        let l = api
            .engine
            .solve
            .changes(c.before.root.as_ref(), &c.before.path, c.after.root.as_ref(), &c.after.path)
            .await?;
        Ok(match call.field {
            "addedPaths" => strings(l.added),
            "modifiedPaths" => strings(l.modified),
            "removedPaths" => strings(l.removed),
            _ => leaf(l.added.is_empty() && l.modified.is_empty() && l.removed.is_empty()),
        })
    },
};

impl Api {
    pub(super) fn load_changeset(&self, id: &Json) -> Result<ChangesetObj, ApiError> {
        match &*self.load(id, Some("Changeset"))? {
            Object::Changeset(c) => Ok(c.clone()),
            _ => unreachable!("type checked by load"),
        }
    }
}
