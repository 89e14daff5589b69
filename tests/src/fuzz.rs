//! Property-based fuzzing (proptest) of what Kiln reads from outside: the
//! image (header, manifest, file-system index; through both `kiln`'s reader
//! and the kernel's), config.json, and the ELF checks (`kiln build`'s and
//! the kernel loader's). Inputs are valid seeds with random damage: edits
//! of header fields and program headers with values chosen to hit limits,
//! random bytes, cuts. Every target asserts that nothing panics and that a
//! bad input is a clean error (one line; config.json: one `kiln: error:`
//! line per problem, each naming the file), and where two readers judge the
//! same input, that they agree.
//!
//! [`run`] drives one target for a time budget; `tests/fuzz_inputs.rs`
//! runs each for a few seconds in `cargo test`, and `bench-fuzz` for as
//! long as asked.

use crate::elf::{self, tiny_program, Phdr, PF_R, PF_W, PF_X, PT_LOAD, PT_TLS};
use kiln_abi::errno::Errno;
use kiln_image::{
    ExitMatch, ExitRules, Extent, FsIndex, IndexBuilder, Manifest, NetConfig, TmpfsMount,
    HEADER_OFFSET, HEADER_SIZE,
};
use kiln_syscall::platform::BlockDevice;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The targets, by name.
pub const TARGETS: [&str; 5] = ["image", "manifest", "fs-index", "config", "elf"];

/// What a run of one target did.
#[derive(Clone, Debug)]
pub struct Report {
    pub target: &'static str,
    pub cases: u64,
    pub elapsed: Duration,
}

/// Run `target` for `budget` (or `max_cases` cases, whichever comes
/// first). `Err` holds proptest's report of the first failure, shrunk.
pub fn run(target: &str, budget: Duration, max_cases: u64) -> Result<Report, String> {
    let name = TARGETS.into_iter().find(|t| *t == target).ok_or_else(|| {
        format!(
            "no fuzz target {target:?} (targets: {})",
            TARGETS.join(", ")
        )
    })?;
    let start = Instant::now();
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cases = 0u64;
    while start.elapsed() < budget && cases < max_cases {
        let n = (max_cases - cases).min(64) as u32;
        let mut runner = TestRunner::new(Config {
            cases: n,
            failure_persistence: None,
            max_shrink_iters: 4096,
            ..Config::default()
        });
        match name {
            "image" => batch(&mut runner, image_case(), |c| image_target(&c, work.path())),
            "manifest" => batch(&mut runner, bytes_case(), |c| {
                manifest_target(&c.bytes(manifest_seeds()))
            }),
            "fs-index" => batch(&mut runner, bytes_case(), |c| {
                index_target(&c.bytes(index_seeds()))
            }),
            "config" => batch(&mut runner, config_case(), |text: String| {
                config_target(&text)
            }),
            _ => batch(&mut runner, elf_case(), |c| elf_target(&c.bytes())),
        }
        .map_err(|e| format!("{name}: {e}"))?;
        cases += u64::from(n);
    }
    Ok(Report {
        target: name,
        cases,
        elapsed: start.elapsed(),
    })
}

/// One batch of cases of a strategy; a failure as proptest reports it.
fn batch<S: Strategy>(
    runner: &mut TestRunner,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Result<(), String> {
    runner.run(&strategy, test).map_err(|e| e.to_string())
}

/// Values that sit on the limits of the formats, and random ones.
fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![
            0u64,
            1,
            2,
            7,
            8,
            48,
            56,
            64,
            4095,
            4096,
            4097,
            HEADER_OFFSET,
            HEADER_OFFSET + HEADER_SIZE as u64,
            16 << 20,
            96 << 20,
            1 << 30,
            u64::from(u32::MAX),
            1 << 32,
            1 << 40,
            0x5555_5555_4000,
            0x7fff_ffff_f000,
            1 << 47,
            i64::MAX as u64,
            u64::MAX - 4095,
            u64::MAX,
        ]),
        0u64..0x40_0000,
        any::<u64>(),
    ]
}

