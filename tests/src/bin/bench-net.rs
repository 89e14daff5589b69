//! Network benchmark: HTTP requests/s and latency (wrk) of http-rust,
//! http-poll, tokio-http and go-http in the VM, over QEMU user networking
//! (and over a tap device when `--tap NAME --tap-ip ADDR` is given), next to
//! the same binary on the host in the same run, as ratios; DNS queries/s
//! (dnsperf) of dns-rust likewise. `--soak MINUTES` instead keeps a constant
//! load on each server in the VM for that long and fails (exit 1) on a
//! second without a completed request, an error or a lost connection.
//!
//!     cargo run -p kiln-tests --release --bin bench-net -- [--seconds N]
//!         [--connections N] [--machine microvm|q35] [--only NAME]
//!         [--tap NAME --tap-ip ADDR] [--linux DIR] [--baseline KILN [--rounds N]]
//!         [--soak MINUTES] [--first-response RUNS] [--console]
//!
//! `--first-response RUNS` measures instead the time from QEMU's start to
//! the first answered request of http-poll (with `--baseline`, both builds
//! taking turns).
//!
//! `--console` measures instead what a program that logs pays for its
//! console: http-poll writing one access-log line per request against
//! http-poll that does not, taking turns for `--rounds N` rounds, as a ratio
//! (with `--baseline`, the logging server on both builds too).
//!
//! `--linux DIR` (q35 or microvm) adds the fair peer: the same binary
//! as the only program of a Linux VM under the same QEMU (DIR from
//! scripts/linux-guest.sh), and the ratio Kiln / Linux.
//!
//! `--baseline KILN` (an earlier build of `kiln`) runs every server in the
//! VM with that build too, taking turns with this one for `--rounds N`
//! rounds (default 1), and prints the ratio this / baseline of each round
//! and their median, so that every change shows its effect. With `--tap`
//! both builds run over the tap device instead (QEMU's user-network forward
//! listens with a backlog of one: 16 connections opened at once lose SYNs
//! and wait a second for the retry in about one run in two, noise that
//! hides a change).
//!
//! Needs wrk and dnsperf (apt-get install wrk dnsperf). Loads are bounded
//! (wrk with 2 threads) and stay on 127.0.0.1 (or the tap network).

use kiln_tests::bench::{
    parse_dnsperf, parse_wrk, serving_rss_kib, soak, DnsperfReport, WrkReport,
};
use kiln_tests::linux_guest::LinuxGuest;
use kiln_tests::net::{free_tcp_port, free_udp_port, local, Place, Server};
use kiln_tests::{kiln_run, root, sample};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The HTTP servers and their "ready" lines.
const HTTP: &[(&str, &str)] = &[
    ("http-rust", "listening on"),
    ("http-poll", "listening on"),
    ("tokio-http", "tokio listening on"),
    ("go-http", "go listening on"),
];
const BOOT_LIMIT: Duration = Duration::from_secs(120);

/// A report and the serving process's resident memory (KiB) under load.
type Measured<T> = Option<(T, Option<u64>)>;

