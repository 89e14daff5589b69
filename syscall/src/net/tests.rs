//! Host tests of the network: sockets over the loopback lane, and two
//! stacks wired back to back over fake Ethernet devices. Time is a
//! counter the tests advance.

use super::addr::{self, SockAddr, UnixAddr};
use super::*;
use crate::platform::NetDevice;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::SocketAddr;
use kiln_abi::errno::Errno;
use kiln_image::NetConfig;

const MS: u64 = 1_000_000;
/// The most steps a test waits for something (20 simulated seconds): a
/// condition that is never reached fails the test instead of hanging it.
const MAX_STEPS: usize = 20_000;
/// The most calls one drain of a socket makes (a socket that never runs
/// dry fails the test instead of hanging it).
const MAX_RECVS: usize = 10_000;
const NONE: MsgFlags = MsgFlags::empty();

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a back-to-back Ethernet cable. Like the kernel's card, it
/// puts frames on the wire only at `flush`: a stack that forgets to flush
/// at the end of its turn sends nothing.
struct FakeNic {
    mac: [u8; 6],
    rx: Queue,
    tx: Queue,
    held: Vec<Vec<u8>>,
}

impl NetDevice for FakeNic {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }
    fn max_frame(&self) -> usize {
        1514
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        let Some(frame) = self.rx.borrow_mut().pop_front() else {
            return false;
        };
        f(&frame);
        true
    }
    fn can_transmit(&mut self) -> bool {
        true
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), Errno> {
        self.held.push(frame.to_vec());
        Ok(())
    }
    fn flush(&mut self) {
        self.tx.borrow_mut().extend(self.held.drain(..));
    }
}

/// Machines under test and the clock they share.
struct World {
    hosts: Vec<(Net, Option<FakeNic>)>,
    now: u64,
}

impl World {
    /// One machine without a network device: loopback only.
    fn lo() -> World {
        let net = NetStack::new(&NetConfig::default(), None, 0, 7).into_shared();
        World {
            hosts: vec![(net, None)],
            now: 0,
        }
    }

    /// Two machines on one Ethernet: 10.0.0.1/24 and 10.0.0.2/24.
    fn pair() -> World {
        World::pair_with(None)
    }

    /// [`World::pair`], with static IPv6 addresses PREFIX::1 and PREFIX::2
    /// (a /64) when `v6` gives the first 8 bytes.
    fn pair_with(v6: Option<[u8; 8]>) -> World {
        let a2b: Queue = Default::default();
        let b2a: Queue = Default::default();
        let mut a = FakeNic {
            mac: [2, 0, 0, 0, 0, 0xa],
            rx: b2a.clone(),
            tx: a2b.clone(),
            held: Vec::new(),
        };
        let mut b = FakeNic {
            mac: [2, 0, 0, 0, 0, 0xb],
            rx: a2b,
            tx: b2a,
            held: Vec::new(),
        };
        let cfg = |last| NetConfig {
            ipv4: Some(([10, 0, 0, last], 24)),
            gateway: Some([10, 0, 0, 254]),
            ipv6: v6.map(|p| {
                let mut a = [0u8; 16];
                a[..8].copy_from_slice(&p);
                a[15] = last;
                (a, 64)
            }),
            nameservers: vec![vec![10, 0, 0, 53]],
        };
        let na = NetStack::new(&cfg(1), Some(&mut a), 0, 1).into_shared();
        let nb = NetStack::new(&cfg(2), Some(&mut b), 0, 2).into_shared();
        World {
            hosts: vec![(na, Some(a)), (nb, Some(b))],
            now: 0,
        }
    }

    fn net(&self, i: usize) -> Net {
        self.hosts[i].0.clone()
    }

    /// Advance time by 1 ms and poll every machine.
    fn step(&mut self) {
        self.now += MS;
        for (net, nic) in &mut self.hosts {
            net.poll(self.now, nic.as_mut().map(|n| n as &mut dyn NetDevice));
        }
    }

    fn steps(&mut self, n: usize) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Step until `f` holds (at most 20 simulated seconds).
    fn until(&mut self, mut f: impl FnMut() -> bool) {
        for _ in 0..MAX_STEPS {
            if f() {
                return;
            }
            self.step();
        }
        panic!("condition not reached");
    }
}

fn tcp(net: &Net, d: Domain) -> TcpSocket {
    TcpSocket::new(net, d)
}

fn listener(net: &Net, at: &str, backlog: i32) -> TcpSocket {
    let a = sa(at);
    let s = tcp(
        net,
        if a.is_ipv4() {
            Domain::Inet
        } else {
            Domain::Inet6
        },
    );
    s.set_option(SockOpt::ReuseAddr(true)).unwrap();
    s.bind(a).unwrap();
    s.listen(backlog).unwrap();
    s
}

fn connect(w: &mut World, net: &Net, to: &str) -> TcpSocket {
    let to = sa(to);
    let s = tcp(
        net,
        if to.is_ipv4() {
            Domain::Inet
        } else {
            Domain::Inet6
        },
    );
    assert_eq!(s.connect(Some(to)), Err(Errno::EINPROGRESS));
    w.until(|| s.poll().contains(PollMask::OUT));
    assert_eq!(s.connect(Some(to)), Ok(()));
    assert_eq!(s.connect(Some(to)), Err(Errno::EISCONN));
    s
}

fn accept(w: &mut World, l: &TcpSocket) -> (TcpSocket, SocketAddr) {
    w.until(|| l.poll().contains(PollMask::IN));
    l.accept().unwrap()
}

/// Send all of `data`, stepping the world when the buffer is full.
fn send_all(w: &mut World, s: &TcpSocket, data: &[u8], mut drain: impl FnMut()) {
    let mut off = 0;
    let mut tries = 0;
    while off < data.len() {
        tries += 1;
        assert!(
            tries <= MAX_STEPS,
            "send: {off} of {} bytes sent after {MAX_STEPS} tries",
            data.len()
        );
        match s.send(&data[off..], NONE) {
            Ok(n) => off += n,
            Err(Errno::EAGAIN) => {
                drain();
                w.step();
            }
            Err(e) => panic!("send: {e:?}"),
        }
    }
}

fn recv_some(s: &TcpSocket, out: &mut Vec<u8>) -> Result<usize, Errno> {
    let mut buf = [0u8; 3000];
    let n = s.recv(&mut buf, NONE)?;
    out.extend_from_slice(&buf[..n]);
    Ok(n)
}

