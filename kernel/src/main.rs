//! The Kiln kernel: boots through PVH, sets up memory, traps and devices,
//! then runs one Linux program, answering its system calls through the
//! `kiln_syscall` personality.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod console;
mod control;
mod crashdump;
mod drivers;
mod exit;
mod kvmclock;
mod mem;
mod platform;
mod profile;
mod pvh;
mod run;
mod sched;
mod time;
mod usermem;
mod vdso;

use drivers::block::Disk;
use drivers::net::Nic;
use platform::{Clocks, Entropy, KernelConsole, Machine};

/// Entered from the PVH stub on the boot stack, with the physical address
/// of `hvm_start_info`.
#[no_mangle]
extern "C" fn kmain(start_info: u64) -> ! {
    console::init();
    control::init();
    let boot = pvh::parse(start_info);
    console::set_level(boot.cmdline());
    if boot.has_flag("kiln.panic-test") {
        // For the crash-report test: a kernel panic on purpose.
        panic!("kiln.panic-test is on the command line");
    }
    let (_, kernel_end) = mem::layout::kernel_phys_range();
    mem::frame::init(boot.ram(), kernel_end);
    mem::paging::init(boot.ram());
    arch::gdt::init();
    arch::trap::init();
    arch::user::init();
    let features = arch::cpu::init();
    arch::fpu::init(features.xsave);
    if boot.has_flag("kiln.probe") {
        // `kiln run` checks that this hypervisor can run us at all.
        exit::control_line(format_args!("probe ok"));
        exit::power_off(0);
    }
    time::init();
    arch::lapic::init(time::monotonic_ns);
    arch::ioapic::init();

    console::attach_virtio(boot.cmdline());
    let Some(disk) = Disk::probe(boot.cmdline()) else {
        println!("kiln: no virtio block device holds the image");
        exit::kernel_failure();
    };
    let nic = Nic::probe(boot.cmdline());
    verbose!(
        "kiln: memory {} MiB, image disk {} KiB, console {}, network card {}",
        mem::frame::stats().0 >> 20,
        kiln_syscall::platform::BlockDevice::size(&disk) >> 10,
        if console::is_virtio() {
            "virtio"
        } else {
            "serial"
        },
        match &nic {
            Some(n) => {
                let m = kiln_syscall::platform::NetDevice::mac(n);
                alloc::format!(
                    "virtio-net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0],
                    m[1],
                    m[2],
                    m[3],
                    m[4],
                    m[5]
                )
            }
            None => alloc::string::String::from("none"),
        }
    );
    verbose!("kiln: command line: {}", boot.cmdline());
    let mut machine = Machine {
        pages: usermem::UserPages,
        console: KernelConsole,
        clock: Clocks,
        random: Entropy::new(features.rdrand),
        disk,
        nic,
        hwcap: features.hwcap,
    };
    run::run_program(&mut machine, boot.cmdline())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    console::emergency_print(format_args!("kiln: kernel panic: {info}\n"));
    // The kernel keeps frame pointers: its return addresses go to kiln,
    // which names them from the kernel's symbols.
    arch::frames::each_return_address(|ret| {
        exit::control_line(format_args!("panic frame {ret:x}"));
    });
    exit::kernel_failure()
}
