//! The QEMU command line.

use crate::net::Network;
use anyhow::{bail, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// I/O port of the control channel (QEMU `isa-debugcon`): the kernel writes
/// `exit N`, `panic` or `probe ok` lines there.
pub const CTL_PORT: u16 = 0xe9;
/// I/O port of `isa-debug-exit`.
pub const EXIT_PORT: u16 = 0xf4;
/// Kernel command line that makes the kernel answer `probe ok` and stop.
pub const PROBE_CMDLINE: &str = "kiln.probe";

/// The QEMU binary: `$KILN_QEMU` or `qemu-system-x86_64`.
pub fn qemu_binary() -> OsString {
    std::env::var_os("KILN_QEMU").unwrap_or_else(|| "qemu-system-x86_64".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// QEMU microvm: no firmware, virtio-mmio, fastest boot.
    Microvm,
    /// Q35 PC: SeaBIOS, PCI, virtio-pci.
    Q35,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Everything that goes on the QEMU command line.
#[derive(Clone, Debug)]
pub struct Launch {
    pub machine: Machine,
    pub accel: Accel,
    /// As `-m` takes it, already checked by [`check_memory`].
    pub memory: String,
    /// The kernel ELF, extracted from the image.
    pub kernel: PathBuf,
    /// The image, attached as a read-only virtio disk.
    pub image: Option<PathBuf>,
    /// File that receives the control channel.
    pub ctl: PathBuf,
    /// Kernel command line.
    pub append: Option<String>,
    /// Unix socket for requests to the kernel (its COM2): `kiln run` writes
    /// `T` there to ask for a graceful shutdown.
    pub requests: Option<PathBuf>,
    /// Host file (or /proc/self/fd/N) that receives `--trace` lines.
    pub trace: Option<PathBuf>,
    /// `Some(path)`: the program's console is a virtio console on stdio,
    /// and the serial port (the kernel's first and last words) goes to
    /// `path`. `None`: the serial port is the console, on stdio.
    pub serial: Option<PathBuf>,
    /// The network card; `None`: no card (probe boots).
    pub net: Option<Network>,
    /// Let a reset reboot the VM (RebootOnExit) instead of ending it.
    pub reboot: bool,
    /// QEMU's gdb stub.
    pub gdb: Option<Gdb>,
    /// Boot a self-booting disk through firmware on q35 instead: no
    /// `-kernel`, and `image` is not attached (the firmware's disk is).
    pub firmware: Option<crate::disk::firmware::FirmwareBoot>,
}

/// QEMU's gdb stub, on 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gdb {
    pub port: u16,
    /// Stop the CPU until gdb continues it (`-S`; ops' `--debug`).
    pub wait: bool,
}

/// The byte that asks the kernel to shut the program down (SIGTERM).
pub const SHUTDOWN_REQUEST: u8 = b'T';

/// Check a memory size: digits with an optional K, M, G or T suffix
/// (QEMU's default unit is MiB), at least 16 MiB.
pub fn check_memory(mem: &str) -> Result<String> {
    let mem = mem.trim();
    let (digits, unit) = match mem.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => mem.split_at(i),
        None => (mem, "M"),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => bail!("memory size {mem:?}: use a number with K, M, G or T, e.g. 256M"),
    };
    let Ok(n) = digits.parse::<u64>() else {
        bail!("memory size {mem:?}: use a number with K, M, G or T, e.g. 256M");
    };
    let bytes = n.checked_shl(shift).filter(|b| b >> shift == n);
    match bytes {
        Some(b) if b >= 16 << 20 => Ok(format!("{}M", b >> 20)),
        Some(_) => bail!("memory size {mem:?} is too small: give the VM at least 16M"),
        None => bail!("memory size {mem:?} is too large"),
    }
}

fn push_dev(a: &mut Vec<OsString>, dev: &str) {
    a.push("-device".into());
    a.push(dev.into());
}

/// The arguments after the QEMU binary's name.
pub fn args(l: &Launch) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    // Without it a reset (the kernel's triple fault) boots the VM again;
    // with it, a reset ends QEMU, which is what a kernel failure must do.
    if !l.reboot {
        push(&["-no-reboot"]);
    }
    if l.serial.is_none() {
        push(&["-serial", "stdio"]);
    }
    push(&["-m", &l.memory]);
    let machine = match l.firmware {
        Some(_) => Machine::Q35,
        None => l.machine,
    };
    match machine {
        Machine::Microvm => push(&[
            "-M",
            "microvm,x-option-roms=off,pit=on,pic=off,isa-serial=on,rtc=on,acpi=off",
        ]),
        Machine::Q35 => push(&["-M", "q35"]),
    }
    match l.accel {
        Accel::Tcg => push(&["-accel", "tcg", "-cpu", "max"]),
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
    }
    push(&[
        "-device",
        &format!("isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04"),
    ]);
    push(&[
        "-device",
        &format!("isa-debugcon,iobase={CTL_PORT:#x},chardev=kilnctl"),
    ]);
    a.push("-chardev".into());
    a.push(join("file,id=kilnctl,path=", &l.ctl));
    if let Some(sock) = &l.requests {
        a.push("-chardev".into());
        a.push(join("socket,id=kilnreq,server=on,wait=off,path=", sock));
        push_dev(&mut a, "isa-serial,chardev=kilnreq,iobase=0x2f8,irq=3");
    }
    if let Some(trace) = &l.trace {
        push_dev(
            &mut a,
            &format!(
                "isa-debugcon,iobase={:#x},chardev=kilntrace",
                crate::trace::TRACE_PORT
            ),
        );
        a.push("-chardev".into());
        a.push(join("file,id=kilntrace,append=on,path=", trace));
    }
    if let Some(fw) = &l.firmware {
        a.extend(crate::disk::firmware::qemu_args(fw));
    } else {
        a.push("-kernel".into());
        a.push(l.kernel.clone().into());
    }
    if let (Some(cmdline), None) = (&l.append, &l.firmware) {
        a.push("-append".into());
        a.push(cmdline.into());
    }
    if let (Some(image), None) = (&l.image, &l.firmware) {
        a.push("-drive".into());
        a.push(join("id=disk,format=raw,if=none,readonly=on,file=", image));
        a.push("-device".into());
        a.push(match l.machine {
            Machine::Microvm => "virtio-blk-device,drive=disk".into(),
            Machine::Q35 => "virtio-blk-pci,drive=disk,disable-legacy=on".into(),
        });
    }
    if let Some(net) = &l.net {
        a.extend(net.qemu_args(machine).into_iter().map(OsString::from));
    }
    if let Some(g) = l.gdb {
        a.push("-gdb".into());
        a.push(format!("tcp:127.0.0.1:{}", g.port).into());
        if g.wait {
            a.push("-S".into());
        }
    }
    if let Some(path) = &l.serial {
        a.push("-chardev".into());
        a.push(join("file,id=kilnserial,append=on,path=", path));
        a.push("-serial".into());
        a.push("chardev:kilnserial".into());
        a.push("-chardev".into());
        a.push("stdio,id=kilncon".into());
        push_dev(
            &mut a,
            match machine {
                Machine::Microvm => "virtio-serial-device,max_ports=1",
                Machine::Q35 => "virtio-serial-pci,disable-legacy=on,max_ports=1",
            },
        );
        push_dev(&mut a, "virtconsole,chardev=kilncon");
    }
    a
}

