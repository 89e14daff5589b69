//! Kernel build: the linker script, and the vDSO (kernel/vdso/vdso.c), built
//! with the host C compiler as a freestanding shared object and embedded.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
    println!("cargo:rerun-if-changed={dir}/linker.ld");
    build_vdso(&PathBuf::from(&dir));
}

fn build_vdso(dir: &std::path::Path) {
    let src = dir.join("vdso/vdso.c");
    let lds = dir.join("vdso/vdso.lds");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", lds.display());
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("vdso.so");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-fPIC",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-ffreestanding",
            "-nostdlib",
            "-shared",
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--no-undefined",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--build-id=none",
        ])
        .arg(format!("-Wl,-T,{}", lds.display()))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` for the vDSO: {e}"));
    assert!(status.success(), "building the vDSO with `{cc}` failed");
}
