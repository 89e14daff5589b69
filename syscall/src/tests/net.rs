//! Sockets, epoll and eventfd through the syscall layer, over the loopback
//! lane (the fake machine has no network device).

use crate::process::{Flow, WaitFor};
use crate::testutil::*;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const READ: u64 = 0;
const WRITE: u64 = 1;
const CLOSE: u64 = 3;
const FSTAT: u64 = 5;
const POLL: u64 = 7;
const IOCTL: u64 = 16;
const SOCKET: u64 = 41;
const CONNECT: u64 = 42;
const ACCEPT: u64 = 43;
const SENDTO: u64 = 44;
const RECVFROM: u64 = 45;
const RECVMSG: u64 = 47;
const SHUTDOWN: u64 = 48;
const BIND: u64 = 49;
const LISTEN: u64 = 50;
const GETSOCKNAME: u64 = 51;
const GETPEERNAME: u64 = 52;
const SOCKETPAIR: u64 = 53;
const SETSOCKOPT: u64 = 54;
const GETSOCKOPT: u64 = 55;
const EPOLL_WAIT: u64 = 232;
const EPOLL_CTL: u64 = 233;
const ACCEPT4: u64 = 288;
const EVENTFD2: u64 = 290;
const EPOLL_CREATE1: u64 = 291;
const OPENAT: u64 = 257;
const READLINKAT: u64 = 267;

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const STREAM: u64 = 1;
const DGRAM: u64 = 2;
const NONBLOCK: u64 = 0o4000;

/// Where tests keep their arguments in the scratch area.
const ADDR: u64 = SCRATCH + 0x100;
const LEN: u64 = SCRATCH + 0x400;
const BUF: u64 = SCRATCH + 0x1000;
const EV: u64 = SCRATCH + 0x3000;

pub(super) fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = vec![2, 0];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&ip);
    v.extend_from_slice(&[0; 8]);
    v
}

pub(super) fn sin6(ip: [u8; 16], port: u16) -> Vec<u8> {
    let mut v = vec![10, 0];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&ip);
    v.extend_from_slice(&[0; 4]);
    v
}

const LO6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn setup() -> Booted {
    let mut b = booted();
    b.scratch(8);
    b
}

/// A second thread that parks while the main one drives the other side.
const T2: crate::process::Tid = 2;

impl Booted {
    /// What the kernel does between calls: run the stack, take wake-ups.
    pub(super) fn settle(&mut self) -> Vec<crate::process::Tid> {
        let mut woken = Vec::new();
        for _ in 0..8 {
            let now = self.fake.clock.mono;
            self.proc.poll(&mut self.fake, now);
            woken.extend(self.proc.take_wakeups());
            self.fake.clock.mono += 1_000_000;
        }
        woken
    }

    fn put_addr(&mut self, a: &[u8]) -> u64 {
        self.poke(ADDR, a);
        a.len() as u64
    }

    fn int_opt(&mut self, fd: i64, level: u64, name: u64) -> i64 {
        self.poke(LEN, &4u32.to_le_bytes());
        let r = self.sys(GETSOCKOPT, &[fd as u64, level, name, BUF, LEN]);
        assert_eq!(r, 0, "getsockopt({level}, {name})");
        i32::from_le_bytes(self.peek(BUF, 4).try_into().unwrap()) as i64
    }

    fn set_int(&mut self, fd: i64, level: u64, name: u64, v: i32) -> i64 {
        self.poke(BUF, &v.to_le_bytes());
        self.sys(SETSOCKOPT, &[fd as u64, level, name, BUF, 4])
    }

    fn write_str(&mut self, fd: i64, s: &[u8]) -> i64 {
        self.poke(BUF, s);
        self.sys(WRITE, &[fd as u64, BUF, s.len() as u64])
    }

    fn read_vec(&mut self, fd: i64, n: usize) -> Result<Vec<u8>, i64> {
        let r = self.sys(READ, &[fd as u64, BUF, n as u64]);
        if r < 0 {
            return Err(r);
        }
        Ok(self.peek(BUF, r as usize))
    }

    /// epoll_wait with timeout 0: the (events, data) pairs.
    fn ready(&mut self, ep: i64) -> Vec<(u32, u64)> {
        let n = self.sys(EPOLL_WAIT, &[ep as u64, EV, 16, 0]);
        assert!(n >= 0, "epoll_wait: {n}");
        (0..n as u64)
            .map(|i| {
                let b = self.peek(EV + i * 12, 12);
                (
                    u32::from_le_bytes(b[..4].try_into().unwrap()),
                    u64::from_le_bytes(b[4..].try_into().unwrap()),
                )
            })
            .collect()
    }

    fn ctl(&mut self, ep: i64, op: u64, fd: i64, events: u32, data: u64) -> i64 {
        let mut e = events.to_le_bytes().to_vec();
        e.extend_from_slice(&data.to_le_bytes());
        self.poke(EV + 0x800, &e);
        self.sys(EPOLL_CTL, &[ep as u64, op, fd as u64, EV + 0x800])
    }
}

/// A connected TCP pair over `addr`: (listener, client, server end).
fn tcp_pair(b: &mut Booted, domain: u64, addr: &[u8]) -> (i64, i64, i64) {
    let l = b.sys(SOCKET, &[domain, STREAM | NONBLOCK, 0]);
    assert!(l >= 3);
    assert_eq!(b.set_int(l, 1, 2, 1), 0); // SO_REUSEADDR
    let n = b.put_addr(addr);
    assert_eq!(b.sys(BIND, &[l as u64, ADDR, n]), 0);
    assert_eq!(b.sys(LISTEN, &[l as u64, 16]), 0);
    assert_eq!(b.sys(ACCEPT, &[l as u64, 0, 0]), E(Errno::EAGAIN));
    let cl = b.sys(SOCKET, &[domain, STREAM | NONBLOCK, 0]);
    assert_eq!(b.sys(CONNECT, &[cl as u64, ADDR, n]), E(Errno::EINPROGRESS));
    assert_eq!(b.sys(CONNECT, &[cl as u64, ADDR, n]), E(Errno::EALREADY));
    b.settle();
    b.poke(LEN, &128u32.to_le_bytes());
    let sv = b.sys(ACCEPT4, &[l as u64, ADDR + 0x80, LEN, NONBLOCK]);
    assert!(sv > cl, "accept: {sv}");
    let n = u32::from_le_bytes(b.peek(LEN, 4).try_into().unwrap()) as usize;
    let peer = b.peek(ADDR + 0x80, n);
    b.poke(ADDR + 0x180, &peer);
    b.poke(LEN + 4, &(n as u32).to_le_bytes());
    assert_eq!(b.int_opt(cl, 1, 4), 0, "SO_ERROR after connecting");
    (l, cl, sv)
}

