//! Open files: the [`FileObject`] trait every kind of open file implements
//! (regular files, directories, devices, pipes, the console; sockets,
//! eventfd and epoll later), and the open file description
//! ([`Description`]) that descriptors share.

use super::facts::ProcessFacts;
use super::node::{DirEntry, NodeRef};
use super::path::Location;
use crate::platform::Platform;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::fcntl::{O_ACCMODE, O_NONBLOCK, O_PATH, O_RDWR, O_WRONLY};
use kiln_abi::ioctl::Termios;
use kiln_abi::stat::{Stat, StatFs};
use kiln_abi::WaitFor;

/// What file operations may use: the machine (time, console, wake-ups) and
/// read-only facts about the program, for /proc. Made afresh for each
/// operation (the syscall layer's `Call::cx`).
pub struct Cx<'a> {
    pub p: &'a mut dyn Platform,
    pub facts: &'a dyn ProcessFacts,
}

/// A shared open file description, as descriptors hold it.
pub type FileRef = alloc::sync::Arc<Description>;

/// A device request that a file object answers (`ioctl(2)`), decoded by
/// the syscall layer, which also copies the argument in and the answer out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// FIONREAD / SIOCINQ: bytes ready to be read.
    ReadableBytes,
    /// SIOCOUTQ: bytes written and not yet sent.
    UnsentBytes,
    /// TCGETS: the terminal settings.
    GetTermios,
    /// TCSETS, TCSETSW, TCSETSF: new terminal settings.
    SetTermios(Termios),
    /// TIOCGWINSZ: the terminal's size.
    WindowSize,
}

/// The answer to a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done; nothing to copy out.
    Done,
    /// A C `int` for the program.
    Int(u32),
    /// Terminal settings for the program.
    Termios(Termios),
    /// Rows and columns.
    WindowSize { rows: u16, cols: u16 },
}

impl Cx<'_> {
    /// Wall-clock time now (ns since the epoch), for timestamps.
    pub fn now_real(&self) -> u64 {
        self.p.clock().realtime_ns()
    }
}

bitflags::bitflags! {
    /// Readiness of a file object: the `POLL*` bits (the same values as
    /// `EPOLL*` for these).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Events: u16 {
        const IN = 0x001;
        const PRI = 0x002;
        const OUT = 0x004;
        const ERR = 0x008;
        const HUP = 0x010;
        const NVAL = 0x020;
        const RDNORM = 0x040;
        const RDBAND = 0x080;
        const WRNORM = 0x100;
        const WRBAND = 0x200;
        const RDHUP = 0x2000;
    }
}

impl Events {
    /// Readable and writable, as regular files always are.
    pub const ALWAYS: Events = Events::IN
        .union(Events::RDNORM)
        .union(Events::OUT)
        .union(Events::WRNORM);
}

/// Where the pages of a file mapping come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageSource {
    /// Bytes of the image, read on demand: `file_bytes` bytes from image
    /// offset `image_offset`, zeros after; `file` is the image entry.
    Image {
        image_offset: u64,
        file_bytes: u64,
        file: u32,
    },
    /// A private copy of these bytes (then zeros), made at mmap time.
    Copy(Vec<u8>),
    /// A private copy made at mmap time by reading the file page by page
    /// (pages that read as zeros are left to demand paging).
    Read,
}

