//! Rootless mode: tanto started by a normal user runs in a user namespace of
//! its own, where it is root over the IDs the user owns.
//!
//! The user's `tanto` process (the *host side*, [`host_side`]) starts itself
//! again (the *engine side*, [`enter_if_asked`]) with one end of a socket pair.
//! The engine side makes a new user and mount namespace and says so; the host
//! side writes its ID maps — the user's own ID as 0 and, when `/etc/subuid` and
//! `/etc/subgid` give the user ranges, those as 1.. through `newuidmap` and
//! `newgidmap` (Debian's `uidmap`); else only the user's own ID, which [`plan`]
//! says what it limits — and answers. From then on the host side forwards the
//! signals processes send it, starts commands that must run as the user on the
//! host (`tanto run`'s command: [`HostLink::spawn`]) and exits as the engine
//! side does.
//!
//! Invariants: the engine side unshares before any thread exists; nothing of
//! the namespace outlives the engine side (its mounts go with it, and it gets
//! SIGTERM when the host side dies); the host side never reads stdin or
//! writes stdout, so an SDK's session protocol passes through untouched.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};

use crate::runtime::find_binary;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketFlags, SocketType,
};

/// The environment variable that hands the engine side its end of the socket pair.
const FD_ENV: &str = "_TANTO_USERNS_FD";

/// A range of subordinate IDs (`/etc/subuid`, `/etc/subgid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubIds {
    pub start: u32,
    pub count: u32,
}

/// The first range `/etc/subuid`-style `text` gives the user `name` (or `id`).
pub fn subordinate(text: &str, name: Option<&str>, id: u32) -> Option<SubIds> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let (who, start, count) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse::<u32>().ok()?);
        let ours = Some(who) == name || who.parse::<u32>().ok() == Some(id);
        (ours && count > 0).then_some(SubIds { start, count })
    })
}

/// The ID maps the host side writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapPlan {
    /// The user as 0, their subordinate ranges as 1.. (through newuidmap/newgidmap).
    Subordinate { uid: SubIds, gid: SubIds },
    /// Only the user's own IDs, as 0; `why` says why and what that limits.
    Single { why: String },
}

/// What it limits to map only the user's own ID.
pub const SINGLE_LIMITS: &str = "files that images give to users other than root are the user's own, and containers cannot switch to another user (`withUser`, `USER` in images); give the user subordinate IDs (`scripts/rootless-user.sh USER` or `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`, as root) and install `uidmap`";

/// Why ID `id` cannot be used in this process's user namespace, which maps
/// `mapped` IDs from 0.
pub fn unmapped(id: u32, mapped: u64) -> String {
    if mapped <= 1 {
        format!("ID {id} does not exist in this rootless engine's user namespace (only your own ID is mapped): {SINGLE_LIMITS}")
    } else {
        format!(
            "ID {id} is outside the IDs this rootless engine's user namespace maps (0-{}): give the user a larger subordinate range in /etc/subuid and /etc/subgid",
            mapped - 1
        )
    }
}

/// Which maps to write for user `name`/`uid`, from the texts of `/etc/subuid`
/// and `/etc/subgid` (both keyed by the user's name or UID, as
/// `newuidmap`/`newgidmap` read them) and whether those helpers are installed.
pub fn plan(name: Option<&str>, uid: u32, subuid: Option<&str>, subgid: Option<&str>, helpers: bool) -> MapPlan {
    let who = name.map(str::to_string).unwrap_or_else(|| uid.to_string());
    let ranges = (subuid.and_then(|t| subordinate(t, name, uid)), subgid.and_then(|t| subordinate(t, name, uid)));
    match ranges {
        (Some(u), Some(g)) if helpers => MapPlan::Subordinate { uid: u, gid: g },
        (Some(_), Some(_)) => MapPlan::Single { why: "`newuidmap`/`newgidmap` are not installed".into() },
        (None, _) => MapPlan::Single { why: format!("/etc/subuid has no range for `{who}`") },
        (_, None) => MapPlan::Single { why: format!("/etc/subgid has no range for `{who}`") },
    }
}

