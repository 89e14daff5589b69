//! UDP sockets with Linux semantics over smoltcp: message boundaries,
//! truncation, `MSG_PEEK`, connected peers (datagrams from others are
//! dropped), dual-stack AF_INET6 sockets.

use super::addr::{for_domain, unmap, unspecified};
use super::opts::CommonOpts;
use super::ports::{BindAddr, Binding, Proto};
use super::stack::{from_smol, to_smol, Entry, LaneId, Net, NetStack, Obj, ReadyKey, Sig};
use super::{
    Domain, MsgFlags, PollMask, Received, Shutdown, SockAddr, SockOpt, SockOptName, SockType,
};
use alloc::vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use kiln_abi::errno::Errno;
use smoltcp::socket::udp;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

/// Default buffer sizes (each way); a buffer holds at most this many bytes
/// of datagrams and [`UDP_SLOTS`] datagrams.
pub const UDP_BUF: usize = 64 * 1024;
const UDP_SLOTS: usize = 64;
/// Largest UDP payload over IPv4 (65535 - 20 - 8).
const MAX_DATAGRAM: usize = 65507;

pub(super) struct UdpObj {
    domain: Domain,
    opts: CommonOpts,
    bound: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    handles: [Option<smoltcp::iface::SocketHandle>; 2],
    error: Option<Errno>,
    shut_rd: bool,
    shut_wr: bool,
    /// Lane to look at first on the next receive (alternates, for fairness).
    next_lane: usize,
}

fn family_ok(domain: Domain, v6only: bool, a: SocketAddr) -> bool {
    match (domain, a) {
        (Domain::Inet, SocketAddr::V4(_)) | (Domain::Inet6, SocketAddr::V6(_)) => true,
        (Domain::Inet6, SocketAddr::V4(_)) => !v6only,
        _ => false,
    }
}

impl UdpObj {
    fn accepts(&self, from: SocketAddr) -> bool {
        family_ok(self.domain, self.opts.v6only, from) && self.peer.is_none_or(|p| p == from)
    }
}

/// A smoltcp socket with the buffers SO_RCVBUF/SO_SNDBUF ask for; ENOMEM
/// when memory does not hold them.
fn new_smol(opts: &CommonOpts) -> Result<udp::Socket<'static>, Errno> {
    Ok(udp::Socket::new(
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_SLOTS],
            crate::fallible::zeroed(opts.rcvbuf.max(UDP_BUF))?,
        ),
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_SLOTS],
            crate::fallible::zeroed(opts.sndbuf.max(UDP_BUF))?,
        ),
    ))
}

impl NetStack {
    fn udp(&mut self, key: u32) -> &mut UdpObj {
        match self.objs.get_mut(&key).map(|e| &mut e.obj) {
            Some(Obj::Udp(u)) => u,
            _ => unreachable!("udp socket object {key} missing"),
        }
    }

    fn udp_new(&mut self, domain: Domain) -> u32 {
        let key = self.new_key();
        let obj = UdpObj {
            domain,
            opts: CommonOpts::new(UDP_BUF, UDP_BUF),
            bound: None,
            peer: None,
            handles: [None, None],
            error: None,
            shut_rd: false,
            shut_wr: false,
            next_lane: 0,
        };
        self.objs.insert(
            key,
            Entry {
                obj: Obj::Udp(obj),
                sig: Sig::default(),
            },
        );
        key
    }

