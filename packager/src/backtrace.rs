//! Backtraces of a program that died of a signal: the kernel sends each
//! thread's registers and the top of its stack (`crash` lines on the control
//! channel); kiln unwinds them here with the program's own unwind tables
//! (`.eh_frame`, `.debug_frame`; frame pointers where there are none) and
//! names each frame with its function and, where DWARF line information is
//! present, its file and line.

use crate::profile::{demangle, hex, ElfSymbols, Mapping};
use gimli::{
    BaseAddresses, CfaRule, DebugFrame, EhFrame, EndianRcSlice, Register, RegisterRule,
    RunTimeEndian, UnwindContext, UnwindSection,
};
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

/// Lines of the control channel read at most (the VM is untrusted).
const MAX_LINES: usize = 100_000;
/// Most stack bytes kept per thread.
const MAX_STACK: usize = 256 * 1024;
/// Most threads kept.
const MAX_THREADS: usize = 64;
/// Most frames unwound per thread.
const MAX_FRAMES: usize = 64;

/// DWARF register numbers (x86_64 psABI) of what the kernel sends.
const RBX: u16 = 3;
const RBP: u16 = 6;
const RSP: u16 = 7;
const RA: u16 = 16;
const CALLEE_SAVED: [u16; 6] = [RBX, RBP, 12, 13, 14, 15];

type Regs = [Option<u64>; 17];
type Slice = EndianRcSlice<RunTimeEndian>;

/// One thread as the kernel saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadDump {
    pub tid: i32,
    pub rip: u64,
    regs: Regs,
    /// Address of `stack[0]`.
    stack_base: u64,
    stack: Vec<u8>,
}

impl ThreadDump {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        let off = usize::try_from(addr.checked_sub(self.stack_base)?).ok()?;
        let b = self.stack.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// Everything the kernel sent about a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Crash {
    pub signal: i32,
    pub maps: Vec<Mapping>,
    /// The thread that died first.
    pub threads: Vec<ThreadDump>,
}

