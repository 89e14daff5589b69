//! `kiln inspect`: what an image holds, and which shared libraries its
//! program will load, resolved inside the image the way the loader in the
//! VM will resolve them (without `/etc/ld.so.cache`).

use crate::deps::{elf_info, glibc_layout, is_elf64_x86_64, Flavor, Resolver, Search, Via};
use crate::image::{human_size, Image};
use crate::ldconf;
use crate::root::{dirname, resolve, Fs, Stat};
use anyhow::Result;
use kiln_image::fs::ROOT as ROOT_ID;
use kiln_image::{EntryKind, Extent, FsIndex, NetConfig, VERSION};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

/// `kiln inspect IMAGE`.
pub fn inspect_command(path: &Path) -> Result<()> {
    // Any disk format kiln writes; the disk line follows the format line.
    let disk = crate::disk::open(path)?;
    let text = describe(&disk.image);
    let mut lines = text.split_inclusive('\n');
    let head: String = lines.by_ref().take(2).collect();
    print!("{head}{}\n{}", disk.describe(), lines.collect::<String>());
    Ok(())
}

/// The report `kiln inspect` prints.
pub fn describe(image: &Image) -> String {
    let h = &image.header;
    let m = &image.manifest;
    let mut s = String::new();
    let ext = |e: Extent| format!("offset {:#010x}  {:>10} bytes", e.offset, e.len);
    let _ = writeln!(
        s,
        "image     {} ({})",
        image.path.display(),
        human_size(h.image_size)
    );
    let _ = writeln!(s, "format    Kiln image version {VERSION}");
    // A kernel QEMU could not boot is shown, not hidden: `kiln run`
    // refuses it.
    let bootable = image
        .read_at(h.kernel)
        .map_err(|e| e.to_string())
        .and_then(|k| crate::bootcheck::check_kernel(&k).map_err(|e| e.to_string()));
    match bootable {
        Ok(()) => {
            let _ = writeln!(s, "kernel    {}", ext(h.kernel));
        }
        Err(why) => {
            let _ = writeln!(s, "kernel    {}  NOT BOOTABLE: {why}", ext(h.kernel));
        }
    }
    let _ = writeln!(s, "manifest  {}", ext(h.manifest));
    let _ = writeln!(
        s,
        "fs index  {}  ({} entries)",
        ext(h.fs_index),
        image.fs.len()
    );
    let _ = writeln!(s, "fs data   {}", ext(h.fs_data));
    let _ = writeln!(s, "program   {}", m.program);
    let quoted: Vec<String> = m.args.iter().map(|a| format!("{a:?}")).collect();
    let _ = writeln!(s, "argv      {}", quoted.join(" "));
    let _ = writeln!(s, "env       {}", m.env.join(" "));
    let _ = writeln!(s, "cwd       {}", m.cwd);
    let mounts: Vec<String> = ["/tmp (tmpfs)", "/run (tmpfs)"]
        .map(String::from)
        .into_iter()
        .chain(m.tmpfs.iter().map(|t| match t.size {
            0 => format!("{} (tmpfs)", t.path),
            n => format!("{} (tmpfs, {})", t.path, human_size(n)),
        }))
        .collect();
    let _ = writeln!(s, "mounts    {}", mounts.join(", "));
    let _ = writeln!(s, "network   {}", network(&m.net));
    if let Some(r) = &m.exit.reboot {
        let _ = writeln!(
            s,
            "reboot    after exit status {} (RebootOnExit)",
            statuses(r)
        );
    }
    if let Some(e) = &m.exit.expected {
        let _ = writeln!(s, "expected  exit status {} counts as 0", statuses(e));
    }
    let _ = writeln!(s, "files");
    tree(&image.fs, ROOT_ID, "", &mut s);
    if let Some(libs) = shared_libraries(image) {
        s.push_str(&libs.text);
    }
    s
}

/// The image's file system, read through the [`Fs`] the resolver uses.
pub struct ImageFs<'a> {
    pub image: &'a Image,
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl Fs for ImageFs<'_> {
    fn lstat(&self, path: &str) -> io::Result<Stat> {
        let fs = &self.image.fs;
        let id = fs.lookup(path).ok_or_else(not_found)?;
        let e = fs.entry(id).ok_or_else(not_found)?;
        Ok(match e.kind {
            EntryKind::Dir => Stat::Dir {
                mode: e.mode,
                mtime: e.mtime,
            },
            EntryKind::File => Stat::File {
                size: e.size,
                mode: e.mode,
                mtime: e.mtime,
            },
            EntryKind::Symlink => Stat::Symlink(
                String::from_utf8_lossy(fs.symlink_target(id).unwrap_or_default()).into_owned(),
            ),
        })
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let fs = &self.image.fs;
        let id = fs.lookup(path).ok_or_else(not_found)?;
        let e = fs.entry(id).ok_or_else(not_found)?;
        if e.kind != EntryKind::File {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        self.image
            .read_at(Extent {
                offset: e.data,
                len: e.size,
            })
            .map_err(io::Error::other)
    }

    fn read_dir(&self, path: &str) -> io::Result<Vec<String>> {
        let fs = &self.image.fs;
        let id = fs.lookup(path).ok_or_else(not_found)?;
        Ok(fs
            .children(id)
            .map(|c| String::from_utf8_lossy(fs.name(c)).into_owned())
            .collect())
    }
}

