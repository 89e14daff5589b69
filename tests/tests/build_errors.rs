//! Bad inputs to `kiln build` (and `kiln run`): one clear error line, a
//! non-zero exit, and no image left behind.

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
