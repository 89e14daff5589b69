//! poll, ppoll, select and pselect6, built on the readiness every file
//! object reports ([`crate::vfs::FileObject::poll`]). Waiting blocks with
//! `WaitFor::Event` (or console input when only the console is watched)
//! until the timeout, measured from the first issue of the call.

use super::time::{read_timespec, timespec};
use crate::call::{Args, Call, Outcome};
use crate::process::WaitFor;
use crate::vfs::Events;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLWRNORM: u16 = 0x100;

/// What a watch on these descriptors waits for: a wake-up on their
/// readiness keys when all have keys (sockets, eventfd, epoll), console
/// input when the console is all there is, any event otherwise.
struct Waiter {
    console_only: bool,
    keys: Vec<crate::net::ReadyKey>,
    all_keyed: bool,
}

impl Waiter {
    fn new() -> Waiter {
        Waiter {
            console_only: true,
            keys: Vec::new(),
            all_keyed: true,
        }
    }
    fn wait(self, c: &mut Call<'_>, deadline: Option<u64>) -> WaitFor {
        if self.all_keyed && !self.keys.is_empty() {
            return crate::sys::wait::park(c, self.keys, deadline);
        }
        match (self.console_only, deadline) {
            (true, Some(d)) => WaitFor::ConsoleInputOrDeadline(d),
            (true, None) => WaitFor::ConsoleInput,
            (false, d) => WaitFor::Event { deadline: d },
        }
    }
}

/// The readiness of `fd` (POLLNVAL if it is not open).
fn ready(c: &mut Call<'_>, fd: i32, w: &mut Waiter) -> Events {
    let Ok(f) = c.proc.fds().get(fd).cloned() else {
        return Events::NVAL;
    };
    if f.obj.wait_for() != WaitFor::ConsoleInput {
        w.console_only = false;
    }
    if !f.obj.wake_keys(&mut w.keys) {
        w.all_keyed = false;
    }
    let mut cx = c.cx();
    f.obj.poll(&mut cx)
}

/// Common body. `timeout`: None waits forever, Some(ns) at most that long
/// from the first issue of this call. Returns the count and the time left.
fn do_poll(
    c: &mut Call<'_>,
    fds: u64,
    nfds: u64,
    timeout: Option<u64>,
) -> SysResult<(Outcome, u64)> {
    if nfds > c.proc.limits().nofile() {
        return Err(Errno::EINVAL);
    }
    // The array is read once and its `revents` filled in place.
    let mut raw = crate::fallible::zeroed(nfds as usize * 8)?;
    c.mem().read(fds, &mut raw)?;
    let mut count = 0u64;
    let mut w = Waiter::new();
    for pfd in raw.as_chunks_mut::<8>().0.iter_mut() {
        let fd = i32::from_le_bytes([pfd[0], pfd[1], pfd[2], pfd[3]]);
        let events = u16::from_le_bytes([pfd[4], pfd[5]]);
        let r = if fd < 0 {
            0
        } else {
            ready(c, fd, &mut w).bits() & (events | POLLERR | POLLHUP | POLLNVAL)
        };
        pfd[6..].copy_from_slice(&r.to_le_bytes());
        count += (r != 0) as u64;
    }
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    let now = c.now();
    let expired = deadline.is_some_and(|d| now >= d);
    if count == 0 && !expired {
        return Ok((Outcome::Block(w.wait(c, deadline)), 0));
    }
    c.mem().write(fds, &raw)?;
    Ok((
        Outcome::Value(count),
        deadline.map_or(0, |d| d.saturating_sub(now)),
    ))
}

/// Implements Linux `poll(2)`.
pub fn poll(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ms = a.int(2);
    let timeout = (ms >= 0).then(|| ms as u64 * 1_000_000);
    Ok(do_poll(c, a.u(0), a.u(1), timeout)?.0)
}

/// Implements Linux `ppoll(2)`: the signal mask applies for the duration
/// of the call (and until the handler of a signal that interrupts it has
/// run). The remaining time is written back as Linux does.
pub fn ppoll(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.u(3) != 0 {
        if a.u(4) != 8 {
            return Err(Errno::EINVAL);
        }
        let mask = c.mem().read_u64(a.u(3))?;
        c.set_temp_mask(mask);
    }
    let timeout = if a.u(2) != 0 {
        Some(read_timespec(c, a.u(2))?)
    } else {
        None
    };
    let (out, left) = do_poll(c, a.u(0), a.u(1), timeout)?;
    if matches!(out, Outcome::Value(_)) && a.u(2) != 0 {
        // Linux ignores a failure to write the remaining time back.
        let _ = c.mem().write(a.u(2), &timespec(left));
    }
    Ok(out)
}

