//! Faults of the program: how it touched memory, and the signal it gets.

use crate::signal::Signal;

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
