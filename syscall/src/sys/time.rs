//! Clocks and sleeping.

use crate::call::{ok, Args, Call, Outcome};
use crate::process::WaitFor;
use kiln_abi::errno::{Errno, SysResult};

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
pub const CLOCK_REALTIME_COARSE: i32 = 5;
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
pub const CLOCK_BOOTTIME: i32 = 7;
pub const CLOCK_REALTIME_ALARM: i32 = 8;
pub const CLOCK_BOOTTIME_ALARM: i32 = 9;
pub const CLOCK_TAI: i32 = 11;
pub const TIMER_ABSTIME: u32 = 1;
const NS: u64 = 1_000_000_000;
/// Resolution of the coarse clocks (one tick at HZ=250, as Debian's kernel).
const COARSE_RES_NS: u64 = 4_000_000;

/// Whether a clock counts from the epoch (true) or from boot (false).
fn clock_is_real(id: i32) -> Result<bool, Errno> {
    match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | CLOCK_TAI => Ok(true),
        CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_BOOTTIME_ALARM
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID => Ok(false),
        _ => Err(Errno::EINVAL),
    }
}

/// CPU time of the program or of one thread (ns), estimated from the
/// monotonic clock (see [`crate::thread::table::Thread::cpu_ns`]).
fn cpu_clock(c: &Call<'_>, thread: Option<crate::process::Tid>) -> Result<u64, Errno> {
    let now = c.now();
    match thread {
        None => Ok(c.proc.threads().process_cpu_ns(now, c.p.info().cpus)),
        Some(tid) => c
            .proc
            .threads()
            .get(tid)
            .map(|t| t.cpu_ns(now))
            .ok_or(Errno::EINVAL),
    }
}

/// A dynamic CPU clock id (`(~pid << 3) | kind`, bit 2 for a thread, as
/// glibc's pthread_getcpuclockid and clock_getcpuclockid make them):
/// Some(None) for the process, Some(Some(tid)) for a thread.
fn dynamic_cpu_clock(c: &Call<'_>, id: i32) -> Result<Option<crate::process::Tid>, Errno> {
    let pid = !(id >> 3);
    if id & 3 == 3 {
        return Err(Errno::EINVAL);
    }
    if id & 4 != 0 {
        let tid = if pid == 0 { c.tid } else { pid };
        c.proc.threads().get(tid).ok_or(Errno::EINVAL)?;
        Ok(Some(tid))
    } else if pid == 0 || pid == super::proc::PID as i32 {
        Ok(None)
    } else {
        Err(Errno::EINVAL)
    }
}

fn read_clock(c: &Call<'_>, id: i32) -> Result<u64, Errno> {
    if id < 0 {
        return cpu_clock(c, dynamic_cpu_clock(c, id)?);
    }
    Ok(match id {
        CLOCK_PROCESS_CPUTIME_ID => cpu_clock(c, None)?,
        CLOCK_THREAD_CPUTIME_ID => cpu_clock(c, Some(c.tid))?,
        _ if clock_is_real(id)? => c.p.clock().realtime_ns(),
        _ => c.now(),
    })
}

/// A `struct timespec`.
pub fn timespec(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / NS).to_le_bytes());
    b[8..].copy_from_slice(&(ns % NS).to_le_bytes());
    b
}

/// Read a `struct timespec` as nanoseconds; EINVAL when out of range.
pub fn read_timespec(c: &mut Call<'_>, addr: u64) -> Result<u64, Errno> {
    let b = c.mem().read_array::<16>(addr)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or_default());
    if sec < 0 || !(0..NS as i64).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(NS).saturating_add(nsec as u64))
}

/// Implements Linux `clock_gettime(2)`. The CPU-time clocks (also the
/// per-thread and per-process ids glibc makes) are estimates: time alive
/// minus time parked in blocking calls.
pub fn clock_gettime(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ns = read_clock(c, a.int(0))?;
    c.mem().write(a.u(1), &timespec(ns))?;
    ok(0)
}

/// Implements Linux `clock_getres(2)`: 1 ns, or one tick for the coarse clocks.
pub fn clock_getres(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let id = a.int(0);
    if id < 0 {
        dynamic_cpu_clock(c, id)?;
    } else {
        clock_is_real(id)?;
    }
    let res = if matches!(id, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE) {
        COARSE_RES_NS
    } else {
        1
    };
    if a.u(1) != 0 {
        c.mem().write(a.u(1), &timespec(res))?;
    }
    ok(0)
}

/// Implements Linux `gettimeofday(2)`; the time zone reads as UTC.
pub fn gettimeofday(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ns = c.p.clock().realtime_ns();
    if a.u(0) != 0 {
        let mut tv = [0u8; 16];
        tv[..8].copy_from_slice(&(ns / NS).to_le_bytes());
        tv[8..].copy_from_slice(&((ns % NS) / 1000).to_le_bytes());
        c.mem().write(a.u(0), &tv)?;
    }
    if a.u(1) != 0 {
        c.mem().write(a.u(1), &[0u8; 8])?;
    }
    ok(0)
}

/// Implements Linux `time(2)`.
pub fn time(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let s = c.p.clock().realtime_ns() / NS;
    if a.u(0) != 0 {
        c.mem().write_u64(a.u(0), s)?;
    }
    ok(s)
}

/// Sleep until monotonic `deadline`: block, and finish when re-issued late
/// enough. A signal that runs a handler interrupts the sleep: EINTR, with
/// the time left written to `rem` (when given).
fn sleep_until(c: &mut Call<'_>, deadline: u64, rem: u64) -> SysResult<Outcome> {
    let now = c.now();
    if now >= deadline {
        return ok(0);
    }
    if c.signal_pending() {
        if rem != 0 {
            c.mem().write(rem, &timespec(deadline - now))?;
        }
        return Err(Errno::EINTR);
    }
    Ok(Outcome::Block(WaitFor::Wakeup {
        deadline: Some(deadline),
    }))
}

/// Implements Linux `nanosleep(2)`. The deadline is fixed at the first
/// issue, so re-issues after a wake do not restart the sleep.
pub fn nanosleep(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let req = read_timespec(c, a.u(0))?;
    let deadline = c.deadline(|now| now.saturating_add(req));
    sleep_until(c, deadline, a.u(1))
}

/// Implements Linux `clock_nanosleep(2)`, relative or TIMER_ABSTIME, on
/// the realtime and monotonic clocks (EINVAL for the thread CPU clock, as
/// Linux). An absolute realtime deadline is converted to monotonic time
/// once, so a later change of the wall clock does not move it.
pub fn clock_nanosleep(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let id = a.int(0);
    let real = clock_is_real(id)?;
    if id == CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let req = read_timespec(c, a.u(2))?;
    let abs = a.uint(1) & TIMER_ABSTIME != 0;
    let real_now = c.p.clock().realtime_ns();
    let deadline = c.deadline(|now| match (abs, real) {
        (false, _) => now.saturating_add(req),
        (true, false) => req,
        (true, true) => now.saturating_add(req.saturating_sub(real_now)),
    });
    sleep_until(c, deadline, if abs { 0 } else { a.u(3) })
}
