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

/// The full ref names `reference` may stand for, in order of preference
/// (a peeled tag `refs/tags/x^{}` before the tag object itself).
pub fn ref_candidates(reference: &str, kind: RefKind) -> Vec<String> {
    match kind {
        RefKind::Branch => vec![format!("refs/heads/{reference}")],
        RefKind::Tag => vec![format!("refs/tags/{reference}^{{}}"), format!("refs/tags/{reference}")],
        RefKind::Any => vec![
            reference.to_string(),
            format!("refs/tags/{reference}^{{}}"),
            format!("refs/tags/{reference}"),
            format!("refs/heads/{reference}"),
            format!("refs/{reference}"),
        ],
    }
}

/// Whether `s` is a full commit SHA.
pub fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `(commit, full ref name)` of `reference` among advertised `refs`.
pub fn pick_ref(refs: &[(String, String)], reference: &str, kind: RefKind) -> Option<(String, String)> {
    if is_commit_sha(reference) {
        return Some((reference.to_ascii_lowercase(), reference.to_string()));
    }
    ref_candidates(reference, kind).iter().find_map(|c| {
        refs.iter().find(|(_, n)| n == c).map(|(sha, _)| (sha.clone(), c.trim_end_matches("^{}").to_string()))
    })
}

/// A repository: a remote, or one held in a directory (`Directory.asGit`).
#[derive(Debug, Clone)]
pub enum GitRepo {
    Remote {
        url: String,
        auth: GitAuth,
    },
    /// Its work tree is `path` of `root`, with `.git` inside.
    Dir {
        root: Option<Ref>,
        path: String,
    },
}

/// `(commit, full ref name)`.
pub type GitRefName = (String, String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_picked_by_kind() {
        let sha = |c: char| c.to_string().repeat(40);
        let refs: Vec<(String, String)> = [
            (sha('a'), "HEAD"),
            (sha('a'), "refs/heads/main"),
            (sha('b'), "refs/heads/v1"),
            (sha('c'), "refs/tags/v1"),
            (sha('d'), "refs/tags/v1^{}"),
        ]
        .iter()
        .map(|(s, n)| (s.clone(), n.to_string()))
        .collect();
        // (reference, kind, picked)
        for (reference, kind, want) in [
            ("HEAD", RefKind::Any, Some((sha('a'), "HEAD"))),
            ("main", RefKind::Branch, Some((sha('a'), "refs/heads/main"))),
            ("v1", RefKind::Branch, Some((sha('b'), "refs/heads/v1"))),
            ("v1", RefKind::Tag, Some((sha('d'), "refs/tags/v1"))),
            ("v1", RefKind::Any, Some((sha('d'), "refs/tags/v1"))),
            ("main", RefKind::Tag, None),
            ("nope", RefKind::Any, None),
        ] {
            let got = pick_ref(&refs, reference, kind);
            assert_eq!(got, want.map(|(s, n)| (s, n.to_string())), "{reference} {kind:?}");
        }
        let full = "E".repeat(40);
        assert_eq!(
            pick_ref(&[], &full, RefKind::Any),
            Some(("e".repeat(40), full.clone())),
            "a commit SHA needs no ref"
        );
    }
}
