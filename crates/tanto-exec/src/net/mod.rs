//! Bridge networking: each container in a network namespace of its own, on a bridge
//! that belongs to one executor (one engine, one session), with NAT to the outside.
//!
//! Layout: all tanto engines of a host share one address pool (`10.87.0.0/16` by
//! default); each engine that needs networking takes one block of it (a /24 by default),
//! numbered by its slot `k`: bridge `tanto<k>` with the block's first address as the
//! gateway, one veth pair `tanto<k>v<n>` / `eth0` per container (plus the pair
//! `tanto<k>v0`/`v1` that keeps the bridge's carrier on; permanent neighbour entries
//! both ways so first packets need no ARP), iptables rules tagged
//! `tanto:tanto<k>`. Engines never share a bridge, and each bridge drops traffic towards
//! the rest of the pool, so a session's containers and services are unreachable from
//! other sessions.
//!
//! Cross-process safety: slots are files in a host-wide state directory
//! (`/run/tanto/net`) holding the owner's pid and start time, created and removed under
//! an exclusive `flock`. A slot whose owner is gone is torn down by the next engine that
//! takes the lock (at start, or when it allocates): rules, links, file. Container
//! namespaces are never named or mounted: they live as long as the engine holds their fd
//! and their processes run, so nothing of them outlives a killed engine once its
//! containers are gone, and their veths go with them.
//!
//! Invariants: nothing is left behind — after teardown or after the next engine's
//! cleanup there is no `tanto*` link, no rule tagged `tanto:`, no slot file, and
//! `net.ipv4.ip_forward` is back to what it was before the first bridge.

pub mod ipnet;
mod nat;
pub(crate) mod netlink;
mod outside;
mod slots;

use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use ipnet::{Ipv4Net, SubnetError};
use netlink::Netlink;
use outside::Outside;
use slots::*;

use crate::{sys, ExecError};

/// Starts and stops the rootless network backend (see [`outside`]); says what
/// it made.
pub fn probe_private() -> Result<String, ExecError> {
    let o = Outside::private()?;
    let said = o.run(|| {
        let nl = Netlink::open().map_err(io_err("opening a netlink socket"))?.link_index(outside::TAP);
        match nl {
            Ok(Some(_)) => Ok(format!("`{}` up", outside::TAP)),
            _ => Err(net_err(format!("slirp4netns made no `{}`", outside::TAP))),
        }
    })?;
    drop(o);
    Ok(said)
}

/// Prefix of every link tanto creates.
pub const LINK_PREFIX: &str = "tanto";

/// How bridge networking is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The pool every tanto engine on this host takes its block from. It must not
    /// overlap networks the host uses (podman's 10.88/16 and docker's 172.17/16 are
    /// avoided by the default, 10.87.0.0/16).
    pub subnet: Ipv4Net,
    /// Prefix length of one engine's block (24: 253 containers at once per engine).
    pub block_prefix: u8,
    /// MTU of the bridge and the veths; `None`: the MTU of the host's default route's
    /// interface (1500 when there is none).
    pub mtu: Option<u32>,
    /// Host-wide state shared by all engines (lock and slot files), on tmpfs.
    pub state_dir: PathBuf,
}

impl Default for BridgeConfig {
    fn default() -> BridgeConfig {
        BridgeConfig {
            subnet: Ipv4Net::new(Ipv4Addr::new(10, 87, 0, 0), 16).expect("valid default subnet"),
            block_prefix: 24,
            mtu: None,
            state_dir: PathBuf::from("/run/tanto/net"),
        }
    }
}

impl BridgeConfig {
    fn validate(&self) -> Result<(), ExecError> {
        if self.block_prefix < self.subnet.prefix() || self.block_prefix > 29 {
            return Err(net_err(format!(
                "block prefix /{} does not fit the subnet `{}`: use a prefix from /{} to /29",
                self.block_prefix,
                self.subnet,
                self.subnet.prefix()
            )));
        }
        Ok(())
    }
}

fn net_err(message: impl Into<String>) -> ExecError {
    ExecError::Network { message: message.into() }
}

