//! tanto-testkit: fixtures for tests — the busybox image built from Debian's
//! busybox-static (the same image as the conformance suite's `fixtures.py`),
//! a local Debian `docker-registry` started on a free port, pushing images to
//! it, the engine config that mirrors docker.io to it, and Debian images
//! built with mmdebstrap (`debian`: the B6 benchmark's debian+python, and
//! the slow-tier pipeline's python+pip). It also holds the one list of what
//! tests need from the machine (`prereq`) and the harness that reports a test
//! whose prerequisites are missing as skipped, or failed under `CI`
//! (`harness`, the [`tests!`] table).
//!
//! Invariants: nothing comes from the network; every process started here is
//! stopped by PID (never by name), and registries started with
//! [`Registry::start`] die with the test process.
//!
//! The binary `tanto-fixtures` (`serve` / `stop`) does the same for shell
//! scripts and the conformance set-up. Not for production code: no crate but
//! tests and that binary should depend on this one.

pub mod debian;
pub mod harness;
pub mod http;
pub mod image;
pub mod prereq;
pub mod registry;

pub use debian::{DebianImage, DEBIAN_IMAGES, DEBIAN_PYTHON, DEBIAN_PYTHON_PIP};
pub use image::{busybox_image, busybox_image_from, busybox_rootfs_tar, host_arch, image_index, sha256_digest, Image};
pub use registry::{engine_config, get_manifest, push_blob, push_image, push_manifest, write_engine_config, Registry};

/// The repository and tags the busybox image is pushed under, as in the
/// conformance suite.
pub const BUSYBOX_REPOSITORY: &str = "library/busybox";
pub const BUSYBOX_TAGS: &[&str] = &["1.36", "latest"];

/// Builds busybox and pushes it to `addr` as `library/busybox:1.36` and
/// `:latest`; returns the manifest digest.
pub fn publish_busybox(addr: &str) -> anyhow::Result<String> {
    push_image(addr, BUSYBOX_REPOSITORY, BUSYBOX_TAGS, &busybox_image()?)
}
