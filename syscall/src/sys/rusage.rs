//! Resource usage: times and getrusage. CPU time is an estimate (time
//! alive minus time parked in blocking calls, see
//! [`crate::thread::table::Thread::cpu_ns`]) and all of it counts as user
//! time; there are no children.

use crate::call::{ok, Args, Call, Outcome};
use crate::stack::CLOCK_TICKS;
use kiln_abi::errno::{Errno, SysResult};

const NS: u64 = 1_000_000_000;
pub const RUSAGE_SELF: i32 = 0;
pub const RUSAGE_CHILDREN: i32 = -1;
pub const RUSAGE_THREAD: i32 = 1;

fn process_cpu(c: &Call<'_>) -> u64 {
    c.proc.threads().process_cpu_ns(c.now(), c.p.info().cpus)
}

/// Implements Linux `times(2)`: user time is the CPU estimate, system time
/// 0, children 0; returns clock ticks since boot.
pub fn times(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ticks = |ns: u64| ns / (NS / CLOCK_TICKS);
    if a.u(0) != 0 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&ticks(process_cpu(c)).to_le_bytes());
        c.mem().write(a.u(0), &b)?;
    }
    ok(ticks(c.now()))
}

/// Implements Linux `getrusage(2)` for RUSAGE_SELF, RUSAGE_THREAD and
/// RUSAGE_CHILDREN (all zero). Only the times are filled; the other
/// counters (max RSS, faults, context switches) read 0.
pub fn getrusage(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ns = match a.int(0) {
        RUSAGE_SELF => process_cpu(c),
        RUSAGE_THREAD => {
            let now = c.now();
            c.thread().cpu_ns(now)
        }
        RUSAGE_CHILDREN => 0,
        _ => return Err(Errno::EINVAL),
    };
    let mut b = [0u8; 144];
    b[..8].copy_from_slice(&(ns / NS).to_le_bytes());
    b[8..16].copy_from_slice(&((ns % NS) / 1000).to_le_bytes());
    c.mem().write(a.u(1), &b)?;
    ok(0)
}
