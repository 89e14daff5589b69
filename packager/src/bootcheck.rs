//! Checks the kernel section of an image before QEMU sees it: QEMU boots
//! it with `-kernel` through the PVH entry, and anything else (no bytes, not
//! an ELF file, another machine, no PVH note) would end in QEMU's own
//! confusing message, as a "kernel or hypervisor failure".

use goblin::elf::header::{EM_X86_64, ET_EXEC};
use goblin::elf::Elf;
use std::fmt;

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note that gives QEMU the 32-bit PVH
/// entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// Why the kernel section cannot be booted. The messages complete
/// "IMAGE: ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    Empty,
    NotElf,
    NotX86_64 { what: String },
    NotExecutable { e_type: u16 },
    Damaged(String),
    NoPvhNote,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the kernel section ")?;
        match self {
            KernelError::Empty => write!(f, "is empty (length 0): the image has no kernel"),
            KernelError::NotElf => write!(f, "is not an ELF file"),
            KernelError::NotX86_64 { what } => {
                write!(f, "is {what}, not an x86_64 ELF64 kernel")
            }
            KernelError::NotExecutable { e_type } => {
                write!(f, "is not an executable ELF file (e_type {e_type})")
            }
            KernelError::Damaged(why) => write!(f, "is a damaged ELF file: {why}"),
            KernelError::NoPvhNote => write!(
                f,
                "has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): QEMU cannot boot it"
            ),
        }
    }
}

/// Check that `kernel` is what `kiln run` can hand QEMU: an x86_64 ELF64
/// executable with a `XEN_ELFNOTE_PHYS32_ENTRY` note in a `PT_NOTE`
/// segment (where QEMU looks for it).
pub fn check_kernel(kernel: &[u8]) -> Result<(), KernelError> {
    if kernel.is_empty() {
        return Err(KernelError::Empty);
    }
    if kernel.len() < 64 || kernel[..4] != *b"\x7fELF" {
        return Err(KernelError::NotElf);
    }
    if kernel[4] != 2 || kernel[5] != 1 {
        return Err(KernelError::NotX86_64 {
            what: "a 32-bit or big-endian ELF file".into(),
        });
    }
    let elf = Elf::parse(kernel).map_err(|e| KernelError::Damaged(e.to_string()))?;
    if elf.header.e_machine != EM_X86_64 {
        return Err(KernelError::NotX86_64 {
            what: format!("for machine {}", elf.header.e_machine),
        });
    }
    if elf.header.e_type != ET_EXEC {
        return Err(KernelError::NotExecutable {
            e_type: elf.header.e_type,
        });
    }
    let pvh = elf
        .iter_note_headers(kernel)
        .into_iter()
        .flatten()
        .any(|n| {
            n.is_ok_and(|n| {
                n.n_type == XEN_ELFNOTE_PHYS32_ENTRY
                    && n.name == "Xen"
                    && matches!(n.desc.len(), 4 | 8)
            })
        });
    if !pvh {
        return Err(KernelError::NoPvhNote);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal x86_64 ELF64 executable with one PT_NOTE segment holding
    /// a note of `name` and `n_type` (a 4-byte entry address).
    pub(crate) fn kernel_elf(name: &[u8], n_type: u32) -> Vec<u8> {
        let mut note = Vec::new();
        note.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&n_type.to_le_bytes());
        note.extend_from_slice(name);
        note.push(0);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        note.extend_from_slice(&0x10_0000u32.to_le_bytes());
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = &mut b[64..120];
        ph[0..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        ph[8..16].copy_from_slice(&120u64.to_le_bytes());
        ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&(note.len() as u64).to_le_bytes());
        ph[48..56].copy_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&note);
        b
    }

    #[test]
    fn accepts_the_built_in_kernel_and_a_pvh_elf() {
        assert_eq!(check_kernel(crate::KERNEL), Ok(()));
        assert_eq!(check_kernel(&kernel_elf(b"Xen", 18)), Ok(()));
    }

    #[test]
    fn refuses_what_qemu_could_not_boot() {
        assert_eq!(check_kernel(b""), Err(KernelError::Empty));
        assert_eq!(check_kernel(&[0u8; 4096]), Err(KernelError::NotElf));
        assert_eq!(
            check_kernel(&kernel_elf(b"Xen", 17)),
            Err(KernelError::NoPvhNote)
        );
        assert_eq!(
            check_kernel(&kernel_elf(b"GNU", 18)),
            Err(KernelError::NoPvhNote)
        );
        let mut arm = kernel_elf(b"Xen", 18);
        arm[18] = 183;
        assert!(matches!(
            check_kernel(&arm),
            Err(KernelError::NotX86_64 { .. })
        ));
        let mut dyn_ = kernel_elf(b"Xen", 18);
        dyn_[16] = 3;
        assert_eq!(
            check_kernel(&dyn_),
            Err(KernelError::NotExecutable { e_type: 3 })
        );
        let msg = KernelError::NoPvhNote.to_string();
        assert!(msg.contains("XEN_ELFNOTE_PHYS32_ENTRY"), "{msg}");
    }
}