/// A byte-level change.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Set the byte at this position (modulo the length).
    Byte(usize, u8),
    /// Write a little-endian u64 at this position, 8-aligned.
    Word(usize, u64),
    /// Cut the input at this position.
    Cut(usize),
}

fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    vec(
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(a, v)| Edit::Byte(a, v)),
            4 => (any::<usize>(), interesting()).prop_map(|(a, v)| Edit::Word(a, v)),
            1 => any::<usize>().prop_map(Edit::Cut),
        ],
        0..max,
    )
}

/// Apply `edits` to `bytes[from..]`.
fn apply(bytes: &mut Vec<u8>, from: usize, edits: &[Edit]) {
    for e in edits {
        let n = bytes.len().saturating_sub(from);
        if n == 0 {
            return;
        }
        match *e {
            Edit::Byte(at, v) => bytes[from + at % n] = v,
            Edit::Word(at, v) if n >= 8 => {
                let at = from + (at % (n - 7)) / 8 * 8;
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            Edit::Word(..) => {}
            Edit::Cut(at) => bytes.truncate(from + at % (n + 1)),
        }
    }
}

fn check<T: std::fmt::Debug>(ok: bool, what: &str, detail: T) -> Result<(), TestCaseError> {
    if ok {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!("{what}: {detail:?}")))
    }
}

/// An error a user sees must be one line.
fn one_line(what: &str, msg: &str) -> Result<(), TestCaseError> {
    check(
        !msg.is_empty() && !msg.contains('\n'),
        &format!("{what} error is not one line"),
        msg,
    )
}

// ---- image: header, manifest, index, through kiln's reader and the kernel's

/// A disk for the kernel's image reader.
struct Disk(Vec<u8>);

impl BlockDevice for Disk {
    fn read_sectors(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let start = usize::try_from(sector * 512).map_err(|_| Errno::EIO)?;
        let end = start.checked_add(buf.len()).ok_or(Errno::EIO)?;
        // The device may end inside the last sector: zeros after it.
        let avail = self.0.get(start..end.min(self.0.len())).ok_or(Errno::EIO)?;
        buf[..avail.len()].copy_from_slice(avail);
        buf[avail.len()..].fill(0);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

fn sample_manifest(rich: bool) -> Manifest {
    let mut m = Manifest {
        program: "/bin/prog".into(),
        args: vec!["prog".into(), "a b".into(), String::new()],
        env: vec!["PATH=/bin".into(), "X=é".into()],
        cwd: "/srv".into(),
        ..Default::default()
    };
    if rich {
        m.tmpfs = vec![TmpfsMount {
            path: "/var/cache".into(),
            size: 1 << 20,
        }];
        m.net = NetConfig {
            ipv4: Some(([10, 0, 2, 15], 24)),
            gateway: Some([10, 0, 2, 2]),
            ipv6: Some(([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5], 64)),
            nameservers: vec![vec![10, 0, 2, 3], vec![0; 16]],
        };
        m.exit = ExitRules {
            reboot: Some(ExitMatch::Not(3)),
            expected: Some(ExitMatch::Codes(vec![1, 2, 255])),
        };
    }
    m
}

fn sample_tree(rich: bool) -> (IndexBuilder, Vec<Vec<u8>>) {
    let mut t = IndexBuilder::new();
    let mut files = vec![tiny_program(PF_R | PF_W | PF_X, &[])];
    t.add_file("/bin/prog", files[0].len() as u64, 0o755, 1, 0)
        .expect("a fresh tree");
    t.add_dir("/srv", 0o755, 2).expect("a fresh tree");
    if rich {
        files.push(b"127.0.0.1 localhost\n".to_vec());
        t.add_file("/etc/hosts", files[1].len() as u64, 0o644, 3, 1)
            .expect("a fresh tree");
        t.add_symlink("/lib", "/usr/lib", 4).expect("a fresh tree");
        t.add_file("/a/b/c/empty", 0, 0o600, 5, 2)
            .expect("a fresh tree");
        files.push(Vec::new());
    }
    (t, files)
}

/// A whole image (a small stand-in kernel) holding the sample tree.
fn sample_image(rich: bool) -> Vec<u8> {
    let kernel = crate::elf::write(elf::ET_EXEC, 0, &[], b"kernel", 4096);
    let (tree, files) = sample_tree(rich);
    let layout = kiln::image::layout(kernel.len() as u64, &sample_manifest(rich), &tree);
    let h = layout.header;
    let mut img = vec![0u8; h.image_size as usize];
    let mut put = |at: u64, b: &[u8]| img[at as usize..at as usize + b.len()].copy_from_slice(b);
    put(HEADER_OFFSET, &h.encode());
    put(h.kernel.offset, &kernel);
    put(h.manifest.offset, &layout.manifest);
    put(h.fs_index.offset, &layout.index);
    for p in &layout.files {
        put(p.offset, &files[p.key as usize]);
    }
    img
}

fn image_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| vec![sample_image(false), sample_image(true)])
}

