//! The socket calls: socket, socketpair, bind, listen, accept(4), connect,
//! getsockname/getpeername, shutdown, and the send and receive families.
//! Socket objects never block ([`crate::net`]); where Linux sleeps, these
//! park the thread on the socket's readiness key and are issued again.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{FileRef, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::net::addr;
use crate::net::file::SocketFile;
use crate::net::{MsgFlags, PollMask, Shutdown, SockType, Socket, SOCK_FLAGS_MASK};
use crate::sys::wait;
use crate::vfs::Description;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kiln_abi::errno::{Errno, SysResult};

/// `sizeof(struct sockaddr_storage)`: the longest address a call takes.
pub const SOCKADDR_MAX: usize = 128;
const SOCK_NONBLOCK: u32 = O_NONBLOCK;
const SOCK_CLOEXEC: u32 = O_CLOEXEC;
/// Largest buffer one send or receive moves through the kernel.
const MAX_MSG: usize = 256 * 1024;

/// The description behind `fd`, which must be a socket.
pub(crate) fn sock_file(c: &Call<'_>, fd: i32) -> SysResult<FileRef> {
    let f = c.proc.fds().get(fd)?.clone();
    if SocketFile::of(&f).is_none() {
        return Err(Errno::ENOTSOCK);
    }
    Ok(f)
}

fn sock(f: &FileRef) -> &SocketFile {
    // Only called on descriptions `sock_file` checked.
    SocketFile::of(f).expect("checked socket")
}

/// Install a new socket on the lowest free descriptor.
fn install(c: &mut Call<'_>, s: SocketFile, flags: u32) -> SysResult<i32> {
    let status = O_RDWR | (flags & SOCK_NONBLOCK);
    let d = Description::new(Box::new(s), status, None, None);
    let limit = c.fd_limit();
    c.proc
        .fds_mut()
        .open(Arc::new(d), flags & SOCK_CLOEXEC != 0, limit)
}

/// Copy a `sockaddr` of `len` bytes from the program.
pub(crate) fn read_addr(c: &mut Call<'_>, ptr: u64, len: i32) -> SysResult<Vec<u8>> {
    if len < 0 || len as usize > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut v = alloc::vec![0u8; len as usize];
    if len > 0 {
        c.mem().read(ptr, &mut v)?;
    }
    Ok(v)
}

/// Hand an address back through `(ptr, *len_ptr)`, as Linux's
/// `move_addr_to_user`: the bytes that fit, and the full length.
pub(crate) fn write_addr(c: &mut Call<'_>, ptr: u64, len_ptr: u64, a: &[u8]) -> SysResult<()> {
    // No address wanted; an address without a length pointer is EFAULT,
    // as Linux reads the length through it.
    if ptr == 0 {
        return Ok(());
    }
    let have = i32::from_le_bytes(c.mem().read_array::<4>(len_ptr)?);
    if have < 0 {
        return Err(Errno::EINVAL);
    }
    let n = a.len().min(have as usize);
    if n > 0 {
        c.mem().write(ptr, &a[..n])?;
    }
    c.mem().write_u32(len_ptr, a.len() as u32)
}

/// Block on `f`'s readiness, or fail with EAGAIN when the call must not
/// wait (non-blocking socket, MSG_DONTWAIT) or its timeout ran out.
fn wait(c: &mut Call<'_>, f: &FileRef, nowait: bool, read: bool) -> SysResult<Outcome> {
    if nowait || f.nonblocking() {
        return Err(Errno::EAGAIN);
    }
    wait::block_io(c, f, read)
}

/// Implements Linux `socket(2)`: AF_UNIX, AF_INET, AF_INET6 with
/// SOCK_STREAM or SOCK_DGRAM; SOCK_NONBLOCK and SOCK_CLOEXEC. IPPROTO_MPTCP
/// is EPROTONOSUPPORT, as on a Linux without MPTCP.
pub fn socket(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (domain, ty, proto) = (a.uint(0), a.uint(1), a.uint(2));
    let flags = ty & SOCK_FLAGS_MASK;
    let s = crate::net::socket(c.proc.net(), domain, ty, proto)?;
    let fd = install(c, SocketFile::new(c.proc.net(), s, proto), flags)?;
    ok(fd as u64)
}

