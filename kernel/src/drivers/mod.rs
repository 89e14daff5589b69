//! Device drivers: virtio transports (MMIO and PCI) and the block device.
pub mod block;
pub mod hal;
pub mod pci;
