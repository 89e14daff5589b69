//! The boot loader of a self-booting disk: GRUB from the distribution
//! (Debian's grub-pc-bin and grub-efi-amd64-bin), assembled by Kiln
//! without grub-install, root or loop devices.
//!
//! Both GRUBs carry the same embedded configuration: load the kernel ELF
//! with `multiboot2` straight from its sectors in the Kiln image (GRUB's
//! blocklist syntax, `(hd0)2056+N`), on the disk GRUB itself came from,
//! and boot it. The kernel's multiboot2 stub turns that into its PVH entry.
//!
//! BIOS: GRUB's `boot.img` goes into the MBR's code area and loads
//! `core.img` (diskboot.img + GRUB's kernel and modules) from the BIOS boot
//! partition; the two sector numbers are patched in as grub-bios-setup
//! would. UEFI: `BOOTX64.EFI` in the EFI system partition (FAT, written
//! with mtools), the path firmware looks for on removable media.

use super::gpt::SECTOR;
use anyhow::{anyhow, bail, Context, Result};
use kiln_image::Extent;
use std::path::{Path, PathBuf};
use std::process::Command;

/// GRUB modules of the BIOS core image.
const BIOS_MODULES: &[&str] = &["biosdisk", "part_gpt", "regexp", "multiboot2", "boot"];
/// GRUB modules of the EFI application (disks come from the firmware).
const EFI_MODULES: &[&str] = &["part_gpt", "fat", "regexp", "multiboot2", "boot"];

/// In boot.img: the LBA of core.img's first sector (u64).
const BOOT_KERNEL_SECTOR: usize = 0x5c;
/// In boot.img: a `jmp` that skips forcing drive 0x80; grub-bios-setup
/// turns it into two `nop`s for hard disks (BIOSes that pass a wrong drive).
const BOOT_DRIVE_CHECK: usize = 0x66;
/// In core.img's first sector (diskboot.img): the blocklist of the rest,
/// LBA (u64), sector count (u16), load segment (u16).
const DISKBOOT_BLOCKLIST: usize = 0x1f4;
/// Bytes of MBR boot code (the disk signature and partition table follow).
pub const MBR_CODE: usize = 440;

/// What GRUB puts on a disk.
pub struct Loader {
    /// The MBR's boot code (boot.img, patched).
    pub mbr_code: Vec<u8>,
    /// core.img, patched for its LBA.
    pub core: Vec<u8>,
    /// BOOTX64.EFI.
    pub efi: Vec<u8>,
}

/// Where GRUB's platform directories are: `$KILN_GRUB_DIR` or Debian's.
fn grub_dir() -> PathBuf {
    std::env::var_os("KILN_GRUB_DIR").map_or_else(|| PathBuf::from("/usr/lib/grub"), PathBuf::from)
}

/// GRUB's configuration: boot the kernel at `kernel` (byte extent of the
/// disk) from the disk GRUB was loaded from.
pub fn config(kernel: Extent) -> String {
    let first = kernel.offset / SECTOR;
    let count = kernel.len.div_ceil(SECTOR);
    // `$root` is the boot device, `hd0` from BIOS or `hd0,gpt3` from UEFI:
    // keep the disk part. On failure GRUB stops in its rescue shell.
    format!(
        "regexp --set=1:kiln_disk '^([^,]+)' \"$root\"\n\
         multiboot2 (${{kiln_disk}}){first}+{count}\n\
         boot\n"
    )
}

