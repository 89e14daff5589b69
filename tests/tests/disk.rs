//! Disks that boot by themselves: `kiln build --bootable` / `--format`,
//! booted through SeaBIOS and OVMF (no -kernel) as a cloud would, checked
//! with qemu-img, read back by `kiln inspect`. Firmware boots are slow on
//! TCG, so there are few: BIOS and UEFI once each, and qcow2, vmdk and vhd.

use kiln_tests::{assert_one_error, run, sample, Outcome, TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

fn kiln_in(dir: &Path, args: &[&str]) -> Outcome {
    run(kiln(), args, dir, TIMEOUT)
}

/// `kiln build PROGRAM FLAGS -o OUT -- ARGS` in `dir`; the output's path.
fn build(dir: &Path, program: &str, flags: &[&str], out: &str, args: &[&str]) -> PathBuf {
    let prog = sample(program);
    let mut argv = vec!["build", prog.to_str().unwrap()];
    argv.extend(flags);
    argv.extend(["-o", out, "--"]);
    argv.extend(args);
    let o = kiln_in(dir, &argv);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let path = dir.join(out);
    assert!(path.is_file(), "{out} not written: {}", o.describe());
    path
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn one_raw_disk_boots_through_bios_uefi_and_kiln_run() {
    let dir = tempfile::tempdir().unwrap();
    let disk = build(
        dir.path(),
        "hello-c-musl",
        &["--bootable"],
        "hello.img",
        &["a", "b c"],
    );
    let len = std::fs::metadata(&disk).unwrap().len();
    assert_eq!(len % (1 << 20), 0, "disk of {len} bytes is not whole MiB");
    let disk = disk.to_str().unwrap();
    // Without --bios/--uefi the raw disk is still an image for the fast path
    // (QEMU loads the kernel on microvm).
    for how in ["--bios", "--uefi", "--machine=microvm"] {
        let o = kiln_in(dir.path(), &["run", disk, how, "--accel", "tcg"]);
        assert_eq!(o.status, Some(0), "{how}: {}", o.describe());
        assert!(
            o.stdout.contains("Hello from C on Kiln!\n"),
            "{how}: {}",
            o.describe()
        );
        assert!(
            o.stdout.contains("argv[2] = b c\n"),
            "{how}: {}",
            o.describe()
        );
    }
}

#[test]
fn qcow2_vmdk_and_vhd_boot_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    for (i, format) in ["qcow2", "vmdk", "vhd"].into_iter().enumerate() {
        let status = (40 + i).to_string();
        let out = format!("exit.{format}");
        let disk = build(
            dir.path(),
            "exit-status",
            &["--format", format],
            &out,
            &[&status],
        );
        // No -kernel: the firmware boots the file in its own format.
        let o = kiln_in(
            dir.path(),
            &["run", disk.to_str().unwrap(), "--accel", "tcg", "-v"],
        );
        assert_eq!(o.status, Some(40 + i as i32), "{format}: {}", o.describe());
        let driver = if format == "vhd" { "vpc" } else { format };
        assert!(
            o.stderr.contains(&format!("format={driver},")) && !o.stderr.contains("-kernel"),
            "{format}: {}",
            o.describe()
        );
    }
}

/// `qemu-img ARGS`: its status and standard output.
fn qemu_img(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (package qemu-utils) runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn every_format_passes_qemu_img_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let formats = [
        ("raw", "raw"),
        ("qcow2", "qcow2"),
        ("vmdk", "vmdk"),
        ("vhd", "vpc"),
        ("vhdx", "vhdx"),
        ("vdi", "vdi"),
    ];
    for (format, driver) in formats {
        let out = format!("d.{format}");
        let disk = build(
            dir.path(),
            "exit-status",
            &["--format", format, "--bootable"],
            &out,
            &["3"],
        );
        let disk = disk.to_str().unwrap();
        let (status, info) = qemu_img(&["info", "-f", driver, "--output=json", disk]);
        assert_eq!(status, Some(0), "{format}: {info}");
        assert!(
            info.contains(&format!("\"format\": \"{driver}\"")),
            "{format}: {info}"
        );
        let (status, check) = qemu_img(&["check", "-f", driver, disk]);
        // 63: the format has no check (raw, vpc); everything else must pass.
        let unsupported = status == Some(63) && check.contains("does not support checks");
        assert!(
            status == Some(0) || (unsupported && ["raw", "vpc"].contains(&driver)),
            "{format}: qemu-img check: {status:?} {check}"
        );
        let o = kiln_in(dir.path(), &["inspect", disk]);
        assert_eq!(o.status, Some(0), "{format}: {}", o.describe());
        for want in [
            format!("disk      {format} ("),
            "boots by itself: BIOS and UEFI".to_string(),
            "program   /exit-status\n".to_string(),
            r#"argv      "exit-status" "3""#.to_string(),
        ] {
            assert!(
                o.stdout.contains(&want),
                "{format}: no {want:?}: {}",
                o.describe()
            );
        }
    }

    // GCE: a gzip'd GNU tar whose one member is a sparse disk.raw of whole GiB.
    let gce = build(
        dir.path(),
        "exit-status",
        &["--format", "gce"],
        "app.tar.gz",
        &[],
    );
    let tar = Command::new("gzip")
        .arg("-dc")
        .arg(&gce)
        .output()
        .expect("gzip runs");
    assert!(tar.status.success());
    let h = &tar.stdout[..512];
    assert_eq!(&h[..9], b"disk.raw\0");
    assert_eq!(&h[257..265], b"ustar  \0", "not a GNU tar header");
    assert_eq!(h[156], b'S', "disk.raw is not stored sparse");
    let x = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(&gce)
        .arg("-C")
        .arg(x.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let raw = x.path().join("disk.raw");
    assert_eq!(std::fs::metadata(&raw).unwrap().len() % (1 << 30), 0);
    let (status, info) = qemu_img(&["info", "-f", "raw", raw.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{info}");
    let o = kiln_in(dir.path(), &["inspect", gce.to_str().unwrap()]);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert!(
        o.stdout.contains("disk      gce (1.0 GiB)"),
        "{}",
        o.describe()
    );

    // A plain image says it needs kiln run.
    let plain = build(dir.path(), "exit-status", &[], "plain.img", &[]);
    let o = kiln_in(dir.path(), &["inspect", plain.to_str().unwrap()]);
    assert!(
        o.stdout.contains("boots with kiln run (no boot loader"),
        "{}",
        o.describe()
    );
    // ... and cannot be booted through firmware.
    let o = kiln_in(dir.path(), &["run", plain.to_str().unwrap(), "--bios"]);
    assert_one_error(&o, "build it with `kiln build --bootable`");
}

#[test]
fn bad_formats_and_unwritable_outputs_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample("hello-c-musl");
    let prog = prog.to_str().unwrap();
    let o = kiln_in(dir.path(), &["build", prog, "--format", "iso"]);
    assert_one_error(
        &o,
        "unknown disk format; use one of raw, qcow2, vmdk, vhd, vhdx, vdi, gce",
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));

    std::fs::write(dir.path().join("file"), b"x").unwrap();
    for out in ["missing/app.qcow2", "file/app.vmdk"] {
        let o = kiln_in(dir.path(), &["build", prog, "--format", "qcow2", "-o", out]);
        assert_one_error(&o, "cannot create a file in");
        assert_eq!(listing(dir.path()), ["file"], "{out}");
    }
    // A directory as the output: nothing is written into it.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let o = kiln_in(dir.path(), &["build", prog, "--bootable", "-o", "sub"]);
    assert_one_error(&o, "is a directory");
    assert!(listing(&dir.path().join("sub")).is_empty());
    // The default name follows the format.
    let o = kiln_in(dir.path(), &["build", prog, "--format", "vdi"]);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert_eq!(listing(dir.path()), ["file", "hello-c-musl.vdi", "sub"]);
}
