//! The network: a TCP/IP stack over smoltcp and Linux socket objects.
//!
//! [`NetStack`] owns two smoltcp interfaces ("lanes"): one over the
//! machine's Ethernet device, and one over smoltcp's loopback device that
//! carries 127.0.0.1, ::1 and traffic to the machine's own addresses, as
//! Linux's `lo` does. Socket objects ([`TcpSocket`], [`UdpSocket`],
//! [`UnixSocket`], or [`Socket`] for any of them) have Linux semantics and
//! know nothing of file descriptors; the fd layer wraps them.
//!
//! No call blocks: where Linux would sleep, a method returns `EAGAIN`
//! (`EINPROGRESS`, `EALREADY` for connect) and the syscall layer parks the
//! thread until [`Socket::poll`] shows the event it waits for, then
//! re-issues the call. A blocking `connect` is: `EINPROGRESS`, wait for
//! `POLLOUT`, call `connect` again, which then returns the result.
//!
//! Readiness: after each [`NetStack::poll`], [`NetStack::take_changed`]
//! names the sockets whose readiness (or queued byte counts) changed, so
//! that only their waiters are woken. AF_UNIX sockets report there too.
//!
//! Sharing: socket objects hold a [`Net`], a counted reference to the stack.
//! The kernel keeps one clone, polls through it and hands clones to the
//! socket syscalls. The last drop of a socket object is Linux's last
//! `close`.

pub mod addr;
mod cell;
mod device;
pub mod file;
pub mod ifaces;
mod loopback;
pub mod netlink;
pub mod opts;
mod ports;
pub mod resolv;
mod stack;
mod syn_gate;
mod tcp;
mod udp;
mod unix;

#[cfg(test)]
mod tests;

pub use crate::ready::ReadyKey;
pub use addr::{SockAddr, UnixAddr};
pub use netlink::NetlinkSocket;
pub use opts::{SockOpt, SockOptName};
pub use stack::{Net, NetEvent, NetStack};

/// How long `connect` to a remote address waits for DHCP (ns).
pub const DHCP_WAIT_NS: u64 = 3_000_000_000;
pub use tcp::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{socketpair, UnixSocket};

use kiln_abi::errno::Errno;

/// Address families of sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Unix,
    Inet,
    Inet6,
    /// AF_NETLINK (NETLINK_ROUTE only).
    Netlink,
}

impl Domain {
    /// From the `domain` argument of `socket(2)`.
    pub fn from_raw(raw: u32) -> Result<Domain, Errno> {
        match raw {
            1 => Ok(Domain::Unix),
            2 => Ok(Domain::Inet),
            10 => Ok(Domain::Inet6),
            16 => Ok(Domain::Netlink),
            _ => Err(Errno::EAFNOSUPPORT),
        }
    }
}

/// Socket types (the low bits of `socket(2)`'s `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    Stream,
    Dgram,
}

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_RAW: u32 = 3;
pub const SOCK_SEQPACKET: u32 = 5;
/// Bits of `type` that are flags (`SOCK_NONBLOCK | SOCK_CLOEXEC`), for the fd layer.
pub const SOCK_FLAGS_MASK: u32 = 0o4000 | 0o2000000;

pub const IPPROTO_IP: u32 = 0;
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;
pub const IPPROTO_MPTCP: u32 = 262;
pub use kiln_abi::MAX_BACKLOG;

bitflags::bitflags! {
    /// Linux poll events (`POLL*`, equal to `EPOLL*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct PollMask: u32 {
        const IN = 0x1;
        const PRI = 0x2;
        const OUT = 0x4;
        const ERR = 0x8;
        const HUP = 0x10;
        const NVAL = 0x20;
        const RDNORM = 0x40;
        const RDBAND = 0x80;
        const WRNORM = 0x100;
        const WRBAND = 0x200;
        const RDHUP = 0x2000;
    }
}

impl PollMask {
    pub(crate) const READABLE: PollMask = PollMask::IN.union(PollMask::RDNORM);
    pub(crate) const WRITABLE: PollMask = PollMask::OUT.union(PollMask::WRNORM);
    pub(crate) const READ_HUP: PollMask = PollMask::READABLE.union(PollMask::RDHUP);
}

