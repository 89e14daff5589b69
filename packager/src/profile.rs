//! `kiln run --profile`: the host side of Kiln's sampling profiler.
//!
//! With `kiln.profile=HZ` on its command line, the kernel samples the
//! instruction pointer HZ times a second and, before its final `exit N` line,
//! writes on the control channel:
//!
//! ```text
//! profile hz <N>
//! profile sample <u|k|i> <rip-hex> <count>
//! profile map <start-hex> <end-hex> <offset-hex> <path>
//! profile count <name> <value>
//! ```
//!
//! `u` is the program in user mode, `k` kernel code, `i` the kernel halted
//! waiting for an interrupt (rip 0). A `map` is one image-backed mapping of the
//! program or of a shared library: `path` is the file in the image and
//! `offset` the file offset of `start`. [`Profile::parse`] reads those lines
//! (the VM is untrusted: garbage is skipped, memory is bounded),
//! [`Symbolizer`] turns addresses into function names from the ELF files of
//! the image that was booted and of the kernel, and [`finish`] prints the
//! summary and writes the flame graph.

use goblin::elf::program_header::PT_LOAD;
use goblin::elf::section_header::SHN_UNDEF;
use goblin::elf::sym::{self, Sym};
use goblin::elf::Elf;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Samples per second when `--profile` has no value.
pub const DEFAULT_HZ: u32 = 1000;
/// The sampling rates `--profile=HZ` accepts.
pub const HZ_RANGE: RangeInclusive<u32> = 10..=10_000;
/// Where the flame graph goes without `--profile-out`.
pub const DEFAULT_OUT: &str = "kiln-profile.svg";
/// Kernel command-line word that turns the profiler on (`kiln.profile=HZ`).
pub const CMDLINE_PREFIX: &str = "kiln.profile=";
/// Control-channel lines read at most; the rest is ignored.
pub const MAX_LINES: usize = 1_000_000;
/// Functions listed in the summary.
pub const TOP: usize = 25;
/// Longest path or counter name taken from the VM.
const MAX_NAME: usize = 4096;
/// Longest function name shown in the summary (the flame graph has it all).
const MAX_SHOWN: usize = 120;

/// What `--profile[=HZ]` and `--profile-out` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub hz: u32,
    /// The flame graph (SVG).
    pub out: PathBuf,
}

impl Settings {
    /// The kernel command-line word.
    pub fn cmdline(&self) -> String {
        format!("{CMDLINE_PREFIX}{}", self.hz)
    }
}

/// Parse a `--profile=HZ` value.
pub fn parse_hz(s: &str) -> Result<u32, String> {
    let bad = || {
        format!(
            "--profile={s}: the sampling rate must be a number of samples per second from {} to {}",
            HZ_RANGE.start(),
            HZ_RANGE.end()
        )
    };
    let hz: u32 = s.trim().parse().map_err(|_| bad())?;
    if HZ_RANGE.contains(&hz) {
        Ok(hz)
    } else {
        Err(bad())
    }
}

/// The profiling settings for `--profile[=HZ]` and `--profile-out`, which
/// implies `--profile`. `None`: no profiling.
pub fn settings(profile: Option<&str>, out: Option<&Path>) -> Result<Option<Settings>, String> {
    if profile.is_none() && out.is_none() {
        return Ok(None);
    }
    let hz = match profile {
        None => DEFAULT_HZ,
        Some(s) => parse_hz(s)?,
    };
    let out = out.map_or_else(|| PathBuf::from(DEFAULT_OUT), Path::to_path_buf);
    Ok(Some(Settings { hz, out }))
}

/// Where a sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// The program (or a library), in user mode.
    User,
    /// Kernel code.
    Kernel,
    /// The kernel halted, waiting for an interrupt.
    Idle,
}

/// One image-backed mapping of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
    /// The file's path in the image.
    pub path: String,
}

/// What the kernel reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Whether any `profile` line was seen.
    pub seen: bool,
    /// `profile hz`.
    pub hz: Option<u32>,
    /// Sample counts by mode and address (0 for idle).
    pub samples: BTreeMap<(Mode, u64), u64>,
    /// Sorted by start.
    pub maps: Vec<Mapping>,
    /// In the order the kernel first named them; a repeated name takes the
    /// last value.
    pub counters: Vec<(String, u64)>,
}

impl Mapping {
    /// `START END OFFSET PATH` (hex numbers; the path is the rest of the
    /// line and may hold spaces), as the kernel's `map` lines give it.
    pub fn parse(args: &str) -> Option<Mapping> {
        let mut fields = args.trim_start().splitn(4, ' ');
        let (start, end, offset, path) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let (start, end, offset, path) = (
            hex(start)?,
            hex(end)?,
            hex(offset)?,
            clean_name(path.trim())?,
        );
        (start < end).then(|| Mapping {
            start,
            end,
            offset,
            path: path.to_string(),
        })
    }
}

pub fn hex(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// A name from the VM that is safe to print: not empty, bounded, no control
/// characters.
fn clean_name(s: &str) -> Option<&str> {
    (!s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control)).then_some(s)
}

