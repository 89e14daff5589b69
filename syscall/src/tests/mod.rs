//! Host tests of the whole personality through `Process`, on fakes.

mod boot;
mod files;
mod fuzz;
mod identity;
mod ifaces;
mod io;
mod memory;
mod misc;
mod net;
mod signals;
mod sizes;
mod threads;
mod timers;
mod trace;

/// The kernel keeps the process in a static behind a lock: it must be Send.
#[test]
fn process_is_send() {
    fn send<T: Send>() {}
    send::<crate::Process>();
}
