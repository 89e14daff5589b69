//! Credentials, process groups and sessions, children, priorities,
//! personality, membarrier and file advice, through the personality.

use crate::testutil::*;
use alloc::string::String;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const NONE: u64 = u32::MAX as u64;

/// Read /proc/self/status through open/read/close.
fn status(b: &mut Booted, a: u64) -> String {
    let path = b.poke_str(a + 0x800, "/proc/self/status");
    let fd = b.sys(257, &[-100i64 as u64, path, 0, 0]);
    assert!(fd >= 0);
    let n = b.sys(0, &[fd as u64, a + 0x1000, 4096]);
    assert!(n > 0);
    b.sys(3, &[fd as u64]);
    String::from_utf8(b.peek(a + 0x1000, n as usize)).unwrap()
}

fn resuid(b: &mut Booted, a: u64, nr: u64) -> [u32; 3] {
    assert_eq!(b.sys(nr, &[a, a + 4, a + 8]), 0);
    let raw = b.peek(a, 12);
    [0, 1, 2].map(|i| u32::from_le_bytes(raw[i * 4..i * 4 + 4].try_into().unwrap()))
}

#[test]
fn a_server_drops_root_as_nginx_does() {
    let mut b = booted();
    let a = b.scratch(2);
    assert_eq!([102, 107, 104, 108].map(|nr| b.sys(nr, &[])), [0; 4]);
    // initgroups(), then setgid(), then setuid().
    b.poke(a, &[65534u32.to_le_bytes(), 27u32.to_le_bytes()].concat());
    assert_eq!(b.sys(116, &[2, a]), 0);
    assert_eq!(b.sys(106, &[65534]), 0);
    assert_eq!(b.sys(105, &[65534]), 0);
    assert_eq!([102, 107, 104, 108].map(|nr| b.sys(nr, &[])), [65534; 4]);
    assert_eq!(resuid(&mut b, a, 118), [65534; 3]);
    assert_eq!(resuid(&mut b, a, 120), [65534; 3]);
    assert_eq!(b.sys(115, &[0, 0]), 2);
    assert_eq!(b.sys(115, &[1, a]), E(Errno::EINVAL));
    assert_eq!(b.sys(115, &[2, a]), 2);
    assert_eq!(
        b.peek(a, 8),
        [27u32.to_le_bytes(), 65534u32.to_le_bytes()].concat()
    );
    // No way back, and no more privileged calls.
    assert_eq!(b.sys(105, &[0]), E(Errno::EPERM));
    assert_eq!(b.sys(106, &[0]), E(Errno::EPERM));
    assert_eq!(b.sys(116, &[0, 0]), E(Errno::EPERM));
    assert_eq!(b.sys(117, &[0, NONE, NONE]), E(Errno::EPERM));
    assert_eq!(b.sys(140, &[0, 0, 0]), 20);
    assert_eq!(
        b.sys(141, &[0, 0, -5i64 as u64]),
        E(Errno::EACCES),
        "raising priority"
    );
    let st = status(&mut b, a);
    assert!(st.contains("\nUid:\t65534\t65534\t65534\t65534\n"), "{st}");
    assert!(st.contains("\nGroups:\t27 65534\n"), "{st}");
    assert!(st.contains("\nCapEff:\t0000000000000000\n"), "{st}");
}

#[test]
fn seteuid_keeps_root_within_reach_and_capget_follows() {
    let mut b = booted();
    let a = b.scratch(1);
    let header = |b: &mut Booted, version: u32| {
        b.poke(a, &[version.to_le_bytes(), 0u32.to_le_bytes()].concat());
    };
    header(&mut b, 0x2008_0522);
    assert_eq!(b.sys(125, &[a, a + 16]), 0);
    let caps = b.peek(a + 16, 24);
    assert_eq!(caps[0..4], [0xff; 4], "effective, low word");
    assert_eq!(
        caps[12..16],
        [0xff, 0x01, 0, 0],
        "effective, high word: 41 caps"
    );
    // seteuid(1000) as libc does it.
    assert_eq!(b.sys(117, &[NONE, 1000, NONE]), 0);
    assert_eq!((b.sys(102, &[]), b.sys(107, &[])), (0, 1000));
    assert_eq!(b.sys(125, &[a, a + 16]), 0);
    let caps = b.peek(a + 16, 24);
    assert_eq!(
        (caps[0..4].to_vec(), caps[4..8].to_vec()),
        (vec![0; 4], vec![0xff; 4])
    );
    // setfsuid(-1) reads; it returns the old value even when refused.
    assert_eq!(b.sys(122, &[NONE]), 1000);
    assert_eq!(b.sys(122, &[4242]), 1000);
    assert_eq!(b.sys(122, &[NONE]), 1000);
    assert_eq!(b.sys(117, &[NONE, 0, NONE]), 0, "saved uid 0 lets it back");
    assert_eq!(b.sys(107, &[]), 0);
    // An unknown version is answered with the preferred one.
    header(&mut b, 1);
    assert_eq!(b.sys(125, &[a, a + 16]), E(Errno::EINVAL));
    assert_eq!(b.peek(a, 4), 0x2008_0522u32.to_le_bytes());
    header(&mut b, 1);
    assert_eq!(b.sys(125, &[a, 0]), 0);
    b.poke(
        a,
        &[0x2008_0522u32.to_le_bytes(), 7u32.to_le_bytes()].concat(),
    );
    assert_eq!(b.sys(125, &[a, a + 16]), E(Errno::ESRCH));
    assert_eq!(b.sys(105, &[NONE]), E(Errno::EINVAL));
}

