//! The stepped-load method (issue 11), the parts tested on the host: an
//! open-loop HTTP load generator, the knee rule, and the Markdown report
//! with its plots.
//!
//! The generator works as wrk2 does: a step at R requests/s has request n
//! due at `start + n/R`, whatever happened to the requests before it, and a
//! request's latency runs from the time it was due, not from the time it
//! could be sent. A server that stalls a connection is therefore charged
//! for every request that waited behind the stall (coordinated omission is
//! counted), and the latency of an overloaded server grows with the length
//! of the step instead of hiding in a lower request rate.
//!
//! Rates step up from 100 requests/s, doubling, until a step is past the
//! knee: a p99 over 100 ms, an error or a timeout (for DNS, under dnsperf's
//! `-Q`: a lost query, an average latency of 100 ms or more, or fewer than
//! 90% of the offered queries answered). The knee is the last rate before.

use crate::bench::DnsperfReport;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A step whose p99 (HTTP) or average latency (DNS) is over this is past
/// the knee.
pub const LATENCY_LIMIT: Duration = Duration::from_millis(100);
/// The most connections a generator opens.
pub const MAX_CONNECTIONS: usize = 64;
/// The first offered rate, per second; each step doubles it.
pub const FIRST_RATE: u64 = 100;
/// A DNS step that answers less than this share of the offered rate did
/// not keep up.
pub const DNS_KEPT_UP: f64 = 0.9;
/// The request every connection sends.
pub const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nUser-Agent: kiln-bench-step\r\n\r\n";
/// A response head longer than this is an error.
const MAX_HEAD: usize = 64 * 1024;

/// The target whose knee is the numerator of the ratios.
pub const KILN: &str = "Kiln";

/// The offered rates of a run: 100, 200, 400, ... up to `max`.
pub fn rates(max: u64) -> Vec<u64> {
    std::iter::successors(Some(FIRST_RATE), |r| r.checked_mul(2))
        .take_while(|&r| r <= max)
        .collect()
}

/// When request `n` of a step at `rate` per second is due, counted from the
/// step's start.
pub fn due(n: u64, rate: u64) -> Duration {
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The due times of the requests connection `conn` of `conns` sends in a
/// step of `length` at `rate`: requests conn, conn + conns, conn + 2 conns,
/// ... of the step's schedule, those due before its end.
pub fn connection_slots(
    conn: usize,
    conns: usize,
    rate: u64,
    length: Duration,
) -> impl Iterator<Item = Duration> {
    (conn as u64..)
        .step_by(conns.max(1))
        .map(move |n| due(n, rate))
        .take_while(move |&d| d < length)
}

/// The complete HTTP response at the start of `buf`, as (status, length in
/// bytes); `Ok(None)` while more bytes are needed. Enough of HTTP/1.1 to
/// know where a response ends: the status line and `Content-Length`.
pub fn response_length(buf: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err("response head over 64 KiB".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.split(' ');
    let status = match (words.next(), words.next()) {
        (Some(v), Some(s)) if v.starts_with("HTTP/1.") => s.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let n = value.trim().parse::<usize>();
                length = Some(n.map_err(|_| format!("bad Content-Length {value:?}"))?);
            }
        }
    }
    let length = length.ok_or("response without Content-Length")?;
    let total = head_end + 4 + length;
    Ok((buf.len() >= total).then_some((status, total)))
}

/// How one request went wrong.
enum Failure {
    /// No complete response by the deadline.
    Timeout,
    /// Connection refused, reset or closed, or a response that is not one.
    Error(String),
}

