//! The syscall handlers, one file per family. Each handler has the type
//! [`crate::table::Handler`]; the table in [`crate::table`] wires them up.

pub mod at;
pub mod attr;
pub mod dir;
pub mod epoll;
pub mod eventfd;
pub mod fdops;
pub mod io;
pub mod mem;
pub mod open;
pub mod poll;
pub mod proc;
pub mod random;
pub mod signal;
pub mod socket;
pub mod sockopt;
pub mod stat;
pub mod time;
pub mod tty;
