//! Asking about files: the stat family, statx, statfs, access, readlink.

use super::at::{
    self, Target, AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
};
use crate::call::{ok, Args, Call, Outcome};
use crate::vfs::{NodeKind, Stat, StatFs};
use kiln_abi::errno::{Errno, SysResult};

fn stat_target(c: &mut Call<'_>, t: &Target) -> SysResult<Stat> {
    let mut cx = c.cx();
    match t {
        Target::Path(l) => l.node().stat(&mut cx),
        Target::File(f) => f.obj.stat(&mut cx),
    }
}

fn write_stat(c: &mut Call<'_>, buf: u64, st: &Stat) -> SysResult<Outcome> {
    c.mem().write(buf, &st.encode())?;
    ok(0)
}

/// Implements Linux `fstat(2)`.
pub fn fstat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = c.proc.fds().get(a.fd(0))?.clone();
    let st = stat_target(c, &Target::File(f))?;
    write_stat(c, a.u(1), &st)
}

fn stat_path(c: &mut Call<'_>, dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult<Outcome> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = at::target(c, dirfd, path, flags)?;
    let st = stat_target(c, &t)?;
    write_stat(c, buf, &st)
}

/// Implements Linux `newfstatat(2)` (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW).
pub fn newfstatat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, a.fd(0), a.u(1), a.u(2), a.uint(3))
}

/// Implements Linux `stat(2)`.
pub fn stat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, AT_FDCWD, a.u(0), a.u(1), 0)
}

/// Implements Linux `lstat(2)`.
pub fn lstat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, AT_FDCWD, a.u(0), a.u(1), AT_SYMLINK_NOFOLLOW)
}

/// STATX__RESERVED: a mask bit no kernel may accept.
const STATX_RESERVED: u32 = 0x8000_0000;

/// Implements Linux `statx(2)`: the basic fields whatever the mask asks
/// (as Linux may); no birth time, no attributes.
pub fn statx(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (dirfd, path, flags, mask, buf) = (a.fd(0), a.u(1), a.uint(2), a.uint(3), a.u(4));
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let t = at::target(c, dirfd, path, flags)?;
    let st = stat_target(c, &t)?;
    c.mem().write(buf, &st.encode_statx())?;
    ok(0)
}

fn write_statfs(c: &mut Call<'_>, t: &Target, buf: u64) -> SysResult<Outcome> {
    let sf: StatFs = {
        let mut cx = c.cx();
        match t {
            Target::Path(l) => l.node().statfs(&mut cx),
            Target::File(f) => match &f.node {
                Some(n) => n.statfs(&mut cx),
                None => f.obj.statfs(),
            },
        }
    };
    c.mem().write(buf, &sf.encode())?;
    ok(0)
}

/// Implements Linux `statfs(2)`: each file system reports its magic
/// (tmpfs, proc, sysfs; the image reports squashfs's, read-only).
pub fn statfs(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let path = at::read_path(c, a.u(0))?;
    let loc = at::lookup(c, AT_FDCWD, &path, true)?;
    write_statfs(c, &Target::Path(loc), a.u(1))
}

/// Implements Linux `fstatfs(2)`.
pub fn fstatfs(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = c.proc.fds().get(a.fd(0))?.clone();
    write_statfs(c, &Target::File(f), a.u(1))
}

const F_OK: u32 = 0;
const W_OK: u32 = 2;
const X_OK: u32 = 1;

fn access_common(
    c: &mut Call<'_>,
    dirfd: i32,
    path: u64,
    mode: u32,
    flags: u32,
) -> SysResult<Outcome> {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = at::target(c, dirfd, path, flags)?;
    if mode == F_OK {
        return ok(0);
    }
    let (st, ro) = match &t {
        Target::Path(l) => (stat_target(c, &t)?, l.node().read_only()),
        Target::File(f) => (
            stat_target(c, &t)?,
            f.node.as_ref().is_some_and(|n| n.read_only()),
        ),
    };
    let kind = st.mode & kiln_abi::stat::S_IFMT;
    if mode & W_OK != 0 && ro && kind != kiln_abi::stat::S_IFCHR {
        return Err(Errno::EROFS);
    }
    // The program runs as root: read and write always, execute when any
    // execute bit is set (or for directories).
    if mode & X_OK != 0 && kind != kiln_abi::stat::S_IFDIR && st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    ok(0)
}

/// Implements Linux `access(2)` (the program is root).
pub fn access(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    access_common(c, AT_FDCWD, a.u(0), a.uint(1), 0)
}

/// Implements Linux `faccessat(2)`.
pub fn faccessat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    access_common(c, a.fd(0), a.u(1), a.uint(2), 0)
}

/// Implements Linux `faccessat2(2)`.
pub fn faccessat2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    access_common(c, a.fd(0), a.u(1), a.uint(2), a.uint(3))
}

fn readlink_common(
    c: &mut Call<'_>,
    dirfd: i32,
    path: u64,
    buf: u64,
    size: i32,
) -> SysResult<Outcome> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    // readlinkat with an empty path reads dirfd itself (Linux >= 2.6.39).
    let empty = if dirfd == AT_FDCWD { 0 } else { AT_EMPTY_PATH };
    let t = at::target(c, dirfd, path, AT_SYMLINK_NOFOLLOW | empty)?;
    let node = match t {
        Target::Path(l) => l.node().clone(),
        Target::File(f) => f.node.clone().ok_or(Errno::ENOENT)?,
    };
    if node.kind() != NodeKind::Symlink {
        return Err(Errno::EINVAL);
    }
    let target = {
        let mut cx = c.cx();
        node.readlink(&mut cx)?
    };
    let n = target.len().min(size as usize);
    c.mem().write(buf, &target[..n])?;
    ok(n as u64)
}

/// Implements Linux `readlink(2)`, /proc links included.
pub fn readlink(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    readlink_common(c, AT_FDCWD, a.u(0), a.u(1), a.int(2))
}

/// Implements Linux `readlinkat(2)` (an empty path names dirfd, an O_PATH
/// descriptor of a symlink).
pub fn readlinkat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    readlink_common(c, a.fd(0), a.u(1), a.u(2), a.int(3))
}
