//! AF_NETLINK sockets of protocol NETLINK_ROUTE: the interface, address
//! and route dumps that `getifaddrs`, `if_nameindex` and servers such as
//! dnsmasq read at start-up.
//!
//! Requests are answered when they are sent: the replies wait in the
//! socket's receive queue as datagrams, as Linux's would (a dump is split
//! in datagrams of at most [`DUMP_CHUNK`] bytes, then `NLMSG_DONE` in a
//! datagram of its own). What the kernel side of Linux does is mirrored:
//! a request without `NLM_F_REQUEST` or with a control type is only
//! acknowledged (when `NLM_F_ACK` asks), a dump is never acknowledged, a
//! malformed header ends the processing of the rest of the send quietly,
//! and errors come back as `NLMSG_ERROR` messages carrying the request.
//! Nothing can be changed: RTM_NEW*/DEL*/SET* requests get EPERM, as for a
//! root user without CAP_NET_ADMIN (a container's root). Multicast groups
//! may be joined but no event is ever delivered.

use super::cell::Shared;
use super::ifaces::{by_index, IfAddr, Iface, Route};
use super::opts::CommonOpts;
use super::stack::{Net, ReadyKey};
use super::{MsgFlags, PollMask, Received, SockAddr, SockOpt, SockOptName, SockType};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::IpAddr;
use kiln_abi::errno::Errno;

pub const AF_NETLINK: u16 = 16;
pub const NETLINK_ROUTE: u32 = 0;
/// `sizeof(struct sockaddr_nl)`.
pub const SOCKADDR_NL_LEN: usize = 12;

pub const SOL_NETLINK: u32 = 270;
pub const NETLINK_ADD_MEMBERSHIP: u32 = 1;
pub const NETLINK_DROP_MEMBERSHIP: u32 = 2;
pub const NETLINK_PKTINFO: u32 = 3;
pub const NETLINK_BROADCAST_ERROR: u32 = 4;
pub const NETLINK_NO_ENOBUFS: u32 = 5;
pub const NETLINK_LISTEN_ALL_NSID: u32 = 8;
pub const NETLINK_LIST_MEMBERSHIPS: u32 = 9;
pub const NETLINK_CAP_ACK: u32 = 10;
pub const NETLINK_EXT_ACK: u32 = 11;
pub const NETLINK_GET_STRICT_CHK: u32 = 12;

// Message header and control types.
pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_MIN_TYPE: u16 = 0x10;

// Header flags.
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// On an NLMSG_ERROR: the request is not copied in full.
pub const NLM_F_CAPPED: u16 = 0x100;

// rtnetlink message types.
pub const RTM_BASE: u16 = 16;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;
/// The last rtnetlink type (Linux 6.1).
pub const RTM_MAX: u16 = 123;

// Link attributes.
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_BROADCAST: u16 = 2;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_QDISC: u16 = 6;
pub const IFLA_STATS: u16 = 7;
pub const IFLA_TXQLEN: u16 = 13;
pub const IFLA_OPERSTATE: u16 = 16;
pub const IFLA_LINKMODE: u16 = 17;
pub const IFLA_STATS64: u16 = 23;
pub const IFLA_GROUP: u16 = 27;
pub const IFLA_PROMISCUITY: u16 = 30;
pub const IFLA_NUM_TX_QUEUES: u16 = 31;
pub const IFLA_NUM_RX_QUEUES: u16 = 32;
pub const IFLA_CARRIER: u16 = 33;
pub const IFLA_ALT_IFNAME: u16 = 53;

// Address attributes and flags.
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_CACHEINFO: u16 = 6;
pub const IFA_FLAGS: u16 = 8;
pub const IFA_F_PERMANENT: u32 = 0x80;

// Route attributes.
pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
pub const RTA_TABLE: u16 = 15;

/// `sizeof(struct ifinfomsg)`, `struct ifaddrmsg`, `struct rtmsg`.
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTMSG_LEN: usize = 12;
/// `struct rtnl_link_stats` (24 counters) and `rtnl_link_stats64` (25).
const STATS_LEN: usize = 24 * 4;
const STATS64_LEN: usize = 25 * 8;

/// Most bytes in one datagram of a dump: Linux's `NLMSG_GOODSIZE` with 4
/// KiB pages, so that a reader with a page-sized buffer (glibc, Go) never
/// sees a truncated dump.
pub const DUMP_CHUNK: usize = 3776;
/// Receive and send buffer as used (Linux reports twice: 212992).
const DEFAULT_BUF: usize = 106_496;
/// The port id the first socket gets: the process id, as on Linux.
const PROCESS_PORT: u32 = kiln_abi::MAIN_TID as u32;
/// Multicast groups of NETLINK_ROUTE (`RTNLGRP_MAX`).
const GROUPS: u32 = 33;

