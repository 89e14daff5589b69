//! `kiln run --profile` end to end on the host side, with a stand-in for
//! QEMU (`KILN_QEMU`) that writes a control channel as the kernel's profiler
//! does: the kernel command line, the exit status, the report symbolized from
//! the booted image's files (through the image's `/lib` symlink) and the
//! embedded kernel, and the flame graph.

use goblin::elf::program_header::PT_LOAD;
use goblin::elf::sym::STT_FUNC;
use goblin::elf::Elf;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const FAKE_QEMU: &str = r#"#!/bin/sh
# Stand-in for qemu-system-x86_64: record the arguments, write the control
# channel, exit.
printf '%s\n' "$@" > "$FAKE_DIR/args"
for a in "$@"; do
  case "$a" in
    file,id=kilnctl,path=*) ctl="${a#file,id=kilnctl,path=}" ;;
  esac
done
cat "$FAKE_DIR/ctl" > "$ctl"
"#;

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

/// Where glibc's `getpid` is in the file: (its file offset, the file offset
/// of the page its PT_LOAD starts on).
fn getpid_in(libc: &[u8]) -> (u64, u64) {
    let elf = Elf::parse(libc).unwrap();
    let getpid = elf
        .dynsyms
        .iter()
        .find(|s| elf.dynstrtab.get_at(s.st_name) == Some("getpid"))
        .expect("libc exports getpid");
    let ph = elf
        .program_headers
        .iter()
        .find(|ph| {
            ph.p_type == PT_LOAD
                && (ph.p_vaddr..ph.p_vaddr + ph.p_filesz).contains(&getpid.st_value)
        })
        .expect("getpid is in a PT_LOAD");
    (
        getpid.st_value - ph.p_vaddr + ph.p_offset,
        ph.p_offset & !0xfff,
    )
}

/// A function of the embedded kernel (alone at its address: no alias
/// could be named instead): its address and demangled name.
fn kernel_function() -> (u64, String) {
    let elf = Elf::parse(kiln::KERNEL).unwrap();
    let at = |a: u64| elf.syms.iter().filter(|s| s.st_value == a).count();
    elf.syms
        .iter()
        .filter(|s| s.st_type() == STT_FUNC && s.st_size > 16 && at(s.st_value) == 1)
        .filter_map(|s| Some((s.st_value, elf.strtab.get_at(s.st_name)?)))
        .find(|(_, n)| n.contains("kiln_kernel"))
        .map(|(a, n)| (a, kiln::profile::demangle(n)))
        .expect("the kernel has symbols of its own")
}

#[test]
fn profile_report_from_a_stand_in_vm() {
    let Ok(libc) = std::fs::read(LIBC) else {
        eprintln!("no {LIBC} on this host; skipped");
        return;
    };
    if !Path::new("/usr/bin/true").is_file() {
        eprintln!("no /usr/bin/true on this host; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let qemu = dir.path().join("qemu");
    std::fs::write(&qemu, FAKE_QEMU).unwrap();
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (getpid, page) = getpid_in(&libc);
    let base = 0x7f00_0000_0000u64;
    let (kaddr, kname) = kernel_function();
    let ctl = format!(
        "profile hz 500\n\
         profile map {start:x} {end:x} {page:x} {LIBC}\n\
         profile sample u {rip:x} 30\n\
         profile sample k {kaddr:x} 10\n\
         profile sample i 0 60\n\
         profile count syscalls 2000\n\
         profile count net.kick 500\n\
         exit 3\n",
        start = base + page,
        end = base + page + 0x10_0000,
        rip = base + getpid + 2,
    );
    std::fs::write(dir.path().join("ctl"), ctl).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "/usr/bin/true", "--accel", "tcg", "--net", "none"])
        .arg("--profile=500")
        .current_dir(dir.path())
        .env("KILN_QEMU", &qemu)
        .env("FAKE_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The program's status stays kiln's.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.contains("\n-append\nkiln.profile=500\n"), "{args}");

    let report: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kiln: profile:") || l.starts_with("  "))
        .collect();
    let svg = dir.path().join("kiln-profile.svg");
    assert_eq!(
        report,
        [
            "kiln: profile: 100 samples at 500 Hz (30.0% program, 10.0% kernel, 60.0% idle)",
            "  60.0%     60  [idle]",
            "  30.0%     30  getpid [libc.so.6]",
            &format!("  10.0%     10  {kname} [kernel]"),
            report[4],
            "kiln: profile: flame graph written to kiln-profile.svg",
        ],
        "{stderr}"
    );
    assert!(
        report[4].starts_with("kiln: profile: counters over ")
            && report[4].contains(" s: syscalls 2000 (")
            && report[4].ends_with("/s, 250/1k syscalls)"),
        "{}",
        report[4]
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("getpid (30 samples, 30.00%)"), "{svg}");
}
