//! Embeds the kernel in `kiln`: builds `kiln-kernel` for `x86_64-unknown-none`
//! with a nested cargo and hands its path to `include_bytes!` through the
//! `KILN_KERNEL` environment variable.
//!
//! Developer escape hatch: `KILN_KERNEL_OVERRIDE=/path/to/kernel.elf` embeds
//! that file instead of building the kernel (for working on the packager
//! with a stand-in kernel).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables cargo sets for build scripts that must not leak into the
/// nested build (they would change its flags, target or output place).
const LEAKY: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
];
const LEAKY_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
];

fn main() {
    println!("cargo:rerun-if-env-changed=KILN_KERNEL_OVERRIDE");
    if let Some(path) = env::var_os("KILN_KERNEL_OVERRIDE") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            fail(&format!(
                "KILN_KERNEL_OVERRIDE={} is not a file",
                path.display()
            ));
        }
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env=KILN_KERNEL={}", path.display());
        return;
    }

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("packager/ sits in the workspace root")
        .to_path_buf();
    for watched in ["kernel", "syscall", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = root.join("target").join("kernel");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "-p",
            "kiln-kernel",
            "--release",
            "--target",
            "x86_64-unknown-none",
            "--target-dir",
        ])
        .arg(&target_dir)
        .stdout(Stdio::null());
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if LEAKY.contains(&key) || LEAKY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the kernel (kiln-kernel) failed ({status}); see the errors above"
        )),
        Err(e) => fail(&format!("could not run cargo to build the kernel: {e}")),
    }
    let kernel = target_dir
        .join("x86_64-unknown-none")
        .join("release")
        .join("kiln-kernel");
    if !Path::new(&kernel).is_file() {
        fail(&format!(
            "the kernel build succeeded but {} is missing",
            kernel.display()
        ));
    }
    println!("cargo:rustc-env=KILN_KERNEL={}", kernel.display());
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