/// The "shared libraries" section of `kiln inspect`.
pub struct SharedLibraries {
    /// Every shared object the program loads and who needs it, the shared
    /// objects in the image that nothing needs (loaded with dlopen), and
    /// what is missing.
    pub text: String,
    /// Shared objects found (the interpreter included).
    pub objects: usize,
    pub missing: usize,
}

/// The shared libraries of the image's program, resolved in the image.
/// `None` for a static program in an image without shared objects.
pub fn shared_libraries(image: &Image) -> Option<SharedLibraries> {
    let fs = ImageFs { image };
    let m = &image.manifest;
    let found = resolve(&fs, &m.program, true).ok()?;
    let info = elf_info(&fs.read(&found.real).ok()?).ok()?;
    let mut others = Vec::new();
    shared_objects(image, ROOT_ID, "", &mut others);
    if info.interpreter.is_none() && others.is_empty() {
        return None;
    }
    let interp = info.interpreter.clone().unwrap_or_default();
    let flavor = Flavor::of_interpreter(&interp);
    let ld = resolve(&fs, &interp, true)
        .ok()
        .and_then(|f| fs.read(&f.real).ok())
        .unwrap_or_default();
    let (system_dirs, lib) = match flavor {
        Flavor::Glibc => glibc_layout(&ld),
        Flavor::Musl => (Vec::new(), String::new()),
    };
    let conf_dirs = match flavor {
        // The image has no ld.so.cache: only the system directories.
        Flavor::Glibc => Vec::new(),
        Flavor::Musl => ldconf::musl_path(&fs, &interp).map_or_else(
            || {
                ldconf::MUSL_DEFAULT_PATH
                    .iter()
                    .map(|d| d.to_string())
                    .collect()
            },
            |(_, dirs)| dirs,
        ),
    };
    let ld_library_path = m
        .env
        .iter()
        .find_map(|e| e.strip_prefix("LD_LIBRARY_PATH="))
        .map(str::to_string);
    let mut r = Resolver::new(
        &fs,
        Search {
            flavor,
            conf_dirs,
            system_dirs,
            lib,
            ld_library_path,
            cwd: m.cwd.clone(),
        },
    );
    let main = r.add_program(&m.program, found, info);
    r.run();
    for path in &others {
        r.add_path(path, main);
        r.run();
    }
    let mut s = String::from("shared libraries (as the loader in the VM finds them)\n");
    // Modules nothing needs (dlopen) are shown one directory to a line when
    // a directory holds many (python's lib-dynload, glibc's gconv).
    let unneeded = |i: usize| r.objects[i].needed_by.is_empty() && r.objects[i].via == Via::Added;
    let mut per_dir: BTreeMap<&str, usize> = BTreeMap::new();
    for i in (1..r.objects.len()).filter(|&i| unneeded(i)) {
        *per_dir.entry(dirname(&r.objects[i].path)).or_default() += 1;
    }
    per_dir.retain(|_, n| *n > MAX_NEEDERS);
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut shown_dirs = Vec::new();
    for (i, o) in r.objects.iter().enumerate().skip(1) {
        let dir = dirname(&o.path);
        if let Some(n) = per_dir.get(dir).filter(|_| unneeded(i)) {
            if !shown_dirs.contains(&dir) {
                shown_dirs.push(dir);
                rows.push((
                    format!("{dir}/*.so"),
                    format!("{n} shared objects needed by no packed file (loaded with dlopen)"),
                ));
            }
            continue;
        }
        let needers = r.needers(i);
        let mut by = needers
            .iter()
            .take(MAX_NEEDERS)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if needers.len() > MAX_NEEDERS {
            by.push_str(&format!(" and {} more", needers.len() - MAX_NEEDERS));
        }
        let what = match (&o.via, needers.is_empty()) {
            (Via::Interpreter, _) => format!("interpreter; needed by {by}"),
            (_, true) => "needed by no packed file (loaded with dlopen)".to_string(),
            (_, false) => format!("needed by {by}"),
        };
        rows.push((o.path.clone(), what));
    }
    let width = rows.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    for (path, what) in rows {
        let _ = writeln!(s, "  {path:width$}  {what}");
    }
    for miss in &r.missing {
        let _ = writeln!(s, "  missing: {}", miss.message("the image"));
    }
    Some(SharedLibraries {
        text: s,
        objects: r.objects.len() - 1,
        missing: r.missing.len(),
    })
}

