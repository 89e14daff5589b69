//! Descriptor operations: close, dup family, fcntl.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::{O_CLOEXEC, SETFL_MASK};

pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const F_DUPFD_CLOEXEC: u32 = 1030;
pub const FD_CLOEXEC: u64 = 1;

/// Implements Linux `close(2)`.
pub fn close(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds.close(a.fd(0))?;
    ok(0)
}

/// Implements Linux `dup(2)`.
pub fn dup(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let limit = c.fd_limit();
    ok(c.proc.fds.dup_min(a.fd(0), 0, false, limit)? as u64)
}

/// Implements Linux `dup2(2)`.
pub fn dup2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (old, new) = (a.fd(0), a.fd(1));
    if old == new {
        c.proc.fds.get(old)?;
        return ok(new as u64);
    }
    let limit = c.fd_limit();
    ok(c.proc.fds.dup_to(old, new, false, limit)? as u64)
}

/// Implements Linux `dup3(2)`.
pub fn dup3(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (old, new, flags) = (a.fd(0), a.fd(1), a.uint(2));
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let limit = c.fd_limit();
    ok(c.proc.fds.dup_to(old, new, flags & O_CLOEXEC != 0, limit)? as u64)
}

/// Implements Linux `fcntl(2)` for F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
/// F_SETFD, F_GETFL and F_SETFL; other commands (locks, leases, pipes,
/// owners, seals) return EINVAL for now.
pub fn fcntl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = *c.proc.fds.get(fd)?;
    let arg = a.u(2);
    let limit = c.fd_limit();
    match a.uint(1) {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg as u32 as i32).map_err(|_| Errno::EINVAL)?;
            if min >= limit {
                return Err(Errno::EINVAL);
            }
            ok(c.proc
                .fds
                .dup_min(fd, min, a.uint(1) == F_DUPFD_CLOEXEC, limit)? as u64)
        }
        F_GETFD => ok(c.proc.fds.cloexec(fd)? as u64),
        F_SETFD => {
            c.proc.fds.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            ok(0)
        }
        F_GETFL => ok(file.flags as u64),
        F_SETFL => {
            let f = c.proc.fds.get_mut(fd)?;
            f.flags = (f.flags & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
            ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