impl Crash {
    /// The `crash` lines of the control channel's report, if there are any.
    pub fn parse(report: &str) -> Option<Crash> {
        let mut c = Crash::default();
        let mut seen = false;
        for line in report.lines().take(MAX_LINES) {
            let Some(rest) = line.trim().strip_prefix("crash ") else {
                continue;
            };
            seen = true;
            let (kind, args) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "signal" => c.signal = args.trim().parse().unwrap_or(0),
                "map" => c.maps.extend(Mapping::parse(args)),
                "thread" if c.threads.len() < MAX_THREADS => {
                    let mut w = args.split_ascii_whitespace();
                    let Some(Ok(tid)) = w.next().map(str::parse::<i32>) else {
                        continue;
                    };
                    let v: Vec<u64> = w.filter_map(hex).collect();
                    if v.len() != 8 {
                        continue;
                    }
                    let mut regs: Regs = [None; 17];
                    regs[RA as usize] = Some(v[0]);
                    regs[RSP as usize] = Some(v[1]);
                    regs[RBP as usize] = Some(v[2]);
                    regs[RBX as usize] = Some(v[3]);
                    for (i, r) in (12..16).zip(&v[4..8]) {
                        regs[i] = Some(*r);
                    }
                    c.threads.push(ThreadDump {
                        tid,
                        rip: v[0],
                        regs,
                        stack_base: v[1] & !7,
                        stack: Vec::new(),
                    });
                }
                "stack" => {
                    let mut w = args.split_ascii_whitespace();
                    let (Some(Ok(tid)), Some(Some(addr)), Some(data)) =
                        (w.next().map(str::parse::<i32>), w.next().map(hex), w.next())
                    else {
                        continue;
                    };
                    let Some(t) = c.threads.iter_mut().rev().find(|t| t.tid == tid) else {
                        continue;
                    };
                    // Only what continues the stack without a gap counts.
                    let end = t.stack_base + t.stack.len() as u64;
                    if addr != end || t.stack.len() + data.len() / 2 > MAX_STACK {
                        continue;
                    }
                    if let Some(bytes) = unhex(data) {
                        t.stack.extend(bytes);
                    }
                }
                _ => {}
            }
        }
        c.maps.sort_by_key(|m| (m.start, m.end));
        seen.then_some(c)
    }

    fn map_of(&self, addr: u64) -> Option<&Mapping> {
        self.maps.iter().find(|m| m.start <= addr && addr < m.end)
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What unwinding and naming need of one ELF file.
struct Module {
    syms: Option<ElfSymbols>,
    eh_frame: Option<(EhFrame<Slice>, BaseAddresses)>,
    debug_frame: Option<DebugFrame<Slice>>,
    lines: Option<addr2line::Context<Slice>>,
    /// File offset and address of each PT_LOAD, to turn an address of the
    /// running program into one of the file.
    loads: Vec<(u64, u64, u64)>,
    /// The executable segments: (address, bytes).
    code: Vec<(u64, Vec<u8>)>,
}

impl Module {
    fn load(bytes: &[u8]) -> Option<Module> {
        let elf = goblin::elf::Elf::parse(bytes).ok()?;
        let endian = RunTimeEndian::Little;
        let section = |name: &str| {
            elf.section_headers.iter().find_map(|sh| {
                if elf.shdr_strtab.get_at(sh.sh_name) != Some(name)
                    || sh.sh_type == goblin::elf::section_header::SHT_NOBITS
                {
                    return None;
                }
                let start = usize::try_from(sh.sh_offset).ok()?;
                let data =
                    bytes.get(start..start.checked_add(usize::try_from(sh.sh_size).ok()?)?)?;
                Some((data, sh.sh_addr))
            })
        };
        let slice = |data: &[u8]| Slice::new(Rc::from(data), endian);
        let eh_frame = section(".eh_frame").map(|(data, addr)| {
            let mut bases = BaseAddresses::default().set_eh_frame(addr);
            if let Some((_, text)) = section(".text") {
                bases = bases.set_text(text);
            }
            let mut eh = EhFrame::from(slice(data));
            eh.set_address_size(8);
            (eh, bases)
        });
        let debug_frame = section(".debug_frame").map(|(data, _)| {
            let mut df = DebugFrame::from(slice(data));
            df.set_address_size(8);
            df
        });
        let dwarf = gimli::Dwarf::load(|id| -> Result<Slice, gimli::Error> {
            Ok(slice(section(id.name()).map_or(&[][..], |(d, _)| d)))
        })
        .ok();
        let lines = dwarf
            .filter(|d| !gimli::Section::reader(&d.debug_info).is_empty())
            .and_then(|d| addr2line::Context::from_dwarf(d).ok());
        let loads = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|ph| (ph.p_offset, ph.p_filesz.max(ph.p_memsz), ph.p_vaddr))
            .collect();
        let code = elf
            .program_headers
            .iter()
            .filter(|ph| {
                ph.p_type == goblin::elf::program_header::PT_LOAD
                    && ph.p_flags & goblin::elf::program_header::PF_X != 0
            })
            .filter_map(|ph| {
                let start = usize::try_from(ph.p_offset).ok()?;
                let len = usize::try_from(ph.p_filesz).ok()?;
                Some((
                    ph.p_vaddr,
                    bytes.get(start..start.checked_add(len)?)?.to_vec(),
                ))
            })
            .collect();
        Some(Module {
            code,
            syms: ElfSymbols::parse(bytes),
            eh_frame,
            debug_frame,
            lines,
            loads,
        })
    }

    /// The file address of file offset `off`.
    fn vaddr(&self, off: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|(o, len, _)| off >= *o && off - o < *len)
            .map(|(o, _, v)| v + (off - o))
    }

    /// The caller's registers, from the unwind tables at file address
    /// `vaddr` (the rules work on the running registers as they are).
    fn unwind(&self, vaddr: u64, regs: &Regs, t: &ThreadDump) -> Option<Regs> {
        let mut ctx = UnwindContext::new();
        if let Some((eh, bases)) = &self.eh_frame {
            if let Ok(row) =
                eh.unwind_info_for_address(bases, &mut ctx, vaddr, EhFrame::cie_from_offset)
            {
                return apply(row, regs, t);
            }
        }
        if let Some(df) = &self.debug_frame {
            let bases = BaseAddresses::default();
            if let Ok(row) =
                df.unwind_info_for_address(&bases, &mut ctx, vaddr, DebugFrame::cie_from_offset)
            {
                return apply(row, regs, t);
            }
        }
        None
    }

    /// Whether the instruction that ends just before file address `ra` is a
    /// call (direct, or indirect through a register or memory).
    fn follows_call(&self, ra: u64) -> bool {
        let Some((base, bytes)) = self
            .code
            .iter()
            .find(|(v, b)| ra > *v && ra - v <= b.len() as u64)
        else {
            return false;
        };
        let end = (ra - base) as usize;
        let at = |back: usize| end.checked_sub(back).and_then(|i| bytes.get(i)).copied();
        // call rel32
        if at(5) == Some(0xe8) {
            return true;
        }
        // call r/m64 (FF /2): ModRM, then nothing, a disp8, a SIB+disp8 or
        // disp32, or a SIB+disp32 after it.
        [2usize, 3, 4, 6, 7].iter().any(|&len| {
            at(len) == Some(0xff) && at(len - 1).is_some_and(|modrm| modrm & 0x38 == 0x10)
        })
    }

    /// Whether the unwind tables cover file address `vaddr`.
    fn has_unwind_info(&self, vaddr: u64) -> bool {
        let mut ctx = UnwindContext::new();
        self.eh_frame.as_ref().is_some_and(|(eh, bases)| {
            eh.unwind_info_for_address(bases, &mut ctx, vaddr, EhFrame::cie_from_offset)
                .is_ok()
        })
    }

    /// `function+0xoff at file:line` for file address `vaddr`, innermost
    /// inlined function first.
    fn names(&self, vaddr: u64) -> Vec<String> {
        let symbol = self
            .syms
            .as_ref()
            .and_then(|s| s.function_and_offset(vaddr))
            .map(|(name, off)| (demangle(name), off));
        let mut out = Vec::new();
        if let Some(ctx) = &self.lines {
            if let Ok(mut frames) = ctx.find_frames(vaddr).skip_all_loads() {
                while let Ok(Some(f)) = frames.next() {
                    let name = f
                        .function
                        .as_ref()
                        .and_then(|n| n.raw_name().ok().map(|r| demangle(r.as_ref())));
                    let at = f
                        .location
                        .as_ref()
                        .and_then(|l| Some(format!("{}:{}", l.file?, l.line?)));
                    out.push((name, at));
                }
            }
        }
        let count = out.len();
        let mut lines: Vec<String> = out
            .into_iter()
            .enumerate()
            .map(|(i, (name, at))| {
                let mut s = match (&name, &symbol) {
                    // The outermost frame is the real function: give its offset.
                    (Some(n), Some((sym, off))) if i + 1 == count && sym == n => {
                        format!("{n}+{off:#x}")
                    }
                    (Some(n), _) => n.clone(),
                    (None, Some((sym, off))) => format!("{sym}+{off:#x}"),
                    (None, None) => "??".to_string(),
                };
                if let Some(at) = at {
                    let _ = write!(s, " at {at}");
                }
                if i + 1 < count {
                    s.push_str(" (inlined)");
                }
                s
            })
            .collect();
        if lines.is_empty() {
            if let Some((sym, off)) = symbol {
                lines.push(format!("{sym}+{off:#x}"));
            }
        }
        lines
    }
}