    fn udp_bind(&mut self, key: u32, addr: SocketAddr) -> Result<(), Errno> {
        let addr = unmap(addr);
        let u = self.udp(key);
        if u.bound.is_some() {
            return Err(Errno::EINVAL);
        }
        let (domain, opts) = (u.domain, u.opts);
        if domain == Domain::Inet6 && opts.v6only && addr.is_ipv4() {
            return Err(Errno::EINVAL);
        }
        if !self.lanes.is_local(addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let any = addr.ip().is_unspecified();
        let b = Binding {
            owner: key,
            addr: if any {
                BindAddr::Any {
                    v4: domain == Domain::Inet || (!opts.v6only && addr.is_ipv6()),
                    v6: addr.is_ipv6(),
                }
            } else {
                BindAddr::Ip(addr.ip())
            },
            reuse_addr: opts.reuse_addr,
            reuse_port: opts.reuse_port,
            listening: false,
            orphan: false,
        };
        // The buffers first: a failure leaves nothing bound.
        let mut socks = [None, None];
        for &lane in self.lanes.for_bind(addr.ip()) {
            socks[lane.index()] = Some((lane, new_smol(&opts)?));
        }
        let port = self.ports.bind(Proto::Udp, addr.port(), b)?;
        let ep = IpListenEndpoint {
            addr: (!any).then(|| to_smol(addr.ip())),
            port,
        };
        let mut handles = [None, None];
        for (lane, mut s) in socks.into_iter().flatten() {
            s.bind(ep).map_err(|_| Errno::EINVAL)?;
            handles[lane.index()] = Some(self.lanes.get(lane).sockets.add(s));
        }
        let u = self.udp(key);
        u.bound = Some(SocketAddr::new(addr.ip(), port));
        u.handles = handles;
        Ok(())
    }

    fn udp_autobind(&mut self, key: u32) -> Result<(), Errno> {
        if self.udp(key).bound.is_none() {
            let d = self.udp(key).domain;
            self.udp_bind(key, unspecified(d))?;
        }
        Ok(())
    }

    /// Where a datagram to `to` goes: its lane, or the errno Linux gives.
    fn udp_route(&mut self, key: u32, to: SocketAddr) -> Result<(LaneId, SocketAddr), Errno> {
        let mut to = unmap(to);
        let u = self.udp(key);
        if !family_ok(u.domain, u.opts.v6only, to) {
            return Err(if u.domain == Domain::Inet {
                Errno::EAFNOSUPPORT
            } else {
                Errno::ENETUNREACH
            });
        }
        if to.port() == 0 {
            return Err(Errno::EINVAL);
        }
        if to.ip().is_unspecified() {
            let lo: IpAddr = match to {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            };
            to.set_ip(lo);
        }
        let lane = self.lanes.for_dest(to.ip());
        if lane == LaneId::Eth {
            if !self.lanes.eth_present {
                return Err(Errno::ENETUNREACH);
            }
            if to.is_ipv4() && self.ipv4().is_none() {
                return Err(Errno::ENETUNREACH);
            }
        }
        Ok((lane, to))
    }

    fn udp_connect(&mut self, key: u32, to: Option<SocketAddr>) -> Result<(), Errno> {
        let Some(to) = to else {
            self.udp(key).peer = None;
            self.refresh(key);
            return Ok(());
        };
        let (_, to) = self.udp_route(key, to)?;
        self.udp_autobind(key)?;
        self.udp(key).peer = Some(to);
        self.refresh(key);
        Ok(())
    }

    fn udp_send(&mut self, key: u32, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        let u = self.udp(key);
        if u.shut_wr {
            return Err(Errno::EPIPE);
        }
        let to = to.or(u.peer).ok_or(Errno::EDESTADDRREQ)?;
        let (lane, to) = self.udp_route(key, to)?;
        if data.len() > MAX_DATAGRAM {
            return Err(Errno::EMSGSIZE);
        }
        if lane == LaneId::Eth {
            // No IP fragmentation: a datagram must fit in one frame.
            let header = if to.is_ipv4() { 20 + 8 } else { 40 + 8 };
            if data.len() + header > self.lanes.eth_mtu {
                return Err(Errno::EMSGSIZE);
            }
        }
        self.udp_autobind(key)?;
        let u = self.udp(key);
        let Some(h) = u.handles[lane.index()] else {
            // Bound to a loopback address, sending elsewhere.
            return Err(Errno::EINVAL);
        };
        let s = self.lanes.udp(lane, h);
        if data.len() > s.payload_send_capacity() {
            return Err(Errno::EMSGSIZE);
        }
        s.send_slice(data, IpEndpoint::new(to_smol(to.ip()), to.port()))
            .map_err(|e| match e {
                udp::SendError::BufferFull => Errno::EAGAIN,
                udp::SendError::Unaddressable => Errno::EINVAL,
            })?;
        self.touch();
        self.refresh(key);
        Ok(data.len())
    }

    /// Drop queued datagrams the socket must not see (from other than its
    /// connected peer, or of the wrong family); whether one is left.
    fn udp_front(&mut self, key: u32, lane: LaneId) -> bool {
        let NetStack { objs, lanes, .. } = self;
        let Some(Entry {
            obj: Obj::Udp(u), ..
        }) = objs.get(&key)
        else {
            return false;
        };
        let Some(h) = u.handles[lane.index()] else {
            return false;
        };
        let s = lanes.udp(lane, h);
        loop {
            let from = match s.peek() {
                Ok((_, meta)) => SocketAddr::new(from_smol(meta.endpoint.addr), meta.endpoint.port),
                Err(_) => return false,
            };
            if u.accepts(from) {
                return true;
            }
            let _ = s.recv();
        }
    }

    fn udp_recv(&mut self, key: u32, buf: &mut [u8], flags: MsgFlags) -> Result<Received, Errno> {
        let first = self.udp(key).next_lane;
        for i in 0..2 {
            let lane = super::stack::LANES[(first + i) % 2];
            if !self.udp_front(key, lane) {
                continue;
            }
            let u = self.udp(key);
            u.next_lane = (lane.index() + 1) % 2;
            let domain = u.domain;
            let h = u.handles[lane.index()].expect("checked by udp_front");
            let s = self.lanes.udp(lane, h);
            let (len, full, from, local) = {
                let (data, meta) = s.peek().map_err(|_| Errno::EAGAIN)?;
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                (n, data.len(), meta.endpoint, meta.local_address)
            };
            if !flags.contains(MsgFlags::PEEK) {
                let _ = s.recv();
            }
            self.refresh(key);
            let from = SocketAddr::new(from_smol(from.addr), from.port);
            let ifindex = match lane {
                LaneId::Eth => super::ifaces::ETH_INDEX,
                LaneId::Lo => super::ifaces::LO_INDEX,
            };
            return Ok(Received {
                len,
                full_len: full,
                from: Some(SockAddr::Inet(for_domain(domain, from))),
                dst: local.map(|a| (from_smol(a), ifindex)),
            });
        }
        let u = self.udp(key);
        if let Some(e) = u.error.take() {
            return Err(e);
        }
        if u.shut_rd {
            return Ok(Received {
                len: 0,
                full_len: 0,
                from: None,
                dst: None,
            });
        }
        Err(Errno::EAGAIN)
    }

    pub(super) fn udp_refresh(&mut self, key: u32) -> Sig {
        let mut readable = false;
        let mut next = 0;
        for lane in super::stack::LANES {
            if self.udp_front(key, lane) {
                readable = true;
                let u = self.udp(key);
                let h = u.handles[lane.index()].expect("checked by udp_front");
                next = self
                    .lanes
                    .udp(lane, h)
                    .peek()
                    .map_or(0, |(d, _)| d.len() + 1);
                break;
            }
        }
        let NetStack { objs, lanes, .. } = self;
        let Some(Entry {
            obj: Obj::Udp(u), ..
        }) = objs.get(&key)
        else {
            return Sig::default();
        };
        let mut writable = true;
        for lane in super::stack::LANES {
            if let Some(h) = u.handles[lane.index()] {
                writable &= lanes.udp(lane, h).can_send();
            }
        }
        let mut mask = PollMask::empty();
        if readable {
            mask |= PollMask::READABLE;
        }
        if writable {
            mask |= PollMask::WRITABLE;
        }
        if u.error.is_some() {
            mask |= PollMask::ERR;
        }
        if u.shut_rd {
            mask |= PollMask::READ_HUP;
        }
        if u.shut_rd && u.shut_wr {
            mask |= PollMask::HUP;
        }
        Sig {
            mask,
            rx: next,
            tx: 0,
        }
    }

    fn udp_close(&mut self, key: u32) {
        let Some(Entry {
            obj: Obj::Udp(u), ..
        }) = self.objs.remove(&key)
        else {
            return;
        };
        for lane in super::stack::LANES {
            if let Some(h) = u.handles[lane.index()] {
                self.lanes.get(lane).sockets.remove(h);
            }
        }
        if let Some(b) = u.bound {
            self.ports.release(Proto::Udp, b.port(), key);
        }
    }
}

/// A UDP socket (`AF_INET`/`AF_INET6`, `SOCK_DGRAM`).
pub struct UdpSocket {
    net: Net,
    key: u32,
    domain: Domain,
}

impl UdpSocket {
    pub fn new(net: &Net, domain: Domain) -> UdpSocket {
        let key = net.stack().udp_new(domain);
        net.stack().refresh(key);
        UdpSocket {
            net: net.clone(),
            key,
            domain,
        }
    }

