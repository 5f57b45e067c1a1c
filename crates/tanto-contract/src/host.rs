//! The client's host: its workspace.

use serde::{Deserialize, Serialize};

/// Dagger's workspace config file, relative to a directory of the workspace.
pub const CONFIG_FILE: &str = ".dagger/config.toml";

/// A workspace, as the engine detected it (`Query.currentWorkspace`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Workspace {
    /// Absolute host path of the boundary.
    pub boundary: String,
    /// The workspace directory relative to the boundary (`""` at the boundary).
    pub path: String,
    /// The config file relative to the boundary, `""` without one.
    pub config_path: String,
    pub client_id: String,
}

impl Workspace {
    /// The absolute host path of the workspace directory (its address).
    pub fn address(&self) -> String {
        if self.path.is_empty() {
            self.boundary.clone()
        } else {
            format!("{}/{}", self.boundary.trim_end_matches('/'), self.path)
        }
    }
}
