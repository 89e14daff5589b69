//! `kiln run --gdb`: QEMU's gdb stub holds the VM, kiln prints a gdb
//! command line, and that command (run here in batch mode) stops at the
//! program's entry with the program's symbols, for a fixed-address program
//! and for a position-independent one.

use kiln_tests::sample;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stops_at_entry(prog: &str) {
    let port = free_port();
    let mut kiln = Command::new(env!("CARGO_BIN_EXE_kiln-cli"))
        .args(["run", sample(prog).to_str().unwrap(), "--accel", "tcg"])
        .arg(format!("--gdb={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = kiln.stderr.take().unwrap();
    // The command is the line after "kiln: to stop at the program's entry".
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        while let Some(Ok(l)) = lines.next() {
            if l.trim_start().starts_with("gdb -q ") {
                let _ = tx.send(Ok(l.trim().to_string()));
                return;
            }
            seen.push(l);
        }
        let _ = tx.send(Err(seen.join("\n")));
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(l)) => l,
        other => {
            let _ = kiln.kill();
            panic!("no gdb command from kiln: {other:?}");
        }
    };
    assert!(
        line.contains(&format!("target remote 127.0.0.1:{port}")),
        "{line}"
    );
    // Run it as a user would, in batch mode, and ask where it stopped.
    let script = format!(
        "{} -ex 'info symbol $pc' -ex kill",
        line.replacen("gdb -q ", "gdb -q -batch ", 1)
    );
    let started = Instant::now();
    let gdb = Command::new("timeout")
        .args(["60", "sh", "-c", &script])
        .output()
        .expect("gdb (Debian package gdb) must be installed");
    let out =
        String::from_utf8_lossy(&gdb.stdout).into_owned() + &String::from_utf8_lossy(&gdb.stderr);
    let _ = kiln.kill();
    let _ = kiln.wait();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gdb timed out: {out}"
    );
    assert!(out.contains("Breakpoint 1, 0x"), "{out}");
    assert!(
        out.contains("_start in section .text of ") && out.contains("program.elf"),
        "{out}"
    );
}

#[test]
fn gdb_stops_at_the_entry_of_a_fixed_address_program() {
    stops_at_entry("hello-c-musl");
}

#[test]
fn gdb_stops_at_the_entry_of_a_pie_at_its_load_address() {
    stops_at_entry("hello-rust");
}