fn echo(domain: u64, addr: Vec<u8>) {
    let mut b = setup();
    let (l, cl, sv) = tcp_pair(&mut b, domain, &addr);
    // The peer address accept gave is the client's local address.
    let peer_len = b.peek(LEN + 4, 4);
    let peer = b.peek(
        ADDR + 0x180,
        u32::from_le_bytes(peer_len.try_into().unwrap()) as usize,
    );
    b.poke(LEN, &128u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKNAME, &[cl as u64, ADDR + 0x100, LEN]), 0);
    let n = u32::from_le_bytes(b.peek(LEN, 4).try_into().unwrap()) as usize;
    assert_eq!(b.peek(ADDR + 0x100, n), peer);
    b.poke(LEN, &128u32.to_le_bytes());
    assert_eq!(b.sys(GETPEERNAME, &[cl as u64, ADDR + 0x100, LEN]), 0);
    assert_eq!(b.peek(ADDR + 0x100, addr.len()), addr);

    assert_eq!(b.read_vec(sv, 10), Err(E(Errno::EAGAIN)));
    assert_eq!(b.write_str(cl, b"hello"), 5);
    b.settle();
    assert_eq!(b.read_vec(sv, 100).unwrap(), b"hello");
    assert_eq!(b.write_str(sv, b"HELLO back"), 10);
    b.settle();
    assert_eq!(b.read_vec(cl, 5).unwrap(), b"HELLO");
    assert_eq!(b.read_vec(cl, 100).unwrap(), b" back");
    // The client closes: the server reads the end of the stream.
    assert_eq!(b.sys(CLOSE, &[cl as u64]), 0);
    b.settle();
    assert_eq!(b.read_vec(sv, 100).unwrap(), b"");
    assert_eq!(b.sys(CLOSE, &[sv as u64]), 0);
    assert_eq!(b.sys(CLOSE, &[l as u64]), 0);
}

#[test]
fn tcp_echo_over_ipv4_loopback() {
    echo(AF_INET, sin([127, 0, 0, 1], 8080));
}

#[test]
fn tcp_echo_over_ipv6_loopback() {
    echo(AF_INET6, sin6(LO6, 8081));
}

