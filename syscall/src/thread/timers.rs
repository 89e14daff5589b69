//! Timers that fire on their own: alarm/setitimer, POSIX timers
//! (timer_create) and timerfd expirations. [`Timers::fire`] fires what has
//! expired and tells when the next one is due; the process's poll turn calls it.
//!
//! All deadlines are kept on the monotonic clock. Absolute realtime
//! settings are converted once when set (a later change of the wall clock
//! does not move them). CPU-time clocks (ITIMER_VIRTUAL/PROF, CPUTIME timers)
//! run on the monotonic clock: the kernel does not count CPU time yet.

use super::sigframe::SigInfo;
use super::signal::Queues;
use super::signal::{SI_KERNEL, SI_TIMER};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use kiln_abi::Tid;

/// A one-shot or periodic deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// Next expiry (monotonic ns), None when disarmed.
    pub next: Option<u64>,
    /// Period (ns), 0 for one-shot.
    pub interval: u64,
}

impl Interval {
    /// Count the expirations up to `now` and move `next` past it.
    pub fn expire(&mut self, now: u64) -> u64 {
        match self.next {
            Some(d) if d <= now => match (now - d).checked_div(self.interval) {
                None => {
                    self.next = None;
                    1
                }
                Some(k) => {
                    let n = k + 1;
                    self.next = Some(d.saturating_add(n.saturating_mul(self.interval)));
                    n
                }
            },
            _ => 0,
        }
    }

    /// Time left to the next expiry (0 when disarmed).
    pub fn remaining(&self, now: u64) -> u64 {
        self.next.map_or(0, |d| d.saturating_sub(now).max(1))
    }
}

/// How a POSIX timer reports expiry (`struct sigevent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: only timer_gettime sees it.
    None,
    /// SIGEV_SIGNAL (to the process) or SIGEV_THREAD_ID (to `tid`).
    Signal {
        signo: i32,
        value: u64,
        tid: Option<Tid>,
    },
}

/// One timer_create timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PosixTimer {
    pub clock: i32,
    pub notify: Notify,
    pub timer: Interval,
    /// What timer_getoverrun reports (of the last delivered signal).
    pub last_overrun: i32,
}

/// The state of a timerfd, shared with its file object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerFdState {
    pub clock: i32,
    pub timer: Interval,
    /// Expirations not yet read.
    pub ticks: u64,
}

impl TimerFdState {
    /// Advance to `now`; returns the new expirations.
    pub fn update(&mut self, now: u64) -> u64 {
        let n = self.timer.expire(now);
        self.ticks = self.ticks.saturating_add(n);
        n
    }
}

pub type SharedTimerFd = Arc<spin::Mutex<TimerFdState>>;

/// Most POSIX timers a program may have.
pub const MAX_TIMERS: usize = 4096;

/// Every timer of the program.
#[derive(Debug, Default)]
pub struct Timers {
    /// ITIMER_REAL (also alarm), ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [Interval; 3],
    pub posix: BTreeMap<i32, PosixTimer>,
    timerfds: Vec<Weak<spin::Mutex<TimerFdState>>>,
    /// Length of `timerfds` at which closed ones are swept out next
    /// (doubling, so that registering N costs O(N)).
    sweep_at: usize,
    /// Something was armed since the last poll.
    dirty: bool,
    /// The earliest expiry the last turn found: the kernel polls by then.
    next_due: Option<u64>,
}

/// Signals of the interval timers.
const ITIMER_SIGNALS: [i32; 3] = [14, 26, 27]; // SIGALRM, SIGVTALRM, SIGPROF

impl Timers {
    /// Note that a timer was armed to expire at `next` (None: disarmed).
    /// The kernel must poll at once only when that is earlier than the
    /// turn it already has planned: arming many timers costs no turn each.
    pub fn armed(&mut self, next: Option<u64>) {
        if let Some(d) = next {
            if self.next_due.is_none_or(|n| d < n) {
                self.dirty = true;
            }
        }
    }

    pub fn needs_poll(&self) -> bool {
        self.dirty
    }

    /// Watch a timerfd's expirations.
    pub fn register_timerfd(&mut self, t: &SharedTimerFd) {
        if self.timerfds.len() >= self.sweep_at {
            self.timerfds.retain(|w| w.strong_count() > 0);
            self.sweep_at = (self.timerfds.len() * 2).max(64);
        }
        self.timerfds.push(Arc::downgrade(t));
    }

