//! Running the program: `run_user` loads a `UserContext` and enters ring 3;
//! it returns when the program makes a system call or traps, with the
//! program's registers saved back into the same context. One kernel stack
//! serves it all: the kernel loop's frame stays below `rsp0`.

use super::gdt::{USER_CS, USER_DS};
use super::trap::TrapFrame;
use kiln_abi::context::UserContext;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;

/// Why `run_user` came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Syscall,
    Trap,
}

#[no_mangle]
static mut KILN_CPU_KRSP: u64 = 0;
#[no_mangle]
static mut KILN_CPU_CTX: u64 = 0;
#[no_mangle]
static mut KILN_CPU_SCRATCH: u64 = 0;

// UserContext offsets: rax 0, rbx 8, rcx 16, rdx 24, rsi 32, rdi 40, rbp 48,
// r8 56 .. r15 112, rip 120, rsp 128, rflags 136.
core::arch::global_asm!(
    r#"
    .section .text.run_user, "ax"
    .global kiln_run_user
kiln_run_user:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + KILN_CPU_KRSP], rsp
    mov [rip + KILN_CPU_CTX], rdi
    mov [rip + KILN_TSS + 4], rsp
    push {user_ss}
    push qword ptr [rdi + 128]
    push qword ptr [rdi + 136]
    push {user_cs}
    push qword ptr [rdi + 120]
    mov rax, [rdi + 0]
    mov rbx, [rdi + 8]
    mov rcx, [rdi + 16]
    mov rdx, [rdi + 24]
    mov rsi, [rdi + 32]
    mov rbp, [rdi + 48]
    mov r8, [rdi + 56]
    mov r9, [rdi + 64]
    mov r10, [rdi + 72]
    mov r11, [rdi + 80]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rdi, [rdi + 40]
    iretq

    .global user_trap_return_to_kernel
user_trap_return_to_kernel:
    mov rsp, [rip + KILN_CPU_KRSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    mov eax, 1
    ret

    .global kiln_syscall_entry
kiln_syscall_entry:
    mov [rip + KILN_CPU_SCRATCH], rsp
    mov rsp, [rip + KILN_CPU_KRSP]
    push rdi
    mov rdi, [rip + KILN_CPU_CTX]
    mov [rdi + 0], rax
    mov [rdi + 8], rbx
    mov [rdi + 16], rcx
    mov [rdi + 24], rdx
    mov [rdi + 32], rsi
    pop rax
    mov [rdi + 40], rax
    mov [rdi + 48], rbp
    mov [rdi + 56], r8
    mov [rdi + 64], r9
    mov [rdi + 72], r10
    mov [rdi + 80], r11
    mov [rdi + 88], r12
    mov [rdi + 96], r13
    mov [rdi + 104], r14
    mov [rdi + 112], r15
    mov [rdi + 120], rcx
    mov rax, [rip + KILN_CPU_SCRATCH]
    mov [rdi + 128], rax
    mov [rdi + 136], r11
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    xor eax, eax
    ret
"#,
    user_ss = const USER_DS,
    user_cs = const USER_CS,
);

extern "C" {
    fn kiln_run_user(ctx: *mut UserContext) -> u64;
    fn kiln_syscall_entry();
}

/// Flags the program may hold: CF PF AF ZF SF TF DF OF AC ID, plus IF and
/// the always-one bit.
const USER_RFLAGS: u64 = 0x0024_0dd5;

fn canonical_user(addr: u64) -> bool {
    addr < crate::mem::layout::USER_END
}

/// Enable `syscall` and point it at the entry stub.
pub fn init() {
    // SAFETY: boot-time MSR setup on the only CPU; the selectors match the GDT.
    unsafe {
        Efer::update(|f| *f |= EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE);
        // STAR: syscall loads CS 0x08 / SS 0x10; the sysret base would be 0x13.
        Msr::new(0xc000_0081)
            .write(((USER_DS as u64 - 8) << 48) | ((super::gdt::KERNEL_CS as u64) << 32));
        LStar::write(x86_64::VirtAddr::new(
            kiln_syscall_entry as *const () as u64,
        ));
        SFMask::write(
            RFlags::INTERRUPT_FLAG
                | RFlags::TRAP_FLAG
                | RFlags::DIRECTION_FLAG
                | RFlags::ALIGNMENT_CHECK
                | RFlags::NESTED_TASK,
        );
    }
}

static mut LAST_FS: u64 = u64::MAX;

/// Run the program until it makes a system call or traps. Returns `None`
/// when the context cannot be entered (non-canonical rip or rsp).
pub fn run(ctx: &mut UserContext) -> Option<Stop> {
    if !canonical_user(ctx.rip) || !canonical_user(ctx.rsp) || !canonical_user(ctx.fs_base) {
        return None;
    }
    ctx.rflags = (ctx.rflags & USER_RFLAGS) | 0x202;
    // SAFETY: LAST_FS is only touched here, on the one CPU; FS_BASE takes any
    // canonical address (checked above).
    unsafe {
        if LAST_FS != ctx.fs_base {
            Msr::new(0xc000_0100).write(ctx.fs_base);
            LAST_FS = ctx.fs_base;
        }
    }
    // SAFETY: the context holds canonical user addresses and sanitised
    // flags; the assembly saves the kernel's callee-saved registers and
    // returns here on the next syscall or trap.
    let r = unsafe { kiln_run_user(ctx) };
    Some(if r == 0 { Stop::Syscall } else { Stop::Trap })
}

/// Copy a user-mode trap frame into the current context.
pub fn save_trap_frame(f: &TrapFrame) {
    // SAFETY: KILN_CPU_CTX was set by run_user to the context it entered
    // with, which outlives the call.
    let ctx = unsafe { &mut *(KILN_CPU_CTX as *mut UserContext) };
    ctx.rax = f.rax;
    ctx.rbx = f.rbx;
    ctx.rcx = f.rcx;
    ctx.rdx = f.rdx;
    ctx.rsi = f.rsi;
    ctx.rdi = f.rdi;
    ctx.rbp = f.rbp;
    ctx.r8 = f.r8;
    ctx.r9 = f.r9;
    ctx.r10 = f.r10;
    ctx.r11 = f.r11;
    ctx.r12 = f.r12;
    ctx.r13 = f.r13;
    ctx.r14 = f.r14;
    ctx.r15 = f.r15;
    ctx.rip = f.rip;
    ctx.rsp = f.rsp;
    ctx.rflags = f.rflags;
}
