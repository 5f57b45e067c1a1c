//! Reading results: entries, change lists, search matches, exec output.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

#[derive(Debug, Clone)]
pub struct EntryStat {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
}

/// What one tree adds, modifies and removes compared with another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeLists {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

/// Output of a finished exec, already scrubbed of secrets.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub combined: Vec<u8>,
}

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

/// One match of a search (`SearchResult`), in ripgrep's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchMatch {
    pub file_path: String,
    pub line_number: i64,
    /// Byte offset of `matched_lines` in the file.
    pub absolute_offset: i64,
    pub matched_lines: String,
    pub submatches: Vec<Submatch>,
}

/// A match inside `matched_lines`: byte offsets and text (`SearchSubmatch`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Submatch {
    pub start: i64,
    pub end: i64,
    pub text: String,
}
