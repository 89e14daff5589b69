//! The process's timer turn: fire the timers that expired and send their
//! signals.

use super::Process;

/// Fire every timer that has expired by `now`; returns the earliest next
/// expiry of any timer.
pub(super) fn poll(proc: &mut Process, now: u64) -> Option<u64> {
    let fired = {
        let mut queues = proc.signals.queues.lock();
        proc.timers.fire(now, &mut queues)
    };
    if fired.fd_fired {
        proc.threads.wake_all();
    }
    for (tid, info) in fired.signals {
        // A timer whose target thread has gone signals the process.
        let target = tid.filter(|&t| proc.threads.get(t).is_some());
        let _ = proc.send_signal(target, info);
    }
    fired.next
}