fn io_err(what: &str) -> impl Fn(io::Error) -> ExecError + '_ {
    move |e| net_err(format!("{what}: {e}"))
}

/// The network of one executor: its bridge is created at first use and removed by
/// [`BridgeNet::teardown`] (or on drop).
pub(crate) struct BridgeNet {
    cfg: BridgeConfig,
    /// Rootless: the bridge lives in a namespace of the engine's own ([`outside`]).
    rootless: bool,
    outside: std::sync::OnceLock<Arc<Outside>>,
    active: Mutex<Option<Arc<Active>>>,
}

/// A bridge that exists.
pub(crate) struct Active {
    slot: u64,
    name: String,
    index: i32,
    block: Ipv4Net,
    gateway: Ipv4Addr,
    /// The bridge's MAC address (the gateway's, for containers' neighbour tables).
    mac: [u8; 6],
    mtu: u32,
    pool: Mutex<IpPool>,
    outside: Arc<Outside>,
}

/// Host numbers of the block in use (0, 1 and the broadcast address never are).
struct IpPool {
    used: Vec<bool>,
    /// Allocation goes round the block, so a freed address is not reused at once.
    next: usize,
}

impl IpPool {
    fn new(size: u64) -> IpPool {
        let mut used = vec![false; size as usize];
        for i in [0, 1, size as usize - 1] {
            used[i] = true;
        }
        IpPool { used, next: 2 }
    }

    fn alloc(&mut self) -> Option<usize> {
        let n = self.used.len();
        for step in 0..n {
            let i = (self.next + step) % n;
            if !self.used[i] {
                self.used[i] = true;
                self.next = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    fn free(&mut self, i: usize) {
        if i > 1 && i + 1 < self.used.len() {
            self.used[i] = false;
        }
    }
}

impl Active {
    fn alloc(self: &Arc<Self>) -> Result<(usize, Ipv4Addr), ExecError> {
        let host = self.pool.lock().unwrap_or_else(|p| p.into_inner()).alloc().ok_or_else(|| {
            net_err(format!(
                "no free address in `{}`: too many containers and services at once in this session (use a larger block, see `[network]` in the engine config)",
                self.block
            ))
        })?;
        Ok((host, self.block.nth(host as u64).expect("host number inside the block")))
    }

    fn free(&self, host: usize) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).free(host);
    }
}

/// A container's network namespace on the bridge: `lo` and `eth0` up, an address, a
/// default route. Dropping it releases the namespace (the kernel removes the veth pair
/// once no process is left in it) and the address.
pub struct Attachment {
    netns: OwnedFd,
    ip: Ipv4Addr,
    host: usize,
    active: Arc<Active>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment").field("ip", &self.ip).field("bridge", &self.active.name).finish()
    }
}

impl Attachment {
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// A TCP listener on `127.0.0.1` inside this namespace.
    pub(crate) fn listen_loopback(&self) -> io::Result<std::net::TcpListener> {
        sys::listen_in_netns(self.netns.as_fd())
    }

    /// A path to the namespace that other processes (the OCI runtime) can open.
    pub(crate) fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.netns.as_raw_fd()))
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // The permanent entry would outlive the container (a new one on this address
        // replaces it anyway).
        let (index, ip) = (self.active.index, self.ip);
        let res = self.active.outside.run(|| {
            Netlink::open().and_then(|mut nl| nl.del_neighbor(index, ip)).map_err(io_err("removing a neighbour entry"))
        });
        if let Err(e) = res {
            tracing::debug!(ip = %self.ip, error = %e, "removing a neighbour entry");
        }
        self.active.free(self.host);
    }
}

/// A namespace being made on its own thread (see [`BridgeNet::begin_attach`]).
pub(crate) struct PendingAttachment {
    handle: Option<std::thread::JoinHandle<io::Result<OwnedFd>>>,
    ip: Ipv4Addr,
    host: usize,
    active: Arc<Active>,
}

