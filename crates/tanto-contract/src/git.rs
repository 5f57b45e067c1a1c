//! Git sources: credentials by secret identity and how a ref was named.

use serde::Serialize;
use tanto_model::Ref;

/// Credentials of a remote, as secret identities (never values).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GitAuth {
    pub username: String,
    /// Identity of a secret holding a token.
    pub token: Option<String>,
    /// Identity of a secret holding an Authorization header value.
    pub header: Option<String>,
}

/// How a ref was named: resolved to a commit only when needed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    Branch,
    Tag,
    Any,
}

impl RefKind {
    pub fn noun(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::Any => "ref",
        }
    }
}

/// A repository: a remote, or one held in a directory (`Directory.asGit`).
#[derive(Debug, Clone)]
pub enum GitRepo {
    Remote { url: String, auth: GitAuth },
    /// Its work tree is `path` of `root`, with `.git` inside.
    Dir { root: Option<Ref>, path: String },
}

/// `(commit, full ref name)`.
pub type GitRefName = (String, String);
