//! How each traced call's arguments are printed: one kind per argument.

/// How one argument is printed. `usize` fields name another argument by
/// index (a length or count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `int`, signed decimal.
    Int,
    /// `long`/`off_t`, signed decimal.
    Long,
    /// `size_t`, unsigned decimal.
    Size,
    Hex,
    Ptr,
    Fd,
    /// A directory descriptor (`AT_FDCWD`).
    DirFd,
    Path,
    /// Input data of the length in argument `n`.
    InBuf(usize),
    /// Output data of the length the call returned (at most argument `n`).
    OutBuf(usize),
    /// Output string (getcwd): as long as the call returned, NUL dropped.
    OutStr,
    /// Input iovec array of the count in argument `n`.
    InIov(usize),
    /// Output iovec array (readv) of the count in argument `n`.
    OutIov(usize),
    OpenFlags,
    /// open flags without an access mode (pipe2, dup3): `0` when none.
    FdFlags,
    Mode,
    Prot,
    MapFlags,
    AtFlags,
    Access,
    Whence,
    SigHow,
    Signal,
    Clock,
    Domain,
    SockType,
    SockFlags,
    MsgFlags,
    Shut,
    Level,
    /// A socket option name, read with the level in argument 1.
    OptName,
    /// An option value of the length in argument `n` (an int shows as `[1]`).
    OptVal(usize),
    /// An output option value; its length is behind the pointer in argument `n`.
    OptValOut(usize),
    /// Input socket address of the length in argument `n`.
    InAddr(usize),
    /// Output socket address, its length behind the pointer in argument `n`.
    OutAddr(usize),
    /// `socklen_t *` (or any `int *`), read after the call.
    IntPtrOut,
    /// Two fds written by the call (pipe, socketpair).
    FdPair,
    Stat,
    /// pollfd array of the count in argument `n`.
    PollFds(usize),
    TsIn,
    TsOut,
    SigsetIn,
    SigsetOut,
    SigactIn,
    SigactOut,
    EpollOp,
    EpollEvIn,
    /// epoll_wait's output: as many events as the call returned.
    EpollEvsOut,
    MsgIn,
    MsgOut,
    Fcntl,
    Ioctl,
    FutexOp,
    CloneFlags,
    ArchPrctl,
    Rlimit,
}

impl Arg {
    /// Whether the argument is only meaningful after the call (strace
    /// prints it after `<... resumed>`).
    pub fn is_output(self) -> bool {
        matches!(
            self,
            Arg::OutBuf(_)
                | Arg::OutStr
                | Arg::OutIov(_)
                | Arg::OptValOut(_)
                | Arg::OutAddr(_)
                | Arg::IntPtrOut
                | Arg::FdPair
                | Arg::Stat
                | Arg::TsOut
                | Arg::SigsetOut
                | Arg::SigactOut
                | Arg::EpollEvsOut
                | Arg::MsgOut
        )
    }
}

/// How a call's result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Int,
    /// An address (mmap, brk).
    Hex,
}