/// A damaged image: header fields set, bytes edited, the checksum
/// recomputed (or not, to reach the checks behind it, or not).
#[derive(Clone, Debug)]
pub struct ImageCase {
    seed: usize,
    /// (field: 0 image size, then offset and length of each section; value)
    fields: Vec<(u8, u64)>,
    edits: Vec<Edit>,
    fix_checksum: bool,
}

impl ImageCase {
    fn bytes(&self) -> Vec<u8> {
        let seeds = image_seeds();
        let mut b = seeds[self.seed % seeds.len()].clone();
        let h = HEADER_OFFSET as usize;
        for &(field, v) in &self.fields {
            let at = h + 16 + 8 * (field as usize % 9);
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        apply(&mut b, h, &self.edits);
        if self.fix_checksum && b.len() >= h + 96 {
            let sum = kiln::fingerprint(&b[h..h + 88]);
            b[h + 88..h + 96].copy_from_slice(&sum.to_le_bytes());
        }
        b
    }
}

fn image_case() -> impl Strategy<Value = ImageCase> {
    (
        any::<usize>(),
        vec((any::<u8>(), interesting()), 0..4),
        edits(6),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(seed, fields, edits, fix_checksum)| ImageCase {
            seed,
            fields,
            edits,
            fix_checksum,
        })
}

fn image_target(c: &ImageCase, work: &Path) -> Result<(), TestCaseError> {
    let bytes = c.bytes();
    let path: PathBuf = work.join("fuzz.img");
    std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let host = kiln::image::Image::open(&path);
    let mut disk = Disk(bytes);
    let kernel = kiln_syscall::imagefs::ImageFs::open(&mut disk);
    check(
        host.is_ok() == kernel.is_ok(),
        "kiln and the kernel disagree",
        (host.as_ref().err(), kernel.as_ref().err()),
    )?;
    match host {
        Ok(image) => {
            // What `kiln inspect` prints, shared libraries included.
            let _ = kiln::inspect::describe(&image);
        }
        Err(e) => one_line("kiln", &format!("{e:#}"))?,
    }
    match kernel {
        Ok(fs) => {
            // Every entry: its path, resolved back, and its first bytes.
            for id in 0..fs.index.len() as u32 {
                let path = fs.path_of(id);
                let _ = fs.resolve(path.as_bytes(), true);
                let mut buf = [0u8; 64];
                let _ = fs.read_file(&mut disk, id, 0, &mut buf);
            }
        }
        Err(e) => one_line("kernel", &e.0)?,
    }
    Ok(())
}

// ---- manifest and fs index alone (faster than whole images)

/// A seed and edits.
#[derive(Clone, Debug)]
pub struct BytesCase {
    seed: usize,
    edits: Vec<Edit>,
}

impl BytesCase {
    fn bytes(&self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut b = seeds[self.seed % seeds.len()].clone();
        apply(&mut b, 0, &self.edits);
        b
    }
}

fn bytes_case() -> impl Strategy<Value = BytesCase> {
    (any::<usize>(), edits(8)).prop_map(|(seed, edits)| BytesCase { seed, edits })
}

fn manifest_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        vec![
            sample_manifest(false).encode(),
            sample_manifest(true).encode(),
        ]
    })
}

