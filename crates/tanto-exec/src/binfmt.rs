//! Containers of other platforms run through QEMU user emulation: the
//! kernel's `binfmt_misc` hands an ELF binary of a foreign machine to the
//! interpreter registered for its header (Debian's `qemu-user-static`).
//! Registered with the `F` (fix-binary) flag, the kernel opens the
//! interpreter once, at registration, so it works inside every container
//! although no container has QEMU in its root; without `F` it does not.
//!
//! [`Binfmt::support`] says how a CPU architecture (OCI names: `arm64`,
//! `riscv64`, ...) runs here; [`Binfmt::register_missing`] registers a
//! handler with `F` for each foreign machine that has none, from QEMU's
//! binaries (`/usr/libexec/qemu-binfmt/<machine>-binfmt-P`, else
//! `/usr/bin/qemu-<machine>-static`). Only root can register; nothing is
//! ever unregistered or changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::ExecError;

/// Where `binfmt_misc` is mounted.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// One machine QEMU emulates: its OCI architecture, QEMU's name for it and
/// the ELF header magic and mask it is registered with (QEMU's
/// `qemu-binfmt-conf.sh`, as Debian ships them in `/usr/lib/binfmt.d`).
struct Machine {
    arch: &'static str,
    qemu: &'static str,
    magic: &'static [u8; 20],
    mask: &'static [u8; 20],
}

const ELF64_LE_MASK: &[u8; 20] = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
const X86_MASK: &[u8; 20] = b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

const MACHINES: &[Machine] = &[
    Machine {
        arch: "amd64",
        qemu: "x86_64",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        mask: X86_MASK,
    },
    Machine {
        arch: "386",
        qemu: "i386",
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00",
        mask: X86_MASK,
    },
    Machine {
        arch: "arm64",
        qemu: "aarch64",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        mask: ELF64_LE_MASK,
    },
    Machine {
        arch: "arm",
        qemu: "arm",
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
        mask: ELF64_LE_MASK,
    },
    Machine {
        arch: "riscv64",
        qemu: "riscv64",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        mask: ELF64_LE_MASK,
    },
    Machine {
        arch: "ppc64le",
        qemu: "ppc64le",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00",
    },
    Machine {
        arch: "s390x",
        qemu: "s390x",
        magic: b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
    },
    Machine {
        arch: "mips64le",
        qemu: "mips64el",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    },
    Machine {
        arch: "loong64",
        qemu: "loongarch64",
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    },
];

fn machine(arch: &str) -> Option<&'static Machine> {
    MACHINES.iter().find(|m| m.arch == arch)
}

/// This machine's architecture in OCI terms.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Whether `arch` binaries run on `host` without emulation (x86-64 kernels
/// run 32-bit x86 too).
pub fn native(host: &str, arch: &str) -> bool {
    host == arch || (host == "amd64" && arch == "386")
}

/// A handler registered in `binfmt_misc` (a magic-type one: extension
/// handlers never match ELF binaries and are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub name: String,
    pub enabled: bool,
    pub interpreter: String,
    pub flags: String,
    pub offset: usize,
    pub magic: Vec<u8>,
    pub mask: Vec<u8>,
}

