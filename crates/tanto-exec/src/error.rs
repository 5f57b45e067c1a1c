use std::io;
use std::path::PathBuf;

use tanto_model::{Tier, Tiered};

/// Errors of `tanto-exec`. A process that ran and exited non-zero is not an error: see
/// [`crate::ExitInfo::exit_code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error(
        "`{cmd}` not found in the container's $PATH ({search_path}): install it in the image or use an absolute path"
    )]
    CommandNotFound { cmd: String, search_path: String },

    #[error("invalid process spec: {message}")]
    InvalidSpec { message: String },

    #[error("invalid user `{user}`: {reason}")]
    InvalidUser { user: String, reason: String },

    #[error("no OCI runtime found (looked for {wanted}): install crun or runc (apt-get install crun)")]
    RuntimeNotFound { wanted: String },

    #[error("`{runtime}` cannot run containers on this host: {message}")]
    RuntimeUnusable { runtime: String, message: String },

    #[error("`{runtime}` failed to run the container: {message}")]
    Runtime { runtime: String, message: String },

    #[error("mounting {what} at `{target}`: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("unmounting `{target}`: {source}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{action} `{path}`: {source}")]
    Io {
        action: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot run `{platform}` containers on this {host} machine: {reason}; install qemu-user-static and register its binfmt_misc handlers with the F (fix-binary) flag (scripts/setup.sh does both; an engine running as root registers missing ones at start)"
    )]
    NoEmulation { platform: String, host: String, reason: String },

    #[error("bridge network: {message}")]
    Network { message: String },

    #[error("internal error in tanto-exec: {message}")]
    Internal { message: String },
}

impl ExecError {
    pub(crate) fn io(action: impl Into<String>, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ExecError {
        let (action, path) = (action.into(), path.into());
        move |source| ExecError::Io { action, path, source }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ExecError {
        ExecError::InvalidSpec { message: message.into() }
    }
}

impl Tiered for ExecError {
    fn tier(&self) -> Tier {
        match self {
            ExecError::CommandNotFound { .. } | ExecError::InvalidSpec { .. } | ExecError::InvalidUser { .. } => {
                Tier::Input
            }
            ExecError::Internal { .. } => Tier::Internal,
            _ => Tier::Environment,
        }
    }
}
