//! The glue `virtio-drivers` needs: DMA memory from the frame allocator and
//! device memory mapped uncached. Heap and kernel-image buffers are
//! physically contiguous, so sharing a buffer is an address translation.

use crate::mem::{frame, layout, paging};
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

pub struct KernelHal;

// SAFETY: DMA regions are contiguous, zeroed and owned until dealloc; shared
// buffers are direct-mapped or in the kernel image, both physically
// contiguous, and the CPU is cache-coherent with the (emulated) devices.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _dir: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let p = frame::alloc_contiguous(pages as u64).expect("out of memory for DMA");
        let v = layout::phys_to_virt(p) as *mut u8;
        // SAFETY: the frames were just allocated for this region.
        unsafe { core::ptr::write_bytes(v, 0, pages * 4096) };
        (p, NonNull::new(v).expect("DMA region at null"))
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        for i in 0..pages as u64 {
            frame::free(paddr + i * 4096);
        }
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        NonNull::new(paging::map_mmio(paddr, size as u64) as *mut u8).expect("MMIO at null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _dir: BufferDirection) -> PhysAddr {
        layout::virt_to_phys(buffer.as_ptr() as *mut u8 as u64)
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _dir: BufferDirection) {}
}
