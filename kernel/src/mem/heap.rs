//! The kernel heap: talc, fed with contiguous frames on demand (so every heap
//! object is physically contiguous and can be handed to a device).
//!
//! Growth keeps the small allocations that cannot fail alive when memory
//! runs low: big ones (the buffers a program sizes, all allocated with
//! `try_reserve`) never take the frame allocator's reserve, and a small one
//! that finds no contiguous run takes a single freed frame as a heap of its
//! own.

use super::frame;
use super::layout::phys_to_virt;
use core::alloc::Layout;
use talc::base::binning::Binning;
use talc::base::Talc;
use talc::source::Source;

/// Grows the heap from the frame allocator.
#[derive(Debug)]
pub struct FrameSource;

const MIN_GROW: u64 = 2 << 20;
/// From this size on an allocation is one the caller can see fail.
const BIG: usize = 64 << 10;
/// Largest allocation (size + alignment) one frame on its own can serve.
const ONE_FRAME: usize = 2048;

// SAFETY: acquire only claims fresh frames and never touches the allocator
// through the global wrapper.
unsafe impl Source for FrameSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let want = (layout.size() as u64 + layout.align() as u64 + 4096).max(MIN_GROW);
        let frames = want.div_ceil(frame::FRAME_SIZE);
        let small = layout.size() + layout.align() <= ONE_FRAME;
        let run = frame::alloc_contiguous_above_reserve(frames).map(|p| (p, frames));
        let run = run
            .or_else(|| small.then(frame::alloc_freed).flatten().map(|p| (p, 1)))
            .or_else(|| {
                (layout.size() < BIG)
                    .then(|| frame::alloc_contiguous(frames))
                    .flatten()
                    .map(|p| (p, frames))
            })
            .or_else(|| {
                small
                    .then(|| frame::alloc_contiguous(1))
                    .flatten()
                    .map(|p| (p, 1))
            });
        let (p, n) = run.ok_or(())?;
        let base = phys_to_virt(p) as *mut u8;
        // SAFETY: the frames are ours, mapped, and given to talc for good.
        let claimed = unsafe { talc.claim(base, (n * frame::FRAME_SIZE) as usize) };
        if claimed.is_none() {
            for i in 0..n {
                frame::free(p + i * frame::FRAME_SIZE);
            }
            return Err(());
        }
        Ok(())
    }
}

#[global_allocator]
static HEAP: talc::TalcLock<spin::Mutex<()>, FrameSource> = talc::TalcLock::new(FrameSource);
