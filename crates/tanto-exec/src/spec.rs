//! Building the OCI runtime `config.json` (pure: no IO).
//!
//! Defaults follow runc's `runc spec` and Docker: pid/ipc/uts/mount namespaces (+ network
//! unless the host's is shared), the usual /proc, /dev, /sys mounts, runc's masked and
//! read-only paths, Docker's default capabilities, no rlimits (the runtime inherits ours;
//! asking for more than the inherited hard limits fails with EPERM), no terminal.
//! Unless privileged, the process runs with `no_new_privs` (setuid binaries and
//! file capabilities grant nothing) under the default seccomp profile ([`crate::seccomp`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, Hook, HookBuilder, HooksBuilder, Linux, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxResources, LinuxResourcesBuilder, Mount as OciMount, MountBuilder, Process,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::cdi::DeviceEdits;
use crate::sys::HostDevice;
use crate::user::ExecUser;
use crate::{ExecError, Network};

/// A mount as handed to the runtime (after host-side overlays are mounted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecMountKind {
    Bind {
        source: PathBuf,
        readonly: bool,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// A mount as a CDI spec describes it (type and options as given).
    Raw {
        typ: String,
        source: PathBuf,
        options: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecMount {
    pub target: PathBuf,
    pub kind: SpecMountKind,
}

/// Everything the config depends on.
pub struct SpecInput<'a> {
    pub root: &'a Path,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a ExecUser,
    pub hostname: &'a str,
    pub network: &'a Network,
    /// The namespace to join for [`Network::Bridge`].
    pub netns: Option<&'a Path>,
    pub privileged: bool,
    /// Capability bits the engine itself holds (`CapEff`); the container never gets more.
    pub available_caps: u64,
    /// Mounts after the system ones, in order.
    pub mounts: &'a [SpecMount],
    /// Device nodes to create (privileged containers get the host's).
    pub devices: &'a [HostDevice],
    /// CDI devices (GPUs): their nodes, cgroup rules, hooks and extra gids
    /// (their env and mounts are already in `env` and `mounts`).
    pub cdi: &'a DeviceEdits,
    /// The process gets a PTY (`process.terminal`).
    pub terminal: bool,
}

/// Capability numbers (linux/capability.h) and their oci-spec names.
const CAPS: &[(u32, Capability)] = &[
    (0, Capability::Chown),
    (1, Capability::DacOverride),
    (2, Capability::DacReadSearch),
    (3, Capability::Fowner),
    (4, Capability::Fsetid),
    (5, Capability::Kill),
    (6, Capability::Setgid),
    (7, Capability::Setuid),
    (8, Capability::Setpcap),
    (9, Capability::LinuxImmutable),
    (10, Capability::NetBindService),
    (11, Capability::NetBroadcast),
    (12, Capability::NetAdmin),
    (13, Capability::NetRaw),
    (14, Capability::IpcLock),
    (15, Capability::IpcOwner),
    (16, Capability::SysModule),
    (17, Capability::SysRawio),
    (18, Capability::SysChroot),
    (19, Capability::SysPtrace),
    (20, Capability::SysPacct),
    (21, Capability::SysAdmin),
    (22, Capability::SysBoot),
    (23, Capability::SysNice),
    (24, Capability::SysResource),
    (25, Capability::SysTime),
    (26, Capability::SysTtyConfig),
    (27, Capability::Mknod),
    (28, Capability::Lease),
    (29, Capability::AuditWrite),
    (30, Capability::AuditControl),
    (31, Capability::Setfcap),
    (32, Capability::MacOverride),
    (33, Capability::MacAdmin),
    (34, Capability::Syslog),
    (35, Capability::WakeAlarm),
    (36, Capability::BlockSuspend),
    (37, Capability::AuditRead),
    (38, Capability::Perfmon),
    (39, Capability::Bpf),
    (40, Capability::CheckpointRestore),
];

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The capabilities a container gets.
pub fn capabilities(privileged: bool, available: u64) -> HashSet<Capability> {
    let held = |c: &Capability| CAPS.iter().any(|(bit, cap)| cap == c && available & (1u64 << bit) != 0);
    if privileged {
        CAPS.iter().map(|(_, c)| *c).filter(held).collect()
    } else {
        DEFAULT_CAPS.iter().copied().filter(held).collect()
    }
}

/// Filesystems the runtime creates inside the container: (target, fstype, source, options).
pub fn system_mounts(privileged: bool) -> Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)> {
    let ro = if privileged { "rw" } else { "ro" };
    // The `tty` group owns new ptys, when the ID map has it (rootless with
    // only the user's own ID: it has not, and devpts refuses the option).
    let mut pts = vec!["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"];
    if tanto_fs::ids::mapped_ids() > 5 {
        pts.push("gid=5");
    }
    vec![
        ("/proc", "proc", "proc", vec!["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", "tmpfs", vec!["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ("/dev/pts", "devpts", "devpts", pts),
        ("/dev/shm", "tmpfs", "shm", vec!["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        ("/dev/mqueue", "mqueue", "mqueue", vec!["nosuid", "noexec", "nodev"]),
        ("/sys", "sysfs", "sysfs", vec!["nosuid", "noexec", "nodev", ro]),
        ("/sys/fs/cgroup", "cgroup", "cgroup", vec!["nosuid", "noexec", "nodev", "relatime", ro]),
    ]
}

fn internal(what: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::Internal { message: format!("building `{what}` of the runtime config: {e}") }
}

fn oci_mount(target: &str, typ: &str, source: &str, options: Vec<String>) -> Result<OciMount, ExecError> {
    MountBuilder::default()
        .destination(target)
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(|e| internal("mounts", e))
}

/// Builds the runtime config.
pub fn build(input: &SpecInput<'_>) -> Result<Spec, ExecError> {
    let root = RootBuilder::default().path(input.root).readonly(false).build().map_err(|e| internal("root", e))?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(root)
        .process(process(input)?)
        .hostname(input.hostname)
        .mounts(mounts(input)?)
        .linux(linux(input)?)
        .build()
        .map_err(|e| internal("spec", e))?;
    if !input.cdi.hooks.is_empty() {
        spec.set_hooks(Some(hooks(input.cdi)?));
    }
    Ok(spec)
}

/// The process: argv, env, cwd, the user (with the CDI devices' extra groups), the
/// capabilities, no terminal and no rlimits (the runtime's own, inherited, apply).
fn process(input: &SpecInput<'_>) -> Result<Process, ExecError> {
    let caps = capabilities(input.privileged, input.available_caps);
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(|e| internal("process.capabilities", e))?;
    let mut gids = input.user.additional_gids.clone();
    for g in &input.cdi.additional_gids {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    let user = UserBuilder::default()
        .uid(input.user.uid)
        .gid(input.user.gid)
        .additional_gids(gids)
        .build()
        .map_err(|e| internal("process.user", e))?;
    let mut process = ProcessBuilder::default()
        .terminal(input.terminal)
        .user(user)
        .args(input.args.to_vec())
        .env(input.env.to_vec())
        .cwd(input.cwd)
        .capabilities(capabilities)
        .no_new_privileges(!input.privileged)
        .build()
        .map_err(|e| internal("process", e))?;
    process.set_rlimits(None);
    Ok(process)
}

/// The system mounts, then the given ones in order.
fn mounts(input: &SpecInput<'_>) -> Result<Vec<OciMount>, ExecError> {
    let mut mounts = Vec::new();
    for (target, typ, source, opts) in system_mounts(input.privileged) {
        mounts.push(oci_mount(target, typ, source, opts.into_iter().map(String::from).collect())?);
    }
    for m in input.mounts {
        let target = m.target.to_string_lossy();
        mounts.push(match &m.kind {
            SpecMountKind::Bind { source, readonly } => {
                let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
                if *readonly {
                    opts.push("ro".to_string());
                }
                oci_mount(&target, "bind", &source.to_string_lossy(), opts)?
            }
            SpecMountKind::Tmpfs { size } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), "mode=1777".to_string()];
                if let Some(size) = size {
                    opts.push(format!("size={size}"));
                }
                oci_mount(&target, "tmpfs", "tmpfs", opts)?
            }
            SpecMountKind::Raw { typ, source, options } => {
                oci_mount(&target, typ, &source.to_string_lossy(), options.clone())?
            }
        });
    }
    Ok(mounts)
}

/// The `linux` section: devices, namespaces, the device cgroup, and (unless
/// privileged) the masked and read-only paths and the seccomp profile.
fn linux(input: &SpecInput<'_>) -> Result<Linux, ExecError> {
    let (masked, readonly): (Vec<String>, Vec<String>) = if input.privileged {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.iter().map(|s| s.to_string()).collect(), READONLY_PATHS.iter().map(|s| s.to_string()).collect())
    };
    let mut linux = LinuxBuilder::default()
        .devices(devices(input)?)
        .namespaces(namespaces(input)?)
        .resources(resources(input)?)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()
        .map_err(|e| internal("linux", e))?;
    if !input.privileged {
        linux.set_seccomp(Some(crate::seccomp::profile(&capabilities(false, input.available_caps))?));
    }
    Ok(linux)
}

/// pid, ipc, uts and mount namespaces of the container's own; the network one of its
/// own (loopback), the host's, or the bridge namespace made for it.
fn namespaces(input: &SpecInput<'_>) -> Result<Vec<LinuxNamespace>, ExecError> {
    let mut namespaces = Vec::new();
    let mut kinds =
        vec![LinuxNamespaceType::Pid, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts, LinuxNamespaceType::Mount];
    match input.network {
        Network::Host | Network::Bridge => {}
        Network::Loopback => kinds.push(LinuxNamespaceType::Network),
    }
    for typ in kinds {
        namespaces
            .push(LinuxNamespaceBuilder::default().typ(typ).build().map_err(|e| internal("linux.namespaces", e))?);
    }
    if let Network::Bridge = input.network {
        let path = input.netns.ok_or_else(|| internal("linux.namespaces", "a bridge network needs a namespace"))?;
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path)
                .build()
                .map_err(|e| internal("linux.namespaces", e))?,
        );
    }
    Ok(namespaces)
}

