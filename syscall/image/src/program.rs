//! The rules the program's ELF file must meet. `kiln build` refuses a
//! program that breaks them, and the kernel's loader refuses one in an image
//! built elsewhere: one definition for both sides. They are what Linux's
//! `execve` refuses (`load_elf_binary`: program header size and count,
//! `p_filesz > p_memsz`, segments beyond the user address space, offsets
//! not congruent with addresses, an interpreter path longer than
//! `PATH_MAX`), what makes no sense in a file (bytes beyond its end,
//! segments on top of each other) and sizes no VM can hold.
//!
//! The checks read the raw bytes with no ELF library, so that they run
//! before anything trusts a size from the file. Write+execute segments are
//! allowed, as Linux allows them.

use super::bytes::Reader;
use alloc::vec::Vec;

/// The page size segments are mapped with.
pub const PAGE: u64 = 4096;
/// Lowest address a fixed-address program may use (Linux's default
/// `vm.mmap_min_addr`).
pub const MMAP_MIN: u64 = 0x1_0000;
/// End of the user address space (47 bits less a guard page, Linux's
/// `TASK_SIZE` with 4-level paging).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Memory no Kiln VM can have (1 TiB: QEMU gives x86_64 guests 40 physical
/// address bits): a segment, a TLS block, or all segments together this
/// large are refused.
pub const MAX_MEMORY: u64 = 1 << 40;
/// Largest program-header table Linux reads.
pub const MAX_PHDRS_SIZE: u64 = 65536;
/// Longest interpreter path, NUL included (Linux's `PATH_MAX`).
pub const MAX_INTERP: u64 = 4096;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_TLS: u32 = 7;
/// Size of an ELF64 file header and of one ELF64 program header.
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u64 = 56;

/// Where in the file a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The ELF file header.
    Header,
    /// Program header `index` (0-based), of type `p_type`.
    Phdr { index: usize, p_type: u32 },
}

/// What is wrong with the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    NotElf,
    NotElf64LittleEndian,
    NotX86_64,
    NotExecutable,
    BadEntrySize,
    NoProgramHeaders,
    TooManyProgramHeaders,
    NoLoadSegment,
    BeyondFile { file_len: u64 },
    FileLargerThanMemory { memsz: u64 },
    TooLarge,
    BelowMmapMin,
    BeyondUserSpace,
    NotCongruent,
    Overlaps { other: usize },
    BadAlign,
    BadInterpreter,
}

/// Why a program's ELF file is refused: the field, its value and the
/// problem, e.g. "program header 3 (PT_LOAD): p_memsz 0x10000000000 is
/// 1 TiB or more, more memory than a VM can have".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfError {
    pub place: Place,
    /// The field as the ELF specification names it.
    pub field: &'static str,
    pub value: u64,
    pub problem: Problem,
}

fn type_name(p_type: u32) -> &'static str {
    match p_type {
        PT_LOAD => "PT_LOAD",
        PT_INTERP => "PT_INTERP",
        PT_TLS => "PT_TLS",
        _ => "another type",
    }
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let Place::Phdr { index, p_type } = self.place {
            write!(f, "program header {index} ({}): ", type_name(p_type))?;
        }
        let v = self.value;
        if self.problem == Problem::NotElf {
            return write!(f, "{} does not start with the ELF magic", self.field);
        }
        if v < 4096 {
            write!(f, "{} {v} ", self.field)?;
        } else {
            write!(f, "{} {v:#x} ", self.field)?;
        }
        match self.problem {
            Problem::NotElf => Ok(()),
            Problem::NotElf64LittleEndian => write!(f, "is not ELF64 little-endian"),
            Problem::NotX86_64 => write!(f, "is not x86_64 (62)"),
            Problem::NotExecutable => {
                write!(f, "is neither an executable (2) nor a shared object (3)")
            }
            Problem::BadEntrySize => {
                write!(f, "is not 56, the size of an ELF64 program header")
            }
            Problem::NoProgramHeaders => write!(f, "says there are no program headers"),
            Problem::TooManyProgramHeaders => write!(
                f,
                "is too many: Linux reads at most {MAX_PHDRS_SIZE} bytes of program headers"
            ),
            Problem::NoLoadSegment => write!(f, "program headers hold no PT_LOAD segment"),
            Problem::BeyondFile { file_len } => {
                write!(f, "is beyond the end of the file ({file_len} bytes)")
            }
            Problem::FileLargerThanMemory { memsz } => {
                write!(f, "is larger than p_memsz {memsz:#x}")
            }
            Problem::TooLarge => write!(f, "is 1 TiB or more, more memory than a VM can have"),
            Problem::BelowMmapMin => write!(
                f,
                "is below {MMAP_MIN:#x}, the lowest address a program may map"
            ),
            Problem::BeyondUserSpace => write!(
                f,
                "is beyond the 47-bit user address space (which ends at {TASK_SIZE:#x})"
            ),
            Problem::NotCongruent => {
                write!(f, "and p_vaddr differ modulo the page size (4096)")
            }
            Problem::Overlaps { other } => {
                write!(f, "overlaps the segment of program header {other}")
            }
            Problem::BadAlign => write!(f, "is not a power of two below 1 TiB"),
            Problem::BadInterpreter => {
                write!(f, "is not a NUL-terminated path of 2 to {MAX_INTERP} bytes")
            }
        }
    }
}

