//! The one declarative syscall table: number, handler, support level and a
//! note. Dispatch, the console report of unimplemented calls and
//! `syscall/SYSCALLS.md` all come from it. Adding a syscall is one line
//! here plus its handler.

use crate::call::{Args, Call, Outcome};
use crate::errno::SysResult;
use crate::sys::{
    attr, dir, epoll, eventfd, fdops, io, mem, open, poll, proc, random, signal, socket, sockopt,
    stat, time, tty,
};
pub use crate::table_names::{MAX_NR, NAMES};
use alloc::format;
use alloc::string::String;

/// A syscall handler.
pub type Handler = fn(&mut Call<'_>, Args) -> SysResult<Outcome>;

/// How much of a syscall Kiln implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Linux semantics.
    Full,
    /// Works for the common cases; the text says what is missing.
    Partial(&'static str),
    /// Deliberately returns ENOSYS (quietly: programs handle it).
    Enosys,
}

/// One row of the table.
#[derive(Clone, Copy)]
pub struct Def {
    pub nr: u32,
    pub handler: Option<Handler>,
    pub support: Support,
    pub note: &'static str,
}

impl Def {
    /// The Linux name of this syscall.
    pub fn name(&self) -> &'static str {
        name(self.nr as u64)
    }
}

const fn full(nr: u32, h: Handler, note: &'static str) -> Def {
    Def {
        nr,
        handler: Some(h),
        support: Support::Full,
        note,
    }
}

const fn part(nr: u32, h: Handler, missing: &'static str) -> Def {
    Def {
        nr,
        handler: Some(h),
        support: Support::Partial(missing),
        note: "",
    }
}

const fn nosys(nr: u32, note: &'static str) -> Def {
    Def {
        nr,
        handler: None,
        support: Support::Enosys,
        note,
    }
}

