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

use super::container::ctr;
use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{Api, Object};
use crate::dagger::ApiError;

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
}

// A socket has no fields of its own yet (its ID aside).
table!(pub(super) SOCKET: SocketObj = "Socket", Object::Socket(s) => s, &[], &[]);

/// `withUnixSocket(path, source, owner, expand)` and `withoutUnixSocket(path, expand)` of Container.
pub(super) static CONTAINER_FIELDS: Fields<ContainerObj> = fields! { |api, c, call, a|
    "withUnixSocket" => {
        let path = c.path_arg(a, "path")?;
        let socket = api.load_socket(a.get("source").unwrap_or(&Json::Null))?;
        let owner = opt_owner(a)?;
        let mut n = c.clone();
        n.mounts.retain(|m| m.target != path);
        n.mounts.push(CtrMount { target: path, source: CtrMountSource::Socket { socket, owner } });
        ctr(n)
    },
    "withoutUnixSocket" => {
        let path = c.path_arg(a, "path")?;
        let mut n = c.clone();
        n.mounts.retain(|m| !(m.target == path && matches!(m.source, CtrMountSource::Socket { .. })));
        ctr(n)
    },
};
