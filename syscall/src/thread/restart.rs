//! What a blocking call does when a signal interrupts it: return EINTR,
//! or restart (Linux's -ERESTARTSYS, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK
//! and plain -EINTR, decided per call as Linux's code does).
//!
//! The walk-through of an interrupted call:
//! 1. The call's handler says it must wait (`Outcome::Block`).
//! 2. Before parking the thread, the dispatcher sees a signal that the
//!    thread does not block (it may have arrived while the thread was
//!    parked: sending it woke the thread and the kernel re-issued the call).
//! 3. The call is abandoned (its futex wait is cancelled) and either
//!    returns -EINTR, or, to restart, the registers are left as on entry
//!    with `rip` moved back over the 2-byte `syscall` instruction, so that
//!    when the handler returns (rt_sigreturn restores those registers) the
//!    call is made again.
//! 4. `before_user` then runs the handler (or applies the default action).

/// How a call behaves when a signal interrupts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// -ERESTARTSYS: restarts if the handler has SA_RESTART (or no handler
    /// runs), else EINTR. Most calls: read, write, accept, connect, futex
    /// wait without timeout, wait4, ...
    Sys,
    /// -ERESTARTNOHAND / -ERESTART_RESTARTBLOCK: EINTR when a handler
    /// runs, whatever SA_RESTART says: poll, select, pause, sigsuspend,
    /// nanosleep, futex wait with a timeout.
    NoHandler,
    /// Always EINTR: epoll_wait, rt_sigtimedwait.
    Never,
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAIT_BITSET: u64 = 9;

/// The class of syscall `nr` with arguments `args`.
pub fn class(nr: u64, args: &[u64; 6]) -> Restart {
    match nr {
        7 | 23 | 34 | 35 | 130 | 230 | 270 | 271 => Restart::NoHandler,
        202 => {
            let op = args[1] & 0x7f;
            if matches!(op, FUTEX_WAIT | FUTEX_WAIT_BITSET) && args[3] != 0 {
                Restart::NoHandler
            } else {
                Restart::Sys
            }
        }
        128 | 232 | 281 | 441 => Restart::Never,
        _ => Restart::Sys,
    }
}

/// Whether the call is made again (true) or returns EINTR, given the
/// handler's SA_RESTART and whether a handler runs at all.
pub fn restarts(class: Restart, handler: bool, sa_restart: bool) -> bool {
    match class {
        Restart::Sys => !handler || sa_restart,
        Restart::NoHandler => !handler,
        Restart::Never => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_linux() {
        assert_eq!(class(0, &[0; 6]), Restart::Sys);
        assert_eq!(class(7, &[0; 6]), Restart::NoHandler);
        assert_eq!(class(202, &[0, 0, 0, 0, 0, 0]), Restart::Sys);
        assert_eq!(class(202, &[0, 128, 0, 0x1000, 0, 0]), Restart::NoHandler);
        assert_eq!(class(232, &[0; 6]), Restart::Never);
        assert!(restarts(Restart::Sys, true, true));
        assert!(!restarts(Restart::Sys, true, false));
        assert!(!restarts(Restart::NoHandler, true, true));
        assert!(restarts(Restart::NoHandler, false, false));
        assert!(!restarts(Restart::Never, false, true));
    }
}
