//! The local APIC timer, one-shot: the idle loop arms it for the next
//! deadline and halts, so waiting costs no CPU.

use crate::mem::paging::map_mmio;
use core::sync::atomic::{AtomicU64, Ordering};

const LAPIC_PHYS: u64 = 0xfee0_0000;
const EOI: usize = 0xb0;
const SVR: usize = 0xf0;
const LVT_TIMER: usize = 0x320;
const INITIAL_COUNT: usize = 0x380;
const CURRENT_COUNT: usize = 0x390;
const DIVIDE: usize = 0x3e0;
/// Interrupt request register: 8 words of 32 vectors, 16 bytes apart.
const IRR: usize = 0x200;
const PERIODIC: u32 = 1 << 17;

/// Vector of the timer interrupt.
pub const TIMER_VECTOR: u64 = 32;
/// Vector for spurious interrupts (low nibble all ones).
pub const SPURIOUS_VECTOR: u32 = 47;

static BASE: AtomicU64 = AtomicU64::new(0);
/// Timer ticks per millisecond.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn reg(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn write(offset: usize, v: u32) {
    // SAFETY: a register of the local APIC, mapped uncached at BASE.
    unsafe { reg(offset).write_volatile(v) }
}

fn read(offset: usize) -> u32 {
    // SAFETY: as in write.
    unsafe { reg(offset).read_volatile() }
}

/// Map and enable the local APIC, and measure its timer against the
/// (already calibrated) monotonic clock.
pub fn init(monotonic_ns: fn() -> u64) {
    BASE.store(map_mmio(LAPIC_PHYS, 4096), Ordering::Relaxed);
    write(SVR, 0x100 | SPURIOUS_VECTOR);
    write(DIVIDE, 0x3); // divide by 16
    write(LVT_TIMER, 1 << 16); // masked while measuring
    write(INITIAL_COUNT, u32::MAX);
    let t0 = monotonic_ns();
    while monotonic_ns() - t0 < 1_000_000 {
        core::hint::spin_loop();
    }
    let elapsed = u32::MAX - read(CURRENT_COUNT);
    let ns = monotonic_ns() - t0;
    TICKS_PER_MS.store(
        (elapsed as u64 * 1_000_000 / ns.max(1)).max(1),
        Ordering::Relaxed,
    );
    write(INITIAL_COUNT, 0);
    write(LVT_TIMER, TIMER_VECTOR as u32); // one-shot, unmasked
}

fn ticks(ns: u64) -> u32 {
    (ns.min(1_000_000_000) * TICKS_PER_MS.load(Ordering::Relaxed) / 1_000_000)
        .clamp(1, u32::MAX as u64) as u32
}

/// Tick every `ns` nanoseconds while the program runs, so the kernel gets
/// control back from a program that makes no system calls.
pub fn start_periodic(ns: u64) {
    write(LVT_TIMER, TIMER_VECTOR as u32 | PERIODIC);
    write(INITIAL_COUNT, ticks(ns));
}

/// Fire once after `ns` nanoseconds (at most about 1 s; callers re-arm),
/// for a wait; `start_periodic` resumes the regular tick afterwards.
pub fn arm_oneshot(ns: u64) {
    write(LVT_TIMER, TIMER_VECTOR as u32);
    write(INITIAL_COUNT, ticks(ns));
}

/// Whether a timer interrupt waits to be delivered (one that came while
/// interrupts were off: the kernel ran when it was due).
pub fn timer_pending() -> bool {
    let v = TIMER_VECTOR as usize;
    read(IRR + 0x10 * (v / 32)) & (1 << (v % 32)) != 0
}

/// Acknowledge the interrupt being handled.
pub fn eoi() {
    write(EOI, 0);
}
