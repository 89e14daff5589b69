//! `kiln run --trace`: each traced system call as strace prints it, with
//! its arguments decoded from program memory (hence here, among the
//! handlers), and the counts for `--syscall-summary`. The state lives in
//! the process's [`crate::tracing::Tracing`]; lines go to the console's
//! trace channel. Nothing here runs unless one of the two is on.

mod decode;
mod flags;
mod sig;

use crate::mm::user::UserMem;
use crate::platform::Platform;
use crate::process::Process;
use crate::tracing::TraceTime;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use kiln_abi::errno::Errno;
use kiln_abi::{Signal, Tid};
use sig::{Arg, Ret};

/// How a traced call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Value(u64),
    Error(Errno),
    /// The call does not return (exit, a fatal signal): `= ?`.
    NoReturn,
    /// Interrupted by a signal, to be restarted.
    Restart,
}

/// A call completed (or was abandoned): count it and print it, whole or
/// as the rest of an unfinished line.
pub fn finish(
    proc: &mut Process,
    p: &mut dyn Platform,
    tid: Tid,
    nr: u64,
    args: &[u64; 6],
    end: End,
    ns: u64,
) {
    let error = match end {
        End::Error(e) => Some(e),
        _ => None,
    };
    proc.tracing_mut().count(nr, ns, true, error);
    let resumed = proc.tracing_mut().take_unfinished(tid) == Some(nr);
    if !proc.tracing().traces(nr) {
        return;
    }
    let mut line = prefix(proc, p, tid);
    let name = call_name(nr);
    let (kinds, ret) = kinds(nr, args);
    let strlen = strlen(proc);
    let value = match end {
        End::Value(v) => Some(v as i64),
        _ => None,
    };
    let first = if resumed {
        let _ = write!(line, "<... {name} resumed>");
        first_output(&kinds)
    } else {
        let _ = write!(line, "{name}(");
        0
    };
    let mut m = proc.mem(&mut *p);
    let shown: Vec<String> = (first..kinds.len())
        .map(|i| arg(&mut m, kinds[i], args, i, value, strlen))
        .collect();
    line.push_str(&shown.join(", "));
    line.push_str(") = ");
    line.push_str(&result(end, ret));
    if let (Some(n), "poll" | "ppoll") = (value, name.as_str()) {
        if n > 0 {
            let _ = write!(
                line,
                " ({})",
                decode::pollfds(&mut m, args[0], args[1], true)
            );
        }
    }
    line.push('\n');
    p.console().trace(line.as_bytes());
}

/// A call is about to wait: count its time, and print its entry the first
/// time, ending in `<unfinished ...>`.
pub fn blocked(
    proc: &mut Process,
    p: &mut dyn Platform,
    tid: Tid,
    nr: u64,
    args: &[u64; 6],
    ns: u64,
) {
    proc.tracing_mut().count(nr, ns, false, None);
    if !proc.tracing().traces(nr) || !proc.tracing_mut().start_unfinished(tid, nr) {
        return;
    }
    let mut line = prefix(proc, p, tid);
    let name = call_name(nr);
    let (kinds, _) = kinds(nr, args);
    let strlen = strlen(proc);
    let upto = first_output(&kinds);
    let mut m = proc.mem(&mut *p);
    let shown: Vec<String> = (0..upto)
        .map(|i| arg(&mut m, kinds[i], args, i, None, strlen))
        .collect();
    let _ = write!(line, "{name}({}", shown.join(", "));
    if !shown.is_empty() && upto < kinds.len() {
        line.push_str(", ");
    }
    line.push_str("<unfinished ...>\n");
    p.console().trace(line.as_bytes());
}

/// The program ended with `status`, or by `signal`: strace's last line.
pub fn exited(proc: &Process, p: &mut dyn Platform, status: Option<i32>, signal: Option<Signal>) {
    if proc.tracing().options().is_none() {
        return;
    }
    let line = match (status, signal) {
        (_, Some(s)) => alloc::format!("+++ killed by {} +++\n", s.name()),
        (Some(code), None) => alloc::format!("+++ exited with {code} +++\n"),
        (None, None) => return,
    };
    p.console().trace(line.as_bytes());
}

