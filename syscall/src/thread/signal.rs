//! Signal generation: dispositions, pending queues (per thread and for the
//! process), default actions, and sending a signal with the wake-ups it
//! causes. Delivery (frames) is in `process/deliver.rs`.

use super::sigframe::SigInfo;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use kiln_abi::errno::Errno;
use kiln_abi::Tid;

pub const NSIG: usize = 64;
pub const SIGRTMIN: i32 = 32;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_NOCLDWAIT: u64 = 2;
pub const SA_SIGINFO: u64 = 4;
pub const SA_EXPOSE_TAGBITS: u64 = 0x800;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
/// The flags rt_sigaction keeps (Linux clears the others, SA_UNSUPPORTED
/// among them, so that programs can detect unsupported bits).
pub const SA_KNOWN: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND;

/// `si_code` values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_TKILL: i32 = -6;

/// Most queued real-time signals (RLIMIT_SIGPENDING's default here).
pub const MAX_QUEUED: usize = 4096;

/// The bit of signal `sig` in a mask.
pub const fn bit(sig: i32) -> u64 {
    if sig >= 1 && sig <= NSIG as i32 {
        1 << (sig - 1)
    } else {
        0
    }
}

/// SIGKILL and SIGSTOP can be neither blocked nor caught.
pub const UNBLOCKABLE: u64 = bit(9) | bit(19);

/// Synchronous (fault) signals, dequeued before others as Linux does.
pub const SYNCHRONOUS: u64 = bit(4) | bit(5) | bit(7) | bit(8) | bit(11) | bit(31);

/// A `struct kernel_sigaction` (x86_64): handler, flags, restorer, mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    pub fn decode(b: &[u8; 32]) -> Self {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        }
    }
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
    /// Whether a program function handles the signal.
    pub fn is_handler(&self) -> bool {
        self.handler != SIG_DFL && self.handler != SIG_IGN
    }
}

/// What a signal does by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// End the program (terminate or core dump: the same here).
    Kill,
    Ignore,
    /// Stop the program: there is no one to continue it, so it is ignored
    /// (with a note on the console).
    Stop,
}

/// Linux's default action of `sig`.
pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        17 | 18 | 23 | 28 => DefaultAction::Ignore, // CHLD, CONT, URG, WINCH
        19..=22 => DefaultAction::Stop,             // STOP, TSTP, TTIN, TTOU
        _ => DefaultAction::Kill,
    }
}

/// Whether `act` throws `sig` away on arrival (Linux `sig_task_ignored`).
pub fn ignored(act: &SigAction, sig: i32) -> bool {
    act.handler == SIG_IGN || (act.handler == SIG_DFL && default_action(sig) != DefaultAction::Kill)
}

/// Pending signals of one thread or of the process, with their siginfo.
/// A standard signal is pending at most once; real-time ones queue.
#[derive(Clone, Debug, Default)]
pub struct SigQueue {
    items: VecDeque<SigInfo>,
}

impl SigQueue {
    /// The pending set as a mask.
    pub fn set(&self) -> u64 {
        self.items.iter().fold(0, |m, i| m | bit(i.signo))
    }

    /// Queue `info`. Returns false when it was dropped (a standard signal
    /// already pending) or EAGAIN when the real-time queue is full.
    pub fn push(&mut self, info: SigInfo) -> Result<bool, Errno> {
        if info.signo < SIGRTMIN {
            if self.set() & bit(info.signo) != 0 {
                return Ok(false);
            }
        } else if self.items.len() >= MAX_QUEUED {
            return Err(Errno::EAGAIN);
        }
        self.items.push_back(info);
        Ok(true)
    }

    /// Take the oldest instance of `sig`.
    pub fn take(&mut self, sig: i32) -> Option<SigInfo> {
        let i = self.items.iter().position(|i| i.signo == sig)?;
        self.items.remove(i)
    }

