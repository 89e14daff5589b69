//! Signal dispositions, per-thread masks and alternate stacks, waiting for
//! signals, and returning from handlers. Generation and delivery are in
//! [`crate::thread::signal`] and `process/deliver.rs`.

use crate::call::{ok, Args, Call, Outcome};
use crate::process::{Signal, WaitFor};
use crate::thread::sigframe::SigInfo;
use crate::thread::signal::{bit, ignored, SigAction, NSIG, SA_KNOWN, UNBLOCKABLE};
use crate::thread::table::{AltStack, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK};
use kiln_abi::errno::{Errno, SysResult};

pub const SIGKILL: usize = 9;
pub const SIGSTOP: usize = 19;
pub const SIG_BLOCK: u32 = 0;
pub const SIG_UNBLOCK: u32 = 1;
pub const SIG_SETMASK: u32 = 2;
pub use crate::thread::table::MINSIGSTKSZ;

fn check_sigsetsize(size: u64) -> Result<(), Errno> {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Implements Linux `rt_sigaction(2)`. Unknown flag bits are cleared (as
/// Linux does, so that SA_UNSUPPORTED probes work); setting a pending
/// signal to be ignored discards it.
pub fn rt_sigaction(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(3))?;
    let sig = a.int(0);
    if !(1..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let idx = sig as usize - 1;
    let new = if a.u(1) != 0 {
        if sig as usize == SIGKILL || sig as usize == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let mut act = SigAction::decode(&c.mem().read_array::<32>(a.u(1))?);
        act.mask &= !UNBLOCKABLE;
        act.flags &= SA_KNOWN;
        Some(act)
    } else {
        None
    };
    if a.u(2) != 0 {
        let old = c.proc.signals().actions[idx].encode();
        c.mem().write(a.u(2), &old)?;
    }
    if let Some(act) = new {
        c.proc.signals_mut().actions[idx] = act;
        if ignored(&act, sig) {
            c.proc.signals().queues.lock().discard(bit(sig));
        }
    }
    ok(0)
}

/// Implements Linux `rt_sigprocmask(2)` for the calling thread.
pub fn rt_sigprocmask(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(3))?;
    let old = c.thread().mask;
    let new = if a.u(1) != 0 {
        let set = c.mem().read_u64(a.u(1))? & !UNBLOCKABLE;
        Some(match a.uint(0) {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        })
    } else {
        None
    };
    if a.u(2) != 0 {
        c.mem().write_u64(a.u(2), old)?;
    }
    if let Some(m) = new {
        c.thread().mask = m;
    }
    ok(0)
}

/// Implements Linux `rt_sigpending(2)`: signals pending for the thread or
/// the process that the thread blocks.
pub fn rt_sigpending(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.u(1);
    if size > 8 {
        return Err(Errno::EINVAL);
    }
    let tid = c.tid;
    let mask = c.thread().mask;
    let set = c.proc.signals().queues.lock().pending(tid) & mask;
    c.mem().write(a.u(0), &set.to_le_bytes()[..size as usize])?;
    ok(0)
}

/// Implements Linux `rt_sigsuspend(2)`: wait with the given mask until a
/// signal runs a handler (EINTR; the old mask comes back after it) or
/// ends the program.
pub fn rt_sigsuspend(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(1))?;
    let mask = c.mem().read_u64(a.u(0))?;
    c.set_temp_mask(mask);
    Ok(Outcome::Block(WaitFor::Wakeup { deadline: None }))
}

/// Implements Linux `pause(2)`.
pub fn pause(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    Ok(Outcome::Block(WaitFor::Wakeup { deadline: None }))
}