fn manifest_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Manifest::decode(bytes) {
        Ok(m) => {
            check(m.program.starts_with('/'), "a relative program", &m)?;
            // What was decoded encodes to what decodes the same.
            let again = Manifest::decode(&m.encode());
            check(again.as_ref() == Ok(&m), "round trip", (&m, again))
        }
        Err(e) => one_line("manifest", &e.to_string()),
    }
}

const DATA: Extent = Extent {
    offset: 0x20_0000,
    len: 0x10_0000,
};

fn index_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        [false, true]
            .map(|rich| sample_tree(rich).0.build(DATA.offset).index)
            .to_vec()
    })
}

fn index_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    let fs = match FsIndex::parse(bytes, DATA) {
        Ok(fs) => fs,
        Err(e) => return one_line("fs index", &e.to_string()),
    };
    for id in 0..fs.len() as u32 {
        let e = *fs.entry(id).expect("ids below len exist");
        let _ = fs.name(id);
        let _ = fs.symlink_target(id);
        for child in fs.children(id) {
            let _ = fs.lookup_child(id, fs.name(child));
        }
        check(
            e.kind != kiln_image::EntryKind::File
                || e.size == 0
                || (e.data >= DATA.offset && e.data + e.size <= DATA.offset + DATA.len),
            "a file outside the data section",
            e,
        )?;
    }
    for path in ["/", "/bin/prog", "/a/b/../b/c/empty", "/lib/x", "/../.."] {
        let _ = fs.lookup(path);
    }
    Ok(())
}

// ---- config.json

const CONFIG_KEYS: &[&str] = &[
    "Program",
    "Args",
    "Env",
    "Files",
    "Dirs",
    "MapDirs",
    "Mounts",
    "Cwd",
    "RunConfig",
    "Memory",
    "Ports",
    "UDPPorts",
    "IPAddress",
    "NetMask",
    "Gateway",
    "NameServers",
    "Accel",
    "TargetRoot",
    "Klibs",
    "BaseVolumeSz",
    "Boot",
    "Kernel",
    "ManifestPassthrough",
    "CPUs",
];

const CONFIG_STRINGS: &[&str] = &[
    "",
    "/",
    "/tmp",
    "/proc/x",
    "../..",
    "256M",
    "0",
    "-1",
    "99999999999999999999G",
    "8080",
    "0.0.0.0:8080:80",
    "1-65535",
    "65536",
    "10.0.2.15",
    "255.255.255.0",
    "300.1.1.1",
    "A=1",
    "=x",
    "data/*",
    "\u{0}",
    "é",
];

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        interesting().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        prop::sample::select(CONFIG_STRINGS).prop_map(json_string),
        any::<String>().prop_map(|s| json_string(&s)),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            vec((json_key(), inner), 0..5).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", json_string(&k)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(CONFIG_KEYS).prop_map(String::from),
        1 => "[A-Za-z]{0,8}",
    ]
}

fn config_case() -> impl Strategy<Value = String> {
    let object = || {
        vec((json_key(), json_value()), 0..8).prop_map(|kv| {
            let fields: Vec<String> = kv
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", json_string(&k)))
                .collect();
            format!("{{{}}}", fields.join(","))
        })
    };
    prop_oneof![
        4 => object(),
        // Damaged text: bytes edited, then read as UTF-8 (lossily).
        1 => (object(), edits(4)).prop_map(|(text, e)| {
            let mut b = text.into_bytes();
            apply(&mut b, 0, &e);
            String::from_utf8_lossy(&b).into_owned()
        }),
    ]
}

fn config_target(text: &str) -> Result<(), TestCaseError> {
    match kiln::config::Config::parse(text, "fuzz.json") {
        Ok(config) => {
            let _ = config.notes();
            let _ = config.has_build_fields();
            if let Err(e) = kiln::spec::run_settings(&config) {
                one_line("RunConfig", &format!("{e:#}"))?;
            }
            Ok(())
        }
        Err(e) => {
            // Every problem at once, one `kiln: error:` line each, each
            // naming the file (and where in it).
            let msg = format!("{e:#}");
            for (i, line) in msg.split('\n').enumerate() {
                let line = if i == 0 {
                    Some(line)
                } else {
                    line.strip_prefix("kiln: error: ")
                };
                check(
                    line.is_some_and(|l| l.starts_with("fuzz.json")),
                    "a problem that does not name the file",
                    &msg,
                )?;
            }
            Ok(())
        }
    }
}

