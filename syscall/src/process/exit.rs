//! The end of one thread: its robust futex list is walked (locks it held
//! are marked FUTEX_OWNER_DIED and a waiter woken), its clear_child_tid
//! word is zeroed and woken (what pthread_join waits for), and it leaves
//! the tables.

use super::Process;
use crate::mm::user::UserMem;
use crate::platform::Platform;
use crate::thread::futex::MATCH_ANY;
use kiln_abi::Tid;

pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Most robust list entries walked (Linux ROBUST_LIST_LIMIT).
pub const ROBUST_LIST_LIMIT: usize = 2048;

impl Process {
    /// Wake up to `n` waiters on the futex word at `addr` whose bitset
    /// meets `bitset`; returns how many woke.
    pub(crate) fn futex_wake(&mut self, addr: u64, n: u32, bitset: u32) -> usize {
        let woken = self.futexes.wake(addr, n, bitset);
        for &t in &woken {
            self.threads.wake(t);
        }
        woken.len()
    }

    /// Linux `handle_futex_death`: the lock word at `addr` is owned by the
    /// exiting `tid`: mark the owner dead and wake a waiter.
    fn futex_death(&mut self, p: &mut dyn Platform, addr: u64, tid: Tid) {
        if !addr.is_multiple_of(4) {
            return;
        }
        let word = {
            let mut mem = UserMem {
                space: &self.space,
                fs: &self.image,
                p: &mut *p,
            };
            let Ok(b) = mem.read_array::<4>(addr) else {
                return;
            };
            let v = u32::from_le_bytes(b);
            if v & FUTEX_TID_MASK != tid as u32 {
                return;
            }
            let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            if mem.write_u32(addr, new).is_err() {
                return;
            }
            v
        };
        if word & FUTEX_WAITERS != 0 {
            self.futex_wake(addr, 1, MATCH_ANY);
        }
    }

    /// Walk `tid`'s robust list (Linux `exit_robust_list`).
    fn exit_robust_list(&mut self, p: &mut dyn Platform, tid: Tid, head: u64) {
        let read = |proc: &Process, p: &mut dyn Platform, addr: u64| -> Option<u64> {
            UserMem {
                space: &proc.space,
                fs: &proc.image,
                p,
            }
            .read_u64(addr)
            .ok()
        };
        let (Some(first), Some(offset), Some(pending)) = (
            read(self, p, head),
            read(self, p, head.wrapping_add(8)),
            read(self, p, head.wrapping_add(16)),
        ) else {
            return;
        };
        let pending = pending & !1;
        let mut entry = first & !1;
        let mut left = ROBUST_LIST_LIMIT;
        while entry != head && left > 0 {
            let Some(next) = read(self, p, entry) else {
                return;
            };
            if entry != pending {
                self.futex_death(p, entry.wrapping_add(offset), tid);
            }
            entry = next & !1;
            left -= 1;
        }
        if pending != 0 {
            self.futex_death(p, pending.wrapping_add(offset), tid);
        }
    }

    /// Thread `tid` ends (exit while others remain).
    pub(crate) fn exit_thread(&mut self, p: &mut dyn Platform, tid: Tid) {
        let Some(t) = self.threads.get(tid) else {
            return;
        };
        let (robust, cleartid) = (t.robust_list.0, t.clear_child_tid);
        if robust != 0 {
            self.exit_robust_list(p, tid, robust);
        }
        if cleartid != 0 {
            let ok = UserMem {
                space: &self.space,
                fs: &self.image,
                p: &mut *p,
            }
            .write_u32(cleartid, 0)
            .is_ok();
            if ok {
                self.futex_wake(cleartid, 1, MATCH_ANY);
            }
        }
        self.futexes.cancel(tid);
        self.signals.queues.lock().threads.remove(&tid);
        let now = p.clock().monotonic_ns();
        self.threads.remove(tid, now);
    }
}