/// The device cgroup: all devices (privileged) or none, then the CDI devices' rules.
fn resources(input: &SpecInput<'_>) -> Result<LinuxResources, ExecError> {
    let device_rule = LinuxDeviceCgroupBuilder::default()
        .allow(input.privileged)
        .access("rwm")
        .build()
        .map_err(|e| internal("linux.resources.devices", e))?;
    let mut device_rules = vec![device_rule];
    for d in &input.cdi.devices {
        let typ = match d.typ {
            'b' => LinuxDeviceType::B,
            'c' => LinuxDeviceType::C,
            _ => continue, // fifos need no cgroup rule
        };
        device_rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(typ)
                .major(d.major)
                .minor(d.minor)
                .access(d.permissions.clone())
                .build()
                .map_err(|e| internal("linux.resources.devices", e))?,
        );
    }
    LinuxResourcesBuilder::default().devices(device_rules).build().map_err(|e| internal("linux.resources", e))
}

/// Device nodes: the given ones (a privileged container's host devices), then the CDI
/// devices' (replacing a given node at the same path).
fn devices(input: &SpecInput<'_>) -> Result<Vec<LinuxDevice>, ExecError> {
    let mut devices = Vec::new();
    for d in input.devices {
        devices.push(
            LinuxDeviceBuilder::default()
                .path(d.path.clone())
                .typ(if d.block { LinuxDeviceType::B } else { LinuxDeviceType::C })
                .major(d.major as i64)
                .minor(d.minor as i64)
                .file_mode(d.mode)
                .uid(d.uid)
                .gid(d.gid)
                .build()
                .map_err(|e| internal("linux.devices", e))?,
        );
    }
    // CDI nodes; owned by the container's user unless the spec says otherwise,
    // as the CDI reference implementation does.
    let nonroot = |id: u32| (id > 0).then_some(id);
    for d in &input.cdi.devices {
        devices.retain(|x: &LinuxDevice| x.path() != Path::new(&d.path));
        let mut b = LinuxDeviceBuilder::default()
            .path(PathBuf::from(&d.path))
            .typ(match d.typ {
                'b' => LinuxDeviceType::B,
                'p' => LinuxDeviceType::P,
                _ => LinuxDeviceType::C,
            })
            .major(d.major)
            .minor(d.minor);
        if let Some(m) = d.file_mode {
            b = b.file_mode(m);
        }
        if let Some(uid) = d.uid.or(nonroot(input.user.uid)) {
            b = b.uid(uid);
        }
        if let Some(gid) = d.gid.or(nonroot(input.user.gid)) {
            b = b.gid(gid);
        }
        devices.push(b.build().map_err(|e| internal("linux.devices", e))?);
    }
    Ok(devices)
}

