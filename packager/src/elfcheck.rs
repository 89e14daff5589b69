//! Vets the program before anything is written: a 64-bit x86_64 ELF
//! executable, statically linked (`ET_EXEC`, or static-PIE: `ET_DYN`
//! without `PT_INTERP` and without needed libraries) or dynamically linked
//! (`PT_INTERP` names its loader; [`crate::deps`] finds its libraries).

use goblin::elf::dynamic::DT_NEEDED;
use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::PT_INTERP;
use goblin::elf::Elf;
use std::fmt;

const EM_X86_64: u16 = 62;

/// A program Kiln can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`, loaded at its link address.
    Exec,
    /// `ET_DYN` without an interpreter: relocates itself.
    StaticPie,
    /// Dynamically linked: `PT_INTERP` names the loader that maps it and
    /// its libraries.
    Dynamic { interpreter: String },
}

impl ElfKind {
    pub fn is_dynamic(&self) -> bool {
        matches!(self, ElfKind::Dynamic { .. })
    }
}

/// Why a file is not a program Kiln can run. The messages complete the
/// sentence "PATH ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64Bit {
        machine: String,
    },
    WrongMachine {
        machine: String,
    },
    BigEndian,
    NotExecutable {
        kind: u16,
    },
    /// Needs shared libraries but names no loader: a library, not a
    /// program.
    NoInterpreter {
        needed: Vec<String>,
    },
    Damaged(String),
    /// Breaks a rule of [`kiln_image::program`] (what Linux's execve
    /// refuses, or sizes no VM can hold); the kernel would refuse it too.
    Refused(kiln_image::program::ElfError),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(
                f,
                "is not an ELF program (Kiln runs x86_64 Linux executables)"
            ),
            ElfError::Not64Bit { machine } => {
                write!(
                    f,
                    "is a 32-bit ELF program ({machine}); Kiln runs 64-bit x86_64 programs only"
                )
            }
            ElfError::WrongMachine { machine } => {
                write!(
                    f,
                    "is an ELF program for {machine}; Kiln runs x86_64 programs only"
                )
            }
            ElfError::BigEndian => write!(
                f,
                "is a big-endian ELF program; Kiln runs x86_64 programs only"
            ),
            ElfError::NotExecutable { kind } => {
                write!(
                    f,
                    "is not an executable (ELF type {}); give Kiln a linked program",
                    type_name(*kind)
                )
            }
            ElfError::NoInterpreter { needed } => write!(
                f,
                "needs shared libraries ({}) but names no interpreter (PT_INTERP): \
                 it is a shared library, not a program",
                needed.join(", ")
            ),
            ElfError::Damaged(why) => write!(f, "is a damaged ELF file: {why}"),
            ElfError::Refused(e) => write!(f, "cannot be loaded: {e}"),
        }
    }
}

impl std::error::Error for ElfError {}

fn type_name(kind: u16) -> &'static str {
    match kind {
        0 => "none",
        1 => "relocatable object",
        2 => "executable",
        3 => "shared object",
        4 => "core dump",
        _ => "unknown",
    }
}

fn machine_name(machine: u16) -> String {
    let name = match machine {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390",
        40 => "ARM",
        62 => "x86_64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return format!("machine type {machine}"),
    };
    name.to_string()
}

