//! The glue between the network stack, readiness and parked threads.
//!
//! One readiness bus: every keyed object (sockets, eventfd, epoll) has a
//! [`SocketKey`]; when its readiness may have changed, the key lands in the
//! stack's change list ([`Net::notify`], or the stack's own poll for
//! sockets). [`absorb`] drains that list and
//!
//! - wakes exactly the threads parked on those keys (`WaitFor::Wakeup`,
//!   registered by [`park`]), and
//! - tells the observers of those keys (epoll instances, see
//!   `sys/epoll.rs`) which of their interests to look at; an epoll that
//!   gains a candidate notifies its own key, so that waiters on the epoll
//!   (or an epoll watching it) wake in the next round.
//!
//! Objects without keys (pipes, the console, files) keep the old model:
//! their waiters park with `WaitFor::Event` and are re-issued on any event.

use super::{Net, NetEvent, NetStack, SocketKey};
use crate::call::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::FileRef;
use crate::image::NetConfig;
use crate::platform::Platform;
use crate::process::{Process, Tid, WaitFor};
use alloc::collections::BTreeMap;
use alloc::sync::Weak;
use alloc::vec::Vec;

/// What an observer makes of a change.
pub enum Seen {
    /// Noted; notify this key in turn (the observer's own).
    Notify(SocketKey),
    /// The interest is gone: stop telling it.
    Gone,
}

/// Something that watches keys (an epoll instance).
pub trait Observe: Send + Sync {
    /// The object watched under interest `id` may have changed.
    fn changed(&self, id: u64) -> Seen;
}

struct Observer {
    obs: Weak<dyn Observe>,
    id: u64,
}

/// Parked threads and observers, by key.
pub struct Readiness {
    by_tid: BTreeMap<Tid, Vec<SocketKey>>,
    by_key: BTreeMap<SocketKey, Vec<Tid>>,
    observers: BTreeMap<SocketKey, Vec<Observer>>,
    wakeups: Vec<Tid>,
    /// Notified when the network's address configuration changes (connect
    /// waits on it while DHCP runs).
    pub(crate) config_key: SocketKey,
}

/// Rounds of change propagation in one [`absorb`] (epoll nests at most 5
/// deep, so this is enough; more changes wait for the next call).
const ROUNDS: usize = 8;

/// How long `connect` to a remote address waits for DHCP (ns).
pub const DHCP_WAIT_NS: u64 = 3_000_000_000;

impl Readiness {
    fn new(config_key: SocketKey) -> Readiness {
        Readiness {
            by_tid: BTreeMap::new(),
            by_key: BTreeMap::new(),
            observers: BTreeMap::new(),
            wakeups: Vec::new(),
            config_key,
        }
    }

    /// Drop the registration of `tid` (its call is issued again, or done).
    pub fn forget(&mut self, tid: Tid) {
        if let Some(keys) = self.by_tid.remove(&tid) {
            for k in keys {
                if let Some(v) = self.by_key.get_mut(&k) {
                    v.retain(|&t| t != tid);
                    if v.is_empty() {
                        self.by_key.remove(&k);
                    }
                }
            }
        }
    }

    fn register(&mut self, tid: Tid, mut keys: Vec<SocketKey>) {
        self.forget(tid);
        keys.sort_unstable();
        keys.dedup();
        for &k in &keys {
            self.by_key.entry(k).or_default().push(tid);
        }
        self.by_tid.insert(tid, keys);
    }

    /// Watch `key` for observer `obs` under interest `id`.
    pub fn observe(&mut self, key: SocketKey, obs: Weak<dyn Observe>, id: u64) {
        self.observers
            .entry(key)
            .or_default()
            .push(Observer { obs, id });
    }

    /// Stop watching `key` under interest `id` of `obs`.
    pub fn unobserve(&mut self, key: SocketKey, obs: &Weak<dyn Observe>, id: u64) {
        if let Some(v) = self.observers.get_mut(&key) {
            v.retain(|o| !(o.id == id && Weak::ptr_eq(&o.obs, obs)));
            if v.is_empty() {
                self.observers.remove(&key);
            }
        }
    }

    /// Threads parked on some key (for tests).
    #[cfg(test)]
    pub fn parked(&self) -> Vec<Tid> {
        self.by_tid.keys().copied().collect()
    }
}

/// Make the network stack at boot, over the machine's device if it has
/// one (loopback works without), configured from the manifest.
pub fn boot(p: &mut dyn Platform, config: &NetConfig) -> (Net, Readiness) {
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
            p.console().write(line.as_bytes());
            if let NetEvent::Configured { nameservers, .. } = e {
                if let Err(err) = super::resolv::write(proc, p, nameservers) {
                    let path = super::resolv::LEASE_RESOLV_CONF;
                    let line = alloc::format!("kiln: cannot write {path}: {err:?}\n");
                    p.console().write(line.as_bytes());
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
        let r = &mut proc.ready;
        let mut next = Vec::new();
        for key in changed {
            if let Some(tids) = r.by_key.get(&key).cloned() {
                for tid in tids {
                    r.forget(tid);
                    if !r.wakeups.contains(&tid) {
                        r.wakeups.push(tid);
                    }
                }
            }
            if let Some(list) = r.observers.get_mut(&key) {
                list.retain(|o| match o.obs.upgrade() {
                    Some(obs) => match obs.changed(o.id) {
                        Seen::Notify(k) => {
                            next.push(k);
                            true
                        }
                        Seen::Gone => false,
                    },
                    None => false,
                });
                if list.is_empty() {
                    r.observers.remove(&key);
                }
            }
        }
        for k in next {
            proc.net.notify(k);
        }
    }
}

/// Threads to re-issue: those woken by readiness changes.
pub fn take_wakeups(proc: &mut Process) -> Vec<Tid> {
    absorb(proc);
    core::mem::take(&mut proc.ready.wakeups)
}

/// Park the calling thread until one of `keys` changes or the deadline.
pub fn park(c: &mut Call<'_>, keys: Vec<SocketKey>, deadline: Option<u64>) -> WaitFor {
    c.proc.ready.register(c.tid, keys);
    WaitFor::Wakeup { deadline }
}

/// The wait for any of `files` to change: a wake-up on their keys when all
/// have keys, any event otherwise.
pub fn wait_on(c: &mut Call<'_>, files: &[FileRef], deadline: Option<u64>) -> WaitFor {
    let mut keys = Vec::new();
    let keyed = files.iter().all(|f| f.obj.wake_keys(&mut keys));
    if keyed && !keys.is_empty() {
        park(c, keys, deadline)
    } else {
        WaitFor::Event { deadline }
    }
}

/// A read (`read == true`) or write on `file` found nothing to do
/// (EAGAIN): block, or EAGAIN when the socket's SO_RCVTIMEO/SO_SNDTIMEO
/// has run out. Objects without keys wait as their `wait_for` says.
pub fn block_io(c: &mut Call<'_>, file: &FileRef, read: bool) -> SysResult<Outcome> {
    let timeout = super::file::SocketFile::of(file).and_then(|s| s.timeout(read));
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    if deadline.is_some_and(|d| c.now() >= d) {
        return Err(Errno::EAGAIN);
    }
    let mut keys = Vec::new();
    if file.obj.wake_keys(&mut keys) && !keys.is_empty() {
        return Ok(Outcome::Block(park(c, keys, deadline)));
    }
    Ok(Outcome::Block(match (file.obj.wait_for(), deadline) {
        (w, None) => w,
        (_, d) => WaitFor::Event { deadline: d },
    }))
}
