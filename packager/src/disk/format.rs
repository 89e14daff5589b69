//! Disk formats for clouds and hypervisors: written from the raw disk with
//! `qemu-img convert` (Debian's qemu-utils) or, for GCE, GNU tar; read back
//! the same way, after recognising them by their magic numbers.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An output format of `kiln build --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The raw disk, as is.
    Raw,
    /// QEMU copy-on-write v2 (OpenStack, DigitalOcean, Proxmox, libvirt).
    Qcow2,
    /// VMware, streamOptimized (vSphere / OVA import; one file).
    Vmdk,
    /// Fixed-size VHD (Azure): the raw disk and a 512-byte footer.
    Vhd,
    /// VHDX (Hyper-V).
    Vhdx,
    /// VirtualBox.
    Vdi,
    /// Google Compute Engine: `disk.raw` in a gzip'd GNU tar, sparse.
    Gce,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Raw,
        Format::Qcow2,
        Format::Vmdk,
        Format::Vhd,
        Format::Vhdx,
        Format::Vdi,
        Format::Gce,
    ];

    /// The `--format` value.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vhd",
            Format::Vhdx => "vhdx",
            Format::Vdi => "vdi",
            Format::Gce => "gce",
        }
    }

    /// Parse a `--format` value.
    pub fn parse(s: &str) -> Result<Format> {
        let lower = s.to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                anyhow::anyhow!(
                    "--format {s:?}: unknown disk format; use one of {}",
                    names.join(", ")
                )
            })
    }

    /// The file name extension of the default output.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => "img",
            Format::Gce => "tar.gz",
            other => other.name(),
        }
    }

    /// QEMU's block driver for the file (`-f` / `format=`); GCE's tar is
    /// unpacked first, so its disk is raw.
    pub fn qemu_driver(self) -> &'static str {
        match self {
            Format::Raw | Format::Gce => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vpc",
            Format::Vhdx => "vhdx",
            Format::Vdi => "vdi",
        }
    }

    /// `qemu-img convert -o` options.
    fn qemu_options(self) -> Option<&'static str> {
        match self {
            Format::Vmdk => Some("subformat=streamOptimized"),
            // Azure takes fixed VHDs of whole MiBs; force_size keeps the
            // size exact instead of rounding to a CHS geometry.
            Format::Vhd => Some("subformat=fixed,force_size=on"),
            Format::Vhdx => Some("subformat=dynamic"),
            _ => None,
        }
    }

    /// Smallest disk the format's users take: GCE imports disks of whole GiB.
    pub fn min_disk_size(self) -> u64 {
        match self {
            Format::Gce => 1 << 30,
            _ => 0,
        }
    }

    /// Can the file be read as a raw disk as it is (the Kiln image at its
    /// place, only trailing metadata)?
    pub fn raw_compatible(self) -> bool {
        matches!(self, Format::Raw | Format::Vhd)
    }
}

/// The `qemu-img` binary: `$KILN_QEMU_IMG` or `qemu-img`.
pub fn qemu_img() -> OsString {
    std::env::var_os("KILN_QEMU_IMG").unwrap_or_else(|| "qemu-img".into())
}

/// Run a helper tool; its failure becomes one message.
fn tool(cmd: &mut Command, package: &str) -> Result<()> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "{name} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{name} not found: install the {package} package")
        }
        Err(e) => bail!("cannot run {name}: {e}"),
    }
}

/// Write the raw disk `raw` (named `disk.raw`) as `format` to `out`.
pub fn convert(raw: &Path, format: Format, out: &Path) -> Result<()> {
    match format {
        Format::Raw => {
            std::fs::copy(raw, out).context("cannot copy the disk")?;
        }
        Format::Gce => {
            // GCE wants exactly one member, `disk.raw`, in GNU format; -S
            // keeps the holes of the 1 GiB disk out of the archive.
            let (Some(dir), Some(name)) = (raw.parent(), raw.file_name()) else {
                bail!("{}: not a file", raw.display());
            };
            if name != "disk.raw" {
                bail!("{}: GCE's disk must be named disk.raw", raw.display());
            }
            tool(
                Command::new("tar")
                    .args(["--format=gnu", "-S", "-czf"])
                    .arg(out)
                    .arg("-C")
                    .arg(dir)
                    .arg(name),
                "tar",
            )?;
        }
        _ => {
            let mut cmd = Command::new(qemu_img());
            cmd.args(["convert", "-q", "-f", "raw", "-O", format.qemu_driver()]);
            if let Some(o) = format.qemu_options() {
                cmd.args(["-o", o]);
            }
            tool(cmd.arg(raw).arg(out), "qemu-utils")?;
        }
    }
    Ok(())
}

