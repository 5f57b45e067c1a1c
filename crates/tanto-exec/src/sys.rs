//! Every kernel call of the crate that mounts, works on files inside a container root,
//! signals processes or touches cgroups lives here, behind small functions that take
//! and return plain Rust types. The rest of the crate stays testable without root.
//! Paths inside a root resolve through tanto-fs (`openat2` with `RESOLVE_IN_ROOT`, or
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` for overlay upper dirs).
//!
//! The module mostly uses rustix's safe wrappers; its `unsafe` blocks (registering a
//! pidfd with tokio, unsharing the network namespace) carry a `// SAFETY:` note.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MountPropagationFlags, MoveMountFlags, UnmountFlags,
};
use tanto_fs::{Resolve, Root};

const TMPFS_MAGIC: u64 = 0x0102_1994;

/// Whether `path` is on a tmpfs (or ramfs-like) filesystem.
pub fn is_tmpfs(path: &Path) -> io::Result<bool> {
    let st = rustix::fs::statfs(path)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as u64 == TMPFS_MAGIC)
}

/// Mounts a private tmpfs (mode 0700, nosuid, nodev) at `path`.
pub fn mount_private_tmpfs(path: &Path) -> io::Result<()> {
    rustix::mount::mount("tmpfs", path, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, c"mode=0700")?;
    // Private propagation: mounts we make below (container roots) never reach peers.
    rustix::mount::mount_change(path, MountPropagationFlags::PRIVATE)?;
    Ok(())
}

/// Mounts an overlay at `target`. `lowers` are topmost first. With `upper` = `None` the
/// overlay is read-only and needs at least one lower.
///
/// Uses the new mount API with one `lowerdir+` per layer (kernel >= 6.8), which has no
/// length limit. Older kernels fall back to `mount(2)` with `/proc/self/fd/N` paths for
/// the lowers, which keeps the option string short for long lower lists.
pub fn mount_overlay(target: &Path, lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> io::Result<()> {
    match mount_overlay_fsconfig(target, lowers, upper) {
        Ok(()) => Ok(()),
        Err(OverlayError::Unsupported) => mount_overlay_legacy(target, lowers, upper),
        Err(OverlayError::Io(e, log)) if log.is_empty() => Err(e),
        Err(OverlayError::Io(e, log)) => Err(io::Error::new(e.kind(), format!("{e} ({log})"))),
    }
}

enum OverlayError {
    /// The kernel lacks the new mount API or `lowerdir+`.
    Unsupported,
    Io(io::Error, String),
}

fn mount_overlay_fsconfig(
    target: &Path,
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
) -> Result<(), OverlayError> {
    let fs = match rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOSYS) => return Err(OverlayError::Unsupported),
        Err(e) => return Err(OverlayError::Io(e.into(), String::new())),
    };
    let fail = |fs: &OwnedFd, e: rustix::io::Errno| OverlayError::Io(e.into(), read_fs_log(fs));
    for (i, lower) in lowers.iter().enumerate() {
        if let Err(e) = rustix::mount::fsconfig_set_string(&fs, "lowerdir+", lower.as_path()) {
            if i == 0 && e == rustix::io::Errno::INVAL && !lower.as_os_str().is_empty() && lower.is_dir() {
                // `lowerdir+` unknown: kernel older than 6.8.
                return Err(OverlayError::Unsupported);
            }
            return Err(fail(&fs, e));
        }
    }
    if let Some((upper, work)) = upper {
        rustix::mount::fsconfig_set_string(&fs, "upperdir", upper).map_err(|e| fail(&fs, e))?;
        rustix::mount::fsconfig_set_string(&fs, "workdir", work).map_err(|e| fail(&fs, e))?;
    }
    // The store reuses committed uppers as lowers of later mounts; the inode index
    // would tie them to their first mount.
    let _ = rustix::mount::fsconfig_set_string(&fs, "index", "off");
    if tanto_fs::overlay::userxattr() {
        // in a user namespace of our own: markers in `user.overlay.*`
        rustix::mount::fsconfig_set_flag(&fs, "userxattr").map_err(|e| fail(&fs, e))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(|e| fail(&fs, e))?;
    let attrs = if upper.is_none() { MountAttrFlags::MOUNT_ATTR_RDONLY } else { MountAttrFlags::empty() };
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| fail(&fs, e))?;
    rustix::mount::move_mount(&mnt, "", CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(|e| OverlayError::Io(e.into(), String::new()))?;
    Ok(())
}

