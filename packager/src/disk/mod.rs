//! Disks that boot by themselves, and the formats clouds take.
//!
//! A bootable disk is a Kiln image with a boot loader around it, the image
//! left where the kernel reads it (header at 1 MiB):
//!
//! ```text
//! LBA 0        protective MBR, its code area holding GRUB's boot.img
//! LBA 1..33    primary GPT (header, 128 entries)
//! LBA 34..2047 partition 1, BIOS boot: GRUB's core.img
//! 1 MiB ..     partition 2, the Kiln image from its header on
//! next MiB ..  partition 3, EFI system (FAT): /EFI/BOOT/BOOTX64.EFI
//! last 33      backup GPT
//! ```
//!
//! [`gpt`] writes the tables, [`grub`] the loaders, [`format`] converts the
//! raw disk for clouds and reads such files back, [`firmware`] boots them.

pub mod firmware;
pub mod format;
pub mod gpt;
pub mod grub;

pub use format::Format;

use crate::image::{write_image, Image};
use crate::tree::Tree;
use anyhow::{anyhow, bail, Context, Result};
use gpt::{Guid, Partition, FIRST_USABLE, SECTOR};
use kiln_image::{Header, Manifest, HEADER_OFFSET};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;

/// What `kiln build` was asked to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskOptions {
    /// `--bootable`.
    pub bootable: bool,
    /// `--format`.
    pub format: Format,
}

impl DiskOptions {
    /// Is a bootable disk wanted? Every format but a plain raw image is one:
    /// a cloud has no other way to start it.
    pub fn bootable(&self) -> bool {
        self.bootable || self.format != Format::Raw
    }
}

/// Where everything of a bootable disk goes.
#[derive(Debug)]
pub struct Plan {
    /// Disk size in sectors.
    pub sectors: u64,
    /// BIOS boot, Kiln image, EFI system.
    pub parts: Vec<Partition>,
    /// First LBA of GRUB's core.img (the BIOS boot partition's).
    pub core_lba: u64,
    /// Byte offset and size of the EFI system partition.
    pub esp: (u64, u64),
}

/// Lay out a disk around an image of `image_size` bytes (its header at
/// 1 MiB), for a core.img of `core_len` bytes and an ESP of `esp_size`
/// bytes (a whole number of MiB), at least `min_size` bytes large. Disks
/// are whole MiB (Azure requires it); `seed` makes the GUIDs.
pub fn plan(
    image_size: u64,
    core_len: u64,
    esp_size: u64,
    min_size: u64,
    seed: u64,
) -> Result<Plan> {
    let image_first = HEADER_OFFSET / SECTOR;
    let room = (image_first - FIRST_USABLE) * SECTOR;
    if core_len > room {
        bail!("GRUB's core image ({core_len} bytes) does not fit the {room} bytes before the Kiln image");
    }
    if image_size <= HEADER_OFFSET
        || !image_size.is_multiple_of(SECTOR)
        || !esp_size.is_multiple_of(MIB)
        || esp_size == 0
    {
        bail!("cannot lay out a disk for an image of {image_size} bytes and an ESP of {esp_size}");
    }
    let esp_offset = image_size.next_multiple_of(MIB);
    let end = esp_offset + esp_size + gpt::BACKUP_SECTORS * SECTOR;
    let size = end.max(min_size).next_multiple_of(MIB);
    let guid = |n| Guid::from_seed(seed, n);
    let kind = |s| Guid::parse(s).expect("constant GUIDs parse");
    let parts = vec![
        Partition {
            kind: kind(gpt::BIOS_BOOT),
            id: guid(1),
            first: FIRST_USABLE,
            last: image_first - 1,
            name: "BIOS boot".into(),
        },
        Partition {
            kind: kind(gpt::KILN_IMAGE),
            id: guid(2),
            first: image_first,
            last: image_size / SECTOR - 1,
            name: "Kiln image".into(),
        },
        Partition {
            kind: kind(gpt::EFI_SYSTEM),
            id: guid(3),
            first: esp_offset / SECTOR,
            last: (esp_offset + esp_size) / SECTOR - 1,
            name: "EFI system".into(),
        },
    ];
    Ok(Plan {
        sectors: size / SECTOR,
        parts,
        core_lba: FIRST_USABLE,
        esp: (esp_offset, esp_size),
    })
}