/// Apply an unwind row: the caller's registers.
fn apply(row: &gimli::UnwindTableRow<usize>, regs: &Regs, t: &ThreadDump) -> Option<Regs> {
    let get = |r: Register| regs.get(r.0 as usize).copied().flatten();
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => {
            get(*register)?.checked_add_signed(*offset)?
        }
        CfaRule::Expression(_) => return None,
    };
    let mut next: Regs = [None; 17];
    for r in CALLEE_SAVED.into_iter().chain([RA]) {
        let reg = Register(r);
        next[r as usize] = match row.register(reg) {
            RegisterRule::Undefined if r == RA => return None,
            RegisterRule::Undefined => None,
            RegisterRule::SameValue => get(reg),
            RegisterRule::Offset(n) => t.read_u64(cfa.checked_add_signed(n)?),
            RegisterRule::ValOffset(n) => cfa.checked_add_signed(n),
            RegisterRule::Register(from) => get(from),
            RegisterRule::Constant(v) => Some(v),
            _ => None,
        };
        // Callee-saved registers the function did not touch keep their value.
        if r != RA && matches!(row.register(reg), RegisterRule::Undefined) {
            next[r as usize] = get(reg);
        }
    }
    next[RSP as usize] = Some(cfa);
    Some(next)
}

/// The modules of a crash, each file read and parsed once.
struct Modules<'c> {
    crash: &'c Crash,
    by_path: HashMap<String, Option<Module>>,
}

impl<'c> Modules<'c> {
    fn load(crash: &'c Crash, read: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Self {
        let mut by_path = HashMap::new();
        for m in &crash.maps {
            by_path
                .entry(m.path.clone())
                .or_insert_with(|| read(&m.path).and_then(|b| Module::load(&b)));
        }
        Modules { crash, by_path }
    }

