//! PCI configuration space through the legacy 0xcf8/0xcfc ports, and a scan
//! of bus 0 for virtio devices.

use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::DeviceType;
use x86_64::instructions::port::Port;

/// Configuration access mechanism #1.
pub struct PortCam;

impl PortCam {
    fn address(df: DeviceFunction, offset: u8) -> u32 {
        0x8000_0000
            | (df.bus as u32) << 16
            | (df.device as u32) << 11
            | (df.function as u32) << 8
            | (offset as u32 & 0xfc)
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        // SAFETY: the standard configuration mechanism ports.
        unsafe {
            Port::<u32>::new(0xcf8).write(Self::address(df, offset));
            Port::<u32>::new(0xcfc).read()
        }
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: the standard configuration mechanism ports.
        unsafe {
            Port::<u32>::new(0xcf8).write(Self::address(df, offset));
            Port::<u32>::new(0xcfc).write(data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// Find the first virtio device of `kind` on bus 0 and enable it.
pub fn find_virtio(kind: DeviceType) -> Option<(PciRoot<PortCam>, DeviceFunction)> {
    let mut root = PciRoot::new(PortCam);
    let found = root
        .enumerate_bus(0)
        .find(|(_, info)| virtio_device_type(info) == Some(kind))
        .map(|(df, _)| df)?;
    root.set_command(
        found,
        Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER,
    );
    Some((root, found))
}

/// The device's interrupt pin (1 = INTA .. 4 = INTD; 0 = none).
pub fn interrupt_pin(df: DeviceFunction) -> u8 {
    (PortCam.read_word(df, 0x3c) >> 8) as u8
}
