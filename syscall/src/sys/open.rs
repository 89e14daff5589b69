//! Opening files: open, openat, openat2, creat.

use super::at::{self, AT_FDCWD};
use crate::call::{ok, Args, Call, Outcome};
use crate::fd::*;
use crate::vfs::file::{Cx, Events, FileObject};
use crate::vfs::node::NewNode;
use crate::vfs::{Description, Location, NodeKind, NodeRef, Stat};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};

/// Every flag open accepts (others are ignored by open, EINVAL by openat2).
const VALID: u32 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_TMPFILE;
/// Flags kept in the description (F_GETFL).
const KEPT: u32 = O_ACCMODE
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_DIRECTORY
    | O_NOATIME
    | O_SYNC
    | O_PATH;

/// Implements Linux `open(2)`, as `openat(AT_FDCWD, ...)`.
pub fn open(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    do_open(c, AT_FDCWD, a.u(0), a.uint(1), a.uint(2), false)
}

/// Implements Linux `openat(2)`. O_TMPFILE is EOPNOTSUPP.
pub fn openat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    do_open(c, a.fd(0), a.u(1), a.uint(2), a.uint(3), false)
}

/// Implements Linux `creat(2)`.
pub fn creat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    do_open(
        c,
        AT_FDCWD,
        a.u(0),
        O_CREAT | O_WRONLY | O_TRUNC,
        a.uint(1),
        false,
    )
}

/// Size of `struct open_how`.
const OPEN_HOW_SIZE: u64 = 24;

/// Implements Linux `openat2(2)` with strict flag checks. Differs: any
/// `resolve` flag (RESOLVE_BENEATH, ...) is EINVAL, not honoured.
pub fn openat2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.u(3);
    if size < OPEN_HOW_SIZE {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut how = alloc::vec![0u8; size as usize];
    c.mem().read(a.u(2), &mut how)?;
    if how[OPEN_HOW_SIZE as usize..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| u64::from_le_bytes(how[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    if flags > u32::MAX as u64 || flags as u32 & !VALID != 0 || mode & !0o7777 != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = flags as u32;
    if mode != 0 && flags & O_CREAT == 0 && flags & O_TMPFILE != O_TMPFILE {
        return Err(Errno::EINVAL);
    }
    if resolve != 0 {
        return Err(Errno::EINVAL);
    }
    do_open(c, a.fd(0), a.u(1), flags, mode as u32, true)
}

fn do_open(
    c: &mut Call<'_>,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
    mode: u32,
    strict: bool,
) -> SysResult<Outcome> {
    let path = at::read_path(c, path_addr)?;
    let flags = if flags & O_PATH != 0 {
        flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    } else {
        flags
    };
    if flags & O_TMPFILE == O_TMPFILE {
        if flags & O_ACCMODE == O_RDONLY || flags & O_CREAT != 0 {
            return Err(Errno::EINVAL);
        }
        return Err(Errno::EOPNOTSUPP);
    }
    if strict && flags & O_ACCMODE == 3 {
        return Err(Errno::EINVAL);
    }
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let loc = if flags & O_CREAT != 0 {
        open_or_create(c, dirfd, &path, flags, mode)?
    } else {
        at::lookup(c, dirfd, &path, flags & O_NOFOLLOW == 0)?
    };
    let file = open_location(c, &loc, flags)?;
    let limit = c.fd_limit();
    ok(c.proc.fds_mut().open(file, flags & O_CLOEXEC != 0, limit)? as u64)
}

/// O_CREAT: find the name, or create it as a regular file.
fn open_or_create(
    c: &mut Call<'_>,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u32,
) -> SysResult<Location> {
    let parent = at::parent(c, dirfd, path)?;
    if parent.trailing_slash || parent.name == b"." || parent.name == b".." {
        return Err(Errno::EISDIR);
    }
    let found = {
        let mut cx = c.cx();
        let ns = cx.facts.namespace();
        ns.child(&mut cx, &parent.dir, &parent.name)
    };
    match found {
        Ok(node) => {
            if flags & O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            if node.kind() == NodeKind::Symlink && flags & O_NOFOLLOW != 0 {
                return Err(Errno::ELOOP);
            }
            at::lookup(c, dirfd, path, true)
        }
        Err(Errno::ENOENT) => {
            let dir = parent.dir.node().clone();
            if dir.read_only() {
                return Err(Errno::EROFS);
            }
            let mode = mode & 0o7777 & !c.proc.umask();
            let mut cx = c.cx();
            dir.create(&mut cx, &parent.name, NewNode::File, mode)?;
            let ns = cx.facts.namespace();
            ns.resolve(&mut cx, &parent.dir, &parent.name, false)
        }
        Err(e) => Err(e),
    }
}

/// Open the node at `loc` with open flags `flags` (O_CREAT already done).
pub fn open_location(c: &mut Call<'_>, loc: &Location, flags: u32) -> SysResult<FileRef> {
    let node = loc.node().clone();
    let kind = node.kind();
    if flags & O_DIRECTORY != 0 && kind != NodeKind::Dir {
        return Err(if kind == NodeKind::Symlink {
            Errno::ELOOP
        } else {
            Errno::ENOTDIR
        });
    }
    let status = (flags & KEPT) | O_LARGEFILE;
    if flags & O_PATH != 0 {
        let obj = Box::new(PathObject { node: node.clone() });
        return Ok(Arc::new(Description::new(
            obj,
            status,
            Some(node),
            Some(loc.clone()),
        )));
    }
    if kind == NodeKind::Symlink {
        return Err(Errno::ELOOP);
    }
    let writes = flags & O_ACCMODE != O_RDONLY;
    if kind == NodeKind::Dir && (writes || flags & O_CREAT != 0) {
        return Err(Errno::EISDIR);
    }
    if node.read_only() && (writes || flags & O_TRUNC != 0) {
        return Err(Errno::EROFS);
    }
    let mut cx = c.cx();
    let obj = node.open(&mut cx, flags)?;
    if flags & O_TRUNC != 0 && kind == NodeKind::File {
        node.truncate(&mut cx, 0)?;
    }
    Ok(Arc::new(Description::new(
        obj,
        status,
        Some(node),
        Some(loc.clone()),
    )))
}

/// What an O_PATH descriptor holds: a location, no I/O.
pub struct PathObject {
    pub node: NodeRef,
}

impl FileObject for PathObject {
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat> {
        self.node.stat(cx)
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, _data: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn readdir(&self, _cx: &mut Cx<'_>) -> SysResult<alloc::vec::Vec<crate::vfs::DirEntry>> {
        Err(Errno::EBADF)
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        Events::NVAL
    }
    fn sync(&self) -> SysResult<()> {
        Err(Errno::EBADF)
    }
    fn truncate(&self, _cx: &mut Cx<'_>, _len: u64) -> SysResult<()> {
        Err(Errno::EBADF)
    }
    fn allocate(&self, _cx: &mut Cx<'_>, _o: u64, _l: u64, _k: bool) -> SysResult<()> {
        Err(Errno::EBADF)
    }
    fn punch_hole(&self, _cx: &mut Cx<'_>, _o: u64, _l: u64) -> SysResult<()> {
        Err(Errno::EBADF)
    }
    fn mmap(
        &self,
        _cx: &mut Cx<'_>,
        _o: u64,
        _l: u64,
        _w: bool,
    ) -> SysResult<crate::vfs::PageSource> {
        Err(Errno::EBADF)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