/// Implements Linux `rt_sigtimedwait(2)`: take a pending signal of the
/// set (the thread's own first), waiting up to the timeout (relative,
/// measured from the first issue); EAGAIN when it passes, EINTR when
/// another signal runs a handler.
pub fn rt_sigtimedwait(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(3))?;
    let set = c.mem().read_u64(a.u(0))? & !UNBLOCKABLE;
    let timeout = if a.u(2) != 0 {
        Some(super::time::read_timespec(c, a.u(2))?)
    } else {
        None
    };
    let tid = c.tid;
    let taken = c.proc.signals().queues.lock().dequeue(tid, set);
    if let Some(info) = taken {
        c.proc.timers_mut().on_dequeue(&info);
        if a.u(1) != 0 {
            c.mem().write(a.u(1), &info.encode())?;
        }
        return ok(info.signo as u64);
    }
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    if deadline.is_some_and(|d| c.now() >= d) {
        return Err(Errno::EAGAIN);
    }
    c.thread().sigwait = set;
    Ok(Outcome::Block(WaitFor::Wakeup { deadline }))
}

fn read_stack_t(c: &mut Call<'_>, addr: u64) -> Result<(u64, u32, u64), Errno> {
    let b = c.mem().read_array::<24>(addr)?;
    let sp = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let flags = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
    let size = u64::from_le_bytes(b[16..].try_into().unwrap_or_default());
    Ok((sp, flags, size))
}

/// Implements Linux `sigaltstack(2)` for the calling thread: EPERM while
/// running on it, ENOMEM below MINSIGSTKSZ, SS_AUTODISARM honoured.
pub fn sigaltstack(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let rsp = c.ctx.rsp;
    let cur = c.thread().altstack;
    let new = if a.u(0) != 0 {
        let (sp, flags, size) = read_stack_t(c, a.u(0))?;
        if cur.contains(rsp) {
            return Err(Errno::EPERM);
        }
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        Some(if mode == SS_DISABLE {
            AltStack::NONE
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            AltStack {
                sp,
                size,
                flags: flags & SS_AUTODISARM,
            }
        })
    } else {
        None
    };
    if a.u(1) != 0 {
        let (sp, flags, size) = cur.report(rsp);
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        c.mem().write(a.u(1), &b)?;
    }
    if let Some(s) = new {
        c.thread().altstack = s;
    }
    ok(0)
}

/// Implements Linux `rt_sigreturn(2)`: registers, mask, alternate stack
/// and FPU state come back from the frame at rsp; rflags are sanitised.
/// A frame that cannot be read ends the program with SIGSEGV.
pub fn rt_sigreturn(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    let tid = c.tid;
    match c.proc.sigreturn(&mut *c.p, tid, c.ctx) {
        Ok(()) => ok(c.ctx.rax),
        Err(()) => Ok(Outcome::Kill(Signal::SIGSEGV)),
    }
}

/// Read a `siginfo_t` from the program for rt_(tg)sigqueueinfo.
fn read_siginfo(c: &mut Call<'_>, addr: u64, sig: i32) -> Result<SigInfo, Errno> {
    let b = c.mem().read_array::<128>(addr)?;
    let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    Ok(SigInfo {
        signo: sig,
        errno: i32::from_le_bytes(b[4..8].try_into().unwrap_or_default()),
        code: i32::from_le_bytes(b[8..12].try_into().unwrap_or_default()),
        words: [w(16), w(24)],
    })
}

/// Implements Linux `rt_sigqueueinfo(2)` for the program itself (pid 1);
/// ESRCH for any other pid.
pub fn rt_sigqueueinfo(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let sig = a.int(1);
    let info = read_siginfo(c, a.u(2), sig)?;
    super::kill::check_signal(sig)?;
    if a.int(0) != super::proc::PID as i32 {
        return Err(Errno::ESRCH);
    }
    if sig == 0 {
        return ok(0);
    }
    c.proc.send_signal(None, info)?;
    ok(0)
}

/// Implements Linux `rt_tgsigqueueinfo(2)` for the program's own threads.
pub fn rt_tgsigqueueinfo(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (tgid, tid, sig) = (a.int(0), a.int(1), a.int(2));
    let info = read_siginfo(c, a.u(3), sig)?;
    super::kill::check_signal(sig)?;
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if tgid != super::proc::PID as i32 || c.proc.threads().get(tid).is_none() {
        return Err(Errno::ESRCH);
    }
    if sig == 0 {
        return ok(0);
    }
    c.proc.send_signal(Some(tid), info)?;
    ok(0)
}
