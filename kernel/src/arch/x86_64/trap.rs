//! Interrupt descriptor table and the common trap path. A trap from user
//! mode saves the program's registers into the current `UserContext` and
//! returns to the kernel loop (see user.rs); a trap in kernel mode is
//! handled where it happened.

use super::gdt::KERNEL_CS;
use core::sync::atomic::{AtomicU64, Ordering};

/// Registers pushed by the stubs and `trap_common`, lowest address first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

core::arch::global_asm!(
    r#"
    .section .text.trap_common, "ax"
    .global trap_common
trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    cld
    call kiln_trap
    test qword ptr [rsp + 18 * 8], 3
    jnz user_trap_return_to_kernel
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
"#
);

/// What stopped the program, recorded by the trap path for the kernel loop.
pub struct LastTrap {
    pub vector: u64,
    pub error: u64,
    pub cr2: u64,
}

static LAST_VECTOR: AtomicU64 = AtomicU64::new(0);
static LAST_ERROR: AtomicU64 = AtomicU64::new(0);
static LAST_CR2: AtomicU64 = AtomicU64::new(0);

/// The trap that ended the last `run_user`.
pub fn last_trap() -> LastTrap {
    LastTrap {
        vector: LAST_VECTOR.load(Ordering::Relaxed),
        error: LAST_ERROR.load(Ordering::Relaxed),
        cr2: LAST_CR2.load(Ordering::Relaxed),
    }
}

static DEVICE_WORK: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Handle an interrupt. Interrupts only mark work: the timer's job is to
/// end a `hlt` (or a time slice), a device's is to say it has work, which
/// the kernel loop picks up with `take_device_work`.
pub fn irq(vector: u64) {
    if vector == super::ioapic::DEVICE_VECTOR {
        super::ioapic::mask_all();
        DEVICE_WORK.store(true, Ordering::Relaxed);
    }
    // A spurious interrupt is not in service: it takes no EOI.
    if vector != super::lapic::SPURIOUS_VECTOR as u64 {
        super::lapic::eoi();
    }
}

/// Whether a device interrupted since the last call. The caller services
/// the devices, then calls `ioapic::unmask_all`.
pub fn take_device_work() -> bool {
    DEVICE_WORK.swap(false, Ordering::Relaxed)
}

#[no_mangle]
extern "C" fn kiln_trap(frame: &mut TrapFrame) {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    if frame.cs & 3 == 3 {
        LAST_VECTOR.store(frame.vector, Ordering::Relaxed);
        LAST_ERROR.store(frame.error, Ordering::Relaxed);
        LAST_CR2.store(cr2, Ordering::Relaxed);
        super::user::save_trap_frame(frame);
        return;
    }
    if frame.vector >= 32 {
        irq(frame.vector);
        return;
    }
    kernel_exception(frame, cr2);
}

fn exception_name(v: u64) -> &'static str {
    match v {
        0 => "divide error",
        1 => "debug",
        2 => "NMI",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating point",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating point",
        _ => "exception",
    }
}

fn kernel_exception(f: &TrapFrame, cr2: u64) -> ! {
    crate::println!(
        "kiln: kernel {} (vector {}, error {:#x}) at rip {:#018x}, cr2 {:#018x}",
        exception_name(f.vector),
        f.vector,
        f.error,
        f.rip,
        cr2
    );
    crate::println!(
        "  rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}\n  rsi {:#018x} rdi {:#018x} rbp {:#018x} rsp {:#018x}",
        f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp
    );
    crate::exit::kernel_failure();
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    kind: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

static mut IDT: [Gate; 256] = [Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    kind: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
}; 256];

extern "C" {
    static trap_stub_table: [u64; 48];
}

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// Fill and load the IDT: vectors 0..48 (exceptions and device IRQs).
pub fn init() {
    // SAFETY: called once at boot with interrupts off.
    unsafe {
        let idt = &raw mut IDT;
        let stubs = &raw const trap_stub_table;
        for (v, &addr) in (*stubs).iter().enumerate() {
            (*idt)[v] = Gate {
                offset_low: addr as u16,
                selector: KERNEL_CS,
                ist: if v == 8 { 1 } else { 0 },
                kind: 0x8e, // present, DPL 0, interrupt gate
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                reserved: 0,
            };
        }
        let ptr = Pointer {
            limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
            base: idt as u64,
        };
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack));
    }
}
