//! `--trace` lines and `--syscall-summary` counts.

use crate::process::Flow;
use crate::testutil::*;

/// The trace, without the mmap calls that set up the tests' scratch memory.
fn trace_text(t: &Booted) -> String {
    let all = String::from_utf8(t.fake.console.trace.clone()).unwrap();
    all.lines()
        .filter(|l| !l.contains(" mmap("))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn calls_are_printed_as_strace_prints_them() {
    let mut t = booted_with("kiln.trace=all");
    let buf = t.scratch(1);
    t.poke(buf, b"hi\n");
    assert_eq!(t.sys(1, &[1, buf, 3]), 3);
    let path = t.poke_str(buf + 100, "/nope");
    assert_eq!(t.sys(257, &[-100i64 as u64, path, 0o2000000]), -2);
    assert_eq!(t.sys(41, &[2, 0o2000001, 0]), 3);
    let text = trace_text(&t);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[pid     1] 0.000000 write(1, \"hi\\n\", 3) = 3");
    assert!(
        lines[1].ends_with(
            "openat(AT_FDCWD, \"/nope\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)"
        ),
        "{text}"
    );
    assert!(
        lines[2].ends_with("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3"),
        "{text}"
    );
    // The program's own output is not mixed with the trace.
    assert_eq!(t.fake.console.out, b"hi\n");
}

#[test]
fn the_set_filters_by_name_and_class() {
    let mut t = booted_with("kiln.trace=%network,getpid");
    let buf = t.scratch(1);
    t.poke(buf, b"x");
    t.sys(1, &[1, buf, 1]);
    t.sys(39, &[]);
    t.sys(41, &[10, 2, 0]);
    let text = trace_text(&t);
    assert!(!text.contains("write("), "{text}");
    assert!(text.contains("getpid() = 1"), "{text}");
    assert!(
        text.contains("socket(AF_INET6, SOCK_DGRAM, 0) = 3"),
        "{text}"
    );
}

#[test]
fn a_call_that_waits_is_unfinished_then_resumed() {
    let mut t = booted_with("kiln.trace=read,write,pipe2");
    let buf = t.scratch(1);
    assert_eq!(t.sys(293, &[buf, 0]), 0);
    let (r, w) = (t.peek_u64(buf) & 0xffff_ffff, t.peek_u64(buf) >> 32);
    let (flow, _) = t.call(0, &[r, buf + 64, 10]);
    assert!(matches!(flow, Flow::Block(_)));
    // Re-issued while still empty: nothing more is printed.
    let (flow, _) = t.call(0, &[r, buf + 64, 10]);
    assert!(matches!(flow, Flow::Block(_)));
    t.poke(buf + 200, b"x");
    assert_eq!(t.call_as(2, 1, &[w, buf + 200, 1]).1, 1);
    assert_eq!(t.sys(0, &[r, buf + 64, 10]), 1);
    let text = trace_text(&t);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with(&format!("pipe2([{r}, {w}], 0) = 0")),
        "{text}"
    );
    assert!(
        lines[1].ends_with(&format!("read({r}, <unfinished ...>")),
        "{text}"
    );
    assert!(lines[2].starts_with("[pid     2]"), "{text}");
    assert!(
        lines[2].ends_with(&format!("write({w}, \"x\", 1) = 1")),
        "{text}"
    );
    assert!(
        lines[3].ends_with("<... read resumed>\"x\", 10) = 1"),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
}

#[test]
fn long_data_is_cut_at_the_string_length() {
    let mut t = booted_with("kiln.trace=write kiln.trace-strlen=4");
    let buf = t.scratch(1);
    t.poke(buf, b"abcdefgh");
    t.sys(1, &[1, buf, 8]);
    assert!(trace_text(&t).contains("write(1, \"abcd\"..., 8) = 8"));
}

#[test]
fn exit_is_the_last_line() {
    let mut t = booted_with("kiln.trace=exit_group");
    let (flow, _) = t.call(231, &[3]);
    assert_eq!(flow, Flow::Exit(3));
    let text = trace_text(&t);
    assert!(
        text.contains("exit_group(3) = ?\n+++ exited with 3 +++\n"),
        "{text}"
    );
}

#[test]
fn the_summary_counts_calls_errors_and_unimplemented_ones() {
    let mut t = booted_with("kiln.syscall-summary");
    t.sys(39, &[]);
    t.sys(39, &[]);
    t.sys(3, &[77]); // close of a bad fd: EBADF
    assert_eq!(t.sys(180, &[]), -38); // nfsservctl: not implemented
    let rows = t.proc.tracing().summary().unwrap();
    assert_eq!(rows[&39].calls, 2);
    assert_eq!(rows[&39].errors, 0);
    assert_eq!((rows[&3].calls, rows[&3].errors), (1, 1));
    assert_eq!((rows[&180].calls, rows[&180].enosys), (1, 1));
    assert_eq!(rows[&3].enosys, 0);
    // Summary alone prints no trace.
    assert!(t.fake.console.trace.is_empty());
}

#[test]
fn bad_trace_options_are_said_on_the_console() {
    let t = booted_with("kiln.trace=opne kiln.trace-time=never");
    let out = String::from_utf8(t.fake.console.out.clone()).unwrap();
    assert!(
        out.contains("kiln: kiln.trace: unknown system call \"opne\""),
        "{out}"
    );
    assert!(out.contains("kiln.trace-time: \"never\""), "{out}");
}
