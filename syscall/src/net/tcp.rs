//! TCP sockets with Linux semantics over smoltcp.
//!
//! smoltcp's TCP socket holds one connection, and a listening one turns
//! into that connection. A listener here therefore keeps one idle
//! listening smoltcp socket per lane and a queue of the connections that
//! arrived (the backlog); the stack tops the idle socket up before every
//! received packet, so a burst of SYNs finds a fresh socket each, up to
//! the backlog. When the backlog is full a new SYN is dropped before
//! smoltcp sees it (see `syn_gate`), so the client retries, as on Linux.

use super::addr::{for_domain, unmap, unspecified};
use super::opts::CommonOpts;
use super::ports::{BindAddr, Binding, Proto};
use super::stack::{from_smol, to_smol, Entry, LaneId, Net, NetStack, Obj, ReadyKey, Sig};
use super::{Domain, MsgFlags, PollMask, Shutdown, SockOpt, SockOptName, SockType, MAX_BACKLOG};
use alloc::collections::VecDeque;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use kiln_abi::errno::Errno;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

/// Default buffer sizes of a TCP connection (each way).
pub const TCP_BUF: usize = 64 * 1024;
/// How long an active open may take (Linux gives up after about 127 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(127);

pub(super) struct TcpObj {
    pub domain: Domain,
    pub opts: CommonOpts,
    /// Local address and port once bound (IPv4-mapped stored as IPv4).
    pub bound: Option<SocketAddr>,
    pub state: TcpState,
    /// `SO_ERROR`.
    pub error: Option<Errno>,
    pub shut_rd: bool,
    pub shut_wr: bool,
}

pub(super) enum TcpState {
    /// Unconnected (maybe bound).
    Fresh,
    Listen(Listener),
    Conn(Conn),
}

pub(super) struct Listener {
    backlog: usize,
    endpoint: IpListenEndpoint,
    lanes: &'static [LaneId],
    idle: [Option<SocketHandle>; 2],
    /// Connections that arrived, oldest first (handshaking or established).
    pending: VecDeque<(LaneId, SocketHandle)>,
}

pub(super) struct Conn {
    lane: LaneId,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
    /// smoltcp state at the last look, to tell a reset from a close.
    last: State,
    /// An active open whose outcome `connect` has not yet returned.
    connecting: bool,
    started: Instant,
}

/// A smoltcp socket with the buffers SO_RCVBUF/SO_SNDBUF ask for; ENOMEM
/// when memory does not hold them.
fn new_smol(opts: &CommonOpts) -> Result<tcp::Socket<'static>, Errno> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(crate::fallible::zeroed(opts.rcvbuf)?),
        tcp::SocketBuffer::new(crate::fallible::zeroed(opts.sndbuf)?),
    );
    apply_opts(&mut s, opts);
    Ok(s)
}

fn apply_opts(s: &mut tcp::Socket<'static>, opts: &CommonOpts) {
    s.set_nagle_enabled(!opts.nodelay);
    s.set_keep_alive(
        opts.keepalive
            .then(|| Duration::from_secs(opts.keepidle.into())),
    );
}

fn endpoint(e: IpEndpoint) -> SocketAddr {
    SocketAddr::new(from_smol(e.addr), e.port)
}

/// Whether the peer has closed its side (FIN received) or the connection is gone.
fn peer_closed(st: State) -> bool {
    matches!(
        st,
        State::CloseWait | State::LastAck | State::Closing | State::TimeWait | State::Closed
    )
}

fn family_ok(domain: Domain, v6only: bool, peer: SocketAddr) -> bool {
    match (domain, peer) {
        (Domain::Inet, SocketAddr::V4(_)) => true,
        (Domain::Inet6, SocketAddr::V6(_)) => true,
        (Domain::Inet6, SocketAddr::V4(_)) => !v6only,
        _ => false,
    }
}

fn bind_addr(domain: Domain, v6only: bool, ip: IpAddr) -> BindAddr {
    if ip.is_unspecified() {
        match domain {
            Domain::Inet6 => BindAddr::Any {
                v4: !v6only && ip.is_ipv6(),
                v6: ip.is_ipv6(),
            },
            _ => BindAddr::Any {
                v4: true,
                v6: false,
            },
        }
    } else {
        BindAddr::Ip(ip)
    }
}

