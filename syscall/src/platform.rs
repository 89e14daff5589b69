//! What the personality needs from the machine. The kernel implements these
//! traits over real hardware; host tests implement them with fakes. Nothing
//! in this crate touches hardware or dereferences a program pointer itself.

use alloc::sync::Arc;
use alloc::vec::Vec;
use kiln_abi::errno::Errno;
use spin::Mutex;

/// Size of a page of the program's address space.
pub const PAGE_SIZE: u64 = 4096;

bitflags::bitflags! {
    /// Access rights of a page as the program sees them (`PROT_*` values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Prot: u32 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
    }
}

/// The program's page table, page by page. Addresses are page-aligned user
/// addresses (lower half). Permission checks against the program's regions
/// are the personality's job; the MMU only does what it is told.
pub trait Mmu {
    /// Is `page` backed by a frame right now?
    fn is_mapped(&self, page: u64) -> bool;
    /// Back `page` with a zeroed frame and the given rights. Fails with
    /// `ENOMEM` when no frame is left.
    fn map_zeroed(&mut self, page: u64, prot: Prot) -> Result<(), Errno>;
    /// Drop the frames of every mapped page in `[start, start + len)`.
    fn unmap(&mut self, start: u64, len: u64);
    /// Change the rights of every mapped page in `[start, start + len)`.
    fn protect(&mut self, start: u64, len: u64, prot: Prot);
    /// Move the frame of every mapped page in `[from, from + len)` to the
    /// same offset from `to`, with its rights; `[to, to + len)` holds no
    /// mapped page and does not overlap the source. On failure (ENOMEM for
    /// a page table) nothing has moved.
    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> Result<(), Errno>;
    /// Copy bytes out of a mapped page, ignoring its rights. `addr..addr+len`
    /// lies within one page.
    fn read_mapped(&self, addr: u64, buf: &mut [u8]);
    /// Copy bytes into a mapped page, ignoring its rights. `addr..addr+len`
    /// lies within one page.
    fn write_mapped(&mut self, addr: u64, data: &[u8]);
    /// Map the kernel's clock page (read by the vDSO) read-only at `page`.
    fn map_clock_page(&mut self, page: u64) -> Result<(), Errno> {
        let _ = page;
        Err(Errno::ENOSYS)
    }
}

/// The console: standard input and output of the program.
pub trait Console {
    /// Queue bytes for output; never waits per byte.
    fn write(&mut self, data: &[u8]);
    /// Take bytes that have arrived on the console's input, without waiting.
    /// Returns 0 when nothing is there.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Whether input is waiting.
    fn input_ready(&self) -> bool;
    /// Write one of Kiln's notes (`kiln: ...`): left out when the user asked
    /// for quiet (`kiln run -q`).
    fn note(&mut self, line: &[u8]) {
        self.write(line)
    }
    /// Write a `--trace` line: to the trace channel where the machine has
    /// one (kept apart from the program's output), else the console.
    fn trace(&mut self, data: &[u8]) {
        self.write(data)
    }
    /// Terminal size as (rows, columns).
    fn window_size(&self) -> (u16, u16) {
        (24, 80)
    }
}

/// Time sources.
pub trait Clock {
    /// Nanoseconds since boot, never going back.
    fn monotonic_ns(&self) -> u64;
    /// Nanoseconds since the Unix epoch.
    fn realtime_ns(&self) -> u64;
}

/// Entropy for AT_RANDOM, getrandom and /dev/urandom.
pub trait Random {
    /// Fill `buf` with unpredictable bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The disk that holds the image, in 512-byte sectors.
pub trait BlockDevice {
    /// Read `buf.len()` bytes (a multiple of 512) starting at `sector`.
    fn read_sectors(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Errno>;
    /// Size of the device in bytes.
    fn size(&self) -> u64;
}

/// A page of a [`PageStore`]: an opaque handle (the kernel's is the
/// frame's physical address). Whoever allocated it owns it until `free`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageId(pub u64);

/// Whole pages of memory outside the kernel heap, for file data (tmpfs):
/// they come from the pool the program's own pages use and go back to it
/// when freed, so a deleted file's memory serves the program again.
/// Offsets and lengths stay within one page (`off + len <= PAGE_SIZE`).
pub trait PageStore: Send + Sync {
    /// A zeroed page, or `None` when memory is exhausted.
    fn alloc(&self) -> Option<PageId>;
    /// Give a page back.
    fn free(&self, page: PageId);
    /// Copy bytes out of a page from `off`.
    fn read(&self, page: PageId, off: usize, buf: &mut [u8]);
    /// Copy bytes into a page at `off`.
    fn write(&self, page: PageId, off: usize, data: &[u8]);
}

/// A [`PageStore`] on the heap, with an optional cap on the pages it hands
/// out: the host tests' store and the default of [`Platform::page_store`].
pub struct HeapPages {
    inner: Mutex<HeapPagesInner>,
}

struct HeapPagesInner {
    slots: Vec<Option<alloc::boxed::Box<[u8]>>>,
    free_slots: Vec<usize>,
    in_use: usize,
    cap: Option<usize>,
}

impl HeapPages {
    /// A store that hands out at most `cap` pages at once (`None`: no cap
    /// but the heap's).
    pub fn new(cap: Option<usize>) -> HeapPages {
        HeapPages {
            inner: Mutex::new(HeapPagesInner {
                slots: Vec::new(),
                free_slots: Vec::new(),
                in_use: 0,
                cap,
            }),
        }
    }