/// Receive into `out` while `more` holds for what `recv` returns (at most
/// [`MAX_RECVS`] calls).
fn recv_while(s: &TcpSocket, out: &mut Vec<u8>, more: impl Fn(&Result<usize, Errno>) -> bool) {
    for _ in 0..MAX_RECVS {
        if !more(&recv_some(s, out)) {
            return;
        }
    }
    panic!(
        "recv: the socket did not run dry in {MAX_RECVS} calls ({} bytes received)",
        out.len()
    );
}

#[test]
fn sockaddr_roundtrip_and_errors() {
    let v4 = SockAddr::Inet(sa("10.1.2.3:8080"));
    let b = addr::encode(&v4);
    assert_eq!(b.len(), addr::SOCKADDR_IN_LEN);
    assert_eq!(&b[..8], &[2, 0, 0x1f, 0x90, 10, 1, 2, 3]);
    assert_eq!(addr::decode(&b).unwrap(), v4);
    let v6 = SockAddr::Inet(sa("[fe80::1%3]:443"));
    let b6 = addr::encode(&v6);
    assert_eq!(b6.len(), addr::SOCKADDR_IN6_LEN);
    assert_eq!(addr::decode(&b6).unwrap(), v6);
    // Linux takes the 24-byte RFC 2133 form.
    assert!(addr::decode(&b6[..24]).is_ok());
    assert_eq!(addr::decode(&b6[..20]), Err(Errno::EINVAL));
    assert_eq!(
        addr::decode_inet(Domain::Inet, &b[..15]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        addr::decode_inet(Domain::Inet, &b6),
        Err(Errno::EAFNOSUPPORT)
    );
    assert_eq!(addr::decode_inet(Domain::Inet6, &b), Err(Errno::EINVAL));
    assert_eq!(addr::decode_inet(Domain::Inet, &[0, 0]), Ok(None));
    assert_eq!(addr::decode(&[99, 0, 0, 0]), Err(Errno::EAFNOSUPPORT));
    assert_eq!(
        addr::unmap(sa("[::ffff:1.2.3.4]:5")),
        sa("1.2.3.4:5"),
        "mapped addresses become IPv4"
    );
    assert_eq!(
        addr::for_domain(Domain::Inet6, sa("1.2.3.4:5")),
        sa("[::ffff:1.2.3.4]:5")
    );
    let path = SockAddr::Unix(UnixAddr::Path(b"/tmp/s".to_vec()));
    let bp = addr::encode(&path);
    assert_eq!(bp, b"\x01\x00/tmp/s\x00");
    assert_eq!(addr::decode(&bp).unwrap(), path);
    let abs = SockAddr::Unix(UnixAddr::Abstract(b"x\0y".to_vec()));
    assert_eq!(addr::decode(&addr::encode(&abs)).unwrap(), abs);
    assert_eq!(
        addr::decode(&[1, 0]).unwrap(),
        SockAddr::Unix(UnixAddr::Unnamed)
    );
}

#[test]
fn sockopt_bytes() {
    let n = SockOptName::from_raw(6, 1).unwrap();
    assert_eq!(n, SockOptName::NoDelay);
    assert_eq!(
        SockOpt::decode(n, &1i32.to_ne_bytes()),
        Ok(SockOpt::NoDelay(true))
    );
    assert_eq!(SockOpt::decode(n, &[1]), Err(Errno::EINVAL));
    let l = SockOptName::from_raw(1, 13).unwrap();
    let mut v = 1i32.to_ne_bytes().to_vec();
    v.extend_from_slice(&0i32.to_ne_bytes());
    assert_eq!(SockOpt::decode(l, &v), Ok(SockOpt::Linger(Some(0))));
    assert_eq!(SockOpt::Linger(Some(0)).encode(), v);
    assert_eq!(
        SockOpt::Error(Some(Errno::ECONNREFUSED)).encode(),
        111i32.to_ne_bytes()
    );
    assert_eq!(SockOptName::from_raw(1, 999), None);
}

#[test]
fn socket_constructor_errnos() {
    let w = World::lo();
    let net = w.net(0);
    assert!(matches!(socket(&net, 2, 1, 0), Ok(Socket::Tcp(_))));
    assert!(matches!(
        socket(&net, 10, 2 | 0o4000, 17),
        Ok(Socket::Udp(_))
    ));
    assert!(matches!(socket(&net, 1, 1, 0), Ok(Socket::Unix(_))));
    assert_eq!(
        socket(&net, 2, 1, IPPROTO_MPTCP).err(),
        Some(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(
        socket(&net, 2, 1, IPPROTO_UDP).err(),
        Some(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(socket(&net, 77, 1, 0).err(), Some(Errno::EAFNOSUPPORT));
    assert_eq!(socket(&net, 2, 9, 0).err(), Some(Errno::EINVAL));
}

#[test]
fn backlog_of_eight_accepts_eight() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:8080", 8);
    assert_eq!(l.poll(), PollMask::empty());
    let clients: Vec<TcpSocket> = (0..8)
        .map(|_| {
            let c = tcp(&net, Domain::Inet);
            assert_eq!(
                c.connect(Some(sa("127.0.0.1:8080"))),
                Err(Errno::EINPROGRESS)
            );
            assert_eq!(c.connect(Some(sa("127.0.0.1:8080"))), Err(Errno::EALREADY));
            c
        })
        .collect();
    w.until(|| clients.iter().all(|c| c.poll().contains(PollMask::OUT)));
    let mut peers = Vec::new();
    for _ in 0..8 {
        let (s, peer) = l.accept().unwrap();
        assert_eq!(s.local_addr(), sa("127.0.0.1:8080"));
        assert_eq!(s.peer_addr(), Ok(peer));
        peers.push(peer);
    }
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    for c in &clients {
        assert_eq!(c.connect(Some(sa("127.0.0.1:8080"))), Ok(()));
        assert!(peers.contains(&c.local_addr()));
        assert_eq!(c.peer_addr(), Ok(sa("127.0.0.1:8080")));
    }
}

/// A listener whose backlog is full drops new SYNs (Linux does): the
/// client keeps trying and gets in once the program accepts.
#[test]
fn tcp_over_a_static_ipv6_address() {
    let mut w = World::pair_with(Some([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0]));
    let (a, b) = (w.net(0), w.net(1));
    let l = listener(&b, "[2001:db8::2]:80", 4);
    let c = connect(&mut w, &a, "[2001:db8::2]:80");
    let (s, peer) = accept(&mut w, &l);
    assert_eq!(peer.ip(), sa("[2001:db8::1]:1").ip());
    send_all(&mut w, &c, b"over v6", || {});
    let mut got = Vec::new();
    w.until(|| {
        let _ = recv_some(&s, &mut got);
        got.len() == 7
    });
    assert_eq!(got, b"over v6");
}

fn full_backlog_drops_syns_until_accepted(mut w: World, client: usize, server: usize, at: &str) {
    let (cnet, snet) = (w.net(client), w.net(server));
    let l = listener(&snet, at, 2);
    let a = connect(&mut w, &cnet, at);
    let b = connect(&mut w, &cnet, at);
    let c = tcp(&cnet, Domain::Inet);
    assert_eq!(c.connect(Some(sa(at))), Err(Errno::EINPROGRESS));
    w.steps(2000);
    assert_eq!(c.poll(), PollMask::empty(), "still trying, not refused");
    assert_eq!(c.option(SockOptName::Error), Ok(SockOpt::Error(None)));
    assert!(l.accept().is_ok());
    w.until(|| c.poll().contains(PollMask::OUT));
    assert_eq!(c.connect(Some(sa(at))), Ok(()));
    assert!(l.accept().is_ok());
    // A port nobody listens on is still refused at once.
    let d = tcp(&cnet, Domain::Inet);
    let closed = at.replace(":81", ":82");
    assert_eq!(d.connect(Some(sa(&closed))), Err(Errno::EINPROGRESS));
    w.until(|| !d.poll().is_empty());
    assert_eq!(
        d.option(SockOptName::Error),
        Ok(SockOpt::Error(Some(Errno::ECONNREFUSED)))
    );
    drop((a, b));
}

#[test]
fn full_backlog_drops_syns_on_loopback() {
    full_backlog_drops_syns_until_accepted(World::lo(), 0, 0, "127.0.0.1:81");
}

#[test]
fn full_backlog_drops_syns_on_ethernet() {
    full_backlog_drops_syns_until_accepted(World::pair(), 0, 1, "10.0.0.2:81");
}

#[test]
fn data_both_ways_with_partial_writes() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9000", 4);
    let c = connect(&mut w, &net, "127.0.0.1:9000");
    let (s, _) = accept(&mut w, &l);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

    // More than the send buffer: writes are partial, then EAGAIN.
    let first = c.send(&data, NONE).unwrap();
    assert!(first < data.len());
    assert_eq!(c.send(&data[first..], NONE), Err(Errno::EAGAIN));
    assert!(!c.poll().contains(PollMask::OUT));

    let mut got = Vec::new();
    let got_ref = RefCell::new(&mut got);
    let drain = || recv_while(&s, &mut got_ref.borrow_mut(), |r| r.is_ok());
    let mut off = first;
    let mut tries = 0;
    while off < data.len() {
        tries += 1;
        assert!(
            tries <= MAX_STEPS,
            "send: {off} of {} bytes sent after {MAX_STEPS} tries",
            data.len()
        );
        match c.send(&data[off..], NONE) {
            Ok(n) => off += n,
            Err(Errno::EAGAIN) => {
                drain();
                w.step();
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    w.until(|| {
        drain();
        got_ref.borrow().len() == data.len()
    });
    assert_eq!(got, data);

    // And back, with a peek first.
    send_all(&mut w, &s, b"pong", || {});
    w.until(|| c.poll().contains(PollMask::IN));
    assert_eq!(c.readable_bytes(), 4);
    let mut buf = [0u8; 16];
    assert_eq!(c.recv(&mut buf, MsgFlags::PEEK), Ok(4));
    assert_eq!(c.recv(&mut buf[..2], NONE), Ok(2));
    assert_eq!(&buf[..2], b"po");
    assert_eq!(c.recv(&mut buf, NONE), Ok(2));
    assert_eq!(&buf[..2], b"ng");
    assert_eq!(c.recv(&mut buf, NONE), Err(Errno::EAGAIN));
}

#[test]
fn eof_and_shutdown() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9001", 4);
    let c = connect(&mut w, &net, "127.0.0.1:9001");
    let (s, _) = accept(&mut w, &l);
    assert_eq!(c.send(b"req", NONE), Ok(3));
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.send(b"x", NONE), Err(Errno::EPIPE));
    w.until(|| s.poll().contains(PollMask::RDHUP));
    assert!(s.poll().contains(PollMask::IN | PollMask::OUT));
    assert!(!s.poll().contains(PollMask::HUP));
    let mut buf = [0u8; 8];
    assert_eq!(s.recv(&mut buf, NONE), Ok(3));
    assert_eq!(s.recv(&mut buf, NONE), Ok(0));
    // The other half still works.
    assert_eq!(s.send(b"resp", NONE), Ok(4));
    w.until(|| c.poll().contains(PollMask::IN));
    assert_eq!(c.recv(&mut buf, NONE), Ok(4));
    assert_eq!(c.recv(&mut buf, NONE), Err(Errno::EAGAIN));
    drop(s);
    w.until(|| c.poll().contains(PollMask::HUP));
    assert!(c.poll().contains(PollMask::IN | PollMask::RDHUP));
    assert!(!c.poll().contains(PollMask::ERR));
    assert_eq!(c.recv(&mut buf, NONE), Ok(0));
    // shutdown(SHUT_RD) on a live connection reads EOF at once.
    let c2 = connect(&mut w, &net, "127.0.0.1:9001");
    let (_s2, _) = accept(&mut w, &l);
    c2.shutdown(Shutdown::Read).unwrap();
    assert_eq!(c2.recv(&mut buf, NONE), Ok(0));
    assert!(c2.poll().contains(PollMask::RDHUP));
    let fresh = tcp(&net, Domain::Inet);
    assert_eq!(fresh.shutdown(Shutdown::Both), Err(Errno::ENOTCONN));
    assert_eq!(fresh.recv(&mut buf, NONE), Err(Errno::ENOTCONN));
    assert_eq!(fresh.send(b"x", NONE), Err(Errno::EPIPE));
    assert_eq!(fresh.peer_addr(), Err(Errno::ENOTCONN));
    assert_eq!(
        fresh.poll(),
        PollMask::OUT | PollMask::WRNORM | PollMask::HUP
    );
}

#[test]
fn linger_zero_resets() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9002", 4);
    let c = connect(&mut w, &net, "127.0.0.1:9002");
    let (s, _) = accept(&mut w, &l);
    s.set_option(SockOpt::Linger(Some(0))).unwrap();
    assert_eq!(s.option(SockOptName::Linger), Ok(SockOpt::Linger(Some(0))));
    drop(s);
    w.until(|| c.poll().contains(PollMask::ERR));
    assert!(c
        .poll()
        .contains(PollMask::HUP | PollMask::IN | PollMask::OUT));
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf, NONE), Err(Errno::ECONNRESET));
    assert_eq!(c.recv(&mut buf, NONE), Ok(0));
    assert_eq!(c.send(b"x", NONE), Err(Errno::EPIPE));
}

#[test]
fn close_with_unread_data_resets() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9003", 4);
    let c = connect(&mut w, &net, "127.0.0.1:9003");
    let (s, _) = accept(&mut w, &l);
    c.send(b"unread", NONE).unwrap();
    w.until(|| s.poll().contains(PollMask::IN));
    drop(s);
    w.until(|| c.poll().contains(PollMask::ERR));
    assert_eq!(
        c.option(SockOptName::Error),
        Ok(SockOpt::Error(Some(Errno::ECONNRESET)))
    );
    assert_eq!(c.option(SockOptName::Error), Ok(SockOpt::Error(None)));
}

