//! The network samples serve the host through `kiln run -p`/`--udp` on
//! microvm and q35: many HTTP requests with and without keep-alive, a 1 MiB
//! body, DNS A/AAAA/NXDOMAIN answers, and a connection flood after which
//! the server still answers. Then Ctrl-C stops the VM (the program gets
//! SIGTERM: status 143). These need a kernel with networking (issue 4).
//! The `_native` tests run the same checks against the samples on the host.

use kiln_tests::net::{
    check_http_server, dns_query, free_udp_port, local, with_server, DnsAnswer, Place,
    RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA,
};
use kiln_tests::{root, sample, TIMEOUT};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

fn vm(machine: &str) -> Place<'_> {
    Place::Vm {
        kiln: kiln(),
        machine,
    }
}

#[test]
fn http_rust_microvm() {
    check_http_server(vm("microvm"), "http-rust", "listening on");
}

#[test]
fn http_rust_q35() {
    check_http_server(vm("q35"), "http-rust", "listening on");
}

#[test]
fn http_rust_native() {
    check_http_server(Place::Host, "http-rust", "listening on");
}

#[test]
fn http_poll_microvm() {
    check_http_server(vm("microvm"), "http-poll", "listening on");
}

#[test]
fn http_poll_q35() {
    check_http_server(vm("q35"), "http-poll", "listening on");
}

#[test]
fn http_poll_native() {
    check_http_server(Place::Host, "http-poll", "listening on");
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// A/AAAA answers, an empty answer, NXDOMAIN, and 200 queries in a row.
fn dns(place: Place) {
    let port = free_udp_port();
    let zone = root().join("samples/dns-rust/zone.txt");
    let file = format!("{}:/etc/kiln-zone.txt", zone.display());
    let (guest, zone_arg) = match place {
        Place::Vm { .. } => (53, "/etc/kiln-zone.txt".to_string()),
        Place::Host => (port, zone.display().to_string()),
    };
    let server = local(port);
    with_server(
        place,
        "dns-rust",
        &["--udp", &format!("{port}:{guest}"), "--file", &file],
        &[&guest.to_string(), &zone_arg],
        "dns listening on",
        || {
            let t = Duration::from_secs(3);
            let ask = |name: &str, qtype| {
                dns_query(server, name, qtype, t).unwrap_or_else(|e| panic!("{name}: {e}"))
            };
            let answer = |rcode, addrs: &[&str]| DnsAnswer {
                rcode,
                addrs: ips(addrs),
            };
            assert_eq!(
                ask("www.kiln.test", TYPE_A),
                answer(0, &["192.0.2.80", "192.0.2.81"])
            );
            assert_eq!(
                ask("WWW.Kiln.Test.", TYPE_AAAA),
                answer(0, &["2001:db8::80"])
            );
            assert_eq!(ask("kiln.test", TYPE_A), answer(0, &["10.0.2.15"]));
            assert_eq!(ask("v4only.kiln.test", TYPE_AAAA), answer(0, &[]));
            assert_eq!(ask("nope.kiln.test", TYPE_A), answer(RCODE_NXDOMAIN, &[]));
            for i in 0..200 {
                let a = ask("v4only.kiln.test", TYPE_A);
                assert_eq!(a, answer(0, &["198.51.100.7"]), "query {i}");
            }
        },
    );
}

#[test]
fn dns_rust_microvm() {
    dns(vm("microvm"));
}

#[test]
fn dns_rust_q35() {
    dns(vm("q35"));
}

#[test]
fn dns_rust_native() {
    dns(Place::Host);
}

/// A forwarded host port that is busy is one clear error, and no VM starts.
#[test]
fn busy_host_port_is_refused() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let o = kiln_tests::run(
        kiln(),
        &[
            "run".as_ref(),
            sample("http-poll").as_os_str(),
            "--accel".as_ref(),
            "tcg".as_ref(),
            "-p".as_ref(),
            format!("{port}:8080").as_ref(),
        ],
        dir.path(),
        TIMEOUT,
    );
    kiln_tests::assert_one_error(&o, &format!("host port {port} is in use"));
    assert!(o.stdout.is_empty(), "the VM started: {}", o.describe());
}