impl Profile {
    /// Read the `profile` lines of the control channel's text. Other lines,
    /// malformed and unknown `profile` lines are ignored, and so is
    /// everything after the first [`MAX_LINES`] lines.
    pub fn parse(text: &str) -> Profile {
        let mut p = Profile::default();
        let mut counter_at: HashMap<String, usize> = HashMap::new();
        for line in text.lines().take(MAX_LINES) {
            let Some(rest) = line.trim().strip_prefix("profile ") else {
                continue;
            };
            p.seen = true;
            let rest = rest.trim_start();
            let (kind, args) = rest.split_once(' ').unwrap_or((rest, ""));
            let mut words = args.split_ascii_whitespace();
            match kind {
                "hz" => {
                    if let (Some(Ok(hz)), None) =
                        (words.next().map(str::parse::<u32>), words.next())
                    {
                        if hz > 0 {
                            p.hz = Some(hz);
                        }
                    }
                }
                "sample" => {
                    let (Some(mode), Some(rip), Some(count), None) =
                        (words.next(), words.next(), words.next(), words.next())
                    else {
                        continue;
                    };
                    let mode = match mode {
                        "u" => Mode::User,
                        "k" => Mode::Kernel,
                        "i" => Mode::Idle,
                        _ => continue,
                    };
                    let (Some(rip), Ok(count)) = (hex(rip), count.parse::<u64>()) else {
                        continue;
                    };
                    let rip = if mode == Mode::Idle { 0 } else { rip };
                    if count > 0 {
                        let n = p.samples.entry((mode, rip)).or_default();
                        *n = n.saturating_add(count);
                    }
                }
                "map" => p.maps.extend(Mapping::parse(args)),
                "count" => {
                    let (Some(name), Some(value), None) =
                        (words.next(), words.next(), words.next())
                    else {
                        continue;
                    };
                    let (Some(name), Ok(value)) = (clean_name(name), value.parse::<u64>()) else {
                        continue;
                    };
                    match counter_at.get(name) {
                        Some(&i) => p.counters[i].1 = value,
                        None => {
                            counter_at.insert(name.to_string(), p.counters.len());
                            p.counters.push((name.to_string(), value));
                        }
                    }
                }
                _ => {}
            }
        }
        p.maps.sort_by_key(|m| (m.start, m.end));
        p
    }

    /// All samples.
    pub fn total(&self) -> u64 {
        self.samples
            .values()
            .fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// Samples taken in `mode`.
    pub fn total_in(&self, mode: Mode) -> u64 {
        self.samples
            .iter()
            .filter(|((m, _), _)| *m == mode)
            .fold(0u64, |a, (_, &n)| a.saturating_add(n))
    }

    /// The mapping that holds `addr`.
    pub fn map_of(&self, addr: u64) -> Option<&Mapping> {
        let i = self.maps.partition_point(|m| m.start <= addr);
        // Mappings should not overlap; if the VM says they do, the nearest
        // few that start below `addr` are checked.
        self.maps[..i].iter().rev().take(8).find(|m| addr < m.end)
    }
}

/// A function symbol: `[start, end)`.
#[derive(Clone, Debug)]
struct Symbol {
    start: u64,
    end: u64,
    name: String,
}

/// The function symbols of one symbol table, sorted by address.
#[derive(Clone, Debug, Default)]
struct Symbols(Vec<Symbol>);

impl Symbols {
    fn from_table(
        syms: impl Iterator<Item = Sym>,
        name_of: impl Fn(usize) -> Option<String>,
    ) -> Self {
        // (start, unsized, leading underscores, binding, size, name): of the
        // aliases at one address, a sized function wins over a label, then
        // the name with fewer leading underscores (glibc's weak `getpid`
        // over its global `__getpid`), then global over weak over local.
        let mut all: Vec<(u64, bool, usize, u8, u64, String)> = Vec::new();
        for s in syms {
            let kind = s.st_type();
            if !matches!(kind, sym::STT_FUNC | sym::STT_NOTYPE | sym::STT_GNU_IFUNC)
                || s.st_shndx == SHN_UNDEF as usize
                || s.st_shndx == goblin::elf::section_header::SHN_ABS as usize
                || s.st_value == 0
            {
                continue;
            }
            let Some(name) = name_of(s.st_name) else {
                continue;
            };
            if name.is_empty() || name.starts_with(".L") || name.starts_with('$') {
                continue;
            }
            let bind = match s.st_bind() {
                sym::STB_GLOBAL => 0,
                sym::STB_WEAK => 1,
                _ => 2,
            };
            let underscores = name.len() - name.trim_start_matches('_').len();
            all.push((
                s.st_value,
                s.st_size == 0,
                underscores,
                bind,
                s.st_size,
                name,
            ));
        }
        all.sort();
        all.dedup_by_key(|s| s.0);
        let mut out: Vec<Symbol> = Vec::with_capacity(all.len());
        for i in 0..all.len() {
            let (start, _, _, _, size, _) = all[i];
            let end = if size > 0 {
                start.saturating_add(size)
            } else {
                // A label without a size reaches to the next symbol.
                all.get(i + 1).map_or(start.saturating_add(1), |n| n.0)
            };
            out.push(Symbol {
                start,
                end,
                name: std::mem::take(&mut all[i].5),
            });
        }
        Symbols(out)
    }

