//! tmpfs: a read-write file system in memory, with a size limit (ENOSPC),
//! hard links, symlinks, rename with Linux's rules, modes, owners and
//! timestamps from the clock. File data lives in pages of the platform's
//! page store (`filedata.rs`): files may be sparse, and memory goes back
//! when a file shrinks or its last link and descriptor go.

use super::dir::{open_dir, FsIdent, NodeLister};
use super::file::{Cx, Events, FileObject, PageSource};
use super::filedata::{Budget, FileData, Memory};
use super::node::{DirEntry, NewNode, Node, NodeKind, NodeRef, SetAttr};
use crate::platform::PageStore;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat, StatFs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, TMPFS_MAGIC};
use spin::Mutex;

/// renameat2 flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

/// One tmpfs instance (one mount).
pub struct Tmpfs {
    id: u32,
    dev: u64,
    /// Size limit of file data (0: none) and what the files hold.
    budget: Budget,
    /// Where file pages come from.
    store: Arc<dyn PageStore>,
    next_ino: AtomicU64,
}

impl Tmpfs {
    /// A new, empty tmpfs; returns its root directory (mode 1777 for /tmp).
    /// `limit`: bytes of file data it may hold (0: no limit but memory).
    pub fn new_root(
        id: u32,
        limit: u64,
        mode: u32,
        now: u64,
        store: Arc<dyn PageStore>,
    ) -> NodeRef {
        let fs = Arc::new(Tmpfs {
            id,
            dev: makedev(0, 40 + id),
            budget: Budget::new(limit),
            store,
            next_ino: AtomicU64::new(2),
        });
        TmpNode::new(
            &fs,
            S_IFDIR | (mode & 0o7777),
            Body::Dir(Mutex::new(BTreeMap::new())),
            now,
        )
    }

    fn ident(&self) -> FsIdent {
        FsIdent {
            id: self.id,
            dev: self.dev,
            magic: TMPFS_MAGIC,
        }
    }

    fn memory(&self) -> Memory<'_> {
        Memory {
            store: &*self.store,
            budget: &self.budget,
        }
    }
}

#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: u64,
    mtime: u64,
    ctime: u64,
}

enum Body {
    File(Mutex<FileData>),
    Dir(Mutex<BTreeMap<Vec<u8>, Arc<TmpNode>>>),
    Symlink(Vec<u8>),
}

/// A file, directory or symlink of a tmpfs.
pub struct TmpNode {
    fs: Arc<Tmpfs>,
    me: Weak<TmpNode>,
    ino: u64,
    meta: Mutex<Meta>,
    body: Body,
}

impl Drop for TmpNode {
    fn drop(&mut self) {
        if let Body::File(data) = &self.body {
            data.lock().release(self.fs.memory());
        }
    }
}

impl TmpNode {
    fn new(fs: &Arc<Tmpfs>, mode: u32, body: Body, now: u64) -> Arc<TmpNode> {
        let ino = fs.next_ino.fetch_add(1, Ordering::Relaxed);
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        Arc::new_cyclic(|me| TmpNode {
            fs: fs.clone(),
            me: me.clone(),
            ino,
            meta: Mutex::new(Meta {
                mode,
                uid: 0,
                gid: 0,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
            }),
            body,
        })
    }

    fn arc(&self) -> SysResult<Arc<TmpNode>> {
        self.me.upgrade().ok_or(Errno::EIO)
    }

    fn dir(&self) -> SysResult<&Mutex<BTreeMap<Vec<u8>, Arc<TmpNode>>>> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn is_empty_dir(&self) -> bool {
        matches!(&self.body, Body::Dir(d) if d.lock().is_empty())
    }

