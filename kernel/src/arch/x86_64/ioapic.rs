//! The I/O APIC: routes device interrupt lines to a vector. All device
//! lines share one vector: an interrupt only says "some device has work",
//! the kernel loop then polls the devices. A line that fired is masked until
//! the loop has serviced the devices (they deassert level-triggered lines
//! only when acknowledged), then unmasked.

use crate::mem::paging::map_mmio;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const IOAPIC_PHYS: u64 = 0xfec0_0000;
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REDIRECTION_BASE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const LEVEL: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

/// Vector of every device interrupt.
pub const DEVICE_VECTOR: u64 = 33;

static BASE: AtomicU64 = AtomicU64::new(0);
/// Lines routed to DEVICE_VECTOR (bit per GSI, up to 32).
static ROUTED: AtomicU32 = AtomicU32::new(0);
static LINE_FLAGS: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

fn write(reg: u32, value: u32) {
    let base = BASE.load(Ordering::Relaxed) as usize;
    // SAFETY: the I/O APIC's index/data register pair, mapped uncached.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *mut u32).write_volatile(value);
    }
}

fn read(reg: u32) -> u32 {
    let base = BASE.load(Ordering::Relaxed) as usize;
    // SAFETY: as in write.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *const u32).read_volatile()
    }
}

/// Map the I/O APIC and mask every line.
pub fn init() {
    BASE.store(map_mmio(IOAPIC_PHYS, 4096), Ordering::Relaxed);
    let lines = ((read(1) >> 16) & 0xff) + 1;
    for gsi in 0..lines.min(32) {
        write(REDIRECTION_BASE + 2 * gsi, MASKED);
        write(REDIRECTION_BASE + 2 * gsi + 1, 0);
    }
}

/// Send line `gsi` (level-triggered) to the device vector on CPU 0.
pub fn route(gsi: u32, active_low: bool) {
    if gsi >= 32 {
        return;
    }
    let flags = DEVICE_VECTOR as u32 | LEVEL | if active_low { ACTIVE_LOW } else { 0 };
    LINE_FLAGS[gsi as usize].store(flags, Ordering::Relaxed);
    ROUTED.fetch_or(1 << gsi, Ordering::Relaxed);
    write(REDIRECTION_BASE + 2 * gsi + 1, 0);
    write(REDIRECTION_BASE + 2 * gsi, flags);
}

/// The I/O APIC line of a PCI INTx pin on q35: devices in slots 0..23 of
/// bus 0 use the chipset's PIRQ E..H, rotating with slot and pin, and PIRQ
/// E..H arrive at inputs 20..23, active low (QEMU's ICH9 routing, as its
/// ACPI tables describe it).
fn q35_pci_line(slot: u8, pin: u8) -> u32 {
    20 + (slot as u32 + pin as u32 - 1) % 4
}

/// Route a device's interrupt.
pub fn route_device(irq: crate::drivers::transport::Irq) {
    use crate::drivers::transport::Irq;
    match irq {
        Irq::Line(gsi) => route(gsi, false),
        Irq::Pci { slot, pin } => route(q35_pci_line(slot, pin), true),
        Irq::Unknown => {}
    }
}

/// In the interrupt: mask every routed line (which one fired does not
/// matter: the loop polls all devices).
pub fn mask_all() {
    let routed = ROUTED.load(Ordering::Relaxed);
    for gsi in 0..32 {
        if routed & (1 << gsi) != 0 {
            write(
                REDIRECTION_BASE + 2 * gsi,
                LINE_FLAGS[gsi as usize].load(Ordering::Relaxed) | MASKED,
            );
        }
    }
}

/// After the devices were serviced: let their lines interrupt again.
pub fn unmask_all() {
    let routed = ROUTED.load(Ordering::Relaxed);
    for gsi in 0..32 {
        if routed & (1 << gsi) != 0 {
            write(
                REDIRECTION_BASE + 2 * gsi,
                LINE_FLAGS[gsi as usize].load(Ordering::Relaxed),
            );
        }
    }
}