impl PendingAttachment {
    /// Waits for the namespace.
    pub(crate) fn finish(mut self) -> Result<Attachment, ExecError> {
        let made = self.handle.take().expect("finished once").join();
        let netns = match made {
            Ok(Ok(ns)) => ns,
            Ok(Err(e)) => {
                self.active.free(self.host);
                return Err(net_err(format!("setting up a network namespace on `{}`: {e}", self.active.name)));
            }
            Err(_) => {
                self.active.free(self.host);
                return Err(net_err("the network namespace thread panicked"));
            }
        };
        Ok(Attachment { netns, ip: self.ip, host: self.host, active: self.active.clone() })
    }
}

impl Drop for PendingAttachment {
    fn drop(&mut self) {
        // Not finished (an error elsewhere): wait for the thread, drop its namespace.
        // Finished: the address belongs to the Attachment now.
        if let Some(h) = self.handle.take() {
            let _ = h.join();
            self.active.free(self.host);
        }
    }
}

/// An extra address of the host on the bridge, for host services that containers
/// reach (reverse tunnels). Removed on drop.
pub struct HostAddress {
    ip: Ipv4Addr,
    host: usize,
    active: Arc<Active>,
}

impl HostAddress {
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The block of the bridge: the only peers a listener on this address should serve.
    pub fn block(&self) -> Ipv4Net {
        self.active.block
    }
}

impl Drop for HostAddress {
    fn drop(&mut self) {
        let (index, ip) = (self.active.index, self.ip);
        let res = self.active.outside.run(|| {
            Netlink::open().and_then(|mut nl| nl.del_addr(index, ip, 32)).map_err(io_err("removing an address"))
        });
        if let Err(e) = res {
            tracing::warn!(ip = %self.ip, error = %e, "could not remove a host address from the bridge");
        }
        self.active.free(self.host);
    }
}

/// IPv4 routes of the host: (interface, destination network).
fn host_routes() -> Vec<(String, Ipv4Net)> {
    let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
            let (dst, mask) = (hex(f.get(1)?)?, hex(f.get(7)?)?);
            let prefix = mask.count_ones() as u8;
            Some((f[0].to_string(), Ipv4Net::new(Ipv4Addr::from(dst), prefix)?))
        })
        .collect()
}

