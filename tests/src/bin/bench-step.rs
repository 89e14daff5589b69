//! Stepped-load benchmark (issue 11): constant-rate, open-loop load
//! (wrk2's method, by our own generator: see kiln_tests::step) against a
//! sample HTTP server, stepped up 100, 200, 400, ... requests/s until the
//! p99 latency passes 100 ms or errors or timeouts appear; the last good
//! rate is the knee. DNS likewise with `dnsperf -Q` against dns-rust (knee:
//! no lost query, average latency under 100 ms, 90% of the rate answered).
//! Each server runs in a Kiln VM and on the host, and optionally under an
//! earlier kiln (`--baseline KILN`) and in a Linux VM (`--linux DIR`, q35 or microvm).
//!
//!     cargo run -p kiln-tests --release --bin bench-step -- [--step-seconds N]
//!         [--max-rate N] [--connections N] [--machine microvm|q35]
//!         [--only NAME[,NAME...]] [--baseline KILN] [--linux DIR] [--out DIR]
//!
//! Servers: http-poll and dns-rust by default; `--only` picks among
//! http-poll, http-rust, tokio-http, go-http and dns-rust. dnsperf is
//! optional (DNS is skipped with a note without it). The report
//! (`report.md`, one SVG plot per server) goes to `--out` (default
//! target/bench-step/) and to standard output. Every load goes to
//! 127.0.0.1, with at most 64 connections.

use kiln_tests::bench::parse_dnsperf;
use kiln_tests::linux_guest::LinuxGuest;
use kiln_tests::net::{free_tcp_port, free_udp_port, local, Place, Server};
use kiln_tests::step::{self, Kind, Loader, Report, Run, Step, KILN};
use kiln_tests::{root, sample};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The HTTP servers and their "ready" lines.
const HTTP: &[(&str, &str)] = &[
    ("http-poll", "listening on"),
    ("http-rust", "listening on"),
    ("tokio-http", "tokio listening on"),
    ("go-http", "go listening on"),
];
const DNS: &str = "dns-rust";
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// A request (or query) with no answer this long after it was due is a
/// timeout.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Quiet time between steps, for queues to drain.
const PAUSE: Duration = Duration::from_millis(500);

struct Options {
    step: Duration,
    max_rate: u64,
    connections: usize,
    machine: String,
    only: Vec<String>,
    baseline: Option<PathBuf>,
    linux: Option<PathBuf>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-step [--step-seconds N] [--max-rate N] [--connections N] \
         [--machine microvm|q35] [--only NAME[,NAME...]] [--baseline KILN] [--linux DIR] \
         [--out DIR]\n  servers: http-poll (default), http-rust, tokio-http, go-http, \
         dns-rust (default)"
    );
    std::process::exit(2);
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        step: Duration::from_secs(3),
        max_rate: 204_800,
        connections: 32,
        machine: "microvm".into(),
        only: vec!["http-poll".into(), DNS.into()],
        baseline: None,
        linux: None,
        out: root().join("target/bench-step"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next() else { usage() };
        let num = || {
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--step-seconds" => o.step = Duration::from_secs(num().min(600)),
            "--max-rate" => o.max_rate = num(),
            "--connections" => o.connections = num().min(step::MAX_CONNECTIONS as u64) as usize,
            "--machine" if v == "microvm" || v == "q35" => o.machine = v.clone(),
            "--only" => {
                o.only = v.split(',').map(str::to_string).collect();
                let known = |n: &String| n == DNS || HTTP.iter().any(|(h, _)| h == n);
                if !o.only.iter().all(known) {
                    usage()
                }
            }
            "--baseline" => o.baseline = Some(v.into()),
            "--linux" => o.linux = Some(v.into()),
            "--out" => o.out = v.into(),
            _ => usage(),
        }
    }
    if o.max_rate < step::FIRST_RATE {
        eprintln!(
            "bench-step: --max-rate must be at least {}",
            step::FIRST_RATE
        );
        std::process::exit(2);
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    kiln_tests::run_as_kiln_if_asked();
    let o = parse_options(&args[1..]);
    let work = tempfile::tempdir().expect("temporary directory");
    let me = kiln_tests::kiln_script(work.path());
    let linux = o.linux.as_ref().map(|dir| {
        LinuxGuest::new(dir, work.path()).unwrap_or_else(|e| {
            eprintln!(
                "bench-step: Linux guest: {e} (run scripts/linux-guest.sh {})",
                dir.display()
            );
            std::process::exit(2);
        })
    });

    let mut report = Report {
        context: context(&o, &args),
        ..Report::default()
    };
    let vm = Place::Vm {
        kiln: &me,
        machine: &o.machine,
    };
    for &(name, ready) in HTTP.iter().filter(|(n, _)| o.only.iter().any(|w| w == n)) {
        report
            .runs
            .push(http_run(&o, name, ready, "host", Target::At(Place::Host)));
        report
            .runs
            .push(http_run(&o, name, ready, KILN, Target::At(vm)));
        if let Some(base) = &o.baseline {
            let old = Place::Vm {
                kiln: base,
                machine: &o.machine,
            };
            report
                .runs
                .push(http_run(&o, name, ready, "baseline", Target::At(old)));
        }
        if let Some(g) = &linux {
            report
                .runs
                .push(http_run(&o, name, ready, "Linux guest", Target::Linux(g)));
        }
    }
    if o.only.iter().any(|w| w == DNS) {
        if Command::new("dnsperf").arg("-h").output().is_err() {
            report
                .notes
                .push("dnsperf is missing (apt-get install dnsperf): DNS was skipped".into());
        } else {
            let queries = work.path().join("queries.txt");
            std::fs::write(
                &queries,
                "www.kiln.test A\nwww.kiln.test AAAA\nkiln.test A\nnope.kiln.test A\n",
            )
            .expect("write queries");
            report
                .runs
                .push(dns_run(&o, &queries, "host", Target::At(Place::Host)));
            report
                .runs
                .push(dns_run(&o, &queries, KILN, Target::At(vm)));
            if let Some(base) = &o.baseline {
                let old = Place::Vm {
                    kiln: base,
                    machine: &o.machine,
                };
                report
                    .runs
                    .push(dns_run(&o, &queries, "baseline", Target::At(old)));
            }
            if let Some(g) = &linux {
                report
                    .runs
                    .push(dns_run(&o, &queries, "Linux guest", Target::Linux(g)));
            }
        }
    }
    match report.write(&o.out) {
        Ok((path, md)) => {
            println!("{md}");
            eprintln!("bench-step: report and plots in {}", path.display());
        }
        Err(e) => {
            eprintln!("bench-step: {}: {e}", o.out.display());
            std::process::exit(1);
        }
    }
}

