//! read/write and their vector and positioned forms, lseek, sendfile,
//! copy_file_range: moving bytes between file objects and program memory.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{FileRef, O_APPEND};
use crate::mm::TASK_SIZE;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{S_IFMT, S_IFREG};

/// Linux caps one read or write at this many bytes.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Most iovecs in one readv/writev (UIO_MAXIOV).
pub const UIO_MAXIOV: i32 = 1024;
const CHUNK: usize = 16384;

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
    let mut raw = crate::fallible::zeroed(count as usize * 16)?;
    c.mem().read(addr, &mut raw)?;
    let mut total = 0u64;
    let mut segs = crate::fallible::with_capacity(count as usize)?;
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

/// How a transfer picks its offset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// The description's position (read/write/readv/writev).
    Pos,
    /// A given offset (pread/pwrite); the position is unchanged.
    Offset(u64),
}

/// Move bytes between the file behind `fd` and the segments, in order,
/// stopping at the first short transfer. A stream that has nothing now
/// blocks (or EAGAIN with O_NONBLOCK or `nowait`).
fn transfer(
    c: &mut Call<'_>,
    fd: i32,
    segs: &[(u64, u64)],
    at: At,
    dir: Dir,
    nowait: bool,
) -> SysResult<Outcome> {
    let file = c.proc.fds().get(fd)?.clone();
    let allowed = match dir {
        Dir::Read => file.readable(),
        Dir::Write => file.writable(),
    };
    if !allowed {
        return Err(Errno::EBADF);
    }
    let seekable = file.obj.seekable();
    if matches!(at, At::Offset(_)) && !seekable {
        return Err(Errno::ESPIPE);
    }
    let mut off = match at {
        At::Offset(o) => o,
        At::Pos if seekable => file.pos(),
        At::Pos => 0,
    };
    if dir == Dir::Write && file.flags() & O_APPEND != 0 && seekable {
        let mut cx = c.cx();
        off = file.obj.stat(&mut cx)?.size;
    }
    let want: u64 = segs.iter().map(|s| s.1).sum();
    let mut done = 0u64;
    let size = (want as usize).clamp(1, CHUNK);
    let size = match dir {
        Dir::Read => file.obj.read_size(size).clamp(1, size),
        Dir::Write => size,
    };
    let mut buf = crate::fallible::zeroed(size)?;
    let result = 'segs: {
        for &(base, len) in segs {
            let mut seg_off = 0u64;
            while seg_off < len {
                let n = (len - seg_off).min(buf.len() as u64) as usize;
                let step = match dir {
                    Dir::Read => {
                        let got = {
                            let mut cx = c.cx();
                            file.obj.read(&mut cx, off, &mut buf[..n])
                        };
                        match got {
                            Ok(got) => {
                                let put = c.mem().write_partial(base + seg_off, &buf[..got]);
                                if put < got {
                                    // Bytes a stream gave that did not fit are lost, as on Linux.
                                    done += put as u64;
                                    off += put as u64;
                                    break 'segs if done == 0 { Err(Errno::EFAULT) } else { Ok(0) };
                                }
                                Ok(got)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Dir::Write => {
                        let got = c.mem().read_partial(base + seg_off, &mut buf[..n]);
                        if got == 0 {
                            break 'segs Err(Errno::EFAULT);
                        }
                        let mut cx = c.cx();
                        // A short count (also when the rest of the buffer is
                        // unreadable) ends the transfer below.
                        file.obj.write(&mut cx, off, &buf[..got])
                    }
                };
                match step {
                    Ok(k) => {
                        done += k as u64;
                        off += k as u64;
                        seg_off += k as u64;
                        if k < n {
                            break 'segs Ok(0);
                        }
                    }
                    Err(e) => break 'segs Err(e),
                }
            }
        }
        Ok(0)
    };
    if seekable && at == At::Pos {
        file.set_pos(off);
    }
    match result {
        Ok(_) => ok(done),
        Err(_) if done > 0 => ok(done),
        Err(Errno::EAGAIN) if want > 0 => {
            if file.nonblocking() || nowait {
                Err(Errno::EAGAIN)
            } else {
                crate::sys::wait::block_io(c, &file, dir == Dir::Read)
            }
        }
        Err(Errno::EAGAIN) => ok(0),
        Err(e) => Err(e),
    }
}

fn single(addr: u64, len: u64) -> Result<[(u64, u64); 1], Errno> {
    check_range(addr, len.min(MAX_RW_COUNT))?;
    Ok([(addr, len.min(MAX_RW_COUNT))])
}

fn offset(a: &Args, i: usize) -> Result<u64, Errno> {
    u64::try_from(a.long(i)).map_err(|_| Errno::EINVAL)
}

/// Implements Linux `read(2)`. A stream with nothing to read blocks (or
/// EAGAIN with O_NONBLOCK).
pub fn read(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, At::Pos, Dir::Read, false)
}

/// Implements Linux `write(2)`. Returns a short count when a later page of
/// the buffer is bad. Writing to a pipe without readers is EPIPE (no
/// SIGPIPE yet).
pub fn write(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, At::Pos, Dir::Write, false)
}

