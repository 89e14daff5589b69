//! The stack: two smoltcp interfaces (Ethernet and loopback), their socket
//! sets, address configuration (static or DHCPv4, IPv6 link-local), the
//! socket objects' state, and the poll loop that tells which sockets changed.

use super::device::EthDevice;
use super::loopback::LoDevice;
use super::ports::{Ports, Proto};
use super::syn_gate::syn_target;
use super::tcp::TcpObj;
use super::udp::UdpObj;
use super::PollMask;
use crate::platform::NetDevice;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use kiln_image::NetConfig;
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr,
};

pub use crate::ready::ReadyKey;

/// Which interface a smoltcp socket lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LaneId {
    Eth,
    Lo,
}

pub(super) const LANES: [LaneId; 2] = [LaneId::Eth, LaneId::Lo];

impl LaneId {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One interface and its sockets.
pub(super) struct Lane {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
}

/// Both lanes, borrowed apart from the socket objects.
pub(super) struct Lanes {
    pub eth: Lane,
    pub lo: Lane,
    lo_dev: LoDevice,
    /// Whether the machine has an Ethernet device.
    pub eth_present: bool,
    /// Largest IP packet the Ethernet device carries.
    pub eth_mtu: usize,
}

impl Lanes {
    pub fn get(&mut self, id: LaneId) -> &mut Lane {
        match id {
            LaneId::Eth => &mut self.eth,
            LaneId::Lo => &mut self.lo,
        }
    }
    pub fn tcp(&mut self, id: LaneId, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.get(id).sockets.get_mut::<tcp::Socket>(h)
    }
    pub fn udp(&mut self, id: LaneId, h: SocketHandle) -> &mut udp::Socket<'static> {
        self.get(id).sockets.get_mut::<udp::Socket>(h)
    }
    /// The lane that carries traffic to `ip`: loopback for 127/8, ::1, the
    /// unspecified address and the machine's own addresses.
    pub fn for_dest(&self, ip: IpAddr) -> LaneId {
        if ip.is_loopback() || ip.is_unspecified() || self.lo.iface.has_ip_addr(to_smol(ip)) {
            LaneId::Lo
        } else {
            LaneId::Eth
        }
    }
    /// Whether `ip` is one of the machine's addresses (what `bind` accepts).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_unspecified() || ip.is_loopback() || self.lo.iface.has_ip_addr(to_smol(ip))
    }
    /// The lanes a socket bound to `ip` listens on.
    pub fn for_bind(&self, ip: IpAddr) -> &'static [LaneId] {
        if ip.is_loopback() || !self.eth_present {
            &[LaneId::Lo]
        } else {
            &LANES
        }
    }
}

pub(super) fn to_smol(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(a) => IpAddress::Ipv4(a),
        IpAddr::V6(a) => IpAddress::Ipv6(a),
    }
}

pub(super) fn from_smol(ip: IpAddress) -> IpAddr {
    match ip {
        IpAddress::Ipv4(a) => IpAddr::V4(a),
        IpAddress::Ipv6(a) => IpAddr::V6(a),
    }
}

/// A socket object's state.
pub(super) enum Obj {
    Tcp(TcpObj),
    Udp(UdpObj),
}

/// What readiness waiters last saw of a socket: its mask and queue levels.
/// A change in any of them is an event (edge-triggered epoll wants new
/// data reported even when the mask stays `POLLIN`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Sig {
    pub mask: PollMask,
    pub rx: usize,
    pub tx: usize,
}

impl Sig {
    /// Whether a waiter could see something new since `old`: a readiness
    /// bit set, data come in, room made to send. A loss (the program read
    /// or wrote, a bit cleared) wakes nobody, as on Linux: epoll looks at
    /// its candidates again when collecting, and parked calls wait for
    /// gains only.
    pub fn gains_on(&self, old: &Sig) -> bool {
        !(self.mask - old.mask).is_empty() || self.rx > old.rx || self.tx < old.tx
    }
}

