//! virtio-net: the VM's Ethernet interface. Receive buffers stay posted in
//! the device; sends are queued and reclaimed later, never waited for.

use super::hal::KernelHal;
use super::transport;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use kiln_abi::errno::Errno;
use kiln_syscall::platform::NetDevice;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{DeviceType, SomeTransport};

/// Descriptors per queue: QEMU's default ring size, so bursts of replies
/// (ACKs for a window of data) do not find the transmit ring full.
const QUEUE_SIZE: usize = 256;
/// Room for a virtio-net header and a 1514-byte frame.
const BUF_LEN: usize = 2048;
/// Ethernet frame without FCS at the default MTU.
const MAX_FRAME: usize = 1514;

pub struct Nic {
    dev: VirtIONetRaw<KernelHal, SomeTransport<'static>, QUEUE_SIZE>,
    /// Receive buffers posted to the device, by token (a descriptor index,
    /// below QUEUE_SIZE).
    rx_posted: Slots,
    /// Transmit buffers the device still owns, by token.
    tx_inflight: Slots,
    tx_spare: Vec<Box<[u8]>>,
    /// Frames (header filled in, with their length) not yet handed to the
    /// device: those of the current stack turn (see `flush`), and those
    /// waiting for room in the transmit ring (a full ring delays a frame
    /// instead of dropping it: a dropped TCP segment costs at least a
    /// one-second retransmission).
    tx_backlog: VecDeque<(Box<[u8]>, usize)>,
    mac: [u8; 6],
}

/// Buffers the device owns, by the token it will hand back.
struct Slots(Vec<Option<Box<[u8]>>>);

impl Slots {
    fn new() -> Slots {
        Slots((0..QUEUE_SIZE).map(|_| None).collect())
    }
    fn insert(&mut self, token: u16, buf: Box<[u8]>) {
        // Tokens are descriptor indices, below QUEUE_SIZE; were one not, the
        // buffer must still be kept while the device owns it.
        let i = usize::from(token);
        if i >= self.0.len() {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(buf);
    }
    fn remove(&mut self, token: u16) -> Option<Box<[u8]>> {
        self.0.get_mut(usize::from(token))?.take()
    }
}

/// Frames held back while the transmit ring is full.
const TX_BACKLOG: usize = 1024;

impl Nic {
    /// Find and start the network device, if the VM has one.
    pub fn probe(cmdline: &str) -> Option<Nic> {
        let found = transport::find(cmdline, DeviceType::Network)?;
        let mut dev = VirtIONetRaw::<KernelHal, _, QUEUE_SIZE>::new(found.transport).ok()?;
        // Interrupts only while the kernel idles (see `set_interrupts`).
        dev.disable_interrupts();
        crate::arch::ioapic::route_device(found.irq);
        let mac = dev.mac_address();
        let mut nic = Nic {
            dev,
            rx_posted: Slots::new(),
            tx_inflight: Slots::new(),
            tx_spare: Vec::new(),
            tx_backlog: VecDeque::new(),
            mac,
        };
        for _ in 0..QUEUE_SIZE {
            nic.post_rx(vec![0u8; BUF_LEN].into_boxed_slice());
        }
        Some(nic)
    }

    fn post_rx(&mut self, mut buf: Box<[u8]>) {
        // SAFETY: the buffer is kept in rx_posted, untouched, until the
        // device hands it back through poll_receive.
        if let Ok(token) = unsafe { self.dev.receive_begin(&mut buf) } {
            self.rx_posted.insert(token, buf);
        }
    }

    /// Whether the device should interrupt when it has used buffers. The
    /// kernel turns them on only before it halts: while it runs, the stack
    /// looks at the rings anyway (after calls, at each tick), and every
    /// interrupt costs exits (the I/O APIC, the device's status and ack).
    /// A flag in the rings' memory: no exit.
    pub fn set_interrupts(&mut self, on: bool) {
        if on {
            self.dev.enable_interrupts();
        } else {
            self.dev.disable_interrupts();
        }
    }

    /// Whether a received frame waits in the ring (reads guest memory
    /// only: no exit).
    pub fn rx_ready(&mut self) -> bool {
        self.dev.poll_receive().is_some()
    }

    /// Acknowledge the device's interrupt (it deasserts its line).
    pub fn ack_interrupt(&mut self) {
        let _ = self.dev.ack_interrupt();
    }

    /// Take back transmit buffers the device is done with, and move held
    /// back frames into the room that made.
    fn reclaim_tx(&mut self) {
        self.take_back_sent();
        while let Some((buf, len)) = self.tx_backlog.pop_front() {
            // SAFETY: the buffer moves into tx_inflight and stays there
            // until the device reports the token done.
            match unsafe { self.dev.transmit_begin(&buf[..len]) } {
                Ok(token) => {
                    crate::profile::count(crate::profile::Counter::NetTx);
                    self.tx_inflight.insert(token, buf);
                }
                Err(_) => {
                    self.tx_backlog.push_front((buf, len));
                    break;
                }
            }
        }
    }

    /// Take back transmit buffers the device is done with.
    fn take_back_sent(&mut self) {
        while let Some(token) = self.dev.poll_transmit() {
            if let Some(buf) = self.tx_inflight.remove(token) {
                // SAFETY: `buf` is the buffer that was queued under `token`.
                let _ = unsafe { self.dev.transmit_complete(token, &buf) };
                self.tx_spare.push(buf);
            }
        }
    }
}

impl NetDevice for Nic {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn max_frame(&self) -> usize {
        MAX_FRAME
    }

    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.tx_backlog.is_empty() {
            self.reclaim_tx();
        }
        let Some(token) = self.dev.poll_receive() else {
            return false;
        };
        let Some(mut buf) = self.rx_posted.remove(token) else {
            return false;
        };
        // SAFETY: `buf` is the buffer that was posted under `token`.
        if let Ok((hdr, len)) = unsafe { self.dev.receive_complete(token, &mut buf) } {
            crate::profile::count(crate::profile::Counter::NetRx);
            f(&buf[hdr..hdr + len]);
        }
        self.post_rx(buf);
        true
    }

    fn can_transmit(&mut self) -> bool {
        self.tx_backlog.len() < TX_BACKLOG
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), Errno> {
        if frame.len() > MAX_FRAME {
            return Err(Errno::EMSGSIZE);
        }
        if self.tx_backlog.len() >= TX_BACKLOG {
            return Err(Errno::ENOBUFS);
        }
        if self.tx_spare.is_empty() {
            self.take_back_sent();
        }
        let mut buf = self
            .tx_spare
            .pop()
            .unwrap_or_else(|| vec![0u8; BUF_LEN].into_boxed_slice());
        let hdr = self
            .dev
            .fill_buffer_header(&mut buf)
            .map_err(|_| Errno::EIO)?;
        buf[hdr..hdr + frame.len()].copy_from_slice(frame);
        // Held until the stack's turn ends (`flush`).
        self.tx_backlog.push_back((buf, hdr + frame.len()));
        Ok(())
    }

    fn flush(&mut self) {
        self.reclaim_tx();
    }
}