/// Implements Linux `readv(2)`.
pub fn readv(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds().get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, At::Pos, Dir::Read, false)
}

/// Implements Linux `writev(2)`, with partial counts when a segment faults.
pub fn writev(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    c.proc.fds().get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, At::Pos, Dir::Write, false)
}

/// Implements Linux `pread64(2)` (ESPIPE on streams).
pub fn pread64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, At::Offset(pos), Dir::Read, false)
}

/// Implements Linux `pwrite64(2)` (ESPIPE on streams). Differs: with
/// O_APPEND the data goes to the end, as Linux does, too.
pub fn pwrite64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    let segs = single(a.u(1), a.u(2))?;
    transfer(c, a.fd(0), &segs, At::Offset(pos), Dir::Write, false)
}

/// Implements Linux `preadv(2)`.
pub fn preadv(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    c.proc.fds().get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, At::Offset(pos), Dir::Read, false)
}

/// Implements Linux `pwritev(2)`.
pub fn pwritev(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let pos = offset(&a, 3)?;
    c.proc.fds().get(a.fd(0))?;
    let segs = iovecs(c, a.u(1), a.int(2))?;
    transfer(c, a.fd(0), &segs, At::Offset(pos), Dir::Write, false)
}

pub const RWF_HIPRI: u32 = 1;
pub const RWF_DSYNC: u32 = 2;
pub const RWF_SYNC: u32 = 4;
pub const RWF_NOWAIT: u32 = 8;
pub const RWF_APPEND: u32 = 0x10;

fn v2(c: &mut Call<'_>, a: Args, dir: Dir) -> SysResult<Outcome> {
    let flags = a.uint(5);
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = c.proc.fds().get(a.fd(0))?.clone();
    let segs = iovecs(c, a.u(1), a.int(2))?;
    let at = match a.long(3) {
        -1 => At::Pos,
        o if o < 0 => return Err(Errno::EINVAL),
        _ if dir == Dir::Write && flags & RWF_APPEND != 0 => {
            let mut cx = c.cx();
            At::Offset(f.obj.stat(&mut cx)?.size)
        }
        o => At::Offset(o as u64),
    };
    transfer(c, a.fd(0), &segs, at, dir, flags & RWF_NOWAIT != 0)
}

/// Implements Linux `preadv2(2)`: offset -1 uses the position; RWF_NOWAIT
/// gives EAGAIN instead of blocking; the other flags are accepted.
pub fn preadv2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    v2(c, a, Dir::Read)
}

/// Implements Linux `pwritev2(2)` (RWF_APPEND, RWF_NOWAIT; sync flags
/// accepted: memory needs no write-back).
pub fn pwritev2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    v2(c, a, Dir::Write)
}

pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;
pub const SEEK_DATA: u32 = 3;
pub const SEEK_HOLE: u32 = 4;

/// Implements Linux `lseek(2)`: SEEK_SET/CUR/END, and SEEK_DATA/SEEK_HOLE
/// on regular files (tmpfs files know their holes by page; image files
/// have none: all data, one hole at the end).
/// ESPIPE on pipes and the console.
pub fn lseek(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let file = c.proc.fds().get(a.fd(0))?.clone();
    if !file.obj.seekable() {
        return Err(Errno::ESPIPE);
    }
    let st = {
        let mut cx = c.cx();
        file.obj.stat(&mut cx)?
    };
    let off = a.long(1);
    let new = match a.uint(2) {
        SEEK_SET => off,
        SEEK_CUR => (file.pos() as i64)
            .checked_add(off)
            .ok_or(Errno::EOVERFLOW)?,
        SEEK_END => (st.size as i64).checked_add(off).ok_or(Errno::EOVERFLOW)?,
        w @ (SEEK_DATA | SEEK_HOLE) => {
            if st.mode & S_IFMT != S_IFREG {
                return Err(Errno::EINVAL);
            }
            if off < 0 || off as u64 >= st.size {
                return Err(Errno::ENXIO);
            }
            let mut cx = c.cx();
            let at = file
                .obj
                .seek_data(&mut cx, off as u64, st.size, w == SEEK_DATA)?;
            i64::try_from(at).map_err(|_| Errno::EOVERFLOW)?
        }
        _ => return Err(Errno::EINVAL),
    };
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    file.set_pos(new as u64);
    ok(new as u64)
}

