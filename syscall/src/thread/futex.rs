//! Futex wait queues: which threads wait on which word, in arrival order,
//! with the bitsets of FUTEX_WAIT_BITSET. The syscall layer checks the
//! word's value and owns the timeouts; this only queues and picks who wakes.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

/// Thread ids as Linux numbers them.
pub type Tid = i32;

/// Matches every waiter (FUTEX_BITSET_MATCH_ANY).
pub const MATCH_ANY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    tid: Tid,
    bitset: u32,
}

/// All futex queues of the process, keyed by the word's address.
#[derive(Debug, Default)]
pub struct Futexes {
    queues: BTreeMap<u64, VecDeque<Waiter>>,
    /// Where each waiting thread is queued.
    waiting: BTreeMap<Tid, u64>,
}

impl Futexes {
    /// Queue `tid` on the word at `addr`. A thread waits on one word at a
    /// time; queuing it again moves it.
    pub fn wait(&mut self, addr: u64, tid: Tid, bitset: u32) {
        self.cancel(tid);
        self.queues
            .entry(addr)
            .or_default()
            .push_back(Waiter { tid, bitset });
        self.waiting.insert(tid, addr);
    }

    /// Take `tid` off its queue (timeout, signal, exit). Returns whether it
    /// was waiting.
    pub fn cancel(&mut self, tid: Tid) -> bool {
        let Some(addr) = self.waiting.remove(&tid) else {
            return false;
        };
        if let Some(q) = self.queues.get_mut(&addr) {
            q.retain(|w| w.tid != tid);
            if q.is_empty() {
                self.queues.remove(&addr);
            }
        }
        true
    }

    /// Whether `tid` is still queued (not yet woken).
    pub fn is_waiting(&self, tid: Tid) -> bool {
        self.waiting.contains_key(&tid)
    }

    /// Wake up to `n` waiters on `addr` whose bitset meets `bitset`, oldest
    /// first. Returns the woken threads.
    pub fn wake(&mut self, addr: u64, n: u32, bitset: u32) -> Vec<Tid> {
        let mut woken = Vec::new();
        if n == 0 {
            return woken;
        }
        if let Some(q) = self.queues.get_mut(&addr) {
            let mut i = 0;
            while i < q.len() && (woken.len() as u32) < n {
                if q[i].bitset & bitset != 0 {
                    if let Some(w) = q.remove(i) {
                        woken.push(w.tid);
                    }
                } else {
                    i += 1;
                }
            }
            if q.is_empty() {
                self.queues.remove(&addr);
            }
        }
        for t in &woken {
            self.waiting.remove(t);
        }
        woken
    }

    /// FUTEX_REQUEUE: wake up to `wake` waiters of `from`, then move up to
    /// `requeue` of the rest to `to`. Returns the woken threads and how many
    /// moved.
    pub fn requeue(&mut self, from: u64, to: u64, wake: u32, requeue: u32) -> (Vec<Tid>, u32) {
        let woken = self.wake(from, wake, MATCH_ANY);
        let mut moved = 0;
        if from != to {
            while moved < requeue {
                let Some(w) = self.queues.get_mut(&from).and_then(|q| q.pop_front()) else {
                    break;
                };
                self.queues.entry(to).or_default().push_back(w);
                self.waiting.insert(w.tid, to);
                moved += 1;
            }
            if self.queues.get(&from).is_some_and(|q| q.is_empty()) {
                self.queues.remove(&from);
            }
        } else {
            moved = self
                .queues
                .get(&from)
                .map_or(0, |q| (q.len() as u32).min(requeue));
        }
        (woken, moved)
    }

    /// Number of waiters on `addr`.
    pub fn waiters(&self, addr: u64) -> usize {
        self.queues.get(&addr).map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_in_order_and_respects_counts() {
        let mut f = Futexes::default();
        for t in 1..=4 {
            f.wait(0x1000, t, MATCH_ANY);
        }
        assert_eq!(f.wake(0x1000, 2, MATCH_ANY), [1, 2]);
        assert!(!f.is_waiting(1) && f.is_waiting(3));
        assert_eq!(f.wake(0x1000, 0, MATCH_ANY), Vec::<Tid>::new());
        assert_eq!(f.wake(0x2000, 5, MATCH_ANY), Vec::<Tid>::new());
        assert_eq!(f.wake(0x1000, u32::MAX, MATCH_ANY), [3, 4]);
        assert_eq!(f.waiters(0x1000), 0);
    }

    #[test]
    fn bitsets_select_waiters() {
        let mut f = Futexes::default();
        f.wait(0x10, 1, 0b01);
        f.wait(0x10, 2, 0b10);
        f.wait(0x10, 3, 0b11);
        assert_eq!(f.wake(0x10, 10, 0b10), [2, 3]);
        assert_eq!(f.wake(0x10, 10, 0b10), Vec::<Tid>::new());
        assert_eq!(f.wake(0x10, 10, 0b01), [1]);
    }

    #[test]
    fn cancel_and_requeue() {
        let mut f = Futexes::default();
        for t in 1..=5 {
            f.wait(0xa0, t, MATCH_ANY);
        }
        assert!(f.cancel(2));
        assert!(!f.cancel(2));
        let (woken, moved) = f.requeue(0xa0, 0xb0, 1, 2);
        assert_eq!((woken, moved), (alloc::vec![1], 2));
        assert_eq!((f.waiters(0xa0), f.waiters(0xb0)), (1, 2));
        assert_eq!(f.wake(0xb0, 10, MATCH_ANY), [3, 4]);
        // Waiting again moves a thread to the new word.
        f.wait(0xc0, 5, MATCH_ANY);
        assert_eq!(f.waiters(0xa0), 0);
        assert_eq!(f.wake(0xc0, 1, MATCH_ANY), [5]);
    }
}
