//! setsockopt and getsockopt: option values through program memory.
//! The options the stack knows ([`crate::net::SockOptName`]) go to the
//! socket; timeouts, SO_DOMAIN/SO_PROTOCOL/SO_ACCEPTCONN/SO_PEERCRED are
//! answered here; a short list of tuning options is accepted and stored
//! without effect; SOL_NETLINK options go to the netlink socket; anything
//! else is ENOPROTOOPT.

use super::socket::sock_file;
use crate::call::{ok, Args, Call, Outcome};
use crate::net::file::SocketFile;
use crate::net::netlink::SOL_NETLINK;
use crate::net::opts::{SOL_IPV6, SOL_SOCKET, SOL_TCP, SO_TYPE};
use crate::net::{Domain, SockOpt, SockOptName, Socket};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kiln_abi::errno::{Errno, SysResult};

pub const SOL_IP: u32 = 0;
pub const SOL_UDP: u32 = 17;
pub const SO_BROADCAST: u32 = 6;
pub const SO_OOBINLINE: u32 = 10;
pub const SO_PRIORITY: u32 = 12;
pub const SO_PASSCRED: u32 = 16;
pub const SO_PEERCRED: u32 = 17;
pub const SO_RCVLOWAT: u32 = 18;
pub const SO_SNDLOWAT: u32 = 19;
pub const SO_RCVTIMEO_OLD: u32 = 20;
pub const SO_SNDTIMEO_OLD: u32 = 21;
pub const SO_SNDBUFFORCE: u32 = 32;
pub const SO_RCVBUFFORCE: u32 = 33;
pub const SO_TIMESTAMP: u32 = 29;
pub const SO_ACCEPTCONN: u32 = 30;
pub const SO_PROTOCOL: u32 = 38;
pub const SO_DOMAIN: u32 = 39;
pub const SO_RCVTIMEO_NEW: u32 = 66;
pub const SO_SNDTIMEO_NEW: u32 = 67;
pub const TCP_MAXSEG: u32 = 2;
pub const TCP_CORK: u32 = 3;
pub const TCP_DEFER_ACCEPT: u32 = 9;
pub const TCP_INFO: u32 = 11;
pub const TCP_QUICKACK: u32 = 12;
pub const TCP_USER_TIMEOUT: u32 = 18;
pub const TCP_FASTOPEN: u32 = 23;
pub const IP_TOS: u32 = 1;
pub const IP_TTL: u32 = 2;
pub const IP_RECVERR: u32 = 11;
pub const IP_MTU_DISCOVER: u32 = 10;
pub const IP_PKTINFO: u32 = 8;
pub const IPV6_2292PKTINFO: u32 = 2;
pub const IPV6_RECVPKTINFO: u32 = 49;
pub const IPV6_UNICAST_HOPS: u32 = 16;
pub const IPV6_RECVERR: u32 = 25;
pub const IPV6_TCLASS: u32 = 67;

/// Options stored and read back: without effect, but for IP_PKTINFO and
/// IPV6_RECVPKTINFO, which recvmsg reads (see [`super::cmsg`]).
fn stored(s: &SocketFile, level: u32, name: u32) -> bool {
    let tcp = matches!(s.sock, Socket::Tcp(_));
    let inet = matches!(s.sock, Socket::Tcp(_) | Socket::Udp(_));
    match level {
        SOL_SOCKET => matches!(
            name,
            SO_BROADCAST
                | SO_OOBINLINE
                | SO_PRIORITY
                | SO_PASSCRED
                | SO_RCVLOWAT
                | SO_SNDLOWAT
                | SO_TIMESTAMP
        ),
        SOL_TCP if tcp => matches!(
            name,
            TCP_MAXSEG
                | TCP_CORK
                | TCP_DEFER_ACCEPT
                | TCP_QUICKACK
                | TCP_USER_TIMEOUT
                | TCP_FASTOPEN
        ),
        SOL_IP if inet => matches!(
            name,
            IP_TOS | IP_TTL | IP_RECVERR | IP_MTU_DISCOVER | IP_PKTINFO
        ),
        SOL_IPV6 if inet && s.sock.domain() == Domain::Inet6 => matches!(
            name,
            IPV6_UNICAST_HOPS | IPV6_RECVERR | IPV6_TCLASS | IPV6_RECVPKTINFO | IPV6_2292PKTINFO
        ),
        _ => false,
    }
}