    /// Pages handed out and not freed.
    pub fn in_use(&self) -> usize {
        self.inner.lock().in_use
    }
}

impl PageStore for HeapPages {
    fn alloc(&self) -> Option<PageId> {
        let mut s = self.inner.lock();
        if s.cap.is_some_and(|c| s.in_use >= c) {
            return None;
        }
        let page = crate::fallible::zeroed(PAGE_SIZE as usize).ok()?;
        let slot = match s.free_slots.pop() {
            Some(i) => i,
            None => {
                // free() must never allocate: room for every slot now.
                let n = s.slots.len() + 1;
                s.slots.try_reserve(1).ok()?;
                s.free_slots.try_reserve(n).ok()?;
                s.slots.push(None);
                s.slots.len() - 1
            }
        };
        s.slots[slot] = Some(page.into_boxed_slice());
        s.in_use += 1;
        Some(PageId(slot as u64))
    }
    fn free(&self, page: PageId) {
        let mut s = self.inner.lock();
        let i = page.0 as usize;
        if s.slots.get_mut(i).and_then(Option::take).is_some() {
            s.in_use -= 1;
            s.free_slots.push(i);
        }
    }
    fn read(&self, page: PageId, off: usize, buf: &mut [u8]) {
        let s = self.inner.lock();
        if let Some(Some(p)) = s.slots.get(page.0 as usize) {
            if let Some(src) = p.get(off..off + buf.len()) {
                buf.copy_from_slice(src);
            }
        }
    }
    fn write(&self, page: PageId, off: usize, data: &[u8]) {
        let mut s = self.inner.lock();
        if let Some(Some(p)) = s.slots.get_mut(page.0 as usize) {
            if let Some(dst) = p.get_mut(off..off + data.len()) {
                dst.copy_from_slice(data);
            }
        }
    }
}

/// The x87/SSE reset state in the FXSAVE layout (FCW 0x37f, MXCSR 0x1f80).
pub fn default_fpu(buf: &mut [u8; 512]) {
    buf.fill(0);
    buf[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
    buf[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
}

/// Everything the personality may ask of the machine, handed to each call.
pub trait Platform {
    fn mmu(&mut self) -> &mut dyn Mmu;
    fn console(&mut self) -> &mut dyn Console;
    fn clock(&self) -> &dyn Clock;
    fn random(&mut self) -> &mut dyn Random;
    fn block(&mut self) -> &mut dyn BlockDevice;
    /// Facts about the machine for uname/sysinfo/auxv.
    fn info(&self) -> MachineInfo;
    /// The vDSO to map into the program (an ELF shared object that expects
    /// the clock page one page below its first byte), if the kernel has one.
    fn vdso(&self) -> Option<&'static [u8]> {
        None
    }
    /// Copy the calling thread's x87/SSE registers out, in the FXSAVE
    /// layout (for a signal frame). The default is the reset state.
    fn fpu_save(&mut self, buf: &mut [u8; 512]) {
        default_fpu(buf);
    }
    /// Load the calling thread's x87/SSE registers from an FXSAVE image
    /// (at `rt_sigreturn`). Reserved MXCSR bits are cleared first.
    fn fpu_restore(&mut self, buf: &[u8; 512]) {
        let _ = buf;
    }
    /// The network interface, if the machine has one.
    fn net(&mut self) -> Option<&mut dyn NetDevice> {
        None
    }
    /// Where file systems in memory keep their pages. The default is a
    /// new store on the heap; the kernel hands out frames.
    fn page_store(&self) -> Arc<dyn PageStore> {
        Arc::new(HeapPages::new(None))
    }
}

/// An Ethernet interface. The personality runs the TCP/IP stack over it.
pub trait NetDevice {
    /// The interface's MAC address.
    fn mac(&self) -> [u8; 6];
    /// Largest Ethernet frame, header included, that can be sent.
    fn max_frame(&self) -> usize;
    /// Hand the next received frame to `f`, if one has arrived. Returns
    /// whether there was one.
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> bool;
    /// Whether a frame can be queued for sending now.
    fn can_transmit(&mut self) -> bool;
    /// Queue one frame; it is sent without waiting for completion, at the
    /// latest at the next [`NetDevice::flush`].
    fn transmit(&mut self, frame: &[u8]) -> Result<(), Errno>;
    /// Hand the queued frames to the device. The stack calls it once at the
    /// end of a turn, so that the turn's frames reach the device together
    /// (one notification for all of them, where the device asks for one).
    fn flush(&mut self) {}
}

/// Facts about the machine the program may ask for.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineInfo {
    /// Total usable RAM in bytes.
    pub total_ram: u64,
    /// RAM not yet handed out, in bytes.
    pub free_ram: u64,
    /// Number of CPUs the program may run on.
    pub cpus: u32,
    /// CPUID leaf 1 EDX, reported as AT_HWCAP.
    pub hwcap: u64,
    /// Second hardware capability word (AT_HWCAP2).
    pub hwcap2: u64,
}
