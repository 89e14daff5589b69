//! Dynamically linked programs as users have them: Debian's own nginx,
//! redis-server, python3, node and dnsmasq, taken from the host (`.ci/run`
//! installs them), packed by `kiln build` with their interpreter and
//! libraries, and booted on microvm and q35. Each check is what a user
//! sees: pages byte for byte (1 MiB included), redis SET/GET, DNS answers.
//! Also a dynamically linked musl and glibc hello. Each image is built
//! once and shared by the tests of both machines.

use kiln_tests::net::{
    big_body, dns_query, free_tcp_port, free_udp_port, local, serve_checked, HttpConn, Server,
    TYPE_A,
};
use kiln_tests::{root, run, sample, TIMEOUT};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Boot to ready: the runtimes start slowly under TCG.
const READY: Duration = Duration::from_secs(180);

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// A host program the tests need; a clear failure when it is missing.
fn installed(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install the Debian package {package} (.ci/run does)"
    );
    p
}

/// Where the shared images and their input files live.
fn work() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = root().join("target").join("dynamic-tests");
        std::fs::create_dir_all(&d).expect("create target/dynamic-tests");
        d
    })
}

/// `kiln build PROGRAM -o NAME.img OPTIONS -- ARGS`, once per process.
fn image(name: &str, program: &Path, options: &[&str], args: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    // Hold the lock while building: the two machines' tests share it.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let out = work().join(format!("{name}.img"));
    let mut a: Vec<String> = vec!["build".into(), program.display().to_string()];
    a.extend(["-o".into(), out.display().to_string()]);
    a.extend(options.iter().map(|s| s.to_string()));
    a.push("--".into());
    a.extend(args.iter().map(|s| s.to_string()));
    let o = run(kiln(), &a, work(), TIMEOUT);
    assert_eq!(o.status, Some(0), "kiln build {name}: {}", o.describe());
    built.insert(name.into(), out.clone());
    out
}

/// Start `kiln run IMAGE` on `machine` with `options` (port forwards).
fn start(img: &Path, machine: &str, options: &[String]) -> Server {
    let mut cmd = Command::new(kiln());
    cmd.arg("run")
        .arg(img)
        .args(["--machine", machine, "--accel", "tcg", "-m", "512M"])
        .args(options)
        .current_dir(work());
    Server::start(cmd)
}

/// The site every web server serves: `/` is `page`, `/big` 1 MiB.
fn site(page: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = work().join("site");
        std::fs::create_dir_all(&d).expect("site dir");
        std::fs::write(d.join("big"), big_body()).expect("write big");
        d
    });
    std::fs::write(dir.join("index.html"), page).expect("write index.html");
    dir.clone()
}

/// GET `path` on a new connection (Connection: close).
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut c = HttpConn::connect(addr, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("connect for {path}: {e}"));
    let r = c
        .get(path, true)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status, r.body)
}

/// What a user checks of a web server: the page, the 1 MiB file byte for
/// byte, a 404, and (when the server keeps connections alive) ten
/// requests on one connection.
fn check_site(addr: SocketAddr, page: &str, keep_alive: bool) {
    let (status, body) = get(addr, "/");
    assert_eq!(status, 200, "GET /");
    assert_eq!(String::from_utf8_lossy(&body), page, "GET /");
    let (status, body) = get(addr, "/big");
    assert_eq!(status, 200, "GET /big");
    assert_eq!(body.len(), big_body().len(), "GET /big: length");
    assert!(body == big_body(), "GET /big: the bytes differ");
    assert_eq!(get(addr, "/missing").0, 404, "GET /missing");
    if keep_alive {
        let mut c = HttpConn::connect(addr, Duration::from_secs(20)).expect("connect");
        for i in 0..10 {
            let r = c
                .get("/", false)
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(r.status, 200, "keep-alive request {i}");
            assert!(!r.close, "keep-alive request {i}: the server closed");
        }
    }
}

/// Boot `img`, wait for `ready` on the console, run `check`, stop it.
fn serve(img: &Path, machine: &str, options: &[String], ready: &str, check: impl FnOnce()) {
    let server = start(img, machine, options);
    let what = format!("{} on {machine}", img.display());
    serve_checked(server, &what, ready, READY, check);
}

