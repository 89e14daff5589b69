//! Memory: brk, mmap, munmap, mprotect, madvise. Anonymous memory is only
//! recorded here; pages arrive through demand paging.

use crate::call::{ok, Args, Call, Outcome};
use crate::mm::{
    fault, page_down, page_up, Backing, Kind, Region, MAP32_RANGE, MMAP_MIN, MMAP_TOP, TASK_SIZE,
};
use crate::platform::{Prot, PAGE_SIZE};
use crate::vfs::PageSource;
use kiln_abi::errno::{Errno, SysResult};

pub const MAP_SHARED: u32 = 0x01;
pub const MAP_PRIVATE: u32 = 0x02;
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
pub const MAP_TYPE: u32 = 0x0f;
pub const MAP_FIXED: u32 = 0x10;
pub const MAP_ANONYMOUS: u32 = 0x20;
pub const MAP_32BIT: u32 = 0x40;
pub const MAP_GROWSDOWN: u32 = 0x100;
pub const MAP_DENYWRITE: u32 = 0x800;
pub const MAP_EXECUTABLE: u32 = 0x1000;
pub const MAP_LOCKED: u32 = 0x2000;
pub const MAP_NORESERVE: u32 = 0x4000;
pub const MAP_POPULATE: u32 = 0x8000;
pub const MAP_NONBLOCK: u32 = 0x10000;
pub const MAP_STACK: u32 = 0x20000;
pub const MAP_HUGETLB: u32 = 0x40000;
pub const MAP_SYNC: u32 = 0x80000;
pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;
pub const MAP_UNINITIALIZED: u32 = 0x4000000;
/// Flags MAP_SHARED_VALIDATE accepts (others: EOPNOTSUPP).
const KNOWN_FLAGS: u32 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_32BIT
    | MAP_GROWSDOWN
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_SYNC
    | MAP_FIXED_NOREPLACE
    | MAP_UNINITIALIZED
    | (0x3f << 26);
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
pub const PROT_GROWSUP: u32 = 0x0200_0000;

pub const MADV_DONTNEED: i32 = 4;
pub const MADV_FREE: i32 = 8;
pub const MADV_REMOVE: i32 = 9;
pub const MADV_POPULATE_READ: i32 = 22;
pub const MADV_POPULATE_WRITE: i32 = 23;
pub const MADV_DONTNEED_LOCKED: i32 = 24;

fn prot_bits(p: u32) -> Prot {
    Prot::from_bits_truncate(p & 7)
}

/// Implements Linux `brk(2)`: grows or shrinks the heap region that starts
/// after the program's highest segment; returns the current break when the
/// request cannot be met (as Linux).
pub fn brk(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let want = a.u(0);
    let (start, cur) = c.proc.brk();
    if want < start || want > MMAP_TOP {
        return ok(cur);
    }
    let old_end = page_up(cur).unwrap_or(cur);
    let new_end = page_up(want).unwrap_or(want);
    if new_end > old_end {
        let grown = if old_end == start {
            let r = Region {
                start,
                end: new_end,
                prot: Prot::READ | Prot::WRITE,
                kind: Kind::Brk,
                backing: Backing::Zero,
            };
            c.proc.space_mut().insert(r)
        } else {
            c.proc.space_mut().resize(start, new_end)
        };
        if grown.is_err() {
            return ok(cur);
        }
    } else if new_end < old_end {
        c.proc.space_mut().remove(new_end, old_end);
        c.p.mmu().unmap(new_end, old_end - new_end);
    }
    c.proc.set_brk(want);
    ok(want)
}

