//! The whole boot path over damaged ELF programs and interpreters (the
//! loader's checks, then its mapping, stack and symbols): a booted program
//! or a refusal, never a panic. kiln-tests' fuzz targets run the loader's
//! checks for longer; this one also maps what passes them.

use crate::testutil::*;
use alloc::vec::Vec;
use proptest::collection::vec;
use proptest::prelude::*;

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(alloc::vec![
            0u64,
            1,
            8,
            56,
            64,
            0xfff,
            0x1000,
            0x1001,
            0x1_0000,
            0x40_0000,
            1 << 30,
            1 << 40,
            0x5555_5555_4000,
            0x7fff_ffff_e000,
            0x7fff_ffff_f000,
            1 << 47,
            u64::MAX - 0xfff,
            u64::MAX,
        ]),
        0u64..0x10_0000,
        any::<u64>(),
    ]
}

/// `elf` with program-header fields (header, field 0..7, value) and ELF
/// header words (offset 16..64, value) set.
fn damage(mut elf: Vec<u8>, phdrs: &[(u8, u8, u64)], words: &[(u8, u64)]) -> Vec<u8> {
    let phnum = u16::from_le_bytes([elf[56], elf[57]]) as usize;
    for &(ph, field, v) in phdrs {
        let at = 64 + 56 * (ph as usize % phnum) + 8 * (field as usize % 7);
        elf[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    for &(off, v) in words {
        let at = 16 + (off as usize % 6) * 8;
        elf[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    elf
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_programs_boot_or_are_refused(
        kind in 0u8..3,
        program in vec((any::<u8>(), any::<u8>(), interesting()), 0..3),
        words in vec((any::<u8>(), interesting()), 0..2),
        interp in vec((any::<u8>(), any::<u8>(), interesting()), 0..3),
    ) {
        let base = match kind {
            0 => ElfBuilder::exec(),
            1 => ElfBuilder::pie(),
            _ => ElfBuilder { interp: true, pt_phdr: true, ..ElfBuilder::pie() },
        };
        let elf = damage(base.build(), &program, &words);
        let ld = damage(ElfBuilder::pie().build(), &interp, &[]);
        let extra = [Node::Dir("/lib"), Node::File("/lib/ld.so", &ld)];
        if let Err(e) = boot_elf(&elf, &extra) {
            prop_assert!(!e.0.is_empty() && !e.0.contains('\n'), "{}", e.0);
        }
    }
}