/// The login name and home directory of user `uid` (through NSS, so LDAP and
/// sssd users count).
pub fn passwd_entry(uid: u32) -> Option<(String, PathBuf)> {
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (whose length it is given)
    // and sets `result` to `&pwd` or null; the strings read below point into `buf`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        let home = if pwd.pw_dir.is_null() {
            PathBuf::new()
        } else {
            PathBuf::from(OsStr::from_bytes(std::ffi::CStr::from_ptr(pwd.pw_dir).to_bytes()))
        };
        Some((name, home))
    }
}

/// The name of user `uid` (`$USER` when NSS does not know it).
pub fn user_name(uid: u32) -> Option<String> {
    passwd_entry(uid).map(|(n, _)| n).or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
}

/// The plan for this process's user, from the system's files.
pub fn plan_for_me() -> MapPlan {
    let uid = rustix::process::getuid().as_raw();
    let name = user_name(uid);
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let helpers = find_binary("newuidmap").is_some() && find_binary("newgidmap").is_some();
    plan(name.as_deref(), uid, read("/etc/subuid").as_deref(), read("/etc/subgid").as_deref(), helpers)
}

/// Writes the engine side's ID maps. A helper that fails (not setuid, say)
/// leaves its map to the user's own ID, with a note: the engine then says what
/// that limits.
fn write_maps(pid: u32, plan: &MapPlan) -> Result<(), String> {
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    let single = |file: &str, own: u32| -> Result<(), String> {
        let w = |file: &str, text: String| {
            std::fs::write(format!("/proc/{pid}/{file}"), text).map_err(|e| format!("writing /proc/{pid}/{file}: {e}"))
        };
        if file == "gid_map" {
            // an unprivileged gid_map needs setgroups denied first
            w("setgroups", "deny".into())?;
        }
        w(file, format!("0 {own} 1\n"))
    };
    let MapPlan::Subordinate { uid: su, gid: sg } = plan else {
        single("gid_map", gid)?;
        return single("uid_map", uid);
    };
    let jobs = [("newuidmap", "uid_map", uid, su), ("newgidmap", "gid_map", gid, sg)];
    let bins: Vec<PathBuf> = jobs
        .iter()
        .map(|(tool, ..)| {
            find_binary(tool).ok_or_else(|| format!("`{tool}` is not installed (apt-get install uidmap)"))
        })
        .collect::<Result<_, _>>()?;
    // both at once: each is a process start of its own
    let running: Vec<_> = jobs
        .iter()
        .zip(&bins)
        .map(|((tool, _, own, sub), bin)| {
            let child = Command::new(bin)
                .args([pid.to_string(), "0".into(), own.to_string(), "1".into(), "1".into()])
                .args([sub.start.to_string(), sub.count.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn();
            (*tool, child)
        })
        .collect();
    for ((tool, child), (_, file, own, _)) in running.into_iter().zip(&jobs) {
        let failed = match child.and_then(|c| c.wait_with_output()) {
            Ok(out) if out.status.success() => continue,
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        eprintln!("tanto: `{tool}` failed ({failed}): mapping only your own ID");
        single(file, *own)?;
    }
    Ok(())
}

fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

/// Descriptors one message carries at most: a command's stdio and its request.
const MAX_FDS: usize = 4;
/// The largest spawn request read (argv and environment; `execve` takes ~2 MiB).
const MAX_REQUEST: u64 = 64 << 20;

fn send(fd: impl AsFd, msg: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> io::Result<()> {
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    rustix::net::sendmsg(fd, &[io::IoSlice::new(msg)], &mut anc, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// One message and the descriptors that came with it; `None` at end of stream.
fn recv(fd: impl AsFd) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 64 << 10];
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(&fd, &mut [io::IoSliceMut::new(&mut buf)], &mut anc, RecvFlags::CMSG_CLOEXEC) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if got.bytes == 0 {
        return Ok(None);
    }
    buf.truncate(got.bytes);
    Ok(Some((buf, fds)))
}

/// Length-prefixed fields after a one-byte kind.
fn encode(kind: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![kind];
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn decode(msg: &[u8]) -> Option<(u8, Vec<&[u8]>)> {
    let (&kind, mut rest) = msg.split_first()?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        fields.push(rest.get(4..4 + len)?);
        rest = &rest[4 + len..];
    }
    Some((kind, fields))
}

fn num<T: std::str::FromStr>(f: Option<&&[u8]>) -> Option<T> {
    std::str::from_utf8(f?).ok()?.parse().ok()
}

/// The exit code a shell would report for `status` (128 + signal when killed).
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => (128 + s) as u8,
        _ => 1,
    }
}

/// Runs this command again in a user namespace and serves it until it exits;
/// returns the exit code to leave with. Call from `main` before any thread
/// exists, when not root and not already in the namespace.
pub fn host_side() -> u8 {
    match host_side_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tanto: rootless mode: {e}");
            1
        }
    }
}

