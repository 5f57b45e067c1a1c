//! Building the OCI runtime `config.json` (pure: no IO).
//!
//! Defaults follow runc's `runc spec` and Docker: pid/ipc/uts/mount namespaces (+ network
//! unless the host's is shared), the usual /proc, /dev, /sys mounts, runc's masked and
//! read-only paths, Docker's default capabilities, no rlimits (the runtime inherits ours;
//! asking for more than the inherited hard limits fails with EPERM), no terminal.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, Hook, HookBuilder, HooksBuilder, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceBuilder,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder,
    Mount as OciMount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
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
    vec![
        ("/proc", "proc", "proc", vec!["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", "tmpfs", vec!["nosuid", "strictatime", "mode=755", "size=65536k"]),
        (
            "/dev/pts",
            "devpts",
            "devpts",
            vec!["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
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
        .terminal(false)
        .user(user)
        .args(input.args.to_vec())
        .env(input.env.to_vec())
        .cwd(input.cwd)
        .capabilities(capabilities)
        .no_new_privileges(false)
        .build()
        .map_err(|e| internal("process", e))?;
    // No rlimits: the runtime's own (inherited) limits apply.
    process.set_rlimits(None);

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
    let resources =
        LinuxResourcesBuilder::default().devices(device_rules).build().map_err(|e| internal("linux.resources", e))?;
    let (masked, readonly): (Vec<String>, Vec<String>) = if input.privileged {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.iter().map(|s| s.to_string()).collect(), READONLY_PATHS.iter().map(|s| s.to_string()).collect())
    };
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
        devices.retain(|x: &oci_spec::runtime::LinuxDevice| x.path() != Path::new(&d.path));
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
    let linux = LinuxBuilder::default()
        .devices(devices)
        .namespaces(namespaces)
        .resources(resources)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()
        .map_err(|e| internal("linux", e))?;
    let root = RootBuilder::default().path(input.root).readonly(false).build().map_err(|e| internal("root", e))?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(root)
        .process(process)
        .hostname(input.hostname)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(|e| internal("spec", e))?;
    if !input.cdi.hooks.is_empty() {
        spec.set_hooks(Some(hooks(input.cdi)?));
    }
    Ok(spec)
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
mod tests {
    use super::*;
    use serde_json::Value;

    fn input_json(network: Network, privileged: bool, mounts: &[SpecMount]) -> Value {
        let user = ExecUser { uid: 65534, gid: 65534, additional_gids: vec![10], home: "/".into() };
        let args = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
        let env = vec!["PATH=/bin".to_string()];
        let spec = build(&SpecInput {
            root: Path::new("/run/x/rootfs"),
            args: &args,
            env: &env,
            cwd: "/work",
            user: &user,
            hostname: "box",
            network: &network,
            netns: matches!(network, Network::Bridge).then_some(Path::new("/proc/1/fd/7")),
            privileged,
            available_caps: 0x1ff_feff_ffff,
            mounts,
            devices: &[],
            cdi: &DeviceEdits::default(),
        })
        .unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    /// Renders the parts of the config a case asserts on, in a stable order.
    fn summary(v: &Value) -> String {
        let mut caps: Vec<String> = v["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().trim_start_matches("CAP_").to_string())
            .collect();
        caps.sort();
        let ns: Vec<String> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| match n["path"].as_str() {
                Some(p) => format!("{}={p}", n["type"].as_str().unwrap()),
                None => n["type"].as_str().unwrap().to_string(),
            })
            .collect();
        let mounts: Vec<String> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}={}:{}[{}]",
                    m["destination"].as_str().unwrap(),
                    m["type"].as_str().unwrap(),
                    m["source"].as_str().unwrap(),
                    m["options"]
                        .as_array()
                        .map(|o| o.iter().map(|x| x.as_str().unwrap()).collect::<Vec<_>>().join(","))
                        .unwrap_or_default()
                )
            })
            .collect();
        format!(
            "caps={} ns={} masked={} ro={} rlimits={} terminal={} readonly_root={} user={}:{}{} devices={}\n{}",
            caps.len(),
            ns.join(","),
            v["linux"]["maskedPaths"].as_array().map_or(0, |a| a.len()),
            v["linux"]["readonlyPaths"].as_array().map_or(0, |a| a.len()),
            v["process"].get("rlimits").is_some(),
            v["process"]["terminal"],
            v["root"]["readonly"],
            v["process"]["user"]["uid"],
            v["process"]["user"]["gid"],
            v["process"]["user"]["additionalGids"],
            v["linux"]["resources"]["devices"],
            mounts.join("\n"),
        )
    }

    fn check(network: Network, privileged: bool, mounts: &[SpecMount], expect: &str) {
        let got = summary(&input_json(network, privileged, mounts));
        assert_eq!(got.trim(), expect.trim(), "\n--- got ---\n{got}\n");
    }

    const SYS: &str = "/proc=proc:proc[nosuid,noexec,nodev]
/dev=tmpfs:tmpfs[nosuid,strictatime,mode=755,size=65536k]
/dev/pts=devpts:devpts[nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
/dev/shm=tmpfs:shm[nosuid,noexec,nodev,mode=1777,size=65536k]
/dev/mqueue=mqueue:mqueue[nosuid,noexec,nodev]";

    #[test]
    fn spec_cases() {
        let user_mounts = vec![
            SpecMount {
                target: "/etc/hosts".into(),
                kind: SpecMountKind::Bind { source: "/b/hosts".into(), readonly: true },
            },
            SpecMount {
                target: "/src".into(),
                kind: SpecMountKind::Bind { source: "/host/src".into(), readonly: false },
            },
            SpecMount { target: "/tmp".into(), kind: SpecMountKind::Tmpfs { size: Some(1 << 20) } },
        ];
        check(
            Network::Loopback,
            false,
            &[],
            &format!(
                "caps=14 ns=pid,ipc,uts,mount,network masked=11 ro=5 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":false,\"access\":\"rwm\"}}]\n{SYS}
/sys=sysfs:sysfs[nosuid,noexec,nodev,ro]
/sys/fs/cgroup=cgroup:cgroup[nosuid,noexec,nodev,relatime,ro]"
            ),
        );
        check(
            Network::Bridge,
            false,
            &[],
            &format!(
                "caps=14 ns=pid,ipc,uts,mount,network=/proc/1/fd/7 masked=11 ro=5 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":false,\"access\":\"rwm\"}}]\n{SYS}
/sys=sysfs:sysfs[nosuid,noexec,nodev,ro]
/sys/fs/cgroup=cgroup:cgroup[nosuid,noexec,nodev,relatime,ro]"
            ),
        );
        check(
            Network::Host,
            true,
            &user_mounts,
            &format!(
                "caps=40 ns=pid,ipc,uts,mount masked=0 ro=0 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":true,\"access\":\"rwm\"}}]\n{SYS}
/sys=sysfs:sysfs[nosuid,noexec,nodev,rw]
/sys/fs/cgroup=cgroup:cgroup[nosuid,noexec,nodev,relatime,rw]
/etc/hosts=bind:/b/hosts[rbind,rprivate,ro]
/src=bind:/host/src[rbind,rprivate]
/tmp=tmpfs:tmpfs[nosuid,nodev,mode=1777,size=1048576]"
            ),
        );
    }

    #[test]
    fn caps_never_exceed_what_the_engine_holds() {
        let only_chown_kill = (1 << 0) | (1 << 5);
        let mut got: Vec<String> = capabilities(false, only_chown_kill).iter().map(|c| c.to_string()).collect();
        got.sort();
        assert_eq!(got, ["CHOWN", "KILL"]);
        assert_eq!(capabilities(true, 0x1ff_feff_ffff).len(), 40);
        assert!(!capabilities(true, 0x1ff_feff_ffff).contains(&Capability::SysResource));
    }
}

#[cfg(test)]
mod cdi_tests {
    use super::*;
    use crate::cdi::{CdiHook, ResolvedNode};

    fn node(path: &str, typ: char, major: i64, minor: i64, perms: &str, uid: Option<u32>) -> ResolvedNode {
        ResolvedNode {
            path: path.into(),
            typ,
            major,
            minor,
            file_mode: Some(0o660),
            permissions: perms.into(),
            uid,
            gid: None,
        }
    }

    fn hook(name: &str, path: &str) -> CdiHook {
        CdiHook {
            hook_name: name.into(),
            path: path.into(),
            args: vec![path.into(), "x".into()],
            env: vec![],
            timeout: Some(5),
        }
    }

    /// (user uid, privileged, edits) → devices, cgroup rules, hooks, gids.
    #[test]
    fn cdi_edits_in_the_config() {
        let edits = DeviceEdits {
            names: vec!["nvidia.com/gpu=0".into()],
            env: vec![],
            devices: vec![
                node("/dev/nvidia0", 'c', 195, 0, "rwm", None),
                node("/dev/nvidiactl", 'c', 195, 255, "rw", Some(7)),
                node("/dev/blk", 'b', 8, 0, "r", None),
                node("/dev/fifo", 'p', 0, 0, "rwm", None),
            ],
            mounts: vec![],
            hooks: vec![
                hook("createContainer", "/usr/bin/a"),
                hook("poststop", "/usr/bin/b"),
                hook("createContainer", "/usr/bin/c"),
            ],
            additional_gids: vec![44, 10],
        };
        let run = |uid: u32, privileged: bool, edits: &DeviceEdits| {
            let user = ExecUser { uid, gid: uid, additional_gids: vec![10], home: "/".into() };
            let args = vec!["true".to_string()];
            let host = vec![HostDevice {
                path: "/dev/nvidia0".into(),
                block: false,
                major: 1,
                minor: 3,
                mode: 0o666,
                uid: 0,
                gid: 0,
            }];
            let spec = build(&SpecInput {
                root: Path::new("/r"),
                args: &args,
                env: &[],
                cwd: "/",
                user: &user,
                hostname: "h",
                network: &Network::Loopback,
                netns: None,
                privileged,
                available_caps: 0,
                mounts: &[],
                devices: if privileged { &host } else { &[] },
                cdi: edits,
            })
            .unwrap();
            let v = serde_json::to_value(&spec).unwrap();
            let devs: Vec<String> = v["linux"]["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    format!(
                        "{} {} {}:{} {:o} {}:{}",
                        d["path"].as_str().unwrap(),
                        d["type"].as_str().unwrap(),
                        d["major"],
                        d["minor"],
                        d["fileMode"].as_u64().unwrap_or(0),
                        d["uid"],
                        d["gid"]
                    )
                })
                .collect();
            let rules: Vec<String> = v["linux"]["resources"]["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}:{}:{}:{}",
                        r["allow"],
                        r["type"].as_str().unwrap_or("-"),
                        r["major"],
                        r["minor"],
                        r["access"].as_str().unwrap()
                    )
                })
                .collect();
            format!(
                "{}\n{}\nhooks={}\ngids={}",
                devs.join("\n"),
                rules.join("\n"),
                v["hooks"],
                v["process"]["user"]["additionalGids"]
            )
        };
        let cases: &[(u32, bool, &str)] = &[
            (
                0,
                false,
                "/dev/nvidia0 c 195:0 660 null:null
/dev/nvidiactl c 195:255 660 7:null
/dev/blk b 8:0 660 null:null
/dev/fifo p 0:0 660 null:null
false:-:null:null:rwm
true:c:195:0:rwm
true:c:195:255:rw
true:b:8:0:r
hooks={\"createContainer\":[{\"path\":\"/usr/bin/a\",\"args\":[\"/usr/bin/a\",\"x\"],\"timeout\":5},{\"path\":\"/usr/bin/c\",\"args\":[\"/usr/bin/c\",\"x\"],\"timeout\":5}],\"poststop\":[{\"path\":\"/usr/bin/b\",\"args\":[\"/usr/bin/b\",\"x\"],\"timeout\":5}]}
gids=[10,44]",
            ),
            // A non-root user owns the nodes (unless the spec names an owner);
            // a privileged container's host node at the same path is replaced.
            (
                1000,
                true,
                "/dev/nvidia0 c 195:0 660 1000:1000
/dev/nvidiactl c 195:255 660 7:1000
/dev/blk b 8:0 660 1000:1000
/dev/fifo p 0:0 660 1000:1000
true:-:null:null:rwm
true:c:195:0:rwm
true:c:195:255:rw
true:b:8:0:r
hooks={\"createContainer\":[{\"path\":\"/usr/bin/a\",\"args\":[\"/usr/bin/a\",\"x\"],\"timeout\":5},{\"path\":\"/usr/bin/c\",\"args\":[\"/usr/bin/c\",\"x\"],\"timeout\":5}],\"poststop\":[{\"path\":\"/usr/bin/b\",\"args\":[\"/usr/bin/b\",\"x\"],\"timeout\":5}]}
gids=[10,44]",
            ),
        ];
        for (uid, privileged, want) in cases {
            assert_eq!(run(*uid, *privileged, &edits), *want, "uid {uid} privileged {privileged}");
        }
        // No CDI devices: no hooks, only the default rule.
        let none = run(0, false, &DeviceEdits::default());
        assert_eq!(none, "\nfalse:-:null:null:rwm\nhooks=null\ngids=[10]");
    }
}