/// `NETLINK_*` switches set with setsockopt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Switches {
    pktinfo: bool,
    broadcast_error: bool,
    no_enobufs: bool,
    listen_all_nsid: bool,
    cap_ack: bool,
    ext_ack: bool,
    strict: bool,
}

struct Inner {
    /// Bound port id (0: not bound yet).
    port: u32,
    /// Joined multicast groups, bit `n - 1` for group `n`.
    groups: u64,
    /// Where `send` without an address goes (`connect`).
    dst_port: u32,
    dst_groups: u32,
    /// Replies waiting, one datagram each.
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    /// An error for the next receive (ENOBUFS after an overrun).
    error: Option<Errno>,
    opts: CommonOpts,
    switches: Switches,
}

/// A netlink socket (NETLINK_ROUTE). Dropping it is the last `close`.
pub struct NetlinkSocket {
    net: Net,
    key: u32,
    /// `SOCK_RAW` or `SOCK_DGRAM`, as created (SO_TYPE).
    raw_type: u32,
    inner: Shared<Inner>,
}

/// The header of a netlink message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hdr {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Hdr {
    /// The header at the start of `b`, if there are enough bytes.
    pub fn parse(b: &[u8]) -> Option<Hdr> {
        let b: &[u8; NLMSG_HDRLEN] = b.first_chunk()?;
        let u32at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Hdr {
            len: u32at(0),
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32at(8),
            pid: u32at(12),
        })
    }

    fn encode(&self) -> [u8; NLMSG_HDRLEN] {
        let mut h = [0u8; NLMSG_HDRLEN];
        h[..4].copy_from_slice(&self.len.to_ne_bytes());
        h[4..6].copy_from_slice(&self.ty.to_ne_bytes());
        h[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        h[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        h[12..].copy_from_slice(&self.pid.to_ne_bytes());
        h
    }
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A message being built: header, fixed part, attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Msg {
        let h = Hdr {
            len: 0,
            ty,
            flags,
            seq,
            pid,
        };
        Msg(h.encode().to_vec())
    }
    fn put(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn pad(&mut self) {
        self.0.resize(align4(self.0.len()), 0);
    }
    fn attr(&mut self, ty: u16, data: &[u8]) {
        self.pad();
        self.put(&((4 + data.len()) as u16).to_ne_bytes());
        self.put(&ty.to_ne_bytes());
        self.put(data);
        self.pad();
    }
    fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }
    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v);
    }
    fn attr_ip(&mut self, ty: u16, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.attr(ty, &a.octets()),
            IpAddr::V6(a) => self.attr(ty, &a.octets()),
        }
    }
    fn finish(mut self) -> Vec<u8> {
        self.pad();
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// The attributes of a message body, as (type, payload).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        v.push((ty, &b[4..len]));
        b = &b[align4(len).min(b.len())..];
    }
    v
}

fn family_of(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 2,
        IpAddr::V6(_) => 10,
    }
}

/// RTM_NEWLINK for `i`.
pub fn link_msg(i: &Iface, seq: u32, pid: u32, flags: u16) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, flags, seq, pid);
    let mut info = [0u8; IFINFOMSG_LEN];
    info[2..4].copy_from_slice(&i.hw_type.to_ne_bytes());
    info[4..8].copy_from_slice(&i.index.to_ne_bytes());
    info[8..12].copy_from_slice(&i.flags.to_ne_bytes());
    m.put(&info);
    m.attr_str(IFLA_IFNAME, i.name);
    m.attr_u32(IFLA_TXQLEN, i.txqlen);
    m.attr(IFLA_OPERSTATE, &[i.operstate]);
    m.attr(IFLA_LINKMODE, &[0]);
    m.attr_u32(IFLA_MTU, i.mtu);
    m.attr_u32(IFLA_GROUP, 0);
    m.attr_u32(IFLA_PROMISCUITY, 0);
    m.attr_u32(IFLA_NUM_TX_QUEUES, 1);
    m.attr_u32(IFLA_NUM_RX_QUEUES, 1);
    m.attr(IFLA_CARRIER, &[1]);
    m.attr_str(IFLA_QDISC, i.qdisc);
    m.attr(IFLA_ADDRESS, &i.hwaddr);
    m.attr(IFLA_BROADCAST, &i.hw_broadcast);
    m.attr(IFLA_STATS64, &[0; STATS64_LEN]);
    m.attr(IFLA_STATS, &[0; STATS_LEN]);
    m.finish()
}

