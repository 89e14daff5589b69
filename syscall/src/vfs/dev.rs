//! `/dev`: null, zero, full, random, urandom, tty, console, the
//! stdin/stdout/stderr and fd links, and the console object that fds 0-2
//! start on.

use super::dir::{FsIdent, Link, StaticDir};
use super::file::{Cx, Events, FileObject, PageSource, Reply, Request};
use super::node::{Node, NodeKind, NodeRef};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::ioctl::Termios;
use kiln_abi::stat::{makedev, Stat, StatFs, S_IFCHR, TMPFS_MAGIC};
use kiln_abi::WaitFor;
use spin::Mutex;

/// File system id of /dev.
pub const DEV_FS_ID: u32 = 2;
const IDENT: FsIdent = FsIdent {
    id: DEV_FS_ID,
    dev: makedev(0, 5),
    magic: TMPFS_MAGIC,
};

/// The character devices of /dev.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
}

impl Device {
    fn rdev(self) -> u64 {
        match self {
            Device::Null => makedev(1, 3),
            Device::Zero => makedev(1, 5),
            Device::Full => makedev(1, 7),
            Device::Random => makedev(1, 8),
            Device::Urandom => makedev(1, 9),
        }
    }
    fn stat(self, ino: u64) -> Stat {
        Stat {
            rdev: self.rdev(),
            ..IDENT.stat(ino, S_IFCHR | 0o666, 0)
        }
    }
}

/// A device node.
struct DevNode {
    ino: u64,
    dev: Option<Device>,
    console: Arc<Mutex<Termios>>,
}

impl Node for DevNode {
    fn kind(&self) -> NodeKind {
        NodeKind::CharDev
    }
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(match self.dev {
            Some(d) => d.stat(self.ino),
            None => console_stat(cx.now_real()),
        })
    }
    fn fs_id(&self) -> u32 {
        DEV_FS_ID
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        IDENT.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn open(&self, _cx: &mut Cx<'_>, _flags: u32) -> SysResult<Box<dyn FileObject>> {
        Ok(match self.dev {
            Some(dev) => Box::new(DevFile { dev, ino: self.ino }),
            None => Box::new(Console {
                termios: self.console.clone(),
            }),
        })
    }
    fn truncate(&self, _cx: &mut Cx<'_>, _len: u64) -> SysResult<()> {
        // O_TRUNC and truncate on a device do nothing (Linux).
        Ok(())
    }
}

/// The /dev directory. `termios` is the console's, shared with fds 0-2.
pub fn devfs(termios: Arc<Mutex<Termios>>) -> NodeRef {
    let dev = |ino, d| -> NodeRef {
        Arc::new(DevNode {
            ino,
            dev: d,
            console: termios.clone(),
        })
    };
    let link = |ino, target: fn(&mut Cx<'_>) -> Vec<u8>| -> NodeRef {
        Arc::new(Link {
            fs: IDENT,
            ino,
            target,
        })
    };
    Arc::new(StaticDir {
        fs: IDENT,
        ino: 1,
        children: alloc::vec![
            ("console", dev(2, None)),
            ("fd", link(3, |_| b"/proc/self/fd".to_vec())),
            ("full", dev(4, Some(Device::Full))),
            ("null", dev(5, Some(Device::Null))),
            ("random", dev(6, Some(Device::Random))),
            ("stderr", link(7, |_| b"/proc/self/fd/2".to_vec())),
            ("stdin", link(8, |_| b"/proc/self/fd/0".to_vec())),
            ("stdout", link(9, |_| b"/proc/self/fd/1".to_vec())),
            ("tty", dev(10, None)),
            ("urandom", dev(11, Some(Device::Urandom))),
            ("zero", dev(12, Some(Device::Zero))),
        ],
    })
}

/// An open device of /dev.
struct DevFile {
    dev: Device,
    ino: u64,
}

impl FileObject for DevFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(self.dev.stat(self.ino))
    }
    fn read(&self, cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        match self.dev {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random | Device::Urandom => {
                cx.p.random().fill(buf);
                Ok(buf.len())
            }
        }
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, data: &[u8]) -> SysResult<usize> {
        match self.dev {
            Device::Full => Err(Errno::ENOSPC),
            _ => Ok(data.len()),
        }
    }
    fn seekable(&self) -> bool {
        true
    }
    fn sync(&self) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    fn mmap(
        &self,
        _cx: &mut Cx<'_>,
        _off: u64,
        _len: u64,
        _shared_write: bool,
    ) -> SysResult<PageSource> {
        match self.dev {
            Device::Zero => Ok(PageSource::Copy(Vec::new())),
            _ => Err(Errno::ENODEV),
        }
    }
    fn statfs(&self) -> StatFs {
        IDENT.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The console as a tty: /dev/pts/0 (char device 136:0), mode 0620.
pub fn console_stat(now: u64) -> Stat {
    Stat {
        dev: 0x16,
        ino: 3,
        nlink: 1,
        mode: S_IFCHR | 0o620,
        rdev: 136 << 8,
        blksize: 1024,
        atime: now,
        mtime: now,
        ctime: now,
        ..Default::default()
    }
}

/// The console: standard input and output of the program, a terminal.
pub struct Console {
    pub termios: Arc<Mutex<Termios>>,
}

impl FileObject for Console {
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(console_stat(cx.now_real()))
    }
    fn read(&self, cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match cx.p.console().read(buf) {
            0 => Err(Errno::EAGAIN),
            n => Ok(n),
        }
    }
    fn write(&self, cx: &mut Cx<'_>, _off: u64, data: &[u8]) -> SysResult<usize> {
        cx.p.console().write(data);
        Ok(data.len())
    }
    fn poll(&self, cx: &mut Cx<'_>) -> Events {
        let mut e = Events::OUT | Events::WRNORM;
        if cx.p.console().input_ready() {
            e |= Events::IN | Events::RDNORM;
        }
        e
    }
    fn wait_for(&self) -> WaitFor {
        WaitFor::ConsoleInput
    }
    fn ioctl(&self, cx: &mut Cx<'_>, req: Request) -> SysResult<Reply> {
        match req {
            Request::GetTermios => Ok(Reply::Termios(*self.termios.lock())),
            Request::SetTermios(t) => {
                *self.termios.lock() = t;
                Ok(Reply::Done)
            }
            Request::WindowSize => {
                let (rows, cols) = cx.p.console().window_size();
                Ok(Reply::WindowSize { rows, cols })
            }
            _ => Err(Errno::ENOTTY),
        }
    }
    fn sync(&self) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    fn statfs(&self) -> StatFs {
        StatFs {
            magic: 0x1cd1, // DEVPTS_SUPER_MAGIC
            bsize: 4096,
            ..Default::default()
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
