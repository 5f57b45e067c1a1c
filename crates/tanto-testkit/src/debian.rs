//! Debian images built with `mmdebstrap` (minbase, bookworm, from the apt
//! mirror the host is configured with): the Debian+python image of benchmark
//! B6 and, with pip, the base of the slow-tier Python pipeline test. One code
//! path for both, so the bench and the tests pull the same kind of image.
//!
//! The rootfs is packed as one layer (GNU tar: sorted, mtime 0, uid/gid 0,
//! xattrs), gzip level 6 (the same encoder as the busybox fixture), with an
//! OCI config and manifest. The built blobs are cached per month in
//! `${TANTO_CACHE:-/var/cache/tanto}/<name>-<YYYYMM>/` (the rootfs itself is
//! removed after packing); a cache miss takes one to three minutes and needs
//! root and the apt mirror.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::image::{host_arch, Image, IMAGE_PATH};

/// What goes into one Debian image.
#[derive(Debug, Clone, Copy)]
pub struct DebianImage {
    /// Cache directory name and repository (`library/<name>`).
    pub name: &'static str,
    /// `mmdebstrap --include` packages (no Recommends, as mmdebstrap does).
    pub packages: &'static [&'static str],
    /// `mmdebstrap --customize-hook` shell snippets (`$1` is the rootfs).
    pub hooks: &'static [&'static str],
    /// The image's `Cmd`.
    pub cmd: &'static [&'static str],
}

/// Benchmark B6: `mmdebstrap --variant=minbase --include=python3 bookworm`
/// (≈77 MB gzip, 224 MB unpacked).
pub const DEBIAN_PYTHON: DebianImage =
    DebianImage { name: "debian-python", packages: &["python3"], hooks: &[], cmd: &["python3"] };

/// The slow-tier pipeline's base, shaped like Docker's `python:3-slim`:
/// python3 with pip, `python` on PATH, and no `EXTERNALLY-MANAGED` marker,
/// so `pip install` installs into the system interpreter (/usr/local).
pub const DEBIAN_PYTHON_PIP: DebianImage = DebianImage {
    name: "debian-python-pip",
    packages: &["python3", "python3-pip", "python-is-python3"],
    hooks: &[r#"rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED"#],
    cmd: &["python3"],
};

/// A plain Debian (bookworm minbase with CA certificates), standing in for
/// `debian:bookworm-slim`: the base of tanto's own image (`deploy/image/`).
pub const DEBIAN_BASE: DebianImage =
    DebianImage { name: "debian", packages: &["ca-certificates"], hooks: &[], cmd: &["bash"] };

/// The images by name (for `tanto-fixtures debian-image --name`).
pub const DEBIAN_IMAGES: &[DebianImage] = &[DEBIAN_PYTHON, DEBIAN_PYTHON_PIP, DEBIAN_BASE];

impl DebianImage {
    pub fn by_name(name: &str) -> Option<DebianImage> {
        DEBIAN_IMAGES.iter().copied().find(|i| i.name == name)
    }

    /// The repository the image is pushed under.
    pub fn repository(&self) -> String {
        format!("library/{}", self.name)
    }

    fn created_by(&self) -> String {
        format!("mmdebstrap --variant=minbase --include={} bookworm", self.packages.join(","))
    }

    /// Builds the image (or loads it from the cache).
    pub fn build(&self) -> Result<Image> {
        let dir = cache_root().join(format!("{}-{}", self.name, year_month()?));
        let (layer_path, config_path) = (dir.join("layer.tar.gz"), dir.join("config.json"));
        if !config_path.exists() {
            self.build_into(&dir).with_context(|| format!("building the {} image", self.name))?;
        }
        let layer = std::fs::read(&layer_path).with_context(|| format!("reading `{}`", layer_path.display()))?;
        let config = std::fs::read(&config_path).with_context(|| format!("reading `{}`", config_path.display()))?;
        Image::from_blobs(config, layer)
    }

    /// Builds and pushes the image to `addr` as `library/<name>:latest`;
    /// returns `addr/library/<name>:latest`.
    pub fn publish(&self, addr: &str) -> Result<String> {
        let image = self.build()?;
        crate::push_image(addr, &self.repository(), &["latest"], &image)
            .with_context(|| format!("pushing {} to {addr}", self.name))?;
        Ok(format!("{addr}/{}:latest", self.repository()))
    }

    fn build_into(&self, dir: &Path) -> Result<()> {
        for tool in ["mmdebstrap", "tar"] {
            if which(tool).is_none() {
                bail!("`{tool}` is missing (apt-get install -y mmdebstrap)");
            }
        }
        let parent = dir.parent().context("cache dir has no parent")?;
        std::fs::create_dir_all(parent).with_context(|| format!("creating `{}`", parent.display()))?;
        let tmp = tempfile::Builder::new().prefix(&format!(".{}-", self.name)).tempdir_in(parent)?;
        let rootfs = tmp.path().join("rootfs");
        let started = std::time::Instant::now();
        eprintln!("building {}: {} (cached in {})", self.name, self.created_by(), dir.display());
        let mut cmd = Command::new("mmdebstrap");
        cmd.arg("--variant=minbase").arg(format!("--include={}", self.packages.join(",")));
        for hook in self.hooks {
            cmd.arg(format!("--customize-hook={hook}"));
        }
        cmd.arg("bookworm").arg(&rootfs);
        run(&mut cmd, "mmdebstrap")?;
        let tar = Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--xattrs", "-C"])
            .arg(&rootfs)
            .args(["-cf", "-", "."])
            .stderr(Stdio::inherit())
            .output()
            .context("running tar")?;
        if !tar.status.success() {
            bail!("tar of `{}` exited with {}", rootfs.display(), tar.status);
        }
        let config = json!({
            "Env": [format!("PATH={IMAGE_PATH}")],
            "Cmd": self.cmd,
        });
        let image = Image::from_layer_tar(&tar.stdout, config, host_arch(), &self.created_by())?;
        drop(tar);
        std::fs::remove_dir_all(&rootfs).ok();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out)?;
        std::fs::write(out.join("layer.tar.gz"), &image.layer)?;
        std::fs::write(out.join("config.json"), &image.config)?;
        // another process may have finished first: theirs is as good as ours
        if std::fs::rename(&out, dir).is_err() && !dir.join("config.json").exists() {
            bail!("could not move the image into `{}`", dir.display());
        }
        eprintln!(
            "built {} in {:.1}s: layer {} ({} MB gzip)",
            self.name,
            started.elapsed().as_secs_f64(),
            image.layer_digest(),
            image.layer.len() >> 20
        );
        Ok(())
    }
}

fn cache_root() -> PathBuf {
    std::env::var_os("TANTO_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/tanto"))
}

fn year_month() -> Result<String> {
    let out = Command::new("date").arg("+%Y%m").output().context("running date")?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|p| p.is_file()))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String =
            err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        bail!("{what} exited with {}:\n{tail}", out.status);
    }
    Ok(())
}
