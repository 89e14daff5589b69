//! The program's threads as the kernel sees them: registers, FPU state and
//! what each waits for; a round-robin queue of runnable ones. What a thread
//! means to Linux (signals, futexes, tids) is the personality's business.

use crate::arch::fpu::FpuState;
use alloc::collections::{BTreeMap, VecDeque};
use kiln_abi::context::UserContext;
use kiln_abi::{Tid, WaitFor};

pub struct Thread {
    pub ctx: UserContext,
    pub fpu: FpuState,
    /// What its blocked system call waits for; `None` when runnable.
    pub wait: Option<WaitFor>,
    /// Woken from a wait: its system call must be issued again before it
    /// may return to user mode (the registers still hold the call).
    pub reissue: bool,
}

#[derive(Default)]
pub struct Scheduler {
    threads: BTreeMap<Tid, Thread>,
    ready: VecDeque<Tid>,
    /// Whose registers the FPU holds now.
    fpu_owner: Option<Tid>,
}

impl Scheduler {
    /// Add a runnable thread (at the back of the queue).
    pub fn add(&mut self, tid: Tid, ctx: UserContext, fpu: FpuState) {
        self.threads.insert(
            tid,
            Thread {
                ctx,
                fpu,
                wait: None,
                reissue: false,
            },
        );
        self.ready.push_back(tid);
    }

    /// Forget a thread that has ended.
    pub fn remove(&mut self, tid: Tid) {
        self.threads.remove(&tid);
        self.ready.retain(|&t| t != tid);
        if self.fpu_owner == Some(tid) {
            self.fpu_owner = None;
        }
    }

    pub fn thread(&mut self, tid: Tid) -> &mut Thread {
        self.threads
            .get_mut(&tid)
            .expect("scheduler: unknown thread")
    }

    /// Every thread's registers (as they were when it last left user mode).
    pub fn contexts(&self) -> impl Iterator<Item = (Tid, &UserContext)> {
        self.threads.iter().map(|(t, th)| (*t, &th.ctx))
    }

    /// The next thread to run, taken off the queue.
    pub fn next(&mut self) -> Option<Tid> {
        self.ready.pop_front()
    }

    /// Queue a runnable thread: `front` keeps it running (after a system
    /// call), otherwise it goes behind the others (preemption, wake-up).
    pub fn requeue(&mut self, tid: Tid, front: bool) {
        if self.threads.contains_key(&tid) && !self.ready.contains(&tid) {
            if front {
                self.ready.push_front(tid);
            } else {
                self.ready.push_back(tid);
            }
        }
    }

    /// Whether another thread waits to run.
    pub fn others_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Park a thread on `w`.
    pub fn block(&mut self, tid: Tid, w: WaitFor) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.wait = Some(w);
        }
        self.ready.retain(|&t| t != tid);
    }

    /// End the wait of every blocked thread that `wake` picks.
    pub fn wake_where(&mut self, mut wake: impl FnMut(Tid, &WaitFor) -> bool) {
        for (&tid, t) in self.threads.iter_mut() {
            if let Some(w) = t.wait {
                if wake(tid, &w) {
                    t.wait = None;
                    t.reissue = true;
                    self.ready.push_back(tid);
                }
            }
        }
    }

    /// End one thread's wait (a wake-up from the personality).
    pub fn wake(&mut self, tid: Tid) {
        self.wake_where(|t, _| t == tid);
    }

    /// The earliest deadline among blocked threads.
    pub fn next_deadline(&self) -> Option<u64> {
        self.threads
            .values()
            .filter_map(|t| t.wait.and_then(|w| w.deadline()))
            .min()
    }

    /// Whether a blocked thread waits for console input.
    pub fn waits_for_console(&self) -> bool {
        self.threads.values().any(|t| {
            matches!(
                t.wait,
                Some(
                    WaitFor::ConsoleInput
                        | WaitFor::ConsoleInputOrDeadline(_)
                        | WaitFor::Event { .. }
                )
            )
        })
    }

    /// Make the FPU hold `tid`'s registers, saving the previous owner's.
    pub fn switch_fpu(&mut self, tid: Tid) {
        if self.fpu_owner == Some(tid) {
            return;
        }
        if let Some(owner) = self.fpu_owner.take() {
            if let Some(t) = self.threads.get_mut(&owner) {
                t.fpu.save();
            }
        }
        if let Some(t) = self.threads.get(&tid) {
            t.fpu.restore();
            self.fpu_owner = Some(tid);
        }
    }

    /// A copy of the FPU registers of the current owner (for a new thread,
    /// which starts with its creator's state, as on Linux).
    pub fn snapshot_fpu(&self) -> FpuState {
        let mut f = FpuState::new();
        if self.fpu_owner.is_some() {
            f.save();
        }
        f
    }
}