/// One program header, as read from the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

/// What the checks learnt about a program that passed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// `ET_EXEC` or `ET_DYN`.
    pub e_type: u16,
    /// The program headers, in file order.
    pub phdrs: Vec<Phdr>,
}

impl Checked {
    /// The memory the PT_LOAD segments ask for, together.
    pub fn load_memory(&self) -> u64 {
        self.phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .map(|p| p.p_memsz)
            .sum()
    }
}

/// Check the ELF file `bytes` against the rules of this module.
pub fn check(bytes: &[u8]) -> Result<Checked, ElfError> {
    let header = |field, value, problem| ElfError {
        place: Place::Header,
        field,
        value,
        problem,
    };
    if bytes.len() < EHDR_SIZE || bytes[..4] != *b"\x7fELF" {
        return Err(header("e_ident", 0, Problem::NotElf));
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        let class_data = u64::from(bytes[4]) << 8 | u64::from(bytes[5]);
        return Err(header("e_ident", class_data, Problem::NotElf64LittleEndian));
    }
    let mut r = Reader::new(&bytes[16..EHDR_SIZE]);
    let field = "ELF header";
    let e_type = r.u16(field).unwrap_or(0);
    let e_machine = r.u16(field).unwrap_or(0);
    let _version = r.u32(field).unwrap_or(0);
    let _entry = r.u64(field).unwrap_or(0);
    let e_phoff = r.u64(field).unwrap_or(0);
    let _shoff = r.u64(field).unwrap_or(0);
    let _flags = r.u32(field).unwrap_or(0);
    let _ehsize = r.u16(field).unwrap_or(0);
    let e_phentsize = r.u16(field).unwrap_or(0);
    let e_phnum = r.u16(field).unwrap_or(0);
    if e_machine != EM_X86_64 {
        return Err(header("e_machine", e_machine.into(), Problem::NotX86_64));
    }
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(header("e_type", e_type.into(), Problem::NotExecutable));
    }
    if u64::from(e_phentsize) != PHDR_SIZE {
        return Err(header(
            "e_phentsize",
            e_phentsize.into(),
            Problem::BadEntrySize,
        ));
    }
    let table = u64::from(e_phnum) * PHDR_SIZE;
    if e_phnum == 0 {
        return Err(header("e_phnum", 0, Problem::NoProgramHeaders));
    }
    if table > MAX_PHDRS_SIZE {
        return Err(header(
            "e_phnum",
            e_phnum.into(),
            Problem::TooManyProgramHeaders,
        ));
    }
    let file_len = bytes.len() as u64;
    let table_end = e_phoff.checked_add(table).filter(|&e| e <= file_len);
    let Some(table_end) = table_end else {
        return Err(header("e_phoff", e_phoff, Problem::BeyondFile { file_len }));
    };
    // Bounded by MAX_PHDRS_SIZE: at most 1170 headers.
    let mut phdrs = Vec::with_capacity(e_phnum as usize);
    let mut r = Reader::new(&bytes[e_phoff as usize..table_end as usize]);
    for _ in 0..e_phnum {
        let f = "program header";
        phdrs.push(Phdr {
            p_type: r.u32(f).unwrap_or(0),
            p_flags: r.u32(f).unwrap_or(0),
            p_offset: r.u64(f).unwrap_or(0),
            p_vaddr: r.u64(f).unwrap_or(0),
            p_filesz: {
                let _paddr = r.u64(f).unwrap_or(0);
                r.u64(f).unwrap_or(0)
            },
            p_memsz: r.u64(f).unwrap_or(0),
            p_align: r.u64(f).unwrap_or(0),
        });
    }
    let mut total = 0u64;
    for (index, ph) in phdrs.iter().enumerate() {
        check_phdr(bytes, e_type, index, ph)?;
        if ph.p_type == PT_LOAD {
            // Each is below MAX_MEMORY: at most 1170 of them cannot overflow.
            total += ph.p_memsz;
        }
    }
    if !phdrs.iter().any(|p| p.p_type == PT_LOAD) {
        return Err(header("e_phnum", e_phnum.into(), Problem::NoLoadSegment));
    }
    if total >= MAX_MEMORY {
        return Err(header("p_memsz of all PT_LOAD", total, Problem::TooLarge));
    }
    check_overlaps(&phdrs)?;
    Ok(Checked { e_type, phdrs })
}

