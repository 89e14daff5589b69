//! The image's file system, mounted read-only at `/`: nodes are index
//! entries; file data is read on demand through the block cache.

use super::dir::{open_dir, FsIdent, NodeLister};
use super::file::{Cx, FileObject, PageSource};
use super::node::{DirEntry, Node, NodeKind, NodeRef};
use crate::imagefs::ImageFs;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::fcntl::O_ACCMODE;
use kiln_abi::stat::{makedev, Stat, StatFs, SQUASHFS_MAGIC, ST_RDONLY, S_IFDIR, S_IFLNK, S_IFREG};
use kiln_image::EntryKind;

/// File system id of the image.
pub const IMAGE_FS_ID: u32 = 1;
const DEV: u64 = makedev(8, 1);

/// One entry of the image.
pub struct ImageNode {
    pub fs: Arc<ImageFs>,
    pub id: u32,
}

impl ImageNode {
    /// The root directory of the image.
    pub fn root(fs: Arc<ImageFs>) -> NodeRef {
        Arc::new(ImageNode {
            fs,
            id: kiln_image::fs::ROOT,
        })
    }
    fn entry(&self) -> SysResult<kiln_image::Entry> {
        self.fs.index.entry(self.id).copied().ok_or(Errno::EIO)
    }
    fn ident() -> FsIdent {
        FsIdent {
            id: IMAGE_FS_ID,
            dev: DEV,
            magic: SQUASHFS_MAGIC,
        }
    }
}

fn kind_of(k: EntryKind) -> NodeKind {
    match k {
        EntryKind::File => NodeKind::File,
        EntryKind::Dir => NodeKind::Dir,
        EntryKind::Symlink => NodeKind::Symlink,
    }
}

/// The stat of an image entry.
pub fn image_stat(fs: &ImageFs, id: u32) -> SysResult<Stat> {
    let e = fs.index.entry(id).ok_or(Errno::EIO)?;
    let (kind, nlink) = match e.kind {
        EntryKind::File => (S_IFREG, 1),
        EntryKind::Dir => (S_IFDIR, 2),
        EntryKind::Symlink => (S_IFLNK, 1),
    };
    let t = e.mtime.saturating_mul(1_000_000_000);
    Ok(Stat {
        dev: DEV,
        ino: id as u64 + 2,
        nlink,
        mode: kind | (e.mode & 0o7777),
        size: e.size,
        blksize: 4096,
        blocks: e.size.div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
        ..Default::default()
    })
}

impl Node for ImageNode {
    fn kind(&self) -> NodeKind {
        self.entry()
            .map(|e| kind_of(e.kind))
            .unwrap_or(NodeKind::File)
    }
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        image_stat(&self.fs, self.id)
    }
    fn fs_id(&self) -> u32 {
        IMAGE_FS_ID
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        let h = &self.fs.header;
        StatFs {
            magic: SQUASHFS_MAGIC,
            bsize: 4096,
            blocks: h.fs_data.len / 4096,
            bfree: 0,
            files: self.fs.index.len() as u64,
            ffree: 0,
            fsid: DEV,
            flags: ST_RDONLY,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn read_only(&self) -> bool {
        true
    }
    fn lookup(&self, _cx: &mut Cx<'_>, name: &[u8]) -> SysResult<NodeRef> {
        if self.entry()?.kind != EntryKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let id = self
            .fs
            .index
            .lookup_child(self.id, name)
            .ok_or(Errno::ENOENT)?;
        Ok(Arc::new(ImageNode {
            fs: self.fs.clone(),
            id,
        }))
    }
    fn list(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        if self.entry()?.kind != EntryKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(self
            .fs
            .index
            .children(self.id)
            .map(|c| DirEntry {
                name: self.fs.index.name(c).to_vec(),
                ino: c as u64 + 2,
                kind: self
                    .fs
                    .index
                    .entry(c)
                    .map(|e| kind_of(e.kind))
                    .unwrap_or(NodeKind::File),
            })
            .collect())
    }
    fn readlink(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<u8>> {
        self.fs
            .index
            .symlink_target(self.id)
            .map(<[u8]>::to_vec)
            .ok_or(Errno::EINVAL)
    }
    fn open(&self, _cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>> {
        match self.entry()?.kind {
            EntryKind::Dir => open_dir(
                Self::ident(),
                self.id as u64 + 2,
                flags,
                Arc::new(NodeLister(Arc::new(ImageNode {
                    fs: self.fs.clone(),
                    id: self.id,
                }))),
            ),
            EntryKind::Symlink => Err(Errno::ELOOP),
            EntryKind::File => {
                if flags & O_ACCMODE != 0 {
                    return Err(Errno::EROFS);
                }
                Ok(Box::new(ImageFile {
                    fs: self.fs.clone(),
                    id: self.id,
                }))
            }
        }
    }
}

/// An open regular file of the image.
pub struct ImageFile {
    fs: Arc<ImageFs>,
    id: u32,
}

impl FileObject for ImageFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        image_stat(&self.fs, self.id)
    }
    fn read(&self, cx: &mut Cx<'_>, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.fs.read_file(cx.p.block(), self.id, off, buf)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, _data: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn truncate(&self, _cx: &mut Cx<'_>, _len: u64) -> SysResult<()> {
        Err(Errno::EROFS)
    }
    fn allocate(&self, _cx: &mut Cx<'_>, _off: u64, _len: u64, _keep: bool) -> SysResult<()> {
        Err(Errno::EBADF)
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
    ) -> SysResult<PageSource> {
        if shared_write {
            return Err(Errno::EACCES);
        }
        let e = self.fs.index.entry(self.id).ok_or(Errno::EIO)?;
        Ok(PageSource::Image {
            image_offset: e.data.saturating_add(off),
            file_bytes: e.size.saturating_sub(off),
            file: self.id,
        })
    }
    fn statfs(&self) -> StatFs {
        ImageNode::ident().statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
