//! The kernel heap: talc, fed with contiguous frames on demand (so every heap
//! object is physically contiguous and can be handed to a device).

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

// SAFETY: acquire only claims fresh frames and never touches the allocator
// through the global wrapper.
unsafe impl Source for FrameSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let want = (layout.size() as u64 + layout.align() as u64 + 4096).max(MIN_GROW);
        let frames = want.div_ceil(frame::FRAME_SIZE);
        let p = frame::alloc_contiguous(frames).ok_or(())?;
        let base = phys_to_virt(p) as *mut u8;
        // SAFETY: the frames are ours, mapped, and given to talc for good.
        unsafe { talc.claim(base, (frames * frame::FRAME_SIZE) as usize) }
            .map(|_| ())
            .ok_or(())
    }
}

#[global_allocator]
static HEAP: talc::TalcLock<spin::Mutex<()>, FrameSource> = talc::TalcLock::new(FrameSource);