#[test]
fn blocking_accept_parks_until_a_client_connects() {
    let mut b = setup();
    let l = b.sys(SOCKET, &[AF_INET, STREAM, 0]);
    let n = b.put_addr(&sin([0, 0, 0, 0], 9000));
    assert_eq!(b.sys(BIND, &[l as u64, ADDR, n]), 0);
    assert_eq!(b.sys(LISTEN, &[l as u64, 4]), 0);
    b.settle();
    let (flow, _) = b.call_as(T2, ACCEPT, &[l as u64, 0, 0]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    assert!(b.settle().is_empty(), "nothing happened yet");
    // Re-issued by the kernel later (as after any wake-up): parks again.
    let (flow, _) = b.call_as(T2, ACCEPT, &[l as u64, 0, 0]);
    assert!(matches!(flow, Flow::Block(_)));
    let cl = b.sys(SOCKET, &[AF_INET, STREAM | NONBLOCK, 0]);
    let n = b.put_addr(&sin([127, 0, 0, 1], 9000));
    assert_eq!(b.sys(CONNECT, &[cl as u64, ADDR, n]), E(Errno::EINPROGRESS));
    assert_eq!(b.settle(), vec![T2]);
    let sv = b.sys(ACCEPT, &[l as u64, 0, 0]);
    assert!(sv > cl);
    // A blocking connect waits for the handshake, then succeeds.
    let c2 = b.sys(SOCKET, &[AF_INET, STREAM, 0]);
    let (flow, _) = b.call_as(T2, CONNECT, &[c2 as u64, ADDR, n]);
    assert!(matches!(flow, Flow::Block(WaitFor::Wakeup { .. })));
    assert_eq!(b.settle(), vec![T2]);
    assert_eq!(b.sys(CONNECT, &[c2 as u64, ADDR, n]), 0);
    assert_eq!(b.sys(CONNECT, &[c2 as u64, ADDR, n]), E(Errno::EISCONN));
    // Nothing listens on this port: refused.
    let c3 = b.sys(SOCKET, &[AF_INET, STREAM, 0]);
    let n = b.put_addr(&sin([127, 0, 0, 1], 9001));
    assert!(matches!(
        b.call(CONNECT, &[c3 as u64, ADDR, n]).0,
        Flow::Block(_)
    ));
    b.settle();
    assert_eq!(
        b.sys(CONNECT, &[c3 as u64, ADDR, n]),
        E(Errno::ECONNREFUSED)
    );
}

#[test]
fn socket_arguments_and_file_nature() {
    let mut b = setup();
    assert_eq!(
        b.sys(SOCKET, &[AF_INET, STREAM, 262]),
        E(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(b.sys(SOCKET, &[99, STREAM, 0]), E(Errno::EAFNOSUPPORT));
    assert_eq!(b.sys(SOCKET, &[AF_INET, 3, 0]), E(Errno::ESOCKTNOSUPPORT));
    assert_eq!(b.sys(SOCKET, &[AF_INET, 9, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(BIND, &[1, ADDR, 16]), E(Errno::ENOTSOCK));
    assert_eq!(b.sys(LISTEN, &[77, 1]), E(Errno::EBADF));
    let s = b.sys(SOCKET, &[AF_INET, STREAM | 0o2000000, 0]);
    assert_eq!(b.sys(72, &[s as u64, 1]), 1, "SOCK_CLOEXEC");
    assert_eq!(b.sys(FSTAT, &[s as u64, BUF]), 0);
    let mode = u32::from_le_bytes(b.peek(BUF + 24, 4).try_into().unwrap());
    assert_eq!(mode & 0o170000, 0o140000);
    b.poke_str(ADDR, &format!("/proc/self/fd/{s}"));
    let n = b.sys(READLINKAT, &[(-100i64) as u64, ADDR, BUF, 100]);
    let name = String::from_utf8(b.peek(BUF, n as usize)).unwrap();
    assert!(name.starts_with("socket:["), "{name}");
    assert_eq!(b.sys(BIND, &[s as u64, ADDR, 200]), E(Errno::EINVAL));
    assert_eq!(b.sys(BIND, &[s as u64, 0x10, 16]), E(Errno::EFAULT));
    assert_eq!(
        b.sys(GETPEERNAME, &[s as u64, ADDR, LEN]),
        E(Errno::ENOTCONN)
    );
    assert_eq!(b.sys(SHUTDOWN, &[s as u64, 7]), E(Errno::EINVAL));
    // FIONBIO makes it non-blocking.
    b.poke(BUF, &1u32.to_le_bytes());
    assert_eq!(b.sys(IOCTL, &[s as u64, 0x5421, BUF]), 0);
    assert_eq!(b.sys(72, &[s as u64, 3]) as u64 & NONBLOCK, NONBLOCK);
}

#[test]
fn socketpair_fionread_peek_and_recvmsg() {
    let mut b = setup();
    assert_eq!(
        b.sys(SOCKETPAIR, &[AF_INET, STREAM, 0, BUF]),
        E(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        b.sys(SOCKETPAIR, &[AF_UNIX, STREAM, 0, 0x10]),
        E(Errno::EFAULT)
    );
    assert_eq!(b.sys(SOCKETPAIR, &[AF_UNIX, STREAM, 0, LEN]), 0);
    let sv = b.peek(LEN, 8);
    let x = i32::from_le_bytes(sv[..4].try_into().unwrap()) as i64;
    let y = i32::from_le_bytes(sv[4..].try_into().unwrap()) as i64;
    assert_eq!(b.write_str(x, b"abcdefgh"), 8);
    assert_eq!(b.sys(IOCTL, &[y as u64, 0x541b, ADDR]), 0);
    assert_eq!(b.peek(ADDR, 4), 8u32.to_le_bytes());
    // MSG_PEEK leaves the bytes.
    assert_eq!(b.sys(RECVFROM, &[y as u64, BUF + 100, 3, 2, 0, 0]), 3);
    assert_eq!(b.peek(BUF + 100, 3), b"abc");
    // recvmsg into two iovecs.
    let msg = SCRATCH + 0x2000;
    let iov = SCRATCH + 0x2100;
    for (i, (base, len)) in [(BUF + 200, 2u64), (BUF + 300, 4)].iter().enumerate() {
        b.poke(iov + i as u64 * 16, &base.to_le_bytes());
        b.poke(iov + i as u64 * 16 + 8, &len.to_le_bytes());
    }
    let mut hdr = vec![0u8; 56];
    hdr[16..24].copy_from_slice(&iov.to_le_bytes());
    hdr[24..32].copy_from_slice(&2u64.to_le_bytes());
    hdr[40..48].copy_from_slice(&64u64.to_le_bytes());
    b.poke(msg, &hdr);
    assert_eq!(b.sys(RECVMSG, &[y as u64, msg, 0]), 6);
    assert_eq!(b.peek(BUF + 200, 2), b"ab");
    assert_eq!(b.peek(BUF + 300, 4), b"cdef");
    assert_eq!(b.peek_u64(msg + 40), 0, "msg_controllen");
    assert_eq!(b.read_vec(y, 10).unwrap(), b"gh");
    b.settle();
    // A blocking read parks on the socket and is woken by a write.
    let (flow, _) = b.call_as(T2, READ, &[y as u64, BUF, 10]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    assert!(b.settle().is_empty());
    b.call_as(T2, READ, &[y as u64, BUF, 10]);
    assert_eq!(b.write_str(x, b"z"), 1);
    assert_eq!(b.settle(), vec![T2]);
    assert_eq!(b.read_vec(y, 10).unwrap(), b"z");
    // MSG_DONTWAIT on a blocking socket.
    assert_eq!(
        b.sys(RECVFROM, &[y as u64, BUF, 3, 0x40, 0, 0]),
        E(Errno::EAGAIN)
    );
    // SO_RCVTIMEO: the read gives up with EAGAIN.
    let mut tv = 1i64.to_le_bytes().to_vec();
    tv.extend_from_slice(&0i64.to_le_bytes());
    b.poke(ADDR, &tv);
    assert_eq!(b.sys(SETSOCKOPT, &[y as u64, 1, 20, ADDR, 16]), 0);
    let now = b.fake.clock.mono;
    let (flow, _) = b.call(READ, &[y as u64, BUF, 10]);
    assert_eq!(
        flow,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(now + 1_000_000_000)
        })
    );
    b.fake.clock.mono += 1_000_000_000;
    assert_eq!(b.sys(READ, &[y as u64, BUF, 10]), E(Errno::EAGAIN));
    // Shut down: the reader sees the end.
    assert_eq!(b.sys(SHUTDOWN, &[x as u64, 1]), 0);
    assert_eq!(b.read_vec(y, 10).unwrap(), b"");
}

#[test]
fn udp_sendto_and_recvfrom_carry_addresses() {
    let mut b = setup();
    let s = b.sys(SOCKET, &[AF_INET, DGRAM, 0]);
    let n = b.put_addr(&sin([127, 0, 0, 1], 5353));
    assert_eq!(b.sys(BIND, &[s as u64, ADDR, n]), 0);
    let c = b.sys(SOCKET, &[AF_INET, DGRAM | NONBLOCK, 0]);
    b.poke(BUF, b"query");
    assert_eq!(b.sys(SENDTO, &[c as u64, BUF, 5, 0, ADDR, n]), 5);
    b.settle();
    b.poke(LEN, &128u32.to_le_bytes());
    // MSG_TRUNC: the datagram's full length, 3 bytes copied.
    assert_eq!(
        b.sys(
            RECVFROM,
            &[s as u64, BUF + 100, 3, 0x20 | 2, ADDR + 0x80, LEN]
        ),
        5
    );
    assert_eq!(b.peek(BUF + 100, 3), b"que");
    assert_eq!(
        b.sys(RECVFROM, &[s as u64, BUF + 100, 64, 0, ADDR + 0x80, LEN]),
        5
    );
    assert_eq!(b.peek(LEN, 4), 16u32.to_le_bytes());
    let from = b.peek(ADDR + 0x80, 16);
    assert_eq!(&from[..2], &[2, 0]);
    assert_eq!(&from[4..8], &[127, 0, 0, 1]);
    // Answer to the address recvfrom gave.
    b.poke(BUF, b"answer");
    assert_eq!(b.sys(SENDTO, &[s as u64, BUF, 6, 0, ADDR + 0x80, 16]), 6);
    b.settle();
    assert_eq!(b.read_vec(c, 64).unwrap(), b"answer");
    assert_eq!(b.read_vec(c, 64), Err(E(Errno::EAGAIN)));
}

#[test]
fn socket_options_round_trip_and_fail_as_linux() {
    let mut b = setup();
    let s = b.sys(SOCKET, &[AF_INET6, STREAM, 0]);
    assert_eq!(b.int_opt(s, 1, 2), 0);
    assert_eq!(b.set_int(s, 1, 2, 1), 0);
    assert_eq!(b.int_opt(s, 1, 2), 1, "SO_REUSEADDR");
    assert_eq!(b.set_int(s, 1, 15, 1), 0);
    assert_eq!(b.int_opt(s, 1, 15), 1, "SO_REUSEPORT");
    assert_eq!(b.set_int(s, 1, 9, 1), 0);
    assert_eq!(b.int_opt(s, 1, 9), 1, "SO_KEEPALIVE");
    assert_eq!(b.set_int(s, 1, 8, 65536), 0);
    assert_eq!(b.int_opt(s, 1, 8), 131072, "SO_RCVBUF doubled");
    assert_eq!(b.set_int(s, 6, 1, 1), 0);
    assert_eq!(b.int_opt(s, 6, 1), 1, "TCP_NODELAY");
    assert_eq!(b.set_int(s, 6, 4, 30), 0);
    assert_eq!(b.int_opt(s, 6, 4), 30, "TCP_KEEPIDLE");
    assert_eq!(b.set_int(s, 6, 4, 0), E(Errno::EINVAL));
    assert_eq!(b.set_int(s, 41, 26, 1), 0);
    assert_eq!(b.int_opt(s, 41, 26), 1, "IPV6_V6ONLY");
    assert_eq!(b.int_opt(s, 1, 3), 1, "SO_TYPE");
    assert_eq!(b.int_opt(s, 1, 39), 10, "SO_DOMAIN");
    assert_eq!(b.int_opt(s, 1, 38), 6, "SO_PROTOCOL");
    assert_eq!(b.int_opt(s, 1, 30), 0, "SO_ACCEPTCONN");
    assert_eq!(b.int_opt(s, 1, 4), 0, "SO_ERROR");
    assert_eq!(b.set_int(s, 1, 4, 1), E(Errno::ENOPROTOOPT));
    assert_eq!(b.set_int(s, 1, 999, 1), E(Errno::ENOPROTOOPT));
    assert_eq!(b.set_int(s, 6, 23, 5), 0, "TCP_FASTOPEN stored");
    assert_eq!(b.int_opt(s, 6, 23), 5);
    // SO_LINGER is a struct.
    b.poke(BUF, &[1, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(b.sys(SETSOCKOPT, &[s as u64, 1, 13, BUF, 8]), 0);
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 13, BUF, 4]),
        E(Errno::EINVAL)
    );
    b.poke(LEN, &8u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[s as u64, 1, 13, ADDR, LEN]), 0);
    assert_eq!(b.peek(ADDR, 8), [1, 0, 0, 0, 7, 0, 0, 0]);
    // Errors: short value, bad pointers, negative length, unknown option.
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 2, BUF, 2]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 2, 0x10, 4]),
        E(Errno::EFAULT)
    );
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 2, BUF, (-1i64) as u64]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(GETSOCKOPT, &[s as u64, 1, 2, BUF, 0x10]),
        E(Errno::EFAULT)
    );
    b.poke(LEN, &(-1i32).to_le_bytes());
    assert_eq!(
        b.sys(GETSOCKOPT, &[s as u64, 1, 2, BUF, LEN]),
        E(Errno::EINVAL)
    );
    b.poke(LEN, &4u32.to_le_bytes());
    assert_eq!(
        b.sys(GETSOCKOPT, &[s as u64, 1, 999, BUF, LEN]),
        E(Errno::ENOPROTOOPT)
    );
    assert_eq!(
        b.sys(GETSOCKOPT, &[s as u64, 6, 11, BUF, LEN]),
        E(Errno::ENOPROTOOPT)
    );
    assert_eq!(b.sys(GETSOCKOPT, &[1, 1, 2, BUF, LEN]), E(Errno::ENOTSOCK));
    // A short buffer gets the first bytes and the length it got.
    b.poke(LEN, &2u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[s as u64, 1, 8, BUF, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), 2u32.to_le_bytes());
    // Timeouts round-trip as a timeval.
    let mut tv = 2i64.to_le_bytes().to_vec();
    tv.extend_from_slice(&500_000i64.to_le_bytes());
    b.poke(ADDR, &tv);
    assert_eq!(b.sys(SETSOCKOPT, &[s as u64, 1, 21, ADDR, 16]), 0);
    b.poke(LEN, &16u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[s as u64, 1, 21, BUF, LEN]), 0);
    assert_eq!(b.peek(BUF, 16), tv);
    b.poke(ADDR + 8, &2_000_000i64.to_le_bytes());
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 21, ADDR, 16]),
        E(Errno::EDOM)
    );
    assert_eq!(
        b.sys(SETSOCKOPT, &[s as u64, 1, 21, ADDR, 8]),
        E(Errno::EINVAL)
    );
    // A listener reports SO_ACCEPTCONN.
    let n = b.put_addr(&sin6(LO6, 7000));
    assert_eq!(b.sys(BIND, &[s as u64, ADDR, n]), 0);
    assert_eq!(b.sys(LISTEN, &[s as u64, 1]), 0);
    assert_eq!(b.int_opt(s, 1, 30), 1);
}

