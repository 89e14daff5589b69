//! Signals through `Process`: masks, delivery order, frames in user memory,
//! rt_sigreturn, EINTR and SA_RESTART, sigaltstack, faults, kill/tgkill,
//! sigsuspend, sigtimedwait, signalfd, SIGPIPE.

use crate::process::{Access, FaultSignal, Flow, Signal, WaitFor};
use crate::testutil::*;
use crate::thread::sigframe::{SIGINFO_OFFSET, UCONTEXT_OFFSET};
use kiln_abi::context::UserContext;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const HANDLER: u64 = 0x40_1100;
const RESTORER: u64 = 0x40_1200;
const SA_SIGINFO: u64 = 4;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Install a handler for `sig` with `flags` (SA_RESTORER added) and `mask`.
fn handle(b: &mut Booted, sig: i32, flags: u64, mask: u64) {
    let at = SCRATCH + 0xf00;
    for (i, v) in [HANDLER, flags | SA_RESTORER, RESTORER, mask]
        .iter()
        .enumerate()
    {
        b.poke(at + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(13, &[sig as u64, at, 0, 8]), 0);
}

/// A booted program with 8 scratch pages and a user stack inside them.
fn setup() -> (Booted, UserContext) {
    let mut b = booted();
    b.scratch(8);
    let ctx = UserContext {
        rip: 0x40_1050,
        rsp: SCRATCH + 0x6000,
        rflags: 0x202,
        rbx: 77,
        ..Default::default()
    };
    (b, ctx)
}

fn mask_of(b: &Booted, tid: i32) -> u64 {
    b.proc.threads().get(tid).unwrap().mask
}

#[test]
fn delivery_builds_a_frame_and_sigreturn_restores() {
    let (mut b, mut ctx) = setup();
    handle(&mut b, 10, SA_SIGINFO, bit(12));
    assert_eq!(b.sys(62, &[1, 10]), 0);
    let before = ctx;
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut ctx), Flow::Continue);
    assert_eq!((ctx.rip, ctx.rdi), (HANDLER, 10));
    assert!(ctx.rsp < before.rsp - 128 && (ctx.rsp + 8).is_multiple_of(16));
    assert_eq!(
        (ctx.rsi, ctx.rdx),
        (ctx.rsp + SIGINFO_OFFSET, ctx.rsp + UCONTEXT_OFFSET)
    );
    assert_eq!(b.peek_u64(ctx.rsp), RESTORER, "return address");
    assert_eq!(b.peek(ctx.rsi, 4), 10i32.to_le_bytes());
    assert_eq!(b.peek(ctx.rsi + 16, 4), 1u32.to_le_bytes(), "si_pid");
    assert_eq!(
        mask_of(&b, 1),
        bit(10) | bit(12),
        "handler mask and the signal"
    );
    // The handler returns: `ret` pops the restorer, which calls rt_sigreturn.
    let mut ret = ctx;
    ret.rsp += 8;
    ret.rax = 15;
    ret.rflags = 0x202 | 0x100; // TF set since: the frame's flags win
    assert_eq!(b.call_ctx(1, &mut ret), Flow::Continue);
    assert_eq!(ret, before, "registers come back");
    assert_eq!(mask_of(&b, 1), 0);
    assert_eq!(b.fake.fpu_restored.len(), 1);
    assert_eq!(b.fake.fpu_restored[0][200], 0x77, "the saved FPU image");
    // A bad frame ends the program with SIGSEGV.
    let mut bad = ctx;
    bad.rsp = 0x10;
    bad.rax = 15;
    assert_eq!(b.call_ctx(1, &mut bad), Flow::Kill(Signal::SIGSEGV));
}

