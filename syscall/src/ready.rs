//! Readiness: the one bus that tells parked threads and epoll instances
//! that an object's readiness may have changed.
//!
//! Every keyed object (sockets, eventfd, epoll, pipes) has a [`ReadyKey`];
//! when its readiness may have changed, the key lands in the network
//! stack's change list (`Net::notify`, or the stack's own poll for
//! sockets). The process drains that list into [`Readiness::absorb`], which
//!
//! - wakes exactly the threads parked on those keys (`WaitFor::Wakeup`,
//!   registered by [`Readiness::register`]), and
//! - tells the observers of those keys (epoll instances, see
//!   `sys/epoll.rs`) which of their interests to look at; an epoll that
//!   gains a candidate notifies its own key, so that waiters on the epoll
//!   (or an epoll watching it) wake in the next round.
//!
//! Objects without keys (the console, regular files, timerfd, signalfd)
//! keep the other model: their waiters park with `WaitFor::Event` and are
//! re-issued on any event.

use alloc::collections::BTreeMap;
use alloc::sync::Weak;
use alloc::vec::Vec;
use kiln_abi::Tid;

/// Names an object whose readiness can change (a socket, eventfd, epoll
/// or pipe), for parked threads and observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadyKey(pub u32);

/// What an observer makes of a change.
pub enum Seen {
    /// Noted; notify this key in turn (the observer's own).
    Notify(ReadyKey),
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
    by_tid: BTreeMap<Tid, Vec<ReadyKey>>,
    by_key: BTreeMap<ReadyKey, Vec<Tid>>,
    observers: BTreeMap<ReadyKey, Vec<Observer>>,
    wakeups: Vec<Tid>,
    /// Notified when the network's address configuration changes (connect
    /// waits on it while DHCP runs).
    pub(crate) config_key: ReadyKey,
}

impl Readiness {
    pub fn new(config_key: ReadyKey) -> Readiness {
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

    /// Park `tid` until one of `keys` changes.
    pub fn register(&mut self, tid: Tid, mut keys: Vec<ReadyKey>) {
        self.forget(tid);
        keys.sort_unstable();
        keys.dedup();
        for &k in &keys {
            self.by_key.entry(k).or_default().push(tid);
        }
        self.by_tid.insert(tid, keys);
    }

    /// Watch `key` for observer `obs` under interest `id`.
    pub fn observe(&mut self, key: ReadyKey, obs: Weak<dyn Observe>, id: u64) {
        self.observers
            .entry(key)
            .or_default()
            .push(Observer { obs, id });
    }

    /// Stop watching `key` under interest `id` of `obs`.
    pub fn unobserve(&mut self, key: ReadyKey, obs: &Weak<dyn Observe>, id: u64) {
        if let Some(v) = self.observers.get_mut(&key) {
            v.retain(|o| !(o.id == id && Weak::ptr_eq(&o.obs, obs)));
            if v.is_empty() {
                self.observers.remove(&key);
            }
        }
    }

    /// One round of change propagation: wake the threads parked on the
    /// `changed` keys and tell their observers. Returns the keys that
    /// observers notify in turn (for the next round).
    pub fn absorb(&mut self, changed: Vec<ReadyKey>) -> Vec<ReadyKey> {
        let mut next = Vec::new();
        for key in changed {
            if let Some(tids) = self.by_key.get(&key).cloned() {
                for tid in tids {
                    self.forget(tid);
                    if !self.wakeups.contains(&tid) {
                        self.wakeups.push(tid);
                    }
                }
            }
            if let Some(list) = self.observers.get_mut(&key) {
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
                    self.observers.remove(&key);
                }
            }
        }
        next
    }

    /// The threads woken since the last call.
    pub fn take_wakeups(&mut self) -> Vec<Tid> {
        core::mem::take(&mut self.wakeups)
    }

    /// Threads parked on some key (for tests).
    #[cfg(test)]
    pub fn parked(&self) -> Vec<Tid> {
        self.by_tid.keys().copied().collect()
    }
}
