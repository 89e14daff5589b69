//! A bounded fuzzing run of every input parser (src/fuzz.rs): a few
//! seconds each, on random damage to valid seeds. `bench-fuzz` runs them
//! for longer. A failure names the smallest input proptest found.

use kiln_tests::fuzz;
use std::time::Duration;

/// Per target in `cargo test`; KILN_FUZZ_SECONDS changes it.
fn budget() -> Duration {
    let secs = std::env::var("KILN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

fn fuzz(target: &str) {
    match fuzz::run(target, budget(), 20_000) {
        Ok(r) => assert!(r.cases > 0, "{target}: no case ran"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn image_reader() {
    fuzz("image");
}

#[test]
fn manifest_parser() {
    fuzz("manifest");
}

#[test]
fn fs_index_parser() {
    fuzz("fs-index");
}

#[test]
fn config_parser() {
    fuzz("config");
}

#[test]
fn elf_checks() {
    fuzz("elf");
}
