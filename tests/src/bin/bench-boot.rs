//! Boot-time benchmark: for the hello samples, the image size, the kernel
//! size and the median wall time of `kiln run IMAGE` (start to exit), next
//! to the median wall time of QEMU booting the same kernel in probe mode
//! (`kiln.probe`: it exits at once), the floor of the machine, measured in
//! the same run with the same machine flags. With `--linux DIR` (from
//! scripts/linux-guest.sh) the q35 rows also time the same program as the
//! only program of a Linux VM under the same QEMU, start to exit. With
//! `--baseline KILN` (an earlier build of `kiln`) every row also times the
//! same sample packed and run by that build, alternating run by run with
//! this one, and prints the ratio this / baseline.
//!
//!     cargo run -p kiln-tests --release --bin bench-boot -- [--runs N] [--machine microvm|q35] [--linux DIR] [--baseline KILN]

use kiln::image::{human_size, write_image};
use kiln::qemu::{self, Accel, Launch, Machine};
use kiln::spec::{resolve, BuildArgs};
use kiln_tests::linux_guest::LinuxGuest;
use kiln_tests::AS_KILN;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLES: &[&str] = &["hello-rust", "hello-c-musl", "hello-c-glibc"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    kiln_tests::run_as_kiln_if_asked();
    let mut runs = 5usize;
    let mut machines = vec![Machine::Microvm, Machine::Q35];
    let mut linux_dir = None;
    let mut baseline: Option<std::path::PathBuf> = None;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next().map(String::as_str)) {
            ("--runs", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                runs = n.parse().unwrap_or(5)
            }
            ("--machine", Some("microvm")) => machines = vec![Machine::Microvm],
            ("--machine", Some("q35")) => machines = vec![Machine::Q35],
            ("--linux", Some(dir)) => linux_dir = Some(std::path::PathBuf::from(dir)),
            ("--baseline", Some(kiln)) => baseline = Some(std::path::PathBuf::from(kiln)),
            _ => {
                eprintln!(
                    "usage: bench-boot [--runs N] [--machine microvm|q35] [--linux DIR] [--baseline KILN]"
                );
                std::process::exit(2);
            }
        }
    }
    let work = tempfile::tempdir().expect("temporary directory");
    let me = std::env::current_exe().expect("own path");
    let linux = linux_dir.map(|dir| {
        LinuxGuest::new(&dir, work.path()).unwrap_or_else(|e| {
            eprintln!("bench-boot: Linux guest: {e} (run scripts/linux-guest.sh)");
            std::process::exit(2);
        })
    });
    let kernel_path = work.path().join("kernel.elf");
    std::fs::write(&kernel_path, kiln::KERNEL).expect("write kernel");

    let mut images = Vec::new();
    for name in SAMPLES {
        let spec = resolve(Some(&kiln_tests::sample(name)), &[], &BuildArgs::default())
            .expect("load sample");
        let image = work.path().join(format!("{name}.img"));
        let header = write_image(&spec.tree, &spec.manifest, kiln::KERNEL, &image, false)
            .expect("write image");
        let base_image = baseline.as_ref().map(|kiln| {
            let path = work.path().join(format!("{name}.baseline.img"));
            let status = quiet(
                Command::new(kiln)
                    .arg("build")
                    .arg(kiln_tests::sample(name))
                    .arg("-o")
                    .arg(&path),
            )
            .status()
            .expect("run the baseline kiln");
            if !status.success() {
                eprintln!("bench-boot: the baseline kiln could not build {name}");
                std::process::exit(2);
            }
            path
        });
        images.push((name, image, header.image_size, base_image));
    }

    println!(
        "kernel: {} ({} bytes), TCG, {runs} runs per figure, medians",
        human_size(kiln::KERNEL.len() as u64),
        kiln::KERNEL.len()
    );
    println!(
        "{:<8} {:<14} {:>10} {:>12} {:>12} {:>7} {:>12} {:>8} {:>12} {:>8}",
        "machine",
        "sample",
        "image",
        "kiln run",
        "qemu floor",
        "ratio",
        "linux vm",
        "vs linux",
        "baseline",
        "vs base"
    );
    for machine in machines {
        let machine_name = match machine {
            Machine::Microvm => "microvm",
            Machine::Q35 => "q35",
        };
        let floor = floor(machine, &kernel_path, work.path(), runs);
        for (name, image, size, base_image) in &images {
            let mut failures = Vec::new();
            let run = |kiln: &mut Command, image: &Path, failures: &mut Vec<Option<i32>>| {
                kiln.args(["run", "--accel", "tcg", "--machine", machine_name])
                    .arg(image);
                let start = Instant::now();
                let status = quiet(kiln).status().expect("run kiln");
                if !status.success() {
                    failures.push(status.code());
                }
                start.elapsed()
            };
            // This build and the baseline take turns, run by run.
            let (mut mine, mut theirs) = (Vec::new(), Vec::new());
            for i in 0..runs {
                let mut cmd = Command::new(&me);
                cmd.arg(AS_KILN);
                if let (Some(kiln), Some(img)) = (&baseline, base_image) {
                    // Who goes first alternates, so that drift shows in neither.
                    if i.is_multiple_of(2) {
                        mine.push(run(&mut cmd, image, &mut failures));
                        theirs.push(run(&mut Command::new(kiln), img, &mut failures));
                    } else {
                        theirs.push(run(&mut Command::new(kiln), img, &mut failures));
                        mine.push(run(&mut cmd, image, &mut failures));
                    }
                } else {
                    mine.push(run(&mut cmd, image, &mut failures));
                }
            }
            let kiln_run = median_of(mine);
            let base = (!theirs.is_empty()).then(|| median_of(theirs));
            let ratio = match floor {
                Some(f) => format!("{:.1}x", kiln_run.as_secs_f64() / f.as_secs_f64()),
                None => "-".into(),
            };
            let peer = match (&linux, machine) {
                (Some(g), Machine::Q35) => linux_boot(g, name, runs),
                _ => None,
            };
            let vs = peer.map_or("-".into(), |p| {
                format!("{:.3}", kiln_run.as_secs_f64() / p.as_secs_f64())
            });
            let vs_base = base.map_or("-".into(), |b| {
                format!("{:.3}", kiln_run.as_secs_f64() / b.as_secs_f64())
            });
            println!(
                "{machine_name:<8} {name:<14} {:>10} {:>12} {:>12} {ratio:>7} {:>12} {vs:>8} {:>12} {vs_base:>8}{}",
                human_size(*size),
                ms(kiln_run),
                floor.map_or("no answer".into(), ms),
                peer.map_or("-".into(), ms),
                base.map_or("-".into(), ms),
                if failures.is_empty() {
                    String::new()
                } else {
                    format!("  (failed runs, statuses {failures:?})")
                }
            );
        }
    }
}

