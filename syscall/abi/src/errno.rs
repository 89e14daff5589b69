//! Linux error numbers (asm-generic/errno-base.h and errno.h), as returned
//! negated in `rax`.

/// A Linux errno value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32,
    EDOM = 33,
    ERANGE = 34,
    EDEADLK = 35,
    ENAMETOOLONG = 36,
    ENOLCK = 37,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENOMSG = 42,
    ENODATA = 61,
    ETIME = 62,
    EOVERFLOW = 75,
    EBADFD = 77,
    EILSEQ = 84,
    ENOTSOCK = 88,
    EDESTADDRREQ = 89,
    EMSGSIZE = 90,
    EPROTOTYPE = 91,
    ENOPROTOOPT = 92,
    EPROTONOSUPPORT = 93,
    ESOCKTNOSUPPORT = 94,
    EOPNOTSUPP = 95,
    EPFNOSUPPORT = 96,
    EAFNOSUPPORT = 97,
    EADDRINUSE = 98,
    EADDRNOTAVAIL = 99,
    ENETDOWN = 100,
    ENETUNREACH = 101,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOBUFS = 105,
    EISCONN = 106,
    ENOTCONN = 107,
    ETIMEDOUT = 110,
    ECONNREFUSED = 111,
    EHOSTUNREACH = 113,
    EALREADY = 114,
    EINPROGRESS = 115,
    ECANCELED = 125,
}

impl Errno {
    /// The value a syscall returns in `rax` for this error.
    pub const fn as_ret(self) -> i64 {
        -(self as i32 as i64)
    }
}

/// Result type of syscall handlers: the success value goes to `rax` as is.
pub type SysResult<T = u64> = Result<T, Errno>;

/// The name and message (as glibc's `strerror` words it) of Linux errno
/// `n`, for the errors Kiln returns; what strace prints after `= -1`.
pub fn describe(n: i32) -> Option<(&'static str, &'static str)> {
    Some(match n {
        1 => ("EPERM", "Operation not permitted"),
        2 => ("ENOENT", "No such file or directory"),
        3 => ("ESRCH", "No such process"),
        4 => ("EINTR", "Interrupted system call"),
        5 => ("EIO", "Input/output error"),
        6 => ("ENXIO", "No such device or address"),
        7 => ("E2BIG", "Argument list too long"),
        8 => ("ENOEXEC", "Exec format error"),
        9 => ("EBADF", "Bad file descriptor"),
        10 => ("ECHILD", "No child processes"),
        11 => ("EAGAIN", "Resource temporarily unavailable"),
        12 => ("ENOMEM", "Cannot allocate memory"),
        13 => ("EACCES", "Permission denied"),
        14 => ("EFAULT", "Bad address"),
        16 => ("EBUSY", "Device or resource busy"),
        17 => ("EEXIST", "File exists"),
        18 => ("EXDEV", "Invalid cross-device link"),
        19 => ("ENODEV", "No such device"),
        20 => ("ENOTDIR", "Not a directory"),
        21 => ("EISDIR", "Is a directory"),
        22 => ("EINVAL", "Invalid argument"),
        23 => ("ENFILE", "Too many open files in system"),
        24 => ("EMFILE", "Too many open files"),
        25 => ("ENOTTY", "Inappropriate ioctl for device"),
        27 => ("EFBIG", "File too large"),
        28 => ("ENOSPC", "No space left on device"),
        29 => ("ESPIPE", "Illegal seek"),
        30 => ("EROFS", "Read-only file system"),
        31 => ("EMLINK", "Too many links"),
        32 => ("EPIPE", "Broken pipe"),
        33 => ("EDOM", "Numerical argument out of domain"),
        34 => ("ERANGE", "Numerical result out of range"),
        35 => ("EDEADLK", "Resource deadlock avoided"),
        36 => ("ENAMETOOLONG", "File name too long"),
        37 => ("ENOLCK", "No locks available"),
        38 => ("ENOSYS", "Function not implemented"),
        39 => ("ENOTEMPTY", "Directory not empty"),
        40 => ("ELOOP", "Too many levels of symbolic links"),
        42 => ("ENOMSG", "No message of desired type"),
        61 => ("ENODATA", "No data available"),
        62 => ("ETIME", "Timer expired"),
        75 => ("EOVERFLOW", "Value too large for defined data type"),
        77 => ("EBADFD", "File descriptor in bad state"),
        84 => (
            "EILSEQ",
            "Invalid or incomplete multibyte or wide character",
        ),
        88 => ("ENOTSOCK", "Socket operation on non-socket"),
        89 => ("EDESTADDRREQ", "Destination address required"),
        90 => ("EMSGSIZE", "Message too long"),
        91 => ("EPROTOTYPE", "Protocol wrong type for socket"),
        92 => ("ENOPROTOOPT", "Protocol not available"),
        93 => ("EPROTONOSUPPORT", "Protocol not supported"),
        94 => ("ESOCKTNOSUPPORT", "Socket type not supported"),
        95 => ("EOPNOTSUPP", "Operation not supported"),
        96 => ("EPFNOSUPPORT", "Protocol family not supported"),
        97 => ("EAFNOSUPPORT", "Address family not supported by protocol"),
        98 => ("EADDRINUSE", "Address already in use"),
        99 => ("EADDRNOTAVAIL", "Cannot assign requested address"),
        100 => ("ENETDOWN", "Network is down"),
        101 => ("ENETUNREACH", "Network is unreachable"),
        103 => ("ECONNABORTED", "Software caused connection abort"),
        104 => ("ECONNRESET", "Connection reset by peer"),
        105 => ("ENOBUFS", "No buffer space available"),
        106 => ("EISCONN", "Transport endpoint is already connected"),
        107 => ("ENOTCONN", "Transport endpoint is not connected"),
        110 => ("ETIMEDOUT", "Connection timed out"),
        111 => ("ECONNREFUSED", "Connection refused"),
        113 => ("EHOSTUNREACH", "No route to host"),
        114 => ("EALREADY", "Operation already in progress"),
        115 => ("EINPROGRESS", "Operation now in progress"),
        125 => ("ECANCELED", "Operation canceled"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errno_kiln_returns_has_a_name() {
        for e in [
            Errno::EPERM,
            Errno::ENOENT,
            Errno::ENOSYS,
            Errno::ECANCELED,
            Errno::EAGAIN,
        ] {
            let (name, _) = describe(e as i32).unwrap();
            assert_eq!(name, alloc::format!("{e:?}"));
        }
        assert_eq!(describe(2), Some(("ENOENT", "No such file or directory")));
        assert_eq!(describe(0), None);
    }
}
