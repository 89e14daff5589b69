//! Descriptor operations: close, close_range, dup family, fcntl, flock,
//! pipe and pipe2.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, SETFL_MASK};
use crate::vfs::pipe::{pipe as new_pipe, PipeEnd};
use crate::vfs::Description;
use alloc::sync::Arc;
use kiln_abi::errno::{Errno, SysResult};

pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const F_GETLK: u32 = 5;
pub const F_SETLK: u32 = 6;
pub const F_SETLKW: u32 = 7;
pub const F_OFD_GETLK: u32 = 36;
pub const F_OFD_SETLK: u32 = 37;
pub const F_OFD_SETLKW: u32 = 38;
pub const F_DUPFD_CLOEXEC: u32 = 1030;
pub const F_SETPIPE_SZ: u32 = 1031;
pub const F_GETPIPE_SZ: u32 = 1032;
pub const F_UNLCK: u16 = 2;
/// Size of `struct flock`.
const FLOCK_SIZE: usize = 32;
pub const FD_CLOEXEC: u64 = 1;

/// Implements Linux `close(2)`.
pub fn close(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds_mut().close(a.fd(0))?;
    ok(0)
}

pub const CLOSE_RANGE_UNSHARE: u32 = 2;
pub const CLOSE_RANGE_CLOEXEC: u32 = 4;

/// Implements Linux `close_range(2)` (CLOSE_RANGE_CLOEXEC; UNSHARE is a
/// no-op with one process).
pub fn close_range(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (first, last, flags) = (a.uint(0), a.uint(1), a.uint(2));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    let end = c.proc.fds().end() as u64;
    if end == 0 || first as u64 >= end {
        return ok(0);
    }
    let hi = (last as u64).min(end - 1) as i32;
    for fd in first as i32..=hi {
        if c.proc.fds().get(fd).is_err() {
            continue;
        }
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            c.proc.fds_mut().set_cloexec(fd, true)?;
        } else {
            c.proc.fds_mut().close(fd)?;
        }
    }
    ok(0)
}

pub const LOCK_SH: u32 = 1;
pub const LOCK_EX: u32 = 2;
pub const LOCK_NB: u32 = 4;
pub const LOCK_UN: u32 = 8;

/// Implements Linux `flock(2)`: with one process every lock is granted at
/// once (nothing else could hold a conflicting one).
pub fn flock(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = c.proc.fds().get(a.fd(0))?;
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    match a.uint(1) & !LOCK_NB {
        LOCK_SH | LOCK_EX | LOCK_UN => ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn pipe_common(c: &mut Call<'_>, addr: u64, flags: u32) -> SysResult<Outcome> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = new_pipe();
    let status = flags & O_NONBLOCK;
    let rd = Arc::new(Description::new(r, O_RDONLY | status, None, None));
    let wd = Arc::new(Description::new(w, O_WRONLY | status, None, None));
    let limit = c.fd_limit();
    let cloexec = flags & O_CLOEXEC != 0;
    let rfd = c.proc.fds_mut().open(rd, cloexec, limit)?;
    let wfd = match c.proc.fds_mut().open(wd, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = c.proc.fds_mut().close(rfd);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&rfd.to_le_bytes());
    out[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = c.mem().write(addr, &out) {
        let _ = c.proc.fds_mut().close(rfd);
        let _ = c.proc.fds_mut().close(wfd);
        return Err(e);
    }
    ok(0)
}

/// Implements Linux `pipe(2)`.
pub fn pipe(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    pipe_common(c, a.u(0), 0)
}

/// Implements Linux `pipe2(2)` (O_CLOEXEC, O_NONBLOCK; O_DIRECT accepted,
/// the pipe stays a byte stream).
pub fn pipe2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    pipe_common(c, a.u(0), a.uint(1))
}

/// Implements Linux `dup(2)`.
pub fn dup(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let limit = c.fd_limit();
    ok(c.proc.fds_mut().dup_min(a.fd(0), 0, false, limit)? as u64)
}

/// Implements Linux `dup2(2)`.
pub fn dup2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (old, new) = (a.fd(0), a.fd(1));
    if old == new {
        c.proc.fds().get(old)?;
        return ok(new as u64);
    }
    let limit = c.fd_limit();
    ok(c.proc.fds_mut().dup_to(old, new, false, limit)? as u64)
}

/// Implements Linux `dup3(2)`.
pub fn dup3(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (old, new, flags) = (a.fd(0), a.fd(1), a.uint(2));
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let limit = c.fd_limit();
    ok(c.proc
        .fds_mut()
        .dup_to(old, new, flags & O_CLOEXEC != 0, limit)? as u64)
}

/// Implements Linux `fcntl(2)`: descriptor flags, status flags, record
/// locks (with one process always granted; F_GETLK reports F_UNLCK), pipe
/// sizes, F_GETOWN/F_SETOWN (recorded nowhere: 0); leases, seals, notify
/// and signals are EINVAL.
pub fn fcntl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = c.proc.fds().get(fd)?.clone();
    let arg = a.u(2);
    let limit = c.fd_limit();
    match a.uint(1) {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg as u32 as i32).map_err(|_| Errno::EINVAL)?;
            if min >= limit {
                return Err(Errno::EINVAL);
            }
            ok(c.proc
                .fds_mut()
                .dup_min(fd, min, a.uint(1) == F_DUPFD_CLOEXEC, limit)? as u64)
        }
        F_GETFD => ok(c.proc.fds().cloexec(fd)? as u64),
        F_SETFD => {
            c.proc.fds_mut().set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            ok(0)
        }
        F_GETFL => ok(file.flags() as u64),
        F_SETFL => {
            if file.is_path() {
                return Err(Errno::EBADF);
            }
            file.set_flags((file.flags() & !SETFL_MASK) | (arg as u32 & SETFL_MASK));
            ok(0)
        }
        cmd @ (F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW) => {
            if file.is_path() {
                return Err(Errno::EBADF);
            }
            let mut fl = c.mem().read_array::<FLOCK_SIZE>(arg)?;
            let ty = u16::from_le_bytes([fl[0], fl[1]]);
            let whence = u16::from_le_bytes([fl[2], fl[3]]);
            if ty > F_UNLCK || whence > 2 {
                return Err(Errno::EINVAL);
            }
            let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
            if ofd && u32::from_le_bytes(fl[24..28].try_into().unwrap_or_default()) != 0 {
                return Err(Errno::EINVAL);
            }
            match cmd {
                F_GETLK | F_OFD_GETLK => {
                    fl[..2].copy_from_slice(&F_UNLCK.to_le_bytes());
                    c.mem().write(arg, &fl)?;
                    ok(0)
                }
                _ => {
                    // Read locks need a readable file, write locks a writable one.
                    match ty {
                        0 if !file.readable() => Err(Errno::EBADF),
                        1 if !file.writable() => Err(Errno::EBADF),
                        _ => ok(0),
                    }
                }
            }
        }
        F_GETPIPE_SZ | F_SETPIPE_SZ => {
            let Some(p) = file.obj.as_any().downcast_ref::<PipeEnd>() else {
                return Err(Errno::EBADF);
            };
            if a.uint(1) == F_GETPIPE_SZ {
                ok(p.capacity() as u64)
            } else {
                ok(p.set_capacity(arg as u32 as u64)? as u64)
            }
        }
        _ => Err(Errno::EINVAL),
    }
}
