//! What the path calls share: reading a path from the program, the
//! directory a relative path starts from (AT_FDCWD or a dirfd), and
//! resolution that records missing files for `--missing-files`.

use crate::call::Call;
use crate::fd::FileRef;
use crate::vfs::path::{Parent, PATH_MAX};
use crate::vfs::{Location, NodeKind};
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_EACCESS: u32 = 0x200;
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;

/// Read a NUL-terminated path (ENAMETOOLONG beyond PATH_MAX, EFAULT).
pub fn read_path(c: &mut Call<'_>, addr: u64) -> SysResult<Vec<u8>> {
    c.mem().read_cstr(addr, PATH_MAX - 1)
}

/// Where a relative `path` starts: the cwd, or the directory `dirfd`
/// (EBADF if not open, ENOTDIR if not a directory). Absolute paths ignore
/// dirfd, as on Linux.
pub fn start(c: &Call<'_>, dirfd: i32, path: &[u8]) -> SysResult<Location> {
    if path.first() == Some(&b'/') {
        return Ok(c.proc.ns().root());
    }
    if dirfd == AT_FDCWD {
        return Ok(c.proc.cwd().clone());
    }
    let d = c.proc.fds().get(dirfd)?;
    match &d.loc {
        Some(l) if l.node().kind() == NodeKind::Dir => Ok(l.clone()),
        _ => Err(Errno::ENOTDIR),
    }
}

/// Record a path that was not found, as the program would name it from
/// the root.
fn note(c: &mut Call<'_>, start: &Location, path: &[u8], e: Errno) {
    if e != Errno::ENOENT || !c.proc.reports_missing_files() {
        return;
    }
    let full = if path.first() == Some(&b'/') {
        path.to_vec()
    } else {
        let mut p = start.path();
        if p != b"/" {
            p.push(b'/');
        }
        p.extend_from_slice(path);
        p
    };
    c.proc.note_missing(&full);
}

/// Resolve `path` relative to `dirfd`.
pub fn lookup(c: &mut Call<'_>, dirfd: i32, path: &[u8], follow: bool) -> SysResult<Location> {
    let from = start(c, dirfd, path)?;
    let r = {
        let mut cx = c.cx();
        let ns = cx.facts.namespace();
        ns.resolve(&mut cx, &from, path, follow)
    };
    if let Err(e) = &r {
        note(c, &from, path, *e);
    }
    r
}

/// Split `path` into its parent directory and last name.
pub fn parent(c: &mut Call<'_>, dirfd: i32, path: &[u8]) -> SysResult<Parent> {
    let from = start(c, dirfd, path)?;
    let r = {
        let mut cx = c.cx();
        let ns = cx.facts.namespace();
        ns.resolve_parent(&mut cx, &from, path)
    };
    if let Err(e) = &r {
        note(c, &from, path, *e);
    }
    r
}

/// What a `*at` call with AT_EMPTY_PATH may act on: a path, or the open
/// file `dirfd` itself.
pub enum Target {
    Path(Location),
    File(FileRef),
}

/// Resolve a `*at` call's (dirfd, path, flags): an empty path with
/// AT_EMPTY_PATH names dirfd itself (the cwd for AT_FDCWD).
pub fn target(c: &mut Call<'_>, dirfd: i32, addr: u64, flags: u32) -> SysResult<Target> {
    let path = read_path(c, addr)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if dirfd == AT_FDCWD {
            return Ok(Target::Path(c.proc.cwd().clone()));
        }
        return Ok(Target::File(c.proc.fds().get(dirfd)?.clone()));
    }
    lookup(c, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0).map(Target::Path)
}
