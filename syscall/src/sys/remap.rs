//! mremap: grow, shrink or move a mapping. Page contents move with their
//! frames (no copy); pages never touched stay lazy and fault in from the
//! region's backing at the new address. glibc's and musl's `realloc` of
//! large blocks lean on this.

use crate::call::{ok, Args, Call, Outcome};
use crate::mm::{page_up, Backing, Kind, Region, MMAP_MIN, MMAP_TOP, TASK_SIZE};
use crate::platform::PAGE_SIZE;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

pub const MREMAP_MAYMOVE: u32 = 1;
pub const MREMAP_FIXED: u32 = 2;
pub const MREMAP_DONTUNMAP: u32 = 4;

/// Implements Linux `mremap(2)` for mappings made by `mmap` (and program
/// segments). The heap, the stack, `[vvar]` and `[vdso]` are EFAULT here:
/// moving them would leave `brk` and the stack guard pointing at nothing.
/// MREMAP_DONTUNMAP works on anonymous memory only (EINVAL otherwise).
pub fn mremap(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (old, old_len, new_len, flags, new_addr) = (a.u(0), a.u(1), a.u(2), a.uint(3), a.u(4));
    let req = Request::check(old, old_len, new_len, flags, new_addr)?;
    let pieces = pieces_of(c, req.old, req.old_end())?;
    if req.dont_unmap && pieces.iter().any(|r| r.backing != Backing::Zero) {
        return Err(Errno::EINVAL);
    }
    if !req.fixed && !req.dont_unmap && req.new_len <= req.old_len {
        // Shrinking (or the same size) stays in place.
        let cut = req.old + req.new_len;
        c.proc.space_mut().remove(cut, req.old_end());
        c.p.mmu().unmap(cut, req.old_end() - cut);
        return ok(req.old);
    }
    if !req.fixed && !req.dont_unmap && grow_in_place(c, &req, &pieces) {
        return ok(req.old);
    }
    if !req.may_move {
        return Err(Errno::ENOMEM);
    }
    let to = if req.fixed {
        c.proc
            .space_mut()
            .remove(req.new_addr, req.new_addr + req.new_len);
        c.p.mmu().unmap(req.new_addr, req.new_len);
        req.new_addr
    } else {
        c.proc
            .space()
            .find_free(req.new_len, MMAP_MIN, MMAP_TOP)
            .ok_or(Errno::ENOMEM)?
    };
    move_to(c, &req, &pieces, to)?;
    ok(to)
}

/// The checked arguments, page-aligned.
struct Request {
    old: u64,
    old_len: u64,
    new_len: u64,
    new_addr: u64,
    may_move: bool,
    fixed: bool,
    dont_unmap: bool,
}

impl Request {
    /// Linux's argument checks, in its order: EINVAL for bad flags,
    /// alignment, a zero new length, FIXED or DONTUNMAP without MAYMOVE,
    /// overlapping FIXED ranges; ENOMEM past the end of the user half.
    fn check(old: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64) -> SysResult<Self> {
        let known = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        let may_move = flags & MREMAP_MAYMOVE != 0;
        let fixed = flags & MREMAP_FIXED != 0;
        let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
        if flags & !known != 0 || !old.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if (fixed || dont_unmap) && !may_move {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 || (dont_unmap && old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        // old_len 0 duplicates a shared mapping on Linux; with one process
        // and private memory there is nothing to duplicate.
        if old_len == 0 {
            return Err(Errno::EINVAL);
        }
        if old.checked_add(old_len).is_none_or(|e| e > TASK_SIZE) {
            return Err(Errno::EFAULT);
        }
        if fixed {
            if !new_addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let new_end = new_addr
                .checked_add(new_len)
                .filter(|&e| e <= TASK_SIZE)
                .ok_or(Errno::EINVAL)?;
            if new_addr < MMAP_MIN {
                return Err(Errno::EPERM);
            }
            if new_addr < old + old_len && old < new_end {
                return Err(Errno::EINVAL);
            }
        }
        Ok(Request {
            old,
            old_len,
            new_len,
            new_addr,
            may_move,
            fixed,
            dont_unmap,
        })
    }

    fn old_end(&self) -> u64 {
        self.old + self.old_len
    }
}

/// The regions covering `[start, end)`, clipped to it. The range must be
/// mapped without a hole (EFAULT), by regions of one kind and one set of
/// rights (Linux: a single mapping; Kiln's books may hold it in pieces).
fn pieces_of(c: &Call<'_>, start: u64, end: u64) -> SysResult<Vec<Region>> {
    let space = c.proc.space();
    if !space.is_covered(start, end) {
        return Err(Errno::EFAULT);
    }
    let pieces: Vec<Region> = space
        .overlapping(start, end)
        .map(|r| r.clip(start, end))
        .collect();
    let first = pieces[0];
    if !matches!(first.kind, Kind::Mmap | Kind::Segment)
        || pieces
            .iter()
            .any(|r| r.kind != first.kind || r.prot != first.prot)
    {
        return Err(Errno::EFAULT);
    }
    Ok(pieces)
}

/// The region that continues `last` for `len` more bytes at `start`.
fn continuation(last: &Region, start: u64, len: u64) -> Region {
    Region {
        start,
        end: start + len,
        backing: last.backing.advance(start - last.start),
        ..*last
    }
}

/// Grow the mapping where it is, when it ends at its region's end and the
/// space after it is free.
fn grow_in_place(c: &mut Call<'_>, req: &Request, pieces: &[Region]) -> bool {
    let last = pieces[pieces.len() - 1];
    let ends_region = c
        .proc
        .space()
        .find(last.start)
        .is_some_and(|r| r.end == req.old_end());
    let new_end = req.old.checked_add(req.new_len).filter(|&e| e <= TASK_SIZE);
    let Some(new_end) = new_end else { return false };
    if !ends_region || !c.proc.space().is_free(req.old_end(), new_end) {
        return false;
    }
    let tail = continuation(&last, req.old_end(), new_end - req.old_end());
    c.proc.space_mut().insert(tail).is_ok()
}

/// Move the pieces (and their frames) to `to`, extend or cut them to the
/// new length, and leave the old range unmapped (or, with DONTUNMAP,
/// mapped and empty).
fn move_to(c: &mut Call<'_>, req: &Request, pieces: &[Region], to: u64) -> SysResult<()> {
    let keep = req.old_len.min(req.new_len);
    c.p.mmu().move_pages(req.old, to, keep)?;
    let moved: Vec<Region> = pieces
        .iter()
        .filter(|r| r.start < req.old + keep)
        .map(|r| {
            let r = r.clip(req.old, req.old + keep);
            Region {
                start: r.start - req.old + to,
                end: r.end - req.old + to,
                ..r
            }
        })
        .collect();
    c.proc.space_mut().remove(req.old, req.old_end());
    // Past the kept part the old range is dropped (a shrinking FIXED move).
    c.p.mmu().unmap(req.old + keep, req.old_len - keep);
    if req.dont_unmap {
        for r in pieces {
            c.proc.space_mut().insert(*r)?;
        }
    }
    for r in &moved {
        c.proc.space_mut().insert(*r)?;
    }
    if req.new_len > keep {
        let last = moved[moved.len() - 1];
        c.proc
            .space_mut()
            .insert(continuation(&last, to + keep, req.new_len - keep))?;
    }
    Ok(())
}
