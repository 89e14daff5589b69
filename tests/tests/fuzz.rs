//! The kernel never trusts the program: thousands of system calls with
//! random numbers and arguments (bad pointers, huge lengths, unknown flags)
//! get answers, and the VM stays up to let the program report. The modes
//! aimed at what allocates (huge lengths, descriptors up to RLIMIT_NOFILE,
//! deep trees in /tmp, many timers, many epoll registrations) end the same
//! way.

use kiln_tests::{run, sample, TIMEOUT};
use std::ffi::OsStr;

fn fuzz(machine: &str, seed: &str) {
    let o = fuzz_run(machine, &["200000", seed]);
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

fn fuzz_run(machine: &str, fuzz_args: &[&str]) -> kiln_tests::Outcome {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample("fuzz");
    let mut args: Vec<&OsStr> = [
        OsStr::new("run"),
        prog.as_os_str(),
        OsStr::new("--machine"),
        OsStr::new(machine),
        OsStr::new("--accel"),
        OsStr::new("tcg"),
        OsStr::new("-m"),
        OsStr::new("256M"),
        OsStr::new("--"),
    ]
    .to_vec();
    args.extend(fuzz_args.iter().map(OsStr::new));
    let o = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        &args,
        dir.path(),
        TIMEOUT,
    );
    assert!(!o.timed_out, "fuzz run did not finish: {}", o.describe());
    o
}

/// Each mode prints one "fuzz MODE: ... kernel still up" line; nothing
/// fails, the kernel does not panic, the program exits 0.
fn modes(modes: &[&str]) {
    let o = fuzz_run("q35", modes);
    for m in modes {
        let want = format!("fuzz {m}: ");
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with(&want) && l.ends_with("kernel still up")),
            "mode {m} did not finish: {}",
            o.describe()
        );
    }
    assert!(!o.stdout.contains("FAIL"), "{}", o.describe());
    assert!(!o.stdout.contains("kernel panic"), "{}", o.describe());
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

/// All in one VM: after the huge lengths have taken and given back most of
/// its memory, the heap must still find room among the freed frames for
/// what the later modes need (it panicked when it could grow only from
/// memory never used).
#[test]
fn huge_lengths_then_descriptors_trees_timers_and_epolls_in_one_vm() {
    modes(&["lengths", "fds", "dirs", "timers", "epoll"]);
}

#[test]
fn random_syscalls_on_microvm() {
    fuzz("microvm", "1");
}

#[test]
fn random_syscalls_on_q35() {
    fuzz("q35", "2");
}
