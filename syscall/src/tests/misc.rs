use crate::process::{Flow, WaitFor};
use crate::testutil::*;
use alloc::string::String;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();

#[test]
fn exit_truncates_status() {
    let mut b = booted();
    assert_eq!(b.call(60, &[3]).0, Flow::Exit(3));
    assert_eq!(b.call(231, &[256 + 7]).0, Flow::Exit(7));
    assert_eq!(b.call(231, &[u64::MAX]).0, Flow::Exit(255));
}

#[test]
fn unimplemented_calls_are_named_once_and_rseq_is_quiet() {
    let mut b = booted();
    assert_eq!(b.sys(206, &[]), E(Errno::ENOSYS));
    assert_eq!(b.sys(206, &[]), E(Errno::ENOSYS));
    assert_eq!(b.sys(9999, &[]), E(Errno::ENOSYS));
    assert_eq!(b.sys(334, &[0, 32, 0, 0]), E(Errno::ENOSYS));
    let out = String::from_utf8(b.fake.console.out.clone()).unwrap();
    assert_eq!(
        out.matches("kiln: unimplemented syscall io_setup (206)\n")
            .count(),
        1
    );
    assert!(out.contains("kiln: unimplemented syscall unknown (9999)\n"));
    assert!(!out.contains("rseq"));
}

