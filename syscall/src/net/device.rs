//! smoltcp's `phy::Device` over the kernel's [`NetDevice`]: frames are copied
//! in and out. Receiving is batched: [`EthDevice::fill`] takes every frame the
//! device holds (up to a bound) before the interface processes them one by
//! one.

use crate::platform::NetDevice;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Most frames taken from the device in one poll; the rest wait for the next
/// poll, which [`super::NetStack::poll`] then asks for at once.
pub const RX_BATCH: usize = 256;

/// One poll's view of the Ethernet device.
pub struct EthDevice<'d> {
    dev: &'d mut dyn NetDevice,
    rx: VecDeque<Vec<u8>>,
    scratch: Vec<u8>,
    /// Whether the device may still hold frames after the last `fill`.
    pub more: bool,
}

impl<'d> EthDevice<'d> {
    pub fn new(dev: &'d mut dyn NetDevice) -> Self {
        EthDevice {
            dev,
            rx: VecDeque::new(),
            scratch: Vec::new(),
            more: false,
        }
    }

    /// Take the frames that have arrived, at most [`RX_BATCH`] in all queued.
    pub fn fill(&mut self) {
        let rx = &mut self.rx;
        self.more = false;
        while rx.len() < RX_BATCH {
            if !self.dev.receive(&mut |f| rx.push_back(f.to_vec())) {
                return;
            }
        }
        self.more = true;
    }

    /// The frame the interface would receive next.
    pub fn front(&self) -> Option<&[u8]> {
        self.rx.front().map(Vec::as_slice)
    }

    /// Drop the frame the interface would receive next.
    pub fn drop_front(&mut self) {
        self.rx.pop_front();
    }

    /// Hand the frames sent in this turn to the device.
    pub fn flush(&mut self) {
        self.dev.flush();
    }

    /// Whether a taken frame still waits for the interface.
    pub fn pending(&self) -> bool {
        !self.rx.is_empty()
    }
}

pub struct RxToken {
    frame: Vec<u8>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.frame)
    }
}

pub struct TxToken<'a> {
    dev: &'a mut dyn NetDevice,
    scratch: &'a mut Vec<u8>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.scratch.clear();
        self.scratch.resize(len, 0);
        let r = f(self.scratch);
        // A full queue drops the frame, as a busy wire would; TCP resends.
        let _ = self.dev.transmit(self.scratch);
        r
    }
}

impl phy::Device for EthDevice<'_> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            RxToken { frame },
            TxToken {
                dev: &mut *self.dev,
                scratch: &mut self.scratch,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        if !self.dev.can_transmit() {
            return None;
        }
        Some(TxToken {
            dev: &mut *self.dev,
            scratch: &mut self.scratch,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.dev.max_frame();
        caps.max_burst_size = None;
        caps
    }
}
