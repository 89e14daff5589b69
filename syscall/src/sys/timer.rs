//! Timers that signal: alarm, setitimer/getitimer and the POSIX timers
//! (timer_create and friends). They fire in `Process::poll`
//! ([`crate::thread::timers::Timers::fire`]).

use super::time::{
    timespec, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID, TIMER_ABSTIME,
};
use crate::call::{ok, Args, Call, Outcome};
use crate::thread::timers::{Interval, Notify, PosixTimer};
use kiln_abi::errno::{Errno, SysResult};

const NS: u64 = 1_000_000_000;
pub const ITIMER_REAL: i32 = 0;
pub const ITIMER_VIRTUAL: i32 = 1;
pub const ITIMER_PROF: i32 = 2;
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;
pub const SIGEV_THREAD_ID: i32 = 4;

/// A `struct timeval` from ns.
fn timeval(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / NS).to_le_bytes());
    b[8..].copy_from_slice(&((ns % NS) / 1000).to_le_bytes());
    b
}

/// Parse a `struct timeval`; EINVAL when out of range.
fn parse_timeval(b: &[u8]) -> Result<u64, Errno> {
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let usec = i64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NS)
        .saturating_add(usec as u64 * 1000))
}

/// Parse a `struct timespec`; EINVAL when out of range.
fn parse_timespec(b: &[u8]) -> Result<u64, Errno> {
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let nsec = i64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
    if sec < 0 || !(0..NS as i64).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(NS).saturating_add(nsec as u64))
}

/// Arm `t` to expire `value` ns from `now` (0 disarms), then every
/// `interval` ns.
fn arm(now: u64, value: u64, interval: u64) -> Interval {
    Interval {
        next: (value != 0).then(|| now.saturating_add(value)),
        interval: if value != 0 { interval } else { 0 },
    }
}

/// Implements Linux `alarm(2)`: SIGALRM after `seconds`; returns the
/// seconds left of the previous alarm (rounded as Linux does).
pub fn alarm(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let now = c.now();
    let old = c.proc.timers().itimers[0].remaining(now);
    let secs = a.uint(0) as u64;
    c.proc.timers_mut().itimers[0] = arm(now, secs * NS, 0);
    let next = c.proc.timers().itimers[0].next;
    c.proc.timers_mut().armed(next);
    let mut left = old / NS;
    if old % NS >= NS / 2 || (old != 0 && left == 0) {
        left += 1;
    }
    ok(left)
}

fn which(a: &Args) -> Result<usize, Errno> {
    match a.int(0) {
        w @ (ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) => Ok(w as usize),
        _ => Err(Errno::EINVAL),
    }
}

fn itimerval(t: &Interval, now: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timeval(t.interval));
    b[16..].copy_from_slice(&timeval(t.remaining(now)));
    b
}

/// Implements Linux `getitimer(2)`.
pub fn getitimer(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let w = which(&a)?;
    let now = c.now();
    let b = itimerval(&c.proc.timers().itimers[w], now);
    c.mem().write(a.u(1), &b)?;
    ok(0)
}

/// Implements Linux `setitimer(2)`. ITIMER_VIRTUAL and ITIMER_PROF count
/// on the monotonic clock (no CPU-time accounting yet). A null new value
/// disarms, as Linux has long allowed.
pub fn setitimer(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let w = which(&a)?;
    let new = if a.u(1) != 0 {
        let b = c.mem().read_array::<32>(a.u(1))?;
        Some((parse_timeval(&b[..16])?, parse_timeval(&b[16..])?))
    } else {
        None
    };
    let now = c.now();
    if a.u(2) != 0 {
        let b = itimerval(&c.proc.timers().itimers[w], now);
        c.mem().write(a.u(2), &b)?;
    }
    let (interval, value) = new.unwrap_or((0, 0));
    c.proc.timers_mut().itimers[w] = arm(now, value, interval);
    let next = c.proc.timers().itimers[w].next;
    c.proc.timers_mut().armed(next);
    ok(0)
}

/// Whether timer_create and timerfd accept clock `id` (CPU clocks only
/// for timer_create).
fn timer_clock(id: i32, cpu_ok: bool) -> Result<i32, Errno> {
    match id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_REALTIME_ALARM
        | CLOCK_BOOTTIME_ALARM => Ok(id),
        CLOCK_TAI if cpu_ok => Ok(id),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID if cpu_ok => Ok(id),
        _ => Err(Errno::EINVAL),
    }
}

/// Is `clock` counted from the epoch?
fn is_real(clock: i32) -> bool {
    matches!(clock, CLOCK_REALTIME | CLOCK_REALTIME_ALARM | CLOCK_TAI)
}

