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
    /// `systemd-socket-activate` (systemd): socket activation as systemd does it.
    SocketActivate,
    /// An unprivileged user for the rootless tests, [`ROOTLESS_USER`], with
    /// 65536 or more subordinate UIDs and GIDs, and what rootless mode uses:
    /// `newuidmap`/`newgidmap` (uidmap), `slirp4netns`, a `/dev/net/tun`
    /// every user can open.
    RootlessUser,
    /// A second unprivileged user, [`ROOTLESS_SINGLE_USER`], with no
    /// subordinate IDs (rootless mode's single-ID fallback), and
    /// `slirp4netns` and a `/dev/net/tun` every user can open.
    RootlessSingleUser,
    /// A Python with the Dagger SDK that the rootless test users can run:
    /// see [`rootless_python`].
    RootlessPythonSdk,
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
        Need::SocketActivate,
        Need::RootlessUser,
        Need::RootlessSingleUser,
        Need::RootlessPythonSdk,
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
            Need::SocketActivate => (!runs("systemd-socket-activate", &["--version"]))
                .then(|| apt("`systemd-socket-activate` is not installed", "systemd")),
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
            Need::RootlessUser => rootless_user_missing(ROOTLESS_USER, true),
            Need::RootlessSingleUser => rootless_user_missing(ROOTLESS_SINGLE_USER, false),
            Need::RootlessPythonSdk => rootless_python().err(),
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

/// The user the rootless tests run tanto as (subordinate IDs: the full ID map).
pub const ROOTLESS_USER: &str = "tanto-rootless";
/// The user without subordinate IDs (rootless mode's single-ID fallback).
pub const ROOTLESS_SINGLE_USER: &str = "tanto-rootless-single";

/// A user of /etc/passwd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// User `name` of /etc/passwd.
pub fn host_user(name: &str) -> Option<HostUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(HostUser { name: name.to_string(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() })
    })
}

/// The first range (start, count) of `/etc/subuid`-style `file` for `user`
/// (by name or ID `id`).
pub fn subordinate_ids(file: &str, user: &str, id: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        let ours = f.len() == 3 && (f[0] == user || f[0].parse::<u32>().ok() == Some(id));
        let (start, count) = (f.get(1)?.parse::<u32>().ok()?, f.get(2)?.parse::<u32>().ok()?);
        (ours && count > 0).then_some((start, count))
    })
}

/// Why `user` cannot run the rootless tests, if it cannot: it exists, has 65536
/// or more subordinate IDs (`subordinate`) or none (not `subordinate`), and the
/// machine has what rootless mode uses.
fn rootless_user_missing(user: &str, subordinate: bool) -> Option<String> {
    let setup = "as root, run scripts/setup.sh (or `useradd -m USER` and scripts/rootless-user.sh USER)";
    let Some(u) = host_user(user) else {
        return Some(format!("no user `{user}` for the rootless tests: {setup}"));
    };
    let ranges = [("/etc/subuid", u.uid), ("/etc/subgid", u.gid)].map(|(f, id)| (f, subordinate_ids(f, user, id)));
    for (file, range) in ranges {
        match (subordinate, range) {
            (true, Some((_, count))) if count >= 65536 => {}
            (true, _) => return Some(format!("`{user}` has no range of 65536 IDs in {file}: {setup}")),
            (false, None) => {}
            (false, Some(_)) => {
                return Some(format!(
                    "`{user}` must have no subordinate IDs (the single-ID fallback) but {file} gives it some: remove its line (scripts/setup.sh does)"
                ))
            }
        }
    }
    let helpers: &[&str] = if subordinate { &["newuidmap", "newgidmap", "slirp4netns"] } else { &["slirp4netns"] };
    let on_path =
        |tool: &str| ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].iter().any(|d| Path::new(d).join(tool).is_file());
    if let Some(tool) = helpers.iter().find(|t| !on_path(t)) {
        let package = if tool.starts_with("new") { "uidmap" } else { tool };
        return Some(format!("`{tool}` is not installed (apt-get install -y {package}, or run scripts/setup.sh)"));
    }
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::metadata("/dev/net/tun") {
        Ok(m) if m.file_type().is_char_device() && m.permissions().mode() & 0o006 == 0o006 => None,
        Ok(_) => Some(
            "/dev/net/tun is not usable by every user (slirp4netns opens it): `chmod 0666 /dev/net/tun` as root, as udev does (scripts/setup.sh does)".into(),
        ),
        Err(e) => Some(format!("/dev/net/tun: {e} (`modprobe tun`)")),
    }
}

/// The venv `scripts/setup.sh` makes for the rootless tests: outside the
/// checkout, which may sit below a directory only root may enter.
pub const ROOTLESS_VENV: &str = "/var/lib/tanto-fixtures/venv-rootless";

/// A Python that imports `dagger` when run as [`ROOTLESS_USER`] (the rootless
/// tests run their SDK scripts as that user): `TANTO_ROOTLESS_PYTHON` if set,
/// else [`ROOTLESS_VENV`] (a venv of the system's python3 that
/// `scripts/setup.sh` makes), else `target/venv-rootless`, else `target/venv`; or why there is none. Only
/// root can check (it runs the candidates as the user).
pub fn rootless_python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("TANTO_ROOTLESS_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![
            PathBuf::from(ROOTLESS_VENV).join("bin/python"),
            workspace().join("target/venv-rootless/bin/python"),
            workspace().join("target/venv/bin/python"),
        ],
    };
    if Need::Root.missing().is_some() {
        return Err("only root can check which Python the rootless test user can run".into());
    }
    let user = host_user(ROOTLESS_USER).ok_or_else(|| format!("no user `{ROOTLESS_USER}`"))?;
    candidates
        .iter()
        .find(|p| {
            let (uid, gid) = (user.uid.to_string(), user.gid.to_string());
            let args = ["--reuid", &uid, "--regid", &gid, "--clear-groups", "--"];
            let py = p.to_string_lossy();
            runs("setpriv", &[&args[..], &[&py, "-c", "import dagger"]].concat())
        })
        .cloned()
        .ok_or_else(|| {
            format!(
                "no Python among {candidates:?} imports `dagger` as `{ROOTLESS_USER}` (a venv of a Python under /root is not the user's to run): run scripts/setup.sh (it makes {ROOTLESS_VENV}) or set TANTO_ROOTLESS_PYTHON"
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
