//! Physical frame allocator: one bit per frame (1 = in use or not RAM), kept
//! in frames of its own at the start of RAM.
//!
//! A bitmap, not a free list, so that frames the program gave back can form
//! contiguous runs again: the heap and DMA ask for runs, and after a program
//! has touched all memory once and freed it, only freed frames are left.
//! So that the kernel can still allocate when the program has taken every
//! page (and report that it ran out of memory), the last [`HEAP_RESERVE`]
//! bytes of RAM are left to contiguous requests (the heap and DMA).

use super::layout::phys_to_virt;
use crate::pvh::RamRegion;
use spin::Mutex;

pub const FRAME_SIZE: u64 = 4096;
/// Bytes at the top of RAM only contiguous requests may take.
pub const HEAP_RESERVE: u64 = 4 << 20;

struct Frames {
    /// Physical address of frame 0 of the bitmap.
    base: u64,
    /// Frames the bitmap covers (RAM and the holes between).
    frames: u64,
    /// Physical address of the bitmap (`frames` bits, in 64-bit words).
    bitmap: u64,
    /// Frame index where the reserve begins: single frames come from below.
    reserve_from: u64,
    /// No word below this one has a free bit outside the reserve.
    hint: u64,
    free_frames: u64,
    total_frames: u64,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames {
    base: 0,
    frames: 0,
    bitmap: 0,
    reserve_from: 0,
    hint: 0,
    free_frames: 0,
    total_frames: 0,
});

impl Frames {
    fn words(&self) -> u64 {
        self.frames.div_ceil(64)
    }

    fn word(&self, w: u64) -> u64 {
        debug_assert!(w < self.words());
        // SAFETY: the bitmap's frames are reserved for it and `w` is within it.
        unsafe { (phys_to_virt(self.bitmap + w * 8) as *const u64).read() }
    }

    fn set_word(&mut self, w: u64, v: u64) {
        debug_assert!(w < self.words());
        // SAFETY: as in `word`.
        unsafe { (phys_to_virt(self.bitmap + w * 8) as *mut u64).write(v) }
    }

    fn is_free(&self, i: u64) -> bool {
        self.word(i / 64) & (1 << (i % 64)) == 0
    }

    fn mark(&mut self, i: u64, used: bool) {
        let w = self.word(i / 64);
        let bit = 1 << (i % 64);
        self.set_word(i / 64, if used { w | bit } else { w & !bit });
    }

    /// Mark frames `first..first + n`, whole words at a time where it can.
    fn mark_range(&mut self, first: u64, n: u64, used: bool) {
        let mut i = first;
        let end = first + n;
        while i < end {
            if i.is_multiple_of(64) && end - i >= 64 {
                self.set_word(i / 64, if used { u64::MAX } else { 0 });
                i += 64;
            } else {
                self.mark(i, used);
                i += 1;
            }
        }
    }

    fn take(&mut self, first: u64, n: u64) -> u64 {
        self.mark_range(first, n, true);
        self.free_frames -= n;
        self.base + first * FRAME_SIZE
    }

    /// One free frame below the reserve.
    fn single(&mut self) -> Option<u64> {
        let limit = self.reserve_from;
        let mut w = self.hint;
        while w * 64 < limit {
            let bits = self.word(w);
            if bits != u64::MAX {
                let i = w * 64 + u64::from(bits.trailing_ones());
                if i >= limit {
                    break;
                }
                self.hint = w;
                return Some(self.take(i, 1));
            }
            w += 1;
        }
        self.hint = w;
        None
    }

    /// The first run of `n` free frames that ends at or before `limit`.
    fn run(&mut self, n: u64, limit: u64) -> Option<u64> {
        if n == 0 || n > limit {
            return None;
        }
        let mut start = 0;
        let mut len = 0;
        let mut i = 0;
        while i < limit {
            if len == 0 && i.is_multiple_of(64) && i + 64 <= limit && self.word(i / 64) == u64::MAX
            {
                i += 64;
                start = i;
                continue;
            }
            if self.is_free(i) {
                len += 1;
                if len == n {
                    return Some(self.take(start, n));
                }
            } else {
                len = 0;
                start = i + 1;
            }
            i += 1;
        }
        None
    }

