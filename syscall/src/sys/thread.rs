//! Threads: clone and clone3 (threads only: a new process is not
//! supported), thread exit, thread ids, robust lists, and the per-thread
//! knobs programs set (names, scheduling policy, affinity).

use crate::call::{nonnull, ok, Args, Call, Outcome};
use crate::mm::TASK_SIZE;
use crate::process::Tid;
use crate::thread::table::{AltStack, Thread};
use kiln_abi::errno::{Errno, SysResult};

pub const CSIGNAL: u64 = 0xff;
pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_NEWNS: u64 = 0x20000;
pub const CLONE_SYSVSEM: u64 = 0x40000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
pub const CLONE_DETACHED: u64 = 0x40_0000;
pub const CLONE_UNTRACED: u64 = 0x80_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
pub const CLONE_NEWCGROUP: u64 = 0x200_0000;
pub const CLONE_NEWUTS: u64 = 0x400_0000;
pub const CLONE_NEWIPC: u64 = 0x800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
pub const CLONE_IO: u64 = 0x8000_0000;
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const NAMESPACES: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// What a clone asks for, from either clone or clone3.
struct CloneArgs {
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
}

/// What to tell the user of a known server that asked for a new process:
/// the options that keep it in one process, by program name.
const FORK_HINTS: &[(&str, &str)] = &[
    (
        "nginx",
        "-g 'daemon off; master_process off;' (or both in nginx.conf)",
    ),
    (
        "dnsmasq",
        "-k (--keep-in-foreground); -d also answers DNS over TCP without a fork",
    ),
    (
        "busybox httpd",
        "-f (it still forks for each connection: use another server)",
    ),
    (
        "redis-server",
        "--daemonize no --save '' --appendonly no (background saves fork)",
    ),
    ("haproxy", "-db"),
    ("lighttpd", "-D"),
    ("memcached", "no -d"),
    ("unbound", "-d (or do-daemonize: no in unbound.conf)"),
    ("apache2", "-X (one process)"),
    ("httpd", "-X (one process)"),
    ("named", "-f"),
    ("squid", "-N"),
];

/// The name a program goes by for [`FORK_HINTS`]: its file name, or
/// "busybox APPLET" for a busybox applet (called by name, or as the first
/// argument).
fn program_name(exe: &str, args: &[alloc::string::String]) -> alloc::string::String {
    let base = |p: &str| -> alloc::string::String {
        alloc::string::String::from(p.rsplit('/').next().unwrap_or(p))
    };
    let name = base(exe);
    if name != "busybox" {
        return name;
    }
    let argv0 = args.first().map(|a| base(a)).unwrap_or_default();
    let applet = if !argv0.is_empty() && argv0 != "busybox" {
        Some(argv0)
    } else {
        args.get(1).map(|a| base(a))
    };
    match applet {
        Some(a) => alloc::format!("busybox {a}"),
        None => name,
    }
}

/// The one console line said when the program first asks for a new
/// process.
pub fn fork_message(exe: &str, args: &[alloc::string::String]) -> alloc::string::String {
    let name = program_name(exe, args);
    let advice = match FORK_HINTS.iter().find(|(n, _)| *n == name) {
        Some((_, hint)) => alloc::format!("run it with {hint}"),
        None => alloc::string::String::from(
            "run it in the foreground, without daemon mode or worker processes",
        ),
    };
    alloc::format!(
        "kiln: {name} tried to start a new process, but Kiln runs one program as one \
         process (fork fails with ENOSYS); {advice}\n"
    )
}

/// ENOSYS for a new process (fork, vfork, posix_spawn, clone without
/// CLONE_THREAD), said once on the console with the option that avoids
/// it for known servers. ENOSYS rather than EAGAIN: EAGAIN says "not now,
/// try again" (process limits), and some programs retry it (bash sleeps
/// and retries a failed fork); ENOSYS is permanent, as fork on a Linux
/// without an MMU, it makes glibc's clone3 -> clone fallback end in the
/// same answer, and its text ("Function not implemented") says what
/// happened in the program's own error message.
fn no_fork(c: &mut Call<'_>) -> SysResult<Outcome> {
    if !c.proc.threads().fork_reported {
        c.proc.threads_mut().fork_reported = true;
        let msg = {
            use crate::vfs::ProcessFacts;
            fork_message(c.proc.exe(), &c.proc.manifest().args)
        };
        c.p.console().note(msg.as_bytes());
    }
    Err(Errno::ENOSYS)
}

