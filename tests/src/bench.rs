//! Pieces of the network benchmark that are tested on the host: reading
//! wrk's and dnsperf's reports, and the soak load with stall detection.

use crate::net::HttpConn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What wrk reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrkReport {
    pub requests_per_sec: f64,
    /// Latency percentiles 50 and 99, in microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Socket errors plus non-2xx/3xx responses.
    pub errors: u64,
}

/// A wrk duration ("80.00us", "1.63ms", "2.01s") in microseconds.
fn wrk_duration(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        _ => return None,
    })
}

/// Parse the output of `wrk --latency`.
pub fn parse_wrk(out: &str) -> Option<WrkReport> {
    let mut rps = None;
    let (mut p50, mut p99, mut errors) = (None, None, 0u64);
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => rps = n.parse().ok(),
            ["50%", d] => p50 = wrk_duration(d),
            ["99%", d] => p99 = wrk_duration(d),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                for n in rest.iter().skip(1).step_by(2) {
                    errors += n.trim_end_matches(',').parse::<u64>().ok()?;
                }
            }
            _ => {}
        }
    }
    Some(WrkReport {
        requests_per_sec: rps?,
        p50_us: p50?,
        p99_us: p99?,
        errors,
    })
}

/// What dnsperf reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DnsperfReport {
    pub queries_per_sec: f64,
    pub lost: u64,
    pub avg_latency_us: f64,
}

/// Parse dnsperf's statistics.
pub fn parse_dnsperf(out: &str) -> Option<DnsperfReport> {
    let (mut qps, mut lost, mut lat) = (None, None, None);
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Queries per second:") {
            qps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Queries lost:") {
            lost = v.split_whitespace().next()?.parse().ok();
        } else if let Some(v) = line.strip_prefix("Average Latency (s):") {
            lat = v
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
                .map(|s| s * 1e6);
        }
    }
    Some(DnsperfReport {
        queries_per_sec: qps?,
        lost: lost?,
        avg_latency_us: lat?,
    })
}

/// Resident memory (KiB) of the process that does the serving: `root`
/// itself, or the QEMU that `root` (kiln) started. For a VM this is the
/// guest memory it touched plus QEMU's own (the same for every guest).
pub fn serving_rss_kib(root: u32) -> Option<u64> {
    let mut parent = std::collections::HashMap::new();
    let mut comm = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if let Some(ppid) = ppid.and_then(|p| p.parse::<u32>().ok()) {
            parent.insert(pid, ppid);
            comm.insert(pid, stat[open + 1..close].to_string());
        }
    }
    let descends = |mut p: u32| {
        for _ in 0..16 {
            if p == root {
                return true;
            }
            match parent.get(&p) {
                Some(&pp) if pp != 0 => p = pp,
                _ => return false,
            }
        }
        false
    };
    let qemu = comm
        .iter()
        .find(|(&pid, c)| c.starts_with("qemu-system") && descends(pid))
        .map(|(&pid, _)| pid);
    let status = std::fs::read_to_string(format!("/proc/{}/status", qemu.unwrap_or(root))).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// What a soak run saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SoakReport {
    pub seconds: u64,
    pub requests: u64,
    /// Requests that failed (bad status, bad body, I/O error).
    pub errors: u64,
    /// Keep-alive connections the server dropped or that failed.
    pub lost_connections: u64,
    /// Seconds (counted from the start) in which no request completed.
    pub stalls: Vec<u64>,
    /// Why connections were lost: the first few, as "second N: error".
    pub lost_reasons: Vec<String>,
}

impl SoakReport {
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.lost_connections == 0 && self.stalls.is_empty()
    }
}

