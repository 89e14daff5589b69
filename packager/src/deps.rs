//! Which shared objects a dynamically linked program loads, found without
//! running anything: the program's `PT_INTERP`, then its `DT_NEEDED`
//! entries, transitively, searched the way the root's own loader searches.
//!
//! glibc's `ld.so`, for a name without `/` needed by object L:
//!
//! 1. unless L has `DT_RUNPATH`: the `DT_RPATH` of L, of the object that
//!    loaded L, and so on up to the program (an object with `DT_RUNPATH`
//!    has no `DT_RPATH`);
//! 2. `LD_LIBRARY_PATH` (from the program's environment);
//! 3. L's own `DT_RUNPATH`;
//! 4. unless L is linked `-z nodeflib`: `/etc/ld.so.cache`, which
//!    `ldconfig` builds from the directories of `/etc/ld.so.conf`;
//! 5. unless `-z nodeflib`: the system directories compiled into `ld.so`.
//!
//! `$ORIGIN` (the directory of the object as it was opened; the program's
//! real directory), `$LIB` and `$PLATFORM` are expanded in all of them and in
//! needed names; a needed name holding `/` is a path. Candidates that are
//! not ELF64 x86_64 are skipped. A name matches an object already loaded
//! under that name or `DT_SONAME`, and a file reached by a second path is
//! the same object. Objects are loaded breadth first, so "the object that
//! loaded L" is the first one that needed it. `glibc-hwcaps/` and legacy
//! hwcap subdirectories are not searched: the baseline library is packed,
//! and the loader finds it on any CPU.
//!
//! musl's loader: names `libc.so`, `libpthread.so`, ... are the loader
//! itself; then `LD_LIBRARY_PATH`, the `DT_RUNPATH` or `DT_RPATH` of L and
//! of every object up the chain that needed it, then the directories of
//! its path file (`/etc/ld-musl-x86_64.path`) or `/lib:/usr/local/lib:/usr/lib`.

use crate::root::{basename, dirname, join, normalize, resolve, Found, Fs, Stat};
use goblin::elf::dynamic::{DF_1_NODEFLIB, DT_FLAGS_1};
use goblin::elf::Elf;
use std::collections::{HashMap, VecDeque};

/// `$PLATFORM` on x86_64 (the kernel's `AT_PLATFORM`).
pub const PLATFORM: &str = "x86_64";

/// What the resolver reads from an ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    pub e_type: u16,
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    /// `DT_RPATH`, dropped when the object also has `DT_RUNPATH` (as glibc
    /// does).
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    /// Linked with `-z nodeflib`: no cache, no system directories.
    pub nodeflib: bool,
    /// Imports `iconv_open` (so glibc will load gconv modules).
    pub imports_iconv: bool,
}

/// Is this the start of an ELF64 little-endian x86_64 file?
pub fn is_elf64_x86_64(bytes: &[u8]) -> bool {
    bytes.len() >= 64
        && bytes[..4] == *b"\x7fELF"
        && bytes[4] == 2
        && bytes[5] == 1
        && u16::from_le_bytes([bytes[18], bytes[19]]) == 62
}

/// Read the dynamic-linking facts of an ELF64 x86_64 file.
pub fn elf_info(bytes: &[u8]) -> Result<ElfInfo, String> {
    if !is_elf64_x86_64(bytes) {
        return Err("not an ELF64 x86_64 file".into());
    }
    let elf = Elf::parse(bytes).map_err(|e| e.to_string())?;
    let (rpath, runpath) = (elf.rpaths.join(":"), elf.runpaths.join(":"));
    let has_runpath = !elf.runpaths.is_empty();
    let flags_1 = elf
        .dynamic
        .as_ref()
        .and_then(|d| d.dyns.iter().find(|e| e.d_tag == DT_FLAGS_1))
        .map_or(0, |e| e.d_val);
    let imports_iconv = elf.dynsyms.iter().any(|s| {
        s.st_shndx == 0 && s.st_name != 0 && elf.dynstrtab.get_at(s.st_name) == Some("iconv_open")
    });
    Ok(ElfInfo {
        e_type: elf.header.e_type,
        interpreter: elf.interpreter.map(str::to_string),
        soname: elf.soname.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: (!elf.rpaths.is_empty() && !has_runpath).then_some(rpath),
        runpath: has_runpath.then_some(runpath),
        nodeflib: flags_1 & DF_1_NODEFLIB != 0,
        imports_iconv,
    })
}

/// Which loader the program names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Glibc,
    Musl,
}

impl Flavor {
    pub fn of_interpreter(interp: &str) -> Flavor {
        if basename(interp).starts_with("ld-musl-") {
            Flavor::Musl
        } else {
            Flavor::Glibc
        }
    }
}