impl Handler {
    /// Parses `/proc/sys/fs/binfmt_misc/NAME`.
    pub fn parse(name: &str, text: &str) -> Option<Handler> {
        let mut h = Handler {
            name: name.to_string(),
            enabled: false,
            interpreter: String::new(),
            flags: String::new(),
            offset: 0,
            magic: Vec::new(),
            mask: Vec::new(),
        };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "enabled" => h.enabled = true,
                "interpreter" => h.interpreter = value.to_string(),
                "flags:" => h.flags = value.to_string(),
                "offset" => h.offset = value.parse().ok()?,
                "magic" => h.magic = unhex(value)?,
                "mask" => h.mask = unhex(value)?,
                _ => {}
            }
        }
        (!h.magic.is_empty()).then_some(h)
    }

    /// Whether the kernel would hand a file starting with `header` to this handler.
    pub fn matches(&self, header: &[u8]) -> bool {
        self.magic.iter().enumerate().all(|(i, want)| {
            let mask = self.mask.get(i).copied().unwrap_or(0xff);
            header.get(self.offset + i).is_some_and(|b| b & mask == *want)
        })
    }

    pub fn fixes_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// How binaries of one architecture run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Native,
    /// Through the handler `name`, whose interpreter works in containers.
    Emulated {
        handler: String,
        interpreter: String,
    },
    /// Registered, but without the `F` flag: inside a container the kernel
    /// looks for the interpreter in the container's root and fails.
    NotFixed {
        handler: String,
        interpreter: String,
    },
    /// No enabled handler (or `binfmt_misc` is not mounted, or switched off).
    Missing {
        reason: String,
    },
    /// An architecture tanto knows no emulator for.
    Unknown,
}

impl Support {
    pub fn runs(&self) -> bool {
        matches!(self, Support::Native | Support::Emulated { .. })
    }

    /// Why `arch` binaries do not run (`None` when they do).
    pub fn reason(&self, arch: &str) -> Option<String> {
        match self {
            Support::Native | Support::Emulated { .. } => None,
            Support::NotFixed { handler, interpreter } => Some(format!(
                "its binfmt_misc handler `{handler}` ({interpreter}) is registered without the F (fix-binary) flag, so the interpreter cannot be found inside a container"
            )),
            Support::Missing { reason } => Some(reason.clone()),
            Support::Unknown => Some(format!("tanto knows no QEMU emulator for the `{arch}` architecture")),
        }
    }
}

/// Where QEMU's user-mode emulators are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreters {
    /// Debian's `qemu-binfmt` wrappers (`<machine>-binfmt-P`, registered with `P`).
    pub libexec: PathBuf,
    /// `qemu-<machine>-static`.
    pub bin: PathBuf,
}

impl Default for Interpreters {
    fn default() -> Self {
        Interpreters { libexec: "/usr/libexec/qemu-binfmt".into(), bin: "/usr/bin".into() }
    }
}

impl Interpreters {
    /// The emulator for `m` and the flags to register it with.
    fn find(&self, m: &Machine) -> Option<(PathBuf, &'static str)> {
        let wrapper = self.libexec.join(format!("{}-binfmt-P", m.qemu));
        if wrapper.exists() {
            // argv[0] preserved (P), the binary opened for the interpreter (O), fixed (F)
            return Some((wrapper, "OPF"));
        }
        let fixed = self.bin.join(format!("qemu-{}-static", m.qemu));
        fixed.exists().then_some((fixed, "F"))
    }
}

/// What [`Binfmt::register_missing`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// `(architecture, interpreter)` registered now.
    pub registered: Vec<(String, String)>,
    /// `(architecture, why it does not run)`.
    pub missing: Vec<(String, String)>,
}

/// A `binfmt_misc` mount ([`BINFMT_MISC`]; tests use a directory of their own).
#[derive(Debug, Clone)]
pub struct Binfmt {
    dir: PathBuf,
    host: String,
}

impl Binfmt {
    pub fn system() -> Binfmt {
        Binfmt::at(Path::new(BINFMT_MISC), host_arch())
    }

    /// The mount at `dir`, on a `host` machine.
    pub fn at(dir: &Path, host: &str) -> Binfmt {
        Binfmt { dir: dir.to_path_buf(), host: host.to_string() }
    }

    pub fn mounted(&self) -> bool {
        self.dir.join("register").exists()
    }

    fn switched_on(&self) -> bool {
        std::fs::read_to_string(self.dir.join("status")).is_ok_and(|s| s.trim() == "enabled")
    }

