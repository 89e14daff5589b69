//! Sizes the program chooses (counts, lengths, descriptor numbers) are
//! bounded as Linux bounds them, and what is allocated for them is
//! fallible: a huge value is an errno, never a kernel panic.

use crate::mm::MAX_MAP_COUNT;
use crate::testutil::*;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();

#[test]
fn huge_counts_are_einval() {
    let mut b = booted();
    let a = b.scratch(1);
    // poll: more than RLIMIT_NOFILE descriptors.
    assert_eq!(b.sys(7, &[a, 1 << 40, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(7, &[a, 65537, 0]), E(Errno::EINVAL));
    // select: nfds past the descriptor limit.
    assert_eq!(b.sys(23, &[i32::MAX as u64, a, 0, 0, 0]), E(Errno::EINVAL));
    // readv/writev/preadv: IOV_MAX.
    assert_eq!(b.sys(19, &[0, a, 1 << 20]), E(Errno::EINVAL));
    assert_eq!(b.sys(295, &[0, a, 1025, 0]), E(Errno::EINVAL));
    // setgroups: NGROUPS_MAX.
    assert_eq!(b.sys(116, &[1 << 30, a]), E(Errno::EINVAL));
    // dup2 past RLIMIT_NOFILE.
    assert_eq!(b.sys(33, &[1, 1 << 30]), E(Errno::EBADF));
    // epoll_wait: more events than Linux's EP_MAX_EVENTS.
    let ep = b.sys(291, &[0]);
    assert!(ep >= 0);
    assert_eq!(
        b.sys(232, &[ep as u64, a, i32::MAX as u64, 0]),
        E(Errno::EINVAL)
    );
}

#[test]
fn huge_lengths_are_clamped_not_allocated() {
    let mut b = booted();
    let a = b.scratch(1);
    // A socket pair: send and receive with lengths near 2^64.
    let sv = b.scratch(1);
    assert_eq!(b.sys(53, &[1, 1, 0, sv]), 0, "socketpair");
    let fds = b.peek(sv, 8);
    let (s0, s1) = (
        u32::from_le_bytes(fds[..4].try_into().unwrap()) as u64,
        u32::from_le_bytes(fds[4..].try_into().unwrap()) as u64,
    );
    b.poke(a, b"ping");
    assert_eq!(b.sys(44, &[s0, a, u64::MAX, 0x40, 0, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(44, &[s0, a, 4, 0x40, 0, 0]), 4);
    assert_eq!(b.sys(45, &[s1, a + 100, u64::MAX >> 1, 0x40, 0, 0]), 4);
    assert_eq!(b.peek(a + 100, 4), b"ping");
    // A pipe asked to hold more than pipe-max-size.
    let p = b.scratch(1);
    assert_eq!(b.sys(22, &[p]), 0);
    let rd = u32::from_le_bytes(b.peek(p, 4).try_into().unwrap()) as u64;
    assert!(b.sys(72, &[rd, 1031, u32::MAX as u64]) < 0, "F_SETPIPE_SZ");
    // getdents with a count near 4 GiB lists what there is.
    let root = b.poke_str(a + 2000, "/");
    let d = b.sys(257, &[-100i64 as u64, root, 0o200000, 0]);
    assert!(d >= 0);
    assert!(b.sys(217, &[d as u64, a, u32::MAX as u64]) > 0);
}

#[test]
fn splitting_mappings_without_end_is_enomem_at_max_map_count() {
    let mut b = booted();
    let pages = MAX_MAP_COUNT as u64 + 10;
    let base = b.sys(9, &[0, pages * 2 * 4096, 3, 0x22, u64::MAX, 0]);
    assert!(base > 0);
    let base = base as u64;
    let before = b.proc.space().iter().count();
    let mut refused = None;
    for i in 0..pages {
        let r = b.sys(11, &[base + (2 * i + 1) * 4096, 4096]);
        if r < 0 {
            refused = Some((i, r));
            break;
        }
    }
    let (at, err) = refused.expect("munmap never refused");
    assert_eq!(err, E(Errno::ENOMEM));
    let count = b.proc.space().iter().count();
    assert!(count <= MAX_MAP_COUNT, "{count} regions");
    assert!(
        at as usize + before >= MAX_MAP_COUNT - 2,
        "refused early at {at}"
    );
    // New mappings stop at the limit; whole regions still change and go.
    let mut mapped = 0;
    while b.sys(9, &[0, 4096, 3, 0x22, u64::MAX, 0]) > 0 {
        mapped += 1;
        assert!(mapped < 4, "no limit on mmap");
    }
    assert_eq!(b.proc.space().iter().count(), MAX_MAP_COUNT);
    assert_eq!(b.sys(9, &[0, 4096, 3, 0x22, u64::MAX, 0]), E(Errno::ENOMEM));
    assert_eq!(
        b.sys(10, &[base + 4096 * 2 * 10, 4096, 1]),
        0,
        "a whole region"
    );
    assert_eq!(b.sys(11, &[base, 4096]), 0);
    assert!(b.sys(9, &[0, 4096, 3, 0x22, u64::MAX, 0]) > 0);
}
