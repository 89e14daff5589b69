//! The one declarative syscall table: number, handler, support level and a
//! note. Dispatch, the console report of unimplemented calls and
//! `syscall/SYSCALLS.md` all come from it. Adding a syscall is one line
//! here plus its handler.

use crate::call::{Args, Call, Outcome};
use crate::errno::SysResult;
use crate::sys::{fdops, fs, io, mem, poll, proc, random, signal, time, tty};
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
    part(0, io::read, "console and read-only image files only"),
    part(1, io::write, "console only; image files are read-only"),
    part(2, fs::open, "image files, read-only; no /dev, /proc, tmpfs yet"),
    full(3, fdops::close, ""),
    part(4, fs::stat, "image paths only"),
    part(5, fs::fstat, "console and image files"),
    part(6, fs::lstat, "image paths only"),
    part(7, poll::poll, "console and image files"),
    part(8, io::lseek, "no SEEK_DATA/SEEK_HOLE"),
    part(9, mem::mmap, "anonymous only: file mappings return ENODEV; MAP_HUGETLB ENOMEM"),
    full(10, mem::mprotect, "a range with a hole changes nothing (Linux changes the part before it); both ENOMEM"),
    full(11, mem::munmap, ""),
    full(12, mem::brk, "no RLIMIT_DATA check, no randomisation"),
    part(13, signal::rt_sigaction, "recorded; signals are not delivered yet"),
    part(14, signal::rt_sigprocmask, "recorded; signals are not delivered yet"),
    part(16, tty::ioctl, "TCGETS, TCSETS*, TIOCGWINSZ on the console; FIONBIO, FIOCLEX, FIONCLEX"),
    part(17, io::pread64, "image files; ESPIPE on the console"),
    part(18, io::pwrite64, "ESPIPE on the console; image files are read-only"),
    part(19, io::readv, "console and read-only image files only"),
    part(20, io::writev, "console only"),
    full(24, proc::sched_yield, "one thread"),
    full(28, mem::madvise, "non-dropping advice is accepted without effect"),
    full(32, fdops::dup, ""),
    full(33, fdops::dup2, ""),
    full(35, time::nanosleep, "rem is never written (no EINTR yet)"),
    full(39, proc::getpid, "always 1"),
    full(60, proc::exit, "one thread: ends the program"),
    full(63, proc::uname, "Linux 6.1.0-kiln x86_64, host name kiln"),
    part(72, fdops::fcntl, "F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL; no locks, owners, leases, seals"),
    full(79, fs::getcwd, ""),
    part(80, fs::chdir, "image directories only"),
    part(89, fs::readlink, "/proc/self/exe and image symlinks"),
    full(96, time::gettimeofday, "time zone is UTC"),
    full(97, proc::getrlimit, ""),
    full(99, proc::sysinfo, "no load averages, no swap"),
    full(102, proc::getid, "root"),
    full(104, proc::getid, "root"),
    full(107, proc::getid, "root"),
    full(108, proc::getid, "root"),
    full(110, proc::getppid, "0"),
    part(131, signal::sigaltstack, "recorded; signals are not delivered yet"),
    part(158, proc::arch_prctl, "ARCH_SET_FS and ARCH_GET_FS; other codes EINVAL"),
    part(160, proc::setrlimit, "recorded; only RLIMIT_NOFILE is enforced"),
    full(186, proc::gettid, "one thread, tid 1"),
    full(201, time::time, ""),
    full(204, proc::sched_getaffinity, "every CPU"),
    part(217, fs::getdents64, "image directories only"),
    part(218, proc::set_tid_address, "recorded; used once threads exist"),
    full(228, time::clock_gettime, "CPU-time clocks read the monotonic clock"),
    full(229, time::clock_getres, ""),
    full(230, time::clock_nanosleep, ""),
    full(231, proc::exit_group, ""),
    part(257, fs::openat, "image files, read-only; no /dev, /proc, tmpfs yet"),
    part(262, fs::newfstatat, "console and image paths"),
    part(267, fs::readlinkat, "/proc/self/exe and image symlinks"),
    part(271, poll::ppoll, "console and image files; the signal mask has no effect yet"),
    part(273, proc::set_robust_list, "recorded; used once threads exist"),
    full(292, fdops::dup3, ""),
    part(295, io::preadv, "image files; ESPIPE on the console"),
    part(296, io::pwritev, "ESPIPE on the console; image files are read-only"),
    part(302, proc::prlimit64, "own process only; only RLIMIT_NOFILE is enforced"),
    full(318, random::getrandom, "entropy is always ready"),
    nosys(334, "restartable sequences: glibc and others fall back when it is absent"),
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
