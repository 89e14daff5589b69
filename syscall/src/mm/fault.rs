//! Demand paging: bringing a page of a region into the page table the first
//! time it is touched, and classifying faults that cannot be resolved.

use super::{page_down, AddressSpace, Backing, Region};
use crate::imagefs::ImageFs;
use crate::platform::{Platform, Prot, PAGE_SIZE};
use kiln_abi::errno::Errno;
use kiln_abi::{Access, FaultSignal, Signal};

/// `si_code` for an address outside every region.
pub const SEGV_MAPERR: i32 = 1;
/// `si_code` for an access against the region's rights.
pub const SEGV_ACCERR: i32 = 2;
/// `si_code` of SIGBUS for a page that could not be backed.
pub const BUS_ADRERR: i32 = 2;
/// `si_code` of the SIGKILL a fault gets when no memory is left (the
/// kernel's, as Linux's OOM killer sends it).
pub const SI_KERNEL: i32 = 0x80;

/// Whether rights `prot` allow `access`. On x86 every present page is
/// readable, so any non-empty right allows a read.
pub fn allows(prot: Prot, access: Access) -> bool {
    match access {
        Access::Read => !prot.is_empty(),
        Access::Write => prot.contains(Prot::WRITE),
        Access::Execute => prot.contains(Prot::EXEC),
    }
}

/// Back `page` (page-aligned, inside `region`) with a frame holding its
/// initial contents.
pub fn fill_page(
    fs: &ImageFs,
    p: &mut dyn Platform,
    region: &Region,
    page: u64,
) -> Result<(), Errno> {
    p.mmu().map_zeroed(page, region.prot)?;
    if let Backing::Image {
        image_offset,
        file_bytes,
        ..
    } = region.backing
    {
        let rel = page - region.start;
        if rel < file_bytes {
            let n = (file_bytes - rel).min(PAGE_SIZE) as usize;
            let mut buf = [0u8; PAGE_SIZE as usize];
            let read = fs.read_image(p.block(), image_offset + rel, &mut buf[..n]);
            if let Err(e) = read {
                p.mmu().unmap(page, PAGE_SIZE);
                return Err(e);
            }
            p.mmu().write_mapped(page, &buf[..n]);
        }
    }
    Ok(())
}

/// Resolve a fault at `addr`: map the page if its region allows `access`.
/// No frame left is SIGKILL (out of memory), an unreadable image SIGBUS.
pub fn resolve(
    space: &AddressSpace,
    fs: &ImageFs,
    p: &mut dyn Platform,
    addr: u64,
    access: Access,
) -> Result<(), FaultSignal> {
    let segv = |code| FaultSignal {
        signal: Signal::SIGSEGV,
        code,
        addr,
    };
    let region = *space.find(addr).ok_or(segv(SEGV_MAPERR))?;
    if !allows(region.prot, access) {
        return Err(segv(SEGV_ACCERR));
    }
    let page = page_down(addr);
    if p.mmu().is_mapped(page) {
        // The page table disagrees with the books (a stale entry): make the
        // rights match the region again and let the program retry.
        p.mmu().protect(page, PAGE_SIZE, region.prot);
        return Ok(());
    }
    fill_page(fs, p, &region, page).map_err(|e| match e {
        // No frame left: Linux's OOM killer ends the program (SIGKILL).
        Errno::ENOMEM => FaultSignal {
            signal: Signal::SIGKILL,
            code: SI_KERNEL,
            addr,
        },
        // The image could not be read.
        _ => FaultSignal {
            signal: Signal::SIGBUS,
            code: BUS_ADRERR,
            addr,
        },
    })
}
