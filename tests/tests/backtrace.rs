//! Crash reports with backtraces: a program that dies of a signal gets a
//! backtrace of every thread, unwound by kiln on the host from the
//! program's own tables, with file:line where it has line information (C
//! and Rust); a Go panic's frames come from Go's own runtime.

use kiln_tests::{run, sample, Outcome, TIMEOUT};
use std::path::Path;

fn kiln_run(prog: &str, prog_args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut a = vec![
        "run".to_string(),
        sample(prog).display().to_string(),
        "--accel".into(),
        "tcg".into(),
        "--".into(),
    ];
    a.extend(prog_args.iter().map(|s| s.to_string()));
    run(
        Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        &a,
        dir.path(),
        TIMEOUT,
    )
}

/// The frames of thread `tid`'s backtrace in kiln's report.
fn frames(o: &Outcome, tid: u32) -> Vec<String> {
    let head = format!("kiln: backtrace of thread {tid} (");
    o.stderr
        .lines()
        .skip_while(|l| !l.starts_with(&head))
        .skip(1)
        .take_while(|l| !l.starts_with("kiln: "))
        .filter(|l| l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The index of the first frame naming `function` at `file:`, in order
/// after `after`.
fn frame_at(frames: &[String], after: usize, function: &str, file: &str) -> usize {
    frames
        .iter()
        .enumerate()
        .skip(after)
        .find(|(_, f)| f.contains(&format!(" {function}")) && f.contains(&format!("/{file}:")))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no frame {function} at {file} after #{after}: {frames:#?}"))
}

fn three_calls_down(frames: &[String], prefix: &str, file: &str) {
    let inner = frame_at(frames, 0, &format!("{prefix}inner"), file);
    let middle = frame_at(frames, inner + 1, &format!("{prefix}middle"), file);
    let outer = frame_at(frames, middle + 1, &format!("{prefix}outer"), file);
    frame_at(frames, outer + 1, "main", file);
}

#[test]
fn a_c_crash_shows_each_function_with_its_line() {
    let o = kiln_run("crash", &["deep"]);
    assert_eq!(o.status, Some(139), "{}", o.describe());
    assert!(
        o.stderr
            .contains("kiln: backtrace of thread 1 (SIGSEGV, the thread that died):"),
        "{}",
        o.describe()
    );
    let f = frames(&o, 1);
    three_calls_down(&f, "crash_", "crash.c");
    // The faulting frame is named exactly, with its offset.
    assert!(f[0].contains(" crash_inner+0x"), "{f:#?}");
}

#[test]
fn an_abort_through_libc_without_tables_still_reaches_main() {
    // musl's own functions have no unwind tables: kiln scans the stack.
    let o = kiln_run("crash", &["abort"]);
    assert_eq!(o.status, Some(134), "{}", o.describe());
    let f = frames(&o, 1);
    assert!(f.iter().any(|l| l.contains(" abort+")), "{f:#?}");
    let middle = frame_at(&f, 0, "crash_middle", "crash.c");
    let outer = frame_at(&f, middle + 1, "crash_outer", "crash.c");
    frame_at(&f, outer + 1, "main", "crash.c");
}

#[test]
fn every_thread_gets_a_backtrace() {
    let o = kiln_run("crash", &["thread"]);
    assert_eq!(o.status, Some(139), "{}", o.describe());
    three_calls_down(&frames(&o, 1), "crash_", "crash.c");
    assert!(
        o.stderr
            .contains("kiln: backtrace of thread 2 (another thread):"),
        "{}",
        o.describe()
    );
    frame_at(&frames(&o, 2), 0, "crash_sleeper", "crash.c");
}

#[test]
fn a_rust_abort_shows_each_function_with_its_line() {
    // A static PIE: the frames are found at its load address.
    let o = kiln_run("hello-rust", &["abort"]);
    assert_eq!(o.status, Some(134), "{}", o.describe());
    assert!(
        o.stdout.contains("hello-rust: aborting three calls down"),
        "{}",
        o.describe()
    );
    three_calls_down(&frames(&o, 1), "crash_", "main.rs");
}

#[test]
fn a_go_panic_prints_its_frames() {
    let o = kiln_run("go-goroutines", &["panic"]);
    assert_eq!(o.status, Some(2), "{}", o.describe());
    let out = &o.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?}: {}", o.describe()))
    };
    assert!(at("panic: go-goroutines: panic three calls down (3)") < at("goroutine 1 [running]:"));
    let inner = at("main.panicInner(");
    let middle = at("main.panicMiddle(");
    let outer = at("main.panicOuter(");
    assert!(inner < middle && middle < outer && outer < at("main.main()"));
    assert!(out.contains("go-goroutines/main.go:"), "{}", o.describe());
    // Exit status 2 is Go's own: no signal, so no kiln backtrace.
    assert!(!o.stderr.contains("kiln: backtrace"), "{}", o.describe());
}

#[test]
fn a_kernel_panic_prints_the_kernels_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample("hello-c-musl");
    let a = [
        "run",
        prog.to_str().unwrap(),
        "--accel",
        "tcg",
        "--kernel-arg",
        "kiln.panic-test",
    ];
    let o = run(
        Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        &a,
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(125), "{}", o.describe());
    assert!(
        o.stdout
            .contains("kiln: kernel panic: panicked at kernel/src/main.rs"),
        "{}",
        o.describe()
    );
    let lines: Vec<&str> = o
        .stderr
        .lines()
        .skip_while(|l| *l != "kiln: kernel backtrace:")
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" core::panicking::panic_fmt+0x")),
        "{}",
        o.describe()
    );
    assert!(
        lines.iter().any(|l| l.contains(" kmain+0x")),
        "{}",
        o.describe()
    );
}