/// Turn the image file at `path` into a bootable disk in place; returns
/// the disk's size. `work` is a scratch directory.
pub fn make_bootable(path: &Path, header: &Header, min_size: u64, work: &Path) -> Result<u64> {
    let loader = grub::build(header.kernel, FIRST_USABLE, work)?;
    // Room for the EFI application and the FAT, in whole MiB.
    let esp_size = (loader.efi.len() as u64 + 512 * 1024)
        .next_multiple_of(MIB)
        .max(2 * MIB);
    let seed = crate::fingerprint(&header.encode());
    let plan = plan(
        header.image_size,
        loader.core.len() as u64,
        esp_size,
        min_size,
        seed,
    )?;
    let esp = grub::esp(&loader.efi, esp_size, work)?;
    let tables = gpt::tables(plan.sectors, Guid::from_seed(seed, 0), &plan.parts);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = tables.primary;
    head[..grub::MBR_CODE].copy_from_slice(&loader.mbr_code);
    let write = |bytes: &[u8], at: u64| {
        f.write_all_at(bytes, at)
            .with_context(|| format!("cannot write {}", path.display()))
    };
    // Grow first (sparse): everything after the image reads as zeros.
    f.set_len(plan.sectors * SECTOR)?;
    write(&head, 0)?;
    write(&loader.core, plan.core_lba * SECTOR)?;
    write(&esp, plan.esp.0)?;
    write(&tables.backup, tables.backup_offset)?;
    Ok(plan.sectors * SECTOR)
}

/// `kiln build` of a bootable disk: the image, the loader, the format,
/// written to a scratch directory beside `out` and renamed into place, so
/// that a failure leaves nothing. Returns the image header and the size of
/// the disk.
pub fn write(
    tree: &Tree,
    manifest: &Manifest,
    kernel: &[u8],
    out: &Path,
    opts: DiskOptions,
    progress: bool,
) -> Result<(Header, u64)> {
    if out.is_dir() {
        bail!(
            "{}: is a directory; give the disk's file name with -o",
            out.display()
        );
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".kiln-disk-")
        .tempdir_in(&dir)
        .map_err(|e| {
            anyhow!(
                "cannot create a file in {}: {}",
                dir.display(),
                crate::tree::io_reason(&e)
            )
        })?;
    let raw = work.path().join("disk.raw");
    let header = write_image(tree, manifest, kernel, &raw, progress)?;
    let scratch = work.path().join("boot");
    std::fs::create_dir(&scratch)?;
    let size = make_bootable(&raw, &header, opts.format.min_disk_size(), &scratch)?;
    let done = if opts.format == Format::Raw {
        raw
    } else {
        let conv = work
            .path()
            .join(format!("disk.{}", opts.format.extension()));
        format::convert(&raw, opts.format, &conv)?;
        conv
    };
    std::fs::rename(&done, out).map_err(|e| {
        anyhow!(
            "cannot write {}: {}",
            out.display(),
            crate::tree::io_reason(&e)
        )
    })?;
    Ok((header, size))
}

/// A disk or image opened for reading, whatever its format.
pub struct Opened {
    pub image: Image,
    pub format: Format,
    /// The raw disk (the file itself, or a converted copy in `work`).
    pub raw: PathBuf,
    /// The partitions, when the disk has a valid GPT.
    pub partitions: Option<Vec<Partition>>,
    /// Size of the disk as a VM sees it.
    pub disk_size: u64,
    /// Holds converted copies while `image` reads them.
    _work: Option<tempfile::TempDir>,
}

impl Opened {
    /// Does the disk boot by itself (GRUB for BIOS and UEFI)?
    pub fn bootable(&self) -> bool {
        let Some(parts) = &self.partitions else {
            return false;
        };
        let has = |s: &str| parts.iter().any(|p| Some(p.kind) == Guid::parse(s));
        has(gpt::BIOS_BOOT) && has(gpt::EFI_SYSTEM) && has(gpt::KILN_IMAGE)
    }