/// The table, sorted by number.
pub static TABLE: &[Def] = &[
    full(0, io::read, ""),
    full(1, io::write, "EPIPE without SIGPIPE (no signal delivery yet)"),
    full(2, open::open, "O_TMPFILE is EOPNOTSUPP"),
    full(3, fdops::close, ""),
    full(4, stat::stat, ""),
    full(5, stat::fstat, ""),
    full(6, stat::lstat, ""),
    part(7, poll::poll, "no wake-up by signals"),
    full(8, io::lseek, "files have no holes: SEEK_HOLE is the end"),
    part(9, mem::mmap, "MAP_SHARED of files is read-only (PROT_WRITE: ENODEV on tmpfs, EACCES on the image); tmpfs and /proc files are copied at mmap time; MAP_HUGETLB ENOMEM"),
    full(10, mem::mprotect, "a range with a hole changes nothing (Linux changes the part before it); both ENOMEM"),
    full(11, mem::munmap, ""),
    full(12, mem::brk, "no RLIMIT_DATA check, no randomisation"),
    part(13, signal::rt_sigaction, "recorded; signals are not delivered yet"),
    part(14, signal::rt_sigprocmask, "recorded; signals are not delivered yet"),
    part(16, tty::ioctl, "FIONBIO, FIOCLEX, FIONCLEX; console: TCGETS, TCSETS*, TIOCGWINSZ; pipes: FIONREAD; others ENOTTY"),
    full(17, io::pread64, ""),
    full(18, io::pwrite64, ""),
    full(19, io::readv, ""),
    full(20, io::writev, ""),
    full(21, stat::access, "the program is root"),
    full(22, fdops::pipe, "64 KiB in memory"),
    part(23, poll::select, "no wake-up by signals"),
    full(24, proc::sched_yield, "one thread"),
    full(28, mem::madvise, "non-dropping advice is accepted without effect; DONTNEED on a copied file mapping reads back zeros"),
    full(32, fdops::dup, ""),
    full(33, fdops::dup2, ""),
    full(35, time::nanosleep, "rem is never written (no EINTR yet)"),
    full(39, proc::getpid, "always 1"),
    part(40, io::sendfile, "bytes taken from a stream input that the output refuses are lost"),
    full(41, socket::socket, "AF_UNIX, AF_INET, AF_INET6; SOCK_STREAM, SOCK_DGRAM; IPPROTO_MPTCP is EPROTONOSUPPORT as without MPTCP"),
    full(42, socket::connect, "blocking TCP connect waits for the handshake (SO_SNDTIMEO honoured); waits up to 3 s for a DHCP address"),
    full(43, socket::accept, ""),
    part(44, socket::sendto, "MSG_OOB EOPNOTSUPP; EPIPE without SIGPIPE"),
    part(45, socket::recvfrom, "MSG_OOB EINVAL; MSG_WAITALL waits for the bytes at once, up to the receive buffer"),
    part(46, socket::sendmsg, "ancillary data (SCM_RIGHTS, SCM_CREDENTIALS) EOPNOTSUPP; EPIPE without SIGPIPE"),
    part(47, socket::recvmsg, "no ancillary data (msg_controllen 0)"),
    full(48, socket::shutdown, ""),
    part(49, socket::bind, "AF_UNIX paths are names in memory: no socket node in the file system"),
    full(50, socket::listen, "backlog up to 128"),
    full(51, socket::getsockname, ""),
    full(52, socket::getpeername, ""),
    full(53, socket::socketpair, "AF_UNIX stream and datagram; SOCK_SEQPACKET ESOCKTNOSUPPORT"),
    part(54, sockopt::setsockopt, "SO_REUSEADDR/REUSEPORT/KEEPALIVE/RCVBUF/SNDBUF/LINGER/RCVTIMEO/SNDTIMEO, TCP_NODELAY/KEEPIDLE/KEEPINTVL/KEEPCNT, IPV6_V6ONLY; a few tuning options stored without effect; others ENOPROTOOPT"),
    part(55, sockopt::getsockopt, "as setsockopt, plus SO_ERROR/TYPE/DOMAIN/PROTOCOL/ACCEPTCONN/PEERCRED; TCP_INFO ENOPROTOOPT"),
    full(60, proc::exit, "one thread: ends the program"),
    full(63, proc::uname, "Linux 6.1.0-kiln x86_64, host name kiln"),
    part(72, fdops::fcntl, "locks always granted (one process), F_GETLK says F_UNLCK; no owners, leases, seals, notify, signals (EINVAL)"),
    full(73, fdops::flock, "one process: always granted"),
    full(74, attr::fsync, "memory needs no write-back"),
    full(75, attr::fsync, "memory needs no write-back"),
    full(76, attr::truncate, ""),
    full(77, attr::ftruncate, ""),
    full(78, dir::getdents, ""),
    full(79, dir::getcwd, "a directory renamed after chdir keeps its old name"),
    full(80, dir::chdir, ""),
    full(81, dir::fchdir, ""),
    full(82, dir::rename, ""),
    full(83, dir::mkdir, ""),
    full(84, dir::rmdir, ""),
    full(85, open::creat, ""),
    full(86, dir::link, ""),
    full(87, dir::unlink, ""),
    full(88, dir::symlink, ""),
    full(89, stat::readlink, ""),
    full(90, attr::chmod, ""),
    full(91, attr::fchmod, ""),
    full(92, attr::chown, "the program is root"),
    full(93, attr::fchown, "the program is root"),
    full(94, attr::lchown, "the program is root"),
    full(95, attr::umask, ""),
    full(96, time::gettimeofday, "time zone is UTC"),
    full(97, proc::getrlimit, ""),
    full(99, proc::sysinfo, "no load averages, no swap"),
    full(102, proc::getid, "root"),
    full(104, proc::getid, "root"),
    full(107, proc::getid, "root"),
    full(108, proc::getid, "root"),
    full(110, proc::getppid, "0"),
    part(131, signal::sigaltstack, "recorded; signals are not delivered yet"),
    full(137, stat::statfs, "the image reports squashfs's magic, read-only"),
    full(138, stat::fstatfs, "the image reports squashfs's magic, read-only"),
    part(158, proc::arch_prctl, "ARCH_SET_FS and ARCH_GET_FS; other codes EINVAL"),
    part(160, proc::setrlimit, "recorded; only RLIMIT_NOFILE is enforced"),
    full(162, attr::sync, ""),
    full(186, proc::gettid, "one thread, tid 1"),
    full(201, time::time, ""),
    full(204, proc::sched_getaffinity, "every CPU"),
    full(213, epoll::epoll_create, ""),
    full(217, dir::getdents64, ""),
    part(218, proc::set_tid_address, "recorded; used once threads exist"),
    full(228, time::clock_gettime, "CPU-time clocks read the monotonic clock"),
    full(229, time::clock_getres, ""),
    full(230, time::clock_nanosleep, ""),
    full(231, proc::exit_group, ""),
    full(232, epoll::epoll_wait, ""),
    full(233, epoll::epoll_ctl, "EPOLLWAKEUP ignored; EPOLLEXCLUSIVE accepted (one process)"),
    full(235, attr::utimes, ""),
    full(257, open::openat, "O_TMPFILE is EOPNOTSUPP"),
    full(258, dir::mkdirat, ""),
    full(260, attr::fchownat, "the program is root"),
    full(261, attr::futimesat, ""),
    full(262, stat::newfstatat, ""),
    full(263, dir::unlinkat, ""),
    full(264, dir::renameat, ""),
    full(265, dir::linkat, ""),
    full(266, dir::symlinkat, ""),
    full(267, stat::readlinkat, ""),
    full(268, attr::fchmodat, ""),
    full(269, stat::faccessat, "the program is root"),
    part(270, poll::pselect6, "the signal mask has no effect yet"),
    part(271, poll::ppoll, "the signal mask has no effect yet"),
    part(273, proc::set_robust_list, "recorded; used once threads exist"),
    nosys(275, "programs fall back to read/write"),
    nosys(276, "programs fall back to read/write"),
    full(280, attr::utimensat, "times before the epoch are stored as the epoch"),
    part(281, epoll::epoll_pwait, "the signal mask has no effect yet"),
    full(284, eventfd::eventfd, ""),
    part(285, attr::fallocate, "mode 0 and FALLOC_FL_KEEP_SIZE; punch hole, collapse, zero and insert range EOPNOTSUPP"),
    full(288, socket::accept4, ""),
    full(290, eventfd::eventfd2, ""),
    full(291, epoll::epoll_create1, ""),
    full(292, fdops::dup3, ""),
    full(293, fdops::pipe2, "O_DIRECT accepted, the pipe stays a byte stream"),
    full(295, io::preadv, ""),
    full(296, io::pwritev, ""),
    part(299, socket::recvmmsg, "after the first message only what is already there (as MSG_WAITFORONE); the timeout is not waited on"),
    part(302, proc::prlimit64, "own process only; only RLIMIT_NOFILE is enforced"),
    full(306, attr::syncfs, ""),
    full(307, socket::sendmmsg, ""),
    part(316, dir::renameat2, "RENAME_WHITEOUT is EINVAL"),
    full(318, random::getrandom, "entropy is always ready"),
    part(326, io::copy_file_range, "a plain copy; no reflinks"),
    full(327, io::preadv2, "RWF_HIPRI/DSYNC/SYNC accepted without effect"),
    full(328, io::pwritev2, "RWF_HIPRI/DSYNC/SYNC accepted without effect"),
    full(332, stat::statx, "basic fields only (no birth time, attributes, mount id)"),
    nosys(334, "restartable sequences: glibc and others fall back when it is absent"),
    full(436, fdops::close_range, "CLOSE_RANGE_UNSHARE is a no-op with one process"),
    part(437, open::openat2, "RESOLVE_* flags are EINVAL"),
    full(439, stat::faccessat2, "the program is root"),
    part(441, epoll::epoll_pwait2, "the signal mask has no effect yet"),
];

