//! tanto-testkit: fixtures for tests — the busybox image built from Debian's
//! busybox-static (the same image as the conformance suite's `fixtures.py`),
//! a local Debian `docker-registry` started on a free port, pushing images to
//! it, the engine config that mirrors docker.io to it, and Debian images
//! built with mmdebstrap (`debian`: the B6 benchmark's debian+python, and
//! the slow-tier pipeline's python+pip), and an OTLP trace receiver
//! (`otlp`: HTTP/protobuf and gRPC on loopback). It also holds the one list of what
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
pub mod otlp;
pub mod prereq;
pub mod python_image;
pub mod registry;
pub mod tmux;

pub use debian::{DebianImage, DEBIAN_BASE, DEBIAN_IMAGES, DEBIAN_PYTHON, DEBIAN_PYTHON_PIP};
pub use image::{
    busybox_arm64_image, busybox_image, busybox_image_from, busybox_rootfs_tar, host_arch, image_index, sha256_digest,
    Image,
};
pub use registry::{engine_config, get_manifest, push_blob, push_image, push_manifest, write_engine_config, Registry};

/// The repository and tags the busybox image is pushed under, as in the
/// conformance suite.
pub const BUSYBOX_REPOSITORY: &str = "library/busybox";
pub const BUSYBOX_TAGS: &[&str] = &["1.36", "latest"];

/// What [`publish_busybox`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedBusybox {
    /// The host's busybox image (what `:1.36` serves).
    pub manifest_digest: String,
    /// The arm64 image's manifest, when this machine has Debian's arm64
    /// busybox ([`image::BUSYBOX_ARM64_BIN`]) and is not arm64 itself.
    pub arm64_manifest_digest: Option<String>,
    /// The index of both that `:latest` serves then.
    pub index_digest: Option<String>,
}

impl PublishedBusybox {
    /// The digest `tag` serves.
    pub fn digest_of(&self, tag: &str) -> &str {
        match (&self.index_digest, tag) {
            (Some(index), "latest") => index,
            _ => &self.manifest_digest,
        }
    }
}

/// A docker-registry in `dir/registry` with busybox pushed to it
/// ([`publish_busybox`]) and an engine config at `dir/engine.toml` mirroring
/// docker.io to it ([`write_engine_config`]): the set-up of tests that run
/// the `tanto` binary. Returns the registry (stopped on drop) and the config's path.
pub fn busybox_registry(dir: &std::path::Path) -> anyhow::Result<(Registry, std::path::PathBuf)> {
    let registry = Registry::start(&dir.join("registry"))?;
    publish_busybox(&registry.address())?;
    let config = dir.join("engine.toml");
    write_engine_config(&config, &registry.address())?;
    Ok((registry, config))
}

/// Builds busybox and pushes it to `addr` as `library/busybox:1.36` (the
/// host's image) and `:latest` — a multi-platform index of the host's image
/// and the arm64 one when Debian's arm64 busybox is there (see
/// [`PublishedBusybox`]), else the host's image too.
pub fn publish_busybox(addr: &str) -> anyhow::Result<PublishedBusybox> {
    let host = busybox_image()?;
    let manifest_digest = push_image(addr, BUSYBOX_REPOSITORY, &["1.36"], &host)?;
    let arm64 = if host_arch() != "arm64" && prereq::Need::BusyboxArm64.missing().is_none() {
        Some(busybox_arm64_image()?)
    } else {
        None
    };
    let Some(arm64) = arm64 else {
        push_image(addr, BUSYBOX_REPOSITORY, &["latest"], &host)?;
        return Ok(PublishedBusybox { manifest_digest, arm64_manifest_digest: None, index_digest: None });
    };
    let arm64_manifest_digest = push_image(addr, BUSYBOX_REPOSITORY, &[], &arm64)?;
    let index = image_index(&[(&host, "linux", host_arch(), None), (&arm64, "linux", "arm64", Some("v8"))]);
    let index_digest = push_manifest(addr, BUSYBOX_REPOSITORY, "latest", image::OCI_INDEX, &index)?;
    anyhow::ensure!(index_digest.is_empty() || index_digest == sha256_digest(&index), "the registry changed the index");
    Ok(PublishedBusybox {
        manifest_digest,
        arm64_manifest_digest: Some(arm64_manifest_digest),
        index_digest: Some(sha256_digest(&index)),
    })
}

/// Runs `bin` with `args` and `env` added, `stdin` written to it (nothing
/// when `None`); its output.
pub fn run_with_input(
    bin: &std::path::Path,
    env: &[(&str, &std::path::Path)],
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    child.stdin.take().expect("piped").write_all(stdin.unwrap_or("").as_bytes()).expect("writing stdin");
    child.wait_with_output().expect("waiting for the process")
}
