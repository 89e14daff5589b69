//! The network interfaces as programs see them at start-up: netlink
//! (NETLINK_ROUTE) dumps as glibc's getifaddrs and musl's if_nameindex
//! read them, and the SIOCGIF* ioctls.

use crate::process::{Flow, WaitFor};
use crate::testutil::*;
use alloc::string::String;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const READ: u64 = 0;
const WRITE: u64 = 1;
const CLOSE: u64 = 3;
const IOCTL: u64 = 16;
const SOCKET: u64 = 41;
const SENDTO: u64 = 44;
const RECVFROM: u64 = 45;
const SENDMSG: u64 = 46;
const RECVMSG: u64 = 47;
const BIND: u64 = 49;
const GETSOCKNAME: u64 = 51;
const GETPEERNAME: u64 = 52;
const SETSOCKOPT: u64 = 54;
const GETSOCKOPT: u64 = 55;
const EPOLL_WAIT: u64 = 232;
const EPOLL_CTL: u64 = 233;
const EPOLL_CREATE1: u64 = 291;

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
const DGRAM: u64 = 2;
const RAW: u64 = 3;
const NONBLOCK: u64 = 0o4000;
const CLOEXEC: u64 = 0o2000000;
const MSG_PEEK: u64 = 2;
const MSG_TRUNC: u64 = 0x20;
const MSG_DONTWAIT: u64 = 0x40;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const F_REQUEST: u16 = 1;
const F_MULTI: u16 = 2;
const F_ACK: u16 = 4;
const F_DUMP: u16 = 0x300;

const ADDR: u64 = SCRATCH + 0x100;
const LEN: u64 = SCRATCH + 0x400;
const MSG: u64 = SCRATCH + 0x500;
const IOV: u64 = SCRATCH + 0x600;
const REQ: u64 = SCRATCH + 0x800;
const BUF: u64 = SCRATCH + 0x1000;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/// Boot with a network device: a static 10.0.2.15/24 via 10.0.2.2, or
/// DHCP (no address yet) with `None`.
fn boot(ipv4: Option<([u8; 4], u8)>) -> Booted {
    let elf = ElfBuilder::exec().build();
    let mut m = manifest(&["prog"], &[]);
    m.net = kiln_image::NetConfig {
        ipv4,
        gateway: ipv4.map(|_| [10, 0, 2, 2]),
        ipv6: None,
        nameservers: Vec::new(),
    };
    let img = image(&[Node::File("/bin/prog", &elf), Node::Dir("/srv")], &m);
    let mut fake = Fake::new(img);
    fake.nic = Some(FakeNic::default());
    let (proc, ctx) = crate::Process::boot(&mut fake).unwrap();
    let mut b = Booted { fake, proc, ctx };
    b.scratch(8);
    b
}

fn sockaddr_nl(pid: u32, groups: u32) -> Vec<u8> {
    let mut v = vec![16, 0, 0, 0];
    v.extend_from_slice(&pid.to_ne_bytes());
    v.extend_from_slice(&groups.to_ne_bytes());
    v
}

/// A request as glibc's getifaddrs sends it: header and rtgenmsg (padded).
fn request(ty: u16, flags: u16, seq: u32, family: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&20u32.to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(&[family, 0, 0, 0]);
    v
}

/// One parsed netlink message: header fields and body.
#[derive(Debug)]
struct Nl {
    ty: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    body: Vec<u8>,
}

fn parse(mut d: &[u8]) -> Vec<Nl> {
    let mut v = Vec::new();
    while d.len() >= 16 {
        let len = u32::from_ne_bytes(d[..4].try_into().unwrap()) as usize;
        assert!(len >= 16 && len <= d.len(), "bad message length {len}");
        v.push(Nl {
            ty: u16::from_ne_bytes([d[4], d[5]]),
            flags: u16::from_ne_bytes([d[6], d[7]]),
            seq: u32::from_ne_bytes(d[8..12].try_into().unwrap()),
            pid: u32::from_ne_bytes(d[12..16].try_into().unwrap()),
            body: d[16..len].to_vec(),
        });
        d = &d[((len + 3) & !3).min(d.len())..];
    }
    v
}

/// Attributes after a fixed part of `skip` bytes.
fn rtattrs(body: &[u8], skip: usize) -> Vec<(u16, Vec<u8>)> {
    let mut v = Vec::new();
    let mut b = &body[skip..];
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        v.push((u16::from_ne_bytes([b[2], b[3]]), b[4..len].to_vec()));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    v
}

fn attr(a: &[(u16, Vec<u8>)], ty: u16) -> Option<Vec<u8>> {
    a.iter().find(|x| x.0 == ty).map(|x| x.1.clone())
}

impl Booted {
    fn nl_socket(&mut self) -> u64 {
        let fd = self.sys(SOCKET, &[AF_NETLINK, RAW | CLOEXEC, 0]);
        assert!(fd >= 0, "socket: {fd}");
        fd as u64
    }

