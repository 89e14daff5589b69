//! What `kiln run` needs to print a backtrace when the program dies of a
//! signal that would dump core: the file mappings, each thread's registers
//! that unwinding uses, and the top of each thread's stack, as `crash`
//! lines on the control port. kiln unwinds them on the host with the
//! program's own unwind tables and debug information.

use crate::exit::control_line;
use kiln_abi::context::UserContext;
use kiln_abi::{Signal, Tid};
use kiln_syscall::process::Process;
use kiln_syscall::vfs::ProcessFacts;

/// Most stack bytes sent per thread (from its stack pointer up).
const STACK_BYTES: u64 = 32 * 1024;
/// Bytes per `crash stack` line.
const CHUNK: usize = 256;
/// Most threads reported (the faulting one first).
const MAX_THREADS: usize = 16;

/// Whether Linux would dump core for `sig`: the signals worth a backtrace.
pub fn dumps_core(sig: Signal) -> bool {
    matches!(sig.number(), 3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31)
}

/// Send the dump: `faulting` first, then the other threads.
pub fn send<'a>(
    process: &Process,
    signal: Signal,
    faulting: (Tid, &'a UserContext),
    others: impl Iterator<Item = (Tid, &'a UserContext)>,
) {
    control_line(format_args!("crash signal {}", signal.number()));
    for m in process.mappings() {
        if let Some(f) = m.file {
            control_line(format_args!(
                "crash map {:x} {:x} {:x} {}",
                m.start, m.end, f.offset, f.path
            ));
        }
    }
    let threads = core::iter::once(faulting)
        .chain(others.filter(|(t, _)| *t != faulting.0))
        .take(MAX_THREADS);
    for (tid, ctx) in threads {
        control_line(format_args!(
            "crash thread {tid} {:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x}",
            ctx.rip, ctx.rsp, ctx.rbp, ctx.rbx, ctx.r12, ctx.r13, ctx.r14, ctx.r15
        ));
        stack(tid, ctx.rsp);
    }
}

/// The stack from `rsp` up, until the bound or the first unmapped page.
fn stack(tid: Tid, rsp: u64) {
    let start = rsp & !7;
    let mut at = start;
    let mut buf = [0u8; CHUNK];
    let mut hex = [0u8; CHUNK * 2];
    while at - start < STACK_BYTES {
        // A chunk never crosses a page: peek fails as a whole on a hole.
        let room = (4096 - at % 4096).min(CHUNK as u64) as usize;
        if !crate::usermem::peek(at, &mut buf[..room]) {
            break;
        }
        for (i, b) in buf[..room].iter().enumerate() {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            hex[2 * i] = DIGITS[(b >> 4) as usize];
            hex[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
        let text = core::str::from_utf8(&hex[..room * 2]).unwrap_or("");
        control_line(format_args!("crash stack {tid} {at:x} {text}"));
        at += room as u64;
    }
}