struct Options {
    seconds: u64,
    connections: u32,
    machine: String,
    only: Option<String>,
    tap: Option<(String, Ipv4Addr)>,
    soak_minutes: Option<u64>,
    /// Runs of the first-response measurement (`--first-response N`).
    first_response: Option<u64>,
    /// Kernel and modules for the Linux guest (scripts/linux-guest.sh).
    linux: Option<std::path::PathBuf>,
    /// An earlier build of kiln to compare with.
    baseline: Option<std::path::PathBuf>,
    /// Rounds of this build against the baseline.
    rounds: u64,
    /// `--console`: the cost of an access log on the console.
    console: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-net [--seconds N] [--connections N] [--machine microvm|q35] [--only NAME] \
         [--tap NAME --tap-ip ADDR] [--linux DIR] [--baseline KILN [--rounds N]] [--soak MINUTES] \
         [--first-response RUNS] [--console]"
    );
    std::process::exit(2);
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        seconds: 10,
        connections: 16,
        machine: "microvm".into(),
        only: None,
        tap: None,
        soak_minutes: None,
        first_response: None,
        linux: None,
        baseline: None,
        rounds: 1,
        console: false,
    };
    let (mut tap, mut tap_ip) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--console" {
            o.console = true;
            continue;
        }
        let Some(v) = it.next() else { usage() };
        let num = || {
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--seconds" => o.seconds = num(),
            "--connections" => o.connections = num().min(1000) as u32,
            "--machine" if v == "microvm" || v == "q35" => o.machine = v.clone(),
            "--only" => o.only = Some(v.clone()),
            "--tap" => tap = Some(v.clone()),
            "--tap-ip" => tap_ip = Some(v.parse::<Ipv4Addr>().unwrap_or_else(|_| usage())),
            "--soak" => o.soak_minutes = Some(num()),
            "--first-response" => o.first_response = Some(num().min(100)),
            "--linux" => o.linux = Some(v.into()),
            "--baseline" => o.baseline = Some(v.into()),
            "--rounds" => o.rounds = num().min(100),
            _ => usage(),
        }
    }
    o.tap = match (tap, tap_ip) {
        (Some(t), Some(ip)) => Some((t, ip)),
        (None, None) => None,
        _ => usage(),
    };
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    kiln_tests::run_as_kiln_if_asked();
    let o = parse_options(&args[1..]);
    let wanted = |name: &str| o.only.as_deref().is_none_or(|n| n == name);
    let work = tempfile::tempdir().expect("temporary directory");
    let me = kiln_tests::kiln_script(work.path());

    if let Some(runs) = o.first_response {
        first_response(&me, &o, runs);
        return;
    }
    if o.console {
        console_cost(&me, &o);
        return;
    }
    if let Some(minutes) = o.soak_minutes {
        let mut failed = false;
        for &(name, ready) in HTTP.iter().filter(|(n, _)| wanted(n)) {
            failed |= !soak_one(&me, &o, name, ready, Duration::from_secs(minutes * 60));
        }
        std::process::exit(i32::from(failed));
    }

    for tool in ["wrk", "dnsperf"] {
        if Command::new(tool).arg("-h").output().is_err() {
            eprintln!("bench-net: {tool} is missing (apt-get install {tool})");
            std::process::exit(2);
        }
    }
    println!(
        "{} s per run, wrk -t2 -c{}, machine {}, TCG; ratio = VM / host",
        o.seconds, o.connections, o.machine
    );
    let linux = o.linux.as_ref().map(|dir| {
        LinuxGuest::new(dir, work.path()).unwrap_or_else(|e| {
            eprintln!(
                "bench-net: Linux guest: {e} (run scripts/linux-guest.sh {})",
                dir.display()
            );
            std::process::exit(2);
        })
    });
    println!(
        "{:<11} {:<9} {:>10} {:>9} {:>9} {:>7} {:>7} {:>8} {:>7}",
        "server", "where", "req/s", "p50", "p99", "errors", "ratio", "vs peer", "rss MiB"
    );
    for &(name, ready) in HTTP.iter().filter(|(n, _)| wanted(n)) {
        let host = http_run(Place::Host, &o, name, ready, None);
        print_http(name, "host", host, None, None);
        let peer = linux
            .as_ref()
            .and_then(|g| linux_http_run(g, &o, name, ready));
        if linux.is_some() {
            print_http(name, "linux vm", peer, host, None);
        }
        let vm = Place::Vm {
            kiln: &me,
            machine: &o.machine,
        };
        if let Some(base) = &o.baseline {
            let old = Place::Vm {
                kiln: base,
                machine: &o.machine,
            };
            let rps = |w: &Measured<WrkReport>| w.as_ref().map(|w| w.0.requests_per_sec);
            // With a tap device both builds run over it (see `Net::rows`).
            let net = Net::new(&o, work.path());
            let mut ratios = Vec::new();
            for round in 0..o.rounds {
                let (before, now) = alternate(
                    round,
                    || http_run(old, &o, name, ready, net.tap()),
                    || http_run(vm, &o, name, ready, net.tap()),
                );
                print_http(name, net.rows().0, before, host, None);
                print_http(name, net.rows().1, now, host, before);
                if let (Some(a), Some(b)) = (rps(&now), rps(&before)) {
                    ratios.push(a / b);
                }
            }
            print_vs_baseline(name, "requests/s", ratios);
        } else {
            let user = http_run(vm, &o, name, ready, None);
            print_http(name, "vm user", user, host, peer);
        }
        if let (Some((tap, ip)), None) = (&o.tap, &o.baseline) {
            let config = tap_config(work.path(), *ip);
            let tapped = http_run(vm, &o, name, ready, Some((tap, *ip, &config)));
            print_http(name, "vm tap", tapped, host, None);
        }
    }
    if wanted("dns-rust") {
        let queries = work.path().join("queries.txt");
        std::fs::write(
            &queries,
            "www.kiln.test A\nwww.kiln.test AAAA\nkiln.test A\nnope.kiln.test A\n",
        )
        .expect("write queries");
        println!(
            "{:<11} {:<9} {:>10} {:>9} {:>7} {:>7} {:>8} {:>7}",
            "server", "where", "queries/s", "avg", "lost", "ratio", "vs peer", "rss MiB"
        );
        let host = dns_run(Place::Host, &o, &queries, None);
        print_dns("host", host, None, None);
        let peer = linux.as_ref().and_then(|g| linux_dns_run(g, &o, &queries));
        if linux.is_some() {
            print_dns("linux vm", peer, host, None);
        }
        let vm = Place::Vm {
            kiln: &me,
            machine: &o.machine,
        };
        if let Some(base) = &o.baseline {
            let old = Place::Vm {
                kiln: base,
                machine: &o.machine,
            };
            let qps = |d: &Measured<DnsperfReport>| d.as_ref().map(|d| d.0.queries_per_sec);
            let net = Net::new(&o, work.path());
            let mut ratios = Vec::new();
            for round in 0..o.rounds {
                let (before, now) = alternate(
                    round,
                    || dns_run(old, &o, &queries, net.tap()),
                    || dns_run(vm, &o, &queries, net.tap()),
                );
                print_dns(net.rows().0, before, host, None);
                print_dns(net.rows().1, now, host, before);
                if let (Some(a), Some(b)) = (qps(&now), qps(&before)) {
                    ratios.push(a / b);
                }
            }
            print_vs_baseline("dns-rust", "queries/s", ratios);
        } else {
            print_dns("vm user", dns_run(vm, &o, &queries, None), host, peer);
        }
        if let (Some((tap, ip)), None) = (&o.tap, &o.baseline) {
            let config = tap_config(work.path(), *ip);
            let tapped = dns_run(vm, &o, &queries, Some((tap, *ip, &config)));
            print_dns("vm tap", tapped, host, None);
        }
    }
}