/// The Linux name of syscall `nr`, or "unknown".
pub fn name(nr: u64) -> &'static str {
    usize::try_from(nr)
        .ok()
        .and_then(|n| NAMES.get(n).copied().flatten())
        .unwrap_or("unknown")
}

/// The row for `nr`, if the table has one.
pub fn lookup(nr: u64) -> Option<&'static Def> {
    let nr = u32::try_from(nr).ok()?;
    TABLE
        .binary_search_by_key(&nr, |d| d.nr)
        .ok()
        .map(|i| &TABLE[i])
}

/// `syscall/SYSCALLS.md`, generated from the table.
pub fn syscalls_md() -> String {
    let mut s = String::from(
        "# Kiln system calls (x86_64)\n\n\
         Generated from `syscall/src/table.rs` by `kiln_syscall::table::syscalls_md()`; do not edit.\n\
         Regenerate with `KILN_BLESS=1 cargo test -p kiln-syscall`.\n\n\
         Status: **full** (Linux semantics), **partial** (what is missing is said), \
         **ENOSYS** (deliberate, quiet), **-** (not implemented: returns ENOSYS and the console \
         names it once).\n\n",
    );
    let count = |f: fn(&Support) -> bool| TABLE.iter().filter(|d| f(&d.support)).count();
    s += &format!(
        "{} full, {} partial, {} deliberate ENOSYS.\n\n| nr | name | status | notes |\n|---:|---|---|---|\n",
        count(|s| *s == Support::Full),
        count(|s| matches!(s, Support::Partial(_))),
        count(|s| *s == Support::Enosys)
    );
    for (nr, n) in NAMES.iter().enumerate() {
        let Some(n) = n else { continue };
        let (status, note) = match lookup(nr as u64) {
            Some(d) => match d.support {
                Support::Full => (String::from("full"), String::from(d.note)),
                Support::Partial(missing) if d.note.is_empty() => {
                    (String::from("partial"), String::from(missing))
                }
                Support::Partial(missing) => {
                    (String::from("partial"), format!("{missing}; {}", d.note))
                }
                Support::Enosys => (String::from("ENOSYS"), String::from(d.note)),
            },
            None => (String::from("-"), String::new()),
        };
        s += &format!("| {nr} | {n} | {status} | {note} |\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_named() {
        for w in TABLE.windows(2) {
            assert!(w[0].nr < w[1].nr, "table out of order at {}", w[1].nr);
        }
        for d in TABLE {
            assert_ne!(d.name(), "unknown", "nr {} has no name", d.nr);
            assert_eq!(
                d.handler.is_none(),
                d.support == Support::Enosys,
                "{}",
                d.name()
            );
        }
        assert_eq!(name(1), "write");
        assert_eq!(name(334), "rseq");
        assert_eq!(name(462), "mseal");
        assert_eq!(name(400), "unknown");
        assert_eq!(name(u64::MAX), "unknown");
        assert_eq!(NAMES.len(), MAX_NR + 1);
    }

    #[test]
    fn syscalls_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/SYSCALLS.md");
        let want = syscalls_md();
        if std::env::var_os("KILN_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "syscall/SYSCALLS.md is stale; regenerate it with `KILN_BLESS=1 cargo test -p kiln-syscall`"
        );
    }
}
