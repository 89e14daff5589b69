//! The syscall handlers, one file per family. Each handler has the type
//! [`crate::table::Handler`]; the table in [`crate::table`] wires them up.

pub mod advice;
pub mod at;
pub mod attr;
pub mod cmsg;
pub mod cred;
pub mod dir;
pub mod epoll;
pub mod eventfd;
pub mod fdops;
pub mod futex;
pub mod ifreq;
pub mod io;
pub mod kill;
pub mod mem;
pub mod membarrier;
pub mod open;
pub mod poll;
pub mod proc;
pub mod random;
pub mod remap;
pub mod rusage;
pub mod session;
pub mod signal;
pub mod signalfd;
pub mod socket;
pub mod sockopt;
pub mod stat;
pub mod thread;
pub mod time;
pub mod timer;
pub mod timerfd;
pub mod tty;
pub mod wait;