/// Recognise the format of a disk file by its magic numbers.
pub fn detect(path: &Path) -> Result<Format> {
    let shown = path.display();
    let mut f = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 512];
    let n = read_up_to(&mut f, &mut head)?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Format::Gce);
    }
    if head.starts_with(b"QFI\xfb") {
        return Ok(Format::Qcow2);
    }
    if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
        return Ok(Format::Vmdk);
    }
    if head.starts_with(b"vhdxfile") {
        return Ok(Format::Vhdx);
    }
    if head.get(0x40..0x44) == Some(&0xbeda_107fu32.to_le_bytes()) {
        return Ok(Format::Vdi);
    }
    if head.starts_with(b"conectix") {
        return Ok(Format::Vhd);
    }
    // A fixed VHD has its footer only at the end.
    if len >= 512 && len % 512 == 0 {
        let mut foot = [0u8; 8];
        f.seek(SeekFrom::Start(len - 512))?;
        if read_up_to(&mut f, &mut foot)? == 8 && &foot == b"conectix" {
            return Ok(Format::Vhd);
        }
    }
    Ok(Format::Raw)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A raw copy of `path` (in `format`) in `work`, to read the image inside:
/// `qemu-img convert`, or the `disk.raw` of a GCE archive.
pub fn to_raw(path: &Path, format: Format, work: &Path) -> Result<PathBuf> {
    let shown = path.display();
    match format {
        Format::Raw | Format::Vhd => Ok(path.to_path_buf()),
        Format::Gce => {
            let dir = work.join("gce");
            std::fs::create_dir_all(&dir)?;
            tool(
                Command::new("tar")
                    .args(["-xzf"])
                    .arg(path)
                    .arg("-C")
                    .arg(&dir)
                    .arg("disk.raw"),
                "tar",
            )
            .with_context(|| format!("{shown}: not a GCE image (a tar.gz holding disk.raw)"))?;
            Ok(dir.join("disk.raw"))
        }
        _ => {
            let out = work.join("disk.raw");
            tool(
                Command::new(qemu_img())
                    .args(["convert", "-q", "-f", format.qemu_driver(), "-O", "raw"])
                    .arg(path)
                    .arg(&out),
                "qemu-utils",
            )
            .with_context(|| format!("{shown}: cannot read the {} disk", format.name()))?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_extensions() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name()).unwrap(), f);
        }
        assert_eq!(Format::parse("QCOW2").unwrap(), Format::Qcow2);
        let e = Format::parse("iso").unwrap_err().to_string();
        assert!(e.contains("raw, qcow2, vmdk, vhd, vhdx, vdi, gce"), "{e}");
        assert_eq!(Format::Gce.extension(), "tar.gz");
        assert_eq!(Format::Raw.extension(), "img");
        assert_eq!(Format::Vhd.qemu_driver(), "vpc");
        assert_eq!(Format::Gce.min_disk_size(), 1 << 30);
    }

    #[test]
    fn formats_are_recognised_by_their_magic() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], Format); 6] = [
            (b"QFI\xfb\0\0\0\x03", Format::Qcow2),
            (b"KDMV\x01\0\0\0", Format::Vmdk),
            (b"vhdxfile", Format::Vhdx),
            (b"conectix", Format::Vhd),
            (&[0x1f, 0x8b, 8, 0], Format::Gce),
            (&[0u8; 4096], Format::Raw),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("d{i}"));
            let mut data = bytes.to_vec();
            data.resize(4096, 0);
            std::fs::write(&p, &data).unwrap();
            assert_eq!(detect(&p).unwrap(), *want, "case {i}");
        }
        let mut vdi = vec![0u8; 1024];
        vdi[0x40..0x44].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        let p = dir.path().join("v.vdi");
        std::fs::write(&p, &vdi).unwrap();
        assert_eq!(detect(&p).unwrap(), Format::Vdi);
        // A fixed VHD: a raw disk with the footer at its end.
        let mut vhd = vec![0u8; 8192];
        vhd[8192 - 512..8192 - 504].copy_from_slice(b"conectix");
        let p = dir.path().join("f.vhd");
        std::fs::write(&p, &vhd).unwrap();
        assert_eq!(detect(&p).unwrap(), Format::Vhd);
        assert!(detect(&dir.path().join("missing")).is_err());
    }
}