/// glibc's system directories and `$LIB`, as its `ld.so` was built: the
/// layouts kiln knows, recognised by the directory list compiled into the
/// interpreter (`ld.so --help` prints it). Debian's multiarch layout when
/// none is recognised.
pub fn glibc_layout(interp: &[u8]) -> (Vec<String>, String) {
    const LAYOUTS: &[(&[&str], &str)] = &[
        (
            &[
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib",
                "/usr/lib",
            ],
            "lib/x86_64-linux-gnu",
        ),
        (&["/lib64", "/usr/lib64"], "lib64"),
        (&["/lib", "/usr/lib"], "lib"),
    ];
    let found = LAYOUTS.iter().find(|(dirs, _)| {
        let pattern: Vec<u8> = dirs.iter().flat_map(|d| d.bytes().chain(*b"/\0")).collect();
        interp.windows(pattern.len()).any(|w| w == pattern)
    });
    let (dirs, lib) = found.unwrap_or(&LAYOUTS[0]);
    (
        dirs.iter().map(|d| d.to_string()).collect(),
        lib.to_string(),
    )
}

/// Where and how the loader searches.
#[derive(Clone, Debug)]
pub struct Search {
    pub flavor: Flavor,
    /// glibc: the directories of `/etc/ld.so.conf` (what the cache holds);
    /// musl: its path file's directories, or its default path.
    pub conf_dirs: Vec<String>,
    /// glibc's system directories (none for musl).
    pub system_dirs: Vec<String>,
    /// `$LIB`.
    pub lib: String,
    /// `LD_LIBRARY_PATH` of the program's environment.
    pub ld_library_path: Option<String>,
    /// The program's working directory (relative search paths start there).
    pub cwd: String,
}

/// How an object was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Program,
    Interpreter,
    /// A needed name with a `/`.
    Path,
    Rpath,
    LdLibraryPath,
    Runpath,
    /// An `/etc/ld.so.conf` directory that is not a system directory: the
    /// loader finds it through the cache, which the image does not have.
    Conf,
    System,
    /// Added by a rule (dlopen, runtime), by path.
    Added,
}

/// One loaded object.
#[derive(Clone, Debug)]
pub struct Object {
    /// The path the loader opens it by.
    pub path: String,
    pub found: Found,
    pub info: ElfInfo,
    pub via: Via,
    /// Other paths that reached the same file (each must open in the image).
    pub aliases: Vec<Found>,
    /// Indices of the objects that need it.
    pub needed_by: Vec<usize>,
    /// Names found through the cache (see [`Via::Conf`]).
    pub cache_names: Vec<String>,
    loader: Option<usize>,
    names: Vec<String>,
    origin: String,
}

/// A needed object that is not in the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    /// The path of the object that needs it.
    pub needed_by: String,
    /// The program's interpreter (`PT_INTERP`) rather than a library.
    pub interpreter: bool,
    /// The directories searched, in order.
    pub searched: Vec<String>,
}

impl Missing {
    /// The message, completing "NAME ... not found in ROOT".
    pub fn message(&self, root: &str) -> String {
        if self.interpreter {
            return format!(
                "{} (the interpreter of {}) not found in {root}",
                self.name, self.needed_by
            );
        }
        let mut s = format!(
            "{} (needed by {}) not found in {root}",
            self.name, self.needed_by
        );
        if !self.searched.is_empty() {
            s.push_str("; searched ");
            s.push_str(&self.searched.join(", "));
        }
        s
    }
}

/// The resolver: a set of objects and the queue of those whose needs are
/// not yet resolved.
pub struct Resolver<'a> {
    fs: &'a dyn Fs,
    search: Search,
    pub objects: Vec<Object>,
    pub missing: Vec<Missing>,
    queue: VecDeque<usize>,
    by_real: HashMap<String, usize>,
    /// Real paths of the system directories.
    system_real: Vec<String>,
    interpreter: Option<usize>,
}

/// A candidate file that the loader would accept.
struct Hit {
    path: String,
    found: Found,
    bytes: Vec<u8>,
    via: Via,
}