/// Implements Linux `mmap(2)`: anonymous memory (private or shared: with
/// one process they are the same) and files. Image files are paged in on
/// demand; other files (tmpfs, /proc) are copied when mapped. MAP_SHARED
/// of a file is read-only: with PROT_WRITE it is ENODEV on tmpfs, EACCES
/// on the image; a shared mapping of a tmpfs file does not see later
/// writes to the file. MAP_HUGETLB returns ENOMEM.
pub fn mmap(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (addr, len, prot, flags, fd, off) = (a.u(0), a.u(1), a.uint(2), a.uint(3), a.fd(4), a.u(5));
    match flags & MAP_TYPE {
        MAP_SHARED | MAP_PRIVATE => {}
        MAP_SHARED_VALIDATE if flags & !KNOWN_FLAGS != 0 => return Err(Errno::EOPNOTSUPP),
        MAP_SHARED_VALIDATE => {}
        _ => return Err(Errno::EINVAL),
    }
    if off % PAGE_SIZE != 0 || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len)
        .filter(|&l| l <= TASK_SIZE)
        .ok_or(Errno::ENOMEM)?;
    let (source, file) = if flags & MAP_ANONYMOUS == 0 {
        let (s, f) = file_source(c, fd, off, len, prot, flags)?;
        (Some(s), Some(f))
    } else {
        (None, None)
    };
    if flags & MAP_HUGETLB != 0 {
        return Err(Errno::ENOMEM);
    }
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        if addr.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
            return Err(Errno::ENOMEM);
        }
        if addr < MMAP_MIN {
            return Err(Errno::EPERM);
        }
        if !c.proc.space().is_free(addr, addr + len) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            c.proc.space().check_room(addr, addr + len, 1)?;
            c.proc.space_mut().remove(addr, addr + len);
            c.p.mmu().unmap(addr, len);
        }
        addr
    } else {
        let hint = page_down(addr);
        let hint_ok = hint >= MMAP_MIN
            && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
            && c.proc.space().is_free(hint, hint + len);
        if addr != 0 && hint_ok {
            hint
        } else if flags & MAP_32BIT != 0 {
            c.proc
                .space()
                .find_free(len, MAP32_RANGE.0, MAP32_RANGE.1)
                .ok_or(Errno::ENOMEM)?
        } else {
            c.proc
                .space()
                .find_free(len, MMAP_MIN, MMAP_TOP)
                .ok_or(Errno::ENOMEM)?
        }
    };
    let backing = match &source {
        Some(PageSource::Image {
            image_offset,
            file_bytes,
            file,
        }) => Backing::Image {
            image_offset: *image_offset,
            file_bytes: (*file_bytes).min(len),
            file: *file,
        },
        _ => Backing::Zero,
    };
    let region = Region {
        start,
        end: start + len,
        prot: prot_bits(prot),
        kind: Kind::Mmap,
        backing,
    };
    c.proc.space_mut().insert(region)?;
    let filled = match (&source, &file) {
        (Some(PageSource::Copy(bytes)), _) => fill_copy(
            c,
            start,
            prot_bits(prot),
            &bytes[..bytes.len().min(len as usize)],
        ),
        (Some(PageSource::Read), Some(f)) => fill_read(c, f, off, start, len, prot_bits(prot)),
        _ => Ok(()),
    };
    if let Err(e) = filled {
        c.proc.space_mut().remove(start, start + len);
        c.p.mmu().unmap(start, len);
        return Err(e);
    }
    let populate_now = flags & MAP_POPULATE != 0 || c.proc.mlock_future();
    if populate_now && !region.prot.is_empty() {
        populate(c, &region, region.start, region.end);
    }
    ok(start)
}

/// The pages of a file mapping: the file must be open for reading, and
/// for writing too when MAP_SHARED asks for PROT_WRITE (EACCES).
fn file_source(
    c: &mut Call<'_>,
    fd: i32,
    off: u64,
    len: u64,
    prot: u32,
    flags: u32,
) -> SysResult<(PageSource, crate::vfs::FileRef)> {
    let f = c.proc.fds().get(fd)?.clone();
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    let shared = flags & MAP_TYPE != MAP_PRIVATE;
    let shared_write = shared && prot & 2 != 0;
    if !f.readable() || (shared_write && !f.writable()) {
        return Err(Errno::EACCES);
    }
    if off.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
        return Err(Errno::EOVERFLOW);
    }
    let mut cx = c.cx();
    let source = f.obj.mmap(&mut cx, off, len, shared_write)?;
    Ok((source, f))
}

/// Back a private file mapping with a copy of `bytes` now (zeros after).
fn fill_copy(c: &mut Call<'_>, start: u64, prot: Prot, bytes: &[u8]) -> SysResult<()> {
    for (i, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
        let page = start + i as u64 * PAGE_SIZE;
        c.p.mmu().map_zeroed(page, prot)?;
        c.p.mmu().write_mapped(page, chunk);
    }
    Ok(())
}

