//! The serial console (16550 at 0x3f8): the program's stdin/stdout and the
//! kernel's messages.

use core::fmt::Write;
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
/// The `--trace` channel (an isa-debugcon that `kiln run` adds with
/// `--trace`): trace lines stay out of the program's output.
const TRACE_PORT: u16 = 0xe8;

pub struct Serial {
    data: Port<u8>,
    line_status: Port<u8>,
}

impl Serial {
    const fn new() -> Self {
        Serial {
            data: Port::new(COM1),
            line_status: Port::new(COM1 + 5),
        }
    }

    fn init(&mut self) {
        // SAFETY: standard 16550 programming on its fixed ports: 115200 8N1,
        // FIFOs on, interrupts off (the idle loop polls).
        unsafe {
            Port::<u8>::new(COM1 + 1).write(0x00);
            Port::<u8>::new(COM1 + 3).write(0x80);
            Port::<u8>::new(COM1).write(0x01);
            Port::<u8>::new(COM1 + 1).write(0x00);
            Port::<u8>::new(COM1 + 3).write(0x03);
            Port::<u8>::new(COM1 + 2).write(0xc7);
            Port::<u8>::new(COM1 + 4).write(0x03);
        }
    }

    /// Write bytes as they are: `kiln run` hands them to a host terminal
    /// that does its own newline translation, or to a pipe that wants them
    /// unchanged.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.put(b);
        }
    }

    fn put(&mut self, b: u8) {
        // SAFETY: reading the line status and writing the data register.
        unsafe {
            // The transmitter is ready at once under emulation; on real
            // hardware this waits only while the FIFO is full.
            while self.line_status.read() & 0x20 == 0 {
                core::hint::spin_loop();
            }
            self.data.write(b);
        }
    }

    /// Whether a byte is waiting.
    pub fn input_ready(&mut self) -> bool {
        // SAFETY: reading the line status register.
        unsafe { self.line_status.read() & 1 != 0 }
    }

    /// Take the bytes that have arrived, without waiting.
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() && self.input_ready() {
            // SAFETY: a byte is ready in the receive register.
            buf[n] = unsafe { self.data.read() };
            n += 1;
        }
        n
    }
}

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Write `--trace` output to its channel.
pub fn trace(data: &[u8]) {
    let mut port = Port::<u8>::new(TRACE_PORT);
    for &b in data {
        // SAFETY: writing to the trace port; without the device QEMU drops it.
        unsafe { port.write(b) };
    }
}

pub static SERIAL: Mutex<Serial> = Mutex::new(Serial::new());

pub fn init() {
    SERIAL.lock().init();
}

#[doc(hidden)]
pub fn print_fmt(args: core::fmt::Arguments) {
    let _ = SERIAL.lock().write_fmt(args);
}

/// Print to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!($($arg)*)));
}

/// Print a line to the console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}