    /// A free timer id (the lowest, as Linux hands them out per process).
    pub fn alloc_id(&self) -> Option<i32> {
        if self.posix.len() >= MAX_TIMERS {
            return None;
        }
        (0..).find(|i| !self.posix.contains_key(i))
    }

    /// A timer signal was delivered or taken by rt_sigtimedwait: its
    /// overrun is what timer_getoverrun reports now. (A signalfd read does
    /// not update it.)
    pub fn on_dequeue(&mut self, info: &SigInfo) {
        if info.code != SI_TIMER {
            return;
        }
        let id = info.words[0] as u32 as i32;
        if let Some(t) = self.posix.get_mut(&id) {
            t.last_overrun = (info.words[0] >> 32) as i32;
        }
    }
}

/// What one turn of the timers produced.
pub struct Fired {
    /// Signals to send: to a thread, or to the process (`None`).
    pub signals: Vec<(Option<Tid>, SigInfo)>,
    /// A timerfd ticked: its readers must look again.
    pub fd_fired: bool,
    /// The earliest next expiry of any timer.
    pub next: Option<u64>,
}

impl Timers {
    /// Fire every timer that has expired by `now`. A timer whose signal
    /// still waits in `queues` only counts an overrun there.
    pub fn fire(&mut self, now: u64, queues: &mut Queues) -> Fired {
        self.dirty = false;
        let mut signals: Vec<(Option<Tid>, SigInfo)> = Vec::new();
        let mut next: Option<u64> = None;
        let mut earliest = |d: Option<u64>| {
            if let Some(d) = d {
                next = Some(next.map_or(d, |n: u64| n.min(d)));
            }
        };
        for (i, t) in self.itimers.iter_mut().enumerate() {
            if t.expire(now) > 0 {
                signals.push((
                    None,
                    SigInfo {
                        signo: ITIMER_SIGNALS[i],
                        code: SI_KERNEL,
                        ..Default::default()
                    },
                ));
            }
            earliest(t.next);
        }
        for (&id, t) in self.posix.iter_mut() {
            let n = t.timer.expire(now);
            earliest(t.timer.next);
            let Notify::Signal { signo, value, tid } = t.notify else {
                continue;
            };
            if n == 0 {
                continue;
            }
            // While its signal waits in a queue, a timer only counts overruns
            // (in the queued siginfo's si_overrun), as Linux does.
            if let Some(info) = queues.timer_signal(id) {
                let overrun = ((info.words[0] >> 32) + n).min(i32::MAX as u64);
                info.words[0] = id as u32 as u64 | overrun << 32;
                continue;
            }
            signals.push((
                tid,
                SigInfo {
                    signo,
                    errno: 0,
                    code: SI_TIMER,
                    words: [id as u32 as u64 | (n - 1).min(i32::MAX as u64) << 32, value],
                },
            ));
        }
        let mut fd_fired = false;
        self.timerfds.retain(|w| w.strong_count() > 0);
        for w in &self.timerfds {
            if let Some(t) = w.upgrade() {
                let mut s = t.lock();
                fd_fired |= s.update(now) > 0;
                earliest(s.timer.next);
            }
        }
        self.next_due = next;
        Fired {
            signals,
            fd_fired,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_count_missed_periods() {
        let mut t = Interval {
            next: Some(100),
            interval: 10,
        };
        assert_eq!(t.expire(99), 0);
        assert_eq!(t.expire(100), 1);
        assert_eq!(t.next, Some(110));
        assert_eq!(t.expire(135), 3);
        assert_eq!(t.next, Some(140));
        assert_eq!(t.remaining(135), 5);
        let mut once = Interval {
            next: Some(5),
            interval: 0,
        };
        assert_eq!(once.expire(50), 1);
        assert_eq!(once.next, None);
        assert_eq!(once.expire(60), 0);
        assert_eq!(once.remaining(60), 0);
    }

    #[test]
    fn timerfd_ticks_accumulate() {
        let mut s = TimerFdState {
            clock: 1,
            timer: Interval {
                next: Some(10),
                interval: 5,
            },
            ticks: 0,
        };
        assert_eq!(s.update(21), 3);
        assert_eq!(s.ticks, 3);
        assert_eq!(s.timer.next, Some(25));
    }
}
