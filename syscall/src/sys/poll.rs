//! poll and ppoll over the descriptors that exist so far: the console
//! (readable when input waits, always writable) and image files (always
//! ready, as regular files are on Linux).

use super::time::{read_timespec, timespec};
use crate::call::{Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::FileKind;
use crate::process::WaitFor;
use alloc::vec::Vec;

pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLWRNORM: u16 = 0x100;

/// The events `fd` has now, among those asked for (plus the ones always reported).
fn revents(c: &mut Call<'_>, fd: i32, events: u16) -> u16 {
    if fd < 0 {
        return 0;
    }
    let ready = match c.proc.fds.get(fd).map(|f| f.kind) {
        Err(_) => return POLLNVAL,
        Ok(FileKind::Console) => {
            let mut r = POLLOUT | POLLWRNORM;
            if c.p.console().input_ready() {
                r |= POLLIN | POLLRDNORM;
            }
            r
        }
        Ok(FileKind::Image { .. }) => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
    };
    ready & (events | POLLERR | POLLHUP)
}

/// Common body. `timeout`: None waits forever, Some(ns) at most that long
/// from the first issue of this call. Returns the count and, for ppoll,
/// the remaining time.
fn do_poll(
    c: &mut Call<'_>,
    fds: u64,
    nfds: u64,
    timeout: Option<u64>,
) -> SysResult<(Outcome, u64)> {
    if nfds > c.proc.limits.nofile() {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; nfds as usize * 8];
    c.mem().read(fds, &mut raw)?;
    let mut count = 0u64;
    let mut out: Vec<u8> = raw.clone();
    for (i, pfd) in raw.as_chunks::<8>().0.iter().enumerate() {
        let fd = i32::from_le_bytes(pfd[..4].try_into().unwrap_or_default());
        let events = u16::from_le_bytes(pfd[4..6].try_into().unwrap_or_default());
        let r = revents(c, fd, events);
        out[i * 8 + 6..i * 8 + 8].copy_from_slice(&r.to_le_bytes());
        count += (r != 0) as u64;
    }
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    let now = c.now();
    let expired = deadline.is_some_and(|d| now >= d);
    if count == 0 && !expired {
        let wait = match deadline {
            Some(d) => WaitFor::ConsoleInputOrDeadline(d),
            None => WaitFor::ConsoleInput,
        };
        return Ok((Outcome::Block(wait), 0));
    }
    c.mem().write(fds, &out)?;
    Ok((
        Outcome::Value(count),
        deadline.map_or(0, |d| d.saturating_sub(now)),
    ))
}

/// Implements Linux `poll(2)`. Waiting blocks until console input or the
/// timeout, measured from the first issue of the call.
pub fn poll(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ms = a.int(2);
    let timeout = (ms >= 0).then(|| ms as u64 * 1_000_000);
    Ok(do_poll(c, a.u(0), a.u(1), timeout)?.0)
}

/// Implements Linux `ppoll(2)`; the signal mask argument is checked but,
/// with no signal delivery yet, has no effect. The remaining time is
/// written back as Linux does.
pub fn ppoll(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.u(3) != 0 && a.u(4) != 8 {
        return Err(Errno::EINVAL);
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