/// Implements Linux `socketpair(2)` for AF_UNIX stream and datagram.
pub fn socketpair(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (domain, ty, proto, sv) = (a.uint(0), a.uint(1), a.uint(2), a.u(3));
    let flags = ty & SOCK_FLAGS_MASK;
    let kind = match ty & !SOCK_FLAGS_MASK {
        crate::net::SOCK_STREAM => SockType::Stream,
        crate::net::SOCK_DGRAM => SockType::Dgram,
        crate::net::SOCK_SEQPACKET | crate::net::SOCK_RAW => return Err(Errno::ESOCKTNOSUPPORT),
        _ => return Err(Errno::EINVAL),
    };
    match domain {
        1 if proto == 0 || proto == 1 => {}
        1 => return Err(Errno::EPROTONOSUPPORT),
        2 | 10 => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    // Check the result array before making anything.
    c.mem().read_array::<8>(sv)?;
    let (x, y) = crate::net::socketpair(c.proc.net(), kind);
    let fa = install(c, SocketFile::new(c.proc.net(), Socket::Unix(x), 0), flags)?;
    let fb = match install(c, SocketFile::new(c.proc.net(), Socket::Unix(y), 0), flags) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = c.proc.fds_mut().close(fa);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&fa.to_le_bytes());
    out[4..].copy_from_slice(&fb.to_le_bytes());
    if let Err(e) = c.mem().write(sv, &out) {
        let _ = c.proc.fds_mut().close(fa);
        let _ = c.proc.fds_mut().close(fb);
        return Err(e);
    }
    ok(0)
}

/// Implements Linux `bind(2)`. AF_UNIX paths are names in memory: no node
/// appears in the file system.
pub fn bind(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let bytes = read_addr(c, a.u(1), a.int(2))?;
    sock(&f).sock.bind(&bytes)?;
    ok(0)
}

/// Implements Linux `listen(2)` (backlogs up to `net::MAX_BACKLOG`).
pub fn listen(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let s = sock(&f);
    s.sock.listen(a.int(1))?;
    s.listening.store(true, Ordering::Relaxed);
    ok(0)
}

fn do_accept(c: &mut Call<'_>, a: Args, flags: u32) -> SysResult<Outcome> {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let f = sock_file(c, a.fd(0))?;
    let (addr_ptr, len_ptr) = (a.u(1), a.u(2));
    if addr_ptr != 0 {
        // Linux checks the length before taking a connection.
        let have = i32::from_le_bytes(c.mem().read_array::<4>(len_ptr)?);
        if have < 0 {
            return Err(Errno::EINVAL);
        }
    }
    let (new, peer) = match sock(&f).sock.accept() {
        Ok(x) => x,
        Err(Errno::EAGAIN) => return wait(c, &f, false, true),
        Err(e) => return Err(e),
    };
    let proto = sock(&f).protocol;
    let fd = install(c, SocketFile::new(c.proc.net(), new, proto), flags)?;
    if let Err(e) = write_addr(c, addr_ptr, len_ptr, &addr::encode(&peer)) {
        // Linux gives the error; the connection is gone with the fd.
        let _ = c.proc.fds_mut().close(fd);
        return Err(e);
    }
    ok(fd as u64)
}

/// Implements Linux `accept(2)`: blocks until a connection is pending
/// (EAGAIN when non-blocking).
pub fn accept(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    do_accept(c, a, 0)
}

/// Implements Linux `accept4(2)` (SOCK_NONBLOCK, SOCK_CLOEXEC).
pub fn accept4(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    do_accept(c, a, a.uint(3))
}

/// Implements Linux `connect(2)`. TCP: a blocking socket waits for the
/// handshake and returns its result; a non-blocking one gets EINPROGRESS
/// (EALREADY while it runs, the result once through POLLOUT and SO_ERROR).
/// A connect to a remote address while DHCP has not configured one yet
/// waits up to 3 s for it before failing with ENETUNREACH.
pub fn connect(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let bytes = read_addr(c, a.u(1), a.int(2))?;
    let s = sock(&f);
    match s.sock.connect(&bytes) {
        Ok(()) => ok(0),
        Err(Errno::EINPROGRESS) if f.nonblocking() => Err(Errno::EINPROGRESS),
        Err(Errno::EINPROGRESS | Errno::EALREADY) if !f.nonblocking() => {
            let timeout = s.timeout(false);
            let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
            if deadline.is_some_and(|d| c.now() >= d) {
                return Err(Errno::EINPROGRESS);
            }
            let key = s.key();
            Ok(Outcome::Block(wait::park(c, alloc::vec![key], deadline)))
        }
        Err(Errno::EAGAIN) if matches!(s.sock, Socket::Unix(_)) => wait(c, &f, false, false),
        Err(Errno::ENETUNREACH) if !f.nonblocking() && c.proc.net().stack().dhcp_pending() => {
            let deadline = c.deadline(|now| now.saturating_add(crate::net::DHCP_WAIT_NS));
            if c.now() >= deadline {
                return Err(Errno::ENETUNREACH);
            }
            let key = c.proc.ready().config_key;
            Ok(Outcome::Block(wait::park(
                c,
                alloc::vec![key],
                Some(deadline),
            )))
        }
        Err(e) => Err(e),
    }
}