/// Default values of the stored options, as a fresh Linux socket has them.
fn stored_default(level: u32, name: u32) -> i32 {
    match (level, name) {
        (SOL_SOCKET, SO_RCVLOWAT | SO_SNDLOWAT) => 1,
        (SOL_TCP, TCP_MAXSEG) => 536,
        (SOL_IP, IP_TTL) | (SOL_IPV6, IPV6_UNICAST_HOPS) => 64,
        (SOL_IP, IP_MTU_DISCOVER) => 1,
        _ => 0,
    }
}

fn read_int(v: &[u8]) -> Result<i32, Errno> {
    match v {
        [a, b, c, d, ..] => Ok(i32::from_ne_bytes([*a, *b, *c, *d])),
        _ => Err(Errno::EINVAL),
    }
}

/// Decode a `struct timeval` timeout (SO_RCVTIMEO/SO_SNDTIMEO) to ns;
/// zero means none. EDOM when the microseconds are out of range.
fn read_timeval(v: &[u8]) -> Result<u64, Errno> {
    if v.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let sec = i64::from_le_bytes(v[..8].try_into().unwrap_or_default());
    let usec = i64::from_le_bytes(v[8..16].try_into().unwrap_or_default());
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    if sec < 0 {
        // Linux takes a negative time as "no wait" ... for zero seconds.
        return Ok(0);
    }
    Ok((sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000))
}

fn timeval(ns: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&((ns / 1_000_000_000) as i64).to_le_bytes());
    v.extend_from_slice(&(((ns % 1_000_000_000) / 1000) as i64).to_le_bytes());
    v
}

/// Implements Linux `setsockopt(2)`: SO_REUSEADDR, SO_REUSEPORT,
/// SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, SO_LINGER, SO_RCVTIMEO,
/// SO_SNDTIMEO, SO_RCVBUFFORCE/SNDBUFFORCE (root may), TCP_NODELAY,
/// TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, IPV6_V6ONLY, the SOL_NETLINK options;
/// some tuning options are stored without effect; others ENOPROTOOPT.
pub fn setsockopt(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let Some(s) = SocketFile::of(&f) else {
        return Err(Errno::ENOTSOCK);
    };
    let (level, name, ptr, len) = (a.uint(1), a.uint(2), a.u(3), a.int(4));
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let mut v = alloc::vec![0u8; (len as usize).min(64)];
    if !v.is_empty() {
        c.mem().read(ptr, &mut v)?;
    }
    if let Some(opt) = SockOptName::from_raw(level, name) {
        let value = SockOpt::decode(opt, &v)?;
        s.sock.set_option(value)?;
        return ok(0);
    }
    match (level, name) {
        (SOL_NETLINK, n) => match &s.sock {
            Socket::Netlink(nl) => {
                nl.set_netlink_option(n, &v)?;
                ok(0)
            }
            _ => Err(Errno::ENOPROTOOPT),
        },
        (SOL_SOCKET, n @ (SO_RCVBUFFORCE | SO_SNDBUFFORCE)) => {
            let opt = if n == SO_RCVBUFFORCE {
                SockOptName::RcvBuf
            } else {
                SockOptName::SndBuf
            };
            s.sock.set_option(SockOpt::decode(opt, &v)?)?;
            ok(0)
        }
        (
            SOL_SOCKET,
            n @ (SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW),
        ) => {
            let t = read_timeval(&v)?;
            s.set_timeout(matches!(n, SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW), t);
            ok(0)
        }
        (l, n) if stored(s, l, n) => {
            let val = read_int(&v)?;
            let mut extra = s.extra.lock();
            extra.retain(|e| e.0 != (l, n));
            extra.push(((l, n), val));
            ok(0)
        }
        _ => Err(Errno::ENOPROTOOPT),
    }
}