/// Back a private file mapping of `len` bytes at `start` with a copy of
/// the file from `off`, read page by page. Pages that read as zeros (holes)
/// are left to demand paging, which gives the same zeros.
fn fill_read(
    c: &mut Call<'_>,
    f: &crate::vfs::FileRef,
    off: u64,
    start: u64,
    len: u64,
    prot: Prot,
) -> SysResult<()> {
    let mut buf = [0u8; PAGE_SIZE as usize];
    let mut done = 0;
    while done < len {
        let got = {
            let mut cx = c.cx();
            f.obj.read(&mut cx, off + done, &mut buf)?
        };
        if got == 0 {
            break;
        }
        if buf[..got].iter().any(|&b| b != 0) {
            let page = start + done;
            c.p.mmu().map_zeroed(page, prot)?;
            c.p.mmu().write_mapped(page, &buf[..got]);
        }
        if got < buf.len() {
            break;
        }
        done += PAGE_SIZE;
    }
    Ok(())
}

/// Fault in every page of `region` now (MAP_POPULATE); stops quietly when
/// memory runs out, as Linux does.
fn populate(c: &mut Call<'_>, region: &Region, start: u64, end: u64) {
    let mut page = start;
    while page < end {
        if !c.p.mmu().is_mapped(page)
            && fault::fill_page(c.proc.image(), c.p, region, page).is_err()
        {
            return;
        }
        page += PAGE_SIZE;
    }
}

fn user_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let end = page_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(Errno::EINVAL)?;
    Ok((addr, end))
}

/// Implements Linux `munmap(2)`: splits regions and drops their frames.
pub fn munmap(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (start, end) = user_range(a.u(0), a.u(1))?;
    if a.u(1) == 0 || end > TASK_SIZE {
        return Err(Errno::EINVAL);
    }
    c.proc.space().check_room(start, end, 0)?;
    c.proc.space_mut().remove(start, end);
    c.p.mmu().unmap(start, end - start);
    ok(0)
}

/// Implements Linux `mprotect(2)`. Differs: when the range has a hole,
/// Linux changes the part before the hole; Kiln changes nothing (both ENOMEM).
pub fn mprotect(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let prot = a.uint(2);
    if prot & !(7 | PROT_GROWSDOWN | PROT_GROWSUP) != 0 || prot & PROT_GROWSDOWN & PROT_GROWSUP != 0
    {
        return Err(Errno::EINVAL);
    }
    if !a.u(0).is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let (start, end) = user_range(a.u(0), a.u(1)).map_err(|_| Errno::ENOMEM)?;
    if start == end {
        return ok(0);
    }
    if end > TASK_SIZE {
        return Err(Errno::ENOMEM);
    }
    // The clock page may only be read (Linux: [vvar] lacks VM_MAYWRITE/EXEC).
    if prot & 6 != 0
        && c.proc
            .space()
            .overlapping(start, end)
            .any(|r| r.kind == crate::mm::Kind::Vvar)
    {
        return Err(Errno::EACCES);
    }
    c.proc.space_mut().protect(start, end, prot_bits(prot))?;
    c.p.mmu().protect(start, end - start, prot_bits(prot));
    ok(0)
}

/// Implements Linux `madvise(2)`. MADV_DONTNEED (and FREE, REMOVE,
/// DONTNEED_LOCKED) really drop the pages: anonymous memory reads back as
/// zeros, program segments as the file's bytes. POPULATE_* fault pages in.
/// Other valid advice is accepted and has no effect, as Linux may do.
pub fn madvise(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let advice = a.int(2);
    let valid = matches!(advice, 0..=4 | 8..=25);
    if !valid {
        return Err(Errno::EINVAL);
    }
    let (start, end) = user_range(a.u(0), a.u(1))?;
    if start == end {
        return ok(0);
    }
    if end > TASK_SIZE {
        return Err(Errno::ENOMEM);
    }
    let covered = c.proc.space().is_covered(start, end);
    let pieces: alloc::vec::Vec<Region> = c.proc.space().overlapping(start, end).copied().collect();
    for r in pieces {
        let (s, e) = (r.start.max(start), r.end.min(end));
        match advice {
            MADV_DONTNEED | MADV_FREE | MADV_REMOVE | MADV_DONTNEED_LOCKED => {
                c.p.mmu().unmap(s, e - s)
            }
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                let access = if advice == MADV_POPULATE_WRITE {
                    crate::process::Access::Write
                } else {
                    crate::process::Access::Read
                };
                if !fault::allows(r.prot, access) {
                    return Err(Errno::EFAULT);
                }
                populate(c, &r, s, e);
            }
            _ => {}
        }
    }
    if covered {
        ok(0)
    } else {
        Err(Errno::ENOMEM)
    }
}

