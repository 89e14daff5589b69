use crate::process::{Flow, WaitFor};
use crate::testutil::*;
use kiln_abi::errno::Errno;

const READ: u64 = 0;
const WRITE: u64 = 1;
const E: fn(Errno) -> i64 = |e| e.as_ret();

#[test]
fn write_reaches_the_console_and_checks_pointers() {
    let mut b = booted();
    let a = b.scratch(1);
    b.poke(a, b"hi there\n");
    assert_eq!(b.sys(WRITE, &[1, a, 9]), 9);
    assert_eq!(b.sys(WRITE, &[2, a, 2]), 2);
    assert!(b.fake.console.out.ends_with(b"hi there\nhi"));
    assert_eq!(b.sys(WRITE, &[1, 0, 5]), E(Errno::EFAULT));
    assert_eq!(b.sys(WRITE, &[1, u64::MAX - 2, 5]), E(Errno::EFAULT));
    assert_eq!(b.sys(WRITE, &[9, a, 1]), E(Errno::EBADF));
    assert_eq!(b.sys(WRITE, &[u64::MAX, a, 1]), E(Errno::EBADF));
    assert_eq!(b.sys(WRITE, &[1, a, 0]), 0);
    // Partial: the buffer runs into an unmapped page.
    let end = a + 4096 - 3;
    let before = b.fake.console.out.len();
    assert_eq!(b.sys(WRITE, &[1, end, 10]), 3);
    assert_eq!(b.fake.console.out.len(), before + 3);
}

#[test]
fn writev_is_partial_when_a_segment_faults() {
    let mut b = booted();
    let a = b.scratch(1);
    b.poke(a + 100, b"abc");
    b.poke(a + 200, b"defg");
    let iov = |b: &mut Booted, at: u64, v: &[(u64, u64)]| {
        for (i, (base, len)) in v.iter().enumerate() {
            b.poke(at + i as u64 * 16, &base.to_le_bytes());
            b.poke(at + i as u64 * 16 + 8, &len.to_le_bytes());
        }
    };
    iov(&mut b, a, &[(a + 100, 3), (a + 200, 4)]);
    assert_eq!(b.sys(20, &[1, a, 2]), 7);
    assert!(b.fake.console.out.ends_with(b"abcdefg"));
    iov(&mut b, a, &[(a + 100, 3), (0x10, 4), (a + 200, 4)]);
    assert_eq!(b.sys(20, &[1, a, 3]), 3);
    iov(&mut b, a, &[(0x10, 4)]);
    assert_eq!(b.sys(20, &[1, a, 1]), E(Errno::EFAULT));
    assert_eq!(b.sys(20, &[1, a, 1025]), E(Errno::EINVAL));
    assert_eq!(b.sys(20, &[1, a, u64::MAX]), E(Errno::EINVAL));
    assert_eq!(b.sys(20, &[1, 0x10, 1]), E(Errno::EFAULT));
    iov(&mut b, a, &[(a + 100, u64::MAX)]);
    assert_eq!(b.sys(20, &[1, a, 1]), E(Errno::EINVAL));
    assert_eq!(b.sys(20, &[1, a, 0]), 0);
}

#[test]
fn stdin_reads_block_until_input() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(
        b.call(READ, &[0, a, 100]).0,
        Flow::Block(WaitFor::ConsoleInput)
    );
    b.fake.console.input.extend(b"typed\n");
    assert_eq!(b.sys(READ, &[0, a, 100]), 6);
    assert_eq!(b.peek(a, 6), b"typed\n");
    b.fake.console.input.extend(b"xyz");
    assert_eq!(b.sys(READ, &[0, a, 2]), 2);
    assert_eq!(b.sys(READ, &[0, a, 0]), 0);
    // readv spreads input over segments.
    b.poke(a + 512, &(a + 1000).to_le_bytes());
    b.poke(a + 520, &1u64.to_le_bytes());
    b.poke(a + 528, &(a + 2000).to_le_bytes());
    b.poke(a + 536, &5u64.to_le_bytes());
    b.fake.console.input.extend(b"12");
    assert_eq!(b.sys(19, &[0, a + 512, 2]), 3);
    assert_eq!(b.peek(a + 1000, 1), b"z");
    assert_eq!(b.peek(a + 2000, 2), b"12");
    // O_NONBLOCK gives EAGAIN.
    assert_eq!(b.sys(72, &[0, 4, 0o4000]), 0);
    assert_eq!(b.sys(READ, &[0, a, 1]), E(Errno::EAGAIN));
    assert_eq!(
        b.sys(72, &[1, 3]) as u32 & 0o4000,
        0o4000,
        "shared description"
    );
    assert_eq!(
        b.sys(READ, &[0, 0, 1]),
        E(Errno::EAGAIN),
        "nothing to copy yet"
    );
    b.fake.console.input.extend(b"q");
    assert_eq!(b.sys(READ, &[0, 0, 1]), E(Errno::EFAULT));
}