/// The checks of Linux `copy_process`, then a new thread.
fn do_clone(c: &mut Call<'_>, a: CloneArgs) -> SysResult<Outcome> {
    let f = a.flags;
    if f & (CLONE_NEWNS | CLONE_FS) == (CLONE_NEWNS | CLONE_FS)
        || f & (CLONE_NEWUSER | CLONE_FS) == (CLONE_NEWUSER | CLONE_FS)
        || (f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0)
        || (f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0)
        || (f & CLONE_SIGHAND != 0 && f & (CLONE_NEWUSER | CLONE_NEWPID) != 0)
        || (f & CLONE_PIDFD != 0 && f & (CLONE_THREAD | CLONE_DETACHED) != 0)
        || (f & CLONE_CLEAR_SIGHAND != 0 && f & CLONE_SIGHAND != 0)
    {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_THREAD == 0 {
        return no_fork(c);
    }
    // A thread with its own files, fs information, namespaces, or one the
    // parent waits for (vfork) is not supported.
    if f & (CLONE_FILES | CLONE_FS) != (CLONE_FILES | CLONE_FS)
        || f & (NAMESPACES | CLONE_VFORK | CLONE_INTO_CGROUP | CLONE_PIDFD) != 0
    {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SETTLS != 0 && a.tls >= TASK_SIZE {
        return Err(Errno::EPERM);
    }
    let Some(tid) = c.proc.threads_mut().alloc_tid() else {
        return Err(Errno::EAGAIN);
    };
    let now = c.now();
    let parent = c.thread().clone();
    let mut child = Thread::new(tid, now, parent.name.clone());
    child.mask = parent.mask;
    child.altstack = AltStack::NONE;
    child.policy = parent.policy;
    child.nice = parent.nice;
    if f & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid = a.child_tid;
    }
    c.proc.threads_mut().insert(child);
    // Linux ignores faults writing these ids.
    if f & CLONE_PARENT_SETTID != 0 {
        let _ = c.mem().write_u32(a.parent_tid, tid as u32);
    }
    if f & CLONE_CHILD_SETTID != 0 {
        let _ = c.mem().write_u32(a.child_tid, tid as u32);
    }
    let mut ctx = *c.ctx;
    ctx.rax = 0;
    if a.stack != 0 {
        ctx.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 {
        ctx.fs_base = a.tls;
    }
    Ok(Outcome::Spawn { tid, ctx })
}

/// Implements Linux `clone(2)` for threads (CLONE_VM|CLONE_THREAD|...,
/// as glibc, musl and Go use it). Differs: a new process is ENOSYS;
/// a thread without CLONE_FILES/CLONE_FS, with namespaces or CLONE_VFORK
/// is EINVAL.
pub fn clone(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.u(0) & 0xffff_ffff;
    if flags & CLONE_THREAD == 0 && flags & CLONE_PIDFD != 0 && flags & CLONE_PARENT_SETTID != 0 {
        return Err(Errno::EINVAL);
    }
    do_clone(
        c,
        CloneArgs {
            flags,
            stack: a.u(1),
            parent_tid: a.u(2),
            child_tid: a.u(3),
            tls: a.u(4),
        },
    )
}

/// Size of `struct clone_args` version 0 and the largest known (v2).
pub const CLONE_ARGS_SIZE_VER0: u64 = 64;
pub const CLONE_ARGS_SIZE_MAX: u64 = 88;

/// Implements Linux `clone3(2)` with the meaning of `clone`; set_tid and
/// cgroups are EINVAL. Sizes below version 0 are EINVAL, above a page
/// E2BIG, and unknown trailing fields must be zero (E2BIG).
pub fn clone3(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.u(1);
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > crate::platform::PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    let mut raw = alloc::vec![0u8; size as usize];
    c.mem().read(a.u(0), &mut raw)?;
    if raw.len() > CLONE_ARGS_SIZE_MAX as usize
        && raw[CLONE_ARGS_SIZE_MAX as usize..].iter().any(|&b| b != 0)
    {
        return Err(Errno::E2BIG);
    }
    raw.resize(CLONE_ARGS_SIZE_MAX as usize, 0);
    let w = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (flags, _pidfd, child_tid, parent_tid, exit_signal) = (w(0), w(1), w(2), w(3), w(4));
    let (stack, stack_size, tls, set_tid, set_tid_size, _cgroup) =
        (w(5), w(6), w(7), w(8), w(9), w(10));
    let known = 0xffff_ff00 | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP;
    if flags & !known != 0
        || exit_signal & !CSIGNAL != 0
        || set_tid_size > 32
        || (set_tid == 0) != (set_tid_size == 0)
        || (stack == 0) != (stack_size == 0)
    {
        return Err(Errno::EINVAL);
    }
    if set_tid_size != 0 {
        // Choosing tids (checkpoint/restore) is not supported.
        return Err(Errno::EINVAL);
    }
    do_clone(
        c,
        CloneArgs {
            flags,
            stack: stack.wrapping_add(stack_size),
            parent_tid,
            child_tid,
            tls,
        },
    )
}

/// Implements Linux `fork(2)` and `vfork(2)`: ENOSYS, a program runs as
/// one process (said once on the console).
pub fn fork(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    no_fork(c)
}

/// Implements Linux `exit(2)`: ends the calling thread (its
/// clear_child_tid word is zeroed and woken, its robust list released);
/// the last thread's exit ends the program.
pub fn exit(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if c.proc.threads().len() <= 1 {
        return Ok(Outcome::Exit(a.int(0) & 0xff));
    }
    let tid = c.tid;
    c.proc.exit_thread(&mut *c.p, tid);
    Ok(Outcome::ThreadExit)
}

/// Implements Linux `gettid(2)`.
pub fn gettid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.tid as u64)
}

