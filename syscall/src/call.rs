//! What a syscall handler gets: the process, the machine, the registers,
//! typed access to the arguments, and the one place where waiting calls
//! remember their deadline across re-issues.

use crate::mm::user::UserMem;
use crate::platform::Platform;
use crate::process::{Process, WaitFor};
pub use crate::thread::table::CallKey;
use crate::thread::table::{CallState, Thread};
use kiln_abi::context::UserContext;
use kiln_abi::errno::{Errno, SysResult};

/// What a handler asks the dispatcher to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value in `rax`.
    Value(u64),
    /// Park the thread; the kernel re-issues the same call later.
    Block(WaitFor),
    /// End the program with this status (already truncated to 0..=255).
    Exit(i32),
    /// A thread was made (clone): the caller gets its tid, the kernel
    /// starts it with `ctx`.
    Spawn {
        tid: crate::process::Tid,
        ctx: UserContext,
    },
    /// The calling thread has ended.
    ThreadExit,
    /// The program dies of this signal (a bad rt_sigreturn frame).
    Kill(crate::process::Signal),
}

impl From<u64> for Outcome {
    fn from(v: u64) -> Self {
        Outcome::Value(v)
    }
}

/// The six raw arguments with typed accessors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args(pub [u64; 6]);

impl Args {
    /// A file descriptor (C `int`): the low 32 bits, sign-extended.
    pub fn fd(&self, i: usize) -> i32 {
        self.0[i] as u32 as i32
    }
    /// A C `int` argument.
    pub fn int(&self, i: usize) -> i32 {
        self.0[i] as u32 as i32
    }
    /// A C `unsigned int` argument (flags, ...).
    pub fn uint(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
    /// A user address or a `size_t`/`unsigned long`.
    pub fn u(&self, i: usize) -> u64 {
        self.0[i]
    }
    /// A `long`/`ssize_t`/`off_t` argument.
    pub fn long(&self, i: usize) -> i64 {
        self.0[i] as i64
    }
}

/// Everything one handler works with.
pub struct Call<'a> {
    pub proc: &'a mut Process,
    pub p: &'a mut dyn Platform,
    pub ctx: &'a mut UserContext,
    pub key: CallKey,
    /// The calling thread.
    pub tid: crate::process::Tid,
}

impl Call<'_> {
    /// Checked access to program memory.
    pub fn mem(&mut self) -> UserMem<'_> {
        self.proc.mem(&mut *self.p)
    }

    /// What file operations need: the machine and facts about the
    /// process.
    pub fn cx(&mut self) -> crate::vfs::Cx<'_> {
        crate::vfs::Cx {
            p: &mut *self.p,
            facts: &*self.proc,
        }
    }

    /// Monotonic time now (ns).
    pub fn now(&self) -> u64 {
        self.p.clock().monotonic_ns()
    }

    /// The absolute deadline of this call: the one recorded when this very
    /// call blocked before, or `make()` recorded now. The dispatcher forgets
    /// it as soon as the call completes.
    pub fn deadline(&mut self, make: impl FnOnce(u64) -> u64) -> u64 {
        let now = self.now();
        let key = self.key;
        let t = self.proc.threads_mut().ensure(self.tid, now);
        if let Some(d) = t.call.filter(|c| c.key == key).and_then(|c| c.deadline) {
            return d;
        }
        let deadline = make(now);
        let blocked = t.call.is_some_and(|c| c.key == key && c.blocked);
        t.call = Some(CallState {
            key,
            deadline: Some(deadline),
            blocked,
        });
        deadline
    }

    /// Whether this is a re-issue of a call that was parked (woken or
    /// timed out), rather than a new call.
    pub fn reissued(&self) -> bool {
        self.proc
            .threads()
            .get(self.tid)
            .and_then(|t| t.call)
            .is_some_and(|c| c.key == self.key && c.blocked)
    }

    /// The calling thread.
    pub fn thread(&mut self) -> &mut Thread {
        let now = self.now();
        self.proc.threads_mut().ensure(self.tid, now)
    }

    /// Replace the signal mask for the duration of this call (sigsuspend,
    /// ppoll, pselect6, epoll_pwait): the old one comes back when the call
    /// returns, or after the handler of the signal that interrupted it.
    pub fn set_temp_mask(&mut self, mask: u64) {
        let t = self.thread();
        if t.saved_mask.is_none() {
            t.saved_mask = Some(t.mask);
        }
        t.mask = mask & !crate::thread::signal::UNBLOCKABLE;
    }

    /// Whether a signal that the calling thread does not block is pending
    /// (a blocking call returning now would be interrupted).
    pub fn signal_pending(&self) -> bool {
        self.proc.deliverable(self.tid).is_some()
    }

    /// The soft RLIMIT_NOFILE, the bound for new descriptors.
    pub fn fd_limit(&self) -> usize {
        self.proc.limits().nofile() as usize
    }
}

/// Shorthand for a successful value.
pub fn ok(v: u64) -> SysResult<Outcome> {
    Ok(Outcome::Value(v))
}

/// Reject a null pointer with EFAULT.
pub fn nonnull(addr: u64) -> Result<u64, Errno> {
    if addr == 0 {
        Err(Errno::EFAULT)
    } else {
        Ok(addr)
    }
}
