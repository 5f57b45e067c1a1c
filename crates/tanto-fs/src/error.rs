//! The crate's one error type. Messages name the path in backticks; the
//! variants say what went wrong so callers can tell bad input (a missing
//! path, a bad pattern, an unknown user) from a failing system call.

use std::io;

/// An error of a file operation.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A system call failed (the message is the OS error's).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// `source` happened while working on `path`.
    #[error("`{path}`: {source}")]
    At { path: String, source: Box<FsError> },
    #[error("`{0}` not found")]
    NotFound(String),
    #[error("`{0}` not found in the source")]
    SourceNotFound(String),
    #[error("`{0}` is not a directory")]
    NotADirectory(String),
    /// A directory was to be made where something else is.
    #[error("`{0}` exists and is not a directory")]
    InTheWay(String),
    #[error("`{0}` is not a regular file")]
    NotAFile(String),
    #[error("`{0}` is a directory, not a file")]
    IsADirectory(String),
    #[error("the root directory itself cannot be used here")]
    RootItself,
    #[error("`{0}` is not UTF-8 text")]
    NotText(String),
    #[error("invalid pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
    #[error("invalid glob pattern `{pattern}`: {message}")]
    Glob { pattern: String, message: String },
    #[error("user `{0}` not found in the container's /etc/passwd")]
    UnknownUser(String),
    #[error("group `{0}` not found in the container's /etc/group")]
    UnknownGroup(String),
    /// A text replacement that cannot be made (see [`crate::replaced`]).
    #[error("{0}")]
    Replace(String),
    /// A patch that cannot be applied (see [`crate::patch`]).
    #[error("{0}")]
    Patch(String),
    /// A caller asked [`crate::copy_entry`] to rename (a bug in the caller).
    #[error("copy_entry renames `{from}` to `{to}`")]
    Rename { from: String, to: String },
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;

impl tanto_model::Tiered for FsError {
    fn tier(&self) -> tanto_model::Tier {
        use tanto_model::Tier;
        match self {
            FsError::At { source, .. } => source.tier(),
            FsError::Io(e) => match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => Tier::NotFound,
                Some(libc::ELOOP) | Some(libc::EXDEV) | Some(libc::EISDIR) | Some(libc::ENAMETOOLONG) => Tier::Input,
                _ => Tier::Environment,
            },
            FsError::NotFound(_) | FsError::SourceNotFound(_) => Tier::NotFound,
            FsError::Rename { .. } => Tier::Internal,
            _ => Tier::Input,
        }
    }
}

impl From<rustix::io::Errno> for FsError {
    fn from(e: rustix::io::Errno) -> Self {
        FsError::Io(e.into())
    }
}

impl FsError {
    /// `self`, as having happened while working on `path`.
    pub fn at(self, path: impl Into<String>) -> FsError {
        FsError::At { path: path.into(), source: Box::new(self) }
    }

    /// The OS error number, when a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            FsError::Io(e) => e.raw_os_error(),
            FsError::At { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The closest [`io::ErrorKind`].
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            FsError::Io(e) => e.kind(),
            FsError::At { source, .. } => source.kind(),
            FsError::NotFound(_)
            | FsError::SourceNotFound(_)
            | FsError::UnknownUser(_)
            | FsError::UnknownGroup(_)
            | FsError::Replace(_) => K::NotFound,
            FsError::NotADirectory(_) | FsError::InTheWay(_) | FsError::NotAFile(_) | FsError::IsADirectory(_) => {
                K::Other
            }
            FsError::RootItself | FsError::Pattern { .. } | FsError::Glob { .. } | FsError::Rename { .. } => {
                K::InvalidInput
            }
            FsError::NotText(_) | FsError::Patch(_) => K::InvalidData,
        }
    }

    /// Whether the path (or a directory on the way) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
    }
}

impl From<FsError> for io::Error {
    fn from(e: FsError) -> io::Error {
        match e {
            FsError::Io(e) => e,
            other => io::Error::new(other.kind(), other),
        }
    }
}
