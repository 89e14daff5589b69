//! A small HTTP/1.1 server: std non-blocking sockets and one `poll(2)` loop
//! (through the `libc` crate).
//!
//!     http-rust [PORT]        (default 8080; listens on [::], which takes IPv4 too)
//!
//! GET / answers a short page; GET /big 1 MiB of deterministic bytes (byte i
//! is (i*7 + i/1024) % 251). Keep-alive (HTTP/1.1's default; "Connection:
//! close" honoured), Content-Length on every response, pipelined requests
//! answered in order.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

const PAGE: &[u8] = b"hello from http-rust on Kiln\n";
const BIG_SIZE: usize = 1 << 20;

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    /// The response being sent and how much of it is out.
    output: Vec<u8>,
    sent: usize,
    close_after: bool,
}

/// What a connection needs next.
enum Next {
    Keep,
    Drop,
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(8080);
    let big: Vec<u8> = (0..BIG_SIZE).map(|i| ((i * 7 + i / 1024) % 251) as u8).collect();
    let listener = TcpListener::bind(("::", port)).expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    println!("listening on [::]:{port}");

    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        fds.clear();
        fds.push(pollfd(listener.as_raw_fd(), libc::POLLIN));
        for c in &conns {
            let ev = if c.sending() { libc::POLLOUT } else { libc::POLLIN };
            fds.push(pollfd(c.stream.as_raw_fd(), ev));
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {e}");
        }
        // fds[1 + i] belongs to conns[i]; drop finished connections after.
        let mut done = Vec::new();
        for (i, c) in conns.iter_mut().enumerate() {
            let ev = fds[1 + i].revents;
            let next = if ev == 0 {
                Next::Keep
            } else if ev & (libc::POLLERR | libc::POLLNVAL) != 0 {
                Next::Drop
            } else if c.sending() {
                c.flush(&big)
            } else {
                c.receive(&big)
            };
            if let Next::Drop = next {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            conns.swap_remove(i);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true).expect("non-blocking");
                        let _ = stream.set_nodelay(true);
                        conns.push(Conn {
                            stream,
                            input: Vec::new(),
                            output: Vec::new(),
                            sent: 0,
                            close_after: false,
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // ECONNABORTED and friends: that client is gone.
                    Err(_) => break,
                }
            }
        }
    }
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

impl Conn {
    fn sending(&self) -> bool {
        self.sent < self.output.len()
    }

    /// Read what is there; answer a complete request.
    fn receive(&mut self, big: &[u8]) -> Next {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Next::Drop,
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    if self.input.len() > 64 * 1024 {
                        return Next::Drop;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Next::Drop,
            }
        }
        if self.take_request(big) {
            self.flush(big)
        } else {
            Next::Keep
        }
    }

    /// Send what the socket takes; then answer the next pipelined request.
    fn flush(&mut self, big: &[u8]) -> Next {
        while self.sending() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Next::Drop,
            }
        }
        if self.close_after {
            return Next::Drop;
        }
        if self.take_request(big) {
            return self.flush(big);
        }
        Next::Keep
    }

    /// Parse one complete request from the input and queue its response.
    fn take_request(&mut self, big: &[u8]) -> bool {
        let Some(end) = self.input.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        let head = String::from_utf8_lossy(&self.input[..end]).into_owned();
        self.input.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, path, version) = (
            first.next().unwrap_or(""),
            first.next().unwrap_or(""),
            first.next().unwrap_or(""),
        );
        let mut keep = version != "HTTP/1.0";
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("connection") {
                    let value = value.trim();
                    if value.eq_ignore_ascii_case("close") {
                        keep = false;
                    } else if value.eq_ignore_ascii_case("keep-alive") {
                        keep = true;
                    }
                }
            }
        }
        let (status, kind, body): (&str, &str, &[u8]) = match (method, path) {
            ("GET", "/") => ("200 OK", "text/plain", PAGE),
            ("GET", "/big") => ("200 OK", "application/octet-stream", big),
            ("GET", _) => ("404 Not Found", "text/plain", b"not found\n"),
            _ => ("405 Method Not Allowed", "text/plain", b"method not allowed\n"),
        };
        self.output.clear();
        self.sent = 0;
        self.output.extend_from_slice(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{}\r\n",
                body.len(),
                if keep { "" } else { "Connection: close\r\n" }
            )
            .as_bytes(),
        );
        self.output.extend_from_slice(body);
        self.close_after = !keep;
        true
    }
}
