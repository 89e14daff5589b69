//! eventfd: a 64-bit counter as a file, with readiness on the bus.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::net::{Net, ReadyKey};
use crate::vfs::{Cx, Description, Events, FileObject};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat};

pub const EFD_SEMAPHORE: u32 = 1;
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
/// The largest value the counter holds.
const MAX: u64 = u64::MAX - 1;

/// An eventfd object.
pub struct EventFd {
    count: spin::Mutex<u64>,
    semaphore: bool,
    key: ReadyKey,
    net: Net,
}

impl EventFd {
    pub fn new(net: &Net, initval: u64, semaphore: bool) -> EventFd {
        EventFd {
            count: spin::Mutex::new(initval),
            semaphore,
            key: net.new_key(),
            net: net.clone(),
        }
    }
}

impl FileObject for EventFd {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(Stat {
            dev: makedev(0, 14),
            ino: self.key.0 as u64,
            nlink: 1,
            mode: 0o600,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut n = self.count.lock();
        if *n == 0 {
            return Err(Errno::EAGAIN);
        }
        let v = if self.semaphore { 1 } else { *n };
        *n -= v;
        drop(n);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.net.notify(self.key);
        Ok(8)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, data: &[u8]) -> SysResult<usize> {
        let Some(b) = data.first_chunk::<8>() else {
            return Err(Errno::EINVAL);
        };
        let v = u64::from_ne_bytes(*b);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut n = self.count.lock();
        if MAX - *n < v {
            return Err(Errno::EAGAIN);
        }
        *n += v;
        drop(n);
        if v > 0 {
            self.net.notify(self.key);
        }
        Ok(8)
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        let n = *self.count.lock();
        let mut e = Events::empty();
        if n > 0 {
            e |= Events::IN | Events::RDNORM;
        }
        if n < MAX {
            e |= Events::OUT | Events::WRNORM;
        }
        e
    }
    fn wake_keys(&self, out: &mut Vec<ReadyKey>) -> bool {
        out.push(self.key);
        true
    }
    fn name(&self) -> Option<String> {
        Some(String::from("anon_inode:[eventfd]"))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        self.net.notify(self.key);
    }
}

fn make(c: &mut Call<'_>, initval: u32, flags: u32) -> SysResult<Outcome> {
    if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let obj = EventFd::new(c.proc.net(), initval as u64, flags & EFD_SEMAPHORE != 0);
    let d = Description::new(Box::new(obj), O_RDWR | (flags & EFD_NONBLOCK), None, None);
    let limit = c.fd_limit();
    let fd = c
        .proc
        .fds_mut()
        .open(Arc::new(d), flags & EFD_CLOEXEC != 0, limit)?;
    ok(fd as u64)
}

/// Implements Linux `eventfd(2)` (no flags).
pub fn eventfd(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    make(c, a.uint(0), 0)
}

/// Implements Linux `eventfd2(2)`: EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC.
/// Reads block while the counter is 0, writes while it would pass
/// 0xfffffffffffffffe (EAGAIN when non-blocking).
pub fn eventfd2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    make(c, a.uint(0), a.uint(1))
}
