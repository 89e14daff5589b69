//! Directories and names: getdents, getcwd, chdir, mkdir, rmdir, unlink,
//! rename, symlink, link.

use super::at::{self, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW};
use crate::call::{ok, Args, Call, Outcome};
use crate::vfs::node::NewNode;
use crate::vfs::path::{same, Parent};
use crate::vfs::tmpfs::{RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT};
use crate::vfs::{DirEntry, NodeKind, NodeRef};
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

/// The whole listing of the directory behind `fd`: ".", "..", its entries
/// and the mount points inside it.
fn listing(c: &mut Call<'_>, fd: i32) -> SysResult<(crate::fd::FileRef, Vec<DirEntry>)> {
    let f = c.proc.fds().get(fd)?.clone();
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    let mut entries = {
        let mut cx = c.cx();
        f.obj.readdir(&mut cx)?
    };
    let (me, parent) = match &f.loc {
        Some(l) => {
            let mut cx = c.cx();
            let me = l.node().stat(&mut cx).map(|s| s.ino).unwrap_or(1);
            let up = l.parent().node().stat(&mut cx).map(|s| s.ino).unwrap_or(me);
            for name in c.proc.ns().mount_names_in(&l.path()) {
                if !entries.iter().any(|e| e.name == name) {
                    entries.push(DirEntry {
                        name,
                        ino: 1,
                        kind: NodeKind::Dir,
                    });
                }
            }
            (me, up)
        }
        None => (1, 1),
    };
    let mut all = Vec::with_capacity(entries.len() + 2);
    all.push(DirEntry {
        name: b".".to_vec(),
        ino: me,
        kind: NodeKind::Dir,
    });
    all.push(DirEntry {
        name: b"..".to_vec(),
        ino: parent,
        kind: NodeKind::Dir,
    });
    all.extend(entries);
    Ok((f, all))
}

fn getdents_common(c: &mut Call<'_>, a: Args, old: bool) -> SysResult<Outcome> {
    let (f, all) = listing(c, a.fd(0))?;
    let cap = a.u(2).min(u32::MAX as u64) as usize;
    let mut out = Vec::new();
    let mut pos = f.pos();
    while let Some(e) = usize::try_from(pos).ok().and_then(|p| all.get(p)) {
        let reclen = if old {
            (18 + e.name.len() + 2).div_ceil(8) * 8
        } else {
            (19 + e.name.len() + 1).div_ceil(8) * 8
        };
        if out.len() + reclen > cap {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        let start = out.len();
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&(pos + 1).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        if !old {
            out.push(e.kind.dirent_type());
        }
        out.extend_from_slice(&e.name);
        out.resize(start + reclen, 0);
        if old {
            out[start + reclen - 1] = e.kind.dirent_type();
        }
        pos += 1;
    }
    c.mem().write(a.u(1), &out)?;
    f.set_pos(pos);
    ok(out.len() as u64)
}

/// Implements Linux `getdents64(2)`: ".", "..", the entries, then mount
/// points inside the directory that the file system below lacks.
pub fn getdents64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    getdents_common(c, a, false)
}

/// Implements Linux `getdents(2)` (the old record layout).
pub fn getdents(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    getdents_common(c, a, true)
}

