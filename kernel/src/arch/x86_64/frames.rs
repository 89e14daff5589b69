//! The kernel's own call stack, for a panic report: the kernel is built
//! with frame pointers (`.cargo/config.toml`), so each frame starts with the
//! caller's `rbp` and the return address.

/// Most frames reported.
const MAX_FRAMES: usize = 32;
/// Frames lie within this distance above the stack pointer.
const MAX_STACK: u64 = 256 * 1024;

/// Call `f` with each return address of the current call stack, innermost
/// first (no allocation: the heap may be what failed).
pub fn each_return_address(mut f: impl FnMut(u64)) {
    let (mut rbp, rsp): (u64, u64);
    // SAFETY: reads two registers, nothing else.
    unsafe {
        core::arch::asm!("mov {}, rbp", "mov {}, rsp", out(reg) rbp, out(reg) rsp,
            options(nomem, nostack, preserves_flags));
    }
    let mut count = 0;
    let within = |p: u64| p >= rsp && p.saturating_sub(rsp) < MAX_STACK && p.is_multiple_of(8);
    while count < MAX_FRAMES && within(rbp) && within(rbp + 8) {
        // SAFETY: `rbp` and `rbp + 8` lie on the current kernel stack,
        // between its pointer and a bound it cannot exceed, so they are
        // mapped; the frame-pointer chain makes them a saved rbp and a
        // return address.
        let (next, ret) = unsafe { ((rbp as *const u64).read(), ((rbp + 8) as *const u64).read()) };
        if ret == 0 {
            break;
        }
        f(ret);
        count += 1;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}
