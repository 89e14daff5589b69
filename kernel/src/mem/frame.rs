//! Physical frame allocator: bump allocation through the RAM regions, and a
//! free list threaded through freed frames (via the direct map).
//!
//! The heap grows only by contiguous runs from the bump region, and freed
//! frames go to the free list, which single frames come from. So that the
//! kernel can still allocate when the program has taken every page (and
//! report that it ran out of memory), single frames leave the last
//! [`HEAP_RESERVE`] bytes of the bump region to the heap and DMA.

use super::layout::phys_to_virt;
use crate::pvh::RamRegion;
use spin::Mutex;

pub const FRAME_SIZE: u64 = 4096;
const MAX_RANGES: usize = 64;
/// Bytes of the bump region only contiguous requests may take.
pub const HEAP_RESERVE: u64 = 4 << 20;

struct Frames {
    ranges: [RamRegion; MAX_RANGES],
    count: usize,
    /// Index of the range the bump pointer is in.
    cur: usize,
    /// Next never-used frame in `ranges[cur]`.
    next: u64,
    /// First frame of the free list (0 = empty).
    free_head: u64,
    free_frames: u64,
    total_frames: u64,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames {
    ranges: [RamRegion { start: 0, end: 0 }; MAX_RANGES],
    count: 0,
    cur: 0,
    next: 0,
    free_head: 0,
    free_frames: 0,
    total_frames: 0,
});

/// Take the RAM regions, leaving out everything below `reserved_end`.
pub fn init(ram: &[RamRegion], reserved_end: u64) {
    let mut f = FRAMES.lock();
    for r in ram {
        let start = r.start.max(reserved_end).next_multiple_of(FRAME_SIZE);
        let end = r.end & !(FRAME_SIZE - 1);
        if end > start && f.count < MAX_RANGES {
            let i = f.count;
            f.ranges[i] = RamRegion { start, end };
            f.count += 1;
            f.total_frames += (end - start) / FRAME_SIZE;
        }
    }
    let n = f.count;
    f.ranges[..n].sort_unstable_by_key(|r| r.start);
    f.next = f.ranges[0].start;
    f.free_frames = f.total_frames;
}

impl Frames {
    fn bump(&mut self, n: u64) -> Option<u64> {
        while self.cur < self.count {
            let r = self.ranges[self.cur];
            if self.next + n * FRAME_SIZE <= r.end {
                let p = self.next;
                self.next += n * FRAME_SIZE;
                return Some(p);
            }
            // Frames left at the end of a range are lost to contiguous
            // requests only; hand them to the free list first.
            while self.next < r.end {
                let p = self.next;
                self.next += FRAME_SIZE;
                self.push_free(p);
                self.free_frames -= 1;
            }
            self.cur += 1;
            if self.cur < self.count {
                self.next = self.ranges[self.cur].start;
            }
        }
        None
    }

    /// Frames the bump region has left.
    fn bump_left(&self) -> u64 {
        let mut left = 0;
        for i in self.cur..self.count {
            let from = if i == self.cur {
                self.next
            } else {
                self.ranges[i].start
            };
            left += self.ranges[i].end.saturating_sub(from) / FRAME_SIZE;
        }
        left
    }

    fn push_free(&mut self, p: u64) {
        // SAFETY: `p` is a frame nobody uses; its first word links the list.
        unsafe { (phys_to_virt(p) as *mut u64).write(self.free_head) };
        self.free_head = p;
        self.free_frames += 1;
    }
}

impl Frames {
    fn pop_free(&mut self) -> Option<u64> {
        if self.free_head == 0 {
            return None;
        }
        let p = self.free_head;
        // SAFETY: `p` heads the free list, so its first word is the link.
        self.free_head = unsafe { (phys_to_virt(p) as *const u64).read() };
        self.free_frames -= 1;
        Some(p)
    }
}

/// One frame from the free list only (for the heap's last resort).
pub fn alloc_freed() -> Option<u64> {
    FRAMES.lock().pop_free()
}

/// One frame, contents undefined; `None` when only the heap's reserve is
/// left.
pub fn alloc() -> Option<u64> {
    let mut f = FRAMES.lock();
    if let Some(p) = f.pop_free() {
        return Some(p);
    }
    if f.bump_left() <= HEAP_RESERVE / FRAME_SIZE {
        return None;
    }
    let p = f.bump(1)?;
    f.free_frames -= 1;
    Some(p)
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
    if f.bump_left() < n.saturating_add(HEAP_RESERVE / FRAME_SIZE) {
        return None;
    }
    let p = f.bump(n)?;
    f.free_frames -= n;
    Some(p)
}

/// `n` physically contiguous frames (for DMA and the heap), from the
/// reserve too.
pub fn alloc_contiguous(n: u64) -> Option<u64> {
    let mut f = FRAMES.lock();
    let p = f.bump(n)?;
    f.free_frames -= n;
    Some(p)
}

/// Give a frame back.
pub fn free(p: u64) {
    FRAMES.lock().push_free(p);
}

/// (total, free) bytes of RAM under the allocator.
pub fn stats() -> (u64, u64) {
    let f = FRAMES.lock();
    (f.total_frames * FRAME_SIZE, f.free_frames * FRAME_SIZE)
}
