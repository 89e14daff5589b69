//! What a parked thread waits for.

/// What a parked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Bytes on the console's input.
    ConsoleInput,
    /// The monotonic clock reaching this value (ns), or console input,
    /// whichever comes first (poll with a timeout).
    ConsoleInputOrDeadline(u64),
    /// The monotonic clock reaching this value (ns).
    Deadline(u64),
    /// Any event (device interrupt, console input, network packet) or the
    /// deadline, if one is given, whichever comes first. The kernel re-issues
    /// the call after each wake-up; the call itself checks whether what it
    /// waits for (pipe data, socket readiness, ...) has happened.
    Event { deadline: Option<u64> },
    /// Only a wake-up that the personality reports for this thread
    /// (`Process::take_wakeups`: futex wake, signal) or the deadline, if
    /// given, ends the wait; then the kernel re-issues the call.
    Wakeup { deadline: Option<u64> },
}

impl WaitFor {
    /// The time at which the wait ends by itself, if any.
    pub fn deadline(&self) -> Option<u64> {
        match *self {
            WaitFor::ConsoleInput => None,
            WaitFor::ConsoleInputOrDeadline(d) | WaitFor::Deadline(d) => Some(d),
            WaitFor::Event { deadline } | WaitFor::Wakeup { deadline } => deadline,
        }
    }
}