fn nginx(machine: &str) {
    let nginx = installed("/usr/sbin/nginx", "nginx-light");
    let page = "hello from nginx on Kiln\n";
    let site = site(page);
    let conf = work().join("nginx.conf");
    std::fs::write(
        &conf,
        "daemon off;\nmaster_process off;\nerror_log stderr notice;\npid /tmp/nginx.pid;\n\
         events { worker_connections 64; }\n\
         http {\n  access_log off;\n  client_body_temp_path /tmp;\n\
           server { listen 8080; root /site; default_type text/plain; }\n}\n",
    )
    .expect("write nginx.conf");
    let img = image(
        "nginx",
        &nginx,
        &[
            "--file",
            &format!("{}:/etc/nginx/nginx.conf", conf.display()),
            "--dir",
            &format!("{}:/site", site.display()),
        ],
        &["-c", "/etc/nginx/nginx.conf"],
    );
    let port = free_tcp_port();
    // nginx prints nothing when it is ready: wait for the VM's network line.
    serve(
        &img,
        machine,
        &["-p".into(), format!("{port}:8080")],
        "kiln: net:",
        || {
            wait_for_port(local(port));
            check_site(local(port), page, true);
        },
    );
}

/// Wait until a TCP connection to `addr` is answered by the server (QEMU
/// accepts forwarded connections before the program listens).
fn wait_for_port(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + READY;
    while std::time::Instant::now() < deadline {
        if let Ok(mut c) = HttpConn::connect(addr, Duration::from_secs(5)) {
            if c.get("/", true).is_ok() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{addr} did not answer within {READY:?}");
}

#[test]
fn nginx_microvm() {
    nginx("microvm");
}

#[test]
fn nginx_q35() {
    nginx("q35");
}

/// Send one RESP command line, read the reply.
fn try_redis(conn: &mut TcpStream, cmd: &str) -> std::io::Result<String> {
    conn.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn redis(conn: &mut TcpStream, cmd: &str) -> String {
    try_redis(conn, cmd).unwrap_or_else(|e| panic!("redis {cmd}: {e}"))
}

fn redis_server(machine: &str) {
    let redis_bin = installed("/usr/bin/redis-server", "redis-server");
    let img = image(
        "redis",
        &redis_bin,
        &[],
        &["--bind", "0.0.0.0", "--save", "", "--protected-mode", "no"],
    );
    let port = free_tcp_port();
    serve(
        &img,
        machine,
        &["-p".into(), format!("{port}:6379")],
        // Redis's own line once it listens.
        "1:M",
        || {
            let mut c = None;
            for _ in 0..60 {
                match TcpStream::connect_timeout(&local(port), Duration::from_secs(5)) {
                    Ok(s) => {
                        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                        let mut s = s;
                        // Reset until redis listens (QEMU accepts first).
                        match try_redis(&mut s, "PING") {
                            Ok(r) if r.starts_with("+PONG") => {
                                c = Some(s);
                                break;
                            }
                            _ => std::thread::sleep(Duration::from_millis(200)),
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(500)),
                }
            }
            let mut c = c.expect("redis answers PING");
            assert_eq!(redis(&mut c, "SET kiln hello"), "+OK\r\n");
            assert_eq!(redis(&mut c, "GET kiln"), "$5\r\nhello\r\n");
            assert_eq!(redis(&mut c, "INCR n"), ":1\r\n");
            assert_eq!(redis(&mut c, "GET missing"), "$-1\r\n");
        },
    );
}

#[test]
fn redis_microvm() {
    redis_server("microvm");
}

#[test]
fn redis_q35() {
    redis_server("q35");
}

fn python(machine: &str) {
    let python = installed("/usr/bin/python3", "python3");
    let page = "hello from python on Kiln\n";
    let site = site(page);
    let img = image(
        "python3",
        &python,
        &["--dir", &format!("{}:/site", site.display())],
        &["-m", "http.server", "8000", "--directory", "/site"],
    );
    let port = free_tcp_port();
    serve(
        &img,
        machine,
        &["-p".into(), format!("{port}:8000")],
        "Serving HTTP on",
        // http.server speaks HTTP/1.0: one request per connection.
        || check_site(local(port), page, false),
    );
}

#[test]
fn python3_microvm() {
    python("microvm");
}

#[test]
fn python3_q35() {
    python("q35");
}

fn node(machine: &str) {
    let node = installed("/usr/bin/node", "nodejs");
    let js = work().join("server.js");
    std::fs::write(
        &js,
        r#"const http = require('http');
const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + Math.floor(i / 1024)) % 251;
http.createServer((req, res) => {
  if (req.url === '/') { res.setHeader('Content-Type', 'text/plain'); res.end('hello from node on Kiln\n'); }
  else if (req.url === '/big') { res.setHeader('Content-Length', big.length); res.end(big); }
  else { res.statusCode = 404; res.end('not found\n'); }
}).listen(8080, () => console.log('node listening on 8080'));
"#,
    )
    .expect("write server.js");
    let img = image(
        "node",
        &node,
        &["--file", &format!("{}:/app/server.js", js.display())],
        &["/app/server.js"],
    );
    let port = free_tcp_port();
    serve(
        &img,
        machine,
        &["-p".into(), format!("{port}:8080")],
        "node listening on",
        || check_site(local(port), "hello from node on Kiln\n", true),
    );
}

#[test]
fn node_microvm() {
    node("microvm");
}

#[test]
fn node_q35() {
    node("q35");
}

fn dnsmasq(machine: &str) {
    let dnsmasq = installed("/usr/sbin/dnsmasq", "dnsmasq-base");
    let img = image(
        "dnsmasq",
        &dnsmasq,
        &[],
        &["-k", "--no-resolv", "--address=/kiln.test/10.1.2.3"],
    );
    let port = free_udp_port();
    serve(
        &img,
        machine,
        &["--udp".into(), format!("{port}:53")],
        // dnsmasq logs to syslog, which the VM does not have: wait for the
        // network, then ask until it answers.
        "kiln: net:",
        || {
            let mut answer = Err(std::io::Error::other("not asked"));
            for _ in 0..12 {
                answer = dns_query(local(port), "www.kiln.test", TYPE_A, Duration::from_secs(2));
                if answer.is_ok() {
                    break;
                }
            }
            let a = answer.expect("dnsmasq answers");
            assert_eq!(a.rcode, 0, "{a:?}");
            assert_eq!(
                a.addrs,
                vec!["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]
            );
        },
    );
}

#[test]
fn dnsmasq_microvm() {
    dnsmasq("microvm");
}

#[test]
fn dnsmasq_q35() {
    dnsmasq("q35");
}

/// The C hello sample linked dynamically (musl's and glibc's ld.so).
fn hello_dynamic(name: &str, machine: &str) {
    let program = sample(name);
    let o = run(
        kiln(),
        &[
            "run".to_string(),
            program.display().to_string(),
            "--machine".into(),
            machine.into(),
            "--accel".into(),
            "tcg".into(),
            "--".into(),
            "x".into(),
        ],
        &root(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{name}: {}", o.describe());
    for line in [
        "Hello from C on Kiln!",
        "argv[1] = x",
        "uname: Linux x86_64",
        "clock ok",
    ] {
        assert!(
            o.stdout.contains(line),
            "{name}: no {line:?}: {}",
            o.describe()
        );
    }
    // argv[0] is the program's path, or /<name> when it lives under /tmp
    // or /run (tmpfs mounts in the VM), as when CI clones into /tmp.
    let path = program.display().to_string();
    let argv0 = if path.starts_with("/tmp/") || path.starts_with("/run/") {
        format!("/{name}")
    } else {
        path
    };
    assert!(
        o.stdout.contains(&format!("argv[0] = {argv0}")),
        "{name}: argv[0] is {argv0}: {}",
        o.describe()
    );
}

#[test]
fn hello_musl_dynamic_microvm() {
    hello_dynamic("hello-c-musl-dyn", "microvm");
}

#[test]
fn hello_glibc_dynamic_q35() {
    hello_dynamic("hello-c-glibc-dyn", "q35");
}
