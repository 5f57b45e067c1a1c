//! Unix sockets of the client's host: `Host.unixSocket`, and
//! `Container.withUnixSocket` / `withoutUnixSocket`.
//!
//! The engine runs on the client's machine (the SDK spawns `tanto session`),
//! so a socket is its absolute host path: no session forwarding is needed.
//! The path is the socket's identity, in its ID and in the key of every exec
//! that mounts it (as Dagger keys a step on which socket it uses, never on the
//! socket's inode or on what answers on it).

use serde::Serialize;
use serde_json::Value as Json;

use super::objects::*;
use super::{resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{FieldCall, Resolved};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SocketObj {
    /// Absolute, canonical path of the socket on the client's host.
    pub host_path: String,
}

impl Api {
    pub(super) fn load_socket(&self, id: &Json) -> Result<SocketObj, ApiError> {
        match &*self.load(id, Some("Socket"))? {
            Object::Socket(s) => Ok(s.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    /// `Host.unixSocket(path)`: the socket must exist when the field resolves.
    pub(super) async fn host_unix_socket(&self, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let host_path = self.engine.host.host_unix_socket(call.args.string("path")?).await?;
        Ok(resolved(Object::Socket(SocketObj { host_path })))
    }

    /// `withUnixSocket(path, source, owner, expand)` and `withoutUnixSocket(path, expand)`.
    pub(super) fn container_socket_field(&self, c: &ContainerObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        let path = c.path_arg(a, "path")?;
        let mut n = c.clone();
        match call.field {
            "withUnixSocket" => {
                let socket = self.load_socket(a.get("source").unwrap_or(&Json::Null))?;
                let owner = opt_owner(a)?;
                n.mounts.retain(|m| m.target != path);
                n.mounts.push(CtrMount { target: path, source: MountSource::Socket { socket, owner } });
            }
            _ => n.mounts.retain(|m| !(m.target == path && matches!(m.source, MountSource::Socket { .. }))),
        }
        Ok(resolved(Object::Container(n)))
    }
}
