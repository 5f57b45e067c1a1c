//! A minimal rtnetlink client: just the requests the bridge network needs (links, veth
//! pairs, bridges, addresses, routes), synchronous, over rustix's safe socket calls.
//!
//! A netlink socket talks to the network namespace it was created in, whichever thread
//! uses it later: that is how one thread configures both the host and a container's
//! namespace.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const NLM_F_REPLACE: u16 = 0x100;
const IFLA_ADDRESS: u16 = 1;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NUD_PERMANENT: u16 = 0x80;

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_GROUP: u16 = 27;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;

const IFF_UP: u32 = 1;
const AF_INET: u8 = libc::AF_INET as u8;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;
const NLA_F_NESTED: u16 = 1 << 15;

/// One link as listed by [`Netlink::links`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    /// Index of the bridge this link is enslaved to.
    pub master: Option<i32>,
}

/// A request under construction: header, fixed part, attributes (nested ones through
/// [`Msg::nest`]).
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(typ: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in `finish`
        buf.extend_from_slice(&typ.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set by `request`
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        Msg { buf, nests: Vec::new() }
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        self.push_ifinfo(index, flags, change);
        self
    }

    fn push_ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        self.buf.push(0); // AF_UNSPEC
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    /// `struct ifaddrmsg`.
    fn ifaddr(mut self, prefix: u8, index: i32) -> Msg {
        self.buf.push(AF_INET);
        self.buf.push(prefix);
        self.buf.push(0); // flags
        self.buf.push(RT_SCOPE_UNIVERSE);
        self.buf.extend_from_slice(&(index as u32).to_ne_bytes());
        self
    }

    /// `struct ndmsg` for an IPv4 neighbour on link `index`.
    fn ndmsg(mut self, index: i32, state: u16) -> Msg {
        self.buf.push(AF_INET);
        self.buf.extend_from_slice(&[0, 0, 0]); // pad
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&state.to_ne_bytes());
        self.buf.push(0); // flags
        self.buf.push(0); // type
        self
    }

    /// `struct rtmsg` for a unicast route in the main table.
    fn rtmsg(mut self, dst_len: u8) -> Msg {
        self.buf.extend_from_slice(&[
            AF_INET,
            dst_len,
            0, // src_len
            0, // tos
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        ]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self
    }

    fn attr(mut self, typ: u16, data: &[u8]) -> Msg {
        self.push_attr(typ, data);
        self
    }

    fn push_attr(&mut self, typ: u16, data: &[u8]) {
        self.align();
        self.buf.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
    }

    fn str_attr(self, typ: u16, s: &str) -> Msg {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(typ, &data)
    }

    fn u32_attr(self, typ: u16, v: u32) -> Msg {
        self.attr(typ, &v.to_ne_bytes())
    }

    fn nest(mut self, typ: u16) -> Msg {
        self.align();
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        // No NLA_F_NESTED, like iproute2: veth's peer attribute is not a plain nest.
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self
    }

    fn end(mut self) -> Msg {
        let start = self.nests.pop().expect("end() without nest()");
        self.align();
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unbalanced nest()");
        self.align();
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// Attributes of a message part: `(type, payload)` pairs.
fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let typ = u16::from_ne_bytes([data[2], data[3]]) & !NLA_F_NESTED;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((typ, &data[4..len]));
        let next = (len + 3) & !3;
        data = &data[next.min(data.len())..];
    }
    out
}

fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// An rtnetlink socket bound to the network namespace it was created in.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            rustix::net::SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0))?;
        Ok(Netlink { fd, seq: 1 })
    }

    fn send(&mut self, msg: Msg) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let data = msg.finish(seq);
        let kernel = SocketAddrNetlink::new(0, 0);
        rustix::net::sendto(&self.fd, &data, SendFlags::empty(), &kernel)?;
        Ok(seq)
    }

    /// Sends a request and reads replies until the ack (or `NLMSG_DONE` of a dump),
    /// handing every other message's payload to `each`.
    fn request(&mut self, msg: Msg, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
        let seq = self.send(msg)?;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            let mut data = &buf[..n];
            while data.len() >= NLMSG_HDRLEN {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let typ = u16::from_ne_bytes([data[4], data[5]]);
                let mseq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if len < NLMSG_HDRLEN || len > data.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated netlink message"));
                }
                let payload = &data[NLMSG_HDRLEN..len];
                if mseq == seq {
                    match typ {
                        NLMSG_ERROR => {
                            let code = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                            return if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) };
                        }
                        NLMSG_DONE => return Ok(()),
                        _ => each(typ, payload),
                    }
                }
                let next = (len + 3) & !3;
                data = &data[next.min(data.len())..];
            }
        }
    }

    fn ack(&mut self, msg: Msg) -> io::Result<()> {
        self.request(msg, |_, _| {})
    }

    /// All links of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut out = Vec::new();
        let msg = Msg::new(RTM_GETLINK, NLM_F_DUMP).ifinfo(0, 0, 0);
        self.request(msg, |typ, payload| {
            if typ != RTM_NEWLINK || payload.len() < 16 {
                return;
            }
            let index = i32::from_ne_bytes(payload[4..8].try_into().unwrap());
            let mut link = Link { index, name: String::new(), master: None };
            for (t, v) in attrs(&payload[16..]) {
                match t {
                    IFLA_IFNAME => link.name = c_string(v),
                    IFLA_MASTER if v.len() >= 4 => link.master = Some(i32::from_ne_bytes(v[0..4].try_into().unwrap())),
                    _ => {}
                }
            }
            out.push(link);
        })?;
        Ok(out)
    }

    /// The index of link `name`, `None` when there is none.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<i32>> {
        let mut found = None;
        let msg = Msg::new(RTM_GETLINK, NLM_F_ACK).ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        match self.request(msg, |typ, payload| {
            if typ == RTM_NEWLINK && payload.len() >= 16 {
                found = Some(i32::from_ne_bytes(payload[4..8].try_into().unwrap()));
            }
        }) {
            Ok(()) => Ok(found),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates bridge `name` (fails with `EEXIST` when it exists), up, with `mtu`, in
    /// link group `group`.
    pub fn add_bridge(&mut self, name: &str, mtu: u32, group: u32, mac: [u8; 6]) -> io::Result<i32> {
        // An explicit address: a bridge would otherwise take the lowest of its ports'
        // and change it as containers come and go.
        let msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
            .ifinfo(0, IFF_UP, IFF_UP)
            .str_attr(IFLA_IFNAME, name)
            .attr(IFLA_ADDRESS, &mac)
            .u32_attr(IFLA_MTU, mtu)
            .u32_attr(IFLA_GROUP, group)
            .nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        self.ack(msg)?;
        self.link_index(name)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Creates a veth pair: `host_name` here, enslaved to `master` and up; its peer
    /// `peer_name` in the namespace `netns` (this one when `None`), down. Both get
    /// `mtu` and join link group `group` (the peer's group counts in its namespace).
    pub fn add_veth(
        &mut self,
        host_name: &str,
        master: i32,
        peer_name: &str,
        netns: Option<&OwnedFd>,
        mtu: u32,
        group: u32,
    ) -> io::Result<()> {
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
            .ifinfo(0, IFF_UP, IFF_UP)
            .str_attr(IFLA_IFNAME, host_name)
            .u32_attr(IFLA_MTU, mtu)
            .u32_attr(IFLA_MASTER, master as u32)
            .u32_attr(IFLA_GROUP, group)
            .nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .nest(IFLA_INFO_DATA)
            .nest(VETH_INFO_PEER);
        // The peer cannot be brought up here: the pair is linked only after the peer is
        // configured (veth_open says ENOTCONN). The caller brings it up.
        msg.push_ifinfo(0, 0, 0);
        let mut msg = msg.str_attr(IFLA_IFNAME, peer_name).u32_attr(IFLA_MTU, mtu).u32_attr(IFLA_GROUP, group);
        if let Some(ns) = netns {
            msg = msg.u32_attr(IFLA_NET_NS_FD, ns.as_fd().as_raw_fd() as u32);
        }
        self.ack(msg.end().end().end())
    }

    /// The MAC address of link `name`.
    pub fn link_mac(&mut self, name: &str) -> io::Result<Option<[u8; 6]>> {
        let mut mac = None;
        let msg = Msg::new(RTM_GETLINK, NLM_F_ACK).ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        match self.request(msg, |typ, payload| {
            if typ == RTM_NEWLINK && payload.len() >= 16 {
                for (t, v) in attrs(&payload[16..]) {
                    if t == IFLA_ADDRESS && v.len() == 6 {
                        mac = Some(v.try_into().unwrap());
                    }
                }
            }
        }) {
            Ok(()) => Ok(mac),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A permanent neighbour entry `ip` -> `mac` on link `index` (replacing any), so
    /// the first packets need no ARP round (whose first try is sometimes lost while a
    /// fresh veth comes up, which costs a one-second retransmission).
    pub fn set_neighbor(&mut self, index: i32, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        let msg = Msg::new(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK)
            .ndmsg(index, NUD_PERMANENT)
            .attr(NDA_DST, &ip.octets())
            .attr(NDA_LLADDR, &mac);
        self.ack(msg)
    }

    /// Removes the neighbour entry for `ip` on link `index`; absent is fine.
    pub fn del_neighbor(&mut self, index: i32, ip: Ipv4Addr) -> io::Result<()> {
        let msg = Msg::new(RTM_DELNEIGH, NLM_F_ACK).ndmsg(index, 0).attr(NDA_DST, &ip.octets());
        match self.ack(msg) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENODEV)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Brings link `index` up.
    pub fn set_up(&mut self, index: i32) -> io::Result<()> {
        self.ack(Msg::new(RTM_NEWLINK, NLM_F_ACK).ifinfo(index, IFF_UP, IFF_UP))
    }

    /// Deletes link `name`; `Ok(false)` when there is none.
    pub fn del_link(&mut self, name: &str) -> io::Result<bool> {
        let msg = Msg::new(RTM_DELLINK, NLM_F_ACK).ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        match self.ack(msg) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes every link of group `group` at once (one unregistration for all of
    /// them, which is much faster than one by one).
    pub fn del_group(&mut self, group: u32) -> io::Result<()> {
        let msg = Msg::new(RTM_DELLINK, NLM_F_ACK).ifinfo(0, 0, 0).u32_attr(IFLA_GROUP, group);
        match self.ack(msg) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds `addr/prefix` to link `index`.
    pub fn add_addr(&mut self, index: i32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let msg = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
            .ifaddr(prefix, index)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets());
        self.ack(msg)
    }

    /// Removes `addr/prefix` from link `index`; `Ok(false)` when it was not there.
    pub fn del_addr(&mut self, index: i32, addr: Ipv4Addr, prefix: u8) -> io::Result<bool> {
        let msg = Msg::new(RTM_DELADDR, NLM_F_ACK)
            .ifaddr(prefix, index)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets());
        match self.ack(msg) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds the default route through `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let msg =
            Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK).rtmsg(0).attr(RTA_GATEWAY, &gateway.octets());
        self.ack(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        // (what, message, expected bytes after the 16-byte header)
        let cases: Vec<(&str, Msg, Vec<u8>)> = vec![
            (
                "ifinfo + name",
                Msg::new(RTM_GETLINK, 0).ifinfo(7, 0, 0).str_attr(IFLA_IFNAME, "eth0"),
                [
                    &[0u8, 0, 0, 0][..],
                    &7i32.to_ne_bytes(),
                    &[0; 8],
                    &9u16.to_ne_bytes(),
                    &IFLA_IFNAME.to_ne_bytes(),
                    b"eth0\0\0\0\0",
                ]
                .concat(),
            ),
            (
                "nested",
                Msg::new(RTM_NEWLINK, 0).nest(IFLA_LINKINFO).str_attr(IFLA_INFO_KIND, "br").end(),
                [
                    &12u16.to_ne_bytes()[..],
                    &IFLA_LINKINFO.to_ne_bytes(),
                    &7u16.to_ne_bytes(),
                    &IFLA_INFO_KIND.to_ne_bytes(),
                    b"br\0\0",
                ]
                .concat(),
            ),
        ];
        for (what, msg, want) in cases {
            let got = msg.finish(5);
            assert_eq!(u32::from_ne_bytes(got[0..4].try_into().unwrap()) as usize, got.len(), "{what}: length");
            assert_eq!(&got[8..12], &5u32.to_ne_bytes(), "{what}: seq");
            assert_eq!(&got[16..], &want[..], "{what}");
        }
    }

    #[test]
    fn attribute_parsing() {
        let data = Msg::new(0, 0).str_attr(IFLA_IFNAME, "tanto1").u32_attr(IFLA_MASTER, 9).finish(1);
        let got: Vec<(u16, Vec<u8>)> = attrs(&data[NLMSG_HDRLEN..]).into_iter().map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(got, vec![(IFLA_IFNAME, b"tanto1\0".to_vec()), (IFLA_MASTER, 9u32.to_ne_bytes().to_vec())]);
        assert_eq!(c_string(b"ab\0cd"), "ab");
    }
}