fn strlen(proc: &Process) -> usize {
    proc.tracing()
        .options()
        .map_or(crate::tracing::DEFAULT_STRLEN, |o| o.strlen)
}

fn call_name(nr: u64) -> String {
    match kiln_abi::sysno::name(nr) {
        Some(n) => String::from(n),
        None => alloc::format!("syscall_{nr:#x}"),
    }
}

/// The argument kinds of `nr`: its signature, or six hex registers.
/// open's mode is left out unless the flags create a file, as strace does.
fn kinds(nr: u64, args: &[u64; 6]) -> (Vec<Arg>, Ret) {
    let Some((a, r)) = kiln_abi::sysno::name(nr).and_then(sig::signature) else {
        return (alloc::vec![Arg::Hex; 6], Ret::Int);
    };
    let mut kinds = a.to_vec();
    if let Some(i) = kinds.iter().position(|k| *k == Arg::OpenFlags) {
        const CREATES: u64 = 0o100 | 0o20000000;
        if kinds.get(i + 1) == Some(&Arg::Mode) && args[i] & CREATES == 0 {
            kinds.truncate(i + 1);
        }
    }
    (kinds, r)
}

fn first_output(kinds: &[Arg]) -> usize {
    kinds
        .iter()
        .position(|k| k.is_output())
        .unwrap_or(kinds.len())
}

/// `[pid N] TIME `.
fn prefix(proc: &Process, p: &mut dyn Platform, tid: Tid) -> String {
    let mode = proc.tracing().options().map(|o| o.time).unwrap_or_default();
    let stamp = match mode {
        TraceTime::Relative => {
            let ns = p
                .clock()
                .monotonic_ns()
                .saturating_sub(proc.tracing().start_ns);
            alloc::format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
        }
        TraceTime::Wall => {
            let ns = p.clock().realtime_ns();
            let secs = ns / 1_000_000_000 % 86_400;
            alloc::format!(
                "{:02}:{:02}:{:02}.{:06}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                ns % 1_000_000_000 / 1000
            )
        }
    };
    alloc::format!("[pid {tid:>5}] {stamp} ")
}