#[test]
fn positioned_io_and_seek_on_the_console() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(17, &[0, a, 1, 0]), E(Errno::ESPIPE));
    assert_eq!(b.sys(18, &[1, a, 1, 0]), E(Errno::ESPIPE));
    assert_eq!(b.sys(18, &[1, a, 1, u64::MAX]), E(Errno::EINVAL));
    assert_eq!(b.sys(8, &[1, 0, 0]), E(Errno::ESPIPE));
    assert_eq!(b.sys(8, &[7, 0, 0]), E(Errno::EBADF));
}

#[test]
fn descriptors_close_dup_and_fcntl() {
    let mut b = booted();
    assert_eq!(b.sys(32, &[1]), 3);
    assert_eq!(b.sys(33, &[1, 10]), 10);
    assert_eq!(b.sys(33, &[10, 10]), 10);
    assert_eq!(b.sys(33, &[99, 10]), E(Errno::EBADF));
    assert_eq!(b.sys(292, &[1, 11, 0o2000000]), 11);
    assert_eq!(b.sys(72, &[11, 1]), 1, "FD_CLOEXEC");
    assert_eq!(b.sys(292, &[1, 1, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(292, &[1, 12, 1]), E(Errno::EINVAL));
    assert_eq!(b.sys(72, &[1, 0, 20]), 20);
    assert_eq!(b.sys(72, &[1, 1030, 5]), 5);
    assert_eq!(b.sys(72, &[5, 1]), 1);
    assert_eq!(b.sys(72, &[5, 2, 0]), 0);
    assert_eq!(b.sys(72, &[5, 1]), 0);
    assert_eq!(b.sys(72, &[1, 3]), 2, "O_RDWR");
    assert_eq!(b.sys(72, &[1, 0, 70_000]), E(Errno::EINVAL));
    assert_eq!(b.sys(72, &[1, 999]), E(Errno::EINVAL));
    assert_eq!(b.sys(3, &[3]), 0);
    assert_eq!(b.sys(3, &[3]), E(Errno::EBADF));
    assert_eq!(b.sys(3, &[0]), 0);
    assert_eq!(b.sys(32, &[1]), 0, "lowest free descriptor");
}

#[test]
fn ioctl_on_the_console() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(16, &[1, 0x5413, a]), 0);
    assert_eq!(b.peek(a, 4), [24, 0, 80, 0]);
    assert_eq!(b.sys(16, &[1, 0x5401, a]), 0);
    let lflag = u32::from_le_bytes(b.peek(a + 12, 4).try_into().unwrap());
    assert_ne!(lflag & 0o2, 0, "ICANON");
    assert_eq!(b.peek(a + 17, 1), [3], "VINTR");
    b.poke(a + 12, &0u32.to_le_bytes());
    assert_eq!(b.sys(16, &[0, 0x5402, a]), 0);
    assert_eq!(b.sys(16, &[2, 0x5401, a + 100]), 0);
    assert_eq!(b.peek(a + 112, 4), [0; 4]);
    assert_eq!(b.sys(16, &[1, 0x5401, 0]), E(Errno::EFAULT));
    assert_eq!(b.sys(16, &[1, 0x1234, a]), E(Errno::ENOTTY));
    assert_eq!(b.sys(16, &[42, 0x5401, a]), E(Errno::EBADF));
    assert_eq!(b.sys(16, &[1, 0x5451, 0]), 0);
    assert_eq!(b.sys(72, &[1, 1]), 1);
}

#[test]
fn fstat_of_the_console() {
    let mut b = booted();
    let a = b.scratch(1);
    assert_eq!(b.sys(5, &[1, a]), 0);
    let mode = u32::from_le_bytes(b.peek(a + 24, 4).try_into().unwrap());
    assert_eq!(mode, 0o020620);
    assert_eq!(b.peek_u64(a + 40), 136 << 8);
    assert_eq!(b.sys(5, &[1, 0x10]), E(Errno::EFAULT));
    assert_eq!(b.sys(5, &[8, a]), E(Errno::EBADF));
    let empty = b.poke_str(a + 1000, "");
    assert_eq!(b.sys(262, &[2, empty, a + 2000, 0x1000]), 0);
    assert_eq!(b.peek(a + 2024, 4), b.peek(a + 24, 4));
    assert_eq!(b.sys(262, &[2, empty, a + 2000, 0]), E(Errno::ENOENT));
    assert_eq!(b.sys(262, &[2, empty, a + 2000, 0x4]), E(Errno::EINVAL));
}