#[test]
fn arch_prctl_tid_and_robust_list() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(158, &[0x1002, 0x7000_1234]), 0);
    assert_eq!(b.ctx.fs_base, 0x7000_1234);
    assert_eq!(b.sys(158, &[0x1003, a]), 0);
    assert_eq!(b.peek_u64(a), 0x7000_1234);
    assert_eq!(b.sys(158, &[0x1003, 0x10]), E(Errno::EFAULT));
    assert_eq!(b.sys(158, &[0x1002, 1 << 63]), E(Errno::EPERM));
    assert_eq!(b.sys(158, &[0x1001, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(218, &[a]), 1);
    assert_eq!(b.proc.threads().get(1).unwrap().clear_child_tid, a);
    assert_eq!(b.sys(273, &[a, 24]), 0);
    assert_eq!(b.sys(273, &[a, 16]), E(Errno::EINVAL));
    for nr in [39, 186] {
        assert_eq!(b.sys(nr, &[]), 1);
    }
    for nr in [110, 102, 104, 107, 108] {
        assert_eq!(b.sys(nr, &[]), 0);
    }
    assert_eq!(b.sys(24, &[]), 0);
}

#[test]
fn uname_and_sysinfo_and_affinity() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(63, &[a]), 0);
    let field = |b: &mut Booted, i: u64| {
        let v = b.peek(a + i * 65, 65);
        String::from_utf8(v[..v.iter().position(|&c| c == 0).unwrap()].to_vec()).unwrap()
    };
    assert_eq!(field(&mut b, 0), "Linux");
    assert_eq!(field(&mut b, 1), "kiln");
    assert!(field(&mut b, 2).starts_with("6."));
    assert_eq!(field(&mut b, 4), "x86_64");
    assert_eq!(b.sys(63, &[0]), E(Errno::EFAULT));
    assert_eq!(b.sys(99, &[a]), 0);
    assert_eq!(b.peek_u64(a), 5);
    assert_eq!(b.peek_u64(a + 32), 64 << 20);
    assert_eq!(b.peek_u64(a + 40), 48 << 20);
    assert_eq!(b.sys(204, &[0, 128, a]), 8);
    assert_eq!(b.peek(a, 1), [0b11]);
    assert_eq!(b.sys(204, &[0, 4, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(204, &[0, 12, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(204, &[5, 8, a]), E(Errno::ESRCH));
    assert_eq!(b.sys(204, &[0, 8, 0]), E(Errno::EFAULT));
}

#[test]
fn clocks() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(228, &[0, a]), 0);
    assert_eq!(
        (b.peek_u64(a), b.peek_u64(a + 8)),
        (1_700_000_000, 123_456_789)
    );
    for id in [1, 4, 6, 7] {
        assert_eq!(b.sys(228, &[id, a]), 0);
        assert_eq!((b.peek_u64(a), b.peek_u64(a + 8)), (5, 0));
    }
    assert_eq!(b.sys(228, &[10, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(228, &[(-1i64) as u64, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(228, &[0, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(229, &[1, a]), 0);
    assert_eq!(b.peek_u64(a + 8), 1);
    assert_eq!(b.sys(229, &[6, a]), 0);
    assert_eq!(b.peek_u64(a + 8), 4_000_000);
    assert_eq!(b.sys(229, &[1, 0]), 0);
    assert_eq!(b.sys(229, &[99, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(96, &[a, a + 16]), 0);
    assert_eq!((b.peek_u64(a), b.peek_u64(a + 8)), (1_700_000_000, 123_456));
    assert_eq!(b.sys(96, &[0, 0]), 0);
    assert_eq!(b.sys(201, &[0]), 1_700_000_000);
    assert_eq!(b.sys(201, &[a]), 1_700_000_000);
    assert_eq!(b.peek_u64(a), 1_700_000_000);
    assert_eq!(b.sys(201, &[0x10]), E(Errno::EFAULT));
}

#[test]
fn nanosleep_keeps_its_deadline_across_reissue() {
    let mut b = booted();
    let a = b.scratch(1);
    b.poke(a, &1u64.to_le_bytes());
    b.poke(a + 8, &500u64.to_le_bytes());
    let deadline = 5_000_000_000 + 1_000_000_500;
    assert_eq!(
        b.call(35, &[a, 0]).0,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(deadline)
        })
    );
    b.fake.clock.mono += 600_000_000;
    assert_eq!(
        b.call(35, &[a, 0]).0,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(deadline)
        }),
        "not restarted"
    );
    b.fake.clock.mono = deadline;
    assert_eq!(b.sys(35, &[a, 0]), 0);
    // A new call starts a new sleep.
    assert_eq!(
        b.call(35, &[a, 0]).0,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(deadline + 1_000_000_500)
        })
    );
    b.poke(a + 8, &1_000_000_000u64.to_le_bytes());
    assert_eq!(b.sys(35, &[a, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(35, &[0, 0]), E(Errno::EFAULT));
    // clock_nanosleep, absolute monotonic and relative.
    b.poke(a + 8, &0u64.to_le_bytes());
    b.poke(a, &100u64.to_le_bytes());
    assert_eq!(
        b.call(230, &[1, 1, a, 0]).0,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(100_000_000_000)
        })
    );
    // Another call abandons the blocked one (its deadline is forgotten).
    assert_eq!(b.sys(39, &[]), 1);
    b.poke(a, &1u64.to_le_bytes());
    assert_eq!(
        b.sys(230, &[1, 1, a, 0]),
        0,
        "absolute deadline in the past"
    );
    assert_eq!(b.sys(230, &[3, 0, a, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(230, &[42, 0, a, 0]), E(Errno::EINVAL));
}

#[test]
fn poll_on_the_console() {
    let mut b = booted();
    let a = b.scratch(1);
    let pfd = |b: &mut Booted, at: u64, fd: i32, ev: u16| {
        b.poke(at, &fd.to_le_bytes());
        b.poke(at + 4, &ev.to_le_bytes());
        b.poke(at + 6, &0xffffu16.to_le_bytes());
    };
    let revents =
        |b: &mut Booted, at: u64| u16::from_le_bytes(b.peek(at + 6, 2).try_into().unwrap());
    pfd(&mut b, a, 0, 1);
    pfd(&mut b, a + 8, 1, 4);
    pfd(&mut b, a + 16, 55, 1);
    pfd(&mut b, a + 24, -1, 1);
    assert_eq!(b.sys(7, &[a, 4, 0]), 2);
    assert_eq!(revents(&mut b, a), 0);
    assert_eq!(revents(&mut b, a + 8), 4);
    assert_eq!(revents(&mut b, a + 16), 0x20);
    assert_eq!(revents(&mut b, a + 24), 0);
    // Only stdin: timeout 0 returns at once, a timeout blocks with a fixed deadline.
    assert_eq!(b.sys(7, &[a, 1, 0]), 0);
    let d = 5_000_000_000 + 250_000_000;
    assert_eq!(
        b.call(7, &[a, 1, 250]).0,
        Flow::Block(WaitFor::ConsoleInputOrDeadline(d))
    );
    b.fake.clock.mono += 100_000_000;
    assert_eq!(
        b.call(7, &[a, 1, 250]).0,
        Flow::Block(WaitFor::ConsoleInputOrDeadline(d))
    );
    b.fake.clock.mono = d;
    assert_eq!(b.sys(7, &[a, 1, 250]), 0);
    assert_eq!(
        b.call(7, &[a, 1, u64::MAX]).0,
        Flow::Block(WaitFor::ConsoleInput)
    );
    b.fake.console.input.extend(b"k");
    assert_eq!(b.sys(7, &[a, 1, u64::MAX]), 1);
    assert_eq!(revents(&mut b, a), 1);
    assert_eq!(b.sys(7, &[0x10, 1, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(7, &[a, 100_000, 0]), E(Errno::EINVAL));
    // ppoll: timespec timeout, sigsetsize check, remaining time written back.
    b.fake.console.input.clear();
    b.poke(a + 64, &0u64.to_le_bytes());
    b.poke(a + 72, &0u64.to_le_bytes());
    assert_eq!(b.sys(271, &[a, 1, a + 64, 0, 0]), 0);
    assert_eq!(b.sys(271, &[a, 1, a + 64, a + 128, 4]), E(Errno::EINVAL));
    b.poke(a + 64, &2u64.to_le_bytes());
    let now = b.fake.clock.mono;
    assert_eq!(
        b.call(271, &[a, 1, a + 64, 0, 8]).0,
        Flow::Block(WaitFor::ConsoleInputOrDeadline(now + 2_000_000_000))
    );
    b.fake.clock.mono += 500_000_000;
    b.fake.console.input.extend(b"k");
    assert_eq!(b.sys(271, &[a, 1, a + 64, 0, 8]), 1);
    assert_eq!((b.peek_u64(a + 64), b.peek_u64(a + 72)), (1, 500_000_000));
    b.poke(a + 72, &2_000_000_000u64.to_le_bytes());
    assert_eq!(b.sys(271, &[a, 1, a + 64, 0, 8]), E(Errno::EINVAL));
}

#[test]
fn getrandom_flags_and_faults() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(318, &[a, 16, 0]), 16);
    // Boot drew 16 bytes for AT_RANDOM and 8 for the network stack's seed.
    assert_eq!(b.peek(a, 2), [25, 26]);
    assert_eq!(b.sys(318, &[a, 8, 1]), 8);
    assert_eq!(b.sys(318, &[a, 8, 2]), 8);
    assert_eq!(b.sys(318, &[a, 8, 4]), 8);
    assert_eq!(b.sys(318, &[a, 8, 6]), E(Errno::EINVAL));
    assert_eq!(b.sys(318, &[a, 8, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(318, &[0, 8, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(318, &[a + 4090, 100, 0]), 6);
}

#[test]
fn signals_are_recorded() {
    let mut b = booted();
    let a = b.scratch(1);
    let act = [0x40_1234u64, 0x0400_0004, 0x40_1300, (1 << 8) | (1 << 1)];
    for (i, v) in act.iter().enumerate() {
        b.poke(a + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(13, &[10, a, 0, 8]), 0);
    assert_eq!(b.sys(13, &[10, 0, a + 64, 8]), 0);
    assert_eq!(b.peek_u64(a + 64), 0x40_1234);
    assert_eq!(b.peek_u64(a + 88), 1 << 1, "SIGKILL removed from sa_mask");
    assert_eq!(b.sys(13, &[10, a, 0, 4]), E(Errno::EINVAL));
    assert_eq!(b.sys(13, &[9, a, 0, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(13, &[19, a, 0, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(13, &[9, 0, a + 64, 8]), 0);
    assert_eq!(b.sys(13, &[0, 0, 0, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(13, &[65, 0, 0, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(13, &[10, 0x10, 0, 8]), E(Errno::EFAULT));
    // sigprocmask.
    b.poke(a, &((1u64 << 1) | (1 << 8) | (1 << 18)).to_le_bytes());
    assert_eq!(b.sys(14, &[0, a, a + 8, 8]), 0);
    assert_eq!(b.peek_u64(a + 8), 0);
    assert_eq!(b.sys(14, &[2, 0, a + 8, 8]), 0);
    assert_eq!(
        b.peek_u64(a + 8),
        1 << 1,
        "SIGKILL and SIGSTOP cannot be blocked"
    );
    b.poke(a, &(1u64 << 1).to_le_bytes());
    assert_eq!(b.sys(14, &[1, a, 0, 8]), 0);
    assert_eq!(b.proc.threads().get(1).unwrap().mask, 0);
    assert_eq!(b.sys(14, &[7, a, 0, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(14, &[7, 0, 0, 8]), 0);
    assert_eq!(b.sys(14, &[0, a, 0, 16]), E(Errno::EINVAL));
    // sigaltstack.
    assert_eq!(b.sys(131, &[0, a + 200]), 0);
    assert_eq!(
        u32::from_le_bytes(b.peek(a + 208, 4).try_into().unwrap()),
        2
    );
    b.poke(a, &0x7000_0000u64.to_le_bytes());
    b.poke(a + 8, &0u64.to_le_bytes());
    b.poke(a + 16, &8192u64.to_le_bytes());
    assert_eq!(b.sys(131, &[a, 0]), 0);
    assert_eq!(b.sys(131, &[0, a + 200]), 0);
    assert_eq!(
        (b.peek_u64(a + 200), b.peek_u64(a + 216)),
        (0x7000_0000, 8192)
    );
    b.poke(a + 16, &100u64.to_le_bytes());
    assert_eq!(b.sys(131, &[a, 0]), E(Errno::ENOMEM));
    b.poke(a + 8, &8u64.to_le_bytes());
    assert_eq!(b.sys(131, &[a, 0]), E(Errno::EINVAL));
}

#[test]
fn resource_limits() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(302, &[0, 3, 0, a]), 0);
    assert_eq!((b.peek_u64(a), b.peek_u64(a + 8)), (8 << 20, u64::MAX));
    assert_eq!(b.sys(97, &[7, a]), 0);
    assert_eq!((b.peek_u64(a), b.peek_u64(a + 8)), (65536, 65536));
    b.poke(a, &4u64.to_le_bytes());
    assert_eq!(b.sys(160, &[7, a]), 0);
    assert_eq!(b.sys(32, &[1]), 3);
    assert_eq!(b.sys(32, &[1]), E(Errno::EMFILE));
    b.poke(a, &70_000u64.to_le_bytes());
    assert_eq!(b.sys(160, &[7, a]), E(Errno::EINVAL), "soft above hard");
    assert_eq!(b.sys(302, &[0, 16, 0, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(302, &[7, 3, 0, a]), E(Errno::ESRCH));
    assert_eq!(b.sys(97, &[3, 0]), E(Errno::EFAULT));
}

#[test]
fn readlink_cwd_and_paths() {
    let elf = ElfBuilder::exec().build();
    let mut b = boot_elf(&elf, &[Node::Symlink("/lnk", "/bin/prog")]).unwrap();
    let a = b.scratch(1);
    let p = b.poke_str(a, "/proc/self/exe");
    assert_eq!(b.sys(89, &[p, a + 100, 100]), 9);
    assert_eq!(b.peek(a + 100, 9), b"/bin/prog");
    assert_eq!(b.sys(89, &[p, a + 100, 4]), 4);
    assert_eq!(b.sys(89, &[p, a + 100, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(267, &[(-100i64) as u64, p, a + 100, 100]), 9);
    let p = b.poke_str(a, "/lnk");
    assert_eq!(b.sys(89, &[p, a + 100, 100]), 9);
    let p = b.poke_str(a, "/bin/prog");
    assert_eq!(b.sys(89, &[p, a + 100, 100]), E(Errno::EINVAL));
    let p = b.poke_str(a, "/proc/self/maps");
    assert_eq!(b.sys(89, &[p, a + 100, 100]), E(Errno::EINVAL));
    assert_eq!(b.sys(89, &[0x10, a + 100, 100]), E(Errno::EFAULT));
    assert_eq!(b.sys(79, &[a, 100]), 5);
    assert_eq!(b.peek(a, 5), b"/srv\0");
    assert_eq!(b.sys(79, &[a, 4]), E(Errno::ERANGE));
    assert_eq!(b.sys(79, &[0x10, 100]), E(Errno::EFAULT));
}

/// Random calls across the whole table (and numbers beyond it) never panic,
/// every result is a value or a valid -errno, numbers without a handler are
/// ENOSYS, and the process still answers afterwards.
#[test]
fn syscall_fuzz_never_panics() {
    use crate::process::Signal;
    use crate::table;

    // exit (60) of the only thread and exit_group (231) always end the
    // program: the calls after them would talk to a program that is gone.
    // `exit_truncates_status` covers them.
    const ENDS_PROGRAM: [u64; 2] = [60, 231];
    // Beyond the table: the first numbers after it, x32 numbers, and
    // numbers that do not fit a u32.
    const UNKNOWN: [u64; 7] = [
        table::MAX_NR as u64 + 1,
        500,
        1000,
        0x4000_0000,
        0x4000_0001,
        u32::MAX as u64 + 1,
        u64::MAX,
    ];
    // Fuzzed numbers: 0 up to a little past the end of the table.
    const RANGE: u64 = table::MAX_NR as u64 + 20;

    let mut b = booted();
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let picks = [
        0u64,
        1,
        8,
        0x10,
        0x40_1000,
        0x42_0000,
        u64::MAX,
        4096,
        0x7fff_ffff_e000,
    ];
    let mut seen = vec![false; RANGE as usize + 1];
    let mut kills = 0;
    for i in 0..25_000 {
        let r = next();
        let nr = if r % 16 == 0 {
            UNKNOWN[(r >> 8) as usize % UNKNOWN.len()]
        } else {
            (r >> 8) % (RANGE + 1)
        };
        if ENDS_PROGRAM.contains(&nr) {
            continue;
        }
        if let Some(s) = seen.get_mut(nr as usize) {
            *s = true;
        }
        let args: [u64; 6] = core::array::from_fn(|_| {
            let r = next();
            if r % 3 == 0 {
                picks[(r >> 8) as usize % picks.len()]
            } else {
                r % 5000
            }
        });
        let (flow, rax) = b.call(nr, &args);
        let what = format!("call {i}: syscall {nr} ({}) {args:x?}", table::name(nr));
        match flow {
            // rt_sigreturn restores the registers of a frame (here whatever
            // the stack holds): rax is the restored register, not a result.
            Flow::Continue if nr == 15 => {}
            Flow::Continue => assert!(
                rax >= 0 || (-4095..=-1).contains(&rax),
                "{what}: result {rax} is neither a value nor an -errno"
            ),
            // A frame that cannot be read or restored ends the program with
            // SIGSEGV, as on Linux; the process object stays usable.
            Flow::Kill(sig) if nr == 15 => {
                assert_eq!(sig, Signal::SIGSEGV, "{what}");
                kills += 1;
            }
            // clone, fork, vfork, clone3: the caller gets the new tid.
            Flow::Spawn { tid, .. } if [56, 57, 58, 435].contains(&nr) => {
                assert!(tid > 1, "{what}: new thread {tid}");
                assert_eq!(rax, tid as i64, "{what}");
            }
            // A call that waits leaves the registers as they were.
            Flow::Block(_) => assert_eq!(rax, nr as i64, "{what}"),
            Flow::Kill(_) | Flow::Spawn { .. } | Flow::Exit(_) | Flow::ThreadExit => {
                panic!("{what}: unexpected {flow:?}")
            }
        }
        if table::lookup(nr).and_then(|d| d.handler).is_none() {
            assert_eq!(
                (flow, rax),
                (Flow::Continue, E(Errno::ENOSYS)),
                "{what}: no handler"
            );
        }
    }
    let missed: Vec<usize> = (0..seen.len())
        .filter(|&n| !seen[n] && !ENDS_PROGRAM.contains(&(n as u64)))
        .collect();
    assert!(missed.is_empty(), "numbers never fuzzed: {missed:?}");
    assert!(kills < 1000, "{kills} rt_sigreturn kills");

    // The process still answers.
    assert_eq!(b.sys(39, &[]), 1, "getpid");
    assert_eq!(b.sys(186, &[]), 1, "gettid");
    let a = b.scratch(1);
    assert_eq!(b.sys(293, &[a, 0]), 0, "pipe2");
    let fds = b.peek(a, 8);
    let rd = u32::from_le_bytes(fds[..4].try_into().unwrap()) as u64;
    let wr = u32::from_le_bytes(fds[4..].try_into().unwrap()) as u64;
    b.poke(a + 64, b"still here");
    assert_eq!(b.sys(1, &[wr, a + 64, 10]), 10, "write to the pipe");
    assert_eq!(b.sys(0, &[rd, a + 128, 64]), 10, "read from the pipe");
    assert_eq!(b.peek(a + 128, 10), b"still here");
}
