//! What the personality needs from the machine. The kernel implements these
//! traits over real hardware; host tests implement them with fakes. Nothing
//! in this crate touches hardware or dereferences a program pointer itself.

use kiln_abi::errno::Errno;

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
    /// Queue one frame; it is sent without waiting for completion.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), Errno>;
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