/// The OCI hooks of CDI devices, by hook name.
fn hooks(cdi: &DeviceEdits) -> Result<oci_spec::runtime::Hooks, ExecError> {
    let mut by_name: std::collections::BTreeMap<&str, Vec<Hook>> = Default::default();
    for h in &cdi.hooks {
        let mut b = HookBuilder::default().path(PathBuf::from(&h.path));
        if !h.args.is_empty() {
            b = b.args(h.args.clone());
        }
        if !h.env.is_empty() {
            b = b.env(h.env.clone());
        }
        if let Some(t) = h.timeout {
            b = b.timeout(t);
        }
        by_name.entry(h.hook_name.as_str()).or_default().push(b.build().map_err(|e| internal("hooks", e))?);
    }
    let mut b = HooksBuilder::default();
    for (name, list) in by_name {
        b = match name {
            #[allow(deprecated)]
            "prestart" => b.prestart(list),
            "createRuntime" => b.create_runtime(list),
            "createContainer" => b.create_container(list),
            "startContainer" => b.start_container(list),
            "poststart" => b.poststart(list),
            "poststop" => b.poststop(list),
            other => return Err(ExecError::invalid(format!("cdi hook name `{other}` is not an OCI hook"))),
        };
    }
    b.build().map_err(|e| internal("hooks", e))
}

#[cfg(test)]
mod tests;
