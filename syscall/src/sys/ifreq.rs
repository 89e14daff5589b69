//! The network interface requests of `ioctl(2)` on any socket: SIOCGIFCONF
//! and the SIOCGIF*/SIOCSIF* requests on a `struct ifreq`, decoded here and
//! answered from the stack's interface list ([`crate::net::ifaces`]), as
//! `if_nametoindex`, `if_indextoname` and older programs use them.
//!
//! As on Linux, the address requests (SIOCGIFADDR, NETMASK, BRDADDR,
//! DSTADDR) work on AF_INET sockets only (ENOTTY elsewhere), an unknown
//! interface is ENODEV and an interface without an IPv4 address
//! EADDRNOTAVAIL. Every request that would change an interface is EPERM:
//! the network configuration belongs to the VM, and the program is
//! treated as a root user without CAP_NET_ADMIN (a container's root),
//! which programs already expect to meet.

use crate::call::{ok, Call, Outcome};
use crate::fd::FileRef;
use crate::net::file::SocketFile;
use crate::net::ifaces::{self, Iface};
use crate::net::Domain;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::ioctl::*;

/// Offset of the union after the name in `struct ifreq`.
const IFR_DATA: usize = IFNAMSIZ;

/// What an interface request needs from its socket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any socket (Linux's `dev_ioctl`).
    Any,
    /// An AF_INET socket (Linux's `devinet_ioctl`).
    Inet,
}

/// Whether `cmd` is an interface request, and what socket it needs.
fn classify(cmd: u32) -> Option<Need> {
    Some(match cmd {
        SIOCGIFADDR | SIOCGIFDSTADDR | SIOCGIFBRDADDR | SIOCGIFNETMASK | SIOCSIFADDR
        | SIOCSIFDSTADDR | SIOCSIFBRDADDR | SIOCSIFNETMASK | SIOCSIFPFLAGS | SIOCGIFPFLAGS
        | SIOCDIFADDR => Need::Inet,
        SIOCGIFNAME | SIOCSIFLINK | SIOCGIFCONF | SIOCGIFFLAGS | SIOCSIFFLAGS | SIOCGIFMETRIC
        | SIOCSIFMETRIC | SIOCGIFMEM | SIOCSIFMEM | SIOCGIFMTU | SIOCSIFMTU | SIOCSIFNAME
        | SIOCSIFHWADDR | SIOCGIFHWADDR | SIOCGIFSLAVE | SIOCSIFSLAVE | SIOCADDMULTI
        | SIOCDELMULTI | SIOCGIFINDEX | SIOCSIFHWBROADCAST | SIOCGIFTXQLEN | SIOCSIFTXQLEN
        | SIOCETHTOOL | SIOCGMIIPHY | SIOCGMIIREG | SIOCSMIIREG | SIOCGIFMAP | SIOCSIFMAP => {
            Need::Any
        }
        _ => return None,
    })
}

/// Whether `cmd` asks to change an interface.
fn is_set(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCSIFFLAGS
            | SIOCSIFADDR
            | SIOCSIFDSTADDR
            | SIOCSIFBRDADDR
            | SIOCSIFNETMASK
            | SIOCSIFMETRIC
            | SIOCSIFMTU
            | SIOCSIFNAME
            | SIOCSIFHWADDR
            | SIOCSIFSLAVE
            | SIOCADDMULTI
            | SIOCDELMULTI
            | SIOCSIFPFLAGS
            | SIOCDIFADDR
            | SIOCSIFHWBROADCAST
            | SIOCSIFTXQLEN
            | SIOCSIFMAP
            | SIOCGMIIPHY
            | SIOCGMIIREG
            | SIOCSMIIREG
    )
}

/// Whether `cmd` is an interface request this module answers.
pub fn handles(cmd: u32) -> bool {
    classify(cmd).is_some()
}

/// A `sockaddr_in` for `ip` in the union of an ifreq.
fn put_sin(ifr: &mut [u8; IFREQ_SIZE], ip: Ipv4Addr) {
    let sa = &mut ifr[IFR_DATA..IFR_DATA + 16];
    sa.fill(0);
    sa[..2].copy_from_slice(&2u16.to_ne_bytes());
    sa[4..8].copy_from_slice(&ip.octets());
}

fn put_int(ifr: &mut [u8; IFREQ_SIZE], v: i32) {
    ifr[IFR_DATA..IFR_DATA + 4].copy_from_slice(&v.to_ne_bytes());
}

/// The IPv4 entries SIOCGIFCONF lists: one `struct ifreq` per address.
fn ifconf_entries(list: &[Iface]) -> Vec<[u8; IFREQ_SIZE]> {
    let mut v = Vec::new();
    for i in list {
        for a in &i.addrs {
            if let IpAddr::V4(ip) = a.ip {
                let mut r = [0u8; IFREQ_SIZE];
                r[..i.name.len()].copy_from_slice(i.name.as_bytes());
                put_sin(&mut r, ip);
                v.push(r);
            }
        }
    }
    v
}