/// RTM_NEWADDR for address `a` of `i`.
pub fn addr_msg(i: &Iface, a: &IfAddr, seq: u32, pid: u32, flags: u16) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWADDR, flags, seq, pid);
    let ifa_flags = if a.permanent { IFA_F_PERMANENT } else { 0 };
    m.put(&[family_of(a.ip), a.prefix, ifa_flags as u8, a.scope]);
    m.put(&i.index.to_ne_bytes());
    m.attr_ip(IFA_ADDRESS, a.ip);
    if a.ip.is_ipv4() {
        m.attr_ip(IFA_LOCAL, a.ip);
        if let Some(b) = a.broadcast {
            m.attr_ip(IFA_BROADCAST, IpAddr::V4(b));
        }
        m.attr_str(IFA_LABEL, i.name);
    }
    m.attr_u32(IFA_FLAGS, ifa_flags);
    // struct ifa_cacheinfo: preferred and valid lifetimes (forever),
    // creation and update stamps.
    let mut ci = [0u8; 16];
    ci[..8].fill(0xff);
    m.attr(IFA_CACHEINFO, &ci);
    m.finish()
}

/// RTM_NEWROUTE for `r`.
pub fn route_msg(r: &Route, seq: u32, pid: u32, flags: u16) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWROUTE, flags, seq, pid);
    m.put(&[family_of(r.dst), r.dst_len, 0, 0]);
    m.put(&[r.table, r.protocol, r.scope, r.kind]);
    m.put(&0u32.to_ne_bytes());
    m.attr_u32(RTA_TABLE, r.table as u32);
    if r.dst_len > 0 {
        m.attr_ip(RTA_DST, r.dst);
    }
    if let Some(p) = r.priority {
        m.attr_u32(RTA_PRIORITY, p);
    }
    if let Some(s) = r.prefsrc {
        m.attr_ip(RTA_PREFSRC, s);
    }
    if let Some(g) = r.gateway {
        m.attr_ip(RTA_GATEWAY, g);
    }
    m.attr_u32(RTA_OIF, r.oif);
    m.finish()
}

/// NLMSG_DONE ending a dump.
fn done_msg(seq: u32, pid: u32) -> Vec<u8> {
    let mut m = Msg::new(NLMSG_DONE, NLM_F_MULTI, seq, pid);
    m.put(&0i32.to_ne_bytes());
    m.finish()
}

/// NLMSG_ERROR for request `req` (its header and body): an
/// acknowledgement when `err` is `None`. Errors carry the whole request
/// unless NETLINK_CAP_ACK is set; acknowledgements only its header.
fn error_msg(req: &[u8], h: &Hdr, err: Option<Errno>, pid: u32, cap: bool) -> Vec<u8> {
    let capped = err.is_none() || cap;
    let mut m = Msg::new(
        NLMSG_ERROR,
        if capped { NLM_F_CAPPED } else { 0 },
        h.seq,
        pid,
    );
    m.put(&err.map_or(0, |e| e.as_ret() as i32).to_ne_bytes());
    if capped {
        m.put(&req[..NLMSG_HDRLEN]);
    } else {
        m.put(req);
    }
    m.finish()
}

