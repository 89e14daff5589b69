//! Kiln's Linux personality. It knows no hardware: the kernel hands it the
//! machine through the traits in [`platform`], and host tests hand it fakes.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod context;
pub mod errno;
pub mod image;
pub mod platform;
pub mod process;