/// The signals the host side takes and forwards.
fn forwarded() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn host_side_inner() -> Result<u8, String> {
    let (ours, theirs) = seqpacket_pair().map_err(|e| format!("making a socket pair: {e}"))?;
    // The engine side's end survives exec.
    rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty()).map_err(|e| e.to_string())?;
    // Signals are taken with sigwait below (the children unblock them again).
    // SAFETY: a signal-mask call on this (so far only) thread.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &forwarded(), std::ptr::null_mut()) };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "tanto".into());
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(argv0).args(args).env(FD_ENV, theirs.as_raw_fd().to_string());
    let parent = std::process::id();
    // SAFETY: async-signal-safe calls only (sigprocmask, prctl, getppid, _exit)
    // in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            unblock_signals();
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
                libc::_exit(1); // the host side is gone already
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("starting the engine side: {e}"))?;
    drop(theirs);
    let pid = child.id();
    let wait = |child: &mut std::process::Child| -> Result<u8, String> {
        child.wait().map(exit_code).map_err(|e| format!("waiting for the engine side: {e}"))
    };
    match recv(&ours) {
        Ok(Some((m, _))) if m == b"u" => {}
        // it could not unshare and said why on stderr
        _ => return wait(&mut child),
    }
    let answer = match write_maps(pid, &plan_for_me()) {
        Ok(()) => b"m".to_vec(),
        Err(e) => [b"e".as_slice(), e.as_bytes()].concat(),
    };
    let _ = send(&ours, &answer, &[]);
    std::thread::Builder::new()
        .name("tanto-signals".into())
        .spawn(move || loop {
            // SAFETY: sigwaitinfo on the blocked set; kill of the engine side's pid,
            // which this process has not reaped while this thread runs.
            unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let sig = libc::sigwaitinfo(&forwarded(), &mut info);
                // A terminal's signals reach the whole process group already.
                if sig > 0 && info.si_code != libc::SI_KERNEL {
                    libc::kill(pid as i32, sig);
                }
            }
        })
        .map_err(|e| format!("starting the signal thread: {e}"))?;
    Served::default().serve(ours);
    wait(&mut child)
}