#[test]
fn order_masks_defaults_and_flags() {
    let (mut b, mut ctx) = setup();
    handle(&mut b, 10, 0, 0);
    handle(&mut b, 12, SA_NODEFER | SA_RESETHAND, 0);
    // Block both, send 12 then 10, unblock: 10 (lower) comes first.
    b.poke(SCRATCH, &(bit(10) | bit(12)).to_le_bytes());
    assert_eq!(b.sys(14, &[0, SCRATCH, 0, 8]), 0);
    assert_eq!(b.sys(62, &[1, 12]), 0);
    assert_eq!(b.sys(62, &[1, 10]), 0);
    let mut c = ctx;
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c), Flow::Continue);
    assert_eq!(c.rip, 0x40_1050, "both blocked");
    assert_eq!(b.sys(127, &[SCRATCH + 8, 8]), 0);
    assert_eq!(b.peek_u64(SCRATCH + 8), bit(10) | bit(12));
    assert_eq!(b.sys(14, &[1, SCRATCH, 0, 8]), 0);
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c), Flow::Continue);
    assert_eq!(c.rdi, 10);
    // In 10's handler (10 blocked), 12 arrives on the next entry.
    let mut c2 = c;
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c2), Flow::Continue);
    assert_eq!(c2.rdi, 12);
    assert_eq!(mask_of(&b, 1), bit(10), "SA_NODEFER: 12 stays unblocked");
    let act = b.proc.signals().action(12);
    assert_eq!(act.handler, 0, "SA_RESETHAND");
    // Default actions: SIGCHLD and SIGURG are dropped, SIGTERM kills.
    assert_eq!(b.sys(62, &[1, 17]), 0);
    assert_eq!(b.sys(62, &[1, 23]), 0);
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut ctx), Flow::Continue);
    assert_eq!(b.sys(62, &[1, 15]), 0);
    assert_eq!(
        b.proc.before_user(&mut b.fake, 1, &mut ctx),
        Flow::Kill(Signal::SIGTERM)
    );
}

