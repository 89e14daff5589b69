//! Process identity and limits: exit, ids, arch_prctl, thread bookkeeping,
//! resource limits, affinity, uname, sysinfo.

use crate::call::{nonnull, ok, Args, Call, Outcome};
use crate::mm::TASK_SIZE;
use kiln_abi::errno::{Errno, SysResult};

/// The program's pid and its single thread's tid.
pub const PID: u64 = 1;
pub use kiln_abi::uts::{HOSTNAME, RELEASE};

/// Implements Linux `exit_group(2)`.
pub fn exit_group(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    Ok(Outcome::Exit(a.int(0) & 0xff))
}

/// Implements Linux `getpid(2)` (always 1).
pub fn getpid(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(PID)
}

/// Implements Linux `getppid(2)` (0: nothing started the program).
pub fn getppid(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(0)
}

pub const ARCH_SET_GS: u32 = 0x1001;
pub const ARCH_SET_FS: u32 = 0x1002;
pub const ARCH_GET_FS: u32 = 0x1003;
pub const ARCH_GET_GS: u32 = 0x1004;

/// Implements Linux `arch_prctl(2)` for ARCH_SET_FS and ARCH_GET_FS. Differs:
/// the GS and CPUID codes return EINVAL.
pub fn arch_prctl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    match a.uint(0) {
        ARCH_SET_FS => {
            if a.u(1) >= TASK_SIZE {
                return Err(Errno::EPERM);
            }
            c.ctx.fs_base = a.u(1);
            ok(0)
        }
        ARCH_GET_FS => {
            let fs = c.ctx.fs_base;
            c.mem().write_u64(a.u(1), fs)?;
            ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub use crate::limits::*;

fn encode_rlimit(l: (u64, u64)) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&l.0.to_le_bytes());
    b[8..].copy_from_slice(&l.1.to_le_bytes());
    b
}

/// Shared by prlimit64/getrlimit/setrlimit: read the new limit first, check
/// it, write the old one, then apply (Linux order).
fn rlimit(c: &mut Call<'_>, resource: u32, new: u64, old: u64) -> SysResult<Outcome> {
    let r = resource as usize;
    if r >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let new_limit = if new != 0 {
        let b = c.mem().read_array::<16>(new)?;
        let soft = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let hard = u64::from_le_bytes(b[8..].try_into().unwrap_or_default());
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        if r == RLIMIT_NOFILE && hard > NR_OPEN {
            return Err(Errno::EPERM);
        }
        Some((soft, hard))
    } else {
        None
    };
    if old != 0 {
        let cur = c.proc.limits().0[r];
        c.mem().write(old, &encode_rlimit(cur))?;
    }
    if let Some(l) = new_limit {
        c.proc.limits_mut().0[r] = l;
    }
    ok(0)
}

/// Implements Linux `prlimit64(2)` for the program itself (pid 0 or 1).
/// Limits are recorded; only RLIMIT_NOFILE is enforced so far.
pub fn prlimit64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if !matches!(a.int(0), 0 | 1) {
        return Err(Errno::ESRCH);
    }
    rlimit(c, a.uint(1), a.u(2), a.u(3))
}

/// Implements Linux `getrlimit(2)`.
pub fn getrlimit(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    rlimit(c, a.uint(0), 0, nonnull(a.u(1))?)
}

/// Implements Linux `setrlimit(2)`.
pub fn setrlimit(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    rlimit(c, a.uint(0), nonnull(a.u(1))?, 0)
}

/// Implements Linux `uname(2)`.
pub fn uname(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fields = [
        "Linux",
        HOSTNAME,
        RELEASE,
        "#1 SMP PREEMPT_DYNAMIC Kiln",
        "x86_64",
        "(none)",
    ];
    let mut buf = [0u8; 65 * 6];
    for (i, f) in fields.iter().enumerate() {
        buf[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    c.mem().write(a.u(0), &buf)?;
    ok(0)
}

/// Implements Linux `sysinfo(2)` from the machine's RAM and the clock.
/// Load averages are 0, there is no swap, one process.
pub fn sysinfo(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let info = c.p.info();
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &(c.now() / 1_000_000_000).to_le_bytes());
    put(32, &info.total_ram.to_le_bytes());
    put(40, &info.free_ram.to_le_bytes());
    put(80, &1u16.to_le_bytes());
    put(104, &1u32.to_le_bytes());
    c.mem().write(a.u(0), &b)?;
    ok(0)
}

/// PER_LINUX, the only execution domain.
pub const PER_LINUX: u32 = 0;
/// personality flag: no address randomisation (Kiln randomises nothing).
pub const ADDR_NO_RANDOMIZE: u32 = 0x0040000;
/// The query value: read the persona without changing it.
const PERSONALITY_QUERY: u32 = 0xffff_ffff;

/// Implements Linux `personality(2)`: returns the old persona. PER_LINUX,
/// with or without ADDR_NO_RANDOMIZE (true of Kiln either way), may be
/// set; other domains and flags would change behaviour Kiln does not
/// have and are EINVAL.
pub fn personality(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let old = c.proc.personality();
    let new = a.uint(0);
    if new != PERSONALITY_QUERY {
        if new & !ADDR_NO_RANDOMIZE != PER_LINUX {
            return Err(Errno::EINVAL);
        }
        c.proc.set_personality(new);
    }
    ok(old.into())
}
