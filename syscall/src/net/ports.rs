//! Which local ports are taken, with Linux's rules for sharing them
//! (`SO_REUSEADDR`, `SO_REUSEPORT`, wildcard and dual-stack overlap), and
//! ephemeral port choice.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::IpAddr;
use kiln_abi::errno::Errno;

/// Ephemeral range (Linux's `ip_local_port_range` default).
const EPHEMERAL_LO: u16 = 32768;
const EPHEMERAL_HI: u16 = 60999;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Proto {
    Tcp,
    Udp,
}

/// The address part of a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BindAddr {
    /// A wildcard, covering IPv4 and/or IPv6 (`[::]` without `IPV6_V6ONLY`
    /// covers both).
    Any { v4: bool, v6: bool },
    /// One address (IPv4-mapped addresses are stored as IPv4).
    Ip(IpAddr),
}

impl BindAddr {
    fn overlaps(self, other: BindAddr) -> bool {
        use BindAddr::*;
        match (self, other) {
            (Ip(a), Ip(b)) => a == b,
            (Any { v4, v6 }, Ip(ip)) | (Ip(ip), Any { v4, v6 }) => match ip {
                IpAddr::V4(_) => v4,
                IpAddr::V6(_) => v6,
            },
            (Any { v4: a4, v6: a6 }, Any { v4: b4, v6: b6 }) => (a4 && b4) || (a6 && b6),
        }
    }
}

/// One socket's hold on a port.
#[derive(Clone, Copy, Debug)]
pub(super) struct Binding {
    pub owner: u32,
    pub addr: BindAddr,
    pub reuse_addr: bool,
    pub reuse_port: bool,
    pub listening: bool,
    /// A closed socket still finishing its connection: it keeps the port
    /// from ephemeral choice but not from `bind`.
    pub orphan: bool,
}

impl Binding {
    /// Whether `other` may not take the port `self` holds. As Linux, with
    /// `SO_REUSEADDR` on both, only `self` listening is a conflict: of two
    /// such sockets the first to call `listen` wins.
    fn conflicts(&self, other: &Binding) -> bool {
        if self.orphan || other.orphan || !self.addr.overlaps(other.addr) {
            return false;
        }
        if self.reuse_port && other.reuse_port {
            return false;
        }
        !(self.reuse_addr && other.reuse_addr && !self.listening)
    }
}

#[derive(Default)]
pub(super) struct Ports {
    map: BTreeMap<(Proto, u16), Vec<Binding>>,
    cursor: u16,
}

impl Ports {
    pub fn new(seed: u64) -> Self {
        Ports {
            map: BTreeMap::new(),
            cursor: (seed % u64::from(EPHEMERAL_HI - EPHEMERAL_LO + 1)) as u16,
        }
    }

    /// Take `port` (0: an ephemeral one) for `b`. Returns the port.
    pub fn bind(&mut self, proto: Proto, port: u16, b: Binding) -> Result<u16, Errno> {
        let port = if port == 0 {
            self.ephemeral(proto)?
        } else {
            port
        };
        let list = self.map.entry((proto, port)).or_default();
        if list.iter().any(|o| o.owner != b.owner && o.conflicts(&b)) {
            if list.is_empty() {
                self.map.remove(&(proto, port));
            }
            return Err(Errno::EADDRINUSE);
        }
        list.retain(|o| o.owner != b.owner);
        list.push(b);
        Ok(port)
    }

    fn ephemeral(&mut self, proto: Proto) -> Result<u16, Errno> {
        let span = EPHEMERAL_HI - EPHEMERAL_LO + 1;
        for _ in 0..span {
            let port = EPHEMERAL_LO + self.cursor;
            self.cursor = (self.cursor + 1) % span;
            if !self.map.contains_key(&(proto, port)) {
                return Ok(port);
            }
        }
        Err(Errno::EADDRINUSE)
    }

    /// Change `owner`'s binding (options, listening), re-checking conflicts.
    pub fn update(
        &mut self,
        proto: Proto,
        port: u16,
        owner: u32,
        f: impl FnOnce(&mut Binding),
    ) -> Result<(), Errno> {
        let Some(list) = self.map.get_mut(&(proto, port)) else {
            return Ok(());
        };
        let Some(i) = list.iter().position(|b| b.owner == owner) else {
            return Ok(());
        };
        let mut b = list[i];
        f(&mut b);
        if list.iter().any(|o| o.owner != owner && o.conflicts(&b)) {
            return Err(Errno::EADDRINUSE);
        }
        list[i] = b;
        Ok(())
    }

    pub fn release(&mut self, proto: Proto, port: u16, owner: u32) {
        if let Some(list) = self.map.get_mut(&(proto, port)) {
            list.retain(|b| b.owner != owner);
            if list.is_empty() {
                self.map.remove(&(proto, port));
            }
        }
    }

    /// Number of ports held (for tests of cleanup).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}