#[test]
fn no_restorer_means_sigsegv() {
    let (mut b, mut ctx) = setup();
    let at = SCRATCH;
    for (i, v) in [HANDLER, 0, 0, 0].iter().enumerate() {
        b.poke(at + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(13, &[10, at, 0, 8]), 0);
    assert_eq!(b.sys(62, &[1, 10]), 0);
    assert_eq!(
        b.proc.before_user(&mut b.fake, 1, &mut ctx),
        Flow::Kill(Signal::SIGSEGV)
    );
}

#[test]
fn kill_tgkill_and_errors() {
    let (mut b, _) = setup();
    assert_eq!(b.sys(62, &[1, 0]), 0, "probe");
    assert_eq!(b.sys(62, &[0, 0]), 0);
    assert_eq!(b.sys(62, &[2, 0]), E(Errno::ESRCH));
    assert_eq!(b.sys(62, &[u32::MAX as u64, 0]), E(Errno::ESRCH));
    assert_eq!(b.sys(62, &[1, 65]), E(Errno::EINVAL));
    assert_eq!(b.sys(234, &[1, 1, 0]), 0);
    assert_eq!(b.sys(234, &[2, 1, 0]), E(Errno::ESRCH));
    assert_eq!(b.sys(234, &[1, 9, 0]), E(Errno::ESRCH));
    assert_eq!(b.sys(234, &[0, 1, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(200, &[1, 0]), 0);
    assert_eq!(b.sys(200, &[0, 0]), E(Errno::EINVAL));
    // Thread-directed signals go to that thread only.
    handle(&mut b, 23, 0, 0);
    let (flow, _) = b.call(56, &[0x10f00 | 0x40000, SCRATCH + 0x5000, 0, 0, 0]);
    let Flow::Spawn { tid, .. } = flow else {
        panic!("{flow:?}")
    };
    assert_eq!(b.sys(234, &[1, tid as u64, 23]), 0);
    let mut c = UserContext {
        rsp: SCRATCH + 0x6000,
        ..Default::default()
    };
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c), Flow::Continue);
    assert_eq!(c.rip, 0, "not for thread 1");
    assert_eq!(b.proc.before_user(&mut b.fake, tid, &mut c), Flow::Continue);
    assert_eq!((c.rip, c.rdi), (HANDLER, 23));
}

/// A second thread, to send signals while thread 1 is parked.
fn helper(b: &mut Booted) -> i32 {
    let (flow, _) = b.call(56, &[0x10f00 | 0x40000, SCRATCH + 0x7000, 0, 0, 0]);
    match flow {
        Flow::Spawn { tid, .. } => tid,
        f => panic!("{f:?}"),
    }
}

/// A blocked pipe read as thread 1; returns its registers.
fn blocked_read(b: &mut Booted) -> UserContext {
    assert_eq!(b.sys(22, &[SCRATCH + 0x100]), 0);
    let rfd = u32::from_le_bytes(b.peek(SCRATCH + 0x100, 4).try_into().unwrap());
    let mut ctx = b.ctx_for(0, &[rfd as u64, SCRATCH + 0x200, 10]);
    ctx.rip = 0x40_1080;
    let mut c = ctx;
    assert!(matches!(b.call_ctx(1, &mut c), Flow::Block(_)));
    ctx
}

#[test]
fn interrupted_calls_restart_or_fail_with_eintr() {
    for (flags, restart) in [(SA_RESTART, true), (0, false)] {
        let (mut b, _) = setup();
        handle(&mut b, 10, flags, 0);
        let h = helper(&mut b);
        let ctx = blocked_read(&mut b);
        assert_eq!(b.call_as(h, 62, &[1, 10]), (Flow::Continue, 0));
        assert_eq!(b.proc.take_wakeups(), [1], "the signal wakes the reader");
        let mut c = ctx;
        assert_eq!(b.call_ctx(1, &mut c), Flow::Continue);
        if restart {
            assert_eq!(
                (c.rax, c.rip),
                (0, 0x40_1080 - 2),
                "made again after the handler"
            );
        } else {
            assert_eq!((c.rax as i64, c.rip), (E(Errno::EINTR), 0x40_1080));
        }
        let saved = c;
        assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c), Flow::Continue);
        assert_eq!(c.rip, HANDLER);
        let uc = c.rsp + UCONTEXT_OFFSET;
        assert_eq!(b.peek_u64(uc + 40 + 16 * 8), saved.rip, "sigcontext rip");
    }
    // poll is never restarted after a handler, whatever SA_RESTART says.
    let (mut b, _) = setup();
    handle(&mut b, 10, SA_RESTART, 0);
    assert_eq!(b.sys(62, &[1, 10]), 0);
    b.poke(SCRATCH, &0i32.to_le_bytes());
    b.poke(SCRATCH + 4, &1u16.to_le_bytes());
    let (flow, rax) = b.call(7, &[SCRATCH, 1, u64::MAX]);
    assert_eq!((flow, rax), (Flow::Continue, E(Errno::EINTR)));
}

#[test]
fn nanosleep_eintr_writes_the_time_left() {
    let (mut b, _) = setup();
    handle(&mut b, 10, SA_RESTART, 0);
    b.poke(SCRATCH, &2u64.to_le_bytes());
    b.poke(SCRATCH + 8, &0u64.to_le_bytes());
    let sleep = [SCRATCH, SCRATCH + 16];
    let h = helper(&mut b);
    assert!(matches!(
        b.call(35, &sleep).0,
        Flow::Block(WaitFor::Wakeup { .. })
    ));
    b.fake.clock.mono += 500_000_000;
    assert_eq!(b.call_as(h, 234, &[1, 1, 10]), (Flow::Continue, 0));
    assert_eq!(b.call(35, &sleep), (Flow::Continue, E(Errno::EINTR)));
    assert_eq!(
        (b.peek_u64(SCRATCH + 16), b.peek_u64(SCRATCH + 24)),
        (1, 500_000_000)
    );
}

