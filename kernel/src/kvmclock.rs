//! kvmclock: under KVM the hypervisor publishes the TSC's rate and the wall
//! clock, so the kernel need not measure them (faster boot, exact rate).

use crate::mem::layout::virt_to_phys;
use core::arch::x86_64::__cpuid;
use core::sync::atomic::{fence, Ordering};
use x86_64::registers::model_specific::Msr;

const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;

/// `struct pvclock_vcpu_time_info`.
#[repr(C, align(64))]
#[derive(Default)]
struct TimeInfo {
    version: u32,
    pad0: u32,
    tsc_timestamp: u64,
    system_time: u64,
    tsc_to_system_mul: u32,
    tsc_shift: i8,
    flags: u8,
    pad: [u8; 2],
}

/// `struct pvclock_wall_clock`.
#[repr(C, align(16))]
#[derive(Default)]
struct WallClock {
    version: u32,
    sec: u32,
    nsec: u32,
}

/// What kvmclock says.
pub struct KvmClock {
    /// Nanoseconds per TSC tick, 32 fractional bits.
    pub ns_per_tick_fp32: u64,
    /// Nanoseconds since the epoch now (the kernel's clock starts here).
    pub epoch_ns: u64,
}

fn kvm_features() -> Option<u32> {
    let leaf = __cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&leaf.edx.to_le_bytes());
    (&sig == b"KVMKVMKVM\0\0\0" && leaf.eax >= 0x4000_0001).then(|| __cpuid(0x4000_0001).eax)
}

/// Read kvmclock once, if the hypervisor offers it.
pub fn read() -> Option<KvmClock> {
    if kvm_features()? & KVM_FEATURE_CLOCKSOURCE2 == 0 {
        return None;
    }
    let mut info = TimeInfo::default();
    let mut wall = WallClock::default();
    // SAFETY: the MSRs take the physical addresses of the two structures,
    // which live on this stack frame until the MSRs are turned off below.
    unsafe {
        Msr::new(MSR_KVM_SYSTEM_TIME_NEW).write(virt_to_phys(&raw mut info as u64) | 1);
        Msr::new(MSR_KVM_WALL_CLOCK_NEW).write(virt_to_phys(&raw mut wall as u64));
    }
    fence(Ordering::SeqCst);
    let ptr = &raw const info;
    // SAFETY: the hypervisor has filled the structures; volatile reads as
    // it may update them.
    let (mul, shift) = unsafe {
        (
            core::ptr::read_volatile(&raw const (*ptr).tsc_to_system_mul),
            core::ptr::read_volatile(&raw const (*ptr).tsc_shift),
        )
    };
    let wall_ptr = &raw const wall;
    // SAFETY: as above.
    let (sec, nsec) = unsafe {
        (
            core::ptr::read_volatile(&raw const (*wall_ptr).sec),
            core::ptr::read_volatile(&raw const (*wall_ptr).nsec),
        )
    };
    // SAFETY: turning the time structure's updates off before it goes.
    unsafe { Msr::new(MSR_KVM_SYSTEM_TIME_NEW).write(0) };
    if mul == 0 {
        return None;
    }
    // ns = ((ticks << shift) * mul) >> 32, with a negative shift meaning >>.
    let mult = if shift >= 0 {
        (mul as u64) << shift
    } else {
        (mul as u64) >> (-shift)
    };
    // The wall clock is the epoch time of the guest's system_time 0 (boot).
    Some(KvmClock {
        ns_per_tick_fp32: mult,
        epoch_ns: sec as u64 * 1_000_000_000 + nsec as u64,
    })
}