/// Needers shown per library.
const MAX_NEEDERS: usize = 3;

/// Paths of the ELF64 x86_64 shared objects (`ET_DYN` files whose names
/// hold ".so") below entry `id`.
fn shared_objects(image: &Image, id: u32, path: &str, out: &mut Vec<String>) {
    let fs = &image.fs;
    for child in fs.children(id) {
        let Some(e) = fs.entry(child) else { continue };
        let full = format!("{path}/{}", String::from_utf8_lossy(fs.name(child)));
        match e.kind {
            EntryKind::Dir => shared_objects(image, child, &full, out),
            EntryKind::File
                if e.size >= 64 && full.rsplit('/').next().is_some_and(|n| n.contains(".so")) =>
            {
                let head = image.read_at(Extent {
                    offset: e.data,
                    len: 64,
                });
                if head
                    .is_ok_and(|h| is_elf64_x86_64(&h) && u16::from_le_bytes([h[16], h[17]]) == 3)
                {
                    out.push(full);
                }
            }
            _ => {}
        }
    }
}

/// The statuses an exit rule applies to, in words.
fn statuses(m: &kiln_image::ExitMatch) -> String {
    use kiln_image::ExitMatch;
    match m {
        ExitMatch::NonZero => "other than 0".into(),
        ExitMatch::Any => "any".into(),
        ExitMatch::Not(n) => format!("other than {n}"),
        ExitMatch::Codes(c) => {
            let c: Vec<String> = c.iter().map(u8::to_string).collect();
            c.join(" or ")
        }
    }
}

fn network(net: &NetConfig) -> String {
    let mut parts = vec![match net.ipv4 {
        Some((a, prefix)) => format!("ipv4 {}/{prefix}", Ipv4Addr::from(a)),
        None => "ipv4 dhcp".to_string(),
    }];
    if let Some(gw) = net.gateway {
        parts.push(format!("gateway {}", Ipv4Addr::from(gw)));
    }
    if let Some((a, prefix)) = net.ipv6 {
        parts.push(format!("ipv6 {}/{prefix}", std::net::Ipv6Addr::from(a)));
    }
    for ip in net
        .nameservers
        .iter()
        .filter_map(|ns| crate::etc::nameserver_ip(ns))
    {
        parts.push(format!("nameserver {ip}"));
    }
    parts.join(", ")
}

fn tree(fs: &FsIndex, id: u32, path: &str, out: &mut String) {
    let Some(e) = fs.entry(id) else { return };
    let name = String::from_utf8_lossy(fs.name(id));
    let full = if id == ROOT_ID {
        "/".to_string()
    } else {
        format!("{path}/{name}")
    };
    let (kind, size) = match e.kind {
        EntryKind::Dir => ('d', "-".to_string()),
        EntryKind::File => ('-', e.size.to_string()),
        EntryKind::Symlink => ('l', e.size.to_string()),
    };
    let _ = write!(out, "  {kind}{}  {size:>10}  {full}", mode_string(e.mode));
    if let Some(target) = fs.symlink_target(id) {
        let _ = write!(out, " -> {}", String::from_utf8_lossy(target));
    }
    out.push('\n');
    let base = if id == ROOT_ID { "" } else { &full };
    for child in fs.children(id) {
        tree(fs, child, base, out);
    }
}

fn mode_string(mode: u32) -> String {
    let mut s: Vec<char> = "rwxrwxrwx"
        .chars()
        .enumerate()
        .map(|(i, c)| if mode & (0o400 >> i) != 0 { c } else { '-' })
        .collect();
    // setuid, setgid and sticky show in the x columns, as ls shows them.
    for (bit, col, set) in [(0o4000, 2, 's'), (0o2000, 5, 's'), (0o1000, 8, 't')] {
        if mode & bit != 0 {
            s[col] = if s[col] == 'x' {
                set
            } else {
                set.to_ascii_uppercase()
            };
        }
    }
    s.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_line() {
        assert_eq!(network(&NetConfig::default()), "ipv4 dhcp");
        let net = NetConfig {
            ipv4: Some(([10, 0, 2, 15], 24)),
            gateway: Some([10, 0, 2, 2]),
            ipv6: None,
            nameservers: vec![vec![1, 1, 1, 1]],
        };
        assert_eq!(
            network(&net),
            "ipv4 10.0.2.15/24, gateway 10.0.2.2, nameserver 1.1.1.1"
        );
    }

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o640), "rw-r-----");
        assert_eq!(mode_string(0o1777), "rwxrwxrwt");
        assert_eq!(mode_string(0o4644), "rwSr--r--");
    }
}
