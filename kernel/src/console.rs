//! The console: the program's stdin/stdout and the kernel's messages. It is
//! the virtio console once the VM has one (see `drivers::console`), else
//! the serial port (16550 at 0x3f8), which also carries what the kernel
//! says before the virtio console is up and when it panics.

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

/// Most console output held before it is sent at once.
const MAX_PENDING: usize = 64 * 1024;

/// The console's two ways out.
pub struct Console {
    serial: Serial,
    virtio: Option<crate::drivers::console::VirtConsole>,
    /// Output for the virtio console not sent yet: a program that writes
    /// a line per request costs one request to the device per batch, not
    /// per line. Sent when the kernel would idle, at each tick, when it
    /// grows large, and before the VM ends.
    pending: alloc::vec::Vec<u8>,
}

impl Console {
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if self.virtio.is_none() {
            self.serial.write_bytes(bytes);
            return;
        }
        if self.pending.len() + bytes.len() > MAX_PENDING {
            self.flush();
        }
        if bytes.len() > MAX_PENDING {
            self.send(bytes);
        } else if self.pending.try_reserve(bytes.len()).is_ok() {
            self.pending.extend_from_slice(bytes);
        } else {
            self.send(bytes);
        }
    }

    /// Send what is pending.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = core::mem::take(&mut self.pending);
        self.send(&pending);
        // Keep the buffer's memory for the next batch.
        self.pending = pending;
        self.pending.clear();
    }

    fn send(&mut self, bytes: &[u8]) {
        let sent = self.virtio.as_mut().is_some_and(|v| v.write(bytes));
        if !sent {
            self.serial.write_bytes(bytes);
        }
    }

    pub fn input_ready(&mut self) -> bool {
        match &mut self.virtio {
            Some(v) => v.input_ready(),
            None => self.serial.input_ready(),
        }
    }

    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        match &mut self.virtio {
            Some(v) => v.read_available(buf),
            None => self.serial.read_available(buf),
        }
    }
}

/// Send the console output that is waiting.
pub fn flush() {
    CONSOLE.lock().flush();
}

/// [`flush`], unless the console is in use (a failure that struck there).
pub fn try_flush() {
    if let Some(mut c) = CONSOLE.try_lock() {
        c.flush();
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

pub static CONSOLE: Mutex<Console> = Mutex::new(Console {
    serial: Serial::new(),
    virtio: None,
    pending: alloc::vec::Vec::new(),
});

pub fn init() {
    CONSOLE.lock().serial.init();
}

/// From now on the console is the virtio console (when the VM has one).
pub fn attach_virtio(cmdline: &str) {
    if let Some(v) = crate::drivers::console::VirtConsole::probe(cmdline) {
        CONSOLE.lock().virtio = Some(v);
    }
}

/// Whether the console is the virtio console.
pub fn is_virtio() -> bool {
    CONSOLE.lock().virtio.is_some()
}

#[doc(hidden)]
pub fn print_fmt(args: core::fmt::Arguments) {
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Print on the serial port without the console's lock: for a panic, which
/// may have struck while the lock was held or inside the virtio driver.
/// What the program wrote before is sent first if the console is free.
pub fn emergency_print(args: core::fmt::Arguments) {
    try_flush();
    let _ = Serial::new().write_fmt(args);
}

/// How much the kernel says (`kiln.log=quiet|verbose`): 0 only the
/// program's output and errors, 1 also notes, 2 also boot and device lines.
static LEVEL: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(1);

pub const QUIET: u8 = 0;
pub const NORMAL: u8 = 1;
pub const VERBOSE: u8 = 2;

/// Take the level from the command line.
pub fn set_level(cmdline: &str) {
    for w in cmdline.split_ascii_whitespace() {
        match w {
            "kiln.log=quiet" => LEVEL.store(QUIET, core::sync::atomic::Ordering::Relaxed),
            "kiln.log=verbose" => LEVEL.store(VERBOSE, core::sync::atomic::Ordering::Relaxed),
            _ => {}
        }
    }
}

/// Whether lines of `level` are printed.
pub fn says(level: u8) -> bool {
    LEVEL.load(core::sync::atomic::Ordering::Relaxed) >= level
}

/// A note (left out by `kiln run -q`).
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if $crate::console::says($crate::console::NORMAL) {
            $crate::println!($($arg)*);
        }
    };
}

/// A boot or device line (shown by `kiln run -v`).
#[macro_export]
macro_rules! verbose {
    ($($arg:tt)*) => {
        if $crate::console::says($crate::console::VERBOSE) {
            $crate::println!($($arg)*);
        }
    };
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