impl NetStack {
    fn tcp(&mut self, key: u32) -> &mut TcpObj {
        match self.objs.get_mut(&key).map(|e| &mut e.obj) {
            Some(Obj::Tcp(t)) => t,
            _ => unreachable!("tcp socket object {key} missing"),
        }
    }

    fn tcp_new(&mut self, domain: Domain) -> u32 {
        let key = self.new_key();
        let obj = TcpObj {
            domain,
            opts: CommonOpts::new(TCP_BUF, TCP_BUF),
            bound: None,
            state: TcpState::Fresh,
            error: None,
            shut_rd: false,
            shut_wr: false,
        };
        self.objs.insert(
            key,
            Entry {
                obj: Obj::Tcp(obj),
                sig: Sig::default(),
            },
        );
        key
    }

    /// Take a port for `key` at `addr` (port 0: ephemeral).
    fn tcp_bind(&mut self, key: u32, addr: SocketAddr) -> Result<(), Errno> {
        let addr = unmap(addr);
        let t = self.tcp(key);
        if t.bound.is_some() || !matches!(t.state, TcpState::Fresh) {
            return Err(Errno::EINVAL);
        }
        let (domain, opts) = (t.domain, t.opts);
        if domain == Domain::Inet6 && opts.v6only && addr.is_ipv4() {
            return Err(Errno::EINVAL);
        }
        if !self.lanes.is_local(addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let b = Binding {
            owner: key,
            addr: bind_addr(domain, opts.v6only, addr.ip()),
            reuse_addr: opts.reuse_addr,
            reuse_port: opts.reuse_port,
            listening: false,
            orphan: false,
        };
        let port = self.ports.bind(Proto::Tcp, addr.port(), b)?;
        self.tcp(key).bound = Some(SocketAddr::new(addr.ip(), port));
        Ok(())
    }

    fn tcp_autobind(&mut self, key: u32) -> Result<(), Errno> {
        if self.tcp(key).bound.is_none() {
            let d = self.tcp(key).domain;
            self.tcp_bind(key, unspecified(d))?;
        }
        Ok(())
    }

    fn tcp_listen(&mut self, key: u32, backlog: i32) -> Result<(), Errno> {
        let backlog = usize::try_from(backlog).map_or(MAX_BACKLOG, |b| b.clamp(1, MAX_BACKLOG));
        match &mut self.tcp(key).state {
            TcpState::Listen(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            TcpState::Conn(_) => return Err(Errno::EINVAL),
            TcpState::Fresh => {}
        }
        self.tcp_autobind(key)?;
        let bound = self.tcp(key).bound.expect("bound above");
        self.ports
            .update(Proto::Tcp, bound.port(), key, |b| b.listening = true)?;
        let endpoint = IpListenEndpoint {
            addr: (!bound.ip().is_unspecified()).then(|| to_smol(bound.ip())),
            port: bound.port(),
        };
        let lanes = self.lanes.for_bind(bound.ip());
        self.tcp(key).state = TcpState::Listen(Listener {
            backlog,
            endpoint,
            lanes,
            idle: [None, None],
            pending: VecDeque::new(),
        });
        self.listeners.push(key);
        for &lane in lanes {
            self.top_up(key, lane);
        }
        self.touch();
        Ok(())
    }

    /// Before each received packet: give every listener on `lane` an idle
    /// listening socket, unless its backlog is full.
    pub(super) fn top_up_listeners(&mut self, lane: LaneId) {
        for i in 0..self.listeners.len() {
            let key = self.listeners[i];
            self.top_up(key, lane);
        }
    }

    /// Whether a SYN to `dst:port` arriving on `lane` finds only listeners
    /// whose backlog is full (then it is dropped, as Linux does). False
    /// when no listener matches: smoltcp's RST is the right answer then.
    /// Call right after [`Self::top_up_listeners`].
    pub(super) fn syn_finds_no_room(&self, lane: LaneId, dst: IpAddr, port: u16) -> bool {
        let mut matched = false;
        for key in &self.listeners {
            let Some(Entry {
                obj: Obj::Tcp(t), ..
            }) = self.objs.get(key)
            else {
                continue;
            };
            let TcpState::Listen(l) = &t.state else {
                continue;
            };
            let addr_ok = l.endpoint.addr.is_none_or(|a| from_smol(a) == dst);
            if !l.lanes.contains(&lane) || l.endpoint.port != port || !addr_ok {
                continue;
            }
            if l.idle[lane.index()].is_some() {
                return false;
            }
            matched = true;
        }
        matched
    }

    fn top_up(&mut self, key: u32, lane: LaneId) {
        let Some(Entry {
            obj: Obj::Tcp(t), ..
        }) = self.objs.get_mut(&key)
        else {
            return;
        };
        let TcpState::Listen(l) = &mut t.state else {
            return;
        };
        if !l.lanes.contains(&lane) {
            return;
        }
        let lanes = &mut self.lanes;
        if let Some(h) = l.idle[lane.index()] {
            if lanes.tcp(lane, h).state() == State::Listen {
                return;
            }
            l.pending.push_back((lane, h));
            l.idle[lane.index()] = None;
        }
        if l.pending.len() >= l.backlog {
            // Full: drop handshakes that were reset (smoltcp turns those
            // back into listening sockets, or closes them).
            l.pending.retain(|&(pl, ph)| {
                let dead = matches!(lanes.tcp(pl, ph).state(), State::Listen | State::Closed);
                if dead {
                    lanes.get(pl).sockets.remove(ph);
                }
                !dead
            });
            if l.pending.len() >= l.backlog {
                return;
            }
        }
        // Without memory for another handshake, SYNs wait for the next turn.
        let Ok(mut s) = new_smol(&t.opts) else {
            return;
        };
        if s.listen(l.endpoint).is_ok() {
            l.idle[lane.index()] = Some(lanes.get(lane).sockets.add(s));
        }
    }

    fn tcp_accept(&mut self, key: u32) -> Result<(u32, SocketAddr), Errno> {
        let (domain, opts) = {
            let t = self.tcp(key);
            (t.domain, t.opts)
        };
        let TcpState::Listen(l) = &mut self.tcp(key).state else {
            return Err(Errno::EINVAL);
        };
        let mut pending = core::mem::take(&mut l.pending);
        let mut found = None;
        let mut i = 0;
        while i < pending.len() {
            let (lane, h) = pending[i];
            let s = self.lanes.tcp(lane, h);
            match s.state() {
                State::Established | State::CloseWait => {
                    let peer = endpoint(s.remote_endpoint().expect("connected"));
                    let local = endpoint(s.local_endpoint().expect("connected"));
                    pending.remove(i);
                    if family_ok(domain, opts.v6only, peer) {
                        found = Some((lane, h, local, peer));
                        break;
                    }
                    self.lanes.tcp(lane, h).abort();
                    self.orphan(lane, h, None, key);
                }
                State::SynReceived => i += 1,
                // Reset before it was accepted.
                _ => {
                    pending.remove(i);
                    self.lanes.get(lane).sockets.remove(h);
                }
            }
        }
        if let TcpState::Listen(l) = &mut self.tcp(key).state {
            l.pending = pending;
        }
        let lanes: &[LaneId] = match &self.tcp(key).state {
            TcpState::Listen(l) => l.lanes,
            _ => &[],
        };
        for &lane in lanes {
            self.top_up(key, lane);
        }
        self.refresh(key);
        let (lane, h, local, peer) = found.ok_or(Errno::EAGAIN)?;
        apply_opts(self.lanes.tcp(lane, h), &opts);
        let new = self.tcp_new(domain);
        let now = self.now;
        let t = self.tcp(new);
        t.opts = opts;
        t.opts.reuse_addr = false;
        t.opts.reuse_port = false;
        t.bound = Some(local);
        t.state = TcpState::Conn(Conn {
            lane,
            handle: h,
            local,
            peer,
            last: State::Established,
            connecting: false,
            started: now,
        });
        self.refresh(new);
        self.touch();
        Ok((new, for_domain(domain, peer)))
    }

    fn tcp_connect(&mut self, key: u32, to: Option<SocketAddr>) -> Result<(), Errno> {
        let now = self.now;
        let t = self.tcp(key);
        let (domain, opts) = (t.domain, t.opts);
        match &mut t.state {
            TcpState::Listen(_) => return Err(Errno::EISCONN),
            TcpState::Conn(c) if c.connecting => {
                let lane = c.lane;
                let h = c.handle;
                return match self.lanes.tcp(lane, h).state() {
                    State::SynSent | State::SynReceived => Err(Errno::EALREADY),
                    State::Closed => {
                        let t = self.tcp(key);
                        let e = t.error.take().unwrap_or(Errno::ECONNABORTED);
                        t.state = TcpState::Fresh;
                        self.lanes.get(lane).sockets.remove(h);
                        self.refresh(key);
                        Err(e)
                    }
                    _ => {
                        if let TcpState::Conn(c) = &mut self.tcp(key).state {
                            c.connecting = false;
                        }
                        Ok(())
                    }
                };
            }
            TcpState::Conn(c) => {
                if to.is_some() {
                    return Err(Errno::EISCONN);
                }
                // AF_UNSPEC: disconnect (with RST); the port stays bound.
                let (lane, h) = (c.lane, c.handle);
                t.state = TcpState::Fresh;
                self.lanes.tcp(lane, h).abort();
                self.orphan(lane, h, None, key);
                self.refresh(key);
                return Ok(());
            }
            TcpState::Fresh => {}
        }
        let Some(to) = to else {
            return Ok(());
        };
        let mut to = unmap(to);
        if to.port() == 0 {
            return Err(Errno::ECONNREFUSED);
        }
        if to.ip().is_unspecified() {
            let lo: IpAddr = match to {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            };
            to.set_ip(lo);
        }
        if !family_ok(domain, opts.v6only, to) {
            return Err(if domain == Domain::Inet {
                Errno::EAFNOSUPPORT
            } else {
                Errno::ENETUNREACH
            });
        }
        let lane = self.lanes.for_dest(to.ip());
        if lane == LaneId::Eth && !self.lanes.eth_present {
            return Err(Errno::ENETUNREACH);
        }
        self.tcp_autobind(key)?;
        let bound = self.tcp(key).bound.expect("bound above");
        let local = IpListenEndpoint {
            addr: (!bound.ip().is_unspecified()).then(|| to_smol(bound.ip())),
            port: bound.port(),
        };
        let mut s = new_smol(&opts)?;
        s.set_timeout(Some(CONNECT_TIMEOUT));
        let l = self.lanes.get(lane);
        s.connect(
            l.iface.context(),
            IpEndpoint::new(to_smol(to.ip()), to.port()),
            local,
        )
        .map_err(|_| Errno::ENETUNREACH)?;
        let local = s.local_endpoint().map_or(bound, endpoint);
        let h = l.sockets.add(s);
        let t = self.tcp(key);
        t.error = None;
        t.state = TcpState::Conn(Conn {
            lane,
            handle: h,
            local,
            peer: to,
            last: State::SynSent,
            connecting: true,
            started: now,
        });
        self.touch();
        self.refresh(key);
        Err(Errno::EINPROGRESS)
    }

    fn tcp_send(&mut self, key: u32, data: &[u8]) -> Result<usize, Errno> {
        let t = self.tcp(key);
        let shut_wr = t.shut_wr;
        let TcpState::Conn(c) = &t.state else {
            return Err(Errno::EPIPE);
        };
        let (lane, h) = (c.lane, c.handle);
        if let Some(e) = t.error.take() {
            return Err(e);
        }
        if shut_wr {
            return Err(Errno::EPIPE);
        }
        let s = self.lanes.tcp(lane, h);
        let n = match s.state() {
            State::SynSent | State::SynReceived => return Err(Errno::EAGAIN),
            _ if !s.may_send() => return Err(Errno::EPIPE),
            _ => s.send_slice(data).map_err(|_| Errno::EPIPE)?,
        };
        if n == 0 && !data.is_empty() {
            return Err(Errno::EAGAIN);
        }
        self.touch();
        self.refresh(key);
        Ok(n)
    }

    fn tcp_recv(&mut self, key: u32, buf: &mut [u8], flags: MsgFlags) -> Result<usize, Errno> {
        let t = self.tcp(key);
        let shut_rd = t.shut_rd;
        let TcpState::Conn(c) = &t.state else {
            return Err(Errno::ENOTCONN);
        };
        let (lane, h) = (c.lane, c.handle);
        let s = self.lanes.tcp(lane, h);
        if s.can_recv() {
            let n = if flags.contains(MsgFlags::PEEK) {
                s.peek_slice(buf).unwrap_or(0)
            } else {
                s.recv_slice(buf).unwrap_or(0)
            };
            self.touch();
            self.refresh(key);
            return Ok(n);
        }
        let st = s.state();
        if let Some(e) = self.tcp(key).error.take() {
            self.refresh(key);
            return Err(e);
        }
        if shut_rd || peer_closed(st) || buf.is_empty() {
            return Ok(0);
        }
        Err(Errno::EAGAIN)
    }

    fn tcp_shutdown(&mut self, key: u32, how: Shutdown) -> Result<(), Errno> {
        let t = self.tcp(key);
        let TcpState::Conn(c) = &t.state else {
            return Err(Errno::ENOTCONN);
        };
        let (lane, h) = (c.lane, c.handle);
        if how.read() {
            t.shut_rd = true;
        }
        if how.write() && !t.shut_wr {
            t.shut_wr = true;
            self.lanes.tcp(lane, h).close();
        }
        self.touch();
        self.refresh(key);
        Ok(())
    }

    /// The last close of a TCP socket object.
    fn tcp_close(&mut self, key: u32) {
        let Some(Entry {
            obj: Obj::Tcp(t), ..
        }) = self.objs.remove(&key)
        else {
            return;
        };
        let port = t.bound.map(|b| b.port());
        match t.state {
            TcpState::Fresh => {
                if let Some(p) = port {
                    self.ports.release(Proto::Tcp, p, key);
                }
            }
            TcpState::Listen(l) => {
                self.listeners.retain(|&k| k != key);
                for (lane, h) in l.pending.iter().copied().chain(idle_sockets(&l.idle)) {
                    // Unaccepted connections are reset, as Linux does.
                    self.lanes.tcp(lane, h).abort();
                    self.orphan(lane, h, None, key);
                }
                if let Some(p) = port {
                    self.ports.release(Proto::Tcp, p, key);
                }
            }
            TcpState::Conn(c) => {
                let s = self.lanes.tcp(c.lane, c.handle);
                // Linux resets instead of closing when unread data is left
                // or SO_LINGER is on with a zero timeout.
                if t.opts.linger == Some(0) || s.recv_queue() > 0 {
                    s.abort();
                } else {
                    s.close();
                }
                self.orphan(c.lane, c.handle, port, key);
            }
        }
        self.touch();
    }

    /// Track a connection's state and compute its readiness.
    pub(super) fn tcp_refresh(&mut self, key: u32) -> Sig {
        let now = self.now;
        let NetStack { objs, lanes, .. } = self;
        let Some(Entry {
            obj: Obj::Tcp(t), ..
        }) = objs.get_mut(&key)
        else {
            return Sig::default();
        };
        match &mut t.state {
            TcpState::Fresh => Sig {
                mask: PollMask::WRITABLE | PollMask::HUP | err_mask(t.error),
                rx: 0,
                tx: 0,
            },
            TcpState::Listen(l) => {
                let mut ready = 0;
                for &(lane, h) in &l.pending {
                    if matches!(
                        lanes.tcp(lane, h).state(),
                        State::Established | State::CloseWait
                    ) {
                        ready += 1;
                    }
                }
                Sig {
                    mask: if ready > 0 {
                        PollMask::READABLE
                    } else {
                        PollMask::empty()
                    },
                    rx: ready,
                    tx: 0,
                }
            }
            TcpState::Conn(c) => {
                let s = lanes.tcp(c.lane, c.handle);
                let st = s.state();
                if st != c.last {
                    if st == State::Closed {
                        t.error = match c.last {
                            State::SynSent | State::SynReceived => {
                                Some(if now >= c.started + CONNECT_TIMEOUT {
                                    Errno::ETIMEDOUT
                                } else {
                                    Errno::ECONNREFUSED
                                })
                            }
                            State::Established
                            | State::FinWait1
                            | State::FinWait2
                            | State::CloseWait
                            | State::Closing => Some(Errno::ECONNRESET),
                            _ => t.error,
                        };
                    }
                    if c.last == State::SynSent && st != State::Closed {
                        // Established: the connect timeout no longer applies.
                        s.set_timeout(None);
                        if let Some(l) = s.local_endpoint() {
                            c.local = endpoint(l);
                        }
                    }
                    c.last = st;
                }
                Sig {
                    mask: conn_mask(s, t.shut_rd, t.shut_wr) | err_mask(t.error),
                    rx: s.recv_queue(),
                    tx: s.send_queue(),
                }
            }
        }
    }
}

fn idle_sockets(
    idle: &[Option<SocketHandle>; 2],
) -> impl Iterator<Item = (LaneId, SocketHandle)> + '_ {
    super::stack::LANES
        .iter()
        .filter_map(move |&l| idle[l.index()].map(|h| (l, h)))
}

fn err_mask(e: Option<Errno>) -> PollMask {
    if e.is_some() {
        PollMask::ERR
    } else {
        PollMask::empty()
    }
}

/// Linux's `tcp_poll` for a connection.
fn conn_mask(s: &tcp::Socket, shut_rd: bool, shut_wr: bool) -> PollMask {
    let st = s.state();
    if matches!(st, State::SynSent | State::SynReceived) {
        return PollMask::empty();
    }
    let closed = st == State::Closed;
    let rd_shut = shut_rd || peer_closed(st);
    let wr_shut = shut_wr || closed;
    let mut m = PollMask::empty();
    if closed || (rd_shut && wr_shut) {
        m |= PollMask::HUP;
    }
    if rd_shut {
        m |= PollMask::READ_HUP;
    }
    if s.can_recv() {
        m |= PollMask::READABLE;
    }
    if wr_shut || s.can_send() {
        m |= PollMask::WRITABLE;
    }
    m
}

/// A TCP socket (`AF_INET`/`AF_INET6`, `SOCK_STREAM`). Dropping it is the
/// last `close`: a graceful FIN, or RST with `SO_LINGER` 0 or unread data.
pub struct TcpSocket {
    net: Net,
    key: u32,
    domain: Domain,
}

impl TcpSocket {
    pub fn new(net: &Net, domain: Domain) -> TcpSocket {
        let key = net.stack().tcp_new(domain);
        net.stack().refresh(key);
        TcpSocket {
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
        self.net.stack().tcp_refresh(self.key).mask
    }

    /// Implements `bind(2)`: port 0 picks an ephemeral port;
    /// `EADDRINUSE` per Linux's reuse rules; `EADDRNOTAVAIL` for an address
    /// that is not the machine's.
    pub fn bind(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.net.stack().tcp_bind(self.key, addr)
    }

    /// Implements `listen(2)`; the backlog is capped at [`MAX_BACKLOG`].
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        self.net.stack().tcp_listen(self.key, backlog)
    }

