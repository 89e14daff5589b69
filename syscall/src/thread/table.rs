//! The thread table: what the personality keeps for each thread (signal
//! mask, alternate stack, clear_child_tid, robust list, the state of its
//! blocked call, name, CPU-time estimate) and the wake-ups the kernel
//! collects after each call.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use kiln_abi::Tid;

/// Identifies one issue of a call, so that a re-issue after `Flow::Block`
/// is recognised: same number, arguments and return address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallKey {
    pub nr: u64,
    pub args: [u64; 6],
    pub rip: u64,
}

/// `ss_flags` values of `sigaltstack(2)`.
/// Smallest alternate stack accepted (Linux MINSIGSTKSZ).
pub const MINSIGSTKSZ: u64 = 2048;
pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
pub const SS_AUTODISARM: u32 = 1 << 31;

/// A thread's alternate signal stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    /// SS_AUTODISARM when asked for; SS_DISABLE when there is none.
    pub flags: u32,
}

impl AltStack {
    pub const NONE: AltStack = AltStack {
        sp: 0,
        size: 0,
        flags: SS_DISABLE,
    };

    /// Whether a stack is set up.
    pub fn enabled(&self) -> bool {
        self.flags & SS_DISABLE == 0 && self.size != 0
    }

    /// Whether `rsp` lies on it (Linux `on_sig_stack`; an auto-disarmed
    /// stack never counts as in use).
    pub fn contains(&self, rsp: u64) -> bool {
        self.enabled()
            && self.flags & SS_AUTODISARM == 0
            && rsp > self.sp
            && rsp - self.sp <= self.size
    }

    /// The `stack_t` that sigaltstack and signal frames report with `rsp`
    /// as the current stack pointer: (ss_sp, ss_flags, ss_size).
    pub fn report(&self, rsp: u64) -> (u64, u32, u64) {
        if !self.enabled() {
            return (0, SS_DISABLE, 0);
        }
        let on = if self.contains(rsp) { SS_ONSTACK } else { 0 };
        (self.sp, on | (self.flags & SS_AUTODISARM), self.size)
    }
}

/// The call a thread is in: its key, its deadline (fixed at the first
/// issue) and whether it is parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallState {
    pub key: CallKey,
    pub deadline: Option<u64>,
    pub blocked: bool,
}

/// One thread.
#[derive(Clone, Debug)]
pub struct Thread {
    pub tid: Tid,
    /// Blocked signals (bit n-1 for signal n).
    pub mask: u64,
    /// The mask to restore after a call that changed it for its duration
    /// (rt_sigsuspend, ppoll, pselect6, epoll_pwait): restored when the
    /// call returns, or by rt_sigreturn when a handler interrupted it.
    pub saved_mask: Option<u64>,
    pub altstack: AltStack,
    /// CLONE_CHILD_CLEARTID / set_tid_address: zeroed and woken at exit.
    pub clear_child_tid: u64,
    /// set_robust_list: (head, len).
    pub robust_list: (u64, u64),
    pub call: Option<CallState>,
    /// Signals this thread waits for in rt_sigtimedwait.
    pub sigwait: u64,
    /// PR_SET_NAME (at most 15 bytes).
    pub name: Vec<u8>,
    /// Monotonic time it was created.
    pub started: u64,
    /// Time spent parked (finished waits).
    pub blocked_ns: u64,
    /// Since when it is parked, if it is.
    pub blocked_since: Option<u64>,
    /// sched_setscheduler's policy (time-sharing ones only).
    pub policy: i32,
    /// PR_SET_PDEATHSIG (never sent: the program has no parent).
    pub pdeathsig: i32,
    /// setpriority's nice value, -20..=19 (recorded: the scheduler gives
    /// every thread the same share).
    pub nice: i32,
}

impl Thread {
    pub fn new(tid: Tid, now: u64, name: Vec<u8>) -> Thread {
        Thread {
            tid,
            mask: 0,
            saved_mask: None,
            altstack: AltStack::NONE,
            clear_child_tid: 0,
            robust_list: (0, 0),
            call: None,
            sigwait: 0,
            name,
            started: now,
            blocked_ns: 0,
            blocked_since: None,
            policy: 0,
            nice: 0,
            pdeathsig: 0,
        }
    }

    /// Estimated CPU time (ns): time alive minus time parked. The kernel
    /// does not count CPU time yet, so runnable-but-waiting time counts as
    /// running (an overestimate when threads share a CPU).
    pub fn cpu_ns(&self, now: u64) -> u64 {
        let parked = self.blocked_ns + self.blocked_since.map_or(0, |s| now.saturating_sub(s));
        now.saturating_sub(self.started).saturating_sub(parked)
    }

