//! `kiln run --trace` and `--syscall-summary` on real programs: the trace
//! names the calls with their decoded arguments and errnos, goes to
//! standard error or a file and leaves the program's output alone; the
//! summary counts the calls and lists those that are not implemented.

use kiln_tests::{run, sample, Outcome, TIMEOUT};
use std::path::Path;

fn kiln(args: &[String], cwd: &Path) -> Outcome {
    run(
        Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        args,
        cwd,
        TIMEOUT,
    )
}

fn args(prog: &str, flags: &[&str], prog_args: &[&str]) -> Vec<String> {
    let mut a = vec![
        "run".to_string(),
        sample(prog).display().to_string(),
        "--accel".into(),
        "tcg".into(),
    ];
    a.extend(flags.iter().map(|s| s.to_string()));
    a.push("--".into());
    a.extend(prog_args.iter().map(|s| s.to_string()));
    a
}

/// The program's lines: kiln's own notes left out.
fn program_output(o: &Outcome) -> Vec<&str> {
    o.stdout
        .lines()
        .filter(|l| !l.starts_with("kiln: "))
        .collect()
}

#[test]
fn trace_decodes_arguments_and_errnos_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let walk = ["open", "/nope", "open", "/etc/hosts"];
    let plain = kiln(&args("fs-walk-c", &[], &walk), dir.path());
    let o = kiln(
        &args("fs-walk-c", &["--trace=%file,close,exit_group"], &walk),
        dir.path(),
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let lines: Vec<&str> = o.stderr.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.starts_with("[pid     1] ") && l.contains(needle))
            .unwrap_or_else(|| panic!("no trace line with {needle:?}: {}", o.describe()))
    };
    assert!(find("open(\"/nope\", ").ends_with(") = -1 ENOENT (No such file or directory)"));
    assert!(find("O_CLOEXEC").contains("O_RDONLY"));
    assert!(find("open(\"/etc/hosts\", ").ends_with(") = 3"));
    assert!(find("close(3)").ends_with(" = 0"));
    assert!(lines.contains(&"+++ exited with 0 +++"), "{}", o.describe());
    // Only the set is traced, and the program's output is what it is
    // without a trace.
    assert!(!o.stderr.contains("writev("), "{}", o.describe());
    assert!(!o.stdout.contains("[pid "), "{}", o.describe());
    assert_eq!(program_output(&o), program_output(&plain));
}

#[test]
fn trace_file_takes_the_lines_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.txt");
    let o = kiln(
        &args(
            "exit-status",
            &[
                "--trace-file",
                file.to_str().unwrap(),
                "--trace-time",
                "wall",
            ],
            &["7"],
        ),
        dir.path(),
    );
    assert_eq!(o.status, Some(7), "{}", o.describe());
    let trace = std::fs::read_to_string(&file).unwrap();
    let last = trace.lines().rev().nth(1).unwrap_or_default();
    // `[pid     1] HH:MM:SS.uuuuuu exit_group(7) = ?`
    let stamp = last.split(' ').nth(6).unwrap_or_default();
    assert!(
        last.ends_with("exit_group(7) = ?") && stamp.len() == 15 && &stamp[2..3] == ":",
        "{trace}"
    );
    assert!(trace.ends_with("+++ exited with 7 +++\n"), "{trace}");
    assert!(!o.stderr.contains("[pid "), "{}", o.describe());

    let bad = dir.path().join("no-such-dir").join("trace.txt");
    let o = kiln(
        &args(
            "exit-status",
            &["--trace-file", bad.to_str().unwrap()],
            &["7"],
        ),
        dir.path(),
    );
    kiln_tests::assert_one_error(&o, "--trace-file");
    assert!(!bad.exists());
    let o = kiln(&args("exit-status", &["--trace=opne"], &["7"]), dir.path());
    kiln_tests::assert_one_error(&o, "unknown system call \"opne\"");
    assert_eq!(o.status, Some(2), "{}", o.describe());
}

#[test]
fn summary_counts_calls_and_lists_unimplemented_ones_first() {
    let dir = tempfile::tempdir().unwrap();
    let o = kiln(
        &args("fuzz", &["--syscall-summary"], &["400", "7"]),
        dir.path(),
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let lines: Vec<&str> = o.stderr.lines().collect();
    let head = lines
        .iter()
        .position(|l| *l == "kiln: system calls that returned ENOSYS (not implemented):")
        .unwrap_or_else(|| panic!("no ENOSYS list: {}", o.describe()));
    // `  name (nr): N call(s)`, each a call the console named as unimplemented.
    let first = lines[head + 1];
    let name = first.trim().split(' ').next().unwrap();
    assert!(first.contains("): ") && first.contains(" call"), "{first}");
    assert!(
        o.stdout
            .contains(&format!("kiln: unimplemented syscall {name} (")),
        "{}",
        o.describe()
    );
    let table = lines
        .iter()
        .position(|l| l.starts_with("% time     seconds  usecs/call     calls    errors syscall"))
        .unwrap_or_else(|| panic!("no table: {}", o.describe()));
    assert!(table > head);
    let total = lines
        .iter()
        .find(|l| l.ends_with(" total"))
        .unwrap_or_else(|| panic!("no total: {}", o.describe()));
    let calls: u64 = total.split_whitespace().nth(3).unwrap().parse().unwrap();
    // The random calls the program says it made, and its own around them.
    let made: u64 = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fuzz: ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no fuzz line: {}", o.describe()));
    assert!(made > 100 && calls > made, "{total} after {made} calls");
}