    fn lookup(&self, addr: u64) -> Option<&Symbol> {
        let i = self.0.partition_point(|s| s.start <= addr);
        // The innermost symbol that covers `addr` (nested symbols are rare;
        // look back a little).
        self.0[..i].iter().rev().take(16).find(|s| addr < s.end)
    }
}

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug)]
struct Load {
    offset: u64,
    filesz: u64,
    memsz: u64,
    vaddr: u64,
}

/// What symbolization needs of one ELF file.
#[derive(Clone, Debug, Default)]
pub struct ElfSymbols {
    loads: Vec<Load>,
    symtab: Symbols,
    dynsym: Symbols,
}

impl ElfSymbols {
    /// Parse an ELF file; `None` if it is not one goblin can read.
    pub fn parse(bytes: &[u8]) -> Option<ElfSymbols> {
        // goblin reports malformed files as errors; a panic on a file it
        // did not expect must not cost kiln its exit status either.
        std::panic::catch_unwind(|| Self::parse_inner(bytes))
            .ok()
            .flatten()
    }

    fn parse_inner(bytes: &[u8]) -> Option<ElfSymbols> {
        let elf = Elf::parse(bytes).ok()?;
        let loads = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .map(|ph| Load {
                offset: ph.p_offset,
                filesz: ph.p_filesz,
                memsz: ph.p_memsz,
                vaddr: ph.p_vaddr,
            })
            .collect();
        let strtab = &elf.strtab;
        let symtab = Symbols::from_table(elf.syms.iter(), |i| strtab.get_at(i).map(str::to_string));
        let dynstrtab = &elf.dynstrtab;
        let dynsym = Symbols::from_table(elf.dynsyms.iter(), |i| {
            dynstrtab.get_at(i).map(str::to_string)
        });
        Some(ElfSymbols {
            loads,
            symtab,
            dynsym,
        })
    }

    /// The virtual address (as the file's headers and symbols see it) of
    /// the byte at file offset `off`.
    pub fn file_vaddr(&self, off: u64) -> Option<u64> {
        let within = |l: &&Load, len: u64| off >= l.offset && off - l.offset < len;
        self.loads
            .iter()
            .find(|l| within(l, l.filesz))
            .or_else(|| self.loads.iter().find(|l| within(l, l.memsz)))
            .map(|l| l.vaddr.wrapping_add(off - l.offset))
    }

    /// The raw (mangled) name of the function at `vaddr`: from `.symtab`,
    /// else `.dynsym`.
    pub fn function_at(&self, vaddr: u64) -> Option<&str> {
        self.function_and_offset(vaddr).map(|(name, _)| name)
    }

    /// The address of the function called `name` (`.symtab`, else `.dynsym`).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.symtab
            .0
            .iter()
            .chain(&self.dynsym.0)
            .find(|s| s.name == name)
            .map(|s| s.start)
    }

    /// [`ElfSymbols::function_at`] with the offset of `vaddr` into it.
    pub fn function_and_offset(&self, vaddr: u64) -> Option<(&str, u64)> {
        self.symtab
            .lookup(vaddr)
            .or_else(|| self.dynsym.lookup(vaddr))
            .map(|s| (s.name.as_str(), vaddr - s.start))
    }
}

/// A symbol name as people read it: Rust (legacy and v0 manglings, without
/// the hash) and C++ (without parameters) demangled; characters that would
/// break a folded stack (`;`, control characters) replaced.
pub fn demangle(raw: &str) -> String {
    let name = if let Ok(d) = rustc_demangle::try_demangle(raw) {
        format!("{d:#}")
    } else if raw.starts_with("_Z") {
        cpp_demangle::Symbol::new(raw.as_bytes())
            .ok()
            .and_then(|s| {
                let opts = cpp_demangle::DemangleOptions::new()
                    .no_params()
                    .no_return_type();
                s.demangle_with_options(&opts).ok()
            })
            .unwrap_or_else(|| raw.to_string())
    } else {
        raw.to_string()
    };
    name.chars()
        .map(|c| if c == ';' || c.is_control() { ':' } else { c })
        .collect()
}

/// Where a sample's time went, as the summary and the flame graph name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Frame {
    /// Program code: the file's base name and the function (or `0x<addr>`,
    /// the file's virtual address, when no symbol covers it).
    Program { file: String, function: String },
    /// Kernel code: the function, or `0x<addr>`.
    Kernel { function: String },
    /// The kernel idle.
    Idle,
    /// Program code outside every reported mapping.
    Unknown,
}

impl Frame {
    /// As the summary shows it: `function [file]`, `function [kernel]`,
    /// `[idle]`, `[unknown]`.
    pub fn label(&self) -> String {
        self.label_within(usize::MAX)
    }

    /// [`Frame::label`] with the function name cut to `max` characters.
    fn label_within(&self, max: usize) -> String {
        match self {
            Frame::Program { file, function } => format!("{} [{file}]", shorten(function, max)),
            Frame::Kernel { function } => format!("{} [kernel]", shorten(function, max)),
            Frame::Idle => "[idle]".into(),
            Frame::Unknown => "[unknown]".into(),
        }
    }

    /// The stack of a folded-stack line (without the count).
    pub fn folded(&self) -> String {
        match self {
            Frame::Program { file, function } => format!("program;{file};{function}"),
            Frame::Kernel { function } => format!("kernel;{function}"),
            Frame::Idle => "idle".into(),
            Frame::Unknown => "program;[unknown]".into(),
        }
    }
}

