//! The image disk: virtio-blk over MMIO (microvm, Firecracker; addresses on
//! the command line) or PCI (q35, pc).

use super::hal::KernelHal;
use super::pci;
use kiln_syscall::errno::Errno;
use kiln_syscall::platform::BlockDevice;
use virtio_drivers::device::blk::{VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceType, SomeTransport, Transport};

/// Largest single request; larger reads are split.
const MAX_REQUEST: usize = 128 * 1024;

pub struct Disk {
    dev: VirtIOBlk<KernelHal, SomeTransport<'static>>,
    size: u64,
}

/// One `virtio_mmio.device=SIZE@ADDR:IRQ` entry of the command line.
fn mmio_devices(cmdline: &str) -> impl Iterator<Item = (u64, u64)> + '_ {
    cmdline.split_ascii_whitespace().filter_map(|w| {
        let spec = w.strip_prefix("virtio_mmio.device=")?;
        let (size, rest) = spec.split_once('@')?;
        let addr = rest.split(':').next()?;
        let size = parse_size(size)?;
        let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?;
        Some((addr, size))
    })
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1024),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn mmio_block(cmdline: &str) -> Option<SomeTransport<'static>> {
    for (addr, size) in mmio_devices(cmdline) {
        // SAFETY: the hypervisor placed a virtio-mmio device at `addr`.
        let header = unsafe { <KernelHal as virtio_drivers::Hal>::mmio_phys_to_virt(addr, size as usize) };
        // SAFETY: `header` maps the device's registers for the kernel's lifetime.
        if let Ok(t) = unsafe { MmioTransport::new(header.cast::<VirtIOHeader>(), size as usize) } {
            if t.device_type() == DeviceType::Block {
                return Some(t.into());
            }
        }
    }
    None
}

fn pci_block() -> Option<SomeTransport<'static>> {
    let (mut root, df) = pci::find_virtio(DeviceType::Block)?;
    PciTransport::new::<KernelHal, _>(&mut root, df).ok().map(Into::into)
}

impl Disk {
    /// Find the disk: MMIO devices named on the command line first, then PCI.
    pub fn probe(cmdline: &str) -> Option<Disk> {
        let transport = mmio_block(cmdline).or_else(pci_block)?;
        let dev = VirtIOBlk::<KernelHal, _>::new(transport).ok()?;
        let size = dev.capacity() * SECTOR_SIZE as u64;
        Some(Disk { dev, size })
    }
}

impl BlockDevice for Disk {
    fn read_sectors(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.len() % SECTOR_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        for (i, chunk) in buf.chunks_mut(MAX_REQUEST).enumerate() {
            let at = sector + (i * MAX_REQUEST / SECTOR_SIZE) as u64;
            self.dev.read_blocks(at as usize, chunk).map_err(|_| Errno::EIO)?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