    /// The `disk` line of `kiln inspect`.
    pub fn describe(&self) -> String {
        let boot = if self.bootable() {
            "boots by itself: BIOS and UEFI (GRUB; GPT: BIOS boot, Kiln image, EFI system)"
        } else {
            "boots with kiln run (no boot loader; build with --bootable for one)"
        };
        format!(
            "disk      {} ({}), {boot}",
            self.format.name(),
            crate::image::human_size(self.disk_size)
        )
    }
}

/// Open a Kiln image or disk of any [`Format`]. Formats other than raw and
/// fixed VHD are converted to a raw copy in a temporary directory.
pub fn open(path: &Path) -> Result<Opened> {
    let format = format::detect(path)?;
    let work = if format.raw_compatible() {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix("kiln-disk-")
                .tempdir()
                .context("cannot create a temporary directory")?,
        )
    };
    let raw = match &work {
        Some(w) => format::to_raw(path, format, w.path())?,
        None => path.to_path_buf(),
    };
    let mut image = Image::open(&raw).map_err(|e| {
        // Name the file the user gave, not the converted copy.
        anyhow!(
            "{}",
            e.to_string()
                .replace(&raw.display().to_string(), &path.display().to_string())
        )
    })?;
    image.path = path.to_path_buf();
    let mut head = vec![0u8; (FIRST_USABLE * SECTOR) as usize];
    let f = std::fs::File::open(&raw)?;
    let partitions = f
        .read_exact_at(&mut head, 0)
        .ok()
        .and_then(|()| gpt::read(&head));
    let mut disk_size = f.metadata()?.len();
    if format == Format::Vhd {
        disk_size = disk_size.saturating_sub(SECTOR);
    }
    Ok(Opened {
        image,
        format,
        raw,
        partitions,
        disk_size,
        _work: work,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_keeps_the_image_at_1_mib_and_the_esp_after_it() {
        let p = plan(3 * MIB + 8192, 170_000, 2 * MIB, 0, 9).unwrap();
        let [bios, image, esp] = &p.parts[..] else {
            panic!("three partitions")
        };
        assert_eq!((bios.first, bios.last), (34, 2047));
        assert_eq!(image.first * SECTOR, HEADER_OFFSET);
        assert_eq!((image.last + 1) * SECTOR, 3 * MIB + 8192);
        assert_eq!(esp.first * SECTOR, 4 * MIB);
        assert_eq!(p.esp, (4 * MIB, 2 * MIB));
        assert_eq!((esp.last + 1) * SECTOR, 6 * MIB);
        // Whole MiB, with room for the backup table after the ESP.
        assert_eq!(p.sectors * SECTOR, 7 * MIB);
        assert!(esp.last < p.sectors - gpt::BACKUP_SECTORS);
        // The tables accept the plan (they assert the usable range).
        let t = gpt::tables(p.sectors, Guid::from_seed(9, 0), &p.parts);
        assert_eq!(gpt::read(&t.primary).unwrap(), p.parts);
    }

    #[test]
    fn plans_grow_to_the_minimum_and_refuse_what_cannot_fit() {
        let p = plan(2 * MIB, 1000, MIB, 1 << 30, 1).unwrap();
        assert_eq!(p.sectors * SECTOR, 1 << 30);
        assert_eq!(p.parts[2].first * SECTOR, 2 * MIB);
        // core.img must fit between the tables and the image.
        assert!(plan(2 * MIB, (2048 - 34) * 512, MIB, 0, 1).is_ok());
        assert!(plan(2 * MIB, (2048 - 34) * 512 + 1, MIB, 0, 1).is_err());
        assert!(plan(MIB, 1000, MIB, 0, 1).is_err());
        assert!(plan(2 * MIB, 1000, MIB + 512, 0, 1).is_err());
    }

    #[test]
    fn every_format_but_plain_raw_is_bootable() {
        for f in Format::ALL {
            let o = DiskOptions {
                bootable: false,
                format: f,
            };
            assert_eq!(o.bootable(), f != Format::Raw);
        }
        let o = DiskOptions {
            bootable: true,
            format: Format::Raw,
        };
        assert!(o.bootable());
    }
}