    /// The mapping, module and file address of running address `addr`.
    fn locate(&self, addr: u64) -> Option<(&'c Mapping, &Module, u64)> {
        let m = self.crash.map_of(addr)?;
        let module = self.by_path.get(&m.path)?.as_ref()?;
        let vaddr = module.vaddr(m.offset + (addr - m.start))?;
        Some((m, module, vaddr))
    }

    /// Whether `ra` can be a return address: just after code that has a
    /// function symbol or unwind information.
    fn returns_into_code(&self, ra: u64) -> bool {
        self.locate(ra.wrapping_sub(1))
            .is_some_and(|(_, module, vaddr)| {
                module.follows_call(vaddr + 1)
                    && (module
                        .syms
                        .as_ref()
                        .and_then(|s| s.function_at(vaddr))
                        .is_some()
                        || module.has_unwind_info(vaddr))
            })
    }

    /// A thread's frames: (address, module path, names, how it was found).
    fn unwind_thread(&self, t: &ThreadDump) -> Vec<(u64, Option<String>, Vec<String>, bool)> {
        let mut frames = Vec::new();
        let mut regs = t.regs;
        let mut scanned = false;
        for depth in 0..MAX_FRAMES {
            let Some(pc) = regs[RA as usize].filter(|pc| *pc != 0) else {
                break;
            };
            // A return address points after the call: look up the call itself.
            let lookup = if depth == 0 { pc } else { pc - 1 };
            let located = self.locate(lookup);
            let names = located
                .map(|(_, module, vaddr)| module.names(vaddr))
                .unwrap_or_default();
            // The program's entry point has no caller.
            let entry = located
                .and_then(|(_, module, vaddr)| module.syms.as_ref()?.function_at(vaddr))
                .is_some_and(|f| f == "_start" || f == "_start_c");
            frames.push((pc, located.map(|(m, _, _)| m.path.clone()), names, scanned));
            if entry {
                break;
            }
            let plausible =
                |c: &Regs| c[RA as usize].is_some_and(|ra| ra == 0 || self.returns_into_code(ra));
            let tables = located.and_then(|(_, module, vaddr)| module.unwind(vaddr, &regs, t));
            // Code without unwind tables (musl builds its libc without
            // them): the frame pointer if it leads to code, else the first
            // word up the stack that does.
            scanned = tables.is_none();
            let caller = match tables {
                Some(c) => Some(c),
                None => frame_pointer(&regs, t)
                    .filter(plausible)
                    .or_else(|| self.scan(&regs, t)),
            };
            let Some(caller) = caller else {
                break;
            };
            // The stack only grows back toward its base.
            if caller[RSP as usize] <= regs[RSP as usize] {
                break;
            }
            regs = caller;
        }
        frames
    }

    /// The first stack slot above the stack pointer that holds a return
    /// address; the callee-saved registers are taken as unchanged.
    fn scan(&self, regs: &Regs, t: &ThreadDump) -> Option<Regs> {
        const SCAN_BYTES: u64 = 1024;
        let rsp = regs[RSP as usize]?;
        (0..SCAN_BYTES / 8).find_map(|i| {
            let slot = rsp.checked_add(i * 8)?;
            let ra = t.read_u64(slot)?;
            if !self.returns_into_code(ra) {
                return None;
            }
            let mut next = *regs;
            next[RA as usize] = Some(ra);
            next[RSP as usize] = Some(slot + 8);
            Some(next)
        })
    }
}

/// Unwinding through the frame pointer, where there are no tables.
fn frame_pointer(regs: &Regs, t: &ThreadDump) -> Option<Regs> {
    let rbp = regs[RBP as usize]?;
    let mut next: Regs = [None; 17];
    next[RBP as usize] = Some(t.read_u64(rbp)?);
    next[RA as usize] = Some(t.read_u64(rbp.checked_add(8)?)?);
    next[RSP as usize] = Some(rbp.checked_add(16)?);
    Some(next)
}

fn signal_name(n: i32) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("signal {n}"), |s| s.to_string())
}

