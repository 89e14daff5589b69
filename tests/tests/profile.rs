//! `kiln run --profile` on a real program: the report names the sample's
//! own functions in proportion to the time they burn (spin spends two
//! thirds in hot_loop, one third in warm_loop), kernel work is booked to
//! kernel functions, the counters come back, and the flame graph is
//! written. The program's exit status stays kiln's.

use kiln_tests::{root, run, sample, TIMEOUT};
use std::path::Path;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// The percentage of the report line that names `label`.
fn share(report: &str, label: &str) -> Option<f64> {
    report
        .lines()
        .find(|l| l.trim_end().ends_with(label))
        .and_then(|l| l.trim_start().split('%').next())
        .and_then(|p| p.trim().parse().ok())
}

fn profile(machine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("spin.svg");
    let o = run(
        kiln(),
        &[
            "run".to_string(),
            sample("spin").display().to_string(),
            "--machine".into(),
            machine.into(),
            "--accel".into(),
            "tcg".into(),
            "--profile=500".into(),
            "--profile-out".into(),
            svg.display().to_string(),
            "--".into(),
            "900".into(),
        ],
        &root(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("spin done"), "{}", o.describe());
    let report = &o.stderr;
    assert!(
        report.contains("kiln: profile: ") && report.contains("samples at 500 Hz"),
        "{report}"
    );
    let hot = share(report, "hot_loop [spin]").unwrap_or_else(|| panic!("no hot_loop: {report}"));
    let warm =
        share(report, "warm_loop [spin]").unwrap_or_else(|| panic!("no warm_loop: {report}"));
    assert!(
        hot > warm && hot > 30.0 && warm > 10.0,
        "hot_loop {hot}% should be about twice warm_loop {warm}%: {report}"
    );
    assert!(
        report.contains("[kernel]"),
        "kernel work is named: {report}"
    );
    assert!(
        report.contains("syscalls ") && report.contains("irq.timer "),
        "the counters: {report}"
    );
    let graph = std::fs::read_to_string(&svg).expect("the flame graph is written");
    assert!(
        graph.starts_with("<?xml") && graph.contains("hot_loop"),
        "{graph:.200}"
    );
}

#[test]
fn profile_names_the_programs_functions_microvm() {
    profile("microvm");
}

#[test]
fn profile_names_the_programs_functions_q35() {
    profile("q35");
}
