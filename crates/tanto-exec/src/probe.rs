//! What `tanto doctor` checks, each by doing it: the OCI runtime tanto would
//! pick, an overlay mount, the network backend, the cgroup controllers it can
//! use. Every check returns what works (`Ok`, a short description) or what is
//! missing and how to get it (`Err`).

use std::path::Path;

use crate::{runtime, sys, RuntimeKind};

/// The runtime [`crate::Executor`] would use for `kind`, and its version line.
/// Nothing on the host changes: where the engine would mount cgroup v1
/// hierarchies for crun (root on a hybrid layout), it says so.
pub fn runtime(kind: RuntimeKind) -> Result<String, String> {
    let hybrid = sys::hybrid_v2_controllers();
    let fixable = rustix::process::geteuid().is_root() && !crate::userns::entered();
    let rt = runtime::choose(kind, || {
        if hybrid.is_empty() || fixable {
            Ok(())
        } else {
            Err(format!(
                "crun refuses hybrid cgroup layouts whose v2 hierarchy holds controllers (`{}`), and only root can mount v1 hierarchies for them",
                hybrid.join(" ")
            ))
        }
    })
    .map_err(|e| e.to_string())?;
    let out = std::process::Command::new(&rt.path).arg("--version").output();
    let version = out
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_default();
    let mut said = format!("{} ({})", rt.path.display(), version.trim());
    if rt.name() == "runc" && runtime::find_binary("crun").is_some() {
        said.push_str("; crun is installed but refuses this host's hybrid cgroup layout");
    }
    if rt.name() == "crun" && !hybrid.is_empty() {
        said.push_str(&format!(
            "; the engine mounts v1 `{}` hierarchies at start so crun accepts this hybrid cgroup layout",
            hybrid.join(" ")
        ));
    }
    Ok(said)
}

/// Mounts a writable overlay of two layers under `scratch` (which must exist
/// and be removable), writes through it and removes a lower file (a whiteout),
/// then unmounts.
pub fn overlay(scratch: &Path) -> Result<String, String> {
    let d = |n: &str| scratch.join(n);
    let run = || -> std::io::Result<()> {
        for n in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(d(n))?;
        }
        std::fs::write(d("lower").join("gone"), "x")?;
        sys::mount_overlay(&d("merged"), &[d("lower")], Some((&d("upper"), &d("work"))))?;
        let wrote =
            std::fs::write(d("merged").join("new"), "y").and_then(|_| std::fs::remove_file(d("merged").join("gone")));
        sys::unmount(&d("merged"))?;
        wrote
    };
    let res = run();
    let _ = std::fs::remove_dir_all(scratch);
    match res {
        Ok(()) if tanto_fs::overlay::userxattr() => Ok("kernel overlayfs in the user namespace (userxattr)".into()),
        Ok(()) => Ok("kernel overlayfs".into()),
        Err(e) => Err(format!(
            "mounting overlayfs failed ({e}): rootless overlays need Linux 5.11 or later (fuse-overlayfs is not supported as a fallback yet)"
        )),
    }
}

/// The network backend: as root, bridges with iptables NAT; rootless, a
/// namespace connected by slirp4netns (started and stopped here).
pub fn network() -> Result<String, String> {
    if crate::userns::entered() {
        let outside = crate::net::probe_private().map_err(|e| e.to_string())?;
        return Ok(format!("slirp4netns ({outside}); containers on a bridge in the engine's own network namespace"));
    }
    match runtime::find_binary("iptables-restore") {
        Some(_) => Ok("bridge with iptables NAT in the host's network namespace".into()),
        None => Err("`iptables` is not installed (apt-get install iptables): containers have no network".into()),
    }
}

/// The cgroups containers get. tanto sets no resource limits; cgroups hold a
/// container's processes together and, as root, enforce its device rules.
pub fn cgroups() -> Result<String, String> {
    let unified = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").ok();
    if !crate::userns::entered() {
        return Ok(match unified {
            Some(c) => format!("cgroup v2 ({})", c.trim()),
            None => "cgroup v1 (hybrid) hierarchies".into(),
        });
    }
    let Some(_) = unified else {
        return Err("cgroup v1 hierarchies are not delegated to users: containers run in the engine's cgroup, without device rules (a rootless container cannot make device nodes anyway)".into());
    };
    // cgroup v2: delegated when this process's own cgroup is writable.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    match rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK) {
        Ok(()) => Ok(format!("cgroup v2, delegated at {}", dir.display())),
        Err(_) => Err(format!(
            "cgroup v2 without a delegated cgroup ({} is not writable): containers run in the engine's cgroup (systemd: `Delegate=yes` for user@.service)",
            dir.display()
        )),
    }
}

/// Whether a device node can be opened for reading and writing.
pub fn device(path: &str) -> Result<(), String> {
    std::fs::OpenOptions::new().read(true).write(true).open(path).map(|_| ()).map_err(|e| format!("{path}: {e}"))
}
