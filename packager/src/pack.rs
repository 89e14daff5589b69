//! Packing a program by its path in a root, with what it loads: the
//! interpreter and libraries ([`crate::deps`]), the libraries glibc opens
//! with `dlopen` (the rules below), and a runtime's standard library
//! ([`crate::runtimes`]). Every file keeps its path in the root; the symlinks
//! met on the way (`/lib -> usr/lib`, `libz.so.1 -> libz.so.1.2.13`) go into
//! the image too.
//!
//! dlopen rules, for a program that loads glibc's `libc.so.6`:
//! - `libgcc_s.so.1`: glibc opens it for thread cancellation and
//!   `backtrace`/unwinding;
//! - `libnss_<service>.so.2` for each service the image's
//!   `/etc/nsswitch.conf` names (the user's, or the one kiln generates),
//!   when the root has it;
//! - the gconv module directory (with `gconv-modules` and
//!   `gconv-modules.d/`) when the program or a packed library imports
//!   `iconv_open`.
//!
//! No `/etc/ld.so.cache` goes into the image, so glibc's loader searches
//! its system directories where the host's used the cache: a library found
//! through an `/etc/ld.so.conf` directory that is not a system directory
//! also gets a symlink by its needed name in the first system directory,
//! pointing to where it was found.

use crate::deps::{elf_info, glibc_layout, Flavor, Resolver, Search, Via};
use crate::etc;
use crate::image::human_size;
use crate::ldconf;
use crate::root::{basename, join, normalize, resolve, Found, Fs, HostRoot, Stat};
use crate::runtimes;
use crate::tree::{wildcard, Content, Kind, Node, Tree};
use anyhow::{anyhow, bail, Result};
use std::rc::Rc;

/// A program placed at its own path in the root.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The path it is run by: the manifest's program and argv[0], as given.
    pub path: String,
    pub found: Found,
}

/// Find the program at `path` in `root`.
pub fn locate(root: &HostRoot, path: &str) -> Result<Placed> {
    let path = normalize(path, "/");
    let found = resolve(root, &path, true).map_err(|e| {
        if root.is_host() {
            anyhow!("{path}: {e}")
        } else {
            anyhow!("{path}: {e} in {}", root.shown())
        }
    })?;
    match found.stat {
        Stat::File { .. } => Ok(Placed { path, found }),
        Stat::Dir { .. } => bail!("{path}: is a directory, not a program"),
        Stat::Symlink(_) => bail!("{path}: a dangling symlink"),
    }
}

/// Put the program into the tree at its real path, with the symlinks that
/// lead there from the path it is run by.
pub fn place_program(tree: &mut Tree, root: &HostRoot, placed: &Placed) -> Result<()> {
    let origin: Rc<str> = format!("the program {}", placed.path).into();
    add_found(tree, root, &placed.found, &origin)
}

/// What [`pack`] needs.
pub struct Inputs<'a> {
    pub root: &'a HostRoot,
    pub placed: &'a Placed,
    /// The program's bytes.
    pub bytes: &'a [u8],
    /// The program's environment (for `LD_LIBRARY_PATH`).
    pub env: &'a [(String, String)],
    pub cwd: &'a str,
}

/// What [`pack`] did.
#[derive(Debug, Default)]
pub struct Packed {
    /// `kiln: note:` lines to print once the build succeeds.
    pub notes: Vec<String>,
    /// glibc's libc is packed (so the image gets an `/etc/nsswitch.conf`).
    pub glibc: bool,
    /// Directories the recognised program writes to: tmpfs mounts.
    pub writable: Vec<String>,
}

