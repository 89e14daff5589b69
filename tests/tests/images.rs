//! `kiln build` and `kiln inspect` on real programs (no VM needed).

use kiln_tests::{run, sample, TIMEOUT};
use std::path::Path;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

#[test]
fn build_writes_program_named_image_in_cwd_and_inspect_lists_it() {
    let prog = sample("hello-c-musl");
    let size = std::fs::metadata(&prog).unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        kiln(),
        &[
            Path::new("build"),
            &prog,
            Path::new("--"),
            Path::new("one"),
            Path::new("two words"),
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let image = dir.path().join("hello-c-musl.img");
    let len = std::fs::metadata(&image)
        .expect("image in the current directory")
        .len();
    assert_eq!(len % 4096, 0);
    assert!(
        len > (1 << 20) + size,
        "image of {len} bytes cannot hold the program"
    );

    let o = run(kiln(), &[Path::new("inspect"), &image], dir.path(), TIMEOUT);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert!(
        o.stdout.contains("program   /hello-c-musl\n"),
        "{}",
        o.describe()
    );
    assert!(
        o.stdout
            .contains(r#"argv      "hello-c-musl" "one" "two words""#),
        "{}",
        o.describe()
    );
    assert!(o.stdout.contains("PATH=/bin:/usr/bin"), "{}", o.describe());
    let file_line = format!("{size:>10}  /hello-c-musl\n");
    assert!(
        o.stdout.contains(&file_line),
        "no line {file_line:?}: {}",
        o.describe()
    );
    // No stray temporary files.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["hello-c-musl.img"]);
}

#[test]
fn static_pie_and_glibc_programs_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hello-rust", "hello-c-glibc"] {
        let out = dir.path().join(format!("{name}.img"));
        let o = run(
            kiln(),
            &[Path::new("build"), &sample(name), Path::new("-o"), &out],
            dir.path(),
            TIMEOUT,
        );
        assert_eq!(o.status, Some(0), "{name}: {}", o.describe());
        assert!(out.is_file());
    }
}

#[test]
fn inspect_rejects_what_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        kiln(),
        &[Path::new("inspect"), &sample("exit-status")],
        dir.path(),
        TIMEOUT,
    );
    assert!(o.status.is_some_and(|s| s != 0), "{}", o.describe());
    assert!(
        o.stderr.starts_with("kiln: error: ") && o.stderr.contains("not a Kiln image"),
        "{}",
        o.describe()
    );
}

#[test]
fn run_refuses_arguments_for_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("e.img");
    let o = run(
        kiln(),
        &[
            Path::new("build"),
            &sample("exit-status"),
            Path::new("-o"),
            &image,
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let o = run(
        kiln(),
        &[
            Path::new("run"),
            &image,
            Path::new("--accel"),
            Path::new("tcg"),
            Path::new("--"),
            Path::new("3"),
        ],
        dir.path(),
        TIMEOUT,
    );
    kiln_tests::assert_one_error(&o, "arguments are fixed");
}