const IN: u32 = 1;
const OUT: u32 = 4;
const RDHUP: u32 = 0x2000;
const ET: u32 = 1 << 31;
const ONESHOT: u32 = 1 << 30;

fn pair(b: &mut Booted) -> (i64, i64) {
    assert_eq!(b.sys(SOCKETPAIR, &[AF_UNIX, STREAM | NONBLOCK, 0, LEN]), 0);
    let sv = b.peek(LEN, 8);
    (
        i32::from_le_bytes(sv[..4].try_into().unwrap()) as i64,
        i32::from_le_bytes(sv[4..].try_into().unwrap()) as i64,
    )
}

#[test]
fn epoll_level_edge_and_oneshot() {
    let mut b = setup();
    let ep = b.sys(EPOLL_CREATE1, &[0]);
    let (x, y) = pair(&mut b);
    assert_eq!(b.ctl(ep, 1, y, IN, 7), 0);
    assert_eq!(b.ready(ep), vec![]);
    b.write_str(x, b"1");
    b.settle();
    // Level-triggered: reported while readable.
    assert_eq!(b.ready(ep), vec![(IN, 7)]);
    assert_eq!(b.ready(ep), vec![(IN, 7)]);
    // Edge-triggered: once per change.
    assert_eq!(b.ctl(ep, 3, y, IN | ET, 8), 0);
    assert_eq!(b.ready(ep), vec![(IN, 8)]);
    assert_eq!(b.ready(ep), vec![]);
    b.write_str(x, b"2");
    b.settle();
    assert_eq!(b.ready(ep), vec![(IN, 8)]);
    assert_eq!(b.ready(ep), vec![]);
    // One-shot: once, then disabled until MOD.
    assert_eq!(b.ctl(ep, 3, y, IN | ONESHOT, 9), 0);
    assert_eq!(b.ready(ep), vec![(IN, 9)]);
    b.write_str(x, b"3");
    b.settle();
    assert_eq!(b.ready(ep), vec![]);
    assert_eq!(b.ctl(ep, 3, y, IN | OUT, 10), 0);
    assert_eq!(b.ready(ep), vec![(IN | OUT, 10)]);
    // Drained and not watching OUT: nothing.
    assert_eq!(b.ctl(ep, 3, y, IN, 11), 0);
    assert_eq!(b.read_vec(y, 10).unwrap(), b"123");
    b.settle();
    assert_eq!(b.ready(ep), vec![]);
    // DEL, then the interest is gone.
    assert_eq!(b.ctl(ep, 2, y, 0, 0), 0);
    assert_eq!(b.ctl(ep, 2, y, 0, 0), E(Errno::ENOENT));
    assert_eq!(b.ctl(ep, 3, y, IN, 0), E(Errno::ENOENT));
}

