//! The vocabulary that every part of Kiln's Linux personality shares, and
//! that the kernel speaks with it: thread ids, signal numbers, wait
//! conditions, fault kinds, errno, the register context, and the Linux
//! constants and structures that several parts decode (open flags, ioctl
//! requests and termios, stat). It sits below everything else and imports
//! nothing of Kiln.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod context;
pub mod errno;
pub mod fault;
pub mod fcntl;
pub mod ioctl;
pub mod signal;
pub mod stat;
pub mod sysno;
pub mod uts;
pub mod wait;

pub use fault::{Access, FaultSignal};
pub use signal::Signal;
pub use wait::WaitFor;

use alloc::string::String;

/// A thread id as Linux numbers them (the first thread is 1).
pub type Tid = i32;

/// The first thread's id (and the process id).
pub const MAIN_TID: Tid = 1;

/// Where a position-independent program is loaded (Linux's
/// `ELF_ET_DYN_BASE` without address randomisation); kiln's gdb command
/// needs it too.
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// The preemption tick: the time slice every thread gets.
pub const TIME_SLICE_NS: u64 = 10_000_000;

/// Most pending connections a listener holds (Linux's `SOMAXCONN` is 4096;
/// each pending connection here holds its buffers).
pub const MAX_BACKLOG: usize = 128;

/// Why the program could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootError(pub String);

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
