//! Everything specific to x86_64: boot stub, segments, traps, user entry,
//! CPU set-up. The rest of the kernel names `arch::` only.
mod boot;
pub mod cpu;
pub mod fpu;
pub mod frames;
pub mod gdt;
pub mod ioapic;
pub mod lapic;
mod multiboot;
mod stubs;
pub mod trap;
pub mod user;

/// Wait for an interrupt with interrupts enabled, then disable them again.
pub fn idle() {
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// Read the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
