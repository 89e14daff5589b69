//! Out of memory, as Linux's OOM killer reports it: when no frame is left
//! for a page the program touches (or one the kernel copies to or from),
//! the program dies of SIGKILL and the console says why.

use super::{Flow, Process};
use crate::platform::{Platform, PAGE_SIZE};
use alloc::format;
use kiln_abi::Signal;

impl Process {
    /// Report that memory ran out and end the program with SIGKILL (the
    /// kernel then exits with 137).
    pub(crate) fn out_of_memory(&mut self, p: &mut dyn Platform) -> Flow {
        let resident = self.space.resident_pages(p.mmu()) * PAGE_SIZE;
        let total = p.info().total_ram;
        let line = format!(
            "kiln: out of memory: killed {} (pid 1): it had {} MiB resident, the VM has {} MiB\n",
            self.exe,
            resident >> 20,
            total >> 20
        );
        p.console().write(line.as_bytes());
        Flow::Kill(Signal::SIGKILL)
    }
}
