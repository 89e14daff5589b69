//! Files through the syscall layer: the namespace, path resolution,
//! tmpfs, /dev, /proc, pipes, descriptors and file mappings.

use crate::process::{BootOptions, Flow, Process, WaitFor};
use crate::testutil::*;
use kiln_abi::errno::Errno;

const E: fn(Errno) -> i64 = |e| e.as_ret();
const FDCWD: u64 = -100i64 as u64;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_NONBLOCK: u64 = 0o4000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_CLOEXEC: u64 = 0o2000000;
const O_PATH: u64 = 0o10000000;

/// A booted program with an image holding a few files, and helpers.
struct T {
    b: Booted,
    a: u64,
}

impl T {
    fn new() -> T {
        let elf = ElfBuilder::exec().build();
        let mut b = boot_elf(
            &elf,
            &[
                Node::File("/etc/hosts", b"127.0.0.1 localhost\n"),
                Node::File("/etc/localtime", b"TZif2 data"),
                Node::Symlink("/etc/h", "hosts"),
                Node::Symlink("/etc/abs", "/etc/hosts"),
                Node::Symlink("/etc/up", "../srv"),
                Node::Symlink("/loop1", "/loop2"),
                Node::Symlink("/loop2", "/loop1"),
                Node::Dir("/srv/www"),
                Node::File("/srv/www/index.html", b"<html>"),
            ],
        )
        .unwrap();
        let a = b.scratch(8);
        T { b, a }
    }
    /// Put a path string in the scratch area (slot 0..7) and return its address.
    fn s(&mut self, slot: u64, path: &str) -> u64 {
        self.b.poke_str(self.a + 0x6000 + slot * 0x200, path)
    }
    fn sys(&mut self, nr: u64, args: &[u64]) -> i64 {
        self.b.sys(nr, args)
    }
    fn open(&mut self, path: &str, flags: u64, mode: u64) -> i64 {
        let p = self.s(0, path);
        self.sys(257, &[FDCWD, p, flags, mode])
    }
    fn write(&mut self, fd: i64, data: &[u8]) -> i64 {
        let buf = self.a + 0x4000;
        self.b.poke(buf, data);
        self.sys(1, &[fd as u64, buf, data.len() as u64])
    }
    fn read(&mut self, fd: i64, n: usize) -> Result<Vec<u8>, i64> {
        let buf = self.a + 0x4000;
        let r = self.sys(0, &[fd as u64, buf, n as u64]);
        if r < 0 {
            return Err(r);
        }
        Ok(self.b.peek(buf, r as usize))
    }
    fn cat(&mut self, path: &str) -> Result<Vec<u8>, i64> {
        let fd = self.open(path, 0, 0);
        if fd < 0 {
            return Err(fd);
        }
        let mut out = Vec::new();
        loop {
            let chunk = self.read(fd, 4096)?;
            if chunk.is_empty() {
                break;
            }
            out.extend(chunk);
        }
        assert_eq!(self.sys(3, &[fd as u64]), 0);
        Ok(out)
    }
    /// stat (or lstat) and return (mode, size, nlink, ino).
    fn stat(&mut self, path: &str, nofollow: bool) -> Result<(u32, u64, u64, u64), i64> {
        let p = self.s(1, path);
        let buf = self.a + 0x5000;
        let r = self.sys(if nofollow { 6 } else { 4 }, &[p, buf]);
        if r < 0 {
            return Err(r);
        }
        let st = self.b.peek(buf, 144);
        let u64_at = |o: usize| u64::from_le_bytes(st[o..o + 8].try_into().unwrap());
        Ok((
            u32::from_le_bytes(st[24..28].try_into().unwrap()),
            u64_at(48),
            u64_at(16),
            u64_at(8),
        ))
    }
    /// fstat: (st_size, st_blocks).
    fn fstat_size_blocks(&mut self, fd: i64) -> (u64, u64) {
        let buf = self.a + 0x5000;
        assert_eq!(self.sys(5, &[fd as u64, buf]), 0);
        let st = self.b.peek(buf, 144);
        let u64_at = |o: usize| u64::from_le_bytes(st[o..o + 8].try_into().unwrap());
        (u64_at(48), u64_at(64))
    }
    fn names(&mut self, path: &str) -> Vec<String> {
        let fd = self.open(path, O_DIRECTORY, 0);
        assert!(fd >= 0, "open {path}: {fd}");
        let buf = self.a + 0x2000;
        let mut names = Vec::new();
        loop {
            let n = self.sys(217, &[fd as u64, buf, 0x2000]);
            assert!(n >= 0);
            if n == 0 {
                break;
            }
            let data = self.b.peek(buf, n as usize);
            let mut off = 0;
            while off < data.len() {
                let reclen = u16::from_le_bytes([data[off + 16], data[off + 17]]) as usize;
                let name = &data[off + 19..off + reclen];
                let end = name.iter().position(|&b| b == 0).unwrap();
                names.push(String::from_utf8_lossy(&name[..end]).into_owned());
                off += reclen;
            }
        }
        self.sys(3, &[fd as u64]);
        names
    }
    fn readlink(&mut self, path: &str) -> Result<String, i64> {
        let p = self.s(2, path);
        let buf = self.a + 0x5000;
        let r = self.sys(89, &[p, buf, 512]);
        if r < 0 {
            return Err(r);
        }
        Ok(String::from_utf8(self.b.peek(buf, r as usize)).unwrap())
    }
    fn two(&mut self, nr: u64, x: &str, y: &str) -> i64 {
        let (p, q) = (self.s(3, x), self.s(4, y));
        self.sys(nr, &[p, q])
    }
    fn one(&mut self, nr: u64, x: &str, arg: u64) -> i64 {
        let p = self.s(5, x);
        self.sys(nr, &[p, arg])
    }
}

