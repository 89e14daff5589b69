//! System call dispatch: the table's handler for the number, the rules for
//! calls that block, are interrupted or end the program, and the report of
//! unimplemented numbers. It sits above the handlers, which sit above the
//! process and its parts.

use crate::call::{Args, Call, CallKey, Outcome};
use crate::platform::Platform;
use crate::process::{Flow, Process};
use crate::table;
use crate::thread::table::CallState;
use alloc::format;
use kiln_abi::context::UserContext;
use kiln_abi::errno::Errno;
use kiln_abi::{Signal, Tid};

impl Process {
    /// Handle the system call that thread `tid` made (nr in ctx.rax), write
    /// the result into ctx.rax. On `Flow::Block` the context is left as it
    /// was.
    pub fn syscall(&mut self, p: &mut dyn Platform, tid: Tid, ctx: &mut UserContext) -> Flow {
        let nr = ctx.syscall_nr();
        let args = Args(ctx.syscall_args());
        let key = CallKey {
            nr,
            args: args.0,
            rip: ctx.rip,
        };
        let now = p.clock().monotonic_ns();
        let started = now;
        self.signals().queues.lock().current = tid;
        {
            // A call other than the one this thread was parked in starts afresh.
            let t = self.threads_mut().ensure(tid, now);
            if t.call.is_some_and(|c| c.key != key) {
                t.end_call(now);
            }
        }
        self.ready_mut().forget(tid);
        let def = table::lookup(nr);
        let result = match def.and_then(|d| d.handler) {
            Some(handler) => handler(
                &mut Call {
                    proc: self,
                    p,
                    ctx,
                    key,
                    tid,
                },
                args,
            ),
            None => {
                if def.is_none() {
                    self.report_unimplemented(p, nr);
                }
                Err(Errno::ENOSYS)
            }
        };
        if self.space().take_out_of_memory() {
            // A page the call copied to or from could not be backed.
            return self.out_of_memory(p);
        }
        if result == Err(Errno::EPIPE) && crate::thread::sigpipe::applies(nr, &args.0) {
            let _ = self.send_signal(
                Some(tid),
                crate::thread::signal::user_info(Signal::SIGPIPE.0, crate::thread::signal::SI_USER),
            );
        }
        let now = p.clock().monotonic_ns();
        if self.tracing().active() {
            self.trace_result(p, tid, nr, &args.0, &result, now - started);
        }
        match result {
            Ok(Outcome::Block(w)) => {
                if let Some(flow) = self.interrupt(tid, nr, &args.0, ctx, now) {
                    if self.tracing().active() {
                        let end = if ctx.rax == Errno::EINTR.as_ret() as u64 {
                            crate::trace::End::Error(Errno::EINTR)
                        } else {
                            crate::trace::End::Restart
                        };
                        crate::trace::finish(self, p, tid, nr, &args.0, end, 0);
                    }
                    return flow;
                }
                if self.tracing().active() {
                    crate::trace::blocked(self, p, tid, nr, &args.0, now - started);
                }
                if let Some(t) = self.threads_mut().get_mut(tid) {
                    let deadline = t.call.and_then(|c| c.deadline);
                    t.call = Some(CallState {
                        key,
                        deadline,
                        blocked: true,
                    });
                    t.blocked_since.get_or_insert(now);
                }
                Flow::Block(w)
            }
            Ok(Outcome::Exit(code)) => {
                self.end_call(tid, now);
                self.report_missing(p);
                Flow::Exit(code & 0xff)
            }
            Ok(Outcome::Value(v)) => {
                self.end_call(tid, now);
                ctx.rax = v;
                Flow::Continue
            }
            Ok(Outcome::Spawn {
                tid: child,
                ctx: child_ctx,
            }) => {
                self.end_call(tid, now);
                ctx.rax = child as u64;
                Flow::Spawn {
                    tid: child,
                    ctx: child_ctx,
                }
            }
            Ok(Outcome::ThreadExit) => Flow::ThreadExit,
            Ok(Outcome::Kill(sig)) => Flow::Kill(sig),
            Err(e) => {
                self.end_call(tid, now);
                ctx.rax = e.as_ret() as u64;
                Flow::Continue
            }
        }
    }

    /// `--trace`/`--syscall-summary` for a call that did not block (a
    /// blocked one is told apart, after the interruption check).
    fn trace_result(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        nr: u64,
        args: &[u64; 6],
        result: &Result<Outcome, Errno>,
        ns: u64,
    ) {
        use crate::trace::End;
        let end = match result {
            Ok(Outcome::Block(_)) => return,
            Ok(Outcome::Value(v)) => End::Value(*v),
            Ok(Outcome::Spawn { tid, .. }) => End::Value(*tid as u64),
            Ok(Outcome::Exit(_) | Outcome::ThreadExit | Outcome::Kill(_)) => End::NoReturn,
            Err(e) => End::Error(*e),
        };
        crate::trace::finish(self, p, tid, nr, args, end, ns);
        match result {
            Ok(Outcome::Exit(code)) => crate::trace::exited(self, p, Some(code & 0xff), None),
            Ok(Outcome::Kill(sig)) => crate::trace::exited(self, p, None, Some(*sig)),
            _ => {}
        }
    }

    /// The call of `tid` completed: forget it, and give back a mask it
    /// changed for its duration.
    pub(crate) fn end_call(&mut self, tid: Tid, now: u64) {
        if let Some(t) = self.threads_mut().get_mut(tid) {
            t.end_call(now);
            if let Some(m) = t.saved_mask.take() {
                t.mask = m;
            }
        }
    }

    /// A call of `tid` must wait, but a signal it does not block is
    /// pending: abandon the call and return EINTR or set it up to restart
    /// (see [`crate::thread::restart`]). None when no signal interrupts.
    fn interrupt(
        &mut self,
        tid: Tid,
        nr: u64,
        args: &[u64; 6],
        ctx: &mut UserContext,
        now: u64,
    ) -> Option<Flow> {
        let sig = self.deliverable(tid)?;
        self.futexes_mut().cancel(tid);
        if let Some(t) = self.threads_mut().get_mut(tid) {
            // The saved mask (sigsuspend, ppoll) stays for the frame.
            t.end_call(now);
        }
        let act = self.signals().action(sig);
        let class = crate::thread::restart::class(nr, args);
        let restart = crate::thread::restart::restarts(
            class,
            act.is_handler(),
            act.flags & crate::thread::signal::SA_RESTART != 0,
        );
        if restart {
            ctx.rip = ctx.rip.wrapping_sub(2);
        } else {
            ctx.rax = Errno::EINTR.as_ret() as u64;
        }
        Some(Flow::Continue)
    }

    fn report_unimplemented(&mut self, p: &mut dyn Platform, nr: u64) {
        if !self.first_report(nr, table::MAX_NR as u64) {
            return;
        }
        let msg = format!("kiln: unimplemented syscall {} ({nr})\n", table::name(nr));
        p.console().note(msg.as_bytes());
    }
}