/// Implements Linux `getcwd(2)`. Differs: a directory renamed after
/// chdir keeps its old name here.
pub fn getcwd(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let mut cwd = c.proc.cwd().path();
    cwd.push(0);
    if (a.u(1) as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    c.mem().write(a.u(0), &cwd)?;
    ok(cwd.len() as u64)
}

/// Implements Linux `chdir(2)`.
pub fn chdir(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let path = at::read_path(c, a.u(0))?;
    let loc = at::lookup(c, AT_FDCWD, &path, true)?;
    if loc.node().kind() != NodeKind::Dir {
        return Err(Errno::ENOTDIR);
    }
    c.proc.set_cwd(loc);
    ok(0)
}

/// Implements Linux `fchdir(2)`.
pub fn fchdir(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let f = c.proc.fds().get(a.fd(0))?;
    let loc = match &f.loc {
        Some(l) if l.node().kind() == NodeKind::Dir => l.clone(),
        _ => return Err(Errno::ENOTDIR),
    };
    c.proc.set_cwd(loc);
    ok(0)
}

/// The existing child of a parent, if any.
fn child(c: &mut Call<'_>, p: &Parent) -> SysResult<NodeRef> {
    let mut cx = c.cx();
    let ns = cx.facts.namespace();
    ns.child(&mut cx, &p.dir, &p.name)
}

fn child_path(p: &Parent) -> Vec<u8> {
    let mut path = p.dir.path();
    if path != b"/" {
        path.push(b'/');
    }
    path.extend_from_slice(&p.name);
    path
}

fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// Create `name` unless it exists (EEXIST); EROFS on a read-only file system.
fn create_at(
    c: &mut Call<'_>,
    dirfd: i32,
    path: &[u8],
    new: NewNode,
    mode: u32,
) -> SysResult<Outcome> {
    let p = at::parent(c, dirfd, path)?;
    if is_dot(&p.name) {
        return Err(Errno::EEXIST);
    }
    match child(c, &p) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if p.trailing_slash && new != NewNode::Dir {
        return Err(Errno::ENOENT);
    }
    let dir = p.dir.node().clone();
    if dir.read_only() {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    dir.create(&mut cx, &p.name, new, mode)?;
    ok(0)
}

/// Implements Linux `mkdirat(2)`.
pub fn mkdirat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let path = at::read_path(c, a.u(1))?;
    let mode = a.uint(2) & 0o1777 & !c.proc.umask();
    create_at(c, a.fd(0), &path, NewNode::Dir, mode)
}

/// Implements Linux `mkdir(2)`.
pub fn mkdir(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let path = at::read_path(c, a.u(0))?;
    let mode = a.uint(1) & 0o1777 & !c.proc.umask();
    create_at(c, AT_FDCWD, &path, NewNode::Dir, mode)
}

fn symlink_common(c: &mut Call<'_>, target: u64, dirfd: i32, path: u64) -> SysResult<Outcome> {
    let target = at::read_path(c, target)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = at::read_path(c, path)?;
    create_at(c, dirfd, &path, NewNode::Symlink(target), 0o777)
}

/// Implements Linux `symlinkat(2)`.
pub fn symlinkat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    symlink_common(c, a.u(0), a.fd(1), a.u(2))
}

/// Implements Linux `symlink(2)`.
pub fn symlink(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    symlink_common(c, a.u(0), AT_FDCWD, a.u(1))
}

fn remove(c: &mut Call<'_>, dirfd: i32, path: u64, dir: bool) -> SysResult<Outcome> {
    let path = at::read_path(c, path)?;
    let p = at::parent(c, dirfd, &path)?;
    if dir && p.name == b"." {
        return Err(Errno::EINVAL);
    }
    if dir && p.name == b".." {
        return Err(Errno::ENOTEMPTY);
    }
    if !dir && is_dot(&p.name) {
        return Err(Errno::EISDIR);
    }
    let node = child(c, &p)?;
    if !dir && p.trailing_slash {
        return Err(if node.kind() == NodeKind::Dir {
            Errno::EISDIR
        } else {
            Errno::ENOTDIR
        });
    }
    if c.proc.ns().is_mount_point(&child_path(&p)) {
        return Err(Errno::EBUSY);
    }
    let parent = p.dir.node().clone();
    if parent.read_only() {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    parent.unlink(&mut cx, &p.name, dir)?;
    ok(0)
}

/// Implements Linux `unlinkat(2)` (AT_REMOVEDIR).
pub fn unlinkat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(2);
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove(c, a.fd(0), a.u(1), flags & AT_REMOVEDIR != 0)
}

/// Implements Linux `unlink(2)`.
pub fn unlink(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    remove(c, AT_FDCWD, a.u(0), false)
}

/// Implements Linux `rmdir(2)`.
pub fn rmdir(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    remove(c, AT_FDCWD, a.u(0), true)
}

