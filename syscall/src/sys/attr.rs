//! Changing files: chmod and chown families, utimensat, truncate,
//! fallocate, umask, and the sync calls.

use super::at::{self, Target, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use crate::call::{ok, Args, Call, Outcome};
use crate::vfs::{NodeKind, NodeRef, SetAttr};
use kiln_abi::errno::{Errno, SysResult};

/// The node a (dirfd, path, flags) or a descriptor names.
fn node_of(t: Target) -> SysResult<NodeRef> {
    match t {
        Target::Path(l) => Ok(l.node().clone()),
        Target::File(f) => f.node.clone().ok_or(Errno::EPERM),
    }
}

fn set(c: &mut Call<'_>, node: &NodeRef, attr: SetAttr) -> SysResult<Outcome> {
    if node.read_only() {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    node.set_attr(&mut cx, attr)?;
    ok(0)
}

fn fd_node(c: &mut Call<'_>, fd: i32) -> SysResult<NodeRef> {
    let f = c.proc.fds().get(fd)?.clone();
    node_of(Target::File(f))
}

/// Implements Linux `chmod(2)`.
pub fn chmod(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = at::target(c, AT_FDCWD, a.u(0), 0)?;
    let n = node_of(t)?;
    set(
        c,
        &n,
        SetAttr {
            mode: Some(a.uint(1) & 0o7777),
            ..Default::default()
        },
    )
}

/// Implements Linux `fchmod(2)`.
pub fn fchmod(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let n = fd_node(c, a.fd(0))?;
    set(
        c,
        &n,
        SetAttr {
            mode: Some(a.uint(1) & 0o7777),
            ..Default::default()
        },
    )
}

/// Implements Linux `fchmodat(2)` (no flags, as the syscall has none).
pub fn fchmodat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = at::target(c, a.fd(0), a.u(1), 0)?;
    let n = node_of(t)?;
    set(
        c,
        &n,
        SetAttr {
            mode: Some(a.uint(2) & 0o7777),
            ..Default::default()
        },
    )
}

fn owner(uid: u32, gid: u32) -> SetAttr {
    SetAttr {
        uid: (uid != u32::MAX).then_some(uid),
        gid: (gid != u32::MAX).then_some(gid),
        ..Default::default()
    }
}

/// Implements Linux `chown(2)` (the program is root: any owner).
pub fn chown(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = at::target(c, AT_FDCWD, a.u(0), 0)?;
    let n = node_of(t)?;
    set(c, &n, owner(a.uint(1), a.uint(2)))
}

/// Implements Linux `lchown(2)`.
pub fn lchown(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let t = at::target(c, AT_FDCWD, a.u(0), AT_SYMLINK_NOFOLLOW)?;
    let n = node_of(t)?;
    set(c, &n, owner(a.uint(1), a.uint(2)))
}

/// Implements Linux `fchown(2)`.
pub fn fchown(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let n = fd_node(c, a.fd(0))?;
    set(c, &n, owner(a.uint(1), a.uint(2)))
}

/// Implements Linux `fchownat(2)` (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH).
pub fn fchownat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(4);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = at::target(c, a.fd(0), a.u(1), flags)?;
    let n = node_of(t)?;
    set(c, &n, owner(a.uint(2), a.uint(3)))
}

const UTIME_NOW: u64 = (1 << 30) - 1;
const UTIME_OMIT: u64 = (1 << 30) - 2;

/// Read one timespec of utimensat: Some(ns) to set, None to leave.
fn utime_spec(c: &mut Call<'_>, addr: u64) -> SysResult<Option<u64>> {
    let b = c.mem().read_array::<16>(addr)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let nsec = u64::from_le_bytes(b[8..].try_into().unwrap_or_default());
    match nsec {
        UTIME_OMIT => Ok(None),
        UTIME_NOW => Ok(Some(c.p.clock().realtime_ns())),
        n if n < 1_000_000_000 && sec >= 0 => Ok(Some(
            (sec as u64).saturating_mul(1_000_000_000).saturating_add(n),
        )),
        n if n < 1_000_000_000 => Ok(Some(0)),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements Linux `utimensat(2)` (UTIME_NOW, UTIME_OMIT, a null path
/// names dirfd). Differs: times before the epoch are stored as the epoch.
pub fn utimensat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (dirfd, path, times, flags) = (a.fd(0), a.u(1), a.u(2), a.uint(3));
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (atime, mtime) = if times == 0 {
        let now = c.p.clock().realtime_ns();
        (Some(now), Some(now))
    } else {
        (utime_spec(c, times)?, utime_spec(c, times + 16)?)
    };
    let n = if path == 0 {
        fd_node(c, dirfd)?
    } else {
        let t = at::target(c, dirfd, path, flags)?;
        node_of(t)?
    };
    if atime.is_none() && mtime.is_none() {
        return ok(0);
    }
    set(
        c,
        &n,
        SetAttr {
            atime,
            mtime,
            ..Default::default()
        },
    )
}

fn timeval_ns(c: &mut Call<'_>, addr: u64) -> SysResult<u64> {
    let b = c.mem().read_array::<16>(addr)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or_default());
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec.max(0) as u64).saturating_mul(1_000_000_000) + usec as u64 * 1000)
}

