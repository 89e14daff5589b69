//! `kiln run --trace` and `--syscall-summary`: the options, the kernel
//! command-line words they become, where trace lines go, and the summary
//! table printed at exit (as `strace -c` prints it).

use crate::relay::{Relay, Target};
use anyhow::{bail, Context, Result};
use kiln_abi::sysno::SyscallSet;
use std::fmt::Write;
use std::path::PathBuf;

/// I/O port of the trace channel (an isa-debugcon): the kernel writes trace
/// lines there, apart from the program's output.
pub const TRACE_PORT: u16 = 0xe8;

/// strace's default string length (`-s`), and the kernel's upper bound.
pub const DEFAULT_STRLEN: usize = 32;
pub const MAX_STRLEN: usize = 4096;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceTime {
    /// Seconds since the program started.
    #[default]
    Relative,
    /// Time of day (UTC).
    Wall,
}

/// What `--trace[=SET]` and its companions asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    /// The set as given (checked): names, %classes, all, !negation.
    pub set: String,
    /// `--trace-file`: where the lines go instead of standard error.
    pub file: Option<PathBuf>,
    pub time: TraceTime,
    pub strlen: usize,
}

impl TraceSettings {
    /// Check the options; `None` when tracing is off.
    pub fn from_options(
        set: Option<&str>,
        file: Option<PathBuf>,
        time: Option<TraceTime>,
        strlen: Option<usize>,
    ) -> Result<Option<TraceSettings>> {
        if set.is_none() && file.is_none() && time.is_none() && strlen.is_none() {
            return Ok(None);
        }
        let set = set.unwrap_or("all");
        if set.contains(char::is_whitespace) {
            bail!("--trace={set}: a set has no spaces (separate names with commas)");
        }
        SyscallSet::parse(set).map_err(|e| anyhow::anyhow!("--trace={set}: {e}"))?;
        let strlen = strlen.unwrap_or(DEFAULT_STRLEN);
        if strlen > MAX_STRLEN {
            bail!("--trace-strlen {strlen}: at most {MAX_STRLEN}");
        }
        Ok(Some(TraceSettings {
            set: set.to_string(),
            file,
            time: time.unwrap_or_default(),
            strlen,
        }))
    }

    /// The kernel command-line words.
    pub fn cmdline(&self) -> String {
        let mut w = format!("kiln.trace={}", self.set);
        if self.time == TraceTime::Wall {
            w.push_str(" kiln.trace-time=wall");
        }
        if self.strlen != DEFAULT_STRLEN {
            let _ = write!(w, " kiln.trace-strlen={}", self.strlen);
        }
        w
    }

    /// Where QEMU writes the trace channel: the trace file (created, or
    /// emptied, now: an unwritable one is an error before the VM starts),
    /// or a pipe that kiln copies to its standard error.
    pub fn sink(&self) -> Result<TraceSink> {
        match &self.file {
            Some(path) => {
                std::fs::File::create(path)
                    .with_context(|| format!("--trace-file {}", path.display()))?;
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("--trace-file {}", path.display()))?;
                Ok(TraceSink { path, relay: None })
            }
            None => {
                let relay = Relay::new(Target::Stderr)?;
                Ok(TraceSink {
                    path: relay.path.clone(),
                    relay: Some(relay),
                })
            }
        }
    }
}

/// The trace channel's host end.
#[derive(Debug)]
pub struct TraceSink {
    /// What QEMU opens (in append mode).
    pub path: PathBuf,
    relay: Option<Relay>,
}

impl TraceSink {
    /// After QEMU has exited: let the copy reach the end of the pipe.
    pub fn finish(self) {
        if let Some(r) = self.relay {
            r.finish();
        }
    }
}

/// One row of the kernel's summary (`summary NR CALLS ERRORS NS ENOSYS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub nr: u64,
    pub calls: u64,
    pub errors: u64,
    pub ns: u64,
    pub enosys: u64,
}

/// The summary rows in the control channel's report.
pub fn parse_summary(report: &str) -> Vec<Row> {
    report
        .lines()
        .filter_map(|l| {
            let mut w = l.trim().strip_prefix("summary ")?.split_ascii_whitespace();
            let mut n = || w.next()?.parse::<u64>().ok();
            Some(Row {
                nr: n()?,
                calls: n()?,
                errors: n()?,
                ns: n()?,
                enosys: n()?,
            })
        })
        .collect()
}

