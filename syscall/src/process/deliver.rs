//! Signal delivery: choosing the next signal for a thread about to enter
//! user mode, default actions, building the handler's frame on its stack
//! (or alternate stack), synchronous faults, and `rt_sigreturn`.

use super::{Flow, Process};
use crate::mm::user::UserMem;
use crate::platform::Platform;
use crate::thread::sigframe::{self, FrameSpec, SigInfo, FPSTATE_SIZE, UCONTEXT_SIZE};
use crate::thread::signal::*;
use crate::thread::table::{AltStack, SS_AUTODISARM, SS_DISABLE};
use kiln_abi::context::UserContext;
use kiln_abi::{FaultSignal, Signal, Tid};

/// User code and stack selectors (Linux `__USER_CS`, `__USER_DS`).
pub const USER_CS: u16 = 0x33;
pub const USER_SS: u16 = 0x2b;
/// rflags bits a signal frame may change (Linux FIX_EFLAGS).
pub const FIX_EFLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;

/// Trap number, error code and cr2 for the sigcontext of a fault.
fn fault_regs(f: &FaultSignal) -> (u64, u64, u64) {
    match f.signal {
        Signal::SIGSEGV | Signal::SIGBUS => {
            // Page fault: user mode (4), protection violation (1) for ACCERR.
            let err = 4 | if f.code == 2 { 1 } else { 0 };
            (err, 14, f.addr)
        }
        Signal::SIGFPE => (0, 0, 0),
        Signal::SIGILL => (0, 6, 0),
        Signal::SIGTRAP => (0, 3, 0),
        _ => (0, 13, 0),
    }
}

impl Process {
    /// Deliver at most one pending signal to `tid` (before it enters user
    /// mode). Handled signals get a frame; ignored ones are dropped; the
    /// default "terminate" ends the program.
    pub(crate) fn deliver_signals(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        ctx: &mut UserContext,
    ) -> Flow {
        loop {
            let Some(thread) = self.threads.get(tid) else {
                return Flow::Continue;
            };
            let mask = thread.mask;
            let info = self.signals.queues.lock().dequeue(tid, !mask);
            let Some(info) = info else {
                // A call that changed the mask for its duration completed
                // without a handler running: its mask comes back now.
                if let Some(t) = self.threads.get_mut(tid) {
                    if let Some(m) = t.saved_mask.take() {
                        t.mask = m;
                    }
                }
                return Flow::Continue;
            };
            self.timers.on_dequeue(&info);
            let sig = info.signo;
            let act = self.signals.action(sig);
            if act.handler == SIG_IGN {
                continue;
            }
            if act.handler == SIG_DFL {
                match default_action(sig) {
                    DefaultAction::Ignore => continue,
                    DefaultAction::Stop => {
                        if !self.threads.stop_reported {
                            self.threads.stop_reported = true;
                            p.console().note(
                                b"kiln: stop signals are ignored (nothing could continue the program)\n",
                            );
                        }
                        continue;
                    }
                    DefaultAction::Kill => return Flow::Kill(Signal(sig)),
                }
            }
            return match self.push_frame(p, tid, ctx, info, act, (0, 0, 0)) {
                Ok(()) => Flow::Continue,
                Err(()) => self.force_segv(tid, sig),
            };
        }
    }

    /// A frame could not be set up for `sig` (no SA_RESTORER, unwritable
    /// stack): as Linux `force_sigsegv`, SIGSEGV follows, or the program
    /// dies of SIGSEGV if that was the signal.
    fn force_segv(&mut self, tid: Tid, sig: i32) -> Flow {
        if sig == Signal::SIGSEGV.0 {
            return Flow::Kill(Signal::SIGSEGV);
        }
        // The next delivery attempt runs the SIGSEGV handler if there is a
        // usable one; the kernel calls before_user again before user mode.
        let info = SigInfo {
            signo: Signal::SIGSEGV.0,
            code: SI_KERNEL,
            ..Default::default()
        };
        let blocked = self
            .threads
            .get(tid)
            .is_none_or(|t| t.mask & bit(Signal::SIGSEGV.0) != 0);
        match self.signals.action(Signal::SIGSEGV.0) {
            a if a.is_handler() && a.flags & SA_RESTORER != 0 && !blocked => {
                let mut q = self.signals.queues.lock();
                let _ = q.threads.entry(tid).or_default().push(info);
                Flow::Continue
            }
            _ => Flow::Kill(Signal::SIGSEGV),
        }
    }

