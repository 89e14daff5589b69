//! Building blocks shared by the synthetic file systems: a fixed directory
//! ([`StaticDir`]), a symlink ([`Link`]), an open directory ([`DirFile`])
//! and a read-only snapshot of bytes ([`DataFile`]).

use super::file::{Cx, Events, FileObject};
use super::node::{DirEntry, Node, NodeKind, NodeRef};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::fcntl::O_ACCMODE;
use kiln_abi::stat::{Stat, StatFs, S_IFDIR, S_IFLNK, S_IFREG};

/// Identity of a synthetic file system: fs id, device number and statfs.
#[derive(Clone, Copy, Debug)]
pub struct FsIdent {
    pub id: u32,
    pub dev: u64,
    pub magic: u64,
}

impl FsIdent {
    pub fn statfs(&self) -> StatFs {
        StatFs {
            magic: self.magic,
            bsize: 4096,
            fsid: self.dev,
            ..Default::default()
        }
    }
    /// A stat with this file system's device and the time of boot.
    pub fn stat(&self, ino: u64, mode: u32, size: u64) -> Stat {
        Stat {
            dev: self.dev,
            ino,
            nlink: if mode & S_IFDIR != 0 { 2 } else { 1 },
            mode,
            size,
            blksize: 4096,
            ..Default::default()
        }
    }
}

/// A directory whose children are fixed at boot.
pub struct StaticDir {
    pub fs: FsIdent,
    pub ino: u64,
    pub children: Vec<(&'static str, NodeRef)>,
}

impl Node for StaticDir {
    fn kind(&self) -> NodeKind {
        NodeKind::Dir
    }
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.fs.stat(self.ino, S_IFDIR | 0o555, 0))
    }
    fn fs_id(&self) -> u32 {
        self.fs.id
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        self.fs.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, _cx: &mut Cx<'_>, name: &[u8]) -> SysResult<NodeRef> {
        self.children
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, c)| c.clone())
            .ok_or(Errno::ENOENT)
    }
    fn list(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        let mut out = Vec::new();
        for (n, c) in &self.children {
            out.push(DirEntry {
                name: n.as_bytes().to_vec(),
                ino: c.stat(cx).map(|s| s.ino).unwrap_or(0),
                kind: c.kind(),
            });
        }
        Ok(out)
    }
    fn open(&self, _cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>> {
        open_dir(
            self.fs,
            self.ino,
            flags,
            Arc::new(StaticList(self.children.clone())),
        )
    }
}

/// The children of a [`StaticDir`], kept by its open directory.
struct StaticList(Vec<(&'static str, NodeRef)>);

/// Check the access mode for a directory and make its file object.
pub fn open_dir(
    fs: FsIdent,
    ino: u64,
    flags: u32,
    lister: Arc<dyn Lister>,
) -> SysResult<Box<dyn FileObject>> {
    if flags & O_ACCMODE != 0 {
        return Err(Errno::EISDIR);
    }
    Ok(Box::new(DirFile { fs, ino, lister }))
}

/// Something that lists a directory's children.
pub trait Lister: Send + Sync {
    fn entries(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>>;
}

impl Lister for StaticList {
    fn entries(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        let mut out = Vec::new();
        for (n, c) in &self.0 {
            out.push(DirEntry {
                name: n.as_bytes().to_vec(),
                ino: c.stat(cx).map(|s| s.ino).unwrap_or(0),
                kind: c.kind(),
            });
        }
        Ok(out)
    }
}

/// Any node lists itself.
pub struct NodeLister(pub NodeRef);

impl Lister for NodeLister {
    fn entries(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        self.0.list(cx)
    }
}

/// An open directory: getdents reads its listing.
pub struct DirFile {
    fs: FsIdent,
    ino: u64,
    lister: Arc<dyn Lister>,
}

impl FileObject for DirFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.fs.stat(self.ino, S_IFDIR | 0o555, 0))
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, _data: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn readdir(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        self.lister.entries(cx)
    }
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }
    fn statfs(&self) -> StatFs {
        self.fs.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A symlink whose target is computed when it is read.
pub struct Link {
    pub fs: FsIdent,
    pub ino: u64,
    pub target: fn(&mut Cx<'_>) -> Vec<u8>,
}

impl Node for Link {
    fn kind(&self) -> NodeKind {
        NodeKind::Symlink
    }
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat> {
        let len = (self.target)(cx).len() as u64;
        Ok(self.fs.stat(self.ino, S_IFLNK | 0o777, len))
    }
    fn fs_id(&self) -> u32 {
        self.fs.id
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        self.fs.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn readlink(&self, cx: &mut Cx<'_>) -> SysResult<Vec<u8>> {
        Ok((self.target)(cx))
    }
    fn open(&self, _cx: &mut Cx<'_>, _flags: u32) -> SysResult<Box<dyn FileObject>> {
        Err(Errno::ELOOP)
    }
}

/// A read-only regular file whose bytes were taken when it was opened
/// (/proc files): reads see one consistent snapshot.
pub struct DataFile {
    pub data: Vec<u8>,
    pub stat: Stat,
}

impl FileObject for DataFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.stat)
    }
    fn read(&self, _cx: &mut Cx<'_>, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let Ok(off) = usize::try_from(off) else {
            return Ok(0);
        };
        let avail = self.data.get(off..).unwrap_or(&[]);
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        Ok(n)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, _data: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        Events::ALWAYS
    }
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }
    fn mmap(
        &self,
        _cx: &mut Cx<'_>,
        off: u64,
        _len: u64,
        shared_write: bool,
    ) -> SysResult<super::PageSource> {
        if shared_write {
            return Err(Errno::EACCES);
        }
        let off = usize::try_from(off).unwrap_or(usize::MAX);
        Ok(super::PageSource::Copy(
            self.data.get(off..).unwrap_or(&[]).to_vec(),
        ))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A regular file of a synthetic file system whose contents are produced
/// at open time.
pub struct GenFile {
    pub fs: FsIdent,
    pub ino: u64,
    pub mode: u32,
    pub gen: fn(&mut Cx<'_>) -> Vec<u8>,
}

impl Node for GenFile {
    fn kind(&self) -> NodeKind {
        NodeKind::File
    }
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.fs.stat(self.ino, S_IFREG | self.mode, 0))
    }
    fn fs_id(&self) -> u32 {
        self.fs.id
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        self.fs.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn open(&self, cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>> {
        if flags & O_ACCMODE != 0 {
            return Err(Errno::EACCES);
        }
        Ok(Box::new(DataFile {
            data: (self.gen)(cx),
            stat: self.fs.stat(self.ino, S_IFREG | self.mode, 0),
        }))
    }
}