    /// Implements `accept(2)`: a connected socket and its peer, or `EAGAIN`.
    pub fn accept(&self) -> Result<(TcpSocket, SocketAddr), Errno> {
        let (key, peer) = self.net.stack().tcp_accept(self.key)?;
        Ok((
            TcpSocket {
                net: self.net.clone(),
                key,
                domain: self.domain,
            },
            peer,
        ))
    }

    /// One step of `connect(2)`: `EINPROGRESS` when started; while under way
    /// `EALREADY`; once done `Ok` (or the error, e.g. `ECONNREFUSED`,
    /// `ETIMEDOUT`), then `EISCONN`. `None` (AF_UNSPEC) disconnects.
    pub fn connect(&self, to: Option<SocketAddr>) -> Result<(), Errno> {
        self.net.stack().tcp_connect(self.key, to)
    }

    /// Implements `send(2)`: bytes queued (maybe fewer than given), or
    /// `EAGAIN` when the buffer is full.
    pub fn send(&self, data: &[u8], _flags: MsgFlags) -> Result<usize, Errno> {
        self.net.stack().tcp_send(self.key, data)
    }

    /// Implements `recv(2)`: 0 at end of stream; `EAGAIN` when empty;
    /// `MSG_PEEK` leaves the bytes queued.
    pub fn recv(&self, buf: &mut [u8], flags: MsgFlags) -> Result<usize, Errno> {
        self.net.stack().tcp_recv(self.key, buf, flags)
    }