    /// Build the handler frame of `info` for `tid` and point `ctx` at the
    /// handler. Err(()) when the frame cannot be written.
    fn push_frame(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        ctx: &mut UserContext,
        info: SigInfo,
        act: SigAction,
        fault: (u64, u64, u64),
    ) -> Result<(), ()> {
        let sig = info.signo;
        if act.flags & SA_RESTORER == 0 {
            // x86_64 Linux has no fallback return path: SIGSEGV.
            return Err(());
        }
        let thread = self.threads.get(tid).ok_or(())?;
        let alt = thread.altstack;
        let on_alt_now = alt.contains(ctx.rsp);
        let use_alt = act.flags & SA_ONSTACK != 0 && alt.enabled() && !on_alt_now;
        let stack_top = if use_alt {
            alt.sp.wrapping_add(alt.size)
        } else {
            ctx.rsp
        };
        let old_mask = thread.saved_mask.unwrap_or(thread.mask);
        let mut fp = [0u8; FPSTATE_SIZE];
        p.fpu_save(&mut fp);
        let spec = FrameSpec {
            ctx,
            info,
            old_mask,
            altstack: alt.report(ctx.rsp),
            stack_top,
            on_altstack: use_alt,
            handler: act.handler,
            restorer: act.restorer,
            fault,
            fpstate: &fp,
            selectors: (USER_CS, USER_SS),
        };
        let frame = sigframe::build(&spec);
        {
            let mut mem = UserMem {
                space: &self.space,
                fs: &self.image,
                p,
            };
            mem.write(frame.fp_addr, &fp).map_err(|_| ())?;
            mem.write(frame.addr, &frame.bytes).map_err(|_| ())?;
        }
        *ctx = frame.ctx;
        let t = self.threads.get_mut(tid).ok_or(())?;
        t.saved_mask = None;
        let mut mask = old_mask | act.mask;
        if act.flags & SA_NODEFER == 0 {
            mask |= bit(sig);
        }
        t.mask = mask & !UNBLOCKABLE;
        if use_alt && alt.flags & SS_AUTODISARM != 0 {
            t.altstack = AltStack::NONE;
        }
        if act.flags & SA_RESETHAND != 0 {
            if let Some(a) = self.signals.actions.get_mut((sig - 1) as usize) {
                *a = SigAction::default();
            }
        }
        Ok(())
    }

    /// Thread `tid` took a fault it cannot go on from as it is (an
    /// unresolved page fault, an invalid instruction, a divide error...).
    /// If the program handles the signal, the handler's frame is set up in
    /// `ctx` and the thread goes on (`Flow::Continue`); otherwise the
    /// program dies of it (`Flow::Kill`), as Linux's `force_sig_fault`: a
    /// blocked, ignored or default signal ends the program.
    pub fn fault_signal(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        fault: FaultSignal,
        ctx: &mut UserContext,
    ) -> Flow {
        let sig = fault.signal.0;
        let act = self.signals.action(sig);
        let blocked = self.threads.get(tid).is_none_or(|t| t.mask & bit(sig) != 0);
        if !act.is_handler() || blocked {
            return Flow::Kill(fault.signal);
        }
        let info = SigInfo {
            signo: sig,
            errno: 0,
            code: fault.code,
            words: [fault.addr, 0],
        };
        match self.push_frame(p, tid, ctx, info, act, fault_regs(&fault)) {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Kill(fault.signal),
        }
    }

    /// `rt_sigreturn` for `tid`: restore registers, mask, alternate stack
    /// and FPU state from the frame at `ctx.rsp`. Err(()) on a bad frame
    /// (the caller kills the program with SIGSEGV).
    pub(crate) fn sigreturn(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        ctx: &mut UserContext,
    ) -> Result<(), ()> {
        let mut uc = [0u8; UCONTEXT_SIZE as usize];
        let mut fp = [0u8; FPSTATE_SIZE];
        let restored = {
            let mut mem = UserMem {
                space: &self.space,
                fs: &self.image,
                p: &mut *p,
            };
            mem.read(ctx.rsp, &mut uc).map_err(|_| ())?;
            let r = sigframe::restore(&uc, ctx).ok_or(())?;
            if r.fp_addr != 0 {
                mem.read(r.fp_addr, &mut fp).map_err(|_| ())?;
            }
            r
        };
        if restored.fp_addr != 0 {
            p.fpu_restore(&fp);
        } else {
            // No FPU state saved: reset it, as Linux does.
            let mut init = [0u8; FPSTATE_SIZE];
            crate::platform::default_fpu(&mut init);
            p.fpu_restore(&init);
        }
        let mut new = restored.ctx;
        new.rflags = (ctx.rflags & !FIX_EFLAGS) | (new.rflags & FIX_EFLAGS);
        *ctx = new;
        let t = self.threads.get_mut(tid).ok_or(())?;
        t.mask = restored.mask & !UNBLOCKABLE;
        t.saved_mask = None;
        // Linux restores the alternate stack as sigaltstack would, quietly
        // ignoring a refusal (for example while running on it).
        let (sp, flags, size) = restored.altstack;
        if !t.altstack.contains(new.rsp) {
            let mode = flags & !SS_AUTODISARM;
            if mode == SS_DISABLE {
                t.altstack = AltStack::NONE;
            } else if (mode == 0 || mode == crate::thread::table::SS_ONSTACK)
                && size >= crate::thread::table::MINSIGSTKSZ
            {
                t.altstack = AltStack {
                    sp,
                    size,
                    flags: flags & SS_AUTODISARM,
                };
            }
        }
        Ok(())
    }
}
