//! posix_fadvise and readahead: hints about file access. Linux may ignore
//! them and so does Kiln (image data is cached as it is read, tmpfs is
//! memory); the arguments are checked as Linux checks them.

use crate::call::{ok, Args, Call, Outcome};
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{S_IFMT, S_IFREG};

/// POSIX_FADV_NORMAL..=POSIX_FADV_NOREUSE.
const FADV_LAST: i32 = 5;

/// Implements Linux `fadvise64(2)`: EBADF, ESPIPE on pipes, sockets and
/// the console, EINVAL for unknown advice or a negative length.
pub fn fadvise64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let file = c.proc.fds().get(a.fd(0))?.clone();
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    if !file.obj.seekable() {
        return Err(Errno::ESPIPE);
    }
    if a.long(2) < 0 || !(0..=FADV_LAST).contains(&a.int(3)) {
        return Err(Errno::EINVAL);
    }
    ok(0)
}

/// Implements Linux `readahead(2)`: the descriptor must be open for
/// reading (EBADF) on a regular file (EINVAL).
pub fn readahead(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let file = c.proc.fds().get(a.fd(0))?.clone();
    if file.is_path() || !file.readable() {
        return Err(Errno::EBADF);
    }
    let st = {
        let mut cx = c.cx();
        file.obj.stat(&mut cx)?
    };
    if st.mode & S_IFMT != S_IFREG {
        return Err(Errno::EINVAL);
    }
    ok(0)
}