/// Children start with no signal blocked (the host side blocks the ones it
/// forwards, and a forked child inherits its thread's mask). Async-signal-safe.
fn unblock_signals() {
    // SAFETY: sigemptyset/sigprocmask on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The commands the host side started for the engine side and that still run,
/// by pid, each with a pidfd (signals never reach a reused pid).
#[derive(Default, Clone)]
struct Served {
    running: Arc<Mutex<HashMap<u32, OwnedFd>>>,
}

impl Served {
    /// Serves the engine side's requests until it closes its end; then ends
    /// what it started (SIGTERM, SIGKILL after 5 s): nothing outlives it.
    fn serve(&self, link: OwnedFd) {
        let link = Arc::new(link);
        loop {
            let (msg, fds) = match recv(&*link) {
                Ok(Some(m)) => m,
                Ok(None) | Err(_) => break,
            };
            let Some((kind, fields)) = decode(&msg) else { continue };
            match kind {
                b'S' => {
                    let id = fields.first().copied().unwrap_or_default().to_vec();
                    let reply = match self.start(fds, &link) {
                        Ok(pid) => encode(b'P', &[&id, pid.to_string().as_bytes()]),
                        Err(e) => encode(b'E', &[&id, e.as_bytes()]),
                    };
                    let _ = send(&*link, &reply, &[]);
                }
                b'K' => {
                    if let (Some(pid), Some(sig)) = (num::<u32>(fields.first()), num::<i32>(fields.get(1))) {
                        self.signal(Some(pid), sig);
                    }
                }
                _ => {}
            }
        }
        self.signal(None, libc::SIGTERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !self.lock().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.signal(None, libc::SIGKILL);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, OwnedFd>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `sig` to the running command `pid` (all of them: `None`).
    fn signal(&self, pid: Option<u32>, sig: i32) {
        let Some(sig) = rustix::process::Signal::from_named_raw(sig) else { return };
        for (p, fd) in self.lock().iter() {
            if pid.is_none_or(|want| want == *p) {
                let _ = rustix::process::pidfd_send_signal(fd, sig);
            }
        }
    }

    /// Starts a command from a spawn request (stdin, stdout, stderr, and the
    /// request: cwd, argc, argv..., env `K=V`...) and a thread that reports its exit.
    fn start(&self, fds: Vec<OwnedFd>, link: &Arc<OwnedFd>) -> Result<u32, String> {
        let bad = || "a malformed request to start a command".to_string();
        let [stdin, stdout, stderr, request]: [OwnedFd; 4] = fds.try_into().map_err(|_| bad())?;
        let mut body = Vec::new();
        let mut file = std::fs::File::from(request);
        io::Seek::rewind(&mut file).map_err(|e| e.to_string())?;
        io::Read::read_to_end(&mut io::Read::take(&mut file, MAX_REQUEST), &mut body).map_err(|e| e.to_string())?;
        let (_, fields) = decode(&body).ok_or_else(bad)?;
        let cwd = OsStr::from_bytes(fields.first().ok_or_else(bad)?);
        let argc: usize = num(fields.get(1)).ok_or_else(bad)?;
        let argv = fields.get(2..2 + argc).ok_or_else(bad)?;
        let program = OsStr::from_bytes(argv.first().ok_or_else(bad)?);
        let mut cmd = Command::new(program);
        cmd.args(argv[1..].iter().map(|a| OsStr::from_bytes(a))).current_dir(cwd).env_clear();
        for kv in &fields[2 + argc..] {
            if let Some(eq) = kv.iter().position(|&b| b == b'=') {
                cmd.env(OsStr::from_bytes(&kv[..eq]), OsStr::from_bytes(&kv[eq + 1..]));
            }
        }
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        // SAFETY: sigprocmask only, in the forked child.
        unsafe {
            cmd.pre_exec(|| {
                unblock_signals();
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("starting `{}`: {e}", program.to_string_lossy()))?;
        let pid = child.id();
        let pidfd = rustix::process::Pid::from_raw(pid as i32).ok_or_else(bad).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| e.to_string())
        });
        match pidfd {
            Ok(fd) => {
                self.lock().insert(pid, fd);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("watching `{}`: {e}", program.to_string_lossy()));
            }
        }
        let (served, link) = (self.clone(), link.clone());
        let waiter = std::thread::Builder::new().name("tanto-host-child".into()).spawn(move || {
            let status = child.wait().map(|s| s.into_raw()).unwrap_or(1 << 8);
            served.lock().remove(&pid);
            let _ = send(&*link, &encode(b'X', &[pid.to_string().as_bytes(), status.to_string().as_bytes()]), &[]);
        });
        waiter.map(|_| pid).map_err(|e| format!("starting a thread: {e}"))
    }
}

/// The engine side's link to the host side, once [`enter_if_asked`] entered.
static LINK: OnceLock<HostLink> = OnceLock::new();

/// Enters the user namespace when this process is the engine side of
/// [`host_side`]; `Ok(false)` when it is not. Call first thing in `main`,
/// before any thread exists.
pub fn enter_if_asked() -> Result<bool, String> {
    let Some(raw) = std::env::var_os(FD_ENV) else { return Ok(false) };
    // SAFETY: no other thread exists yet (the caller's contract).
    unsafe { std::env::remove_var(FD_ENV) };
    let raw: RawFd = raw.to_str().and_then(|s| s.parse().ok()).ok_or("a malformed engine-side descriptor")?;
    // SAFETY: the host side passed this descriptor to us and nothing else owns it.
    let link = unsafe { OwnedFd::from_raw_fd(raw) };
    rustix::io::fcntl_setfd(&link, rustix::io::FdFlags::CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: single-threaded (the caller's contract); this process's namespaces only.
    let unshared = unsafe {
        rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS)
    };
    if let Err(e) = unshared {
        return Err(format!(
            "cannot make a user namespace ({e}): rootless mode needs unprivileged user namespaces (`sysctl user.max_user_namespaces` above 0; on Debian and Ubuntu also `kernel.unprivileged_userns_clone=1` and no AppArmor restriction), or run tanto as root"
        ));
    }
    send(&link, b"u", &[]).map_err(|e| format!("talking to the host side: {e}"))?;
    match recv(&link) {
        Ok(Some((m, _))) if m == b"m" => {}
        Ok(Some((m, _))) if m.first() == Some(&b'e') => {
            return Err(format!("writing the user namespace's ID maps: {}", String::from_utf8_lossy(&m[1..])));
        }
        _ => return Err("the host side did not answer".into()),
    }
    // Our mounts stay ours.
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| format!("making the mount namespace private: {e}"))?;
    let _ = LINK.set(HostLink { fd: Arc::new(link), state: Default::default() });
    Ok(true)
}

/// The link to the host side, in the engine side of rootless mode.
pub fn host_link() -> Option<&'static HostLink> {
    LINK.get()
}

