//! Stopping a running VM from the host: the first Ctrl-C (SIGINT) to
//! `kiln run` asks the kernel to deliver SIGTERM to the program, and kiln
//! exits with the program's status.

use kiln_tests::{sample, TIMEOUT};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

fn stop_waiting_program(machine: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-cli"))
        .args(["run", "--machine", machine, "--accel", "tcg", "-m", "128M"])
        .arg(sample("wait"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let start = Instant::now();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut seen = Vec::new();
    while out.read_line(&mut line).expect("read console") > 0 {
        seen.push(line.clone());
        if line.trim() == "waiting" {
            break;
        }
        line.clear();
        assert!(start.elapsed() < TIMEOUT, "no 'waiting' line: {seen:?}");
    }
    assert_eq!(
        seen.last().map(|l| l.trim()),
        Some("waiting"),
        "console: {seen:?}"
    );
    // SAFETY: kill(2) on our own child, which has not been reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("read console");
    let status = child.wait().expect("wait for kiln");
    assert_eq!(
        status.code(),
        Some(143),
        "console after the request: {rest}"
    );
    assert!(
        rest.contains("SIGTERM"),
        "console after the request: {rest}"
    );
    assert!(
        !rest.contains("timed out"),
        "console after the request: {rest}"
    );
}

#[test]
fn ctrl_c_delivers_sigterm_on_microvm() {
    stop_waiting_program("microvm");
}

#[test]
fn ctrl_c_delivers_sigterm_on_q35() {
    stop_waiting_program("q35");
}