pub(super) struct Entry {
    pub obj: Obj,
    pub sig: Sig,
}

/// A closed TCP connection still finishing (FIN exchange or a queued RST).
pub(super) struct Orphan {
    pub lane: LaneId,
    pub handle: SocketHandle,
    pub since: Instant,
    pub port: Option<u16>,
    pub owner: u32,
}

/// How long a closed connection may take to finish before it is reset
/// (Linux's `tcp_fin_timeout`).
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds of loopback delivery in one poll before yielding.
const LO_ROUNDS: usize = 64;

/// Something the kernel may want to print or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// An IPv4 address is in use (static, or leased by DHCP).
    Configured {
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        nameservers: Vec<IpAddr>,
        dhcp: bool,
    },
    /// The DHCP lease was lost.
    Deconfigured,
}

impl NetEvent {
    /// A console line describing the event.
    pub fn describe(&self) -> String {
        match self {
            NetEvent::Configured {
                addr,
                prefix,
                gateway,
                dhcp,
                ..
            } => {
                let how = if *dhcp { "dhcp" } else { "static" };
                match gateway {
                    Some(g) => format!("net: {addr}/{prefix} via {g} ({how})"),
                    None => format!("net: {addr}/{prefix} ({how})"),
                }
            }
            NetEvent::Deconfigured => String::from("net: dhcp lease lost"),
        }
    }
}

/// The TCP/IP stack and every inet socket's state.
pub struct NetStack {
    pub(super) lanes: Lanes,
    pub(super) objs: BTreeMap<u32, Entry>,
    pub(super) listeners: Vec<u32>,
    pub(super) orphans: Vec<Orphan>,
    pub(super) ports: Ports,
    pub(super) now: Instant,
    next_key: u32,
    changed: Vec<ReadyKey>,
    events: Vec<NetEvent>,
    dhcp: Option<SocketHandle>,
    ipv4: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Addr>,
    /// Ask the gateway for its MAC address at the next poll (see
    /// [`arp_request`]).
    arp_probe: Option<(Ipv4Addr, Ipv4Addr)>,
    nameservers: Vec<IpAddr>,
    link_local: Ipv6Addr,
    /// The static IPv6 address from the manifest, if any.
    ipv6: Option<(Ipv6Addr, u8)>,
    /// A socket call changed something the next poll must send.
    dirty: bool,
    /// Socket calls that left work since the last poll (how much a
    /// batch of sends has grown).
    touches: u32,
    /// Unix socket names (see `unix.rs`).
    pub(super) unix_names: super::unix::Names,
    /// Port ids of bound netlink sockets (see `netlink.rs`).
    pub(super) netlink_ports: alloc::collections::BTreeSet<u32>,
}

fn instant(ns: u64) -> Instant {
    Instant::from_micros((ns / 1000) as i64)
}

fn nanos(i: Instant) -> u64 {
    (i.total_micros().max(0) as u64).saturating_mul(1000)
}

/// An ARP request (broadcast) from `mac`/`ours` for `target`'s MAC.
pub(super) fn arp_request(mac: EthernetAddress, ours: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: ours,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let eth = EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = alloc::vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    frame
}

/// The EUI-64 link-local address of a MAC (fe80::/64).
fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 2;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    Ipv6Addr::from(a)
}

