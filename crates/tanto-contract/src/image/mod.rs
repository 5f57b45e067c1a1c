//! Images: the config a container carries, an image resolved from a registry
//! or a tarball, and how images are written out.

mod healthcheck;

use std::collections::BTreeMap;

use serde::Serialize;
pub use tanto_model::Compression;
use tanto_model::{BlobSource, Digest, Ref};

pub use healthcheck::{format_duration, parse_duration, Healthcheck};

/// Image configuration carried by a container (the OCI `config` section).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<Port>,
    pub volumes: Vec<String>,
    pub stop_signal: String,
    /// Docker healthcheck (`withDockerHealthcheck`, Dockerfile `HEALTHCHECK`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub healthcheck: Option<Healthcheck>,
}

impl ImageConfig {
    pub fn env_get(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
    }

    pub fn env_set(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self.env.iter_mut().find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(name)) {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }

    pub fn env_remove(&mut self, name: &str) {
        self.env.retain(|kv| kv.split_once('=').map(|(k, _)| k).unwrap_or(kv) != name);
    }
}

/// An exposed port (`Port`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Port {
    pub port: i64,
    /// `TCP` or `UDP`.
    pub protocol: String,
    pub description: Option<String>,
    pub skip_healthcheck: bool,
}

/// An image resolved from a registry (tag resolved to a digest) or read from a tarball.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Normalised `host/repo:tag@sha256:...`.
    pub reference: String,
    pub platform: String,
    pub config: ImageConfig,
    /// Bottom layer first: (diff_id, where to fetch the blob).
    pub layers: Vec<(Digest, BlobSource)>,
}

/// One platform's container as an image is made of it.
#[derive(Debug, Clone)]
pub struct ImageVariant {
    /// The root filesystem; `None` = empty (such variants are left out).
    pub rootfs: Option<Ref>,
    pub platform: String,
    pub config: ImageConfig,
    /// The image the rootfs started from, for history entries.
    pub image_ref: Option<String>,
    /// OCI manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// How images are written (publish, export, asTarball).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Recompress every layer: `Some(Gzip | Zstd | Uncompressed)`; `None`
    /// keeps pulled layers as they are and writes new ones with gzip.
    pub forced_compression: Option<Compression>,
    /// Docker media types instead of OCI ones.
    pub docker_media_types: bool,
}