#[test]
fn image_files_open_read_seek_stat_and_list() {
    let elf = ElfBuilder::exec().build();
    let big: alloc::vec::Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let mut b = boot_elf(
        &elf,
        &[
            Node::File("/etc/hosts", b"127.0.0.1 localhost\n"),
            Node::File("/srv/big", &big),
            Node::Symlink("/etc/h", "hosts"),
        ],
    )
    .unwrap();
    let a = b.scratch(4);
    let p = b.poke_str(a, "/etc/h");
    let fd = b.sys(257, &[(-100i64) as u64, p, 0o2000000]);
    assert_eq!(fd, 3);
    assert_eq!(b.sys(READ, &[3, a + 4096, 100]), 20);
    assert_eq!(b.peek(a + 4096, 9), b"127.0.0.1");
    assert_eq!(b.sys(READ, &[3, a + 4096, 100]), 0);
    assert_eq!(b.sys(8, &[3, 4, 0]), 4);
    assert_eq!(b.sys(17, &[3, a + 4096, 3, 10]), 3);
    assert_eq!(b.peek(a + 4096, 3), b"loc");
    assert_eq!(b.sys(8, &[3, (-1i64) as u64, 1]), 3);
    assert_eq!(b.sys(8, &[3, (-100i64) as u64, 0]), E(Errno::EINVAL));
    assert_eq!(b.sys(WRITE, &[3, a, 1]), E(Errno::EBADF));
    assert_eq!(b.sys(5, &[3, a + 8192]), 0);
    assert_eq!(b.peek_u64(a + 8192 + 48), 20);
    // Relative to the cwd (/srv), across pages.
    let p = b.poke_str(a, "big");
    let fd = b.sys(2, &[p, 0]);
    assert_eq!(b.sys(READ, &[fd as u64, a + 4096, 9000]), 9000);
    assert_eq!(b.peek(a + 4096 + 8999, 1), [(8999u32 as u8)]);
    // Errors.
    let p = b.poke_str(a, "/nope");
    assert_eq!(b.sys(2, &[p, 0]), E(Errno::ENOENT));
    assert_eq!(b.sys(2, &[p, 0o100 | 1]), E(Errno::EROFS));
    let p = b.poke_str(a, "/etc/hosts");
    assert_eq!(b.sys(2, &[p, 1]), E(Errno::EROFS));
    assert_eq!(b.sys(2, &[p, 0o300]), E(Errno::EEXIST));
    assert_eq!(b.sys(2, &[p, 0o200000]), E(Errno::ENOTDIR));
    let p2 = b.poke_str(a, "/etc/hosts/x");
    assert_eq!(b.sys(2, &[p2, 0]), E(Errno::ENOTDIR));
    assert_eq!(b.sys(2, &[0x10, 0]), E(Errno::EFAULT));
    // stat by path.
    let p = b.poke_str(a, "/etc/h");
    assert_eq!(b.sys(6, &[p, a + 8192]), 0);
    let mode = u32::from_le_bytes(b.peek(a + 8192 + 24, 4).try_into().unwrap());
    assert_eq!(mode & 0o170000, 0o120000);
    assert_eq!(b.sys(4, &[p, a + 8192]), 0);
    let mode = u32::from_le_bytes(b.peek(a + 8192 + 24, 4).try_into().unwrap());
    assert_eq!(mode & 0o170000, 0o100000);
    // getdents64 of /etc.
    let p = b.poke_str(a, "/etc");
    let dfd = b.sys(2, &[p, 0o200000]) as u64;
    let n = b.sys(217, &[dfd, a + 4096, 4096]) as usize;
    let buf = b.peek(a + 4096, n);
    let mut names = alloc::vec::Vec::new();
    let mut off = 0;
    while off < n {
        let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
        let name = &buf[off + 19..off + reclen];
        names.push(
            alloc::string::String::from_utf8_lossy(
                &name[..name.iter().position(|&c| c == 0).unwrap()],
            )
            .into_owned(),
        );
        off += reclen;
    }
    assert_eq!(names, [".", "..", "h", "hosts"]);
    assert_eq!(b.sys(217, &[dfd, a + 4096, 4096]), 0);
    assert_eq!(b.sys(217, &[1, a + 4096, 4096]), E(Errno::ENOTDIR));
    assert_eq!(b.sys(READ, &[dfd, a, 10]), E(Errno::EISDIR));
}