    fn send_req(&mut self, fd: u64, req: &[u8]) -> i64 {
        self.poke(REQ, req);
        let a = sockaddr_nl(0, 0);
        self.poke(ADDR, &a);
        self.sys(SENDTO, &[fd, REQ, req.len() as u64, 0, ADDR, 12])
    }

    /// recvmsg into a buffer of `size` bytes with a sockaddr_nl name:
    /// (result, bytes, msg_flags, source address).
    fn recv_msg(&mut self, fd: u64, size: u64, flags: u64) -> (i64, Vec<u8>, u32, Vec<u8>) {
        self.poke(IOV, &BUF.to_le_bytes());
        self.poke(IOV + 8, &size.to_le_bytes());
        self.poke(ADDR, &[0xaa; 12]);
        let mut hdr = vec![0u8; 56];
        hdr[..8].copy_from_slice(&ADDR.to_le_bytes());
        hdr[8..12].copy_from_slice(&12u32.to_le_bytes());
        hdr[16..24].copy_from_slice(&IOV.to_le_bytes());
        hdr[24..32].copy_from_slice(&1u64.to_le_bytes());
        self.poke(MSG, &hdr);
        let r = self.sys(RECVMSG, &[fd, MSG, flags]);
        if r < 0 {
            return (r, Vec::new(), 0, Vec::new());
        }
        let got = self.peek(BUF, (r as u64).min(size) as usize);
        let mflags = u32::from_le_bytes(self.peek(MSG + 48, 4).try_into().unwrap());
        let namelen = u32::from_le_bytes(self.peek(MSG + 8, 4).try_into().unwrap());
        let name = self.peek(ADDR, namelen as usize);
        (r, got, mflags, name)
    }

    /// What glibc's `__netlink_request` does: send, then receive until
    /// NLMSG_DONE, keeping the messages with our seq and pid.
    fn dump(&mut self, fd: u64, ty: u16, seq: u32, pid: u32, family: u8) -> Vec<Nl> {
        assert_eq!(
            self.send_req(fd, &request(ty, F_REQUEST | F_DUMP, seq, family)),
            20
        );
        let mut out = Vec::new();
        for _ in 0..16 {
            let (r, bytes, mflags, from) = self.recv_msg(fd, 4096, 0);
            assert!(r > 0, "recvmsg: {r}");
            assert_eq!(mflags & 0x20, 0, "MSG_TRUNC");
            assert_eq!(from, sockaddr_nl(0, 0), "from the kernel");
            for m in parse(&bytes) {
                assert_eq!((m.seq, m.pid), (seq, pid));
                if m.ty == NLMSG_DONE {
                    return out;
                }
                assert_ne!(m.ty, NLMSG_ERROR);
                assert_eq!(m.flags & F_MULTI, F_MULTI);
                out.push(m);
            }
        }
        panic!("no NLMSG_DONE");
    }

    fn ifreq(&mut self, fd: u64, cmd: u64, name: &str, data: &[u8]) -> (i64, Vec<u8>) {
        let mut r = [0u8; 40];
        r[..name.len()].copy_from_slice(name.as_bytes());
        r[16..16 + data.len()].copy_from_slice(data);
        self.poke(REQ, &r);
        let v = self.sys(IOCTL, &[fd, cmd, REQ]);
        (v, self.peek(REQ, 40))
    }
}

