//! Stopping a running VM from the host: the first Ctrl-C (SIGINT) to
//! `kiln run` asks the kernel to deliver SIGTERM to the program, and kiln
//! exits with the program's status.

use kiln_tests::{sample, TIMEOUT};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

fn stop_waiting_program(machine: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-cli"))
        .args(["run", "--machine", machine, "--accel", "tcg", "-m", "128M"])
        .arg(sample("wait"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    // The pipes are read on threads of their own, so that the waits below
    // time out even when the VM prints nothing.
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let waiting = line.trim() == "waiting";
                seen.push(line);
                if waiting {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => give_up(
                &mut child,
                &err,
                &format!("no 'waiting' line within {TIMEOUT:?}; console: {seen:?}"),
            ),
        }
    }
    assert_eq!(
        seen.last().map(|l| l.trim()),
        Some("waiting"),
        "console: {seen:?}"
    );
    signal(&child, libc::SIGINT);
    let deadline = Instant::now() + TIMEOUT;
    let mut rest = String::new();
    loop {
        match out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => rest.push_str(&line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => give_up(
                &mut child,
                &err,
                &format!(
                    "the console did not end within {TIMEOUT:?} of Ctrl-C; console after the request: {rest}"
                ),
            ),
        }
    }
    let Some(status) = wait_until(&mut child, deadline) else {
        give_up(
            &mut child,
            &err,
            &format!(
                "kiln did not exit within {TIMEOUT:?} of Ctrl-C; console after the request: {rest}"
            ),
        )
    };
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

/// The lines of `r` (with their newlines) as they come; the channel closes
/// at the end of the stream.
fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    rx
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; `child` has not
    // been reaped, so its pid is still its own.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// The child's status once it has exited, or None at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait for kiln") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop kiln (Ctrl-C twice stops the VM and lets kiln clean up; SIGKILL if
/// that does not end it) and fail with `why` and what kiln said on stderr.
fn give_up(child: &mut Child, err: &Receiver<String>, why: &str) -> ! {
    signal(child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    signal(child, libc::SIGINT);
    if wait_until(child, Instant::now() + Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut stderr = String::new();
    let until = Instant::now() + Duration::from_secs(2);
    while let Ok(line) = err.recv_timeout(until.saturating_duration_since(Instant::now())) {
        stderr.push_str(&line);
    }
    panic!("{why}\n--- kiln's stderr ---\n{stderr}");
}

#[test]
fn ctrl_c_delivers_sigterm_on_microvm() {
    stop_waiting_program("microvm");
}

#[test]
fn ctrl_c_delivers_sigterm_on_q35() {
    stop_waiting_program("q35");
}