bitflags::bitflags! {
    /// `MSG_*` flags of send and receive calls. Calls here never block, so
    /// `DONTWAIT` and `WAITALL` are the syscall layer's business;
    /// `NOSIGNAL` too (it decides on SIGPIPE after `EPIPE`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct MsgFlags: u32 {
        const OOB = 0x1;
        const PEEK = 0x2;
        const DONTROUTE = 0x4;
        const CTRUNC = 0x8;
        const TRUNC = 0x20;
        const DONTWAIT = 0x40;
        const EOR = 0x80;
        const WAITALL = 0x100;
        const NOSIGNAL = 0x4000;
        const MORE = 0x8000;
        const CMSG_CLOEXEC = 0x4000_0000;
    }
}

/// What `shutdown(2)` closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

impl Shutdown {
    /// From `how` (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
    pub fn from_raw(how: u32) -> Result<Shutdown, Errno> {
        match how {
            0 => Ok(Shutdown::Read),
            1 => Ok(Shutdown::Write),
            2 => Ok(Shutdown::Both),
            _ => Err(Errno::EINVAL),
        }
    }
    fn read(self) -> bool {
        self != Shutdown::Write
    }
    fn write(self) -> bool {
        self != Shutdown::Read
    }
}

/// The outcome of a receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// Length of the datagram (equal to `len` for streams): what `MSG_TRUNC`
    /// makes `recv` return.
    pub full_len: usize,
    /// The sender, for datagram sockets (`recvfrom`'s address).
    pub from: Option<SockAddr>,
    /// For UDP: the address the datagram was sent to and the index of the
    /// interface it came in on (what IP_PKTINFO and IPV6_PKTINFO report).
    pub dst: Option<(core::net::IpAddr, u32)>,
}

impl Received {
    /// Whether the datagram was cut (`MSG_TRUNC` in `msg_flags`).
    pub fn truncated(&self) -> bool {
        self.full_len > self.len
    }
    /// The value `recv`/`recvfrom` return for these flags.
    pub fn ret(&self, flags: MsgFlags) -> usize {
        if flags.contains(MsgFlags::TRUNC) {
            self.full_len
        } else {
            self.len
        }
    }
}

/// Any socket object.
pub enum Socket {
    Tcp(TcpSocket),
    Udp(UdpSocket),
    Unix(UnixSocket),
    Netlink(NetlinkSocket),
}

/// Implements the socket-making part of Linux `socket(2)`: `ty` may carry
/// `SOCK_NONBLOCK`/`SOCK_CLOEXEC`, which the fd layer handles. MPTCP is
/// refused with `EPROTONOSUPPORT`, as a Linux without MPTCP does, so that
/// programs fall back to TCP. AF_NETLINK takes SOCK_RAW or SOCK_DGRAM and
/// NETLINK_ROUTE only (other protocols: `EPROTONOSUPPORT`).
pub fn socket(net: &Net, domain: u32, ty: u32, protocol: u32) -> Result<Socket, Errno> {
    let domain = Domain::from_raw(domain)?;
    let base = ty & !SOCK_FLAGS_MASK;
    if domain == Domain::Netlink {
        return match base {
            SOCK_RAW | SOCK_DGRAM if protocol == netlink::NETLINK_ROUTE => {
                Ok(Socket::Netlink(NetlinkSocket::new(net, base)))
            }
            SOCK_RAW | SOCK_DGRAM => Err(Errno::EPROTONOSUPPORT),
            _ if base & !0xf != 0 => Err(Errno::EINVAL),
            _ => Err(Errno::ESOCKTNOSUPPORT),
        };
    }
    let ty = match base {
        SOCK_STREAM => SockType::Stream,
        SOCK_DGRAM => SockType::Dgram,
        SOCK_RAW | SOCK_SEQPACKET => return Err(Errno::ESOCKTNOSUPPORT),
        _ => return Err(Errno::EINVAL),
    };
    match domain {
        Domain::Unix => {
            if protocol != 0 && protocol != 1 {
                return Err(Errno::EPROTONOSUPPORT);
            }
            Ok(Socket::Unix(UnixSocket::new(net, ty)))
        }
        Domain::Netlink => Err(Errno::EPROTONOSUPPORT),
        Domain::Inet | Domain::Inet6 => match (ty, protocol) {
            (SockType::Stream, IPPROTO_IP | IPPROTO_TCP) => {
                Ok(Socket::Tcp(TcpSocket::new(net, domain)))
            }
            (SockType::Dgram, IPPROTO_IP | IPPROTO_UDP) => {
                Ok(Socket::Udp(UdpSocket::new(net, domain)))
            }
            _ => Err(Errno::EPROTONOSUPPORT),
        },
    }
}