/// Implements Linux `set_tid_address(2)`: the calling thread's
/// clear_child_tid pointer; returns its tid.
pub fn set_tid_address(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.thread().clear_child_tid = a.u(0);
    ok(c.tid as u64)
}

/// Size of `struct robust_list_head`.
pub const ROBUST_LIST_HEAD_SIZE: u64 = 24;

/// Implements Linux `set_robust_list(2)` for the calling thread; the list
/// is walked when the thread exits.
pub fn set_robust_list(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.u(1) != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    c.thread().robust_list = (a.u(0), a.u(1));
    ok(0)
}

/// The thread a scheduling call names: 0 is the caller.
fn target(c: &Call<'_>, pid: i32) -> Result<Tid, Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let tid = if pid == 0 { c.tid } else { pid };
    if c.proc.threads().get(tid).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(tid)
}

/// Implements Linux `get_robust_list(2)` for the program's threads.
pub fn get_robust_list(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let tid = target(c, a.int(0)).map_err(|_| Errno::ESRCH)?;
    let (head, _) = c.proc.threads().get(tid).map_or((0, 0), |t| t.robust_list);
    c.mem().write_u64(a.u(1), head)?;
    c.mem().write_u64(a.u(2), ROBUST_LIST_HEAD_SIZE)?;
    ok(0)
}

/// Implements Linux `sched_yield(2)`. The kernel's scheduler decides
/// whether another thread runs first.
pub fn sched_yield(_c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(0)
}

/// The CPU mask of the machine, as many bytes as Linux reports.
fn cpu_mask(c: &Call<'_>) -> alloc::vec::Vec<u8> {
    let cpus = c.p.info().cpus.max(1) as u64;
    let mut mask = alloc::vec![0u8; (cpus.div_ceil(64) * 8) as usize];
    for cpu in 0..cpus {
        mask[(cpu / 8) as usize] |= 1 << (cpu % 8);
    }
    mask
}

/// Implements Linux `sched_getaffinity(2)`: every CPU of the machine.
pub fn sched_getaffinity(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    target(c, a.int(0)).map_err(|_| Errno::ESRCH)?;
    let mask = cpu_mask(c);
    let cpus = c.p.info().cpus.max(1) as u64;
    let len = a.u(1);
    if len.saturating_mul(8) < cpus || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    c.mem().write(a.u(2), &mask)?;
    ok(mask.len() as u64)
}

/// Implements Linux `sched_setaffinity(2)`: a mask with at least one of
/// the machine's CPUs is accepted; threads still run on any CPU.
pub fn sched_setaffinity(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    target(c, a.int(0)).map_err(|_| Errno::ESRCH)?;
    let have = cpu_mask(c);
    let n = (a.u(1) as usize).min(have.len());
    let mut want = alloc::vec![0u8; n];
    c.mem().read(a.u(2), &mut want)?;
    if !want.iter().zip(&have).any(|(w, h)| w & h != 0) {
        return Err(Errno::EINVAL);
    }
    ok(0)
}

/// Implements Linux `getcpu(2)`: CPU 0, node 0 (the personality does not
/// know where the kernel runs the thread).
pub fn getcpu(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.u(0) != 0 {
        c.mem().write_u32(a.u(0), 0)?;
    }
    if a.u(1) != 0 {
        c.mem().write_u32(a.u(1), 0)?;
    }
    ok(0)
}

