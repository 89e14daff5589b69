//! How handlers wait: park the calling thread on readiness keys, or on
//! any event for objects without keys.

use crate::call::{Call, Outcome};
use crate::fd::FileRef;
use crate::ready::ReadyKey;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::WaitFor;

/// Park the calling thread until one of `keys` changes or the deadline.
pub fn park(c: &mut Call<'_>, keys: Vec<ReadyKey>, deadline: Option<u64>) -> WaitFor {
    c.proc.ready_mut().register(c.tid, keys);
    WaitFor::Wakeup { deadline }
}

/// The wait for any of `files` to change: a wake-up on their keys when all
/// have keys, any event otherwise.
pub fn wait_on(c: &mut Call<'_>, files: &[FileRef], deadline: Option<u64>) -> WaitFor {
    let mut keys = Vec::new();
    let keyed = files.iter().all(|f| f.obj.wake_keys(&mut keys));
    if keyed && !keys.is_empty() {
        park(c, keys, deadline)
    } else {
        WaitFor::Event { deadline }
    }
}

/// A read (`read == true`) or write on `file` found nothing to do
/// (EAGAIN): block, or EAGAIN when the socket's SO_RCVTIMEO/SO_SNDTIMEO
/// has run out. Objects without keys wait as their `wait_for` says.
pub fn block_io(c: &mut Call<'_>, file: &FileRef, read: bool) -> SysResult<Outcome> {
    let timeout = crate::net::file::SocketFile::of(file).and_then(|s| s.timeout(read));
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    if deadline.is_some_and(|d| c.now() >= d) {
        return Err(Errno::EAGAIN);
    }
    let mut keys = Vec::new();
    if file.obj.wake_keys(&mut keys) && !keys.is_empty() {
        return Ok(Outcome::Block(park(c, keys, deadline)));
    }
    Ok(Outcome::Block(match (file.obj.wait_for(), deadline) {
        (w, None) => w,
        (_, d) => WaitFor::Event { deadline: d },
    }))
}
