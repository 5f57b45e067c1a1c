//! `Directory.search` and `File.search`: ripgrep-like matches as
//! `SearchResult`/`SearchSubmatch` objects. The backend does the reading
//! ([`super::Backend::search`]); this module shapes arguments and results.

use serde::Serialize;
use serde_json::Value as Json;

use super::{leaf, not_implemented, paths, resolved, Api, Object};
use tanto_gql::{Args, FieldCall, FieldError, Resolved};

/// What to search for and where (paths and globs relative to the searched directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchOptions {
    pub pattern: String,
    pub literal: bool,
    pub multiline: bool,
    pub dotall: bool,
    pub insensitive: bool,
    pub skip_ignored: bool,
    pub skip_hidden: bool,
    pub files_only: bool,
    pub limit: Option<usize>,
    pub paths: Vec<String>,
    pub globs: Vec<String>,
}

impl SearchOptions {
    pub fn from_args(a: &Args) -> Result<SearchOptions, FieldError> {
        let flag = |k: &str| -> Result<bool, FieldError> { Ok(a.opt_bool(k)?.unwrap_or(false)) };
        let limit = match a.opt_int("limit")? {
            Some(n) if n < 0 => return Err(format!("`limit` must not be negative, got {n}").into()),
            n => n.map(|n| n as usize),
        };
        Ok(SearchOptions {
            pattern: a.string("pattern")?.to_string(),
            literal: flag("literal")?,
            multiline: flag("multiline")?,
            dotall: flag("dotall")?,
            insensitive: flag("insensitive")?,
            skip_ignored: flag("skipIgnored")?,
            skip_hidden: flag("skipHidden")?,
            files_only: flag("filesOnly")?,
            limit,
            paths: a.opt_string_list("paths")?.unwrap_or_default(),
            globs: a.opt_string_list("globs")?.unwrap_or_default(),
        })
    }
}

/// One match: a line (or, in multiline mode, the lines a match spans).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResultObj {
    pub file_path: String,
    pub line_number: i64,
    /// Byte offset of `matched_lines` in the file.
    pub absolute_offset: i64,
    pub matched_lines: String,
    pub submatches: Vec<SearchSubmatchObj>,
}

/// A match inside `matched_lines`: byte offsets and text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchSubmatchObj {
    pub start: i64,
    pub end: i64,
    pub text: String,
}

impl Api {
    /// `search` over the directory `path` of `root`.
    pub(super) async fn search_in(
        &self,
        root: Option<&tanto_model::Ref>,
        path: &str,
        opts: SearchOptions,
    ) -> Result<Resolved, FieldError> {
        if opts.pattern.is_empty() {
            return Err("`search` needs a non-empty `pattern`".into());
        }
        let hits = self.backend.search(root, path, &opts).await?;
        Ok(Resolved::List(hits.into_iter().map(|h| resolved(Object::SearchResult(h))).collect()))
    }

    /// `File.search`: the directory holding the file, restricted to it.
    pub(super) async fn file_search(&self, f: &super::objects::FileObj, a: &Args) -> Result<Resolved, FieldError> {
        let mut opts = SearchOptions::from_args(a)?;
        let parent = match f.path.rsplit_once('/') {
            Some(("", _)) | None => "/".to_string(),
            Some((p, _)) => p.to_string(),
        };
        opts.paths = vec![paths::base_name(&f.path)];
        opts.globs.clear();
        opts.skip_hidden = false;
        opts.skip_ignored = false;
        self.search_in(f.root.as_ref(), &parent, opts).await
    }

    pub(super) async fn search_result(
        &self,
        r: &SearchResultObj,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, FieldError> {
        match call.field {
            "filePath" => Ok(leaf(r.file_path.clone())),
            "lineNumber" => Ok(leaf(r.line_number)),
            "absoluteOffset" => Ok(leaf(r.absolute_offset)),
            "matchedLines" => Ok(leaf(r.matched_lines.clone())),
            "submatches" => {
                Ok(Resolved::List(r.submatches.iter().map(|s| resolved(Object::SearchSubmatch(s.clone()))).collect()))
            }
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) async fn search_submatch(
        &self,
        s: &SearchSubmatchObj,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, FieldError> {
        match call.field {
            "start" => Ok(leaf(s.start)),
            "end" => Ok(leaf(s.end)),
            "text" => Ok(leaf(Json::String(s.text.clone()))),
            _ => Err(not_implemented(call)),
        }
    }
}