/// Resolve what the placed program loads and add it to `tree`. A library
/// the program or one of its libraries needs that is not in the root is an
/// error; one that only an added module (dlopen, runtime) needs is a note.
pub fn pack(tree: &mut Tree, inp: &Inputs) -> Result<Packed> {
    let root = inp.root;
    let program = &inp.placed.path;
    let info = elf_info(inp.bytes).map_err(|e| anyhow!("{program}: {e}"))?;
    let mut out = Packed::default();
    let mut extra: Vec<(Found, Rc<str>)> = Vec::new();
    let search = search_for(root, info.interpreter.as_deref(), inp, &mut extra);
    let mut r = Resolver::new(root, search);
    let main = r.add_program(program, inp.placed.found.clone(), info);
    r.run();
    if let Some(m) = r.missing.first() {
        bail!("{}", m.message(&root.shown()));
    }
    let reported = r.missing.len();

    let libc = (r.search().flavor == Flavor::Glibc)
        .then(|| {
            r.objects
                .iter()
                .position(|o| o.info.soname.as_deref() == Some("libc.so.6"))
        })
        .flatten();
    if let Some(libc) = libc {
        out.glibc = true;
        dlopen_rules(tree, root, &mut r, libc, &mut out.notes)?;
    }
    if let Some(rt) = runtimes::recognise(basename(&inp.placed.found.real)) {
        runtime(tree, &mut r, rt, main, inp, &mut out.notes)?;
        out.writable = rt.writable.iter().map(|s| s.to_string()).collect();
    }
    for m in &r.missing[reported..] {
        out.notes.push(format!(
            "{}; {} is packed without it",
            m.message(&root.shown()),
            m.needed_by
        ));
    }

    // Everything found goes in at its real path, with its links.
    let cache_dir = first_system_dir(root, &r.search().system_dirs);
    for (i, o) in r.objects.iter().enumerate() {
        if i == main {
            continue;
        }
        if o.via == Via::Interpreter {
            // The kernel loads the interpreter itself, with these rules.
            let bytes = root
                .read(&o.found.real)
                .map_err(|e| anyhow!("{}: cannot read: {e}", o.path))?;
            kiln_image::program::check(&bytes).map_err(|e| {
                anyhow!(
                    "{} (the interpreter of {program}) cannot be loaded: {e}",
                    o.path
                )
            })?;
        }
        let what = match o.via {
            Via::Interpreter => "the interpreter",
            Via::Added => "a module",
            _ => "a library",
        };
        let origin: Rc<str> = format!("{} ({what} of {program})", o.path).into();
        add_found(tree, root, &o.found, &origin)?;
        for a in &o.aliases {
            add_found(tree, root, a, &origin)?;
        }
        if let Some(dir) = &cache_dir {
            for name in &o.cache_names {
                let link = join(dir, name);
                if link != o.path {
                    tree.insert_shared(&link, symlink(&o.path, &origin))?;
                }
            }
        }
    }
    for (found, origin) in &extra {
        add_found(tree, root, found, origin)?;
    }
    Ok(out)
}

/// The loader's search settings for a program with `interp`.
fn search_for(
    root: &HostRoot,
    interp: Option<&str>,
    inp: &Inputs,
    extra: &mut Vec<(Found, Rc<str>)>,
) -> Search {
    let ld_library_path = inp
        .env
        .iter()
        .find(|(k, _)| k == "LD_LIBRARY_PATH")
        .map(|(_, v)| v.clone());
    let flavor = interp.map_or(Flavor::Glibc, Flavor::of_interpreter);
    match flavor {
        Flavor::Glibc => {
            let ld = interp
                .and_then(|i| resolve(root, i, true).ok())
                .and_then(|f| root.read(&f.real).ok())
                .unwrap_or_default();
            let (system_dirs, lib) = glibc_layout(&ld);
            Search {
                flavor,
                conf_dirs: ldconf::ld_so_conf_dirs(root),
                system_dirs,
                lib,
                ld_library_path,
                cwd: inp.cwd.to_string(),
            }
        }
        Flavor::Musl => {
            let interp = interp.unwrap_or_default();
            let conf_dirs = match ldconf::musl_path(root, interp) {
                Some((file, dirs)) => {
                    // musl reads it at run time: it goes into the image.
                    if let Ok(f) = resolve(root, &file, true) {
                        extra.push((f, format!("{file} (musl's library path)").into()));
                    }
                    dirs
                }
                None => ldconf::MUSL_DEFAULT_PATH
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
            };
            Search {
                flavor,
                conf_dirs,
                system_dirs: Vec::new(),
                lib: String::new(),
                ld_library_path,
                cwd: inp.cwd.to_string(),
            }
        }
    }
}

/// The real path of the first system directory the root has (where the
/// stand-ins for the cache go).
fn first_system_dir(root: &HostRoot, dirs: &[String]) -> Option<String> {
    dirs.iter()
        .filter_map(|d| resolve(root, d, true).ok())
        .find(|f| matches!(f.stat, Stat::Dir { .. }))
        .map(|f| f.real)
}

