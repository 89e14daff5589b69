//! Device drivers: virtio transports (MMIO and PCI), the block device that
//! holds the image, and the network interface.
pub mod block;
pub mod console;
pub mod hal;
pub mod net;
pub mod pci;
pub mod transport;