/// The MTU of the interface of the host's default route.
fn default_mtu() -> u32 {
    host_routes()
        .into_iter()
        .find(|(_, n)| n.prefix() == 0)
        .and_then(|(iface, _)| fs::read_to_string(format!("/sys/class/net/{iface}/mtu")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

/// `/etc/resolv.conf` for containers on the bridge: the host's, without loopback
/// name servers (unreachable from a container's namespace); systemd-resolved's upstream
/// list when the host only has a local stub; rootless, slirp4netns's resolver when
/// neither has one.
pub(crate) fn resolv_conf() -> Vec<u8> {
    fn usable(text: &str) -> Option<String> {
        let mut servers = 0;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                if w.next() != Some("nameserver") {
                    return true;
                }
                let local = w.next().and_then(|a| a.parse::<std::net::IpAddr>().ok()).is_none_or(|a| a.is_loopback());
                if !local {
                    servers += 1;
                }
                !local
            })
            .collect();
        (servers > 0).then(|| kept.join("\n") + "\n")
    }
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if let Some(r) = usable(&host) {
        return r.into_bytes();
    }
    if let Some(r) = fs::read_to_string("/run/systemd/resolve/resolv.conf").ok().as_deref().and_then(usable) {
        return r.into_bytes();
    }
    if crate::userns::entered() {
        // Rootless: slirp4netns answers DNS itself, through the host's resolver
        // (loopback ones included).
        let kept: Vec<&str> = host.lines().filter(|l| !l.trim_start().starts_with("nameserver")).collect();
        return format!("nameserver {}\n{}", outside::SLIRP_DNS, kept.join("\n") + "\n").into_bytes();
    }
    tracing::warn!(
        "the host's /etc/resolv.conf has no name server a container can reach; DNS will not work in containers"
    );
    host.into_bytes()
}

impl BridgeNet {
    /// `rootless`: the bridge goes in a network namespace of the engine's own,
    /// made at first use and connected by slirp4netns.
    pub(crate) fn new(cfg: BridgeConfig, rootless: bool) -> Result<BridgeNet, ExecError> {
        cfg.validate()?;
        Ok(BridgeNet { cfg, rootless, outside: Default::default(), active: Mutex::new(None) })
    }

    /// The bridge's outside, made on first use.
    fn outside(&self) -> Result<Arc<Outside>, ExecError> {
        if let Some(o) = self.outside.get() {
            return Ok(o.clone());
        }
        let made = Arc::new(if self.rootless { Outside::private()? } else { Outside::Host });
        Ok(self.outside.get_or_init(|| made).clone())
    }

    /// Whether the bridge lives in a network namespace of the engine's own.
    pub(crate) fn rootless(&self) -> bool {
        self.rootless
    }

    /// A TCP socket from which the bridge's addresses are reachable (in the
    /// bridge's namespace), not yet connected or bound.
    pub(crate) fn socket(&self) -> io::Result<tokio::net::TcpSocket> {
        self.outside().map_err(|e| io::Error::other(e.to_string()))?.socket()
    }

    pub(crate) fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    /// Cleans up after engines that are gone. Blocking.
    pub(crate) fn reconcile(&self) -> Result<usize, ExecError> {
        let _lock = lock_state(&self.cfg.state_dir)?;
        if self.rootless {
            // Other engines' bridges were in namespaces of their own, gone with them.
            return Ok(forget_dead_slots(&self.cfg.state_dir));
        }
        reconcile_locked(&self.cfg.state_dir)
    }

    /// The bridge, created on first use.
    fn ensure(&self) -> Result<Arc<Active>, ExecError> {
        let mut guard = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = &*guard {
            return Ok(a.clone());
        }
        let dir = &self.cfg.state_dir;
        let outside = self.outside()?;
        let _lock = lock_state(dir)?;
        if self.rootless {
            forget_dead_slots(dir);
        } else {
            reconcile_locked(dir)?;
        }
        let taken: Vec<u64> = slots(dir).into_iter().map(|(s, _)| s).collect();
        let routes: Vec<Ipv4Net> = host_routes()
            .into_iter()
            .filter(|(iface, n)| n.prefix() > 0 && parse_link_name(iface).is_none())
            .map(|(_, n)| n)
            .collect();
        let pool = self.cfg.subnet;
        let slot = (0..pool.blocks(self.cfg.block_prefix))
            .find(|k| {
                let block = pool.block(self.cfg.block_prefix, *k).expect("k < blocks");
                !taken.contains(k) && !routes.iter().any(|r| r.overlaps(&block))
            })
            .ok_or_else(|| {
                net_err(format!(
                    "no free /{} block in `{pool}`: {} engines use one and the host routes {} (set another `[network] subnet` in the engine config)",
                    self.cfg.block_prefix,
                    taken.len(),
                    routes.iter().filter(|r| r.overlaps(&pool)).map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
                ))
            })?;
        let block = pool.block(self.cfg.block_prefix, slot).expect("slot < blocks");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(slot_path(dir, slot))
            .map_err(io_err("creating the slot file"))?;
        f.write_all(owner_line().as_bytes()).map_err(io_err("writing the slot file"))?;
        drop(f);
        let name = bridge_name(slot);
        let mtu = self.cfg.mtu.unwrap_or_else(default_mtu);
        let gateway = block.nth(1).expect("a block has a first host");
        let setup = || -> Result<i32, ExecError> {
            let mut nl = Netlink::open().map_err(io_err("opening a netlink socket"))?;
            let index = nl
                .add_bridge(&name, mtu, link_group(slot), bridge_mac(slot))
                .map_err(|e| net_err(format!("creating bridge `{name}`: {e}")))?;
            // A veth pair that stays on the bridge keeps the bridge's carrier on. Without
            // it the bridge loses carrier whenever its last container goes, and the next
            // container's traffic waits for the kernel's rate-limited link event (up to
            // a second). Host numbers 0 and 1 never name a container's veth.
            let (keep0, keep1) = (format!("{name}v0"), format!("{name}v1"));
            nl.add_veth(&keep0, index, &keep1, None, mtu, link_group(slot))
                .map_err(|e| net_err(format!("creating `{keep0}` on `{name}`: {e}")))?;
            for link in [&keep0, &keep1] {
                let _ = fs::write(format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"), "1");
            }
            let keep1_index = nl
                .link_index(&keep1)
                .map_err(io_err("finding the keepalive veth"))?
                .ok_or_else(|| net_err(format!("`{keep1}` is missing")))?;
            nl.set_up(keep1_index).map_err(|e| net_err(format!("bringing `{keep1}` up: {e}")))?;
            nl.add_addr(index, gateway, block.prefix())
                .map_err(|e| net_err(format!("adding {gateway}/{} to `{name}`: {e}", block.prefix())))?;
            nat::install(&name, &block, &pool)
                .map_err(|e| net_err(format!("installing the NAT rules of `{name}`: {e}")))?;
            enable_forwarding(dir)?;
            Ok(index)
        };
        let index = outside.run(|| match setup() {
            Ok(i) => Ok(i),
            Err(e) => {
                if let Ok(mut nl) = Netlink::open() {
                    if let Err(undo) = teardown_slot(dir, &mut nl, slot, None) {
                        tracing::warn!(error = %undo, "undoing a failed bridge setup");
                    }
                }
                Err(e)
            }
        })?;
        let mac = bridge_mac(slot);
        tracing::debug!(bridge = %name, %block, mtu, "bridge network ready");
        let active = Arc::new(Active {
            slot,
            name,
            index,
            block,
            gateway,
            mac,
            mtu,
            pool: Mutex::new(IpPool::new(block.size())),
            outside,
        });
        *guard = Some(active.clone());
        Ok(active)
    }

    /// A new network namespace on the bridge. Blocking (about a millisecond or two).
    #[allow(dead_code)] // the runner uses begin_attach to overlap it with bundle setup
    pub(crate) fn attach(&self) -> Result<Attachment, ExecError> {
        self.begin_attach()?.finish()
    }

    /// Starts making a namespace on the bridge on a thread of its own; finish with
    /// [`PendingAttachment::finish`]. The bridge is created here on first use.
    pub(crate) fn begin_attach(&self) -> Result<PendingAttachment, ExecError> {
        let active = self.ensure()?;
        let (host, ip) = active.alloc()?;
        let veth = format!("{}v{host}", active.name);
        let (bridge, gateway, prefix, mtu) = (active.index, active.gateway, active.block.prefix(), active.mtu);
        let group = link_group(active.slot);
        let gateway_mac = active.mac;
        let outside = active.outside.clone();
        // unshare(CLONE_NEWNET) moves the calling thread, and this thread ends right after.
        let spawned = std::thread::Builder::new().name("tanto-netns".into()).spawn(move || -> io::Result<OwnedFd> {
            let step = |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
            outside.enter().map_err(step("entering the bridge's network namespace"))?;
            let mut outside = Netlink::open().map_err(step("opening a netlink socket"))?;
            let ns = sys::enter_new_netns().map_err(step("creating the namespace"))?;
            let mut inside = Netlink::open().map_err(step("opening a netlink socket in the namespace"))?;
            inside.set_up(1).map_err(step("bringing `lo` up"))?;
            let add = |nl: &mut Netlink| nl.add_veth(&veth, bridge, "eth0", Some(&ns), mtu, group);
            match add(&mut outside) {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // A veth of an earlier container with this address, not yet gone.
                    outside.del_link(&veth).map_err(step("deleting an old veth"))?;
                    add(&mut outside).map_err(step("creating the veth pair"))?;
                }
                r => r.map_err(step("creating the veth pair"))?,
            }
            let eth0 = inside
                .link_index("eth0")
                .map_err(step("finding `eth0`"))?
                .ok_or_else(|| io::Error::other("`eth0` is missing in the namespace"))?;
            inside.set_up(eth0).map_err(step("bringing `eth0` up"))?;
            inside.add_addr(eth0, ip, prefix).map_err(step("adding the address"))?;
            inside.add_default_route(gateway).map_err(step("adding the default route"))?;
            // Both neighbour entries up front: no ARP round on the first packets.
            inside.set_neighbor(eth0, gateway, gateway_mac).map_err(step("adding the gateway's neighbour entry"))?;
            let mac = inside
                .link_mac("eth0")
                .map_err(step("reading the address of `eth0`"))?
                .ok_or_else(|| io::Error::other("`eth0` has no MAC address"))?;
            outside.set_neighbor(bridge, ip, mac).map_err(step("adding the container's neighbour entry"))?;
            Ok(ns)
        });
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                active.free(host);
                return Err(net_err(format!("starting a thread: {e}")));
            }
        };
        Ok(PendingAttachment { handle: Some(handle), ip, host, active })
    }

    /// An extra host address on the bridge (for reverse tunnels). Blocking.
    pub(crate) fn host_address(&self) -> Result<HostAddress, ExecError> {
        let active = self.ensure()?;
        let (host, ip) = active.alloc()?;
        let index = active.index;
        let res = active
            .outside
            .run(|| Netlink::open().and_then(|mut nl| nl.add_addr(index, ip, 32)).map_err(io_err("adding an address")));
        if let Err(e) = res {
            active.free(host);
            return Err(net_err(format!("adding {ip} to `{}`: {e}", active.name)));
        }
        Ok(HostAddress { ip, host, active })
    }

    /// The gateway (the host's address on the bridge), once the bridge exists.
    pub(crate) fn gateway(&self) -> Option<Ipv4Addr> {
        self.active.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|a| a.gateway)
    }

    /// Removes the bridge, its rules and its slot. Containers still attached lose their
    /// network. Blocking; idempotent.
    pub(crate) fn teardown(&self) -> Result<(), ExecError> {
        let Some(active) = self.active.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let _lock = lock_state(&self.cfg.state_dir)?;
        let dir = &self.cfg.state_dir;
        active.outside.run(|| {
            let mut nl = Netlink::open().map_err(io_err("opening a netlink socket"))?;
            teardown_slot(dir, &mut nl, active.slot, Some((active.block, self.cfg.subnet)))
        })?;
        tracing::debug!(bridge = %active.name, "bridge network removed");
        Ok(())
    }
}