impl<'a> Resolver<'a> {
    pub fn new(fs: &'a dyn Fs, search: Search) -> Resolver<'a> {
        let system_real = search
            .system_dirs
            .iter()
            .filter_map(|d| resolve(fs, d, true).ok().map(|f| f.real))
            .collect();
        Resolver {
            fs,
            search,
            objects: Vec::new(),
            missing: Vec::new(),
            queue: VecDeque::new(),
            by_real: HashMap::new(),
            system_real,
            interpreter: None,
        }
    }

    pub fn search(&self) -> &Search {
        &self.search
    }

    /// The program (index 0) and its interpreter. `path` is the path it is
    /// run by, `found` where it really is.
    pub fn add_program(&mut self, path: &str, found: Found, info: ElfInfo) -> usize {
        let origin = dirname(&found.real).to_string();
        let interp = info.interpreter.clone();
        let i = self.push(Object {
            path: path.to_string(),
            found,
            info,
            via: Via::Program,
            aliases: Vec::new(),
            needed_by: Vec::new(),
            cache_names: Vec::new(),
            loader: None,
            names: vec![path.to_string()],
            origin,
        });
        if let Some(interp) = interp {
            let ipath = normalize(&interp, "/");
            match self.accept(&ipath) {
                Some((found, bytes)) => {
                    let info = elf_info(&bytes).unwrap_or_default();
                    let mut names = vec![interp.clone(), ipath.clone()];
                    names.extend(info.soname.clone());
                    let j = self.push(Object {
                        path: ipath.clone(),
                        origin: dirname(&ipath).to_string(),
                        found,
                        info,
                        via: Via::Interpreter,
                        aliases: Vec::new(),
                        needed_by: vec![i],
                        cache_names: Vec::new(),
                        loader: Some(i),
                        names,
                    });
                    self.interpreter = Some(j);
                }
                None => self.missing.push(Missing {
                    name: interp,
                    needed_by: path.to_string(),
                    interpreter: true,
                    searched: Vec::new(),
                }),
            }
        }
        i
    }

    /// The interpreter's index, when it was found.
    pub fn interpreter(&self) -> Option<usize> {
        self.interpreter
    }

    /// Load the object at `path` as `dlopen` with a path would, on behalf of
    /// `loader`; `None` when it is missing or not a loadable object.
    pub fn add_path(&mut self, path: &str, loader: usize) -> Option<usize> {
        let path = normalize(path, &self.search.cwd);
        let (found, bytes) = self.accept(&path)?;
        if let Some(&i) = self.by_real.get(&found.real) {
            return Some(i);
        }
        Some(self.new_object(
            Hit {
                path,
                found,
                bytes,
                via: Via::Added,
            },
            loader,
            None,
        ))
    }

    /// Load `name` as `dlopen(name)` called by `loader` would; `None` when
    /// the loader would not find it.
    pub fn add_name(&mut self, name: &str, loader: usize) -> Option<usize> {
        if let Some(i) = self.loaded(name) {
            return Some(i);
        }
        let hit = self.find(name, loader).ok()?;
        Some(self.attach(hit, name, loader, None))
    }

    /// Resolve the needs of every object added so far, breadth first.
    pub fn run(&mut self) {
        while let Some(i) = self.queue.pop_front() {
            for name in self.objects[i].info.needed.clone() {
                self.need(i, &name);
            }
        }
    }

    /// The path of each object that needs object `i`.
    pub fn needers(&self, i: usize) -> Vec<&str> {
        self.objects[i]
            .needed_by
            .iter()
            .map(|&n| self.objects[n].path.as_str())
            .collect()
    }

    fn push(&mut self, o: Object) -> usize {
        let i = self.objects.len();
        self.by_real.insert(o.found.real.clone(), i);
        self.objects.push(o);
        self.queue.push_back(i);
        i
    }

    fn new_object(&mut self, hit: Hit, loader: usize, name: Option<&str>) -> usize {
        let info = elf_info(&hit.bytes).unwrap_or_default();
        let mut names = vec![hit.path.clone()];
        names.extend(name.map(str::to_string));
        names.extend(info.soname.clone());
        let cache_names = match (&hit.via, name) {
            (Via::Conf, Some(n)) => vec![n.to_string()],
            _ => Vec::new(),
        };
        self.push(Object {
            origin: dirname(&hit.path).to_string(),
            path: hit.path,
            found: hit.found,
            info,
            via: hit.via,
            aliases: Vec::new(),
            needed_by: Vec::new(),
            cache_names,
            loader: Some(loader),
            names,
        })
    }

    /// Add a found file under `name`: a new object, or one already loaded
    /// from the same file (then this path is an alias).
    fn attach(&mut self, hit: Hit, name: &str, loader: usize, needer: Option<usize>) -> usize {
        let i = match self.by_real.get(&hit.found.real) {
            Some(&i) => {
                let o = &mut self.objects[i];
                if !o.names.iter().any(|n| n == name) {
                    o.names.push(name.to_string());
                }
                if hit.via == Via::Conf && !o.cache_names.iter().any(|n| n == name) {
                    o.cache_names.push(name.to_string());
                }
                if o.path != hit.path && !o.aliases.iter().any(|a| a.path == hit.found.path) {
                    o.aliases.push(hit.found);
                }
                i
            }
            None => self.new_object(hit, loader, Some(name)),
        };
        if let Some(n) = needer {
            self.add_needer(i, n);
        }
        i
    }

    fn add_needer(&mut self, i: usize, needer: usize) {
        if i != needer && !self.objects[i].needed_by.contains(&needer) {
            self.objects[i].needed_by.push(needer);
        }
    }

    /// An object already loaded under `name` (its path, a name it was
    /// needed by, or its soname).
    fn loaded(&self, name: &str) -> Option<usize> {
        self.objects.iter().position(|o| {
            o.names.iter().any(|n| n == name) || o.info.soname.as_deref() == Some(name)
        })
    }

    fn need(&mut self, i: usize, raw: &str) {
        let name = if raw.contains('$') {
            self.expand(raw, &self.objects[i].origin.clone())
        } else {
            raw.to_string()
        };
        if self.search.flavor == Flavor::Musl && musl_reserved(&name) {
            if let Some(j) = self.interpreter {
                self.add_needer(j, i);
            }
            return;
        }
        // musl matches only the names it loaded objects under; glibc also
        // matches sonames. Both then recognise a file already loaded.
        let known = match self.search.flavor {
            Flavor::Glibc => self.loaded(&name),
            Flavor::Musl => self.objects.iter().position(|o| o.names.contains(&name)),
        };
        if let Some(j) = known {
            self.add_needer(j, i);
            return;
        }
        match self.find(&name, i) {
            Ok(hit) => {
                self.attach(hit, &name, i, Some(i));
            }
            Err(searched) => {
                let needed_by = self.objects[i].path.clone();
                if !self
                    .missing
                    .iter()
                    .any(|m| m.name == name && m.needed_by == needed_by)
                {
                    self.missing.push(Missing {
                        name,
                        needed_by,
                        interpreter: false,
                        searched,
                    });
                }
            }
        }
    }

    /// Search for `name` on behalf of object `l`; the directories tried
    /// when it is not found.
    fn find(&self, name: &str, l: usize) -> Result<Hit, Vec<String>> {
        if name.contains('/') {
            let path = normalize(name, &self.search.cwd);
            return match self.accept(&path) {
                Some((found, bytes)) => Ok(Hit {
                    path,
                    found,
                    bytes,
                    via: Via::Path,
                }),
                None => Err(Vec::new()),
            };
        }
        let mut searched: Vec<String> = Vec::new();
        for (dir, via) in self.search_dirs(l) {
            let dir = normalize(&dir, &self.search.cwd);
            if searched.contains(&dir) {
                continue;
            }
            let path = join(&dir, name);
            searched.push(dir);
            if let Some((found, bytes)) = self.accept(&path) {
                return Ok(Hit {
                    path,
                    found,
                    bytes,
                    via,
                });
            }
        }
        Err(searched)
    }

    /// The directories searched for a need of object `l`, in order.
    fn search_dirs(&self, l: usize) -> Vec<(String, Via)> {
        let s = &self.search;
        let obj = &self.objects[l];
        let mut dirs: Vec<(String, Via)> = Vec::new();
        let main_origin = self.objects.first().map_or("/", |o| o.origin.as_str());
        let ld_path = |dirs: &mut Vec<(String, Via)>, seps: &[char]| {
            if let Some(p) = &s.ld_library_path {
                for d in p.split(seps) {
                    // An empty element is the working directory.
                    let d = if d.is_empty() { "." } else { d };
                    dirs.push((self.expand(d, main_origin), Via::LdLibraryPath));
                }
            }
        };
        match s.flavor {
            Flavor::Glibc => {
                if obj.info.runpath.is_none() {
                    let chain = self.chain(l);
                    let main_in_chain = chain.contains(&0);
                    for &c in chain.iter().chain((!main_in_chain).then_some(&0)) {
                        let Some(o) = self.objects.get(c) else {
                            continue;
                        };
                        if let Some(rp) = &o.info.rpath {
                            for d in rp.split(':') {
                                let d = if d.is_empty() { "." } else { d };
                                dirs.push((self.expand(d, &o.origin), Via::Rpath));
                            }
                        }
                    }
                }
                ld_path(&mut dirs, &[':', ';']);
                if let Some(rp) = &obj.info.runpath {
                    for d in rp.split(':') {
                        let d = if d.is_empty() { "." } else { d };
                        dirs.push((self.expand(d, &obj.origin), Via::Runpath));
                    }
                }
                if !obj.info.nodeflib {
                    for d in &s.conf_dirs {
                        let real = resolve(self.fs, d, true).ok().map(|f| f.real);
                        let system = real.is_some_and(|r| self.system_real.contains(&r))
                            || s.system_dirs.contains(d);
                        let via = if system { Via::System } else { Via::Conf };
                        dirs.push((d.clone(), via));
                    }
                    for d in &s.system_dirs {
                        dirs.push((d.clone(), Via::System));
                    }
                }
            }
            Flavor::Musl => {
                ld_path(&mut dirs, &[':', '\n']);
                for c in self.chain(l) {
                    let o = &self.objects[c];
                    if let Some(rp) = o.info.runpath.as_ref().or(o.info.rpath.as_ref()) {
                        for d in rp.split(':').filter(|d| !d.is_empty()) {
                            dirs.push((self.expand(d, &o.origin), Via::Rpath));
                        }
                    }
                }
                for d in &s.conf_dirs {
                    dirs.push((d.clone(), Via::System));
                }
            }
        }
        dirs
    }

    /// Object `l`, the object that loaded it, and so on.
    fn chain(&self, l: usize) -> Vec<usize> {
        let mut out = vec![l];
        let mut cur = self.objects[l].loader;
        while let Some(c) = cur {
            if out.contains(&c) {
                break;
            }
            out.push(c);
            cur = self.objects[c].loader;
        }
        out
    }

    /// Expand `$ORIGIN`, `$LIB` and `$PLATFORM` (also as `${...}`); musl
    /// knows only `$ORIGIN`.
    fn expand(&self, s: &str, origin: &str) -> String {
        let musl = self.search.flavor == Flavor::Musl;
        let vars: [(&str, &str); 3] = [
            ("ORIGIN", origin),
            ("LIB", &self.search.lib),
            ("PLATFORM", PLATFORM),
        ];
        let mut out = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let mut matched = None;
            for (k, v) in vars.iter().take(if musl { 1 } else { 3 }) {
                if let Some(r) = after
                    .strip_prefix('{')
                    .and_then(|a| a.strip_prefix(k))
                    .and_then(|a| a.strip_prefix('}'))
                {
                    matched = Some((*v, r));
                    break;
                }
                if let Some(r) = after.strip_prefix(k) {
                    if r.is_empty() || r.starts_with('/') {
                        matched = Some((*v, r));
                        break;
                    }
                }
            }
            match matched {
                Some((v, r)) => {
                    out.push_str(v);
                    rest = r;
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The file at `path` if the loader would take it: a regular file
    /// (after symlinks) that is ELF64 x86_64.
    fn accept(&self, path: &str) -> Option<(Found, Vec<u8>)> {
        let found = resolve(self.fs, path, true).ok()?;
        if !matches!(found.stat, Stat::File { .. }) {
            return None;
        }
        let bytes = self.fs.read(&found.real).ok()?;
        is_elf64_x86_64(&bytes).then_some((found, bytes))
    }
}

/// Names musl's loader answers itself (its libc holds them all).
fn musl_reserved(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("lib") else {
        return false;
    };
    ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."]
        .iter()
        .any(|r| rest.starts_with(r))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::root::HostRoot;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// A minimal ELF64 x86_64 object: `PT_INTERP` (programs), one `PT_LOAD`
    /// covering the file, `PT_DYNAMIC` with the given entries, and a dynamic
    /// symbol table of undefined `imports` (with a `DT_HASH` to count them).
    #[derive(Default)]
    pub(crate) struct FakeElf<'a> {
        pub interp: Option<&'a str>,
        pub soname: Option<&'a str>,
        pub needed: &'a [&'a str],
        pub rpath: Option<&'a str>,
        pub runpath: Option<&'a str>,
        pub imports: &'a [&'a str],
        pub nodeflib: bool,
        pub class32: bool,
    }

    impl FakeElf<'_> {
        pub(crate) fn bytes(&self) -> Vec<u8> {
            const PHDRS: u64 = 3;
            let mut strtab = vec![0u8];
            let mut add_str = |s: &str| {
                let off = strtab.len() as u64;
                strtab.extend_from_slice(s.as_bytes());
                strtab.push(0);
                off
            };
            let mut dyns: Vec<(u64, u64)> = Vec::new();
            for n in self.needed {
                dyns.push((1, add_str(n))); // DT_NEEDED
            }
            if let Some(s) = self.soname {
                dyns.push((14, add_str(s)));
            }
            if let Some(s) = self.rpath {
                dyns.push((15, add_str(s)));
            }
            if let Some(s) = self.runpath {
                dyns.push((29, add_str(s)));
            }
            let sym_names: Vec<u64> = self.imports.iter().map(|s| add_str(s)).collect();
            if self.nodeflib {
                dyns.push((DT_FLAGS_1, DF_1_NODEFLIB));
            }
            let interp = self.interp.map(|s| format!("{s}\0")).unwrap_or_default();
            // Layout: header, phdrs, interp, strtab, symtab, hash, dynamic.
            let phoff = 64u64;
            let interp_off = phoff + 56 * PHDRS;
            let str_off = interp_off + interp.len() as u64;
            let sym_off = (str_off + strtab.len() as u64).next_multiple_of(8);
            let nsyms = sym_names.len() as u64 + 1;
            let hash_off = sym_off + 24 * nsyms;
            let dyn_off = hash_off + 4 * (2 + 1 + nsyms);
            dyns.extend([
                (5, str_off),              // DT_STRTAB
                (10, strtab.len() as u64), // DT_STRSZ
                (6, sym_off),              // DT_SYMTAB
                (11, 24),                  // DT_SYMENT
                (4, hash_off),             // DT_HASH
                (0, 0),                    // DT_NULL
            ]);
            let end = dyn_off + 16 * dyns.len() as u64;
            let mut b = vec![0u8; end as usize];
            b[..4].copy_from_slice(b"\x7fELF");
            b[4] = if self.class32 { 1 } else { 2 };
            b[5] = 1;
            b[6] = 1;
            let e_type: u16 = 3;
            b[16..18].copy_from_slice(&e_type.to_le_bytes());
            b[18..20].copy_from_slice(&62u16.to_le_bytes());
            b[20..24].copy_from_slice(&1u32.to_le_bytes());
            let entry: u64 = if self.interp.is_some() { 0x1000 } else { 0 };
            b[24..32].copy_from_slice(&entry.to_le_bytes());
            b[32..40].copy_from_slice(&phoff.to_le_bytes());
            b[52..54].copy_from_slice(&64u16.to_le_bytes());
            b[54..56].copy_from_slice(&56u16.to_le_bytes());
            b[56..58].copy_from_slice(&(PHDRS as u16).to_le_bytes());
            b[58..60].copy_from_slice(&64u16.to_le_bytes());
            let mut ph = |i: u64, p_type: u32, off: u64, size: u64| {
                let o = (phoff + 56 * i) as usize;
                b[o..o + 4].copy_from_slice(&p_type.to_le_bytes());
                b[o + 4..o + 8].copy_from_slice(&4u32.to_le_bytes());
                for (k, v) in [(8, off), (16, off), (24, off), (32, size), (40, size)] {
                    b[o + k..o + k + 8].copy_from_slice(&v.to_le_bytes());
                }
                b[o + 48..o + 56].copy_from_slice(&8u64.to_le_bytes());
            };
            // A program without an interpreter gets a PT_NULL instead.
            if self.interp.is_some() {
                ph(0, 3, interp_off, interp.len() as u64);
            } else {
                ph(0, 0, 0, 0);
            }
            ph(1, 1, 0, end);
            ph(2, 2, dyn_off, end - dyn_off);
            let at = interp_off as usize;
            b[at..at + interp.len()].copy_from_slice(interp.as_bytes());
            let at = str_off as usize;
            b[at..at + strtab.len()].copy_from_slice(&strtab);
            for (k, name) in sym_names.iter().enumerate() {
                let o = sym_off as usize + 24 * (k + 1);
                b[o..o + 4].copy_from_slice(&(*name as u32).to_le_bytes());
                b[o + 4] = 0x12; // STB_GLOBAL, STT_FUNC; st_shndx 0: undefined
            }
            let h = hash_off as usize;
            b[h..h + 4].copy_from_slice(&1u32.to_le_bytes()); // nbucket
            b[h + 4..h + 8].copy_from_slice(&(nsyms as u32).to_le_bytes()); // nchain
            for (k, (tag, val)) in dyns.iter().enumerate() {
                let o = dyn_off as usize + 16 * k;
                b[o..o + 8].copy_from_slice(&tag.to_le_bytes());
                b[o + 8..o + 16].copy_from_slice(&val.to_le_bytes());
            }
            b
        }

        pub(crate) fn write(&self, root: &Path, path: &str) {
            let p = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, self.bytes()).unwrap();
        }
    }

    pub(crate) const INTERP: &str = "/lib64/ld-linux-x86-64.so.2";

    /// A Debian-like root (merged /usr) with an interpreter and libc.
    pub(crate) fn debian_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        crate::root::tests::merged_usr(d.path());
        let lib = "/usr/lib/x86_64-linux-gnu";
        let mut ld = FakeElf {
            soname: Some("ld-linux-x86-64.so.2"),
            ..Default::default()
        }
        .bytes();
        ld.extend_from_slice(
            b"/lib/x86_64-linux-gnu/\0/usr/lib/x86_64-linux-gnu/\0/lib/\0/usr/lib/\0",
        );
        let p = d
            .path()
            .join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        std::fs::write(&p, ld).unwrap();
        symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            d.path().join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        FakeElf {
            soname: Some("libc.so.6"),
            needed: &["ld-linux-x86-64.so.2"],
            ..Default::default()
        }
        .write(d.path(), &format!("{lib}/libc.so.6"));
        d
    }

    pub(crate) fn search(fs: &dyn Fs, env: Option<&str>) -> Search {
        Search {
            flavor: Flavor::Glibc,
            conf_dirs: crate::ldconf::ld_so_conf_dirs(fs),
            system_dirs: [
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib",
                "/usr/lib",
            ]
            .map(String::from)
            .to_vec(),
            lib: "lib/x86_64-linux-gnu".into(),
            ld_library_path: env.map(String::from),
            cwd: "/".into(),
        }
    }

    /// Resolve the program at `path` in `root`: (object path, needers)
    /// pairs, and the missing ones.
    pub(crate) fn closure(
        root: &Path,
        path: &str,
        env: Option<&str>,
    ) -> (Vec<(String, Vec<String>)>, Vec<Missing>) {
        let fs = HostRoot::new(root).unwrap();
        let found = resolve(&fs, path, true).unwrap();
        let info = elf_info(&fs.read(&found.real).unwrap()).unwrap();
        let mut r = Resolver::new(&fs, search(&fs, env));
        r.add_program(path, found, info);
        r.run();
        let objs = (0..r.objects.len())
            .map(|i| {
                (
                    r.objects[i].path.clone(),
                    r.needers(i).iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        (objs, r.missing.clone())
    }

    fn paths(objs: &[(String, Vec<String>)]) -> Vec<&str> {
        objs.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn reads_what_the_loader_needs() {
        let b = FakeElf {
            interp: Some(INTERP),
            needed: &["libc.so.6", "libm.so.6"],
            rpath: Some("/r"),
            runpath: Some("$ORIGIN/../lib"),
            imports: &["printf", "iconv_open"],
            nodeflib: true,
            ..Default::default()
        }
        .bytes();
        let i = elf_info(&b).unwrap();
        assert_eq!(i.interpreter.as_deref(), Some(INTERP));
        assert_eq!(i.needed, ["libc.so.6", "libm.so.6"]);
        assert_eq!(i.rpath, None, "RUNPATH hides RPATH");
        assert_eq!(i.runpath.as_deref(), Some("$ORIGIN/../lib"));
        assert!(i.nodeflib && i.imports_iconv);
    }

    #[test]
    fn system_dirs_and_the_interpreter_with_merged_usr() {
        let d = debian_root();
        FakeElf {
            interp: Some(INTERP),
            needed: &["libc.so.6"],
            ..Default::default()
        }
        .write(d.path(), "/usr/bin/prog");
        let (objs, missing) = closure(d.path(), "/usr/bin/prog", None);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(
            paths(&objs),
            ["/usr/bin/prog", INTERP, "/lib/x86_64-linux-gnu/libc.so.6"]
        );
        // libc needs the interpreter by its soname: the same object.
        assert_eq!(
            objs[1].1,
            ["/usr/bin/prog", "/lib/x86_64-linux-gnu/libc.so.6"]
        );
    }

    #[test]
    fn runpath_with_origin_and_rpath_precedence() {
        let d = debian_root();
        // The program's RUNPATH ($ORIGIN/../lib) finds libA; libA has an
        // RPATH, which beats LD_LIBRARY_PATH for its own needs.
        FakeElf {
            interp: Some(INTERP),
            needed: &["libA.so.1"],
            runpath: Some("${ORIGIN}/../lib"),
            ..Default::default()
        }
        .write(d.path(), "/opt/app/bin/prog");
        FakeElf {
            soname: Some("libA.so.1"),
            needed: &["libB.so.1", "libc.so.6"],
            rpath: Some("$ORIGIN/rp"),
            ..Default::default()
        }
        .write(d.path(), "/opt/app/lib/libA.so.1");
        for dir in ["/opt/app/lib/rp", "/env", "/usr/lib/x86_64-linux-gnu"] {
            FakeElf {
                soname: Some("libB.so.1"),
                needed: &["libC.so.1"],
                ..Default::default()
            }
            .write(d.path(), &format!("{dir}/libB.so.1"));
        }
        // libC: libB has no RPATH of its own but inherits libA's (its
        // loader's), which comes before LD_LIBRARY_PATH.
        FakeElf::default().write(d.path(), "/opt/app/lib/rp/libC.so.1");
        FakeElf::default().write(d.path(), "/env/libC.so.1");
        let (objs, missing) = closure(d.path(), "/opt/app/bin/prog", Some("/env"));
        assert!(missing.is_empty(), "{missing:?}");
        let p = paths(&objs);
        assert!(p.contains(&"/opt/app/lib/libA.so.1"), "{p:?}");
        assert!(p.contains(&"/opt/app/lib/rp/libB.so.1"), "{p:?}");
        assert!(p.contains(&"/opt/app/lib/rp/libC.so.1"), "{p:?}");
        // With RUNPATH instead of RPATH on libA, LD_LIBRARY_PATH comes
        // first for libA's needs, and libB inherits nothing: both from /env.
        FakeElf {
            soname: Some("libA.so.1"),
            needed: &["libB.so.1", "libc.so.6"],
            runpath: Some("$ORIGIN/rp"),
            ..Default::default()
        }
        .write(d.path(), "/opt/app/lib/libA.so.1");
        let (objs, missing) = closure(d.path(), "/opt/app/bin/prog", Some("/env"));
        assert!(missing.is_empty(), "{missing:?}");
        let p = paths(&objs);
        assert!(p.contains(&"/env/libB.so.1"), "{p:?}");
        assert!(p.contains(&"/env/libC.so.1"), "{p:?}");
        // Without LD_LIBRARY_PATH, libB comes from libA's RUNPATH, and libC
        // (needed by libB, which has no paths and inherits no RUNPATH) is
        // searched in the system directories only: missing.
        let (objs, missing) = closure(d.path(), "/opt/app/bin/prog", None);
        assert!(paths(&objs).contains(&"/opt/app/lib/rp/libB.so.1"));
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(
            missing[0].message("ROOT"),
            "libC.so.1 (needed by /opt/app/lib/rp/libB.so.1) not found in ROOT; searched \
             /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib"
        );
    }

    #[test]
    fn ld_so_conf_dirs_lib_and_platform_and_skipping_wrong_class() {
        let d = debian_root();
        std::fs::create_dir_all(d.path().join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            d.path().join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/ld.so.conf.d/local.conf"),
            "/usr/local/lib\n",
        )
        .unwrap();
        FakeElf {
            interp: Some(INTERP),
            needed: &["libL.so.1", "libP.so", "libc.so.6"],
            rpath: Some("/opt/$LIB:/opt/$PLATFORM:/opt/$UNKNOWN"),
            ..Default::default()
        }
        .write(d.path(), "/usr/bin/prog");
        // A 32-bit libL first in the search is skipped.
        FakeElf {
            class32: true,
            ..Default::default()
        }
        .write(d.path(), "/opt/lib/x86_64-linux-gnu/libL.so.1");
        FakeElf::default().write(d.path(), "/usr/local/lib/libL.so.1");
        FakeElf::default().write(d.path(), "/opt/x86_64/libP.so");
        let fs = HostRoot::new(d.path()).unwrap();
        let found = resolve(&fs, "/usr/bin/prog", true).unwrap();
        let info = elf_info(&fs.read(&found.real).unwrap()).unwrap();
        let mut r = Resolver::new(&fs, search(&fs, None));
        r.add_program("/usr/bin/prog", found, info);
        r.run();
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        let l = r
            .objects
            .iter()
            .find(|o| o.path.ends_with("libL.so.1"))
            .unwrap();
        assert_eq!(l.path, "/usr/local/lib/libL.so.1");
        assert_eq!(
            (&l.via, l.cache_names.as_slice()),
            (&Via::Conf, &["libL.so.1".to_string()][..])
        );
        assert!(r.objects.iter().any(|o| o.path == "/opt/x86_64/libP.so"));
    }

    #[test]
    fn loops_and_two_names_for_one_file() {
        let d = debian_root();
        let lib = "/usr/lib/x86_64-linux-gnu";
        FakeElf {
            interp: Some(INTERP),
            needed: &["libA.so", "libA.so.1", "libB.so.1", "libc.so.6"],
            ..Default::default()
        }
        .write(d.path(), "/usr/bin/prog");
        FakeElf {
            soname: Some("libA.so.1"),
            needed: &["libB.so.1", "libA.so.1"],
            ..Default::default()
        }
        .write(d.path(), &format!("{lib}/libA.so.1.0"));
        symlink(
            "libA.so.1.0",
            d.path().join("usr/lib/x86_64-linux-gnu/libA.so.1"),
        )
        .unwrap();
        symlink(
            "libA.so.1",
            d.path().join("usr/lib/x86_64-linux-gnu/libA.so"),
        )
        .unwrap();
        FakeElf {
            needed: &["libA.so.1"],
            ..Default::default()
        }
        .write(d.path(), &format!("{lib}/libB.so.1"));
        let (objs, missing) = closure(d.path(), "/usr/bin/prog", None);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(
            paths(&objs),
            [
                "/usr/bin/prog",
                INTERP,
                "/lib/x86_64-linux-gnu/libA.so",
                "/lib/x86_64-linux-gnu/libB.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        assert_eq!(
            objs[2].1,
            ["/usr/bin/prog", "/lib/x86_64-linux-gnu/libB.so.1"]
        );
    }

    #[test]
    fn musl_names_and_path_file() {
        let d = tempfile::tempdir().unwrap();
        let musl_interp = "/lib/ld-musl-x86_64.so.1";
        FakeElf::default().write(d.path(), "/usr/lib/x86_64-linux-musl/libc.so");
        std::fs::create_dir_all(d.path().join("lib")).unwrap();
        symlink(
            "/usr/lib/x86_64-linux-musl/libc.so",
            d.path().join("lib/ld-musl-x86_64.so.1"),
        )
        .unwrap();
        FakeElf::default().write(d.path(), "/opt/m/libz.so.1");
        FakeElf {
            interp: Some(musl_interp),
            needed: &["libz.so.1", "libc.so"],
            ..Default::default()
        }
        .write(d.path(), "/bin/prog");
        let fs = HostRoot::new(d.path()).unwrap();
        let found = resolve(&fs, "/bin/prog", true).unwrap();
        let info = elf_info(&fs.read(&found.real).unwrap()).unwrap();
        let mut r = Resolver::new(
            &fs,
            Search {
                flavor: Flavor::Musl,
                conf_dirs: vec!["/opt/m".into()],
                system_dirs: vec![],
                lib: String::new(),
                ld_library_path: None,
                cwd: "/".into(),
            },
        );
        r.add_program("/bin/prog", found, info);
        r.run();
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        let p: Vec<&str> = r.objects.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(p, ["/bin/prog", musl_interp, "/opt/m/libz.so.1"]);
    }

    #[test]
    fn glibc_layouts() {
        let (dirs, lib) = glibc_layout(b"x\0/lib64/\0/usr/lib64/\0y");
        assert_eq!(
            (dirs.as_slice(), lib.as_str()),
            (&["/lib64".to_string(), "/usr/lib64".into()][..], "lib64")
        );
        let (dirs, lib) = glibc_layout(b"nothing");
        assert_eq!(dirs[0], "/lib/x86_64-linux-gnu");
        assert_eq!(lib, "lib/x86_64-linux-gnu");
        if let Ok(host) = std::fs::read("/lib64/ld-linux-x86-64.so.2") {
            let (dirs, _) = glibc_layout(&host);
            assert!(!dirs.is_empty());
        }
    }

    #[test]
    fn host_programs_resolve_like_ldd() {
        // /usr/bin/true on this host: libc.so.6 and the interpreter.
        let Ok(bytes) = std::fs::read("/usr/bin/true") else {
            return;
        };
        let Ok(info) = elf_info(&bytes) else { return };
        if info.interpreter.is_none() {
            return;
        }
        let fs = HostRoot::host();
        let found = resolve(&fs, "/usr/bin/true", true).unwrap();
        let ld = fs
            .read(&normalize(info.interpreter.as_deref().unwrap(), "/"))
            .unwrap();
        let (system_dirs, lib) = glibc_layout(&ld);
        let mut r = Resolver::new(
            &fs,
            Search {
                flavor: Flavor::Glibc,
                conf_dirs: crate::ldconf::ld_so_conf_dirs(&fs),
                system_dirs,
                lib,
                ld_library_path: None,
                cwd: "/".into(),
            },
        );
        r.add_program("/usr/bin/true", found, info);
        r.run();
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        assert!(r.objects.iter().any(|o| basename(&o.path) == "libc.so.6"));
    }
}
