//! Architecture support; only x86_64 today.
#[path = "x86_64/mod.rs"]
mod imp;
pub use imp::*;