/// `prefix` followed by a path, with commas doubled as QEMU's option
/// syntax requires.
fn join(prefix: &str, path: &std::path::Path) -> OsString {
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

/// What the kernel said on the control channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `exit N`: the program's status (128+signal when killed).
    Exit(u8),
    /// `panic`: the kernel failed.
    Panic,
    /// `probe ok`: the probe boot worked.
    ProbeOk,
    /// Nothing usable: triple fault, QEMU error, killed.
    Silent,
}

/// Read the control channel's lines; the last meaningful one wins.
pub fn parse_ctl(text: &str) -> Verdict {
    let mut v = Verdict::Silent;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("exit ") {
            if let Ok(n) = n.trim().parse::<u8>() {
                v = Verdict::Exit(n);
            }
        } else if line == "panic" {
            v = Verdict::Panic;
        } else if line == "probe ok" && v == Verdict::Silent {
            v = Verdict::ProbeOk;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(machine: Machine, accel: Accel) -> Launch {
        Launch {
            machine,
            accel,
            memory: "256M".into(),
            kernel: "/tmp/k,1/kernel".into(),
            image: Some("/img/a.img".into()),
            ctl: "/tmp/k,1/ctl".into(),
            append: None,
            requests: None,
            trace: None,
            serial: None,
            net: None,
            reboot: false,
            gdb: None,
            firmware: None,
        }
    }

    fn line(l: &Launch) -> String {
        args(l)
            .iter()
            .map(|s| s.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn microvm_tcg_command_line() {
        let s = line(&launch(Machine::Microvm, Accel::Tcg));
        assert_eq!(
            s,
            "-nodefaults -no-user-config -display none -no-reboot -serial stdio -m 256M \
             -M microvm,x-option-roms=off,pit=on,pic=off,isa-serial=on,rtc=on,acpi=off \
             -accel tcg -cpu max -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -device isa-debugcon,iobase=0xe9,chardev=kilnctl -chardev file,id=kilnctl,path=/tmp/k,,1/ctl \
             -kernel /tmp/k,1/kernel -drive id=disk,format=raw,if=none,readonly=on,file=/img/a.img \
             -device virtio-blk-device,drive=disk"
        );
    }

    #[test]
    fn q35_kvm_command_line() {
        let mut l = launch(Machine::Q35, Accel::Kvm);
        l.append = Some(PROBE_CMDLINE.into());
        let s = line(&l);
        assert!(s.contains(" -M q35 "), "{s}");
        assert!(s.contains(" -accel kvm -cpu host "), "{s}");
        assert!(s.contains(" -append kiln.probe "), "{s}");
        assert!(
            s.ends_with("-device virtio-blk-pci,drive=disk,disable-legacy=on"),
            "{s}"
        );
        assert!(!s.contains("microvm"));
    }

    #[test]
    fn network_card_follows_the_disk() {
        use crate::net::{parse_forward, NetMode, Proto};
        let mut l = launch(Machine::Microvm, Accel::Tcg);
        l.net = Some(
            Network::new(NetMode::User, parse_forward(Proto::Tcp, "8080:80").unwrap()).unwrap(),
        );
        assert!(line(&l).ends_with(
            "-device virtio-blk-device,drive=disk \
             -netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80 \
             -device virtio-net-device,netdev=net0,event_idx=off"
        ));
        let mut l = launch(Machine::Q35, Accel::Tcg);
        l.net = Some(Network::new(NetMode::User, vec![]).unwrap());
        assert!(line(&l).ends_with(
            "-device virtio-blk-pci,drive=disk,disable-legacy=on \
             -netdev user,id=net0 -device virtio-net-pci,netdev=net0,disable-legacy=on,romfile=,event_idx=off"
        ));
    }

    #[test]
    fn reboot_and_gdb() {
        let mut l = launch(Machine::Microvm, Accel::Tcg);
        assert!(line(&l).contains(" -no-reboot "));
        l.reboot = true;
        l.gdb = Some(Gdb {
            port: 4321,
            wait: false,
        });
        let s = line(&l);
        assert!(!s.contains("-no-reboot"), "{s}");
        assert!(s.ends_with(" -gdb tcp:127.0.0.1:4321"), "{s}");
        l.gdb = Some(Gdb {
            port: 1234,
            wait: true,
        });
        assert!(line(&l).ends_with(" -gdb tcp:127.0.0.1:1234 -S"));
    }

    #[test]
    fn firmware_boots_have_no_kernel_and_use_q35() {
        use crate::disk::firmware::{Firmware, FirmwareBoot};
        let mut l = launch(Machine::Microvm, Accel::Tcg);
        l.append = Some("kiln.missing-files".into());
        l.net = Some(Network::new(crate::net::NetMode::User, vec![]).unwrap());
        l.firmware = Some(FirmwareBoot {
            firmware: Firmware::Bios,
            disk: "/d/app.qcow2".into(),
            driver: "qcow2",
            ovmf: None,
        });
        let s = line(&l);
        assert!(s.contains(" -M q35 "), "{s}");
        assert!(
            !s.contains("-kernel") && !s.contains("-append") && !s.contains("a.img"),
            "{s}"
        );
        assert!(
            s.contains("format=qcow2,if=none,readonly=on,file=/d/app.qcow2"),
            "{s}"
        );
        assert!(s.contains("virtio-net-pci"), "{s}");
    }

    #[test]
    fn probe_has_no_disk() {
        let mut l = launch(Machine::Microvm, Accel::Kvm);
        l.image = None;
        assert!(!line(&l).contains("-drive"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(check_memory("256M").unwrap(), "256M");
        assert_eq!(check_memory("1G").unwrap(), "1024M");
        assert_eq!(check_memory("1gib").unwrap(), "1024M");
        assert_eq!(check_memory("64").unwrap(), "64M");
        assert_eq!(check_memory("65536K").unwrap(), "64M");
        assert!(check_memory("8M").is_err());
        assert!(check_memory("lots").is_err());
        assert!(check_memory("12X").is_err());
        assert!(check_memory("").is_err());
        assert!(check_memory("99999999999T").is_err());
    }

    #[test]
    fn control_channel() {
        assert_eq!(parse_ctl("exit 0\n"), Verdict::Exit(0));
        assert_eq!(parse_ctl("exit 139\n"), Verdict::Exit(139));
        assert_eq!(parse_ctl("probe ok\n"), Verdict::ProbeOk);
        assert_eq!(parse_ctl("panic\n"), Verdict::Panic);
        assert_eq!(parse_ctl(""), Verdict::Silent);
        assert_eq!(parse_ctl("exit 256\n"), Verdict::Silent);
        assert_eq!(parse_ctl("garbage\nexit 3"), Verdict::Exit(3));
    }
}
