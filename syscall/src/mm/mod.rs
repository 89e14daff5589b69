//! The program's address space as a set of regions. This module only keeps
//! the books (which ranges exist, with which rights and backing); the page
//! table itself is the kernel's, reached through [`crate::platform::Mmu`].

pub mod fault;
pub mod user;
pub mod vdso;

use crate::platform::{Mmu, Prot, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kiln_abi::errno::Errno;

/// Lowest address a mapping may use (Linux `vm.mmap_min_addr` default).
pub const MMAP_MIN: u64 = 0x1_0000;
/// End of the user half (Linux `TASK_SIZE` on x86_64 with 4-level paging).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = TASK_SIZE;
/// Size of the stack region (demand-paged).
pub const STACK_SIZE: u64 = 8 << 20;
/// mmap allocates top-down from here.
pub const MMAP_TOP: u64 = 0x7f00_0000_0000;
/// Window used by `MAP_32BIT` (as Linux: the second GiB).
pub const MAP32_RANGE: (u64, u64) = (0x4000_0000, 0x8000_0000);

/// Round down to a page boundary.
pub const fn page_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Round up to a page boundary; `None` on overflow.
pub fn page_up(v: u64) -> Option<u64> {
    v.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// What a region is for (shown in crash reports and, later, /proc/self/maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A PT_LOAD segment of the program.
    Segment,
    /// The heap that `brk` moves.
    Brk,
    /// The initial thread's stack.
    Stack,
    /// An `mmap` mapping.
    Mmap,
    /// The kernel's clock page that the vDSO reads (`[vvar]`).
    Vvar,
    /// The vDSO's code (`[vdso]`).
    Vdso,
}

/// Where the contents of a page come from when it is first touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Zero-filled (anonymous memory, bss).
    Zero,
    /// Private copy of image bytes: the region's first byte corresponds to
    /// image offset `image_offset`, and only the first `file_bytes` bytes of
    /// the region come from the image; the rest reads as zero. `file` is the
    /// image file's entry (for /proc/self/maps).
    Image {
        image_offset: u64,
        file_bytes: u64,
        file: u32,
    },
}

impl Backing {
    /// The same backing seen from `delta` bytes further into the region.
    pub(crate) fn advance(self, delta: u64) -> Backing {
        match self {
            Backing::Zero => Backing::Zero,
            Backing::Image {
                image_offset,
                file_bytes,
                file,
            } => Backing::Image {
                image_offset: image_offset + delta,
                file_bytes: file_bytes.saturating_sub(delta),
                file,
            },
        }
    }
}

/// One contiguous range of the address space with uniform rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub kind: Kind,
    pub backing: Backing,
}

impl Region {
    /// The part of this region inside `[start, end)` (which must overlap it).
    pub(crate) fn clip(&self, start: u64, end: u64) -> Region {
        let s = self.start.max(start);
        Region {
            start: s,
            end: self.end.min(end),
            backing: self.backing.advance(s - self.start),
            ..*self
        }
    }
}

/// Most regions an address space holds (Linux `vm.max_map_count`): each
/// costs kernel memory, so a program that splits mappings without end
/// gets ENOMEM, as on Linux.
pub const MAX_MAP_COUNT: usize = 65530;

/// Most pages one count of resident memory asks the MMU about; regions
/// past it count as resident in full.
const RESIDENT_PROBES: u64 = 1 << 20;

/// The set of regions, keyed by start address; regions never overlap.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    regions: BTreeMap<u64, Region>,
    oom: OomFlag,
}

/// Set when a page of the program could not be backed for lack of memory
/// while the kernel copied to or from it (the call sees EFAULT; the process
/// then dies as Linux's OOM killer would end it).
#[derive(Debug, Default)]
struct OomFlag(AtomicBool);

impl Clone for OomFlag {
    fn clone(&self) -> Self {
        OomFlag(AtomicBool::new(self.0.load(Ordering::Relaxed)))
    }
}

