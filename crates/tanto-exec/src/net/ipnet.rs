//! IPv4 subnets (`10.87.0.0/16`): parsing, blocks, hosts.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: address (host bits zero) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a subnet string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subnet `{input}`: {reason}")]
pub struct SubnetError {
    pub input: String,
    pub reason: String,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl Ipv4Net {
    /// `addr/prefix`; host bits must be zero.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
        (prefix <= 32 && u32::from(addr) & !mask(prefix) == 0).then_some(Ipv4Net { addr, prefix })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Number of addresses (2^(32-prefix)).
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    /// The `n`th address of the network (0 = the network address itself).
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.addr) + n as u32))
    }

    /// The `i`th block of prefix length `prefix` inside this network.
    pub fn block(&self, prefix: u8, i: u64) -> Option<Ipv4Net> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if i >= count {
            return None;
        }
        let start = u32::from(self.addr) + (i as u32) * (1u64 << (32 - prefix as u32)) as u32;
        Ipv4Net::new(Ipv4Addr::from(start), prefix)
    }

    /// How many blocks of prefix length `prefix` fit.
    pub fn blocks(&self, prefix: u8) -> u64 {
        if prefix < self.prefix || prefix > 32 {
            0
        } else {
            1u64 << (prefix - self.prefix)
        }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Ipv4Net, SubnetError> {
        let err = |reason: &str| SubnetError { input: s.to_string(), reason: reason.to_string() };
        let (addr, prefix) = s.split_once('/').ok_or_else(|| err("write it as ADDRESS/PREFIX, e.g. 10.87.0.0/16"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err("the address is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| err("the prefix length must be a number from 0 to 32"))?;
        Ipv4Net::new(addr, prefix).ok_or_else(|| {
            err(&format!(
                "host bits are set; the network is {}/{prefix}",
                Ipv4Addr::from(u32::from(addr) & mask(prefix))
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        // (input, Ok(display) or Err(reason fragment))
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("10.87.0.0/16", Ok("10.87.0.0/16")),
            ("192.168.5.0/24", Ok("192.168.5.0/24")),
            ("10.87.0.1/16", Err("host bits are set; the network is 10.87.0.0/16")),
            ("10.87.0.0", Err("ADDRESS/PREFIX")),
            ("10.87.0.0/33", Err("from 0 to 32")),
            ("fd00::/8", Err("not an IPv4 address")),
        ];
        for (input, want) in cases {
            let got = input.parse::<Ipv4Net>();
            match (want, got) {
                (Ok(w), Ok(n)) => assert_eq!(n.to_string(), *w, "{input}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{input}: {e}"),
                (w, g) => panic!("{input}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn blocks_and_hosts() {
        let pool: Ipv4Net = "10.87.0.0/16".parse().unwrap();
        assert_eq!(pool.blocks(24), 256);
        assert_eq!(pool.block(24, 3).unwrap().to_string(), "10.87.3.0/24");
        assert_eq!(pool.block(24, 256), None);
        assert_eq!(pool.block(15, 0), None);
        let b = pool.block(24, 3).unwrap();
        assert_eq!(b.nth(1), Some(Ipv4Addr::new(10, 87, 3, 1)));
        assert_eq!(b.nth(256), None);
        assert!(b.contains(Ipv4Addr::new(10, 87, 3, 200)));
        assert!(!b.contains(Ipv4Addr::new(10, 87, 4, 1)));
        let cases = [
            ("10.87.3.0/24", "10.87.0.0/16", true),
            ("10.87.3.0/24", "10.87.3.128/25", true),
            ("10.87.3.0/24", "10.87.4.0/24", false),
            ("0.0.0.0/0", "10.0.0.0/8", true),
        ];
        for (a, b, want) in cases {
            let (a, b): (Ipv4Net, Ipv4Net) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(a.overlaps(&b), want, "{a} {b}");
            assert_eq!(b.overlaps(&a), want, "{b} {a}");
        }
    }
}