/// An open file of any kind. Methods take `&self`: objects that change
/// (pipes, tmpfs files, sockets) keep their state behind a lock, so that
/// one object can be shared by dup'ed descriptors.
///
/// Streams (pipes, console, sockets) ignore `off`; the caller keeps the
/// position of seekable objects in the [`Description`].
pub trait FileObject: Send + Sync {
    /// Attributes (`fstat`).
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat>;
    /// Read at `off` (ignored by streams). `Ok(0)` is the end of the file;
    /// `Err(EAGAIN)` means "nothing now": the caller blocks or, with
    /// O_NONBLOCK, returns EAGAIN.
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    /// How large a buffer a read of `want` bytes needs now (at least 1
    /// when `want` is): a stream that knows what it holds saves the caller
    /// from clearing a buffer the size of the request.
    fn read_size(&self, want: usize) -> usize {
        want
    }
    /// Write at `off` (ignored by streams); `Err(EAGAIN)` as for read.
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, _data: &[u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    /// Whether the object has a position (lseek, pread and pwrite work).
    fn seekable(&self) -> bool {
        false
    }
    /// The listing of a directory.
    fn readdir(&self, _cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }
    /// Current readiness (all bits; poll masks them).
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        Events::ALWAYS
    }
    /// What a blocked read or write waits for.
    fn wait_for(&self) -> WaitFor {
        WaitFor::Event { deadline: None }
    }
    /// The readiness keys whose change announces a change of this object's
    /// readiness (see [`crate::ready`]): push them and return `true`.
    /// `false` (the default) when the object has no keys: waiters then
    /// wake on any event.
    fn wake_keys(&self, _out: &mut Vec<crate::ready::ReadyKey>) -> bool {
        false
    }
    /// Device-specific requests; generic ones (FIONBIO, FIOCLEX) are
    /// handled before this is called. ENOTTY for what the object does not
    /// know.
    fn ioctl(&self, _cx: &mut Cx<'_>, _req: Request) -> SysResult<Reply> {
        Err(Errno::ENOTTY)
    }
    /// Change the size (ftruncate).
    fn truncate(&self, _cx: &mut Cx<'_>, _len: u64) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    /// Reserve space (fallocate mode 0 / KEEP_SIZE).
    fn allocate(&self, _cx: &mut Cx<'_>, _off: u64, _len: u64, _keep_size: bool) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Deallocate `[off, off + len)`, keeping the size (fallocate
    /// PUNCH_HOLE | KEEP_SIZE): it reads as zeros after.
    fn punch_hole(&self, _cx: &mut Cx<'_>, _off: u64, _len: u64) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// lseek's SEEK_DATA (`data`) or SEEK_HOLE from `off`, which is below
    /// `size`. The default is a file without holes: data everywhere, the
    /// one hole at the end.
    fn seek_data(&self, _cx: &mut Cx<'_>, off: u64, size: u64, data: bool) -> SysResult<u64> {
        Ok(if data { off } else { size })
    }
    /// fsync/fdatasync.
    fn sync(&self) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    /// The pages of a mapping of `len` bytes from `off`. `shared_write`:
    /// MAP_SHARED with PROT_WRITE.
    fn mmap(
        &self,
        _cx: &mut Cx<'_>,
        _off: u64,
        _len: u64,
        _shared_write: bool,
    ) -> SysResult<PageSource> {
        Err(Errno::ENODEV)
    }
    /// `statfs` of objects that have no node (pipes, sockets).
    fn statfs(&self) -> StatFs {
        StatFs::default()
    }
    /// The name /proc/self/fd shows for objects without a path, such as
    /// "pipe:[3]" or "socket:[7]".
    fn name(&self) -> Option<String> {
        None
    }
    /// For downcasting (F_GETPIPE_SZ, epoll).
    fn as_any(&self) -> &dyn Any;
}

/// An open file description: the object, its position and status flags
/// (shared by every descriptor dup'ed from it), and where it was opened.
pub struct Description {
    pub obj: alloc::boxed::Box<dyn FileObject>,
    /// The node it was opened from, if any (fchdir, fchmod, *at calls).
    pub node: Option<NodeRef>,
    /// The path it was opened by, if any (/proc/self/fd, dirfd).
    pub loc: Option<Location>,
    pos: AtomicU64,
    flags: AtomicU32,
}

impl Description {
    pub fn new(
        obj: alloc::boxed::Box<dyn FileObject>,
        flags: u32,
        node: Option<NodeRef>,
        loc: Option<Location>,
    ) -> Description {
        Description {
            obj,
            node,
            loc,
            pos: AtomicU64::new(0),
            flags: AtomicU32::new(flags),
        }
    }
    pub fn pos(&self) -> u64 {
        self.pos.load(Ordering::Relaxed)
    }
    pub fn set_pos(&self, pos: u64) {
        self.pos.store(pos, Ordering::Relaxed)
    }
    /// Access mode and status flags (`O_*`).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }
    pub fn set_flags(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed)
    }
    pub fn readable(&self) -> bool {
        self.flags() & O_ACCMODE != O_WRONLY && !self.is_path()
    }
    pub fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR) && !self.is_path()
    }
    /// Opened with O_PATH: only a location, no I/O.
    pub fn is_path(&self) -> bool {
        self.flags() & O_PATH != 0
    }
    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }
    /// The text of /proc/self/fd/N for this description.
    pub fn proc_name(&self) -> String {
        if let Some(n) = self.obj.name() {
            return n;
        }
        match &self.loc {
            Some(l) => l.path_string(),
            None => String::from("anon_inode:[unknown]"),
        }
    }
}
