//! What tests need from the machine, checked in one place.
//!
//! A test names its prerequisites ([`Need`]); the harness ([`crate::harness`])
//! checks them when the test binary starts. The rule: a test whose
//! prerequisites are missing is reported as *skipped* (ignored), never as
//! passed — and when `CI` is set ([`ci`]) it fails instead, with a message
//! naming what is missing and how to install it. `scripts/setup.sh` installs
//! everything listed here but the conformance fixtures (shared/) and the
//! network.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// One thing a test needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Need {
    /// Running as root (mounts, namespaces, device nodes, containers).
    Root,
    /// Debian's `docker-registry` (the fixture registry).
    Registry,
    /// Debian's static `/bin/busybox` (the busybox image and root filesystems).
    Busybox,
    /// Debian's arm64 busybox-static unpacked at `image::BUSYBOX_ARM64_BIN`
    /// (the arm64 half of the multi-platform busybox image).
    BusyboxArm64,
    /// arm64 binaries run here through QEMU: an enabled binfmt_misc handler
    /// with the F (fix-binary) flag, so it works inside containers — or
    /// binfmt_misc mounted and QEMU's aarch64 emulator installed, so an
    /// engine (root) registers that handler at start.
    QemuArm64,
    /// The `crun` OCI runtime.
    Crun,
    /// The `runc` OCI runtime.
    Runc,
    /// An OCI runtime: `crun` or `runc` (what an engine picks).
    OciRuntime,
    /// `iptables` (bridge networking: NAT rules).
    Iptables,
    /// `podman` (the Docker-compatible local image store).
    Podman,
    /// `git`.
    Git,
    /// A C compiler that links static binaries (`cc -static`).
    StaticCc,
    /// A Python with the Dagger SDK (`dagger-io`): see [`python_with`].
    PythonSdk,
    /// A Python with `graphql-core`: see [`python_with`].
    PythonGraphql,
    /// `python3` whose `crypt` module makes bcrypt hashes (htpasswd files).
    PythonBcrypt,
    /// `skopeo` (tarballs written by another tool).
    Skopeo,
    /// The conformance suite's `fixtures.py` in `../shared/conformance`.
    ConformanceFixtures,
    /// The host resolves `deb.debian.org` (containers reach the package mirror).
    DebianMirror,
    /// The stand-in for Docker Hub's `python:3.14-slim` can be pushed: the
    /// conformance suite's `modules/pyimage.sh` with `skopeo`, and its cached
    /// image or `mmdebstrap` to build it (see [`crate::python_image`]).
    PythonImage,
    /// The host resolves PyPI (`pypi.org`, `files.pythonhosted.org`): module
    /// runtimes install uv and dagger-io's dependencies from it.
    Pypi,
    /// `tmux` (a real terminal for the live progress view).
    Tmux,
}