#[test]
fn sigsuspend_and_sigtimedwait() {
    let (mut b, ctx) = setup();
    handle(&mut b, 10, 0, 0);
    b.poke(SCRATCH, &bit(10).to_le_bytes());
    assert_eq!(b.sys(14, &[0, SCRATCH, 0, 8]), 0);
    // sigsuspend with an empty mask: 10 (blocked before) interrupts it.
    b.poke(SCRATCH + 8, &0u64.to_le_bytes());
    let mut c = b.ctx_for(130, &[SCRATCH + 8, 8]);
    c.rsp = ctx.rsp;
    let mut c1 = c;
    assert_eq!(
        b.call_ctx(1, &mut c1),
        Flow::Block(WaitFor::Wakeup { deadline: None })
    );
    assert_eq!(mask_of(&b, 1), 0);
    let h = helper(&mut b);
    assert_eq!(b.call_as(h, 200, &[1, 10]), (Flow::Continue, 0));
    let mut c2 = c;
    assert_eq!(b.call_ctx(1, &mut c2), Flow::Continue);
    assert_eq!(c2.rax as i64, E(Errno::EINTR));
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c2), Flow::Continue);
    assert_eq!(c2.rip, HANDLER);
    let mut r = c2;
    r.rsp += 8;
    r.rax = 15;
    assert_eq!(b.call_ctx(1, &mut r), Flow::Continue);
    assert_eq!(
        mask_of(&b, 1),
        bit(10),
        "the mask before sigsuspend is back"
    );
    // sigtimedwait takes a blocked signal without running the handler.
    assert_eq!(b.sys(62, &[1, 10]), 0);
    b.poke(SCRATCH + 16, &bit(10).to_le_bytes());
    assert_eq!(b.sys(128, &[SCRATCH + 16, SCRATCH + 0x400, 0, 8]), 10);
    assert_eq!(b.peek(SCRATCH + 0x400, 4), 10i32.to_le_bytes());
    // Nothing pending: a zero timeout is EAGAIN; otherwise it waits.
    b.poke(SCRATCH + 32, &[0u8; 16]);
    assert_eq!(
        b.sys(128, &[SCRATCH + 16, 0, SCRATCH + 32, 8]),
        E(Errno::EAGAIN)
    );
    let wait = [SCRATCH + 16, 0, 0, 8];
    assert!(matches!(b.call(128, &wait).0, Flow::Block(_)));
    assert_eq!(b.call_as(h, 62, &[1, 10]), (Flow::Continue, 0));
    assert_eq!(b.proc.take_wakeups(), [1]);
    assert_eq!(b.call(128, &wait), (Flow::Continue, 10));
    assert!(matches!(b.call(34, &[]).0, Flow::Block(_)), "pause");
}

#[test]
fn sigaltstack_frames_and_rules() {
    let (mut b, mut ctx) = setup();
    handle(&mut b, 10, SA_ONSTACK, 0);
    let (sp, size) = (SCRATCH + 0x1000, 0x2000u64);
    b.poke(SCRATCH, &sp.to_le_bytes());
    b.poke(SCRATCH + 8, &(1u64 << 31).to_le_bytes()); // SS_AUTODISARM
    b.poke(SCRATCH + 16, &size.to_le_bytes());
    assert_eq!(b.sys(131, &[SCRATCH, 0]), 0);
    assert_eq!(b.sys(62, &[1, 10]), 0);
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut ctx), Flow::Continue);
    assert!(
        ctx.rsp > sp && ctx.rsp < sp + size,
        "frame on the alternate stack"
    );
    let uc = ctx.rsp + UCONTEXT_OFFSET;
    assert_eq!(
        (b.peek_u64(uc + 16), b.peek_u64(uc + 32)),
        (sp, size),
        "uc_stack"
    );
    assert!(
        !b.proc.threads().get(1).unwrap().altstack.enabled(),
        "auto-disarmed"
    );
    let mut r = ctx;
    r.rsp += 8;
    r.rax = 15;
    assert_eq!(b.call_ctx(1, &mut r), Flow::Continue);
    assert!(
        b.proc.threads().get(1).unwrap().altstack.enabled(),
        "re-armed by sigreturn"
    );
    // Without autodisarm, changing it while on it is EPERM.
    b.poke(SCRATCH + 8, &0u64.to_le_bytes());
    assert_eq!(b.sys(131, &[SCRATCH, 0]), 0);
    let mut on = b.ctx_for(131, &[SCRATCH, SCRATCH + 0x40]);
    on.rsp = sp + 0x100;
    assert_eq!(b.call_ctx(1, &mut on), Flow::Continue);
    assert_eq!(on.rax as i64, E(Errno::EPERM));
    on = b.ctx_for(131, &[0, SCRATCH + 0x40]);
    on.rsp = sp + 0x100;
    assert_eq!(b.call_ctx(1, &mut on), Flow::Continue);
    assert_eq!(b.peek(SCRATCH + 0x48, 4), 1u32.to_le_bytes(), "SS_ONSTACK");
}

