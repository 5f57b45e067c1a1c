//! Tests of the runtime config: one summary per case, and the CDI edits.

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
        terminal: false,
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
        "caps={} nnp={} seccomp={} ns={} masked={} ro={} rlimits={} terminal={} readonly_root={} user={}:{}{} devices={}\n{}",
        caps.len(),
        v["process"]["noNewPrivileges"],
        v["linux"]["seccomp"]["defaultAction"].as_str().unwrap_or("none"),
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
        SpecMount { target: "/src".into(), kind: SpecMountKind::Bind { source: "/host/src".into(), readonly: false } },
        SpecMount { target: "/tmp".into(), kind: SpecMountKind::Tmpfs { size: Some(1 << 20) } },
    ];
    check(
            Network::Loopback,
            false,
            &[],
            &format!(
                "caps=14 nnp=true seccomp=SCMP_ACT_ERRNO ns=pid,ipc,uts,mount,network masked=11 ro=5 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":false,\"access\":\"rwm\"}}]\n{SYS}
/sys=sysfs:sysfs[nosuid,noexec,nodev,ro]
/sys/fs/cgroup=cgroup:cgroup[nosuid,noexec,nodev,relatime,ro]"
            ),
        );
    check(
            Network::Bridge,
            false,
            &[],
            &format!(
                "caps=14 nnp=true seccomp=SCMP_ACT_ERRNO ns=pid,ipc,uts,mount,network=/proc/1/fd/7 masked=11 ro=5 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":false,\"access\":\"rwm\"}}]\n{SYS}
/sys=sysfs:sysfs[nosuid,noexec,nodev,ro]
/sys/fs/cgroup=cgroup:cgroup[nosuid,noexec,nodev,relatime,ro]"
            ),
        );
    check(
            Network::Host,
            true,
            &user_mounts,
            &format!(
                "caps=40 nnp=false seccomp=none ns=pid,ipc,uts,mount masked=0 ro=0 rlimits=false terminal=false readonly_root=false user=65534:65534[10] devices=[{{\"allow\":true,\"access\":\"rwm\"}}]\n{SYS}
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

mod cdi {
    use super::super::*;
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
                terminal: false,
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