#[test]
fn nonblocking_connect_to_closed_port_is_refused() {
    let mut w = World::lo();
    let net = w.net(0);
    let c = tcp(&net, Domain::Inet);
    assert_eq!(c.connect(Some(sa("127.0.0.1:1"))), Err(Errno::EINPROGRESS));
    assert_eq!(c.poll(), PollMask::empty());
    w.until(|| c.poll().contains(PollMask::OUT));
    assert!(c.poll().contains(PollMask::ERR | PollMask::HUP));
    assert_eq!(
        c.option(SockOptName::Error),
        Ok(SockOpt::Error(Some(Errno::ECONNREFUSED)))
    );
    assert_eq!(c.option(SockOptName::Error), Ok(SockOpt::Error(None)));
    assert!(!c.poll().contains(PollMask::ERR));
    // As Linux: the next connect reports the failure (ECONNABORTED once
    // SO_ERROR was read), after which the socket may connect again.
    assert_eq!(c.connect(Some(sa("127.0.0.1:1"))), Err(Errno::ECONNABORTED));
    let l = listener(&net, "127.0.0.1:1", 1);
    assert_eq!(c.connect(Some(sa("127.0.0.1:1"))), Err(Errno::EINPROGRESS));
    w.until(|| c.poll().contains(PollMask::OUT));
    assert_eq!(c.connect(Some(sa("127.0.0.1:1"))), Ok(()));
    drop(l);
    // A blocking connect re-issued after the wake returns the error itself.
    let d = tcp(&net, Domain::Inet);
    assert_eq!(d.connect(Some(sa("127.0.0.1:2"))), Err(Errno::EINPROGRESS));
    w.until(|| d.poll().contains(PollMask::OUT));
    assert_eq!(d.connect(Some(sa("127.0.0.1:2"))), Err(Errno::ECONNREFUSED));
}

