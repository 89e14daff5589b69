//! Nodes of a file system: what path resolution walks and what `open`
//! turns into a file object. Directory operations (create, unlink, rename,
//! link) live here too; a read-only file system answers them with EROFS.

use super::file::{Cx, FileObject};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{Stat, StatFs};

/// A shared reference to a node.
pub type NodeRef = Arc<dyn Node>;

/// The type of a node (the `S_IFMT` part of its mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    CharDev,
    Fifo,
    Socket,
}

impl NodeKind {
    /// The `d_type` of getdents64.
    pub fn dirent_type(self) -> u8 {
        match self {
            NodeKind::Fifo => 1,
            NodeKind::CharDev => 2,
            NodeKind::Dir => 4,
            NodeKind::File => 8,
            NodeKind::Symlink => 10,
            NodeKind::Socket => 12,
        }
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: NodeKind,
}

/// A change of attributes (chmod, chown, utimensat, truncate). `None`
/// leaves a field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits (`0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Access and modification times (ns since the epoch).
    pub atime: Option<u64>,
    pub mtime: Option<u64>,
}

/// What a directory operation creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewNode {
    File,
    Dir,
    Symlink(Vec<u8>),
}

/// A file, directory, symlink or device of some file system.
///
/// Every method has a default that gives the errno Linux gives for a node
/// that cannot do it, so a file system implements only what it has.
pub trait Node: Send + Sync {
    /// File type.
    fn kind(&self) -> NodeKind;
    /// Attributes.
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat>;
    /// Which file system instance this node belongs to (rename and link
    /// across instances are EXDEV).
    fn fs_id(&self) -> u32;
    /// The file system's `statfs`.
    fn statfs(&self, cx: &mut Cx<'_>) -> StatFs;
    /// For downcasting inside a file system (rename, link).
    fn as_any(&self) -> &dyn Any;

    /// Whether the file system is mounted read-only (writes give EROFS).
    fn read_only(&self) -> bool {
        false
    }
    /// A child of a directory.
    fn lookup(&self, _cx: &mut Cx<'_>, _name: &[u8]) -> SysResult<NodeRef> {
        Err(Errno::ENOTDIR)
    }
    /// The children of a directory, without "." and "..".
    fn list(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }
    /// The target of a symlink.
    fn readlink(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }
    /// Where a "magic" link of /proc jumps when followed (Linux's
    /// `/proc/self/fd/N` reopen the very file): a node and the path it
    /// should be known by. `None`: follow the text of `readlink`.
    fn jump(&self, _cx: &mut Cx<'_>) -> Option<SysResult<super::Location>> {
        None
    }
    /// Open the node. `flags` are the open flags (access mode and status).
    fn open(&self, cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>>;
    /// Create `name` in this directory.
    fn create(
        &self,
        _cx: &mut Cx<'_>,
        _name: &[u8],
        _new: NewNode,
        _mode: u32,
    ) -> SysResult<NodeRef> {
        Err(self.denied())
    }
    /// Remove `name` from this directory: a directory (rmdir) when `dir`,
    /// anything else otherwise (unlink).
    fn unlink(&self, _cx: &mut Cx<'_>, _name: &[u8], _dir: bool) -> SysResult<()> {
        Err(self.denied())
    }
    /// Add a hard link `name` to `target` in this directory.
    fn link(&self, _cx: &mut Cx<'_>, _name: &[u8], _target: &NodeRef) -> SysResult<()> {
        Err(self.denied())
    }
    /// Move `name` of this directory to `to_name` in `to_dir` (same file
    /// system). `flags` are renameat2's.
    fn rename(
        &self,
        _cx: &mut Cx<'_>,
        _name: &[u8],
        _to_dir: &NodeRef,
        _to_name: &[u8],
        _flags: u32,
    ) -> SysResult<()> {
        Err(self.denied())
    }
    /// Change attributes.
    fn set_attr(&self, _cx: &mut Cx<'_>, _attr: SetAttr) -> SysResult<()> {
        Err(self.denied())
    }
    /// Change the size of a regular file.
    fn truncate(&self, _cx: &mut Cx<'_>, _len: u64) -> SysResult<()> {
        Err(match self.kind() {
            NodeKind::Dir => Errno::EISDIR,
            NodeKind::File => self.denied(),
            _ => Errno::EINVAL,
        })
    }
    /// The errno of a modification this file system refuses.
    fn denied(&self) -> Errno {
        if self.read_only() {
            Errno::EROFS
        } else {
            Errno::EPERM
        }
    }
}
