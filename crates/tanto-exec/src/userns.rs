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
pub const SINGLE_LIMITS: &str = "files that images give to users other than root are the user's own, and containers cannot switch to another user (`withUser`, `USER` in images); give the user subordinate IDs (`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`, as root) and install `uidmap`";

/// Which maps to write for user `name`/`uid` (group `gid`), from the texts of
/// `/etc/subuid` and `/etc/subgid` and whether `newuidmap`/`newgidmap` are
/// installed.
pub fn plan(
    name: Option<&str>,
    uid: u32,
    gid: u32,
    subuid: Option<&str>,
    subgid: Option<&str>,
    helpers: bool,
) -> MapPlan {
    let who = name.map(str::to_string).unwrap_or_else(|| uid.to_string());
    let ranges = (subuid.and_then(|t| subordinate(t, name, uid)), subgid.and_then(|t| subordinate(t, name, gid)));
    match ranges {
        (Some(u), Some(g)) if helpers => MapPlan::Subordinate { uid: u, gid: g },
        (Some(_), Some(_)) => MapPlan::Single { why: "`newuidmap`/`newgidmap` are not installed".into() },
        (None, _) => MapPlan::Single { why: format!("/etc/subuid has no range for `{who}`") },
        (_, None) => MapPlan::Single { why: format!("/etc/subgid has no range for `{who}`") },
    }
}

/// The name of user `uid` in /etc/passwd (`$USER` when it is not there).
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
        })
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
}

/// A helper program on the usual system paths.
pub fn find_helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].into_iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The plan for this process's user, from the system's files.
pub fn plan_for_me() -> MapPlan {
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    let name = user_name(uid);
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let helpers = find_helper("newuidmap").is_some() && find_helper("newgidmap").is_some();
    plan(name.as_deref(), uid, gid, read("/etc/subuid").as_deref(), read("/etc/subgid").as_deref(), helpers)
}

fn write_maps(pid: u32, plan: &MapPlan) -> Result<(), String> {
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    match plan {
        MapPlan::Subordinate { uid: su, gid: sg } => {
            // both at once: each is a process start of its own
            let mut running = Vec::new();
            for (tool, own, sub) in [("newuidmap", uid, su), ("newgidmap", gid, sg)] {
                let bin =
                    find_helper(tool).ok_or_else(|| format!("`{tool}` is not installed (apt-get install uidmap)"))?;
                let child = Command::new(&bin)
                    .args([pid.to_string(), "0".into(), own.to_string(), "1".into(), "1".into()])
                    .args([sub.start.to_string(), sub.count.to_string()])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("running `{}`: {e}", bin.display()))?;
                running.push((tool, child));
            }
            let mut failed = Vec::new();
            for (tool, child) in running {
                match child.wait_with_output() {
                    Ok(out) if out.status.success() => {}
                    Ok(out) => failed.push(format!("`{tool}` failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
                    Err(e) => failed.push(format!("waiting for `{tool}`: {e}")),
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("; "))
            }
        }
        MapPlan::Single { .. } => {
            let w = |file: &str, text: String| {
                std::fs::write(format!("/proc/{pid}/{file}"), text)
                    .map_err(|e| format!("writing /proc/{pid}/{file}: {e}"))
            };
            w("setgroups", "deny".into())?;
            w("gid_map", format!("0 {gid} 1\n"))?;
            w("uid_map", format!("0 {uid} 1\n"))
        }
    }
}

fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

fn send(fd: impl AsFd, msg: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> io::Result<()> {
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    rustix::net::sendmsg(fd, &[io::IoSlice::new(msg)], &mut anc, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// One message and the descriptors that came with it; `None` at end of stream.
fn recv(fd: impl AsFd) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 1 << 20];
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
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

const FORWARDED: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

fn host_side_inner() -> Result<u8, String> {
    let (ours, theirs) = seqpacket_pair().map_err(|e| format!("making a socket pair: {e}"))?;
    // The engine side's end survives exec.
    rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty()).map_err(|e| e.to_string())?;
    // Signals are taken with sigwait below (the children start with none blocked).
    // SAFETY: plain signal-mask calls on this (so far only) thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "tanto".into());
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(argv0).args(args).env(FD_ENV, theirs.as_raw_fd().to_string());
    // SAFETY: async-signal-safe calls only (sigprocmask, prctl) in the forked child.
    unsafe {
        cmd.pre_exec(|| {
            unblock_signals();
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("starting the engine side: {e}"))?;
    drop(theirs);
    let pid = child.id();
    let wait = |child: &mut std::process::Child| -> Result<u8, String> {
        let status = child.wait().map_err(|e| format!("waiting for the engine side: {e}"))?;
        Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(s)) => (128 + s) as u8,
            _ => 1,
        })
    };
    match recv(&ours) {
        Ok(Some((m, _))) if m == b"u" => {}
        // it could not unshare and said why on stderr
        _ => return wait(&mut child),
    }
    let plan = plan_for_me();
    let answer = match write_maps(pid, &plan) {
        Ok(()) => b"m".to_vec(),
        Err(e) => [b"e".as_slice(), e.as_bytes()].concat(),
    };
    let _ = send(&ours, &answer, &[]);
    std::thread::Builder::new()
        .name("tanto-signals".into())
        .spawn(move || loop {
            // SAFETY: sigwaitinfo on the blocked set; kill with a plain pid.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for s in FORWARDED {
                    libc::sigaddset(&mut set, s);
                }
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let sig = libc::sigwaitinfo(&set, &mut info);
                // A terminal's signals reach the whole process group already.
                if sig > 0 && info.si_code != libc::SI_KERNEL {
                    libc::kill(pid as i32, sig);
                }
            }
        })
        .map_err(|e| format!("starting the signal thread: {e}"))?;
    serve(ours);
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