/// Implements Linux `getsockname(2)`.
pub fn getsockname(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let bytes = addr::encode(&sock(&f).sock.local_addr());
    nonnull_pair(a.u(1), a.u(2))?;
    write_addr(c, a.u(1), a.u(2), &bytes)?;
    ok(0)
}

/// Implements Linux `getpeername(2)` (ENOTCONN when not connected).
pub fn getpeername(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let bytes = addr::encode(&sock(&f).sock.peer_addr()?);
    nonnull_pair(a.u(1), a.u(2))?;
    write_addr(c, a.u(1), a.u(2), &bytes)?;
    ok(0)
}

fn nonnull_pair(p: u64, l: u64) -> SysResult<()> {
    if p == 0 || l == 0 {
        Err(Errno::EFAULT)
    } else {
        Ok(())
    }
}

/// Implements Linux `shutdown(2)`.
pub fn shutdown(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let how = Shutdown::from_raw(a.uint(1))?;
    sock(&f).sock.shutdown(how)?;
    ok(0)
}

/// Flags send and receive calls accept (others are EOPNOTSUPP on Linux
/// only for some protocols; they are ignored here as Linux ignores most).
fn msg_flags(raw: u32) -> MsgFlags {
    MsgFlags::from_bits_truncate(raw)
}

/// One send: `data` to the socket, honouring MSG_DONTWAIT and blocking.
fn send_bytes(
    c: &mut Call<'_>,
    f: &FileRef,
    data: &[u8],
    flags: MsgFlags,
    to: Option<&[u8]>,
) -> SysResult<Outcome> {
    if flags.contains(MsgFlags::OOB) {
        return Err(Errno::EOPNOTSUPP);
    }
    match sock(f).sock.send(data, flags, to) {
        Ok(n) => ok(n as u64),
        Err(Errno::EAGAIN) => wait(c, f, flags.contains(MsgFlags::DONTWAIT), false),
        Err(e) => Err(e),
    }
}

/// Whether a MSG_WAITALL receive of `want` bytes on a stream should wait
/// for more before reading (Linux loops until all came, the peer closed or
/// an error; here the wait is for the bytes to be there at once, capped
/// by the receive buffer).
fn waitall_short(s: &SocketFile, want: usize) -> bool {
    if s.sock.sock_type() != SockType::Stream {
        return false;
    }
    let m = s.sock.poll();
    if m.intersects(PollMask::HUP | PollMask::RDHUP | PollMask::ERR) {
        return false;
    }
    let cap = match s.sock.option(crate::net::SockOptName::RcvBuf) {
        Ok(crate::net::SockOpt::RcvBuf(v)) => (v / 2) as usize,
        _ => want,
    };
    let have = s.sock.readable_bytes();
    have > 0 && have < want.min(cap.max(1))
}

/// One receive into a kernel buffer of `want` bytes.
fn recv_bytes(
    c: &mut Call<'_>,
    f: &FileRef,
    want: usize,
    flags: MsgFlags,
) -> SysResult<Result<(Vec<u8>, crate::net::Received), Outcome>> {
    if flags.contains(MsgFlags::OOB) {
        return Err(Errno::EINVAL);
    }
    let s = sock(f);
    let nowait = flags.contains(MsgFlags::DONTWAIT) || f.nonblocking();
    if flags.contains(MsgFlags::WAITALL) && !nowait && waitall_short(s, want) {
        return wait(c, f, false, true).map(Err);
    }
    let mut buf = crate::fallible::zeroed(s.sock.recv_size(want.min(MAX_MSG)))?;
    match s.sock.recv(&mut buf, flags) {
        Ok(r) => Ok(Ok((buf, r))),
        Err(Errno::EAGAIN) => wait(c, f, flags.contains(MsgFlags::DONTWAIT), true).map(Err),
        Err(e) => Err(e),
    }
}