/// A keep-alive connection and the bytes read past the last response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(1024),
        })
    }

    /// Send [`REQUEST`] and read its response by `deadline`: the status.
    fn exchange(&mut self, deadline: Instant) -> Result<u16, Failure> {
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Error(e.to_string()),
        };
        let left = || {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(Failure::Timeout)
            } else {
                Ok(left)
            }
        };
        self.stream.set_write_timeout(Some(left()?)).map_err(io)?;
        self.stream.write_all(REQUEST).map_err(io)?;
        let mut chunk = [0u8; 4096];
        loop {
            match response_length(&self.buf) {
                Ok(Some((status, len))) => {
                    self.buf.drain(..len);
                    return Ok(status);
                }
                Ok(None) => {}
                Err(e) => return Err(Failure::Error(e)),
            }
            self.stream.set_read_timeout(Some(left()?)).map_err(io)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Failure::Error("connection closed by the server".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
}

/// What one connection saw in a step.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    timeouts: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// An open-loop HTTP load generator: up to [`MAX_CONNECTIONS`] keep-alive
/// connections to one server on this machine, kept from step to step.
pub struct Loader {
    addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    timeout: Duration,
}

impl Loader {
    /// Open `connections` (at most 64) connections to `addr`, which must be
    /// a loopback address, one after the other (QEMU's user networking
    /// accepts one connection at a time); a connection that cannot be
    /// opened now is tried again in the steps. A request with no response
    /// `timeout` after it was due is a timeout.
    pub fn new(addr: SocketAddr, connections: usize, timeout: Duration) -> Loader {
        assert!(
            addr.ip().is_loopback(),
            "the load generator only loads this machine, not {addr}"
        );
        let conns = (0..connections.clamp(1, MAX_CONNECTIONS))
            .map(|_| Conn::open(addr, timeout).ok())
            .collect();
        Loader {
            addr,
            conns,
            timeout,
        }
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.conns.iter().filter(|c| c.is_some()).count()
    }

    /// One step: `rate` requests per second for `length`, each connection
    /// taking its share of the schedule (request n goes to connection
    /// n mod connections). A connection sends a request when it is due, or
    /// at once when it is late; one already `timeout` late is not sent and
    /// counts as a timeout. Responses other than 200, and connections that
    /// fail or close, are errors (the connection is opened again for its
    /// next request).
    pub fn step(&mut self, rate: u64, length: Duration) -> HttpStep {
        let (addr, timeout) = (self.addr, self.timeout);
        let n = self.conns.len();
        // Leave the threads time to start before the first request is due.
        let start = Instant::now() + Duration::from_millis(20);
        let tallies: Vec<Tally> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .conns
                .iter_mut()
                .enumerate()
                .map(|(i, conn)| {
                    scope.spawn(move || {
                        let mut tally = Tally::default();
                        for slot in connection_slots(i, n, rate, length) {
                            let at = start + slot;
                            let now = Instant::now();
                            if at > now {
                                std::thread::sleep(at - now);
                            }
                            if Instant::now().saturating_duration_since(at) >= timeout {
                                tally.timeouts += 1;
                                continue;
                            }
                            if conn.is_none() {
                                match Conn::open(addr, timeout) {
                                    Ok(c) => *conn = Some(c),
                                    Err(e) => {
                                        tally.error(format!("connect: {e}"));
                                        continue;
                                    }
                                }
                            }
                            let c = conn.as_mut().expect("connected");
                            match c.exchange(at + timeout) {
                                Ok(200) => tally.latencies.push(at.elapsed()),
                                Ok(status) => tally.error(format!("status {status}")),
                                Err(Failure::Timeout) => {
                                    tally.timeouts += 1;
                                    *conn = None;
                                }
                                Err(Failure::Error(e)) => {
                                    tally.error(e);
                                    *conn = None;
                                }
                            }
                        }
                        tally
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("load thread"))
                .collect()
        });
        let elapsed = start.elapsed().max(length);
        let mut step = HttpStep {
            offered: rate,
            elapsed,
            ..HttpStep::default()
        };
        for t in tallies {
            step.latencies.extend(t.latencies);
            step.errors += t.errors;
            step.timeouts += t.timeouts;
            if step.first_error.is_none() {
                step.first_error = t.first_error;
            }
        }
        step.latencies.sort_unstable();
        step
    }
}

/// What the generator measured in one step.
#[derive(Clone, Debug, Default)]
pub struct HttpStep {
    pub offered: u64,
    /// Latencies of the answered requests, from the time each was due,
    /// sorted.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub timeouts: u64,
    /// The first error seen, for the log.
    pub first_error: Option<String>,
    /// From the step's start to its last answer (at least its length).
    pub elapsed: Duration,
}

/// The `p`th percentile (nearest rank) of `sorted`; None when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// HTTP (latency percentiles of our generator) or DNS (dnsperf's average).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Http,
    Dns,
}

impl Kind {
    fn unit(self) -> &'static str {
        match self {
            Kind::Http => "requests/s",
            Kind::Dns => "queries/s",
        }
    }
}

/// One row of a report: a step at an offered rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub offered: u64,
    pub achieved: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
    /// dnsperf's average latency (DNS only).
    pub avg: Option<Duration>,
    pub completed: u64,
    pub errors: u64,
    /// HTTP: requests without an answer within the timeout; DNS: lost
    /// queries.
    pub timeouts: u64,
}

impl Step {
    pub fn from_http(h: &HttpStep) -> Step {
        let completed = h.latencies.len() as u64;
        Step {
            offered: h.offered,
            achieved: completed as f64 / h.elapsed.as_secs_f64().max(1e-9),
            p50: percentile(&h.latencies, 50.0),
            p99: percentile(&h.latencies, 99.0),
            max: h.latencies.last().copied(),
            avg: None,
            completed,
            errors: h.errors,
            timeouts: h.timeouts,
        }
    }

