//! Ancillary data of sendmsg and recvmsg (`struct cmsghdr` records): the
//! packet information servers such as dnsmasq and unbound ask for on their
//! UDP sockets (IP_PKTINFO, IPV6_RECVPKTINFO: where a query was sent and on
//! which interface it came in), and what sendmsg may carry.

use crate::net::file::SocketFile;
use crate::net::{Domain, Received};
use alloc::vec::Vec;
use core::net::IpAddr;
use kiln_abi::errno::{Errno, SysResult};

pub const SOL_SOCKET: i32 = 1;
pub const SOL_IP: i32 = 0;
pub const SOL_IPV6: i32 = 41;
pub const IP_PKTINFO: i32 = 8;
pub const IPV6_2292PKTINFO: i32 = 2;
pub const IPV6_RECVPKTINFO: i32 = 49;
pub const IPV6_PKTINFO: i32 = 50;

/// `sizeof(struct cmsghdr)`: a 64-bit length, the level and the type.
const CMSG_HDR: usize = 16;
/// Most control bytes a sendmsg may carry (Linux's `optmem_max`).
pub const MAX_CONTROL: u64 = 20480;

const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// One control message: header and data, padded to `CMSG_SPACE`.
fn record(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(cmsg_align(CMSG_HDR + data.len()));
    v.extend_from_slice(&((CMSG_HDR + data.len()) as u64).to_ne_bytes());
    v.extend_from_slice(&level.to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(cmsg_align(v.len()), 0);
    v
}

/// Whether an int option was set non-zero with setsockopt (they are kept
/// among the socket's stored options).
fn enabled(s: &SocketFile, level: i32, name: i32) -> bool {
    s.extra
        .lock()
        .iter()
        .any(|e| e.0 == (level as u32, name as u32) && e.1 != 0)
}

/// The control messages a receive hands back for datagram `r` on `s`:
/// `struct in_pktinfo` (IP_PKTINFO) and `struct in6_pktinfo`
/// (IPV6_RECVPKTINFO, or the RFC 2292 option), when asked for.
pub fn received(s: &SocketFile, r: &Received) -> Vec<Vec<u8>> {
    let Some((dst, ifindex)) = r.dst else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let v4 = match dst {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    if let Some(a) = v4 {
        if enabled(s, SOL_IP, IP_PKTINFO) {
            // ipi_ifindex, ipi_spec_dst (the local address to answer
            // from), ipi_addr (the header's destination).
            let mut d = Vec::with_capacity(12);
            d.extend_from_slice(&(ifindex as i32).to_ne_bytes());
            d.extend_from_slice(&a.octets());
            d.extend_from_slice(&a.octets());
            out.push(record(SOL_IP, IP_PKTINFO, &d));
        }
    }
    if s.sock.domain() == Domain::Inet6 {
        let a6 = match dst {
            IpAddr::V6(a) => a,
            IpAddr::V4(a) => a.to_ipv6_mapped(),
        };
        for (opt, ty) in [
            (IPV6_RECVPKTINFO, IPV6_PKTINFO),
            (IPV6_2292PKTINFO, IPV6_2292PKTINFO),
        ] {
            if enabled(s, SOL_IPV6, opt) {
                let mut d = a6.octets().to_vec();
                d.extend_from_slice(&ifindex.to_ne_bytes());
                out.push(record(SOL_IPV6, ty, &d));
            }
        }
    }
    out
}

/// Fit `records` into a control buffer of `room` bytes, as Linux's
/// `put_cmsg`: whole records while they fit, then what fits of the next
/// (MSG_CTRUNC). Returns the bytes and whether something was cut.
pub fn pack(records: &[Vec<u8>], room: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    for r in records {
        let left = room - out.len();
        if left < r.len() {
            if left >= CMSG_HDR {
                out.extend_from_slice(&r[..left]);
            }
            return (out, true);
        }
        out.extend_from_slice(r);
    }
    (out, false)
}

/// Check the control messages of a sendmsg: every record well formed
/// (EINVAL otherwise). Packet information (IP_PKTINFO, IPV6_PKTINFO) and
/// other IP-level records are accepted: the stack picks the source
/// address, and the machine has one per family and interface. Socket-level
/// records (SCM_RIGHTS, SCM_CREDENTIALS) are EOPNOTSUPP.
pub fn check_sent(mut control: &[u8]) -> SysResult<()> {
    while control.len() >= CMSG_HDR {
        let len = u64::from_ne_bytes(control[..8].try_into().unwrap_or_default());
        let level = i32::from_ne_bytes(control[8..12].try_into().unwrap_or_default());
        if len < CMSG_HDR as u64 || len > control.len() as u64 {
            return Err(Errno::EINVAL);
        }
        if level == SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        control = &control[cmsg_align(len as usize).min(control.len())..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pack_and_check() {
        let r = record(SOL_IP, IP_PKTINFO, &[0; 12]);
        assert_eq!(r.len(), 32);
        assert_eq!(&r[..8], &28u64.to_ne_bytes());
        assert_eq!(
            pack(&[r.clone(), r.clone()], 64),
            ([r.clone(), r.clone()].concat(), false)
        );
        let (v, cut) = pack(&[r.clone(), r.clone()], 40);
        assert!(cut);
        assert_eq!(v.len(), 32, "a second record with less than a header left");
        let (v, cut) = pack(core::slice::from_ref(&r), 20);
        assert!(cut);
        assert_eq!(v.len(), 20);
        assert_eq!(check_sent(&r), Ok(()));
        assert_eq!(check_sent(&r[..20]), Err(Errno::EINVAL));
        assert_eq!(check_sent(&[]), Ok(()));
        assert_eq!(
            check_sent(&record(SOL_SOCKET, 1, &[0; 4])),
            Err(Errno::EOPNOTSUPP)
        );
    }
}
