//! The benchmark's fair peer: the same static server as the only program
//! of a Linux VM (Debian's kernel, an initramfs holding `tests/linux-guest/
//! init.c`, the virtio-net modules and the server) under the same QEMU,
//! machine and accelerator as Kiln. `scripts/linux-guest.sh` fetches the
//! kernel and the modules into a directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The modules init loads (all of them must be in the directory).
pub const MODULES: [&str; 9] = [
    "virtio",
    "virtio_ring",
    "virtio_mmio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// One entry of an initramfs.
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub data: Vec<u8>,
    /// Device number (major, minor) of a character device.
    pub rdev: (u32, u32),
}

impl Entry {
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.into(),
            mode: S_IFDIR | 0o755,
            data: Vec::new(),
            rdev: (0, 0),
        }
    }

    pub fn file(name: &str, mode: u32, data: Vec<u8>) -> Entry {
        Entry {
            name: name.into(),
            mode: S_IFREG | mode,
            data,
            rdev: (0, 0),
        }
    }
}

/// An uncompressed cpio archive in the "newc" format the kernel unpacks
/// as its initramfs.
pub fn newc(entries: &[Entry]) -> Vec<u8> {
    fn pad(out: &mut Vec<u8>) {
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let mut out = Vec::new();
    let trailer = Entry::file("TRAILER!!!", 0, Vec::new());
    for (i, e) in entries.iter().chain([&trailer]).enumerate() {
        let name_len = e.name.len() + 1;
        let ino = if e.name == trailer.name { 0 } else { i + 1 };
        let fields = [
            ino as u32,
            if e.name == trailer.name { 0 } else { e.mode },
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            e.data.len() as u32,
            0, // dev major
            0, // dev minor
            e.rdev.0,
            e.rdev.1,
            name_len as u32,
            0, // check
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        pad(&mut out);
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    out
}

/// A Linux guest: Debian's kernel and its virtio-net modules.
pub struct LinuxGuest {
    kernel: PathBuf,
    modules: PathBuf,
    init: PathBuf,
    work: PathBuf,
}

impl LinuxGuest {
    /// `dir` holds `vmlinuz` and `modules/*.ko` (see scripts/linux-guest.sh);
    /// `work` is where init and the initramfs files go.
    pub fn new(dir: &Path, work: &Path) -> Result<LinuxGuest, String> {
        let kernel = dir.join("vmlinuz");
        let modules = dir.join("modules");
        if !kernel.is_file() {
            return Err(format!("{} is missing", kernel.display()));
        }
        for m in MODULES {
            let ko = modules.join(format!("{m}.ko"));
            if !ko.is_file() {
                return Err(format!("{} is missing", ko.display()));
            }
        }
        let init = work.join("linux-init");
        let src = crate::root().join("tests/linux-guest/init.c");
        let out = Command::new("musl-gcc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&init)
            .arg(&src)
            .output()
            .map_err(|e| format!("musl-gcc: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "musl-gcc {}: {}",
                src.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(LinuxGuest {
            kernel,
            modules,
            init,
            work: work.to_path_buf(),
        })
    }

    /// QEMU booting `program` as /server with `args`, plus `files` (image
    /// path, host path), on `machine` with TCG as Kiln runs. With `hostfwd`
    /// forwards ("tcp:127.0.0.1:8080-:8080") the VM gets user networking;
    /// without, no network card (and init execs the program at once). The
    /// program's exit ends the VM.
    pub fn command(
        &self,
        machine: &str,
        program: &Path,
        files: &[(&str, &Path)],
        args: &[&str],
        hostfwd: &[String],
    ) -> Result<Command, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut entries = vec![
            Entry::dir("dev"),
            Entry {
                name: "dev/console".into(),
                mode: S_IFCHR | 0o600,
                data: Vec::new(),
                rdev: (5, 1),
            },
            Entry::dir("proc"),
            Entry::dir("modules"),
            Entry::file("init", 0o755, read(&self.init)?),
            Entry::file("server", 0o755, read(program)?),
        ];
        for m in MODULES.iter().filter(|_| !hostfwd.is_empty()) {
            let ko = read(&self.modules.join(format!("{m}.ko")))?;
            entries.push(Entry::file(&format!("modules/{m}.ko"), 0o644, ko));
        }
        for (name, host) in files {
            entries.push(Entry::file(
                name.trim_start_matches('/'),
                0o644,
                read(host)?,
            ));
        }
        let name = program
            .file_name()
            .map_or("server".into(), |n| n.to_string_lossy());
        let initrd = self.work.join(format!("{name}.cpio"));
        std::fs::write(&initrd, newc(&entries))
            .map_err(|e| format!("{}: {e}", initrd.display()))?;
        // microvm: its virtio-mmio devices reach Linux through ACPI (Debian's
        // kernel does not take them from the command line).
        let (machine_arg, nic) = match machine {
            "q35" => (
                "q35",
                "virtio-net-pci,netdev=net0,disable-legacy=on,romfile=",
            ),
            "microvm" => ("microvm,acpi=on,rtc=on", "virtio-net-device,netdev=net0"),
            other => {
                return Err(format!(
                    "the Linux guest runs on q35 or microvm, not {other}"
                ))
            }
        };
        let mut netdev = String::from("user,id=net0");
        for f in hostfwd {
            netdev.push_str(",hostfwd=");
            netdev.push_str(f);
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-serial", "stdio", "-m", "256M", "-M", machine_arg])
        .args(["-accel", "tcg", "-cpu", "max", "-kernel"])
        .arg(&self.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(format!(
            "console=ttyS0 quiet panic=-1 rdinit=/init mitigations=off clocksource=tsc tsc=reliable -- {}",
            args.join(" ")
        ));
        if !hostfwd.is_empty() {
            cmd.args(["-netdev", &netdev]).args(["-device", nic]);
        }
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_names_and_padding() {
        let a = newc(&[
            Entry::dir("dev"),
            Entry::file("init", 0o755, b"abcde".to_vec()),
        ]);
        assert!(a.len().is_multiple_of(4));
        // Each entry: 110-byte header, name and NUL, padding to 4, data, padding.
        assert_eq!(&a[..6], b"070701");
        let mode = |off: usize| {
            u32::from_str_radix(std::str::from_utf8(&a[off + 14..off + 22]).unwrap(), 16).unwrap()
        };
        assert_eq!(mode(0), S_IFDIR | 0o755);
        assert_eq!(&a[110..114], b"dev\0");
        let second = 116; // 110 + 4 = 114, padded to 116
        assert_eq!(&a[second..second + 6], b"070701");
        assert_eq!(mode(second), S_IFREG | 0o755);
        let size = u32::from_str_radix(
            std::str::from_utf8(&a[second + 54..second + 62]).unwrap(),
            16,
        );
        assert_eq!(size, Ok(5));
        let name_at = second + 110;
        assert_eq!(&a[name_at..name_at + 5], b"init\0");
        let data_at = (name_at + 5).next_multiple_of(4);
        assert_eq!(&a[data_at..data_at + 5], b"abcde");
        let trailer = (data_at + 5).next_multiple_of(4);
        assert_eq!(&a[trailer + 110..trailer + 121], b"TRAILER!!!\0");
    }
}