    pub fn from_dnsperf(offered: u64, length: Duration, r: &DnsperfReport) -> Step {
        Step {
            offered,
            achieved: r.queries_per_sec,
            p50: None,
            p99: None,
            max: None,
            avg: Some(Duration::from_secs_f64(r.avg_latency_us.max(0.0) / 1e6)),
            completed: (r.queries_per_sec * length.as_secs_f64()).round() as u64,
            errors: 0,
            timeouts: r.lost,
        }
    }

    /// The latency the knee rule and the plot use: p99 for HTTP, the
    /// average for DNS.
    pub fn latency(&self, kind: Kind) -> Option<Duration> {
        match kind {
            Kind::Http => self.p99,
            Kind::Dns => self.avg,
        }
    }

    /// Why this step is past the knee; None when it is within.
    pub fn over(&self, kind: Kind) -> Option<String> {
        match kind {
            Kind::Http => {
                if self.errors > 0 {
                    Some(format!("{} errors", self.errors))
                } else if self.timeouts > 0 {
                    Some(format!("{} timeouts", self.timeouts))
                } else if self.completed == 0 {
                    Some("no request answered".into())
                } else {
                    let p99 = self.p99.unwrap_or(Duration::MAX);
                    (p99 > LATENCY_LIMIT).then(|| format!("p99 {} > 100 ms", ms(p99)))
                }
            }
            Kind::Dns => {
                let avg = self.avg.unwrap_or(Duration::MAX);
                if self.errors > 0 {
                    Some(format!("{} errors", self.errors))
                } else if self.timeouts > 0 {
                    Some(format!("{} queries lost", self.timeouts))
                } else if avg >= LATENCY_LIMIT {
                    Some(format!("average latency {} >= 100 ms", ms(avg)))
                } else if self.achieved < DNS_KEPT_UP * self.offered as f64 {
                    Some(format!(
                        "answered {:.0}/s, under 90% of the offered rate",
                        self.achieved
                    ))
                } else {
                    None
                }
            }
        }
    }
}

/// The knee of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Knee {
    /// The last offered rate within the rule before the first step past it;
    /// None when the first step is past it.
    pub rate: Option<u64>,
    /// Why the step after the knee is past it; None when every step was
    /// within (the knee is then at least the highest rate tried).
    pub why: Option<String>,
}

impl Knee {
    /// "3200", "≥ 6400" (no step past the knee) or "< 100".
    pub fn show(&self) -> String {
        match (self.rate, &self.why) {
            (Some(r), Some(_)) => r.to_string(),
            (Some(r), None) => format!("≥ {r}"),
            (None, _) => format!("< {FIRST_RATE}"),
        }
    }
}

/// The knee of `steps` (in the order they ran).
pub fn knee(kind: Kind, steps: &[Step]) -> Knee {
    let mut rate = None;
    for s in steps {
        match s.over(kind) {
            None => rate = Some(s.offered),
            Some(why) => {
                return Knee {
                    rate,
                    why: Some(why),
                }
            }
        }
    }
    Knee { rate, why: None }
}

/// Run the steps of [`rates`]`(max)` with `one` until one is past the knee
/// (it is kept: its row shows why). `one` returns Err when a step could
/// not be measured at all, which ends the run with that note.
pub fn step_up(
    kind: Kind,
    max: u64,
    mut one: impl FnMut(u64) -> Result<Step, String>,
) -> (Vec<Step>, Option<String>) {
    let mut steps = Vec::new();
    for rate in rates(max) {
        match one(rate) {
            Ok(step) => {
                let past = step.over(kind).is_some();
                steps.push(step);
                if past {
                    break;
                }
            }
            Err(e) => return (steps, Some(e)),
        }
    }
    (steps, None)
}

/// The steps of one server at one place.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub server: String,
    /// [`KILN`], "host", "baseline", "Linux guest".
    pub target: String,
    pub kind: Kind,
    pub steps: Vec<Step>,
    /// Why the run ended early or did not start.
    pub note: Option<String>,
}

impl Run {
    pub fn knee(&self) -> Knee {
        knee(self.kind, &self.steps)
    }
}

/// A duration in milliseconds, with two or three significant digits.
pub fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m >= 1000.0 {
        format!("{:.2} s", m / 1e3)
    } else if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 10.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.2} ms")
    }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), ms)
}

/// The stepped-load report: what ran where, with the context lines
/// (machine, date, command, method) printed above it.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub context: Vec<String>,
    pub runs: Vec<Run>,
    pub notes: Vec<String>,
}

/// The file name of a server's plot.
pub fn plot_name(server: &str) -> String {
    let safe: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("step-{safe}.svg")
}

impl Report {
    /// The servers in the order they first ran.
    fn servers(&self) -> Vec<(&str, Kind)> {
        let mut v: Vec<(&str, Kind)> = Vec::new();
        for r in &self.runs {
            if !v.iter().any(|(s, _)| *s == r.server) {
                v.push((&r.server, r.kind));
            }
        }
        v
    }