/// Set for the commands `tanto unshare` runs in the namespace (and theirs).
pub const UNSHARED_ENV: &str = "TANTO_UNSHARED";

/// Whether this process runs in tanto's user namespace: the engine side of
/// rootless mode, or a command `tanto unshare` started there. Root in some
/// other user namespace (a container's) is not rootless.
pub fn entered() -> bool {
    LINK.get().is_some() || (std::env::var_os(UNSHARED_ENV).is_some() && tanto_fs::ids::in_user_namespace())
}

/// Starts commands as the user on the host (outside the namespace).
pub struct HostLink {
    fd: Arc<OwnedFd>,
    state: Arc<Mutex<LinkState>>,
}

#[derive(Default)]
struct LinkState {
    reader: bool,
    next: u64,
    /// Spawn requests waiting for their answer, by request id.
    answers: HashMap<u64, std::sync::mpsc::Sender<Result<u32, String>>>,
    waiting: HashMap<u32, tokio::sync::oneshot::Sender<i32>>,
    exited: HashMap<u32, i32>,
}

/// A command the host side started.
pub struct HostChild {
    pid: u32,
    exit: Option<tokio::sync::oneshot::Receiver<i32>>,
    status: Option<std::process::ExitStatus>,
    fd: Arc<OwnedFd>,
}

impl HostChild {
    /// Waits for it to exit.
    pub async fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let rx = self.exit.take().ok_or_else(|| io::Error::other("already waited"))?;
        let raw = rx.await.map_err(|_| io::Error::other("the host side is gone"))?;
        let status = std::process::ExitStatus::from_raw(raw);
        self.status = Some(status);
        Ok(status)
    }

    /// Sends it SIGKILL (the host side signals only commands it started and
    /// that still run).
    pub fn kill(&self) {
        let _ = send(
            &*self.fd,
            &encode(b'K', &[self.pid.to_string().as_bytes(), libc::SIGKILL.to_string().as_bytes()]),
            &[],
        );
    }
}

