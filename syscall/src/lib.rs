//! Kiln's Linux personality. It knows no hardware: the kernel hands it the
//! machine through the traits in [`platform`], and host tests hand it fakes.
//!
//! The kernel's whole interface is [`process::Process`]: `boot`, `syscall`,
//! `page_fault`, `symbolize`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod call;
pub mod cred;
pub mod dispatch;
pub mod fd;
pub mod imagefs;
pub mod limits;
pub mod loader;
pub mod mm;
pub mod net;
pub mod platform;
pub mod process;
pub mod ready;
pub mod stack;
pub mod symbols;
pub mod sys;
pub mod table;
mod table_names;
pub mod thread;
pub mod vfs;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use process::Process;
