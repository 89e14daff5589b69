//! Sending a signal to the program or one of its threads, with the
//! wake-ups it causes (the queues and dispositions are `thread::signal`).

use super::Process;
use crate::thread::sigframe::SigInfo;
use crate::thread::signal::*;
use kiln_abi::errno::Errno;
use kiln_abi::Tid;

impl Process {
    /// Send a signal to thread `target` (thread-directed) or to the
    /// process (`None`). Ignored signals are dropped on arrival (unless
    /// blocked), as Linux does. Wakes the threads that must look at it.
    /// Returns whether the signal was queued.
    pub(crate) fn send_signal(
        &mut self,
        target: Option<Tid>,
        info: SigInfo,
    ) -> Result<bool, Errno> {
        let sig = info.signo;
        if bit(sig) == 0 {
            return Err(Errno::EINVAL);
        }
        let act = self.signals.action(sig);
        let blocker = target.unwrap_or(kiln_abi::MAIN_TID);
        let blocked = self
            .threads
            .get(blocker)
            .is_some_and(|t| (t.mask | t.sigwait) & bit(sig) != 0);
        if ignored(&act, sig) && !blocked {
            return Ok(false);
        }
        let queued = {
            let mut q = self.signals.queues.lock();
            match target {
                Some(tid) => q.threads.entry(tid).or_default().push(info)?,
                None => q.process.push(info)?,
            }
        };
        match target {
            Some(tid) => self.threads.wake(tid),
            None => self.threads.wake_all(),
        }
        Ok(queued)
    }

    /// The signal that would be delivered to `tid` now (pending and not
    /// blocked), without taking it.
    pub(crate) fn deliverable(&self, tid: Tid) -> Option<i32> {
        let mask = self.threads.get(tid).map_or(0, |t| t.mask);
        first(self.signals.queues.lock().pending(tid) & !mask)
    }
}
