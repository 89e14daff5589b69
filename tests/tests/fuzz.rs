//! The kernel never trusts the program: thousands of system calls with
//! random numbers and arguments (bad pointers, huge lengths, unknown flags)
//! get answers, and the VM stays up to let the program report.

use kiln_tests::{run, sample, TIMEOUT};
use std::ffi::OsStr;

fn fuzz(machine: &str, seed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample("fuzz");
    let args: Vec<&OsStr> = [
        OsStr::new("run"),
        prog.as_os_str(),
        OsStr::new("--machine"),
        OsStr::new(machine),
        OsStr::new("--accel"),
        OsStr::new("tcg"),
        OsStr::new("--"),
        OsStr::new("200000"),
        OsStr::new(seed),
    ]
    .to_vec();
    let o = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        &args,
        dir.path(),
        TIMEOUT,
    );
    assert!(!o.timed_out, "fuzz run did not finish: {}", o.describe());
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with("fuzz: ") && l.ends_with("kernel still up")),
        "{}",
        o.describe()
    );
    assert!(!o.stdout.contains("kernel panic"), "{}", o.describe());
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn random_syscalls_on_microvm() {
    fuzz("microvm", "1");
}

#[test]
fn random_syscalls_on_q35() {
    fuzz("q35", "2");
}
