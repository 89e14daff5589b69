//! Clocks: the TSC, calibrated at boot against the PIT, gives monotonic
//! time; the CMOS RTC gives the wall-clock time at boot.

use crate::arch::rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick, fixed-point with 32 fractional bits (the same
/// formula the vDSO uses, so both clocks agree).
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(1 << 32);
static EPOCH_NS_AT_BOOT: AtomicU64 = AtomicU64::new(0);

const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 2^12 PIT ticks, about 3.4 ms.
const CAL_TICKS: u64 = 4096;

fn pit_count(cmd: &mut Port<u8>, ch0: &mut Port<u8>) -> u16 {
    // SAFETY: latch and read channel 0's counter.
    unsafe {
        cmd.write(0x00);
        let lo = ch0.read() as u16;
        let hi = ch0.read() as u16;
        (hi << 8) | lo
    }
}

/// Measure the TSC against the PIT (channel 0, rate generator, counted by
/// polling: no interrupt needed). Falls back to CPUID leaf 0x15/0x16.
fn calibrate() -> u64 {
    let mut cmd = Port::<u8>::new(0x43);
    let mut ch0 = Port::<u8>::new(0x40);
    // SAFETY: program channel 0: lobyte/hibyte, mode 2, reload 0 (65536).
    unsafe {
        cmd.write(0x34);
        ch0.write(0);
        ch0.write(0);
    }
    let first = pit_count(&mut cmd, &mut ch0);
    let mut prev = first;
    let mut elapsed = 0u64;
    let t0 = rdtsc();
    let mut spins = 0u32;
    while elapsed < CAL_TICKS {
        let now = pit_count(&mut cmd, &mut ch0);
        elapsed += prev.wrapping_sub(now) as u64;
        prev = now;
        spins += 1;
        if spins > 2_000_000 || (spins > 1000 && elapsed == 0) {
            return cpuid_tsc_per_us_fp().unwrap_or(1000 << 16);
        }
    }
    let t1 = rdtsc();
    // ticks per us = (t1 - t0) / (elapsed / PIT_HZ * 1e6)
    ((t1 - t0) as u128 * PIT_HZ as u128 * 65536 / (elapsed as u128 * 1_000_000)) as u64
}

fn cpuid_tsc_per_us_fp() -> Option<u64> {
    let l15 = core::arch::x86_64::__cpuid(0x15);
    if l15.eax != 0 && l15.ebx != 0 && l15.ecx != 0 {
        let hz = l15.ecx as u64 * l15.ebx as u64 / l15.eax as u64;
        return Some((hz << 16) / 1_000_000);
    }
    let l16 = core::arch::x86_64::__cpuid(0x16);
    (l16.eax != 0).then_some((l16.eax as u64) << 16)
}

fn cmos(reg: u8) -> u8 {
    // SAFETY: select a CMOS register (NMI left enabled) and read it.
    unsafe {
        Port::<u8>::new(0x70).write(reg);
        Port::<u8>::new(0x71).read()
    }
}

/// Wall-clock seconds since the epoch from the CMOS RTC (0 if absent).
fn rtc_epoch_seconds() -> u64 {
    let mut spins = 0;
    while cmos(0x0a) & 0x80 != 0 && spins < 100_000 {
        spins += 1;
    }
    let status_b = cmos(0x0b);
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| if bcd { (v & 0x0f) + (v >> 4) * 10 } else { v } as u64;
    let sec = conv(cmos(0x00));
    let min = conv(cmos(0x02));
    let hour_raw = cmos(0x04);
    let mut hour = conv(hour_raw & 0x7f);
    if status_b & 0x02 == 0 && hour_raw & 0x80 != 0 {
        hour = (hour % 12) + 12;
    }
    let day = conv(cmos(0x07));
    let month = conv(cmos(0x08));
    let year = 2000 + conv(cmos(0x09));
    if !(1..=12).contains(&month) || day == 0 || day > 31 {
        return 0;
    }
    days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec
}

/// Days since 1970-01-01 of a Gregorian date.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as u64
}

pub fn init() {
    let (mult, epoch) = match crate::kvmclock::read() {
        // Under KVM the hypervisor states the TSC rate and the wall clock.
        Some(k) => (k.ns_per_tick_fp32, k.epoch_ns),
        None => {
            // ticks per us (16 fractional bits) -> ns per tick (32 bits).
            let per_us_fp16 = calibrate().max(1) as u128;
            (
                ((1000u128 << 48) / per_us_fp16) as u64,
                rtc_epoch_seconds() * 1_000_000_000,
            )
        }
    };
    NS_PER_TICK_FP32.store(mult, Ordering::Relaxed);
    EPOCH_NS_AT_BOOT.store(epoch, Ordering::Relaxed);
    let base = rdtsc();
    TSC_AT_BOOT.store(base, Ordering::Relaxed);
    crate::vdso::publish(base, mult, epoch);
}

/// Nanoseconds since boot.
pub fn monotonic_ns() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    ((ticks as u128 * NS_PER_TICK_FP32.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// Nanoseconds since the epoch.
pub fn realtime_ns() -> u64 {
    EPOCH_NS_AT_BOOT.load(Ordering::Relaxed) + monotonic_ns()
}