impl HostLink {
    fn start_reader(&self) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.reader {
            return Ok(());
        }
        let (fd, state) = (self.fd.clone(), self.state.clone());
        std::thread::Builder::new().name("tanto-host-link".into()).spawn(move || loop {
            let Ok(Some((msg, _))) = recv(&*fd) else {
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                st.waiting.clear();
                st.answers.clear();
                return;
            };
            let Some((kind, fields)) = decode(&msg) else { continue };
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            match kind {
                b'P' | b'E' => {
                    let answer = match (kind, fields.get(1)) {
                        (b'P', f) => num::<u32>(f).ok_or_else(|| "a malformed answer".to_string()),
                        (_, f) => Err(String::from_utf8_lossy(f.copied().unwrap_or_default()).into_owned()),
                    };
                    if let Some(tx) = num::<u64>(fields.first()).and_then(|id| st.answers.remove(&id)) {
                        let _ = tx.send(answer);
                    }
                }
                b'X' => {
                    if let (Some(pid), Some(status)) = (num::<u32>(fields.first()), num::<i32>(fields.get(1))) {
                        match st.waiting.remove(&pid) {
                            Some(tx) => {
                                let _ = tx.send(status);
                            }
                            None => {
                                st.exited.insert(pid, status);
                            }
                        }
                    }
                }
                _ => {}
            }
        })?;
        st.reader = true;
        Ok(())
    }

    /// Starts `argv` on the host as the user, in `cwd` with exactly `env`, with
    /// these stdio descriptors. Blocking (a round trip to the host side).
    pub fn spawn(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
        cwd: &Path,
        stdio: [OwnedFd; 3],
    ) -> io::Result<HostChild> {
        self.start_reader()?;
        let argc = argv.len().to_string();
        let mut fields: Vec<Vec<u8>> = vec![cwd.as_os_str().as_bytes().to_vec(), argc.into_bytes()];
        fields.extend(argv.iter().map(|a| a.as_bytes().to_vec()));
        fields.extend(env.iter().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()));
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        // The request goes in a memory file: argv and environment may be larger
        // than one socket message.
        let request = rustix::fs::memfd_create("tanto-spawn", rustix::fs::MemfdFlags::CLOEXEC)?;
        io::Write::write_all(&mut std::fs::File::from(request.try_clone()?), &encode(b'R', &refs))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let id = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.next += 1;
            let id = st.next;
            st.answers.insert(id, tx);
            id
        };
        let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd(), request.as_fd()];
        let sent = send(&*self.fd, &encode(b'S', &[id.to_string().as_bytes()]), &fds);
        let answer = sent.and_then(|()| {
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .map_err(|_| io::Error::other("the host side did not answer"))
        });
        let pid = match answer {
            Ok(a) => a.map_err(io::Error::other)?,
            Err(e) => {
                self.state.lock().unwrap_or_else(|p| p.into_inner()).answers.remove(&id);
                return Err(e);
            }
        };
        let (tx, exit) = tokio::sync::oneshot::channel();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.exited.remove(&pid) {
            Some(status) => {
                let _ = tx.send(status);
            }
            None => {
                st.waiting.insert(pid, tx);
            }
        }
        Ok(HostChild { pid, exit: Some(exit), status: None, fd: self.fd.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges() {
        let text = "alice:100000:65536\n1001:200000:65536\nbob:300000:0\n# comment\nbob:400000:1000\n";
        // (name, id, range)
        let cases = [
            (Some("alice"), 1000, Some(SubIds { start: 100000, count: 65536 })),
            (Some("carol"), 1001, Some(SubIds { start: 200000, count: 65536 })),
            (Some("bob"), 1002, Some(SubIds { start: 400000, count: 1000 })),
            (Some("dave"), 1003, None),
            (None, 1001, Some(SubIds { start: 200000, count: 65536 })),
        ];
        for (name, id, want) in cases {
            assert_eq!(subordinate(text, name, id), want, "{name:?} {id}");
        }
    }

    #[test]
    fn plans() {
        let sub = "u:100000:65536\n";
        let r = SubIds { start: 100000, count: 65536 };
        // (subuid, subgid, helpers installed, plan says)
        let cases = [
            (Some(sub), Some(sub), true, "subordinate"),
            (Some(sub), Some(sub), false, "not installed"),
            (None, Some(sub), true, "/etc/subuid has no range for `u`"),
            (Some(""), Some(sub), true, "/etc/subuid has no range for `u`"),
            (Some(sub), None, true, "/etc/subgid has no range for `u`"),
        ];
        for (su, sg, helpers, want) in cases {
            let got = plan(Some("u"), 1000, su, sg, helpers);
            match &got {
                MapPlan::Subordinate { uid, gid } => assert_eq!((want, *uid, *gid), ("subordinate", r, r)),
                MapPlan::Single { why } => assert!(why.contains(want), "{why} / {want}"),
            }
        }
        // /etc/subgid is keyed by the user (name or UID), never by a group ID
        let by_uid = plan(Some("u"), 1002, Some("1002:100000:65536\n"), Some("100:5:9\n1002:200000:65536\n"), true);
        let g = SubIds { start: 200000, count: 65536 };
        assert_eq!(by_uid, MapPlan::Subordinate { uid: r, gid: g });
    }

    #[test]
    fn messages_round_trip() {
        let fields: [&[u8]; 4] = [b"/tmp", b"", b"a=b", &[0, 1, 2, 255]];
        let msg = encode(b'S', &fields);
        let (kind, got) = decode(&msg).unwrap();
        assert_eq!(kind, b'S');
        assert_eq!(got, fields);
        assert!(decode(&msg[..msg.len() - 1]).is_none(), "a cut message is refused");
        assert!(decode(&[]).is_none());
    }
}