    /// Whether its call is parked.
    pub fn is_blocked(&self) -> bool {
        self.call.is_some_and(|c| c.blocked)
    }

    /// The call ended (completed or interrupted): forget it, count the wait.
    pub fn end_call(&mut self, now: u64) {
        self.call = None;
        self.sigwait = 0;
        if let Some(s) = self.blocked_since.take() {
            self.blocked_ns += now.saturating_sub(s);
        }
    }
}

/// Most threads a program may have (RLIMIT_NPROC's default here).
pub const MAX_THREADS: usize = 4096;

/// Every thread of the program, and the wake-ups not yet collected.
#[derive(Debug)]
pub struct Threads {
    map: BTreeMap<Tid, Thread>,
    next_tid: Tid,
    wakeups: Vec<Tid>,
    /// CPU time of threads that have exited.
    pub exited_cpu_ns: u64,
    /// Monotonic time the program started.
    pub start: u64,
    /// "fork is not supported" was said on the console.
    pub fork_reported: bool,
    /// A stop signal's default action was ignored (said once).
    pub stop_reported: bool,
    /// prctl PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_THP_DISABLE.
    pub dumpable: bool,
    pub no_new_privs: bool,
    pub thp_disable: bool,
}

impl Threads {
    /// The table with the first thread.
    pub fn new(now: u64, name: Vec<u8>) -> Threads {
        let mut map = BTreeMap::new();
        map.insert(
            kiln_abi::MAIN_TID,
            Thread::new(kiln_abi::MAIN_TID, now, name),
        );
        Threads {
            map,
            next_tid: kiln_abi::MAIN_TID + 1,
            wakeups: Vec::new(),
            exited_cpu_ns: 0,
            start: now,
            fork_reported: false,
            stop_reported: false,
            dumpable: true,
            no_new_privs: false,
            thp_disable: false,
        }
    }

    pub fn get(&self, tid: Tid) -> Option<&Thread> {
        self.map.get(&tid)
    }

    pub fn get_mut(&mut self, tid: Tid) -> Option<&mut Thread> {
        self.map.get_mut(&tid)
    }

    /// The thread `tid`, made if the kernel names one the table does not
    /// know (so that no call can find it missing).
    pub fn ensure(&mut self, tid: Tid, now: u64) -> &mut Thread {
        self.map
            .entry(tid)
            .or_insert_with(|| Thread::new(tid, now, Vec::new()))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Thread> {
        self.map.values()
    }

    pub fn tids(&self) -> impl Iterator<Item = Tid> + '_ {
        self.map.keys().copied()
    }

    /// A fresh thread id (never one in use), or None when the table is full.
    pub fn alloc_tid(&mut self) -> Option<Tid> {
        if self.map.len() >= MAX_THREADS {
            return None;
        }
        loop {
            let tid = self.next_tid;
            self.next_tid = if tid >= (1 << 22) { 2 } else { tid + 1 };
            if !self.map.contains_key(&tid) {
                return Some(tid);
            }
        }
    }

    pub fn insert(&mut self, t: Thread) {
        self.map.insert(t.tid, t);
    }

    /// Forget an exited thread, keeping its CPU time.
    pub fn remove(&mut self, tid: Tid, now: u64) -> Option<Thread> {
        let t = self.map.remove(&tid)?;
        self.exited_cpu_ns += t.cpu_ns(now);
        self.wakeups.retain(|&w| w != tid);
        Some(t)
    }

    /// Ask the kernel to re-issue `tid`'s parked call.
    pub fn wake(&mut self, tid: Tid) {
        if self.map.get(&tid).is_some_and(Thread::is_blocked) && !self.wakeups.contains(&tid) {
            self.wakeups.push(tid);
        }
    }

    /// Wake every parked thread (a process-wide event such as a signal
    /// for the process or a timerfd expiry: each re-checks its call).
    pub fn wake_all(&mut self) {
        let parked: Vec<Tid> = self
            .map
            .values()
            .filter(|t| t.is_blocked())
            .map(|t| t.tid)
            .collect();
        for t in parked {
            self.wake(t);
        }
    }

    /// The wake-ups since the last call, for the kernel.
    pub fn take_wakeups(&mut self) -> Vec<Tid> {
        core::mem::take(&mut self.wakeups)
    }

    /// Estimated CPU time of the whole program (ns), at most wall time
    /// times the number of CPUs.
    pub fn process_cpu_ns(&self, now: u64, cpus: u32) -> u64 {
        let sum: u64 = self.exited_cpu_ns + self.map.values().map(|t| t.cpu_ns(now)).sum::<u64>();
        sum.min(
            now.saturating_sub(self.start)
                .saturating_mul(cpus.max(1) as u64),
        )
    }
}