/// Serves the engine side's requests until it closes its end.
fn serve(link: OwnedFd) {
    let link = Arc::new(link);
    loop {
        let (msg, fds) = match recv(&*link) {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => return,
        };
        let Some((kind, fields)) = decode(&msg) else { continue };
        match kind {
            b'S' => {
                let reply = match spawn_here(&fields, fds) {
                    Ok(mut child) => {
                        let pid = child.id();
                        let link = link.clone();
                        let waiter = std::thread::Builder::new().name("tanto-host-child".into()).spawn(move || {
                            let status = child.wait().map(|s| s.into_raw()).unwrap_or(1 << 8);
                            let _ = send(
                                &*link,
                                &encode(b'X', &[pid.to_string().as_bytes(), status.to_string().as_bytes()]),
                                &[],
                            );
                        });
                        match waiter {
                            Ok(_) => encode(b'P', &[pid.to_string().as_bytes()]),
                            Err(e) => encode(b'E', &[e.to_string().as_bytes()]),
                        }
                    }
                    Err(e) => encode(b'E', &[e.as_bytes()]),
                };
                let _ = send(&*link, &reply, &[]);
            }
            b'K' => {
                if let (Some(pid), Some(sig)) = (num::<i32>(fields.first()), num::<i32>(fields.get(1))) {
                    // SAFETY: kill with a pid this side started.
                    unsafe { libc::kill(pid, sig) };
                }
            }
            _ => {}
        }
    }
}

/// Starts a command from a spawn request: cwd, argc, argv..., env `K=V`...; with
/// stdin, stdout and stderr.
fn spawn_here(fields: &[&[u8]], fds: Vec<OwnedFd>) -> Result<std::process::Child, String> {
    let bad = || "a malformed request to start a command".to_string();
    let cwd = OsStr::from_bytes(fields.first().ok_or_else(bad)?);
    let argc: usize = num(fields.get(1)).ok_or_else(bad)?;
    let argv = fields.get(2..2 + argc).ok_or_else(bad)?;
    let env = &fields[2 + argc..];
    let [stdin, stdout, stderr]: [OwnedFd; 3] = fds.try_into().map_err(|_| bad())?;
    let program = OsStr::from_bytes(argv.first().ok_or_else(bad)?);
    let mut cmd = Command::new(program);
    cmd.args(argv[1..].iter().map(|a| OsStr::from_bytes(a))).current_dir(cwd).env_clear();
    for kv in env {
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
    cmd.spawn().map_err(|e| format!("starting `{}`: {e}", program.to_string_lossy()))
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
        other => return Err(format!("the host side did not answer ({:?})", other.map(|o| o.map(|(m, _)| m)))),
    }
    // Our mounts stay ours.
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| format!("making the mount namespace private: {e}"))?;
    let _ = LINK.set(HostLink { fd: Arc::new(link), state: Default::default(), spawn: Mutex::new(()) });
    Ok(true)
}

/// The link to the host side, in the engine side of rootless mode.
pub fn host_link() -> Option<&'static HostLink> {
    LINK.get()
}

/// Starts commands as the user on the host (outside the namespace).
pub struct HostLink {
    fd: Arc<OwnedFd>,
    state: Arc<Mutex<LinkState>>,
    /// One spawn request at a time: its answer is the next `P`/`E` message.
    spawn: Mutex<()>,
}

#[derive(Default)]
struct LinkState {
    reader: bool,
    answer: Option<std::sync::mpsc::Sender<Result<u32, String>>>,
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
    pub fn id(&self) -> u32 {
        self.pid
    }

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

    /// Sends it SIGKILL.
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
                st.answer = None;
                return;
            };
            let Some((kind, fields)) = decode(&msg) else { continue };
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            match kind {
                b'P' => {
                    if let (Some(tx), Some(pid)) = (st.answer.take(), num::<u32>(fields.first())) {
                        let _ = tx.send(Ok(pid));
                    }
                }
                b'E' => {
                    if let Some(tx) = st.answer.take() {
                        let _ =
                            tx.send(Err(String::from_utf8_lossy(fields.first().copied().unwrap_or_default()).into()));
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
        let _one = self.spawn.lock().unwrap_or_else(|p| p.into_inner());
        let argc = argv.len().to_string();
        let mut fields: Vec<Vec<u8>> = vec![cwd.as_os_str().as_bytes().to_vec(), argc.into_bytes()];
        fields.extend(argv.iter().map(|a| a.as_bytes().to_vec()));
        fields.extend(env.iter().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()));
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        self.state.lock().unwrap_or_else(|p| p.into_inner()).answer = Some(tx);
        let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()];
        send(&*self.fd, &encode(b'S', &refs), &fds)?;
        let pid = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .map_err(|_| io::Error::other("the host side did not answer"))?
            .map_err(io::Error::other)?;
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
            let got = plan(Some("u"), 1000, 1000, su, sg, helpers);
            match &got {
                MapPlan::Subordinate { uid, gid } => assert_eq!((want, *uid, *gid), ("subordinate", r, r)),
                MapPlan::Single { why } => assert!(why.contains(want), "{why} / {want}"),
            }
        }
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