#[test]
fn udp_echo_with_truncation_and_peek() {
    let mut w = World::lo();
    let net = w.net(0);
    let server = UdpSocket::new(&net, Domain::Inet);
    server.bind(sa("127.0.0.1:5353")).unwrap();
    let client = UdpSocket::new(&net, Domain::Inet);
    assert_eq!(client.send_to(b"x", NONE, None), Err(Errno::EDESTADDRREQ));
    let msg: Vec<u8> = (0..100).collect();
    assert_eq!(
        client.send_to(&msg, NONE, Some(sa("127.0.0.1:5353"))),
        Ok(100)
    );
    assert_eq!(
        client.send_to(b"second", NONE, Some(sa("127.0.0.1:5353"))),
        Ok(6)
    );
    let caddr = client.local_addr();
    assert_eq!(caddr.ip(), sa("0.0.0.0:0").ip());
    assert_ne!(caddr.port(), 0);
    w.until(|| server.poll().contains(PollMask::IN));
    assert_eq!(server.readable_bytes(), 100);
    let mut buf = [0u8; 10];
    let r = server.recv_from(&mut buf, MsgFlags::PEEK).unwrap();
    assert_eq!((r.len, r.full_len), (10, 100));
    let r = server.recv_from(&mut buf, NONE).unwrap();
    assert!(r.truncated());
    assert_eq!(r.ret(MsgFlags::TRUNC), 100);
    assert_eq!(&buf[..], &msg[..10]);
    let Some(SockAddr::Inet(from)) = r.from else {
        panic!()
    };
    assert_eq!(from, sa(&format!("127.0.0.1:{}", caddr.port())));
    // The rest of the cut datagram is gone; the next one is whole.
    let mut big = [0u8; 64];
    let r = server.recv_from(&mut big, NONE).unwrap();
    assert_eq!(&big[..r.len], b"second");
    assert_eq!(server.recv_from(&mut big, NONE).err(), Some(Errno::EAGAIN));
    // Echo.
    assert_eq!(server.send_to(b"echo", NONE, Some(from)), Ok(4));
    w.until(|| client.poll().contains(PollMask::IN));
    let r = client.recv_from(&mut big, NONE).unwrap();
    assert_eq!(&big[..r.len], b"echo");
    assert_eq!(r.from, Some(SockAddr::Inet(sa("127.0.0.1:5353"))));
}

#[test]
fn udp_datagrams_tell_their_destination_and_interface() {
    let mut w = World::pair();
    let (a, b) = (w.net(0), w.net(1));
    let server = UdpSocket::new(&a, Domain::Inet6);
    server.bind(sa("[::]:53")).unwrap();
    let client = UdpSocket::new(&b, Domain::Inet);
    client.send_to(b"q", NONE, Some(sa("10.0.0.1:53"))).unwrap();
    w.until(|| server.poll().contains(PollMask::IN));
    let mut buf = [0u8; 8];
    let r = server.recv_from(&mut buf, NONE).unwrap();
    assert_eq!(r.dst, Some((sa("10.0.0.1:0").ip(), 2)), "eth0");
    // From the machine itself: over lo.
    let own = UdpSocket::new(&a, Domain::Inet6);
    own.send_to(b"q", NONE, Some(sa("[::1]:53"))).unwrap();
    w.until(|| server.poll().contains(PollMask::IN));
    let r = server.recv_from(&mut buf, NONE).unwrap();
    assert_eq!(r.dst, Some((sa("[::1]:0").ip(), 1)), "lo");
}