/// Convert a setting on `clock` (absolute or not) to a monotonic
/// deadline offset from now: the value to pass to [`arm`].
pub fn relative_value(c: &Call<'_>, clock: i32, abs: bool, value: u64) -> u64 {
    if value == 0 || !abs {
        return value;
    }
    let base = if is_real(clock) {
        c.p.clock().realtime_ns()
    } else {
        c.now()
    };
    // An absolute time already past expires at once.
    value.saturating_sub(base).max(1)
}

/// Read a `struct itimerspec` as (interval, value).
pub fn read_itimerspec(c: &mut Call<'_>, addr: u64) -> Result<(u64, u64), Errno> {
    let b = c.mem().read_array::<32>(addr)?;
    Ok((parse_timespec(&b[..16])?, parse_timespec(&b[16..])?))
}

/// A `struct itimerspec` for `t` at `now`.
pub fn itimerspec(t: &Interval, now: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timespec(t.interval));
    b[16..].copy_from_slice(&timespec(t.remaining(now)));
    b
}

/// Implements Linux `timer_create(2)` with SIGEV_SIGNAL, SIGEV_THREAD_ID
/// and SIGEV_NONE (SIGEV_THREAD is the C library's business: EINVAL here,
/// as in Linux). CPU-time clocks run on the monotonic clock.
pub fn timer_create(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let clock = timer_clock(a.int(0), true)?;
    let id = c.proc.timers().alloc_id().ok_or(Errno::EAGAIN)?;
    let notify = if a.u(1) != 0 {
        let b = c.mem().read_array::<20>(a.u(1))?;
        let value = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let signo = i32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let kind = i32::from_le_bytes(b[12..16].try_into().unwrap_or_default());
        let tid = i32::from_le_bytes(b[16..20].try_into().unwrap_or_default());
        let valid_sig = (1..=crate::thread::signal::NSIG as i32).contains(&signo);
        match kind {
            SIGEV_NONE => Notify::None,
            SIGEV_SIGNAL if valid_sig => Notify::Signal {
                signo,
                value,
                tid: None,
            },
            k if k == SIGEV_SIGNAL | SIGEV_THREAD_ID
                && valid_sig
                && c.proc.threads().get(tid).is_some() =>
            {
                Notify::Signal {
                    signo,
                    value,
                    tid: Some(tid),
                }
            }
            _ => return Err(Errno::EINVAL),
        }
    } else {
        Notify::Signal {
            signo: 14,
            value: id as u64,
            tid: None,
        }
    };
    c.mem().write_u32(a.u(2), id as u32)?;
    c.proc.timers_mut().posix.insert(
        id,
        PosixTimer {
            clock,
            notify,
            timer: Interval::default(),
            last_overrun: 0,
        },
    );
    ok(0)
}

fn timer_id(c: &Call<'_>, id: i32) -> Result<PosixTimer, Errno> {
    c.proc.timers().posix.get(&id).copied().ok_or(Errno::EINVAL)
}

/// Implements Linux `timer_settime(2)`, relative or TIMER_ABSTIME.
pub fn timer_settime(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let id = a.int(0);
    let t = timer_id(c, id)?;
    if a.uint(1) & !TIMER_ABSTIME != 0 {
        return Err(Errno::EINVAL);
    }
    let (interval, value) = read_itimerspec(c, a.u(2))?;
    let now = c.now();
    if a.u(3) != 0 {
        let b = itimerspec(&t.timer, now);
        c.mem().write(a.u(3), &b)?;
    }
    let value = relative_value(c, t.clock, a.uint(1) & TIMER_ABSTIME != 0, value);
    let mut next = None;
    if let Some(t) = c.proc.timers_mut().posix.get_mut(&id) {
        t.timer = arm(now, value, interval);
        next = t.timer.next;
    }
    c.proc.timers_mut().armed(next);
    ok(0)
}

/// Implements Linux `timer_gettime(2)`.
pub fn timer_gettime(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = timer_id(c, a.int(0))?;
    let now = c.now();
    c.mem().write(a.u(1), &itimerspec(&t.timer, now))?;
    ok(0)
}

/// Implements Linux `timer_getoverrun(2)`: the overrun of the last
/// delivered expiry signal.
pub fn timer_getoverrun(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    ok(timer_id(c, a.int(0))?.last_overrun as u64)
}

/// Implements Linux `timer_delete(2)`.
pub fn timer_delete(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc
        .timers_mut()
        .posix
        .remove(&a.int(0))
        .ok_or(Errno::EINVAL)?;
    ok(0)
}

/// Clocks a timerfd may use.
pub fn timerfd_clock(id: i32) -> Result<i32, Errno> {
    timer_clock(id, false)
}