/// Build both loaders for a kernel at `kernel`, with core.img at `core_lba`.
pub fn build(kernel: Extent, core_lba: u64, work: &Path) -> Result<Loader> {
    let dir = grub_dir();
    let pc = dir.join("i386-pc");
    let efi = dir.join("x86_64-efi");
    for (d, pkg) in [(&pc, "grub-pc-bin"), (&efi, "grub-efi-amd64-bin")] {
        if !d.join("moddep.lst").is_file() {
            bail!(
                "a bootable disk needs GRUB's {} images: install {pkg} (./scripts/setup.sh does)",
                d.display()
            );
        }
    }
    let cfg = work.join("grub.cfg");
    std::fs::write(&cfg, config(kernel)).context("cannot write GRUB's configuration")?;
    let core_path = work.join("core.img");
    let efi_path = work.join("bootx64.efi");
    mkimage(&pc, "i386-pc", &cfg, &core_path, BIOS_MODULES)?;
    mkimage(&efi, "x86_64-efi", &cfg, &efi_path, EFI_MODULES)?;
    let boot_img = read(&pc.join("boot.img"))?;
    let mut core = read(&core_path)?;
    let mbr_code = patch_boot_img(&boot_img, core_lba)?;
    patch_core_img(&mut core, core_lba)?;
    Ok(Loader {
        mbr_code,
        core,
        efi: read(&efi_path)?,
    })
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

/// Run grub-mkimage (Debian's name; grub2-mkimage elsewhere).
fn mkimage(dir: &Path, format: &str, cfg: &Path, out: &Path, modules: &[&str]) -> Result<()> {
    let mut last = None;
    for tool in ["grub-mkimage", "grub2-mkimage"] {
        let res = Command::new(tool)
            .arg("-d")
            .arg(dir)
            .args(["-O", format, "-p", ""])
            .arg("-c")
            .arg(cfg)
            .arg("-o")
            .arg(out)
            .args(modules)
            .output();
        match res {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => bail!(
                "grub-mkimage -O {format} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last = Some(e),
            Err(e) => bail!("cannot run {tool}: {e}"),
        }
    }
    Err(anyhow!(
        "a bootable disk needs grub-mkimage (package grub-common): {}",
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

/// boot.img's code for the MBR, told where core.img starts.
pub fn patch_boot_img(boot_img: &[u8], core_lba: u64) -> Result<Vec<u8>> {
    if boot_img.len() != SECTOR as usize || boot_img[510..512] != [0x55, 0xaa] {
        bail!("GRUB's boot.img is not a 512-byte boot sector");
    }
    if boot_img[BOOT_DRIVE_CHECK] != 0xeb {
        bail!("GRUB's boot.img has an unknown layout (no drive check jump at 0x66)");
    }
    let mut code = boot_img[..MBR_CODE].to_vec();
    code[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    code[BOOT_DRIVE_CHECK..BOOT_DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    Ok(code)
}

/// core.img told where its second sector is. Its blocklist already holds
/// the length grub-mkimage wrote; check that it covers the image.
pub fn patch_core_img(core: &mut [u8], core_lba: u64) -> Result<()> {
    if core.len() < SECTOR as usize * 2 {
        bail!("GRUB's core.img is too small ({} bytes)", core.len());
    }
    let b = DISKBOOT_BLOCKLIST;
    let len = u16::from_le_bytes([core[b + 8], core[b + 9]]) as u64;
    let rest = (core.len() as u64 - SECTOR).div_ceil(SECTOR);
    if len != rest {
        bail!("GRUB's core.img has an unknown layout (blocklist of {len} sectors for {rest})");
    }
    core[b..b + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    Ok(())
}

/// A FAT file system of `size` bytes holding `/EFI/BOOT/BOOTX64.EFI`.
pub fn esp(efi: &[u8], size: u64, work: &Path) -> Result<Vec<u8>> {
    let img = work.join("esp.img");
    let app = work.join("BOOTX64.EFI");
    std::fs::write(&app, efi).context("cannot write the EFI application")?;
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(size))
        .context("cannot create the EFI system partition")?;
    let target = img.to_string_lossy().into_owned();
    let sectors = (size / SECTOR).to_string();
    let steps: [Vec<&str>; 3] = [
        vec![
            "mformat", "-i", &target, "-T", &sectors, "-h", "64", "-s", "32", "-v", "KILN-ESP",
            "::",
        ],
        vec!["mmd", "-i", &target, "::/EFI", "::/EFI/BOOT"],
        vec![
            "mcopy",
            "-i",
            &target,
            app.to_str().unwrap_or_default(),
            "::/EFI/BOOT/BOOTX64.EFI",
        ],
    ];
    for step in steps {
        let res = Command::new(step[0])
            .args(&step[1..])
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("MTOOLSRC", "/dev/null")
            .output();
        match res {
            Ok(o) if o.status.success() => {}
            Ok(o) => bail!(
                "{} failed writing the EFI system partition: {}",
                step[0],
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("a bootable disk needs {} (package mtools)", step[0])
            }
            Err(e) => bail!("cannot run {}: {e}", step[0]),
        }
    }
    read(&img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_kernel_sectors() {
        let c = config(Extent {
            offset: (1 << 20) + 4096,
            len: 1000,
        });
        assert!(c.contains("multiboot2 (${kiln_disk})2056+2\n"), "{c}");
        assert!(c.ends_with("boot\n"));
    }

    fn fake_boot_img() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[BOOT_DRIVE_CHECK] = 0xeb;
        b[BOOT_DRIVE_CHECK + 1] = 0x05;
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    #[test]
    fn boot_img_learns_where_core_img_is() {
        let code = patch_boot_img(&fake_boot_img(), 34).unwrap();
        assert_eq!(code.len(), MBR_CODE);
        assert_eq!(&code[0x5c..0x64], &34u64.to_le_bytes());
        assert_eq!(&code[0x66..0x68], &[0x90, 0x90]);
        assert!(patch_boot_img(&[0u8; 512], 34).is_err());
        let mut other = fake_boot_img();
        other[BOOT_DRIVE_CHECK] = 0x90;
        assert!(patch_boot_img(&other, 34).is_err());
    }

    #[test]
    fn core_img_blocklist_points_after_its_first_sector() {
        let mut core = vec![0u8; 512 * 3 + 100];
        core[0x1fc..0x1fe].copy_from_slice(&3u16.to_le_bytes());
        patch_core_img(&mut core, 34).unwrap();
        assert_eq!(&core[0x1f4..0x1fc], &35u64.to_le_bytes());
        // A blocklist that does not match the image's size is refused.
        let mut core = vec![0u8; 512 * 3];
        core[0x1fc..0x1fe].copy_from_slice(&7u16.to_le_bytes());
        assert!(patch_core_img(&mut core, 34).is_err());
        assert!(patch_core_img(&mut [0u8; 100], 34).is_err());
    }
}