/// The arguments of syscall `name`, if Kiln knows them; other calls
/// print their six registers in hex.
pub fn signature(name: &str) -> Option<(&'static [Arg], Ret)> {
    use Arg::*;
    let args: &'static [Arg] = match name {
        "read" => &[Fd, OutBuf(2), Size],
        "write" => &[Fd, InBuf(2), Size],
        "pread64" => &[Fd, OutBuf(2), Size, Long],
        "pwrite64" => &[Fd, InBuf(2), Size, Long],
        "readv" => &[Fd, OutIov(2), Int],
        "writev" => &[Fd, InIov(2), Int],
        "preadv" | "preadv2" => &[Fd, OutIov(2), Int, Long],
        "pwritev" | "pwritev2" => &[Fd, InIov(2), Int, Long],
        "open" => &[Path, OpenFlags, Mode],
        "creat" => &[Path, Mode],
        "openat" => &[DirFd, Path, OpenFlags, Mode],
        "close" | "fsync" | "fdatasync" | "fchdir" | "syncfs" => &[Fd],
        "stat" | "lstat" => &[Path, Stat],
        "fstat" => &[Fd, Stat],
        "newfstatat" => &[DirFd, Path, Stat, AtFlags],
        "statx" => &[DirFd, Path, AtFlags, Hex, Ptr],
        "poll" => &[PollFds(1), Size, Int],
        "ppoll" => &[PollFds(1), Size, TsIn, SigsetIn, Size],
        "lseek" => &[Fd, Long, Whence],
        "mmap" => &[Ptr, Size, Prot, MapFlags, Fd, Hex],
        "mprotect" => &[Ptr, Size, Prot],
        "munmap" => &[Ptr, Size],
        "mremap" => &[Ptr, Size, Size, Hex, Ptr],
        "madvise" => &[Ptr, Size, Int],
        "brk" => &[Ptr],
        "rt_sigaction" => &[Signal, SigactIn, SigactOut, Size],
        "rt_sigprocmask" => &[SigHow, SigsetIn, SigsetOut, Size],
        "rt_sigreturn" | "sched_yield" | "getpid" | "gettid" | "getppid" | "getuid" | "geteuid"
        | "getgid" | "getegid" | "pause" | "setsid" | "getpgrp" | "fork" | "vfork" => &[],
        "rt_sigsuspend" => &[SigsetIn, Size],
        "rt_sigpending" => &[SigsetOut, Size],
        "sigaltstack" => &[Ptr, Ptr],
        "ioctl" => &[Fd, Ioctl, Ptr],
        "access" => &[Path, Access],
        "faccessat" | "faccessat2" => &[DirFd, Path, Access, AtFlags],
        "pipe" => &[FdPair],
        "pipe2" => &[FdPair, FdFlags],
        "dup" => &[Fd],
        "dup2" => &[Fd, Fd],
        "dup3" => &[Fd, Fd, FdFlags],
        "nanosleep" => &[TsIn, TsOut],
        "clock_nanosleep" => &[Clock, Int, TsIn, TsOut],
        "clock_gettime" | "clock_getres" => &[Clock, TsOut],
        "socket" => &[Domain, SockType, Int],
        "socketpair" => &[Domain, SockType, Int, FdPair],
        "connect" | "bind" => &[Fd, InAddr(2), Size],
        "accept" => &[Fd, OutAddr(2), IntPtrOut],
        "accept4" => &[Fd, OutAddr(2), IntPtrOut, SockFlags],
        "getsockname" | "getpeername" => &[Fd, OutAddr(2), IntPtrOut],
        "listen" => &[Fd, Int],
        "shutdown" => &[Fd, Shut],
        "sendto" => &[Fd, InBuf(2), Size, MsgFlags, InAddr(5), Size],
        "recvfrom" => &[Fd, OutBuf(2), Size, MsgFlags, OutAddr(5), IntPtrOut],
        "sendmsg" => &[Fd, MsgIn, MsgFlags],
        "recvmsg" => &[Fd, MsgOut, MsgFlags],
        "setsockopt" => &[Fd, Level, OptName, OptVal(4), Size],
        "getsockopt" => &[Fd, Level, OptName, OptValOut(4), IntPtrOut],
        "clone" => &[CloneFlags, Ptr, Ptr, Ptr, Hex],
        "exit" | "exit_group" => &[Int],
        "wait4" => &[Int, Ptr, Hex, Ptr],
        "kill" | "tkill" => &[Int, Signal],
        "tgkill" => &[Int, Int, Signal],
        "fcntl" => &[Fd, Fcntl, Hex],
        "flock" => &[Fd, Int],
        "ftruncate" => &[Fd, Long],
        "truncate" => &[Path, Long],
        "getdents" | "getdents64" => &[Fd, Ptr, Size],
        "getcwd" => &[OutStr, Size],
        "chdir" | "rmdir" | "unlink" | "chroot" => &[Path],
        "mkdir" | "chmod" => &[Path, Mode],
        "mkdirat" | "fchmodat" => &[DirFd, Path, Mode],
        "fchmod" => &[Fd, Mode],
        "unlinkat" => &[DirFd, Path, AtFlags],
        "rename" | "link" | "symlink" => &[Path, Path],
        "renameat" | "renameat2" => &[DirFd, Path, DirFd, Path, Hex],
        "linkat" => &[DirFd, Path, DirFd, Path, AtFlags],
        "symlinkat" => &[Path, DirFd, Path],
        "readlink" => &[Path, OutBuf(2), Size],
        "readlinkat" => &[DirFd, Path, OutBuf(3), Size],
        "umask" => &[Mode],
        "futex" => &[Ptr, FutexOp, Int, Ptr, Ptr, Int],
        "set_tid_address" => &[Ptr],
        "set_robust_list" => &[Ptr, Size],
        "arch_prctl" => &[ArchPrctl, Hex],
        "epoll_create" => &[Int],
        "epoll_create1" => &[SockFlags],
        "epoll_ctl" => &[Fd, EpollOp, Fd, EpollEvIn],
        "epoll_wait" => &[Fd, EpollEvsOut, Int, Int],
        "epoll_pwait" => &[Fd, EpollEvsOut, Int, Int, SigsetIn, Size],
        "eventfd2" => &[Int, SockFlags],
        "timerfd_create" => &[Clock, SockFlags],
        "signalfd4" => &[Fd, SigsetIn, Size, SockFlags],
        "getrandom" => &[OutBuf(1), Size, Hex],
        "uname" | "sysinfo" | "times" => &[Ptr],
        "prlimit64" => &[Int, Rlimit, Ptr, Ptr],
        "getrlimit" | "setrlimit" => &[Rlimit, Ptr],
        "sendfile" => &[Fd, Fd, Ptr, Size],
        "execve" => &[Path, Ptr, Ptr],
        "gettimeofday" => &[Ptr, Ptr],
        "sched_getaffinity" | "sched_setaffinity" => &[Int, Size, Ptr],
        "prctl" => &[Int, Hex, Hex, Hex, Hex],
        _ => return None,
    };
    let ret = match name {
        "mmap" | "mremap" | "brk" => Ret::Hex,
        _ => Ret::Int,
    };
    Some((args, ret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_names_a_real_call_and_valid_indexes() {
        for nr in 0..=kiln_abi::sysno::MAX_NR as u64 {
            let Some(name) = kiln_abi::sysno::name(nr) else {
                continue;
            };
            let Some((args, _)) = signature(name) else {
                continue;
            };
            assert!(args.len() <= 6, "{name}");
            for a in args {
                if let Arg::InBuf(i)
                | Arg::OutBuf(i)
                | Arg::InIov(i)
                | Arg::OutIov(i)
                | Arg::OptVal(i)
                | Arg::OptValOut(i)
                | Arg::InAddr(i)
                | Arg::OutAddr(i)
                | Arg::PollFds(i) = *a
                {
                    assert!(i < 6, "{name}");
                }
            }
        }
        assert!(signature("read").is_some());
    }
}
