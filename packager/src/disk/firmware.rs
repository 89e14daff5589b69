//! `kiln run DISK`: boot a self-booting disk the way a cloud does, through
//! the firmware (SeaBIOS, or OVMF for UEFI) and GRUB on a q35 machine,
//! without `-kernel`. The disk is a virtio-blk PCI device: SeaBIOS, OVMF
//! and GRUB read it through the firmware, the kernel with its own driver.

use super::format::{self, Format};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The firmware a disk boots through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, QEMU's default.
    Bios,
    /// OVMF (Debian package `ovmf`).
    Uefi,
}

/// How QEMU starts a self-booting disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareBoot {
    pub firmware: Firmware,
    /// The disk file QEMU opens.
    pub disk: PathBuf,
    /// Its QEMU block driver.
    pub driver: &'static str,
    /// OVMF's images, for [`Firmware::Uefi`].
    pub ovmf: Option<Ovmf>,
}

/// OVMF as QEMU loads it: code and a private copy of the variable store
/// as two flash devices, or one combined image as `-bios`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars: Option<PathBuf>,
}

/// The disk `kiln run` was given, when it is one to boot through firmware.
pub struct Resolved {
    /// A raw copy (or the file itself) to read the image from.
    pub raw: PathBuf,
    pub boot: FirmwareBoot,
}

/// Decide how to boot `target`. A raw Kiln image keeps the fast path
/// (QEMU loads the kernel) unless `firmware` asks otherwise; the cloud
/// formats boot through their firmware, BIOS unless `firmware` says UEFI.
/// `None`: not a firmware boot. `work` holds converted copies.
pub fn resolve(target: &Path, firmware: Option<Firmware>, work: &Path) -> Result<Option<Resolved>> {
    let shown = target.display();
    if !target.is_file() {
        if firmware.is_some() {
            bail!("{shown}: no such disk");
        }
        return Ok(None);
    }
    let format = format::detect(target)?;
    if format == Format::Raw && (firmware.is_none() || !crate::image::is_image(target)) {
        if firmware.is_some() {
            bail!("{shown}: --bios and --uefi boot a disk made by `kiln build --bootable`, not a program");
        }
        return Ok(None);
    }
    let raw = format::to_raw(target, format, work)?;
    if !crate::image::is_image(&raw) {
        bail!("{shown}: a {} disk without a Kiln image", format.name());
    }
    let mut head = vec![0u8; (super::gpt::FIRST_USABLE * super::gpt::SECTOR) as usize];
    use std::os::unix::fs::FileExt;
    let bootable = std::fs::File::open(&raw)
        .and_then(|f| f.read_exact_at(&mut head, 0))
        .ok()
        .and_then(|()| super::gpt::read(&head))
        .is_some_and(|parts| {
            parts
                .iter()
                .any(|p| Some(p.kind) == super::gpt::Guid::parse(super::gpt::EFI_SYSTEM))
        });
    if !bootable {
        bail!("{shown}: the image has no boot loader; build it with `kiln build --bootable` (or run it without --bios/--uefi)");
    }
    let firmware = firmware.unwrap_or(Firmware::Bios);
    let ovmf = match firmware {
        Firmware::Uefi => Some(ovmf(work)?),
        Firmware::Bios => None,
    };
    // GCE's archive is unpacked: QEMU boots its disk.raw.
    let disk = if format == Format::Gce {
        raw.clone()
    } else {
        target.to_path_buf()
    };
    Ok(Some(Resolved {
        raw,
        boot: FirmwareBoot {
            firmware,
            disk,
            driver: format.qemu_driver(),
            ovmf,
        },
    }))
}

/// Find OVMF: `$KILN_OVMF` (a combined image), else Debian's split images
/// (the variables copied into `work`, as each VM needs its own), else its
/// combined one.
pub fn ovmf(work: &Path) -> Result<Ovmf> {
    if let Some(p) = std::env::var_os("KILN_OVMF") {
        return Ok(Ovmf {
            code: p.into(),
            vars: None,
        });
    }
    let split = [
        (
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ),
    ];
    for (code, vars) in split {
        if Path::new(code).is_file() && Path::new(vars).is_file() {
            let copy = work.join("ovmf-vars.fd");
            std::fs::copy(vars, &copy).context("cannot copy OVMF's variable store")?;
            return Ok(Ovmf {
                code: code.into(),
                vars: Some(copy),
            });
        }
    }
    let combined = Path::new("/usr/share/ovmf/OVMF.fd");
    if combined.is_file() {
        return Ok(Ovmf {
            code: combined.into(),
            vars: None,
        });
    }
    bail!("--uefi needs OVMF: install the ovmf package (./scripts/setup.sh does), or set KILN_OVMF")
}

/// QEMU arguments for the firmware and the disk.
pub fn qemu_args(b: &FirmwareBoot) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    if let Some(o) = &b.ovmf {
        match &o.vars {
            Some(vars) => {
                a.push("-drive".into());
                a.push(join(
                    "if=pflash,format=raw,unit=0,readonly=on,file=",
                    &o.code,
                ));
                a.push("-drive".into());
                a.push(join("if=pflash,format=raw,unit=1,file=", vars));
            }
            None => {
                a.push("-bios".into());
                a.push(o.code.clone().into());
            }
        }
    }
    a.push("-drive".into());
    a.push(join(
        &format!("id=disk,format={},if=none,readonly=on,file=", b.driver),
        &b.disk,
    ));
    a.push("-device".into());
    a.push("virtio-blk-pci,drive=disk,disable-legacy=on,bootindex=0".into());
    a
}

/// `prefix` and a path, commas doubled for QEMU's option syntax.
fn join(prefix: &str, path: &Path) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut v = prefix.as_bytes().to_vec();
    for &b in path.as_os_str().as_bytes() {
        v.push(b);
        if b == b',' {
            v.push(b',');
        }
    }
    OsString::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(b: &FirmwareBoot) -> String {
        qemu_args(b)
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn bios_and_uefi_command_lines() {
        let mut b = FirmwareBoot {
            firmware: Firmware::Bios,
            disk: "/d/a,b.qcow2".into(),
            driver: "qcow2",
            ovmf: None,
        };
        assert_eq!(
            line(&b),
            "-drive id=disk,format=qcow2,if=none,readonly=on,file=/d/a,,b.qcow2 \
             -device virtio-blk-pci,drive=disk,disable-legacy=on,bootindex=0"
        );
        b.firmware = Firmware::Uefi;
        b.ovmf = Some(Ovmf {
            code: "/o/CODE.fd".into(),
            vars: Some("/w/vars.fd".into()),
        });
        assert!(line(&b).starts_with(
            "-drive if=pflash,format=raw,unit=0,readonly=on,file=/o/CODE.fd \
             -drive if=pflash,format=raw,unit=1,file=/w/vars.fd -drive id=disk"
        ));
        b.ovmf = Some(Ovmf {
            code: "/o/OVMF.fd".into(),
            vars: None,
        });
        assert!(line(&b).starts_with("-bios /o/OVMF.fd -drive id=disk"));
    }

    #[test]
    fn programs_and_plain_images_keep_the_kernel_path() {
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("prog");
        std::fs::write(&prog, b"\x7fELF not really").unwrap();
        assert!(resolve(&prog, None, dir.path()).unwrap().is_none());
        assert!(resolve(&dir.path().join("nope"), None, dir.path())
            .unwrap()
            .is_none());
        let e = resolve(&prog, Some(Firmware::Bios), dir.path())
            .err()
            .unwrap();
        assert!(e.to_string().contains("kiln build --bootable"), "{e}");
    }
}