pub const SCHED_OTHER: i32 = 0;
pub const SCHED_FIFO: i32 = 1;
pub const SCHED_RR: i32 = 2;
pub const SCHED_BATCH: i32 = 3;
pub const SCHED_IDLE: i32 = 5;
pub const SCHED_DEADLINE: i32 = 6;
pub const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

/// Implements Linux `sched_get_priority_max(2)`.
pub fn sched_get_priority_max(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    match a.int(0) {
        SCHED_FIFO | SCHED_RR => ok(99),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements Linux `sched_get_priority_min(2)`.
pub fn sched_get_priority_min(_c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    match a.int(0) {
        SCHED_FIFO | SCHED_RR => ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements Linux `sched_getscheduler(2)`: the policy last set.
pub fn sched_getscheduler(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let tid = target(c, a.int(0))?;
    ok(c.proc.threads().get(tid).map_or(0, |t| t.policy) as u64)
}

/// Read `struct sched_param` (one int).
fn read_priority(c: &mut Call<'_>, addr: u64) -> Result<i32, Errno> {
    if addr == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(i32::from_le_bytes(c.mem().read_array::<4>(addr)?))
}

/// Implements Linux `sched_setscheduler(2)`: SCHED_OTHER, SCHED_BATCH and
/// SCHED_IDLE are recorded (all share one time-sharing scheduler);
/// real-time policies are EPERM, as for a program without CAP_SYS_NICE.
pub fn sched_setscheduler(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let policy = a.int(1) & !SCHED_RESET_ON_FORK;
    let prio = read_priority(c, a.u(2))?;
    let tid = target(c, a.int(0))?;
    match policy {
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE if prio == 0 => {
            if let Some(t) = c.proc.threads_mut().get_mut(tid) {
                t.policy = policy;
            }
            ok(0)
        }
        SCHED_FIFO | SCHED_RR if (1..=99).contains(&prio) => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements Linux `sched_getparam(2)`: priority 0.
pub fn sched_getparam(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let addr = nonnull(a.u(1)).map_err(|_| Errno::EINVAL)?;
    target(c, a.int(0))?;
    c.mem().write_u32(addr, 0)?;
    ok(0)
}

/// Implements Linux `sched_setparam(2)`: only priority 0 is valid for the
/// time-sharing policies.
pub fn sched_setparam(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let prio = read_priority(c, a.u(1))?;
    target(c, a.int(0))?;
    if prio != 0 {
        return Err(Errno::EINVAL);
    }
    ok(0)
}

pub const PRIO_PROCESS: i32 = 0;
pub const PRIO_PGRP: i32 = 1;
pub const PRIO_USER: i32 = 2;
pub use kiln_abi::TIME_SLICE_NS;

/// The threads a getpriority/setpriority call names: one thread for
/// PRIO_PROCESS (0: the caller), every thread for the program's group or
/// its user (0: the caller's); ESRCH when none matches.
fn prio_targets(c: &Call<'_>, which: i32, who: i32) -> SysResult<alloc::vec::Vec<Tid>> {
    let all = || c.proc.threads().iter().map(|t| t.tid).collect();
    match which {
        PRIO_PROCESS => target(c, who)
            .map(|t| alloc::vec![t])
            .map_err(|_| Errno::ESRCH),
        PRIO_PGRP if matches!(who, 0 | 1) => Ok(all()),
        PRIO_USER if who == 0 || who as u32 == c.proc.creds().uid.real => Ok(all()),
        PRIO_PGRP | PRIO_USER => Err(Errno::ESRCH),
        _ => Err(Errno::EINVAL),
    }
}

/// Implements Linux `getpriority(2)`: the kernel's form, 20 - nice, of the
/// lowest nice value among the threads named.
pub fn getpriority(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let tids = prio_targets(c, a.int(0), a.int(1))?;
    let nice = tids
        .iter()
        .filter_map(|&t| c.proc.threads().get(t).map(|t| t.nice))
        .min()
        .unwrap_or(0);
    ok((20 - nice) as u64)
}

/// Implements Linux `setpriority(2)`: the nice value is clamped to
/// -20..=19; lowering it needs privilege (EACCES). Recorded only: every
/// thread gets the same share of the CPU.
pub fn setpriority(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let tids = prio_targets(c, a.int(0), a.int(1))?;
    let nice = a.int(2).clamp(-20, 19);
    let privileged = c.proc.creds().privileged();
    for tid in tids {
        if let Some(t) = c.proc.threads_mut().get_mut(tid) {
            if nice < t.nice && !privileged {
                return Err(Errno::EACCES);
            }
            t.nice = nice;
        }
    }
    ok(0)
}

/// Implements Linux `sched_rr_get_interval(2)`: the preemption tick.
pub fn sched_rr_get_interval(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    target(c, a.int(0))?;
    let mut ts = [0u8; 16];
    ts[8..].copy_from_slice(&TIME_SLICE_NS.to_le_bytes());
    c.mem().write(a.u(1), &ts)?;
    ok(0)
}

pub const PR_SET_PDEATHSIG: i32 = 1;
pub const PR_GET_PDEATHSIG: i32 = 2;
pub const PR_GET_DUMPABLE: i32 = 3;
pub const PR_SET_DUMPABLE: i32 = 4;
pub const PR_SET_NAME: i32 = 15;
pub const PR_GET_NAME: i32 = 16;
pub const PR_CAPBSET_READ: i32 = 23;
pub const PR_SET_TIMERSLACK: i32 = 29;
pub const PR_GET_TIMERSLACK: i32 = 30;
pub const PR_GET_KEEPCAPS: i32 = 7;
pub const PR_SET_KEEPCAPS: i32 = 8;
pub const PR_SET_NO_NEW_PRIVS: i32 = 38;
pub const PR_GET_NO_NEW_PRIVS: i32 = 39;
pub const PR_GET_TID_ADDRESS: i32 = 40;
pub const PR_SET_THP_DISABLE: i32 = 41;
pub const PR_GET_THP_DISABLE: i32 = 42;
pub const PR_SET_VMA: i32 = 0x5356_4d41;
/// The highest capability number (CAP_CHECKPOINT_RESTORE).
const CAP_LAST_CAP: u64 = 40;
/// Default timer slack (ns).
const TIMER_SLACK: u64 = 50_000;

/// Implements Linux `prctl(2)`: thread names, dumpable, no_new_privs, keepcaps,
/// parent-death signal (recorded; the program has no parent), capability
/// bounding set (all), timer slack (fixed), THP (recorded). PR_SET_VMA
/// and other options are EINVAL.
pub fn prctl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let arg = a.u(1);
    match a.int(0) {
        PR_SET_NAME => {
            let mut name = alloc::vec![0u8; 16];
            let n = c.mem().read_partial(arg, &mut name);
            let end = name[..n].iter().position(|&b| b == 0);
            if end.is_none() && n < 16 {
                return Err(Errno::EFAULT);
            }
            name.truncate(end.unwrap_or(15).min(15));
            c.thread().name = name;
            ok(0)
        }
        PR_GET_NAME => {
            let mut out = [0u8; 16];
            let name = c.thread().name.clone();
            out[..name.len()].copy_from_slice(&name);
            c.mem().write(arg, &out)?;
            ok(0)
        }
        PR_SET_PDEATHSIG => {
            if arg > crate::thread::signal::NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            c.thread().pdeathsig = arg as i32;
            ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = c.thread().pdeathsig;
            c.mem().write_u32(arg, sig as u32)?;
            ok(0)
        }
        PR_GET_DUMPABLE => ok(c.proc.threads().dumpable as u64),
        PR_SET_DUMPABLE if arg <= 1 => {
            c.proc.threads_mut().dumpable = arg == 1;
            ok(0)
        }
        PR_CAPBSET_READ if arg <= CAP_LAST_CAP => ok(1),
        PR_GET_KEEPCAPS if a.0[1..5].iter().all(|&v| v == 0) => ok(c.proc.creds().keep_caps as u64),
        PR_SET_KEEPCAPS if arg <= 1 && a.0[2..5].iter().all(|&v| v == 0) => {
            c.proc.creds_mut().keep_caps = arg == 1;
            ok(0)
        }
        PR_SET_TIMERSLACK => ok(0),
        PR_GET_TIMERSLACK => ok(TIMER_SLACK),
        PR_SET_NO_NEW_PRIVS if arg == 1 && a.0[2..5].iter().all(|&v| v == 0) => {
            c.proc.threads_mut().no_new_privs = true;
            ok(0)
        }
        PR_GET_NO_NEW_PRIVS if a.0[1..5].iter().all(|&v| v == 0) => {
            ok(c.proc.threads().no_new_privs as u64)
        }
        PR_GET_TID_ADDRESS => {
            let addr = c.thread().clear_child_tid;
            c.mem().write_u64(arg, addr)?;
            ok(0)
        }
        PR_SET_THP_DISABLE if a.0[2..5].iter().all(|&v| v == 0) => {
            c.proc.threads_mut().thp_disable = arg != 0;
            ok(0)
        }
        PR_GET_THP_DISABLE if a.0[1..5].iter().all(|&v| v == 0) => {
            ok(c.proc.threads().thp_disable as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}
