//! A minimal HTTP/1.1 server on tokio's multi-threaded runtime (2 workers).
//!
//!     tokio-http [PORT]       (default 8080; listens on 0.0.0.0)
//!
//! GET / answers a short page; GET /big 1 MiB of deterministic bytes (byte i
//! is (i*7 + i/1024) % 251). Keep-alive (HTTP/1.1's default; "Connection:
//! close" honoured), Content-Length on every response.

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PAGE: &[u8] = b"hello from tokio-http on Kiln\n";
const BIG_SIZE: usize = 1 << 20;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(8080);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(port));
}

async fn serve(port: u16) {
    let big: Arc<[u8]> = (0..BIG_SIZE).map(|i| ((i * 7 + i / 1024) % 251) as u8).collect();
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
    println!("tokio listening on 0.0.0.0:{port}");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let big = big.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let _ = connection(stream, &big).await;
                });
            }
            // A client that went away before it was accepted.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// Answer requests on one connection until the client or a
/// "Connection: close" ends it.
async fn connection(mut stream: TcpStream, big: &[u8]) -> std::io::Result<()> {
    let mut input = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if input.len() > 64 * 1024 {
                return Ok(());
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            input.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&input[..end]).into_owned();
        input.drain(..end + 4);

        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, path, version) = (
            first.next().unwrap_or(""),
            first.next().unwrap_or(""),
            first.next().unwrap_or(""),
        );
        let mut keep = version != "HTTP/1.0";
        for (name, value) in lines.filter_map(|l| l.split_once(':')) {
            if name.trim().eq_ignore_ascii_case("connection") {
                match value.trim().to_ascii_lowercase().as_str() {
                    "close" => keep = false,
                    "keep-alive" => keep = true,
                    _ => {}
                }
            }
        }
        let (status, kind, body): (&str, &str, &[u8]) = match (method, path) {
            ("GET", "/") => ("200 OK", "text/plain", PAGE),
            ("GET", "/big") => ("200 OK", "application/octet-stream", big),
            ("GET", _) => ("404 Not Found", "text/plain", b"not found\n"),
            _ => ("405 Method Not Allowed", "text/plain", b"method not allowed\n"),
        };
        let header = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if keep { "" } else { "Connection: close\r\n" }
        );
        stream.write_all(header.as_bytes()).await?;
        stream.write_all(body).await?;
        if !keep {
            return stream.shutdown().await;
        }
    }
}
