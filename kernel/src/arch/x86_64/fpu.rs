//! Per-thread FPU/SSE/AVX state. The kernel is built without SSE and never
//! touches these registers, so they only need saving when the CPU switches
//! from one program thread to another (XSAVE where the CPU has it, FXSAVE
//! otherwise).

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::arch::x86_64::__cpuid_count;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static USE_XSAVE: AtomicBool = AtomicBool::new(false);
static AREA_SIZE: AtomicUsize = AtomicUsize::new(512);

/// Decide how state is saved; called after `cpu::init` enabled XSAVE.
pub fn init(xsave: bool) {
    USE_XSAVE.store(xsave, Ordering::Relaxed);
    if xsave {
        let size = __cpuid_count(0xd, 0).ebx as usize;
        AREA_SIZE.store(size.max(576), Ordering::Relaxed);
    }
}

/// One thread's saved registers.
pub struct FpuState {
    area: *mut u8,
    layout: Layout,
}

// SAFETY: the area is owned by this value and only used by the one CPU.
unsafe impl Send for FpuState {}

impl FpuState {
    /// The state a new program thread starts with: x87 and SSE at their
    /// reset values (FCW 0x37f, MXCSR 0x1f80), everything else zero.
    pub fn new() -> Self {
        let layout = Layout::from_size_align(AREA_SIZE.load(Ordering::Relaxed), 64)
            .expect("FPU area layout");
        // SAFETY: non-zero size.
        let area = unsafe { alloc_zeroed(layout) };
        assert!(!area.is_null(), "out of memory for FPU state");
        // SAFETY: the legacy region is the first 512 bytes of the area:
        // FCW at 0, MXCSR at 24; XSTATE_BV (offset 512) zero means "init".
        unsafe {
            area.cast::<u16>().write(0x37f);
            area.add(24).cast::<u32>().write(0x1f80);
        }
        FpuState { area, layout }
    }

    /// Save the CPU's registers into this area.
    pub fn save(&mut self) {
        // SAFETY: the area is 64-byte aligned and large enough for the
        // enabled features; rdx:rax = all components.
        unsafe {
            if USE_XSAVE.load(Ordering::Relaxed) {
                core::arch::asm!("xsave64 [{}]", in(reg) self.area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack));
            } else {
                core::arch::asm!("fxsave64 [{}]", in(reg) self.area, options(nostack));
            }
        }
    }

    /// Load the registers from this area.
    pub fn restore(&self) {
        // SAFETY: the area holds a state saved by `save` or built by `new`.
        unsafe {
            if USE_XSAVE.load(Ordering::Relaxed) {
                core::arch::asm!("xrstor64 [{}]", in(reg) self.area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack));
            } else {
                core::arch::asm!("fxrstor64 [{}]", in(reg) self.area, options(nostack));
            }
        }
    }
}

#[repr(C, align(16))]
struct Legacy([u8; 512]);

/// Copy the live x87/SSE registers out in the FXSAVE layout (for a signal
/// frame).
pub fn save_legacy(out: &mut [u8; 512]) {
    let mut area = Legacy([0; 512]);
    // SAFETY: a 16-byte aligned 512-byte area, as FXSAVE needs.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
    out.copy_from_slice(&area.0);
}

/// Load the live x87/SSE registers from an FXSAVE image that came from the
/// program (at sigreturn): reserved MXCSR bits are cleared so that the load
/// cannot fault.
pub fn restore_legacy(image: &[u8; 512]) {
    let mut area = Legacy(*image);
    let mxcsr = u32::from_le_bytes([area.0[24], area.0[25], area.0[26], area.0[27]]) & 0xffff;
    area.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    // SAFETY: a 16-byte aligned 512-byte FXSAVE image with valid MXCSR.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack)) };
}

impl Drop for FpuState {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.area, self.layout) }
    }
}
