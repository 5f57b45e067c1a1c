//! Whose fault an error is. Every crate's error type says its tier, so the
//! client is told whether to fix its request, its host or report a bug.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The request is wrong: a bad argument, image reference, path or spec.
    Input,
    /// What the request names does not exist (an image, a path, a ref).
    NotFound,
    /// The host, the network, a registry or the disk failed or lacks
    /// something; it may work on retry or once the host is set up.
    Environment,
    /// A bug in tanto.
    Internal,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Input => "input",
            Tier::NotFound => "not_found",
            Tier::Environment => "environment",
            Tier::Internal => "internal",
        }
    }
}

/// An error that knows its [`Tier`].
pub trait Tiered: std::fmt::Display {
    fn tier(&self) -> Tier;
}