fn check_phdr(bytes: &[u8], e_type: u16, index: usize, ph: &Phdr) -> Result<(), ElfError> {
    let err = |field, value, problem| ElfError {
        place: Place::Phdr {
            index,
            p_type: ph.p_type,
        },
        field,
        value,
        problem,
    };
    let file_len = bytes.len() as u64;
    let in_file = |ph: &Phdr| {
        ph.p_offset
            .checked_add(ph.p_filesz)
            .filter(|&end| end <= file_len)
            .ok_or(err(
                "p_offset + p_filesz",
                ph.p_offset.saturating_add(ph.p_filesz),
                Problem::BeyondFile { file_len },
            ))
    };
    let sizes = |ph: &Phdr| {
        if ph.p_filesz > ph.p_memsz {
            return Err(err(
                "p_filesz",
                ph.p_filesz,
                Problem::FileLargerThanMemory { memsz: ph.p_memsz },
            ));
        }
        if ph.p_memsz >= MAX_MEMORY {
            return Err(err("p_memsz", ph.p_memsz, Problem::TooLarge));
        }
        Ok(())
    };
    match ph.p_type {
        PT_LOAD => {
            sizes(ph)?;
            in_file(ph)?;
            if ph.p_memsz == 0 {
                // Linux maps nothing for it.
                return Ok(());
            }
            if ph.p_offset % PAGE != ph.p_vaddr % PAGE {
                return Err(err("p_offset", ph.p_offset, Problem::NotCongruent));
            }
            let end = ph
                .p_vaddr
                .checked_add(ph.p_memsz)
                .filter(|&e| e <= TASK_SIZE);
            if end.is_none() {
                return Err(err(
                    "p_vaddr + p_memsz",
                    ph.p_vaddr.saturating_add(ph.p_memsz),
                    Problem::BeyondUserSpace,
                ));
            }
            // A position-independent object goes where the loader puts it;
            // a fixed-address one must stay above the lowest mappable page.
            if e_type == ET_EXEC && ph.p_vaddr < MMAP_MIN {
                return Err(err("p_vaddr", ph.p_vaddr, Problem::BelowMmapMin));
            }
        }
        PT_TLS => {
            sizes(ph)?;
            in_file(ph)?;
            if ph.p_align != 0 && (!ph.p_align.is_power_of_two() || ph.p_align >= MAX_MEMORY) {
                return Err(err("p_align", ph.p_align, Problem::BadAlign));
            }
        }
        PT_INTERP => {
            in_file(ph)?;
            let path = &bytes[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
            if !(2..=MAX_INTERP).contains(&ph.p_filesz) || path.last() != Some(&0) {
                return Err(err("p_filesz", ph.p_filesz, Problem::BadInterpreter));
            }
        }
        _ => {}
    }
    Ok(())
}

/// PT_LOAD segments may not share a page: each becomes a mapping of its
/// own, with its own rights.
fn check_overlaps(phdrs: &[Phdr]) -> Result<(), ElfError> {
    // (first page, end of last page, index); ends fit: checked before.
    let mut spans: Vec<(u64, u64, usize)> = phdrs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.p_type == PT_LOAD && p.p_memsz > 0)
        .map(|(i, p)| {
            let start = p.p_vaddr & !(PAGE - 1);
            let end = (p.p_vaddr + p.p_memsz).div_ceil(PAGE) * PAGE;
            (start, end, i)
        })
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((_, end_a, a), (start_b, _, b)) = (pair[0], pair[1]);
        if start_b < end_a {
            let (first, second) = (a.min(b), a.max(b));
            return Err(ElfError {
                place: Place::Phdr {
                    index: second,
                    p_type: PT_LOAD,
                },
                field: "p_vaddr",
                value: phdrs[second].p_vaddr,
                problem: Problem::Overlaps { other: first },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// An ELF64 x86_64 file of type `e_type` with these program headers
    /// (type, flags, offset, vaddr, filesz, memsz, align) and `len` bytes.
    fn elf(e_type: u16, phdrs: &[[u64; 7]], len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len.max(64 + 56 * phdrs.len())];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, p) in phdrs.iter().enumerate() {
            let at = 64 + 56 * i;
            b[at..at + 4].copy_from_slice(&(p[0] as u32).to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&(p[1] as u32).to_le_bytes());
            for (k, v) in [
                (8, p[2]),
                (16, p[3]),
                (24, p[3]),
                (32, p[4]),
                (40, p[5]),
                (48, p[6]),
            ] {
                b[at + k..at + k + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        b
    }

    const TEXT: [u64; 7] = [1, 5, 0, 0x40_0000, 0x2000, 0x2000, 0x1000];
    const DATA: [u64; 7] = [1, 6, 0x2000, 0x40_3000, 0x100, 0x5000, 0x1000];

    fn refused(e_type: u16, phdrs: &[[u64; 7]]) -> String {
        check(&elf(e_type, phdrs, 0x3000)).unwrap_err().to_string()
    }

    #[test]
    fn accepts_ordinary_programs_and_write_execute_segments() {
        let c = check(&elf(ET_EXEC, &[TEXT, DATA], 0x3000)).unwrap();
        assert_eq!(c.e_type, ET_EXEC);
        assert_eq!(c.phdrs.len(), 2);
        assert_eq!(c.load_memory(), 0x7000);
        let rwx = [1, 7, 0, 0x40_0000, 0x3000, 0x8000, 0x1000];
        assert!(check(&elf(ET_EXEC, &[rwx], 0x3000)).is_ok());
        let pie = [1, 5, 0, 0, 0x2000, 0x2000, 0x1000];
        assert!(check(&elf(ET_DYN, &[pie], 0x3000)).is_ok());
    }

    #[test]
    fn refuses_absurd_sizes_naming_the_field() {
        let mut huge = DATA;
        huge[5] = 1 << 40;
        assert_eq!(
            refused(ET_EXEC, &[TEXT, huge]),
            "program header 1 (PT_LOAD): p_memsz 0x10000000000 is 1 TiB or more, \
             more memory than a VM can have"
        );
        let tls = [PT_TLS as u64, 4, 0x2000, 0x40_3000, 0x10, 1 << 40, 8];
        assert_eq!(
            refused(ET_EXEC, &[TEXT, DATA, tls]),
            "program header 2 (PT_TLS): p_memsz 0x10000000000 is 1 TiB or more, \
             more memory than a VM can have"
        );
        let mut odd_tls = tls;
        odd_tls[5] = 0x100;
        odd_tls[6] = 24;
        assert!(refused(ET_EXEC, &[TEXT, odd_tls]).contains("p_align 24 is not a power of two"));
        let mut big_file = DATA;
        big_file[4] = 0x6000;
        assert_eq!(
            refused(ET_EXEC, &[TEXT, big_file]),
            "program header 1 (PT_LOAD): p_filesz 0x6000 is larger than p_memsz 0x5000"
        );
        // Many segments below the limit that add up beyond it.
        let many: Vec<[u64; 7]> = (0..3)
            .map(|i| [1, 6, 0, 0x1000_0000_0000 * (i + 1), 0, 1 << 39, 0x1000])
            .collect();
        assert!(refused(ET_EXEC, &many).starts_with("p_memsz of all PT_LOAD 0x18000000000"));
    }

    #[test]
    fn refuses_segments_outside_the_file_or_the_address_space() {
        let mut past = DATA;
        past[2] = 0x2000;
        past[4] = 0x1001;
        assert_eq!(
            refused(ET_EXEC, &[TEXT, past]),
            "program header 1 (PT_LOAD): p_offset + p_filesz 0x3001 is beyond the end of \
             the file (12288 bytes)"
        );
        let mut high = DATA;
        high[3] = 0x7fff_ffff_e000;
        assert!(refused(ET_EXEC, &[TEXT, high])
            .contains("p_vaddr + p_memsz 0x800000003000 is beyond the 47-bit user address space"));
        let mut wrap = DATA;
        wrap[3] = u64::MAX - 0xfff;
        assert!(refused(ET_EXEC, &[TEXT, wrap]).contains("47-bit"));
        let mut low = TEXT;
        low[3] = 0x1000;
        low[2] = 0x1000;
        low[4] = 0x1000;
        assert!(refused(ET_EXEC, &[low]).contains("p_vaddr 0x1000 is below 0x10000"));
        let mut skew = DATA;
        skew[3] += 8;
        assert!(refused(ET_EXEC, &[TEXT, skew]).contains("p_offset 0x2000 and p_vaddr differ"));
    }

    #[test]
    fn refuses_overlapping_segments() {
        let mut on_text = DATA;
        on_text[3] = 0x40_1000;
        assert_eq!(
            refused(ET_EXEC, &[TEXT, on_text]),
            "program header 1 (PT_LOAD): p_vaddr 0x401000 overlaps the segment of program header 0"
        );
        // Sharing a page is overlapping: each segment is a mapping.
        let mut same_page = DATA;
        same_page[2] = 0x2100;
        same_page[3] = 0x40_1100;
        assert!(refused(ET_EXEC, &[TEXT, same_page]).contains("overlaps"));
    }

    #[test]
    fn refuses_bad_headers() {
        assert!(check(b"\x7fELF")
            .unwrap_err()
            .to_string()
            .contains("e_ident"));
        let mut b = elf(ET_EXEC, &[TEXT], 0x3000);
        b[54] = 32;
        assert_eq!(
            check(&b).unwrap_err().to_string(),
            "e_phentsize 32 is not 56, the size of an ELF64 program header"
        );
        let mut b = elf(ET_EXEC, &[TEXT], 0x3000);
        b[56..58].copy_from_slice(&2000u16.to_le_bytes());
        assert!(check(&b)
            .unwrap_err()
            .to_string()
            .starts_with("e_phnum 2000 is too many"));
        let mut b = elf(ET_EXEC, &[TEXT], 0x3000);
        b[32..40].copy_from_slice(&0x2ff0u64.to_le_bytes());
        assert!(check(&b)
            .unwrap_err()
            .to_string()
            .starts_with("e_phoff 0x2ff0 is beyond"));
        assert!(refused(ET_EXEC, &[]).contains("no program headers"));
        assert!(refused(ET_EXEC, &[[4, 4, 0, 0, 0, 0, 4]]).contains("no PT_LOAD"));
        assert!(refused(1, &[TEXT]).starts_with("e_type 1 is neither"));
        let interp = [PT_INTERP as u64, 4, 0x100, 0, 5000, 5000, 1];
        assert!(refused(ET_EXEC, &[interp, TEXT]).contains("PT_INTERP"));
    }
}
