//! The loopback lane's device: what it sends, it receives, in order. Like
//! smoltcp's `Loopback`, but the queue can be looked at and a packet
//! dropped before the interface sees it (see [`super::syn_gate`]).

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// IP packets (no link layer) queued from send to receive.
#[derive(Default)]
pub struct LoDevice {
    queue: VecDeque<Vec<u8>>,
}

impl LoDevice {
    /// The packet the interface would receive next.
    pub fn front(&self) -> Option<&[u8]> {
        self.queue.front().map(Vec::as_slice)
    }

    /// Drop the packet the interface would receive next.
    pub fn drop_front(&mut self) {
        self.queue.pop_front();
    }
}

pub struct LoRx(Vec<u8>);

impl phy::RxToken for LoRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub struct LoTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for LoTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0; len];
        let r = f(&mut packet);
        self.0.push_back(packet);
        r
    }
}

impl phy::Device for LoDevice {
    type RxToken<'a> = LoRx;
    type TxToken<'a> = LoTx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.max_transmission_unit = 65535;
        caps.medium = Medium::Ip;
        // Nothing corrupts a packet in memory: skip checksums both ways.
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }

    fn receive(&mut self, _now: Instant) -> Option<(LoRx, LoTx<'_>)> {
        let packet = self.queue.pop_front()?;
        Some((LoRx(packet), LoTx(&mut self.queue)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<LoTx<'_>> {
        Some(LoTx(&mut self.queue))
    }
}
