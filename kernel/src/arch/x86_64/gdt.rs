//! Segments: kernel and user code/data and the TSS (ring-0 stack for traps
//! from user mode, IST stack for double faults).

use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::PrivilegeLevel;

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x18 | 3;
pub const USER_CS: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

/// The TSS; `rsp0` is rewritten by `run_user` before every entry to user
/// mode (see user.rs), so its address is exported for the assembly.
#[no_mangle]
pub static mut KILN_TSS: TaskStateSegment = TaskStateSegment::new();

static mut GDT: [u64; 7] = [
    0,
    0x0020_9a00_0000_0000, // kernel code, 64-bit
    0x0000_9200_0000_0000, // kernel data
    0x0000_f200_0000_0000, // user data
    0x0020_fa00_0000_0000, // user code, 64-bit
    0,                     // TSS (low)
    0,                     // TSS (high)
];

#[repr(C, align(16))]
struct Stack([u8; 16384]);
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; 16384]);

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// Load the GDT and the TSS.
pub fn init() {
    // SAFETY: called once at boot on the only CPU, before any trap can use
    // these tables.
    unsafe {
        let tss = &raw mut KILN_TSS;
        (*tss).interrupt_stack_table[0] =
            x86_64::VirtAddr::new((&raw const DOUBLE_FAULT_STACK as u64) + 16384);
        let base = tss as u64;
        let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
        let gdt = &raw mut GDT;
        (*gdt)[5] = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        (*gdt)[6] = base >> 32;
        let ptr = Pointer {
            limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16,
            base: gdt as u64,
        };
        core::arch::asm!("lgdt [{}]", in(reg) &ptr, options(readonly, nostack));
        CS::set_reg(SegmentSelector::new(KERNEL_CS >> 3, PrivilegeLevel::Ring0));
        let ds = SegmentSelector::new(KERNEL_DS >> 3, PrivilegeLevel::Ring0);
        SS::set_reg(ds);
        DS::set_reg(ds);
        ES::set_reg(ds);
        load_tss(SegmentSelector::new(TSS_SEL >> 3, PrivilegeLevel::Ring0));
    }
}
