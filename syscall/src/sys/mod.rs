//! The syscall handlers, one file per family. Each handler has the type
//! [`crate::table::Handler`]; the table in [`crate::table`] wires them up.

pub mod fdops;
pub mod fs;
pub mod io;
pub mod mem;
pub mod poll;
pub mod proc;
pub mod random;
pub mod signal;
pub mod time;
pub mod tty;