/// SIOCGIFCONF: the `struct ifconf` at `arg`. A null buffer asks for the
/// length needed; otherwise as many whole entries as fit.
fn ifconf(c: &mut Call<'_>, arg: u64, list: &[Iface]) -> SysResult<Outcome> {
    let ifc = c.mem().read_array::<IFCONF_SIZE>(arg)?;
    let len = i32::from_ne_bytes([ifc[0], ifc[1], ifc[2], ifc[3]]);
    let buf = u64::from_ne_bytes(ifc[8..16].try_into().unwrap_or_default());
    let entries = ifconf_entries(list);
    let total = if buf == 0 {
        entries.len() * IFREQ_SIZE
    } else {
        let fit = (len.max(0) as usize / IFREQ_SIZE).min(entries.len());
        for (k, e) in entries[..fit].iter().enumerate() {
            c.mem().write(buf + (k * IFREQ_SIZE) as u64, e)?;
        }
        fit * IFREQ_SIZE
    };
    c.mem().write_u32(arg, total as u32)?;
    ok(0)
}

/// Answer a request on an ifreq whose interface is `i` (Linux's
/// `dev_ifsioc_locked` and `devinet_ioctl`, the get side).
fn answer(cmd: u32, i: &Iface, ifr: &mut [u8; IFREQ_SIZE]) -> SysResult<()> {
    match cmd {
        SIOCGIFFLAGS => {
            // ifr_flags is a short: the high flags (IFF_LOWER_UP) fall off.
            ifr[IFR_DATA..IFR_DATA + 2].copy_from_slice(&(i.flags as u16).to_ne_bytes());
        }
        SIOCGIFINDEX => put_int(ifr, i.index as i32),
        SIOCGIFMTU => put_int(ifr, i.mtu as i32),
        SIOCGIFMETRIC => put_int(ifr, 0),
        SIOCGIFTXQLEN => put_int(ifr, i.txqlen as i32),
        SIOCGIFMAP => ifr[IFR_DATA..IFR_DATA + 21].fill(0),
        SIOCGIFHWADDR => {
            ifr[IFR_DATA..IFR_DATA + 2].copy_from_slice(&i.hw_type.to_ne_bytes());
            ifr[IFR_DATA + 2..IFR_DATA + 8].copy_from_slice(&i.hwaddr);
        }
        SIOCGIFADDR | SIOCGIFBRDADDR | SIOCGIFDSTADDR | SIOCGIFNETMASK => {
            // The label must name the interface itself (no aliases here).
            let end = ifr[..IFNAMSIZ]
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(IFNAMSIZ);
            let a = i
                .ipv4()
                .filter(|_| ifr[..end] == *i.name.as_bytes())
                .ok_or(Errno::EADDRNOTAVAIL)?;
            let IpAddr::V4(ip) = a.ip else {
                return Err(Errno::EADDRNOTAVAIL);
            };
            let v = match cmd {
                SIOCGIFADDR | SIOCGIFDSTADDR => ip,
                SIOCGIFBRDADDR => a.broadcast.unwrap_or(Ipv4Addr::UNSPECIFIED),
                _ => a.netmask_v4().unwrap_or(Ipv4Addr::UNSPECIFIED),
            };
            put_sin(ifr, v);
        }
        // Link settings (ethtool) are not offered by these devices.
        SIOCETHTOOL => return Err(Errno::EOPNOTSUPP),
        SIOCGIFSLAVE => return Err(Errno::EINVAL),
        _ => return Err(Errno::ENOTTY),
    }
    Ok(())
}

/// Implements the interface requests of `ioctl(2)` on `file` (see the
/// module doc). Only called for commands [`handles`] accepts.
pub fn ioctl(c: &mut Call<'_>, file: &FileRef, cmd: u32, arg: u64) -> SysResult<Outcome> {
    let Some(sock) = SocketFile::of(file) else {
        return Err(Errno::ENOTTY);
    };
    let domain = sock.sock.domain();
    match classify(cmd) {
        None => return Err(Errno::ENOTTY),
        // Linux's AF_INET6 sockets take these three (and need the power
        // to change addresses); other families do not know them.
        Some(Need::Inet)
            if domain == Domain::Inet6
                && matches!(cmd, SIOCSIFADDR | SIOCDIFADDR | SIOCSIFDSTADDR) =>
        {
            return Err(Errno::EPERM)
        }
        Some(Need::Inet) if domain != Domain::Inet => return Err(Errno::ENOTTY),
        Some(_) => {}
    }
    if matches!(cmd, SIOCGIFMEM | SIOCSIFMEM | SIOCSIFLINK) {
        return Err(Errno::ENOTTY);
    }
    if is_set(cmd) {
        return Err(Errno::EPERM);
    }
    let list = c.proc.net().stack().interfaces();
    if cmd == SIOCGIFCONF {
        return ifconf(c, arg, &list);
    }
    let mut ifr = c.mem().read_array::<IFREQ_SIZE>(arg)?;
    if cmd == SIOCGIFNAME {
        let index = i32::from_ne_bytes(ifr[IFR_DATA..IFR_DATA + 4].try_into().unwrap_or_default());
        let i = ifaces::by_index(&list, index as i64).ok_or(Errno::ENODEV)?;
        ifr[..IFNAMSIZ].fill(0);
        ifr[..i.name.len()].copy_from_slice(i.name.as_bytes());
    } else {
        ifr[IFNAMSIZ - 1] = 0;
        let i = ifaces::by_name(&list, &ifr[..IFNAMSIZ]).ok_or(Errno::ENODEV)?;
        answer(cmd, i, &mut ifr)?;
    }
    c.mem().write(arg, &ifr)?;
    ok(0)
}