/// The value bytes of option `(level, name)`.
fn value(s: &SocketFile, level: u32, name: u32, have: usize) -> SysResult<Vec<u8>> {
    let int = |v: i32| v.to_ne_bytes().to_vec();
    if let Socket::Netlink(nl) = &s.sock {
        match (level, name) {
            (SOL_NETLINK, n) => return nl.netlink_option(n, have),
            (SOL_SOCKET, SO_TYPE) => return Ok(int(nl.raw_type() as i32)),
            _ => {}
        }
    }
    if let Some(opt) = SockOptName::from_raw(level, name) {
        return Ok(s.sock.option(opt)?.encode());
    }
    Ok(match (level, name) {
        (
            SOL_SOCKET,
            n @ (SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW),
        ) => timeval(
            s.timeout(matches!(n, SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW))
                .unwrap_or(0),
        ),
        (SOL_SOCKET, SO_DOMAIN) => int(match s.sock.domain() {
            Domain::Unix => 1,
            Domain::Inet => 2,
            Domain::Inet6 => 10,
            Domain::Netlink => 16,
        }),
        (SOL_SOCKET, SO_PROTOCOL) => int(match &s.sock {
            Socket::Tcp(_) => 6,
            Socket::Udp(_) => 17,
            Socket::Unix(_) => 0,
            Socket::Netlink(_) => s.protocol as i32,
        }),
        (SOL_SOCKET, SO_ACCEPTCONN) => int(s.listening.load(Ordering::Relaxed) as i32),
        (SOL_SOCKET, SO_PEERCRED) if matches!(s.sock, Socket::Unix(_)) => {
            // struct ucred of the one process: pid 1, root.
            let mut v = int(1);
            v.extend_from_slice(&[0; 8]);
            v
        }
        (SOL_TCP, TCP_INFO) => return Err(Errno::ENOPROTOOPT),
        (l, n) if stored(s, l, n) => {
            let extra = s.extra.lock();
            int(extra
                .iter()
                .find(|e| e.0 == (l, n))
                .map_or(stored_default(l, n), |e| e.1))
        }
        _ => return Err(Errno::ENOPROTOOPT),
    })
}

/// Implements Linux `getsockopt(2)`: the options of `setsockopt`, plus
/// SO_ERROR (read and cleared), SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
/// SO_ACCEPTCONN, SO_PEERCRED (AF_UNIX), the SOL_NETLINK options (a
/// buffer shorter than an int is EINVAL there). A short buffer gets the first
/// bytes of the value, as Linux does; TCP_INFO is ENOPROTOOPT.
pub fn getsockopt(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let Some(s) = SocketFile::of(&f) else {
        return Err(Errno::ENOTSOCK);
    };
    let (level, name, ptr, len_ptr) = (a.uint(1), a.uint(2), a.u(3), a.u(4));
    let have = i32::from_le_bytes(c.mem().read_array::<4>(len_ptr)?);
    if have < 0 {
        return Err(Errno::EINVAL);
    }
    // SO_ERROR is cleared by reading it: check the buffer first.
    if (level, name) == (SOL_SOCKET, crate::net::opts::SO_ERROR) && have > 0 {
        c.mem().read_array::<1>(ptr)?;
    }
    let v = value(s, level, name, have as usize)?;
    let n = v.len().min(have as usize);
    c.mem().write(ptr, &v[..n])?;
    c.mem().write_u32(len_ptr, n as u32)?;
    ok(0)
}
