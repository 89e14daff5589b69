//! Threads and futexes through `Process`: clone/clone3, thread exit,
//! clear_child_tid, robust lists, futex operations and their re-issues.

use crate::process::{Flow, WaitFor};
use crate::testutil::*;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const THREAD_FLAGS: u64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000; // VM FS FILES SIGHAND THREAD SYSVSEM
const SETTLS: u64 = 0x80000;
const PARENT_SETTID: u64 = 0x10_0000;
const CHILD_CLEARTID: u64 = 0x20_0000;
const CHILD_SETTID: u64 = 0x100_0000;

/// Clone a thread as glibc does; returns its tid.
fn spawn(b: &mut Booted, cleartid: u64) -> i32 {
    let flags = THREAD_FLAGS | SETTLS | PARENT_SETTID | CHILD_CLEARTID;
    let (flow, rax) = b.call(56, &[flags, SCRATCH + 0x3000, cleartid, cleartid, 0x5000]);
    let Flow::Spawn { tid, ctx } = flow else {
        panic!("no spawn: {flow:?}");
    };
    assert_eq!(rax, tid as i64);
    assert_eq!(
        (ctx.rax, ctx.rsp, ctx.fs_base),
        (0, SCRATCH + 0x3000, 0x5000)
    );
    tid
}

