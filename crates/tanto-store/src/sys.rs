//! The few kernel calls the store makes: read-only overlay mounts for views,
//! and process liveness for crash recovery.

use std::path::Path;

/// `pid:starttime`, which identifies a process even across pid reuse.
pub fn owner_token(pid: u32) -> String {
    format!("{pid}:{}", start_time(pid).unwrap_or(0))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote `token` is still running.
pub fn owner_alive(token: &str) -> bool {
    let Some((pid, _)) = token.split_once(':') else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    owner_token(pid) == token
}

fn escape_overlay_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Mounts an overlay of `lowers` (topmost first) at `target`: read-only
/// without `upper`, writable into `upper` (with its `work` dir) otherwise.
pub fn mount_overlay(
    lowers: &[std::path::PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> std::io::Result<()> {
    let lowerdir: Vec<String> = lowers.iter().map(|p| escape_overlay_path(p)).collect();
    let mut data = format!("lowerdir={}", lowerdir.join(":"));
    let mut flags = rustix::mount::MountFlags::RDONLY;
    if let Some((upper, work)) = upper {
        data.push_str(&format!(",upperdir={},workdir={}", escape_overlay_path(upper), escape_overlay_path(work)));
        flags = rustix::mount::MountFlags::empty();
    }
    if tanto_fs::overlay::userxattr() {
        // in a user namespace of our own: markers in `user.overlay.*`
        data.push_str(",userxattr");
    }
    let data = std::ffi::CString::new(data).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str()).map_err(std::io::Error::from)
}

pub fn unmount(target: &Path) -> std::io::Result<()> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(std::io::Error::from)
}

/// Mount points at or below `root`, deepest first (from /proc/self/mountinfo).
pub fn mounts_below(root: &Path) -> Vec<std::path::PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return vec![] };
    let prefix = root.to_string_lossy().to_string();
    let mut found: Vec<std::path::PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .map(std::path::PathBuf::from)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}