/// The backtrace report of every thread, `read` giving a file of the image.
pub fn report(crash: &Crash, read: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> String {
    let mut out = String::new();
    let modules = Modules::load(crash, read);
    for (i, t) in crash.threads.iter().enumerate() {
        let role = if i == 0 {
            format!("{}, the thread that died", signal_name(crash.signal))
        } else {
            "another thread".to_string()
        };
        let _ = writeln!(out, "kiln: backtrace of thread {} ({role}):", t.tid);
        for (depth, (pc, path, names, scanned)) in modules.unwind_thread(t).into_iter().enumerate()
        {
            let file = path
                .as_deref()
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                .unwrap_or_else(|| "?".into());
            let how = if scanned {
                " (found by scanning the stack)"
            } else {
                ""
            };
            match names.split_first() {
                Some((first, rest)) => {
                    let _ = writeln!(out, "  #{depth:<2} {pc:#018x} {first} [{file}]{how}");
                    for n in rest {
                        let _ = writeln!(out, "      {:18} {n}", "");
                    }
                }
                None => {
                    let _ = writeln!(out, "  #{depth:<2} {pc:#018x} ?? [{file}]{how}");
                }
            }
        }
    }
    out
}

/// The kernel's backtrace after a panic (`panic frame ADDR` lines), named
/// from the kernel's symbols (its addresses are its own: no load bias).
pub fn kernel_report(report: &str, kernel: &[u8]) -> Option<String> {
    let frames: Vec<u64> = report
        .lines()
        .take(MAX_LINES)
        .filter_map(|l| hex(l.trim().strip_prefix("panic frame ")?))
        .take(MAX_FRAMES)
        .collect();
    if frames.is_empty() {
        return None;
    }
    let syms = ElfSymbols::parse(kernel);
    let mut out = String::from("kiln: kernel backtrace:\n");
    for (depth, pc) in frames.into_iter().enumerate() {
        // The call is the instruction before the return address.
        let name = syms
            .as_ref()
            .and_then(|s| s.function_and_offset(pc.wrapping_sub(1)))
            .map_or_else(
                || "??".to_string(),
                |(name, off)| format!("{}+{:#x}", demangle(name), off + 1),
            );
        let _ = writeln!(out, "  #{depth:<2} {pc:#018x} {name}");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_frames_are_named_from_the_kernels_symbols() {
        let kernel = crate::KERNEL;
        let syms = ElfSymbols::parse(kernel).unwrap();
        // Some function of the kernel, and an address inside it.
        let (start, name) = ["kmain", "rust_begin_unwind"]
            .iter()
            .find_map(|n| Some((syms.address_of(n)?, *n)))
            .expect("the kernel names kmain");
        let report = format!("panic\npanic frame {:x}\npanic frame 10\n", start + 5);
        let text = kernel_report(&report, kernel).unwrap();
        assert!(text.starts_with("kiln: kernel backtrace:\n"), "{text}");
        assert!(text.contains(&format!(" {name}+0x5")), "{text}");
        assert!(text.contains("#1  0x0000000000000010 ??"), "{text}");
        assert!(kernel_report("exit 0\n", kernel).is_none());
    }

    #[test]
    fn parses_threads_maps_and_contiguous_stacks() {
        let report = "exit 139\ncrash signal 11\ncrash map 400000 402000 0 /bin/prog\n\
            crash thread 1 401000 7ff0 7ff8 1 2 3 4 5\n\
            crash stack 1 7ff0 0100000000000000\ncrash stack 1 7ff8 02000000000000ff\n\
            crash stack 1 9000 00\ncrash stack 2 7ff0 00\n";
        let c = Crash::parse(report).unwrap();
        assert_eq!(c.signal, 11);
        assert_eq!(c.maps.len(), 1);
        let t = &c.threads[0];
        assert_eq!((t.tid, t.rip), (1, 0x401000));
        assert_eq!(t.stack.len(), 16);
        assert_eq!(t.read_u64(0x7ff0), Some(1));
        assert_eq!(t.read_u64(0x7ff8), Some(0xff00_0000_0000_0002));
        assert_eq!(t.read_u64(0x7ff9), None);
        assert!(Crash::parse("exit 0\n").is_none());
    }

    #[test]
    fn addresses_outside_known_code_are_not_followed() {
        // rbp -> [saved rbp = 0, return address 0x401234], but no file is
        // mapped there: a guess would be noise.
        let c = Crash::parse(
            "crash signal 6\ncrash thread 1 401000 1000 1010 0 0 0 0 0\n\
             crash stack 1 1000 00000000000000000000000000000000\
             00000000000000003412400000000000\n",
        )
        .unwrap();
        let mut read = |_: &str| None;
        let text = report(&c, &mut read);
        assert!(text.starts_with("kiln: backtrace of thread 1 (SIGABRT, the thread that died):"));
        assert!(text.contains("#0  0x0000000000401000 ?? [?]"), "{text}");
        assert!(!text.contains("#1"), "{text}");
    }
}