#[test]
fn clone_makes_threads_as_libcs_ask() {
    let mut b = booted();
    let a = b.scratch(4);
    let flags = THREAD_FLAGS | SETTLS | PARENT_SETTID | CHILD_SETTID | CHILD_CLEARTID;
    let mut ctx = b.ctx_for(56, &[flags, a + 0x2000, a, a + 8, 0x7000]);
    ctx.rbx = 0x1234;
    ctx.rip = 0x40_1010;
    let flow = b.call_ctx(1, &mut ctx);
    let Flow::Spawn { tid, ctx: child } = flow else {
        panic!("{flow:?}");
    };
    assert_eq!(tid, 2);
    assert_eq!(ctx.rax, 2);
    assert_eq!(
        (child.rax, child.rsp, child.fs_base, child.rbx, child.rip),
        (0, a + 0x2000, 0x7000, 0x1234, 0x40_1010),
        "the child continues after the syscall with the parent's registers"
    );
    assert_eq!(b.peek(a, 4), 2u32.to_le_bytes());
    assert_eq!(b.peek(a + 8, 4), 2u32.to_le_bytes());
    assert_eq!(b.proc.threads().get(2).unwrap().clear_child_tid, a + 8);
    assert_eq!(b.call_as(2, 186, &[]).1, 2);
    assert_eq!(b.call_as(2, 39, &[]).1, 1);
    assert_eq!(b.proc.thread_ids().collect::<alloc::vec::Vec<_>>(), [1, 2]);
    // /proc/self/status counts them (runtimes size their pools by it).
    let path = a + 0x3800;
    b.poke_str(path, "/proc/self/status");
    let fd = b.sys(257, &[-100i64 as u64, path, 0, 0]) as u64;
    let n = b.sys(0, &[fd, a + 0x1000, 0x800]);
    let status = alloc::string::String::from_utf8(b.peek(a + 0x1000, n as usize)).unwrap();
    assert!(status.contains("\nThreads:\t2\n"), "{status}");
    b.sys(3, &[fd]);
    // Go: no SETTLS, no tid pointers.
    let (flow, rax) = b.call(56, &[THREAD_FLAGS, a + 0x3000, 0, 0, 0]);
    assert!(matches!(flow, Flow::Spawn { tid: 3, .. }) && rax == 3);
    // Linux's combination rules.
    assert_eq!(b.sys(56, &[0x10000 | 0x100, 0, 0, 0, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(56, &[0x800 | 0x10000, 0, 0, 0, 0]), E(Errno::EINVAL));
    assert_eq!(
        b.sys(56, &[THREAD_FLAGS | SETTLS, 0, 0, 0, 1 << 63]),
        E(Errno::EPERM)
    );
    assert_eq!(
        b.sys(56, &[THREAD_FLAGS & !0x400, 0, 0, 0, 0]),
        E(Errno::EINVAL),
        "a thread with its own files is not supported"
    );
}

#[test]
fn fork_and_vfork_are_enosys_and_said_once() {
    let mut b = booted();
    assert_eq!(b.sys(57, &[]), E(Errno::ENOSYS));
    assert_eq!(b.sys(58, &[]), E(Errno::ENOSYS));
    // glibc fork, musl posix_spawn (CLONE_VM|CLONE_VFORK|SIGCHLD).
    assert_eq!(
        b.sys(56, &[17 | 0x20_0000 | 0x100_0000, 0, 0, 0, 0]),
        E(Errno::ENOSYS)
    );
    assert_eq!(
        b.sys(56, &[0x100 | 0x4000 | 17, 0, 0, 0, 0]),
        E(Errno::ENOSYS)
    );
    let args = clone3_fork(&mut b);
    assert_eq!(b.sys(435, &[args, 88]), E(Errno::ENOSYS));
    let out = alloc::string::String::from_utf8(b.fake.console.out.clone()).unwrap();
    let line = "kiln: prog tried to start a new process, but Kiln runs one program as one \
                process (fork fails with ENOSYS); run it in the foreground, without daemon \
                mode or worker processes\n";
    assert_eq!(out.matches(line).count(), 1, "{out}");
    assert_eq!(out.matches("kiln:").count(), 1, "{out}");
}

/// A clone3 argument block asking for a new process (SIGCHLD only).
fn clone3_fork(b: &mut Booted) -> u64 {
    let a = b.scratch(1);
    let mut v = [0u8; 88];
    v[32..40].copy_from_slice(&17u64.to_le_bytes());
    b.poke(a, &v);
    a
}

#[test]
fn the_fork_line_names_the_option_of_known_servers() {
    use crate::sys::thread::fork_message;
    let s = |v: &[&str]| -> Vec<alloc::string::String> { v.iter().map(|x| (*x).into()).collect() };
    let m = fork_message(
        "/usr/sbin/nginx",
        &s(&["nginx", "-c", "/etc/nginx/nginx.conf"]),
    );
    assert!(
        m.starts_with("kiln: nginx tried to start a new process"),
        "{m}"
    );
    assert!(
        m.ends_with("run it with -g 'daemon off; master_process off;' (or both in nginx.conf)\n"),
        "{m}"
    );
    assert_eq!(m.matches('\n').count(), 1);
    let m = fork_message("/usr/sbin/dnsmasq", &s(&["dnsmasq"]));
    assert!(m.contains("run it with -k (--keep-in-foreground)"), "{m}");
    let m = fork_message("/bin/busybox", &s(&["busybox", "httpd", "-p", "80"]));
    assert!(
        m.contains("kiln: busybox httpd tried") && m.contains("run it with -f"),
        "{m}"
    );
    let m = fork_message("/bin/busybox", &s(&["httpd", "-p", "80"]));
    assert!(m.contains("run it with -f"), "{m}");
    for (exe, opt) in [
        ("/usr/bin/redis-server", "--daemonize no"),
        ("/usr/sbin/haproxy", "-db"),
        ("/usr/sbin/lighttpd", "-D"),
        ("/usr/bin/memcached", "no -d"),
        ("/usr/sbin/unbound", "do-daemonize: no"),
    ] {
        let m = fork_message(exe, &s(&["x"]));
        assert!(m.contains(opt), "{exe}: {m}");
    }
    let m = fork_message("/srv/app", &[]);
    assert!(
        m.contains("kiln: app tried") && m.contains("in the foreground"),
        "{m}"
    );
}

#[test]
fn clone3_checks_its_struct() {
    let mut b = booted();
    let a = b.scratch(3);
    let args = |b: &mut Booted, flags: u64, stack: u64, size: u64| {
        let mut v = [0u64; 11];
        v[0] = flags;
        v[2] = a + 0x1000; // child_tid
        v[3] = a + 0x1008; // parent_tid
        v[5] = stack;
        v[6] = size;
        for (i, w) in v.iter().enumerate() {
            b.poke(a + i as u64 * 8, &w.to_le_bytes());
        }
    };
    args(&mut b, THREAD_FLAGS | PARENT_SETTID, a + 0x2000, 0x800);
    assert_eq!(b.sys(435, &[a, 63]), E(Errno::EINVAL));
    assert_eq!(b.sys(435, &[a, 4097]), E(Errno::E2BIG));
    b.poke(a + 96, &1u64.to_le_bytes());
    assert_eq!(b.sys(435, &[a, 104]), E(Errno::E2BIG));
    b.poke(a + 96, &0u64.to_le_bytes());
    let (flow, rax) = b.call(435, &[a, 104]);
    let Flow::Spawn { tid, ctx } = flow else {
        panic!("{flow:?}")
    };
    assert_eq!((rax, tid, ctx.rsp), (2, 2, a + 0x2800));
    assert_eq!(b.peek(a + 0x1008, 4), 2u32.to_le_bytes());
    // A stack without a size, CSIGNAL bits in flags, exit_signal > 255.
    args(&mut b, THREAD_FLAGS, a + 0x2000, 0);
    assert_eq!(b.sys(435, &[a, 64]), E(Errno::EINVAL));
    args(&mut b, THREAD_FLAGS | 17, 0, 0);
    assert_eq!(b.sys(435, &[a, 64]), E(Errno::EINVAL));
    args(&mut b, 0, 0, 0);
    b.poke(a + 32, &17u64.to_le_bytes());
    assert_eq!(b.sys(435, &[a, 64]), E(Errno::ENOSYS), "fork by clone3");
    assert_eq!(b.sys(435, &[0x10, 64]), E(Errno::EFAULT));
}

#[test]
fn thread_exit_clears_tid_and_wakes_the_joiner() {
    let mut b = booted();
    let a = b.scratch(4);
    let word = a + 0x100;
    let tid = spawn(&mut b, word);
    assert_eq!(b.peek(word, 4), (tid as u32).to_le_bytes());
    // Thread 1 joins: futex wait on the tid word.
    let join = [word, 0, tid as u64, 0];
    assert_eq!(
        b.call(202, &join).0,
        Flow::Block(WaitFor::Wakeup { deadline: None })
    );
    assert!(b.proc.take_wakeups().is_empty());
    assert_eq!(b.call_as(tid, 60, &[0]).0, Flow::ThreadExit);
    assert_eq!(b.peek(word, 4), [0; 4]);
    assert_eq!(b.proc.take_wakeups(), [1]);
    assert_eq!(b.call(202, &join), (Flow::Continue, 0), "woken: 0");
    // The last thread's exit ends the program; exit_group always does.
    assert_eq!(b.call(60, &[3]).0, Flow::Exit(3));
    let tid = spawn(&mut b, 0);
    assert_eq!(b.call_as(tid, 231, &[4]).0, Flow::Exit(4));
}

#[test]
fn robust_list_is_released_at_thread_exit() {
    let mut b = booted();
    let a = b.scratch(4);
    let tid = spawn(&mut b, 0);
    // head at a: next -> entry at a+0x40, futex_offset 8, pending 0.
    let (head, entry) = (a, a + 0x40);
    b.poke(head, &entry.to_le_bytes());
    b.poke(head + 8, &8u64.to_le_bytes());
    b.poke(head + 16, &0u64.to_le_bytes());
    b.poke(entry, &head.to_le_bytes());
    let lock = entry + 8;
    b.poke(lock, &(0x8000_0000u32 | tid as u32).to_le_bytes());
    assert_eq!(b.call_as(tid, 273, &[head, 24]).1, 0);
    assert_eq!(b.call_as(tid, 274, &[0, a + 0x200, a + 0x208]).1, 0);
    assert_eq!((b.peek_u64(a + 0x200), b.peek_u64(a + 0x208)), (head, 24));
    // Thread 1 waits for the lock.
    let v = u32::from_le_bytes(b.peek(lock, 4).try_into().unwrap());
    assert!(matches!(
        b.call(202, &[lock, 128, v as u64, 0]).0,
        Flow::Block(_)
    ));
    assert_eq!(b.call_as(tid, 60, &[0]).0, Flow::ThreadExit);
    assert_eq!(
        b.peek(lock, 4),
        0xc000_0000u32.to_le_bytes(),
        "OWNER_DIED|WAITERS"
    );
    assert_eq!(b.proc.take_wakeups(), [1]);
    assert_eq!(b.sys(274, &[99, a, a + 8]), E(Errno::ESRCH));
}

#[test]
fn futex_wait_wake_timeout_and_errors() {
    let mut b = booted();
    let a = b.scratch(1);
    b.poke(a, &5u32.to_le_bytes());
    assert_eq!(b.sys(202, &[a, 0, 4, 0]), E(Errno::EAGAIN));
    assert_eq!(b.sys(202, &[a + 1, 0, 5, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(202, &[0x10, 0, 5, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(202, &[a, 6, 0, 0]), E(Errno::ENOSYS), "LOCK_PI");
    assert_eq!(
        b.sys(202, &[a, 256, 5, 0]),
        E(Errno::ENOSYS),
        "WAIT + CLOCK_REALTIME"
    );
    assert_eq!(b.sys(202, &[a, 1, 1]), 0, "no waiters");
    // A relative timeout: blocks, a spurious re-issue blocks again with
    // the same deadline, then ETIMEDOUT.
    b.poke(a + 16, &0u64.to_le_bytes());
    b.poke(a + 24, &1000u64.to_le_bytes());
    let now = b.fake.clock.mono;
    let wait = [a, 128, 5, a + 16];
    let blocked = Flow::Block(WaitFor::Wakeup {
        deadline: Some(now + 1000),
    });
    assert_eq!(b.call(202, &wait).0, blocked);
    b.fake.clock.mono += 500;
    assert_eq!(b.call(202, &wait).0, blocked);
    b.fake.clock.mono += 500;
    assert_eq!(b.call(202, &wait), (Flow::Continue, E(Errno::ETIMEDOUT)));
    assert_eq!(b.proc.futexes().waiters(a), 0);
    // An absolute WAIT_BITSET deadline in the past.
    b.poke(a + 16, &1u64.to_le_bytes());
    assert_eq!(
        b.sys(202, &[a, 9, 5, a + 16, 0, u32::MAX as u64]),
        E(Errno::ETIMEDOUT)
    );
    assert_eq!(
        b.sys(202, &[a, 9, 5, 0, 0, 0]),
        E(Errno::EINVAL),
        "bitset 0"
    );
    b.poke(a + 24, &2_000_000_000u64.to_le_bytes());
    assert_eq!(b.sys(202, &[a, 0, 5, a + 16]), E(Errno::EINVAL));
}

#[test]
fn futex_bitsets_requeue_and_wake_op() {
    let mut b = booted();
    let a = b.scratch(1);
    let (w1, w2) = (a, a + 64);
    b.poke(w1, &0u32.to_le_bytes());
    b.poke(w2, &0u32.to_le_bytes());
    let t2 = spawn(&mut b, 0);
    let t3 = spawn(&mut b, 0);
    let t4 = spawn(&mut b, 0);
    // t2 waits with bitset 1, t3 with bitset 2, t4 plain.
    assert!(matches!(
        b.call_as(t2, 202, &[w1, 9, 0, 0, 0, 1]).0,
        Flow::Block(_)
    ));
    assert!(matches!(
        b.call_as(t3, 202, &[w1, 9, 0, 0, 0, 2]).0,
        Flow::Block(_)
    ));
    assert!(matches!(
        b.call_as(t4, 202, &[w1, 0, 0, 0]).0,
        Flow::Block(_)
    ));
    assert_eq!(b.sys(202, &[w1, 10, 10, 0, 0, 2]), 2, "bitset 2: t3 and t4");
    assert_eq!(b.proc.take_wakeups(), [t3, t4]);
    assert_eq!(
        b.call_as(t3, 202, &[w1, 9, 0, 0, 0, 2]),
        (Flow::Continue, 0)
    );
    assert_eq!(b.call_as(t4, 202, &[w1, 0, 0, 0]), (Flow::Continue, 0));
    // CMP_REQUEUE: the value must match.
    assert!(matches!(
        b.call_as(t3, 202, &[w1, 0, 0, 0]).0,
        Flow::Block(_)
    ));
    assert!(matches!(
        b.call_as(t4, 202, &[w1, 0, 0, 0]).0,
        Flow::Block(_)
    ));
    assert_eq!(b.sys(202, &[w1, 4, 1, 10, w2, 7]), E(Errno::EAGAIN));
    assert_eq!(
        b.sys(202, &[w1, 4, 1, u32::MAX as u64, w2, 0]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(202, &[w1, 4, 1, 10, w2, 0]),
        3,
        "one woken, two moved"
    );
    assert_eq!(b.proc.take_wakeups(), [t2]);
    assert_eq!(b.proc.futexes().waiters(w2), 2);
    // A moved waiter is still waiting: a re-issue blocks again.
    assert!(matches!(
        b.call_as(t3, 202, &[w1, 0, 0, 0]).0,
        Flow::Block(_)
    ));
    // WAKE_OP: *w1 += 1 (old 0 == 0: also wake on w1... here w2).
    let op = (1u64 << 28) | (1 << 12); // ADD 1, CMP_EQ 0
    assert_eq!(b.sys(202, &[w1, 5, 1, 1, w2, op]), 1);
    assert_eq!(b.peek(w2, 4), 1u32.to_le_bytes());
    assert_eq!(b.proc.take_wakeups(), [t3]);
    assert_eq!(b.sys(202, &[w1, 5, 1, 1, w2, op]), 0, "old 1 != 0: no wake");
    assert_eq!(b.sys(202, &[w1, 5, 1, 1, w2, 7 << 28]), E(Errno::ENOSYS));
    // FUTEX_REQUEUE (no compare).
    assert_eq!(b.sys(202, &[w2, 3, 0, 5, w1, 0]), 1);
    assert_eq!(b.proc.futexes().waiters(w1), 1);
}
