//! The control channel from `kiln run`: the second serial port (COM2). The
//! host writes one byte per request; today the only request is `T`:
//! shut down (the program gets SIGTERM).

use x86_64::instructions::port::Port;

const COM2: u16 = 0x2f8;
const SHUTDOWN: u8 = b'T';

/// Program COM2 like COM1 (no interrupts: the tick polls it).
pub fn init() {
    // SAFETY: standard 16550 programming on COM2's fixed ports; absent
    // hardware ignores it.
    unsafe {
        Port::<u8>::new(COM2 + 1).write(0x00);
        Port::<u8>::new(COM2 + 3).write(0x03);
        Port::<u8>::new(COM2 + 2).write(0xc7);
    }
}

/// Whether the host asked for a shutdown since the last call.
pub fn shutdown_requested() -> bool {
    let mut lsr = Port::<u8>::new(COM2 + 5);
    let mut data = Port::<u8>::new(COM2);
    let mut requested = false;
    // SAFETY: reading COM2's line status and data registers. A missing port
    // reads as 0xff: bit 0 set but every "byte" 0xff, which is no request;
    // the loop is bounded for that case.
    unsafe {
        for _ in 0..16 {
            let status = lsr.read();
            if status == 0xff || status & 1 == 0 {
                break;
            }
            requested |= data.read() == SHUTDOWN;
        }
    }
    requested
}
