//! The stand-in for Docker Hub's `python:3.14-slim` (the default base image
//! of Dagger's Python module runtime): the conformance suite's
//! `modules/pyimage.sh` builds it with mmdebstrap (Debian forky, python 3.14,
//! pip, the host's extra CA certificates), caches it per month as an OCI
//! layout, and pushes it with skopeo. One image for the conformance suite
//! and tanto's own module tests.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The repository and tag modules pull (`python:3.14-slim` through the
/// docker.io mirror).
pub const PYTHON_IMAGE_REF: &str = "library/python:3.14-slim";

/// `pyimage.sh` of the conformance suite, checked out beside the repository.
pub fn script() -> PathBuf {
    crate::prereq::workspace().join("../shared/conformance/modules/pyimage.sh")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Why the image cannot be pushed here, if it cannot.
pub(crate) fn missing() -> Option<String> {
    if !script().exists() {
        return Some(format!("`{}` is missing (check out shared/ beside the repository)", script().display()));
    }
    if !on_path("skopeo") {
        return Some("`skopeo` is not installed (apt-get install -y skopeo)".into());
    }
    if !on_path("mmdebstrap") {
        return Some(
            "`mmdebstrap` is not installed (apt-get install -y mmdebstrap): it builds the python image".into(),
        );
    }
    None
}

/// Builds (or takes from the month's cache) and pushes the image to the
/// registry at `addr` as [`PYTHON_IMAGE_REF`].
pub fn publish_python_image(addr: &str) -> Result<()> {
    let out = Command::new("bash")
        .arg(script())
        .arg(addr)
        .arg(PYTHON_IMAGE_REF)
        .output()
        .with_context(|| format!("running `{}`", script().display()))?;
    if !out.status.success() {
        bail!(
            "`pyimage.sh {addr} {PYTHON_IMAGE_REF}` exited with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
