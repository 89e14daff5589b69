//! Reading and printing the Linux structures a traced call passes:
//! strings and buffers, stat, sockaddr, iovec, pollfd, epoll_event,
//! timespec, sigaction, sigset and msghdr, as strace prints them.

use super::flags;
use crate::mm::user::UserMem;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;
use core::net::{Ipv4Addr, Ipv6Addr};
use kiln_abi::Signal;

/// Most array elements (iovec, pollfd, epoll events) printed.
const MAX_ELEMS: usize = 16;
/// Longest path read.
const PATH_MAX: usize = 4096;

pub fn ptr(v: u64) -> String {
    if v == 0 {
        String::from("NULL")
    } else {
        alloc::format!("{v:#x}")
    }
}

/// `"..."` with C escapes, as strace quotes data.
pub fn quote(data: &[u8], truncated: bool) -> String {
    let mut s = String::with_capacity(data.len() + 2);
    s.push('"');
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                // Octal, short unless a digit follows (then it would read on).
                let next_digit = data.get(i + 1).is_some_and(u8::is_ascii_digit);
                if next_digit {
                    let _ = write!(s, "\\{b:03o}");
                } else {
                    let _ = write!(s, "\\{b:o}");
                }
            }
        }
    }
    s.push('"');
    if truncated {
        s.push_str("...");
    }
    s
}

/// A NUL-terminated path, or the pointer when it cannot be read.
pub fn path(m: &mut UserMem<'_>, addr: u64) -> String {
    if addr == 0 {
        return String::from("NULL");
    }
    match m.read_cstr(addr, PATH_MAX) {
        Ok(b) => quote(&b, false),
        Err(_) => ptr(addr),
    }
}

/// `len` bytes at `addr`, at most `max` of them shown.
pub fn buf(m: &mut UserMem<'_>, addr: u64, len: u64, max: usize) -> String {
    if addr == 0 && len > 0 {
        return String::from("NULL");
    }
    let shown = (len as usize).min(max);
    let mut data = vec![0u8; shown];
    if m.read(addr, &mut data).is_err() {
        return ptr(addr);
    }
    quote(&data, len as usize > max)
}

