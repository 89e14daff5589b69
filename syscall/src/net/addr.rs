//! Socket addresses as programs pass them: `struct sockaddr_in`,
//! `sockaddr_in6` and `sockaddr_un` bytes, decoded into endpoints and encoded
//! back. Pure functions over byte slices; the syscall layer copies the bytes
//! from and to program memory.

use super::Domain;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use kiln_abi::errno::Errno;

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = super::netlink::AF_NETLINK;

/// `sizeof(struct sockaddr_in)`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// The shortest `sockaddr_in6` Linux takes (RFC 2133, without `sin6_scope_id`).
pub const SOCKADDR_IN6_MIN_LEN: usize = 24;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = 110;
/// Offset of `sun_path` in `struct sockaddr_un`.
const SUN_PATH: usize = 2;

/// An AF_UNIX address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnixAddr {
    /// No name (an unbound socket, or a socketpair end).
    Unnamed,
    /// A file-system path, without its terminating NUL.
    Path(Vec<u8>),
    /// An abstract name (the bytes after the leading NUL).
    Abstract(Vec<u8>),
}

/// Any address a socket call may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    /// `AF_UNSPEC` (connect: dissolve the association).
    Unspec,
    Inet(SocketAddr),
    Unix(UnixAddr),
    /// A `sockaddr_nl`: port id and multicast groups.
    Netlink {
        pid: u32,
        groups: u32,
    },
}

fn family(bytes: &[u8]) -> Result<u16, Errno> {
    match bytes {
        [a, b, ..] => Ok(u16::from_ne_bytes([*a, *b])),
        _ => Err(Errno::EINVAL),
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Decode any socket address. Lengths follow Linux: a `sockaddr_in` needs 16
/// bytes, a `sockaddr_in6` 24 (the scope id is read when 28 are given).
pub fn decode(bytes: &[u8]) -> Result<SockAddr, Errno> {
    match family(bytes)? {
        AF_UNSPEC => Ok(SockAddr::Unspec),
        AF_INET => {
            if bytes.len() < SOCKADDR_IN_LEN {
                return Err(Errno::EINVAL);
            }
            let ip = Ipv4Addr::from(arr::<4>(&bytes[4..]));
            Ok(SockAddr::Inet(SocketAddr::V4(SocketAddrV4::new(
                ip,
                be16(&bytes[2..]),
            ))))
        }
        AF_INET6 => {
            if bytes.len() < SOCKADDR_IN6_MIN_LEN {
                return Err(Errno::EINVAL);
            }
            let flow = u32::from_be_bytes(arr(&bytes[4..]));
            let ip = Ipv6Addr::from(arr::<16>(&bytes[8..]));
            let scope = if bytes.len() >= SOCKADDR_IN6_LEN {
                u32::from_ne_bytes(arr(&bytes[24..]))
            } else {
                0
            };
            Ok(SockAddr::Inet(SocketAddr::V6(SocketAddrV6::new(
                ip,
                be16(&bytes[2..]),
                flow,
                scope,
            ))))
        }
        AF_UNIX => decode_unix(bytes).map(SockAddr::Unix),
        AF_NETLINK if bytes.len() >= super::netlink::SOCKADDR_NL_LEN => Ok(SockAddr::Netlink {
            pid: u32::from_ne_bytes(arr(&bytes[4..])),
            groups: u32::from_ne_bytes(arr(&bytes[8..])),
        }),
        AF_NETLINK => Err(Errno::EINVAL),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

fn decode_unix(bytes: &[u8]) -> Result<UnixAddr, Errno> {
    if bytes.len() > SOCKADDR_UN_LEN {
        return Err(Errno::EINVAL);
    }
    let path = &bytes[SUN_PATH..];
    match path.first() {
        None => Ok(UnixAddr::Unnamed),
        Some(0) => Ok(UnixAddr::Abstract(path[1..].to_vec())),
        Some(_) => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Ok(UnixAddr::Path(path[..end].to_vec()))
        }
    }
}

/// Decode the address given to an AF_INET or AF_INET6 socket, with the
/// errnos Linux gives for a short address (`EINVAL`) or another family
/// (`EAFNOSUPPORT`). `Ok(None)` is `AF_UNSPEC`. IPv4-mapped IPv6 addresses
/// stay as given; [`unmap`] turns them into IPv4.
pub fn decode_inet(domain: Domain, bytes: &[u8]) -> Result<Option<SocketAddr>, Errno> {
    let min = match domain {
        Domain::Inet => SOCKADDR_IN_LEN,
        Domain::Inet6 => SOCKADDR_IN6_MIN_LEN,
        Domain::Unix | Domain::Netlink => return Err(Errno::EAFNOSUPPORT),
    };
    let fam = family(bytes)?;
    if fam == AF_UNSPEC {
        return Ok(None);
    }
    if bytes.len() < min {
        return Err(Errno::EINVAL);
    }
    match (domain, decode(bytes)?) {
        (Domain::Inet, SockAddr::Inet(a @ SocketAddr::V4(_)))
        | (Domain::Inet6, SockAddr::Inet(a @ SocketAddr::V6(_))) => Ok(Some(a)),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Decode the address given to an AF_UNIX socket.
pub fn decode_unix_addr(bytes: &[u8]) -> Result<UnixAddr, Errno> {
    match family(bytes)? {
        AF_UNIX => decode_unix(bytes),
        _ => Err(Errno::EINVAL),
    }
}

/// Encode an address as the `struct sockaddr_*` bytes Linux hands back
/// (the length of the result is the `addrlen` to report).
pub fn encode(addr: &SockAddr) -> Vec<u8> {
    let mut out = Vec::new();
    match addr {
        SockAddr::Unspec => out.extend_from_slice(&AF_UNSPEC.to_ne_bytes()),
        SockAddr::Inet(SocketAddr::V4(a)) => {
            out.extend_from_slice(&AF_INET.to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&[0; 8]);
        }
        SockAddr::Inet(SocketAddr::V6(a)) => {
            out.extend_from_slice(&AF_INET6.to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.flowinfo().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.scope_id().to_ne_bytes());
        }
        SockAddr::Unix(u) => {
            out.extend_from_slice(&AF_UNIX.to_ne_bytes());
            match u {
                UnixAddr::Unnamed => {}
                UnixAddr::Path(p) => {
                    out.extend_from_slice(p);
                    out.push(0);
                }
                UnixAddr::Abstract(n) => {
                    out.push(0);
                    out.extend_from_slice(n);
                }
            }
        }
        SockAddr::Netlink { pid, groups } => {
            out.extend_from_slice(&super::netlink::encode_addr(*pid, *groups))
        }
    }
    out
}

/// An IPv4-mapped IPv6 endpoint (`::ffff:a.b.c.d`) as IPv4; others as given.
pub fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => a,
        },
        v4 => v4,
    }
}

/// An endpoint as a socket of `domain` reports it: AF_INET6 sockets show
/// IPv4 peers as `::ffff:a.b.c.d`, as Linux does.
pub fn for_domain(domain: Domain, a: SocketAddr) -> SocketAddr {
    match (domain, a) {
        (Domain::Inet6, SocketAddr::V4(v4)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => a,
    }
}

/// The unspecified endpoint of a domain (`0.0.0.0:0` or `[::]:0`).
pub fn unspecified(domain: Domain) -> SocketAddr {
    match domain {
        Domain::Inet6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    }
}
