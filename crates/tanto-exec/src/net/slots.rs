//! Slots: the cross-process state of bridge networking under the host-wide state
//! directory — the lock, one file per engine's block (owner pid and start time), the
//! `ip_forward` setting to restore — and the teardown of slots whose owner is gone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::netlink::Netlink;
use super::{io_err, nat, net_err, Ipv4Net, LINK_PREFIX};
use crate::{sys, ExecError};

/// Held while a slot file or bridge is created or removed: an exclusive `flock` on
/// `<state_dir>/lock`, released when dropped.
pub(super) struct StateLock {
    _file: fs::File,
}

pub(super) fn lock_state(dir: &Path) -> Result<StateLock, ExecError> {
    fs::create_dir_all(dir).map_err(io_err("creating the network state directory"))?;
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening the network lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| net_err(format!("locking `{}`: {e}", path.display())))?;
    Ok(StateLock { _file: file })
}

pub(super) fn slot_path(dir: &Path, slot: u64) -> PathBuf {
    dir.join(format!("slot-{slot}"))
}

pub(super) fn bridge_name(slot: u64) -> String {
    format!("{LINK_PREFIX}{slot}")
}

/// The (locally administered) MAC address of slot `slot`'s bridge.
pub(super) fn bridge_mac(slot: u64) -> [u8; 6] {
    [0x02, 0x74, 0x61, 0x6e, (slot >> 8) as u8, slot as u8]
}

/// The link group of slot `slot`'s bridge and veths (deleted together at teardown).
pub(super) fn link_group(slot: u64) -> u32 {
    0x7461_0000 | (slot as u32 & 0xffff)
}

/// Parses tanto link names: `tanto<k>` (a bridge) and `tanto<k>v<n>` (a veth).
pub(crate) fn parse_link_name(name: &str) -> Option<(u64, Option<u64>)> {
    let rest = name.strip_prefix(LINK_PREFIX)?;
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match rest.split_once('v') {
        Some((slot, veth)) => Some((num(slot)?, Some(num(veth)?))),
        None => Some((num(rest)?, None)),
    }
}

/// `pid start_time` of this process, as written in slot files.
pub(super) fn owner_line() -> String {
    let pid = std::process::id();
    format!("{pid} {}\n", sys::process_start_time(pid).unwrap_or(0))
}

/// Whether the process named in a slot file still runs (the same process, not a reuse
/// of its pid).
pub(super) fn owner_alive(content: &str) -> bool {
    let mut it = content.split_whitespace();
    let (Some(pid), Some(start)) =
        (it.next().and_then(|p| p.parse::<u32>().ok()), it.next().and_then(|s| s.parse::<u64>().ok()))
    else {
        return false;
    };
    sys::process_start_time(pid) == Some(start)
}

/// Slots with a file, and whether their owner lives.
pub(super) fn slots(dir: &Path) -> Vec<(u64, bool)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let slot = name.strip_prefix("slot-")?.parse().ok()?;
            let content = fs::read_to_string(e.path()).unwrap_or_default();
            Some((slot, owner_alive(&content)))
        })
        .collect()
}

pub(super) const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns on IPv4 forwarding, remembering that it was off.
pub(super) fn enable_forwarding(dir: &Path) -> Result<(), ExecError> {
    let now = fs::read_to_string(IP_FORWARD).map_err(io_err("reading net.ipv4.ip_forward"))?;
    if now.trim() == "1" {
        return Ok(());
    }
    let saved = dir.join("ip_forward.saved");
    if !saved.exists() {
        fs::write(&saved, now.trim()).map_err(io_err("saving net.ipv4.ip_forward"))?;
    }
    fs::write(IP_FORWARD, "1").map_err(io_err("enabling net.ipv4.ip_forward"))
}

/// Restores IPv4 forwarding to its value before the first bridge (no slot left).
pub(super) fn restore_forwarding(dir: &Path) {
    let saved = dir.join("ip_forward.saved");
    if let Ok(v) = fs::read_to_string(&saved) {
        if let Err(e) = fs::write(IP_FORWARD, v.trim()) {
            tracing::warn!(error = %e, "could not restore net.ipv4.ip_forward");
        }
        let _ = fs::remove_file(&saved);
    }
}

/// Removes everything of slot `slot`: rules, links, file. Called with the state lock.
/// `known`: the block and pool the rules were installed with (this engine's own slot),
/// so they can be deleted directly; `None`: found by their tag.
pub(super) fn teardown_slot(
    dir: &Path,
    nl: &mut Netlink,
    slot: u64,
    known: Option<(Ipv4Net, Ipv4Net)>,
) -> Result<(), ExecError> {
    let name = bridge_name(slot);
    match known {
        Some((block, pool)) => nat::uninstall(&name, &block, &pool),
        None => nat::remove(&name).map(|_| ()),
    }
    .map_err(|e| net_err(format!("removing the rules of `{name}`: {e}")))?;
    let t = std::time::Instant::now();
    // One batch for the bridge and its veths, then whatever is left by name.
    if let Err(e) = nl.del_group(link_group(slot)) {
        tracing::debug!(bridge = %name, error = %e, "deleting the link group failed");
    }
    let links = nl.links().map_err(io_err("listing links"))?;
    for l in links.iter().filter(|l| parse_link_name(&l.name).is_some_and(|(s, _)| s == slot)) {
        nl.del_link(&l.name).map_err(|e| net_err(format!("deleting link `{}`: {e}", l.name)))?;
    }
    tracing::debug!(bridge = %name, links_us = t.elapsed().as_micros() as u64, "links of the slot deleted");
    match fs::remove_file(slot_path(dir, slot)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(net_err(format!("removing slot file {slot}: {e}"))),
    }
    if slots(dir).is_empty() {
        restore_forwarding(dir);
    }
    Ok(())
}

/// Removes the slot files of engines that are gone (rootless: their bridges
/// were in namespaces of their own, gone with them). Returns how many.
pub(super) fn forget_dead_slots(dir: &Path) -> usize {
    let dead: Vec<u64> = slots(dir).into_iter().filter(|(_, alive)| !alive).map(|(s, _)| s).collect();
    for s in &dead {
        let _ = fs::remove_file(slot_path(dir, *s));
    }
    dead.len()
}

/// Tears down the slots of engines that are gone, and tanto links no slot owns. Called
/// with the state lock. Returns how many slots were cleaned.
pub(super) fn reconcile_locked(dir: &Path) -> Result<usize, ExecError> {
    let known = slots(dir);
    let mut nl = Netlink::open().map_err(io_err("opening a netlink socket"))?;
    let mut cleaned = 0;
    for (slot, alive) in &known {
        if !alive {
            tracing::info!(slot, "cleaning up the network of an engine that is gone");
            teardown_slot(dir, &mut nl, *slot, None)?;
            cleaned += 1;
        }
    }
    let owned: Vec<u64> = known.iter().filter(|(_, a)| *a).map(|(s, _)| *s).collect();
    for l in nl.links().map_err(io_err("listing links"))? {
        if let Some((slot, _)) = parse_link_name(&l.name) {
            if !owned.contains(&slot) {
                tracing::info!(link = %l.name, "deleting a tanto link no engine owns");
                nl.del_link(&l.name).map_err(|e| net_err(format!("deleting link `{}`: {e}", l.name)))?;
            }
        }
    }
    if slots(dir).is_empty() {
        restore_forwarding(dir);
    }
    Ok(cleaned)
}
