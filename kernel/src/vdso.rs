//! The vDSO the program reads the clock through, and the clock page (vvar)
//! it reads: the kernel writes the TSC-to-time parameters there and maps the
//! page read-only just below the vDSO in the program's address space.

use core::sync::atomic::{fence, AtomicU32, Ordering};

/// The vDSO shared object, built from kernel/vdso/vdso.c.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Layout shared with `struct vvar` in vdso.c.
#[repr(C, align(4096))]
pub struct VvarPage {
    seq: AtomicU32,
    valid: u32,
    tsc_base: u64,
    mult: u64,
    realtime_base: u64,
}

/// The clock page. Written only through `publish`, read by the program.
static mut VVAR: VvarPage = VvarPage {
    seq: AtomicU32::new(0),
    valid: 0,
    tsc_base: 0,
    mult: 0,
    realtime_base: 0,
};

/// Publish the clock parameters: monotonic ns = ((tsc - tsc_base) * mult)
/// >> 32, realtime = monotonic + realtime_base.
pub fn publish(tsc_base: u64, mult: u64, realtime_base: u64) {
    // SAFETY: single CPU with interrupts off; the sequence counter tells the
    // program's readers to retry while the fields change.
    unsafe {
        let v = &raw mut VVAR;
        let seq = (*v).seq.load(Ordering::Relaxed);
        (*v).seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        (*v).tsc_base = tsc_base;
        (*v).mult = mult;
        (*v).realtime_base = realtime_base;
        (*v).valid = 1;
        fence(Ordering::Release);
        (*v).seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// Physical address of the clock page, for mapping it into the program.
pub fn vvar_phys() -> u64 {
    crate::mem::layout::virt_to_phys(&raw const VVAR as u64)
}