    /// The targets other than Kiln, in the order they first ran.
    fn peers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for r in self.runs.iter().filter(|r| r.target != KILN) {
            if !v.contains(&r.target.as_str()) {
                v.push(&r.target);
            }
        }
        v
    }

    /// The report in Markdown; `plots` names the plot files (next to it)
    /// by server.
    pub fn markdown(&self, plots: &[(String, String)]) -> String {
        let mut md = String::from("# Stepped load\n\n");
        for line in &self.context {
            md.push_str(&format!("- {line}\n"));
        }
        md.push('\n');
        let peers = self.peers();
        let has_kiln = self.runs.iter().any(|r| r.target == KILN);
        md.push_str("## Knees\n\n| server |");
        let mut targets: Vec<&str> = Vec::new();
        if has_kiln {
            targets.push(KILN);
        }
        targets.extend(&peers);
        for t in &targets {
            md.push_str(&format!(" {t} |"));
        }
        let ratios: Vec<&str> = if has_kiln { peers.clone() } else { Vec::new() };
        for p in &ratios {
            md.push_str(&format!(" {KILN} / {p} |"));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(targets.len() + ratios.len()));
        md.push('\n');
        for (server, kind) in self.servers() {
            let knee_of = |t: &str| {
                self.runs
                    .iter()
                    .find(|r| r.server == server && r.target == t && !r.steps.is_empty())
                    .map(Run::knee)
            };
            md.push_str(&format!("| {server} ({}) |", kind.unit()));
            for t in &targets {
                let k = knee_of(t);
                md.push_str(&format!(
                    " {} |",
                    k.map_or_else(|| "-".into(), |k| k.show())
                ));
            }
            for p in &ratios {
                let r = match (knee_of(KILN), knee_of(p)) {
                    (Some(k), Some(b)) if k.rate.is_some() && b.rate.is_some() => {
                        let r = k.rate.unwrap_or(1) as f64 / b.rate.unwrap_or(1) as f64;
                        let bound = k.why.is_none() || b.why.is_none();
                        format!("{r:.3}{}", if bound { " (bound)" } else { "" })
                    }
                    _ => "-".into(),
                };
                md.push_str(&format!(" {r} |"));
            }
            md.push('\n');
        }
        if self
            .runs
            .iter()
            .any(|r| !r.steps.is_empty() && r.knee().why.is_none())
        {
            md.push_str(
                "\n(≥: no step was past the knee up to the highest rate tried; a ratio with \
                 such a knee is a bound, marked so.)\n",
            );
        }
        for (server, kind) in self.servers() {
            md.push_str(&format!("\n## {server}\n\n"));
            if let Some((_, file)) = plots.iter().find(|(s, _)| s == server) {
                let what = match kind {
                    Kind::Http => "p99 latency",
                    Kind::Dns => "average latency",
                };
                md.push_str(&format!("![{what} against offered load]({file})\n\n"));
            }
            for run in self.runs.iter().filter(|r| r.server == server) {
                md.push_str(&run_markdown(run));
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for n in &self.notes {
                md.push_str(&format!("- {n}\n"));
            }
        }
        md
    }

    /// Write `report.md` and one plot per server into `dir` (created if
    /// needed); returns the report's path and text. A plot that cannot be
    /// drawn is a note in the report, not a failure.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, String)> {
        std::fs::create_dir_all(dir)?;
        let mut plots = Vec::new();
        let mut report = self.clone();
        for (server, kind) in self.servers() {
            let runs: Vec<&Run> = self.runs.iter().filter(|r| r.server == server).collect();
            let file = plot_name(server);
            match plot(server, kind, &runs, &dir.join(&file)) {
                Ok(()) => plots.push((server.to_string(), file)),
                Err(e) => report.notes.push(format!("plot of {server}: {e}")),
            }
        }
        let md = report.markdown(&plots);
        let path = dir.join("report.md");
        std::fs::write(&path, &md)?;
        Ok((path, md))
    }
}

/// One run's knee line and table.
fn run_markdown(run: &Run) -> String {
    let mut md = format!("### {}, {}\n\n", run.server, run.target);
    let k = run.knee();
    let unit = run.kind.unit();
    md.push_str(&match (&k.rate, &k.why, run.steps.last()) {
        (_, Some(why), Some(last)) => format!(
            "Knee: **{}** {unit} (at {}: {why}).\n\n",
            k.show(),
            last.offered
        ),
        (Some(_), None, _) => format!("Knee: **{}** {unit} (no step past the knee).\n\n", k.show()),
        _ => "Knee: none (no step ran).\n\n".to_string(),
    });
    if let Some(note) = &run.note {
        md.push_str(&format!("Note: {note}\n\n"));
    }
    if run.steps.is_empty() {
        return md;
    }
    match run.kind {
        Kind::Http => {
            md.push_str("| offered/s | achieved/s | p50 | p99 | max | errors | timeouts |\n");
            md.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
            for s in &run.steps {
                md.push_str(&format!(
                    "| {} | {:.0} | {} | {} | {} | {} | {} |\n",
                    s.offered,
                    s.achieved,
                    opt_ms(s.p50),
                    opt_ms(s.p99),
                    opt_ms(s.max),
                    s.errors,
                    s.timeouts
                ));
            }
        }
        Kind::Dns => {
            md.push_str("| offered/s | achieved/s | average latency | lost |\n");
            md.push_str("|---:|---:|---:|---:|\n");
            for s in &run.steps {
                md.push_str(&format!(
                    "| {} | {:.0} | {} | {} |\n",
                    s.offered,
                    s.achieved,
                    opt_ms(s.avg),
                    s.timeouts
                ));
            }
        }
    }
    md.push('\n');
    md
}