fn basename(path: &str) -> String {
    let base = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    base.replace(';', ":")
}

/// Reads a file of the booted image: its path there to its bytes.
type ReadFile<'a> = Box<dyn FnMut(&str) -> Option<Vec<u8>> + 'a>;

/// Turns sample addresses into [`Frame`]s. ELF files are read once per
/// path, through `read` (a path in the image to the file's bytes).
pub struct Symbolizer<'a> {
    kernel: Option<ElfSymbols>,
    read: ReadFile<'a>,
    files: HashMap<String, Option<ElfSymbols>>,
    names: HashMap<String, String>,
}

impl<'a> Symbolizer<'a> {
    /// `kernel`: the booted kernel's ELF (an `ET_EXEC`: absolute addresses).
    pub fn new(kernel: &[u8], read: impl FnMut(&str) -> Option<Vec<u8>> + 'a) -> Self {
        Symbolizer {
            kernel: ElfSymbols::parse(kernel),
            read: Box::new(read),
            files: HashMap::new(),
            names: HashMap::new(),
        }
    }

    fn name(&mut self, raw: &str) -> String {
        if let Some(n) = self.names.get(raw) {
            return n.clone();
        }
        let n = demangle(raw);
        self.names.insert(raw.to_string(), n.clone());
        n
    }

    /// The frame of one sample.
    pub fn frame(&mut self, profile: &Profile, mode: Mode, rip: u64) -> Frame {
        match mode {
            Mode::Idle => Frame::Idle,
            Mode::Kernel => {
                let raw = self
                    .kernel
                    .as_ref()
                    .and_then(|k| k.function_at(rip))
                    .map(str::to_string);
                let function = match raw {
                    Some(raw) => self.name(&raw),
                    None => format!("{rip:#x}"),
                };
                Frame::Kernel { function }
            }
            Mode::User => {
                let Some(map) = profile.map_of(rip) else {
                    return Frame::Unknown;
                };
                let file = basename(&map.path);
                if !self.files.contains_key(&map.path) {
                    let parsed = (self.read)(&map.path).and_then(|b| ElfSymbols::parse(&b));
                    self.files.insert(map.path.clone(), parsed);
                }
                let elf = self.files[&map.path].as_ref();
                let off = map.offset.wrapping_add(rip - map.start);
                let vaddr = elf.and_then(|e| e.file_vaddr(off));
                let raw = vaddr
                    .and_then(|v| elf.and_then(|e| e.function_at(v)))
                    .map(str::to_string);
                let function = match (raw, vaddr) {
                    (Some(raw), _) => self.name(&raw),
                    (None, Some(v)) => format!("{v:#x}"),
                    // Not a readable ELF file: the file offset is what
                    // identifies the place.
                    (None, None) => format!("{off:#x}"),
                };
                Frame::Program { file, function }
            }
        }
    }

