//! Services: what the engine needs to run one, and port forwards.

use std::sync::Arc;

use serde::Serialize;
use tanto_model::{Digest, Vertex};

use crate::image::Port;

/// One port forwarding rule (`PortForward` input).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortForward {
    /// Port on the listening side; `None`: the backend port (`native`) or any free one.
    pub frontend: Option<u16>,
    pub backend: u16,
    /// `TCP` or `UDP`.
    pub protocol: String,
}

/// What the engine needs to run a service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Hash of the canonical definition: identity, sharing key, cache key material.
    pub digest: Digest,
    /// The name containers reach it by (besides their aliases).
    pub hostname: String,
    pub kind: ServiceSpecKind,
}

#[derive(Debug, Clone)]
pub enum ServiceSpecKind {
    /// `exec` is an exec vertex: run it (its inputs solved, its own bindings started)
    /// and health-check `ports`.
    Container { exec: Arc<Vertex>, ports: Vec<Port> },
    Tunnel {
        upstream: Box<ServiceSpec>,
        ports: Vec<PortForward>,
        native: bool,
        /// The client network of a remote engine's client whose host it listens on; `None`: the engine's.
        client: Option<String>,
    },
    Host {
        host: String,
        ports: Vec<PortForward>,
        /// The client network of a remote engine's client whose host this is; `None`: the engine's.
        client: Option<String>,
    },
}
