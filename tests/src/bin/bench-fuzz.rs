//! Long fuzzing runs of Kiln's input parsers (see `kiln_tests::fuzz`):
//!
//! ```text
//! cargo run -p kiln-tests --release --bin bench-fuzz -- [--seconds N] [--target NAME]...
//! ```
//!
//! Each target runs N seconds (default 60); the exit status is 1 when one
//! found a failure (printed, shrunk), 2 for a bad command line.

use kiln_tests::fuzz::{self, TARGETS};
use std::time::Duration;

fn main() {
    let mut seconds = 60u64;
    let mut targets: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--seconds", Some(n)) => match n.parse() {
                Ok(n) => seconds = n,
                Err(_) => usage(&format!("--seconds {n}: not a number")),
            },
            ("--target", Some(t)) => targets.push(t),
            _ => usage(&format!("unexpected argument {a:?}")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let mut failed = false;
    println!(
        "{:<10} {:>10} {:>8} {:>10}",
        "target", "cases", "seconds", "cases/s"
    );
    for t in &targets {
        match fuzz::run(t, Duration::from_secs(seconds), u64::MAX) {
            Ok(r) => {
                let secs = r.elapsed.as_secs_f64();
                println!(
                    "{:<10} {:>10} {:>8.1} {:>10.0}",
                    r.target,
                    r.cases,
                    secs,
                    r.cases as f64 / secs.max(1e-9)
                );
            }
            Err(e) => {
                println!("{t:<10} FAILED\n{e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "bench-fuzz: {msg}\nusage: bench-fuzz [--seconds N] [--target {}]...",
        TARGETS.join("|")
    );
    std::process::exit(2);
}
