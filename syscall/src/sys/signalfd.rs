//! signalfd: pending signals read as `struct signalfd_siginfo` records.
//! Reading takes signals of the object's mask from the reading thread's
//! queue, then the process's; readiness is "one of them is pending".

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::process::WaitFor;
use crate::thread::sigframe::SigInfo;
use crate::thread::signal::{SharedQueues, SI_TIMER, UNBLOCKABLE};
use crate::vfs::{Cx, Description, Events, FileObject};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::Stat;

pub const SFD_CLOEXEC: u32 = O_CLOEXEC;
pub const SFD_NONBLOCK: u32 = O_NONBLOCK;
/// Size of `struct signalfd_siginfo`.
pub const SIGNALFD_SIGINFO_SIZE: usize = 128;

/// The file object of a signalfd.
pub struct SignalFd {
    mask: AtomicU64,
    queues: SharedQueues,
}

/// Encode one record.
pub fn encode(info: &SigInfo) -> [u8; SIGNALFD_SIGINFO_SIZE] {
    let mut b = [0u8; SIGNALFD_SIGINFO_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &(info.signo as u32).to_le_bytes());
    put(4, &info.errno.to_le_bytes());
    put(8, &info.code.to_le_bytes());
    let (lo, hi) = (info.words[0] as u32, (info.words[0] >> 32) as u32);
    match info.code {
        // Timers: ssi_tid (timer id), ssi_overrun, ssi_ptr/ssi_int (value).
        SI_TIMER => {
            put(24, &lo.to_le_bytes());
            put(32, &hi.to_le_bytes());
        }
        // Faults (positive codes of the fault signals): ssi_addr.
        c if c > 0 && matches!(info.signo, 4 | 7 | 8 | 11) => put(72, &info.words[0].to_le_bytes()),
        // kill, tgkill, sigqueue: ssi_pid, ssi_uid.
        _ => {
            put(12, &lo.to_le_bytes());
            put(16, &hi.to_le_bytes());
        }
    }
    put(44, &(info.words[1] as u32).to_le_bytes());
    put(48, &info.words[1].to_le_bytes());
    b
}

impl FileObject for SignalFd {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn read(&self, _cx: &mut Cx<'_>, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < SIGNALFD_SIGINFO_SIZE {
            return Err(Errno::EINVAL);
        }
        let mask = self.mask.load(Ordering::Relaxed);
        let mut done = 0;
        while buf.len() - done >= SIGNALFD_SIGINFO_SIZE {
            let taken = {
                let mut q = self.queues.lock();
                let tid = q.current;
                q.dequeue(tid, mask)
            };
            let Some(info) = taken else {
                break;
            };
            buf[done..done + SIGNALFD_SIGINFO_SIZE].copy_from_slice(&encode(&info));
            done += SIGNALFD_SIGINFO_SIZE;
        }
        if done == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(done)
    }
    fn poll(&self, _cx: &mut Cx<'_>) -> Events {
        let q = self.queues.lock();
        if q.pending(q.current) & self.mask.load(Ordering::Relaxed) != 0 {
            Events::IN | Events::RDNORM
        } else {
            Events::empty()
        }
    }
    fn wait_for(&self) -> WaitFor {
        WaitFor::Wakeup { deadline: None }
    }
    fn name(&self) -> Option<String> {
        Some(String::from("anon_inode:[signalfd]"))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Implements Linux `signalfd4(2)`: a new signalfd (fd -1) or a new mask
/// for an existing one.
pub fn signalfd4(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.u(2) != 8 {
        return Err(Errno::EINVAL);
    }
    let flags = a.uint(3);
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let mask = c.mem().read_u64(a.u(1))? & !UNBLOCKABLE;
    let fd = a.fd(0);
    if fd != -1 {
        let f = c.proc.fds().get(fd)?;
        let sfd = f
            .obj
            .as_any()
            .downcast_ref::<SignalFd>()
            .ok_or(Errno::EINVAL)?;
        sfd.mask.store(mask, Ordering::Relaxed);
        return ok(fd as u64);
    }
    let obj = SignalFd {
        mask: AtomicU64::new(mask),
        queues: c.proc.signals().queues.clone(),
    };
    let desc = Description::new(Box::new(obj), O_RDWR | (flags & SFD_NONBLOCK), None, None);
    let limit = c.fd_limit();
    let fd = c
        .proc
        .fds_mut()
        .open(Arc::new(desc), flags & SFD_CLOEXEC != 0, limit)?;
    ok(fd as u64)
}

/// Implements Linux `signalfd(2)` (signalfd4 without flags).
pub fn signalfd(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let mut b = a;
    b.0[3] = 0;
    signalfd4(c, b)
}