/// Copy up to `count` bytes from `inp` (at `in_off`, or its position) to
/// `out` (at `out_off`, or its position / end with O_APPEND). Returns the
/// count and the new input offset.
fn copy(
    c: &mut Call<'_>,
    inp: &FileRef,
    in_off: Option<u64>,
    out: &FileRef,
    out_off: Option<u64>,
    count: u64,
) -> SysResult<(u64, u64)> {
    let in_seek = inp.obj.seekable();
    let out_seek = out.obj.seekable();
    let mut ioff = in_off.unwrap_or(if in_seek { inp.pos() } else { 0 });
    let mut ooff = out_off.unwrap_or(if out_seek { out.pos() } else { 0 });
    if out_off.is_none() && out.flags() & O_APPEND != 0 && out_seek {
        let mut cx = c.cx();
        ooff = out.obj.stat(&mut cx)?.size;
    }
    let count = count.min(MAX_RW_COUNT);
    let mut done = 0u64;
    let mut buf = crate::fallible::zeroed((count as usize).clamp(1, CHUNK))?;
    let mut err = None;
    while done < count {
        let n = (count - done).min(buf.len() as u64) as usize;
        let mut cx = c.cx();
        let got = match inp.obj.read(&mut cx, ioff, &mut buf[..n]) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        // Bytes taken from a stream but refused by the output are lost:
        // Linux's splice keeps them in the pipe.
        let put = match out.obj.write(&mut cx, ooff, &buf[..got]) {
            Ok(p) => p,
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        done += put as u64;
        ioff += put as u64;
        ooff += put as u64;
        if put < got || got < n {
            break;
        }
    }
    if out_off.is_none() && out_seek {
        out.set_pos(ooff);
    }
    if in_off.is_none() && in_seek {
        inp.set_pos(ioff);
    }
    match err {
        Some(e) if done == 0 => Err(e),
        _ => Ok((done, ioff)),
    }
}

/// Implements Linux `sendfile(2)` between any readable and writable
/// objects. Differs: it does not wait when the output is full (returns
/// EAGAIN before anything is sent).
pub fn sendfile(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let out = c.proc.fds().get(a.fd(0))?.clone();
    let inp = c.proc.fds().get(a.fd(1))?.clone();
    if !inp.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let off_addr = a.u(2);
    let in_off = if off_addr != 0 {
        let o = c.mem().read_u64(off_addr)? as i64;
        if o < 0 {
            return Err(Errno::EINVAL);
        }
        if !inp.obj.seekable() {
            return Err(Errno::ESPIPE);
        }
        Some(o as u64)
    } else {
        None
    };
    let (done, ioff) = match copy(c, &inp, in_off, &out, None, a.u(3)) {
        // A full socket (or an empty pipe) makes a blocking sendfile wait.
        Err(Errno::EAGAIN) if !out.nonblocking() && a.u(3) > 0 => {
            let out_full = {
                let mut cx = c.cx();
                !out.obj.poll(&mut cx).contains(crate::vfs::Events::OUT)
            };
            let f = if out_full { &out } else { &inp };
            return crate::sys::wait::block_io(c, f, !out_full);
        }
        r => r?,
    };
    if off_addr != 0 {
        c.mem().write_u64(off_addr, ioff)?;
    }
    ok(done)
}

/// Implements Linux `copy_file_range(2)` between regular files.
pub fn copy_file_range(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (fin, pin, fout, pout, len, flags) = (a.fd(0), a.u(1), a.fd(2), a.u(3), a.u(4), a.uint(5));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let inp = c.proc.fds().get(fin)?.clone();
    let out = c.proc.fds().get(fout)?.clone();
    if !inp.readable() || !out.writable() || out.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let (sin, sout) = {
        let mut cx = c.cx();
        (inp.obj.stat(&mut cx)?, out.obj.stat(&mut cx)?)
    };
    if sin.mode & S_IFMT == kiln_abi::stat::S_IFDIR || sout.mode & S_IFMT == kiln_abi::stat::S_IFDIR
    {
        return Err(Errno::EISDIR);
    }
    if sin.mode & S_IFMT != S_IFREG || sout.mode & S_IFMT != S_IFREG {
        return Err(Errno::EINVAL);
    }
    let read_off = |c: &mut Call<'_>, addr: u64| -> SysResult<Option<u64>> {
        if addr == 0 {
            return Ok(None);
        }
        let o = c.mem().read_u64(addr)? as i64;
        u64::try_from(o).map(Some).map_err(|_| Errno::EINVAL)
    };
    let ioff = read_off(c, pin)?;
    let ooff = read_off(c, pout)?;
    let same = sin.dev == sout.dev && sin.ino == sout.ino;
    if same {
        let i = ioff.unwrap_or(inp.pos());
        let o = ooff.unwrap_or(out.pos());
        if i < o.saturating_add(len) && o < i.saturating_add(len) {
            return Err(Errno::EINVAL);
        }
    }
    let (done, new_in) = copy(c, &inp, ioff, &out, ooff, len)?;
    if pin != 0 {
        c.mem().write_u64(pin, new_in)?;
    }
    if pout != 0 {
        c.mem().write_u64(pout, ooff.unwrap_or(0) + done)?;
    }
    ok(done)
}
