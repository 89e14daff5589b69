use crate::loader::PIE_BASE;
use crate::mm::{Kind, STACK_TOP};
use crate::platform::Prot;
use crate::stack::*;
use crate::testutil::*;
use alloc::string::String;

/// Read the auxv of a booted program as (type, value) pairs.
fn auxv(b: &mut Booted) -> (u64, alloc::vec::Vec<(u64, u64)>) {
    let rsp = b.ctx.rsp;
    let argc = b.peek_u64(rsp);
    let mut at = rsp + 8 * (argc + 2);
    while b.peek_u64(at) != 0 {
        at += 8;
    }
    at += 8;
    let mut v = alloc::vec::Vec::new();
    loop {
        let (k, val) = (b.peek_u64(at), b.peek_u64(at + 8));
        v.push((k, val));
        at += 16;
        if k == AT_NULL {
            break;
        }
    }
    (argc, v)
}

fn cstr(b: &mut Booted, addr: u64) -> String {
    String::from_utf8(b.mem().read_cstr(addr, 4096).unwrap()).unwrap()
}

#[test]
fn exec_program_loads_with_stack_and_auxv() {
    let mut b = booted();
    assert_eq!(b.ctx.rip, 0x40_1000);
    assert_eq!(b.ctx.rsp % 16, 0);
    assert!(b.ctx.rsp < STACK_TOP && b.ctx.rsp > STACK_TOP - 4096);
    let (argc, aux) = auxv(&mut b);
    assert_eq!(argc, 2);
    let rsp = b.ctx.rsp;
    let argv0 = b.peek_u64(rsp + 8);
    let argv1 = b.peek_u64(rsp + 16);
    assert_eq!(cstr(&mut b, argv0), "prog");
    assert_eq!(cstr(&mut b, argv1), "-v");
    assert_eq!(b.peek_u64(rsp + 24), 0);
    let env0 = b.peek_u64(rsp + 32);
    assert_eq!(cstr(&mut b, env0), "HOME=/");
    let env1 = b.peek_u64(rsp + 40);
    assert_eq!(cstr(&mut b, env1), "LANG=C");
    assert_eq!(b.peek_u64(rsp + 48), 0);
    let get = |k: u64| aux.iter().find(|(t, _)| *t == k).map(|(_, v)| *v);
    assert_eq!(get(AT_PHDR), Some(0x40_0000 + 64));
    assert_eq!(get(AT_PHENT), Some(56));
    assert_eq!(get(AT_PHNUM), Some(2));
    assert_eq!(get(AT_PAGESZ), Some(4096));
    assert_eq!(get(AT_ENTRY), Some(0x40_1000));
    assert_eq!(get(AT_BASE), Some(0));
    assert_eq!(get(AT_FLAGS), Some(0));
    assert_eq!(get(AT_HWCAP), Some(0x178b_fbff));
    assert_eq!(get(AT_HWCAP2), Some(2));
    assert_eq!(get(AT_CLKTCK), Some(100));
    for k in [AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE] {
        assert_eq!(get(k), Some(0));
    }
    assert_eq!(get(AT_MINSIGSTKSZ), Some(MIN_SIGSTACK));
    let execfn = get(AT_EXECFN).unwrap();
    assert_eq!(cstr(&mut b, execfn), "/bin/prog");
    let plat = get(AT_PLATFORM).unwrap();
    assert_eq!(cstr(&mut b, plat), "x86_64");
    let rnd = get(AT_RANDOM).unwrap();
    assert_eq!(b.peek(rnd, 16), (1..=16).collect::<alloc::vec::Vec<u8>>());
    // Everything the stack points at lies above the table.
    assert!(rnd > rsp && execfn > rnd);
}

#[test]
fn segments_have_their_rights_file_bytes_and_zeroed_bss() {
    let mut b = booted();
    let text = *b.proc.space().find(0x40_1000).unwrap();
    assert_eq!(
        (text.prot, text.kind),
        (Prot::READ | Prot::EXEC, Kind::Segment)
    );
    assert_eq!(b.peek(0x40_1000, 4), [0xcc; 4]);
    assert_eq!(b.peek(0x40_0000, 4), *b"\x7fELF");
    let data = 0x40_0000 + DATA_VADDR;
    assert_eq!(
        b.proc.space().find(data).unwrap().prot,
        Prot::READ | Prot::WRITE
    );
    assert_eq!(b.fake.mmu.pages[&data].1, Prot::READ | Prot::WRITE);
    assert_eq!(b.peek(data, 10), b"hello data");
    // The tail of the data page is zero, the bss pages are demand-paged.
    assert_eq!(b.peek(data + 10, 100), [0u8; 100]);
    assert!(!b.fake.mmu.pages.contains_key(&(data + 0x2000)));
    assert_eq!(b.peek(data + 0x2000, 8), [0u8; 8]);
    // brk starts after the bss.
    assert_eq!(b.proc.brk().0, data + 0x4000);
}

