//! Host-side helpers for the network tests and benchmarks: a server VM (or
//! host process) whose console is watched line by line, a small HTTP/1.1
//! client, a small DNS client, and a connection flood. Everything talks to
//! 127.0.0.1 and every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Size of the servers' `/big` body.
pub const BIG_SIZE: usize = 1 << 20;

/// The servers' `/big` body: byte i is (i*7 + i/1024) % 251.
pub fn big_body() -> Vec<u8> {
    (0..BIG_SIZE)
        .map(|i| ((i * 7 + i / 1024) % 251) as u8)
        .collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    s.local_addr().expect("local address").port()
}

/// 127.0.0.1:PORT.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A running server process (`kiln run ...` or the sample on the host)
/// whose standard output is read line by line.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    console: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// How a server ended.
#[derive(Debug)]
pub struct Ended {
    pub status: Option<i32>,
    pub console: String,
    pub stderr: String,
}

impl Server {
    /// The process id of the command started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start `cmd` with its output piped.
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        let console = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let log = console.clone();
        std::thread::spawn(move || {
            for line in out.split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).replace('\r', "");
                log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Server {
            child,
            lines,
            console,
            stderr,
        }
    }

    /// Everything printed so far, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- console ---\n{}--- stderr ---\n{}",
            self.console.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// Wait for a console line that starts with `prefix`; Err with the
    /// console when it does not come in time or the server ends first.
    pub fn wait_for(&self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim_start().starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no console line starting with {prefix:?} within {timeout:?}\n{}",
                        self.describe()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(100));
                    return Err(format!(
                        "the server ended before printing {prefix:?}\n{}",
                        self.describe()
                    ));
                }
            }
        }
    }

    /// Send `signal` (0: none), then wait up to `timeout` for the process
    /// to end; after that, stop it for good.
    pub fn stop(mut self, signal: i32, timeout: Duration) -> Ended {
        if signal != 0 {
            kill(self.child.id(), signal);
        }
        let status = match self.wait(timeout) {
            Some(s) => s,
            None => {
                self.force();
                None
            }
        };
        // Let the readers take the last output.
        std::thread::sleep(Duration::from_millis(100));
        Ended {
            status,
            console: self.console.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// The exit status once the process has ended (`Some(None)`: killed by
    /// a signal), or `None` after `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s.code()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => return None,
                Err(_) => return Some(None),
            }
        }
    }

    /// Stop a server that would not end: two SIGTERMs make kiln stop QEMU
    /// at once (and clean up); SIGKILL if even that does not work.
    fn force(&mut self) {
        for _ in 0..2 {
            kill(self.child.id(), libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(200));
        }
        if self.wait(Duration::from_secs(5)).is_none() {
            kill(self.child.id(), libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

impl Drop for Server {
    /// A server left running by a failed assertion is stopped.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.force();
        }
    }
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our
    // child, not reaped yet (callers check with try_wait first or own it).
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Where a sample runs: in a VM (`kiln run`, TCG, on this machine type)
/// or natively on the host (to check the sample and the test itself).
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    Vm { kiln: &'a Path, machine: &'a str },
    Host,
}

impl Place<'_> {
    /// The command that runs sample `name`: `options` go to `kiln run`
    /// (ignored on the host), `args` to the program.
    pub fn command(&self, name: &str, options: &[&str], args: &[&str]) -> Command {
        match *self {
            Place::Vm { kiln, machine } => {
                crate::kiln_run(kiln, machine, options, &crate::sample(name), args)
            }
            Place::Host => {
                let mut cmd = Command::new(crate::sample(name));
                cmd.args(args);
                cmd
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Place::Vm { machine, .. } => format!("on {machine}"),
            Place::Host => "on the host".into(),
        }
    }
}

/// Start sample `name` at `place`, wait for its `ready` console line, run
/// `check`, then stop it with SIGINT: in a VM, kiln's Ctrl-C gives the
/// program SIGTERM, which the servers do not catch, so kiln exits 143; on
/// the host the program dies of SIGINT. Failures show the console.
pub fn with_server(
    place: Place,
    name: &str,
    options: &[&str],
    args: &[&str],
    ready: &str,
    check: impl FnOnce(),
) {
    let at = place.label();
    let server = Server::start(place.command(name, options, args));
    let ended = serve_checked(
        server,
        &format!("{name} {at}"),
        ready,
        crate::TIMEOUT,
        check,
    );
    let expected = match place {
        Place::Vm { .. } => Some(143),
        Place::Host => None,
    };
    assert_eq!(
        ended.status, expected,
        "{name} {at}: after Ctrl-C\n{ended:?}"
    );
}

/// Wait for `server`'s `ready` line (up to `limit`), run `check`, then stop
/// it with SIGINT. A failure names `what` and shows the console.
pub fn serve_checked(
    server: Server,
    what: &str,
    ready: &str,
    limit: Duration,
    check: impl FnOnce(),
) -> Ended {
    if let Err(e) = server.wait_for(ready, limit) {
        panic!("{what}: {e}");
    }
    if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{what}: {msg}\n{}", server.describe());
    }
    server.stop(libc::SIGINT, Duration::from_secs(20))
}

