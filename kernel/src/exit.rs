//! Ending the VM. The status goes to the host twice: as a line `exit N` on
//! the control port (isa-debugcon at 0xe9, read by `kiln run`), and through
//! isa-debug-exit (0xf4), which stops QEMU.

use core::fmt::Write;
use x86_64::instructions::port::Port;

const CONTROL_PORT: u16 = 0xe9;
const DEBUG_EXIT_PORT: u16 = 0xf4;

struct Control;

impl Write for Control {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut port = Port::<u8>::new(CONTROL_PORT);
        for b in s.bytes() {
            // SAFETY: writing to the debug console port; absent devices ignore it.
            unsafe { port.write(b) };
        }
        Ok(())
    }
}

/// Send a line to `kiln run` on the control port.
pub fn control_line(args: core::fmt::Arguments) {
    let _ = Control.write_fmt(args);
    let _ = Control.write_str("\n");
}

/// Stop the VM without reporting a status (used by the probe boot).
pub fn power_off(code: u32) -> ! {
    // SAFETY: isa-debug-exit ends QEMU; without it, the triple fault below
    // ends the VM (QEMU runs with -no-reboot).
    unsafe {
        Port::<u32>::new(DEBUG_EXIT_PORT).write(code);
    }
    triple_fault()
}

/// Reset the machine: with an empty IDT, a breakpoint is a triple fault,
/// which QEMU turns into a reset (or, with -no-reboot, the end of the VM).
/// Firmware-independent: microvm has no reset register.
fn triple_fault() -> ! {
    // SAFETY: nothing runs after this; the machine resets.
    unsafe {
        x86_64::instructions::interrupts::disable();
        let empty = x86_64::structures::DescriptorTablePointer {
            limit: 0,
            base: x86_64::VirtAddr::new(0),
        };
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(noreturn));
    }
}

/// End the VM with the program's status (0..=255, or 128+signal).
pub fn exit(status: i32) -> ! {
    crate::console::flush();
    control_line(format_args!("exit {}", status & 0xff));
    power_off((status & 0xff) as u32)
}

/// Restart the VM after the program exited with `status` (RebootOnExit):
/// `kiln run` starts QEMU without -no-reboot for such images, so the reset
/// boots the kernel again, which starts the program again.
pub fn restart(status: u8) -> ! {
    crate::console::flush();
    control_line(format_args!("reboot {status}"));
    triple_fault()
}

/// End the VM after a kernel failure.
pub fn kernel_failure() -> ! {
    crate::console::try_flush();
    control_line(format_args!("panic"));
    power_off(0x7d)
}