#[test]
fn static_pie_is_loaded_at_the_pie_base() {
    let elf = ElfBuilder::pie().build();
    let mut b = boot_elf(&elf, &[]).unwrap();
    assert_eq!(b.ctx.rip, PIE_BASE + 0x1000);
    let (_, aux) = auxv(&mut b);
    let get = |k: u64| aux.iter().find(|(t, _)| *t == k).map(|(_, v)| *v);
    // No PT_PHDR: AT_PHDR is load base + e_phoff.
    assert_eq!(get(AT_PHDR), Some(PIE_BASE + 64));
    assert_eq!(get(AT_ENTRY), Some(PIE_BASE + 0x1000));
    assert_eq!(
        b.proc.symbolize(PIE_BASE + 0x1000 + 20),
        Some(("main".into(), 4))
    );
}

#[test]
fn pt_phdr_is_used_when_present() {
    let elf = ElfBuilder {
        pt_phdr: true,
        ..ElfBuilder::exec()
    }
    .build();
    let mut b = boot_elf(&elf, &[]).unwrap();
    let (_, aux) = auxv(&mut b);
    assert!(aux.contains(&(AT_PHDR, 0x40_0040)));
    assert!(aux.contains(&(AT_PHNUM, 3)));
}

#[test]
fn write_execute_segment_is_mapped_with_all_its_rights() {
    // Linux maps a PT_LOAD that asks for write and execute with both; a
    // program that writes code into it and runs it works.
    let elf = ElfBuilder {
        data_flags: 7,
        ..ElfBuilder::exec()
    }
    .build();
    let b = boot_elf(&elf, &[]).unwrap();
    let rwx = Prot::READ | Prot::WRITE | Prot::EXEC;
    let data = 0x40_0000 + DATA_VADDR;
    assert_eq!(b.proc.space().find(data).unwrap().prot, rwx);
    assert_eq!(b.fake.mmu.pages[&data].1, rwx);
    assert!(b.fake.console.out.is_empty());
}

/// The program's ELF file with program header `index` patched by `f`
/// (fields: type|flags<<32, offset, vaddr, paddr, filesz, memsz, align).
fn patched(index: usize, f: impl Fn(&mut [u64; 7])) -> alloc::vec::Vec<u8> {
    let mut elf = ElfBuilder::exec().build();
    let at = 64 + 56 * index;
    let mut ph = [0u64; 7];
    for (i, v) in ph.iter_mut().enumerate() {
        *v = u64::from_le_bytes(elf[at + 8 * i..at + 8 * i + 8].try_into().unwrap());
    }
    f(&mut ph);
    for (i, v) in ph.iter().enumerate() {
        elf[at + 8 * i..at + 8 * i + 8].copy_from_slice(&v.to_le_bytes());
    }
    elf
}

fn refusal(elf: &[u8]) -> String {
    boot_elf(elf, &[]).err().expect("refused").0
}