/// Check an ELF image held in memory.
pub fn check(bytes: &[u8]) -> Result<ElfKind, ElfError> {
    if bytes.len() < 20 || bytes[..4] != *b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    // e_ident: class at 4, data (endianness) at 5; e_machine at 18.
    let little = match bytes[5] {
        1 => true,
        2 => false,
        _ => return Err(ElfError::Damaged("unknown byte order".into())),
    };
    let machine = if little {
        u16::from_le_bytes([bytes[18], bytes[19]])
    } else {
        u16::from_be_bytes([bytes[18], bytes[19]])
    };
    match bytes[4] {
        1 => {
            return Err(ElfError::Not64Bit {
                machine: machine_name(machine),
            })
        }
        2 => {}
        _ => return Err(ElfError::Damaged("unknown ELF class".into())),
    }
    if machine != EM_X86_64 {
        return Err(ElfError::WrongMachine {
            machine: machine_name(machine),
        });
    }
    if !little {
        return Err(ElfError::BigEndian);
    }
    let kind = u16::from_le_bytes([bytes[16], bytes[17]]);
    if kind != ET_EXEC && kind != ET_DYN {
        return Err(ElfError::NotExecutable { kind });
    }
    // The kernel loader's own rules, before anything trusts a size of the
    // file: what builds also boots.
    kiln_image::program::check(bytes).map_err(ElfError::Refused)?;
    let elf = Elf::parse(bytes).map_err(|e| ElfError::Damaged(e.to_string()))?;
    let has_interp = elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP);
    let needed: Vec<String> = elf
        .dynamic
        .as_ref()
        .map(|d| {
            d.dyns
                .iter()
                .filter(|e| e.d_tag == DT_NEEDED)
                .filter_map(|e| elf.dynstrtab.get_at(e.d_val as usize))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if has_interp {
        let interpreter = elf
            .interpreter
            .filter(|i| i.starts_with('/'))
            .ok_or_else(|| ElfError::Damaged("PT_INTERP is not an absolute path".into()))?;
        return match elf.header.e_type {
            ET_EXEC | ET_DYN => Ok(ElfKind::Dynamic {
                interpreter: interpreter.to_string(),
            }),
            kind => Err(ElfError::NotExecutable { kind }),
        };
    }
    if !needed.is_empty() {
        return Err(ElfError::NoInterpreter { needed });
    }
    match elf.header.e_type {
        ET_EXEC => Ok(ElfKind::Exec),
        ET_DYN if elf.entry != 0 => Ok(ElfKind::StaticPie),
        kind => Err(ElfError::NotExecutable { kind }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF file: header plus program headers of the given types
    /// (`PT_INTERP` gets an interpreter string after them).
    pub(crate) fn elf(class: u8, machine: u16, e_type: u16, phdrs: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = class;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        if class == 1 {
            b.truncate(52);
            b[40..42].copy_from_slice(&52u16.to_le_bytes()); // e_ehsize
            return b;
        }
        let interp = b"/lib64/ld-linux-x86-64.so.2\0";
        let interp_off = 64 + 56 * phdrs.len() as u64;
        b[24..32].copy_from_slice(&0x401000u64.to_le_bytes()); // e_entry
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        for &t in phdrs {
            let mut ph = [0u8; 56];
            ph[0..4].copy_from_slice(&t.to_le_bytes());
            ph[4..8].copy_from_slice(&4u32.to_le_bytes()); // PF_R
            if t == PT_INTERP {
                ph[8..16].copy_from_slice(&interp_off.to_le_bytes());
                ph[32..40].copy_from_slice(&(interp.len() as u64).to_le_bytes());
                ph[40..48].copy_from_slice(&(interp.len() as u64).to_le_bytes());
            }
            ph[48..56].copy_from_slice(&1u64.to_le_bytes());
            b.extend_from_slice(&ph);
        }
        b.extend_from_slice(interp);
        b
    }

    const PT_LOAD: u32 = 1;

    #[test]
    fn accepts_static_exec_and_static_pie() {
        assert_eq!(check(&elf(2, 62, ET_EXEC, &[PT_LOAD])), Ok(ElfKind::Exec));
        assert_eq!(
            check(&elf(2, 62, ET_DYN, &[PT_LOAD])),
            Ok(ElfKind::StaticPie)
        );
    }

    #[test]
    fn rejects_non_elf_and_short_files() {
        assert_eq!(check(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf));
        assert_eq!(check(b""), Err(ElfError::NotElf));
        assert_eq!(check(b"\x7fELF"), Err(ElfError::NotElf));
    }

    #[test]
    fn rejects_32_bit_and_other_machines() {
        assert_eq!(
            check(&elf(1, 3, ET_EXEC, &[])),
            Err(ElfError::Not64Bit {
                machine: "i386".into()
            })
        );
        assert_eq!(
            check(&elf(2, 183, ET_EXEC, &[PT_LOAD])),
            Err(ElfError::WrongMachine {
                machine: "AArch64".into()
            })
        );
        let msg = check(&elf(2, 183, ET_EXEC, &[])).unwrap_err().to_string();
        assert!(msg.contains("AArch64") && msg.contains("x86_64"), "{msg}");
    }

    #[test]
    fn accepts_dynamic_programs_naming_the_interpreter() {
        assert_eq!(
            check(&elf(2, 62, ET_DYN, &[PT_INTERP, PT_LOAD])),
            Ok(ElfKind::Dynamic {
                interpreter: "/lib64/ld-linux-x86-64.so.2".into()
            })
        );
        // A library that needs others but names no loader is refused.
        let lib = crate::deps::tests::FakeElf {
            needed: &["libc.so.6"],
            ..Default::default()
        }
        .bytes();
        let err = check(&lib).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs shared libraries (libc.so.6)"),
            "{err}"
        );
    }

    #[test]
    fn rejects_objects_and_damage() {
        assert_eq!(
            check(&elf(2, 62, 1, &[])),
            Err(ElfError::NotExecutable { kind: 1 })
        );
        let mut bad = elf(2, 62, ET_EXEC, &[PT_LOAD]);
        bad[56] = 200; // claims 200 program headers that are not there
        assert_eq!(
            check(&bad).unwrap_err().to_string(),
            "cannot be loaded: e_phoff 64 is beyond the end of the file (148 bytes)"
        );
    }

    #[test]
    fn host_programs_are_dynamic() {
        // Debian's own tools are dynamically linked; skip where that is not so.
        if let Ok(bytes) = std::fs::read("/bin/ls") {
            if bytes.starts_with(b"\x7fELF") && cfg!(target_arch = "x86_64") {
                assert!(check(&bytes).is_ok_and(|k| k.is_dynamic()));
            }
        }
    }
}
