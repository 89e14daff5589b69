//! `kiln inspect`: what an image holds.

use crate::image::{human_size, Image};
use anyhow::Result;
use kiln_syscall::image::fs::ROOT as ROOT_ID;
use kiln_syscall::image::{EntryKind, Extent, FsIndex, VERSION};
use std::fmt::Write;
use std::path::Path;

/// `kiln inspect IMAGE`.
pub fn inspect_command(path: &Path) -> Result<()> {
    let image = Image::open(path)?;
    print!("{}", describe(&image));
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
    let _ = writeln!(s, "kernel    {}", ext(h.kernel));
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
    let _ = writeln!(s, "files");
    tree(&image.fs, ROOT_ID, "", &mut s);
    s
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
    let mut s = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o640), "rw-r-----");
    }
}