#[test]
fn impossible_segments_are_refused_naming_the_field() {
    // Program header 1 is the data segment (0x2000 file bytes at most).
    let e = refusal(&patched(1, |ph| ph[5] = 1 << 40));
    assert_eq!(
        e,
        "program is refused: program header 1 (PT_LOAD): p_memsz 0x10000000000 is 1 TiB \
         or more, more memory than a VM can have"
    );
    let e = refusal(&patched(1, |ph| ph[5] = 1 << 30));
    assert!(
        e.contains("p_memsz 0x40000000 is more than the VM's memory (67108864 bytes)"),
        "{e}"
    );
    let e = refusal(&patched(1, |ph| ph[4] = ph[5] + 1));
    assert!(
        e.contains("p_filesz") && e.contains("is larger than p_memsz"),
        "{e}"
    );
    let e = refusal(&patched(1, |ph| ph[1] = 1 << 30));
    assert!(
        e.contains("p_offset + p_filesz 0x4000000a is beyond the end of the file"),
        "{e}"
    );
    let e = refusal(&patched(1, |ph| ph[2] = 0x7fff_ffff_f000));
    assert!(e.contains("is beyond the 47-bit user address space"), "{e}");
    let e = refusal(&patched(1, |ph| ph[2] = 0x40_0000));
    assert!(
        e.contains("overlaps the segment of program header 0"),
        "{e}"
    );
    // A PT_TLS of 1 TiB (made from the data segment's header).
    let e = refusal(&patched(1, |ph| {
        ph[0] = 7 | 4 << 32;
        ph[5] = 1 << 40;
    }));
    assert!(
        e.contains("(PT_TLS): p_memsz 0x10000000000 is 1 TiB or more"),
        "{e}"
    );
}

#[test]
fn bad_programs_are_refused() {
    let dynamic = ElfBuilder {
        interp: true,
        ..ElfBuilder::exec()
    }
    .build();
    // A dynamic program whose interpreter is not in the image.
    let e = boot_elf(&dynamic, &[]).err().unwrap();
    assert!(e.0.contains("interpreter /lib/ld.so not found"), "{e}");
    let arm = ElfBuilder {
        machine: 183,
        ..ElfBuilder::exec()
    }
    .build();
    assert!(boot_elf(&arm, &[]).err().unwrap().0.contains("x86_64"));
    let core = ElfBuilder {
        e_type: 4,
        ..ElfBuilder::exec()
    }
    .build();
    assert!(boot_elf(&core, &[]).is_err());
    assert!(boot_elf(b"#!/bin/sh\necho hi\n", &[])
        .err()
        .unwrap()
        .0
        .contains("not a valid ELF"));
    let mut short = ElfBuilder::exec().build();
    short[56..58].copy_from_slice(&1000u16.to_le_bytes()); // e_phnum
    assert!(refusal(&short).contains("e_phoff 64 is beyond the end of the file"));
    let mut img = image(&[Node::File("/other", b"x")], &manifest(&[], &[]));
    assert!(crate::Process::boot(&mut Fake::new(img.clone()))
        .err()
        .unwrap()
        .0
        .contains("not found"));
    img[kiln_image::HEADER_OFFSET as usize] = b'X';
    assert!(crate::Process::boot(&mut Fake::new(img))
        .err()
        .unwrap()
        .0
        .contains("magic"));
}

#[test]
fn program_reached_through_a_symlink_and_default_argv() {
    let elf = ElfBuilder::exec().build();
    let img = image(
        &[
            Node::File("/real/prog", &elf),
            Node::Symlink("/bin/prog", "../real/prog"),
        ],
        &kiln_image::Manifest {
            program: "/bin/prog".into(),
            ..Default::default()
        },
    );
    let mut fake = Fake::new(img);
    let (proc, ctx) = crate::Process::boot(&mut fake).unwrap();
    let mut b = Booted { fake, proc, ctx };
    let rsp = b.ctx.rsp;
    assert_eq!(b.peek_u64(rsp), 1);
    let a0 = b.peek_u64(rsp + 8);
    assert_eq!(cstr(&mut b, a0), "/bin/prog");
}

#[test]
fn symbolize_finds_functions() {
    let b = booted();
    assert_eq!(b.proc.symbolize(0x40_1000), Some(("_start".into(), 0)));
    assert_eq!(b.proc.symbolize(0x40_1010 + 47), Some(("main".into(), 47)));
    assert_eq!(b.proc.symbolize(0x40_1010 + 48), None);
    assert_eq!(b.proc.symbolize(0x10), None);
}

/// A real static program built with `musl-gcc -static` (see tests/data/README).
#[test]
fn real_musl_program_loads() {
    let elf = include_bytes!("../../tests/data/hello-musl");
    let mut b = boot_elf(elf, &[]).unwrap();
    let (_, aux) = auxv(&mut b);
    let entry = aux.iter().find(|(k, _)| *k == AT_ENTRY).unwrap().1;
    assert_eq!(b.ctx.rip, entry);
    assert!(b
        .proc
        .symbolize(entry)
        .is_some_and(|(n, off)| n == "_start" && off == 0));
    let main = b
        .proc
        .space()
        .iter()
        .filter(|r| r.kind == Kind::Segment)
        .count();
    assert!(main >= 2);
}