#[test]
fn image_files_resolve_like_linux() {
    let mut t = T::new();
    assert_eq!(t.cat("/etc/hosts").unwrap(), b"127.0.0.1 localhost\n");
    assert_eq!(t.cat("/etc/h").unwrap(), b"127.0.0.1 localhost\n");
    assert_eq!(t.cat("/etc/abs").unwrap(), b"127.0.0.1 localhost\n");
    assert_eq!(t.cat("/etc/up/www/index.html").unwrap(), b"<html>");
    assert_eq!(
        t.cat("/etc/up/../etc/hosts").unwrap(),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(
        t.cat("www/index.html").unwrap(),
        b"<html>",
        "relative to cwd /srv"
    );
    assert_eq!(t.cat("/srv/www/../www/./index.html").unwrap(), b"<html>");
    assert_eq!(t.cat("/../../etc/hosts").unwrap(), b"127.0.0.1 localhost\n");
    assert_eq!(t.cat("/missing"), Err(E(Errno::ENOENT)));
    assert_eq!(t.cat("/etc/hosts/x"), Err(E(Errno::ENOTDIR)));
    assert_eq!(t.cat("/etc/hosts/"), Err(E(Errno::ENOTDIR)));
    assert_eq!(t.cat("/loop1"), Err(E(Errno::ELOOP)));
    assert_eq!(t.cat(""), Err(E(Errno::ENOENT)));
    let long = format!("/{}", "a".repeat(256));
    assert_eq!(t.cat(&long), Err(E(Errno::ENAMETOOLONG)));
    assert_eq!(t.open("/etc/h", O_NOFOLLOW, 0), E(Errno::ELOOP));
    assert_eq!(t.open("/etc/hosts", O_DIRECTORY, 0), E(Errno::ENOTDIR));
    assert_eq!(t.open("/etc/hosts", O_WRONLY, 0), E(Errno::EROFS));
    assert_eq!(t.open("/etc/hosts", O_TRUNC, 0), E(Errno::EROFS));
    assert_eq!(
        t.open("/etc/new", O_CREAT | O_WRONLY, 0o644),
        E(Errno::EROFS)
    );
    assert_eq!(
        t.open("/etc/hosts", O_CREAT | O_EXCL | O_WRONLY, 0o644),
        E(Errno::EEXIST)
    );
    assert_eq!(t.open("/etc", O_RDWR, 0), E(Errno::EISDIR));
    assert_eq!(
        t.open("/nodir/new", O_CREAT | O_WRONLY, 0o644),
        E(Errno::ENOENT)
    );
    assert_eq!(
        t.open("/etc/localtime", 0o20000000 | O_DIRECTORY | O_RDWR, 0),
        E(Errno::EOPNOTSUPP)
    );
    // O_PATH opens the symlink itself with O_NOFOLLOW; no I/O on it.
    let fd = t.open("/etc/h", O_PATH | O_NOFOLLOW, 0);
    assert!(fd >= 0);
    assert_eq!(t.read(fd, 10), Err(E(Errno::EBADF)));
    let buf = t.a + 0x5000;
    let empty = t.s(6, "");
    assert_eq!(t.sys(267, &[fd as u64, empty, buf, 100]), 5);
    assert_eq!(t.b.peek(buf, 5), b"hosts");
    assert_eq!(t.sys(262, &[fd as u64, empty, buf, 0x1000]), 0);
    assert_eq!(
        u32::from_le_bytes(t.b.peek(buf + 24, 4).try_into().unwrap()) & 0o170000,
        0o120000
    );
    assert_eq!(t.sys(262, &[fd as u64, empty, buf, 0]), E(Errno::ENOENT));
    assert_eq!(
        t.sys(262, &[fd as u64, empty, buf, 0x8000]),
        E(Errno::EINVAL)
    );
    // stat and lstat; symlinks; modes.
    let (mode, size, _, _) = t.stat("/etc/h", false).unwrap();
    assert_eq!((mode & 0o170000, size), (0o100000, 20));
    let (mode, size, _, _) = t.stat("/etc/h", true).unwrap();
    assert_eq!((mode & 0o170000, size), (0o120000, 5));
    assert_eq!(t.stat("/nothing", false), Err(E(Errno::ENOENT)));
    assert_eq!(t.readlink("/etc/up").unwrap(), "../srv");
    assert_eq!(t.readlink("/etc/hosts"), Err(E(Errno::EINVAL)));
    // Image writes are EROFS; renames across mounts EXDEV.
    assert_eq!(t.one(83, "/etc/d", 0o755), E(Errno::EROFS));
    assert_eq!(t.one(83, "/etc", 0o755), E(Errno::EEXIST));
    assert_eq!(t.one(87, "/etc/hosts", 0), E(Errno::EROFS));
    assert_eq!(t.one(87, "/etc/none", 0), E(Errno::ENOENT));
    assert_eq!(t.one(84, "/srv/www", 0), E(Errno::EROFS));
    assert_eq!(t.two(82, "/etc/hosts", "/etc/hosts2"), E(Errno::EROFS));
    assert_eq!(t.two(82, "/etc/hosts", "/tmp/hosts"), E(Errno::EXDEV));
    assert_eq!(t.two(86, "/etc/hosts", "/tmp/hosts"), E(Errno::EXDEV));
    assert_eq!(t.two(88, "x", "/etc/l"), E(Errno::EROFS));
    assert_eq!(t.one(90, "/etc/hosts", 0o600), E(Errno::EROFS));
    assert_eq!(t.one(76, "/etc/hosts", 0), E(Errno::EROFS));
    assert_eq!(t.one(84, "/tmp", 0), E(Errno::EBUSY));
}

#[test]
fn listings_include_mount_points() {
    let mut t = T::new();
    let root = t.names("/");
    for n in [".", "..", "bin", "etc", "srv", "dev", "proc", "sys", "tmp"] {
        assert!(root.contains(&n.to_string()), "{n} missing from {root:?}");
    }
    assert_eq!(t.names("/srv/www"), [".", "..", "index.html"]);
    let dev = t.names("/dev");
    for n in ["null", "zero", "urandom", "shm", "stdin"] {
        assert!(dev.contains(&n.to_string()), "{n} missing from {dev:?}");
    }
    let fd = t.open("/etc", O_DIRECTORY, 0);
    assert_eq!(t.sys(217, &[fd as u64, t.a, 10]), E(Errno::EINVAL));
    assert_eq!(t.sys(0, &[fd as u64, t.a, 10]), E(Errno::EISDIR));
    let f = t.open("/etc/hosts", 0, 0);
    assert_eq!(t.sys(217, &[f as u64, t.a, 4096]), E(Errno::ENOTDIR));
    assert_eq!(t.sys(217, &[99, t.a, 4096]), E(Errno::EBADF));
    // The old getdents has d_type in the last byte.
    let n = t.sys(78, &[fd as u64, t.a, 4096]);
    assert!(n > 0);
}

#[test]
fn tmpfs_files_read_write_seek_truncate() {
    let mut t = T::new();
    let fd = t.open("/tmp/a.txt", O_CREAT | O_RDWR, 0o666);
    assert!(fd >= 0);
    assert_eq!(t.write(fd, b"hello world"), 11);
    assert_eq!(t.sys(8, &[fd as u64, 0, 0]), 0);
    assert_eq!(t.read(fd, 5).unwrap(), b"hello");
    assert_eq!(t.sys(8, &[fd as u64, -3i64 as u64, 2]), 8);
    assert_eq!(t.read(fd, 100).unwrap(), b"rld");
    assert_eq!(t.read(fd, 100).unwrap(), b"");
    // pread/pwrite leave the position alone.
    let buf = t.a + 0x4000;
    t.b.poke(buf, b"HELLO");
    assert_eq!(t.sys(18, &[fd as u64, buf, 5, 0]), 5);
    assert_eq!(t.sys(17, &[fd as u64, buf, 11, 0]), 11);
    assert_eq!(t.b.peek(buf, 11), b"HELLO world");
    assert_eq!(t.sys(8, &[fd as u64, 0, 1]), 11);
    // Writing past the end leaves a zero-filled gap.
    assert_eq!(t.sys(8, &[fd as u64, 20, 0]), 20);
    assert_eq!(t.write(fd, b"!"), 1);
    let (mode, size, nlink, _) = t.stat("/tmp/a.txt", false).unwrap();
    assert_eq!((mode, size, nlink), (0o100644, 21, 1), "umask 022 applies");
    assert_eq!(t.sys(8, &[fd as u64, 0, 3]), 0, "SEEK_DATA");
    assert_eq!(t.sys(8, &[fd as u64, 0, 4]), 21, "SEEK_HOLE");
    assert_eq!(t.sys(8, &[fd as u64, 21, 3]), E(Errno::ENXIO));
    assert_eq!(t.sys(8, &[fd as u64, -1i64 as u64, 0]), E(Errno::EINVAL));
    assert_eq!(t.sys(8, &[fd as u64, 0, 9]), E(Errno::EINVAL));
    assert_eq!(t.sys(77, &[fd as u64, 5]), 0);
    assert_eq!(t.stat("/tmp/a.txt", false).unwrap().1, 5);
    assert_eq!(t.one(76, "/tmp/a.txt", 2), 0);
    assert_eq!(t.cat("/tmp/a.txt").unwrap(), b"HE");
    assert_eq!(t.sys(77, &[fd as u64, -1i64 as u64]), E(Errno::EINVAL));
    // O_APPEND writes at the end whatever the position.
    let ap = t.open("/tmp/a.txt", O_WRONLY | O_APPEND, 0);
    assert_eq!(t.write(ap, b"xy"), 2);
    assert_eq!(t.cat("/tmp/a.txt").unwrap(), b"HExy");
    assert_eq!(t.read(ap, 1), Err(E(Errno::EBADF)));
    let ro = t.open("/tmp/a.txt", 0, 0) as u64;
    assert_eq!(t.sys(77, &[ro, 0]), E(Errno::EINVAL));
    // O_TRUNC, O_EXCL.
    assert_eq!(
        t.open("/tmp/a.txt", O_CREAT | O_EXCL | O_WRONLY, 0o644),
        E(Errno::EEXIST)
    );
    let tr = t.open("/tmp/a.txt", O_WRONLY | O_TRUNC, 0);
    assert!(tr >= 0);
    assert_eq!(t.stat("/tmp/a.txt", false).unwrap().1, 0);
    // fallocate grows; fsync is fine on files, EINVAL on the console.
    assert_eq!(t.sys(285, &[tr as u64, 0, 0, 100]), 0);
    assert_eq!(t.stat("/tmp/a.txt", false).unwrap().1, 100);
    assert_eq!(t.sys(285, &[tr as u64, 1, 0, 1000]), 0);
    assert_eq!(t.stat("/tmp/a.txt", false).unwrap().1, 100, "KEEP_SIZE");
    assert_eq!(t.sys(285, &[tr as u64, 2, 0, 10]), E(Errno::EOPNOTSUPP));
    assert_eq!(t.sys(285, &[tr as u64, 0, 0, 0]), E(Errno::EINVAL));
    assert_eq!(t.sys(74, &[tr as u64]), 0);
    assert_eq!(t.sys(75, &[tr as u64]), 0);
    assert_eq!(t.sys(74, &[1]), E(Errno::EINVAL));
    assert_eq!(t.sys(74, &[77]), E(Errno::EBADF));
    // creat.
    let p = t.s(0, "/tmp/c");
    let cfd = t.sys(85, &[p, 0o600]);
    assert!(cfd >= 0);
    assert_eq!(t.read(cfd, 1), Err(E(Errno::EBADF)));
}

#[test]
fn tmpfs_directories_links_and_renames() {
    let mut t = T::new();
    assert_eq!(t.one(83, "/tmp/d", 0o755), 0);
    assert_eq!(t.one(83, "/tmp/d", 0o755), E(Errno::EEXIST));
    assert_eq!(t.one(83, "/tmp/d/", 0o755), E(Errno::EEXIST));
    assert_eq!(t.one(83, "/tmp/x/y", 0o755), E(Errno::ENOENT));
    assert_eq!(t.one(83, "/tmp/e/", 0o700), 0, "trailing slash on mkdir");
    assert_eq!(t.stat("/tmp/e", false).unwrap().0, 0o040700);
    assert_eq!(
        t.stat("/tmp", false).unwrap().2,
        4,
        "nlink counts subdirectories"
    );
    let fd = t.open("/tmp/d/f", O_CREAT | O_WRONLY, 0o644);
    assert_eq!(t.write(fd, b"data"), 4);
    // Hard links share the inode.
    assert_eq!(t.two(86, "/tmp/d/f", "/tmp/d/g"), 0);
    assert_eq!(t.two(86, "/tmp/d/f", "/tmp/d/g"), E(Errno::EEXIST));
    assert_eq!(t.two(86, "/tmp/d", "/tmp/d2"), E(Errno::EPERM));
    let (_, _, nlink, ino) = t.stat("/tmp/d/g", false).unwrap();
    assert_eq!((nlink, ino), (2, t.stat("/tmp/d/f", false).unwrap().3));
    // Symlinks, relative and absolute.
    assert_eq!(t.two(88, "d/f", "/tmp/rel"), 0);
    assert_eq!(t.two(88, "/tmp/d", "/tmp/abs"), 0);
    assert_eq!(t.two(88, "", "/tmp/empty"), E(Errno::ENOENT));
    assert_eq!(t.two(88, "x", "/tmp/rel"), E(Errno::EEXIST));
    assert_eq!(t.cat("/tmp/rel").unwrap(), b"data");
    assert_eq!(t.cat("/tmp/abs/g").unwrap(), b"data");
    assert_eq!(t.readlink("/tmp/rel").unwrap(), "d/f");
    // unlink and rmdir errors.
    assert_eq!(t.one(87, "/tmp/d", 0), E(Errno::EISDIR));
    assert_eq!(t.one(84, "/tmp/d", 0), E(Errno::ENOTEMPTY));
    assert_eq!(t.one(84, "/tmp/d/f", 0), E(Errno::ENOTDIR));
    assert_eq!(t.one(84, "/tmp/.", 0), E(Errno::EINVAL));
    assert_eq!(t.one(87, "/tmp/d/f/", 0), E(Errno::ENOTDIR));
    let p = t.s(0, "/tmp/d/g");
    assert_eq!(t.sys(263, &[FDCWD, p, 0x200]), E(Errno::ENOTDIR));
    assert_eq!(t.sys(263, &[FDCWD, p, 1]), E(Errno::EINVAL));
    assert_eq!(t.sys(263, &[FDCWD, p, 0]), 0);
    assert_eq!(t.stat("/tmp/d/f", false).unwrap().2, 1);
    // An unlinked open file stays readable.
    assert_eq!(t.one(87, "/tmp/d/f", 0), 0);
    assert_eq!(t.sys(8, &[fd as u64, 0, 0]), 0);
    assert_eq!(t.write(fd, b"DA"), 2);
    assert_eq!(t.sys(5, &[fd as u64, t.a + 0x5000]), 0);
    assert_eq!(t.one(84, "/tmp/d", 0), 0);
    assert_eq!(t.stat("/tmp/d", false), Err(E(Errno::ENOENT)));
    // rename: files over files, directories over empty directories.
    t.open("/tmp/r1", O_CREAT | O_WRONLY, 0o644);
    let r2 = t.open("/tmp/r2", O_CREAT | O_WRONLY, 0o644);
    t.write(r2, b"two");
    assert_eq!(t.two(82, "/tmp/r2", "/tmp/r1"), 0);
    assert_eq!(t.cat("/tmp/r1").unwrap(), b"two");
    assert_eq!(t.stat("/tmp/r2", false), Err(E(Errno::ENOENT)));
    assert_eq!(t.two(82, "/tmp/none", "/tmp/r1"), E(Errno::ENOENT));
    assert_eq!(t.one(83, "/tmp/D1", 0o755), 0);
    assert_eq!(t.one(83, "/tmp/D2", 0o755), 0);
    assert_eq!(t.two(82, "/tmp/r1", "/tmp/D1"), E(Errno::EISDIR));
    assert_eq!(t.two(82, "/tmp/D1", "/tmp/r1"), E(Errno::ENOTDIR));
    assert_eq!(t.two(82, "/tmp/D1", "/tmp/D1/sub"), E(Errno::EINVAL));
    t.open("/tmp/D2/inner", O_CREAT | O_WRONLY, 0o644);
    assert_eq!(t.two(82, "/tmp/D1", "/tmp/D2"), E(Errno::ENOTEMPTY));
    assert_eq!(t.two(82, "/tmp/D2", "/tmp/D1"), 0);
    assert_eq!(t.cat("/tmp/D1/inner").unwrap(), b"");
    assert_eq!(t.two(82, "/tmp/r1", "/tmp/r1"), 0);
    assert_eq!(t.two(82, "/tmp/r1/", "/tmp/r9"), E(Errno::ENOTDIR));
    assert_eq!(t.two(82, "/tmp", "/tmp2"), E(Errno::EBUSY));
    // renameat2: NOREPLACE and EXCHANGE.
    let rn2 = |t: &mut T, x: &str, y: &str, flags: u64| {
        let (p, q) = (t.s(3, x), t.s(4, y));
        t.sys(316, &[FDCWD, p, FDCWD, q, flags])
    };
    t.open("/tmp/x1", O_CREAT | O_WRONLY, 0o644);
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/r1", 1), E(Errno::EEXIST));
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/D1", 2), 0);
    assert_eq!(t.stat("/tmp/x1", false).unwrap().0 & 0o170000, 0o040000);
    assert_eq!(t.cat("/tmp/D1").map(|_| ()), Ok(()));
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/nope", 2), E(Errno::ENOENT));
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/y", 3), E(Errno::EINVAL));
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/y", 4), E(Errno::EINVAL));
    assert_eq!(rn2(&mut t, "/tmp/x1", "/tmp/y", 1), 0);
}

#[test]
fn cwd_dirfd_and_attributes() {
    let mut t = T::new();
    assert_eq!(t.one(80, "/tmp", 0), 0);
    assert_eq!(t.sys(79, &[t.a, 100]), 5);
    assert_eq!(t.b.peek(t.a, 5), b"/tmp\0");
    assert_eq!(t.one(83, "sub", 0o777), 0);
    assert_eq!(t.one(80, "sub", 0), 0);
    assert_eq!(t.one(80, "..", 0), 0);
    assert_eq!(t.one(80, "/etc/hosts", 0), E(Errno::ENOTDIR));
    assert_eq!(t.one(80, "/none", 0), E(Errno::ENOENT));
    let d = t.open("/tmp/sub", O_DIRECTORY, 0);
    let p = t.s(7, "f");
    let f = t.sys(257, &[d as u64, p, O_CREAT | O_WRONLY, 0o600]);
    assert!(f >= 0);
    assert_eq!(t.stat("/tmp/sub/f", false).unwrap().0, 0o100600);
    let file_fd = t.open("/etc/hosts", 0, 0);
    assert_eq!(t.sys(257, &[file_fd as u64, p, 0, 0]), E(Errno::ENOTDIR));
    assert_eq!(t.sys(257, &[55, p, 0, 0]), E(Errno::EBADF));
    assert_eq!(t.sys(81, &[d as u64]), 0);
    assert_eq!(t.sys(79, &[t.a, 100]), 9);
    assert_eq!(t.b.peek(t.a, 9), b"/tmp/sub\0");
    assert_eq!(t.sys(81, &[file_fd as u64]), E(Errno::ENOTDIR));
    // chmod, chown, utimensat, umask.
    assert_eq!(t.one(90, "f", 0o4755), 0);
    assert_eq!(t.stat("f", false).unwrap().0, 0o104755);
    assert_eq!(t.sys(91, &[f as u64, 0o640]), 0);
    assert_eq!(t.stat("f", false).unwrap().0, 0o100640);
    let p = t.s(0, "f");
    assert_eq!(t.sys(92, &[p, 1000, u32::MAX as u64]), 0);
    t.stat("f", false).unwrap();
    assert_eq!(
        u32::from_le_bytes(t.b.peek(t.a + 0x5000 + 28, 4).try_into().unwrap()),
        1000
    );
    let ts = t.a + 0x3000;
    t.b.poke(ts, &7u64.to_le_bytes());
    t.b.poke(ts + 8, &5u64.to_le_bytes());
    t.b.poke(ts + 16, &9u64.to_le_bytes());
    t.b.poke(ts + 24, &((1u64 << 30) - 2).to_le_bytes());
    assert_eq!(t.sys(280, &[FDCWD, p, ts, 0]), 0);
    t.stat("f", false).unwrap();
    assert_eq!(t.b.peek_u64(t.a + 0x5000 + 72), 7, "atime set");
    t.b.poke(ts + 8, &2_000_000_000u64.to_le_bytes());
    assert_eq!(t.sys(280, &[FDCWD, p, ts, 0]), E(Errno::EINVAL));
    assert_eq!(t.sys(280, &[FDCWD, p, 0, 0x8000]), E(Errno::EINVAL));
    assert_eq!(t.sys(95, &[0o077]), 0o022);
    assert_eq!(t.sys(95, &[0o022]), 0o077);
    // access.
    assert_eq!(t.one(21, "/etc/hosts", 4), 0);
    assert_eq!(t.one(21, "/etc/hosts", 2), E(Errno::EROFS));
    assert_eq!(
        t.one(21, "/tmp/sub/f", 1),
        E(Errno::EACCES),
        "0640: no x bit, even for root"
    );
    assert_eq!(t.one(21, "/tmp/sub/f", 6), 0);
    assert_eq!(t.one(21, "/nonexistent", 0), E(Errno::ENOENT));
    assert_eq!(t.one(21, "/etc/hosts", 8), E(Errno::EINVAL));
    assert_eq!(t.one(21, "/dev/null", 2), 0);
}

#[test]
fn statx_and_statfs() {
    let mut t = T::new();
    let p = t.s(0, "/etc/hosts");
    let buf = t.a + 0x1000;
    assert_eq!(t.sys(332, &[FDCWD, p, 0, 0x7ff, buf]), 0);
    let b = t.b.peek(buf, 256);
    assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), 0x7ff);
    assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()), 20);
    assert_eq!(u16::from_le_bytes(b[28..30].try_into().unwrap()), 0o100755);
    assert_eq!(
        t.sys(332, &[FDCWD, p, 0x6000, 0x7ff, buf]),
        E(Errno::EINVAL)
    );
    assert_eq!(
        t.sys(332, &[FDCWD, p, 0, 0x8000_0000, buf]),
        E(Errno::EINVAL)
    );
    let magic = |t: &mut T, path: &str| {
        let p = t.s(0, path);
        assert_eq!(t.sys(137, &[p, t.a + 0x1000]), 0, "{path}");
        t.b.peek_u64(t.a + 0x1000)
    };
    assert_eq!(magic(&mut t, "/tmp"), 0x0102_1994);
    assert_eq!(magic(&mut t, "/proc/self"), 0x9fa0);
    assert_eq!(magic(&mut t, "/sys"), 0x6265_6572);
    assert_eq!(magic(&mut t, "/etc"), 0x7371_7368);
    assert_eq!(t.b.peek_u64(t.a + 0x1000 + 80) & 1, 1, "ST_RDONLY");
    let (mut fds, buf) = ([0u8; 8], t.a + 0x10);
    assert_eq!(t.sys(22, &[buf]), 0);
    fds.copy_from_slice(&t.b.peek(buf, 8));
    let r = i32::from_le_bytes(fds[..4].try_into().unwrap());
    assert_eq!(t.sys(138, &[r as u64, t.a + 0x1000]), 0);
    assert_eq!(t.b.peek_u64(t.a + 0x1000), 0x5049_5045);
}

