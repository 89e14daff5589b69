//! Pipes: a 64 KiB buffer in memory shared by a read end and a write end.
//! Reading an empty pipe waits while a writer exists (EOF after); writing
//! to a pipe without readers is EPIPE (SIGPIPE comes with signals).

use super::file::{Cx, Events, FileObject, Reply, Request};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat, StatFs, PIPEFS_MAGIC, S_IFIFO};
use spin::Mutex;

/// Default capacity (Linux: 16 pages).
pub const PIPE_SIZE: usize = 65536;
/// Largest capacity F_SETPIPE_SZ accepts (Linux `pipe-max-size`).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// Writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;

static NEXT_PIPE: AtomicU64 = AtomicU64::new(1);

struct State {
    data: VecDeque<u8>,
    cap: usize,
    readers: usize,
    writers: usize,
}

struct Shared {
    ino: u64,
    state: Mutex<State>,
}

/// One end of a pipe.
pub struct PipeEnd {
    shared: Arc<Shared>,
    write: bool,
}

/// A new pipe: (read end, write end).
pub fn pipe() -> (Box<dyn FileObject>, Box<dyn FileObject>) {
    let shared = Arc::new(Shared {
        ino: NEXT_PIPE.fetch_add(1, Ordering::Relaxed),
        state: Mutex::new(State {
            data: VecDeque::new(),
            cap: PIPE_SIZE,
            readers: 1,
            writers: 1,
        }),
    });
    (
        Box::new(PipeEnd {
            shared: shared.clone(),
            write: false,
        }),
        Box::new(PipeEnd {
            shared,
            write: true,
        }),
    )
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = self.shared.state.lock();
        if self.write {
            s.writers -= 1;
        } else {
            s.readers -= 1;
        }
    }
}

impl PipeEnd {
    /// The capacity (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.shared.state.lock().cap
    }
    /// Change the capacity (F_SETPIPE_SZ): rounded up to a power of two
    /// pages; EBUSY if the data would not fit, EPERM above the maximum.
    pub fn set_capacity(&self, want: u64) -> SysResult<usize> {
        if want > PIPE_MAX_SIZE as u64 {
            return Err(Errno::EPERM);
        }
        let cap = (want as usize).max(4096).next_power_of_two();
        let mut s = self.shared.state.lock();
        if s.data.len() > cap {
            return Err(Errno::EBUSY);
        }
        s.cap = cap;
        Ok(cap)
    }
}

impl FileObject for PipeEnd {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(Stat {
            dev: makedev(0, 12),
            ino: self.shared.ino,
            nlink: 1,
            mode: S_IFIFO | 0o600,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if self.write {
            return Err(Errno::EBADF);
        }
        let mut s = self.shared.state.lock();
        if s.data.is_empty() {
            return if s.writers == 0 || buf.is_empty() {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(s.data.len());
        for (i, b) in s.data.drain(..n).enumerate() {
            buf[i] = b;
        }
        Ok(n)
    }
    fn write(&self, _cx: &mut Cx<'_>, _off: u64, data: &[u8]) -> SysResult<usize> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut s = self.shared.state.lock();
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let room = s.cap.saturating_sub(s.data.len());
        // Small writes go in whole or not at all (PIPE_BUF atomicity).
        if room == 0 || (data.len() <= PIPE_BUF && room < data.len()) {
            return if data.is_empty() {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = room.min(data.len());
        s.data.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        s.data.extend(&data[..n]);
        Ok(n)
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        let s = self.shared.state.lock();
        let mut e = Events::empty();
        if self.write {
            if s.readers == 0 {
                e |= Events::ERR;
            } else if s.cap - s.data.len() >= PIPE_BUF.min(s.cap) {
                e |= Events::OUT | Events::WRNORM;
            }
        } else {
            if !s.data.is_empty() {
                e |= Events::IN | Events::RDNORM;
            }
            if s.writers == 0 {
                e |= Events::HUP;
            }
        }
        e
    }
    fn ioctl(&self, _cx: &mut Cx<'_>, req: Request) -> SysResult<Reply> {
        match req {
            Request::ReadableBytes => {
                let n = self.shared.state.lock().data.len().min(i32::MAX as usize);
                Ok(Reply::Int(n as u32))
            }
            _ => Err(Errno::ENOTTY),
        }
    }
    fn allocate(&self, _cx: &mut Cx<'_>, _off: u64, _len: u64, _keep: bool) -> SysResult<()> {
        Err(Errno::ESPIPE)
    }
    fn statfs(&self) -> StatFs {
        StatFs {
            magic: PIPEFS_MAGIC,
            bsize: 4096,
            ..Default::default()
        }
    }
    fn name(&self) -> Option<String> {
        Some(format!("pipe:[{}]", self.shared.ino))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