/// The colour of a target's line.
fn colour(target: &str, i: usize) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match target {
        KILN => RGBColor(200, 30, 30),
        "host" => RGBColor(30, 80, 200),
        "baseline" => RGBColor(230, 140, 0),
        "Linux guest" => RGBColor(20, 150, 60),
        _ => [RGBColor(120, 40, 160), RGBColor(90, 90, 90)][i % 2],
    }
}

/// Draw `server`'s latency (p99 for HTTP, average for DNS; log scale)
/// against offered load (log scale), one line per run (a filled dot for a
/// step within the knee rule, an open one for the step past it), and the
/// 100 ms limit dashed, as an SVG file at `path`.
pub fn plot(server: &str, kind: Kind, runs: &[&Run], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    type Points = Vec<((f64, f64), bool)>;
    let series: Vec<(&str, Points)> = runs
        .iter()
        .map(|r| {
            let points = r
                .steps
                .iter()
                .filter_map(|s| {
                    let y = s.latency(kind)?.as_secs_f64() * 1e3;
                    Some(((s.offered as f64, y.max(1e-3)), s.over(kind).is_some()))
                })
                .collect();
            (r.target.as_str(), points)
        })
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter().map(|&(p, _)| p));
    // At least a decade above the limit, so that it shows.
    let (mut x_hi, mut y_lo, mut y_hi) = (FIRST_RATE as f64 * 2.0, 100.0f64, 200.0f64);
    for (x, y) in all {
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    // Whole decades around the data.
    let (y_lo, y_hi) = (
        10f64.powf(y_lo.log10().floor()),
        10f64.powf(y_hi.log10().ceil()),
    );
    let (x_lo, x_hi) = (FIRST_RATE as f64 / 1.3, x_hi * 1.3);
    let e = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (metric, unit) = match kind {
        Kind::Http => ("p99 latency", "requests/s"),
        Kind::Dns => ("average latency", "queries/s"),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{server}: {metric} against offered load (open dot: past the knee)"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(format!("offered load ({unit})"))
        .y_desc(format!("{metric} (ms)"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                format!("{y:.0}")
            } else {
                format!("{y}")
            }
        })
        .light_line_style(BLACK.mix(0.05))
        .bold_line_style(BLACK.mix(0.15))
        .draw()
        .map_err(|x| e(&x))?;
    let limit = BLACK.mix(0.7).stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(
            [(x_lo, 100.0), (x_hi, 100.0)],
            8,
            6,
            limit,
        ))
        .map_err(|x| e(&x))?
        .label("100 ms")
        .legend(move |(x, y)| {
            PathElement::new([(x, y), (x + 8, y), (x + 14, y), (x + 20, y)], limit)
        });
    for (i, (target, points)) in series.iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let c = colour(target, i);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(p, _)| p),
                c.stroke_width(2),
            ))
            .map_err(|x| e(&x))?
            .label(*target)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&(p, past)| {
                if past {
                    Circle::new(p, 6, WHITE.filled())
                } else {
                    Circle::new(p, 4, c.filled())
                }
            }))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|&&(_, past)| past)
                    .map(|&(p, _)| Circle::new(p, 6, c.stroke_width(2))),
            )
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}

/// "YYYY-MM-DD HH:MM UTC" of a Unix time.
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The CPU model named in /proc/cpuinfo's text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}

