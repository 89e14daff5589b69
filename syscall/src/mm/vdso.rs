//! Mapping the kernel's vDSO into the program at boot: the clock page
//! (`[vvar]`, read-only) and one page above it the vDSO's bytes (`[vdso]`,
//! read+exec), between the mmap area and the stack. Its address goes to
//! the program as AT_SYSINFO_EHDR.

use super::{page_up, AddressSpace, Backing, Kind, Region, MMAP_TOP};
use crate::platform::{Platform, Prot, PAGE_SIZE};
use alloc::format;
use kiln_abi::BootError;

/// Where the clock page goes; the vDSO follows one page above.
pub const VVAR_BASE: u64 = MMAP_TOP;
/// The vDSO's base address (AT_SYSINFO_EHDR).
pub const VDSO_BASE: u64 = VVAR_BASE + PAGE_SIZE;
/// Largest vDSO accepted.
const MAX_VDSO: u64 = 64 * PAGE_SIZE;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Bytes the vDSO occupies in memory: an ELF64 ET_DYN whose PT_LOAD
/// segments start at vaddr 0. None if it is not one.
pub fn image_size(elf: &[u8]) -> Option<u64> {
    if elf.get(..4)? != b"\x7fELF" || elf[4] != 2 || u16_at(elf, 16)? != 3 {
        return None;
    }
    let phoff = u64_at(elf, 32)? as usize;
    let phentsize = u16_at(elf, 54)? as usize;
    let phnum = u16_at(elf, 56)? as usize;
    let mut end = elf.len() as u64;
    let mut first_load = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(elf, ph)? != 1 {
            continue;
        }
        let vaddr = u64_at(elf, ph + 16)?;
        let memsz = u64_at(elf, ph + 40)?;
        first_load.get_or_insert(vaddr);
        end = end.max(vaddr.checked_add(memsz)?);
    }
    (first_load? == 0 && end <= MAX_VDSO).then(|| page_up(end))?
}

/// Map the platform's vDSO, if it has one and the clock page can be
/// mapped; returns its base address.
pub fn map(space: &mut AddressSpace, p: &mut dyn Platform) -> Result<Option<u64>, BootError> {
    let Some(elf) = p.vdso() else {
        return Ok(None);
    };
    let size = image_size(elf).ok_or_else(|| {
        BootError(format!(
            "the kernel's vDSO is not a usable ELF ({} bytes)",
            elf.len()
        ))
    })?;
    if p.mmu().map_clock_page(VVAR_BASE).is_err() {
        // No clock page, no vDSO: programs fall back to system calls.
        return Ok(None);
    }
    for page in (0..size).step_by(PAGE_SIZE as usize) {
        let at = VDSO_BASE + page;
        p.mmu()
            .map_zeroed(at, Prot::READ | Prot::EXEC)
            .map_err(|_| BootError("no memory for the vDSO".into()))?;
        let from = (page as usize).min(elf.len());
        let to = (page as usize + PAGE_SIZE as usize).min(elf.len());
        if from < to {
            p.mmu().write_mapped(at, &elf[from..to]);
        }
    }
    let regions = [
        (VVAR_BASE, VVAR_BASE + PAGE_SIZE, Prot::READ, Kind::Vvar),
        (
            VDSO_BASE,
            VDSO_BASE + size,
            Prot::READ | Prot::EXEC,
            Kind::Vdso,
        ),
    ];
    for (start, end, prot, kind) in regions {
        space
            .insert(Region {
                start,
                end,
                prot,
                kind,
                backing: Backing::Zero,
            })
            .map_err(|_| BootError("the program overlaps the vDSO area".into()))?;
    }
    Ok(Some(VDSO_BASE))
}