#[test]
fn a_dynamic_program_starts_in_its_interpreter() {
    let program = ElfBuilder {
        interp: true,
        ..ElfBuilder::pie()
    }
    .build();
    let ld = ElfBuilder::pie().build();
    // The interpreter is reached through a symlink, as /lib64/ld-linux-x86-64.so.2.
    let mut b = boot_elf(
        &program,
        &[
            Node::Dir("/lib"),
            Node::File("/lib/ld-real.so", &ld),
            Node::Symlink("/lib/ld.so", "ld-real.so"),
        ],
    )
    .unwrap();
    let (_, aux) = auxv(&mut b);
    let get = |k| aux.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
    // The program at Linux's ELF_ET_DYN_BASE, the interpreter below the
    // mmap top, where the thread starts.
    let base = get(AT_BASE).unwrap();
    assert!(base > PIE_BASE && base < crate::mm::MMAP_TOP, "{base:#x}");
    assert_eq!(get(AT_ENTRY), Some(PIE_BASE + 0x1000));
    assert_eq!(b.ctx.rip, base + 0x1000);
    assert_eq!(get(AT_PHDR), Some(PIE_BASE + 64));
    // Both objects are mapped; the break follows the program.
    assert_eq!(
        b.proc.space().find(base + 0x1000).unwrap().kind,
        Kind::Segment
    );
    assert!(b.proc.brk().0 < base);
    // A non-ELF interpreter is refused with its name.
    let e = boot_elf(
        &program,
        &[Node::Dir("/lib"), Node::File("/lib/ld.so", b"junk")],
    )
    .err()
    .unwrap();
    assert!(e.0.contains("interpreter is not a valid ELF"), "{e}");
}

/// An image of the test program whose header `f` changes (the checksum is
/// recomputed), and what booting it says.
fn boot_with_header(f: impl Fn(&mut kiln_image::Header, &mut alloc::vec::Vec<u8>)) -> String {
    use kiln_image::{Header, HEADER_OFFSET, HEADER_SIZE};
    let elf = ElfBuilder::exec().build();
    let mut img = image(
        &[Node::File("/bin/prog", &elf), Node::Dir("/srv")],
        &manifest(&[], &[]),
    );
    let at = HEADER_OFFSET as usize;
    let mut h = Header::decode(&img[at..at + HEADER_SIZE]).unwrap();
    f(&mut h, &mut img);
    img[at..at + HEADER_SIZE].copy_from_slice(&h.encode());
    match crate::Process::boot(&mut Fake::new(img)) {
        Ok(_) => "booted".into(),
        Err(e) => e.0,
    }
}

#[test]
fn image_sizes_are_checked_against_the_disk_before_reading() {
    assert_eq!(boot_with_header(|_, _| {}), "booted");
    // The header says the image is larger than the disk.
    let e = boot_with_header(|h, img| h.image_size = img.len() as u64 + (96 << 20));
    assert!(
        e.starts_with("the image is truncated: its header says 1017") && e.contains("the disk has"),
        "{e}"
    );
    // The index section moved beyond the disk.
    let e = boot_with_header(|h, img| {
        h.image_size = 1 << 40;
        h.fs_index.offset = 1 << 39;
        let _ = img;
    });
    assert!(e.starts_with("the image is truncated"), "{e}");
    // A 96 MiB manifest: more than the format allows.
    let e = boot_with_header(|h, _| {
        h.image_size = 1 << 30;
        h.manifest.offset = 1 << 29;
        h.manifest.len = 96 << 20;
    });
    assert_eq!(
        e,
        "bad image header: image is invalid: the manifest is 100663296 bytes, more than the \
         16777216 bytes the format allows"
    );
    // An index whose tables claim 96 MiB more than its section holds.
    let e = boot_with_header(|h, img| {
        let at = h.fs_index.offset as usize + 4;
        let names = u32::from_le_bytes(img[at..at + 4].try_into().unwrap()) + (96 << 20);
        img[at..at + 4].copy_from_slice(&names.to_le_bytes());
    });
    assert!(
        e.starts_with("bad file system index: it needs 1006")
            && e.contains("bytes, its section has"),
        "{e}"
    );
}