#[test]
fn faults_run_handlers_or_kill() {
    let (mut b, mut ctx) = setup();
    let fault = FaultSignal {
        signal: Signal::SIGSEGV,
        code: 1,
        addr: 0xdead_0000,
    };
    assert_eq!(
        b.proc.fault_signal(&mut b.fake, 1, fault, &mut ctx),
        Flow::Kill(Signal::SIGSEGV)
    );
    handle(&mut b, 11, SA_SIGINFO, 0);
    let before = ctx;
    assert_eq!(
        b.proc.fault_signal(&mut b.fake, 1, fault, &mut ctx),
        Flow::Continue
    );
    assert_eq!((ctx.rip, ctx.rdi), (HANDLER, 11));
    assert_eq!(b.peek_u64(ctx.rsi + 16), 0xdead_0000, "si_addr");
    assert_eq!(b.peek(ctx.rsi + 8, 4), 1i32.to_le_bytes(), "SEGV_MAPERR");
    let uc = ctx.rsp + UCONTEXT_OFFSET;
    assert_eq!(b.peek_u64(uc + 40 + 16 * 8), before.rip);
    assert_eq!(b.peek_u64(uc + 40 + 22 * 8), 0xdead_0000, "cr2");
    // In its own handler SIGSEGV is blocked: a second fault kills.
    assert_eq!(
        b.proc.fault_signal(&mut b.fake, 1, fault, &mut ctx),
        Flow::Kill(Signal::SIGSEGV)
    );
    // page_fault itself reports the unresolved fault.
    assert!(b
        .proc
        .page_fault(&mut b.fake, 1, 0x10, Access::Read)
        .is_err());
}

#[test]
fn signalfd_reads_pending_signals() {
    let (mut b, _) = setup();
    b.poke(SCRATCH, &(bit(10) | bit(12)).to_le_bytes());
    assert_eq!(b.sys(14, &[0, SCRATCH, 0, 8]), 0);
    let fd = b.sys(289, &[u64::MAX, SCRATCH, 8, 0o4000]);
    assert!(fd >= 3);
    assert_eq!(b.sys(289, &[u64::MAX, SCRATCH, 4, 0]), E(Errno::EINVAL));
    assert_eq!(
        b.sys(289, &[0, SCRATCH, 8, 0]),
        E(Errno::EINVAL),
        "not a signalfd"
    );
    assert_eq!(
        b.sys(0, &[fd as u64, SCRATCH + 0x100, 128]),
        E(Errno::EAGAIN)
    );
    assert_eq!(b.sys(62, &[1, 12]), 0);
    assert_eq!(b.sys(62, &[1, 10]), 0);
    b.poke(SCRATCH + 0x80, &(fd as i32).to_le_bytes());
    b.poke(SCRATCH + 0x84, &1u16.to_le_bytes());
    assert_eq!(b.sys(7, &[SCRATCH + 0x80, 1, 0]), 1, "readable");
    assert_eq!(
        b.sys(0, &[fd as u64, SCRATCH + 0x100, 100]),
        E(Errno::EINVAL)
    );
    assert_eq!(b.sys(0, &[fd as u64, SCRATCH + 0x100, 512]), 256);
    assert_eq!(b.peek(SCRATCH + 0x100, 4), 10u32.to_le_bytes());
    assert_eq!(b.peek(SCRATCH + 0x180, 4), 12u32.to_le_bytes());
    assert_eq!(b.peek(SCRATCH + 0x10c, 4), 1u32.to_le_bytes(), "ssi_pid");
}