impl Need {
    /// Every prerequisite, in the order `tanto-fixtures prereqs` lists them.
    pub const ALL: &'static [Need] = &[
        Need::Root,
        Need::Registry,
        Need::Busybox,
        Need::BusyboxArm64,
        Need::QemuArm64,
        Need::Crun,
        Need::Runc,
        Need::OciRuntime,
        Need::Iptables,
        Need::Podman,
        Need::Git,
        Need::StaticCc,
        Need::PythonSdk,
        Need::PythonGraphql,
        Need::PythonBcrypt,
        Need::Skopeo,
        Need::ConformanceFixtures,
        Need::DebianMirror,
        Need::PythonImage,
        Need::Pypi,
        Need::Tmux,
    ];

    /// Why this prerequisite is missing and how to get it, or `None` when it
    /// is there. Checked once per process.
    pub fn missing(self) -> Option<&'static str> {
        static CHECKED: [OnceLock<Option<String>>; Need::ALL.len()] = [const { OnceLock::new() }; Need::ALL.len()];
        let index = Need::ALL.iter().position(|n| *n == self).expect("every need is in Need::ALL");
        CHECKED[index].get_or_init(|| self.check()).as_deref()
    }

    fn check(self) -> Option<String> {
        let apt = |what: &str, package: &str| format!("{what} (apt-get install -y {package}, or run scripts/setup.sh)");
        match self {
            Need::Root => {
                // SAFETY: geteuid has no preconditions and cannot fail.
                let root = unsafe { libc::geteuid() } == 0;
                (!root).then(|| "not running as root: these tests mount filesystems and run containers; run them as root (scripts/test.sh does)".into())
            }
            Need::Registry => (!Path::new(crate::registry::REGISTRY_BIN).exists())
                .then(|| apt(&format!("`{}` is missing", crate::registry::REGISTRY_BIN), "docker-registry")),
            Need::Busybox => (!Path::new(crate::image::BUSYBOX_BIN).exists())
                .then(|| apt(&format!("`{}` is missing", crate::image::BUSYBOX_BIN), "busybox-static")),
            Need::BusyboxArm64 => {
                let bin = crate::image::BUSYBOX_ARM64_BIN;
                let is_arm64 = std::fs::read(bin).ok().and_then(|b| crate::image::elf_machine(&b)) == Some(0xb7);
                (!is_arm64).then(|| {
                    format!("`{bin}` is missing: run scripts/setup.sh (it unpacks `apt-get download busybox-static:arm64` there)")
                })
            }
            Need::QemuArm64 => qemu_arm64_missing(),
            Need::Crun => (!runs("crun", &["--version"])).then(|| apt("`crun` is not installed", "crun")),
            Need::Runc => (!runs("runc", &["--version"])).then(|| apt("`runc` is not installed", "runc")),
            Need::OciRuntime => (Need::Crun.missing().is_some() && Need::Runc.missing().is_some())
                .then(|| apt("neither `crun` nor `runc` is installed", "crun")),
            Need::Iptables => {
                (!runs("iptables-save", &["--version"])).then(|| apt("`iptables-save` is not installed", "iptables"))
            }
            Need::Podman => (!runs("podman", &["--version"])).then(|| apt("`podman` is not installed", "podman")),
            Need::Git => (!runs("git", &["--version"])).then(|| apt("`git` is not installed", "git")),
            Need::StaticCc => (!static_cc_works()).then(|| {
                apt("`cc -static` cannot link a static binary", "gcc libc6-dev")
                    .replace(", or run scripts/setup.sh", "")
            }),
            Need::PythonSdk => python_with("dagger").err(),
            Need::PythonGraphql => python_with("graphql").err(),
            Need::PythonBcrypt => (!python_makes_bcrypt()).then(|| {
                "`python3` cannot make bcrypt hashes with its `crypt` module (Python 3.12 or older on glibc has it)"
                    .into()
            }),
            Need::Skopeo => (!runs("skopeo", &["--version"])).then(|| apt("`skopeo` is not installed", "skopeo")),
            Need::Tmux => (!runs("tmux", &["-V"])).then(|| apt("`tmux` is not installed", "tmux")),
            Need::ConformanceFixtures => (!conformance_fixtures().exists()).then(|| {
                format!(
                    "the conformance suite's fixtures are missing at `{}` (check out shared/ beside the repository)",
                    conformance_fixtures().display()
                )
            }),
            Need::DebianMirror => std::net::ToSocketAddrs::to_socket_addrs(&("deb.debian.org", 80))
                .is_err()
                .then(|| "the host cannot resolve `deb.debian.org` (containers need the host's network)".into()),
            Need::PythonImage => crate::python_image::missing(),
            Need::Pypi => ["pypi.org", "files.pythonhosted.org"]
                .iter()
                .find(|h| std::net::ToSocketAddrs::to_socket_addrs(&(**h, 443)).is_err())
                .map(|h| format!("the host cannot resolve `{h}` (module runtimes install packages from PyPI)")),
        }
    }
}

/// The messages of the prerequisites in `needs` that are missing.
pub fn missing(needs: &[Need]) -> Vec<&'static str> {
    needs.iter().filter_map(|n| n.missing()).collect()
}