fn name(nr: u64) -> String {
    kiln_abi::sysno::name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string)
}

/// The summary as `strace -c` prints it, sorted by time, with the calls
/// that were not implemented listed first.
pub fn summary_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let missing: Vec<&Row> = rows.iter().filter(|r| r.enosys > 0).collect();
    if !missing.is_empty() {
        out.push_str("kiln: system calls that returned ENOSYS (not implemented):\n");
        for r in &missing {
            let s = if r.enosys == 1 { "" } else { "s" };
            let _ = writeln!(out, "  {} ({}): {} call{s}", name(r.nr), r.nr, r.enosys);
        }
    }
    let mut sorted: Vec<&Row> = rows.iter().filter(|r| r.calls > 0).collect();
    sorted.sort_by(|a, b| {
        b.ns.cmp(&a.ns)
            .then(b.calls.cmp(&a.calls))
            .then(a.nr.cmp(&b.nr))
    });
    let total_ns: u64 = sorted.iter().map(|r| r.ns).sum();
    let rule = "------ ----------- ----------- --------- --------- ----------------\n";
    out.push_str("% time     seconds  usecs/call     calls    errors syscall\n");
    out.push_str(rule);
    for r in &sorted {
        let pct = if total_ns == 0 {
            0.0
        } else {
            r.ns as f64 * 100.0 / total_ns as f64
        };
        let errors = if r.errors == 0 {
            String::new()
        } else {
            r.errors.to_string()
        };
        let _ = writeln!(
            out,
            "{pct:6.2} {:11.6} {:11} {:9} {errors:>9} {}",
            r.ns as f64 / 1e9,
            r.ns / 1000 / r.calls.max(1),
            r.calls,
            name(r.nr)
        );
    }
    out.push_str(rule);
    let calls: u64 = sorted.iter().map(|r| r.calls).sum();
    let errors: u64 = sorted.iter().map(|r| r.errors).sum();
    let _ = writeln!(
        out,
        "{:6.2} {:11.6} {:11} {calls:9} {errors:9} total",
        100.0,
        total_ns as f64 / 1e9,
        total_ns / 1000 / calls.max(1)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_and_become_kernel_words() {
        assert_eq!(
            TraceSettings::from_options(None, None, None, None).unwrap(),
            None
        );
        let t = TraceSettings::from_options(
            Some("%network,read"),
            None,
            Some(TraceTime::Wall),
            Some(64),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            t.cmdline(),
            "kiln.trace=%network,read kiln.trace-time=wall kiln.trace-strlen=64"
        );
        // A file alone traces everything.
        let t = TraceSettings::from_options(None, Some("t.txt".into()), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(t.cmdline(), "kiln.trace=all");
        let e = TraceSettings::from_options(Some("red"), None, None, None).unwrap_err();
        assert_eq!(e.to_string(), "--trace=red: unknown system call \"red\"");
        assert!(TraceSettings::from_options(Some("read"), None, None, Some(5000)).is_err());
    }

    #[test]
    fn the_summary_is_sorted_by_time_with_enosys_on_top() {
        let report =
            "summary 0 10 0 3000000 0\nsummary 1 4 1 1000000 0\nsummary 180 2 2 0 2\nexit 0\n";
        let rows = parse_summary(report);
        assert_eq!(rows.len(), 3);
        let t = summary_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "kiln: system calls that returned ENOSYS (not implemented):"
        );
        assert_eq!(lines[1], "  nfsservctl (180): 2 calls");
        assert_eq!(
            lines[2],
            "% time     seconds  usecs/call     calls    errors syscall"
        );
        assert_eq!(
            lines[4],
            " 75.00    0.003000         300        10           read"
        );
        assert_eq!(
            lines[5],
            " 25.00    0.001000         250         4         1 write"
        );
        assert!(lines[6].ends_with("nfsservctl"), "{t}");
        assert_eq!(
            lines[8],
            "100.00    0.004000         250        16         3 total"
        );
    }
}
