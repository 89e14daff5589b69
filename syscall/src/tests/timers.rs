//! Timers, clocks and the vDSO through `Process`: alarm, setitimer, POSIX
//! timers with overruns, timerfd, CPU clocks, rusage, prctl and the
//! scheduling calls, and the vDSO mapping at boot.

use crate::process::{Flow, Process, Signal, WaitFor};
use crate::testutil::*;
use kiln_abi::context::UserContext;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const S: u64 = 1_000_000_000;

fn ctx() -> UserContext {
    UserContext {
        rsp: SCRATCH + 0x3000,
        ..Default::default()
    }
}

#[test]
fn alarm_and_itimers_fire_through_poll() {
    let mut b = booted();
    b.scratch(4);
    let t0 = b.fake.clock.mono;
    assert_eq!(b.sys(37, &[3]), 0);
    assert!(b.proc.needs_poll());
    assert_eq!(b.proc.poll(&mut b.fake, t0), Some(t0 + 3 * S));
    assert!(!b.proc.needs_poll());
    b.fake.clock.mono += S + S / 2;
    assert_eq!(b.sys(37, &[10]), 2, "1.5 s left rounds to 2");
    assert_eq!(b.sys(37, &[0]), 10);
    // ITIMER_REAL, periodic.
    let a = SCRATCH;
    let tv = [0u64, 500_000, 1, 0]; // interval 0.5 s, value 1 s
    for (i, v) in tv.iter().enumerate() {
        b.poke(a + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(38, &[0, a, 0]), 0);
    let now = b.fake.clock.mono;
    assert_eq!(b.proc.poll(&mut b.fake, now), Some(now + S));
    assert_eq!(b.proc.poll(&mut b.fake, now + S), Some(now + S + S / 2));
    let mut c = ctx();
    assert_eq!(
        b.proc.before_user(&mut b.fake, 1, &mut c),
        Flow::Kill(Signal::SIGALRM)
    );
    assert_eq!(b.sys(36, &[0, a + 64]), 0);
    assert_eq!(b.peek_u64(a + 72), 500_000, "interval");
    assert_eq!(b.sys(36, &[3, a + 64]), E(Errno::EINVAL));
    b.poke(a + 8, &1_000_000u64.to_le_bytes());
    assert_eq!(b.sys(38, &[0, a, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(38, &[0, 0, a + 64]), 0, "null disarms");
    assert_eq!(b.proc.poll(&mut b.fake, now + 10 * S), None);
}

#[test]
fn posix_timers_signal_and_count_overruns() {
    let mut b = booted();
    let a = b.scratch(4);
    // SIGEV_SIGNAL with SIGUSR1 (blocked, so it stays queued) and a value.
    b.poke(a, &0xabcdu64.to_le_bytes());
    b.poke(a + 8, &10i32.to_le_bytes());
    b.poke(a + 12, &0i32.to_le_bytes());
    b.poke(a + 0x100, &(1u64 << 9).to_le_bytes());
    assert_eq!(b.sys(14, &[0, a + 0x100, 0, 8]), 0);
    assert_eq!(b.sys(222, &[1, a, a + 0x40]), 0);
    let id = u32::from_le_bytes(b.peek(a + 0x40, 4).try_into().unwrap());
    assert_eq!(id, 0);
    assert_eq!(b.sys(222, &[99, a, a + 0x40]), E(Errno::EINVAL));
    b.poke(a + 12, &2i32.to_le_bytes());
    assert_eq!(
        b.sys(222, &[1, a, a + 0x40]),
        E(Errno::EINVAL),
        "SIGEV_THREAD"
    );
    // Every 100 ms from 100 ms.
    let its = [0u64, 100_000_000, 0, 100_000_000];
    for (i, v) in its.iter().enumerate() {
        b.poke(a + 0x80 + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(223, &[0, 0, a + 0x80, 0]), 0);
    assert_eq!(b.sys(223, &[7, 0, a + 0x80, 0]), E(Errno::EINVAL));
    let now = b.fake.clock.mono;
    b.proc.poll(&mut b.fake, now + 100_000_000);
    b.proc.poll(&mut b.fake, now + 350_000_000);
    // One signal queued, two expirations missed.
    b.poke(a + 0x100, &(1u64 << 9).to_le_bytes());
    assert_eq!(b.sys(128, &[a + 0x100, a + 0x200, 0, 8]), 10);
    assert_eq!(b.peek(a + 0x208, 4), (-2i32).to_le_bytes(), "SI_TIMER");
    assert_eq!(b.peek(a + 0x210, 4), 0u32.to_le_bytes(), "timer id");
    assert_eq!(b.peek(a + 0x214, 4), 2u32.to_le_bytes(), "overrun");
    assert_eq!(b.peek_u64(a + 0x218), 0xabcd, "value");
    assert_eq!(b.sys(225, &[0]), 2);
    b.fake.clock.mono = now + 350_000_000;
    assert_eq!(b.sys(224, &[0, a + 0x300]), 0);
    assert_eq!(b.peek_u64(a + 0x318), 50_000_000, "50 ms to the next");
    assert_eq!(b.sys(226, &[0]), 0);
    assert_eq!(b.sys(226, &[0]), E(Errno::EINVAL));
}

#[test]
fn timerfd_counts_expirations() {
    let mut b = booted();
    let a = b.scratch(2);
    let fd = b.sys(283, &[1, 0o4000]) as u64;
    assert_eq!(b.sys(283, &[3, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(283, &[1, 1]), E(Errno::EINVAL));
    assert_eq!(b.sys(0, &[fd, a, 8]), E(Errno::EAGAIN));
    let its = [0u64, 10_000_000, 0, 10_000_000]; // every 10 ms
    for (i, v) in its.iter().enumerate() {
        b.poke(a + 0x80 + i as u64 * 8, &v.to_le_bytes());
    }
    assert_eq!(b.sys(286, &[fd, 0, a + 0x80, 0]), 0);
    assert_eq!(
        b.sys(286, &[0, 0, a + 0x80, 0]),
        E(Errno::EINVAL),
        "not a timerfd"
    );
    assert_eq!(b.sys(286, &[99, 0, a + 0x80, 0]), E(Errno::EBADF));
    let now = b.fake.clock.mono;
    assert_eq!(b.proc.poll(&mut b.fake, now), Some(now + 10_000_000));
    b.fake.clock.mono += 35_000_000;
    assert_eq!(b.sys(0, &[fd, a, 4]), E(Errno::EINVAL));
    assert_eq!(b.sys(0, &[fd, a, 8]), 8);
    assert_eq!(b.peek_u64(a), 3);
    assert_eq!(b.sys(287, &[fd, a + 0x100]), 0);
    assert_eq!(b.peek_u64(a + 0x118), 5_000_000);
    // A blocking timerfd waits for its next expiry.
    let fd2 = b.sys(283, &[1, 0]) as u64;
    assert_eq!(b.sys(286, &[fd2, 0, a + 0x80, 0]), 0);
    let next = b.fake.clock.mono + 10_000_000;
    assert_eq!(
        b.call(0, &[fd2, a, 8]).0,
        Flow::Block(WaitFor::Wakeup {
            deadline: Some(next)
        })
    );
    // poll wakes parked threads when a timerfd expires.
    // (The first timerfd is due 5 ms after.)
    assert_eq!(b.proc.poll(&mut b.fake, next), Some(next + 5_000_000));
    assert_eq!(b.proc.take_wakeups(), [1]);
    assert_eq!(b.call(0, &[fd2, a, 8]), (Flow::Continue, 8));
}

#[test]
fn cpu_clocks_rusage_and_times() {
    let mut b = booted();
    let a = b.scratch(1);
    b.fake.clock.mono += 2 * S;
    assert_eq!(b.sys(228, &[2, a]), 0);
    assert_eq!(b.peek_u64(a), 2);
    // Time parked does not count for the thread.
    let h = {
        let (flow, _) = b.call(56, &[0x10f00 | 0x40000, a + 0x800, 0, 0, 0]);
        match flow {
            Flow::Spawn { tid, .. } => tid,
            f => panic!("{f:?}"),
        }
    };
    assert!(matches!(b.call(34, &[]).0, Flow::Block(_)));
    b.fake.clock.mono += 3 * S;
    assert_eq!(b.call_as(h, 228, &[3, a]).1, 0);
    assert_eq!(b.peek_u64(a), 3, "thread 2: 3 s alive");
    assert_eq!(b.call_as(h, 228, &[2, a]).1, 0);
    assert_eq!(b.peek_u64(a), 5, "process: 2 + 3 (thread 1 parked)");
    // glibc's clock id for thread 2 (pthread_getcpuclockid).
    let id = ((!(h as i64)) << 3 | 6) as u64;
    assert_eq!(b.call_as(h, 228, &[id, a]).1, 0);
    assert_eq!(b.peek_u64(a), 3);
    assert_eq!(
        b.call_as(h, 228, &[((!99i64) << 3 | 6) as u64, a]).1,
        E(Errno::EINVAL)
    );
    assert_eq!(b.call_as(h, 98, &[1, a]).1, 0);
    assert_eq!(b.peek_u64(a), 3);
    assert_eq!(b.call_as(h, 98, &[5, a]).1, E(Errno::EINVAL));
    let ticks = b.call_as(h, 100, &[a]).1;
    assert_eq!(ticks, 1000, "10 s since boot at 100 Hz");
    assert_eq!(b.peek_u64(a), 500);
}

#[test]
fn prctl_names_and_scheduling() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(157, &[16, a]), 0);
    assert_eq!(&b.peek(a, 5), b"prog\0");
    b.poke_str(a, "a-very-long-thread-name");
    assert_eq!(b.sys(157, &[15, a]), 0);
    assert_eq!(b.sys(157, &[16, a + 64]), 0);
    assert_eq!(&b.peek(a + 64, 16), b"a-very-long-thr\0");
    assert_eq!(b.sys(157, &[0x5356_4d41, 0, 0, 0, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(157, &[3]), 1);
    assert_eq!(b.sys(157, &[4, 0]), 0);
    assert_eq!(b.sys(157, &[3]), 0);
    assert_eq!(b.sys(157, &[1, 65]), E(Errno::EINVAL));
    assert_eq!(b.sys(146, &[1]), 99);
    assert_eq!(b.sys(147, &[0]), 0);
    assert_eq!(b.sys(146, &[9]), E(Errno::EINVAL));
    b.poke(a, &0u32.to_le_bytes());
    assert_eq!(b.sys(144, &[0, 3, a]), 0);
    assert_eq!(b.sys(145, &[0]), 3);
    assert_eq!(b.sys(145, &[42]), E(Errno::ESRCH));
    assert_eq!(b.sys(144, &[0, 0, 0]), E(Errno::EINVAL));
    b.poke(a, &10u32.to_le_bytes());
    assert_eq!(b.sys(144, &[0, 1, a]), E(Errno::EPERM));
    assert_eq!(b.sys(143, &[0, a]), 0);
    assert_eq!(b.peek(a, 4), [0; 4]);
    assert_eq!(b.sys(204, &[0, 8, a]), 8);
    assert_eq!(b.peek(a, 1), [3]);
    assert_eq!(b.sys(203, &[0, 8, a]), 0);
    b.poke(a, &0u64.to_le_bytes());
    assert_eq!(b.sys(203, &[0, 8, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(204, &[7, 8, a]), E(Errno::ESRCH));
    assert_eq!(b.sys(309, &[a, a + 4, 0]), 0);
}

/// A minimal vDSO: an ET_DYN ELF with one PT_LOAD at 0 of 5000 bytes.
fn vdso_elf() -> &'static [u8] {
    let mut f = alloc::vec![0u8; 300];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[16..18].copy_from_slice(&3u16.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&1u16.to_le_bytes());
    f[64..68].copy_from_slice(&1u32.to_le_bytes());
    f[64 + 40..64 + 48].copy_from_slice(&5000u64.to_le_bytes());
    f[299] = 0xc3;
    alloc::boxed::Box::leak(f.into_boxed_slice())
}

#[test]
fn the_vdso_is_mapped_with_its_clock_page() {
    let img = image(
        &[
            Node::File("/bin/prog", &ElfBuilder::exec().build()),
            Node::Dir("/srv"),
        ],
        &manifest(&["prog"], &[]),
    );
    let mut fake = Fake::new(img.clone());
    fake.vdso = Some(vdso_elf());
    fake.mmu.clock_page = Some(None);
    let (proc, ctx) = Process::boot(&mut fake).unwrap();
    let base = crate::mm::vdso::VDSO_BASE;
    assert_eq!(fake.mmu.clock_page, Some(Some(base - 4096)));
    let kinds: alloc::vec::Vec<_> = proc
        .regions()
        .filter(|r| r.0 >= base - 4096 && r.0 <= base)
        .map(|r| (r.0, r.1, r.3))
        .collect();
    assert_eq!(
        kinds,
        [
            (base - 4096, base, crate::mm::Kind::Vvar),
            (base, base + 8192, crate::mm::Kind::Vdso)
        ]
    );
    assert_eq!(fake.mmu.pages[&base].0[299], 0xc3);
    // AT_SYSINFO_EHDR is in the auxv.
    let mut b = Booted { fake, proc, ctx };
    let mut at = ctx.rsp + 8;
    while b.peek_u64(at) != 0 {
        at += 8;
    }
    at += 8;
    while b.peek_u64(at) != 0 {
        at += 8;
    }
    at += 8;
    let mut found = None;
    while b.peek_u64(at) != 0 {
        if b.peek_u64(at) == 33 {
            found = Some(b.peek_u64(at + 8));
        }
        at += 16;
    }
    assert_eq!(found, Some(base));
    // The clock page cannot be made writable; maps names both.
    assert_eq!(b.sys(10, &[base - 4096, 4096, 3]), E(Errno::EACCES));
    // Without a clock page, no vDSO.
    let mut fake = Fake::new(img);
    fake.vdso = Some(vdso_elf());
    let (proc, _) = Process::boot(&mut fake).unwrap();
    assert!(proc.regions().all(|r| r.3 != crate::mm::Kind::Vdso));
    // A bad vDSO is a boot error.
    let mut fake = Fake::new(b.fake.disk.0.clone());
    fake.vdso = Some(b"not an elf");
    fake.mmu.clock_page = Some(None);
    assert!(Process::boot(&mut fake).is_err());
}