#[test]
fn sigpipe_follows_epipe() {
    let (mut b, mut ctx) = setup();
    assert_eq!(b.sys(22, &[SCRATCH]), 0);
    let (r, w) = (b.peek(SCRATCH, 4), b.peek(SCRATCH + 4, 4));
    let r = u32::from_le_bytes(r.try_into().unwrap());
    let w = u32::from_le_bytes(w.try_into().unwrap());
    assert_eq!(b.sys(3, &[r as u64]), 0);
    assert_eq!(b.sys(1, &[w as u64, SCRATCH, 1]), E(Errno::EPIPE));
    assert_eq!(
        b.proc.before_user(&mut b.fake, 1, &mut ctx),
        Flow::Kill(Signal::SIGPIPE)
    );
    // Ignored, only EPIPE remains.
    b.poke(SCRATCH + 0x800, &[1u8, 0, 0, 0, 0, 0, 0, 0]);
    b.poke(SCRATCH + 0x808, &[0u8; 24]);
    assert_eq!(b.sys(13, &[13, SCRATCH + 0x800, 0, 8]), 0);
    assert_eq!(b.sys(1, &[w as u64, SCRATCH, 1]), E(Errno::EPIPE));
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut ctx), Flow::Continue);
}

#[test]
fn shutdown_delivers_sigterm() {
    let (mut b, mut ctx) = setup();
    handle(&mut b, 15, 0, 0);
    b.proc.request_shutdown();
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut ctx), Flow::Continue);
    assert_eq!((ctx.rip, ctx.rdi), (HANDLER, 15));
    let (mut b, mut ctx) = setup();
    b.proc.request_shutdown();
    assert_eq!(
        b.proc.before_user(&mut b.fake, 1, &mut ctx),
        Flow::Kill(Signal::SIGTERM)
    );
}

#[test]
fn epoll_pwait_waits_with_its_own_mask() {
    let (mut b, ctx) = setup();
    handle(&mut b, 10, 0, 0);
    b.poke(SCRATCH, &bit(10).to_le_bytes());
    assert_eq!(b.sys(14, &[0, SCRATCH, 0, 8]), 0, "block SIGUSR1");
    let ep = b.sys(291, &[0]);
    assert!(ep >= 0, "epoll_create1: {ep}");
    assert_eq!(b.sys(62, &[1, 10]), 0, "SIGUSR1 pending, blocked");
    // Without a mask the blocked signal does not interrupt.
    assert_eq!(b.sys(232, &[ep as u64, SCRATCH + 0x100, 4, 0]), 0);
    // A wrong sigsetsize is EINVAL.
    b.poke(SCRATCH + 8, &0u64.to_le_bytes());
    assert_eq!(
        b.sys(281, &[ep as u64, SCRATCH + 0x100, 4, 0, SCRATCH + 8, 4]),
        E(Errno::EINVAL)
    );
    // With an empty mask for the wait, the pending SIGUSR1 interrupts it.
    let forever = u32::MAX as u64;
    let mut c = b.ctx_for(
        281,
        &[ep as u64, SCRATCH + 0x100, 4, forever, SCRATCH + 8, 8],
    );
    c.rsp = ctx.rsp;
    assert_eq!(b.call_ctx(1, &mut c), Flow::Continue);
    assert_eq!(c.rax as i64, E(Errno::EINTR));
    assert_eq!(b.proc.before_user(&mut b.fake, 1, &mut c), Flow::Continue);
    assert_eq!(c.rip, HANDLER, "the handler runs with the wait's mask");
}