fn read<const N: usize>(m: &mut UserMem<'_>, addr: u64) -> Option<[u8; N]> {
    if addr == 0 {
        return None;
    }
    m.read_array::<N>(addr).ok()
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

/// An `int` that a pointer points to: `[5]`.
pub fn int_ptr(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<4>(m, addr) {
        Some(b) => alloc::format!("[{}]", i32::from_le_bytes(b)),
        None => ptr(addr),
    }
}

/// Two `int`s (pipe, socketpair): `[3, 4]`.
pub fn fd_pair(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<8>(m, addr) {
        Some(b) => alloc::format!("[{}, {}]", u32_at(&b, 0) as i32, u32_at(&b, 4) as i32),
        None => ptr(addr),
    }
}

pub fn stat(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<144>(m, addr) {
        Some(b) => {
            let mode = u64::from(u32_at(&b, 24));
            let size = u64_at(&b, 48) as i64;
            alloc::format!(
                "{{st_mode={}, st_size={size}, ...}}",
                flags::file_mode(mode)
            )
        }
        None => ptr(addr),
    }
}

pub fn timespec(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<16>(m, addr) {
        Some(b) => alloc::format!(
            "{{tv_sec={}, tv_nsec={}}}",
            u64_at(&b, 0) as i64,
            u64_at(&b, 8) as i64
        ),
        None => ptr(addr),
    }
}

/// A signal set as strace prints it: `[INT TERM]`, or `~[...]` for most.
pub fn sigset_bits(set: u64) -> String {
    let (bits, tilde) = if set.count_ones() > 32 {
        (!set, "~")
    } else {
        (set, "")
    };
    let names: Vec<String> = (1..=64)
        .filter(|n| bits & (1u64 << (n - 1)) != 0)
        .map(|n| {
            let name = Signal(n).name();
            String::from(name.strip_prefix("SIG").unwrap_or(&name))
        })
        .collect();
    alloc::format!("{tilde}[{}]", names.join(" "))
}

pub fn sigset(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<8>(m, addr) {
        Some(b) => sigset_bits(u64::from_le_bytes(b)),
        None => ptr(addr),
    }
}

pub fn signal(n: u64) -> String {
    match n {
        1..=64 => Signal(n as i32).name().into_owned(),
        _ => alloc::format!("{}", n as i64),
    }
}

pub fn sigaction(m: &mut UserMem<'_>, addr: u64) -> String {
    let Some(b) = read::<32>(m, addr) else {
        return ptr(addr);
    };
    let handler = match u64_at(&b, 0) {
        0 => String::from("SIG_DFL"),
        1 => String::from("SIG_IGN"),
        h => alloc::format!("{h:#x}"),
    };
    let fl = u64_at(&b, 8);
    let mut s = alloc::format!(
        "{{sa_handler={handler}, sa_mask={}, sa_flags={}",
        sigset_bits(u64_at(&b, 24)),
        flags::bits(fl, flags::SA, "0")
    );
    if fl & 0x0400_0000 != 0 {
        let _ = write!(s, ", sa_restorer={:#x}", u64_at(&b, 16));
    }
    s.push('}');
    s
}

/// A socket address of `len` bytes at `addr`.
pub fn sockaddr(m: &mut UserMem<'_>, addr: u64, len: u64) -> String {
    if addr == 0 {
        return String::from("NULL");
    }
    let len = (len as usize).min(128);
    let mut b = vec![0u8; len];
    if len < 2 || m.read(addr, &mut b).is_err() {
        return ptr(addr);
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    match family {
        2 if len >= 8 => alloc::format!(
            "{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
            u16::from_be_bytes([b[2], b[3]]),
            Ipv4Addr::new(b[4], b[5], b[6], b[7])
        ),
        10 if len >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let scope = if len >= 28 { u32_at(&b, 24) } else { 0 };
            alloc::format!(
                "{{sa_family=AF_INET6, sin6_port=htons({}), sin6_flowinfo=htonl({}), \
                 inet_pton(AF_INET6, \"{}\", &sin6_addr), sin6_scope_id={scope}}}",
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                Ipv6Addr::from(a)
            )
        }
        1 => {
            let p = &b[2..];
            let p = &p[..p.iter().position(|&c| c == 0).unwrap_or(p.len())];
            if b.len() > 2 && b[2] == 0 && len > 3 {
                let name = &b[3..];
                let end = name.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                alloc::format!(
                    "{{sa_family=AF_UNIX, sun_path=@{}}}",
                    quote(&name[..end], false)
                )
            } else {
                alloc::format!("{{sa_family=AF_UNIX, sun_path={}}}", quote(p, false))
            }
        }
        16 if len >= 12 => alloc::format!(
            "{{sa_family=AF_NETLINK, nl_pid={}, nl_groups={:08x}}}",
            u32_at(&b, 4),
            u32_at(&b, 8)
        ),
        _ => alloc::format!(
            "{{sa_family={}}}",
            flags::value(u64::from(family), flags::DOMAIN)
        ),
    }
}

/// A socket address whose length a `socklen_t *` at `lenp` gives.
pub fn sockaddr_out(m: &mut UserMem<'_>, addr: u64, lenp: u64) -> String {
    match read::<4>(m, lenp) {
        Some(l) => sockaddr(m, addr, u64::from(u32::from_le_bytes(l))),
        None => ptr(addr),
    }
}

/// An iovec array; `budget` bytes of data are shown in all (what the call
/// moved, or everything for an input), each element at most `max`.
pub fn iovec(
    m: &mut UserMem<'_>,
    addr: u64,
    count: u64,
    budget: Option<u64>,
    max: usize,
) -> String {
    if addr == 0 {
        return String::from("NULL");
    }
    let n = (count as usize).min(MAX_ELEMS);
    let mut raw = vec![0u8; n * 16];
    if m.read(addr, &mut raw).is_err() {
        return ptr(addr);
    }
    let mut left = budget.unwrap_or(u64::MAX);
    let mut parts = Vec::with_capacity(n);
    for i in 0..n {
        let base = u64_at(&raw, i * 16);
        let len = u64_at(&raw, i * 16 + 8);
        let shown = len.min(left);
        left -= shown;
        parts.push(alloc::format!(
            "{{iov_base={}, iov_len={len}}}",
            buf(m, base, shown, max)
        ));
    }
    let more = if (count as usize) > n { ", ..." } else { "" };
    alloc::format!("[{}{more}]", parts.join(", "))
}

/// A pollfd array with the events asked for.
pub fn pollfds(m: &mut UserMem<'_>, addr: u64, count: u64, revents: bool) -> String {
    if addr == 0 {
        return String::from("NULL");
    }
    let n = (count as usize).min(MAX_ELEMS);
    let mut raw = vec![0u8; n * 8];
    if m.read(addr, &mut raw).is_err() {
        return ptr(addr);
    }
    let mut parts = Vec::new();
    for i in 0..n {
        let fd = u32_at(&raw, i * 8) as i32;
        let ev = u16::from_le_bytes([raw[i * 8 + 4], raw[i * 8 + 5]]);
        let rev = u16::from_le_bytes([raw[i * 8 + 6], raw[i * 8 + 7]]);
        if revents {
            if rev != 0 {
                parts.push(alloc::format!(
                    "{{fd={fd}, revents={}}}",
                    flags::bits(u64::from(rev), flags::POLL, "0")
                ));
            }
        } else {
            parts.push(alloc::format!(
                "{{fd={fd}, events={}}}",
                flags::bits(u64::from(ev), flags::POLL, "0")
            ));
        }
    }
    let more = if !revents && (count as usize) > n {
        ", ..."
    } else {
        ""
    };
    alloc::format!("[{}{more}]", parts.join(", "))
}

fn epoll_event(raw: &[u8]) -> String {
    alloc::format!(
        "{{events={}, data={:#x}}}",
        flags::bits(u64::from(u32_at(raw, 0)), flags::EPOLL_EVENTS, "0"),
        u64_at(raw, 4)
    )
}

/// `count` packed epoll_events at `addr` (12 bytes each on x86_64).
pub fn epoll_events(m: &mut UserMem<'_>, addr: u64, count: u64) -> String {
    if addr == 0 {
        return String::from("NULL");
    }
    let n = (count as usize).min(MAX_ELEMS);
    let mut raw = vec![0u8; n * 12];
    if m.read(addr, &mut raw).is_err() {
        return ptr(addr);
    }
    let parts: Vec<String> = raw.chunks(12).map(epoll_event).collect();
    let more = if (count as usize) > n { ", ..." } else { "" };
    alloc::format!("[{}{more}]", parts.join(", "))
}

pub fn epoll_event_at(m: &mut UserMem<'_>, addr: u64) -> String {
    match read::<12>(m, addr) {
        Some(b) => epoll_event(&b),
        None => ptr(addr),
    }
}

/// A msghdr; `budget` as for [`iovec`].
pub fn msghdr(m: &mut UserMem<'_>, addr: u64, budget: Option<u64>, max: usize) -> String {
    let Some(b) = read::<56>(m, addr) else {
        return ptr(addr);
    };
    let name = u64_at(&b, 0);
    let namelen = u64::from(u32_at(&b, 8));
    let iov = u64_at(&b, 16);
    let iovlen = u64_at(&b, 24);
    let controllen = u64_at(&b, 40);
    let flags = u32_at(&b, 48);
    let name_s = if name == 0 {
        String::from("NULL")
    } else {
        sockaddr(m, name, namelen)
    };
    alloc::format!(
        "{{msg_name={name_s}, msg_namelen={namelen}, msg_iov={}, msg_iovlen={iovlen}, \
         msg_controllen={controllen}, msg_flags={}}}",
        iovec(m, iov, iovlen, budget, max),
        flags::bits(u64::from(flags), flags::MSG, "0")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_quoted_as_strace_quotes_it() {
        assert_eq!(quote(b"hi\n", false), "\"hi\\n\"");
        assert_eq!(quote(b"\x7fELF\x02\x01", true), "\"\\177ELF\\2\\1\"...");
        assert_eq!(quote(b"\x001", false), "\"\\0001\"");
        assert_eq!(quote(b"a\"b\\", false), "\"a\\\"b\\\\\"");
    }

    #[test]
    fn signal_sets_name_their_members() {
        assert_eq!(sigset_bits(0), "[]");
        assert_eq!(sigset_bits((1 << 1) | (1 << 14)), "[INT TERM]");
        assert_eq!(sigset_bits(!(1u64 << 8)), "~[KILL]");
    }
}