/// Start an HTTP server sample with a free host port forwarded to its port
/// (8080 in a VM) and put it through [`exercise_http`] (200 requests, a
/// 500-connection flood).
pub fn check_http_server(place: Place, name: &str, ready: &str) {
    let port = free_tcp_port();
    let guest = match place {
        Place::Vm { .. } => 8080,
        Place::Host => port,
    };
    let page = format!("hello from {name} on Kiln\n");
    with_server(
        place,
        name,
        &["-p", &format!("{port}:{guest}")],
        &[&guest.to_string()],
        ready,
        || exercise_http(local(port), &page, 200, 500),
    );
}

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said `Connection: close`.
    pub close: bool,
}

/// An HTTP/1.1 client connection (keep-alive unless asked otherwise).
pub struct HttpConn {
    reader: BufReader<TcpStream>,
}

impl HttpConn {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<HttpConn> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(HttpConn {
            reader: BufReader::new(s),
        })
    }

    /// `GET path`; with `close`, ask the server to close afterwards.
    pub fn get(&mut self, path: &str, close: bool) -> std::io::Result<Response> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kiln-tests\r\n{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        self.reader.get_mut().write_all(req.as_bytes())?;
        read_response(&mut self.reader)
    }

    /// After a `Connection: close` response: true when the server closed.
    pub fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

fn bad(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(bad("connection closed before a response".into()));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let (mut length, mut close) = (None, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers".into()));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    let length = length.ok_or_else(|| bad("response without Content-Length".into()))?;
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)?;
    Ok(Response {
        status,
        body,
        close,
    })
}

/// Check an HTTP server as a user would: `requests` GETs of `/` on one
/// keep-alive connection, `requests` more on fresh connections with
/// `Connection: close`, `/big` byte for byte, a 404, then a flood of
/// `flood` connections opened and dropped, after which `/` still answers.
/// `page` is the body of `/`.
pub fn exercise_http(addr: SocketAddr, page: &str, requests: usize, flood_size: usize) {
    let t = Duration::from_secs(20);
    let mut conn = HttpConn::connect(addr, t).expect("connect");
    for i in 0..requests {
        let r = conn
            .get("/", false)
            .unwrap_or_else(|e| panic!("keep-alive request {i}: {e}"));
        assert_eq!(r.status, 200, "keep-alive request {i}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            page,
            "keep-alive request {i}"
        );
        assert!(!r.close, "keep-alive request {i}: the server closed");
    }

    let big = big_body();
    let r = conn.get("/big", false).expect("GET /big");
    assert_eq!(r.status, 200, "GET /big");
    assert_eq!(r.body.len(), BIG_SIZE, "GET /big: length");
    if let Some(at) = r.body.iter().zip(&big).position(|(a, b)| a != b) {
        panic!("GET /big: first wrong byte at offset {at}");
    }
    let r = conn.get("/missing", false).expect("GET /missing");
    assert_eq!(r.status, 404, "GET /missing");
    let r = conn.get("/", false).expect("GET / after /big");
    assert_eq!(String::from_utf8_lossy(&r.body), page, "GET / after /big");
    drop(conn);

    for i in 0..requests {
        let mut c =
            HttpConn::connect(addr, t).unwrap_or_else(|e| panic!("connection {i}: connect: {e}"));
        let r = c
            .get("/", true)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(r.status, 200, "connection {i}");
        assert_eq!(String::from_utf8_lossy(&r.body), page, "connection {i}");
        assert!(r.close, "connection {i}: no Connection: close");
        assert!(
            c.closed_by_server(),
            "connection {i}: not closed by the server"
        );
    }

    let opened = flood(addr, flood_size, Duration::from_secs(60));
    assert!(
        opened >= flood_size / 2,
        "flood: only {opened} of {flood_size} connections could be opened"
    );
    assert_answers(addr, page, Duration::from_secs(30));
}

/// Open `n` connections from 25 threads at once (every fifth sends half a
/// request) and drop them, within `limit`; returns how many opened.
/// Parallel, because QEMU's user networking accepts host connections one
/// main-loop turn at a time and a host SYN that finds its queue full is
/// retried after a second: sequential connects measure that, not the VM.
pub fn flood(addr: SocketAddr, n: usize, limit: Duration) -> usize {
    const WORKERS: usize = 25;
    let deadline = Instant::now() + limit;
    let opened = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let opened = &opened;
            scope.spawn(move || {
                let mut i = w;
                while i < n && Instant::now() < deadline {
                    if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                        if i % 5 == 0 {
                            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                            let _ = (&s).write_all(b"GET / HTTP/1.1\r\nHost: fl");
                        }
                        opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += WORKERS;
                }
            });
        }
    });
    opened.into_inner()
}