// ---- ELF checks: `kiln build`'s and the kernel loader's

fn elf_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let tls = Phdr {
            p_type: PT_TLS,
            p_flags: PF_R,
            p_offset: 0,
            p_vaddr: elf::BASE,
            p_filesz: 16,
            p_memsz: 64,
            p_align: 8,
        };
        let bss = Phdr {
            p_type: PT_LOAD,
            p_flags: PF_R | PF_W,
            p_offset: 0,
            p_vaddr: 0x60_0000,
            p_filesz: 0,
            p_memsz: 0x3000,
            p_align: 0x1000,
        };
        let mut seeds = vec![
            tiny_program(PF_R | PF_W | PF_X, &[]),
            tiny_program(PF_R | PF_X, &[tls, bss]),
        ];
        // A real program, with sections and a dynamic table.
        for host in ["/usr/bin/true", "/bin/true"] {
            if let Ok(b) = std::fs::read(host) {
                seeds.push(b);
                break;
            }
        }
        seeds
    })
}

/// A damaged ELF file: program-header and ELF-header fields set, bytes
/// edited.
#[derive(Clone, Debug)]
pub struct ElfCase {
    seed: usize,
    /// (program header, field 0..7, value)
    phdr_fields: Vec<(u8, u8, u64)>,
    /// (ELF header field, value)
    header_fields: Vec<(u8, u64)>,
    edits: Vec<Edit>,
}

/// ELF header fields: (offset, size).
const EHDR_FIELDS: [(usize, usize); 11] = [
    (16, 2),
    (18, 2),
    (24, 8),
    (32, 8),
    (40, 8),
    (52, 2),
    (54, 2),
    (56, 2),
    (58, 2),
    (60, 2),
    (62, 2),
];

impl ElfCase {
    fn bytes(&self) -> Vec<u8> {
        let seeds = elf_seeds();
        let mut b = seeds[self.seed % seeds.len()].clone();
        let phoff = u64::from_le_bytes(b[32..40].try_into().expect("8 bytes")) as usize;
        let phnum = u16::from_le_bytes([b[56], b[57]]) as usize;
        for &(ph, field, v) in &self.phdr_fields {
            // Field 0 is p_type and p_flags together (8 bytes).
            let at = phoff + 56 * (ph as usize % phnum.max(1)) + 8 * (field as usize % 7);
            if at + 8 <= b.len() {
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        for &(field, v) in &self.header_fields {
            let (at, size) = EHDR_FIELDS[field as usize % EHDR_FIELDS.len()];
            b[at..at + size].copy_from_slice(&v.to_le_bytes()[..size]);
        }
        apply(&mut b, 0, &self.edits);
        b
    }
}

fn elf_case() -> impl Strategy<Value = ElfCase> {
    (
        any::<usize>(),
        vec((any::<u8>(), any::<u8>(), interesting()), 0..4),
        vec((any::<u8>(), interesting()), 0..2),
        edits(4),
    )
        .prop_map(|(seed, phdr_fields, header_fields, edits)| ElfCase {
            seed,
            phdr_fields,
            header_fields,
            edits,
        })
}

fn elf_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    let built = kiln::elfcheck::check(bytes);
    let rules = kiln_image::program::check(bytes);
    let kernel = kiln_syscall::loader::check(bytes, "program", u64::MAX);
    if let Err(e) = &built {
        one_line("kiln build", &e.to_string())?;
    }
    if let Err(e) = &kernel {
        one_line("kernel", &e.0)?;
    }
    // What `kiln build` accepts, the kernel loads; the kernel accepts
    // nothing the rules refuse.
    check(
        built.is_err() || kernel.is_ok(),
        "built but refused by the kernel",
        kernel.as_ref().err(),
    )?;
    check(
        kernel.is_err() || rules.is_ok(),
        "loaded against the rules",
        rules.err(),
    )
}