#[test]
fn getifaddrs_dumps_links_then_addresses() {
    let mut b = boot(Some(([10, 0, 2, 15], 24)));
    let fd = b.nl_socket();
    assert_eq!(b.sys(72, &[fd, 1]), 1, "SOCK_CLOEXEC");
    b.poke(ADDR, &sockaddr_nl(0, 0));
    assert_eq!(b.sys(BIND, &[fd, ADDR, 12]), 0);
    b.poke(LEN, &12u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKNAME, &[fd, ADDR, LEN]), 0);
    assert_eq!(b.peek(ADDR, 12), sockaddr_nl(1, 0), "the process id");
    let pid = 1;

    let links = b.dump(fd, RTM_GETLINK, 1000, pid, 0);
    assert_eq!(links.len(), 2);
    let mut names = Vec::new();
    for l in &links {
        assert_eq!(l.ty, RTM_NEWLINK);
        let index = i32::from_ne_bytes(l.body[4..8].try_into().unwrap());
        let flags = u32::from_ne_bytes(l.body[8..12].try_into().unwrap());
        let a = rtattrs(&l.body, 16);
        let name = attr(&a, 3).unwrap();
        names.push((index, String::from_utf8(name).unwrap(), flags & 0xffff));
        assert!(attr(&a, 7).is_some_and(|s| s.len() == 96), "IFLA_STATS");
        if index == 2 {
            assert_eq!(attr(&a, 1).unwrap(), MAC, "IFLA_ADDRESS");
            assert_eq!(attr(&a, 2).unwrap(), [0xff; 6], "IFLA_BROADCAST");
            assert_eq!(attr(&a, 4).unwrap(), 1500u32.to_ne_bytes(), "IFLA_MTU");
            assert_eq!(attr(&a, 16).unwrap(), [6], "IF_OPER_UP");
        } else {
            assert_eq!(attr(&a, 4).unwrap(), 65536u32.to_ne_bytes());
        }
    }
    assert_eq!(
        names,
        vec![(1, "lo\0".into(), 0x49), (2, "eth0\0".into(), 0x1043)]
    );

    let addrs = b.dump(fd, RTM_GETADDR, 1001, pid, 0);
    let mut seen = Vec::new();
    for m in &addrs {
        assert_eq!(m.ty, RTM_NEWADDR);
        let (family, prefix, index) = (m.body[0], m.body[1], m.body[4]);
        let a = rtattrs(&m.body, 8);
        let ip = attr(&a, 1).unwrap();
        if family == 2 {
            assert_eq!(attr(&a, 2).unwrap(), ip, "IFA_LOCAL");
            let label = attr(&a, 3).unwrap();
            assert_eq!(label, if index == 1 { &b"lo\0"[..] } else { b"eth0\0" });
        }
        seen.push((index, family, ip, prefix, attr(&a, 4)));
    }
    let ll = vec![
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56,
    ];
    let mut lo6 = vec![0; 16];
    lo6[15] = 1;
    assert_eq!(
        seen,
        vec![
            (1, 2, vec![127, 0, 0, 1], 8, None),
            (2, 2, vec![10, 0, 2, 15], 24, Some(vec![10, 0, 2, 255])),
            (1, 10, lo6, 128, None),
            (2, 10, ll, 64, None),
        ]
    );

    // A second socket gets another port id, as on Linux.
    let fd2 = b.nl_socket();
    b.poke(ADDR, &sockaddr_nl(0, 0));
    assert_eq!(b.sys(BIND, &[fd2, ADDR, 12]), 0);
    b.poke(LEN, &12u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKNAME, &[fd2, ADDR, LEN]), 0);
    assert_eq!(b.peek(ADDR, 12), sockaddr_nl(-4097i32 as u32, 0));
    // Binding the same id again is EADDRINUSE; rebinding another EINVAL.
    let fd3 = b.nl_socket();
    b.poke(ADDR, &sockaddr_nl(1, 0));
    assert_eq!(b.sys(BIND, &[fd3, ADDR, 12]), E(Errno::EADDRINUSE));
    b.poke(ADDR, &sockaddr_nl(5, 0));
    assert_eq!(b.sys(BIND, &[fd2, ADDR, 12]), E(Errno::EINVAL));
    assert_eq!(b.sys(BIND, &[fd2, ADDR, 8]), E(Errno::EINVAL));
    // Closing frees the id.
    assert_eq!(b.sys(CLOSE, &[fd]), 0);
    b.poke(ADDR, &sockaddr_nl(1, 0));
    assert_eq!(b.sys(BIND, &[fd3, ADDR, 12]), 0);
}

#[test]
fn routes_name_the_gateway() {
    let mut b = boot(Some(([10, 0, 2, 15], 24)));
    let fd = b.nl_socket();
    let routes = b.dump(fd, RTM_GETROUTE, 7, 1, 2);
    assert!(routes
        .iter()
        .all(|r| r.ty == RTM_NEWROUTE && r.body[0] == 2));
    let def = routes
        .iter()
        .find(|r| r.body[1] == 0)
        .expect("a default route");
    let a = rtattrs(&def.body, 12);
    assert_eq!(attr(&a, 5).unwrap(), [10, 0, 2, 2], "RTA_GATEWAY");
    assert_eq!(attr(&a, 4).unwrap(), 2u32.to_ne_bytes(), "RTA_OIF");
    assert_eq!(def.body[4], 254, "main table");
    let net = routes
        .iter()
        .find(|r| r.body[1] == 24 && r.body[4] == 254)
        .expect("the connected subnet");
    assert_eq!(attr(&rtattrs(&net.body, 12), 1).unwrap(), [10, 0, 2, 0]);
}

