//! The symbols of the program (and its interpreter), kept for crash
//! backtraces.

use alloc::string::String;
use alloc::vec::Vec;
use goblin::elf::sym::{STT_FUNC, STT_NOTYPE, STT_OBJECT};
use goblin::elf::Elf;

#[derive(Clone, Debug)]
struct Sym {
    start: u64,
    size: u64,
    name: String,
}

/// Defined function, object and untyped (assembly label) symbols, sorted
/// by address.
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    syms: Vec<Sym>,
}

impl Symbols {
    /// Collect the symbols of `elf`, shifted by the load bias: the symbol
    /// table, or the dynamic symbols of a stripped shared object.
    pub fn from_elf(elf: &Elf<'_>, bias: u64) -> Symbols {
        Self::try_from_elf(elf, bias).unwrap_or_default()
    }

    /// As [`Symbols::from_elf`]; `None` when the memory for them cannot be
    /// had (their number comes from the file: the program then runs
    /// without names for its backtraces, rather than not at all).
    fn try_from_elf(elf: &Elf<'_>, bias: u64) -> Option<Symbols> {
        let (table, strings) = if elf.syms.is_empty() {
            (&elf.dynsyms, &elf.dynstrtab)
        } else {
            (&elf.syms, &elf.strtab)
        };
        let named = || {
            table
                .iter()
                .filter(|s| {
                    matches!(s.st_type(), STT_FUNC | STT_OBJECT | STT_NOTYPE)
                        && s.st_shndx != 0
                        && s.st_value != 0
                })
                .filter_map(|s| {
                    let name = strings.get_at(s.st_name)?;
                    (!name.is_empty()).then_some((s, name))
                })
        };
        let mut syms: Vec<Sym> = Vec::new();
        syms.try_reserve_exact(named().count()).ok()?;
        for (s, name) in named() {
            let mut owned = String::new();
            owned.try_reserve_exact(name.len()).ok()?;
            owned.push_str(name);
            syms.push(Sym {
                start: s.st_value.wrapping_add(bias),
                size: s.st_size,
                name: owned,
            });
        }
        syms.sort_unstable_by_key(|s| s.start);
        Some(Symbols { syms })
    }

    /// Add the symbols of another object (the interpreter).
    pub fn merge(&mut self, other: Symbols) {
        if self.syms.try_reserve(other.syms.len()).is_err() {
            return;
        }
        self.syms.extend(other.syms);
        self.syms.sort_unstable_by_key(|s| s.start);
    }

    /// The symbol containing `addr`, with the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(String, u64)> {
        let i = self.syms.partition_point(|s| s.start <= addr);
        // Among symbols starting at or below addr, take the nearest that covers it.
        self.syms[..i]
            .iter()
            .rev()
            .take(8)
            .find(|s| addr < s.start + s.size.max(1))
            .map(|s| (s.name.clone(), addr - s.start))
    }
}