    /// Touch mtime and ctime (a change of contents).
    fn modified(&self, now: u64) {
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    fn add_links(&self, delta: i64) {
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(delta);
    }

    fn make_stat(&self) -> Stat {
        let m = *self.meta.lock();
        let (size, blocks) = match &self.body {
            Body::File(d) => {
                let d = d.lock();
                (d.len(), d.blocks())
            }
            Body::Dir(_) => (4096, 8),
            Body::Symlink(t) => (t.len() as u64, 0),
        };
        Stat {
            dev: self.fs.dev,
            ino: self.ino,
            nlink: m.nlink,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            rdev: 0,
            size,
            blksize: 4096,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }

    /// Set the file's length; growth is a hole (it reads as zeros).
    fn set_len(&self, len: u64, now: u64) -> SysResult<()> {
        let Body::File(data) = &self.body else {
            return Err(if self.is_dir() {
                Errno::EISDIR
            } else {
                Errno::EINVAL
            });
        };
        data.lock().set_len(self.fs.memory(), len)?;
        self.modified(now);
        Ok(())
    }
}

fn downcast(n: &NodeRef) -> Option<&TmpNode> {
    n.as_any().downcast_ref::<TmpNode>()
}

impl Node for TmpNode {
    fn kind(&self) -> NodeKind {
        match self.body {
            Body::File(_) => NodeKind::File,
            Body::Dir(_) => NodeKind::Dir,
            Body::Symlink(_) => NodeKind::Symlink,
        }
    }
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.make_stat())
    }
    fn fs_id(&self) -> u32 {
        self.fs.id
    }
    fn statfs(&self, cx: &mut Cx<'_>) -> StatFs {
        let limit = if self.fs.budget.limit() != 0 {
            self.fs.budget.limit()
        } else {
            cx.p.info().total_ram / 2
        };
        let blocks = limit / 4096;
        let used = self.fs.budget.used().div_ceil(4096);
        StatFs {
            magic: TMPFS_MAGIC,
            bsize: 4096,
            blocks,
            bfree: blocks.saturating_sub(used),
            files: blocks,
            ffree: blocks,
            fsid: self.fs.dev,
            flags: 0,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, _cx: &mut Cx<'_>, name: &[u8]) -> SysResult<NodeRef> {
        let d = self.dir()?.lock();
        d.get(name)
            .map(|n| n.clone() as NodeRef)
            .ok_or(Errno::ENOENT)
    }
    fn list(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        let d = self.dir()?.lock();
        Ok(d.iter()
            .map(|(name, n)| DirEntry {
                name: name.clone(),
                ino: n.ino,
                kind: n.kind(),
            })
            .collect())
    }
    fn readlink(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<u8>> {
        match &self.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }
    fn open(&self, _cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>> {
        match &self.body {
            Body::Dir(_) => open_dir(
                self.fs.ident(),
                self.ino,
                flags,
                Arc::new(NodeLister(self.arc()?)),
            ),
            Body::Symlink(_) => Err(Errno::ELOOP),
            Body::File(_) => Ok(Box::new(TmpFile { node: self.arc()? })),
        }
    }
    fn create(&self, cx: &mut Cx<'_>, name: &[u8], new: NewNode, mode: u32) -> SysResult<NodeRef> {
        let now = cx.now_real();
        let mut d = self.dir()?.lock();
        if d.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let (mode, body) = match new {
            NewNode::File => (
                S_IFREG | (mode & 0o7777),
                Body::File(Mutex::new(FileData::default())),
            ),
            NewNode::Dir => (
                S_IFDIR | (mode & 0o7777),
                Body::Dir(Mutex::new(BTreeMap::new())),
            ),
            NewNode::Symlink(t) => (S_IFLNK | 0o777, Body::Symlink(t)),
        };
        let node = TmpNode::new(&self.fs, mode, body, now);
        if node.is_dir() {
            self.add_links(1);
        }
        d.insert(name.to_vec(), node.clone());
        drop(d);
        self.modified(now);
        Ok(node)
    }
    fn unlink(&self, cx: &mut Cx<'_>, name: &[u8], dir: bool) -> SysResult<()> {
        let now = cx.now_real();
        let mut d = self.dir()?.lock();
        let child = d.get(name).ok_or(Errno::ENOENT)?.clone();
        if dir {
            if !child.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if !child.is_empty_dir() {
                return Err(Errno::ENOTEMPTY);
            }
        } else if child.is_dir() {
            return Err(Errno::EISDIR);
        }
        d.remove(name);
        drop(d);
        if child.is_dir() {
            self.add_links(-1);
            child.meta.lock().nlink = 0;
        } else {
            child.add_links(-1);
        }
        child.meta.lock().ctime = now;
        self.modified(now);
        Ok(())
    }
    fn link(&self, cx: &mut Cx<'_>, name: &[u8], target: &NodeRef) -> SysResult<()> {
        let now = cx.now_real();
        let t = downcast(target).ok_or(Errno::EXDEV)?;
        if t.is_dir() {
            return Err(Errno::EPERM);
        }
        let t = t.arc()?;
        let mut d = self.dir()?.lock();
        if d.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        d.insert(name.to_vec(), t.clone());
        drop(d);
        t.add_links(1);
        t.meta.lock().ctime = now;
        self.modified(now);
        Ok(())
    }
    fn rename(
        &self,
        cx: &mut Cx<'_>,
        name: &[u8],
        to_dir: &NodeRef,
        to_name: &[u8],
        flags: u32,
    ) -> SysResult<()> {
        let now = cx.now_real();
        let to = downcast(to_dir).ok_or(Errno::EXDEV)?;
        let same_dir = core::ptr::eq(self, to);
        let src = self.dir()?.lock().get(name).cloned().ok_or(Errno::ENOENT)?;
        let dst = to.dir()?.lock().get(to_name).cloned();
        if flags & RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(Errno::ENOENT)?;
            self.dir()?.lock().insert(name.to_vec(), dst.clone());
            to.dir()?.lock().insert(to_name.to_vec(), src.clone());
            if !same_dir && src.is_dir() != dst.is_dir() {
                let delta = if src.is_dir() { 1 } else { -1 };
                to.add_links(delta);
                self.add_links(-delta);
            }
            src.meta.lock().ctime = now;
            dst.meta.lock().ctime = now;
            self.modified(now);
            to.modified(now);
            return Ok(());
        }
        if let Some(dst) = &dst {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            if Arc::ptr_eq(dst, &src) {
                return Ok(());
            }
            match (src.is_dir(), dst.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !dst.is_empty_dir() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        self.dir()?.lock().remove(name);
        let replaced = to.dir()?.lock().insert(to_name.to_vec(), src.clone());
        if let Some(old) = replaced {
            if old.is_dir() {
                old.meta.lock().nlink = 0;
                to.add_links(-1);
            } else {
                old.add_links(-1);
            }
            old.meta.lock().ctime = now;
        }
        if src.is_dir() && !same_dir {
            self.add_links(-1);
            to.add_links(1);
        }
        src.meta.lock().ctime = now;
        self.modified(now);
        to.modified(now);
        Ok(())
    }
    fn set_attr(&self, cx: &mut Cx<'_>, a: SetAttr) -> SysResult<()> {
        let now = cx.now_real();
        let mut m = self.meta.lock();
        if let Some(mode) = a.mode {
            m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
        }
        if let Some(uid) = a.uid {
            m.uid = uid;
        }
        if let Some(gid) = a.gid {
            m.gid = gid;
        }
        if let Some(t) = a.atime {
            m.atime = t;
        }
        if let Some(t) = a.mtime {
            m.mtime = t;
        }
        m.ctime = now;
        Ok(())
    }
    fn truncate(&self, cx: &mut Cx<'_>, len: u64) -> SysResult<()> {
        let now = cx.now_real();
        self.set_len(len, now)
    }
}

/// An open regular file of a tmpfs.
pub struct TmpFile {
    node: Arc<TmpNode>,
}

impl TmpFile {
    /// The file's data; `open` only makes a TmpFile for files.
    fn data(&self) -> SysResult<&Mutex<FileData>> {
        match &self.node.body {
            Body::File(d) => Ok(d),
            _ => Err(Errno::EINVAL),
        }
    }

    fn memory(&self) -> Memory<'_> {
        self.node.fs.memory()
    }
}

impl FileObject for TmpFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.node.make_stat())
    }
    fn read(&self, cx: &mut Cx<'_>, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let n = self.data()?.lock().read(self.memory(), off, buf);
        self.node.meta.lock().atime = cx.now_real();
        Ok(n)
    }
    fn write(&self, cx: &mut Cx<'_>, off: u64, data: &[u8]) -> SysResult<usize> {
        let now = cx.now_real();
        let n = self.data()?.lock().write(self.memory(), off, data)?;
        self.node.modified(now);
        Ok(n)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        Events::ALWAYS
    }
    fn truncate(&self, cx: &mut Cx<'_>, len: u64) -> SysResult<()> {
        let now = cx.now_real();
        self.node.set_len(len, now)
    }
    fn allocate(&self, cx: &mut Cx<'_>, off: u64, len: u64, keep_size: bool) -> SysResult<()> {
        let now = cx.now_real();
        self.data()?
            .lock()
            .allocate(self.memory(), off, len, keep_size)?;
        if !keep_size {
            self.node.modified(now);
        }
        Ok(())
    }
    fn punch_hole(&self, cx: &mut Cx<'_>, off: u64, len: u64) -> SysResult<()> {
        let now = cx.now_real();
        self.data()?.lock().punch_hole(self.memory(), off, len);
        self.node.modified(now);
        Ok(())
    }
    fn seek_data(&self, _cx: &mut Cx<'_>, off: u64, _size: u64, data: bool) -> SysResult<u64> {
        self.data()?.lock().seek(off, data)
    }
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }
    fn mmap(
        &self,
        _cx: &mut Cx<'_>,
        _off: u64,
        _len: u64,
        shared_write: bool,
    ) -> SysResult<PageSource> {
        if shared_write {
            return Err(Errno::ENODEV);
        }
        // A private copy, made page by page through read(): holes stay
        // unbacked until touched (they read as zeros either way).
        Ok(PageSource::Read)
    }
    fn statfs(&self) -> StatFs {
        self.node.fs.ident().statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
