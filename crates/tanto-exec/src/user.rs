//! The user a process runs as: Dagger/Docker user strings (`""`, `name`, `uid`,
//! `name:group`, `uid:gid`) resolved against the container's `/etc/passwd` and
//! `/etc/group` with runc's rules ([`tanto_fs::passwd::resolve_user`]).

use crate::ExecError;

/// The identity the process runs as.
pub use tanto_fs::passwd::User as ExecUser;

/// Resolves `spec` given the container's passwd and group files (`None` = file missing).
pub fn resolve_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, ExecError> {
    tanto_fs::passwd::resolve_user(spec, passwd, group)
        .map_err(|e| ExecError::InvalidUser { user: e.user, reason: e.reason })
}