#[test]
fn tmpfs_size_limit_gives_enospc() {
    let elf = ElfBuilder::exec().build();
    let mut m = manifest(&["prog"], &[]);
    m.tmpfs.push(kiln_image::TmpfsMount {
        path: "/data".into(),
        size: 8192,
    });
    let img = image(&[Node::File("/bin/prog", &elf), Node::Dir("/srv")], &m);
    let mut fake = Fake::new(img);
    let (proc, ctx) = Process::boot(&mut fake).unwrap();
    let b = Booted { fake, proc, ctx };
    let mut t = T { b, a: 0 };
    t.a = t.b.scratch(8);
    let fd = t.open("/data/big", O_CREAT | O_RDWR, 0o644);
    assert!(fd >= 0);
    let buf = t.a;
    assert_eq!(t.sys(1, &[fd as u64, buf, 6000]), 6000);
    assert_eq!(t.sys(1, &[fd as u64, buf, 6000]), 2192, "what fits");
    assert_eq!(t.sys(1, &[fd as u64, buf, 10]), E(Errno::ENOSPC));
    // Growing makes a hole, which takes no space (as Linux).
    assert_eq!(t.sys(77, &[fd as u64, 100_000]), 0);
    assert_eq!(t.fstat_size_blocks(fd), (100_000, 16));
    assert_eq!(
        t.sys(1, &[fd as u64, buf, 10]),
        E(Errno::ENOSPC),
        "a third page"
    );
    assert_eq!(t.sys(77, &[fd as u64, 0]), 0);
    assert_eq!(t.fstat_size_blocks(fd), (0, 0));
    assert_eq!(t.sys(1, &[fd as u64, buf, 10]), 10, "space is given back");
    // fallocate takes all the pages it asks for or none.
    assert_eq!(t.sys(285, &[fd as u64, 0, 0, 2 * 4096]), E(Errno::ENOSPC));
    assert_eq!(t.fstat_size_blocks(fd), (8202, 8));
    assert_eq!(t.sys(77, &[fd as u64, 0]), 0);
    assert_eq!(t.sys(285, &[fd as u64, 0, 0, 2 * 4096]), 0);
    assert_eq!(t.fstat_size_blocks(fd), (8192, 16));
    assert_eq!(t.two(82, "/data/big", "/tmp/big"), E(Errno::EXDEV));
}