    pub fn key(&self) -> ReadyKey {
        ReadyKey(self.key)
    }

    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// Current Linux poll mask.
    pub fn poll(&self) -> PollMask {
        self.net.stack().udp_refresh(self.key).mask
    }

    /// Implements `bind(2)`.
    pub fn bind(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.net.stack().udp_bind(self.key, addr)
    }

    /// Implements `connect(2)`: sets the default destination and filters
    /// arrivals to that peer; `None` (AF_UNSPEC) dissolves it.
    pub fn connect(&self, to: Option<SocketAddr>) -> Result<(), Errno> {
        self.net.stack().udp_connect(self.key, to)
    }

    /// Implements `sendto(2)`: the whole datagram or an error (`EAGAIN`
    /// when the send buffer is full, `EMSGSIZE` when it cannot fit).
    pub fn send_to(
        &self,
        data: &[u8],
        _flags: MsgFlags,
        to: Option<SocketAddr>,
    ) -> Result<usize, Errno> {
        self.net.stack().udp_send(self.key, data, to)
    }

    /// Implements `recvfrom(2)`: one datagram, cut to the buffer (see
    /// [`Received::truncated`]); `MSG_PEEK` leaves it queued.
    pub fn recv_from(&self, buf: &mut [u8], flags: MsgFlags) -> Result<Received, Errno> {
        self.net.stack().udp_recv(self.key, buf, flags)
    }