/// Implements Linux `sendto(2)` (and `send`): MSG_DONTWAIT, MSG_NOSIGNAL
/// (EPIPE never raises SIGPIPE yet), MSG_MORE accepted; MSG_OOB EOPNOTSUPP.
pub fn sendto(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let len = (a.u(2) as usize).min(MAX_MSG);
    let flags = msg_flags(a.uint(3));
    let to = if a.u(4) != 0 {
        Some(read_addr(c, a.u(4), a.int(5))?)
    } else {
        None
    };
    let mut data = crate::fallible::zeroed(len)?;
    c.mem().read(a.u(1), &mut data)?;
    send_bytes(c, &f, &data, flags, to.as_deref())
}

/// Implements Linux `recvfrom(2)` (and `recv`): MSG_PEEK, MSG_TRUNC,
/// MSG_DONTWAIT, MSG_WAITALL (see `waitall_short`), the sender's address.
pub fn recvfrom(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let flags = msg_flags(a.uint(3));
    let want = a.u(2).min(MAX_MSG as u64) as usize;
    let (buf, r) = match recv_bytes(c, &f, want, flags)? {
        Ok(x) => x,
        Err(block) => return Ok(block),
    };
    let put = c.mem().write_partial(a.u(1), &buf[..r.len]);
    if put < r.len {
        return Err(Errno::EFAULT);
    }
    let from = r.from.as_ref().map(addr::encode).unwrap_or_default();
    if a.u(4) != 0 {
        write_addr(c, a.u(4), a.u(5), &from)?;
    }
    ok(r.ret(flags) as u64)
}

/// `struct msghdr` as the program lays it out.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: Vec<(u64, u64)>,
    control: u64,
    controllen: u64,
}

const MSGHDR_LEN: usize = 56;