#[test]
fn dev_files() {
    let mut t = T::new();
    let null = t.open("/dev/null", O_RDWR, 0);
    assert_eq!(t.write(null, b"gone"), 4);
    assert_eq!(t.read(null, 10).unwrap(), b"");
    let zero = t.open("/dev/zero", 0, 0);
    t.b.poke(t.a + 0x4000, b"xxxx");
    assert_eq!(t.read(zero, 4).unwrap(), [0; 4]);
    let full = t.open("/dev/full", O_WRONLY, 0);
    assert_eq!(t.write(full, b"x"), E(Errno::ENOSPC));
    let ur = t.open("/dev/urandom", 0, 0);
    let r = t.read(ur, 16).unwrap();
    assert!(r.iter().any(|&b| b != 0));
    let tty = t.open("/dev/tty", O_RDWR, 0);
    assert_eq!(t.write(tty, b"to the tty\n"), 11);
    assert!(t.b.fake.console.out.ends_with(b"to the tty\n"));
    let so = t.open("/dev/stdout", O_WRONLY, 0);
    assert_eq!(t.write(so, b"out"), 3);
    let (mode, ..) = t.stat("/dev/null", false).unwrap();
    assert_eq!(mode, 0o020666);
    assert_eq!(t.readlink("/dev/stderr").unwrap(), "/proc/self/fd/2");
    let shm = t.open("/dev/shm/seg", O_CREAT | O_RDWR, 0o600);
    assert!(shm >= 0);
}