#[test]
fn epoll_wait_parks_and_wakes_on_readiness() {
    let mut b = setup();
    let ep = b.sys(EPOLL_CREATE1, &[0o2000000]);
    let (x, y) = pair(&mut b);
    let efd = b.sys(EVENTFD2, &[0, NONBLOCK]);
    assert_eq!(b.ctl(ep, 1, y, IN | RDHUP, 1), 0);
    assert_eq!(b.ctl(ep, 1, efd, IN, 2), 0);
    b.settle();
    let (flow, _) = b.call_as(T2, EPOLL_WAIT, &[ep as u64, EV, 8, u64::MAX]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    assert!(b.settle().is_empty());
    b.call_as(T2, EPOLL_WAIT, &[ep as u64, EV, 8, u64::MAX]);
    b.poke(BUF, &5u64.to_le_bytes());
    assert_eq!(b.sys(WRITE, &[efd as u64, BUF, 8]), 8);
    assert_eq!(b.settle(), vec![T2]);
    assert_eq!(b.ready(ep), vec![(IN, 2)]);
    // The peer shuts its writing side: EPOLLRDHUP.
    assert_eq!(b.sys(SHUTDOWN, &[x as u64, 1]), 0);
    b.settle();
    let r = b.ready(ep);
    assert!(
        r.iter()
            .any(|&(e, d)| d == 1 && e & RDHUP != 0 && e & IN != 0),
        "{r:?}"
    );
    // A timeout: parks with a deadline, then returns 0.
    let ep2 = b.sys(EPOLL_CREATE1, &[0]);
    let now = b.fake.clock.mono;
    let (flow, _) = b.call(EPOLL_WAIT, &[ep2 as u64, EV, 8, 10]);
    assert_eq!(
        flow,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(now + 10_000_000)
        })
    );
    b.fake.clock.mono += 10_000_000;
    assert_eq!(b.sys(EPOLL_WAIT, &[ep2 as u64, EV, 8, 10]), 0);
    // An epoll is pollable: ep2 watching ep is ready when ep is.
    assert_eq!(b.ctl(ep2, 1, ep, IN, 3), 0);
    assert_eq!(b.ready(ep2), vec![(IN, 3)]);
    // poll() on sockets parks on their keys too.
    let (p, q) = pair(&mut b);
    let mut pfd = (q as i32).to_le_bytes().to_vec();
    pfd.extend_from_slice(&(IN as u16).to_le_bytes());
    pfd.extend_from_slice(&[0, 0]);
    b.poke(ADDR, &pfd);
    b.settle();
    let (flow, _) = b.call_as(T2, POLL, &[ADDR, 1, u64::MAX]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    b.write_str(p, b"!");
    assert_eq!(b.settle(), vec![T2]);
    assert_eq!(b.sys(POLL, &[ADDR, 1, u64::MAX]), 1);
}