    /// Drop every instance of the signals in `set`.
    pub fn discard(&mut self, set: u64) {
        self.items.retain(|i| bit(i.signo) & set == 0);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The queued signal of POSIX timer `id`, if one is waiting.
    pub fn timer_signal(&mut self, id: i32) -> Option<&mut SigInfo> {
        self.items
            .iter_mut()
            .find(|i| i.code == SI_TIMER && i.words[0] as u32 == id as u32)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The signal to take first out of `set`: synchronous ones, then the
/// lowest number.
pub fn first(set: u64) -> Option<i32> {
    if set == 0 {
        return None;
    }
    let pick = if set & SYNCHRONOUS != 0 {
        set & SYNCHRONOUS
    } else {
        set
    };
    Some(pick.trailing_zeros() as i32 + 1)
}

/// Every pending signal. Shared (behind a lock) with signalfd objects,
/// which read from the calling thread's queue and the process's.
#[derive(Debug, Default)]
pub struct Queues {
    pub process: SigQueue,
    pub threads: BTreeMap<Tid, SigQueue>,
    /// The thread whose call is running (set by the dispatcher).
    pub current: Tid,
}

impl Queues {
    /// Pending for `tid`: its own and the process's.
    pub fn pending(&self, tid: Tid) -> u64 {
        self.process.set() | self.threads.get(&tid).map_or(0, SigQueue::set)
    }

    /// Take the first signal in `set` pending for `tid`, its own first.
    pub fn dequeue(&mut self, tid: Tid, set: u64) -> Option<SigInfo> {
        if let Some(q) = self.threads.get_mut(&tid) {
            if let Some(sig) = first(q.set() & set) {
                return q.take(sig);
            }
        }
        let sig = first(self.process.set() & set)?;
        self.process.take(sig)
    }

    /// The signal of POSIX timer `id` still waiting in some queue.
    pub fn timer_signal(&mut self, id: i32) -> Option<&mut SigInfo> {
        if let Some(i) = self.process.timer_signal(id) {
            return Some(i);
        }
        self.threads.values_mut().find_map(|q| q.timer_signal(id))
    }

    /// Drop the signals in `set` everywhere.
    pub fn discard(&mut self, set: u64) {
        self.process.discard(set);
        for q in self.threads.values_mut() {
            q.discard(set);
        }
    }
}

/// Shared handle on the queues.
pub type SharedQueues = Arc<spin::Mutex<Queues>>;

/// Dispositions (shared by all threads: CLONE_SIGHAND) and pending queues.
#[derive(Clone, Debug)]
pub struct SignalState {
    pub actions: [SigAction; NSIG],
    pub queues: SharedQueues,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG],
            queues: Arc::new(spin::Mutex::new(Queues::default())),
        }
    }
}

impl SignalState {
    /// The action of `sig` (1..=64).
    pub fn action(&self, sig: i32) -> SigAction {
        usize::try_from(sig - 1)
            .ok()
            .and_then(|i| self.actions.get(i).copied())
            .unwrap_or_default()
    }
}

/// The siginfo of a signal sent by the program itself with kill/tgkill.
pub fn user_info(sig: i32, code: i32) -> SigInfo {
    SigInfo {
        signo: sig,
        errno: 0,
        code,
        // si_pid = 1, si_uid = 0.
        words: [1, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(sig: i32) -> SigInfo {
        user_info(sig, SI_USER)
    }

    #[test]
    fn standard_signals_pend_once_rt_signals_queue() {
        let mut q = SigQueue::default();
        assert_eq!(q.push(info(10)), Ok(true));
        assert_eq!(q.push(info(10)), Ok(false));
        assert_eq!(q.push(info(34)), Ok(true));
        assert_eq!(q.push(info(34)), Ok(true));
        assert_eq!(q.len(), 3);
        assert_eq!(q.set(), bit(10) | bit(34));
        assert!(q.take(34).is_some());
        assert_eq!(q.set(), bit(10) | bit(34));
        q.discard(bit(34));
        assert_eq!(q.set(), bit(10));
    }

    #[test]
    fn order_is_synchronous_then_lowest() {
        assert_eq!(first(bit(2) | bit(11) | bit(40)), Some(11));
        assert_eq!(first(bit(40) | bit(3)), Some(3));
        assert_eq!(first(0), None);
        let mut qs = Queues::default();
        qs.process.push(info(2)).unwrap();
        qs.threads.entry(5).or_default().push(info(12)).unwrap();
        // The thread's own signals come first.
        assert_eq!(qs.dequeue(5, u64::MAX).map(|i| i.signo), Some(12));
        assert_eq!(qs.dequeue(5, u64::MAX).map(|i| i.signo), Some(2));
        assert_eq!(qs.dequeue(5, u64::MAX), None);
    }

    #[test]
    fn defaults() {
        assert_eq!(default_action(17), DefaultAction::Ignore);
        assert_eq!(default_action(19), DefaultAction::Stop);
        assert_eq!(default_action(15), DefaultAction::Kill);
        assert_eq!(default_action(40), DefaultAction::Kill);
        assert!(ignored(&SigAction::default(), 23));
        assert!(!ignored(&SigAction::default(), 10));
        let h = SigAction {
            handler: 0x1000,
            ..Default::default()
        };
        assert!(!ignored(&h, 23) && h.is_handler());
        assert_eq!(bit(0), 0);
        assert_eq!(bit(65), 0);
    }
}
