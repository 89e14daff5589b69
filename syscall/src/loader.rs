//! Loading the program's ELF file, and its interpreter (the dynamic loader
//! named by PT_INTERP) when it has one: the checks `kiln build` makes
//! ([`kiln_image::program`]) and the machine's memory, one region per
//! PT_LOAD with the rights it asks for (write+execute included, as Linux),
//! file bytes paged in from the image, the bss zeroed.
//! As Linux: an ET_EXEC program at its addresses, a PIE program at
//! [`PIE_BASE`], the interpreter wherever mmap would put it (top-down).

use crate::mm::{page_down, page_up, AddressSpace, Backing, Kind, Region, TASK_SIZE};
use crate::platform::{Platform, Prot, PAGE_SIZE};
use crate::symbols::Symbols;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use goblin::elf::header::{EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;
use kiln_abi::errno::Errno;
use kiln_abi::BootError;
use kiln_image::program::Problem;

/// Where a position-independent program is loaded (Linux's
/// `ELF_ET_DYN_BASE` without address randomisation): static-PIE programs,
/// and PIE programs that have an interpreter.
pub const PIE_BASE: u64 = kiln_abi::PIE_BASE;

/// What the stack builder and the process need to know about the program.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Where the first thread starts: the interpreter's entry when there
    /// is one, else the program's.
    pub entry: u64,
    /// The program's own entry (AT_ENTRY).
    pub prog_entry: u64,
    /// Where the interpreter was loaded (AT_BASE); 0 without one.
    pub interp_base: u64,
    /// Address of the program headers in memory (AT_PHDR).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// Load bias: 0 for ET_EXEC, the base for PIE.
    pub bias: u64,
    /// First byte after the highest segment, page-aligned: where brk starts.
    pub brk_start: u64,
    pub symbols: Symbols,
}

/// An ELF file of the image: its bytes, where its data starts in the
/// image, and its entry id (for /proc/self/maps).
pub struct ImageElf<'a> {
    pub bytes: &'a [u8],
    pub image_offset: u64,
    pub file: u32,
}

/// Where an object goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The program: ET_EXEC at its addresses, ET_DYN at [`PIE_BASE`].
    Program,
    /// The interpreter: ET_DYN wherever there is room, top-down as mmap.
    Interpreter,
}

/// One object mapped into the address space.
struct Mapped {
    entry: u64,
    bias: u64,
    phdr: u64,
    phent: u64,
    phnum: u64,
    end: u64,
    symbols: Symbols,
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

/// A file of the image read whole: (bytes, image offset of its data, entry).
pub type ReadFile<'a> =
    &'a mut dyn FnMut(&mut dyn Platform, &str) -> Result<(Vec<u8>, u64, u32), BootError>;

/// Load the program, and its interpreter (PT_INTERP) when it has one, as
/// Linux's `load_elf_binary` does. `read` reads the interpreter from the
/// image by its path.
pub fn load(
    program: ImageElf<'_>,
    space: &mut AddressSpace,
    p: &mut dyn Platform,
    read: ReadFile<'_>,
) -> Result<Loaded, BootError> {
    let elf = parse(program.bytes, "program", p)?;
    let interp = elf.interpreter.map(String::from);
    let prog = map_object(&elf, &program, space, p, Place::Program, "program")?;
    let (entry, interp_base, symbols) = match &interp {
        None => (prog.entry, 0, prog.symbols),
        Some(path) => {
            let (bytes, image_offset, file) = read(p, path)?;
            let ielf = parse(&bytes, "interpreter", p)?;
            if ielf.header.e_type != ET_DYN || ielf.interpreter.is_some() {
                return Err(BootError(format!(
                    "interpreter {path} is not a shared object without an interpreter"
                )));
            }
            let obj = ImageElf {
                bytes: &bytes,
                image_offset,
                file,
            };
            let i = map_object(&ielf, &obj, space, p, Place::Interpreter, "interpreter")?;
            let mut syms = prog.symbols;
            syms.merge(i.symbols);
            (i.entry, i.bias, syms)
        }
    };
    Ok(Loaded {
        entry,
        prog_entry: prog.entry,
        interp_base,
        phdr: prog.phdr,
        phent: prog.phent,
        phnum: prog.phnum,
        bias: prog.bias,
        brk_start: prog.end,
        symbols,
    })
}

/// Check an ELF file of the image and parse it: the rules `kiln build`
/// applies (for an image built elsewhere), that no segment or TLS block
/// asks for more memory than the VM has (`total_ram`; Linux refuses such a
/// mapping at exec, with its default overcommit rule), then goblin's parse
/// and the machine. The rules run first: goblin trusts the file's counts.
pub fn check<'a>(bytes: &'a [u8], what: &str, total_ram: u64) -> Result<Elf<'a>, BootError> {
    let checked = kiln_image::program::check(bytes).map_err(|e| match e.problem {
        Problem::NotElf => BootError(format!("{what} is not a valid ELF file: {e}")),
        _ => BootError(format!("{what} is refused: {e}")),
    })?;
    for (index, ph) in checked.phdrs.iter().enumerate() {
        let sized = ph.p_type == PT_LOAD || ph.p_type == kiln_image::program::PT_TLS;
        if sized && ph.p_memsz > total_ram {
            let kind = if ph.p_type == PT_LOAD {
                "PT_LOAD"
            } else {
                "PT_TLS"
            };
            return Err(BootError(format!(
                "{what} is refused: program header {index} ({kind}): p_memsz {:#x} is more \
                 than the VM's memory ({total_ram} bytes)",
                ph.p_memsz
            )));
        }
    }
    let elf =
        Elf::parse(bytes).map_err(|e| BootError(format!("{what} is not a valid ELF file: {e}")))?;
    if !elf.is_64 || elf.header.e_machine != EM_X86_64 {
        return Err(BootError(format!(
            "{what} is not an x86_64 ELF64 file (machine {}, {}-bit)",
            elf.header.e_machine,
            if elf.is_64 { 64 } else { 32 }
        )));
    }
    Ok(elf)
}