#[test]
fn udp_connect_filters_peers() {
    let mut w = World::lo();
    let net = w.net(0);
    let a = UdpSocket::new(&net, Domain::Inet);
    a.bind(sa("127.0.0.1:7000")).unwrap();
    let b = UdpSocket::new(&net, Domain::Inet);
    b.bind(sa("127.0.0.1:7001")).unwrap();
    let stranger = UdpSocket::new(&net, Domain::Inet);
    a.connect(Some(sa("127.0.0.1:7001"))).unwrap();
    assert_eq!(a.peer_addr(), Ok(sa("127.0.0.1:7001")));
    stranger
        .send_to(b"no", NONE, Some(sa("127.0.0.1:7000")))
        .unwrap();
    b.send_to(b"yes", NONE, Some(sa("127.0.0.1:7000"))).unwrap();
    w.until(|| a.poll().contains(PollMask::IN));
    let mut buf = [0u8; 8];
    let r = a.recv_from(&mut buf, NONE).unwrap();
    assert_eq!(&buf[..r.len], b"yes");
    assert_eq!(a.recv_from(&mut buf, NONE).err(), Some(Errno::EAGAIN));
    assert_eq!(a.send_to(b"hi", NONE, None), Ok(2));
    w.until(|| b.poll().contains(PollMask::IN));
    a.connect(None).unwrap();
    assert_eq!(a.peer_addr(), Err(Errno::ENOTCONN));
    assert_eq!(a.send_to(b"hi", NONE, None), Err(Errno::EDESTADDRREQ));
}

#[test]
fn bind_conflicts_follow_linux() {
    let w = World::lo();
    let net = w.net(0);
    let a = tcp(&net, Domain::Inet);
    a.bind(sa("0.0.0.0:6000")).unwrap();
    assert_eq!(a.bind(sa("0.0.0.0:6001")), Err(Errno::EINVAL));
    let b = tcp(&net, Domain::Inet);
    assert_eq!(b.bind(sa("127.0.0.1:6000")), Err(Errno::EADDRINUSE));
    assert_eq!(b.bind(sa("10.9.9.9:6000")), Err(Errno::EADDRNOTAVAIL));
    // SO_REUSEADDR on both: shared until one listens.
    let c = tcp(&net, Domain::Inet);
    let d = tcp(&net, Domain::Inet);
    c.set_option(SockOpt::ReuseAddr(true)).unwrap();
    d.set_option(SockOpt::ReuseAddr(true)).unwrap();
    c.bind(sa("127.0.0.1:6002")).unwrap();
    d.bind(sa("127.0.0.1:6002")).unwrap();
    c.listen(4).unwrap();
    assert_eq!(d.listen(4), Err(Errno::EADDRINUSE));
    // SO_REUSEPORT on both: two listeners.
    let e = tcp(&net, Domain::Inet);
    let f = tcp(&net, Domain::Inet);
    e.set_option(SockOpt::ReusePort(true)).unwrap();
    f.set_option(SockOpt::ReusePort(true)).unwrap();
    e.bind(sa("127.0.0.1:6003")).unwrap();
    f.bind(sa("127.0.0.1:6003")).unwrap();
    e.listen(4).unwrap();
    f.listen(4).unwrap();
    // Dual stack: [::] covers 0.0.0.0 unless IPV6_V6ONLY.
    let g = tcp(&net, Domain::Inet6);
    assert_eq!(g.bind(sa("[::]:6000")), Err(Errno::EADDRINUSE));
    let h = tcp(&net, Domain::Inet6);
    h.set_option(SockOpt::V6Only(true)).unwrap();
    h.bind(sa("[::]:6000")).unwrap();
    assert_eq!(h.set_option(SockOpt::V6Only(false)), Err(Errno::EINVAL));
    // Port 0: an ephemeral port; closing frees the port.
    let i = tcp(&net, Domain::Inet);
    i.bind(sa("127.0.0.1:0")).unwrap();
    assert!(i.local_addr().port() >= 32768);
    drop(a);
    tcp(&net, Domain::Inet).bind(sa("127.0.0.1:6000")).unwrap();
    // UDP has its own ports.
    let u = UdpSocket::new(&net, Domain::Inet);
    u.bind(sa("127.0.0.1:6003")).unwrap();
    let u2 = UdpSocket::new(&net, Domain::Inet);
    assert_eq!(u2.bind(sa("0.0.0.0:6003")), Err(Errno::EADDRINUSE));
}

#[test]
fn v6_listener_accepts_v4_and_v6_loopback() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "[::]:8000", 8);
    let c4 = connect(&mut w, &net, "127.0.0.1:8000");
    let (s4, peer4) = accept(&mut w, &l);
    assert_eq!(
        peer4,
        sa(&format!("[::ffff:127.0.0.1]:{}", c4.local_addr().port()))
    );
    assert_eq!(s4.local_addr(), sa("[::ffff:127.0.0.1]:8000"));
    let c6 = connect(&mut w, &net, "[::1]:8000");
    let (s6, peer6) = accept(&mut w, &l);
    assert_eq!(peer6, c6.local_addr());
    assert_eq!(s6.local_addr(), sa("[::1]:8000"));
    assert_eq!(c6.send(b"six", NONE), Ok(3));
    w.until(|| s6.poll().contains(PollMask::IN));
    // A v6-only listener turns IPv4 away.
    let only = tcp(&net, Domain::Inet6);
    only.set_option(SockOpt::V6Only(true)).unwrap();
    only.bind(sa("[::]:8001")).unwrap();
    only.listen(4).unwrap();
    let c = tcp(&net, Domain::Inet);
    assert_eq!(
        c.connect(Some(sa("127.0.0.1:8001"))),
        Err(Errno::EINPROGRESS)
    );
    w.steps(20);
    assert_eq!(only.accept().err(), Some(Errno::EAGAIN));
    // An AF_INET6 socket reaches IPv4 through a mapped address.
    let m = tcp(&net, Domain::Inet6);
    let l4 = listener(&net, "127.0.0.1:8002", 2);
    assert_eq!(
        m.connect(Some(sa("[::ffff:127.0.0.1]:8002"))),
        Err(Errno::EINPROGRESS)
    );
    w.until(|| m.poll().contains(PollMask::OUT));
    assert_eq!(m.connect(Some(sa("[::ffff:127.0.0.1]:8002"))), Ok(()));
    assert_eq!(m.peer_addr(), Ok(sa("[::ffff:127.0.0.1]:8002")));
    let _ = accept(&mut w, &l4);
}

#[test]
fn many_connections_are_cleaned_up() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:8080", 16);
    w.step();
    let base_sockets = net.stack().smol_sockets();
    let base_ports = net.stack().ports_held();
    for round in 0..50 {
        let clients: Vec<TcpSocket> = (0..10)
            .map(|_| {
                let c = tcp(&net, Domain::Inet);
                let _ = c.connect(Some(sa("127.0.0.1:8080")));
                c
            })
            .collect();
        w.until(|| clients.iter().all(|c| c.poll().contains(PollMask::OUT)));
        let mut servers = Vec::new();
        while let Ok((s, _)) = l.accept() {
            servers.push(s);
            assert!(
                servers.len() <= 1000,
                "round {round}: accept never runs dry"
            );
        }
        assert_eq!(servers.len(), 10, "round {round}");
        // Half close from the client side, half from the server side.
        for (i, c) in clients.into_iter().enumerate() {
            if i % 2 == 0 {
                drop(c);
            } else {
                drop(servers.pop());
                drop(c);
            }
        }
        drop(servers);
        w.steps(5);
    }
    w.steps(200);
    assert_eq!(net.stack().smol_sockets(), base_sockets);
    assert_eq!(net.stack().ports_held(), base_ports);
    // The listener still serves.
    let c = connect(&mut w, &net, "127.0.0.1:8080");
    let (s, _) = accept(&mut w, &l);
    c.send(b"ok", NONE).unwrap();
    w.until(|| s.poll().contains(PollMask::IN));
}

