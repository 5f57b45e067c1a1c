//! tanto-oci: OCI images for tanto — image references, the engine config's
//! registry section, resolving and fetching from registries (mirrors,
//! plain-HTTP hosts, token auth), image config JSON, and applying layers to
//! overlayfs directories.
//!
//! Invariants:
//! - Only this crate talks to registries. Every manifest and blob it hands out
//!   has had its digest checked against what was asked for.
//! - Blobs land in place atomically (temp file beside the target, fsync,
//!   rename); a failed or cancelled fetch leaves no file behind.
//! - Applying a layer never writes outside its destination directory: paths
//!   and hard-link targets are resolved inside it (`openat2(RESOLVE_IN_ROOT)`,
//!   through tanto-fs's `Root`; whiteouts and opaque markers are tanto-fs's too).
//! - Errors are typed; their messages name the image, host or file in
//!   backticks and say what to do.
//!
//! Must not depend on: namespaces or mounts (that is `tanto-exec`), the cache
//! index (`tanto-store`), GraphQL or the HTTP server.
//!
//! Map:
//!
//! - [`reference`] — `ImageRef` with Docker's normalisation.
//! - [`platform`] — `Platform` and index-entry matching.
//! - [`config`] — `EngineConfig` (BuildKit's registry format, other sections kept).
//! - [`registry`] — `Registry::resolve` / `fetch_blob`, errors.
//! - [`image`] — `ConfigBlob`, a tolerant model of the config JSON.
//! - [`layer`] — `apply_layer`, `unpack_or_copy` (Dockerfile `ADD` of a local tar);
//!   [`layer::diff`] — layer blobs from snapshot directories.
//! - [`registry`] push — `push_blob` / `push_manifest`; Docker's `config.json` credentials.
//! - [`tarball`] — OCI layout tarballs out, OCI / `docker save` tarballs in.
//! - [`build`] — manifests, configs and indexes of built images; their layout tarball.

pub mod build;
pub mod config;
pub mod image;
pub mod layer;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod tarball;

pub use config::{ConfigError, EngineConfig, RegistryConfig};
pub use image::ConfigBlob;
pub use layer::{apply_layer, LayerError, LayerStats};
pub use platform::Platform;
pub use reference::{ImageRef, RefError};
pub use registry::{BlobRepo, Credential, LayerDesc, OciError, Registry, RegistryAuth, ResolvedManifest};