/// Median wall time of QEMU booting the kernel with `kiln.probe`, or `None`
/// when the kernel does not answer the probe.
fn floor(machine: Machine, kernel: &Path, dir: &Path, runs: usize) -> Option<Duration> {
    let ctl = dir.join("floor-ctl");
    let launch = Launch {
        machine,
        accel: Accel::Tcg,
        memory: "256M".into(),
        kernel: kernel.to_path_buf(),
        image: None,
        ctl: ctl.clone(),
        append: Some(qemu::PROBE_CMDLINE.into()),
        requests: None,
        trace: None,
        serial: None,
        net: None,
        reboot: false,
        gdb: None,
        firmware: None,
    };
    let mut answered = true;
    let t = median(runs, || {
        let _ = std::fs::remove_file(&ctl);
        let mut cmd = Command::new(qemu::qemu_binary());
        cmd.args(qemu::args(&launch));
        quiet(&mut cmd).status().expect("run qemu");
        answered &= qemu::parse_ctl(&std::fs::read_to_string(&ctl).unwrap_or_default())
            == qemu::Verdict::ProbeOk;
    });
    answered.then_some(t)
}

/// Median wall time of a Linux VM (q35, TCG) running `name` to its exit.
fn linux_boot(g: &LinuxGuest, name: &str, runs: usize) -> Option<Duration> {
    let program = kiln_tests::sample(name);
    let mut ok = true;
    let t = median(runs, || match g.command("q35", &program, &[], &[], &[]) {
        Ok(mut cmd) => ok &= finishes(quiet(&mut cmd), Duration::from_secs(120)),
        Err(e) => {
            eprintln!("bench-boot: Linux guest: {e}");
            ok = false;
        }
    });
    ok.then_some(t)
}

/// Run `cmd`; true when it exits successfully within `limit` (else it is
/// killed).
fn finishes(cmd: &mut Command, limit: Duration) -> bool {
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let start = Instant::now();
    while start.elapsed() < limit {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    median_of(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