/// A command line as a shell would take it back.
pub fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    #[test]
    fn rates_double_up_to_the_maximum() {
        assert_eq!(rates(6400), [100, 200, 400, 800, 1600, 3200, 6400]);
        assert_eq!(rates(799), [100, 200, 400]);
        assert_eq!(rates(100), [100]);
        assert!(rates(99).is_empty());
        assert_eq!(rates(u64::MAX).len(), 58);
    }

    #[test]
    fn schedule_has_every_request_at_its_time() {
        assert_eq!(due(0, 3), Duration::ZERO);
        assert_eq!(due(1, 3), Duration::from_nanos(333_333_333));
        assert_eq!(due(3, 3), Duration::from_secs(1));
        assert_eq!(due(250, 100), Duration::from_millis(2500));
        // 4 connections at 1000/s for 100 ms: the 100 requests, 1 ms
        // apart, each connection every 4th.
        let length = Duration::from_millis(100);
        let mut all = Vec::new();
        for c in 0..4 {
            let mine: Vec<Duration> = connection_slots(c, 4, 1000, length).collect();
            assert_eq!(mine.len(), 25, "connection {c}");
            assert_eq!(mine[0], Duration::from_millis(c as u64));
            for w in mine.windows(2) {
                assert_eq!(w[1] - w[0], Duration::from_millis(4));
            }
            all.extend(mine);
        }
        all.sort();
        let expected: Vec<Duration> = (0..100).map(Duration::from_millis).collect();
        assert_eq!(all, expected);
        // An uneven split: 3 connections, 10 requests.
        let counts: Vec<usize> = (0..3)
            .map(|c| connection_slots(c, 3, 100, Duration::from_millis(100)).count())
            .collect();
        assert_eq!(counts, [4, 3, 3]);
        // Nothing due at or after the end.
        assert_eq!(
            connection_slots(0, 1, 10, Duration::from_millis(100)).count(),
            1
        );
    }

    #[test]
    fn finds_where_a_response_ends() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(response_length(r), Ok(Some((200, r.len()))));
        assert_eq!(response_length(&r[..r.len() - 1]), Ok(None));
        assert_eq!(response_length(&r[..20]), Ok(None));
        let mut two = r.to_vec();
        two.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(response_length(&two), Ok(Some((200, r.len()))));
        assert_eq!(
            response_length(&two[r.len()..]),
            Ok(Some((404, two.len() - r.len())))
        );
        assert!(response_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(response_length(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(response_length(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(response_length(&vec![b'a'; MAX_HEAD + 1]).is_err());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(198)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(200)));
        assert_eq!(percentile(&v[..1], 99.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    /// A keep-alive HTTP server on 127.0.0.1 that notes when each request
    /// arrived and answers it `delay` later (one connection at a time is
    /// enough for the tests; each gets a thread).
    fn server(delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            log.lock().unwrap().push(Instant::now());
                            std::thread::sleep(delay);
                            let r = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
                            if s.write_all(r).is_err() {
                                return;
                            }
                        }
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    #[test]
    fn requests_leave_on_schedule() {
        let (addr, seen) = server(Duration::ZERO);
        let mut load = Loader::new(addr, 2, Duration::from_secs(2));
        assert_eq!(load.open_connections(), 2);
        let h = load.step(200, Duration::from_millis(500));
        assert_eq!((h.latencies.len(), h.errors, h.timeouts), (100, 0, 0));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 100);
        let mut seen = seen;
        seen.sort();
        // Request i is due 5 ms after request i-1. Taking as the start the
        // instant that makes no request early, most arrive within a few ms
        // of their due time, none much later, and the last about 495 ms
        // after the first (not in a burst).
        let due = |i: usize| Duration::from_millis(5 * i as u64);
        let base = seen
            .iter()
            .enumerate()
            .map(|(i, &t)| t - due(i))
            .min()
            .unwrap();
        let mut late: Vec<Duration> = seen
            .iter()
            .enumerate()
            .map(|(i, &t)| t - due(i) - base)
            .collect();
        late.sort();
        // Bounds are loose: CI machines are busy (this checks the
        // schedule, not speed).
        assert!(
            late[50] < Duration::from_millis(50),
            "median lateness {:?}",
            late[50]
        );
        let span = seen[99] - seen[0];
        assert!(
            span > Duration::from_millis(470) && span < Duration::from_millis(2000),
            "{span:?}"
        );
        let step = Step::from_http(&h);
        assert!(step.achieved > 100.0 && step.achieved <= 200.0, "{step:?}");
        assert_eq!(step.over(Kind::Http), None);
    }

    #[test]
    fn latency_counts_from_the_scheduled_time() {
        // A server that takes 50 ms per request, one connection. At 10/s it
        // keeps up: every latency is about its 50 ms of service.
        let (addr, _) = server(Duration::from_millis(50));
        let mut load = Loader::new(addr, 1, Duration::from_secs(3));
        let easy = load.step(10, Duration::from_millis(500));
        assert_eq!(
            (easy.latencies.len(), easy.errors, easy.timeouts),
            (5, 0, 0)
        );
        assert!(easy.latencies[0] >= Duration::from_millis(50), "{easy:?}");
        assert!(easy.latencies[4] < Duration::from_millis(1000), "{easy:?}");
        // At 40/s (one due every 25 ms) requests queue behind each other:
        // the 20th is due at 475 ms and answered at about 1000 ms. A closed
        // loop would report 50 ms for each; counted from the scheduled time
        // the latencies grow by 25 ms per request.
        let hard = load.step(40, Duration::from_millis(500));
        assert_eq!(
            (hard.latencies.len(), hard.errors, hard.timeouts),
            (20, 0, 0)
        );
        let max = *hard.latencies.last().unwrap();
        assert!(max >= Duration::from_millis(450), "max {max:?}");
        assert!(
            hard.elapsed >= Duration::from_millis(950),
            "{:?}",
            hard.elapsed
        );
        let step = Step::from_http(&hard);
        assert!(step.p50.unwrap() >= Duration::from_millis(200), "{step:?}");
        assert!(
            step.over(Kind::Http).unwrap().starts_with("p99 "),
            "{step:?}"
        );
        assert!(step.achieved < 25.0, "{step:?}");
    }

    #[test]
    fn silence_is_a_timeout_and_a_refusal_an_error() {
        // A listener that accepts (the kernel does) and never answers.
        let mute = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut load = Loader::new(mute.local_addr().unwrap(), 2, Duration::from_millis(200));
        let h = load.step(20, Duration::from_millis(500));
        assert_eq!(h.latencies.len(), 0);
        assert_eq!(h.errors, 0);
        assert_eq!(h.timeouts, 10);
        assert_eq!(Step::from_http(&h).over(Kind::Http).unwrap(), "10 timeouts");
        drop(mute);

        let port = crate::net::free_tcp_port();
        let mut load = Loader::new(crate::net::local(port), 2, Duration::from_millis(200));
        assert_eq!(load.open_connections(), 0);
        let h = load.step(20, Duration::from_millis(250));
        assert_eq!((h.latencies.len(), h.errors, h.timeouts), (0, 5, 0));
        assert!(h.first_error.unwrap().starts_with("connect: "));
    }

    #[test]
    #[should_panic(expected = "only loads this machine")]
    fn refuses_other_machines() {
        Loader::new("192.0.2.1:80".parse().unwrap(), 1, Duration::from_millis(1));
    }

    fn http(offered: u64, p99_ms: u64, errors: u64, timeouts: u64) -> Step {
        let p99 = Some(Duration::from_millis(p99_ms));
        Step {
            offered,
            achieved: offered as f64,
            p50: Some(Duration::from_millis(p99_ms / 2)),
            p99,
            max: p99,
            avg: None,
            completed: offered * 3,
            errors,
            timeouts,
        }
    }

    fn dns(offered: u64, achieved: f64, avg_ms: u64, lost: u64) -> Step {
        Step {
            offered,
            achieved,
            p50: None,
            p99: None,
            max: None,
            avg: Some(Duration::from_millis(avg_ms)),
            completed: achieved as u64 * 3,
            errors: 0,
            timeouts: lost,
        }
    }

    #[test]
    fn the_knee_is_the_last_rate_before_the_first_step_past_it() {
        let k = knee(
            Kind::Http,
            &[
                http(100, 1, 0, 0),
                http(200, 100, 0, 0),
                http(400, 101, 0, 0),
            ],
        );
        assert_eq!(k.rate, Some(200));
        assert_eq!(k.why.as_deref(), Some("p99 101 ms > 100 ms"));
        assert_eq!(k.show(), "200");
        // Errors or timeouts end it whatever the latency; a good step after
        // a bad one does not count.
        let k = knee(
            Kind::Http,
            &[http(100, 1, 0, 0), http(200, 1, 1, 0), http(400, 1, 0, 0)],
        );
        assert_eq!((k.rate, k.why.as_deref()), (Some(100), Some("1 errors")));
        let k = knee(Kind::Http, &[http(100, 1, 0, 3)]);
        assert_eq!((k.rate, k.show().as_str()), (None, "< 100"));
        let k = knee(Kind::Http, &[http(100, 1, 0, 0), http(200, 2, 0, 0)]);
        assert_eq!(
            (k.rate, k.why.as_deref(), k.show().as_str()),
            (Some(200), None, "≥ 200")
        );
        let mut unanswered = http(100, 1, 0, 0);
        unanswered.completed = 0;
        assert!(unanswered.over(Kind::Http).is_some());

        // DNS: no lost query, average under 100 ms, 90% of the rate answered.
        assert_eq!(dns(800, 800.0, 99, 0).over(Kind::Dns), None);
        assert!(dns(800, 800.0, 100, 0).over(Kind::Dns).is_some());
        assert!(dns(800, 800.0, 1, 1).over(Kind::Dns).is_some());
        assert!(dns(800, 700.0, 1, 0).over(Kind::Dns).is_some());
        let k = knee(
            Kind::Dns,
            &[
                dns(100, 100.0, 1, 0),
                dns(200, 199.0, 2, 0),
                dns(400, 300.0, 5, 0),
            ],
        );
        assert_eq!(k.rate, Some(200));
    }

    #[test]
    fn stepping_stops_after_the_first_step_past_the_knee() {
        let mut asked = Vec::new();
        let (steps, note) = step_up(Kind::Http, 1_000_000, |rate| {
            asked.push(rate);
            Ok(http(rate, if rate >= 800 { 500 } else { 3 }, 0, 0))
        });
        assert_eq!(asked, [100, 200, 400, 800]);
        assert_eq!(steps.len(), 4);
        assert_eq!(note, None);
        assert_eq!(knee(Kind::Http, &steps).rate, Some(400));
        // Up to the maximum rate only.
        let (steps, _) = step_up(Kind::Http, 450, |rate| Ok(http(rate, 3, 0, 0)));
        assert_eq!(steps.len(), 3);
        // A step that cannot be measured ends the run with a note.
        let (steps, note) = step_up(Kind::Dns, 6400, |rate| {
            if rate < 400 {
                Ok(dns(rate, rate as f64, 1, 0))
            } else {
                Err("dnsperf died".into())
            }
        });
        assert_eq!((steps.len(), note.as_deref()), (2, Some("dnsperf died")));
    }

    #[test]
    fn writes_the_report_and_the_plots() {
        let run = |server: &str, target: &str, kind, steps: Vec<Step>| Run {
            server: server.into(),
            target: target.into(),
            kind,
            steps,
            note: None,
        };
        let good = |top: u64| {
            rates(top * 2)
                .into_iter()
                .map(|r| http(r, if r > top { 400 } else { 2 }, 0, 0))
                .collect::<Vec<_>>()
        };
        let mut failed = run("http-poll", "baseline", Kind::Http, Vec::new());
        failed.note = Some("did not start".into());
        let report = Report {
            context: vec!["machine: test".into(), "command: `bench-step`".into()],
            runs: vec![
                run("http-poll", "host", Kind::Http, good(25600)),
                run("http-poll", KILN, Kind::Http, good(3200)),
                failed,
                run(
                    "dns-rust",
                    "host",
                    Kind::Dns,
                    vec![dns(100, 100.0, 1, 0), dns(200, 200.0, 1, 0)],
                ),
                run(
                    "dns-rust",
                    KILN,
                    Kind::Dns,
                    vec![dns(100, 100.0, 1, 0), dns(200, 120.0, 9, 0)],
                ),
            ],
            notes: vec!["a note".into()],
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("deeper");
        let (path, md) = report.write(&out).unwrap();
        assert_eq!(path, out.join("report.md"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), md);
        assert!(md.contains("- machine: test\n"), "{md}");
        assert!(
            md.contains("| server | Kiln | host | baseline | Kiln / host | Kiln / baseline |"),
            "{md}"
        );
        assert!(
            md.contains("| http-poll (requests/s) | 3200 | 25600 | - | 0.125 | - |"),
            "{md}"
        );
        assert!(
            md.contains("| dns-rust (queries/s) | 100 | ≥ 200 | - | 0.500 (bound) | - |"),
            "{md}"
        );
        assert!(
            md.contains(
                "### http-poll, Kiln\n\nKnee: **3200** requests/s (at 6400: p99 400 ms > 100 ms)."
            ),
            "{md}"
        );
        assert!(
            md.contains("| 3200 | 3200 | 1.00 ms | 2.00 ms | 2.00 ms | 0 | 0 |"),
            "{md}"
        );
        assert!(md.contains("Note: did not start"), "{md}");
        assert!(md.contains("| 200 | 120 | 9.00 ms | 0 |"), "{md}");
        assert!(
            md.contains("![p99 latency against offered load](step-http-poll.svg)"),
            "{md}"
        );
        assert!(md.contains("- a note\n"), "{md}");
        for (name, labels) in [
            ("step-http-poll.svg", ["Kiln", "host", "100 ms"]),
            ("step-dns-rust.svg", ["Kiln", "host", "100 ms"]),
        ] {
            let svg = std::fs::read_to_string(out.join(name)).unwrap();
            let text = |l: &str| svg.contains(&format!(">\n{l}\n</text>"));
            // The run that did not start has no line in the legend.
            assert!(!text("baseline"), "{name}");
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.contains("<polyline"), "{name}");
            assert!(svg.contains("<circle"), "{name}");
            for l in labels {
                assert!(text(l), "{name}: {l}");
            }
        }
    }

    #[test]
    fn dates_machines_and_command_lines() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(
            utc_date(951_782_400 + 3600 * 13 + 60 * 7),
            "2000-02-29 13:07 UTC"
        );
        assert_eq!(utc_date(1_796_616_600), "2026-12-07 04:10 UTC");
        let info = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(info).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        let args = ["bench-step", "--out", "a dir", "it's"].map(String::from);
        assert_eq!(shell_line(&args), r"bench-step --out 'a dir' 'it'\''s'");
    }
}
