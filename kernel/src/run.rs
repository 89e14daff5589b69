//! The kernel loop: pick a runnable thread, run it until it makes a system
//! call, faults or is interrupted, hand that to the personality, act on
//! what it says; when nothing can run, sleep until the next event.

use crate::arch::fpu::FpuState;
use crate::arch::lapic;
use crate::arch::trap::last_trap;
use crate::arch::user::{self, Stop};
use crate::platform::Machine;
use crate::profile::{self, Counter};
use crate::sched::Scheduler;
use crate::{crashdump, exit, note, print, println};
use kiln_abi::context::UserContext;
use kiln_abi::{Access, FaultSignal, Signal, Tid, WaitFor};
use kiln_syscall::platform::{Console, Platform};
use kiln_syscall::process::{BootOptions, Flow, PollNeed, Process};

const SEGV_MAPERR: i32 = 1;
/// Console input is polled this often while a thread waits for it (the
/// serial interrupt is not wired).
const CONSOLE_POLL_NS: u64 = 10_000_000;
/// The regular tick while the program runs: preemption and housekeeping
/// (the time slice sched_rr_get_interval reports).
pub const TICK_NS: u64 = kiln_abi::TIME_SLICE_NS;
const SYS_SCHED_YIELD: u64 = 24;
/// How long the program's start waits for a DHCP lease.
const LEASE_WAIT_NS: u64 = 3_000_000_000;
/// Socket calls that may leave work (segments to send, windows to open)
/// before the network stack runs anyway; it runs at once when the thread
/// blocks or the CPU would idle. Other calls (a console write, the time)
/// do not count: a server that logs a line per request keeps its batches.
const FLUSH_AFTER_SENDS: u32 = 16;
/// How often the tick flushes the TLB (QEMU's TCG resizes its software
/// TLB at a flush, by the use it saw in a window of 100 ms).
const TLB_RESIZE_NS: u64 = 100_000_000;
/// Longest sleep when nothing is due (the loop then checks again).
const MAX_SLEEP_NS: u64 = 1_000_000_000;

/// Load the program named by the image's manifest and run it to the end.
pub fn run_program(machine: &mut Machine, cmdline: &str) -> ! {
    let (process, ctx) = match Process::boot_with(machine, &BootOptions::from_cmdline(cmdline)) {
        Ok(v) => v,
        Err(e) => {
            println!("kiln: cannot start the program: {e}");
            exit::exit(126);
        }
    };
    if let Some(hz) = profile::from_cmdline(cmdline) {
        profile::start(hz);
    }
    let mut k = Kernel {
        machine,
        process,
        sched: Scheduler::default(),
        next_poll: None,
        poll_now: true,
        egress_pending: 0,
        tick_ns: profile::period_ns().unwrap_or(TICK_NS),
        slice_ns: 0,
        tick_held: false,
        tlb_flushed_ns: 0,
        shutdown_asked: false,
    };
    k.wait_for_lease();
    let main = k.process.main_tid();
    k.sched.add(main, ctx, FpuState::new());
    lapic::start_periodic(k.tick_ns);
    loop {
        k.step();
    }
}

struct Kernel<'m> {
    machine: &'m mut Machine,
    process: Process,
    sched: Scheduler,
    /// When the personality wants `poll` called next.
    next_poll: Option<u64>,
    /// `poll` is due now (device work, or a call left work).
    poll_now: bool,
    /// System calls since one left segments to send (0: none pending).
    egress_pending: u32,
    /// The period of the running tick: [`TICK_NS`], or the sampling period
    /// under `--profile`.
    tick_ns: u64,
    /// Ticks of the current time slice, in ns (preemption after TICK_NS).
    slice_ns: u64,
    /// The host asked for a shutdown: the program's exit then ends the VM
    /// even where the manifest asks for a restart (as Nanos after a power-off).
    shutdown_asked: bool,
    /// When the tick last flushed the TLB (see `resize_tlb`).
    tlb_flushed_ns: u64,
    /// Under --profile: a tick was pending when the program was last
    /// resumed (held back while the kernel ran: not a sample of the program).
    tick_held: bool,
}

/// Stands for system calls without a handler in kernel profiles.
#[inline(never)]
fn syscall_without_handler() {}

/// The kernel function a system call's time is booked to.
fn handler_address(nr: u64) -> u64 {
    match kiln_syscall::table::lookup(nr).and_then(|d| d.handler) {
        Some(h) => h as usize as u64,
        None => syscall_without_handler as *const () as usize as u64,
    }
}

