//! `Directory.search` and `File.search`: ripgrep-like matches as
//! `SearchResult`/`SearchSubmatch` objects. The engine does the reading
//! ([`tanto_contract::Solve::search`]); this module shapes arguments and results.

use serde_json::Value as Json;
use tanto_contract::fs::{SearchMatch, SearchOptions, Submatch};

use super::dispatch::{fields, table, Fields};
use super::{leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{Args, Resolved};

/// `Directory.search` arguments.
pub fn search_options(a: &Args) -> Result<SearchOptions, ApiError> {
    let flag = |k: &str| -> Result<bool, ApiError> { Ok(a.opt_bool(k)?.unwrap_or(false)) };
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

table!(
    pub(super) SEARCH_RESULT: SearchMatch = "SearchResult",
    Object::SearchResult(v) => v,
    &[SEARCH_RESULT_FIELDS],
    &[],
);

static SEARCH_RESULT_FIELDS: Fields<SearchMatch> = fields! { |api, r, call, a|
    "filePath" => Ok(leaf(r.file_path.clone())),
    "lineNumber" => Ok(leaf(r.line_number)),
    "absoluteOffset" => Ok(leaf(r.absolute_offset)),
    "matchedLines" => Ok(leaf(r.matched_lines.clone())),
    "submatches" => {
        Ok(Resolved::List(r.submatches.iter().map(|s| resolved(Object::SearchSubmatch(s.clone()))).collect()))
    },
};

table!(
    pub(super) SEARCH_SUBMATCH: Submatch = "SearchSubmatch",
    Object::SearchSubmatch(v) => v,
    &[SEARCH_SUBMATCH_FIELDS],
    &[],
);

static SEARCH_SUBMATCH_FIELDS: Fields<Submatch> = fields! { |api, s, call, a|
    "start" => Ok(leaf(s.start)),
    "end" => Ok(leaf(s.end)),
    "text" => Ok(leaf(Json::String(s.text.clone()))),
};

impl Api {
    /// `search` over the directory `path` of `root`.
    pub(super) async fn search_in(
        &self,
        root: Option<&tanto_model::Ref>,
        path: &str,
        opts: SearchOptions,
    ) -> Result<Resolved, ApiError> {
        if opts.pattern.is_empty() {
            return Err("`search` needs a non-empty `pattern`".into());
        }
        let hits = self.engine.solve.search(root, path, &opts).await?;
        Ok(Resolved::List(hits.into_iter().map(|h| resolved(Object::SearchResult(h))).collect()))
    }

    /// `File.search`: the directory holding the file, restricted to it.
    pub(super) async fn file_search(&self, f: &super::objects::FileObj, a: &Args) -> Result<Resolved, ApiError> {
        let mut opts = search_options(a)?;
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
}
