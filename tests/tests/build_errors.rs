//! Bad inputs to `kiln build` (and `kiln run`): one clear error line, a
//! non-zero exit, and no image left behind.

use kiln_tests::elf::{tiny_program, Phdr, PF_R, PF_W, PF_X, PT_LOAD, PT_TLS};
use kiln_tests::{assert_one_error, run, TIMEOUT};
use std::path::{Path, PathBuf};

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// An ELF header of the given class and machine, and nothing else.
fn elf_header(class: u8, machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; if class == 1 { 52 } else { 64 }];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = class;
    b[5] = 1; // little-endian
    b[6] = 1;
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b
}

/// Files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `kiln build INPUT` in an empty directory, with the default output and
/// with -o: both fail with `needle` and leave only `input` there.
fn build_fails(input: &Path, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let before = listing(dir.path());
    let o = run(kiln(), &[Path::new("build"), input], dir.path(), TIMEOUT);
    assert_one_error(&o, needle);
    let out = dir.path().join("out.img");
    let o = run(
        kiln(),
        &[Path::new("build"), input, Path::new("-o"), &out],
        dir.path(),
        TIMEOUT,
    );
    assert_one_error(&o, needle);
    assert_eq!(listing(dir.path()), before, "kiln build left files behind");
}

fn write_input(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_file() {
    build_fails(
        Path::new("/nonexistent/program"),
        "/nonexistent/program: no such file",
    );
}

#[test]
fn not_elf() {
    let inputs = tempfile::tempdir().unwrap();
    build_fails(
        &write_input(inputs.path(), "script.sh", b"#!/bin/sh\necho hello\n"),
        "not an ELF program",
    );
    build_fails(
        &write_input(inputs.path(), "empty", b""),
        "not an ELF program",
    );
}

#[test]
fn a_directory() {
    build_fails(Path::new("/tmp"), "is a directory");
}

#[test]
fn thirty_two_bit_elf() {
    let inputs = tempfile::tempdir().unwrap();
    build_fails(
        &write_input(inputs.path(), "prog32", &elf_header(1, 3)),
        "32-bit",
    );
}

#[test]
fn wrong_machine() {
    let inputs = tempfile::tempdir().unwrap();
    build_fails(
        &write_input(inputs.path(), "prog-arm64", &elf_header(2, 183)),
        "AArch64",
    );
}

/// A root holding the host's /usr/bin/true (dynamically linked on Debian)
/// and its interpreter, but not libc.so.6.
fn root_without_libc() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("/usr/bin/true", "usr/bin/true"),
        ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"),
    ] {
        let to = root.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to).expect("this test expects Debian's /usr/bin/true and ld.so");
    }
    root
}

