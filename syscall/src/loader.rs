//! Loading the program's ELF file: checks, one region per PT_LOAD with its
//! own rights (W^X), file bytes paged in from the image, the bss zeroed.

use crate::mm::{page_down, page_up, AddressSpace, Backing, Kind, Region, TASK_SIZE};
use crate::platform::{Platform, Prot, PAGE_SIZE};
use crate::symbols::Symbols;
use alloc::format;
use alloc::string::String;
use goblin::elf::header::{EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;
use kiln_abi::errno::Errno;
use kiln_abi::BootError;

/// Where a static-PIE program is loaded (as Linux's ELF_ET_DYN_BASE).
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// What the stack builder and the process need to know about the program.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub entry: u64,
    /// Address of the program headers in memory (AT_PHDR).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// Load bias: 0 for ET_EXEC, the base for static PIE.
    pub bias: u64,
    /// First byte after the highest segment, page-aligned: where brk starts.
    pub brk_start: u64,
    pub symbols: Symbols,
}

fn prot_of(flags: u32) -> Prot {
    let mut prot = Prot::empty();
    if flags & PF_R != 0 {
        prot |= Prot::READ;
    }
    if flags & PF_W != 0 {
        prot |= Prot::WRITE;
    }
    if flags & PF_X != 0 {
        prot |= Prot::EXEC;
    }
    prot
}

/// Load the ELF file `bytes`, whose data starts at `image_offset` in the
/// image, into `space`.
pub fn load(
    bytes: &[u8],
    image_offset: u64,
    space: &mut AddressSpace,
    p: &mut dyn Platform,
) -> Result<Loaded, BootError> {
    let err = |m: String| BootError(m);
    let elf =
        Elf::parse(bytes).map_err(|e| err(format!("program is not a valid ELF file: {e}")))?;
    if !elf.is_64 || elf.header.e_machine != EM_X86_64 {
        return Err(err(format!(
            "program is not an x86_64 ELF64 file (machine {}, {}-bit)",
            elf.header.e_machine,
            if elf.is_64 { 64 } else { 32 }
        )));
    }
    if elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP) {
        return Err(err(format!(
            "program is dynamically linked (interpreter {}); only static programs run",
            elf.interpreter.unwrap_or("?")
        )));
    }
    let loads = || {
        elf.program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0)
    };
    let min_vaddr = loads()
        .map(|ph| page_down(ph.p_vaddr))
        .min()
        .ok_or(err("program has no PT_LOAD segment".into()))?;
    let bias = match elf.header.e_type {
        ET_EXEC => 0,
        ET_DYN => PIE_BASE
            .checked_sub(min_vaddr)
            .ok_or(err("static-PIE program asks for a very high base".into()))?,
        t => {
            return Err(err(format!(
                "program is neither an executable nor a static PIE (e_type {t})"
            )))
        }
    };
    let mut brk_start = 0;
    for ph in loads() {
        let bad = |m: &str| err(format!("bad PT_LOAD at {:#x}: {m}", ph.p_vaddr));
        if ph.p_filesz > ph.p_memsz {
            return Err(bad("file size larger than memory size"));
        }
        if ph
            .p_offset
            .checked_add(ph.p_filesz)
            .is_none_or(|e| e > bytes.len() as u64)
        {
            return Err(bad("file bytes beyond the end of the file"));
        }
        let vaddr = ph
            .p_vaddr
            .checked_add(bias)
            .ok_or(bad("address overflows"))?;
        let vend = vaddr
            .checked_add(ph.p_memsz)
            .ok_or(bad("address overflows"))?;
        let (start, end) = (
            page_down(vaddr),
            page_up(vend).ok_or(bad("address overflows"))?,
        );
        if start < crate::mm::MMAP_MIN || end > TASK_SIZE {
            return Err(bad("outside the user address space"));
        }
        let delta = vaddr - start;
        if ph.p_offset < delta || (ph.p_offset - delta) % PAGE_SIZE != 0 {
            return Err(bad(
                "offset and address are not congruent modulo the page size",
            ));
        }
        let mut prot = prot_of(ph.p_flags);
        if prot.contains(Prot::WRITE | Prot::EXEC) {
            prot.remove(Prot::EXEC);
            p.console().write(
                format!(
                    "kiln: segment at {vaddr:#x} asks for write+execute; mapped read-write (W^X)\n"
                )
                .as_bytes(),
            );
        }
        let file_bytes = delta + ph.p_filesz;
        let region = Region {
            start,
            end,
            prot,
            kind: Kind::Segment,
            backing: Backing::Image {
                image_offset: image_offset + ph.p_offset - delta,
                file_bytes,
            },
        };
        space
            .insert(region)
            .map_err(|_| bad("overlaps another segment"))?;
        // Page the file bytes in now, from the copy already in memory; the
        // bss beyond them is demand-paged.
        let file_end = page_up(start + file_bytes).unwrap_or(end);
        let seg_file_start = (ph.p_offset - delta) as usize;
        let mut page = start;
        while page < file_end {
            p.mmu()
                .map_zeroed(page, prot)
                .map_err(|e: Errno| bad(&format!("cannot map page {page:#x}: {e:?}")))?;
            let rel = page - start;
            let n = (file_bytes - rel).min(PAGE_SIZE) as usize;
            let from = seg_file_start + rel as usize;
            p.mmu().write_mapped(page, &bytes[from..from + n]);
            page += PAGE_SIZE;
        }
        brk_start = brk_start.max(end);
    }
    let phoff = elf.header.e_phoff;
    let phdr = match elf.program_headers.iter().find(|ph| ph.p_type == PT_PHDR) {
        Some(ph) => ph.p_vaddr + bias,
        None => loads()
            .find(|ph| ph.p_offset <= phoff && phoff < ph.p_offset + ph.p_filesz)
            .map(|ph| ph.p_vaddr + bias + (phoff - ph.p_offset))
            .unwrap_or(min_vaddr + bias + phoff),
    };
    Ok(Loaded {
        entry: elf.entry + bias,
        phdr,
        phent: elf.header.e_phentsize as u64,
        phnum: elf.program_headers.len() as u64,
        bias,
        brk_start,
        symbols: Symbols::from_elf(&elf, bias),
    })
}
