//! timerfd: a timer read as a file. Reading returns the number of
//! expirations since the last read (8 bytes), waiting for the first;
//! readiness is "readable when it has expired". Expirations are counted
//! from the clock whenever the object is looked at, and `Process::poll`
//! wakes waiters when one expires.

use super::timer::{itimerspec, read_itimerspec, relative_value, timerfd_clock};
use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{FileRef, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::process::WaitFor;
use crate::thread::timers::{Interval, SharedTimerFd, TimerFdState};
use crate::vfs::{Cx, Description, Events, FileObject};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::Stat;

pub const TFD_TIMER_ABSTIME: u32 = 1;
pub const TFD_TIMER_CANCEL_ON_SET: u32 = 2;
pub const TFD_CLOEXEC: u32 = O_CLOEXEC;
pub const TFD_NONBLOCK: u32 = O_NONBLOCK;

/// The file object of a timerfd.
pub struct TimerFd {
    state: SharedTimerFd,
}

impl TimerFd {
    fn update(&self, cx: &mut Cx<'_>) -> TimerFdState {
        let now = cx.p.clock().monotonic_ns();
        let mut s = self.state.lock();
        s.update(now);
        *s
    }
}

impl FileObject for TimerFd {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        // An anonymous inode, as Linux shows it.
        Ok(Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn read(&self, cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        self.update(cx);
        let mut s = self.state.lock();
        if s.ticks == 0 {
            return Err(Errno::EAGAIN);
        }
        buf[..8].copy_from_slice(&s.ticks.to_le_bytes());
        s.ticks = 0;
        Ok(8)
    }
    fn poll(&self, cx: &mut Cx<'_>) -> Events {
        if self.update(cx).ticks > 0 {
            Events::IN | Events::RDNORM
        } else {
            Events::empty()
        }
    }
    fn wait_for(&self) -> WaitFor {
        // Wait for the next expiry (or a signal).
        WaitFor::Wakeup {
            deadline: self.state.lock().timer.next,
        }
    }
    fn name(&self) -> Option<String> {
        Some(String::from("anon_inode:[timerfd]"))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The timerfd behind `fd`: EBADF if it is not open, EINVAL if it is not
/// a timerfd.
fn timerfd(c: &Call<'_>, fd: i32) -> Result<SharedTimerFd, Errno> {
    let f: &FileRef = c.proc.fds().get(fd)?;
    f.obj
        .as_any()
        .downcast_ref::<TimerFd>()
        .map(|t| t.state.clone())
        .ok_or(Errno::EINVAL)
}

/// Implements Linux `timerfd_create(2)` on the realtime, monotonic and
/// boot-time clocks (the ALARM ones behave as their base clocks).
pub fn timerfd_create(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let clock = timerfd_clock(a.int(0))?;
    let flags = a.uint(1);
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let state = Arc::new(spin::Mutex::new(TimerFdState {
        clock,
        ..Default::default()
    }));
    c.proc.timers_mut().register_timerfd(&state);
    let desc = Description::new(
        Box::new(TimerFd { state }),
        O_RDWR | (flags & TFD_NONBLOCK),
        None,
        None,
    );
    let limit = c.fd_limit();
    let fd = c
        .proc
        .fds_mut()
        .open(Arc::new(desc), flags & TFD_CLOEXEC != 0, limit)?;
    ok(fd as u64)
}

/// Implements Linux `timerfd_settime(2)`, relative or TFD_TIMER_ABSTIME.
/// Differs: TFD_TIMER_CANCEL_ON_SET is accepted but never cancels (the
/// wall clock is not set from inside the VM).
pub fn timerfd_settime(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(1);
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = timerfd(c, a.fd(0))?;
    let (interval, value) = read_itimerspec(c, a.u(2))?;
    let now = c.now();
    let old = {
        let mut s = t.lock();
        s.update(now);
        *s
    };
    if a.u(3) != 0 {
        c.mem().write(a.u(3), &itimerspec(&old.timer, now))?;
    }
    let value = relative_value(c, old.clock, flags & TFD_TIMER_ABSTIME != 0, value);
    let next = {
        let mut s = t.lock();
        s.ticks = 0;
        s.timer = Interval {
            next: (value != 0).then(|| now.saturating_add(value)),
            interval: if value != 0 { interval } else { 0 },
        };
        s.timer.next
    };
    c.proc.timers_mut().armed(next);
    ok(0)
}

/// Implements Linux `timerfd_gettime(2)`.
pub fn timerfd_gettime(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = timerfd(c, a.fd(0))?;
    let now = c.now();
    let s = {
        let mut s = t.lock();
        s.update(now);
        *s
    };
    c.mem().write(a.u(1), &itimerspec(&s.timer, now))?;
    ok(0)
}