impl Kernel<'_> {
    /// One turn of the loop.
    fn step(&mut self) {
        self.housekeeping();
        let Some(tid) = self.sched.next() else {
            if self.egress_pending > 0 {
                // Nothing runs: send what the calls left first.
                self.poll_now = true;
                return;
            }
            self.sleep();
            return;
        };
        self.sched.switch_fpu(tid);
        if core::mem::take(&mut self.sched.thread(tid).reissue) {
            // A woken call runs again first: it completes, times out, is
            // interrupted by a signal or waits again.
            self.syscall(tid);
            self.apply_wakeups();
            return;
        }
        let ctx = &mut self.sched.thread(tid).ctx;
        match self.process.before_user(self.machine, tid, ctx) {
            Flow::Continue => {}
            flow => {
                self.act(tid, flow);
                return;
            }
        }
        if profile::active() {
            // A tick due while the kernel ran is delivered as the program
            // resumes: it samples the kernel's time, which is booked apart.
            self.tick_held = lapic::timer_pending();
        }
        match user::run(ctx) {
            None => {
                let addr = ctx.rip;
                self.fault(
                    tid,
                    FaultSignal {
                        signal: Signal::SIGSEGV,
                        code: SEGV_MAPERR,
                        addr,
                    },
                );
            }
            Some(Stop::Syscall) => self.syscall(tid),
            Some(Stop::Trap) => self.trap(tid),
        }
        self.apply_wakeups();
    }

    /// Hand `tid`'s system call (its registers hold it) to the personality.
    fn syscall(&mut self, tid: Tid) {
        let nr = self.sched.thread(tid).ctx.rax;
        if kiln_syscall::table::reports_readiness(nr) && self.frames_wait() {
            // Let the call see every connection the waiting frames concern:
            // one call then serves several of them.
            self.poll_now = true;
            self.housekeeping();
        }
        let ctx = &mut self.sched.thread(tid).ctx;
        profile::count(Counter::Syscalls);
        let start = profile::active().then(crate::time::monotonic_ns);
        let flow = self.process.syscall(self.machine, tid, ctx);
        if let Some(start) = start {
            let spent = crate::time::monotonic_ns().saturating_sub(start);
            profile::kernel_time(handler_address(nr), spent);
        }
        let blocks = !matches!(flow, Flow::Continue | Flow::Spawn { .. });
        if nr == SYS_SCHED_YIELD && flow == Flow::Continue {
            // Let the others run first.
            self.sched.requeue(tid, false);
        } else {
            self.act(tid, flow);
        }
        match self.process.poll_need() {
            PollNeed::Now => self.poll_now = true,
            PollNeed::Soon => self.egress_pending = self.process.egress_backlog().max(1),
            PollNeed::No => {}
        }
        if self.egress_pending > 0 && (blocks || self.egress_pending >= FLUSH_AFTER_SENDS) {
            self.poll_now = true;
        }
    }

    /// Whether the network stack has work: segments the calls left, or
    /// frames in the receive ring (a look at guest memory: no exit).
    fn frames_wait(&mut self) -> bool {
        self.egress_pending > 0 || self.machine.nic.as_mut().is_some_and(|n| n.rx_ready())
    }

    /// Do what the personality asked after `tid`'s call or fault.
    fn act(&mut self, tid: Tid, flow: Flow) {
        match flow {
            Flow::Continue => self.sched.requeue(tid, true),
            Flow::Block(w) => self.sched.block(tid, w),
            Flow::Exit(status) => {
                exit_reports(&self.process);
                self.end((status & 0xff) as u8)
            }
            Flow::Kill(signal) => {
                println!(
                    "kiln: program terminated by {} (signal {})",
                    signal.name(),
                    signal.number()
                );
                if crashdump::dumps_core(signal) {
                    let ctx = self.sched.thread(tid).ctx;
                    crashdump::send(&self.process, signal, (tid, &ctx), self.sched.contexts());
                }
                exit_reports(&self.process);
                self.end((128 + signal.number()) as u8)
            }
            Flow::Spawn { tid: child, ctx } => {
                // The new thread starts with its creator's FPU registers.
                let fpu = self.sched.snapshot_fpu();
                self.sched.add(child, ctx, fpu);
                self.sched.requeue(tid, true);
            }
            Flow::ThreadExit => self.sched.remove(tid),
        }
    }

    /// Threads the personality woke (futex, signal, readiness) run again.
    fn apply_wakeups(&mut self) {
        for tid in self.process.take_wakeups() {
            self.sched.wake(tid);
        }
    }

    /// Time and devices: end waits whose deadline passed or whose console
    /// input arrived, and let the personality poll when it is due.
    fn housekeeping(&mut self) {
        let now = self.machine.clock().monotonic_ns();
        let input = self.sched.waits_for_console() && self.machine.console.input_ready();
        self.sched.wake_where(|_, w| {
            w.deadline().is_some_and(|d| d <= now)
                || (input
                    && matches!(
                        w,
                        WaitFor::ConsoleInput
                            | WaitFor::ConsoleInputOrDeadline(_)
                            | WaitFor::Event { .. }
                    ))
        });
        if self.poll_now || self.next_poll.is_some_and(|d| d <= now) {
            self.poll_now = false;
            self.egress_pending = 0;
            profile::count(Counter::NetPoll);
            self.next_poll = self.process.poll(self.machine, now);
            if profile::active() {
                let spent = crate::time::monotonic_ns().saturating_sub(now);
                let poll: fn(&mut Process, &mut dyn Platform, u64) -> Option<u64> = Process::poll;
                profile::kernel_time(poll as usize as u64, spent);
            }
            self.apply_wakeups();
        }
    }

    /// With DHCP, give the lease up to [`LEASE_WAIT_NS`] before the program
    /// starts, so that it finds its address and name servers in place (as
    /// Linux services wait for network-online). Without a lease by then the
    /// program starts anyway and DHCP goes on in the background.
    fn wait_for_lease(&mut self) {
        let start = self.machine.clock().monotonic_ns();
        loop {
            self.housekeeping();
            if !self.process.awaiting_lease() {
                return;
            }
            if self.machine.clock().monotonic_ns() >= start + LEASE_WAIT_NS {
                println!(
                    "kiln: net: no DHCP lease after {} s; starting the program without an address",
                    LEASE_WAIT_NS / 1_000_000_000
                );
                return;
            }
            self.next_poll = Some(
                self.next_poll
                    .map_or(start + LEASE_WAIT_NS, |p| p.min(start + LEASE_WAIT_NS)),
            );
            self.sleep();
        }
    }

    /// Nothing can run: halt until the next deadline, console poll or
    /// interrupt.
    fn sleep(&mut self) {
        let now = self.machine.clock().monotonic_ns();
        let mut until = now + MAX_SLEEP_NS;
        for d in [self.sched.next_deadline(), self.next_poll]
            .into_iter()
            .flatten()
        {
            until = until.min(d);
        }
        if self.sched.waits_for_console() {
            until = until.min(now + CONSOLE_POLL_NS);
        }
        crate::console::flush();
        // The card interrupts only while the kernel halts; a frame that came
        // before that is handled now instead.
        if let Some(nic) = self.machine.nic.as_mut() {
            nic.set_interrupts(true);
            if nic.rx_ready() {
                nic.set_interrupts(false);
                self.poll_now = true;
                return;
            }
        }
        if until > now {
            lapic::arm_oneshot(until - now);
            profile::count(Counter::TimerArm);
            profile::count(Counter::Halts);
            crate::arch::idle();
            profile::idle_time(self.machine.clock().monotonic_ns().saturating_sub(now));
            lapic::start_periodic(self.tick_ns);
            profile::count(Counter::TimerArm);
            // Likewise after a sleep: the stack looks at the device.
            self.poll_now = true;
        }
        if let Some(nic) = self.machine.nic.as_mut() {
            nic.set_interrupts(false);
        }
        self.service_devices();
        self.check_control();
        // Waits for "any event" end with any wake-up; the calls check again.
        self.sched
            .wake_where(|_, w| matches!(w, WaitFor::Event { .. }));
    }

    fn trap(&mut self, tid: Tid) {
        let t = last_trap();
        let rip = self.sched.thread(tid).ctx.rip;
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
                profile::count(Counter::Faults);
                let start = profile::active().then(crate::time::monotonic_ns);
                let r = self.process.page_fault(self.machine, tid, t.cr2, access);
                if let Some(start) = start {
                    let spent = crate::time::monotonic_ns().saturating_sub(start);
                    type PageFault = fn(
                        &mut Process,
                        &mut dyn Platform,
                        Tid,
                        u64,
                        Access,
                    ) -> Result<(), FaultSignal>;
                    let f: PageFault = Process::page_fault;
                    profile::kernel_time(f as usize as u64, spent);
                }
                r
            }
            0 => Err(fault(Signal::SIGFPE, 1, rip)), // FPE_INTDIV
            16 | 19 => Err(fault(Signal::SIGFPE, 0, rip)),
            6 => Err(fault(Signal::SIGILL, 2, rip)), // ILL_ILLOPN
            1 | 3 => Err(fault(Signal::SIGTRAP, 1, rip)),
            17 => Err(fault(Signal::SIGBUS, 1, 0)),
            v if v >= 32 => {
                crate::arch::trap::irq(v);
                self.service_devices();
                let mut preempt = false;
                if v == lapic::TIMER_VECTOR {
                    profile::count(Counter::IrqTimer);
                    crate::console::flush();
                    // The stack runs at every tick: what a thread left to
                    // send goes out, and a frame whose interrupt was lost
                    // (an edge while the line was masked) waits no longer.
                    self.poll_now = true;
                    if profile::active() && !core::mem::take(&mut self.tick_held) {
                        profile::sample_user(rip);
                    }
                    self.resize_tlb();
                    // Under --profile the tick is faster than the slice.
                    self.slice_ns += self.tick_ns;
                    if self.slice_ns >= TICK_NS {
                        self.slice_ns = 0;
                        preempt = self.sched.others_ready();
                    }
                    self.check_control();
                }
                self.sched.requeue(tid, !preempt);
                return;
            }
            _ => Err(fault(Signal::SIGSEGV, 128, 0)), // SI_KERNEL: #GP and friends
        };
        match result {
            Ok(()) => self.sched.requeue(tid, true),
            Err(f) => self.fault(tid, f),
        }
    }

    /// A fault the thread cannot go on from as it is: its handler runs, or
    /// the program dies with a crash report.
    fn fault(&mut self, tid: Tid, f: FaultSignal) {
        let ctx = &mut self.sched.thread(tid).ctx;
        let before = *ctx;
        match self.process.fault_signal(self.machine, tid, f, ctx) {
            // Out of memory: the personality has said so; no crash report.
            Flow::Kill(s) if f.signal == Signal::SIGKILL => self.act(tid, Flow::Kill(s)),
            Flow::Kill(_) => {
                crashdump::send(
                    &self.process,
                    f.signal,
                    (tid, &before),
                    self.sched.contexts(),
                );
                crash(&self.process, &before, f);
                self.end((128 + f.signal.number()) as u8)
            }
            flow => self.act(tid, flow),
        }
    }

    /// Flush the TLB every [`TLB_RESIZE_NS`] of the program's run, so
    /// that an emulator that sizes its software TLB at flushes (QEMU's
    /// TCG) fits it to the program's working set; a flush costs a few
    /// microseconds of refills on hardware.
    fn resize_tlb(&mut self) {
        let now = self.machine.clock().monotonic_ns();
        if now.saturating_sub(self.tlb_flushed_ns) >= TLB_RESIZE_NS {
            self.tlb_flushed_ns = now;
            crate::mem::paging::flush_all();
        }
    }

    /// After a device interrupt: acknowledge the devices, let their lines
    /// interrupt again, and have the personality poll.
    fn service_devices(&mut self) {
        if crate::arch::trap::take_device_work() {
            profile::count(Counter::IrqDevice);
            if let Some(nic) = self.machine.nic.as_mut() {
                nic.ack_interrupt();
            }
            crate::arch::ioapic::unmask_all();
            self.poll_now = true;
            self.sched
                .wake_where(|_, w| matches!(w, WaitFor::Event { .. }));
        }
    }

    /// The program has ended with `status`: apply the manifest's exit
    /// rules (expected statuses count as 0; RebootOnExit restarts the VM,
    /// unless the host asked for a shutdown), then end or restart the VM.
    fn end(&self, status: u8) -> ! {
        use kiln_syscall::vfs::ProcessFacts;
        let (status, reboot) = self.process.manifest().exit.apply(status);
        if reboot && !self.shutdown_asked {
            note!("kiln: the program exited with status {status}: restarting (RebootOnExit)");
            exit::restart(status)
        }
        exit::exit(status as i32)
    }

    /// Act on a request from the host (see control.rs).
    fn check_control(&mut self) {
        if crate::control::shutdown_requested() {
            self.shutdown_asked = true;
            note!("kiln: shutdown requested: the program gets SIGTERM");
            self.process.request_shutdown();
            self.apply_wakeups();
        }
    }
}

/// What `kiln run` collects at the end: the syscall summary and the profile.
fn exit_reports(process: &Process) {
    if let Some(rows) = process.tracing().summary() {
        for (nr, r) in rows {
            exit::control_line(format_args!(
                "summary {nr} {} {} {} {}",
                r.calls, r.errors, r.ns, r.enosys
            ));
        }
    }
    dump_profile(process);
}

/// Send the profile, if one was taken, with the program's file mappings.
fn dump_profile(process: &Process) {
    if !profile::active() {
        return;
    }
    use kiln_syscall::vfs::ProcessFacts;
    let maps = process.mappings().into_iter().filter_map(|m| {
        let f = m.file?;
        Some((m.start, m.end, f.offset, f.path))
    });
    profile::dump(maps);
}

/// The program dies of a fault: report it and end the VM with 128+signal.
fn crash(process: &Process, ctx: &UserContext, f: FaultSignal) {
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
    exit_reports(process);
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
        if rbp < ctx.rsp || !rbp.is_multiple_of(8) {
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
