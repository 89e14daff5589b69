//! The machine as the personality sees it: the kernel's implementation of
//! `kiln_syscall::platform::Platform`.

use crate::console::CONSOLE;
use crate::drivers::block::Disk;
use crate::drivers::net::Nic;
use crate::usermem::UserPages;
use alloc::sync::Arc;
use kiln_syscall::platform::{
    BlockDevice, Clock, Console, MachineInfo, Mmu, NetDevice, PageId, PageStore, Platform, Random,
    PAGE_SIZE,
};

pub struct KernelConsole;

impl Console for KernelConsole {
    fn write(&mut self, data: &[u8]) {
        CONSOLE.lock().write_bytes(data);
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        CONSOLE.lock().read_available(buf)
    }
    fn input_ready(&self) -> bool {
        CONSOLE.lock().input_ready()
    }
    fn trace(&mut self, data: &[u8]) {
        crate::console::trace(data);
    }
    fn note(&mut self, line: &[u8]) {
        if crate::console::says(crate::console::NORMAL) {
            CONSOLE.lock().write_bytes(line);
        }
    }
}

pub struct Clocks;

impl Clock for Clocks {
    fn monotonic_ns(&self) -> u64 {
        crate::time::monotonic_ns()
    }
    fn realtime_ns(&self) -> u64 {
        crate::time::realtime_ns()
    }
}

/// RDRAND where the CPU has it, otherwise a xorshift generator seeded from
/// the TSC and the wall clock (not cryptographic: said on the console).
pub struct Entropy {
    rdrand: Option<x86_64::instructions::random::RdRand>,
    state: u64,
}

impl Entropy {
    pub fn new(has_rdrand: bool) -> Self {
        let rdrand = if has_rdrand {
            x86_64::instructions::random::RdRand::new()
        } else {
            None
        };
        if rdrand.is_none() {
            crate::println!(
                "kiln: no RDRAND on this CPU; random numbers are not cryptographically strong"
            );
        }
        let seed = crate::arch::rdtsc() ^ crate::time::realtime_ns().rotate_left(32) | 1;
        Entropy {
            rdrand,
            state: seed,
        }
    }

    fn next(&mut self) -> u64 {
        if let Some(r) = self.rdrand {
            for _ in 0..10 {
                if let Some(v) = r.get_u64() {
                    return v;
                }
            }
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x ^ crate::arch::rdtsc()
    }
}

impl Random for Entropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// tmpfs pages are frames: a deleted file's memory goes back to the pool
/// the program's pages come from. A `PageId` is the frame's address.
pub struct FramePages;

impl FramePages {
    /// The kernel address of `len` bytes at `off` in `page`, if they lie
    /// within one frame.
    fn at(page: PageId, off: usize, len: usize) -> Option<*mut u8> {
        let fits = off
            .checked_add(len)
            .is_some_and(|e| e <= PAGE_SIZE as usize);
        (page.0.is_multiple_of(PAGE_SIZE) && fits)
            .then(|| (crate::mem::layout::phys_to_virt(page.0) + off as u64) as *mut u8)
    }
}

impl PageStore for FramePages {
    fn alloc(&self) -> Option<PageId> {
        crate::mem::frame::alloc_zeroed().map(PageId)
    }
    fn free(&self, page: PageId) {
        if page.0.is_multiple_of(PAGE_SIZE) {
            crate::mem::frame::free(page.0);
        }
    }
    fn read(&self, page: PageId, off: usize, buf: &mut [u8]) {
        if let Some(src) = Self::at(page, off, buf.len()) {
            // SAFETY: the frame was handed out by alloc() and is owned by
            // the file until free(); the range lies within it.
            unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        }
    }
    fn write(&self, page: PageId, off: usize, data: &[u8]) {
        if let Some(dst) = Self::at(page, off, data.len()) {
            // SAFETY: as in read().
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        }
    }
}

/// Everything the personality can reach.
pub struct Machine {
    pub pages: UserPages,
    pub console: KernelConsole,
    pub clock: Clocks,
    pub random: Entropy,
    pub disk: Disk,
    pub nic: Option<Nic>,
    pub hwcap: u64,
}

impl Platform for Machine {
    fn mmu(&mut self) -> &mut dyn Mmu {
        &mut self.pages
    }
    fn console(&mut self) -> &mut dyn Console {
        &mut self.console
    }
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
    fn random(&mut self) -> &mut dyn Random {
        &mut self.random
    }
    fn block(&mut self) -> &mut dyn BlockDevice {
        &mut self.disk
    }
    fn info(&self) -> MachineInfo {
        let (total, free) = crate::mem::frame::stats();
        MachineInfo {
            total_ram: total,
            free_ram: free,
            cpus: 1,
            hwcap: self.hwcap,
            hwcap2: 0,
        }
    }
    fn fpu_save(&mut self, buf: &mut [u8; 512]) {
        crate::arch::fpu::save_legacy(buf);
    }
    fn fpu_restore(&mut self, buf: &[u8; 512]) {
        crate::arch::fpu::restore_legacy(buf);
    }
    fn vdso(&self) -> Option<&'static [u8]> {
        Some(crate::vdso::IMAGE)
    }
    fn net(&mut self) -> Option<&mut dyn NetDevice> {
        self.nic.as_mut().map(|n| n as &mut dyn NetDevice)
    }
    fn page_store(&self) -> Arc<dyn PageStore> {
        Arc::new(FramePages)
    }
}