    /// The magic-type handlers registered.
    pub fn handlers(&self) -> Vec<Handler> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<Handler> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "register" || name == "status" {
                    return None;
                }
                Handler::parse(&name, &std::fs::read_to_string(e.path()).ok()?)
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// How `arch` (OCI name) binaries run here.
    pub fn support(&self, arch: &str) -> Support {
        if native(&self.host, arch) {
            return Support::Native;
        }
        let Some(m) = machine(arch) else { return Support::Unknown };
        if !self.mounted() {
            return Support::Missing { reason: format!("binfmt_misc is not mounted at {}", self.dir.display()) };
        }
        if !self.switched_on() {
            return Support::Missing { reason: format!("binfmt_misc is switched off ({}/status)", self.dir.display()) };
        }
        let matching: Vec<Handler> = self.handlers().into_iter().filter(|h| h.enabled && h.matches(m.magic)).collect();
        if let Some(h) = matching.iter().find(|h| h.fixes_binary()) {
            return Support::Emulated { handler: h.name.clone(), interpreter: h.interpreter.clone() };
        }
        match matching.into_iter().next() {
            Some(h) => Support::NotFixed { handler: h.name, interpreter: h.interpreter },
            None => {
                Support::Missing { reason: format!("no binfmt_misc handler for {} binaries is registered", m.qemu) }
            }
        }
    }

    /// `Ok` when `arch` binaries run here; else why not, naming `platform`.
    pub fn check(&self, arch: &str, platform: &str) -> Result<(), ExecError> {
        match self.support(arch).reason(arch) {
            None => Ok(()),
            Some(reason) => {
                Err(ExecError::NoEmulation { platform: platform.to_string(), host: self.host.clone(), reason })
            }
        }
    }

    /// Registers a handler with the `F` flag for each foreign machine that
    /// has none and whose emulator is in `interpreters` (when `may_register`:
    /// the caller is root); reports what was registered and what still does
    /// not run.
    pub fn register_missing(&self, interpreters: &Interpreters, may_register: bool) -> Report {
        let mut report = Report::default();
        for m in MACHINES.iter().filter(|m| !native(&self.host, m.arch)) {
            let missing = match self.support(m.arch) {
                Support::Missing { reason } => reason,
                Support::Native | Support::Emulated { .. } | Support::Unknown => continue,
                s @ Support::NotFixed { .. } => {
                    report.missing.push((m.arch.into(), s.reason(m.arch).unwrap_or_default()));
                    continue;
                }
            };
            let registrable = self.mounted() && self.switched_on();
            let Some((interpreter, flags)) = interpreters.find(m).filter(|_| registrable) else {
                let why = if registrable { format!("{missing} and no QEMU emulator is installed") } else { missing };
                report.missing.push((m.arch.into(), why));
                continue;
            };
            if !may_register {
                report
                    .missing
                    .push((m.arch.into(), format!("{missing}; only root can register {}", interpreter.display())));
                continue;
            }
            match self.register(m, &interpreter, flags) {
                Ok(()) => report.registered.push((m.arch.into(), interpreter.display().to_string())),
                Err(e) => report
                    .missing
                    .push((m.arch.into(), format!("{missing}; registering {} failed: {e}", interpreter.display()))),
            }
        }
        report
    }

    fn register(&self, m: &Machine, interpreter: &Path, flags: &str) -> std::io::Result<()> {
        let path = interpreter.to_str().filter(|p| !p.contains(':') && !p.contains('\n')).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the interpreter path cannot be registered")
        })?;
        let taken = |n: &str| self.dir.join(n).exists();
        let name = [format!("qemu-{}", m.qemu), format!("tanto-qemu-{}", m.qemu)]
            .into_iter()
            .find(|n| !taken(n))
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AlreadyExists, "its handler names are taken"))?;
        std::fs::write(self.dir.join("register"), registration(&name, m.magic, m.mask, path, flags))
    }
}

/// The line `binfmt_misc/register` takes: `:name:M::magic:mask:interpreter:flags`.
fn registration(name: &str, magic: &[u8], mask: &[u8], interpreter: &str, flags: &str) -> String {
    let esc = |bytes: &[u8]| {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "\\x{b:02x}");
            s
        })
    };
    format!(":{name}:M::{}:{}:{interpreter}:{flags}", esc(magic), esc(mask))
}

#[cfg(test)]
mod tests;
