//! The program's pages: the kernel side of `kiln_syscall::platform::Mmu`.
//! This is the one module that touches program memory, and it does so only
//! through the direct map of frames it found by walking the page table, so
//! no program pointer is ever dereferenced as such.

use crate::mem::layout::{phys_to_virt, USER_END};
use crate::mem::{frame, paging};
use kiln_abi::errno::Errno;
use kiln_syscall::platform::{Mmu, Prot, PAGE_SIZE};
use x86_64::structures::paging::mapper::{MappedFrame, TranslateResult};
use x86_64::structures::paging::{
    Mapper, Page, PageTableFlags as F, PhysFrame, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

pub struct UserPages;

fn page(addr: u64) -> Page<Size4KiB> {
    Page::containing_address(VirtAddr::new(addr))
}

fn flags(prot: Prot) -> F {
    let mut f = F::PRESENT;
    if prot.is_empty() {
        // PROT_NONE: present for the kernel only, so every program access faults.
        return f | F::NO_EXECUTE;
    }
    f |= F::USER_ACCESSIBLE;
    if prot.contains(Prot::WRITE) {
        f |= F::WRITABLE;
    }
    if !prot.contains(Prot::EXEC) {
        f |= F::NO_EXECUTE;
    }
    f
}

/// Physical address of a mapped user address.
fn translate(addr: u64) -> Option<u64> {
    if addr >= USER_END {
        return None;
    }
    match paging::mapper().translate(VirtAddr::new(addr)) {
        TranslateResult::Mapped {
            frame: MappedFrame::Size4KiB(f),
            offset,
            ..
        } => Some(f.start_address().as_u64() + offset),
        _ => None,
    }
}

/// Frame address bits of a page-table entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Map the frame of page-table entry `pte` at the unmapped user page
/// `va`, with the entry's rights.
fn place(va: u64, pte: u64) -> Result<(), Errno> {
    let frame = PhysFrame::containing_address(PhysAddr::new(pte & ADDR_MASK));
    let rights = F::from_bits_truncate(pte & !ADDR_MASK);
    let parents = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
    // SAFETY: the frame already belongs to the program (it is moving within
    // its half), and `va` is a lower-half page with nothing mapped.
    let r = unsafe {
        paging::mapper().map_to_with_table_flags(
            page(va),
            frame,
            rights,
            parents,
            &mut paging::TableFrames,
        )
    };
    r.map(|flush| flush.flush()).map_err(|_| Errno::ENOMEM)
}

/// Forget the mapping of user page `va` without freeing its frame (it has
/// moved elsewhere).
fn clear(va: u64) {
    paging::for_each_user_pte(va, va + PAGE_SIZE, |va, pte| {
        *pte = 0;
        paging::flush_page(va);
    });
}

impl Mmu for UserPages {
    fn is_mapped(&self, page_addr: u64) -> bool {
        translate(page_addr).is_some()
    }

    fn map_zeroed(&mut self, page_addr: u64, prot: Prot) -> Result<(), Errno> {
        if page_addr >= USER_END {
            return Err(Errno::EFAULT);
        }
        if self.is_mapped(page_addr) {
            self.protect(page_addr, PAGE_SIZE, prot);
            return Ok(());
        }
        let f = frame::alloc_zeroed().ok_or(Errno::ENOMEM)?;
        let frame = PhysFrame::containing_address(PhysAddr::new(f));
        let parents = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        // SAFETY: a fresh frame mapped at a lower-half address, which only
        // the program uses.
        let r = unsafe {
            paging::mapper().map_to_with_table_flags(
                page(page_addr),
                frame,
                flags(prot),
                parents,
                &mut paging::TableFrames,
            )
        };
        match r {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(_) => {
                frame::free(f);
                Err(Errno::ENOMEM)
            }
        }
    }

    fn unmap(&mut self, start: u64, len: u64) {
        paging::for_each_user_pte(
            start & !(PAGE_SIZE - 1),
            start.saturating_add(len),
            |va, pte| {
                let frame_addr = *pte & ADDR_MASK;
                *pte = 0;
                paging::flush_page(va);
                frame::free(frame_addr);
            },
        );
    }

    fn protect(&mut self, start: u64, len: u64, prot: Prot) {
        let bits = flags(prot).bits();
        // The clock page never becomes writable or executable.
        let clock_bits = (bits & !F::WRITABLE.bits()) | F::NO_EXECUTE.bits();
        let clock_page = crate::vdso::vvar_phys();
        paging::for_each_user_pte(
            start & !(PAGE_SIZE - 1),
            start.saturating_add(len),
            |va, pte| {
                let frame = *pte & ADDR_MASK;
                *pte = frame
                    | if frame == clock_page {
                        clock_bits
                    } else {
                        bits
                    };
                paging::flush_page(va);
            },
        );
    }

    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> Result<(), Errno> {
        if to.saturating_add(len) > USER_END {
            return Err(Errno::EFAULT);
        }
        let mut entries = alloc::vec::Vec::new();
        paging::for_each_user_pte(from, from.saturating_add(len), |va, pte| {
            entries.push((va, *pte))
        });
        // Map every frame at its new address first: only this can fail (a
        // page table), and then the old entries are still intact.
        for (i, &(va, pte)) in entries.iter().enumerate() {
            if place(va - from + to, pte).is_err() {
                for &(done, _) in &entries[..i] {
                    clear(done - from + to);
                }
                return Err(Errno::ENOMEM);
            }
        }
        for &(va, _) in &entries {
            clear(va);
        }
        Ok(())
    }

    fn map_clock_page(&mut self, page_addr: u64) -> Result<(), Errno> {
        if page_addr >= USER_END || self.is_mapped(page_addr) {
            return Err(Errno::EINVAL);
        }
        let frame = PhysFrame::containing_address(PhysAddr::new(crate::vdso::vvar_phys()));
        let parents = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        let rights = F::PRESENT | F::USER_ACCESSIBLE | F::NO_EXECUTE;
        // SAFETY: the clock page is a kernel frame that lives forever; the
        // program gets it read-only. `unmap` must not free it: see there.
        unsafe {
            paging::mapper().map_to_with_table_flags(
                page(page_addr),
                frame,
                rights,
                parents,
                &mut paging::TableFrames,
            )
        }
        .map_err(|_| Errno::ENOMEM)?
        .flush();
        Ok(())
    }

    fn read_mapped(&self, addr: u64, buf: &mut [u8]) {
        let p = translate(addr).expect("read_mapped on an unmapped page");
        debug_assert!((addr & (PAGE_SIZE - 1)) + buf.len() as u64 <= PAGE_SIZE);
        // SAFETY: `p..p+len` lies inside one mapped frame, reached through
        // the direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(p) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
    }

    fn write_mapped(&mut self, addr: u64, data: &[u8]) {
        let p = translate(addr).expect("write_mapped on an unmapped page");
        debug_assert!((addr & (PAGE_SIZE - 1)) + data.len() as u64 <= PAGE_SIZE);
        // SAFETY: as in read_mapped.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), phys_to_virt(p) as *mut u8, data.len())
        };
    }
}

/// Read program memory for a crash report: only pages that are mapped and
/// user-accessible, no demand faults. Returns false if any byte is missing.
pub fn peek(addr: u64, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        let at = addr.wrapping_add(done as u64);
        let in_page = (PAGE_SIZE - (at & (PAGE_SIZE - 1))) as usize;
        let n = in_page.min(buf.len() - done);
        let Some(p) = translate(at) else {
            return false;
        };
        // SAFETY: `p..p+n` lies inside one mapped frame, reached through the
        // direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(p) as *const u8,
                buf[done..].as_mut_ptr(),
                n,
            )
        };
        done += n;
    }
    true
}
