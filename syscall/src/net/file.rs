//! Sockets as open files: a [`Socket`] behind the [`FileObject`] trait, so
//! that read/write/readv/writev, poll, epoll, fstat, ioctl and
//! /proc/self/fd work on them as on any file.

use super::{MsgFlags, Net, PollMask, ReadyKey, Socket};
use crate::vfs::FileRef;
use crate::vfs::{Cx, Events, FileObject, Reply, Request};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat, StatFs, S_IFSOCK};

/// `SOCKFS_MAGIC`, what `fstatfs` on a socket reports.
pub const SOCKFS_MAGIC: u64 = 0x534f_434b;

/// An open socket.
pub struct SocketFile {
    pub sock: Socket,
    net: Net,
    /// The protocol number `socket(2)` was given (SO_PROTOCOL).
    pub protocol: u32,
    /// `listen` succeeded (SO_ACCEPTCONN).
    pub listening: AtomicBool,
    /// SO_RCVTIMEO and SO_SNDTIMEO in ns (0: none).
    rcvtimeo: AtomicU64,
    sndtimeo: AtomicU64,
    /// Options accepted without effect, kept so that getsockopt returns
    /// what setsockopt stored: `(level, name) -> int value`.
    pub extra: spin::Mutex<Vec<((u32, u32), i32)>>,
}

impl SocketFile {
    pub fn new(net: &Net, sock: Socket, protocol: u32) -> SocketFile {
        SocketFile {
            sock,
            net: net.clone(),
            protocol,
            listening: AtomicBool::new(false),
            rcvtimeo: AtomicU64::new(0),
            sndtimeo: AtomicU64::new(0),
            extra: spin::Mutex::new(Vec::new()),
        }
    }

    /// The socket behind a description, if it is one.
    pub fn of(f: &FileRef) -> Option<&SocketFile> {
        f.obj.as_any().downcast_ref::<SocketFile>()
    }

    /// The receive (`read`) or send timeout, if set.
    pub fn timeout(&self, read: bool) -> Option<u64> {
        let t = if read { &self.rcvtimeo } else { &self.sndtimeo };
        match t.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    pub fn set_timeout(&self, read: bool, ns: u64) {
        let t = if read { &self.rcvtimeo } else { &self.sndtimeo };
        t.store(ns, Ordering::Relaxed)
    }

    pub fn key(&self) -> ReadyKey {
        self.sock.key()
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Observers (epoll interests) of the socket let go of it.
        self.net.notify(self.key());
    }
}

/// A socket's poll mask as file readiness (the bits are Linux's in both).
pub fn events(m: PollMask) -> Events {
    Events::from_bits_truncate(m.bits() as u16)
}

impl FileObject for SocketFile {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(Stat {
            dev: makedev(0, 8),
            ino: self.key().0 as u64,
            nlink: 1,
            mode: S_IFSOCK | 0o777,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.sock.recv(buf, MsgFlags::empty()).map(|r| r.len)
    }
    fn read_size(&self, want: usize) -> usize {
        self.sock.recv_size(want)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, data: &[u8]) -> SysResult<usize> {
        self.sock.send(data, MsgFlags::empty(), None)
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        events(self.sock.poll())
    }
    fn wake_keys(&self, out: &mut Vec<ReadyKey>) -> bool {
        out.push(self.key());
        true
    }
    fn ioctl(&self, _cx: &mut Cx<'_>, req: Request) -> SysResult<Reply> {
        match req {
            Request::ReadableBytes => {
                if self.listening.load(Ordering::Relaxed) {
                    return Err(Errno::EINVAL);
                }
                let n = self.sock.readable_bytes().min(i32::MAX as usize) as u32;
                Ok(Reply::Int(n))
            }
            // Bytes not yet acknowledged are not tracked: report none.
            Request::UnsentBytes => Ok(Reply::Int(0)),
            _ => Err(Errno::ENOTTY),
        }
    }
    fn allocate(&self, _cx: &mut Cx<'_>, _off: u64, _len: u64, _keep: bool) -> SysResult<()> {
        Err(Errno::ESPIPE)
    }
    fn statfs(&self) -> StatFs {
        StatFs {
            magic: SOCKFS_MAGIC,
            bsize: 4096,
            ..Default::default()
        }
    }
    fn name(&self) -> Option<String> {
        Some(format!("socket:[{}]", self.key().0))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
