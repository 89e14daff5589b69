//! CPU feature set-up: FPU/SSE/AVX for the program, SMEP/SMAP, and the
//! legacy PIC silenced.

use core::arch::x86_64::{__cpuid, __cpuid_count};
use x86_64::instructions::port::Port;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

/// Features the kernel reads once.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// CPUID.1:EDX (AT_HWCAP).
    pub hwcap: u64,
    pub rdrand: bool,
    pub xsave: bool,
}

/// Configure the CPU and report what it has.
pub fn init() -> Features {
    let leaf1 = __cpuid(1);
    let leaf7 = __cpuid_count(7, 0);
    let f = Features {
        hwcap: leaf1.edx as u64,
        rdrand: leaf1.ecx & (1 << 30) != 0,
        xsave: leaf1.ecx & (1 << 26) != 0,
    };
    let smep = leaf7.ebx & (1 << 7) != 0;
    let smap = leaf7.ebx & (1 << 20) != 0;
    // SAFETY: enabling FPU/SSE state for user code and the protection bits
    // the hardware reports; the kernel itself is built without SSE.
    unsafe {
        Cr0::update(|c| {
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            c.insert(
                Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR | Cr0Flags::WRITE_PROTECT,
            );
        });
        Cr4::update(|c| {
            c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::PAGE_GLOBAL);
            if f.xsave {
                c.insert(Cr4Flags::OSXSAVE);
            }
            if smep {
                c.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if smap {
                c.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
        });
        if f.xsave {
            let supported = __cpuid_count(0xd, 0).eax as u64;
            let mut x = XCr0Flags::X87 | XCr0Flags::SSE;
            if supported & XCr0Flags::AVX.bits() != 0 {
                x |= XCr0Flags::AVX;
            }
            XCr0::write(x);
        }
        core::arch::asm!("fninit", options(nomem, nostack));
    }
    silence_pic();
    f
}

/// Remap the 8259 PICs away from the exception vectors and mask them: the
/// kernel uses the local APIC. Harmless where there is no PIC (microvm).
fn silence_pic() {
    // SAFETY: the standard 8259 initialisation sequence on its fixed ports.
    unsafe {
        let mut cmd1 = Port::<u8>::new(0x20);
        let mut data1 = Port::<u8>::new(0x21);
        let mut cmd2 = Port::<u8>::new(0xa0);
        let mut data2 = Port::<u8>::new(0xa1);
        cmd1.write(0x11);
        cmd2.write(0x11);
        data1.write(0x20);
        data2.write(0x28);
        data1.write(4);
        data2.write(2);
        data1.write(1);
        data2.write(1);
        data1.write(0xff);
        data2.write(0xff);
    }
}