/// For a unit test with prerequisites, which cannot use the harness (libtest
/// cannot mark a test skipped once it runs): whether the test can go on. When
/// something is missing it fails under CI, naming what; otherwise it prints why
/// it is skipped and returns `false` — and then counts as passed, so keep such
/// unit tests few (integration tests under the harness report a real skip).
pub fn unit_test_can_run(test: &str, needs: &[Need]) -> bool {
    let missing = missing(needs);
    if missing.is_empty() {
        return true;
    }
    assert!(!ci(), "{}", crate::harness::missing_message(test, &missing, true));
    eprintln!("skipped {test}: {}", missing.join("; "));
    false
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`):
/// then a missing prerequisite fails its test instead of skipping it.
pub fn ci() -> bool {
    is_ci(std::env::var("CI").ok().as_deref())
}

fn is_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// The workspace root (where `target/venv` lives).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `fixtures.py` of the conformance suite, checked out beside the repository.
pub fn conformance_fixtures() -> PathBuf {
    workspace().join("../shared/conformance/fixtures.py")
}

/// The first Python that imports `module`: `TANTO_PYTHON` if set, else the venv
/// `scripts/setup.sh` makes (`target/venv`), else `python3`; or why there is none.
pub fn python_with(module: &str) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("TANTO_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![workspace().join("target/venv/bin/python"), "python3".into()],
    };
    candidates.iter().find(|p| runs(p, &["-c", &format!("import {module}")])).cloned().ok_or_else(|| {
        format!(
            "no Python imports `{module}` among {candidates:?}: run scripts/setup.sh (it makes target/venv with dagger-io) or set TANTO_PYTHON"
        )
    })
}

/// Whether `program args` starts and exits 0.
fn runs(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why arm64 binaries do not run in containers here, if they do not: an
/// enabled binfmt_misc handler for aarch64 ELF binaries with the F flag.
fn qemu_arm64_missing() -> Option<String> {
    let how = "install qemu-user-static and register its binfmt_misc handlers with the F flag (scripts/setup.sh does)";
    if crate::host_arch() == "arm64" {
        return None;
    }
    let dir = Path::new("/proc/sys/fs/binfmt_misc");
    if !dir.join("register").exists() {
        return Some(format!("binfmt_misc is not mounted at {}: {how}", dir.display()));
    }
    let fixed_aarch64 = std::fs::read_dir(dir).ok()?.flatten().any(|e| {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let has =
            |prefix: &str, test: &dyn Fn(&str) -> bool| text.lines().any(|l| l.strip_prefix(prefix).is_some_and(test));
        text.lines().next() == Some("enabled")
            && has("flags: ", &|f| f.contains('F'))
            // e_machine 0xb7 (aarch64) at bytes 18-19 of a 64-bit little-endian ELF
            && has("magic ", &|m| m.starts_with("7f454c460201") && m.get(36..40) == Some("b700"))
    });
    let emulator = ["/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "/usr/bin/qemu-aarch64-static"];
    let engine_registers = emulator.iter().any(|p| Path::new(p).exists()) && Need::Root.missing().is_none();
    (!fixed_aarch64 && !engine_registers)
        .then(|| format!("no binfmt_misc handler with the F flag runs aarch64 binaries: {how}"))
}

fn static_cc_works() -> bool {
    let Ok(dir) = tempfile::tempdir() else { return false };
    let src = dir.path().join("t.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").is_ok()
        && runs("cc", &["-static", "-o", &dir.path().join("t").to_string_lossy(), &src.to_string_lossy()])
}

fn python_makes_bcrypt() -> bool {
    Command::new("python3")
        .args(["-W", "ignore", "-c", "import crypt; print(crypt.crypt('pw', crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"$2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_values() {
        // (CI value, is CI)
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some(""), false),
            (Some("0"), false),
            (Some("false"), false),
            (Some("FALSE"), false),
            (Some("true"), true),
            (Some("1"), true),
            (Some("yes"), true),
        ];
        for (value, want) in cases {
            assert_eq!(is_ci(*value), *want, "CI={value:?}");
        }
    }
}