impl AddressSpace {
    /// Note that memory ran out backing one of the program's pages.
    pub fn note_out_of_memory(&self) {
        self.oom.0.store(true, Ordering::Relaxed);
    }

    /// Whether memory ran out since the last call, clearing the note.
    pub fn take_out_of_memory(&self) -> bool {
        self.oom.0.swap(false, Ordering::Relaxed)
    }

    /// Pages of accessible regions backed by a frame now (at most
    /// [`RESIDENT_PROBES`] are asked about; the rest count in full).
    pub fn resident_pages(&self, mmu: &dyn Mmu) -> u64 {
        let mut probes = RESIDENT_PROBES;
        let mut resident = 0;
        for r in self.regions.values().filter(|r| !r.prot.is_empty()) {
            let pages = (r.end - r.start) / PAGE_SIZE;
            resident += if pages <= probes {
                probes -= pages;
                (0..pages)
                    .filter(|i| mmu.is_mapped(r.start + i * PAGE_SIZE))
                    .count() as u64
            } else {
                pages
            };
        }
        resident
    }

    /// The region containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Region> {
        self.regions
            .range(..=addr)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| addr < r.end)
    }

    /// Every region, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// Regions overlapping `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Region> {
        let first = self.find(start).map(|r| r.start).unwrap_or(start);
        self.regions
            .range(first..end)
            .map(|(_, r)| r)
            .filter(move |r| r.end > start)
    }

    /// Whether anything is mapped in `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_none()
    }

    /// Whether `[start, end)` is covered by regions without a hole.
    pub fn is_covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for r in self.overlapping(start, end) {
            if r.start > at {
                return false;
            }
            at = r.end;
        }
        at >= end
    }

    /// ENOMEM when changing `[start, end)` (splitting the regions at its
    /// edges) and adding `new` regions could pass [`MAX_MAP_COUNT`].
    pub fn check_room(&self, start: u64, end: u64, new: usize) -> Result<(), Errno> {
        let inside = |a: u64| self.find(a).is_some_and(|r| r.start < a);
        let splits = usize::from(inside(start)) + usize::from(inside(end));
        if self.regions.len() + splits + new > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Add a region; it must not overlap an existing one (EEXIST) and must be
    /// page-aligned and non-empty (EINVAL); ENOMEM past [`MAX_MAP_COUNT`].
    pub fn insert(&mut self, region: Region) -> Result<(), Errno> {
        if region.start >= region.end
            || !region.start.is_multiple_of(PAGE_SIZE)
            || !region.end.is_multiple_of(PAGE_SIZE)
        {
            return Err(Errno::EINVAL);
        }
        if !self.is_free(region.start, region.end) {
            return Err(Errno::EEXIST);
        }
        if self.regions.len() >= MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        self.regions.insert(region.start, region);
        Ok(())
    }

    /// Cut `[start, end)` out of every region it touches, splitting regions
    /// that straddle its edges. Returns the removed pieces.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<Region> {
        let hit: Vec<Region> = self.overlapping(start, end).copied().collect();
        let mut removed = Vec::with_capacity(hit.len());
        for r in hit {
            self.regions.remove(&r.start);
            if r.start < start {
                self.regions.insert(r.start, Region { end: start, ..r });
            }
            if r.end > end {
                let tail = r.clip(end, r.end);
                self.regions.insert(tail.start, tail);
            }
            removed.push(r.clip(start, end));
        }
        removed
    }

    /// Give `[start, end)` the rights `prot`, splitting regions at its edges.
    /// The range must be fully covered (ENOMEM otherwise, nothing changed).
    pub fn protect(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        if !self.is_covered(start, end) {
            return Err(Errno::ENOMEM);
        }
        self.check_room(start, end, 0)?;
        for piece in self.remove(start, end) {
            self.regions.insert(piece.start, Region { prot, ..piece });
        }
        Ok(())
    }

    /// Grow or shrink the region starting at `start` so that it ends at `end`.
    pub fn resize(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let r = *self.regions.get(&start).ok_or(Errno::EINVAL)?;
        if end > r.end && !self.is_free(r.end, end) {
            return Err(Errno::ENOMEM);
        }
        if end <= start {
            self.regions.remove(&start);
        } else {
            self.regions.insert(start, Region { end, ..r });
        }
        Ok(())
    }

    /// The highest free, page-aligned range of `len` bytes inside
    /// `[low, high)`, searching top-down as Linux's mmap does.
    pub fn find_free(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut top = high;
        for r in self.regions.range(..high).rev().map(|(_, r)| r) {
            let floor = r.end.max(low);
            if top > floor && top - floor >= len {
                return Some(top - len);
            }
            top = top.min(r.start);
            if top <= low {
                return None;
            }
        }
        (top >= low.saturating_add(len)).then(|| top - len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64, prot: Prot) -> Region {
        Region {
            start,
            end,
            prot,
            kind: Kind::Mmap,
            backing: Backing::Zero,
        }
    }

    #[test]
    fn insert_find_and_overlap() {
        let mut a = AddressSpace::default();
        a.insert(anon(0x1000, 0x3000, Prot::READ)).unwrap();
        assert_eq!(
            a.insert(anon(0x2000, 0x4000, Prot::READ)),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            a.insert(anon(0x4000, 0x4000, Prot::READ)),
            Err(Errno::EINVAL)
        );
        assert!(a.find(0x2fff).is_some());
        assert!(a.find(0x3000).is_none());
        assert!(a.find(0xfff).is_none());
    }

    #[test]
    fn remove_splits_and_keeps_image_offsets() {
        let mut a = AddressSpace::default();
        let r = Region {
            start: 0x10000,
            end: 0x14000,
            prot: Prot::READ,
            kind: Kind::Segment,
            backing: Backing::Image {
                image_offset: 0x100000,
                file_bytes: 0x2800,
                file: 3,
            },
        };
        a.insert(r).unwrap();
        let gone = a.remove(0x11000, 0x12000);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].start, gone[0].end), (0x11000, 0x12000));
        let tail = *a.find(0x12000).unwrap();
        assert_eq!((tail.start, tail.end), (0x12000, 0x14000));
        assert_eq!(
            tail.backing,
            Backing::Image {
                image_offset: 0x102000,
                file_bytes: 0x800,
                file: 3,
            }
        );
        assert_eq!(a.find(0x10000).unwrap().end, 0x11000);
        assert!(a.find(0x11000).is_none());
    }

    #[test]
    fn protect_needs_full_cover() {
        let mut a = AddressSpace::default();
        a.insert(anon(0x1000, 0x3000, Prot::READ)).unwrap();
        a.insert(anon(0x4000, 0x5000, Prot::READ)).unwrap();
        assert_eq!(a.protect(0x1000, 0x5000, Prot::empty()), Err(Errno::ENOMEM));
        assert_eq!(a.find(0x1000).unwrap().prot, Prot::READ);
        a.protect(0x2000, 0x3000, Prot::empty()).unwrap();
        assert_eq!(a.find(0x1000).unwrap().end, 0x2000);
        assert_eq!(a.find(0x2000).unwrap().prot, Prot::empty());
    }

    #[test]
    fn find_free_goes_top_down_around_regions() {
        let mut a = AddressSpace::default();
        assert_eq!(a.find_free(0x2000, 0x10000, 0x100000), Some(0xfe000));
        a.insert(anon(0xfe000, 0x100000, Prot::READ)).unwrap();
        a.insert(anon(0xf0000, 0xfd000, Prot::READ)).unwrap();
        assert_eq!(a.find_free(0x1000, 0x10000, 0x100000), Some(0xfd000));
        assert_eq!(a.find_free(0x2000, 0x10000, 0x100000), Some(0xee000));
        assert_eq!(a.find_free(0x100000, 0x10000, 0x100000), None);
    }
}