#[test]
fn dynamically_linked_program_with_a_missing_library() {
    let root = root_without_libc();
    let needle = format!(
        "libc.so.6 (needed by /usr/bin/true) not found in {}; searched /lib/x86_64-linux-gnu, \
         /usr/lib/x86_64-linux-gnu, /lib, /usr/lib",
        root.path().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    for extra in [&[][..], &["-o", "out.img"][..]] {
        let mut args = vec!["build", "--root", root_arg, "/usr/bin/true"];
        args.extend(extra);
        let o = run(kiln(), &args, dir.path(), TIMEOUT);
        assert_one_error(&o, &needle);
    }
    assert!(
        listing(dir.path()).is_empty(),
        "kiln build left files behind"
    );
}

#[test]
fn run_reports_bad_input_with_status_125() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        kiln(),
        &["run", "/nonexistent/program", "--accel", "tcg"],
        dir.path(),
        TIMEOUT,
    );
    assert_one_error(&o, "no such file");
    assert_eq!(o.status, Some(125));
    let root = root_without_libc();
    let o = run(
        kiln(),
        &[
            "run",
            "--root",
            root.path().to_str().unwrap(),
            "/usr/bin/true",
            "--accel",
            "tcg",
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_one_error(&o, "libc.so.6 (needed by /usr/bin/true) not found in");
    assert_eq!(o.status, Some(125));
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(kiln(), &["build"], dir.path(), TIMEOUT);
    assert!(
        o.status.is_some_and(|s| s != 0) && o.stderr.contains("PROGRAM"),
        "{}",
        o.describe()
    );
    let o = run(
        kiln(),
        &["run", "/bin/true", "--machine", "pc-98"],
        dir.path(),
        TIMEOUT,
    );
    assert!(
        o.status.is_some_and(|s| s != 0) && o.stderr.contains("microvm"),
        "{}",
        o.describe()
    );
    let o = run(
        kiln(),
        &["run", "/bin/true", "-m", "lots", "--accel", "tcg"],
        dir.path(),
        TIMEOUT,
    );
    assert_one_error(&o, "memory size");
}

/// A program header for [`kiln_tests::elf::tiny_program`]'s extras.
fn phdr(p_type: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Phdr {
    Phdr {
        p_type,
        p_flags: PF_R | PF_W,
        p_offset: offset,
        p_vaddr: vaddr,
        p_filesz: filesz,
        p_memsz: memsz,
        p_align: if p_type == PT_TLS { 8 } else { 0x1000 },
    }
}

#[test]
fn impossible_elf_sizes_are_refused_naming_the_field() {
    let inputs = tempfile::tempdir().unwrap();
    const TIB: u64 = 1 << 40;
    let rx = PF_R | PF_X;
    let cases = [
        (
            "huge-bss",
            vec![phdr(PT_LOAD, 0, 0x60_0000, 0, TIB)],
            "huge-bss: cannot be loaded: program header 1 (PT_LOAD): p_memsz 0x10000000000 \
             is 1 TiB or more, more memory than a VM can have",
        ),
        (
            "huge-tls",
            vec![phdr(PT_TLS, 0, 0x40_0000, 0, TIB)],
            "huge-tls: cannot be loaded: program header 1 (PT_TLS): p_memsz 0x10000000000 \
             is 1 TiB or more",
        ),
        (
            "file-larger-than-memory",
            vec![phdr(PT_LOAD, 0, 0x60_0000, 0x100, 0x10)],
            "program header 1 (PT_LOAD): p_filesz 256 is larger than p_memsz 0x10",
        ),
        (
            "overlapping",
            vec![phdr(PT_LOAD, 0, 0x40_0000, 0, 0x2000)],
            "program header 1 (PT_LOAD): p_vaddr 0x400000 overlaps the segment of program \
             header 0",
        ),
        (
            "beyond-47-bits",
            vec![phdr(PT_LOAD, 0, 0x7fff_ffff_f000, 0, 0x2000)],
            "program header 1 (PT_LOAD): p_vaddr + p_memsz 0x800000001000 is beyond the 47-bit \
             user address space",
        ),
        (
            "offset-beyond-file",
            vec![phdr(PT_LOAD, 0x10_0000, 0x60_0000, 0x100, 0x100)],
            "program header 1 (PT_LOAD): p_offset + p_filesz 0x100100 is beyond the end of the \
             file",
        ),
    ];
    for (name, extra, needle) in cases {
        let input = write_input(inputs.path(), name, &tiny_program(rx, &extra));
        build_fails(&input, needle);
    }
    // What Linux runs, Kiln builds: write and execute in one segment.
    let dir = tempfile::tempdir().unwrap();
    let rwx = write_input(inputs.path(), "rwx", &tiny_program(rx | PF_W, &[]));
    let o = run(kiln(), &[Path::new("build"), &rwx], dir.path(), TIMEOUT);
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn files_under_the_kernels_file_systems_are_refused() {
    // An ops config that ships a proc/ directory, and files for /sys and
    // /dev: the kernel's mounts there would hide them.
    let inputs = tempfile::tempdir().unwrap();
    let prog = write_input(inputs.path(), "prog", &tiny_program(PF_R | PF_X, &[]));
    std::fs::create_dir_all(inputs.path().join("proc/sys/kernel")).unwrap();
    std::fs::write(inputs.path().join("proc/sys/kernel/hostname"), "x\n").unwrap();
    std::fs::write(inputs.path().join("cfg.json"), r#"{"Dirs": ["proc"]}"#).unwrap();
    std::fs::write(inputs.path().join("cfg-sys.json"), r#"{"Files": ["sys"]}"#).unwrap();
    std::fs::write(inputs.path().join("sys"), "a file where /sys goes").unwrap();
    let cfg = inputs.path().join("cfg.json");
    let cfg_sys = inputs.path().join("cfg-sys.json");
    let dev_file = format!("{}:/dev/console-log", prog.display());
    for (args, needle) in [
        (
            vec!["-c", cfg.to_str().unwrap()],
            "/proc/sys: /proc is the kernel's proc in the VM and would hide this directory",
        ),
        (
            vec!["-c", cfg_sys.to_str().unwrap()],
            "/sys: /sys is the kernel's sysfs in the VM and would hide this file",
        ),
        (
            vec!["--file", dev_file.as_str()],
            "/dev/console-log: /dev is the kernel's devfs in the VM and would hide this file",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["build", prog.to_str().unwrap()];
        argv.extend(args);
        let o = run(kiln(), &argv, dir.path(), TIMEOUT);
        assert_one_error(&o, needle);
        assert!(
            listing(dir.path()).is_empty(),
            "kiln build left files behind"
        );
    }
}
