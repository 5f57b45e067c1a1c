//! The default seccomp profile of every container that is not privileged
//! (`insecureRootCapabilities` turns it off), in the spirit of Docker's and
//! BuildKit's default: an allowlist, every other system call failing with
//! `EPERM`. What it keeps out is what a container's capabilities do not
//! already stop and the kernel does not namespace: new namespaces (`unshare`,
//! `setns`, namespace flags to `clone`), mounts, the kernel keyring
//! (`keyctl`, `add_key`, `request_key`), BPF, perf events, kernel modules,
//! `userfaultfd`, io_uring, clocks, reboot, swap, personality changes that
//! weaken ASLR, and `AF_VSOCK` sockets.
//!
//! The profile is data (the tables below); [`profile`] turns it into the
//! runtime config's `linux.seccomp` for the host's architecture family
//! (x86_64 with its 32-bit ABIs, or aarch64 with 32-bit arm), given the
//! container's capabilities. Names a kernel or libseccomp does not know are
//! skipped by crun and runc, so the lists can name new system calls.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

use crate::ExecError;

/// System calls any container may make, by area.
#[rustfmt::skip]
const ALLOWED: &[&[&str]] = &[
    // files and directories
    &[
        "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat", "dup",
        "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fchdir", "fchmod",
        "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "flock", "fstat",
        "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd",
        "getdents", "getdents64", "lchown", "lchown32", "link", "linkat", "_llseek", "lseek", "lstat", "lstat64",
        "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat", "open", "openat", "openat2",
        "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "rename", "renameat", "renameat2", "rmdir", "sendfile", "sendfile64", "splice",
        "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
        "syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
        "utimensat_time64", "utimes", "vmsplice", "write", "writev", "cachestat",
    ],
    // extended attributes, file notifications
    &[
        "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr", "listxattr", "llistxattr",
        "lremovexattr", "lsetxattr", "removexattr", "setxattr", "fanotify_mark", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch",
    ],
    // asynchronous IO (not io_uring)
    &["io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit"],
    // polling and events
    &[
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
        "epoll_wait_old", "eventfd", "eventfd2", "_newselect", "poll", "ppoll", "ppoll_time64", "pselect6",
        "pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
        "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
    ],
    // processes and threads (clone: see the argument rules)
    &[
        "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid", "getpid",
        "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setpgid", "setsid", "set_tid_address",
        "set_robust_list", "get_robust_list", "rseq", "restart_syscall", "prctl", "pidfd_open", "pidfd_send_signal",
        "getcpu", "getpriority", "setpriority", "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage",
        "times", "sysinfo", "uname", "capget", "capset", "seccomp", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "ioprio_get", "ioprio_set", "process_mrelease", "get_thread_area",
        "set_thread_area", "membarrier", "ptrace", "process_vm_readv", "process_vm_writev",
    ],
    // scheduling
    &[
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
        "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    ],
    // user and group ids
    &[
        "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
        "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32", "setfsgid", "setfsgid32",
        "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32",
        "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
    ],
    // memory
    &[
        "brk", "madvise", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
        "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
        "remap_file_pages", "map_shadow_stack", "mseal",
    ],
    // signals
    &[
        "alarm", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
        "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill",
    ],
    // time (reading it, sleeping, timers; setting clocks is not allowed)
    &[
        "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
        "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep",
        "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
        "timer_settime", "timer_settime64",
    ],
    // futexes and System V / POSIX IPC (namespaced)
    &[
        "futex", "futex_time64", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "ipc", "msgctl",
        "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat",
        "shmctl", "shmdt", "shmget", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
        "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "pipe", "pipe2",
    ],
    // sockets (socket itself: see the argument rules)
    &[
        "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv",
        "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto",
        "setsockopt", "shutdown", "socketcall", "socketpair",
    ],
    // ioctl (device access is the device cgroup's business), randomness
    &["ioctl", "getrandom"],
];

/// System calls of one architecture family's ABIs only.
const X86_ONLY: &[&str] = &["arch_prctl", "modify_ldt"];
const ARM_ONLY: &[&str] =
    &["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"];

/// System calls allowed when the container holds a capability (what the
/// capability guards is then the kernel's check, as in Docker's profile).
#[rustfmt::skip]
const WITH_CAPABILITY: &[(Capability, &[&str])] = &[
    (Capability::SysChroot, &["chroot"]),
    (Capability::DacReadSearch, &["open_by_handle_at"]),
    (Capability::SysPtrace, &["kcmp", "pidfd_getfd", "process_madvise"]),
    (Capability::SysNice, &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    (Capability::SysTime, &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysModule, &["delete_module", "init_module", "finit_module"]),
    (Capability::SysPacct, &["acct"]),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (Capability::SysTtyConfig, &["vhangup"]),
    (Capability::Syslog, &["syslog"]),
];

/// The namespace flags of `clone` (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET): a `clone` with any of them is refused.
const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// `socket` families refused: AF_VSOCK (talks to the hypervisor, not namespaced).
const AF_VSOCK: u64 = 40;

/// `personality` values allowed: PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26, and 0xffffffff (the query).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The architectures a filter of this host covers (the native one first).
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

fn internal(e: impl std::fmt::Display) -> ExecError {
    ExecError::Internal { message: format!("building the seccomp profile: {e}") }
}

fn rule(names: Vec<String>, args: Vec<LinuxSeccompArg>) -> Result<LinuxSyscall, ExecError> {
    let mut b = LinuxSyscallBuilder::default().names(names).action(LinuxSeccompAction::ScmpActAllow);
    if !args.is_empty() {
        b = b.args(args);
    }
    b.build().map_err(internal)
}

fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> Result<LinuxSeccompArg, ExecError> {
    LinuxSeccompArgBuilder::default().index(index).op(op).value(value).build().map_err(internal)
}

/// The profile for a container holding `caps`.
pub fn profile(caps: &HashSet<Capability>) -> Result<LinuxSeccomp, ExecError> {
    let mut names: Vec<String> = ALLOWED.iter().flat_map(|g| g.iter()).map(|s| s.to_string()).collect();
    let family: &[&str] = match std::env::consts::ARCH {
        "x86_64" | "x86" => X86_ONLY,
        "aarch64" | "arm" => ARM_ONLY,
        _ => &[],
    };
    names.extend(family.iter().map(|s| s.to_string()));
    for (cap, calls) in WITH_CAPABILITY {
        if caps.contains(cap) {
            names.extend(calls.iter().map(|s| s.to_string()));
        }
    }
    let mut syscalls = vec![rule(names, vec![])?];
    // clone without namespace flags (its first argument on x86 and arm alike)
    syscalls.push(rule(
        vec!["clone".into()],
        vec![LinuxSeccompArgBuilder::default()
            .index(0usize)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .value(CLONE_NAMESPACE_FLAGS)
            .value_two(0u64)
            .build()
            .map_err(internal)?],
    )?);
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes
    // the C libraries fall back to clone
    syscalls.push(
        LinuxSyscallBuilder::default()
            .names(vec!["clone3".to_string()])
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(ENOSYS)
            .build()
            .map_err(internal)?,
    );
    syscalls.push(rule(vec!["socket".into()], vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK)?])?);
    for p in PERSONALITIES {
        syscalls.push(rule(vec!["personality".into()], vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, *p)?])?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .architectures(architectures())
        .syscalls(syscalls)
        .build()
        .map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp) -> HashSet<String> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().iter().cloned())
            .collect()
    }

    /// (capabilities, system call, allowed without conditions)
    #[test]
    fn what_the_profile_allows() {
        let default: HashSet<Capability> = crate::spec::DEFAULT_CAPS.iter().copied().collect();
        let none = HashSet::new();
        let cases: &[(&HashSet<Capability>, &str, bool)] = &[
            (&default, "openat", true),
            (&default, "execve", true),
            (&default, "chroot", true),
            (&none, "chroot", false),
            (&default, "unshare", false),
            (&default, "setns", false),
            (&default, "mount", false),
            (&default, "umount2", false),
            (&default, "pivot_root", false),
            (&default, "keyctl", false),
            (&default, "add_key", false),
            (&default, "request_key", false),
            (&default, "bpf", false),
            (&default, "perf_event_open", false),
            (&default, "userfaultfd", false),
            (&default, "io_uring_setup", false),
            (&default, "clock_settime", false),
            (&default, "reboot", false),
            (&default, "clone", false),
            (&default, "socket", false),
        ];
        for (caps, call, want) in cases {
            assert_eq!(allowed(&profile(caps).unwrap()).contains(*call), *want, "{call} with {} caps", caps.len());
        }
    }

    #[test]
    fn refuses_by_default_and_lists_each_call_once() {
        let p = profile(&crate::spec::DEFAULT_CAPS.iter().copied().collect()).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(EPERM));
        assert!(!p.architectures().as_ref().unwrap().is_empty());
        let mut seen = HashSet::new();
        for name in ALLOWED.iter().flat_map(|g| g.iter()) {
            assert!(seen.insert(*name), "`{name}` is listed twice");
        }
        let json = serde_json::to_value(&p).unwrap();
        let clone = json["syscalls"].as_array().unwrap().iter().find(|s| s["names"][0] == "clone").unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], CLONE_NAMESPACE_FLAGS);
        let clone3 = json["syscalls"].as_array().unwrap().iter().find(|s| s["names"][0] == "clone3").unwrap();
        assert_eq!((clone3["action"].as_str(), clone3["errnoRet"].as_u64()), (Some("SCMP_ACT_ERRNO"), Some(38)));
    }
}
