//! The personality's layers, checked on its sources: parts never reach up
//! to the process or the handlers, and the process never reaches up to the
//! handlers. (The crates below, kiln-abi and kiln-image, are kept apart by
//! the compiler.) See docs/architecture.md.

use std::fs;
use std::path::{Path, PathBuf};

/// The parts: memory, files, network, threads and the small parts beside
/// them. They may use each other, the platform and the vocabulary.
const PARTS: &[&str] = &[
    "mm",
    "vfs",
    "net",
    "thread",
    "ready.rs",
    "cred.rs",
    "limits.rs",
    "loader.rs",
    "imagefs.rs",
    "stack.rs",
    "symbols.rs",
    "tracing.rs",
    "fd.rs",
    "platform.rs",
    "fallible.rs",
];

/// What sits above the parts: the process, and above it the handlers.
const ABOVE_PARTS: &[&str] = &[
    "crate::process",
    "crate::sys",
    "crate::call",
    "crate::table",
    "crate::dispatch",
    "crate::trace::",
];
/// What sits above the process.
const ABOVE_PROCESS: &[&str] = &[
    "crate::sys",
    "crate::call",
    "crate::table",
    "crate::dispatch",
    "crate::trace::",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every .rs file at or below `path`, but test modules.
fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for e in fs::read_dir(path).expect("read source dir") {
            sources(&e.expect("dir entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        && path.file_name().is_some_and(|n| n != "tests.rs")
    {
        out.push(path.to_path_buf());
    }
}

/// The code of a file without its `#[cfg(test)]` module (at the end).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("read source");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// (file, line, forbidden path) for every use of `forbidden` under `roots`.
fn violations(roots: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for r in roots {
        let p = src().join(r);
        assert!(
            p.exists(),
            "{} is missing: update the layer list",
            p.display()
        );
        sources(&p, &mut files);
    }
    let mut found = Vec::new();
    for f in files {
        for (n, line) in code(&f).lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for bad in forbidden {
                // `crate::sys` but not `crate::symbols`.
                let hit = line.match_indices(bad).any(|(i, _)| {
                    let next = line[i + bad.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    found.push(format!("{}:{}: {bad}", f.display(), n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn parts_do_not_reach_up() {
    let v = violations(PARTS, ABOVE_PARTS);
    assert!(
        v.is_empty(),
        "parts import the process or the handlers:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_process_does_not_reach_the_handlers() {
    let v = violations(&["process"], ABOVE_PROCESS);
    assert!(
        v.is_empty(),
        "the process imports the handlers:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_check_sees_a_violation() {
    // The checker itself: the handlers do use the process.
    assert!(!violations(&["sys"], &["crate::call"]).is_empty());
}