#[test]
fn epoll_ctl_errors() {
    let mut b = setup();
    let ep = b.sys(EPOLL_CREATE1, &[0]);
    let ep2 = b.sys(EPOLL_CREATE1, &[0]);
    let (x, _y) = pair(&mut b);
    assert_eq!(b.sys(EPOLL_CREATE1, &[1]), E(Errno::EINVAL));
    assert_eq!(b.sys(213, &[0]), E(Errno::EINVAL));
    assert_eq!(b.ctl(ep, 1, x, IN, 0), 0);
    assert_eq!(b.ctl(ep, 1, x, IN, 0), E(Errno::EEXIST));
    assert_eq!(b.ctl(ep, 1, 99, IN, 0), E(Errno::EBADF));
    assert_eq!(b.ctl(99, 1, x, IN, 0), E(Errno::EBADF));
    assert_eq!(b.ctl(x, 1, ep, IN, 0), E(Errno::EINVAL), "not an epoll");
    assert_eq!(b.ctl(ep, 1, ep, IN, 0), E(Errno::EINVAL), "itself");
    assert_eq!(b.ctl(ep, 9, x, IN, 0), E(Errno::EINVAL));
    assert_eq!(b.sys(EPOLL_CTL, &[ep as u64, 1, 0, 0x10]), E(Errno::EFAULT));
    // A regular file cannot be watched.
    b.poke_str(ADDR, "/bin/prog");
    let f = b.sys(OPENAT, &[(-100i64) as u64, ADDR, 0, 0]);
    assert!(f >= 0);
    assert_eq!(b.ctl(ep, 1, f, IN, 0), E(Errno::EPERM));
    // Cycles.
    assert_eq!(b.ctl(ep, 1, ep2, IN, 0), 0);
    assert_eq!(b.ctl(ep2, 1, ep, IN, 0), E(Errno::ELOOP));
    // EPOLLEXCLUSIVE: ADD only, not on epolls.
    let (p, _q) = pair(&mut b);
    assert_eq!(b.ctl(ep, 1, p, IN | (1 << 28), 0), 0);
    assert_eq!(b.ctl(ep, 3, p, IN, 0), E(Errno::EINVAL));
    assert_eq!(
        b.ctl(ep2, 1, p, IN | ONESHOT | (1 << 28), 0),
        E(Errno::EINVAL)
    );
    // Wait arguments.
    assert_eq!(b.sys(EPOLL_WAIT, &[ep as u64, EV, 0, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(EPOLL_WAIT, &[x as u64, EV, 1, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(EPOLL_WAIT, &[ep as u64, 0, 1, 0]), E(Errno::EFAULT));
    // Closing the watched socket removes the interest.
    let (s, t) = pair(&mut b);
    let ep3 = b.sys(EPOLL_CREATE1, &[0]);
    assert_eq!(b.ctl(ep3, 1, s, OUT, 4), 0);
    assert_eq!(b.ready(ep3), vec![(OUT, 4)]);
    assert_eq!(b.sys(CLOSE, &[s as u64]), 0);
    b.settle();
    assert_eq!(b.ready(ep3), vec![]);
    assert_eq!(b.sys(CLOSE, &[t as u64]), 0);
}

#[test]
fn eventfd_counter_semantics() {
    let mut b = setup();
    assert_eq!(b.sys(EVENTFD2, &[0, 0x8]), E(Errno::EINVAL));
    let e = b.sys(EVENTFD2, &[3, 0]);
    assert_eq!(b.sys(READ, &[e as u64, BUF, 8]), 8);
    assert_eq!(b.peek_u64(BUF), 3);
    let (flow, _) = b.call(READ, &[e as u64, BUF, 8]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    assert_eq!(b.sys(READ, &[e as u64, BUF, 4]), E(Errno::EINVAL));
    let s = b.sys(EVENTFD2, &[0, 1 | NONBLOCK]);
    b.poke(BUF, &2u64.to_le_bytes());
    assert_eq!(b.sys(WRITE, &[s as u64, BUF, 8]), 8);
    for _ in 0..2 {
        assert_eq!(b.sys(READ, &[s as u64, BUF + 8, 8]), 8);
        assert_eq!(b.peek_u64(BUF + 8), 1, "semaphore reads 1");
    }
    assert_eq!(b.sys(READ, &[s as u64, BUF, 8]), E(Errno::EAGAIN));
    b.poke(BUF, &u64::MAX.to_le_bytes());
    assert_eq!(b.sys(WRITE, &[s as u64, BUF, 8]), E(Errno::EINVAL));
    b.poke(BUF, &(u64::MAX - 1).to_le_bytes());
    assert_eq!(b.sys(WRITE, &[s as u64, BUF, 8]), 8);
    b.poke(BUF, &1u64.to_le_bytes());
    assert_eq!(b.sys(WRITE, &[s as u64, BUF, 8]), E(Errno::EAGAIN));
    assert_eq!(b.sys(WRITE, &[s as u64, BUF, 4]), E(Errno::EINVAL));
    // Readiness: readable, not writable when full.
    let mut pfd = (s as i32).to_le_bytes().to_vec();
    pfd.extend_from_slice(&((IN | OUT) as u16).to_le_bytes());
    pfd.extend_from_slice(&[0, 0]);
    b.poke(ADDR, &pfd);
    assert_eq!(b.sys(POLL, &[ADDR, 1, 0]), 1);
    assert_eq!(b.peek(ADDR + 6, 2), (IN as u16).to_le_bytes());
}

/// Boot with a network device and this network configuration.
fn boot_with_nic(net: kiln_image::NetConfig) -> Booted {
    let elf = ElfBuilder::exec().build();
    let mut m = manifest(&["prog"], &[]);
    m.net = net;
    let img = image(&[Node::File("/bin/prog", &elf), Node::Dir("/srv")], &m);
    let mut fake = Fake::new(img);
    fake.nic = Some(FakeNic::default());
    let (proc, ctx) = crate::Process::boot(&mut fake).unwrap();
    let mut b = Booted { fake, proc, ctx };
    b.scratch(8);
    b
}

#[test]
fn static_address_is_announced_on_the_console() {
    let mut b = boot_with_nic(kiln_image::NetConfig {
        ipv4: Some(([10, 0, 2, 15], 24)),
        gateway: Some([10, 0, 2, 2]),
        ipv6: None,
        nameservers: vec![vec![10, 0, 2, 3]],
    });
    b.settle();
    let out = String::from_utf8_lossy(&b.fake.console.out).into_owned();
    assert!(
        out.contains("kiln: net: 10.0.2.15/24 via 10.0.2.2 (static)\n"),
        "{out}"
    );
    // A listener on 0.0.0.0 accepts over loopback, and the machine's own
    // address is local.
    let (_l, cl, sv) = tcp_pair(&mut b, AF_INET, &sin([10, 0, 2, 15], 80));
    assert_eq!(b.write_str(cl, b"ping"), 4);
    b.settle();
    assert_eq!(b.read_vec(sv, 10).unwrap(), b"ping");
}

#[test]
fn connect_waits_a_bounded_time_for_dhcp() {
    let mut b = boot_with_nic(kiln_image::NetConfig::default());
    b.settle();
    assert!(
        !b.fake.nic.as_ref().unwrap().sent.is_empty(),
        "DHCP discover sent"
    );
    // Listening before DHCP completes works.
    let l = b.sys(SOCKET, &[AF_INET, STREAM, 0]);
    let n = b.put_addr(&sin([0, 0, 0, 0], 8080));
    assert_eq!(b.sys(BIND, &[l as u64, ADDR, n]), 0);
    assert_eq!(b.sys(LISTEN, &[l as u64, 8]), 0);
    let s = b.sys(SOCKET, &[AF_INET, STREAM, 0]);
    let n = b.put_addr(&sin([10, 0, 2, 2], 80));
    let now = b.fake.clock.mono;
    let (flow, _) = b.call(CONNECT, &[s as u64, ADDR, n]);
    assert_eq!(
        flow,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(now + crate::net::DHCP_WAIT_NS)
        })
    );
    b.fake.clock.mono += crate::net::DHCP_WAIT_NS;
    assert_eq!(b.sys(CONNECT, &[s as u64, ADDR, n]), E(Errno::ENETUNREACH));
    // Non-blocking sockets do not wait.
    let s = b.sys(SOCKET, &[AF_INET, STREAM | NONBLOCK, 0]);
    assert_eq!(b.sys(CONNECT, &[s as u64, ADDR, n]), E(Errno::ENETUNREACH));
}

#[test]
fn sendfile_from_a_file_to_a_socket() {
    let elf = ElfBuilder::exec().build();
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let mut b = boot_elf(&elf, &[Node::File("/srv/page.html", &data)]).unwrap();
    b.scratch(8);
    let (x, y) = pair(&mut b);
    b.poke_str(ADDR, "/srv/page.html");
    let f = b.sys(OPENAT, &[(-100i64) as u64, ADDR, 0, 0]);
    assert!(f >= 0);
    b.poke(LEN, &100u64.to_le_bytes());
    assert_eq!(b.sys(40, &[x as u64, f as u64, LEN, 4000]), 4000);
    assert_eq!(b.peek_u64(LEN), 4100);
    let n = b.sys(READ, &[y as u64, BUF, 8000]);
    assert_eq!(n, 4000);
    assert_eq!(b.peek(BUF, 4000), &data[100..4100]);
}

#[test]
fn epoll_watches_pipes_without_keys() {
    let mut b = setup();
    let ep = b.sys(EPOLL_CREATE1, &[0]);
    assert_eq!(b.sys(293, &[LEN, NONBLOCK]), 0);
    let fds = b.peek(LEN, 8);
    let r = i32::from_le_bytes(fds[..4].try_into().unwrap()) as i64;
    let w = i32::from_le_bytes(fds[4..].try_into().unwrap()) as i64;
    assert_eq!(b.ctl(ep, 1, r, IN | ET, 5), 0);
    // A pipe has no readiness key: the wait is on any event.
    let (flow, _) = b.call(EPOLL_WAIT, &[ep as u64, EV, 8, u64::MAX]);
    assert_eq!(flow, Flow::Block(WaitFor::Event { deadline: None }));
    b.write_str(w, b"x");
    assert_eq!(b.ready(ep), vec![(IN, 5)]);
    assert_eq!(b.ready(ep), vec![], "edge: once");
    // An epoll watching this one is not keyed either.
    let outer = b.sys(EPOLL_CREATE1, &[0]);
    assert_eq!(b.ctl(outer, 1, ep, IN, 6), 0);
    let (flow, _) = b.call(EPOLL_WAIT, &[outer as u64, EV, 8, u64::MAX]);
    assert_eq!(flow, Flow::Block(WaitFor::Event { deadline: None }));
}

#[test]
fn the_network_configuration_writes_run_resolv_conf() {
    let cfg = kiln_image::NetConfig {
        ipv4: Some(([10, 0, 0, 5], 24)),
        gateway: Some([10, 0, 0, 1]),
        ipv6: None,
        nameservers: vec![vec![10, 0, 0, 53], LO6.to_vec()],
    };
    let mut b = boot_with_nic(cfg);
    assert!(!b.proc.awaiting_lease(), "a static address needs no lease");
    b.settle();
    b.poke_str(ADDR, crate::net::resolv::LEASE_RESOLV_CONF);
    let fd = b.sys(OPENAT, &[(-100i64) as u64, ADDR, 0, 0]);
    assert!(fd >= 0, "open: {fd}");
    assert_eq!(
        b.read_vec(fd, 200).unwrap(),
        b"nameserver 10.0.0.53\nnameserver ::1\n"
    );
    // DHCP: no lease yet, nothing written yet.
    let mut b = boot_with_nic(kiln_image::NetConfig::default());
    b.settle();
    assert!(b.proc.awaiting_lease());
    b.poke_str(ADDR, crate::net::resolv::LEASE_RESOLV_CONF);
    assert_eq!(
        b.sys(OPENAT, &[(-100i64) as u64, ADDR, 0, 0]),
        E(Errno::ENOENT)
    );
}

#[test]
fn a_send_leaves_work_that_may_wait_a_timer_leaves_work_that_may_not() {
    use crate::process::PollNeed;
    let mut b = setup();
    b.settle();
    assert_eq!(b.proc.poll_need(), PollNeed::No);
    // A datagram to send: the kernel may let the thread make a few more
    // calls before the stack runs (it runs at once when the thread blocks).
    let s = b.sys(SOCKET, &[AF_INET, 2, 0]);
    let a = sin([127, 0, 0, 1], 9);
    let n = b.put_addr(&a);
    b.poke(BUF, b"hello");
    assert_eq!(b.sys(SENDTO, &[s as u64, BUF, 5, 0, ADDR, n]), 5);
    assert_eq!(b.proc.poll_need(), PollNeed::Soon);
    b.settle();
    assert_eq!(b.proc.poll_need(), PollNeed::No);
    // An armed timer must be known to the kernel now.
    let it = ADDR + 0x100;
    b.poke(it, &[0u8; 16]);
    b.poke(it + 16, &1u64.to_le_bytes());
    b.poke(it + 24, &0u64.to_le_bytes());
    assert_eq!(b.sys(38, &[0, it, 0]), 0); // setitimer(ITIMER_REAL, 1 s)
    assert_eq!(b.proc.poll_need(), PollNeed::Now);
}

#[test]
fn recvfrom_with_an_address_but_no_length_is_efault() {
    // Linux reads the address length through the pointer: NULL is EFAULT
    // (the datagram is consumed, as there).
    let mut b = setup();
    let s = b.sys(SOCKET, &[AF_INET, DGRAM, 0]);
    let n = b.put_addr(&sin([127, 0, 0, 1], 5454));
    assert_eq!(b.sys(BIND, &[s as u64, ADDR, n]), 0);
    let c = b.sys(SOCKET, &[AF_INET, DGRAM, 0]);
    b.poke(BUF, b"ping");
    assert_eq!(b.sys(SENDTO, &[c as u64, BUF, 4, 0, ADDR, n]), 4);
    b.settle();
    let from = ADDR + 0x100;
    assert_eq!(
        b.sys(RECVFROM, &[s as u64, BUF, 64, 0, from, 0]),
        E(Errno::EFAULT)
    );
    // No address asked for: fine.
    assert_eq!(b.sys(SENDTO, &[c as u64, BUF, 4, 0, ADDR, n]), 4);
    b.settle();
    assert_eq!(b.sys(RECVFROM, &[s as u64, BUF, 64, 0, 0, 0]), 4);
}

#[test]
fn tcp_reads_take_what_is_queued_across_segments_and_stop() {
    const READV: u64 = 19;
    let mut b = setup();
    let (_l, cl, sv) = tcp_pair(&mut b, AF_INET, &sin([127, 0, 0, 1], 8181));
    assert_eq!(b.write_str(cl, b"abcdefgh"), 8);
    b.settle();
    // Segments of 5 and 4096 bytes: the queue's 8 bytes fill the first and
    // go on into the second; the call returns 8, not EAGAIN.
    let iov = BUF + 0x800;
    let mut v = Vec::new();
    for (base, len) in [(BUF, 5u64), (BUF + 0x100, 4096)] {
        v.extend_from_slice(&base.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
    }
    b.poke(iov, &v);
    assert_eq!(b.sys(READV, &[sv as u64, iov, 2]), 8);
    assert_eq!(b.peek(BUF, 5), b"abcde");
    assert_eq!(b.peek(BUF + 0x100, 3), b"fgh");
    assert_eq!(b.read_vec(sv, 4096), Err(E(Errno::EAGAIN)));
    // A receive asking for far more than is queued gets exactly the queue.
    assert_eq!(b.write_str(cl, b"0123456789"), 10);
    b.settle();
    assert_eq!(b.sys(RECVFROM, &[sv as u64, BUF, 65536, 0, 0, 0]), 10);
    assert_eq!(b.peek(BUF, 10), b"0123456789");
}

#[test]
fn tcp_edge_triggered_epoll_reports_new_data_not_the_programs_reads() {
    let mut b = setup();
    let (_l, cl, sv) = tcp_pair(&mut b, AF_INET, &sin([127, 0, 0, 1], 8182));
    let ep = b.sys(EPOLL_CREATE1, &[0]);
    assert_eq!(b.ctl(ep, 1, sv, IN | ET, 5), 0);
    assert_eq!(b.ready(ep), vec![]);
    assert_eq!(b.write_str(cl, b"one two"), 7);
    b.settle();
    assert_eq!(b.ready(ep), vec![(IN, 5)]);
    assert_eq!(b.ready(ep), vec![]);
    // The program reads part: no new edge (Linux reports none either).
    assert_eq!(b.read_vec(sv, 3).unwrap(), b"one");
    b.settle();
    assert_eq!(b.ready(ep), vec![]);
    // More data comes in while some is still queued: a new edge.
    assert_eq!(b.write_str(cl, b"!"), 1);
    b.settle();
    assert_eq!(b.ready(ep), vec![(IN, 5)]);
    assert_eq!(b.read_vec(sv, 100).unwrap(), b" two!");
    b.settle();
    assert_eq!(b.ready(ep), vec![]);
}
