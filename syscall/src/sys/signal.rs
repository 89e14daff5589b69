//! Signal dispositions, mask and alternate stack: recorded faithfully,
//! delivered in a later issue.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};

pub const NSIG: usize = 64;
pub const SIGKILL: usize = 9;
pub const SIGSTOP: usize = 19;
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));
pub const SIG_BLOCK: u32 = 0;
pub const SIG_UNBLOCK: u32 = 1;
pub const SIG_SETMASK: u32 = 2;
pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
pub const SS_AUTODISARM: u32 = 1 << 31;
/// Smallest alternate stack accepted (Linux MINSIGSTKSZ).
pub const MINSIGSTKSZ: u64 = 2048;

/// A `struct kernel_sigaction` (x86_64): handler, flags, restorer, mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    fn decode(b: &[u8; 32]) -> Self {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        }
    }
    fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// The signal state of the (single-threaded) process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalState {
    pub actions: [SigAction; NSIG],
    pub mask: u64,
    /// Alternate stack: (ss_sp, ss_flags, ss_size); flags SS_DISABLE when none.
    pub altstack: (u64, u32, u64),
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG],
            mask: 0,
            altstack: (0, SS_DISABLE, 0),
        }
    }
}

fn check_sigsetsize(size: u64) -> Result<(), Errno> {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Implements Linux `rt_sigaction(2)`: dispositions are recorded and the old
/// one returned; delivery comes later.
pub fn rt_sigaction(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(3))?;
    let sig = a.int(0);
    if !(1..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let sig = sig as usize;
    let new = if a.u(1) != 0 {
        if sig == SIGKILL || sig == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let mut act = SigAction::decode(&c.mem().read_array::<32>(a.u(1))?);
        act.mask &= !UNBLOCKABLE;
        Some(act)
    } else {
        None
    };
    if a.u(2) != 0 {
        let old = c.proc.signals.actions[sig - 1].encode();
        c.mem().write(a.u(2), &old)?;
    }
    if let Some(act) = new {
        c.proc.signals.actions[sig - 1] = act;
    }
    ok(0)
}

/// Implements Linux `rt_sigprocmask(2)`: the mask is recorded.
pub fn rt_sigprocmask(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    check_sigsetsize(a.u(3))?;
    let old = c.proc.signals.mask;
    if a.u(1) != 0 {
        let set = c.mem().read_u64(a.u(1))? & !UNBLOCKABLE;
        c.proc.signals.mask = match a.uint(0) {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
    }
    if a.u(2) != 0 {
        c.mem().write_u64(a.u(2), old)?;
    }
    ok(0)
}

/// Implements Linux `sigaltstack(2)`: the stack is recorded.
pub fn sigaltstack(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let new = if a.u(0) != 0 {
        let b = c.mem().read_array::<24>(a.u(0))?;
        let sp = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let flags = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(b[16..].try_into().unwrap_or_default());
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        Some(if mode == SS_DISABLE {
            (0, SS_DISABLE, 0)
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            (sp, flags & SS_AUTODISARM, size)
        })
    } else {
        None
    };
    if a.u(1) != 0 {
        let (sp, flags, size) = c.proc.signals.altstack;
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        c.mem().write(a.u(1), &b)?;
    }
    if let Some(s) = new {
        c.proc.signals.altstack = s;
    }
    ok(0)
}
