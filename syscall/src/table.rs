//! The one declarative syscall table: number, handler, support level and a
//! note. Dispatch, the console report of unimplemented calls and
//! `syscall/SYSCALLS.md` all come from it. Adding a syscall is one line
//! here plus its handler.

use crate::call::{Args, Call, Outcome};
use crate::sys::{
    advice, attr, cred, dir, epoll, eventfd, fdops, futex, io, kill, mem, membarrier, open, poll,
    proc, random, remap, rusage, session, signal, signalfd, socket, sockopt, stat, thread, time,
    timer, timerfd, tty,
};
use alloc::format;
use alloc::string::String;
use kiln_abi::errno::SysResult;
pub use kiln_abi::sysno::{MAX_NR, NAMES};

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
    full(1, io::write, "EPIPE raises SIGPIPE"),
    full(2, open::open, "O_TMPFILE is EOPNOTSUPP"),
    full(3, fdops::close, ""),
    full(4, stat::stat, ""),
    full(5, stat::fstat, ""),
    full(6, stat::lstat, ""),
    full(7, poll::poll, ""),
    full(8, io::lseek, "SEEK_DATA/SEEK_HOLE: tmpfs by page; image files have no holes"),
    part(9, mem::mmap, "MAP_SHARED of files is read-only (PROT_WRITE: ENODEV on tmpfs, EACCES on the image); tmpfs and /proc files are copied at mmap time; MAP_HUGETLB ENOMEM"),
    full(10, mem::mprotect, "a range with a hole changes nothing (Linux changes the part before it); both ENOMEM"),
    full(11, mem::munmap, ""),
    full(12, mem::brk, "no RLIMIT_DATA check, no randomisation"),
    full(13, signal::rt_sigaction, "no SA_RESTORER: the frame cannot be built and SIGSEGV follows, as Linux"),
    full(14, signal::rt_sigprocmask, "per thread"),
    full(15, signal::rt_sigreturn, ""),
    part(16, tty::ioctl, "FIONBIO, FIOCLEX, FIONCLEX; console: TCGETS, TCSETS*, TIOCGWINSZ; pipes and sockets: FIONREAD; sockets: SIOCGIFCONF, SIOCGIF{NAME,INDEX,FLAGS,MTU,HWADDR,TXQLEN,METRIC,MAP} (any socket), SIOCGIF{ADDR,NETMASK,BRDADDR,DSTADDR} (AF_INET), SIOCSIF* EPERM (the VM's network is fixed: as root without CAP_NET_ADMIN); others ENOTTY"),
    full(17, io::pread64, ""),
    full(18, io::pwrite64, ""),
    full(19, io::readv, ""),
    full(20, io::writev, ""),
    part(21, stat::access, "answers as for root: file modes are not checked against the credentials"),
    full(22, fdops::pipe, "64 KiB in memory"),
    full(23, poll::select, ""),
    full(24, thread::sched_yield, ""),
    part(25, remap::mremap, "mmap mappings and program segments only (the heap, stack, [vvar] and [vdso]: EFAULT); old_size 0 EINVAL; DONTUNMAP on anonymous memory only"),
    full(26, mem::msync, "nothing to write back: shared file mappings are read-only"),
    full(27, mem::mincore, ""),
    full(28, mem::madvise, "non-dropping advice is accepted without effect; DONTNEED on a copied file mapping reads back zeros"),
    full(32, fdops::dup, ""),
    full(33, fdops::dup2, ""),
    full(34, signal::pause, ""),
    full(35, time::nanosleep, ""),
    full(36, timer::getitimer, ""),
    full(37, timer::alarm, ""),
    part(38, timer::setitimer, "ITIMER_VIRTUAL and ITIMER_PROF count wall time (no CPU-time accounting)"),
    full(39, proc::getpid, "always 1"),
    part(40, io::sendfile, "bytes taken from a stream input that the output refuses are lost"),
    full(41, socket::socket, "AF_UNIX, AF_INET, AF_INET6 (SOCK_STREAM, SOCK_DGRAM); AF_NETLINK NETLINK_ROUTE (other protocols EPROTONOSUPPORT): link, address and route dumps, changes EPERM, no events; IPPROTO_MPTCP is EPROTONOSUPPORT as without MPTCP"),
    full(42, socket::connect, "blocking TCP connect waits for the handshake (SO_SNDTIMEO honoured); waits up to 3 s for a DHCP address"),
    full(43, socket::accept, ""),
    part(44, socket::sendto, "MSG_OOB EOPNOTSUPP"),
    part(45, socket::recvfrom, "MSG_OOB EINVAL; MSG_WAITALL waits for the bytes at once, up to the receive buffer"),
    part(46, socket::sendmsg, "socket-level ancillary data (SCM_RIGHTS, SCM_CREDENTIALS) EOPNOTSUPP; IP_PKTINFO/IPV6_PKTINFO accepted (the stack picks the source address)"),
    part(47, socket::recvmsg, "the only ancillary data is IP_PKTINFO/IPV6_PKTINFO on UDP sockets that asked for it"),
    full(48, socket::shutdown, ""),
    part(49, socket::bind, "AF_UNIX paths are names in memory: no socket node in the file system"),
    full(50, socket::listen, "backlog up to 128"),
    full(51, socket::getsockname, ""),
    full(52, socket::getpeername, ""),
    full(53, socket::socketpair, "AF_UNIX stream and datagram; SOCK_SEQPACKET ESOCKTNOSUPPORT"),
    part(54, sockopt::setsockopt, "SO_REUSEADDR/REUSEPORT/KEEPALIVE/RCVBUF/SNDBUF/RCVBUFFORCE/SNDBUFFORCE/LINGER/RCVTIMEO/SNDTIMEO, TCP_NODELAY/KEEPIDLE/KEEPINTVL/KEEPCNT, IPV6_V6ONLY, IP_PKTINFO, IPV6_RECVPKTINFO, SOL_NETLINK (memberships, EXT_ACK, CAP_ACK, GET_STRICT_CHK...); a few tuning options stored without effect; others ENOPROTOOPT"),
    part(55, sockopt::getsockopt, "as setsockopt, plus SO_ERROR/TYPE/DOMAIN/PROTOCOL/ACCEPTCONN/PEERCRED, NETLINK_LIST_MEMBERSHIPS; TCP_INFO ENOPROTOOPT"),
    part(56, thread::clone, "threads only (CLONE_VM|CLONE_THREAD|...); a new process is ENOSYS, as fork; threads need CLONE_FS|CLONE_FILES; namespaces, CLONE_VFORK and CLONE_PIDFD with threads are EINVAL"),
    full(57, thread::fork, "ENOSYS: a program runs as one process; said once on the console, with the option that keeps a known server (nginx, dnsmasq, redis...) in one process. ENOSYS, not EAGAIN: permanent (as fork without an MMU), nothing retries it"),
    full(58, thread::fork, "ENOSYS, as fork"),
    full(60, thread::exit, "robust list and clear_child_tid handled; the last thread ends the program"),
    full(61, session::wait4, "no children: ECHILD"),
    full(62, kill::kill, "pid 1 and 0 only (one process; pid 1 is not shielded like init)"),
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
    part(92, attr::chown, "allowed whatever the credentials (no CAP_CHOWN check)"),
    part(93, attr::fchown, "allowed whatever the credentials (no CAP_CHOWN check)"),
    part(94, attr::lchown, "allowed whatever the credentials (no CAP_CHOWN check)"),
    full(95, attr::umask, ""),
    full(96, time::gettimeofday, "time zone is UTC"),
    full(97, proc::getrlimit, ""),
    part(98, rusage::getrusage, "CPU time estimated (alive minus parked), all user time; other counters 0"),
    full(99, proc::sysinfo, "no load averages, no swap"),
    part(100, rusage::times, "CPU time estimated (alive minus parked), all user time"),
    full(102, cred::getuid, ""),
    full(104, cred::getgid, ""),
    part(105, cred::setuid, "ids are kept and reported; file permissions are not checked against them"),
    part(106, cred::setgid, "ids are kept and reported; file permissions are not checked against them"),
    full(107, cred::geteuid, ""),
    full(108, cred::getegid, ""),
    full(109, session::setpgid, "the program leads its session: EPERM"),
    full(110, proc::getppid, "0"),
    full(111, session::getpgrp, "1"),
    full(112, session::setsid, "the program leads its process group: EPERM"),
    part(113, cred::setreuid, "ids are kept and reported; file permissions are not checked against them"),
    part(114, cred::setregid, "ids are kept and reported; file permissions are not checked against them"),
    full(115, cred::getgroups, ""),
    part(116, cred::setgroups, "ids are kept and reported; file permissions are not checked against them"),
    part(117, cred::setresuid, "ids are kept and reported; file permissions are not checked against them"),
    full(118, cred::getresuid, ""),
    part(119, cred::setresgid, "ids are kept and reported; file permissions are not checked against them"),
    full(120, cred::getresgid, ""),
    full(121, session::getpgid, ""),
    part(122, cred::setfsuid, "ids are kept and reported; file permissions are not checked against them"),
    part(123, cred::setfsgid, "ids are kept and reported; file permissions are not checked against them"),
    full(124, session::getsid, ""),
    full(125, cred::capget, "root starts with every capability; leaving root drops them (unless PR_SET_KEEPCAPS), as Linux without file capabilities"),
    full(126, cred::capset, "own process; the sets shrink, never grow; capabilities are reported, not checked by file operations"),
    full(127, signal::rt_sigpending, ""),
    full(128, signal::rt_sigtimedwait, ""),
    full(129, signal::rt_sigqueueinfo, "own process only"),
    full(130, signal::rt_sigsuspend, ""),
    full(131, signal::sigaltstack, "per thread"),
    part(135, proc::personality, "PER_LINUX with or without ADDR_NO_RANDOMIZE; other personas EINVAL"),
    full(137, stat::statfs, "the image reports squashfs's magic, read-only"),
    full(138, stat::fstatfs, "the image reports squashfs's magic, read-only"),
    full(140, thread::getpriority, ""),
    part(141, thread::setpriority, "nice values are recorded; every thread gets the same CPU share"),
    full(142, thread::sched_setparam, ""),
    full(143, thread::sched_getparam, ""),
    part(144, thread::sched_setscheduler, "SCHED_OTHER/BATCH/IDLE recorded, one time-sharing scheduler; SCHED_FIFO/RR EPERM"),
    full(145, thread::sched_getscheduler, ""),
    full(146, thread::sched_get_priority_max, ""),
    full(147, thread::sched_get_priority_min, ""),
    full(148, thread::sched_rr_get_interval, "the 10 ms preemption tick"),
    full(149, mem::mlock, "nothing swaps; the pages are brought in"),
    full(150, mem::munlock, ""),
    full(151, mem::mlockall, "no RLIMIT_MEMLOCK check (the program is root)"),
    full(152, mem::munlockall, ""),
    part(157, thread::prctl, "names, dumpable, no_new_privs, pdeathsig (never sent), capbset, timer slack, THP, tid address; others (PR_SET_VMA too) EINVAL"),
    part(158, proc::arch_prctl, "ARCH_SET_FS and ARCH_GET_FS; other codes EINVAL"),
    part(160, proc::setrlimit, "recorded; only RLIMIT_NOFILE is enforced"),
    full(162, attr::sync, ""),
    full(186, thread::gettid, ""),
    full(187, advice::readahead, "a hint; no effect"),
    full(200, kill::tkill, ""),
    full(201, time::time, ""),
    part(202, futex::futex, "PI operations ENOSYS"),
    full(203, thread::sched_setaffinity, "accepted; threads may run on any CPU"),
    full(204, thread::sched_getaffinity, "every CPU"),
    full(213, epoll::epoll_create, ""),
    full(217, dir::getdents64, ""),
    full(218, thread::set_tid_address, ""),
    full(221, advice::fadvise64, "a hint; no effect"),
    part(222, timer::timer_create, "CPU-time clocks count wall time"),
    full(223, timer::timer_settime, "absolute realtime settings are fixed against the monotonic clock when set"),
    full(224, timer::timer_gettime, ""),
    full(225, timer::timer_getoverrun, ""),
    full(226, timer::timer_delete, ""),
    part(228, time::clock_gettime, "CPU-time clocks are estimates (time alive minus time parked)"),
    full(229, time::clock_getres, ""),
    full(230, time::clock_nanosleep, ""),
    full(231, proc::exit_group, ""),
    full(232, epoll::epoll_wait, ""),
    full(233, epoll::epoll_ctl, "EPOLLWAKEUP ignored; EPOLLEXCLUSIVE accepted (one process)"),
    full(234, kill::tgkill, ""),
    full(235, attr::utimes, ""),
    full(247, session::waitid, "no children: ECHILD"),
    nosys(253, "no file change notification: libuv and others report it or poll"),
    nosys(254, "no file change notification: libuv and others report it or poll"),
    nosys(255, "no file change notification"),
    full(257, open::openat, "O_TMPFILE is EOPNOTSUPP"),
    full(258, dir::mkdirat, ""),
    part(260, attr::fchownat, "allowed whatever the credentials (no CAP_CHOWN check)"),
    full(261, attr::futimesat, ""),
    full(262, stat::newfstatat, ""),
    full(263, dir::unlinkat, ""),
    full(264, dir::renameat, ""),
    full(265, dir::linkat, ""),
    full(266, dir::symlinkat, ""),
    full(267, stat::readlinkat, ""),
    full(268, attr::fchmodat, ""),
    part(269, stat::faccessat, "answers as for root: file modes are not checked against the credentials"),
    full(270, poll::pselect6, ""),
    full(271, poll::ppoll, ""),
    full(273, thread::set_robust_list, "walked at thread exit"),
    full(274, thread::get_robust_list, ""),
    nosys(275, "programs fall back to read/write"),
    nosys(276, "programs fall back to read/write"),
    full(280, attr::utimensat, "times before the epoch are stored as the epoch"),
    full(281, epoll::epoll_pwait, ""),
    full(282, signalfd::signalfd, ""),
    full(283, timerfd::timerfd_create, ""),
    full(284, eventfd::eventfd, ""),
    part(285, attr::fallocate, "mode 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE; collapse, zero and insert range EOPNOTSUPP"),
    part(286, timerfd::timerfd_settime, "TFD_TIMER_CANCEL_ON_SET never cancels (the wall clock is not set inside the VM)"),
    full(287, timerfd::timerfd_gettime, ""),
    full(288, socket::accept4, ""),
    full(289, signalfd::signalfd4, ""),
    full(290, eventfd::eventfd2, ""),
    full(291, epoll::epoll_create1, ""),
    full(292, fdops::dup3, ""),
    full(293, fdops::pipe2, "O_DIRECT accepted, the pipe stays a byte stream"),
    nosys(294, "no file change notification: libuv and others report it or poll"),
    full(295, io::preadv, ""),
    full(296, io::pwritev, ""),
    full(297, signal::rt_tgsigqueueinfo, "own threads only"),
    part(299, socket::recvmmsg, "after the first message only what is already there (as MSG_WAITFORONE); the timeout is not waited on"),
    part(302, proc::prlimit64, "own process only; only RLIMIT_NOFILE is enforced"),
    full(306, attr::syncfs, ""),
    full(307, socket::sendmmsg, ""),
    part(309, thread::getcpu, "always CPU 0, node 0"),
    part(316, dir::renameat2, "RENAME_WHITEOUT is EINVAL"),
    full(318, random::getrandom, "entropy is always ready"),
    full(324, membarrier::membarrier, "one CPU: every barrier holds once the call is made; no RSEQ commands"),
    full(325, mem::mlock2, ""),
    part(326, io::copy_file_range, "a plain copy; no reflinks"),
    full(327, io::preadv2, "RWF_HIPRI/DSYNC/SYNC accepted without effect"),
    full(328, io::pwritev2, "RWF_HIPRI/DSYNC/SYNC accepted without effect"),
    nosys(329, "no memory protection keys (as Linux built without them): node and V8 go on without"),
    nosys(330, "no memory protection keys"),
    nosys(331, "no memory protection keys"),
    full(332, stat::statx, "basic fields only (no birth time, attributes, mount id)"),
    nosys(334, "restartable sequences: glibc and others fall back when it is absent"),
    nosys(425, "no io_uring: libuv and liburing users fall back to epoll and threads"),
    nosys(426, "no io_uring"),
    nosys(427, "no io_uring"),
    part(435, thread::clone3, "as clone; set_tid and CLONE_INTO_CGROUP are EINVAL"),
    full(436, fdops::close_range, "CLOSE_RANGE_UNSHARE is a no-op with one process"),
    part(437, open::openat2, "RESOLVE_* flags are EINVAL"),
    part(439, stat::faccessat2, "answers as for root: file modes are not checked against the credentials"),
    full(441, epoll::epoll_pwait2, ""),
];

/// The Linux name of syscall `nr`, or "unknown".
pub fn name(nr: u64) -> &'static str {
    usize::try_from(nr)
        .ok()
        .and_then(|n| NAMES.get(n).copied().flatten())
        .unwrap_or("unknown")
}

/// Whether call `nr` reports readiness (poll, select, the epoll waits):
/// the kernel lets the network stack take the frames that wait before such
/// a call looks, so that one call sees every connection with work.
pub fn reports_readiness(nr: u64) -> bool {
    // poll, select, epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2
    matches!(nr, 7 | 23 | 232 | 270 | 271 | 281 | 441)
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
    fn the_readiness_calls_are_the_poll_select_and_epoll_waits() {
        let names: alloc::vec::Vec<&str> = (0..=MAX_NR as u64)
            .filter(|&nr| reports_readiness(nr))
            .map(name)
            .collect();
        assert_eq!(
            names,
            [
                "poll",
                "select",
                "epoll_wait",
                "pselect6",
                "ppoll",
                "epoll_pwait",
                "epoll_pwait2"
            ]
        );
    }

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