/// Keep `connections` keep-alive connections busy with `GET /` (answer
/// `page`) for `duration`, counting completions per second.
pub fn soak(addr: SocketAddr, page: &str, connections: usize, duration: Duration) -> SoakReport {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let reasons = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    // Connections open one at a time: QEMU's user networking listens with
    // a backlog of one, so a burst of connects makes the host's kernel drop
    // handshakes and requests for seconds, a host artifact, not the VM's.
    let opened = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let (done, errors, lost, stop, reasons, opened) = (
                done.clone(),
                errors.clone(),
                lost.clone(),
                stop.clone(),
                reasons.clone(),
                opened.clone(),
            );
            let page = page.as_bytes().to_vec();
            std::thread::spawn(move || {
                let timeout = Duration::from_secs(5);
                let ramp = Instant::now() + Duration::from_secs(10);
                while opened.load(Ordering::Relaxed) < i as u64 && Instant::now() < ramp {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut first = true;
                let mut conn = None;
                while !stop.load(Ordering::Relaxed) {
                    if conn.is_none() {
                        match HttpConn::connect(addr, timeout) {
                            Ok(c) => conn = Some(c),
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(100));
                                continue;
                            }
                        }
                    }
                    let c = conn.as_mut().expect("connected");
                    match c.get("/", false) {
                        Ok(r) if r.status == 200 && r.body == page && !r.close => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                        Err(e) => {
                            lost.fetch_add(1, Ordering::Relaxed);
                            let mut r = reasons.lock().unwrap_or_else(|p| p.into_inner());
                            if r.len() < 10 {
                                r.push(format!("second {}: {e}", began.elapsed().as_secs()));
                            }
                            conn = None;
                        }
                    }
                    if std::mem::take(&mut first) {
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let mut report = SoakReport::default();
    let mut last = 0;
    let mut second = 0;
    while start.elapsed() < duration {
        second += 1;
        let next = start + Duration::from_secs(second);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let now = done.load(Ordering::Relaxed);
        if now == last {
            report.stalls.push(second);
        }
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    report.seconds = second;
    report.requests = done.load(Ordering::Relaxed);
    report.errors = errors.load(Ordering::Relaxed);
    report.lost_connections = lost.load(Ordering::Relaxed);
    report.lost_reasons = reasons.lock().unwrap_or_else(|p| p.into_inner()).clone();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_of_a_process_and_of_its_qemu() {
        let me = std::process::id();
        let rss = serving_rss_kib(me).expect("own VmRSS");
        assert!(rss > 100, "{rss} KiB");
        assert_eq!(serving_rss_kib(u32::MAX), None);
    }
    use std::io::{Read, Write};
    use std::net::TcpListener;

    const WRK: &str = "Running 1s test @ http://127.0.0.1:18095/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   483.88us    1.36ms  16.17ms   90.93%
    Req/Sec    42.20k     7.26k   53.96k    70.00%
  Latency Distribution
     50%   80.00us
     75%   85.00us
     90%    1.63ms
     99%    5.19ms
  42063 requests in 1.00s, 3.77MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  41973.89
Transfer/sec:      3.76MB
";

    #[test]
    fn reads_wrk() {
        let r = parse_wrk(WRK).unwrap();
        assert_eq!(r.requests_per_sec, 41973.89);
        assert_eq!(r.p50_us, 80.0);
        assert_eq!(r.p99_us, 5190.0);
        assert_eq!(r.errors, 7);
        assert_eq!(parse_wrk("wrk: connection refused"), None);
    }

    #[test]
    fn reads_dnsperf() {
        let out = "Statistics:

  Queries sent:         75535
  Queries completed:    75535 (100.00%)
  Queries lost:         12 (0.02%)

  Run time (s):         1.000365
  Queries per second:   75507.439784

  Average Latency (s):  0.000209 (min 0.000009, max 0.007970)
";
        let r = parse_dnsperf(out).unwrap();
        assert_eq!(r.queries_per_sec, 75507.439784);
        assert_eq!(r.lost, 12);
        assert!((r.avg_latency_us - 209.0).abs() < 1e-6);
        assert_eq!(parse_dnsperf("Statistics:\n"), None);
    }

    /// A server that answers for a while, then stops answering: the soak
    /// sees completions, then stalls and lost connections.
    #[test]
    fn soak_sees_stalls() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let until = Instant::now() + Duration::from_millis(1500);
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let mut seen = Vec::new();
            while Instant::now() < until {
                let n = s.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
                while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    seen.drain(..end + 4);
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                        .unwrap();
                }
            }
            // Then hold the connection without answering, and accept no more.
            std::thread::sleep(Duration::from_secs(10));
            drop((s, l));
        });
        let r = soak(addr, "ok\n", 1, Duration::from_secs(4));
        assert!(r.requests > 10, "{r:?}");
        assert!(r.stalls.contains(&4), "{r:?}");
        assert!(!r.stalls.contains(&1), "{r:?}");
        assert!(!r.ok());
    }
}
