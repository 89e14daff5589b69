//! What a syscall handler gets: the process, the machine, the registers,
//! typed access to the arguments, and the one place where waiting calls
//! remember their deadline across re-issues.

use crate::context::UserContext;
use crate::errno::{Errno, SysResult};
use crate::mm::user::UserMem;
use crate::platform::Platform;
use crate::process::{Process, WaitFor};

/// What a handler asks the dispatcher to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value in `rax`.
    Value(u64),
    /// Park the thread; the kernel re-issues the same call later.
    Block(WaitFor),
    /// End the program with this status (already truncated to 0..=255).
    Exit(i32),
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

/// Identifies one issue of a call, so that a re-issue after `Flow::Block`
/// is recognised: same number, arguments and return address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallKey {
    pub nr: u64,
    pub args: [u64; 6],
    pub rip: u64,
}

/// A deadline remembered for a blocked call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub key: CallKey,
    pub deadline: u64,
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
        UserMem {
            space: &self.proc.space,
            fs: &self.proc.image,
            p: &mut *self.p,
        }
    }

    /// What file operations need: the machine and the process.
    pub fn cx(&mut self) -> crate::vfs::Cx<'_> {
        crate::vfs::Cx {
            p: &mut *self.p,
            proc: &*self.proc,
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
        if let Some(p) = self.proc.pending.filter(|p| p.key == self.key) {
            return p.deadline;
        }
        let deadline = make(self.now());
        self.proc.pending = Some(Pending {
            key: self.key,
            deadline,
        });
        deadline
    }

    /// The soft RLIMIT_NOFILE, the bound for new descriptors.
    pub fn fd_limit(&self) -> usize {
        self.proc.limits.nofile() as usize
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
