//! The image disk: virtio-blk over MMIO (microvm, Firecracker; addresses on
//! the command line) or PCI (q35, pc).

use super::hal::KernelHal;
use super::transport;
use kiln_abi::errno::Errno;
use kiln_syscall::platform::BlockDevice;
use virtio_drivers::device::blk::{VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::{DeviceType, SomeTransport};

/// Largest single request; larger reads are split.
const MAX_REQUEST: usize = 128 * 1024;

pub struct Disk {
    dev: VirtIOBlk<KernelHal, SomeTransport<'static>>,
    size: u64,
}

impl Disk {
    /// Find the disk: MMIO devices named on the command line first, then PCI.
    pub fn probe(cmdline: &str) -> Option<Disk> {
        let found = transport::find(cmdline, DeviceType::Block)?;
        let mut dev = VirtIOBlk::<KernelHal, _>::new(found.transport).ok()?;
        // Requests are polled to completion; the disk never interrupts.
        dev.disable_interrupts();
        let size = dev.capacity() * SECTOR_SIZE as u64;
        Some(Disk { dev, size })
    }
}

impl BlockDevice for Disk {
    fn read_sectors(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(Errno::EINVAL);
        }
        for (i, chunk) in buf.chunks_mut(MAX_REQUEST).enumerate() {
            crate::profile::count(crate::profile::Counter::BlockRead);
            let at = sector + (i * MAX_REQUEST / SECTOR_SIZE) as u64;
            self.dev
                .read_blocks(at as usize, chunk)
                .map_err(|_| Errno::EIO)?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}