/// What `samples/ifaddrs.c` prints on the user network (DHCP 10.0.2.15/24,
/// QEMU's default MAC), in this order.
const IFADDRS_USER_NET: &[&str] = &[
    "ifa lo packet 00:00:00:00:00:00 index 1 flags 0x10049",
    "ifa eth0 packet 52:54:00:12:34:56 index 2 flags 0x11043",
    "ifa lo inet 127.0.0.1 netmask 255.0.0.0 broadcast -",
    "ifa eth0 inet 10.0.2.15 netmask 255.255.255.0 broadcast 10.0.2.255",
    "ifa lo inet6 ::1 netmask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff scope 0",
    "ifa eth0 inet6 fe80::5054:ff:fe12:3456 netmask ffff:ffff:ffff:ffff:: scope 2",
    "nameindex 1 lo",
    "nameindex 2 eth0",
    "nametoindex eth0 2",
    "nametoindex nope 0",
    "indextoname 1 lo",
    "ifconf lo 127.0.0.1 flags 0x49 hwtype 772",
    "ifconf eth0 10.0.2.15 flags 0x1043 hwtype 1",
    "fork: -1 Function not implemented",
    "done",
];

/// Without a network card: `lo` alone.
const IFADDRS_NO_NET: &[&str] = &[
    "ifa lo packet 00:00:00:00:00:00 index 1 flags 0x10049",
    "ifa lo inet 127.0.0.1 netmask 255.0.0.0 broadcast -",
    "ifa lo inet6 ::1 netmask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff scope 0",
    "nameindex 1 lo",
    "nametoindex eth0 0",
    "nametoindex nope 0",
    "indextoname 1 lo",
    "ifconf lo 127.0.0.1 flags 0x49 hwtype 772",
    "fork: -1 Function not implemented",
    "done",
];

/// Run the ifaddrs sample `name` and compare its lines (the `ifa`,
/// `nameindex`, `ifconf`... ones, all of them, in order) with `want`; the
/// fork is refused with one console line naming the program.
fn ifaddrs(name: &str, machine: &str, options: &[&str], want: &[&str]) {
    let o = kiln_tests::run(
        kiln(),
        &kiln_tests::kiln_run_args(machine, options, &sample(name), &[]),
        &root(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{name} on {machine}: {}", o.describe());
    let facts: Vec<&str> = o
        .stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.starts_with("kiln:"))
        .collect();
    assert_eq!(facts, want, "{name} on {machine}: {}", o.describe());
    let fork_lines = o
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("kiln: {name} tried to start a new process")))
        .count();
    assert_eq!(fork_lines, 1, "{name} on {machine}: {}", o.describe());
}

#[test]
fn ifaddrs_musl_microvm() {
    ifaddrs("ifaddrs-musl", "microvm", &[], IFADDRS_USER_NET);
}

#[test]
fn ifaddrs_glibc_q35() {
    ifaddrs("ifaddrs-glibc", "q35", &[], IFADDRS_USER_NET);
}

#[test]
fn ifaddrs_without_a_network_card() {
    ifaddrs(
        "ifaddrs-glibc",
        "microvm",
        &["--net", "none"],
        IFADDRS_NO_NET,
    );
}

/// A connection to a forwarded port that nothing in the VM listens on is
/// reset at once, as Linux does (QEMU accepts it on the host, then the
/// guest's RST ends it), not left hanging until the client gives up.
fn closed_port_is_refused(machine: &str) {
    use std::io::{Read, Write};
    let port = kiln_tests::net::free_tcp_port();
    let closed = kiln_tests::net::free_tcp_port();
    with_server(
        vm(machine),
        "http-poll",
        &[
            "-p",
            &format!("{port}:8080"),
            "-p",
            &format!("{closed}:9999"),
        ],
        &["8080"],
        "listening on",
        || {
            for attempt in 0..3 {
                let outcome = match std::net::TcpStream::connect(local(closed)) {
                    Err(e) => Ok(e.kind()),
                    Ok(mut s) => {
                        // QEMU accepted for the VM: the reset follows.
                        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                        let mut buf = [0u8; 64];
                        match s.read(&mut buf) {
                            Ok(0) => Ok(std::io::ErrorKind::UnexpectedEof),
                            Ok(n) => Err(format!("{n} bytes from a closed port")),
                            Err(e) => Ok(e.kind()),
                        }
                    }
                };
                match outcome {
                    Ok(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        panic!("attempt {attempt}: the closed port did not answer within 2 s")
                    }
                    Ok(_) => {}
                    Err(e) => panic!("attempt {attempt}: {e}"),
                }
            }
        },
    );
}

#[test]
fn closed_port_is_refused_microvm() {
    closed_port_is_refused("microvm");
}

#[test]
fn closed_port_is_refused_q35() {
    closed_port_is_refused("q35");
}
