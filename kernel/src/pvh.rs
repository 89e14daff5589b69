//! The `hvm_start_info` block that a PVH loader hands the kernel: memory
//! map and command line, copied out before the memory they sit in is reused.

use crate::mem::layout::boot_phys_to_virt;

const MAGIC: u32 = 0x336e_c578;
const MAX_REGIONS: usize = 64;
const MAX_CMDLINE: usize = 2048;
const E820_RAM: u32 = 1;

#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// A range of usable RAM.
#[derive(Clone, Copy, Default, Debug)]
pub struct RamRegion {
    pub start: u64,
    pub end: u64,
}

/// What the kernel keeps of the start info.
pub struct BootInfo {
    pub ram: [RamRegion; MAX_REGIONS],
    pub ram_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
}

impl BootInfo {
    /// The RAM regions.
    pub fn ram(&self) -> &[RamRegion] {
        &self.ram[..self.ram_count]
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Whether the command line holds `word` as a whole word.
    pub fn has_flag(&self, word: &str) -> bool {
        self.cmdline().split_ascii_whitespace().any(|w| w == word)
    }
}

/// Read the start info at physical address `paddr`.
pub fn parse(paddr: u64) -> BootInfo {
    let mut info = BootInfo {
        ram: [RamRegion::default(); MAX_REGIONS],
        ram_count: 0,
        cmdline: [0; MAX_CMDLINE],
        cmdline_len: 0,
    };
    // SAFETY: the PVH loader put a start_info block at `paddr`, inside the
    // first GiB that the boot page tables map.
    let si = unsafe { &*(boot_phys_to_virt(paddr) as *const StartInfo) };
    if si.magic != MAGIC {
        panic!("PVH start info has bad magic {:#x}", si.magic);
    }
    if si.version >= 1 && si.memmap_paddr != 0 {
        for i in 0..si.memmap_entries as u64 {
            let at = si.memmap_paddr + i * core::mem::size_of::<MemmapEntry>() as u64;
            // SAFETY: entry `i` of the memory map the loader described.
            let e = unsafe { *(boot_phys_to_virt(at) as *const MemmapEntry) };
            if e.kind == E820_RAM && e.size > 0 && info.ram_count < MAX_REGIONS {
                info.ram[info.ram_count] = RamRegion {
                    start: e.addr,
                    end: e.addr + e.size,
                };
                info.ram_count += 1;
            }
        }
    }
    if si.cmdline_paddr != 0 {
        let base = boot_phys_to_virt(si.cmdline_paddr) as *const u8;
        while info.cmdline_len < MAX_CMDLINE {
            // SAFETY: the command line is a NUL-terminated string the loader placed.
            let b = unsafe { *base.add(info.cmdline_len) };
            if b == 0 {
                break;
            }
            info.cmdline[info.cmdline_len] = b;
            info.cmdline_len += 1;
        }
    }
    info
}