/// The network the `--baseline` rounds run on: the tap device when one is
/// given, user networking otherwise.
struct Net {
    tap: Option<(String, Ipv4Addr, std::path::PathBuf)>,
}

impl Net {
    fn new(o: &Options, dir: &Path) -> Net {
        Net {
            tap: o
                .tap
                .as_ref()
                .map(|(t, ip)| (t.clone(), *ip, tap_config(dir, *ip))),
        }
    }

    fn tap(&self) -> Option<(&String, Ipv4Addr, &Path)> {
        self.tap.as_ref().map(|(t, ip, c)| (t, *ip, c.as_path()))
    }

    /// Row labels, baseline and this build. Over user networking QEMU's
    /// forward listens with a backlog of one: of 16 connections opened at
    /// once most lose their SYN and wait a second for the retry, in about
    /// one run in two. Over a tap device the builds compare without that.
    fn rows(&self) -> (&'static str, &'static str) {
        match self.tap {
            Some(_) => ("base tap", "vm tap"),
            None => ("baseline", "vm user"),
        }
    }
}

/// `kiln run` options that give the VM a static address on the tap network.
fn tap_config(dir: &Path, ip: Ipv4Addr) -> std::path::PathBuf {
    let path = dir.join("tap.json");
    let json = format!(r#"{{"RunConfig": {{"IPAddress": "{ip}", "NetMask": "255.255.255.0"}}}}"#);
    std::fs::write(&path, json).expect("write tap config");
    path
}

/// Start `name` at `place`, wait for it, run wrk against `/`, stop it.
fn http_run(
    place: Place,
    o: &Options,
    name: &str,
    ready: &str,
    tap: Option<(&String, Ipv4Addr, &Path)>,
) -> Measured<WrkReport> {
    http_run_with(place, o, name, ready, tap, &[])
}

/// [`http_run`] with more arguments for the server after its port.
fn http_run_with(
    place: Place,
    o: &Options,
    name: &str,
    ready: &str,
    tap: Option<(&String, Ipv4Addr, &Path)>,
    more: &[&str],
) -> Measured<WrkReport> {
    let port = free_tcp_port();
    let (options, guest, addr): (Vec<String>, u16, SocketAddr) = match (place, tap) {
        (Place::Host, _) => (vec![], port, local(port)),
        (Place::Vm { .. }, None) => (vec!["-p".into(), format!("{port}:8080")], 8080, local(port)),
        (Place::Vm { .. }, Some((tap, ip, config))) => (
            vec![
                "--net".into(),
                format!("tap:{tap}"),
                "-c".into(),
                config.display().to_string(),
            ],
            8080,
            SocketAddr::from((ip, 8080)),
        ),
    };
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let guest = guest.to_string();
    let prog_args: Vec<&str> = std::iter::once(guest.as_str())
        .chain(more.iter().copied())
        .collect();
    let server = Server::start(place.command(name, &options, &prog_args));
    serve_wrk(server, o, name, ready, addr, &place.label())
}

/// `--console`: http-poll with an access-log line per request against
/// http-poll without, in turns; with `--baseline`, logging on both builds.
fn console_cost(me: &Path, o: &Options) {
    println!(
        "{} s per run, wrk -t2 -c{}, machine {}, TCG; http-poll with and without \"log\"",
        o.seconds, o.connections, o.machine
    );
    let vm = Place::Vm {
        kiln: me,
        machine: &o.machine,
    };
    let rps = |w: &Measured<WrkReport>| w.as_ref().map(|w| w.0.requests_per_sec);
    let (mut cost, mut gain) = (Vec::new(), Vec::new());
    for round in 0..o.rounds {
        let (quiet, logging) = alternate(
            round,
            || http_run(vm, o, "http-poll", "listening on", None),
            || http_run_with(vm, o, "http-poll", "listening on", None, &["log"]),
        );
        print_http("http-poll", "no log", quiet, None, None);
        print_http("http-poll", "log", logging, quiet, None);
        if let (Some(a), Some(b)) = (rps(&logging), rps(&quiet)) {
            cost.push(a / b);
        }
        if let Some(base) = &o.baseline {
            let old = Place::Vm {
                kiln: base,
                machine: &o.machine,
            };
            let before = http_run_with(old, o, "http-poll", "listening on", None, &["log"]);
            print_http("http-poll", "log, base", before, None, None);
            if let (Some(a), Some(b)) = (rps(&logging), rps(&before)) {
                gain.push(a / b);
            }
        }
    }
    print_ratio("http-poll", "logging / not logging", "requests/s", cost);
    if o.baseline.is_some() {
        print_vs_baseline("http-poll logging", "requests/s", gain);
    }
}

/// The same server as the only program of a Linux VM (TCG).
fn linux_http_run(g: &LinuxGuest, o: &Options, name: &str, ready: &str) -> Measured<WrkReport> {
    let port = free_tcp_port();
    let fwd = [format!("tcp:127.0.0.1:{port}-:8080")];
    let cmd = g.command(&o.machine, &sample(name), &[], &["8080"], &fwd);
    let cmd = cmd
        .map_err(|e| eprintln!("bench-net: {name} in Linux: {e}"))
        .ok()?;
    serve_wrk(Server::start(cmd), o, name, ready, local(port), "in Linux")
}

/// Wait for `server` to be ready, run wrk against `/` at `addr`, stop it.
fn serve_wrk(
    server: Server,
    o: &Options,
    name: &str,
    ready: &str,
    addr: SocketAddr,
    label: &str,
) -> Measured<WrkReport> {
    if let Err(e) = server.wait_for(ready, BOOT_LIMIT) {
        eprintln!("bench-net: {name} {label}: {e}");
        return None;
    }
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{}", o.connections)])
        .arg(format!("-d{}s", o.seconds))
        .args(["--timeout", "5s", "--latency"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run wrk");
    let rss = serving_rss_kib(server.pid());
    let text = String::from_utf8_lossy(&out.stdout);
    let report = parse_wrk(&text);
    if report.is_none() {
        eprintln!("bench-net: {name} {label}: no wrk report:\n{text}");
    }
    server.stop(libc::SIGINT, Duration::from_secs(15));
    report.map(|r| (r, rss))
}

fn dns_run(
    place: Place,
    o: &Options,
    queries: &Path,
    tap: Option<(&String, Ipv4Addr, &Path)>,
) -> Measured<DnsperfReport> {
    let port = free_udp_port();
    let zone = root().join("samples/dns-rust/zone.txt");
    let (guest, zone_arg) = match place {
        Place::Vm { .. } => (53, "/etc/kiln-zone.txt".to_string()),
        Place::Host => (port, zone.display().to_string()),
    };
    let file = format!("{}:/etc/kiln-zone.txt", zone.display());
    let mut options = vec!["--file".to_string(), file];
    let (server_ip, server_port) = match tap {
        Some((tap, ip, config)) => {
            options.extend(["--net".into(), format!("tap:{tap}"), "-c".into()]);
            options.push(config.display().to_string());
            (ip.to_string(), guest)
        }
        None => {
            options.extend(["--udp".into(), format!("{port}:{guest}")]);
            ("127.0.0.1".to_string(), port)
        }
    };
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let server =
        Server::start(place.command("dns-rust", &options, &[&guest.to_string(), &zone_arg]));
    serve_dnsperf(
        server,
        o,
        queries,
        (&server_ip, server_port),
        &place.label(),
    )
}

/// dns-rust as the only program of a Linux VM (TCG).
fn linux_dns_run(g: &LinuxGuest, o: &Options, queries: &Path) -> Measured<DnsperfReport> {
    let port = free_udp_port();
    let zone = root().join("samples/dns-rust/zone.txt");
    let fwd = [format!("udp:127.0.0.1:{port}-:53")];
    let files = [("/zone.txt", zone.as_path())];
    let cmd = g.command(
        &o.machine,
        &sample("dns-rust"),
        &files,
        &["53", "/zone.txt"],
        &fwd,
    );
    let cmd = cmd
        .map_err(|e| eprintln!("bench-net: dns-rust in Linux: {e}"))
        .ok()?;
    serve_dnsperf(
        Server::start(cmd),
        o,
        queries,
        ("127.0.0.1", port),
        "in Linux",
    )
}

/// Wait for dns-rust, run dnsperf against `to`, stop it.
fn serve_dnsperf(
    server: Server,
    o: &Options,
    queries: &Path,
    to: (&str, u16),
    label: &str,
) -> Measured<DnsperfReport> {
    if let Err(e) = server.wait_for("dns listening on", BOOT_LIMIT) {
        eprintln!("bench-net: dns-rust {label}: {e}");
        return None;
    }
    let out = Command::new("dnsperf")
        .args(["-s", to.0, "-p", &to.1.to_string(), "-d"])
        .arg(queries)
        .args(["-l", &o.seconds.to_string(), "-q", "64", "-t", "2"])
        .output()
        .expect("run dnsperf");
    let rss = serving_rss_kib(server.pid());
    let text = String::from_utf8_lossy(&out.stdout);
    let report = parse_dnsperf(&text);
    if report.is_none() {
        eprintln!("bench-net: dns-rust {label}: no dnsperf report:\n{text}");
    }
    server.stop(libc::SIGINT, Duration::from_secs(15));
    report.map(|r| (r, rss))
}

/// QEMU start to the first answered request: `kiln run` of http-poll is
/// started and asked for `/` every 5 ms (each try given 100 ms) until the
/// answer is a 200, `runs` times; with `--baseline`, the two builds take
/// turns. Prints the medians (DHCP included: the default network).
fn first_response(kiln: &Path, o: &Options, runs: u64) {
    use std::time::Instant;
    let once = |kiln: &Path| -> Option<Duration> {
        let port = free_tcp_port();
        let start = Instant::now();
        let server = Server::start(kiln_run(
            kiln,
            &o.machine,
            &["-p", &format!("{port}:8080")],
            &sample("http-poll"),
            &["8080"],
        ));
        let mut took = None;
        while start.elapsed() < BOOT_LIMIT {
            let answered =
                kiln_tests::net::HttpConn::connect(local(port), Duration::from_millis(100))
                    .and_then(|mut c| c.get("/", true))
                    .is_ok_and(|r| r.status == 200);
            if answered {
                took = Some(start.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        server.stop(libc::SIGINT, Duration::from_secs(15));
        took
    };
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..runs {
        match &o.baseline {
            Some(base) => {
                let (b, n) = alternate(round, || once(base), || once(kiln));
                theirs.extend(b);
                mine.extend(n);
            }
            None => mine.extend(once(kiln)),
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).map(|d| d.as_secs_f64() * 1000.0)
    };
    let show = |m: Option<f64>| m.map_or_else(|| "failed".to_string(), |m| format!("{m:.0} ms"));
    let (m, t) = (median(&mut mine), median(&mut theirs));
    println!(
        "http-poll, {} runs, machine {}: QEMU start to first HTTP 200, median {}",
        runs,
        o.machine,
        show(m)
    );
    if o.baseline.is_some() {
        println!(
            "baseline: median {}; this / baseline {}",
            show(t),
            ratio(m.unwrap_or(0.0), t)
        );
    }
}

/// One round of the baseline against this build: (baseline, this). Who
/// goes first alternates from round to round, so that drift favours
/// neither.
fn alternate<T>(round: u64, mut before: impl FnMut() -> T, mut now: impl FnMut() -> T) -> (T, T) {
    if round.is_multiple_of(2) {
        let b = before();
        (b, now())
    } else {
        let n = now();
        (before(), n)
    }
}

/// The rounds' ratios this build / baseline and their median.
fn print_vs_baseline(name: &str, what: &str, ratios: Vec<f64>) {
    print_ratio(name, "this build / baseline", what, ratios)
}

/// The median of per-round ratios `of` (e.g. "this build / baseline").
fn print_ratio(name: &str, of: &str, what: &str, mut ratios: Vec<f64>) {
    if ratios.is_empty() {
        println!("{name}: {of}, {what}: no pair of runs succeeded");
        return;
    }
    let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "{name}: {of}, {what}: median {:.3} (rounds: {})",
        ratios[ratios.len() / 2],
        rounds.join(" ")
    );
}

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.0}us")
    }
}

/// `a / b` with three decimals, "-" without a peer.
fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or_else(|| "-".into(), |b| format!("{:.3}", a / b))
}

/// Resident memory in MiB, "-" when unknown.
fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn print_http(
    name: &str,
    place: &str,
    r: Measured<WrkReport>,
    host: Measured<WrkReport>,
    linux: Measured<WrkReport>,
) {
    let Some((r, rss)) = r else {
        println!("{name:<11} {place:<9} {:>10}", "failed");
        return;
    };
    let rps = |w: (WrkReport, Option<u64>)| w.0.requests_per_sec;
    println!(
        "{name:<11} {place:<9} {:>10.0} {:>9} {:>9} {:>7} {:>7} {:>8} {:>7}",
        r.requests_per_sec,
        micros(r.p50_us),
        micros(r.p99_us),
        r.errors,
        ratio(r.requests_per_sec, host.map(rps)),
        ratio(r.requests_per_sec, linux.map(rps)),
        mib(rss),
    );
}

fn print_dns(
    place: &str,
    r: Measured<DnsperfReport>,
    host: Measured<DnsperfReport>,
    linux: Measured<DnsperfReport>,
) {
    let Some((r, rss)) = r else {
        println!("{:<11} {place:<9} {:>10}", "dns-rust", "failed");
        return;
    };
    let qps = |d: (DnsperfReport, Option<u64>)| d.0.queries_per_sec;
    println!(
        "{:<11} {place:<9} {:>10.0} {:>9} {:>7} {:>7} {:>8} {:>7}",
        "dns-rust",
        r.queries_per_sec,
        micros(r.avg_latency_us),
        r.lost,
        ratio(r.queries_per_sec, host.map(qps)),
        ratio(r.queries_per_sec, linux.map(qps)),
        mib(rss),
    );
}

/// Soak one server in the VM; true when it held.
fn soak_one(kiln: &Path, o: &Options, name: &str, ready: &str, length: Duration) -> bool {
    let port = free_tcp_port();
    let server = Server::start(kiln_run(
        kiln,
        &o.machine,
        &["-p", &format!("{port}:8080")],
        &sample(name),
        &["8080"],
    ));
    if let Err(e) = server.wait_for(ready, BOOT_LIMIT) {
        eprintln!("bench-net: soak {name}: {e}");
        return false;
    }
    let page = format!("hello from {name} on Kiln\n");
    let conns = o.connections.min(64) as usize;
    eprintln!("bench-net: soak {name}: {conns} connections for {length:?}");
    let r = soak(local(port), &page, conns, length);
    let ended = server.stop(libc::SIGINT, Duration::from_secs(15));
    println!(
        "soak {name}: {} s, {} requests ({:.0}/s), {} errors, {} lost connections, stalls at {:?} -> {}",
        r.seconds,
        r.requests,
        r.requests as f64 / r.seconds.max(1) as f64,
        r.errors,
        r.lost_connections,
        r.stalls,
        if r.ok() { "ok" } else { "FAILED" }
    );
    for reason in &r.lost_reasons {
        println!("  lost: {reason}");
    }
    if !r.ok() {
        eprintln!("{}", ended.console);
    }
    r.ok()
}