impl Socket {
    /// The key under which [`NetStack::take_changed`] reports this socket.
    pub fn key(&self) -> ReadyKey {
        match self {
            Socket::Tcp(s) => s.key(),
            Socket::Udp(s) => s.key(),
            Socket::Unix(s) => s.key(),
            Socket::Netlink(s) => s.key(),
        }
    }

    pub fn domain(&self) -> Domain {
        match self {
            Socket::Tcp(s) => s.domain(),
            Socket::Udp(s) => s.domain(),
            Socket::Unix(_) => Domain::Unix,
            Socket::Netlink(_) => Domain::Netlink,
        }
    }

    pub fn sock_type(&self) -> SockType {
        match self {
            Socket::Tcp(_) => SockType::Stream,
            Socket::Udp(_) => SockType::Dgram,
            Socket::Unix(s) => s.sock_type(),
            Socket::Netlink(_) => SockType::Dgram,
        }
    }

    /// Current Linux poll mask.
    pub fn poll(&self) -> PollMask {
        match self {
            Socket::Tcp(s) => s.poll(),
            Socket::Udp(s) => s.poll(),
            Socket::Unix(s) => s.poll(),
            Socket::Netlink(s) => s.poll(),
        }
    }

    /// Implements Linux `bind(2)`; `addr` holds the `sockaddr` bytes.
    pub fn bind(&self, addr: &[u8]) -> Result<(), Errno> {
        match self {
            Socket::Tcp(s) => s.bind(inet_addr(s.domain(), addr)?),
            Socket::Udp(s) => s.bind(inet_addr(s.domain(), addr)?),
            Socket::Unix(s) => s.bind(addr::decode_unix_addr(addr)?),
            Socket::Netlink(s) => s.bind(addr),
        }
    }

    /// Implements Linux `connect(2)` (one step of it: see the module doc).
    pub fn connect(&self, addr: &[u8]) -> Result<(), Errno> {
        match self {
            Socket::Tcp(s) => s.connect(addr::decode_inet(s.domain(), addr)?),
            Socket::Udp(s) => s.connect(addr::decode_inet(s.domain(), addr)?),
            Socket::Unix(s) => s.connect(&addr::decode_unix_addr(addr)?),
            Socket::Netlink(s) => s.connect(addr),
        }
    }

