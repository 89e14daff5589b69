//! Kiln's Linux personality. It knows no hardware: the kernel hands it the
//! machine through the traits in [`platform`], and host tests hand it fakes.
//!
//! The kernel's whole interface is [`process::Process`]: `boot`, `syscall`,
//! `page_fault`, `poll`, `symbolize`.
//!
//! Layers, each importing only those below it (`tests/layers.rs` checks):
//!
//! - handlers: [`dispatch`] (the syscall entry), [`table`], [`call`] and
//!   [`sys`], one file per family;
//! - [`process`]: puts the parts together (their fields private), sends and
//!   delivers signals, drives the network and timer turns;
//! - parts: [`mm`], [`vfs`], [`net`], [`thread`], [`ready`], [`fd`],
//!   [`cred`], [`limits`], [`loader`], [`imagefs`], [`stack`], [`symbols`],
//!   over [`platform`];
//! - the crates `kiln-abi` (the shared Linux vocabulary) and `kiln-image`
//!   (the image format).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod call;
pub mod cred;
pub mod dispatch;
pub mod fallible;
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

pub mod thread;
pub mod trace;
pub mod tracing;
pub mod vfs;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use process::Process;