    /// Implements `shutdown(2)` (Linux: `ENOTCONN` unless connected).
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        let mut st = self.net.stack();
        let u = st.udp(self.key);
        if u.peer.is_none() {
            return Err(Errno::ENOTCONN);
        }
        u.shut_rd |= how.read();
        u.shut_wr |= how.write();
        st.refresh(self.key);
        Ok(())
    }

    /// Implements `getsockname(2)`.
    pub fn local_addr(&self) -> SocketAddr {
        let mut st = self.net.stack();
        let u = st.udp(self.key);
        for_domain(u.domain, u.bound.unwrap_or(unspecified(u.domain)))
    }

    /// Implements `getpeername(2)`.
    pub fn peer_addr(&self) -> Result<SocketAddr, Errno> {
        let mut st = self.net.stack();
        let u = st.udp(self.key);
        u.peer
            .map(|p| for_domain(u.domain, p))
            .ok_or(Errno::ENOTCONN)
    }

    /// Implements `setsockopt(2)`.
    pub fn set_option(&self, opt: SockOpt) -> Result<(), Errno> {
        let mut st = self.net.stack();
        let key = self.key;
        let u = st.udp(key);
        if !u.opts.set(opt)? {
            match opt {
                SockOpt::V6Only(b) if u.domain == Domain::Inet6 => {
                    if u.bound.is_some() {
                        return Err(Errno::EINVAL);
                    }
                    u.opts.v6only = b;
                }
                _ => return Err(Errno::ENOPROTOOPT),
            }
        }
        let opts = u.opts;
        if let Some(b) = u.bound {
            // Linux does not re-check the port when these flags change.
            let _ = st.ports.update(Proto::Udp, b.port(), key, |b| {
                b.reuse_addr = opts.reuse_addr;
                b.reuse_port = opts.reuse_port;
            });
        }
        Ok(())
    }

    /// Implements `getsockopt(2)`.
    pub fn option(&self, name: SockOptName) -> Result<SockOpt, Errno> {
        let mut st = self.net.stack();
        let u = st.udp(self.key);
        if let Some(v) = u.opts.get(name) {
            return Ok(v);
        }
        match name {
            SockOptName::Error => Ok(SockOpt::Error(u.error.take())),
            SockOptName::Type => Ok(SockOpt::Type(SockType::Dgram)),
            SockOptName::V6Only if u.domain == Domain::Inet6 => Ok(SockOpt::V6Only(u.opts.v6only)),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    /// Size of the next datagram (`FIONREAD`), 0 when none.
    pub fn readable_bytes(&self) -> usize {
        self.net.stack().udp_refresh(self.key).rx.saturating_sub(1)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.net.stack().udp_close(self.key);
    }
}
