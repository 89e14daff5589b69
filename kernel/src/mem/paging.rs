//! The one page table, shared by kernel and program: the kernel image in
//! the top 2 GiB (from the boot tables), all RAM direct-mapped at
//! `DIRECT_MAP`, device memory at `MMIO_MAP`, the program's pages below
//! `USER_END`.

use super::frame;
use super::layout::{mark_direct_map_ready, phys_to_virt, DIRECT_MAP, KERNEL_VMA, MMIO_MAP};
use crate::pvh::RamRegion;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

const ENTRIES: usize = 512;
const HUGE_2M: u64 = 2 << 20;

fn table_at(paddr: u64) -> &'static mut [u64; ENTRIES] {
    // SAFETY: `paddr` is a page-table frame owned by the kernel; only this
    // module touches page tables while it builds them.
    unsafe { &mut *(phys_to_virt(paddr) as *mut [u64; ENTRIES]) }
}

fn next_table(table: &mut [u64; ENTRIES], index: usize) -> u64 {
    if table[index] & 1 == 0 {
        let f = frame::alloc_zeroed().expect("out of memory for page tables");
        table[index] = f | 0x3; // present | writable, supervisor
    }
    table[index] & 0x000f_ffff_ffff_f000
}

extern "C" {
    static __text_start: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

const NX: u64 = 1 << 63;
const PRESENT_GLOBAL: u64 = 0x101;
const WRITABLE: u64 = 0x2;

/// Map the kernel image with 4 KiB pages and W^X: text read+execute,
/// rodata read-only, data and bss read+write.
fn map_kernel_image(pml4: &mut [u64; ENTRIES]) {
    let text = &raw const __text_start as u64;
    let rodata = &raw const __rodata_start as u64;
    let data = &raw const __data_start as u64;
    let end = &raw const __kernel_end as u64;
    let mut v = text;
    while v < end {
        let rights = if v < rodata {
            0
        } else if v < data {
            NX
        } else {
            NX | WRITABLE
        };
        let pdpt = next_table(pml4, (v >> 39) as usize & 511);
        let pd = next_table(table_at(pdpt), (v >> 30) as usize & 511);
        let pt = next_table(table_at(pd), (v >> 21) as usize & 511);
        table_at(pt)[(v >> 12) as usize & 511] = (v - KERNEL_VMA) | PRESENT_GLOBAL | rights;
        v += 4096;
    }
}

/// Build the kernel's page table: the kernel image with W^X, all RAM at
/// `DIRECT_MAP` (2 MiB pages, no execute), and nothing in the lower half,
/// which belongs to the program.
pub fn init(ram: &[RamRegion]) {
    let pml4_phys = frame::alloc_zeroed().expect("out of memory for the page table");
    let pml4 = table_at(pml4_phys);
    map_kernel_image(pml4);
    let nx = NX;
    for r in ram {
        let mut p = r.start & !(HUGE_2M - 1);
        while p < r.end {
            let v = DIRECT_MAP + p;
            let pdpt = next_table(pml4, (v >> 39) as usize & 511);
            let pd = next_table(table_at(pdpt), (v >> 30) as usize & 511);
            // present | writable | huge | global | no-execute
            table_at(pd)[(v >> 21) as usize & 511] = p | 0x183 | nx;
            p += HUGE_2M;
        }
    }
    // SAFETY: the new table maps the kernel exactly as the boot table did,
    // so execution continues; the boot stack lives in the kernel image.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(pml4_phys)),
            Cr3Flags::empty(),
        )
    };
    mark_direct_map_ready();
}

/// Frames for new page tables come zeroed from the frame allocator.
pub struct TableFrames;

// SAFETY: every frame handed out is unused and zeroed.
unsafe impl FrameAllocator<Size4KiB> for TableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        frame::alloc_zeroed().map(|p| PhysFrame::containing_address(PhysAddr::new(p)))
    }
}

/// A mapper over the live page table.
pub fn mapper() -> OffsetPageTable<'static> {
    let (pml4, _) = Cr3::read();
    let virt = DIRECT_MAP + pml4.start_address().as_u64();
    // SAFETY: the direct map covers all RAM, the PML4 among it, and the
    // kernel is single-threaded with interrupts off while it edits tables.
    unsafe { OffsetPageTable::new(&mut *(virt as *mut PageTable), VirtAddr::new(DIRECT_MAP)) }
}

/// Map device memory `[paddr, paddr + size)` uncached and return its
/// kernel address.
pub fn map_mmio(paddr: u64, size: u64) -> u64 {
    let mut m = mapper();
    let start = paddr & !0xfff;
    let end = (paddr + size.max(1)).next_multiple_of(4096);
    let flags = F::PRESENT | F::WRITABLE | F::NO_CACHE | F::WRITE_THROUGH | F::NO_EXECUTE;
    let mut p = start;
    while p < end {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(MMIO_MAP + p));
        if m.translate_page(page).is_err() {
            let frame = PhysFrame::containing_address(PhysAddr::new(p));
            // SAFETY: device memory mapped into the kernel-only MMIO window.
            unsafe {
                m.map_to_with_table_flags(
                    page,
                    frame,
                    flags,
                    F::PRESENT | F::WRITABLE,
                    &mut TableFrames,
                )
                .expect("mapping device memory")
                .flush()
            };
        }
        p += 4096;
    }
    MMIO_MAP + paddr
}

/// Call `f` with the address and entry of every present 4 KiB page in
/// `[start, end)` of the lower half, skipping absent tables wholesale (a
/// program may unmap terabytes it never touched).
pub fn for_each_user_pte(start: u64, end: u64, mut f: impl FnMut(u64, &mut u64)) {
    let (pml4, _) = Cr3::read();
    walk(
        pml4.start_address().as_u64(),
        4,
        0,
        start,
        end.min(super::layout::USER_END),
        &mut f,
    );
}

fn walk(table: u64, level: u32, base: u64, start: u64, end: u64, f: &mut dyn FnMut(u64, &mut u64)) {
    let shift = 12 + 9 * (level - 1);
    let span = 1u64 << shift;
    let t = table_at(table);
    let first = ((start.max(base) - base) >> shift) as usize;
    for (i, entry) in t.iter_mut().enumerate().skip(first) {
        let va = base + i as u64 * span;
        if va >= end {
            break;
        }
        if *entry & 1 == 0 {
            continue;
        }
        if level == 1 {
            f(va, entry);
        } else {
            assert!(*entry & 0x80 == 0, "huge page in the program's half");
            walk(*entry & 0x000f_ffff_ffff_f000, level - 1, va, start, end, f);
        }
    }
}

/// Drop a page's TLB entry.
pub fn flush_page(va: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new(va));
}

/// Drop every TLB entry (reload CR3). Nothing needs it for correctness:
/// the tick calls it now and then for QEMU's TCG, which sizes its software
/// TLB only when the guest flushes it. A kernel with one address space
/// never does, which leaves that TLB at 256 entries, and a program whose
/// loop touches more pages than that misses on nearly every access.
pub fn flush_all() {
    x86_64::instructions::tlb::flush_all();
}