/// The lines above the report: machine, date, command, method.
fn context(o: &Options, args: &[String]) -> Vec<String> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|i| step::cpu_model(&i))
        .unwrap_or_else(|| "unknown CPU".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    vec![
        format!("machine: {cpus} CPUs (nproc), {cpu}"),
        format!("date: {}", step::utc_date(now)),
        format!("command: `{}`", step::shell_line(args)),
        format!(
            "VMs: QEMU {}, TCG, 1 vCPU, 256M, user networking (host ports forwarded to 127.0.0.1)",
            o.machine
        ),
        format!(
            "HTTP: open loop (requests due at fixed intervals, latency from the due time), \
             {} keep-alive connections, `GET /`, steps of {} s at 100, 200, 400, ... requests/s \
             (at most {}); a step is past the knee at a p99 over 100 ms, an error, or a request \
             unanswered {} s after it was due",
            o.connections,
            o.step.as_secs(),
            o.max_rate,
            TIMEOUT.as_secs()
        ),
        format!(
            "DNS: `dnsperf -Q RATE -l {} -q 100 -t {}`, 4 names of dns-rust's zone; a step is \
             past the knee at a lost query, an average latency of 100 ms or more, or fewer than \
             90% of the offered queries answered",
            o.step.as_secs(),
            TIMEOUT.as_secs()
        ),
        "knee: the last offered rate before the first step past it".into(),
    ]
}

