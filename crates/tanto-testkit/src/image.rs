//! The busybox test image, built exactly like the conformance suite's
//! `fixtures.py build_busybox_image`: Debian's static `/bin/busybox`, one
//! symlink per applet, `/etc/passwd` with root and nobody (65534),
//! `/etc/group`, `/tmp` 1777, a reproducible tar (sorted by name, mtime 0,
//! uid/gid 0, user/group `root`, ustar headers as Python's `tarfile` writes
//! them, so the uncompressed layer — the diff_id — and the config are
//! byte-identical to the suite's), gzip, an OCI manifest.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const BUSYBOX_BIN: &str = "/bin/busybox";
/// Debian's busybox-static for arm64, unpacked by `scripts/setup.sh`
/// (`apt-get download busybox-static:arm64`): the arm64 half of the
/// multi-platform busybox image.
pub const BUSYBOX_ARM64_BIN: &str = "/var/lib/tanto-fixtures/busybox-static-arm64/bin/busybox";
pub const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An image as the three blobs a registry stores (one layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The config JSON.
    pub config: Vec<u8>,
    /// The gzip-compressed layer blob.
    pub layer: Vec<u8>,
    /// The manifest JSON.
    pub manifest: Vec<u8>,
    /// `sha256:` of the uncompressed layer tar.
    pub diff_id: String,
    /// The manifest's media type (OCI unless converted).
    pub manifest_media_type: String,
}

impl Image {
    pub fn config_digest(&self) -> String {
        sha256_digest(&self.config)
    }
    pub fn layer_digest(&self) -> String {
        sha256_digest(&self.layer)
    }
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
    /// (digest, bytes) of every blob, layer first.
    pub fn blobs(&self) -> Vec<(String, &[u8])> {
        vec![(self.layer_digest(), &self.layer[..]), (self.config_digest(), &self.config[..])]
    }

    /// Builds an image from an uncompressed layer tar and a config `{"Env":..,"Cmd":..}`.
    pub fn from_layer_tar(
        layer_tar: &[u8],
        container_config: Value,
        architecture: &str,
        created_by: &str,
    ) -> Result<Image> {
        let diff_id = sha256_digest(layer_tar);
        let layer = gzip(layer_tar)?;
        // keys sorted, compact: what Python's json.dumps(sort_keys=True, separators=(",", ":")) writes
        let config = json!({
            "architecture": architecture,
            "config": sorted(container_config),
            "created": EPOCH,
            "history": [{"created": EPOCH, "created_by": created_by}],
            "os": "linux",
            "rootfs": {"diff_ids": [diff_id], "type": "layers"},
        });
        let config = serde_json::to_vec(&config)?;
        Ok(Image::assemble(config, layer, diff_id, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP))
    }

    /// An OCI image from a stored config and gzip layer (one layer; the
    /// diff_id is the config's first).
    pub fn from_blobs(config: Vec<u8>, layer: Vec<u8>) -> Result<Image> {
        let v: Value = serde_json::from_slice(&config).context("parsing the image config")?;
        let diff_id =
            v["rootfs"]["diff_ids"][0].as_str().context("image config has no rootfs.diff_ids[0]")?.to_string();
        Ok(Image::assemble(config, layer, diff_id, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP))
    }

    fn assemble(
        config: Vec<u8>,
        layer: Vec<u8>,
        diff_id: String,
        manifest_type: &str,
        config_type: &str,
        layer_type: &str,
    ) -> Image {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256_digest(&config), "size": config.len()},
            "layers": [{"mediaType": layer_type, "digest": sha256_digest(&layer), "size": layer.len()}],
        });
        let manifest = serde_json::to_vec(&manifest).expect("manifest serialises");
        Image { config, layer, manifest, diff_id, manifest_media_type: manifest_type.to_string() }
    }

    /// The same image with Docker schema 2 media types (manifest, config, layer).
    pub fn to_docker(&self) -> Image {
        Image::assemble(
            self.config.clone(),
            self.layer.clone(),
            self.diff_id.clone(),
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            DOCKER_LAYER_GZIP,
        )
    }

    /// The same image with another architecture in its config (and so other digests).
    pub fn with_architecture(&self, architecture: &str) -> Result<Image> {
        let mut config: Value = serde_json::from_slice(&self.config)?;
        config["architecture"] = json!(architecture);
        let config = serde_json::to_vec(&config)?;
        let (mt, ct, lt) = if self.manifest_media_type == DOCKER_MANIFEST {
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP)
        } else {
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP)
        };
        Ok(Image::assemble(config, self.layer.clone(), self.diff_id.clone(), mt, ct, lt))
    }
}