impl Drop for BridgeNet {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "removing the bridge network failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names() {
        let cases = [
            ("tanto0", Some((0, None))),
            ("tanto12v254", Some((12, Some(254)))),
            ("tanto", None),
            ("tantox", None),
            ("tanto3v", None),
            ("tanto3vx", None),
            ("eth0", None),
            ("tanto-exec", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse_link_name(name), want, "{name}");
        }
    }

    #[test]
    fn owners() {
        let me = owner_line();
        let cases = [(me.as_str(), true), ("1 0\n", false), ("999999999 5\n", false), ("garbage", false), ("", false)];
        for (content, want) in cases {
            assert_eq!(owner_alive(content), want, "{content:?}");
        }
    }

    #[test]
    fn ip_pool_goes_round() {
        let mut p = IpPool::new(8); // .0 network, .1 gateway, .7 broadcast
        let got: Vec<usize> = (0..5).map(|_| p.alloc().unwrap()).collect();
        assert_eq!(got, [2, 3, 4, 5, 6]);
        assert_eq!(p.alloc(), None);
        p.free(3);
        p.free(1); // never handed out: ignored
        assert_eq!(p.alloc(), Some(3));
        p.free(5);
        p.free(2);
        assert_eq!(p.alloc(), Some(5), "continues after the last one");
        assert_eq!(p.alloc(), Some(2));
    }

    #[test]
    fn config_validation() {
        let mut cfg = BridgeConfig::default();
        assert!(cfg.validate().is_ok());
        cfg.block_prefix = 8;
        assert!(cfg.validate().unwrap_err().to_string().contains("/16 to /29"));
    }
}
