//! The process's network glue: the stack at boot, its poll turn (address
//! changes on the console and in `/run/resolv.conf`), and the drain of the
//! readiness change list into [`Readiness`].

use super::Process;
use crate::net::{Net, NetEvent, NetStack};
use crate::platform::Platform;
use crate::ready::Readiness;
use alloc::vec::Vec;
use core::net::IpAddr;
use kiln_abi::errno::SysResult;
use kiln_abi::Tid;
use kiln_image::NetConfig;

/// Rounds of change propagation in one [`absorb`] (epoll nests at most 5
/// deep, so this is enough; more changes wait for the next call).
const ROUNDS: usize = 8;

/// Make the network stack at boot, over the machine's device if it has
/// one (loopback works without), configured from the manifest.
pub(super) fn boot(p: &mut dyn Platform, config: &NetConfig) -> (Net, Readiness) {
    let mut seed = [0u8; 8];
    p.random().fill(&mut seed);
    let now = p.clock().monotonic_ns();
    let stack = NetStack::new(config, p.net(), now, u64::from_le_bytes(seed));
    let net = stack.into_shared();
    let config_key = net.new_key();
    (net, Readiness::new(config_key))
}

/// [`Process::poll`]'s network part: run the stack, print address
/// changes on the console, wake the threads whose objects changed. Returns
/// when to poll next (smoltcp's `poll_at`).
pub fn poll(proc: &mut Process, p: &mut dyn Platform, now: u64) -> Option<u64> {
    let next = proc.net.poll(now, p.net());
    let events = proc.net.stack().take_events();
    if !events.is_empty() {
        for e in &events {
            let line = alloc::format!("kiln: {}\n", e.describe());
            p.console().note(line.as_bytes());
            if let NetEvent::Configured { nameservers, .. } = e {
                if let Err(err) = write_resolv_conf(proc, p, nameservers) {
                    let path = kiln_image::LEASE_RESOLV_CONF;
                    let line = alloc::format!("kiln: cannot write {path}: {err:?}\n");
                    p.console().note(line.as_bytes());
                }
            }
        }
        proc.net.notify(proc.ready.config_key);
    }
    absorb(proc);
    next
}

/// Whether a call left work for [`poll`] (data to send, changes to tell).
pub fn needs_poll(proc: &Process) -> bool {
    let st = proc.net.stack();
    st.needs_poll() || st.has_changes()
}

/// Drain the change list: wake parked threads, feed observers.
pub fn absorb(proc: &mut Process) {
    for _ in 0..ROUNDS {
        let changed = proc.net.take_changed();
        if changed.is_empty() {
            return;
        }
        for k in proc.ready.absorb(changed) {
            proc.net.notify(k);
        }
    }
}

/// Threads to re-issue: those woken by readiness changes.
pub fn take_wakeups(proc: &mut Process) -> Vec<Tid> {
    absorb(proc);
    proc.ready.take_wakeups()
}

/// Write the name servers of a new network configuration to
/// [`kiln_image::LEASE_RESOLV_CONF`].
fn write_resolv_conf(proc: &Process, p: &mut dyn Platform, servers: &[IpAddr]) -> SysResult<()> {
    crate::net::resolv::write(&mut crate::vfs::Cx { p, facts: proc }, servers)
}