impl NetStack {
    /// A stack over `eth` (or none), configured from the manifest: a static
    /// IPv4 address when `config.ipv4` is set, otherwise DHCPv4. `seed`
    /// seeds TCP sequence numbers and ephemeral ports.
    pub fn new(
        config: &NetConfig,
        eth: Option<&mut dyn NetDevice>,
        now_ns: u64,
        seed: u64,
    ) -> NetStack {
        let now = instant(now_ns);
        let eth_present = eth.is_some();
        let mac = eth.as_ref().map_or([2, 0, 0, 0, 0, 1], |d| d.mac());
        let eth_mtu = eth
            .as_ref()
            .map_or(1500, |d| d.max_frame().saturating_sub(14));
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        cfg.random_seed = seed;
        let eth_iface = match eth {
            Some(dev) => Interface::new(cfg, &mut EthDevice::new(dev), now),
            None => Interface::new(cfg, &mut Loopback::new(Medium::Ethernet), now),
        };
        let mut lo_dev = LoDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
        let lo_iface = Interface::new(cfg, &mut lo_dev, now);
        let mut stack = NetStack {
            lanes: Lanes {
                eth: Lane {
                    iface: eth_iface,
                    sockets: SocketSet::new(Vec::new()),
                },
                lo: Lane {
                    iface: lo_iface,
                    sockets: SocketSet::new(Vec::new()),
                },
                lo_dev,
                eth_present,
                eth_mtu,
            },
            objs: BTreeMap::new(),
            listeners: Vec::new(),
            orphans: Vec::new(),
            ports: Ports::new(seed),
            now,
            next_key: 1,
            changed: Vec::new(),
            events: Vec::new(),
            dhcp: None,
            ipv4: None,
            gateway: None,
            arp_probe: None,
            nameservers: Vec::new(),
            link_local: link_local(mac),
            ipv6: config
                .ipv6
                .filter(|_| eth_present)
                .map(|(a, p)| (Ipv6Addr::from(a), p.min(128))),
            dirty: true,
            touches: 0,
            unix_names: Default::default(),
            netlink_ports: Default::default(),
        };
        stack.nameservers = config
            .nameservers
            .iter()
            .filter_map(|b| match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(&b[..]).ok()?)),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(&b[..]).ok()?)),
                _ => None,
            })
            .collect();
        match config.ipv4 {
            Some((ip, prefix)) => {
                let cidr = Ipv4Cidr::new(Ipv4Addr::from(ip), prefix.min(32));
                stack.set_ipv4(Some(cidr), config.gateway.map(Ipv4Addr::from), false);
            }
            None => {
                stack.set_ipv4(None, None, false);
                if eth_present {
                    let dhcp = dhcpv4::Socket::new();
                    stack.dhcp = Some(stack.lanes.eth.sockets.add(dhcp));
                }
            }
        }
        stack
    }

    /// Wrap the stack for sharing with socket objects.
    pub fn into_shared(self) -> Net {
        Net(Arc::new(spin::Mutex::new(self)))
    }

    /// Install (or clear) the IPv4 configuration on both lanes.
    fn set_ipv4(&mut self, cidr: Option<Ipv4Cidr>, gateway: Option<Ipv4Addr>, dhcp: bool) {
        self.ipv4 = cidr;
        self.gateway = gateway;
        let ll = self.link_local;
        let v6 = self.ipv6;
        let eth_present = self.lanes.eth_present;
        self.lanes.eth.iface.update_ip_addrs(|a| {
            a.clear();
            if let Some(c) = cidr {
                let _ = a.push(IpCidr::Ipv4(c));
            }
            if eth_present {
                let _ = a.push(IpCidr::new(IpAddress::Ipv6(ll), 64));
            }
            if let Some((v6, prefix)) = v6 {
                let _ = a.push(IpCidr::new(IpAddress::Ipv6(v6), prefix));
            }
        });
        let routes = self.lanes.eth.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(g) = gateway {
            let _ = routes.add_default_ipv4_route(g);
        }
        self.lanes.lo.iface.update_ip_addrs(|a| {
            a.clear();
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Addr::LOCALHOST), 8));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(Ipv6Addr::LOCALHOST), 128));
            if let Some(c) = cidr {
                let _ = a.push(IpCidr::new(IpAddress::Ipv4(c.address()), 32));
            }
            if eth_present {
                let _ = a.push(IpCidr::new(IpAddress::Ipv6(ll), 128));
            }
            if let Some((v6, _)) = v6 {
                let _ = a.push(IpCidr::new(IpAddress::Ipv6(v6), 128));
            }
        });
        // smoltcp learns a neighbour's MAC only from ARP and drops the
        // packet that needed it: the first reply to the gateway (a SYN-ACK,
        // or the RST for a closed port) would be lost and the peer would
        // retry only seconds later. Ask for the gateway's MAC at once.
        self.arp_probe = match (cidr, gateway) {
            (Some(c), Some(g)) if eth_present => Some((c.address(), g)),
            _ => None,
        };
        if let Some(c) = cidr {
            self.events.push(NetEvent::Configured {
                addr: c.address(),
                prefix: c.prefix_len(),
                gateway,
                nameservers: self.nameservers.clone(),
                dhcp,
            });
        }
    }

    /// Whether `packet`, next in `lane`'s queue, is a SYN that only meets
    /// full listeners: then it is dropped unseen, as Linux does.
    fn drops_syn(&self, lane: LaneId, packet: Option<&[u8]>) -> bool {
        let medium = match lane {
            LaneId::Lo => Medium::Ip,
            LaneId::Eth => Medium::Ethernet,
        };
        packet
            .and_then(|p| syn_target(p, medium))
            .is_some_and(|(dst, port)| self.syn_finds_no_room(lane, dst, port))
    }

    /// Whether the stack runs DHCP and holds no lease yet.
    pub fn awaiting_lease(&self) -> bool {
        self.dhcp.is_some() && self.ipv4.is_none()
    }

    /// Whether an IPv4 address is configured (static, or leased).
    pub fn configured(&self) -> bool {
        self.ipv4.is_some()
    }

    /// The IPv4 address and prefix length, once known.
    pub fn ipv4(&self) -> Option<(Ipv4Addr, u8)> {
        self.ipv4.map(|c| (c.address(), c.prefix_len()))
    }

    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway
    }

    /// Name servers: from the manifest, or from DHCP.
    pub fn nameservers(&self) -> &[IpAddr] {
        &self.nameservers
    }

    /// Whether the IPv4 address comes (or is to come) from DHCP.
    pub fn uses_dhcp(&self) -> bool {
        self.dhcp.is_some()
    }

    /// The interface's IPv6 link-local address.
    pub fn ipv6_link_local(&self) -> Ipv6Addr {
        self.link_local
    }

    /// The static IPv6 address and prefix length (manifest), if any.
    pub fn ipv6(&self) -> Option<(Ipv6Addr, u8)> {
        self.ipv6
    }

    /// Events since the last call (address configured, lease lost).
    pub fn take_events(&mut self) -> Vec<NetEvent> {
        core::mem::take(&mut self.events)
    }

    /// Sockets whose readiness changed since the last call; wake their
    /// waiters (and only theirs).
    pub fn take_changed(&mut self) -> Vec<ReadyKey> {
        core::mem::take(&mut self.changed)
    }

    /// Whether a socket call since the last poll left work for the stack
    /// (data to send, a connection to open or close): poll soon.
    pub fn needs_poll(&self) -> bool {
        self.dirty
    }

    /// Whether readiness changes wait in [`NetStack::take_changed`].
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Whether DHCP runs and has not configured an address yet.
    pub fn dhcp_pending(&self) -> bool {
        self.dhcp.is_some() && self.ipv4.is_none()
    }

    pub(super) fn touch(&mut self) {
        self.dirty = true;
        self.touches = self.touches.saturating_add(1);
    }

    /// Socket calls that left work for the stack since its last poll.
    pub fn touches(&self) -> u32 {
        self.touches
    }

    pub(super) fn new_key(&mut self) -> u32 {
        let k = self.next_key;
        self.next_key = self.next_key.wrapping_add(1).max(1);
        k
    }

    pub(super) fn mark_changed(&mut self, key: u32) {
        let k = ReadyKey(key);
        if !self.changed.contains(&k) {
            self.changed.push(k);
        }
    }

    /// Run the stack: take the frames that arrived, deliver loopback
    /// traffic, send what sockets queued, update address configuration and
    /// socket readiness. Returns when to poll next (monotonic ns), if
    /// nothing else happens before: smoltcp's `poll_at`.
    pub fn poll(&mut self, now_ns: u64, dev: Option<&mut dyn NetDevice>) -> Option<u64> {
        let now = instant(now_ns).max(self.now);
        self.now = now;
        self.dirty = false;
        self.touches = 0;
        let mut again = false;

        // The loopback lane: what one round sends, the next receives.
        self.lanes.lo.iface.poll_maintenance(now);
        let mut rounds = 0;
        loop {
            let mut moved = false;
            loop {
                self.top_up_listeners(LaneId::Lo);
                if self.drops_syn(LaneId::Lo, self.lanes.lo_dev.front()) {
                    self.lanes.lo_dev.drop_front();
                    moved = true;
                    continue;
                }
                let lanes = &mut self.lanes;
                match lanes.lo.iface.poll_ingress_single(
                    now,
                    &mut lanes.lo_dev,
                    &mut lanes.lo.sockets,
                ) {
                    PollIngressSingleResult::None => break,
                    _ => moved = true,
                }
            }
            let lanes = &mut self.lanes;
            if lanes
                .lo
                .iface
                .poll_egress(now, &mut lanes.lo_dev, &mut lanes.lo.sockets)
                == PollResult::SocketStateChanged
            {
                moved = true;
            }
            rounds += 1;
            if !moved {
                break;
            }
            if rounds == LO_ROUNDS {
                again = true;
                break;
            }
        }

        // The Ethernet lane.
        if let Some(dev) = dev {
            if let Some((ours, gateway)) = self.arp_probe {
                if dev.can_transmit() {
                    let mac = EthernetAddress(dev.mac());
                    let _ = dev.transmit(&arp_request(mac, ours, gateway));
                    self.arp_probe = None;
                }
            }
            let mut d = EthDevice::new(dev);
            d.fill();
            self.lanes.eth.iface.poll_maintenance(now);
            while d.pending() {
                self.top_up_listeners(LaneId::Eth);
                if self.drops_syn(LaneId::Eth, d.front()) {
                    d.drop_front();
                    continue;
                }
                let eth = &mut self.lanes.eth;
                eth.iface.poll_ingress_single(now, &mut d, &mut eth.sockets);
            }
            let eth = &mut self.lanes.eth;
            while eth.iface.poll_egress(now, &mut d, &mut eth.sockets)
                == PollResult::SocketStateChanged
            {}
            d.flush();
            again |= d.more;
        }

        self.poll_dhcp();
        self.after_poll();

        if again || self.dirty || self.arp_probe.is_some() {
            return Some(now_ns);
        }
        let lanes = &mut self.lanes;
        let lo = lanes.lo.iface.poll_at(now, &lanes.lo.sockets);
        let eth = if lanes.eth_present {
            lanes.eth.iface.poll_at(now, &lanes.eth.sockets)
        } else {
            None
        };
        let next = match (lo, eth) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let orphan = self.orphans.iter().map(|o| o.since + ORPHAN_TIMEOUT).min();
        let next = match (next, orphan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|t| nanos(t).max(now_ns))
    }

    fn poll_dhcp(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.lanes.eth.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => Some((
                c.address,
                c.router,
                c.dns_servers
                    .iter()
                    .map(|a| IpAddr::V4(*a))
                    .collect::<Vec<_>>(),
            )),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match event {
            Some((cidr, router, dns)) => {
                if !dns.is_empty() {
                    self.nameservers = dns;
                }
                self.set_ipv4(Some(cidr), router, true);
            }
            None => {
                // smoltcp reports "deconfigured" once at start, before any
                // lease: only a lease that was held can be lost.
                let had_lease = self.ipv4().is_some();
                self.set_ipv4(None, None, true);
                if had_lease {
                    self.events.push(NetEvent::Deconfigured);
                }
            }
        }
    }

    /// After smoltcp ran: update each socket object, note which changed,
    /// reap finished orphans.
    fn after_poll(&mut self) {
        let keys: Vec<u32> = self.objs.keys().copied().collect();
        for key in keys {
            self.refresh(key);
        }
        let now = self.now;
        let mut i = 0;
        while i < self.orphans.len() {
            let o = &self.orphans[i];
            let s = self.lanes.tcp(o.lane, o.handle);
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if !done && now >= o.since + ORPHAN_TIMEOUT {
                s.abort();
                self.orphans[i].since = now;
                self.dirty = true;
            }
            if done {
                let o = self.orphans.swap_remove(i);
                self.lanes.get(o.lane).sockets.remove(o.handle);
                if let Some(port) = o.port {
                    self.ports.release(Proto::Tcp, port, o.owner);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Recompute one object's readiness; report it when it changed.
    pub(super) fn refresh(&mut self, key: u32) {
        let sig = match self.objs.get(&key).map(|e| &e.obj) {
            Some(Obj::Tcp(_)) => self.tcp_refresh(key),
            Some(Obj::Udp(_)) => self.udp_refresh(key),
            None => return,
        };
        let Some(e) = self.objs.get_mut(&key) else {
            return;
        };
        if e.sig != sig {
            let gained = sig.gains_on(&e.sig);
            e.sig = sig;
            if gained {
                self.mark_changed(key);
            }
        }
    }

    /// Hand a closed connection to the stack to finish.
    pub(super) fn orphan(
        &mut self,
        lane: LaneId,
        handle: SocketHandle,
        port: Option<u16>,
        owner: u32,
    ) {
        if let Some(p) = port {
            let _ = self.ports.update(Proto::Tcp, p, owner, |b| b.orphan = true);
        }
        self.orphans.push(Orphan {
            lane,
            handle,
            since: self.now,
            port,
            owner,
        });
        self.dirty = true;
    }

    /// Number of smoltcp sockets alive on both lanes (for cleanup tests).
    #[cfg(test)]
    pub(super) fn smol_sockets(&self) -> usize {
        self.lanes.eth.sockets.iter().count() + self.lanes.lo.sockets.iter().count()
    }

    #[cfg(test)]
    pub(super) fn ports_held(&self) -> usize {
        self.ports.len()
    }
}

/// A counted reference to the stack, shared by the kernel and socket objects.
#[derive(Clone)]
pub struct Net(Arc<spin::Mutex<NetStack>>);

impl Net {
    /// Borrow the stack. Socket methods (and socket drops) borrow it for
    /// the length of a call, so never hold this across a socket call or
    /// while dropping a socket: a nested borrow panics, as with a
    /// `RefCell` (rather than spinning forever).
    pub fn stack(&self) -> spin::MutexGuard<'_, NetStack> {
        self.0.try_lock().expect("net stack borrowed twice")
    }

    /// [`NetStack::poll`].
    pub fn poll(&self, now_ns: u64, dev: Option<&mut dyn NetDevice>) -> Option<u64> {
        self.stack().poll(now_ns, dev)
    }

    /// [`NetStack::take_changed`].
    pub fn take_changed(&self) -> Vec<ReadyKey> {
        self.stack().take_changed()
    }

    /// A fresh readiness key for an object outside the stack (eventfd,
    /// epoll): the stack's change list is the process's one readiness bus.
    pub fn new_key(&self) -> ReadyKey {
        ReadyKey(self.stack().new_key())
    }

    /// Report that the readiness of the object with `key` changed.
    pub fn notify(&self, key: ReadyKey) {
        self.stack().mark_changed(key.0)
    }
}
