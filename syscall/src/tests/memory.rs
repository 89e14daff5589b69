use crate::mm::fault::{SEGV_ACCERR, SEGV_MAPERR};
use crate::mm::{MMAP_TOP, STACK_TOP};
use crate::platform::Prot;
use crate::process::{Access, Flow, Signal};
use crate::testutil::*;
use alloc::string::String;
use kiln_abi::errno::Errno;

const MMAP: u64 = 9;
const MPROTECT: u64 = 10;
const MUNMAP: u64 = 11;
const BRK: u64 = 12;
const MADVISE: u64 = 28;
const ANON_PRIVATE: u64 = 0x22;
const NOFD: u64 = u64::MAX;
const E: fn(Errno) -> i64 = |e| e.as_ret();

#[test]
fn mmap_records_and_pages_on_demand() {
    let mut b = booted();
    let before = b.fake.mmu.pages.len();
    let a = b.sys(MMAP, &[0, 1 << 30, 3, ANON_PRIVATE, NOFD, 0]) as u64;
    assert_eq!(a, MMAP_TOP - (1 << 30));
    assert_eq!(b.fake.mmu.pages.len(), before, "mmap must not map frames");
    // A program touch faults one page in.
    b.proc
        .page_fault(&mut b.fake, 1, a + 5000, Access::Write)
        .unwrap();
    assert_eq!(b.fake.mmu.pages.len(), before + 1);
    assert_eq!(b.fake.mmu.pages[&(a + 4096)].1, Prot::READ | Prot::WRITE);
    // The next mapping goes below.
    let a2 = b.sys(MMAP, &[0, 4096, 1, ANON_PRIVATE, NOFD, 0]) as u64;
    assert_eq!(a2, a - 4096);
}

#[test]
fn kernel_copies_fault_untouched_anonymous_pages_in() {
    let mut b = booted();
    let a = b.sys(MMAP, &[0, 8192, 3, ANON_PRIVATE, NOFD, 0]) as u64;
    b.poke(a + 4093, b"across");
    assert_eq!(b.peek(a + 4093, 6), b"across");
    assert!(b.fake.mmu.pages.contains_key(&a) && b.fake.mmu.pages.contains_key(&(a + 4096)));
}