/// Implements Linux `futimesat(2)` (timevals; null sets both to now).
pub fn futimesat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (dirfd, path, times) = (a.fd(0), a.u(1), a.u(2));
    let (at_, mt) = if times == 0 {
        let now = c.p.clock().realtime_ns();
        (now, now)
    } else {
        (timeval_ns(c, times)?, timeval_ns(c, times + 16)?)
    };
    let n = if path == 0 {
        fd_node(c, dirfd)?
    } else {
        let t = at::target(c, dirfd, path, 0)?;
        node_of(t)?
    };
    set(
        c,
        &n,
        SetAttr {
            atime: Some(at_),
            mtime: Some(mt),
            ..Default::default()
        },
    )
}

/// Implements Linux `utimes(2)`.
pub fn utimes(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    futimesat(c, Args([AT_FDCWD as u32 as u64, a.u(0), a.u(1), 0, 0, 0]))
}

/// Implements Linux `umask(2)`.
pub fn umask(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let old = c.proc.umask();
    c.proc.set_umask(a.uint(0) & 0o777);
    ok(old as u64)
}

/// Implements Linux `truncate(2)`.
pub fn truncate(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let len = u64::try_from(a.long(1)).map_err(|_| Errno::EINVAL)?;
    let t = at::target(c, AT_FDCWD, a.u(0), 0)?;
    let n = node_of(t)?;
    if n.kind() == NodeKind::Dir {
        return Err(Errno::EISDIR);
    }
    if n.read_only() {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    n.truncate(&mut cx, len)?;
    ok(0)
}

/// Implements Linux `ftruncate(2)` (EINVAL unless open for writing).
pub fn ftruncate(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let len = u64::try_from(a.long(1)).map_err(|_| Errno::EINVAL)?;
    let f = c.proc.fds().get(a.fd(0))?.clone();
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    if !f.writable() {
        return Err(Errno::EINVAL);
    }
    let mut cx = c.cx();
    f.obj.truncate(&mut cx, len)?;
    ok(0)
}

pub const FALLOC_FL_KEEP_SIZE: u32 = 1;
pub const FALLOC_FL_PUNCH_HOLE: u32 = 2;

/// Implements Linux `fallocate(2)`: mode 0, FALLOC_FL_KEEP_SIZE and
/// PUNCH_HOLE|KEEP_SIZE on tmpfs files (pages are taken or given back);
/// other modes (collapse, zero range, insert) EOPNOTSUPP.
pub fn fallocate(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (fd, mode, off, len) = (a.fd(0), a.uint(1), a.long(2), a.long(3));
    let f = c.proc.fds().get(fd)?.clone();
    if off < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if (off as u64)
        .checked_add(len as u64)
        .is_none_or(|e| e > i64::MAX as u64)
    {
        return Err(Errno::EFBIG);
    }
    let mut cx = c.cx();
    if mode & FALLOC_FL_PUNCH_HOLE != 0 {
        f.obj.punch_hole(&mut cx, off as u64, len as u64)?;
        return ok(0);
    }
    f.obj.allocate(
        &mut cx,
        off as u64,
        len as u64,
        mode & FALLOC_FL_KEEP_SIZE != 0,
    )?;
    ok(0)
}

/// Implements Linux `fsync(2)`: everything is in memory (or read-only), so
/// there is nothing to write back; EINVAL on pipes and terminals.
pub fn fsync(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = c.proc.fds().get(a.fd(0))?.clone();
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    f.obj.sync()?;
    ok(0)
}

/// Implements Linux `syncfs(2)`.
pub fn syncfs(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds().get(a.fd(0))?;
    ok(0)
}

/// Implements Linux `sync(2)`.
pub fn sync(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(0)
}