/// An OCI image index over `(image, os, architecture, variant)`; returns its JSON.
pub fn image_index(entries: &[(&Image, &str, &str, Option<&str>)]) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(img, os, arch, variant)| {
            let mut platform = json!({"architecture": arch, "os": os});
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            json!({
                "mediaType": img.manifest_media_type,
                "digest": img.manifest_digest(),
                "size": img.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
        .expect("index serialises")
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}

/// gzip level 6, mtime 0, OS "unix" (the header zlib writes).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut enc: GzEncoder<Vec<u8>> = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::with_capacity(data.len() / 2), flate2::Compression::new(6));
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// The OCI/Go name of the host CPU (`amd64`, `arm64`, ...).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The ELF machine (`e_machine`) of an executable: 0x3e x86-64, 0xb7 aarch64.
pub fn elf_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let b = [bytes[18], bytes[19]];
    Some(if bytes[5] == 1 { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
}

/// True if `path` is an ELF executable without a program interpreter.
fn is_static_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return false;
    }
    let is64 = bytes[4] == 2;
    let le = bytes[5] == 1;
    let u16_at = |o: usize| -> usize {
        let b = [bytes[o], bytes[o + 1]];
        (if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) }) as usize
    };
    let u32_at = |o: usize| -> u64 {
        let b: [u8; 4] = bytes[o..o + 4].try_into().unwrap();
        (if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }) as u64
    };
    let u64_at = |o: usize| -> u64 {
        let b: [u8; 8] = bytes[o..o + 8].try_into().unwrap();
        if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(32) as usize, u16_at(54), u16_at(56))
    } else {
        (u32_at(28) as usize, u16_at(42), u16_at(44))
    };
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > bytes.len() {
            return false;
        }
        if u32_at(o) == 3 {
            return false; // PT_INTERP
        }
    }
    true
}

/// The applets busybox lists, sorted, without `busybox` itself.
pub fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running `{} --list`", busybox.display()))?;
    if !out.status.success() {
        bail!("`{} --list` failed: {}", busybox.display(), String::from_utf8_lossy(&out.stderr));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|n| *n != "busybox" && !n.contains('/'))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// A tar writer that produces the bytes Python's `tarfile` (3.11+, PAX_FORMAT,
/// plain ustar headers when nothing needs PAX) writes for the same entries.
pub struct PyTar {
    out: Vec<u8>,
}

impl Default for PyTar {
    fn default() -> Self {
        PyTar::new()
    }
}

impl PyTar {
    pub fn new() -> PyTar {
        PyTar { out: Vec::new() }
    }

    fn itn(field: &mut [u8], v: u64) {
        let s = format!("{:0w$o}", v, w = field.len() - 1);
        assert_eq!(s.len(), field.len() - 1, "number too large for a ustar field");
        field[..s.len()].copy_from_slice(s.as_bytes());
        field[s.len()] = 0;
    }

    fn stn(field: &mut [u8], s: &str) {
        assert!(s.len() <= field.len(), "`{s}` too long for a ustar field");
        field[..s.len()].copy_from_slice(s.as_bytes());
    }

    /// `kind`: b'0' file, b'5' directory, b'2' symlink.
    pub fn entry(&mut self, name: &str, kind: u8, mode: u32, data: &[u8], link: &str) {
        let mut h = [0u8; 512];
        let name = if kind == b'5' && !name.ends_with('/') { format!("{name}/") } else { name.to_string() };
        Self::stn(&mut h[0..100], &name);
        Self::itn(&mut h[100..108], (mode & 0o7777) as u64);
        Self::itn(&mut h[108..116], 0);
        Self::itn(&mut h[116..124], 0);
        Self::itn(&mut h[124..136], data.len() as u64);
        Self::itn(&mut h[136..148], 0);
        h[148..156].fill(b' ');
        h[156] = kind;
        Self::stn(&mut h[157..257], link);
        h[257..265].copy_from_slice(b"ustar\x0000");
        Self::stn(&mut h[265..297], "root");
        Self::stn(&mut h[297..329], "root");
        // devmajor/devminor stay NUL for non-devices; prefix is empty
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        let chk = format!("{sum:06o}\0");
        h[148..155].copy_from_slice(chk.as_bytes());
        self.out.extend_from_slice(&h);
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    /// Two zero blocks, then zeros up to a multiple of 10240 bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        let pad = (10240 - self.out.len() % 10240) % 10240;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self.out
    }
}