#[test]
fn changed_reports_only_affected_sockets() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9100", 4);
    let c = connect(&mut w, &net, "127.0.0.1:9100");
    let (s, _) = accept(&mut w, &l);
    let idle = connect(&mut w, &net, "127.0.0.1:9100");
    let (_idle_s, _) = accept(&mut w, &l);
    w.steps(50);
    net.take_changed();
    c.send(b"ping", NONE).unwrap();
    let mut seen = Vec::new();
    w.until(|| {
        seen.extend(net.take_changed());
        s.poll().contains(PollMask::IN)
    });
    seen.extend(net.take_changed());
    assert!(seen.contains(&s.key()));
    assert!(!seen.contains(&idle.key()));
    assert!(!seen.contains(&l.key()));
}

#[test]
fn poll_returns_a_deadline() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = listener(&net, "127.0.0.1:9200", 4);
    let _c = connect(&mut w, &net, "127.0.0.1:9200");
    let (s, _) = accept(&mut w, &l);
    w.steps(100);
    // Idle connections need no poll; data to send does.
    assert!(!net.stack().needs_poll());
    s.send(b"x", NONE).unwrap();
    assert!(net.stack().needs_poll());
    let next = net.poll(w.now, None);
    assert!(next.is_some());
}

#[test]
fn static_config_and_ethernet_between_two_machines() {
    let mut w = World::pair();
    let (a, b) = (w.net(0), w.net(1));
    {
        let mut st = a.stack();
        assert!(st.configured());
        assert_eq!(st.ipv4(), Some(("10.0.0.1".parse().unwrap(), 24)));
        assert_eq!(st.gateway(), Some("10.0.0.254".parse().unwrap()));
        assert_eq!(
            st.nameservers(),
            &["10.0.0.53".parse::<core::net::IpAddr>().unwrap()]
        );
        let ev = st.take_events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].describe(), "net: 10.0.0.1/24 via 10.0.0.254 (static)");
    }
    let l = listener(&a, "[::]:80", 8);
    let c = connect(&mut w, &b, "10.0.0.1:80");
    assert_eq!(c.local_addr().ip(), sa("10.0.0.2:0").ip());
    let (s, peer) = accept(&mut w, &l);
    assert_eq!(
        peer,
        sa(&format!("[::ffff:10.0.0.2]:{}", c.local_addr().port()))
    );
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let mut got = Vec::new();
    let mut off = 0;
    let mut steps = 0;
    while got.len() < data.len() {
        steps += 1;
        assert!(
            steps <= MAX_STEPS,
            "{} of {} bytes received ({off} sent) after {MAX_STEPS} steps",
            got.len(),
            data.len()
        );
        if off < data.len() {
            if let Ok(n) = c.send(&data[off..], NONE) {
                off += n;
            }
        }
        recv_while(&s, &mut got, |r| r.as_ref().is_ok_and(|&n| n > 0));
        w.step();
    }
    assert_eq!(got, data);
    // IPv6 link-local between the machines.
    let ll = a.stack().ipv6_link_local();
    let c6 = connect(&mut w, &b, &format!("[{ll}]:80"));
    let (_s6, peer6) = accept(&mut w, &l);
    assert_eq!(
        peer6.ip(),
        core::net::IpAddr::V6(b.stack().ipv6_link_local())
    );
    drop(c6);
    // The machine's own address goes over loopback.
    let own = connect(&mut w, &a, "10.0.0.1:80");
    let (_so, peer) = accept(&mut w, &l);
    assert_eq!(
        peer,
        sa(&format!("[::ffff:10.0.0.1]:{}", own.local_addr().port()))
    );
    // UDP across, and a datagram too big for one frame.
    let u = UdpSocket::new(&a, Domain::Inet);
    u.bind(sa("0.0.0.0:53")).unwrap();
    let q = UdpSocket::new(&b, Domain::Inet6);
    assert_eq!(
        q.send_to(b"query", NONE, Some(sa("[::ffff:10.0.0.1]:53"))),
        Ok(5)
    );
    assert_eq!(
        q.send_to(&[0; 2000], NONE, Some(sa("[::ffff:10.0.0.1]:53"))),
        Err(Errno::EMSGSIZE)
    );
    w.until(|| u.poll().contains(PollMask::IN));
    let mut buf = [0u8; 16];
    let r = u.recv_from(&mut buf, NONE).unwrap();
    assert_eq!(&buf[..r.len], b"query");
    // Unreachable without a route: nothing outside 10.0.0.0/24 but the gateway.
    let far = tcp(&b, Domain::Inet);
    assert_eq!(
        far.connect(Some(sa("192.0.2.1:80"))),
        Err(Errno::EINPROGRESS)
    );
}

#[test]
fn no_device_means_no_external_network() {
    let w = World::lo();
    let net = w.net(0);
    assert!(!net.stack().configured());
    let c = tcp(&net, Domain::Inet);
    assert_eq!(c.connect(Some(sa("192.0.2.1:80"))), Err(Errno::ENETUNREACH));
    let u = UdpSocket::new(&net, Domain::Inet);
    assert_eq!(
        u.send_to(b"x", NONE, Some(sa("192.0.2.1:53"))),
        Err(Errno::ENETUNREACH)
    );
}

