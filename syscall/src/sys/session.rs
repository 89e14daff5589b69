//! Process groups, sessions and children. The program is process 1, the
//! leader of its own process group and session, and never has a child
//! (DESIGN: no second process), so the answers are fixed but checked as
//! Linux checks them.

use crate::call::{ok, Args, Call, Outcome};
use crate::sys::proc::PID;
use kiln_abi::errno::{Errno, SysResult};

pub const WNOHANG: u32 = 1;
pub const WUNTRACED: u32 = 2;
pub const WSTOPPED: u32 = 2;
pub const WEXITED: u32 = 4;
pub const WCONTINUED: u32 = 8;
pub const WNOWAIT: u32 = 0x0100_0000;
pub const WNOTHREAD: u32 = 0x2000_0000;
pub const WALL: u32 = 0x4000_0000;
pub const WCLONE: u32 = 0x8000_0000;

pub const P_ALL: i32 = 0;
pub const P_PID: i32 = 1;
pub const P_PGID: i32 = 2;
pub const P_PIDFD: i32 = 3;

/// The program's own pid, named as 0 or 1; anything else is no process.
fn own(pid: i32) -> SysResult<()> {
    if matches!(pid, 0 | 1) {
        Ok(())
    } else {
        Err(Errno::ESRCH)
    }
}

/// Implements Linux `getpgrp(2)`.
pub fn getpgrp(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(PID)
}

/// Implements Linux `getpgid(2)`.
pub fn getpgid(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    own(a.int(0))?;
    ok(PID)
}

/// Implements Linux `getsid(2)`.
pub fn getsid(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    own(a.int(0))?;
    ok(PID)
}

/// Implements Linux `setsid(2)`: EPERM, the program already leads a
/// process group (daemonising code that forked first never gets here).
pub fn setsid(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    Err(Errno::EPERM)
}

/// Implements Linux `setpgid(2)`: a session leader cannot change its
/// process group (EPERM), after the checks Linux makes first.
pub fn setpgid(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.int(1) < 0 {
        return Err(Errno::EINVAL);
    }
    own(a.int(0))?;
    Err(Errno::EPERM)
}

/// Implements Linux `wait4(2)`: there are no children (ECHILD).
pub fn wait4(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let known = WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE;
    if a.uint(2) & !known != 0 {
        return Err(Errno::EINVAL);
    }
    Err(Errno::ECHILD)
}

/// Implements Linux `waitid(2)`: there are no children (ECHILD); a pidfd
/// cannot exist (EBADF).
pub fn waitid(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (idtype, options) = (a.int(0), a.uint(3));
    let known = WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE;
    if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    match idtype {
        P_PID if a.int(1) <= 0 => Err(Errno::EINVAL),
        P_PGID if a.int(1) < 0 => Err(Errno::EINVAL),
        P_PIDFD => Err(Errno::EBADF),
        P_ALL | P_PID | P_PGID => Err(Errno::ECHILD),
        _ => Err(Errno::EINVAL),
    }
}
