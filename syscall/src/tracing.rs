//! What `kiln run --trace` and `--syscall-summary` asked for, and the state
//! they keep: which calls to trace, the calls whose entry was printed
//! before they blocked, and per-call counts for the summary. The decoding
//! of arguments is the handlers' (`crate::trace`); this part only holds data.

use alloc::collections::BTreeMap;
use kiln_abi::errno::Errno;
use kiln_abi::sysno::SyscallSet;
use kiln_abi::Tid;

/// How trace lines are stamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceTime {
    /// Seconds since the program started (`0.001234`).
    #[default]
    Relative,
    /// Wall-clock time of day, UTC (`12:34:56.123456`).
    Wall,
}

/// `kiln.trace=SET` and its companions on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceOptions {
    pub set: SyscallSet,
    pub time: TraceTime,
    /// Longest data string printed before `...` (strace's `-s`).
    pub strlen: usize,
}

/// strace's default for `-s`.
pub const DEFAULT_STRLEN: usize = 32;
/// Upper bound for `kiln.trace-strlen` (a line stays a line).
pub const MAX_STRLEN: usize = 4096;

/// One row of the summary: one system call number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SummaryRow {
    pub calls: u64,
    pub errors: u64,
    /// Time spent in the kernel for this call (blocked time excluded, as
    /// `strace -c` counts system time).
    pub ns: u64,
    /// Calls that returned ENOSYS (not implemented).
    pub enosys: u64,
}

/// The tracing state of a process.
#[derive(Debug, Default)]
pub struct Tracing {
    trace: Option<TraceOptions>,
    summary: Option<BTreeMap<u64, SummaryRow>>,
    /// Threads whose current call was printed as `<unfinished ...>`.
    unfinished: BTreeMap<Tid, u64>,
    /// When the program started (monotonic ns).
    pub start_ns: u64,
}

impl Tracing {
    pub fn new(trace: Option<TraceOptions>, summary: bool, start_ns: u64) -> Tracing {
        Tracing {
            trace,
            summary: summary.then(BTreeMap::new),
            unfinished: BTreeMap::new(),
            start_ns,
        }
    }

    /// Whether anything is on: the syscall path skips all of this when not.
    pub fn active(&self) -> bool {
        self.trace.is_some() || self.summary.is_some()
    }

    pub fn options(&self) -> Option<&TraceOptions> {
        self.trace.as_ref()
    }

    /// Whether calls of `nr` are traced.
    pub fn traces(&self, nr: u64) -> bool {
        self.trace.is_some_and(|t| t.set.contains(nr))
    }

    /// Count one attempt at `nr` that took `ns` in the kernel; `done` when
    /// it completed (a blocked attempt adds time, not a call), with the
    /// error it failed with.
    pub fn count(&mut self, nr: u64, ns: u64, done: bool, error: Option<Errno>) {
        if let Some(rows) = &mut self.summary {
            let row = rows.entry(nr).or_default();
            row.ns = row.ns.saturating_add(ns);
            if done {
                row.calls += 1;
                row.errors += u64::from(error.is_some());
                row.enosys += u64::from(error == Some(Errno::ENOSYS));
            }
        }
    }

    /// The summary rows by number, if the summary is on.
    pub fn summary(&self) -> Option<&BTreeMap<u64, SummaryRow>> {
        self.summary.as_ref()
    }

    /// Remember that `tid`'s call of `nr` was printed unfinished; false if
    /// it already was.
    pub fn start_unfinished(&mut self, tid: Tid, nr: u64) -> bool {
        self.unfinished.insert(tid, nr) != Some(nr)
    }

    /// Forget `tid`'s unfinished call: the number, if there was one.
    pub fn take_unfinished(&mut self, tid: Tid) -> Option<u64> {
        self.unfinished.remove(&tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_completed_calls_and_all_time() {
        let mut t = Tracing::new(None, true, 0);
        t.count(0, 10, false, None);
        t.count(0, 5, true, Some(Errno::ENOSYS));
        t.count(1, 1, true, None);
        let rows = t.summary().unwrap();
        let want = SummaryRow {
            calls: 1,
            errors: 1,
            ns: 15,
            enosys: 1,
        };
        assert_eq!(rows[&0], want);
        assert_eq!(rows[&1].calls, 1);
        assert!(t.active() && !t.traces(0));
    }

    #[test]
    fn off_means_nothing_is_kept() {
        let mut t = Tracing::default();
        t.count(0, 10, true, None);
        assert!(t.summary().is_none() && !t.active());
    }
}