/// Wait until `GET /` answers `page` (retrying for up to `limit`).
pub fn assert_answers(addr: SocketAddr, page: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match HttpConn::connect(addr, Duration::from_secs(5)).and_then(|mut c| c.get("/", true)) {
            Ok(r) if r.status == 200 && r.body == page.as_bytes() => return,
            Ok(r) => {
                last = format!(
                    "status {} body {:?}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("GET / did not answer within {limit:?} (last: {last})");
}

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
pub const RCODE_NXDOMAIN: u8 = 3;

/// A DNS answer: the response code and the addresses of the answers.
#[derive(Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    pub rcode: u8,
    pub addrs: Vec<std::net::IpAddr>,
}

/// A DNS query message for `name` and `qtype` with `id`, recursion desired.
pub fn dns_query_message(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Parse a response to [`dns_query_message`] with `id`: None if it is not one.
pub fn parse_dns_response(id: u16, r: &[u8]) -> Option<DnsAnswer> {
    if r.len() < 12 || r[..2] != id.to_be_bytes() || r[2] & 0x80 == 0 {
        return None;
    }
    let rcode = r[3] & 0x0f;
    let qd = u16::from_be_bytes([r[4], r[5]]);
    let an = u16::from_be_bytes([r[6], r[7]]);
    let mut i = 12;
    let skip_name = |mut i: usize| -> Option<usize> {
        loop {
            let len = *r.get(i)? as usize;
            if len & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            i += 1 + len;
            if len == 0 {
                return Some(i);
            }
        }
    };
    for _ in 0..qd {
        i = skip_name(i)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        i = skip_name(i)?;
        let kind = u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]);
        let len = u16::from_be_bytes([*r.get(i + 8)?, *r.get(i + 9)?]) as usize;
        let data = r.get(i + 10..i + 10 + len)?;
        match (kind, len) {
            (TYPE_A, 4) => addrs.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]).into()),
            (TYPE_AAAA, 16) => {
                let b: [u8; 16] = data.try_into().ok()?;
                addrs.push(Ipv6Addr::from(b).into())
            }
            _ => {}
        }
        i += 10 + len;
    }
    Some(DnsAnswer { rcode, addrs })
}

/// Ask `server` about `name` over UDP: up to 5 tries, `timeout` each.
pub fn dns_query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> std::io::Result<DnsAnswer> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(timeout))?;
    let id = (std::process::id() as u16) ^ (name.len() as u16 * 257) ^ qtype;
    let q = dns_query_message(id, name, qtype);
    let mut buf = [0u8; 512];
    for _ in 0..5 {
        sock.send_to(&q, server)?;
        let sent = Instant::now();
        while sent.elapsed() < timeout {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Some(a) = parse_dns_response(id, &buf[..n]) {
                        return Ok(a);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no DNS answer for {name} from {server}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_body_pattern() {
        let b = big_body();
        assert_eq!(b.len(), 1 << 20);
        assert_eq!(&b[..4], &[0, 7, 14, 21]);
        assert_eq!(b[1024], ((1024 * 7 + 1) % 251) as u8);
    }

    #[test]
    fn dns_messages_round_trip() {
        let q = dns_query_message(0x1234, "www.kiln.test.", TYPE_A);
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..17], b"\x03www\x04");
        // A response: the question, then two A records named by pointer.
        let mut r = q.clone();
        r[2] = 0x85;
        r[7] = 2;
        for last in [80u8, 81] {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, last]);
        }
        let a = parse_dns_response(0x1234, &r).unwrap();
        assert_eq!(a.rcode, 0);
        assert_eq!(
            a.addrs,
            [
                std::net::IpAddr::from([192, 0, 2, 80]),
                std::net::IpAddr::from([192, 0, 2, 81])
            ]
        );
        assert_eq!(parse_dns_response(0x9999, &r), None, "wrong id");
        assert_eq!(parse_dns_response(0x1234, &q), None, "a query is no answer");
        r.truncate(r.len() - 3);
        assert_eq!(parse_dns_response(0x1234, &r), None, "truncated");
    }

    #[test]
    fn http_client_against_a_tiny_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
                .unwrap();
        });
        let mut c = HttpConn::connect(addr, Duration::from_secs(5)).unwrap();
        let r = c.get("/", true).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.close),
            (200, &b"abc"[..], true)
        );
        assert!(c.closed_by_server());
    }
}