/// The uncompressed busybox layer tar.
pub fn busybox_rootfs_tar(busybox: &Path) -> Result<Vec<u8>> {
    busybox_rootfs_tar_with(busybox, busybox)
}

/// The busybox layer tar of `busybox` (any architecture) with the applets
/// `applets_from` lists (a busybox this machine runs, of the same Debian
/// version).
pub fn busybox_rootfs_tar_with(busybox: &Path, applets_from: &Path) -> Result<Vec<u8>> {
    let binary = std::fs::read(busybox).with_context(|| {
        format!("`{}` not found: install it with `apt-get install -y busybox-static`", busybox.display())
    })?;
    if !is_static_elf(&binary) {
        bail!(
            "`{}` is dynamically linked; the image needs the static build (`apt-get install -y busybox-static`)",
            busybox.display()
        );
    }
    let applets = busybox_applets(applets_from)?;
    let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
    let group = "root:x:0:\nnogroup:x:65534:\n";

    enum Kind<'a> {
        Dir(u32),
        File(u32, &'a [u8]),
        Link(String),
    }
    let mut entries: Vec<(String, Kind)> = Vec::new();
    for d in ["bin", "dev", "etc", "home", "proc", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var"] {
        entries.push((d.into(), Kind::Dir(0o755)));
    }
    entries.push(("root".into(), Kind::Dir(0o700)));
    entries.push(("tmp".into(), Kind::Dir(0o1777)));
    entries.push(("bin/busybox".into(), Kind::File(0o755, &binary)));
    for a in &applets {
        entries.push((format!("bin/{a}"), Kind::Link("busybox".into())));
    }
    entries.push(("etc/passwd".into(), Kind::File(0o644, passwd.as_bytes())));
    entries.push(("etc/group".into(), Kind::File(0o644, group.as_bytes())));
    // Python sorts by name (stable): by code point, which is byte order here
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut tar = PyTar::new();
    for (name, kind) in &entries {
        match kind {
            Kind::Dir(mode) => tar.entry(name, b'5', *mode, &[], ""),
            Kind::File(mode, data) => tar.entry(name, b'0', *mode, data, ""),
            Kind::Link(target) => tar.entry(name, b'2', 0o777, &[], target),
        }
    }
    Ok(tar.finish())
}

/// The busybox image from `busybox` (normally `/bin/busybox`).
pub fn busybox_image_from(busybox: &Path) -> Result<Image> {
    let tar = busybox_rootfs_tar(busybox)?;
    Image::from_layer_tar(
        &tar,
        json!({"Env": [format!("PATH={IMAGE_PATH}")], "Cmd": ["sh"]}),
        host_arch(),
        "tanto conformance fixtures.py: busybox-static rootfs",
    )
}

/// The busybox image for arm64 from Debian's arm64 busybox-static at
/// [`BUSYBOX_ARM64_BIN`] (its applets listed by this machine's busybox;
/// built once per process).
pub fn busybox_arm64_image() -> Result<Image> {
    static IMAGE: OnceLock<std::result::Result<Image, String>> = OnceLock::new();
    IMAGE.get_or_init(|| build_busybox_arm64_image().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
}

fn build_busybox_arm64_image() -> Result<Image> {
    let path = Path::new(BUSYBOX_ARM64_BIN);
    let binary = std::fs::read(path).with_context(|| {
        format!("`{BUSYBOX_ARM64_BIN}` not found: scripts/setup.sh unpacks it (apt-get download busybox-static:arm64)")
    })?;
    if elf_machine(&binary) != Some(0xb7) {
        bail!("`{BUSYBOX_ARM64_BIN}` is not an aarch64 executable");
    }
    let tar = busybox_rootfs_tar_with(path, Path::new(BUSYBOX_BIN))?;
    Image::from_layer_tar(
        &tar,
        json!({"Env": [format!("PATH={IMAGE_PATH}")], "Cmd": ["sh"]}),
        "arm64",
        "tanto fixtures: busybox-static (arm64) rootfs",
    )
}

/// The busybox image (built once per process).
pub fn busybox_image() -> Result<Image> {
    static IMAGE: OnceLock<std::result::Result<Image, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| busybox_image_from(Path::new(BUSYBOX_BIN)).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}
