//! read/write and their vector and positioned forms, lseek.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, O_NONBLOCK};
use crate::mm::TASK_SIZE;
use crate::process::WaitFor;
use alloc::vec::Vec;

/// Linux caps one read or write at this many bytes.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Most iovecs in one readv/writev (UIO_MAXIOV).
pub const UIO_MAXIOV: i32 = 1024;
const CHUNK: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

fn check_range(addr: u64, len: u64) -> Result<(), Errno> {
    match addr.checked_add(len) {
        Some(end) if end <= TASK_SIZE => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Read the iovec array of readv/writev/preadv/pwritev.
fn iovecs(c: &mut Call<'_>, addr: u64, count: i32) -> Result<Vec<(u64, u64)>, Errno> {
    if !(0..=UIO_MAXIOV).contains(&count) {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; count as usize * 16];
    c.mem().read(addr, &mut raw)?;
    let mut total = 0u64;
    let mut segs = Vec::with_capacity(count as usize);
    for v in raw.as_chunks::<16>().0 {
        let base = u64::from_le_bytes(v[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(v[8..].try_into().unwrap_or_default());
        if (len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        check_range(base, len)?;
        // The total is capped at MAX_RW_COUNT, as Linux does.
        let len = len.min(MAX_RW_COUNT - total);
        total += len;
        segs.push((base, len));
    }
    Ok(segs)
}

/// Move bytes between the file behind `fd` and the segments, in order,
/// stopping at the first short transfer. `pos` is Some for pread/pwrite.
fn transfer(
    c: &mut Call<'_>,
    fd: i32,
    segs: &[(u64, u64)],
    pos: Option<u64>,
    dir: Dir,
) -> SysResult<Outcome> {
    let file = *c.proc.fds.get(fd)?;
    let allowed = match dir {
        Dir::Read => file.readable(),
        Dir::Write => file.writable(),
    };
    if !allowed {
        return Err(Errno::EBADF);
    }
    let want: u64 = segs.iter().map(|s| s.1).sum();
    match file.kind {
        FileKind::Console => {
            if pos.is_some() {
                return Err(Errno::ESPIPE);
            }
            let done = match dir {
                Dir::Write => console_write(c, segs)?,
                Dir::Read => console_read(c, segs)?,
            };
            if dir == Dir::Read && done == 0 && want > 0 {
                if file.flags & O_NONBLOCK != 0 {
                    return Err(Errno::EAGAIN);
                }
                return Ok(Outcome::Block(WaitFor::ConsoleInput));
            }
            ok(done)
        }
        FileKind::Image { id } => {
            if dir == Dir::Write {
                return Err(Errno::EBADF);
            }
            let start = pos.unwrap_or(file.pos);
            let done = image_read(c, id, start, segs)?;
            if pos.is_none() {
                c.proc.fds.get_mut(fd)?.pos = start + done;
            }
            ok(done)
        }
    }
}

/// Copy segments to the console; EFAULT only if nothing was written.
fn console_write(c: &mut Call<'_>, segs: &[(u64, u64)]) -> SysResult<u64> {
    let mut done = 0u64;
    let mut buf = [0u8; CHUNK];
    for &(base, len) in segs {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK as u64) as usize;
            let got = c.mem().read_partial(base + off, &mut buf[..n]);
            c.p.console().write(&buf[..got]);
            done += got as u64;
            off += got as u64;
            if got < n {
                return if done == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(done)
                };
            }
        }
    }
    Ok(done)
}

/// Fill segments from the console's waiting input, without waiting.
fn console_read(c: &mut Call<'_>, segs: &[(u64, u64)]) -> SysResult<u64> {
    let mut done = 0u64;
    let mut buf = [0u8; CHUNK];
    for &(base, len) in segs {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK as u64) as usize;
            let got = c.p.console().read(&mut buf[..n]);
            if got == 0 {
                return Ok(done);
            }
            let put = c.mem().write_partial(base + off, &buf[..got]);
            done += put as u64;
            off += put as u64;
            if put < got {
                // The bytes that did not fit are lost, as on a Linux tty.
                return if done == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(done)
                };
            }
            if got < n {
                return Ok(done);
            }
        }
    }
    Ok(done)
}

/// Read an image file at `pos` into the segments.
fn image_read(c: &mut Call<'_>, id: u32, pos: u64, segs: &[(u64, u64)]) -> SysResult<u64> {
    let mut done = 0u64;
    let mut buf = [0u8; CHUNK];
    for &(base, len) in segs {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK as u64) as usize;
            let got = c
                .proc
                .fs
                .read_file(c.p.block(), id, pos + done, &mut buf[..n])?;
            if got == 0 {
                return Ok(done);
            }
            let put = c.mem().write_partial(base + off, &buf[..got]);
            done += put as u64;
            off += put as u64;
            if put < got {
                return if done == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(done)
                };
            }
        }
    }
    Ok(done)
}

fn single(addr: u64, len: u64) -> Result<[(u64, u64); 1], Errno> {
    check_range(addr, len.min(MAX_RW_COUNT))?;
    Ok([(addr, len.min(MAX_RW_COUNT))])
}

fn offset(a: &Args, i: usize) -> Result<u64, Errno> {
    u64::try_from(a.long(i)).map_err(|_| Errno::EINVAL)
}

/// Implements Linux `read(2)`. Console reads return what has arrived and
/// block (or EAGAIN with O_NONBLOCK) when nothing has.
pub fn read(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, None, Dir::Read)
}

/// Implements Linux `write(2)`. Returns a short count when a later page of
/// the buffer is bad.
pub fn write(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, None, Dir::Write)
}

/// Implements Linux `readv(2)`.
pub fn readv(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds.get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, None, Dir::Read)
}

/// Implements Linux `writev(2)`, with partial counts when a segment faults.
pub fn writev(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds.get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, None, Dir::Write)
}

/// Implements Linux `pread64(2)` (ESPIPE on the console).
pub fn pread64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, Some(pos), Dir::Read)
}

/// Implements Linux `pwrite64(2)` (ESPIPE on the console; image files are
/// read-only).
pub fn pwrite64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, Some(pos), Dir::Write)
}

/// Implements Linux `preadv(2)`.
pub fn preadv(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    c.proc.fds.get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, Some(pos), Dir::Read)
}

/// Implements Linux `pwritev(2)`.
pub fn pwritev(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    c.proc.fds.get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, Some(pos), Dir::Write)
}

/// Implements Linux `lseek(2)`: SEEK_SET/CUR/END on image files, ESPIPE on
/// the console. SEEK_DATA/SEEK_HOLE are not supported (EINVAL).
pub fn lseek(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = *c.proc.fds.get(fd)?;
    let id = match file.kind {
        FileKind::Console => return Err(Errno::ESPIPE),
        FileKind::Image { id } => id,
    };
    let size = c.proc.fs.index.entry(id).map(|e| e.size).unwrap_or(0);
    let off = a.long(1);
    let base = match a.uint(2) {
        0 => 0i64,
        1 => file.pos as i64,
        2 => size as i64,
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(off).ok_or(Errno::EOVERFLOW)?;
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    c.proc.fds.get_mut(fd)?.pos = new as u64;
    ok(new as u64)
}