pub const MS_ASYNC: u32 = 1;
pub const MS_INVALIDATE: u32 = 2;
pub const MS_SYNC: u32 = 4;

/// A page-aligned `[start, end)` of the program's half that is fully
/// mapped: EINVAL for a misaligned start, ENOMEM for anything unmapped.
fn mapped_range(c: &Call<'_>, addr: u64, len: u64) -> SysResult<(u64, u64)> {
    let (start, end) = user_range(addr, len)?;
    if end > TASK_SIZE || !c.proc.space().is_covered(start, end) {
        return Err(Errno::ENOMEM);
    }
    Ok((start, end))
}

/// Implements Linux `msync(2)`. Writable shared file mappings do not
/// exist in Kiln, so there is never anything to write back; the flags and
/// the range are checked as Linux does.
pub fn msync(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(2);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC
    {
        return Err(Errno::EINVAL);
    }
    mapped_range(c, a.u(0), a.u(1))?;
    ok(0)
}

/// Implements Linux `mincore(2)`: one byte per page, 1 when the page is
/// in memory (it has been touched).
pub fn mincore(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (start, end) = mapped_range(c, a.u(0), a.u(1))?;
    let resident: alloc::vec::Vec<u8> = (start..end)
        .step_by(PAGE_SIZE as usize)
        .map(|page| u8::from(c.p.mmu().is_mapped(page)))
        .collect();
    c.mem().write(a.u(2), &resident)?;
    ok(0)
}

pub const MLOCK_ONFAULT: u32 = 1;
pub const MCL_CURRENT: u32 = 1;
pub const MCL_FUTURE: u32 = 2;
pub const MCL_ONFAULT: u32 = 4;

/// The pages an mlock-family call names: its address need not be aligned.
fn lock_span(c: &Call<'_>, a: Args) -> SysResult<(u64, u64)> {
    let len = a
        .u(1)
        .checked_add(a.u(0) % PAGE_SIZE)
        .ok_or(Errno::ENOMEM)?;
    mapped_range(c, page_down(a.u(0)), len)
}

/// Fault in the accessible pages of `[start, end)`.
fn lock_range(c: &mut Call<'_>, start: u64, end: u64) {
    let pieces: alloc::vec::Vec<Region> = c.proc.space().overlapping(start, end).copied().collect();
    for r in pieces.iter().filter(|r| !r.prot.is_empty()) {
        populate(c, r, r.start.max(start), r.end.min(end));
    }
}

/// Implements Linux `mlock(2)`. Kiln never swaps, so a page in memory
/// stays there; mlock brings the range's pages in now.
pub fn mlock(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (start, end) = lock_span(c, a)?;
    lock_range(c, start, end);
    ok(0)
}

/// Implements Linux `mlock2(2)`: MLOCK_ONFAULT leaves pages to arrive on
/// first touch.
pub fn mlock2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(2);
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    let (start, end) = lock_span(c, a)?;
    if flags & MLOCK_ONFAULT == 0 {
        lock_range(c, start, end);
    }
    ok(0)
}

/// Implements Linux `munlock(2)`: pages stay in memory (nothing swaps).
pub fn munlock(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    lock_span(c, a)?;
    ok(0)
}

/// Implements Linux `mlockall(2)`: MCL_CURRENT brings every accessible
/// page in now; MCL_FUTURE makes later mappings arrive populated (both
/// unless MCL_ONFAULT).
pub fn mlockall(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(0);
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(Errno::EINVAL);
    }
    let populate_now = flags & MCL_ONFAULT == 0;
    if flags & MCL_CURRENT != 0 && populate_now {
        lock_range(c, 0, TASK_SIZE);
    }
    if flags & MCL_FUTURE != 0 {
        c.proc.set_mlock_future(populate_now);
    }
    ok(0)
}

/// Implements Linux `munlockall(2)`.
pub fn munlockall(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    c.proc.set_mlock_future(false);
    ok(0)
}