    /// Implements Linux `listen(2)`.
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        match self {
            Socket::Tcp(s) => s.listen(backlog),
            Socket::Udp(_) | Socket::Netlink(_) => Err(Errno::EOPNOTSUPP),
            Socket::Unix(s) => s.listen(backlog),
        }
    }

    /// Implements Linux `accept(2)`: the new socket and its peer's address.
    pub fn accept(&self) -> Result<(Socket, SockAddr), Errno> {
        match self {
            Socket::Tcp(s) => s.accept().map(|(c, a)| (Socket::Tcp(c), SockAddr::Inet(a))),
            Socket::Udp(_) | Socket::Netlink(_) => Err(Errno::EOPNOTSUPP),
            Socket::Unix(s) => s
                .accept()
                .map(|(c, a)| (Socket::Unix(c), SockAddr::Unix(a))),
        }
    }

    /// Implements Linux `sendto(2)`/`send(2)` (`to` is `None` for `send`).
    pub fn send(&self, data: &[u8], flags: MsgFlags, to: Option<&[u8]>) -> Result<usize, Errno> {
        match self {
            // Linux ignores the address on a connected TCP socket.
            Socket::Tcp(s) => s.send(data, flags),
            Socket::Udp(s) => {
                let to = match to {
                    Some(b) => addr::decode_inet(s.domain(), b)?,
                    None => None,
                };
                s.send_to(data, flags, to)
            }
            Socket::Unix(s) => {
                let to = match to {
                    Some(b) => Some(addr::decode_unix_addr(b)?),
                    None => None,
                };
                s.send_to(data, flags, to.as_ref())
            }
            Socket::Netlink(s) => s.send(data, flags, to),
        }
    }

    /// Implements Linux `recvfrom(2)`/`recv(2)`.
    pub fn recv(&self, buf: &mut [u8], flags: MsgFlags) -> Result<Received, Errno> {
        match self {
            Socket::Tcp(s) => s.recv(buf, flags).map(|n| Received {
                len: n,
                full_len: n,
                from: None,
                dst: None,
            }),
            Socket::Udp(s) => s.recv_from(buf, flags),
            Socket::Unix(s) => s.recv_from(buf, flags),
            Socket::Netlink(s) => s.recv(buf, flags),
        }
    }

    /// How large a buffer a receive of `want` bytes needs now: for a TCP
    /// stream one byte more than its queue holds (so that a read loop sees
    /// a short count and stops, and an empty queue still reports EAGAIN or
    /// the end); `want` otherwise. A receive sizes its buffer by it, not by
    /// the request: no clearing of kilobytes for a short message.
    pub fn recv_size(&self, want: usize) -> usize {
        match self {
            Socket::Tcp(s) => want.min(s.readable_bytes().saturating_add(1)),
            _ => want,
        }
    }

    /// Implements Linux `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Udp(s) => s.shutdown(how),
            Socket::Unix(s) => s.shutdown(how),
            Socket::Netlink(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    /// Implements Linux `getsockname(2)`.
    pub fn local_addr(&self) -> SockAddr {
        match self {
            Socket::Tcp(s) => SockAddr::Inet(s.local_addr()),
            Socket::Udp(s) => SockAddr::Inet(s.local_addr()),
            Socket::Unix(s) => SockAddr::Unix(s.local_addr()),
            Socket::Netlink(s) => s.local_addr(),
        }
    }

    /// Implements Linux `getpeername(2)`.
    pub fn peer_addr(&self) -> Result<SockAddr, Errno> {
        match self {
            Socket::Tcp(s) => s.peer_addr().map(SockAddr::Inet),
            Socket::Udp(s) => s.peer_addr().map(SockAddr::Inet),
            Socket::Unix(s) => s.peer_addr().map(SockAddr::Unix),
            Socket::Netlink(s) => Ok(s.peer_addr()),
        }
    }

    /// Implements Linux `setsockopt(2)` for the options in [`SockOpt`].
    pub fn set_option(&self, opt: SockOpt) -> Result<(), Errno> {
        match self {
            Socket::Tcp(s) => s.set_option(opt),
            Socket::Udp(s) => s.set_option(opt),
            Socket::Unix(s) => s.set_option(opt),
            Socket::Netlink(s) => s.set_option(opt),
        }
    }

    /// Implements Linux `getsockopt(2)` for the options in [`SockOptName`].
    pub fn option(&self, name: SockOptName) -> Result<SockOpt, Errno> {
        match self {
            Socket::Tcp(s) => s.option(name),
            Socket::Udp(s) => s.option(name),
            Socket::Unix(s) => s.option(name),
            Socket::Netlink(s) => s.option(name),
        }
    }

    /// Bytes waiting to be read (`FIONREAD`; for datagrams, the next one's size).
    pub fn readable_bytes(&self) -> usize {
        match self {
            Socket::Tcp(s) => s.readable_bytes(),
            Socket::Udp(s) => s.readable_bytes(),
            Socket::Unix(s) => s.readable_bytes(),
            Socket::Netlink(s) => s.readable_bytes(),
        }
    }
}

fn inet_addr(domain: Domain, bytes: &[u8]) -> Result<core::net::SocketAddr, Errno> {
    match addr::decode_inet(domain, bytes)? {
        Some(a) => Ok(a),
        // Linux takes AF_UNSPEC on an AF_INET bind as INADDR_ANY (only when
        // the address is INADDR_ANY); AF_INET6 refuses it.
        None if domain == Domain::Inet && bytes.len() >= addr::SOCKADDR_IN_LEN => {
            if bytes[4..8] == [0; 4] {
                Ok(core::net::SocketAddr::new(
                    core::net::Ipv4Addr::UNSPECIFIED.into(),
                    u16::from_be_bytes([bytes[2], bytes[3]]),
                ))
            } else {
                Err(Errno::EAFNOSUPPORT)
            }
        }
        None if domain == Domain::Inet => Err(Errno::EINVAL),
        None => Err(Errno::EAFNOSUPPORT),
    }
}