fn read_msghdr(c: &mut Call<'_>, ptr: u64) -> SysResult<MsgHdr> {
    let b = c.mem().read_array::<MSGHDR_LEN>(ptr)?;
    let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
    let (iov_ptr, iovlen) = (u(16), u(24));
    if iovlen > crate::sys::io::UIO_MAXIOV as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let mut raw = crate::fallible::zeroed(iovlen as usize * 16)?;
    c.mem().read(iov_ptr, &mut raw)?;
    let mut iov = crate::fallible::with_capacity(iovlen as usize)?;
    let mut total = 0u64;
    for v in raw.as_chunks::<16>().0 {
        let base = u64::from_le_bytes(v[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(v[8..].try_into().unwrap_or_default());
        if (len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        let len = len.min(crate::sys::io::MAX_RW_COUNT - total);
        total += len;
        iov.push((base, len));
    }
    Ok(MsgHdr {
        name: u(0),
        namelen: b[8..12].try_into().map(u32::from_le_bytes).unwrap_or(0),
        iov,
        control: u(32),
        controllen: u(40),
    })
}

fn gather(c: &mut Call<'_>, iov: &[(u64, u64)]) -> SysResult<Vec<u8>> {
    let mut data = Vec::new();
    for &(base, len) in iov {
        let room = MAX_MSG - data.len();
        let n = (len as usize).min(room);
        let start = data.len();
        crate::fallible::reserve(&mut data, n)?;
        data.resize(start + n, 0);
        c.mem().read(base, &mut data[start..])?;
        if data.len() == MAX_MSG {
            break;
        }
    }
    Ok(data)
}

fn scatter(c: &mut Call<'_>, iov: &[(u64, u64)], mut data: &[u8]) -> SysResult<()> {
    for &(base, len) in iov {
        if data.is_empty() {
            break;
        }
        let n = (len as usize).min(data.len());
        c.mem().write(base, &data[..n])?;
        data = &data[n..];
    }
    Ok(())
}

fn sendmsg_one(c: &mut Call<'_>, f: &FileRef, hdr: u64, flags: MsgFlags) -> SysResult<Outcome> {
    let m = read_msghdr(c, hdr)?;
    if m.controllen > 0 {
        if m.controllen > super::cmsg::MAX_CONTROL {
            return Err(Errno::ENOBUFS);
        }
        let mut control = alloc::vec![0u8; m.controllen as usize];
        c.mem().read(m.control, &mut control)?;
        super::cmsg::check_sent(&control)?;
    }
    let to = if m.name != 0 && m.namelen > 0 {
        Some(read_addr(c, m.name, m.namelen.min(i32::MAX as u32) as i32)?)
    } else {
        None
    };
    let data = gather(c, &m.iov)?;
    send_bytes(c, f, &data, flags, to.as_deref())
}

fn recvmsg_one(c: &mut Call<'_>, f: &FileRef, hdr: u64, flags: MsgFlags) -> SysResult<Outcome> {
    let m = read_msghdr(c, hdr)?;
    let want: u64 = m.iov.iter().map(|v| v.1).sum();
    let (buf, r) = match recv_bytes(c, f, want as usize, flags)? {
        Ok(x) => x,
        Err(block) => return Ok(block),
    };
    scatter(c, &m.iov, &buf[..r.len])?;
    let mut out_flags = MsgFlags::empty();
    if r.truncated() {
        out_flags |= MsgFlags::TRUNC;
    }
    if m.name != 0 {
        let from = r.from.as_ref().map(addr::encode).unwrap_or_default();
        let n = from.len().min(m.namelen as usize);
        c.mem().write(m.name, &from[..n])?;
        c.mem().write_u32(hdr + 8, from.len() as u32)?;
    } else {
        c.mem().write_u32(hdr + 8, 0)?;
    }
    let records = super::cmsg::received(sock(f), &r);
    let room = m.controllen.min(super::cmsg::MAX_CONTROL) as usize;
    let (control, cut) = super::cmsg::pack(&records, room);
    if cut {
        out_flags |= MsgFlags::CTRUNC;
    }
    if !control.is_empty() {
        c.mem().write(m.control, &control)?;
    }
    c.mem().write_u64(hdr + 40, control.len() as u64)?;
    c.mem().write_u32(hdr + 48, out_flags.bits())?;
    ok(r.ret(flags) as u64)
}

/// Implements Linux `sendmsg(2)`: iovecs and msg_name; IP-level ancillary
/// data (IP_PKTINFO, IPV6_PKTINFO) is accepted, socket-level records
/// (SCM_RIGHTS, SCM_CREDENTIALS) are EOPNOTSUPP (see [`super::cmsg`]).
pub fn sendmsg(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    sendmsg_one(c, &f, a.u(1), msg_flags(a.uint(2)))
}

/// Implements Linux `recvmsg(2)`: iovecs, msg_name, msg_flags (MSG_TRUNC,
/// MSG_CTRUNC); the only ancillary data is IP_PKTINFO/IPV6_PKTINFO on UDP
/// sockets that asked for it.
pub fn recvmsg(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    recvmsg_one(c, &f, a.u(1), msg_flags(a.uint(2)))
}

/// Size of `struct mmsghdr`.
const MMSGHDR_LEN: u64 = 64;
/// Most messages in one sendmmsg/recvmmsg (UIO_MAXIOV).
const MMSG_MAX: u32 = 1024;

/// Implements Linux `sendmmsg(2)`: messages in order until one fails or
/// would block; the count sent, or the first error when none was.
pub fn sendmmsg(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = sock_file(c, a.fd(0))?;
    let (vec, vlen) = (a.u(1), a.uint(2).min(MMSG_MAX));
    let flags = msg_flags(a.uint(3));
    let mut done = 0u64;
    while done < vlen as u64 {
        let hdr = vec + done * MMSGHDR_LEN;
        let fl = if done > 0 {
            flags | MsgFlags::DONTWAIT
        } else {
            flags
        };
        match sendmsg_one(c, &f, hdr, fl) {
            Ok(Outcome::Value(n)) => {
                c.mem().write_u32(hdr + 56, n as u32)?;
                done += 1;
            }
            Ok(other) => return Ok(other),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    ok(done)
}

/// Implements Linux `recvmmsg(2)`. Differs: after the first message it
/// takes only what is already there (as with MSG_WAITFORONE); the timeout
/// is checked but not used to wait for more.
pub fn recvmmsg(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    const MSG_WAITFORONE: u32 = 0x10000;
    let f = sock_file(c, a.fd(0))?;
    let (vec, vlen) = (a.u(1), a.uint(2).min(MMSG_MAX));
    let flags = msg_flags(a.uint(3) & !MSG_WAITFORONE);
    if a.u(4) != 0 {
        crate::sys::time::read_timespec(c, a.u(4))?;
    }
    let mut done = 0u64;
    while done < vlen as u64 {
        let hdr = vec + done * MMSGHDR_LEN;
        let fl = if done > 0 {
            flags | MsgFlags::DONTWAIT
        } else {
            flags
        };
        match recvmsg_one(c, &f, hdr, fl) {
            Ok(Outcome::Value(n)) => {
                c.mem().write_u32(hdr + 56, n as u32)?;
                done += 1;
            }
            Ok(other) => return Ok(other),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    ok(done)
}