#[test]
fn unix_stream_pair_and_eof() {
    let w = World::lo();
    let net = w.net(0);
    let (a, b) = socketpair(&net, SockType::Stream);
    assert_eq!(a.send_to(b"hello", NONE, None), Ok(5));
    assert_eq!(b.poll(), PollMask::READABLE | PollMask::WRITABLE);
    assert!(net.take_changed().contains(&b.key()));
    let mut buf = [0u8; 3];
    assert_eq!(b.recv_from(&mut buf, MsgFlags::PEEK).unwrap().len, 3);
    assert_eq!(b.recv_from(&mut buf, NONE).unwrap().len, 3);
    assert_eq!(&buf, b"hel");
    assert_eq!(b.readable_bytes(), 2);
    a.shutdown(Shutdown::Write).unwrap();
    assert!(b.poll().contains(PollMask::RDHUP));
    assert_eq!(b.recv_from(&mut buf, NONE).unwrap().len, 2);
    assert_eq!(b.recv_from(&mut buf, NONE).unwrap().len, 0);
    assert_eq!(b.send_to(b"back", NONE, None), Ok(4));
    drop(a);
    assert!(b.poll().contains(PollMask::HUP));
    assert_eq!(b.send_to(b"x", NONE, None), Err(Errno::EPIPE));
    // A full buffer takes part of a write, then EAGAIN.
    let (c, d) = socketpair(&net, SockType::Stream);
    let big = vec![1u8; 200 * 1024];
    let n = c.send_to(&big, NONE, None).unwrap();
    assert!(n < big.len());
    assert_eq!(c.send_to(&big, NONE, None), Err(Errno::EAGAIN));
    assert!(!c.poll().contains(PollMask::OUT));
    let mut sink = vec![0u8; 4096];
    d.recv_from(&mut sink, NONE).unwrap();
    assert!(c.poll().contains(PollMask::OUT));
}

#[test]
fn unix_listen_connect_accept() {
    let w = World::lo();
    let net = w.net(0);
    let l = UnixSocket::new(&net, SockType::Stream);
    let path = UnixAddr::Path(b"/tmp/sock".to_vec());
    let c = UnixSocket::new(&net, SockType::Stream);
    assert_eq!(c.connect(&path), Err(Errno::ENOENT));
    l.bind(path.clone()).unwrap();
    assert_eq!(
        UnixSocket::new(&net, SockType::Stream).bind(path.clone()),
        Err(Errno::EADDRINUSE)
    );
    assert_eq!(c.connect(&path), Err(Errno::ECONNREFUSED));
    l.listen(1).unwrap();
    assert_eq!(c.connect(&path), Ok(()));
    assert_eq!(c.connect(&path), Err(Errno::EISCONN));
    let c2 = UnixSocket::new(&net, SockType::Stream);
    assert_eq!(
        c2.connect(&path),
        Err(Errno::EAGAIN),
        "backlog of one is full"
    );
    assert_eq!(l.poll(), PollMask::READABLE);
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, UnixAddr::Unnamed);
    assert_eq!(s.local_addr(), path);
    assert_eq!(c.peer_addr(), Ok(path.clone()));
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    c.send_to(b"hi", NONE, None).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(s.recv_from(&mut buf, NONE).unwrap().len, 2);
    // The name goes with the socket.
    drop(l);
    assert_eq!(c2.connect(&path), Err(Errno::ENOENT));
    // Autobind picks an abstract name.
    let a = UnixSocket::new(&net, SockType::Dgram);
    a.bind(UnixAddr::Unnamed).unwrap();
    assert!(matches!(a.local_addr(), UnixAddr::Abstract(_)));
}

#[test]
fn unix_datagrams_keep_boundaries() {
    let w = World::lo();
    let net = w.net(0);
    let srv = UnixSocket::new(&net, SockType::Dgram);
    let name = UnixAddr::Abstract(b"dns".to_vec());
    srv.bind(name.clone()).unwrap();
    let cli = UnixSocket::new(&net, SockType::Dgram);
    cli.bind(UnixAddr::Abstract(b"cli".to_vec())).unwrap();
    assert_eq!(cli.send_to(b"x", NONE, None), Err(Errno::ENOTCONN));
    assert_eq!(cli.send_to(b"first-long", NONE, Some(&name)), Ok(10));
    assert_eq!(cli.send_to(b"2nd", NONE, Some(&name)), Ok(3));
    let mut buf = [0u8; 5];
    let r = srv.recv_from(&mut buf, NONE).unwrap();
    assert_eq!((r.len, r.full_len), (5, 10));
    assert_eq!(
        r.from,
        Some(SockAddr::Unix(UnixAddr::Abstract(b"cli".to_vec())))
    );
    let r = srv.recv_from(&mut buf, NONE).unwrap();
    assert_eq!(&buf[..r.len], b"2nd");
    assert_eq!(srv.recv_from(&mut buf, NONE).err(), Some(Errno::EAGAIN));
    // A connected datagram socket takes only its peer's datagrams.
    srv.connect(&UnixAddr::Abstract(b"cli".to_vec())).unwrap();
    let other = UnixSocket::new(&net, SockType::Dgram);
    assert_eq!(other.send_to(b"x", NONE, Some(&name)), Err(Errno::EPERM));
    let (p, q) = socketpair(&net, SockType::Dgram);
    p.send_to(b"a", NONE, None).unwrap();
    p.send_to(b"bc", NONE, None).unwrap();
    assert_eq!(q.readable_bytes(), 1);
    let mut b2 = [0u8; 8];
    assert_eq!(q.recv_from(&mut b2, NONE).unwrap().len, 1);
    assert_eq!(q.recv_from(&mut b2, NONE).unwrap().len, 2);
}

#[test]
fn generic_socket_api_over_bytes() {
    let mut w = World::lo();
    let net = w.net(0);
    let l = socket(&net, 10, SOCK_STREAM, 0).unwrap();
    let any6 = addr::encode(&SockAddr::Inet(sa("[::]:7777")));
    l.bind(&any6).unwrap();
    l.listen(4).unwrap();
    assert_eq!(l.local_addr(), SockAddr::Inet(sa("[::]:7777")));
    let c = socket(&net, 2, SOCK_STREAM, 0).unwrap();
    let to = addr::encode(&SockAddr::Inet(sa("127.0.0.1:7777")));
    assert_eq!(c.connect(&to), Err(Errno::EINPROGRESS));
    w.until(|| l.poll().contains(PollMask::IN));
    let (s, _peer) = l.accept().unwrap();
    assert_eq!(s.domain(), Domain::Inet6);
    assert_eq!(c.send(b"abc", NONE, None), Ok(3));
    w.until(|| s.poll().contains(PollMask::IN));
    let mut buf = [0u8; 8];
    assert_eq!(s.recv(&mut buf, NONE).unwrap().len, 3);
    assert_eq!(
        s.option(SockOptName::Type),
        Ok(SockOpt::Type(SockType::Stream))
    );
    s.set_option(SockOpt::NoDelay(true)).unwrap();
    assert_eq!(s.option(SockOptName::NoDelay), Ok(SockOpt::NoDelay(true)));
    assert_eq!(
        s.option(SockOptName::RcvBuf),
        Ok(SockOpt::RcvBuf(128 * 1024))
    );
    assert_eq!(c.option(SockOptName::V6Only), Err(Errno::ENOPROTOOPT));
    assert_eq!(l.option(SockOptName::V6Only), Ok(SockOpt::V6Only(false)));
    let u = socket(&net, 2, SOCK_DGRAM, 0).unwrap();
    assert_eq!(u.listen(1), Err(Errno::EOPNOTSUPP));
    assert_eq!(u.bind(&[2, 0]), Err(Errno::EINVAL));
}