    /// Implements `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        self.net.stack().tcp_shutdown(self.key, how)
    }

    /// Implements `getsockname(2)`.
    pub fn local_addr(&self) -> SocketAddr {
        let mut st = self.net.stack();
        let t = st.tcp(self.key);
        let a = match &t.state {
            TcpState::Conn(c) => c.local,
            _ => t.bound.unwrap_or(unspecified(t.domain)),
        };
        for_domain(t.domain, a)
    }

    /// Implements `getpeername(2)`.
    pub fn peer_addr(&self) -> Result<SocketAddr, Errno> {
        let mut st = self.net.stack();
        let t = st.tcp(self.key);
        match &t.state {
            TcpState::Conn(c) if !c.connecting || c.last == State::Established => {
                Ok(for_domain(t.domain, c.peer))
            }
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// Implements `setsockopt(2)`.
    pub fn set_option(&self, opt: SockOpt) -> Result<(), Errno> {
        let mut st = self.net.stack();
        let key = self.key;
        let t = st.tcp(key);
        if !t.opts.set(opt)? {
            match opt {
                SockOpt::NoDelay(b) => t.opts.nodelay = b,
                SockOpt::KeepIdle(v) => t.opts.keepidle = v,
                SockOpt::KeepIntvl(v) => t.opts.keepintvl = v,
                SockOpt::KeepCnt(v) => t.opts.keepcnt = v,
                SockOpt::V6Only(b) => {
                    if t.domain != Domain::Inet6 {
                        return Err(Errno::ENOPROTOOPT);
                    }
                    if t.bound.is_some() {
                        return Err(Errno::EINVAL);
                    }
                    t.opts.v6only = b;
                }
                _ => return Err(Errno::ENOPROTOOPT),
            }
        }
        let opts = t.opts;
        let port = t.bound.map(|b| b.port());
        if let TcpState::Conn(c) = &t.state {
            let (lane, h) = (c.lane, c.handle);
            apply_opts(st.lanes.tcp(lane, h), &opts);
        }
        if let Some(p) = port {
            // Linux does not re-check the port when these flags change.
            let _ = st.ports.update(Proto::Tcp, p, key, |b| {
                b.reuse_addr = opts.reuse_addr;
                b.reuse_port = opts.reuse_port;
            });
        }
        st.touch();
        Ok(())
    }

    /// Implements `getsockopt(2)`; reading `SO_ERROR` clears it.
    pub fn option(&self, name: SockOptName) -> Result<SockOpt, Errno> {
        let mut st = self.net.stack();
        let t = st.tcp(self.key);
        if let Some(v) = t.opts.get(name) {
            return Ok(v);
        }
        let v = match name {
            SockOptName::Error => SockOpt::Error(t.error.take()),
            SockOptName::Type => SockOpt::Type(SockType::Stream),
            SockOptName::NoDelay => SockOpt::NoDelay(t.opts.nodelay),
            SockOptName::KeepIdle => SockOpt::KeepIdle(t.opts.keepidle),
            SockOptName::KeepIntvl => SockOpt::KeepIntvl(t.opts.keepintvl),
            SockOptName::KeepCnt => SockOpt::KeepCnt(t.opts.keepcnt),
            SockOptName::V6Only if t.domain == Domain::Inet6 => SockOpt::V6Only(t.opts.v6only),
            _ => return Err(Errno::ENOPROTOOPT),
        };
        if name == SockOptName::Error {
            st.refresh(self.key);
        }
        Ok(v)
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn readable_bytes(&self) -> usize {
        let mut st = self.net.stack();
        let TcpState::Conn(c) = &st.tcp(self.key).state else {
            return 0;
        };
        let (lane, h) = (c.lane, c.handle);
        st.lanes.tcp(lane, h).recv_queue()
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        self.net.stack().tcp_close(self.key);
    }
}