#[test]
fn one_process_leads_its_group_and_has_no_children() {
    let mut b = booted();
    assert_eq!(b.sys(111, &[]), 1);
    assert_eq!((b.sys(121, &[0]), b.sys(121, &[1])), (1, 1));
    assert_eq!(b.sys(121, &[7]), E(Errno::ESRCH));
    assert_eq!(b.sys(124, &[0]), 1);
    assert_eq!(b.sys(112, &[]), E(Errno::EPERM));
    assert_eq!(b.sys(109, &[0, 0]), E(Errno::EPERM));
    assert_eq!(b.sys(109, &[0, -1i64 as u64]), E(Errno::EINVAL));
    assert_eq!(b.sys(109, &[9, 0]), E(Errno::ESRCH));
    // wait4(-1, &status, 0, NULL) and WNOHANG: no children.
    assert_eq!(b.sys(61, &[-1i64 as u64, 0, 0, 0]), E(Errno::ECHILD));
    assert_eq!(b.sys(61, &[-1i64 as u64, 0, 1, 0]), E(Errno::ECHILD));
    assert_eq!(b.sys(61, &[-1i64 as u64, 0, 0x100, 0]), E(Errno::EINVAL));
    // waitid(P_ALL, 0, &info, WEXITED).
    assert_eq!(b.sys(247, &[0, 0, 0, 4, 0]), E(Errno::ECHILD));
    assert_eq!(
        b.sys(247, &[0, 0, 0, 0, 0]),
        E(Errno::EINVAL),
        "no event asked"
    );
    assert_eq!(b.sys(247, &[1, 0, 0, 4, 0]), E(Errno::EINVAL), "P_PID 0");
    assert_eq!(b.sys(247, &[3, 5, 0, 4, 0]), E(Errno::EBADF));
    assert_eq!(b.sys(247, &[9, 0, 0, 4, 0]), E(Errno::EINVAL));
}

#[test]
fn nice_values_per_thread_and_the_time_slice() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(140, &[0, 0]), 20);
    assert_eq!(b.sys(141, &[0, 0, 5]), 0);
    assert_eq!(b.sys(140, &[0, 0]), 15);
    assert_eq!(b.sys(141, &[0, 0, 100]), 0, "clamped");
    assert_eq!(b.sys(140, &[0, 1]), 1);
    assert_eq!(b.sys(141, &[1, 0, -20i64 as u64]), 0, "root may raise it");
    assert_eq!(b.sys(140, &[2, 0]), 40);
    assert_eq!(b.sys(140, &[0, 77]), E(Errno::ESRCH));
    assert_eq!(b.sys(140, &[2, 5]), E(Errno::ESRCH));
    assert_eq!(b.sys(140, &[3, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(148, &[0, a]), 0);
    assert_eq!(b.peek_u64(a + 8), 10_000_000);
    assert_eq!(b.sys(148, &[0, 0]), E(Errno::EFAULT));
}

#[test]
fn personality_and_membarrier() {
    let mut b = booted();
    assert_eq!(b.sys(135, &[0xffff_ffff]), 0);
    assert_eq!(b.sys(135, &[0x0040000]), 0);
    assert_eq!(b.sys(135, &[0xffff_ffff]), 0x0040000);
    assert_eq!(
        b.sys(135, &[0x0400000]),
        E(Errno::EINVAL),
        "READ_IMPLIES_EXEC"
    );
    assert_eq!(b.sys(135, &[0]), 0x0040000);
    let supported = b.sys(324, &[0, 0, 0]);
    assert_eq!(supported & 0x7f, 0x7f);
    assert_eq!(b.sys(324, &[1, 0, 0]), 0);
    assert_eq!(b.sys(324, &[8, 0, 0]), E(Errno::EPERM), "not registered");
    assert_eq!(b.sys(324, &[16, 0, 0]), 0);
    assert_eq!(b.sys(324, &[8, 0, 0]), 0);
    assert_eq!(b.sys(324, &[32, 0, 0]), E(Errno::EPERM));
    assert_eq!(b.sys(324, &[1, 1, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(324, &[128, 0, 0]), E(Errno::EINVAL), "no rseq");
}

#[test]
fn file_advice_is_checked() {
    let mut b = booted();
    let a = b.scratch(1);
    let path = b.poke_str(a, "/tmp/f");
    let fd = b.sys(257, &[-100i64 as u64, path, 0o102, 0o644]) as u64;
    assert_eq!(b.sys(221, &[fd, 0, 100, 4]), 0);
    assert_eq!(b.sys(221, &[fd, 0, 100, 6]), E(Errno::EINVAL));
    assert_eq!(b.sys(221, &[fd, 0, -1i64 as u64, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(221, &[99, 0, 0, 0]), E(Errno::EBADF));
    assert_eq!(b.sys(187, &[fd, 0, 4096]), 0);
    assert_eq!(b.sys(22, &[a + 64]), 0);
    let pipe_r = u32::from_le_bytes(b.peek(a + 64, 4).try_into().unwrap()) as u64;
    assert_eq!(b.sys(221, &[pipe_r, 0, 0, 0]), E(Errno::ESPIPE));
    assert_eq!(b.sys(187, &[pipe_r, 0, 10]), E(Errno::EINVAL));
    let dir = b.poke_str(a, "/tmp");
    let d = b.sys(257, &[-100i64 as u64, dir, 0o200000, 0]) as u64;
    assert_eq!(b.sys(187, &[d, 0, 10]), E(Errno::EINVAL));
}
