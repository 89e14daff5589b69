//! Image build benchmark for dynamically linked programs: the median wall
//! time of `kiln build` (process start to exit, image written) of the
//! host's python3 and node, and of nginx, redis-server and dnsmasq where
//! installed, with the image size, its number of files and of shared
//! objects the loader in the VM will find.
//!
//!     cargo run -p kiln-tests --release --bin bench-build -- [--runs N] [PROGRAM...]

use kiln::image::{human_size, Image};
use kiln_tests::AS_KILN;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Measured unless programs are named on the command line; missing ones
/// are skipped.
const PROGRAMS: &[&str] = &[
    "/usr/bin/python3",
    "/usr/bin/node",
    "/usr/sbin/nginx",
    "/usr/bin/redis-server",
    "/usr/sbin/dnsmasq",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    kiln_tests::run_as_kiln_if_asked();
    let mut runs = 5usize;
    let mut programs: Vec<String> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => match it.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0) {
                Some(n) => runs = n,
                None => usage(),
            },
            p if p.starts_with('/') => programs.push(p.to_string()),
            _ => usage(),
        }
    }
    let explicit = !programs.is_empty();
    if !explicit {
        programs = PROGRAMS.iter().map(|p| p.to_string()).collect();
    }
    let me = std::env::current_exe().expect("own path");
    let work = tempfile::tempdir().expect("temporary directory");

    println!("kiln build, {runs} runs per program, median (min-max)");
    println!(
        "{:<22} {:>10} {:>7} {:>8} {:>22}",
        "program", "image", "files", "shared", "build"
    );
    for program in &programs {
        if !Path::new(program).exists() {
            if explicit {
                eprintln!("bench-build: {program}: not found");
                std::process::exit(1);
            }
            println!("{program:<22} (not installed)");
            continue;
        }
        let image = work.path().join("bench.img");
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let _ = std::fs::remove_file(&image);
                let mut cmd = Command::new(&me);
                cmd.arg(AS_KILN)
                    .arg("build")
                    .arg(program)
                    .arg("-o")
                    .arg(&image);
                timed(&mut cmd)
            })
            .collect();
        times.sort();
        let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
        let (files, shared) = match Image::open(&image) {
            Ok(img) => (
                img.file_count(),
                kiln::inspect::shared_libraries(&img).map_or(0, |l| l.objects),
            ),
            Err(e) => {
                eprintln!("bench-build: {e:#}");
                std::process::exit(1);
            }
        };
        println!(
            "{program:<22} {:>10} {files:>7} {shared:>8} {:>8.0} ms ({:.0}-{:.0})",
            human_size(size),
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1]),
        );
    }
}

fn usage() -> ! {
    eprintln!("usage: bench-build [--runs N] [/PATH/TO/PROGRAM...]");
    std::process::exit(2);
}

/// Run `cmd`, check that it succeeds, and return how long it took.
fn timed(cmd: &mut Command) -> Duration {
    cmd.stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().expect("start kiln");
    let took = start.elapsed();
    if !out.status.success() {
        eprintln!(
            "bench-build: {cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
