//! The initial stack, laid out as Linux's `create_elf_tables` does:
//!
//! ```text
//! STACK_TOP  ->  8 zero bytes
//!                strings: execfn, envp[], argv[], "x86_64", 16 random bytes
//!                (padding to 16 bytes)
//!                AT_NULL, 0
//!                auxv pairs
//!                NULL, envp[envc-1] .. envp[0]
//!                NULL, argv[argc-1] .. argv[0]
//! rsp        ->  argc                 (rsp is 16-byte aligned)
//! ```

use crate::loader::Loaded;
use crate::mm::user::UserMem;
use crate::mm::STACK_TOP;
use crate::platform::{MachineInfo, PAGE_SIZE};
use alloc::vec::Vec;
use kiln_abi::errno::Errno;

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;
pub const AT_MINSIGSTKSZ: u64 = 51;

/// Clock ticks per second reported to the program (`sysconf(_SC_CLK_TCK)`).
pub const CLOCK_TICKS: u64 = 100;
/// Minimum signal stack size reported in AT_MINSIGSTKSZ (Linux MINSIGSTKSZ).
pub const MIN_SIGSTACK: u64 = 2048;

/// What goes on the initial stack.
pub struct StackSpec<'a> {
    pub args: &'a [&'a [u8]],
    pub env: &'a [&'a [u8]],
    pub execfn: &'a [u8],
    pub loaded: &'a Loaded,
    pub info: MachineInfo,
    pub random: [u8; 16],
    /// Where the vDSO is mapped (AT_SYSINFO_EHDR), if it is.
    pub vdso: Option<u64>,
}

/// Write the initial stack through `mem`; returns the initial rsp.
pub fn build(mem: &mut UserMem<'_>, spec: &StackSpec<'_>) -> Result<u64, Errno> {
    let mut sp = STACK_TOP - 8;
    mem.write(sp, &[0; 8])?;
    let mut push_str = |mem: &mut UserMem<'_>, s: &[u8]| -> Result<u64, Errno> {
        sp -= s.len() as u64 + 1;
        mem.write(sp, s)?;
        mem.write(sp + s.len() as u64, &[0])?;
        Ok(sp)
    };
    let execfn = push_str(mem, spec.execfn)?;
    let mut envp = Vec::with_capacity(spec.env.len());
    for e in spec.env.iter().rev() {
        envp.push(push_str(mem, e)?);
    }
    envp.reverse();
    let mut argv = Vec::with_capacity(spec.args.len());
    for a in spec.args.iter().rev() {
        argv.push(push_str(mem, a)?);
    }
    argv.reverse();
    let platform = push_str(mem, b"x86_64")?;
    sp -= 16;
    mem.write(sp, &spec.random)?;
    let random = sp;

    let l = spec.loaded;
    let mut auxv: Vec<(u64, u64)> = alloc::vec![
        (AT_PHDR, l.phdr),
        (AT_PHENT, l.phent),
        (AT_PHNUM, l.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, l.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, l.prog_entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_HWCAP, spec.info.hwcap),
        (AT_HWCAP2, spec.info.hwcap2),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_MINSIGSTKSZ, MIN_SIGSTACK),
    ];
    if let Some(base) = spec.vdso {
        auxv.push((AT_SYSINFO_EHDR, base));
    }
    auxv.push((AT_NULL, 0));
    let mut words: Vec<u64> = Vec::with_capacity(3 + argv.len() + envp.len() + 2 * auxv.len());
    words.push(argv.len() as u64);
    words.extend_from_slice(&argv);
    words.push(0);
    words.extend_from_slice(&envp);
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    let rsp = (sp - 8 * words.len() as u64) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write(rsp, &bytes)?;
    Ok(rsp)
}
