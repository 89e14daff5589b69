//! The kernel loop: run the program, see why it stopped (system call,
//! fault, interrupt), handle it, repeat.

use crate::arch::lapic;
use crate::arch::trap::last_trap;
use crate::arch::user::{self, Stop};
use crate::platform::Machine;
use crate::{exit, print, println};
use kiln_syscall::context::UserContext;
use kiln_syscall::platform::{Console, Platform};
use kiln_syscall::process::{Access, BootOptions, FaultSignal, Flow, Process, Signal, WaitFor};

const SEGV_MAPERR: i32 = 1;

/// Load the program named by the image's manifest and run it to the end.
pub fn run_program(machine: &mut Machine, cmdline: &str) -> ! {
    let (mut process, mut ctx) =
        match Process::boot_with(machine, &BootOptions::from_cmdline(cmdline)) {
            Ok(v) => v,
            Err(e) => {
                println!("kiln: cannot start the program: {e}");
                exit::exit(126);
            }
        };
    lapic::start_periodic(TICK_NS);
    loop {
        let Some(stop) = user::run(&mut ctx) else {
            let fault = FaultSignal {
                signal: Signal::SIGSEGV,
                code: SEGV_MAPERR,
                addr: ctx.rip,
            };
            crash(&process, &ctx, fault);
        };
        match stop {
            Stop::Syscall => syscall(machine, &mut process, &mut ctx),
            Stop::Trap => trap(machine, &mut process, &mut ctx),
        }
    }
}

fn syscall(machine: &mut Machine, process: &mut Process, ctx: &mut UserContext) {
    loop {
        match process.syscall(machine, ctx) {
            Flow::Continue => return,
            Flow::Block(w) => wait(machine, w),
            Flow::Exit(status) => exit::exit(status),
            Flow::Kill(signal) => crash(
                process,
                ctx,
                FaultSignal {
                    signal,
                    code: 0,
                    addr: 0,
                },
            ),
        }
    }
}

/// Console input is polled this often while the program waits for it (the
/// serial interrupt is not wired).
const CONSOLE_POLL_NS: u64 = 10_000_000;

/// Park until what the call waits for may have happened: halt with the
/// timer armed for the deadline (or the next console poll).
fn wait(machine: &mut Machine, w: WaitFor) {
    let mut parked = false;
    loop {
        let now = machine.clock().monotonic_ns();
        let (ready, deadline) = match w {
            WaitFor::ConsoleInput => (machine.console.input_ready(), now + CONSOLE_POLL_NS),
            WaitFor::ConsoleInputOrDeadline(d) => (
                machine.console.input_ready() || now >= d,
                d.min(now + CONSOLE_POLL_NS),
            ),
            WaitFor::Deadline(d) => (now >= d, d),
            // Any event: park once (until an interrupt, the console poll or
            // the deadline), then the re-issued call checks what it waits for.
            WaitFor::Event { deadline } => (
                parked,
                deadline.unwrap_or(u64::MAX).min(now + CONSOLE_POLL_NS),
            ),
        };
        if ready {
            return;
        }
        lapic::arm_oneshot(deadline.saturating_sub(now));
        crate::arch::idle();
        parked = true;
        lapic::start_periodic(TICK_NS);
        service_devices(machine);
        check_control();
    }
}

/// After a device interrupt: acknowledge the devices and let their lines
/// interrupt again.
fn service_devices(machine: &mut Machine) {
    if crate::arch::trap::take_device_work() {
        if let Some(nic) = machine.nic.as_mut() {
            nic.ack_interrupt();
        }
        crate::arch::ioapic::unmask_all();
    }
}

/// The regular tick while the program runs.
pub const TICK_NS: u64 = 10_000_000;

/// Act on a request from the host (see control.rs).
fn check_control() {
    if crate::control::shutdown_requested() {
        // No handler can run yet (signal delivery comes with threads and
        // signals): SIGTERM's default action ends the program.
        println!("kiln: shutdown requested: the program gets SIGTERM");
        exit::exit(128 + 15);
    }
}

