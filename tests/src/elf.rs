//! A small ELF64 writer for tests: x86_64 files with exactly the program
//! headers a test asks for, and a tiny static program that writes "ok" and
//! exits 42 after patching its own code (so it needs write and execute).

/// One program header.
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

pub const PT_LOAD: u32 = 1;
pub const PT_TLS: u32 = 7;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const ET_EXEC: u16 = 2;
/// Where [`tiny_program`] is linked.
pub const BASE: u64 = 0x40_0000;

/// An ELF64 little-endian x86_64 file of `e_type` with entry `entry`, the
/// program headers `phdrs` right after the ELF header, and `body` after
/// them (the file is then zero-padded to `len` bytes if shorter).
pub fn write(e_type: u16, entry: u64, phdrs: &[Phdr], body: &[u8], len: usize) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // ELFCLASS64
    b[5] = 1; // little-endian
    b[6] = 1; // EV_CURRENT
    b[16..18].copy_from_slice(&e_type.to_le_bytes());
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&entry.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    b[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    for p in phdrs {
        b.extend_from_slice(&p.p_type.to_le_bytes());
        b.extend_from_slice(&p.p_flags.to_le_bytes());
        for v in [
            p.p_offset, p.p_vaddr, p.p_vaddr, p.p_filesz, p.p_memsz, p.p_align,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b.extend_from_slice(body);
    if b.len() < len {
        b.resize(len, 0);
    }
    b
}

/// The code of [`tiny_program`]: set the exit status's immediate to 42 in
/// its own code, write(1, "ok\n", 3), exit_group(status).
fn code() -> Vec<u8> {
    let mut c = Vec::new();
    // mov byte [rip+25], 42: patches the immediate of `mov edi` below.
    c.extend_from_slice(&[0xc6, 0x05, 25, 0, 0, 0, 42]);
    c.extend_from_slice(&[0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    c.extend_from_slice(&[0xbf, 1, 0, 0, 0]); // mov edi, 1
    c.extend_from_slice(&[0x48, 0x8d, 0x35, 19, 0, 0, 0]); // lea rsi, [rip+msg]
    c.extend_from_slice(&[0xba, 3, 0, 0, 0]); // mov edx, 3
    c.extend_from_slice(&[0x0f, 0x05]); // syscall
    c.extend_from_slice(&[0xbf, 0, 0, 0, 0]); // mov edi, 0 (patched to 42)
    c.extend_from_slice(&[0xb8, 231, 0, 0, 0]); // mov eax, 231 (exit_group)
    c.extend_from_slice(&[0x0f, 0x05]); // syscall
    c.extend_from_slice(b"ok\n"); // msg
    c
}

/// A static program in one PT_LOAD with `flags` (and `extra` program
/// headers after it) that patches its own code, prints "ok" and exits 42.
/// With `PF_R | PF_W | PF_X` it runs; without write it faults.
pub fn tiny_program(flags: u32, extra: &[Phdr]) -> Vec<u8> {
    let headers = 64 + 56 * (1 + extra.len()) as u64;
    let code = code();
    let len = headers + code.len() as u64;
    let text = Phdr {
        p_type: PT_LOAD,
        p_flags: flags,
        p_offset: 0,
        p_vaddr: BASE,
        p_filesz: len,
        p_memsz: len,
        p_align: 0x1000,
    };
    let mut phdrs = vec![text];
    phdrs.extend_from_slice(extra);
    write(ET_EXEC, BASE + headers, &phdrs, &code, 0)
}