#[test]
fn peek_trunc_gives_the_length_and_short_reads_are_truncated() {
    let mut b = boot(Some(([10, 0, 2, 15], 24)));
    let fd = b.nl_socket();
    assert_eq!(
        b.send_req(fd, &request(RTM_GETLINK, F_REQUEST | F_DUMP, 3, 0)),
        20
    );
    // dnsmasq's way: peek with MSG_TRUNC for the size, then read.
    let (n, _, mflags, _) = b.recv_msg(fd, 100, MSG_PEEK | MSG_TRUNC);
    assert!(n > 100, "the whole datagram's length: {n}");
    assert_eq!(mflags & 0x20, 0x20, "MSG_TRUNC in msg_flags");
    assert_eq!(
        b.sys(RECVFROM, &[fd, BUF, 0, MSG_PEEK | MSG_TRUNC, 0, 0]),
        n
    );
    b.poke(LEN, &0u32.to_le_bytes());
    assert_eq!(b.sys(IOCTL, &[fd, 0x541b, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), (n as u32).to_le_bytes(), "FIONREAD");
    let (m, bytes, mflags, _) = b.recv_msg(fd, n as u64, 0);
    assert_eq!((m, mflags & 0x20), (n, 0));
    assert_eq!(parse(&bytes).len(), 2);
    // A short read takes the datagram and drops its rest.
    let (m, bytes, mflags, _) = b.recv_msg(fd, 8, 0);
    assert_eq!((m, bytes.len(), mflags & 0x20), (8, 8, 0x20), "DONE, cut");
    assert_eq!(
        b.sys(RECVFROM, &[fd, BUF, 100, MSG_DONTWAIT, 0, 0]),
        E(Errno::EAGAIN)
    );
}

#[test]
fn acks_errors_and_other_protocols() {
    let mut b = boot(None);
    assert_eq!(
        b.sys(SOCKET, &[AF_NETLINK, RAW, 15]),
        E(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(
        b.sys(SOCKET, &[AF_NETLINK, DGRAM, 16]),
        E(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(
        b.sys(SOCKET, &[AF_NETLINK, 1, 0]),
        E(Errno::ESOCKTNOSUPPORT)
    );
    let fd = b.sys(SOCKET, &[AF_NETLINK, DGRAM | NONBLOCK, 0]) as u64;
    // Nothing asked, nothing to read: EAGAIN on a non-blocking socket.
    assert_eq!(b.sys(READ, &[fd, BUF, 4096]), E(Errno::EAGAIN));
    // GETLINK of one interface with NLM_F_ACK: the link, then the ack.
    let mut req = request(RTM_GETLINK, F_REQUEST | F_ACK, 9, 0);
    req.extend_from_slice(&[0; 12]);
    req[0] = 32;
    req[20..24].copy_from_slice(&2i32.to_ne_bytes());
    assert_eq!(b.send_req(fd, &req), 32);
    let link = parse(&b.recv_msg(fd, 4096, 0).1);
    assert_eq!(
        (link[0].ty, link[0].flags, link[0].seq),
        (RTM_NEWLINK, 0, 9)
    );
    let ack = parse(&b.recv_msg(fd, 4096, 0).1);
    assert_eq!((ack[0].ty, ack[0].seq), (NLMSG_ERROR, 9));
    assert_eq!(&ack[0].body[..4], &[0; 4], "error 0: an ack");
    assert_eq!(&ack[0].body[4..20], &req[..16], "the request's header");
    // No such interface.
    req[20..24].copy_from_slice(&9i32.to_ne_bytes());
    b.send_req(fd, &req);
    let err = parse(&b.recv_msg(fd, 4096, 0).1);
    assert_eq!(&err[0].body[..4], &(-19i32).to_ne_bytes(), "ENODEV");
    // Changes are refused; unknown types are not supported.
    b.send_req(fd, &request(RTM_NEWADDR, F_REQUEST, 10, 2));
    let err = parse(&b.recv_msg(fd, 4096, 0).1);
    assert_eq!(&err[0].body[..4], &(-1i32).to_ne_bytes(), "EPERM");
    assert_eq!(
        &err[0].body[4..24],
        &request(RTM_NEWADDR, F_REQUEST, 10, 2)[..]
    );
    b.send_req(fd, &request(300, F_REQUEST, 11, 0));
    let err = parse(&b.recv_msg(fd, 4096, 0).1);
    assert_eq!(&err[0].body[..4], &(-95i32).to_ne_bytes(), "EOPNOTSUPP");
    // A dump of another table is empty.
    let port = b.nl_port(fd);
    let neigh = b.dump(fd, 30, 12, port, 0);
    assert!(neigh.is_empty());
    // A bad address is EINVAL; another socket as destination ECONNREFUSED.
    b.poke(REQ, &request(RTM_GETLINK, F_REQUEST | F_DUMP, 1, 0));
    b.poke(ADDR, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.sys(SENDTO, &[fd, REQ, 20, 0, ADDR, 12]), E(Errno::EINVAL));
    b.poke(ADDR, &sockaddr_nl(42, 0));
    assert_eq!(
        b.sys(SENDTO, &[fd, REQ, 20, 0, ADDR, 12]),
        E(Errno::ECONNREFUSED)
    );
    // Options netlink users set.
    b.poke(LEN, &1u32.to_ne_bytes());
    assert_eq!(
        b.sys(SETSOCKOPT, &[fd, 270, 11, LEN, 4]),
        0,
        "NETLINK_EXT_ACK"
    );
    assert_eq!(
        b.sys(SETSOCKOPT, &[fd, 270, 1, LEN, 4]),
        0,
        "ADD_MEMBERSHIP 1"
    );
    b.poke(LEN + 4, &4u32.to_ne_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[fd, 270, 11, LEN, LEN + 4]), 0);
    assert_eq!(b.peek(LEN, 4), 1u32.to_ne_bytes());
    b.poke(LEN, &(1u32 << 20).to_ne_bytes());
    assert_eq!(b.sys(SETSOCKOPT, &[fd, 1, 33, LEN, 4]), 0, "SO_RCVBUFFORCE");
    assert_eq!(
        b.sys(SETSOCKOPT, &[fd, 270, 99, LEN, 4]),
        E(Errno::ENOPROTOOPT)
    );
    assert_eq!(
        b.sys(SETSOCKOPT, &[fd, 6, 1, LEN, 4]),
        E(Errno::ENOPROTOOPT)
    );
    b.poke(LEN + 4, &4u32.to_ne_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[fd, 1, 3, LEN, LEN + 4]), 0);
    assert_eq!(b.peek(LEN, 4), 2u32.to_ne_bytes(), "SO_TYPE: SOCK_DGRAM");
    assert_eq!(b.sys(GETSOCKOPT, &[fd, 1, 39, LEN, LEN + 4]), 0);
    assert_eq!(b.peek(LEN, 4), 16u32.to_ne_bytes(), "SO_DOMAIN");
    b.poke(LEN, &12u32.to_le_bytes());
    assert_eq!(b.sys(GETSOCKNAME, &[fd, ADDR, LEN]), 0);
    assert_eq!(b.peek(ADDR, 12), sockaddr_nl(1, 1), "group 1 joined");
    b.poke(LEN, &12u32.to_le_bytes());
    assert_eq!(b.sys(GETPEERNAME, &[fd, ADDR, LEN]), 0);
    assert_eq!(b.peek(ADDR, 12), sockaddr_nl(0, 0), "the kernel");
}

impl Booted {
    fn nl_port(&mut self, fd: u64) -> u32 {
        self.poke(LEN, &12u32.to_le_bytes());
        assert_eq!(self.sys(GETSOCKNAME, &[fd, ADDR, LEN]), 0);
        u32::from_ne_bytes(self.peek(ADDR + 4, 4).try_into().unwrap())
    }
}

#[test]
fn musl_sends_unbound_and_reads_at_once_and_poll_follows() {
    let mut b = boot(None);
    let fd = b.nl_socket();
    let ep = b.sys(EPOLL_CREATE1, &[0]) as u64;
    let mut ev = 0x1u32.to_le_bytes().to_vec();
    ev.extend_from_slice(&7u64.to_le_bytes());
    b.poke(LEN, &ev);
    assert_eq!(b.sys(EPOLL_CTL, &[ep, 1, fd, LEN]), 0);
    assert_eq!(b.sys(EPOLL_WAIT, &[ep, LEN + 64, 4, 0]), 0);
    // A blocking read with nothing asked waits on the socket.
    let (flow, _) = b.call_as(2, READ, &[fd, BUF, 4096]);
    assert_eq!(flow, Flow::Block(WaitFor::Wakeup { deadline: None }));
    assert!(b.settle().is_empty());
    // musl: send without bind (the socket binds itself), then recv with
    // MSG_DONTWAIT at once.
    b.poke(REQ, &request(RTM_GETLINK, F_REQUEST | F_DUMP, 1, 0));
    assert_eq!(b.sys(SENDTO, &[fd, REQ, 20, 0, 0, 0]), 20);
    assert_eq!(b.settle(), vec![2], "the reader wakes");
    assert_eq!(b.sys(EPOLL_WAIT, &[ep, LEN + 64, 4, 0]), 1);
    let n = b.sys(RECVFROM, &[fd, BUF, 8192, MSG_DONTWAIT, 0, 0]);
    let links = parse(&b.peek(BUF, n as usize));
    assert_eq!(links.len(), 2);
    assert!(links.iter().all(|m| m.pid == 1));
    let n = b.sys(RECVFROM, &[fd, BUF, 8192, MSG_DONTWAIT, 0, 0]);
    assert_eq!(parse(&b.peek(BUF, n as usize))[0].ty, NLMSG_DONE);
    // write(2) sends too, read(2) receives.
    let req = request(RTM_GETADDR, F_REQUEST | F_DUMP, 2, 10);
    b.poke(REQ, &req);
    assert_eq!(b.sys(WRITE, &[fd, REQ, 20]), 20);
    let n = b.sys(READ, &[fd, BUF, 8192]);
    let addrs = parse(&b.peek(BUF, n as usize));
    assert_eq!(addrs.len(), 2, "::1 and eth0's link-local");
    assert!(addrs.iter().all(|m| m.body[0] == 10));
    let n = b.sys(READ, &[fd, BUF, 8192]);
    assert_eq!(parse(&b.peek(BUF, n as usize))[0].ty, NLMSG_DONE);
    b.settle();
    assert_eq!(b.sys(EPOLL_WAIT, &[ep, LEN + 64, 4, 0]), 0, "drained");
    // sendmsg works as sendto.
    let mut hdr = vec![0u8; 56];
    b.poke(IOV, &REQ.to_le_bytes());
    b.poke(IOV + 8, &20u64.to_le_bytes());
    hdr[16..24].copy_from_slice(&IOV.to_le_bytes());
    hdr[24..32].copy_from_slice(&1u64.to_le_bytes());
    b.poke(MSG, &hdr);
    assert_eq!(b.sys(SENDMSG, &[fd, MSG, 0]), 20);
    assert!(b.sys(READ, &[fd, BUF, 8192]) > 0);
}

#[test]
fn siocgif_requests_answer_from_the_interface_list() {
    let mut b = boot(Some(([10, 0, 2, 15], 24)));
    let inet = b.sys(SOCKET, &[AF_INET, DGRAM, 0]) as u64;
    let unix = b.sys(SOCKET, &[AF_UNIX, DGRAM, 0]) as u64;
    let inet6 = b.sys(SOCKET, &[AF_INET6, DGRAM, 0]) as u64;
    let nl = b.nl_socket();
    // SIOCGIFCONF: the length with a null buffer, then the entries.
    b.poke(LEN, &[0; 16]);
    assert_eq!(b.sys(IOCTL, &[inet, 0x8912, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), 80u32.to_ne_bytes());
    let mut ifc = 60i32.to_ne_bytes().to_vec();
    ifc.extend_from_slice(&[0; 4]);
    ifc.extend_from_slice(&BUF.to_le_bytes());
    b.poke(LEN, &ifc);
    assert_eq!(b.sys(IOCTL, &[unix, 0x8912, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), 40u32.to_ne_bytes(), "whole entries only");
    b.poke(LEN, &100i32.to_ne_bytes());
    assert_eq!(b.sys(IOCTL, &[inet, 0x8912, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), 80u32.to_ne_bytes());
    let e = b.peek(BUF, 80);
    assert_eq!(&e[..3], b"lo\0");
    assert_eq!(&e[16..24], &[2, 0, 0, 0, 127, 0, 0, 1]);
    assert_eq!(&e[40..45], b"eth0\0");
    assert_eq!(&e[56..64], &[2, 0, 0, 0, 10, 0, 2, 15]);

    // Flags, index, name, MTU, hardware address, on any socket.
    let (r, ifr) = b.ifreq(unix, 0x8913, "lo", &[]);
    assert_eq!((r, &ifr[16..18]), (0, &0x49u16.to_ne_bytes()[..]));
    let (r, ifr) = b.ifreq(nl, 0x8913, "eth0", &[]);
    assert_eq!((r, &ifr[16..18]), (0, &0x1043u16.to_ne_bytes()[..]));
    let (r, ifr) = b.ifreq(inet6, 0x8933, "eth0", &[]);
    assert_eq!((r, &ifr[16..20]), (0, &2i32.to_ne_bytes()[..]));
    let (r, ifr) = b.ifreq(unix, 0x8910, "", &1i32.to_ne_bytes());
    assert_eq!((r, &ifr[..16]), (0, &b"lo\0\0\0\0\0\0\0\0\0\0\0\0\0\0"[..]));
    assert_eq!(
        b.ifreq(unix, 0x8910, "", &3i32.to_ne_bytes()).0,
        E(Errno::ENODEV)
    );
    let (r, ifr) = b.ifreq(inet, 0x8921, "eth0", &[]);
    assert_eq!((r, &ifr[16..20]), (0, &1500i32.to_ne_bytes()[..]));
    let (r, ifr) = b.ifreq(inet, 0x8927, "eth0", &[]);
    assert_eq!(
        (r, &ifr[16..18], &ifr[18..24]),
        (0, &[1u8, 0][..], &MAC[..])
    );
    let (r, ifr) = b.ifreq(inet, 0x8927, "lo", &[]);
    assert_eq!((r, &ifr[16..18]), (0, &772u16.to_ne_bytes()[..]));

    // Addresses: AF_INET sockets only.
    let (r, ifr) = b.ifreq(inet, 0x8915, "eth0", &[]);
    assert_eq!((r, &ifr[16..24]), (0, &[2, 0, 0, 0, 10, 0, 2, 15][..]));
    let (r, ifr) = b.ifreq(inet, 0x891b, "eth0", &[]);
    assert_eq!((r, &ifr[20..24]), (0, &[255, 255, 255, 0][..]));
    let (r, ifr) = b.ifreq(inet, 0x8919, "eth0", &[]);
    assert_eq!((r, &ifr[20..24]), (0, &[10, 0, 2, 255][..]));
    let (r, ifr) = b.ifreq(inet, 0x891b, "lo", &[]);
    assert_eq!((r, &ifr[20..24]), (0, &[255, 0, 0, 0][..]));
    assert_eq!(b.ifreq(unix, 0x8915, "eth0", &[]).0, E(Errno::ENOTTY));
    assert_eq!(b.ifreq(inet6, 0x8915, "eth0", &[]).0, E(Errno::ENOTTY));
    assert_eq!(
        b.ifreq(inet, 0x8915, "eth0:1", &[]).0,
        E(Errno::EADDRNOTAVAIL)
    );

    // Unknown interfaces, changes, and files that are not sockets.
    assert_eq!(b.ifreq(inet, 0x8913, "eth1", &[]).0, E(Errno::ENODEV));
    assert_eq!(b.ifreq(inet, 0x8933, "", &[]).0, E(Errno::ENODEV));
    assert_eq!(b.ifreq(inet, 0x8914, "eth0", &[1, 0]).0, E(Errno::EPERM));
    assert_eq!(
        b.ifreq(unix, 0x8922, "lo", &[0, 4, 0, 0]).0,
        E(Errno::EPERM)
    );
    assert_eq!(b.ifreq(inet, 0x8916, "eth0", &[]).0, E(Errno::EPERM));
    assert_eq!(
        b.ifreq(1, 0x8913, "lo", &[]).0,
        E(Errno::ENOTTY),
        "the console"
    );
    assert_eq!(b.sys(IOCTL, &[inet, 0x8913, 0x10]), E(Errno::EFAULT));
}

#[test]
fn before_a_lease_eth0_has_no_ipv4_address() {
    let mut b = boot(None);
    let inet = b.sys(SOCKET, &[AF_INET, DGRAM, 0]) as u64;
    assert_eq!(
        b.ifreq(inet, 0x8915, "eth0", &[]).0,
        E(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(b.ifreq(inet, 0x8913, "eth0", &[]).0, 0);
    b.poke(LEN, &[0; 16]);
    assert_eq!(b.sys(IOCTL, &[inet, 0x8912, LEN]), 0);
    assert_eq!(b.peek(LEN, 4), 40u32.to_ne_bytes(), "lo only");
}

#[test]
fn without_a_device_there_is_only_lo() {
    let mut b = booted();
    b.scratch(8);
    let fd = b.nl_socket();
    let links = b.dump(fd, RTM_GETLINK, 5, 1, 0);
    assert_eq!(links.len(), 1);
    let addrs = b.dump(fd, RTM_GETADDR, 6, 1, 0);
    assert_eq!(addrs.len(), 2);
    let inet = b.sys(SOCKET, &[AF_INET, DGRAM, 0]) as u64;
    assert_eq!(b.ifreq(inet, 0x8933, "eth0", &[]).0, E(Errno::ENODEV));
}

#[test]
fn io_uring_and_inotify_are_enosys_quietly() {
    let mut b = booted();
    for nr in [425, 426, 427, 253, 254, 255, 294] {
        assert_eq!(b.sys(nr, &[0, 0, 0, 0, 0, 0]), E(Errno::ENOSYS), "{nr}");
    }
    assert!(
        b.fake.console.out.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&b.fake.console.out)
    );
}

/// Send `data` from `fd` with `control` (ancillary data) to `to`.
fn sendmsg_with(b: &mut Booted, fd: u64, data: &[u8], to: &[u8], control: &[u8]) -> i64 {
    let ctl = SCRATCH + 0x3000;
    b.poke(REQ, data);
    b.poke(ADDR, to);
    b.poke(ctl, control);
    b.poke(IOV, &REQ.to_le_bytes());
    b.poke(IOV + 8, &(data.len() as u64).to_le_bytes());
    let mut hdr = vec![0u8; 56];
    hdr[..8].copy_from_slice(&ADDR.to_le_bytes());
    hdr[8..12].copy_from_slice(&(to.len() as u32).to_le_bytes());
    hdr[16..24].copy_from_slice(&IOV.to_le_bytes());
    hdr[24..32].copy_from_slice(&1u64.to_le_bytes());
    hdr[32..40].copy_from_slice(&ctl.to_le_bytes());
    hdr[40..48].copy_from_slice(&(control.len() as u64).to_le_bytes());
    b.poke(MSG, &hdr);
    b.sys(SENDMSG, &[fd, MSG, 0])
}

/// recvmsg with a control buffer of `room` bytes: (result, control bytes,
/// msg_flags).
fn recvmsg_with(b: &mut Booted, fd: u64, room: u64) -> (i64, Vec<u8>, u32) {
    let ctl = SCRATCH + 0x3000;
    b.poke(IOV, &BUF.to_le_bytes());
    b.poke(IOV + 8, &512u64.to_le_bytes());
    let mut hdr = vec![0u8; 56];
    hdr[..8].copy_from_slice(&ADDR.to_le_bytes());
    hdr[8..12].copy_from_slice(&28u32.to_le_bytes());
    hdr[16..24].copy_from_slice(&IOV.to_le_bytes());
    hdr[24..32].copy_from_slice(&1u64.to_le_bytes());
    hdr[32..40].copy_from_slice(&ctl.to_le_bytes());
    hdr[40..48].copy_from_slice(&room.to_le_bytes());
    b.poke(MSG, &hdr);
    let r = b.sys(RECVMSG, &[fd, MSG, 0]);
    let len = b.peek_u64(MSG + 40) as usize;
    let flags = u32::from_le_bytes(b.peek(MSG + 48, 4).try_into().unwrap());
    (r, b.peek(ctl, len), flags)
}

use super::net::{sin, sin6};

#[test]
fn dnsmasq_style_packet_info_on_udp() {
    let mut b = boot(Some(([10, 0, 2, 15], 24)));
    // A wildcard IPv4 socket with IP_PKTINFO, as dnsmasq makes it.
    let s4 = b.sys(SOCKET, &[AF_INET, DGRAM, 0]) as u64;
    b.poke(ADDR, &sin([0; 4], 53));
    assert_eq!(b.sys(BIND, &[s4, ADDR, 16]), 0);
    b.poke(LEN, &1i32.to_ne_bytes());
    assert_eq!(b.sys(SETSOCKOPT, &[s4, 0, 8, LEN, 4]), 0, "IP_PKTINFO");
    b.poke(LEN + 8, &4u32.to_ne_bytes());
    assert_eq!(b.sys(GETSOCKOPT, &[s4, 0, 8, LEN, LEN + 8]), 0);
    assert_eq!(b.peek(LEN, 4), 1i32.to_ne_bytes());
    // An IPv6 one with IPV6_RECVPKTINFO.
    let s6 = b.sys(SOCKET, &[AF_INET6, DGRAM, 0]) as u64;
    b.poke(LEN, &1i32.to_ne_bytes());
    assert_eq!(b.sys(SETSOCKOPT, &[s6, 41, 26, LEN, 4]), 0, "IPV6_V6ONLY");
    assert_eq!(
        b.sys(SETSOCKOPT, &[s6, 41, 49, LEN, 4]),
        0,
        "IPV6_RECVPKTINFO"
    );
    b.poke(ADDR, &sin6([0; 16], 5353));
    assert_eq!(b.sys(BIND, &[s6, ADDR, 28]), 0);

    // A query to the machine's own address arrives over lo.
    let client = b.sys(SOCKET, &[AF_INET, DGRAM, 0]) as u64;
    assert_eq!(
        sendmsg_with(&mut b, client, b"query", &sin([10, 0, 2, 15], 53), &[]),
        5
    );
    b.settle();
    let (r, ctl, flags) = recvmsg_with(&mut b, s4, 64);
    assert_eq!((r, flags), (5, 0));
    assert_eq!(ctl.len(), 32, "CMSG_SPACE(sizeof(struct in_pktinfo))");
    assert_eq!(&ctl[..8], &28u64.to_ne_bytes());
    assert_eq!(&ctl[8..16], &[0, 0, 0, 0, 8, 0, 0, 0], "SOL_IP, IP_PKTINFO");
    assert_eq!(&ctl[16..20], &1i32.to_ne_bytes(), "ipi_ifindex: lo");
    assert_eq!(&ctl[20..28], &[10, 0, 2, 15, 10, 0, 2, 15]);
    // The answer carries IP_PKTINFO too (the source to use): accepted.
    let from = b.peek(ADDR, 16);
    let mut pkt = 28u64.to_ne_bytes().to_vec();
    pkt.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0]);
    pkt.extend_from_slice(&0i32.to_ne_bytes());
    pkt.extend_from_slice(&[10, 0, 2, 15, 0, 0, 0, 0]);
    pkt.extend_from_slice(&[0; 4]);
    assert_eq!(sendmsg_with(&mut b, s4, b"answer", &from, &pkt), 6);
    b.settle();
    // The client did not ask for packet information: none.
    let (r, ctl, _) = recvmsg_with(&mut b, client, 64);
    assert_eq!((r, ctl.len()), (6, 0));
    // Too little room: MSG_CTRUNC.
    sendmsg_with(&mut b, client, b"q2", &sin([127, 0, 0, 1], 53), &[]);
    b.settle();
    let (r, ctl, flags) = recvmsg_with(&mut b, s4, 8);
    assert_eq!((r, ctl.len(), flags & 8), (2, 0, 8));

    // IPv6: struct in6_pktinfo.
    let c6 = b.sys(SOCKET, &[AF_INET6, DGRAM, 0]) as u64;
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    assert_eq!(sendmsg_with(&mut b, c6, b"q6", &sin6(lo6, 5353), &[]), 2);
    b.settle();
    let (r, ctl, _) = recvmsg_with(&mut b, s6, 64);
    assert_eq!(r, 2);
    assert_eq!(ctl.len(), 40);
    assert_eq!(&ctl[..8], &36u64.to_ne_bytes());
    assert_eq!(&ctl[8..16], &[41, 0, 0, 0, 50, 0, 0, 0], "IPV6_PKTINFO");
    assert_eq!(&ctl[16..32], &lo6);
    assert_eq!(&ctl[32..36], &1u32.to_ne_bytes());

    // Socket-level records stay unsupported; broken ones are EINVAL.
    let mut rights = 20u64.to_ne_bytes().to_vec();
    rights.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        sendmsg_with(&mut b, client, b"x", &sin([127, 0, 0, 1], 53), &rights),
        E(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        sendmsg_with(&mut b, client, b"x", &sin([127, 0, 0, 1], 53), &pkt[..20]),
        E(Errno::EINVAL)
    );
}
