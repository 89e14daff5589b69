//! File-tree benchmark: for trees of 10, 1000 and 10000 small files, the
//! median wall time of `kiln build` (the fs-walk-c sample plus the tree
//! under /srv) and of `kiln run IMAGE` (TCG, start to exit; the program
//! counts every file of the tree and reads one), each also as a ratio to
//! the 10-file case.
//!
//!     cargo run -p kiln-tests --release --bin bench-files -- [--runs N] [--machine microvm|q35]

use kiln::image::human_size;
use kiln_tests::AS_KILN;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIZES: &[usize] = &[10, 1000, 10_000];
/// Files per directory of the generated trees.
const PER_DIR: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    kiln_tests::run_as_kiln_if_asked();
    let mut runs = 3usize;
    let mut machine = "microvm".to_string();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next().map(String::as_str)) {
            ("--runs", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                runs = n.parse().unwrap_or(3)
            }
            ("--machine", Some(m @ ("microvm" | "q35"))) => machine = m.to_string(),
            _ => {
                eprintln!("usage: bench-files [--runs N] [--machine microvm|q35]");
                std::process::exit(2);
            }
        }
    }
    let me = std::env::current_exe().expect("own path");
    let program = kiln_tests::sample("fs-walk-c");
    let work = tempfile::tempdir().expect("temporary directory");

    println!("fs-walk-c with N files under /srv, {machine}, TCG, {runs} runs per figure, medians");
    println!(
        "{:>6}  {:>10}  {:>10} {:>7}  {:>12} {:>7}",
        "files", "image", "build", "vs 10", "boot-to-exit", "vs 10"
    );
    let mut base: Option<(Duration, Duration)> = None;
    for &n in SIZES {
        let tree = work.path().join(format!("tree-{n}"));
        make_tree(&tree, n);
        let image = work.path().join(format!("files-{n}.img"));
        let dir_arg = format!("{}:/srv", tree.display());
        let build = median(runs, || {
            let _ = std::fs::remove_file(&image);
            let mut cmd = Command::new(&me);
            cmd.arg(AS_KILN)
                .arg("build")
                .arg(&program)
                .args(["--dir", &dir_arg, "-o"])
                .arg(&image)
                .args(["--", "count", "/srv", "cat", "/srv/d000/f000.txt"]);
            timed(&mut cmd, "")
        });
        let want = format!("count /srv: {n} files");
        let boot = median(runs, || {
            let mut cmd = Command::new(&me);
            cmd.arg(AS_KILN)
                .arg("run")
                .arg(&image)
                .args(["--accel", "tcg", "--machine", &machine]);
            timed(&mut cmd, &want)
        });
        let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
        let (b0, r0) = *base.get_or_insert((build, boot));
        println!(
            "{n:>6}  {:>10}  {:>8.1}ms {:>6.1}x  {:>10.1}ms {:>6.1}x",
            human_size(size),
            ms(build),
            ms(build) / ms(b0),
            ms(boot),
            ms(boot) / ms(r0)
        );
    }
}

/// `n` files of about 40 bytes, PER_DIR to a directory.
fn make_tree(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("d{:03}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&dir).expect("create tree");
        }
        std::fs::write(
            dir.join(format!("f{:03}.txt", i % PER_DIR)),
            format!("file {i} of the benchmark tree\n"),
        )
        .expect("write tree");
    }
}

/// Run `cmd`, check that it succeeds (and prints `want` when not empty),
/// and return how long it took.
fn timed(cmd: &mut Command, want: &str) -> Duration {
    cmd.stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().expect("start kiln");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains(want) {
        eprintln!(
            "bench-files: {cmd:?} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    took
}

fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