fn result(end: End, ret: Ret) -> String {
    match end {
        End::Value(v) => match ret {
            Ret::Hex => alloc::format!("{v:#x}"),
            Ret::Int => alloc::format!("{}", v as i64),
        },
        End::Error(e) => match kiln_abi::errno::describe(e as i32) {
            Some((name, text)) => alloc::format!("-1 {name} ({text})"),
            None => alloc::format!("-1 errno {}", e as i32),
        },
        End::NoReturn => String::from("?"),
        End::Restart => String::from("? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
    }
}

/// Argument `i` (of kind `k`), with the call's result when it has one.
fn arg(
    m: &mut UserMem<'_>,
    k: Arg,
    a: &[u64; 6],
    i: usize,
    ret: Option<i64>,
    max: usize,
) -> String {
    use decode::*;
    let v = a[i];
    let ok = ret.is_some_and(|r| r >= 0);
    let done = ret.filter(|r| *r >= 0).map(|r| r as u64);
    match k {
        Arg::Int | Arg::Fd => alloc::format!("{}", v as i32),
        Arg::Long => alloc::format!("{}", v as i64),
        Arg::Size => alloc::format!("{v}"),
        Arg::Hex => alloc::format!("{v:#x}"),
        Arg::Ptr => ptr(v),
        Arg::DirFd if v as i32 == -100 => String::from("AT_FDCWD"),
        Arg::DirFd => alloc::format!("{}", v as i32),
        Arg::Path => path(m, v),
        Arg::InBuf(n) => buf(m, v, a[n], max),
        Arg::OutBuf(n) => match done {
            Some(r) => buf(m, v, r.min(a[n]), max),
            None => ptr(v),
        },
        Arg::OutStr => match done {
            Some(r) if r > 0 => buf(m, v, r - 1, crate::tracing::MAX_STRLEN),
            _ => ptr(v),
        },
        Arg::InIov(n) => iovec(m, v, a[n], None, max),
        Arg::OutIov(n) => match done {
            Some(r) => iovec(m, v, a[n], Some(r), max),
            None => ptr(v),
        },
        Arg::OpenFlags => flags::open_flags(v),
        Arg::FdFlags => flags::bits(v, flags::OPEN, "0"),
        Arg::Mode => match v & 0o7777 {
            0 => String::from("000"),
            perm => alloc::format!("0{perm:o}"),
        },
        Arg::Prot => flags::bits(v, flags::PROT, "PROT_NONE"),
        Arg::MapFlags => flags::map_flags(v),
        Arg::AtFlags => flags::bits(v, flags::AT, "0"),
        Arg::Access if v == 0 => String::from("F_OK"),
        Arg::Access => flags::bits(v, flags::ACCESS, "F_OK"),
        Arg::Whence => flags::value(v, flags::WHENCE),
        Arg::SigHow => flags::value(v, flags::SIGHOW),
        Arg::Signal => signal(v),
        Arg::Clock => flags::value(v, flags::CLOCK),
        Arg::Domain => flags::value(v, flags::DOMAIN),
        Arg::SockType => flags::sock_type(v),
        Arg::SockFlags => flags::bits(v, flags::SOCK_FLAGS, "0"),
        Arg::MsgFlags => flags::bits(v, flags::MSG, "0"),
        Arg::Shut => flags::value(v, flags::SHUT),
        Arg::Level => flags::value(v, flags::LEVEL),
        Arg::OptName => match a[1] {
            1 => flags::value(v, flags::SO),
            6 => flags::value(v, flags::TCP),
            _ => alloc::format!("{}", v as i32),
        },
        Arg::OptVal(n) if a[n] == 4 => int_ptr(m, v),
        Arg::OptVal(n) => buf(m, v, a[n], max),
        Arg::OptValOut(n) if ok => match m.read_array::<4>(a[n]) {
            Ok(l) if u32::from_le_bytes(l) == 4 => int_ptr(m, v),
            Ok(l) => buf(m, v, u64::from(u32::from_le_bytes(l)), max),
            Err(_) => ptr(v),
        },
        Arg::InAddr(n) => sockaddr(m, v, a[n]),
        Arg::OutAddr(n) if ok => sockaddr_out(m, v, a[n]),
        Arg::IntPtrOut if ok || v == 0 => int_ptr(m, v),
        Arg::FdPair if ok => fd_pair(m, v),
        Arg::Stat if ok => stat(m, v),
        Arg::PollFds(n) => pollfds(m, v, a[n], false),
        Arg::TsIn => timespec(m, v),
        Arg::TsOut if ok => timespec(m, v),
        Arg::SigsetIn => sigset(m, v),
        Arg::SigsetOut if ok => sigset(m, v),
        Arg::SigactIn => sigaction(m, v),
        Arg::SigactOut if ok => sigaction(m, v),
        Arg::EpollOp => flags::value(v, flags::EPOLL_OP),
        Arg::EpollEvIn => epoll_event_at(m, v),
        Arg::EpollEvsOut => match done {
            Some(n) => epoll_events(m, v, n),
            None => ptr(v),
        },
        Arg::MsgIn => msghdr(m, v, None, max),
        Arg::MsgOut => match done {
            Some(r) => msghdr(m, v, Some(r), max),
            None => ptr(v),
        },
        Arg::Fcntl => flags::value(v, flags::FCNTL),
        Arg::Ioctl => match flags::IOCTL.iter().find(|(n, _)| *n == v) {
            Some((_, name)) => String::from(*name),
            None => alloc::format!("{v:#x}"),
        },
        Arg::FutexOp => flags::futex_op(v),
        Arg::CloneFlags => {
            let mut s = flags::bits(v & !0xff, flags::CLONE, "");
            if v & 0xff != 0 {
                if !s.is_empty() {
                    s.push('|');
                }
                s.push_str(&signal(v & 0xff));
            }
            if s.is_empty() {
                s.push('0');
            }
            s
        }
        Arg::ArchPrctl => flags::value(v, flags::ARCH_PRCTL),
        Arg::Rlimit => flags::value(v, flags::RLIMIT),
        // Output arguments of a call that failed: the pointer.
        Arg::OptValOut(_)
        | Arg::OutAddr(_)
        | Arg::IntPtrOut
        | Arg::FdPair
        | Arg::Stat
        | Arg::TsOut
        | Arg::SigsetOut
        | Arg::SigactOut => ptr(v),
    }
}