/// Reads the messages the kernel attached to a filesystem context (`e overlay: ...`).
fn read_fs_log(fs: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                if !out.is_empty() {
                    out.extend_from_slice(b"; ");
                }
                out.extend_from_slice(&buf[..n]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

fn mount_overlay_legacy(target: &Path, lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> io::Result<()> {
    // Keep the lowers open so `/proc/self/fd/N` stays valid until mount(2) returns.
    let fds: Vec<OwnedFd> = lowers
        .iter()
        .map(|l| rustix::fs::open(l, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()))
        .collect::<Result<_, _>>()?;
    let mut data = Vec::<u8>::from(&b"lowerdir="[..]);
    for (i, fd) in fds.iter().enumerate() {
        if i > 0 {
            data.push(b':');
        }
        data.extend_from_slice(format!("/proc/self/fd/{}", as_raw(fd)).as_bytes());
    }
    if let Some((upper, work)) = upper {
        data.extend_from_slice(b",upperdir=");
        data.extend_from_slice(upper.as_os_str().as_bytes());
        data.extend_from_slice(b",workdir=");
        data.extend_from_slice(work.as_os_str().as_bytes());
    }
    data.extend_from_slice(b",index=off");
    if tanto_fs::overlay::userxattr() {
        data.extend_from_slice(b",userxattr");
    }
    let flags = if upper.is_none() { MountFlags::RDONLY } else { MountFlags::empty() };
    let data = std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())?;
    Ok(())
}

fn as_raw(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// Lazily detaches the mount at `target`. `EINVAL` (not a mount point) and `ENOENT`
/// count as success so cleanup can be retried.
pub fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Mount points at or below `dir` in this process's mount namespace, deepest first.
pub fn mounts_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    Ok(out)
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `rel` inside the directory tree `base` with `RESOLVE_IN_ROOT`: `..` and absolute
/// symlinks are clamped to `base`, so the result can never lie outside it.
pub fn open_in_root(base: &Path, rel: &Path, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    Root::open(base)?.open_at(rel, flags, Mode::from_raw_mode(mode))
}

/// What [`create_in_root`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
}

/// Creates `name` (one component) in the directory `parent_rel` of `base`, owned by root
/// with mode 0755 (dir) or 0644 (file). `EEXIST` is an error so callers know whether they
/// created it.
pub fn create_in_root(base: &Path, parent_rel: &Path, name: &OsStr, kind: NodeKind) -> io::Result<()> {
    let parent = open_in_root(base, parent_rel, OFlags::DIRECTORY | OFlags::RDONLY, 0)?;
    match kind {
        NodeKind::Dir => {
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))?;
            // Undo the umask: Docker creates these 0755.
            let fd = rustix::fs::openat(
                &parent,
                name,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
        }
        NodeKind::File => {
            let fd = rustix::fs::openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
        }
    }
    Ok(())
}

/// Removes `name` in `parent_rel` of `base` if it is still an empty directory or an empty
/// regular file. Returns whether it was removed.
pub fn remove_if_empty_stub(base: &Path, parent_rel: &Path, name: &OsStr) -> io::Result<bool> {
    let parent = match open_in_root(base, parent_rel, OFlags::DIRECTORY | OFlags::RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let st = match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let res = match ft {
        rustix::fs::FileType::Directory => rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR),
        rustix::fs::FileType::RegularFile if st.st_size == 0 => rustix::fs::unlinkat(&parent, name, AtFlags::empty()),
        _ => return Ok(false),
    };
    match res {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOTEMPTY) | Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::BUSY) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// After an overlay is unmounted: removes `upper/rel` when it is a directory that overlayfs
/// only copied up (because a stub was created in it): empty, not opaque, and with the mode
/// and owner of the same directory in the topmost lower that has it. Never follows
/// symlinks (the upper's contents come from the container).
pub fn prune_copied_up_dir(upper: &Path, rel: &Path, lowers: &[PathBuf]) -> io::Result<bool> {
    let open_strict = |base: &Path, rel: &Path, flags: OFlags| -> io::Result<OwnedFd> {
        let root = rustix::fs::open(base, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        tanto_fs::openat_resolved(&root, rel, flags, Mode::empty(), Resolve::Beneath)
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
    let Ok(dir) = open_strict(upper, rel, dir_flags) else {
        return Ok(false);
    };
    let st = rustix::fs::fstat(&dir)?;
    if st.st_nlink > 2 {
        return Ok(false);
    }
    let mut entries = rustix::fs::Dir::read_from(&dir)?;
    let empty = entries.all(|e| e.map(|e| matches!(e.file_name().to_bytes(), b"." | b"..")).unwrap_or(false));
    if !empty || tanto_fs::overlay::has_opaque_marker(&dir) {
        return Ok(false);
    }
    let Some(lower) = lowers.iter().find_map(|l| open_strict(l, rel, dir_flags).ok()) else {
        return Ok(false);
    };
    let lst = rustix::fs::fstat(&lower)?;
    if (lst.st_mode, lst.st_uid, lst.st_gid) != (st.st_mode, st.st_uid, st.st_gid) {
        return Ok(false);
    }
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(false);
    };
    let parent_rel: &Path = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let pfd = open_strict(upper, parent_rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
    match rustix::fs::unlinkat(&pfd, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOTEMPTY) | Err(rustix::io::Errno::NOTDIR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Opens (or creates) a file inside `base` for a stdio redirect. Writable files are
/// created 0644, truncated and handed to `uid`:`gid`.
pub fn open_redirect(base: &Path, rel: &Path, write: bool, owner: (u32, u32)) -> io::Result<fs::File> {
    let (flags, mode) =
        if write { (OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC, 0o644) } else { (OFlags::RDONLY, 0) };
    let fd = open_in_root(base, rel, flags | OFlags::NOCTTY, mode)?;
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    if write && (st.st_uid != owner.0 || st.st_gid != owner.1) {
        rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(owner.0)), Some(rustix::fs::Gid::from_raw(owner.1)))?;
    }
    Ok(fs::File::from(fd))
}

/// Reads a whole (small) file inside `base`; `Ok(None)` when it does not exist.
pub fn read_in_root(base: &Path, rel: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    match open_in_root(base, rel, OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK, 0) {
        Ok(fd) => {
            let mut out = Vec::new();
            fs::File::from(fd).take(limit).read_to_end(&mut out)?;
            Ok(Some(out))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A pidfd for a child we spawned; readable once the child exits.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?)
}

/// Registers a pidfd with the tokio reactor (readable once the process exits).
pub fn async_pidfd(pidfd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which keeps it open and unchanged
    // until the `AsyncFd` is dropped, and `as_raw_fd` on an `OwnedFd` always returns it.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`); with the
/// pid it identifies a process across pid reuse. `None` for a zombie: an engine killed
/// with SIGKILL whose parent has not reaped it yet is gone for every cleanup purpose.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    if matches!(fields.next(), Some("Z") | Some("X") | Some("x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Effective capability bits of this process (`CapEff` in /proc/self/status).
pub fn effective_caps() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// Controllers still attached to the v2 hierarchy of a hybrid cgroup layout. crun 1.8
/// refuses to run while this is non-empty.
pub fn hybrid_v2_controllers() -> Vec<String> {
    fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Mounts a v1 hierarchy for `controller` at /sys/fs/cgroup/<controller>, which detaches it
/// from the v2 hierarchy.
pub fn mount_cgroup_v1(controller: &str) -> io::Result<()> {
    if controller.is_empty() || controller.contains('/') || controller.contains(',') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let dir = Path::new("/sys/fs/cgroup").join(controller);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    rustix::mount::mount(
        "cgroup",
        &dir,
        "cgroup",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        std::ffi::CString::new(controller).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?.as_c_str(),
    )?;
    Ok(())
}

/// A device node of the host, for privileged containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDevice {
    pub path: PathBuf,
    pub block: bool,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Character and block devices under /dev (like Docker's `--privileged`), skipping the
/// filesystems the runtime mounts itself (pts, shm, mqueue) and symlinks.
pub fn host_devices() -> Vec<HostDevice> {
    fn walk(dir: &Path, out: &mut Vec<HostDevice>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if ["/dev/pts", "/dev/shm", "/dev/mqueue"].iter().any(|p| path == Path::new(p)) {
                continue;
            }
            let Ok(st) = rustix::fs::lstat(&path) else {
                continue;
            };
            match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                rustix::fs::FileType::Directory => walk(&path, out),
                t @ (rustix::fs::FileType::CharacterDevice | rustix::fs::FileType::BlockDevice) => {
                    out.push(HostDevice {
                        path,
                        block: t == rustix::fs::FileType::BlockDevice,
                        major: rustix::fs::major(st.st_rdev),
                        minor: rustix::fs::minor(st.st_rdev),
                        mode: st.st_mode & 0o7777,
                        uid: st.st_uid,
                        gid: st.st_gid,
                    })
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Moves the calling thread into a new network namespace and returns a handle to it.
/// The thread stays in that namespace: call this only on a thread that ends afterwards.
pub fn enter_new_netns() -> io::Result<OwnedFd> {
    // SAFETY: CLONE_NEWNET changes only this thread's network namespace; no file
    // descriptor table is unshared, so no other thread can observe a changed fd table.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET)? };
    Ok(rustix::fs::open("/proc/thread-self/ns/net", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?)
}

/// A TCP listener on `127.0.0.1:0` inside the network namespace `netns`, made on a
/// thread of its own (which enters the namespace and ends): the socket stays in that
/// namespace, so only processes there can connect to it.
pub fn listen_in_netns(netns: BorrowedFd<'_>) -> io::Result<std::net::TcpListener> {
    let fd = netns.try_clone_to_owned()?;
    std::thread::Builder::new()
        .name("tanto-netns-listen".into())
        .spawn(move || -> io::Result<std::net::TcpListener> {
            rustix::thread::move_into_link_name_space(fd.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))?;
            let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })?
        .join()
        .map_err(|_| io::Error::other("the listener thread panicked"))?
}

/// Whether `pid` is alive (a zombie counts as alive).
/// Makes the child of `cmd` get SIGKILL when the thread that forks it ends
/// (`PR_SET_PDEATHSIG`); a child whose parent `parent` died before that took
/// effect kills itself.
pub fn kill_with_parent(cmd: &mut std::process::Command, parent: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // system calls (prctl, getppid) and, when the parent is gone, exits: all
    // async-signal-safe, no allocation, no lock.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

pub fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
    }

    /// Both overlay paths (new mount API with `lowerdir+`, and the legacy `mount(2)` with
    /// `/proc/self/fd` lowers) with more lowers than fit in one page of options.
    #[test]
    fn overlay_with_many_lowers() {
        if !tanto_testkit::prereq::unit_test_can_run("overlay_with_many_lowers", &[tanto_testkit::prereq::Need::Root]) {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let lowers: Vec<PathBuf> = (0..150)
            .map(|i| {
                let l = t.path().join(format!("a-rather-long-layer-directory-name-{i:04}"));
                fs::create_dir(&l).unwrap();
                fs::write(l.join("n"), i.to_string()).unwrap();
                l
            })
            .collect();
        for (name, legacy) in [("fsconfig", false), ("legacy", true)] {
            let (up, work, mnt) = (
                t.path().join(format!("up-{name}")),
                t.path().join(format!("w-{name}")),
                t.path().join(format!("m-{name}")),
            );
            for d in [&up, &work, &mnt] {
                fs::create_dir(d).unwrap();
            }
            let res = if legacy {
                mount_overlay_legacy(&mnt, &lowers, Some((&up, &work)))
            } else {
                mount_overlay(&mnt, &lowers, Some((&up, &work)))
            };
            res.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(fs::read_to_string(mnt.join("n")).unwrap(), "0", "{name}: topmost lower wins");
            fs::write(mnt.join("w"), "x").unwrap();
            unmount(&mnt).unwrap();
            assert!(up.join("w").exists(), "{name}: write landed in upper");
        }
        // Read-only overlay (no upper).
        let mnt = t.path().join("ro");
        fs::create_dir(&mnt).unwrap();
        mount_overlay(&mnt, &lowers[..3], None).unwrap();
        assert!(fs::write(mnt.join("x"), "x").is_err());
        unmount(&mnt).unwrap();
    }

    #[test]
    fn own_start_time_is_known() {
        assert!(process_start_time(std::process::id()).is_some());
    }

    #[test]
    fn zombies_have_no_start_time() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it has exited.
        let t = std::time::Instant::now();
        while fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(t.elapsed() < std::time::Duration::from_secs(5));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(process_start_time(pid), None);
        child.wait().unwrap();
    }
}