fn trap(machine: &mut Machine, process: &mut Process, ctx: &mut UserContext) {
    let t = last_trap();
    let fault = |signal, code, addr| FaultSignal { signal, code, addr };
    let result = match t.vector {
        14 => {
            let access = if t.error & (1 << 4) != 0 {
                Access::Execute
            } else if t.error & (1 << 1) != 0 {
                Access::Write
            } else {
                Access::Read
            };
            process.page_fault(machine, t.cr2, access)
        }
        0 => Err(fault(Signal::SIGFPE, 1, ctx.rip)), // FPE_INTDIV
        16 | 19 => Err(fault(Signal::SIGFPE, 0, ctx.rip)),
        6 => Err(fault(Signal::SIGILL, 2, ctx.rip)), // ILL_ILLOPN
        1 | 3 => Err(fault(Signal::SIGTRAP, 1, ctx.rip)),
        17 => Err(fault(Signal::SIGBUS, 1, 0)),
        4 | 5 | 10 | 11 | 12 | 13 => Err(fault(Signal::SIGSEGV, 128, 0)), // SI_KERNEL
        v if v >= 32 => {
            crate::arch::trap::irq(v);
            service_devices(machine);
            if v == lapic::TIMER_VECTOR {
                check_control();
            }
            Ok(())
        }
        _ => Err(fault(Signal::SIGSEGV, 128, 0)),
    };
    if let Err(f) = result {
        crash(process, ctx, f);
    }
}

/// The program dies of a signal: report it and end the VM with 128+signal.
fn crash(process: &Process, ctx: &UserContext, f: FaultSignal) -> ! {
    println!(
        "kiln: program terminated by {} (signal {}), code {}, fault address {:#x}",
        f.signal.name(),
        f.signal.number(),
        f.code,
        f.addr
    );
    println!("  rip {:#018x}{}", ctx.rip, Symbol(process, ctx.rip));
    let mut code = [0u8; 16];
    if crate::usermem::peek(ctx.rip, &mut code) {
        print!("  code");
        for b in code {
            print!(" {b:02x}");
        }
        println!();
    }
    println!(
        "  rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}",
        ctx.rax, ctx.rbx, ctx.rcx, ctx.rdx
    );
    println!(
        "  rsi {:#018x} rdi {:#018x} rbp {:#018x} rsp {:#018x}",
        ctx.rsi, ctx.rdi, ctx.rbp, ctx.rsp
    );
    println!(
        "  r8  {:#018x} r9  {:#018x} r10 {:#018x} r11 {:#018x}",
        ctx.r8, ctx.r9, ctx.r10, ctx.r11
    );
    println!(
        "  r12 {:#018x} r13 {:#018x} r14 {:#018x} r15 {:#018x}",
        ctx.r12, ctx.r13, ctx.r14, ctx.r15
    );
    println!(
        "  rflags {:#010x} fs_base {:#018x}",
        ctx.rflags, ctx.fs_base
    );
    backtrace(process, ctx);
    exit::exit(128 + f.signal.number())
}

/// ` <symbol+offset>` when the program's symbol table knows the address.
struct Symbol<'a>(&'a Process, u64);

impl core::fmt::Display for Symbol<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0.symbolize(self.1) {
            Some((name, off)) => write!(f, " <{name}+{off:#x}>"),
            None => Ok(()),
        }
    }
}

/// Follow the frame-pointer chain from `rbp` while it looks like one (each
/// frame higher on the stack than the last, return addresses that name a
/// symbol). Programs built without frame pointers give a short or empty list.
fn backtrace(process: &Process, ctx: &UserContext) {
    const MAX_FRAMES: usize = 32;
    let mut rbp = ctx.rbp;
    let mut printed = false;
    for depth in 0..MAX_FRAMES {
        if rbp < ctx.rsp || rbp % 8 != 0 {
            break;
        }
        let mut frame = [0u8; 16];
        if !crate::usermem::peek(rbp, &mut frame) {
            break;
        }
        let next = u64::from_le_bytes(frame[..8].try_into().unwrap_or_default());
        let ret = u64::from_le_bytes(frame[8..].try_into().unwrap_or_default());
        if process.symbolize(ret).is_none() {
            break;
        }
        if !printed {
            println!("  backtrace:");
            printed = true;
        }
        println!("    #{depth} {ret:#018x}{}", Symbol(process, ret));
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}
