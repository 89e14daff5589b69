//! The running program as the personality sees it. This is the whole
//! interface the kernel uses: boot the program, hand it each system call and
//! each user page fault, and act on the [`Flow`] that comes back.

use crate::context::UserContext;
use crate::platform::Platform;
use alloc::string::String;

/// What the kernel does after a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Return to the program; the result is already in `rax`.
    Continue,
    /// The call cannot finish now. The kernel parks the thread until the
    /// event may have happened, then issues the same call again (the
    /// context is left as it was on entry).
    Block(WaitFor),
    /// The program has ended (exit_group, or exit of its last thread) with
    /// this status (0..=255).
    Exit(i32),
    /// The program must be ended by a signal (no handler can run). The
    /// kernel prints the crash report and exits with 128 + signal.
    Kill(Signal),
}

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
}

/// Linux signal numbers the kernel needs to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Sigill = 4,
    Sigtrap = 5,
    Sigbus = 7,
    Sigfpe = 8,
    Sigsegv = 11,
}

impl Signal {
    /// The Linux signal number.
    pub fn number(self) -> i32 {
        self as i32
    }

    /// The usual name, e.g. "SIGSEGV".
    pub fn name(self) -> &'static str {
        match self {
            Signal::Sigill => "SIGILL",
            Signal::Sigtrap => "SIGTRAP",
            Signal::Sigbus => "SIGBUS",
            Signal::Sigfpe => "SIGFPE",
            Signal::Sigsegv => "SIGSEGV",
        }
    }
}

/// How the program touched a page that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// Why a fault could not be resolved: what the program gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSignal {
    pub signal: Signal,
    /// `si_code`: SEGV_MAPERR (1) or SEGV_ACCERR (2) for SIGSEGV.
    pub code: i32,
    pub addr: u64,
}

/// Why the program could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootError(pub String);

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
