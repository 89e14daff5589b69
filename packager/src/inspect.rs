//! `kiln inspect`: what an image holds.

use crate::image::{human_size, Image};
use anyhow::Result;
use kiln_image::fs::ROOT as ROOT_ID;
use kiln_image::{EntryKind, Extent, FsIndex, NetConfig, VERSION};
use std::fmt::Write;
use std::net::Ipv4Addr;
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
    let _ = writeln!(s, "files");
    tree(&image.fs, ROOT_ID, "", &mut s);
    s
}

fn network(net: &NetConfig) -> String {
    let mut parts = vec![match net.ipv4 {
        Some((a, prefix)) => format!("ipv4 {}/{prefix}", Ipv4Addr::from(a)),
        None => "ipv4 dhcp".to_string(),
    }];
    if let Some(gw) = net.gateway {
        parts.push(format!("gateway {}", Ipv4Addr::from(gw)));
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
