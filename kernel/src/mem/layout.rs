//! Where things live in the kernel's half of the address space.

/// The kernel image is linked here (code model `kernel`).
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// All RAM is mapped here, at `DIRECT_MAP + physical address`.
pub const DIRECT_MAP: u64 = 0xffff_8000_0000_0000;
/// Device memory (MMIO) is mapped here, uncached, on demand.
pub const MMIO_MAP: u64 = 0xffff_c000_0000_0000;
/// The program's half ends here.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

static DIRECT_READY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
}

/// Physical range of the kernel image.
pub fn kernel_phys_range() -> (u64, u64) {
    // Only the addresses of the linker symbols are taken.
    (
        &raw const __kernel_phys_start as u64,
        &raw const __kernel_phys_end as u64,
    )
}

/// Before the direct map exists, the first GiB is reachable through the boot
/// tables' higher-half window.
pub fn boot_phys_to_virt(paddr: u64) -> u64 {
    assert!(
        paddr < 1 << 30,
        "physical address {paddr:#x} beyond the boot window"
    );
    KERNEL_VMA + paddr
}

/// Kernel virtual address of physical memory.
pub fn phys_to_virt(paddr: u64) -> u64 {
    if DIRECT_READY.load(core::sync::atomic::Ordering::Relaxed) {
        DIRECT_MAP + paddr
    } else {
        boot_phys_to_virt(paddr)
    }
}

/// Physical address of a kernel virtual address (direct map or image).
pub fn virt_to_phys(vaddr: u64) -> u64 {
    if vaddr >= KERNEL_VMA {
        vaddr - KERNEL_VMA
    } else if (DIRECT_MAP..MMIO_MAP).contains(&vaddr) {
        vaddr - DIRECT_MAP
    } else {
        panic!("no physical address for {vaddr:#x}")
    }
}

/// Called once the direct map is live.
pub fn mark_direct_map_ready() {
    DIRECT_READY.store(true, core::sync::atomic::Ordering::Relaxed);
}