    fn release(&mut self, p: u64) {
        let Some(i) = p.checked_sub(self.base).map(|o| o / FRAME_SIZE) else {
            return;
        };
        if i >= self.frames || self.is_free(i) {
            return;
        }
        self.mark(i, false);
        self.free_frames += 1;
        self.hint = self.hint.min(i / 64);
    }
}

/// Take the RAM regions, leaving out everything below `reserved_end`.
pub fn init(ram: &[RamRegion], reserved_end: u64) {
    let mut f = FRAMES.lock();
    let usable = |r: &RamRegion| {
        let start = r.start.max(reserved_end).next_multiple_of(FRAME_SIZE);
        let end = r.end & !(FRAME_SIZE - 1);
        (end > start).then_some((start, end))
    };
    let lo = ram.iter().filter_map(usable).map(|(s, _)| s).min();
    let hi = ram.iter().filter_map(usable).map(|(_, e)| e).max();
    let (Some(lo), Some(hi)) = (lo, hi) else {
        panic!("no usable RAM");
    };
    f.base = lo;
    f.frames = (hi - lo) / FRAME_SIZE;
    // The bitmap goes at the start of the lowest region that holds it.
    let bytes = f.words() * 8;
    let bitmap_frames = bytes.div_ceil(FRAME_SIZE);
    let home = ram
        .iter()
        .filter_map(usable)
        .filter(|(s, e)| (e - s) / FRAME_SIZE > bitmap_frames)
        .map(|(s, _)| s)
        .min()
        .expect("no RAM region holds the frame bitmap");
    f.bitmap = home;
    let words = f.words();
    for w in 0..words {
        f.set_word(w, u64::MAX);
    }
    for (s, e) in ram.iter().filter_map(usable) {
        let n = (e - s) / FRAME_SIZE;
        f.mark_range((s - lo) / FRAME_SIZE, n, false);
        f.total_frames += n;
    }
    f.free_frames = f.total_frames;
    let first = (home - lo) / FRAME_SIZE;
    f.take(first, bitmap_frames);
    f.reserve_from = f.frames.saturating_sub(HEAP_RESERVE / FRAME_SIZE);
}

/// One frame outside the reserve (for the heap's last resort).
pub fn alloc_freed() -> Option<u64> {
    FRAMES.lock().single()
}

/// One frame, contents undefined; `None` when only the heap's reserve is
/// left.
pub fn alloc() -> Option<u64> {
    FRAMES.lock().single()
}

/// One zeroed frame.
pub fn alloc_zeroed() -> Option<u64> {
    let p = alloc()?;
    // SAFETY: the frame is ours and mapped at phys_to_virt(p).
    unsafe { core::ptr::write_bytes(phys_to_virt(p) as *mut u8, 0, FRAME_SIZE as usize) };
    Some(p)
}

/// `n` physically contiguous frames, leaving the heap's reserve alone.
pub fn alloc_contiguous_above_reserve(n: u64) -> Option<u64> {
    let mut f = FRAMES.lock();
    let limit = f.reserve_from;
    f.run(n, limit)
}

/// `n` physically contiguous frames (for DMA and the heap), from the
/// reserve too.
pub fn alloc_contiguous(n: u64) -> Option<u64> {
    let mut f = FRAMES.lock();
    let limit = f.frames;
    f.run(n, limit)
}

/// Give a frame back.
pub fn free(p: u64) {
    FRAMES.lock().release(p);
}

/// (total, free) bytes of RAM under the allocator.
pub fn stats() -> (u64, u64) {
    let f = FRAMES.lock();
    (f.total_frames * FRAME_SIZE, f.free_frames * FRAME_SIZE)
}