#[test]
fn mmap_flags_and_errors() {
    let mut b = booted();
    assert_eq!(
        b.sys(MMAP, &[0, 0, 3, ANON_PRIVATE, NOFD, 0]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(MMAP, &[0, 4096, 3, 0x20, NOFD, 0]),
        E(Errno::EINVAL),
        "no MAP_PRIVATE/SHARED"
    );
    assert_eq!(
        b.sys(MMAP, &[0, 4096, 3, ANON_PRIVATE, NOFD, 100]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(MMAP, &[0, 4096, 3, 0x03 | 0x20 | 0x0200_0000, NOFD, 0]),
        E(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        b.sys(MMAP, &[0, u64::MAX - 10, 3, ANON_PRIVATE, NOFD, 0]),
        E(Errno::ENOMEM)
    );
    // File mappings: the console is a device without mmap; a bad fd is EBADF.
    assert_eq!(b.sys(MMAP, &[0, 4096, 1, 2, 1, 0]), E(Errno::ENODEV));
    assert_eq!(b.sys(MMAP, &[0, 4096, 1, 2, 77, 0]), E(Errno::EBADF));
    // MAP_FIXED: alignment, low addresses, replacing.
    assert_eq!(
        b.sys(MMAP, &[0x1000_0001, 4096, 3, ANON_PRIVATE | 0x10, NOFD, 0]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        b.sys(MMAP, &[0x1000, 4096, 3, ANON_PRIVATE | 0x10, NOFD, 0]),
        E(Errno::EPERM)
    );
    let a = b.scratch(2);
    b.poke(a, b"old");
    assert_eq!(
        b.sys(MMAP, &[a, 4096, 1, ANON_PRIVATE | 0x10_0000, NOFD, 0]),
        E(Errno::EEXIST)
    );
    assert_eq!(
        b.sys(MMAP, &[a, 4096, 1, ANON_PRIVATE | 0x10, NOFD, 0]) as u64,
        a
    );
    assert_eq!(b.peek(a, 3), [0, 0, 0], "MAP_FIXED replaces the old pages");
    assert_eq!(b.proc.space().find(a).unwrap().prot, Prot::READ);
    // A free hint is honoured, a taken one is not.
    assert_eq!(
        b.sys(MMAP, &[0x2000_0000, 4096, 3, ANON_PRIVATE, NOFD, 0]) as u64,
        0x2000_0000
    );
    assert_ne!(
        b.sys(MMAP, &[0x2000_0000, 4096, 3, ANON_PRIVATE, NOFD, 0]) as u64,
        0x2000_0000
    );
    // MAP_32BIT, MAP_SHARED anonymous, accepted extras, MAP_POPULATE.
    let low = b.sys(MMAP, &[0, 4096, 3, ANON_PRIVATE | 0x40, NOFD, 0]) as u64;
    assert!((0x4000_0000..0x8000_0000).contains(&low));
    let sh = b.sys(
        MMAP,
        &[0, 4096, 3, 0x21 | 0x4000 | 0x20000 | 0x100, NOFD, 0],
    );
    assert!(sh > 0);
    let pop = b.sys(MMAP, &[0, 3 * 4096, 3, ANON_PRIVATE | 0x8000, NOFD, 0]) as u64;
    assert!((0..3).all(|i| b.fake.mmu.pages.contains_key(&(pop + i * 4096))));
    assert_eq!(
        b.sys(MMAP, &[0, 4096, 3, ANON_PRIVATE | 0x40000, NOFD, 0]),
        E(Errno::ENOMEM)
    );
}

#[test]
fn munmap_splits_regions() {
    let mut b = booted();
    let a = b.scratch(3);
    b.poke(a, &[1; 3 * 4096]);
    assert_eq!(b.sys(MUNMAP, &[a + 4096, 4096]), 0);
    assert!(b.proc.space().find(a).is_some());
    assert!(b.proc.space().find(a + 4096).is_none());
    assert!(b.proc.space().find(a + 8192).is_some());
    assert!(!b.fake.mmu.pages.contains_key(&(a + 4096)));
    assert_eq!(b.peek(a + 8192, 1), [1]);
    let err = b
        .proc
        .page_fault(&mut b.fake, 1, a + 4096, Access::Read)
        .unwrap_err();
    assert_eq!(
        (err.signal, err.code, err.addr),
        (Signal::SIGSEGV, SEGV_MAPERR, a + 4096)
    );
    assert_eq!(b.sys(MUNMAP, &[a + 1, 4096]), E(Errno::EINVAL));
    assert_eq!(b.sys(MUNMAP, &[a, 0]), E(Errno::EINVAL));
    assert_eq!(
        b.sys(MUNMAP, &[0x5000_0000, 4096]),
        0,
        "unmapping nothing succeeds"
    );
}

#[test]
fn mprotect_splits_and_faults_classify() {
    let mut b = booted();
    let a = b.scratch(3);
    b.poke(a + 4096, b"x");
    assert_eq!(b.sys(MPROTECT, &[a + 4096, 4096, 0]), 0);
    assert_eq!(b.proc.space().find(a + 4096).unwrap().prot, Prot::empty());
    assert_eq!(b.fake.mmu.pages[&(a + 4096)].1, Prot::empty());
    assert_eq!(
        b.proc.space().find(a).unwrap().prot,
        Prot::READ | Prot::WRITE
    );
    let err = b
        .proc
        .page_fault(&mut b.fake, 1, a + 4100, Access::Read)
        .unwrap_err();
    assert_eq!((err.signal, err.code), (Signal::SIGSEGV, SEGV_ACCERR));
    assert!(
        b.mem().read_u64(a + 4096).is_err(),
        "kernel copies respect PROT_NONE"
    );
    assert_eq!(b.sys(MPROTECT, &[a, 4096, 1]), 0);
    let err = b
        .proc
        .page_fault(&mut b.fake, 1, a, Access::Write)
        .unwrap_err();
    assert_eq!(err.code, SEGV_ACCERR);
    assert_eq!(
        b.proc
            .page_fault(&mut b.fake, 1, a, Access::Execute)
            .unwrap_err()
            .code,
        SEGV_ACCERR
    );
    assert_eq!(b.mem().write_u64(a, 1), Err(Errno::EFAULT));
    // Text is not writable, data is not executable.
    assert_eq!(
        b.proc
            .page_fault(&mut b.fake, 1, 0x40_1000, Access::Write)
            .unwrap_err()
            .code,
        SEGV_ACCERR
    );
    assert_eq!(
        b.proc
            .page_fault(&mut b.fake, 1, 0x42_0000, Access::Execute)
            .unwrap_err()
            .code,
        SEGV_ACCERR
    );
    assert_eq!(
        b.proc
            .page_fault(&mut b.fake, 1, 0, Access::Read)
            .unwrap_err()
            .code,
        SEGV_MAPERR
    );
    // Errors.
    assert_eq!(b.sys(MPROTECT, &[a + 1, 4096, 1]), E(Errno::EINVAL));
    assert_eq!(b.sys(MPROTECT, &[a, 4096, 0x10]), E(Errno::EINVAL));
    assert_eq!(
        b.sys(MPROTECT, &[a, 4 * 4096, 1]),
        E(Errno::ENOMEM),
        "hole after the range"
    );
    assert_eq!(b.sys(MPROTECT, &[a, 0, 1]), 0);
}

#[test]
fn madvise_dontneed_zeroes_and_advice_is_checked() {
    let mut b = booted();
    let a = b.scratch(2);
    b.poke(a, b"secret");
    assert_eq!(b.sys(MADVISE, &[a, 8192, 4]), 0);
    assert!(!b.fake.mmu.pages.contains_key(&a));
    assert_eq!(b.peek(a, 6), [0; 6]);
    // A segment page comes back with the file's bytes.
    let data = 0x40_0000 + DATA_VADDR;
    b.poke(data, b"HELLO");
    assert_eq!(b.sys(MADVISE, &[data, 4096, 4]), 0);
    assert_eq!(b.peek(data, 10), b"hello data");
    assert_eq!(b.sys(MADVISE, &[a, 4096, 1]), 0);
    assert_eq!(b.sys(MADVISE, &[a, 4096, 14]), 0);
    assert_eq!(b.sys(MADVISE, &[a, 4096, 5]), E(Errno::EINVAL));
    assert_eq!(b.sys(MADVISE, &[a, 4096, 999]), E(Errno::EINVAL));
    assert_eq!(b.sys(MADVISE, &[a + 1, 4096, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(MADVISE, &[a, 3 * 4096, 0]), E(Errno::ENOMEM));
    assert_eq!(b.sys(MADVISE, &[a, 4096, 23]), 0);
    assert!(
        b.fake.mmu.pages.contains_key(&a),
        "MADV_POPULATE_WRITE faults in"
    );
}

#[test]
fn brk_grows_shrinks_and_refuses_overlap() {
    let mut b = booted();
    let start = b.sys(BRK, &[0]) as u64;
    assert_eq!(start, b.proc.brk().0);
    assert_eq!(b.sys(BRK, &[start + 10_000]) as u64, start + 10_000);
    b.poke(start + 9_000, b"heap");
    assert_eq!(b.sys(BRK, &[start + 100]) as u64, start + 100);
    assert!(b.proc.space().find(start + 4096).is_none());
    assert!(!b.fake.mmu.pages.contains_key(&(start + 8192)));
    assert_eq!(
        b.sys(BRK, &[start - 4096]) as u64,
        start + 100,
        "below the start: unchanged"
    );
    // A mapping in the way stops growth.
    let block = start + 0x10_0000;
    assert_eq!(
        b.sys(MMAP, &[block, 4096, 3, ANON_PRIVATE | 0x10, NOFD, 0]) as u64,
        block
    );
    assert_eq!(b.sys(BRK, &[block + 4096]) as u64, start + 100);
    assert_eq!(b.sys(BRK, &[start]) as u64, start);
    assert!(b.proc.space().find(start).is_none());
}

#[test]
fn stack_is_demand_paged_and_faults_report_oom() {
    let mut b = booted();
    let low = STACK_TOP - (8 << 20);
    assert!(!b.fake.mmu.pages.contains_key(&low));
    b.proc
        .page_fault(&mut b.fake, 1, low + 8, Access::Write)
        .unwrap();
    assert!(b.fake.mmu.pages.contains_key(&low));
    assert_eq!(
        b.proc
            .page_fault(&mut b.fake, 1, low - 1, Access::Write)
            .unwrap_err()
            .code,
        SEGV_MAPERR
    );
    // A spurious fault on a present page with the right rights resolves.
    b.proc
        .page_fault(&mut b.fake, 1, low, Access::Read)
        .unwrap();
    // No frame left: SIGKILL, as from Linux's OOM killer, and a line
    // saying so (not SIGBUS).
    let resident = b.fake.mmu.pages.len() as u64 * 4096;
    b.fake.mmu.frame_limit = Some(b.fake.mmu.pages.len());
    let err = b
        .proc
        .page_fault(&mut b.fake, 1, low + 4096, Access::Write)
        .unwrap_err();
    assert_eq!((err.signal, err.code), (Signal::SIGKILL, 0x80));
    let out = String::from_utf8_lossy(&b.fake.console.out).into_owned();
    let line = format!(
        "kiln: out of memory: killed /bin/prog (pid 1): it had {} MiB resident, the VM has 64 MiB\n",
        resident >> 20
    );
    assert!(out.ends_with(&line), "{out}");
    let mut ctx = b.ctx;
    assert_eq!(
        b.proc.fault_signal(&mut b.fake, 1, err, &mut ctx),
        Flow::Kill(Signal::SIGKILL)
    );
}

#[test]
fn a_call_whose_buffer_cannot_be_backed_ends_in_sigkill() {
    let mut b = booted();
    let buf = b.sys(9, &[0, 1 << 20, 3, 0x22, u64::MAX, 0]) as u64;
    b.fake.mmu.frame_limit = Some(b.fake.mmu.pages.len());
    // clock_gettime into an untouched page: the copy finds no frame.
    let (flow, _) = b.call(228, &[0, buf]);
    assert_eq!(flow, Flow::Kill(Signal::SIGKILL));
    let out = String::from_utf8_lossy(&b.fake.console.out).into_owned();
    assert!(out.contains("kiln: out of memory: killed "), "{out}");
    // A bad pointer is still EFAULT, and nothing is killed.
    b.fake.console.out.clear();
    assert_eq!(b.sys(228, &[0, 8]), -(Errno::EFAULT as i64));
    assert!(b.fake.console.out.is_empty());
}

const MREMAP: u64 = 25;
const MAYMOVE: u64 = 1;
const FIXED: u64 = 2;
const DONTUNMAP: u64 = 4;

#[test]
fn mremap_grows_in_place_and_shrinks() {
    let mut b = booted();
    let a = 0x2000_0000;
    let r = b.sys(MMAP, &[a, 2 * 4096, 3, ANON_PRIVATE | 0x10, NOFD, 0]) as u64;
    assert_eq!(r, a);
    b.poke(a, b"kept");
    // Growing where the space after is taken needs MAYMOVE.
    let c = b.sys(MMAP, &[a + 2 * 4096, 4096, 1, ANON_PRIVATE | 0x10, NOFD, 0]) as u64;
    assert_eq!(c, a + 2 * 4096);
    assert_eq!(b.sys(MREMAP, &[a, 8192, 3 * 4096, 0, 0]), E(Errno::ENOMEM));
    assert_eq!(b.sys(MUNMAP, &[c, 4096]), 0);
    assert_eq!(b.sys(MREMAP, &[a, 8192, 4 * 4096, 0, 0]) as u64, a);
    let r = *b.proc.space().find(a + 3 * 4096).unwrap();
    assert_eq!(r.prot, Prot::READ | Prot::WRITE);
    b.poke(a + 3 * 4096 + 10, b"new");
    assert_eq!(b.peek(a, 4), b"kept");
    // Shrinking drops the tail's frames and books.
    assert_eq!(b.sys(MREMAP, &[a, 4 * 4096, 5000, 0, 0]) as u64, a);
    assert!(b.proc.space().find(a + 2 * 4096).is_none());
    assert!(!b.fake.mmu.pages.contains_key(&(a + 3 * 4096)));
    assert_eq!(b.proc.space().find(a).unwrap().end, a + 2 * 4096);
}

#[test]
fn mremap_moves_frames_and_keeps_lazy_pages_lazy() {
    let mut b = booted();
    let a = b.scratch(3);
    b.poke(a, b"first page");
    b.poke(a + 2 * 4096, b"third page");
    // The next page is taken, so growing must move.
    let blocker = b.sys(MMAP, &[a + 3 * 4096, 4096, 1, ANON_PRIVATE | 0x10, NOFD, 0]) as u64;
    assert_eq!(blocker, a + 3 * 4096);
    let frames = b.fake.mmu.pages.len();
    let to = b.sys(MREMAP, &[a, 3 * 4096, 6 * 4096, MAYMOVE, 0]) as u64;
    assert_ne!(to, a);
    assert_eq!(
        b.fake.mmu.pages.len(),
        frames,
        "frames move, none is copied"
    );
    assert!(b.proc.space().find(a).is_none() && !b.fake.mmu.pages.contains_key(&a));
    assert_eq!(b.peek(to, 10), b"first page");
    assert!(
        !b.fake.mmu.pages.contains_key(&(to + 4096)),
        "untouched stays lazy"
    );
    assert_eq!(b.peek(to + 2 * 4096, 10), b"third page");
    assert_eq!(b.peek(to + 5 * 4096, 4), [0; 4]);
    assert!(b.proc.space().is_covered(to, to + 6 * 4096));
    assert!(b.proc.space().find(to + 6 * 4096).is_none());
    // The old address is gone: a touch there is SIGSEGV.
    let err = b
        .proc
        .page_fault(&mut b.fake, 1, a, Access::Read)
        .unwrap_err();
    assert_eq!((err.signal, err.code), (Signal::SIGSEGV, SEGV_MAPERR));
}

#[test]
fn mremap_fixed_and_dontunmap() {
    let mut b = booted();
    let a = b.scratch(2);
    b.poke(a, b"moving");
    let target = 0x3000_0000;
    // Whatever was at the target is replaced.
    b.sys(MMAP, &[target, 4096, 1, ANON_PRIVATE | 0x10, NOFD, 0]);
    let r = b.sys(MREMAP, &[a, 8192, 8192, MAYMOVE | FIXED, target]) as u64;
    assert_eq!(r, target);
    assert_eq!(b.peek(target, 6), b"moving");
    assert_eq!(
        b.proc.space().find(target).unwrap().prot,
        Prot::READ | Prot::WRITE
    );
    assert!(b.proc.space().find(a).is_none());
    // DONTUNMAP: the source stays mapped and reads back zeros.
    let back = b.sys(MREMAP, &[target, 8192, 8192, MAYMOVE | DONTUNMAP, 0]) as u64;
    assert_ne!(back, target);
    assert_eq!(b.peek(back, 6), b"moving");
    assert_eq!(b.peek(target, 6), [0; 6]);
}

#[test]
fn mremap_moves_file_mappings_with_their_backing() {
    let mut b = booted();
    // The program's segments are paged in from the image.
    let seg = *b
        .proc
        .space()
        .iter()
        .find(|r| r.kind == crate::mm::Kind::Segment)
        .unwrap();
    let before = b.peek(seg.start, 4);
    crate::platform::Mmu::unmap(&mut b.fake.mmu, seg.start, 4096); // not yet faulted in
    let to = b.sys(
        MREMAP,
        &[seg.start, 4096, 4096, MAYMOVE | FIXED, 0x3000_0000],
    ) as u64;
    assert_eq!(to, 0x3000_0000);
    assert_eq!(
        b.peek(to, 4),
        before,
        "faults in from the image at the new place"
    );
}

#[test]
fn mremap_errors() {
    let mut b = booted();
    let a = b.scratch(2);
    let e = |b: &mut Booted, args: &[u64]| b.sys(MREMAP, args);
    assert_eq!(
        e(&mut b, &[a + 1, 4096, 8192, MAYMOVE, 0]),
        E(Errno::EINVAL)
    );
    assert_eq!(e(&mut b, &[a, 4096, 8192, 0x80, 0]), E(Errno::EINVAL));
    assert_eq!(e(&mut b, &[a, 4096, 0, MAYMOVE, 0]), E(Errno::EINVAL));
    assert_eq!(e(&mut b, &[a, 0, 4096, MAYMOVE, 0]), E(Errno::EINVAL));
    assert_eq!(
        e(&mut b, &[a, 4096, 8192, FIXED, 0x3000_0000]),
        E(Errno::EINVAL)
    );
    assert_eq!(e(&mut b, &[a, 4096, 8192, DONTUNMAP, 0]), E(Errno::EINVAL));
    assert_eq!(
        e(&mut b, &[a, 4096, 8192, MAYMOVE | DONTUNMAP, 0]),
        E(Errno::EINVAL),
        "DONTUNMAP keeps the size"
    );
    assert_eq!(
        e(&mut b, &[a, 8192, 8192, MAYMOVE | FIXED, a + 4096]),
        E(Errno::EINVAL),
        "overlapping ranges"
    );
    assert_eq!(
        e(&mut b, &[a, 8192, 8192, MAYMOVE | FIXED, 0x3000_0001]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        e(&mut b, &[a, 3 * 4096, 4 * 4096, MAYMOVE, 0]),
        E(Errno::EFAULT),
        "a hole"
    );
    assert_eq!(
        e(&mut b, &[0x5000_0000, 4096, 8192, MAYMOVE, 0]),
        E(Errno::EFAULT)
    );
    // Mixed rights are not one mapping.
    b.sys(MPROTECT, &[a, 4096, 1]);
    assert_eq!(
        e(&mut b, &[a, 8192, 4 * 4096, MAYMOVE, 0]),
        E(Errno::EFAULT)
    );
    // The heap is not for mremap.
    let brk = b.sys(BRK, &[0]) as u64;
    b.sys(BRK, &[brk + 8192]);
    let heap = crate::mm::page_up(brk).unwrap();
    assert_eq!(e(&mut b, &[heap, 4096, 8192, MAYMOVE, 0]), E(Errno::EFAULT));
    // Nothing changed along the way.
    assert!(b.proc.space().is_covered(a, a + 8192));
}

#[test]
fn msync_mincore_and_mlock() {
    let mut b = booted();
    let a = 0x2000_0000;
    assert_eq!(
        b.sys(MMAP, &[a, 4 * 4096, 3, ANON_PRIVATE | 0x10, NOFD, 0]) as u64,
        a
    );
    let vec = b.scratch(1);
    b.poke(a + 4096, b"x");
    assert_eq!(b.sys(27, &[a, 4 * 4096, vec]), 0);
    assert_eq!(b.peek(vec, 4), [0, 1, 0, 0]);
    assert_eq!(b.sys(27, &[a + 1, 4096, vec]), E(Errno::EINVAL));
    assert_eq!(b.sys(27, &[a, 5 * 4096, vec]), E(Errno::ENOMEM));
    assert_eq!(b.sys(27, &[a, 4096, 0]), E(Errno::EFAULT));
    // msync: flags and range.
    assert_eq!(b.sys(26, &[a, 4096, 4]), 0);
    assert_eq!(b.sys(26, &[a, 4096, 5]), E(Errno::EINVAL), "ASYNC and SYNC");
    assert_eq!(b.sys(26, &[a, 4096, 8]), E(Errno::EINVAL));
    assert_eq!(b.sys(26, &[a + 4 * 4096, 4096, 4]), E(Errno::ENOMEM));
    // mlock brings pages in (an unaligned start counts its page).
    assert_eq!(b.sys(149, &[a + 2 * 4096 + 10, 4096]), 0);
    assert!(b.fake.mmu.pages.contains_key(&(a + 2 * 4096)));
    assert!(b.fake.mmu.pages.contains_key(&(a + 3 * 4096)));
    assert_eq!(b.sys(149, &[a + 3 * 4096, 8192]), E(Errno::ENOMEM));
    assert_eq!(b.sys(325, &[a, 4096, 1]), 0, "MLOCK_ONFAULT");
    assert!(!b.fake.mmu.pages.contains_key(&a));
    assert_eq!(b.sys(325, &[a, 4096, 2]), E(Errno::EINVAL));
    assert_eq!(b.sys(150, &[a, 4096]), 0);
    // mlockall(MCL_CURRENT | MCL_FUTURE): everything now, later maps too.
    assert_eq!(b.sys(151, &[0]), E(Errno::EINVAL));
    assert_eq!(b.sys(151, &[4]), E(Errno::EINVAL));
    assert_eq!(b.sys(151, &[3]), 0);
    assert!(b.fake.mmu.pages.contains_key(&a));
    let later = b.sys(MMAP, &[0, 2 * 4096, 3, ANON_PRIVATE, NOFD, 0]) as u64;
    assert!(b.fake.mmu.pages.contains_key(&(later + 4096)));
    assert_eq!(b.sys(152, &[]), 0);
    let lazy = b.sys(MMAP, &[0, 4096, 3, ANON_PRIVATE, NOFD, 0]) as u64;
    assert!(!b.fake.mmu.pages.contains_key(&lazy));
}

/// What glibc's ld.so does with a library: reserve the whole span with one
/// read-only file mapping, map the data segment over it (MAP_FIXED, private
/// and writable: copy on write), zero the bss tail of its last file page,
/// map the rest of the bss anonymously, and make RELRO read-only again.
#[test]
fn shared_library_mappings_as_ld_so_makes_them() {
    // A "library" of three pages: text, data (half a page of file bytes).
    let mut lib = alloc::vec![0u8; 2 * 4096 + 2048];
    lib[..4].copy_from_slice(b"TEXT");
    lib[4096..4100].copy_from_slice(b"RELR");
    lib[8192..8196].copy_from_slice(b"DATA");
    lib[8192 + 2047] = 0x5a;
    let mut b = boot_elf(
        &ElfBuilder::exec().build(),
        &[Node::Dir("/lib"), Node::File("/lib/libx.so", &lib)],
    )
    .unwrap();
    b.scratch(8);
    let path = SCRATCH + 0x800;
    b.poke_str(path, "/lib/libx.so");
    let fd = b.sys(257, &[-100i64 as u64, path, 0, 0]);
    assert!(fd >= 0);
    let fd = fd as u64;
    // The reservation: 4 pages, read-only, from offset 0.
    let base = b.sys(MMAP, &[0, 4 * 4096, 1, 2, fd, 0]) as u64;
    assert!(base < MMAP_TOP && base.is_multiple_of(4096));
    // Data and RELRO: pages 1..3 of the file, private and writable, fixed.
    let data = base + 4096;
    assert_eq!(
        b.sys(MMAP, &[data, 2 * 4096, 3, 0x12, fd, 4096]) as u64,
        data
    );
    // Anonymous bss over the last page, fixed.
    let bss = base + 3 * 4096;
    assert_eq!(b.sys(MMAP, &[bss, 4096, 3, 0x32, NOFD, 0]) as u64, bss);
    assert_eq!(b.peek(base, 4), b"TEXT");
    assert_eq!(b.peek(data, 4), b"RELR");
    assert_eq!(b.peek(data + 4096, 4), b"DATA");
    // The file ends in the middle of the data page: the rest reads zero.
    assert_eq!(b.peek(data + 4096 + 2047, 2), [0x5a, 0]);
    assert_eq!(b.peek(bss, 4), [0, 0, 0, 0]);
    // Writes are private: the image (and a new mapping of it) is unchanged.
    b.poke(data + 4096, b"data");
    let again = b.sys(MMAP, &[0, 4096, 1, 2, fd, 8192]) as u64;
    assert_eq!(b.peek(again, 4), b"DATA");
    assert_eq!(b.peek(data + 4096, 4), b"data");
    // RELRO: the first data page becomes read-only; a write then faults.
    assert_eq!(b.sys(MPROTECT, &[data, 4096, 1]), 0);
    assert_eq!(b.proc.space().find(data).unwrap().prot, Prot::READ);
    assert_eq!(
        b.proc.space().find(data + 4096).unwrap().prot,
        Prot::READ | Prot::WRITE
    );
    let fault = b.proc.page_fault(&mut b.fake, 1, data, Access::Write);
    assert_eq!(fault.map_err(|f| f.code), Err(SEGV_ACCERR));
    // /proc/self/maps names the library and each mapping's file offset.
    let maps_path = SCRATCH + 0x900;
    b.poke_str(maps_path, "/proc/self/maps");
    let mfd = b.sys(257, &[-100i64 as u64, maps_path, 0, 0]) as u64;
    let n = b.sys(0, &[mfd, SCRATCH + 0x1000, 0x3000]);
    assert!(n > 0);
    let maps = String::from_utf8(b.peek(SCRATCH + 0x1000, n as usize)).unwrap();
    let line = |addr: u64| {
        maps.lines()
            .find(|l| l.starts_with(&format!("{addr:08x}-")))
            .unwrap_or_else(|| panic!("no mapping at {addr:#x}:\n{maps}"))
            .to_string()
    };
    assert!(line(base).contains("r--p 00000000 ") && line(base).ends_with(" /lib/libx.so"));
    assert!(line(data).contains("r--p 00001000 ") && line(data).ends_with(" /lib/libx.so"));
    assert!(line(data + 4096).contains("rw-p 00002000 "));
    assert!(!line(bss).contains("/lib/libx.so"), "the bss is anonymous");
}