/// glibc's dlopen rules (see the module comment).
fn dlopen_rules(
    tree: &mut Tree,
    root: &HostRoot,
    r: &mut Resolver,
    libc: usize,
    notes: &mut Vec<String>,
) -> Result<()> {
    let add = |r: &mut Resolver, name: &str, why: &str, notes: &mut Vec<String>| {
        let before = r.objects.len();
        if let Some(i) = r.add_name(name, libc) {
            if i >= before {
                notes.push(format!("adding {} ({why})", r.objects[i].path));
            }
        }
    };
    add(
        r,
        "libgcc_s.so.1",
        "glibc loads it for thread cancellation and unwinding",
        notes,
    );
    let conf = image_nsswitch(tree);
    for service in etc::nss_services(&conf) {
        add(
            r,
            &format!("libnss_{service}.so.2"),
            &format!("/etc/nsswitch.conf names the NSS service {service}"),
            notes,
        );
    }
    r.run();
    let importer = r
        .objects
        .iter()
        .find(|o| o.info.imports_iconv)
        .map(|o| o.path.clone());
    if let Some(importer) = importer {
        let dirs: Vec<String> = r.search().system_dirs.clone();
        let gconv = dirs
            .iter()
            .filter(|d| d.starts_with("/usr/"))
            .chain(dirs.iter())
            .map(|d| join(d, "gconv"))
            .find(|d| resolve(root, d, true).is_ok_and(|f| matches!(f.stat, Stat::Dir { .. })));
        if let Some(dir) = gconv {
            let origin: Rc<str> = format!("{dir} (gconv modules)").into();
            let walk = add_dir(tree, root, &dir, &[], &origin)?;
            for so in &walk.shared {
                r.add_path(so, libc);
            }
            r.run();
            notes.push(format!(
                "adding {dir} ({} files, {}: {importer} imports iconv_open, and glibc's iconv loads its modules from there)",
                walk.files,
                human_size(walk.bytes)
            ));
        }
    }
    Ok(())
}

/// The text of the `/etc/nsswitch.conf` the image will have.
fn image_nsswitch(tree: &Tree) -> String {
    match tree.get("/etc/nsswitch.conf").map(|n| &n.kind) {
        Some(Kind::File {
            content: Content::Host(p),
            ..
        }) => std::fs::read_to_string(p).unwrap_or_default(),
        Some(Kind::File {
            content: Content::Bytes(b),
            ..
        }) => String::from_utf8_lossy(b).into_owned(),
        _ => etc::NSSWITCH_CONF.to_string(),
    }
}

/// Pack a runtime's directories and resolve its extension modules.
fn runtime(
    tree: &mut Tree,
    r: &mut Resolver,
    rt: &runtimes::Runtime,
    main: usize,
    inp: &Inputs,
    notes: &mut Vec<String>,
) -> Result<()> {
    let real = &inp.placed.found.real;
    let name = basename(real);
    let dirs = rt.dirs(
        inp.root,
        &runtimes::Program {
            real,
            bytes: inp.bytes,
        },
    );
    if dirs.is_empty() {
        let why = rt.nothing_because.map_or_else(
            || format!("its library directories are not in {}", inp.root.shown()),
            str::to_string,
        );
        notes.push(format!("runtime {name} recognised; nothing added ({why})"));
        return Ok(());
    }
    let before = r.objects.len();
    let (mut files, mut bytes, mut shown) = (0, 0, Vec::new());
    let mut walked: Vec<String> = Vec::new();
    for d in &dirs {
        // A directory reached again through a symlink (perl/5.36 ->
        // 5.36.0) is walked once.
        match resolve(inp.root, &d.path, true) {
            Ok(f) if walked.contains(&f.real) => continue,
            Ok(f) => walked.push(f.real),
            Err(_) => {}
        }
        let origin: Rc<str> = format!("{} (runtime {name} of {})", d.path, inp.placed.path).into();
        let walk = add_dir(tree, inp.root, &d.path, &d.exclude, &origin)?;
        files += walk.files;
        bytes += walk.bytes;
        let mut s = d.path.clone();
        if !d.exclude.is_empty() {
            s.push_str(&format!(" without {}", d.exclude.join(", ")));
        }
        shown.push(s);
        for so in &walk.shared {
            r.add_path(so, main);
        }
    }
    r.run();
    let libs = r.objects[before..]
        .iter()
        .filter(|o| o.via != Via::Added)
        .count();
    notes.push(format!(
        "runtime {name} recognised: adding {} ({files} files, {}) and {libs} libraries its modules need",
        shown.join("; "),
        human_size(bytes)
    ));
    Ok(())
}