#[test]
fn proc_files_read_like_linux() {
    let mut t = T::new();
    assert_eq!(t.readlink("/proc/self/exe").unwrap(), "/bin/prog");
    assert_eq!(t.readlink("/proc/1/exe").unwrap(), "/bin/prog");
    assert_eq!(t.readlink("/proc/self").unwrap(), "1");
    assert_eq!(t.readlink("/proc/self/cwd").unwrap(), "/srv");
    assert_eq!(t.readlink("/proc/self/fd/1").unwrap(), "/dev/console");
    let h = t.open("/etc/hosts", 0, 0);
    assert_eq!(
        t.readlink(&format!("/proc/self/fd/{h}")).unwrap(),
        "/etc/hosts"
    );
    assert_eq!(
        t.cat(&format!("/proc/self/fd/{h}")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(t.readlink("/proc/self/fd/77"), Err(E(Errno::ENOENT)));
    let buf = t.a + 0x10;
    assert_eq!(t.sys(293, &[buf, 0]), 0);
    let r = i32::from_le_bytes(t.b.peek(buf, 4).try_into().unwrap());
    assert!(t
        .readlink(&format!("/proc/self/fd/{r}"))
        .unwrap()
        .starts_with("pipe:["));
    let fds = t.names("/proc/self/fd");
    assert!(fds.contains(&"0".to_string()) && fds.contains(&format!("{h}")));
    assert_eq!(t.cat("/proc/self/cmdline").unwrap(), b"prog\0-v\0");
    assert_eq!(t.cat("/proc/self/environ").unwrap(), b"HOME=/\0LANG=C\0");
    let maps = String::from_utf8(t.cat("/proc/self/maps").unwrap()).unwrap();
    assert!(
        maps.contains("r-xp 00000000 00:01 ") && maps.contains("/bin/prog"),
        "{maps}"
    );
    // File mappings name their file and the offset in it, as Linux.
    assert!(
        maps.lines()
            .any(|l| l.contains("rw-p 00002000 00:01 ") && l.ends_with(" /bin/prog")),
        "{maps}"
    );
    assert!(maps.contains("[stack]"), "{maps}");
    let status = String::from_utf8(t.cat("/proc/self/status").unwrap()).unwrap();
    assert!(
        status.starts_with("Name:\tprog\n") && status.contains("\nPid:\t1\n"),
        "{status}"
    );
    let stat = String::from_utf8(t.cat("/proc/self/stat").unwrap()).unwrap();
    assert!(stat.starts_with("1 (prog) R 0 1 1"));
    assert_eq!(stat.split_whitespace().count(), 52);
    assert_eq!(t.cat("/proc/self/cgroup").unwrap(), b"0::/\n");
    let mi = String::from_utf8(t.cat("/proc/self/mountinfo").unwrap()).unwrap();
    assert!(
        mi.contains(" / / ro - squashfs") && mi.contains(" /tmp rw,nosuid,nodev - tmpfs"),
        "{mi}"
    );
    let mem = String::from_utf8(t.cat("/proc/meminfo").unwrap()).unwrap();
    assert!(mem.starts_with("MemTotal:          65536 kB\n"), "{mem}");
    let cpu = String::from_utf8(t.cat("/proc/cpuinfo").unwrap()).unwrap();
    assert_eq!(cpu.matches("processor\t:").count(), 2);
    assert_eq!(t.cat("/proc/sys/net/core/somaxconn").unwrap(), b"128\n");
    assert_eq!(t.cat("/proc/sys/vm/overcommit_memory").unwrap(), b"1\n");
    assert_eq!(t.cat("/proc/sys/kernel/hostname").unwrap(), b"kiln\n");
    assert_eq!(t.cat("/proc/uptime").unwrap(), b"5.00 5.00\n");
    assert_eq!(t.cat("/sys/devices/system/cpu/online").unwrap(), b"0-1\n");
    assert_eq!(t.cat("/sys/devices/system/cpu/possible").unwrap(), b"0-1\n");
    assert_eq!(t.open("/proc/meminfo", O_WRONLY, 0), E(Errno::EACCES));
    assert_eq!(t.open("/proc/nothing", 0, 0), E(Errno::ENOENT));
    assert_eq!(t.one(83, "/proc/x", 0o755), E(Errno::EPERM));
}

#[test]
fn proc_memory_figures_count_resident_pages() {
    let mut t = T::new();
    let statm = |t: &mut T| -> Vec<u64> {
        let s = String::from_utf8(t.cat("/proc/self/statm").unwrap()).unwrap();
        assert!(s.ends_with('\n'));
        s.split_whitespace().map(|n| n.parse().unwrap()).collect()
    };
    statm(&mut t);
    let before = statm(&mut t);
    assert_eq!(before.len(), 7);
    assert!(before[0] > before[1] && before[1] > 0, "{before:?}");
    assert!(before[3] > 0, "text");
    // 16 pages, none touched yet, then 3 touched.
    let addr = t.sys(9, &[0, 16 * 4096, 3, 0x22, u64::MAX, 0]) as u64;
    let mid = statm(&mut t);
    assert_eq!(mid[0] - before[0], 16, "size");
    assert_eq!(mid[5] - before[5], 16, "data");
    assert_eq!(mid[1], before[1], "resident");
    for i in 0..3 {
        t.b.poke(addr + i * 5 * 4096, &[1]);
    }
    let after = statm(&mut t);
    assert_eq!(after[1] - mid[1], 3);
    // An inaccessible reservation is size only.
    t.sys(9, &[0, 1 << 30, 0, 0x22, u64::MAX, 0]);
    let reserved = statm(&mut t);
    assert_eq!(reserved[0] - after[0], (1 << 30) / 4096);
    assert_eq!(reserved[1], after[1]);
    // status and stat agree.
    let status = String::from_utf8(t.cat("/proc/self/status").unwrap()).unwrap();
    assert!(
        status.contains(&format!("\nVmRSS:\t{} kB\n", reserved[1] * 4)),
        "{status}"
    );
    assert!(status.contains(&format!("\nVmSize:\t{} kB\n", reserved[0] * 4)));
    let stat = String::from_utf8(t.cat("/proc/self/stat").unwrap()).unwrap();
    let f: Vec<&str> = stat.split_whitespace().collect();
    assert_eq!(f[22], format!("{}", reserved[0] * 4096), "vsize");
    assert_eq!(f[23], format!("{}", reserved[1]), "rss");
}

#[test]
fn dup_shares_position_and_flags_cloexec_is_per_descriptor() {
    let mut t = T::new();
    let fd = t.open("/etc/hosts", O_CLOEXEC, 0);
    assert_eq!(t.sys(72, &[fd as u64, 1]), 1, "F_GETFD");
    let d = t.sys(32, &[fd as u64]);
    assert_eq!(t.sys(72, &[d as u64, 1]), 0);
    assert_eq!(t.read(fd, 4).unwrap(), b"127.");
    assert_eq!(t.read(d, 4).unwrap(), b"0.0.", "the position is shared");
    assert_eq!(t.sys(72, &[fd as u64, 4, O_NONBLOCK]), 0);
    assert_eq!(t.sys(72, &[d as u64, 3]) as u64 & O_NONBLOCK, O_NONBLOCK);
    assert_eq!(t.sys(3, &[fd as u64]), 0);
    assert_eq!(t.read(d, 3).unwrap(), b"1 l");
    // dup2 onto itself, dup3 flags, F_DUPFD_CLOEXEC.
    assert_eq!(t.sys(33, &[d as u64, d as u64]), d);
    assert_eq!(t.sys(292, &[d as u64, d as u64, 0]), E(Errno::EINVAL));
    assert_eq!(t.sys(292, &[d as u64, 40, O_CLOEXEC]), 40);
    assert_eq!(t.sys(72, &[40, 1]), 1);
    assert_eq!(t.sys(72, &[d as u64, 1030, 20]), 20);
    // Locks are granted; F_GETLK says unlocked.
    let fl = t.a + 0x100;
    t.b.poke(fl, &[0u8; 32]);
    assert_eq!(t.sys(72, &[d as u64, 6, fl]), 0, "F_SETLK read lock");
    t.b.poke(fl, &1u16.to_le_bytes());
    assert_eq!(
        t.sys(72, &[d as u64, 6, fl]),
        E(Errno::EBADF),
        "write lock on a read-only fd"
    );
    assert_eq!(t.sys(72, &[d as u64, 5, fl]), 0);
    assert_eq!(t.b.peek(fl, 2), [2, 0]);
    t.b.poke(fl, &9u16.to_le_bytes());
    assert_eq!(t.sys(72, &[d as u64, 7, fl]), E(Errno::EINVAL));
    assert_eq!(t.sys(72, &[d as u64, 999]), E(Errno::EINVAL));
    assert_eq!(t.sys(73, &[d as u64, 2]), 0);
    assert_eq!(t.sys(73, &[d as u64, 99]), E(Errno::EINVAL));
    // close_range.
    assert_eq!(t.sys(436, &[20, 40, 4]), 0);
    assert_eq!(t.sys(72, &[20, 1]), 1);
    assert_eq!(t.sys(436, &[20, u32::MAX as u64, 0]), 0);
    assert_eq!(t.sys(72, &[20, 1]), E(Errno::EBADF));
    assert_eq!(t.sys(72, &[40, 1]), E(Errno::EBADF));
    assert_eq!(t.sys(436, &[5, 4, 0]), E(Errno::EINVAL));
}

#[test]
fn pipes_move_bytes_block_and_report_readiness() {
    let mut t = T::new();
    let buf = t.a + 0x10;
    assert_eq!(t.sys(293, &[buf, O_NONBLOCK | O_CLOEXEC]), 0);
    let r = i32::from_le_bytes(t.b.peek(buf, 4).try_into().unwrap()) as i64;
    let w = i32::from_le_bytes(t.b.peek(buf + 4, 4).try_into().unwrap()) as i64;
    assert_eq!(t.read(r, 10), Err(E(Errno::EAGAIN)));
    assert_eq!(t.write(w, b"ping"), 4);
    assert_eq!(t.read(r, 10).unwrap(), b"ping");
    assert_eq!(t.sys(8, &[r as u64, 0, 0]), E(Errno::ESPIPE));
    assert_eq!(t.sys(17, &[r as u64, buf, 1, 0]), E(Errno::ESPIPE));
    assert_eq!(t.write(r, b"x"), E(Errno::EBADF));
    assert_eq!(t.sys(72, &[w as u64, 1032]), 65536);
    assert_eq!(t.sys(72, &[w as u64, 1031, 5000]), 8192);
    // poll: nothing to read, writable.
    let pfd = t.a + 0x200;
    let mut ent = Vec::new();
    ent.extend_from_slice(&(r as i32).to_le_bytes());
    ent.extend_from_slice(&1u16.to_le_bytes());
    ent.extend_from_slice(&0u16.to_le_bytes());
    ent.extend_from_slice(&(w as i32).to_le_bytes());
    ent.extend_from_slice(&4u16.to_le_bytes());
    ent.extend_from_slice(&0u16.to_le_bytes());
    t.b.poke(pfd, &ent);
    assert_eq!(t.sys(7, &[pfd, 2, 0]), 1);
    assert_eq!(t.b.peek(pfd + 6, 2), [0, 0]);
    assert_eq!(t.b.peek(pfd + 14, 2), [4, 0]);
    // Only the read end, nothing there: block on any event.
    assert_eq!(
        t.b.call(7, &[pfd, 1, u64::MAX]).0,
        Flow::Block(WaitFor::Event { deadline: None })
    );
    t.write(w, b"data");
    assert_eq!(t.sys(7, &[pfd, 1, u64::MAX]), 1);
    assert_eq!(t.b.peek(pfd + 6, 2), [1, 0]);
    // select sees the same.
    let set = t.a + 0x300;
    t.b.poke(set, &(1u64 << r).to_le_bytes());
    assert_eq!(t.sys(23, &[r as u64 + 1, set, 0, 0, 0]), 1);
    assert_eq!(t.b.peek_u64(set), 1 << r);
    t.b.poke(set, &(1u64 << 60).to_le_bytes());
    assert_eq!(t.sys(23, &[61, set, 0, 0, 0]), E(Errno::EBADF));
    // A blocking read end waits for an event.
    assert_eq!(t.read(r, 100).unwrap(), b"data");
    assert_eq!(t.sys(72, &[r as u64, 4, 0]), 0);
    assert_eq!(
        t.b.call(0, &[r as u64, buf, 1]).0,
        Flow::Block(WaitFor::Event { deadline: None })
    );
    // Writer closed: EOF and POLLHUP; reader closed: EPIPE.
    assert_eq!(t.sys(3, &[w as u64]), 0);
    assert_eq!(t.read(r, 10).unwrap(), b"");
    t.b.poke(pfd, &ent[..8]);
    assert_eq!(t.sys(7, &[pfd, 1, 0]), 1);
    assert_eq!(t.b.peek(pfd + 6, 2), [0x10, 0]);
    assert_eq!(t.sys(22, &[buf]), 0);
    let r2 = i32::from_le_bytes(t.b.peek(buf, 4).try_into().unwrap()) as u64;
    let w2 = i32::from_le_bytes(t.b.peek(buf + 4, 4).try_into().unwrap()) as i64;
    assert_eq!(t.sys(3, &[r2]), 0);
    assert_eq!(t.write(w2, b"x"), E(Errno::EPIPE));
    assert_eq!(t.sys(22, &[0x10]), E(Errno::EFAULT));
    assert_eq!(t.sys(293, &[buf, 1]), E(Errno::EINVAL));
}

#[test]
fn sendfile_and_copy_file_range() {
    let mut t = T::new();
    let src = t.open("/etc/hosts", 0, 0);
    let dst = t.open("/tmp/copy", O_CREAT | O_RDWR, 0o644);
    assert_eq!(t.sys(40, &[dst as u64, src as u64, 0, 9]), 9);
    let off = t.a + 0x100;
    t.b.poke(off, &10u64.to_le_bytes());
    assert_eq!(t.sys(40, &[dst as u64, src as u64, off, 100]), 10);
    assert_eq!(t.b.peek_u64(off), 20);
    assert_eq!(t.cat("/tmp/copy").unwrap(), b"127.0.0.1localhost\n");
    assert_eq!(t.sys(40, &[src as u64, dst as u64, 0, 1]), E(Errno::EBADF));
    let out = t.open("/tmp/copy2", O_CREAT | O_WRONLY, 0o644);
    assert_eq!(
        t.sys(326, &[src as u64, 0, out as u64, 0, 100, 0]),
        11,
        "from the position 9"
    );
    assert_eq!(t.cat("/tmp/copy2").unwrap(), b" localhost\n"[..11].to_vec());
    assert_eq!(
        t.sys(326, &[src as u64, 0, out as u64, 0, 1, 1]),
        E(Errno::EINVAL)
    );
    assert_eq!(t.sys(326, &[src as u64, 0, 1, 0, 1, 0]), E(Errno::EINVAL));
    // Console output through sendfile.
    t.sys(8, &[src as u64, 0, 0]);
    assert_eq!(t.sys(40, &[1, src as u64, 0, 9]), 9);
    assert!(t.b.fake.console.out.ends_with(b"127.0.0.1"));
}

#[test]
fn file_mappings_private_and_read_only_shared() {
    let mut t = T::new();
    let fd = t.open("/etc/localtime", 0, 0) as u64;
    // musl maps /etc/localtime MAP_SHARED, PROT_READ.
    let addr = t.sys(9, &[0, 10, 1, 1, fd, 0]);
    assert!(addr > 0);
    assert_eq!(t.b.peek(addr as u64, 10), b"TZif2 data");
    assert_eq!(t.b.peek(addr as u64 + 10, 4), [0; 4]);
    assert_eq!(t.sys(9, &[0, 10, 3, 1, fd, 0]), E(Errno::EACCES));
    let p = t.sys(9, &[0, 4096, 3, 2, fd, 0]) as u64;
    t.b.poke(p, b"tz");
    assert_eq!(t.b.peek(p, 4), b"tzif");
    assert_eq!(
        t.cat("/etc/localtime").unwrap(),
        b"TZif2 data",
        "private copy"
    );
    let tf = t.open("/tmp/m", O_CREAT | O_RDWR, 0o644);
    t.write(tf, b"tmpfs bytes");
    let q = t.sys(9, &[0, 4096, 1, 2, tf as u64, 0]) as u64;
    assert_eq!(t.b.peek(q, 11), b"tmpfs bytes");
    assert_eq!(t.sys(9, &[0, 4096, 3, 1, tf as u64, 0]), E(Errno::ENODEV));
    let d = t.open("/etc", O_DIRECTORY, 0);
    assert_eq!(t.sys(9, &[0, 4096, 1, 2, d as u64, 0]), E(Errno::ENODEV));
    assert_eq!(t.sys(9, &[0, 4096, 1, 2, 99, 0]), E(Errno::EBADF));
    let wo = t.open("/tmp/m", O_WRONLY, 0);
    assert_eq!(t.sys(9, &[0, 4096, 1, 2, wo as u64, 0]), E(Errno::EACCES));
}

#[test]
fn missing_files_are_listed_at_exit() {
    let elf = ElfBuilder::exec().build();
    let img = image(
        &[Node::File("/bin/prog", &elf), Node::Dir("/srv")],
        &manifest(&["prog"], &[]),
    );
    let mut fake = Fake::new(img);
    let opts = BootOptions::from_cmdline("console=ttyS0 kiln.missing-files");
    assert!(opts.report_missing_files);
    let (proc, ctx) = Process::boot_with(&mut fake, &opts).unwrap();
    let mut t = T {
        b: Booted { fake, proc, ctx },
        a: 0,
    };
    t.a = t.b.scratch(8);
    assert_eq!(t.open("/etc/resolv.conf", 0, 0), E(Errno::ENOENT));
    assert_eq!(t.stat("conf.d/x", false), Err(E(Errno::ENOENT)));
    assert_eq!(t.one(21, "/etc/resolv.conf", 0), E(Errno::ENOENT));
    assert_eq!(t.b.call(231, &[3]).0, Flow::Exit(3));
    let out = String::from_utf8_lossy(&t.b.fake.console.out).into_owned();
    assert!(
        out.ends_with("kiln: missing files:\n/etc/resolv.conf\n/srv/conf.d/x\n"),
        "{out}"
    );
    assert!(!BootOptions::from_cmdline("quiet").report_missing_files);
}

#[test]
fn huge_offsets_make_sparse_files() {
    let mut t = T::new();
    let fd = t.open("/tmp/sparse", O_CREAT | O_RDWR, 0o644);
    let buf = t.a + 0x4000;
    t.b.poke(buf, b"end");
    // ftruncate and pwrite at 1 GiB in a VM of 64 MiB: a sparse file.
    assert_eq!(t.sys(77, &[fd as u64, 1 << 30]), 0);
    assert_eq!(t.fstat_size_blocks(fd), (1 << 30, 0));
    assert_eq!(t.sys(18, &[fd as u64, buf, 3, 1 << 30]), 3);
    assert_eq!(t.fstat_size_blocks(fd), ((1 << 30) + 3, 8));
    assert_eq!(t.sys(18, &[fd as u64, buf, 3, 1 << 40]), 3);
    assert_eq!(t.fstat_size_blocks(fd), ((1 << 40) + 3, 16));
    assert_eq!(t.sys(17, &[fd as u64, buf, 5, (1 << 30) - 2]), 5);
    assert_eq!(t.b.peek(buf, 5), b"\0\0end");
    assert_eq!(t.sys(17, &[fd as u64, buf, 3, 12345]), 3);
    assert_eq!(t.b.peek(buf, 3), [0; 3]);
    // SEEK_DATA and SEEK_HOLE know the holes, by page.
    assert_eq!(t.sys(8, &[fd as u64, 0, 3]), 1 << 30, "SEEK_DATA");
    assert_eq!(t.sys(8, &[fd as u64, 0, 4]), 0, "SEEK_HOLE");
    assert_eq!(t.sys(8, &[fd as u64, 1 << 30, 4]), (1 << 30) + 4096);
    assert_eq!(t.sys(8, &[fd as u64, (1 << 30) + 4096, 3]), 1 << 40);
    assert_eq!(t.sys(8, &[fd as u64, (1 << 40) + 1, 4]), (1 << 40) + 3);
    assert_eq!(t.sys(8, &[fd as u64, (1 << 40) + 3, 3]), E(Errno::ENXIO));
    // Reserving more than the mount holds is ENOSPC; sizes past Linux's
    // largest file are EFBIG.
    assert_eq!(t.sys(285, &[fd as u64, 0, 0, 1 << 40]), E(Errno::ENOSPC));
    assert_eq!(
        t.sys(18, &[fd as u64, buf, 1, u64::MAX >> 1]),
        E(Errno::EFBIG)
    );
    // A hole punched in the middle reads as zeros and gives its page back.
    assert_eq!(
        t.sys(285, &[fd as u64, 3, 1 << 30, 4096]),
        0,
        "PUNCH_HOLE|KEEP_SIZE"
    );
    assert_eq!(t.fstat_size_blocks(fd), ((1 << 40) + 3, 8));
    assert_eq!(t.sys(285, &[fd as u64, 2, 0, 4096]), E(Errno::EOPNOTSUPP));
    // Unlinking the last name with the file closed frees everything.
    assert_eq!(t.sys(3, &[fd as u64]), 0);
    assert_eq!(t.one(87, "/tmp/sparse", 0), 0);
}

#[test]
fn tmpfs_files_map_with_their_holes() {
    let mut t = T::new();
    let fd = t.open("/tmp/m", O_CREAT | O_RDWR, 0o644);
    let buf = t.a + 0x4000;
    t.b.poke(buf, b"first");
    assert_eq!(t.sys(18, &[fd as u64, buf, 5, 0]), 5);
    t.b.poke(buf, b"third");
    assert_eq!(t.sys(18, &[fd as u64, buf, 5, 2 * 4096]), 5);
    let addr = t.sys(9, &[0, 4 * 4096, 1, 2, fd as u64, 0]);
    assert!(addr > 0, "mmap: {addr}");
    let addr = addr as u64;
    assert_eq!(t.b.peek(addr, 5), b"first");
    assert_eq!(t.b.peek(addr + 4096, 4), [0; 4], "the hole");
    assert_eq!(t.b.peek(addr + 2 * 4096, 6), b"third\0");
    assert_eq!(t.b.peek(addr + 3 * 4096, 4), [0; 4], "past the end");
    // A mapping from an offset.
    let at = t.sys(9, &[0, 4096, 1, 2, fd as u64, 2 * 4096]) as u64;
    assert_eq!(t.b.peek(at, 5), b"third");
}