/// Where a server runs: the host or a Kiln VM, or a Linux VM.
enum Target<'a> {
    At(Place<'a>),
    Linux(&'a LinuxGuest),
}

/// Start HTTP server `name` at `target`, step the load up against it, stop it.
fn http_run(o: &Options, name: &str, ready: &str, label: &str, target: Target) -> Run {
    let port = free_tcp_port();
    let cmd = match target {
        Target::At(Place::Host) => Ok(Place::Host.command(name, &[], &[&port.to_string()])),
        Target::At(vm) => Ok(vm.command(name, &["-p", &format!("{port}:8080")], &["8080"])),
        Target::Linux(g) => {
            let fwd = [format!("tcp:127.0.0.1:{port}-:8080")];
            g.command(&o.machine, &sample(name), &[], &["8080"], &fwd)
        }
    };
    let mut run = Run {
        server: name.into(),
        target: label.into(),
        kind: Kind::Http,
        steps: Vec::new(),
        note: None,
    };
    let server = match cmd {
        Ok(cmd) => Server::start(cmd),
        Err(e) => {
            run.note = Some(format!("did not start: {e}"));
            return run;
        }
    };
    if let Err(e) = server.wait_for(ready, BOOT_LIMIT) {
        eprintln!("bench-step: {name} ({label}): {e}");
        run.note = Some("did not start (its console is on stderr)".into());
        return run;
    }
    let mut load = Loader::new(local(port), o.connections, TIMEOUT);
    eprintln!(
        "bench-step: {name} ({label}): {} of {} connections open",
        load.open_connections(),
        o.connections
    );
    let (steps, note) = step::step_up(Kind::Http, o.max_rate, |rate| {
        std::thread::sleep(PAUSE);
        let h = load.step(rate, o.step);
        let s = Step::from_http(&h);
        log(name, label, Kind::Http, &s, h.first_error.as_deref());
        Ok(s)
    });
    drop(load);
    server.stop(libc::SIGINT, Duration::from_secs(15));
    run.steps = steps;
    run.note = note;
    run
}

/// Start dns-rust at `target`, step dnsperf's rate up against it, stop it.
fn dns_run(o: &Options, queries: &Path, label: &str, target: Target) -> Run {
    let port = free_udp_port();
    let zone = root().join("samples/dns-rust/zone.txt");
    let cmd = match target {
        Target::At(Place::Host) => {
            Ok(Place::Host.command(DNS, &[], &[&port.to_string(), &zone.display().to_string()]))
        }
        Target::At(vm) => {
            let file = format!("{}:/etc/kiln-zone.txt", zone.display());
            let udp = format!("{port}:53");
            Ok(vm.command(
                DNS,
                &["--file", &file, "--udp", &udp],
                &["53", "/etc/kiln-zone.txt"],
            ))
        }
        Target::Linux(g) => {
            let fwd = [format!("udp:127.0.0.1:{port}-:53")];
            let files = [("/zone.txt", zone.as_path())];
            g.command(&o.machine, &sample(DNS), &files, &["53", "/zone.txt"], &fwd)
        }
    };
    let mut run = Run {
        server: DNS.into(),
        target: label.into(),
        kind: Kind::Dns,
        steps: Vec::new(),
        note: None,
    };
    let server = match cmd {
        Ok(cmd) => Server::start(cmd),
        Err(e) => {
            run.note = Some(format!("did not start: {e}"));
            return run;
        }
    };
    if let Err(e) = server.wait_for("dns listening on", BOOT_LIMIT) {
        eprintln!("bench-step: {DNS} ({label}): {e}");
        run.note = Some("did not start (its console is on stderr)".into());
        return run;
    }
    let (steps, note) = step::step_up(Kind::Dns, o.max_rate, |rate| {
        std::thread::sleep(PAUSE);
        let out = Command::new("dnsperf")
            .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-d"])
            .arg(queries)
            .args(["-l", &o.step.as_secs().to_string()])
            .args(["-Q", &rate.to_string(), "-q", "100"])
            .args(["-t", &TIMEOUT.as_secs().to_string()])
            .output()
            .map_err(|e| format!("dnsperf: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let r = parse_dnsperf(&text).ok_or_else(|| {
            eprintln!("bench-step: {DNS} ({label}): no dnsperf report:\n{text}");
            format!("dnsperf gave no report at {rate} queries/s")
        })?;
        let s = Step::from_dnsperf(rate, o.step, &r);
        log(DNS, label, Kind::Dns, &s, None);
        Ok(s)
    });
    server.stop(libc::SIGINT, Duration::from_secs(15));
    run.steps = steps;
    run.note = note;
    run
}

/// One step's line on stderr, as the run goes.
fn log(name: &str, label: &str, kind: Kind, s: &Step, first_error: Option<&str>) {
    let latency = match kind {
        Kind::Http => format!(
            "p50 {} p99 {}",
            s.p50.map_or("-".into(), step::ms),
            s.p99.map_or("-".into(), step::ms)
        ),
        Kind::Dns => format!("avg {}", s.avg.map_or("-".into(), step::ms)),
    };
    let verdict = s.over(kind).unwrap_or_else(|| "ok".into());
    let first = first_error.map_or(String::new(), |e| format!(" (first error: {e})"));
    eprintln!(
        "bench-step: {name} ({label}) {}/s: achieved {:.0}/s, {latency}: {verdict}{first}",
        s.offered, s.achieved
    );
}