/// What [`add_dir`] added.
#[derive(Default)]
struct Walk {
    files: usize,
    bytes: u64,
    /// Regular files whose names look like shared objects.
    shared: Vec<String>,
}

/// Add the directory at `path` in the root (after symlinks), everything
/// below it, and the files its symlinks point to elsewhere in the root;
/// top-level entries matching `exclude` are left out.
fn add_dir(
    tree: &mut Tree,
    fs: &HostRoot,
    path: &str,
    exclude: &[String],
    origin: &Rc<str>,
) -> Result<Walk> {
    let found = resolve(fs, path, true).map_err(|e| anyhow!("{path}: {e}"))?;
    let mut walk = Walk::default();
    let mut links = Vec::new();
    add_links(tree, &found, origin)?;
    if let Stat::Dir { mode, mtime } = found.stat {
        tree.insert_shared(&found.real, dir_node(mode, mtime, origin))?;
    }
    walk_dir(
        tree,
        fs,
        &found.real,
        exclude,
        origin,
        &mut walk,
        &mut links,
        0,
    )?;
    let inside = format!("{}/", found.real);
    for link in links {
        if let Ok(f) = resolve(fs, &link, true) {
            if let Stat::File { size, .. } = f.stat {
                if !f.real.starts_with(&inside) {
                    walk.files += 1;
                    walk.bytes += size;
                    add_found(tree, fs, &f, origin)?;
                }
            }
        }
    }
    Ok(walk)
}

#[allow(clippy::too_many_arguments)]
fn walk_dir(
    tree: &mut Tree,
    fs: &HostRoot,
    dir: &str,
    exclude: &[String],
    origin: &Rc<str>,
    walk: &mut Walk,
    links: &mut Vec<String>,
    depth: usize,
) -> Result<()> {
    if depth > 256 {
        bail!("{dir}: directories nested too deeply");
    }
    let names = fs.read_dir(dir).map_err(|e| {
        anyhow!(
            "{dir}: cannot read directory: {}",
            crate::tree::io_reason(&e)
        )
    })?;
    for name in names {
        if exclude.iter().any(|p| wildcard(p, &name)) {
            continue;
        }
        let path = join(dir, &name);
        match fs
            .lstat(&path)
            .map_err(|e| anyhow!("{path}: {}", crate::tree::io_reason(&e)))?
        {
            Stat::Dir { mode, mtime } => {
                tree.insert_shared(&path, dir_node(mode, mtime, origin))?;
                walk_dir(tree, fs, &path, &[], origin, walk, links, depth + 1)?;
            }
            Stat::File { size, mode, mtime } => {
                if tree.insert_shared(&path, file_node(fs, &path, size, mode, mtime, origin))? {
                    walk.files += 1;
                    walk.bytes += size;
                }
                if name.ends_with(".so") || name.contains(".so.") {
                    walk.shared.push(path);
                }
            }
            Stat::Symlink(target) => {
                tree.insert_shared(&path, symlink(&target, origin))?;
                links.push(path);
            }
        }
    }
    Ok(())
}

fn dir_node(mode: u32, mtime: u64, origin: &Rc<str>) -> Node {
    Node {
        kind: Kind::Dir,
        mode,
        mtime,
        origin: origin.clone(),
        implicit: false,
    }
}

fn symlink(target: &str, origin: &Rc<str>) -> Node {
    Node {
        kind: Kind::Symlink(target.to_string()),
        mode: 0o777,
        mtime: 0,
        origin: origin.clone(),
        implicit: false,
    }
}

fn file_node(
    fs: &HostRoot,
    path: &str,
    size: u64,
    mode: u32,
    mtime: u64,
    origin: &Rc<str>,
) -> Node {
    Node {
        kind: Kind::File {
            size,
            content: Content::Host(fs.host_path(path)),
        },
        mode,
        mtime,
        origin: origin.clone(),
        implicit: false,
    }
}

fn add_links(tree: &mut Tree, found: &Found, origin: &Rc<str>) -> Result<()> {
    for l in &found.links {
        tree.insert_shared(&l.path, symlink(&l.target, origin))?;
    }
    Ok(())
}