fn rename_common(
    c: &mut Call<'_>,
    olddir: i32,
    old: u64,
    newdir: i32,
    new: u64,
    flags: u32,
) -> SysResult<Outcome> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0
    {
        return Err(Errno::EINVAL);
    }
    if flags & RENAME_WHITEOUT != 0 {
        // Overlay whiteouts are not supported.
        return Err(Errno::EINVAL);
    }
    let old = at::read_path(c, old)?;
    let new = at::read_path(c, new)?;
    let from = at::parent(c, olddir, &old)?;
    let to = at::parent(c, newdir, &new)?;
    if is_dot(&from.name) || is_dot(&to.name) {
        return Err(if flags & RENAME_NOREPLACE != 0 && is_dot(&to.name) {
            Errno::EEXIST
        } else {
            Errno::EBUSY
        });
    }
    let src = child(c, &from)?;
    let dst = match child(c, &to) {
        Ok(n) => Some(n),
        Err(Errno::ENOENT) if flags & RENAME_EXCHANGE == 0 => None,
        Err(e) => return Err(e),
    };
    let src_dir = src.kind() == NodeKind::Dir;
    if (from.trailing_slash || to.trailing_slash) && !src_dir {
        return Err(Errno::ENOTDIR);
    }
    let (fdir, tdir) = (from.dir.node().clone(), to.dir.node().clone());
    if c.proc.ns().is_mount_point(&child_path(&from))
        || c.proc.ns().is_mount_point(&child_path(&to))
    {
        return Err(Errno::EBUSY);
    }
    if fdir.fs_id() != tdir.fs_id() {
        return Err(Errno::EXDEV);
    }
    if fdir.read_only() {
        return Err(Errno::EROFS);
    }
    if flags & RENAME_NOREPLACE != 0 && dst.is_some() {
        return Err(Errno::EEXIST);
    }
    // A directory cannot move below itself; nor can what it swaps with.
    if src_dir && to.dir.passes_through(&src) {
        return Err(Errno::EINVAL);
    }
    if let Some(d) = &dst {
        if same(d, &src) {
            return ok(0);
        }
        if flags & RENAME_EXCHANGE != 0 && d.kind() == NodeKind::Dir && from.dir.passes_through(d) {
            return Err(Errno::EINVAL);
        }
        if flags & RENAME_EXCHANGE == 0 && d.kind() == NodeKind::Dir && from.dir.passes_through(d) {
            return Err(Errno::ENOTEMPTY);
        }
    }
    let mut cx = c.cx();
    fdir.rename(&mut cx, &from.name, &tdir, &to.name, flags)?;
    ok(0)
}

/// Implements Linux `renameat2(2)` (RENAME_NOREPLACE, RENAME_EXCHANGE;
/// RENAME_WHITEOUT is EINVAL).
pub fn renameat2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    rename_common(c, a.fd(0), a.u(1), a.fd(2), a.u(3), a.uint(4))
}

/// Implements Linux `renameat(2)`.
pub fn renameat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    rename_common(c, a.fd(0), a.u(1), a.fd(2), a.u(3), 0)
}

/// Implements Linux `rename(2)`.
pub fn rename(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    rename_common(c, AT_FDCWD, a.u(0), AT_FDCWD, a.u(1), 0)
}

fn link_common(
    c: &mut Call<'_>,
    olddir: i32,
    old: u64,
    newdir: i32,
    new: u64,
    flags: u32,
) -> SysResult<Outcome> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = if flags & AT_SYMLINK_FOLLOW != 0 {
        0
    } else {
        at::AT_SYMLINK_NOFOLLOW
    };
    let target = match at::target(c, olddir, old, flags & AT_EMPTY_PATH | follow)? {
        at::Target::Path(l) => l.node().clone(),
        at::Target::File(f) => f.node.clone().ok_or(Errno::ENOENT)?,
    };
    if target.kind() == NodeKind::Dir {
        return Err(Errno::EPERM);
    }
    let new = at::read_path(c, new)?;
    let to = at::parent(c, newdir, &new)?;
    if is_dot(&to.name) {
        return Err(Errno::EEXIST);
    }
    match child(c, &to) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if to.trailing_slash {
        return Err(Errno::ENOENT);
    }
    let dir = to.dir.node().clone();
    if dir.fs_id() != target.fs_id() {
        return Err(Errno::EXDEV);
    }
    if dir.read_only() {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    dir.link(&mut cx, &to.name, &target)?;
    ok(0)
}

/// Implements Linux `linkat(2)` (AT_SYMLINK_FOLLOW, AT_EMPTY_PATH).
pub fn linkat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    link_common(c, a.fd(0), a.u(1), a.fd(2), a.u(3), a.uint(4))
}

/// Implements Linux `link(2)` (does not follow a symlink, as Linux).
pub fn link(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    link_common(c, AT_FDCWD, a.u(0), AT_FDCWD, a.u(1), 0)
}