/// FD_SETSIZE: the most descriptors select watches.
pub const FD_SETSIZE: i32 = 1024;

const SELECT_IN: Events = Events::IN
    .union(Events::RDNORM)
    .union(Events::HUP)
    .union(Events::ERR);
const SELECT_OUT: Events = Events::OUT.union(Events::WRNORM).union(Events::ERR);
const SELECT_EX: Events = Events::PRI;

fn read_set(c: &mut Call<'_>, addr: u64, bytes: usize) -> SysResult<Option<Vec<u8>>> {
    if addr == 0 {
        return Ok(None);
    }
    let mut v = crate::fallible::zeroed(bytes)?;
    c.mem().read(addr, &mut v)?;
    Ok(Some(v))
}

fn do_select(
    c: &mut Call<'_>,
    nfds: i32,
    sets: [u64; 3],
    timeout: Option<u64>,
) -> SysResult<(Outcome, u64)> {
    if !(0..=FD_SETSIZE.max(c.proc.limits().nofile() as i32)).contains(&nfds) {
        return Err(Errno::EINVAL);
    }
    let bytes = (nfds as usize).div_ceil(64) * 8;
    let inputs = [
        read_set(c, sets[0], bytes)?,
        read_set(c, sets[1], bytes)?,
        read_set(c, sets[2], bytes)?,
    ];
    let mut outs: [Vec<u8>; 3] = [
        crate::fallible::zeroed(bytes)?,
        crate::fallible::zeroed(bytes)?,
        crate::fallible::zeroed(bytes)?,
    ];
    let masks = [SELECT_IN, SELECT_OUT, SELECT_EX];
    let mut count = 0u64;
    let mut w = Waiter::new();
    for fd in 0..nfds {
        let (byte, bit) = (fd as usize / 8, 1u8 << (fd % 8));
        let wanted = inputs
            .iter()
            .any(|s| s.as_ref().is_some_and(|s| s[byte] & bit != 0));
        if !wanted {
            continue;
        }
        let r = ready(c, fd, &mut w);
        if r.contains(Events::NVAL) {
            return Err(Errno::EBADF);
        }
        for k in 0..3 {
            if inputs[k].as_ref().is_some_and(|s| s[byte] & bit != 0) && r.intersects(masks[k]) {
                outs[k][byte] |= bit;
                count += 1;
            }
        }
    }
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    let now = c.now();
    let expired = deadline.is_some_and(|d| now >= d);
    if count == 0 && !expired {
        return Ok((Outcome::Block(w.wait(c, deadline)), 0));
    }
    for k in 0..3 {
        if inputs[k].is_some() {
            c.mem().write(sets[k], &outs[k])?;
        }
    }
    Ok((
        Outcome::Value(count),
        deadline.map_or(0, |d| d.saturating_sub(now)),
    ))
}

/// Implements Linux `select(2)`; the remaining time is written back into
/// the timeval, as Linux does.
pub fn select(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let tv = a.u(4);
    let timeout = if tv != 0 {
        let b = c.mem().read_array::<16>(tv)?;
        let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or_default());
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(Errno::EINVAL);
        }
        Some(
            (sec as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(usec as u64 * 1000),
        )
    } else {
        None
    };
    let (out, left) = do_select(c, a.int(0), [a.u(1), a.u(2), a.u(3)], timeout)?;
    if matches!(out, Outcome::Value(_)) && tv != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
        b[8..].copy_from_slice(&((left % 1_000_000_000) / 1000).to_le_bytes());
        let _ = c.mem().write(tv, &b);
    }
    Ok(out)
}

/// Implements Linux `pselect6(2)`, with the signal mask in effect for
/// the duration of the call, as ppoll.
pub fn pselect6(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ts = a.u(4);
    if a.u(5) != 0 {
        let b = c.mem().read_array::<16>(a.u(5))?;
        let size = u64::from_le_bytes(b[8..].try_into().unwrap_or_default());
        let set = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        if set != 0 {
            if size != 8 {
                return Err(Errno::EINVAL);
            }
            let mask = c.mem().read_u64(set)?;
            c.set_temp_mask(mask);
        }
    }
    let timeout = if ts != 0 {
        Some(read_timespec(c, ts)?)
    } else {
        None
    };
    let (out, left) = do_select(c, a.int(0), [a.u(1), a.u(2), a.u(3)], timeout)?;
    if matches!(out, Outcome::Value(_)) && ts != 0 {
        let _ = c.mem().write(ts, &timespec(left));
    }
    Ok(out)
}