/// Add a resolved path: its links and what is at its real path.
fn add_found(tree: &mut Tree, fs: &HostRoot, found: &Found, origin: &Rc<str>) -> Result<()> {
    add_links(tree, found, origin)?;
    let node = match &found.stat {
        Stat::File { size, mode, mtime } => {
            file_node(fs, &found.real, *size, *mode, *mtime, origin)
        }
        Stat::Dir { mode, mtime } => dir_node(*mode, *mtime, origin),
        Stat::Symlink(t) => symlink(t, origin),
    };
    tree.insert_shared(&found.real, node)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::deps::tests::{debian_root, FakeElf, INTERP};
    use crate::image::{write_image, Image};
    use crate::spec::{resolve as spec_resolve, BuildArgs, Spec};
    use crate::tree::Kind;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    const LIB: &str = "/usr/lib/x86_64-linux-gnu";

    fn build(root: &Path, program: &str, mut b: BuildArgs) -> anyhow::Result<Spec> {
        b.root = Some(root.to_path_buf());
        spec_resolve(Some(Path::new(program)), &["x".into()], &b)
    }

    fn link(s: &Spec, path: &str) -> Option<String> {
        match &s.tree.get(path)?.kind {
            Kind::Symlink(t) => Some(t.clone()),
            _ => None,
        }
    }

    fn is_file(s: &Spec, path: &str) -> bool {
        s.tree
            .get(path)
            .is_some_and(|n| matches!(n.kind, Kind::File { .. }))
    }

    /// The image's "shared libraries" section, as `kiln inspect` prints it.
    fn in_image(s: &Spec) -> String {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.img");
        write_image(&s.tree, &s.manifest, b"kernel", &out, false).unwrap();
        crate::inspect::shared_libraries(&Image::open(&out).unwrap())
            .map(|l| l.text)
            .unwrap_or_default()
    }

    /// What the section says about `path`.
    fn row<'a>(libs: &'a str, path: &str) -> Option<&'a str> {
        libs.lines().find_map(|l| {
            let (p, what) = l.trim_start().split_once(' ')?;
            (p == path).then(|| what.trim_start())
        })
    }

    #[test]
    fn a_dynamic_program_from_a_root() {
        let d = debian_root();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/ld.so.conf"), "/usr/local/lib\n").unwrap();
        FakeElf {
            soname: Some("libL.so.1"),
            needed: &["libc.so.6"],
            ..Default::default()
        }
        .write(r, "/usr/local/lib/libL.so.1.0");
        symlink("libL.so.1.0", r.join("usr/local/lib/libL.so.1")).unwrap();
        for lib in ["libgcc_s.so.1", "libnss_files.so.2"] {
            FakeElf {
                needed: &["libc.so.6"],
                ..Default::default()
            }
            .write(r, &format!("{LIB}/{lib}"));
        }
        FakeElf {
            interp: Some(INTERP),
            needed: &["libL.so.1", "libc.so.6"],
            ..Default::default()
        }
        .write(r, "/usr/bin/prog-1.0");
        symlink("prog-1.0", r.join("usr/bin/prog")).unwrap();

        let s = build(r, "/usr/bin/prog", BuildArgs::default()).unwrap();
        assert_eq!(s.manifest.program, "/usr/bin/prog");
        assert_eq!(s.manifest.args, ["/usr/bin/prog", "x"]);
        assert_eq!(link(&s, "/usr/bin/prog").as_deref(), Some("prog-1.0"));
        assert!(is_file(&s, "/usr/bin/prog-1.0"));
        // Merged /usr: the directory links and the files at their real place.
        assert_eq!(link(&s, "/lib").as_deref(), Some("usr/lib"));
        assert_eq!(link(&s, "/lib64").as_deref(), Some("usr/lib64"));
        assert_eq!(
            link(&s, "/usr/lib64/ld-linux-x86-64.so.2").as_deref(),
            Some("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        for f in [
            "ld-linux-x86-64.so.2",
            "libc.so.6",
            "libgcc_s.so.1",
            "libnss_files.so.2",
        ] {
            assert!(is_file(&s, &format!("{LIB}/{f}")), "{f}");
        }
        // The library chain is kept, and the ld.so.conf directory gets a
        // stand-in in the first system directory (there is no cache).
        assert_eq!(
            link(&s, "/usr/local/lib/libL.so.1").as_deref(),
            Some("libL.so.1.0")
        );
        assert_eq!(
            link(&s, &format!("{LIB}/libL.so.1")).as_deref(),
            Some("/usr/local/lib/libL.so.1")
        );
        assert!(s.tree.get("/etc/ld.so.cache").is_none());
        assert!(is_file(&s, "/etc/nsswitch.conf"));
        assert_eq!(
            s.notes,
            [
                "adding /lib/x86_64-linux-gnu/libgcc_s.so.1 (glibc loads it for thread \
                 cancellation and unwinding)",
                "adding /lib/x86_64-linux-gnu/libnss_files.so.2 (/etc/nsswitch.conf names \
                 the NSS service files)"
            ]
        );
        // In the image, without a cache, the loader finds everything.
        let libs = in_image(&s);
        assert!(!libs.contains("missing"), "{libs}");
        assert_eq!(
            row(&libs, "/lib/x86_64-linux-gnu/libL.so.1"),
            Some("needed by /usr/bin/prog"),
            "{libs}"
        );
    }

    #[test]
    fn ld_library_path_comes_from_the_environment() {
        let d = debian_root();
        let r = d.path();
        FakeElf::default().write(r, "/opt/env/libE.so.1");
        FakeElf {
            interp: Some(INTERP),
            needed: &["libE.so.1"],
            ..Default::default()
        }
        .write(r, "/usr/bin/prog");
        let e = build(r, "/usr/bin/prog", BuildArgs::default())
            .err()
            .unwrap();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "libE.so.1 (needed by /usr/bin/prog) not found in {}; searched \
                 /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib",
                r.display()
            )
        );
        let b = BuildArgs {
            env: vec!["LD_LIBRARY_PATH=/opt/env".into()],
            ..Default::default()
        };
        let s = build(r, "/usr/bin/prog", b).unwrap();
        assert!(is_file(&s, "/opt/env/libE.so.1"));
        let libs = in_image(&s);
        assert!(libs.contains("/opt/env/libE.so.1"), "{libs}");
        assert!(!libs.contains("missing"), "{libs}");
    }

    #[test]
    fn target_root_in_the_config() {
        let d = debian_root();
        let r = d.path();
        FakeElf {
            interp: Some(INTERP),
            needed: &["libc.so.6"],
            ..Default::default()
        }
        .write(r, "/usr/sbin/daemon");
        std::fs::create_dir_all(r.join("cfg")).unwrap();
        let cfg = r.join("cfg/config.json");
        std::fs::write(
            &cfg,
            r#"{"Program": "/usr/sbin/daemon", "TargetRoot": "..", "Args": ["-f"]}"#,
        )
        .unwrap();
        let b = BuildArgs {
            config: Some(cfg),
            ..Default::default()
        };
        let s = spec_resolve(None, &[], &b).unwrap();
        assert_eq!(s.manifest.args, ["/usr/sbin/daemon", "-f"]);
        assert!(is_file(&s, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
    }

    #[test]
    fn the_interpreter_must_be_in_the_root() {
        let d = tempfile::tempdir().unwrap();
        FakeElf {
            interp: Some(INTERP),
            ..Default::default()
        }
        .write(d.path(), "/bin/prog");
        let e = build(d.path(), "/bin/prog", BuildArgs::default())
            .err()
            .unwrap();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "{INTERP} (the interpreter of /bin/prog) not found in {}",
                d.path().display()
            )
        );
        let e = build(d.path(), "/bin/nothing", BuildArgs::default())
            .err()
            .unwrap();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "/bin/nothing: no such file or directory in {}",
                d.path().display()
            )
        );
    }

    #[test]
    fn python_gets_its_standard_library() {
        let d = debian_root();
        let r = d.path();
        let py = r.join("usr/lib/python3.11");
        for dir in [
            "test",
            "encodings/__pycache__",
            "lib-dynload",
            "config-3.11-x86_64-linux-gnu",
        ] {
            std::fs::create_dir_all(py.join(dir)).unwrap();
        }
        std::fs::write(py.join("os.py"), "# os").unwrap();
        std::fs::write(py.join("test/test_os.py"), "").unwrap();
        std::fs::write(py.join("encodings/__pycache__/utf_8.pyc"), "x").unwrap();
        std::fs::write(py.join("config-3.11-x86_64-linux-gnu/libpython3.11.a"), "x").unwrap();
        std::fs::create_dir_all(r.join("etc/python3.11")).unwrap();
        std::fs::write(r.join("etc/python3.11/sitecustomize.py"), "").unwrap();
        symlink(
            "/etc/python3.11/sitecustomize.py",
            py.join("sitecustomize.py"),
        )
        .unwrap();
        FakeElf {
            needed: &["libffi.so.8", "libc.so.6"],
            ..Default::default()
        }
        .write(
            r,
            "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so",
        );
        FakeElf::default().write(r, &format!("{LIB}/libffi.so.8"));
        FakeElf {
            interp: Some(INTERP),
            needed: &["libc.so.6"],
            ..Default::default()
        }
        .write(r, "/usr/bin/python3.11");
        symlink("python3.11", r.join("usr/bin/python3")).unwrap();
        let s = build(r, "/usr/bin/python3", BuildArgs::default()).unwrap();
        for f in [
            "/usr/lib/python3.11/os.py",
            "/usr/lib/python3.11/encodings/__pycache__/utf_8.pyc",
            "/etc/python3.11/sitecustomize.py",
            "/usr/lib/x86_64-linux-gnu/libffi.so.8",
        ] {
            assert!(is_file(&s, f), "{f}");
        }
        assert!(s.tree.get("/usr/lib/python3.11/test").is_none());
        assert!(s
            .tree
            .get("/usr/lib/python3.11/config-3.11-x86_64-linux-gnu")
            .is_none());
        let note = s.notes.last().unwrap();
        assert!(
            note.starts_with(
                "runtime python3.11 recognised: adding /usr/lib/python3.11 without test, "
            ) && note.contains(" (4 files, ")
                && note.ends_with(") and 1 libraries its modules need"),
            "{note}"
        );
        let libs = in_image(&s);
        assert!(libs.contains("/lib/x86_64-linux-gnu/libffi.so.8"), "{libs}");
    }

    #[test]
    fn a_static_program_from_a_root_keeps_its_path() {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = crate::elfcheck::tests::elf(2, 62, goblin::elf::header::ET_EXEC, &[1]);
        bytes.extend([0u8; 64]);
        let p = d.path().join("opt/tool/bin");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("tool"), bytes).unwrap();
        let s = build(d.path(), "/opt/tool/bin/tool", BuildArgs::default()).unwrap();
        assert_eq!(s.manifest.program, "/opt/tool/bin/tool");
        assert_eq!(s.manifest.args, ["/opt/tool/bin/tool", "x"]);
        assert!(s.tree.get("/etc/nsswitch.conf").is_none());
        assert!(s.notes.is_empty());
    }

    #[test]
    fn a_host_program_runs_from_its_own_path() {
        // Debian's /usr/bin/true, without --root; skipped where it is not
        // dynamically linked.
        let Ok(bytes) = std::fs::read("/usr/bin/true") else {
            return;
        };
        if !crate::elfcheck::check(&bytes).is_ok_and(|k| k.is_dynamic()) {
            return;
        }
        let s = spec_resolve(Some(Path::new("/usr/bin/true")), &[], &BuildArgs::default()).unwrap();
        assert_eq!(s.manifest.program, "/usr/bin/true");
        assert_eq!(s.manifest.args, ["/usr/bin/true"]);
        let libs = in_image(&s);
        let libc = row(&libs, "/lib/x86_64-linux-gnu/libc.so.6").unwrap_or_default();
        assert!(libc.starts_with("needed by /usr/bin/true"), "{libs}");
        assert!(!libs.contains("missing"), "{libs}");
    }

    #[test]
    fn a_host_program_under_tmp_goes_in_at_its_name() {
        // /tmp is a tmpfs in the VM: a dynamic program there would be
        // hidden, so it goes in at /<name> (with its libraries as ever).
        let Ok(bytes) = std::fs::read("/usr/bin/true") else {
            return;
        };
        if !crate::elfcheck::check(&bytes).is_ok_and(|k| k.is_dynamic()) {
            return;
        }
        let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        let prog = dir.path().join("mytrue");
        std::fs::write(&prog, &bytes).unwrap();
        let s = spec_resolve(Some(&prog), &[], &BuildArgs::default()).unwrap();
        assert_eq!(s.manifest.program, "/mytrue");
        assert_eq!(s.manifest.args, ["/mytrue"]);
        assert!(s.tree.get("/mytrue").is_some());
        assert!(
            s.notes.iter().any(|n| n.contains("is under /tmp")),
            "{:?}",
            s.notes
        );
        assert!(in_image(&s).contains("/lib/x86_64-linux-gnu/libc.so.6"));
    }
}