fn parse<'a>(bytes: &'a [u8], what: &str, p: &mut dyn Platform) -> Result<Elf<'a>, BootError> {
    check(bytes, what, p.info().total_ram)
}

/// Map one object's PT_LOAD segments: one region per segment with its own
/// rights, file bytes paged in now from the copy in memory, the bss
/// demand-paged.
fn map_object(
    elf: &Elf<'_>,
    obj: &ImageElf<'_>,
    space: &mut AddressSpace,
    p: &mut dyn Platform,
    place: Place,
    what: &str,
) -> Result<Mapped, BootError> {
    let err = |m: String| BootError(m);
    let bytes = obj.bytes;
    let loads = || {
        elf.program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0)
    };
    let min_vaddr = loads()
        .map(|ph| page_down(ph.p_vaddr))
        .min()
        .ok_or(err(format!("{what} has no PT_LOAD segment")))?;
    let max_vend = loads()
        .map(|ph| ph.p_vaddr.saturating_add(ph.p_memsz))
        .max()
        .and_then(page_up)
        .ok_or(err(format!(
            "{what} has a segment beyond the address space"
        )))?;
    let span = max_vend
        .checked_sub(min_vaddr)
        .ok_or(err(format!("{what} has segments in a bad order")))?;
    let bias = match (elf.header.e_type, place) {
        (ET_EXEC, Place::Program) => 0,
        (ET_DYN, Place::Program) => PIE_BASE.checked_sub(min_vaddr).ok_or(err(format!(
            "position-independent {what} asks for a very high base"
        )))?,
        (ET_DYN, Place::Interpreter) => {
            let at = space
                .find_free(span, crate::mm::MMAP_MIN, crate::mm::MMAP_TOP)
                .ok_or(err(format!("no room for the {what} ({span} bytes)")))?;
            at.wrapping_sub(min_vaddr)
        }
        (t, _) => {
            return Err(err(format!(
                "{what} is neither an executable nor a shared object (e_type {t})"
            )))
        }
    };
    let mut end = 0;
    for ph in loads() {
        let bad = |m: &str| {
            err(format!(
                "bad PT_LOAD of the {what} at {:#x}: {m}",
                ph.p_vaddr
            ))
        };
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
        let (start, seg_end) = (
            page_down(vaddr),
            page_up(vend).ok_or(bad("address overflows"))?,
        );
        if start < crate::mm::MMAP_MIN || seg_end > TASK_SIZE {
            return Err(bad("outside the user address space"));
        }
        let delta = vaddr - start;
        if ph.p_offset < delta || (ph.p_offset - delta) % PAGE_SIZE != 0 {
            return Err(bad(
                "offset and address are not congruent modulo the page size",
            ));
        }
        // Write+execute is granted, as Linux grants it (JITs and some
        // old toolchains' programs need it).
        let prot = prot_of(ph.p_flags);
        let file_bytes = delta + ph.p_filesz;
        let region = Region {
            start,
            end: seg_end,
            prot,
            kind: Kind::Segment,
            backing: Backing::Image {
                image_offset: obj.image_offset + ph.p_offset - delta,
                file_bytes,
                file: obj.file,
            },
        };
        space
            .insert(region)
            .map_err(|_| bad("overlaps another segment"))?;
        // Page the file bytes in now, from the copy already in memory; the
        // bss beyond them is demand-paged.
        let file_end = page_up(start + file_bytes).unwrap_or(seg_end);
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
        end = end.max(seg_end);
    }
    let phoff = elf.header.e_phoff;
    let phdr = match elf.program_headers.iter().find(|ph| ph.p_type == PT_PHDR) {
        Some(ph) => ph.p_vaddr.wrapping_add(bias),
        None => loads()
            .find(|ph| ph.p_offset <= phoff && phoff < ph.p_offset + ph.p_filesz)
            .map(|ph| ph.p_vaddr.wrapping_add(bias) + (phoff - ph.p_offset))
            .unwrap_or(min_vaddr.wrapping_add(bias) + phoff),
    };
    Ok(Mapped {
        entry: elf.entry.wrapping_add(bias),
        bias,
        phdr,
        phent: elf.header.e_phentsize as u64,
        phnum: elf.program_headers.len() as u64,
        end,
        symbols: Symbols::from_elf(elf, bias),
    })
}