    /// Every sample's frame, with the samples of equal frames added up,
    /// most samples first (ties by name).
    pub fn frames(&mut self, profile: &Profile) -> Vec<(Frame, u64)> {
        let mut by: HashMap<Frame, u64> = HashMap::new();
        for (&(mode, rip), &n) in &profile.samples {
            let f = self.frame(profile, mode, rip);
            let e = by.entry(f).or_default();
            *e = e.saturating_add(n);
        }
        let mut v: Vec<(Frame, u64)> = by.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Folded stacks (`a;b;c COUNT`, one a line), the flame graph's input.
pub fn folded(frames: &[(Frame, u64)]) -> Vec<String> {
    let mut lines: Vec<String> = frames
        .iter()
        .map(|(f, n)| format!("{} {n}", f.folded()))
        .collect();
    lines.sort();
    lines
}

fn percent(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

/// A rate with as many decimals as it deserves.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

/// The summary's first three parts: the sample totals, the top functions
/// and the counters (with rates over `run_time`, the VM's run time).
pub fn summary(profile: &Profile, frames: &[(Frame, u64)], hz: u32, run_time: Duration) -> String {
    let mut s = String::new();
    let total = profile.total();
    let _ = writeln!(
        s,
        "kiln: profile: {total} samples at {hz} Hz ({:.1}% program, {:.1}% kernel, {:.1}% idle)",
        percent(profile.total_in(Mode::User), total),
        percent(profile.total_in(Mode::Kernel), total),
        percent(profile.total_in(Mode::Idle), total),
    );
    let top = &frames[..frames.len().min(TOP)];
    let width = top
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(0)
        .max(5);
    for (f, n) in top {
        let _ = writeln!(
            s,
            "{:>6.1}%  {n:>width$}  {}",
            percent(*n, total),
            f.label_within(MAX_SHOWN)
        );
    }
    let secs = run_time.as_secs_f64();
    let syscalls = profile
        .counters
        .iter()
        .find(|(name, _)| name == "syscalls")
        .map(|c| c.1);
    let parts: Vec<String> = profile
        .counters
        .iter()
        .map(|(name, v)| {
            let mut rates = Vec::new();
            if secs > 0.0 {
                rates.push(format!("{}/s", rate(*v as f64 / secs)));
            }
            if let Some(sc) = syscalls.filter(|&sc| sc > 0 && name != "syscalls") {
                rates.push(format!(
                    "{}/1k syscalls",
                    rate(*v as f64 * 1000.0 / sc as f64)
                ));
            }
            if rates.is_empty() {
                format!("{name} {v}")
            } else {
                format!("{name} {v} ({})", rates.join(", "))
            }
        })
        .collect();
    if parts.is_empty() {
        let _ = writeln!(s, "kiln: profile: counters: none reported");
    } else {
        let _ = writeln!(
            s,
            "kiln: profile: counters over {secs:.2} s: {}",
            parts.join(", ")
        );
    }
    s
}

/// Write the flame graph of `folded` stacks to `out` as an SVG.
pub fn write_flame_graph(folded: &[String], subtitle: &str, out: &Path) -> std::io::Result<()> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = "kiln --profile".into();
    opts.subtitle = Some(subtitle.into());
    opts.count_name = "samples".into();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, folded.iter().map(String::as_str), &mut svg)?;
    std::fs::write(out, svg)
}

/// The whole report for `kiln run --profile`, from the control channel's
/// text: writes the flame graph and returns the lines for standard error.
/// `kernel` is the booted kernel's ELF; `read` reads a file of the booted
/// image; `run_time` is how long the VM ran.
pub fn finish(
    ctl: &str,
    settings: &Settings,
    kernel: &[u8],
    read: impl FnMut(&str) -> Option<Vec<u8>>,
    run_time: Duration,
) -> String {
    let profile = Profile::parse(ctl);
    if !profile.seen {
        return "kiln: profile: the kernel reported no profile (it stopped before the program exited, or it has no profiler)\n".into();
    }
    let hz = profile.hz.unwrap_or(settings.hz);
    let frames = Symbolizer::new(kernel, read).frames(&profile);
    let mut s = summary(&profile, &frames, hz, run_time);
    let out = settings.out.display();
    if frames.is_empty() {
        let _ = writeln!(s, "kiln: profile: no samples, no flame graph written");
        return s;
    }
    let subtitle = format!("{} samples at {hz} Hz", profile.total());
    match write_flame_graph(&folded(&frames), &subtitle, &settings.out) {
        Ok(()) => {
            let _ = writeln!(s, "kiln: profile: flame graph written to {out}");
        }
        Err(e) => {
            let _ = writeln!(
                s,
                "kiln: profile: cannot write the flame graph to {out}: {e}"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hz_values() {
        assert_eq!(parse_hz("1000"), Ok(1000));
        assert_eq!(parse_hz("10"), Ok(10));
        assert_eq!(parse_hz("10000"), Ok(10000));
        for bad in ["9", "10001", "0", "-5", "fast", "", "1e3", "99999999999"] {
            let e = parse_hz(bad).unwrap_err();
            assert!(e.starts_with(&format!("--profile={bad}: ")), "{e}");
            assert!(e.contains("10 to 10000"), "{e}");
        }
        assert_eq!(settings(None, None), Ok(None));
        let s = settings(Some("1000"), None).unwrap().unwrap();
        assert_eq!((s.hz, s.out.to_str()), (1000, Some("kiln-profile.svg")));
        assert_eq!(s.cmdline(), "kiln.profile=1000");
        let s = settings(Some("250"), Some(Path::new("/tmp/p.svg")))
            .unwrap()
            .unwrap();
        assert_eq!((s.hz, s.out.to_str()), (250, Some("/tmp/p.svg")));
        // --profile-out alone profiles at the default rate.
        let s = settings(None, Some(Path::new("x.svg"))).unwrap().unwrap();
        assert_eq!(s.hz, DEFAULT_HZ);
        assert!(settings(Some("5"), None).is_err());
        assert!(settings(Some(""), Some(Path::new("x.svg"))).is_err());
    }

    const CTL: &str = "\
kiln: console noise never lands here, but if it did
profile hz 997
profile sample u 401a2f 10
profile sample k ffffffff80106010 4
profile sample i 0 30
profile sample u 401a2f 5
profile sample i 1234 2
profile map 400000 402000 0 /spin
profile map 7f0000001000 7f0000002000 1000 /lib/x86_64-linux-gnu/libc so.6
profile count syscalls 2000
profile count irq.net 40
profile count syscalls 3000
exit 0
";

    #[test]
    fn parses_the_profile_lines() {
        let p = Profile::parse(CTL);
        assert!(p.seen);
        assert_eq!(p.hz, Some(997));
        assert_eq!(p.samples.get(&(Mode::User, 0x401a2f)), Some(&15));
        assert_eq!(p.samples.get(&(Mode::Kernel, 0xffffffff80106010)), Some(&4));
        // Idle samples are one bucket whatever rip says.
        assert_eq!(p.samples.get(&(Mode::Idle, 0)), Some(&32));
        assert_eq!(p.total(), 51);
        assert_eq!(p.total_in(Mode::User), 15);
        assert_eq!(p.maps.len(), 2);
        assert_eq!(p.maps[1].path, "/lib/x86_64-linux-gnu/libc so.6");
        assert_eq!(p.maps[1].offset, 0x1000);
        assert_eq!(p.map_of(0x401fff).unwrap().path, "/spin");
        assert!(p.map_of(0x402000).is_none());
        assert!(p.map_of(0x3fffff).is_none());
        assert_eq!(
            p.counters,
            vec![("syscalls".to_string(), 3000), ("irq.net".to_string(), 40)]
        );
        assert_eq!(crate::qemu::parse_ctl(CTL), crate::qemu::Verdict::Exit(0));
        assert!(!Profile::parse("exit 0\n").seen);
    }

    #[test]
    fn garbage_is_ignored() {
        let garbage = "\
profile
profile \u{0}\u{1}
profile hz
profile hz -1
profile hz 0
profile hz 12 13
profile sample
profile sample x 10 1
profile sample u zz 1
profile sample u 0x10 1
profile sample u 10 -1
profile sample u 10 0
profile sample u 10 1 extra
profile sample u 11111111111111111 1
profile sample k 10 99999999999999999999999
profile map 1 2
profile map 2 1 0 /backwards
profile map 1 2 0 /a\u{1b}[31mred
profile map 1 2 zz /x
profile count
profile count a
profile count a b
profile count a 1 2
profile frobnicate 1 2 3
profiles sample u 10 1
\u{fffd}\u{fffd}profile sample u 10 1
";
        let p = Profile::parse(garbage);
        assert!(p.seen);
        assert_eq!(p.hz, None);
        assert!(p.samples.is_empty(), "{:?}", p.samples);
        assert!(p.maps.is_empty(), "{:?}", p.maps);
        assert!(p.counters.is_empty());
        // Counts saturate instead of overflowing.
        let p = Profile::parse(&format!(
            "profile sample k 10 {}\nprofile sample k 10 5\n",
            u64::MAX
        ));
        assert_eq!(p.total(), u64::MAX);
        // Random bytes never panic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut bytes = Vec::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            bytes.push(match b % 8 {
                0 => b'\n',
                1 => b' ',
                _ => b"profile samplemapcount hzuki0123456789abcdef/"[b as usize % 45],
            });
        }
        let _ = Profile::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn lines_beyond_the_bound_are_ignored() {
        let mut text = "profile sample k 10 1\n".repeat(MAX_LINES);
        text.push_str("profile sample k 20 1\nprofile hz 100\n");
        let p = Profile::parse(&text);
        assert_eq!(p.total(), MAX_LINES as u64);
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.hz, None);
    }

    /// A minimal x86_64 ELF: one PT_LOAD (file offset 0x1000 at `vaddr`),
    /// and a .symtab with `syms` (name, value, size, STT_FUNC or
    /// STT_NOTYPE), built by hand.
    fn tiny_elf(e_type: u16, vaddr: u64, syms: &[(&str, u64, u64, u8)]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for &(name, value, size, kind) in syms {
            let at = strtab.len() as u32;
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            symtab.extend_from_slice(&at.to_le_bytes());
            symtab.push(0x10 | kind); // STB_GLOBAL
            symtab.push(0);
            symtab.extend_from_slice(&1u16.to_le_bytes()); // section 1 (.text)
            symtab.extend_from_slice(&value.to_le_bytes());
            symtab.extend_from_slice(&size.to_le_bytes());
        }
        let shstrtab = b"\0.text\0.symtab\0.strtab\0.shstrtab\0".to_vec();
        // Layout: header, one phdr, .text at 0x1000 (0x1000 bytes), then
        // the tables, then the section headers.
        let text_off = 0x1000u64;
        let text_len = 0x1000u64;
        let symtab_off = text_off + text_len;
        let strtab_off = symtab_off + symtab.len() as u64;
        let shstr_off = strtab_off + strtab.len() as u64;
        let sh_off = (shstr_off + shstrtab.len() as u64).next_multiple_of(8);
        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f.extend_from_slice(&e_type.to_le_bytes());
        f.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&vaddr.to_le_bytes()); // e_entry
        f.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        f.extend_from_slice(&sh_off.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        for v in [64u16, 56, 1, 64, 5, 4] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        // PT_LOAD, R+X.
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&5u32.to_le_bytes());
        for v in [text_off, vaddr, vaddr, text_len, text_len, 0x1000] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.resize(text_off as usize, 0);
        f.resize((text_off + text_len) as usize, 0xcc);
        f.extend_from_slice(&symtab);
        f.extend_from_slice(&strtab);
        f.extend_from_slice(&shstrtab);
        f.resize(sh_off as usize, 0);
        let mut sh = |name: u32,
                      kind: u32,
                      flags: u64,
                      addr: u64,
                      off: u64,
                      size: u64,
                      link: u32,
                      info: u32,
                      entsize: u64| {
            f.extend_from_slice(&name.to_le_bytes());
            f.extend_from_slice(&kind.to_le_bytes());
            for v in [flags, addr, off, size] {
                f.extend_from_slice(&v.to_le_bytes());
            }
            f.extend_from_slice(&link.to_le_bytes());
            f.extend_from_slice(&info.to_le_bytes());
            f.extend_from_slice(&8u64.to_le_bytes());
            f.extend_from_slice(&entsize.to_le_bytes());
        };
        sh(0, 0, 0, 0, 0, 0, 0, 0, 0);
        sh(1, 1, 6, vaddr, text_off, text_len, 0, 0, 0); // .text
        sh(7, 2, 0, 0, symtab_off, symtab.len() as u64, 3, 1, 24); // .symtab
        sh(15, 3, 0, 0, strtab_off, strtab.len() as u64, 0, 0, 0); // .strtab
        sh(23, 3, 0, 0, shstr_off, shstrtab.len() as u64, 0, 0, 0); // .shstrtab
        f
    }

    const RUST_FN: &str = "_ZN4spin8hot_loop17h0123456789abcdefE";

    #[test]
    fn symbolizes_a_hand_made_elf() {
        // A PIE-style file: PT_LOAD at file offset 0x1000, vaddr 0x1000.
        let elf = tiny_elf(
            3,
            0x1000,
            &[
                ("main", 0x1000, 0x100, sym::STT_FUNC),
                (RUST_FN, 0x1100, 0x80, sym::STT_FUNC),
                ("asm_label", 0x1800, 0, sym::STT_NOTYPE),
                ("the_end", 0x1c00, 0x10, sym::STT_FUNC),
            ],
        );
        let e = ElfSymbols::parse(&elf).expect("parses");
        assert_eq!(e.file_vaddr(0x1000), Some(0x1000));
        assert_eq!(e.file_vaddr(0x1fff), Some(0x1fff));
        assert_eq!(e.file_vaddr(0x2000), None);
        assert_eq!(e.function_at(0x1010), Some("main"));
        assert_eq!(e.function_at(0x1100), Some(RUST_FN));
        assert_eq!(e.function_at(0x1180), None);
        // A label without a size reaches to the next symbol.
        assert_eq!(e.function_at(0x1bff), Some("asm_label"));
        assert_eq!(e.function_at(0x1c0f), Some("the_end"));
        assert_eq!(e.function_at(0x1c10), None);

        // The program mapped at 0x5555_5555_4000 from file offset 0x1000.
        let ctl = "\
profile hz 1000
profile map 555555554000 555555555000 1000 /usr/bin/spin
profile sample u 555555554120 7
profile sample u 555555554010 3
profile sample u 555555554190 1
profile sample u 1 1
profile sample k 100 2
profile sample i 0 4
";
        let p = Profile::parse(ctl);
        let mut reads = 0;
        let frames = Symbolizer::new(&[], |path| {
            reads += 1;
            (path == "/usr/bin/spin").then(|| elf.clone())
        })
        .frames(&p);
        assert_eq!(reads, 1, "one parse per file");
        let labels: Vec<(String, u64)> = frames.iter().map(|(f, n)| (f.label(), *n)).collect();
        assert_eq!(
            labels,
            [
                ("spin::hot_loop [spin]".to_string(), 7),
                ("[idle]".to_string(), 4),
                ("main [spin]".to_string(), 3),
                ("0x100 [kernel]".to_string(), 2),
                ("0x1190 [spin]".to_string(), 1),
                ("[unknown]".to_string(), 1),
            ]
        );
        assert_eq!(
            folded(&frames),
            [
                "idle 4",
                "kernel;0x100 2",
                "program;[unknown] 1",
                "program;spin;0x1190 1",
                "program;spin;main 3",
                "program;spin;spin::hot_loop 7",
            ]
        );
    }

    #[test]
    fn symbolizes_kernel_addresses_absolutely() {
        let kernel = tiny_elf(
            2,
            0xffff_ffff_8010_6000,
            &[(
                "kiln_kernel::run::turn",
                0xffff_ffff_8010_6100,
                0x40,
                sym::STT_FUNC,
            )],
        );
        let p = Profile::parse("profile sample k ffffffff80106120 9\n");
        let frames = Symbolizer::new(&kernel, |_| None).frames(&p);
        assert_eq!(frames[0].0.label(), "kiln_kernel::run::turn [kernel]");
        assert_eq!(frames[0].0.folded(), "kernel;kiln_kernel::run::turn");
    }

    #[test]
    fn a_file_that_is_not_elf_shows_offsets() {
        let p =
            Profile::parse("profile map 10000 20000 3000 /data/blob\nprofile sample u 10010 1\n");
        let frames = Symbolizer::new(b"not an elf", |_| Some(b"junk".to_vec())).frames(&p);
        assert_eq!(frames[0].0.label(), "0x3010 [blob]");
    }

    /// The embedded kernel has a .symtab: its entry point has a name.
    #[test]
    fn the_embedded_kernel_has_symbols() {
        let k = ElfSymbols::parse(crate::KERNEL).expect("the kernel parses");
        assert!(!k.symtab.0.is_empty(), "the kernel has a .symtab");
        let elf = Elf::parse(crate::KERNEL).unwrap();
        let text = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".text"))
            .expect(".text");
        // Most of .text is covered by a named function.
        let named = (0..100)
            .map(|i| text.sh_addr + text.sh_size * i / 100)
            .filter(|&a| k.function_at(a).is_some())
            .count();
        assert!(named > 90, "{named}/100 kernel addresses named");
    }

    /// A real shared object of the host: its exported functions come from
    /// .dynsym (Debian strips .symtab).
    #[test]
    fn dynsym_of_a_host_library() {
        let Some(libc) = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok()) else {
            eprintln!("no host glibc; skipped");
            return;
        };
        let elf = Elf::parse(&libc).unwrap();
        let getpid = elf
            .dynsyms
            .iter()
            .find(|s| elf.dynstrtab.get_at(s.st_name) == Some("getpid"))
            .expect("libc exports getpid");
        // Where the loader would put it if libc were mapped at 0x7f00_0000_0000:
        // find the PT_LOAD that holds it and map its file offset back.
        let ph = elf
            .program_headers
            .iter()
            .find(|ph| {
                ph.p_type == PT_LOAD
                    && getpid.st_value >= ph.p_vaddr
                    && getpid.st_value < ph.p_vaddr + ph.p_filesz
            })
            .unwrap();
        let off = getpid.st_value - ph.p_vaddr + ph.p_offset;
        let base = 0x7f00_0000_0000u64;
        let start = base + (ph.p_offset & !0xfff);
        let line = format!(
            "profile map {start:x} {:x} {:x} /lib/x86_64-linux-gnu/libc.so.6\nprofile sample u {:x} 1\n",
            start + ph.p_filesz + 0x1000,
            ph.p_offset & !0xfff,
            start + (off - (ph.p_offset & !0xfff)) + 1,
        );
        let p = Profile::parse(&line);
        let frames = Symbolizer::new(&[], |_| Some(libc.clone())).frames(&p);
        assert_eq!(frames[0].0.label(), "getpid [libc.so.6]");
    }

    #[test]
    fn demangles() {
        assert_eq!(demangle(RUST_FN), "spin::hot_loop");
        assert_eq!(demangle("_RNvCs1234_4spin8hot_loop"), "spin::hot_loop");
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar");
        assert_eq!(demangle("hot_loop"), "hot_loop");
        assert_eq!(demangle("_Zgarbage"), "_Zgarbage");
        assert_eq!(demangle("a;b\nc"), "a:b:c");
    }

    #[test]
    fn summary_format() {
        let p = Profile::parse(CTL);
        let frames = vec![
            (
                Frame::Program {
                    file: "spin".into(),
                    function: "hot_loop".into(),
                },
                15,
            ),
            (Frame::Idle, 32),
            (
                Frame::Kernel {
                    function: "kiln_kernel::run::turn".into(),
                },
                4,
            ),
        ];
        let s = summary(&p, &frames, 997, Duration::from_secs(2));
        assert_eq!(
            s,
            "kiln: profile: 51 samples at 997 Hz (29.4% program, 7.8% kernel, 62.7% idle)\n\
             \x20 29.4%     15  hot_loop [spin]\n\
             \x20 62.7%     32  [idle]\n\
             \x20  7.8%      4  kiln_kernel::run::turn [kernel]\n\
             kiln: profile: counters over 2.00 s: syscalls 3000 (1500/s), irq.net 40 (20.0/s, 13.3/1k syscalls)\n"
        );
        let empty = summary(&Profile::default(), &[], 1000, Duration::ZERO);
        assert_eq!(
            empty,
            "kiln: profile: 0 samples at 1000 Hz (0.0% program, 0.0% kernel, 0.0% idle)\n\
             kiln: profile: counters: none reported\n"
        );
        // Long names are cut, the file stays.
        let long = [(
            Frame::Program {
                file: "spin".into(),
                function: "x".repeat(500),
            },
            1,
        )];
        let s = summary(&Profile::default(), &long, 1000, Duration::ZERO);
        let line = s.lines().nth(1).unwrap();
        assert!(
            line.ends_with(&format!("{}... [spin]", "x".repeat(MAX_SHOWN - 3))),
            "{line}"
        );
        // At most TOP functions.
        let many: Vec<(Frame, u64)> = (0..40)
            .map(|i| {
                (
                    Frame::Kernel {
                        function: format!("f{i}"),
                    },
                    1,
                )
            })
            .collect();
        let s = summary(&Profile::default(), &many, 1000, Duration::ZERO);
        assert_eq!(s.lines().count(), 1 + TOP + 1);
    }

    #[test]
    fn writes_the_flame_graph() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.svg");
        let settings = Settings {
            hz: 1000,
            out: out.clone(),
        };
        let kernel = tiny_elf(
            2,
            0xffff_ffff_8010_6000,
            &[(
                "kiln_kernel::idle_turn",
                0xffff_ffff_8010_6100,
                0x40,
                sym::STT_FUNC,
            )],
        );
        let ctl = "profile hz 1000\nprofile sample k ffffffff80106101 3\nprofile sample i 0 5\nprofile count syscalls 10\nexit 0\n";
        let text = finish(ctl, &settings, &kernel, |_| None, Duration::from_secs(1));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "kiln: profile: 8 samples at 1000 Hz (0.0% program, 37.5% kernel, 62.5% idle)"
        );
        assert_eq!(
            *lines.last().unwrap(),
            format!("kiln: profile: flame graph written to {}", out.display())
        );
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..100]);
        assert!(svg.contains("kiln --profile"));
        assert!(svg.contains("kiln_kernel::idle_turn"));
        assert!(svg.contains("idle"));
        assert!(svg.trim_end().ends_with("</svg>"));

        // Nothing reported: one line, no file.
        let none = dir.path().join("none.svg");
        let text = finish(
            "exit 0\n",
            &Settings {
                hz: 1000,
                out: none.clone(),
            },
            &kernel,
            |_| None,
            Duration::ZERO,
        );
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("reported no profile"));
        assert!(!none.exists());

        // An unwritable place is reported, not fatal.
        let bad = Settings {
            hz: 1000,
            out: dir.path().join("no/such/dir/p.svg"),
        };
        let text = finish(ctl, &bad, &kernel, |_| None, Duration::ZERO);
        assert!(text.contains("cannot write the flame graph"), "{text}");
    }
}
