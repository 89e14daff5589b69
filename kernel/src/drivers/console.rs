//! virtio-console: the program's standard input and output when the VM has
//! one. A write is one request to the device (one exit, one host write)
//! instead of two port accesses per byte on the UART, so a program that
//! logs a line per request is not throttled by its console.

use super::hal::KernelHal;
use super::transport;
use alloc::boxed::Box;
use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::transport::{DeviceType, SomeTransport};

/// Bytes per request: writes are copied into one bounce buffer of this size.
const CHUNK: usize = 4096;

pub struct VirtConsole {
    dev: VirtIOConsole<KernelHal, SomeTransport<'static>>,
    /// Requests go out of this buffer: the caller's bytes may live anywhere.
    bounce: Box<[u8; CHUNK]>,
}

impl VirtConsole {
    /// Find the console device, if the VM has one.
    pub fn probe(cmdline: &str) -> Option<VirtConsole> {
        let found = transport::find(cmdline, DeviceType::Console)?;
        let dev = VirtIOConsole::<KernelHal, _>::new(found.transport).ok()?;
        Some(VirtConsole {
            dev,
            bounce: Box::new([0; CHUNK]),
        })
    }

    /// Write `data`; false if the device refused it (the caller falls back
    /// to the UART).
    pub fn write(&mut self, data: &[u8]) -> bool {
        for chunk in data.chunks(CHUNK) {
            let buf = &mut self.bounce[..chunk.len()];
            buf.copy_from_slice(chunk);
            if self.dev.send_bytes(buf).is_err() {
                return false;
            }
        }
        true
    }

    /// Whether a byte of input is waiting.
    pub fn input_ready(&mut self) -> bool {
        matches!(self.dev.recv(false), Ok(Some(_)))
    }

    /// Take the input that has arrived, without waiting.
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match self.dev.recv(true) {
                Ok(Some(b)) => {
                    buf[n] = b;
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }
}
