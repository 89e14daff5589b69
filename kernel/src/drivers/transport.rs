//! Finding virtio devices: MMIO slots named on the command line
//! (`virtio_mmio.device=SIZE@ADDR:IRQ`, microvm and Firecracker), then PCI.

use super::hal::KernelHal;
use super::pci;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceType, SomeTransport};
use virtio_drivers::Hal;

/// The (address, size, interrupt line) of each MMIO device on the command
/// line.
fn mmio_devices(cmdline: &str) -> impl Iterator<Item = (u64, u64, Option<u32>)> + '_ {
    cmdline.split_ascii_whitespace().filter_map(|w| {
        let spec = w.strip_prefix("virtio_mmio.device=")?;
        let (size, rest) = spec.split_once('@')?;
        let mut parts = rest.split(':');
        let addr = parts.next()?;
        let irq = parts.next().and_then(|i| i.parse().ok());
        let size = parse_size(size)?;
        let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?;
        Some((addr, size, irq))
    })
}

/// A found device and how it interrupts.
pub struct Found {
    pub transport: SomeTransport<'static>,
    pub irq: Irq,
}

/// Where a device's interrupt arrives.
#[derive(Clone, Copy, Debug)]
pub enum Irq {
    /// An I/O APIC line, active high (virtio-mmio).
    Line(u32),
    /// A PCI INTx pin (1 = INTA) of the device in `slot` on bus 0, routed
    /// by the chipset to an I/O APIC line.
    Pci {
        slot: u8,
        pin: u8,
    },
    Unknown,
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1024),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// Offset of the DeviceID register of a virtio-mmio device.
const MMIO_DEVICE_ID: usize = 8;

fn mmio(cmdline: &str, kind: DeviceType) -> Option<Found> {
    for (addr, size, irq) in mmio_devices(cmdline) {
        // SAFETY: the hypervisor placed a virtio-mmio device at `addr`.
        let header = unsafe { KernelHal::mmio_phys_to_virt(addr, size as usize) };
        // Look at the device ID before building a transport: dropping a
        // transport resets its device, which would break one already in use.
        // SAFETY: the DeviceID register of the mapped device.
        let id = unsafe {
            header
                .as_ptr()
                .add(MMIO_DEVICE_ID)
                .cast::<u32>()
                .read_volatile()
        };
        if id != kind as u32 {
            continue;
        }
        // SAFETY: `header` maps the device's registers for the kernel's lifetime.
        if let Ok(t) = unsafe { MmioTransport::new(header.cast::<VirtIOHeader>(), size as usize) } {
            let irq = irq.map_or(Irq::Unknown, Irq::Line);
            return Some(Found {
                transport: t.into(),
                irq,
            });
        }
    }
    None
}

fn pci(kind: DeviceType) -> Option<Found> {
    let (mut root, df) = pci::find_virtio(kind)?;
    let pin = pci::interrupt_pin(df);
    let t = PciTransport::new::<KernelHal, _>(&mut root, df).ok()?;
    let irq = if pin == 0 {
        Irq::Unknown
    } else {
        Irq::Pci {
            slot: df.device,
            pin,
        }
    };
    Some(Found {
        transport: t.into(),
        irq,
    })
}

/// The first virtio device of `kind`.
pub fn find(cmdline: &str, kind: DeviceType) -> Option<Found> {
    mmio(cmdline, kind).or_else(|| pci(kind))
}