/// A DHCP server of one lease: OFFER for DISCOVER, ACK for REQUEST.
fn fake_dhcp_server(frame: &[u8]) -> Option<Vec<u8>> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
    };
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if udp.dst_port() != 67 {
        return None;
    }
    let dhcp = DhcpPacket::new_checked(udp.payload()).ok()?;
    let req = DhcpRepr::parse(&dhcp).ok()?;
    let message_type = match req.message_type {
        DhcpMessageType::Discover => DhcpMessageType::Offer,
        DhcpMessageType::Request => DhcpMessageType::Ack,
        _ => return None,
    };
    let server = Ipv4Address::new(10, 0, 2, 2);
    // Name servers go as a raw option 6.
    let dns = [smoltcp::wire::DhcpOption {
        kind: 6,
        data: &[10, 0, 2, 3],
    }];
    let reply = DhcpRepr {
        message_type,
        transaction_id: req.transaction_id,
        secs: 0,
        client_hardware_address: req.client_hardware_address,
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip: Ipv4Address::new(10, 0, 2, 15),
        server_ip: server,
        router: Some(server),
        subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(server),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(86400),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &dns,
    };
    let dhcp_len = reply.buffer_len();
    let mut out = vec![0u8; 14 + 20 + 8 + dhcp_len];
    let caps = ChecksumCapabilities::default();
    let mut eth = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 0x99]),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let dst = Ipv4Address::BROADCAST;
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    Ipv4Repr {
        src_addr: server,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: 8 + dhcp_len,
        hop_limit: 64,
    }
    .emit(&mut ip, &caps);
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    UdpRepr {
        src_port: 67,
        dst_port: 68,
    }
    .emit(
        &mut udp,
        &server.into(),
        &dst.into(),
        dhcp_len,
        |buf| reply.emit(&mut DhcpPacket::new_unchecked(buf)).unwrap(),
        &caps,
    );
    Some(out)
}

#[test]
fn dhcp_configures_the_interface() {
    let to_vm: Queue = Default::default();
    let from_vm: Queue = Default::default();
    let mut nic = FakeNic {
        mac: [2, 0, 0, 0, 0, 0x42],
        rx: to_vm.clone(),
        tx: from_vm.clone(),
        held: Vec::new(),
    };
    let net = NetStack::new(&NetConfig::default(), Some(&mut nic), 0, 5).into_shared();
    assert!(!net.stack().configured());
    let mut w = World {
        hosts: vec![(net.clone(), Some(nic))],
        now: 0,
    };
    w.until(|| {
        let frames: Vec<Vec<u8>> = from_vm.borrow_mut().drain(..).collect();
        for f in frames {
            if let Some(reply) = fake_dhcp_server(&f) {
                to_vm.borrow_mut().push_back(reply);
            }
        }
        net.stack().configured()
    });
    let mut st = net.stack();
    assert_eq!(st.ipv4(), Some(("10.0.2.15".parse().unwrap(), 24)));
    assert_eq!(st.gateway(), Some("10.0.2.2".parse().unwrap()));
    assert_eq!(
        st.nameservers(),
        &["10.0.2.3".parse::<core::net::IpAddr>().unwrap()]
    );
    let ev = st.take_events();
    assert_eq!(
        ev.last().unwrap().describe(),
        "net: 10.0.2.15/24 via 10.0.2.2 (dhcp)"
    );
    drop(st);
    // The leased address is the machine's own: bind works, and a
    // connection to it goes over loopback.
    let l = listener(&net, "10.0.2.15:80", 2);
    let c = connect(&mut w, &net, "10.0.2.15:80");
    let (_s, peer) = accept(&mut w, &l);
    assert_eq!(peer, c.local_addr());
}

#[test]
fn the_gateways_mac_is_asked_for_as_soon_as_an_address_is_set() {
    // smoltcp drops a packet whose next hop's MAC it does not know yet: a
    // SYN-ACK or RST to the gateway would be lost. An ARP request for the
    // gateway goes out with the first poll after configuration.
    use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol};
    let from_vm: Queue = Default::default();
    let mut nic = FakeNic {
        mac: [2, 0, 0, 0, 0, 0x43],
        rx: Default::default(),
        tx: from_vm.clone(),
        held: Vec::new(),
    };
    let cfg = NetConfig {
        ipv4: Some(([10, 0, 2, 15], 24)),
        gateway: Some([10, 0, 2, 2]),
        ipv6: None,
        nameservers: Vec::new(),
    };
    let net = NetStack::new(&cfg, Some(&mut nic), 0, 9).into_shared();
    net.poll(1_000, Some(&mut nic));
    let frames: Vec<Vec<u8>> = from_vm.borrow_mut().drain(..).collect();
    let asks = frames
        .iter()
        .filter_map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            (eth.ethertype() == EthernetProtocol::Arp).then_some(())?;
            ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()
        })
        .find(|a| {
            matches!(a, ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_protocol_addr,
                target_protocol_addr,
                ..
            } if source_protocol_addr.octets() == [10, 0, 2, 15]
                && target_protocol_addr.octets() == [10, 0, 2, 2])
        });
    assert!(asks.is_some(), "no ARP request for the gateway: {frames:?}");
    // Asked once: the next poll sends no second request.
    net.poll(2_000, Some(&mut nic));
    assert!(from_vm
        .borrow()
        .iter()
        .all(|f| f.get(12..14) != Some(&[8, 6][..])));
}

#[test]
fn only_gains_in_readiness_are_events() {
    use super::stack::Sig;
    use super::PollMask;
    let was = Sig {
        mask: PollMask::READABLE | PollMask::WRITABLE,
        rx: 100,
        tx: 50,
    };
    let with = |mask, rx, tx| Sig { mask, rx, tx };
    let rw = PollMask::READABLE | PollMask::WRITABLE;
    // The program read, or wrote: nothing new for anyone.
    assert!(!with(PollMask::WRITABLE, 0, 50).gains_on(&was));
    assert!(!with(rw, 40, 80).gains_on(&was));
    // Data came in, room was made, a bit was set: waiters must look.
    assert!(with(rw, 120, 50).gains_on(&was));
    assert!(with(rw, 100, 10).gains_on(&was));
    assert!(with(rw | PollMask::HUP, 0, 80).gains_on(&was));
}
