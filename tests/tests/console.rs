//! The console: the program's output arrives whole and in order through
//! the virtio console, its input arrives from kiln's standard input, and
//! `-q`/`-v` decide how much kiln and the kernel say around it.

use kiln_tests::{run, sample, Outcome, TIMEOUT};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

fn hello(flags: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut a = vec![
        "run".to_string(),
        sample("hello-c-musl").display().to_string(),
        "--accel".into(),
        "tcg".into(),
    ];
    a.extend(flags.iter().map(|s| s.to_string()));
    run(kiln(), &a, dir.path(), TIMEOUT)
}

#[test]
fn quiet_leaves_only_the_program_and_verbose_adds_the_kernel_lines() {
    let normal = hello(&[]);
    assert_eq!(normal.status, Some(0), "{}", normal.describe());
    assert!(
        normal.stdout.contains("kiln: net: "),
        "{}",
        normal.describe()
    );
    assert!(
        !normal.stdout.contains("kiln: memory "),
        "{}",
        normal.describe()
    );

    let quiet = hello(&["-q"]);
    assert_eq!(quiet.status, Some(0), "{}", quiet.describe());
    let program: Vec<&str> = normal
        .stdout
        .lines()
        .filter(|l| !l.starts_with("kiln: "))
        .collect();
    assert_eq!(quiet.stdout.lines().collect::<Vec<_>>(), program);
    assert!(quiet.stderr.trim().is_empty(), "{}", quiet.describe());

    let verbose = hello(&["-v"]);
    assert_eq!(verbose.status, Some(0), "{}", verbose.describe());
    assert!(
        verbose.stdout.contains("kiln: memory ") && verbose.stdout.contains("console virtio"),
        "{}",
        verbose.describe()
    );
    assert!(
        verbose.stderr.contains("qemu-system-x86_64 "),
        "{}",
        verbose.describe()
    );
    assert!(hello(&["-q", "-v"]).status == Some(2));
}

#[test]
fn a_long_output_arrives_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        kiln(),
        &[
            "run",
            "/usr/bin/seq",
            "--accel",
            "tcg",
            "-q",
            "--",
            "1",
            "5000",
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let want: Vec<String> = (1..=5000).map(|i| i.to_string()).collect();
    let got: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(got, want, "{}", o.describe());
}

#[test]
fn standard_input_reaches_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(kiln())
        .args([
            "run",
            "/usr/bin/head",
            "--accel",
            "tcg",
            "-q",
            "--",
            "-n",
            "2",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"first line from the host\nsecond\nthird\n")
        .unwrap();
    // head exits after two lines; kiln must not wait for more input.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("kiln run head did not finish"),
    };
    drop(stdin);
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout, "first line from the host\nsecond\n");
}
