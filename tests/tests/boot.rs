//! Boot the samples in QEMU (TCG) on microvm and q35 and check their console
//! output and exit status. These need a working kernel.

use kiln_tests::{run, sample, Outcome, TIMEOUT};
use std::path::Path;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// `kiln run SAMPLE --machine MACHINE --accel tcg -- ARGS`.
fn boot(name: &str, machine: &str, args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample(name);
    let mut argv: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), prog.as_os_str()];
    argv.extend(
        ["--machine", machine, "--accel", "tcg", "-m", "128M", "--"].map(std::ffi::OsStr::new),
    );
    argv.extend(args.iter().map(std::ffi::OsStr::new));
    let o = run(kiln(), &argv, dir.path(), TIMEOUT);
    assert!(
        !o.timed_out,
        "{name} on {machine} did not finish in {TIMEOUT:?}: {}",
        o.describe()
    );
    o
}

fn expect(o: &Outcome, status: i32, lines: &[&str]) {
    for line in lines {
        assert!(
            o.stdout.lines().any(|l| l == *line),
            "missing console line {line:?}: {}",
            o.describe()
        );
    }
    assert_eq!(o.status, Some(status), "{}", o.describe());
}

fn hello_rust(machine: &str) {
    let o = boot("hello-rust", machine, &["one", "two words"]);
    expect(
        &o,
        0,
        &[
            "Hello from Rust on Kiln!",
            "argv[0] = hello-rust",
            "argv[1] = one",
            "argv[2] = two words",
            "HOME = /",
        ],
    );
}

fn hello_c(name: &str, machine: &str) {
    let o = boot(name, machine, &["x"]);
    expect(
        &o,
        0,
        &[
            "Hello from C on Kiln!",
            &format!("argv[0] = {name}"),
            "argv[1] = x",
            "uname: Linux x86_64",
            "clock ok",
        ],
    );
}

fn crash(machine: &str, mode: &[&str], status: i32, signal: &str, first: &str) {
    let o = boot("crash", machine, mode);
    expect(&o, status, &[first]);
    assert!(!o.stdout.contains("still alive"), "{}", o.describe());
    assert!(
        o.stdout.contains(signal),
        "the crash report should name {signal}: {}",
        o.describe()
    );
}

#[test]
fn hello_rust_microvm() {
    hello_rust("microvm");
}

#[test]
fn hello_rust_q35() {
    hello_rust("q35");
}

#[test]
fn hello_c_musl_microvm() {
    hello_c("hello-c-musl", "microvm");
}

#[test]
fn hello_c_musl_q35() {
    hello_c("hello-c-musl", "q35");
}

#[test]
fn hello_c_glibc_microvm() {
    hello_c("hello-c-glibc", "microvm");
}

#[test]
fn hello_c_glibc_q35() {
    hello_c("hello-c-glibc", "q35");
}

#[test]
fn exit_status_microvm() {
    expect(&boot("exit-status", "microvm", &["42"]), 42, &[]);
}

#[test]
fn exit_status_q35() {
    expect(&boot("exit-status", "q35", &["200"]), 200, &[]);
}

#[test]
fn crash_null_write_microvm() {
    crash("microvm", &[], 139, "SIGSEGV", "crash: writing to NULL");
}

#[test]
fn crash_null_write_q35() {
    crash("q35", &[], 139, "SIGSEGV", "crash: writing to NULL");
}

#[test]
fn crash_invalid_instruction_microvm() {
    crash("microvm", &["ill"], 132, "SIGILL", "crash: executing ud2");
}

#[test]
fn built_image_boots_with_its_arguments() {
    // `kiln build` then `kiln run IMAGE` (the image is detected by its header).
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("exit.img");
    let prog = sample("exit-status");
    let o = run(
        kiln(),
        &[
            Path::new("build"),
            &prog,
            Path::new("-o"),
            &image,
            Path::new("--"),
            Path::new("7"),
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let o = run(
        kiln(),
        &[
            Path::new("run"),
            &image,
            Path::new("--accel"),
            Path::new("tcg"),
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(7), "{}", o.describe());
}

/// mremap directly and under glibc's realloc: data survives, no
/// "unimplemented syscall" line.
#[test]
fn remap_glibc_microvm() {
    let o = boot("remap-glibc", "microvm", &[]);
    expect(
        &o,
        0,
        &[
            "remap: moved yes, kept \"page zero\" and \"page three\", new tail reads 0",
            "remap: realloc grew a block to 64 MiB intact",
        ],
    );
    assert!(!o.stdout.contains("unimplemented"), "{}", o.describe());
}

/// Dropping root as servers do, and the answers about the session and
/// children that one process gets.
#[test]
fn identity_microvm() {
    let o = boot("identity", "microvm", &[]);
    expect(
        &o,
        0,
        &[
            "identity: uid 0 euid 0 gid 0 egid 0",
            "identity: dropped to uid 65534/65534/65534 gid 65534, 2 groups",
            "identity: setuid(0) refused: Operation not permitted",
            "identity: nice 5",
            "identity: pid 1 pgrp 1 sid 1",
            "identity: waitpid: No child process",
            "identity: mlockall ok, membarrier ok",
        ],
    );
    assert!(!o.stdout.contains("unimplemented"), "{}", o.describe());
}