/// Pack a dump's messages into datagrams of at most [`DUMP_CHUNK`] bytes,
/// then its NLMSG_DONE in a datagram of its own.
fn push_dump(out: &mut Vec<Vec<u8>>, msgs: Vec<Vec<u8>>, seq: u32, pid: u32) {
    let mut cur: Vec<u8> = Vec::new();
    for m in msgs {
        if !cur.is_empty() && cur.len() + m.len() > DUMP_CHUNK {
            out.push(core::mem::take(&mut cur));
        }
        cur.extend_from_slice(&m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.push(done_msg(seq, pid));
}

/// What the answers are made from: one snapshot of the stack per send.
pub struct View {
    pub ifaces: Vec<Iface>,
    pub routes: Vec<Route>,
}

/// Whether an address of family `ip` is asked for by family `want`
/// (AF_INET, AF_INET6, anything else: all).
fn wanted(want: u8, ip: IpAddr) -> bool {
    match want {
        2 | 10 => family_of(ip) == want,
        _ => true,
    }
}

/// What one request came to: a dump (never acknowledged), or done.
enum Handled {
    Dump,
    Done,
}

/// The rtnetlink side of one request (`rtnetlink_rcv_msg`).
fn rtnl(
    h: &Hdr,
    body: &[u8],
    pid: u32,
    strict: bool,
    view: &View,
    out: &mut Vec<Vec<u8>>,
) -> Result<Handled, Errno> {
    if h.ty > RTM_MAX {
        return Err(Errno::EOPNOTSUPP);
    }
    // Linux answers a request without even a family byte with nothing.
    let Some(&family) = body.first() else {
        return Ok(Handled::Done);
    };
    let kind = (h.ty - RTM_BASE) & 3;
    if kind != 2 {
        // NEW, DEL, SET: the configuration is the VM's, fixed from outside.
        return Err(Errno::EPERM);
    }
    if h.flags & NLM_F_DUMP != 0 {
        let min = match h.ty {
            RTM_GETLINK => IFINFOMSG_LEN,
            RTM_GETADDR => IFADDRMSG_LEN,
            RTM_GETROUTE => RTMSG_LEN,
            _ => 0,
        };
        if strict && body.len() < min {
            return Err(Errno::EINVAL);
        }
        let msgs: Vec<Vec<u8>> = match h.ty {
            RTM_GETLINK => view
                .ifaces
                .iter()
                .map(|i| link_msg(i, h.seq, pid, NLM_F_MULTI))
                .collect(),
            RTM_GETADDR => {
                let mut v = Vec::new();
                // Linux dumps family by family: IPv4, then IPv6.
                for fam in [2u8, 10] {
                    if !matches!(family, 2 | 10) || family == fam {
                        for i in &view.ifaces {
                            for a in i.addrs.iter().filter(|a| family_of(a.ip) == fam) {
                                v.push(addr_msg(i, a, h.seq, pid, NLM_F_MULTI));
                            }
                        }
                    }
                }
                v
            }
            RTM_GETROUTE => view
                .routes
                .iter()
                .filter(|r| wanted(family, r.dst))
                .map(|r| route_msg(r, h.seq, pid, NLM_F_MULTI))
                .collect(),
            // Other tables (neighbours, rules, qdiscs...) are empty here.
            _ => Vec::new(),
        };
        push_dump(out, msgs, h.seq, pid);
        return Ok(Handled::Dump);
    }
    match h.ty {
        RTM_GETLINK => {
            let Some(info) = body.first_chunk::<IFINFOMSG_LEN>() else {
                return Err(Errno::EINVAL);
            };
            let index = i32::from_ne_bytes([info[4], info[5], info[6], info[7]]);
            let iface = if index > 0 {
                by_index(&view.ifaces, index as i64)
            } else {
                let named = attrs(&body[IFINFOMSG_LEN..])
                    .into_iter()
                    .find(|(t, _)| *t == IFLA_IFNAME || *t == IFLA_ALT_IFNAME);
                match named {
                    Some((_, name)) => {
                        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                        view.ifaces
                            .iter()
                            .find(|i| i.name.as_bytes() == &name[..end])
                    }
                    None => return Err(Errno::EINVAL),
                }
            };
            let i = iface.ok_or(Errno::ENODEV)?;
            out.push(link_msg(i, h.seq, pid, 0));
            Ok(Handled::Done)
        }
        // Single address and route lookups are not answered.
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// Answer every request in `data` (one send) as Linux's netlink and
/// rtnetlink receive paths do; the replies, one datagram each, go to
/// `out`. `pid` is the sender's port id.
pub fn answer(data: &[u8], pid: u32, view: &View, strict: bool, cap_ack: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(h) = Hdr::parse(rest) {
        let len = h.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            // A malformed header ends the processing quietly, as Linux.
            break;
        }
        let req = &rest[..len];
        let result = if h.flags & NLM_F_REQUEST == 0 || h.ty < NLMSG_MIN_TYPE {
            Ok(Handled::Done)
        } else {
            rtnl(&h, &req[NLMSG_HDRLEN..], pid, strict, view, &mut out)
        };
        match result {
            Ok(Handled::Dump) => {}
            Ok(Handled::Done) if h.flags & NLM_F_ACK != 0 => {
                out.push(error_msg(req, &h, None, pid, cap_ack))
            }
            Ok(Handled::Done) => {}
            Err(e) => out.push(error_msg(req, &h, Some(e), pid, cap_ack)),
        }
        rest = &rest[align4(len).min(rest.len())..];
    }
    out
}

/// Decode a `struct sockaddr_nl`: (port id, groups).
fn decode_addr(b: &[u8]) -> Result<(u32, u32), Errno> {
    if b.len() < SOCKADDR_NL_LEN || u16::from_ne_bytes([b[0], b[1]]) != AF_NETLINK {
        return Err(Errno::EINVAL);
    }
    let u = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok((u(4), u(8)))
}

/// Encode a `struct sockaddr_nl`.
pub fn encode_addr(pid: u32, groups: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(SOCKADDR_NL_LEN);
    v.extend_from_slice(&AF_NETLINK.to_ne_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&pid.to_ne_bytes());
    v.extend_from_slice(&groups.to_ne_bytes());
    v
}

fn int_arg(b: &[u8]) -> u32 {
    // Linux reads the value only when at least an int was given.
    b.first_chunk::<4>().map_or(0, |v| u32::from_ne_bytes(*v))
}

impl NetlinkSocket {
    /// A new NETLINK_ROUTE socket of type `raw_type` (SOCK_RAW or SOCK_DGRAM).
    pub fn new(net: &Net, raw_type: u32) -> NetlinkSocket {
        let key = net.stack().new_key();
        NetlinkSocket {
            net: net.clone(),
            key,
            raw_type,
            inner: Shared::new(Inner {
                port: 0,
                groups: 0,
                dst_port: 0,
                dst_groups: 0,
                queue: VecDeque::new(),
                queued: 0,
                error: None,
                opts: CommonOpts::new(DEFAULT_BUF, DEFAULT_BUF),
                switches: Switches::default(),
            }),
        }
    }

    pub fn key(&self) -> ReadyKey {
        ReadyKey(self.key)
    }

    /// SOCK_RAW or SOCK_DGRAM, as created.
    pub fn raw_type(&self) -> u32 {
        self.raw_type
    }

    /// The bound port id (0 while unbound).
    pub fn port(&self) -> u32 {
        self.inner.borrow().port
    }

    /// Current Linux poll mask.
    pub fn poll(&self) -> PollMask {
        let me = self.inner.borrow();
        let mut m = PollMask::WRITABLE;
        if !me.queue.is_empty() {
            m |= PollMask::READABLE;
        }
        if me.error.is_some() {
            m |= PollMask::ERR;
        }
        m
    }

    /// Take `port` (`Some`) or pick one (`None`): the process id first,
    /// then ids from -4097 down, as Linux's autobind.
    fn take_port(&self, me: &mut Inner, port: Option<u32>) -> Result<(), Errno> {
        let mut st = self.net.stack();
        let port = match port {
            Some(p) if st.netlink_ports.contains(&p) => return Err(Errno::EADDRINUSE),
            Some(p) => p,
            None if !st.netlink_ports.contains(&PROCESS_PORT) => PROCESS_PORT,
            None => {
                let mut p = (-4097i32) as u32;
                while st.netlink_ports.contains(&p) {
                    p = p.wrapping_sub(1);
                }
                p
            }
        };
        st.netlink_ports.insert(port);
        me.port = port;
        Ok(())
    }

    /// Implements `bind(2)`: nl_pid 0 picks a port id; nl_groups joins
    /// groups 1-32. A bound socket may be bound again to its own id (to
    /// change its groups); another id is EINVAL.
    pub fn bind(&self, addr: &[u8]) -> Result<(), Errno> {
        let (pid, groups) = decode_addr(addr)?;
        let mut me = self.inner.borrow_mut();
        if me.port != 0 {
            if pid != me.port {
                return Err(Errno::EINVAL);
            }
        } else {
            self.take_port(&mut me, (pid != 0).then_some(pid))?;
        }
        me.groups = (me.groups & !0xffff_ffff) | groups as u64;
        Ok(())
    }

    /// Implements `connect(2)`: the default destination (AF_UNSPEC: the
    /// kernel again); binds an unbound socket.
    pub fn connect(&self, addr: &[u8]) -> Result<(), Errno> {
        let mut me = self.inner.borrow_mut();
        if addr.len() >= 2 && u16::from_ne_bytes([addr[0], addr[1]]) == 0 {
            me.dst_port = 0;
            me.dst_groups = 0;
            return Ok(());
        }
        let (pid, groups) = decode_addr(addr)?;
        if me.port == 0 {
            self.take_port(&mut me, None)?;
        }
        me.dst_port = pid;
        me.dst_groups = groups;
        Ok(())
    }

    /// Implements `sendto(2)`: every request in `data` is answered at once
    /// (see [`answer`]). Messages to another socket are ECONNREFUSED:
    /// only the kernel side (port 0) exists here.
    pub fn send(&self, data: &[u8], _flags: MsgFlags, to: Option<&[u8]>) -> Result<usize, Errno> {
        let dst = match to {
            Some(b) => decode_addr(b)?.0,
            None => self.inner.borrow().dst_port,
        };
        let view = {
            let st = self.net.stack();
            View {
                ifaces: st.interfaces(),
                routes: st.routes(),
            }
        };
        let mut me = self.inner.borrow_mut();
        if me.port == 0 {
            self.take_port(&mut me, None)?;
        }
        if data.len() > (me.opts.sndbuf * 2).saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        if dst != 0 {
            return Err(Errno::ECONNREFUSED);
        }
        let sw = me.switches;
        let replies = answer(data, me.port, &view, sw.strict, sw.cap_ack);
        let limit = me.opts.rcvbuf * 2;
        let mut added = false;
        for r in replies {
            // A dump waits in Linux until it is read; acknowledgements and
            // errors that find the queue full are lost (ENOBUFS).
            let is_dump = Hdr::parse(&r).is_some_and(|h| h.flags & NLM_F_MULTI != 0);
            if !is_dump && me.queued + r.len() > limit {
                if !sw.no_enobufs {
                    me.error = Some(Errno::ENOBUFS);
                    added = true;
                }
                continue;
            }
            me.queued += r.len();
            me.queue.push_back(r);
            added = true;
        }
        drop(me);
        if added {
            self.net.notify(self.key());
        }
        Ok(data.len())
    }

    /// Implements `recvfrom(2)`: one datagram (the rest of it is dropped
    /// unless MSG_PEEK), from the kernel (port 0).
    pub fn recv(&self, buf: &mut [u8], flags: MsgFlags) -> Result<Received, Errno> {
        let mut me = self.inner.borrow_mut();
        if let Some(e) = me.error.take() {
            drop(me);
            self.net.notify(self.key());
            return Err(e);
        }
        let Some(d) = me.queue.front() else {
            return Err(Errno::EAGAIN);
        };
        let full = d.len();
        let n = full.min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        let taken = !flags.contains(MsgFlags::PEEK);
        if taken {
            me.queue.pop_front();
            me.queued -= full;
        }
        drop(me);
        if taken {
            self.net.notify(self.key());
        }
        Ok(Received {
            len: n,
            full_len: full,
            from: Some(SockAddr::Netlink { pid: 0, groups: 0 }),
            dst: None,
        })
    }

    /// Implements `getsockname(2)`.
    pub fn local_addr(&self) -> SockAddr {
        let me = self.inner.borrow();
        SockAddr::Netlink {
            pid: me.port,
            groups: me.groups as u32,
        }
    }

    /// Implements `getpeername(2)`: the `connect` destination (the kernel
    /// by default).
    pub fn peer_addr(&self) -> SockAddr {
        let me = self.inner.borrow();
        SockAddr::Netlink {
            pid: me.dst_port,
            groups: me.dst_groups,
        }
    }

    /// SOL_SOCKET options every socket has.
    pub fn set_option(&self, opt: SockOpt) -> Result<(), Errno> {
        if self.inner.borrow_mut().opts.set(opt)? {
            Ok(())
        } else {
            Err(Errno::ENOPROTOOPT)
        }
    }

    pub fn option(&self, name: SockOptName) -> Result<SockOpt, Errno> {
        let mut me = self.inner.borrow_mut();
        if let Some(v) = me.opts.get(name) {
            return Ok(v);
        }
        match name {
            SockOptName::Error => Ok(SockOpt::Error(me.error.take())),
            SockOptName::Type => Ok(SockOpt::Type(SockType::Dgram)),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    /// Implements `setsockopt(SOL_NETLINK, name)`.
    pub fn set_netlink_option(&self, name: u32, value: &[u8]) -> Result<(), Errno> {
        let v = int_arg(value);
        let mut me = self.inner.borrow_mut();
        let sw = &mut me.switches;
        match name {
            NETLINK_PKTINFO => sw.pktinfo = v != 0,
            NETLINK_BROADCAST_ERROR => sw.broadcast_error = v != 0,
            NETLINK_NO_ENOBUFS => sw.no_enobufs = v != 0,
            NETLINK_LISTEN_ALL_NSID => sw.listen_all_nsid = v != 0,
            NETLINK_CAP_ACK => sw.cap_ack = v != 0,
            NETLINK_EXT_ACK => sw.ext_ack = v != 0,
            NETLINK_GET_STRICT_CHK => sw.strict = v != 0,
            NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP => {
                if v == 0 || v > GROUPS {
                    return Err(Errno::EINVAL);
                }
                if name == NETLINK_ADD_MEMBERSHIP {
                    me.groups |= 1 << (v - 1);
                } else {
                    me.groups &= !(1 << (v - 1));
                }
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    /// Implements `getsockopt(SOL_NETLINK, name)` for a buffer of `have`
    /// bytes: the value bytes to hand back.
    pub fn netlink_option(&self, name: u32, have: usize) -> Result<Vec<u8>, Errno> {
        let me = self.inner.borrow();
        let sw = me.switches;
        let flag = match name {
            NETLINK_PKTINFO => sw.pktinfo,
            NETLINK_BROADCAST_ERROR => sw.broadcast_error,
            NETLINK_NO_ENOBUFS => sw.no_enobufs,
            NETLINK_LISTEN_ALL_NSID => sw.listen_all_nsid,
            NETLINK_CAP_ACK => sw.cap_ack,
            NETLINK_EXT_ACK => sw.ext_ack,
            NETLINK_GET_STRICT_CHK => sw.strict,
            NETLINK_LIST_MEMBERSHIPS => {
                // The group bitmap, as many words as fit (the full length
                // is what Linux reports back).
                let mut v = Vec::new();
                v.extend_from_slice(&(me.groups as u32).to_ne_bytes());
                v.extend_from_slice(&((me.groups >> 32) as u32).to_ne_bytes());
                return Ok(v);
            }
            _ => return Err(Errno::ENOPROTOOPT),
        };
        if have < 4 {
            return Err(Errno::EINVAL);
        }
        Ok((flag as i32).to_ne_bytes().to_vec())
    }

    /// Size of the next datagram (`FIONREAD`), 0 when none.
    pub fn readable_bytes(&self) -> usize {
        self.inner.borrow().queue.front().map_or(0, Vec::len)
    }
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        let port = self.inner.borrow().port;
        let mut st = self.net.stack();
        if port != 0 {
            st.netlink_ports.remove(&port);
        }
        st.mark_changed(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::super::ifaces::{EthFacts, NetFacts};
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn view() -> View {
        let f = NetFacts {
            eth: Some(EthFacts {
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                mtu: 1500,
                ipv4: Some((Ipv4Addr::new(10, 0, 2, 15), 24)),
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                link_local: Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456),
                ipv6: None,
                dhcp: true,
            }),
        };
        View {
            ifaces: f.interfaces(),
            routes: f.routes(),
        }
    }

    fn req(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Msg::new(ty, flags, seq, 0);
        m.put(body);
        m.finish()
    }

    /// Every message of a datagram.
    fn split(mut d: &[u8]) -> Vec<(Hdr, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(h) = Hdr::parse(d) {
            v.push((h, d[NLMSG_HDRLEN..h.len as usize].to_vec()));
            d = &d[align4(h.len as usize)..];
        }
        v
    }

    #[test]
    fn link_dump_then_done_apart() {
        let out = answer(
            &req(
                RTM_GETLINK,
                NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK,
                9,
                &[0; 4],
            ),
            77,
            &view(),
            false,
            false,
        );
        assert_eq!(out.len(), 2, "links, then DONE; no ack for a dump");
        let links = split(&out[0]);
        assert_eq!(links.len(), 2);
        for (h, _) in &links {
            assert_eq!(
                (h.ty, h.seq, h.pid, h.flags),
                (RTM_NEWLINK, 9, 77, NLM_F_MULTI)
            );
        }
        let eth = &links[1].1;
        let a = attrs(&eth[IFINFOMSG_LEN..]);
        let get = |t| a.iter().find(|x| x.0 == t).unwrap().1;
        assert_eq!(get(IFLA_IFNAME), b"eth0\0");
        assert_eq!(get(IFLA_ADDRESS), &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(get(IFLA_MTU), &1500u32.to_ne_bytes());
        assert_eq!(get(IFLA_STATS).len(), STATS_LEN);
        let done = split(&out[1]);
        assert_eq!(done[0].0.ty, NLMSG_DONE);
        assert_eq!(done[0].0.len, 20);
    }

    #[test]
    fn addr_dump_filters_by_family() {
        let v = view();
        let all = answer(
            &req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_ROOT, 1, &[0]),
            1,
            &v,
            false,
            false,
        );
        assert_eq!(split(&all[0]).len(), 4);
        let v4 = answer(
            &req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, &[2]),
            1,
            &v,
            false,
            false,
        );
        let m = split(&v4[0]);
        assert_eq!(m.len(), 2);
        // eth0's: IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_LABEL.
        let a = attrs(&m[1].1[IFADDRMSG_LEN..]);
        let types: Vec<u16> = a.iter().map(|x| x.0).collect();
        assert_eq!(
            &types[..4],
            &[IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_LABEL]
        );
        assert_eq!(a[2].1, &[10, 0, 2, 255]);
        assert_eq!(&m[1].1[..4], &[2, 24, 0, 0]);
        let v6 = answer(
            &req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, &[10]),
            1,
            &v,
            false,
            false,
        );
        let m = split(&v6[0]);
        assert_eq!(m.len(), 2);
        assert_eq!(&m[1].1[..4], &[10, 64, 0x80, 253]);
    }

    #[test]
    fn errors_acks_and_malformed_requests() {
        let v = view();
        // A change: EPERM, with the request copied.
        let r = req(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK,
            5,
            &[2, 24, 0, 0, 2, 0, 0, 0],
        );
        let out = answer(&r, 3, &v, false, false);
        assert_eq!(out.len(), 1);
        let (h, body) = &split(&out[0])[0];
        assert_eq!((h.ty, h.seq, h.pid, h.flags), (NLMSG_ERROR, 5, 3, 0));
        assert_eq!(&body[..4], &(-1i32).to_ne_bytes());
        assert_eq!(&body[4..], &r[..]);
        // With NETLINK_CAP_ACK only the header comes back.
        let out = answer(&r, 3, &v, false, true);
        assert_eq!(split(&out[0])[0].0.flags, NLM_F_CAPPED);
        assert_eq!(split(&out[0])[0].1.len(), 20);
        // Unknown type: EOPNOTSUPP even without NLM_F_ACK.
        let out = answer(&req(200, NLM_F_REQUEST, 6, &[0]), 3, &v, false, false);
        assert_eq!(&split(&out[0])[0].1[..4], &(-95i32).to_ne_bytes());
        // A control message, or no NLM_F_REQUEST: an ack only if asked.
        assert!(answer(&req(NLMSG_NOOP, NLM_F_REQUEST, 1, &[]), 3, &v, false, false).is_empty());
        let out = answer(&req(RTM_GETLINK, NLM_F_ACK, 7, &[0]), 3, &v, false, false);
        let (h, body) = &split(&out[0])[0];
        assert_eq!((h.ty, h.flags, h.len), (NLMSG_ERROR, NLM_F_CAPPED, 36));
        assert_eq!(&body[..4], &[0; 4]);
        // A bad length stops the rest quietly.
        let mut two = req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0]);
        two.extend_from_slice(&req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 2, &[0]));
        assert_eq!(answer(&two, 3, &v, false, false).len(), 4);
        two[0] = 200;
        assert!(answer(&two, 3, &v, false, false).is_empty());
        // Strict checking wants whole headers.
        let out = answer(
            &req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0]),
            3,
            &v,
            true,
            false,
        );
        assert_eq!(&split(&out[0])[0].1[..4], &(-22i32).to_ne_bytes());
    }

    #[test]
    fn single_link_by_index_or_name() {
        let v = view();
        let mut body = [0u8; IFINFOMSG_LEN];
        body[4] = 2;
        let out = answer(
            &req(RTM_GETLINK, NLM_F_REQUEST, 4, &body),
            1,
            &v,
            false,
            false,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(split(&out[0])[0].0.flags, 0);
        let mut m = Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 4, 0);
        m.put(&[0; IFINFOMSG_LEN]);
        m.attr_str(IFLA_IFNAME, "lo");
        let out = answer(&m.finish(), 1, &v, false, false);
        assert_eq!(out.len(), 2, "the link, then the ack");
        let mut m = Msg::new(RTM_GETLINK, NLM_F_REQUEST, 4, 0);
        m.put(&[0; IFINFOMSG_LEN]);
        m.attr_str(IFLA_IFNAME, "eth7");
        let out = answer(&m.finish(), 1, &v, false, false);
        assert_eq!(&split(&out[0])[0].1[..4], &(-19i32).to_ne_bytes());
    }

    #[test]
    fn route_dump_has_the_default_route() {
        let out = answer(
            &req(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 1, &[2]),
            1,
            &view(),
            false,
            false,
        );
        let m = split(&out[0]);
        let (_, def) = m.iter().find(|(_, b)| b[1] == 0).unwrap();
        let a = attrs(&def[RTMSG_LEN..]);
        assert!(a.contains(&(RTA_GATEWAY, &[10, 0, 2, 2][..])));
        assert!(a.contains(&(RTA_OIF, &2u32.to_ne_bytes()[..])));
        assert!(m.iter().all(|(_, b)| b[0] == 2));
    }

    #[test]
    fn big_dumps_are_split_at_page_size() {
        let mut v = view();
        for _ in 0..40 {
            let i = v.ifaces[1].clone();
            v.ifaces.push(i);
        }
        let out = answer(
            &req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0]),
            1,
            &v,
            false,
            false,
        );
        assert!(out.len() > 2);
        assert!(out.iter().all(|d| d.len() <= DUMP_CHUNK));
        let n: usize = out.iter().map(|d| split(d).len()).sum();
        assert_eq!(n, 42 + 1);
    }
}
