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
fn write_execute_segment_is_kept_read_write_and_reported() {
    let elf = ElfBuilder {
        data_flags: 7,
        ..ElfBuilder::exec()
    }
    .build();
    let b = boot_elf(&elf, &[]).unwrap();
    assert_eq!(
        b.proc.space().find(0x42_0000).unwrap().prot,
        Prot::READ | Prot::WRITE
    );
    let out = String::from_utf8_lossy(&b.fake.console.out).into_owned();
    assert!(out.contains("write+execute"), "{out}");
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
