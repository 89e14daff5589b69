//! Images that are damaged, oversized or built elsewhere: `kiln inspect`
//! and `kiln run` refuse a bad header or kernel with one `kiln: error:`
//! line before QEMU starts, and the kernel refuses what only it can judge
//! (memory, the program's ELF file) with exit status 126 and one console
//! line, never a panic. A program whose segment asks for write and execute
//! runs, as on Linux.

use kiln_image::{Header, HEADER_OFFSET, HEADER_SIZE};
use kiln_tests::elf::{tiny_program, PF_R, PF_W, PF_X};
use kiln_tests::{assert_one_error, run, Outcome, TIMEOUT};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// `kiln build` of the tiny write+execute program into `dir/tiny.img`.
fn tiny_image(dir: &Path) -> PathBuf {
    let prog = dir.join("tiny");
    std::fs::write(&prog, tiny_program(PF_R | PF_W | PF_X, &[])).unwrap();
    let image = dir.join("tiny.img");
    let o = run(
        kiln(),
        &[Path::new("build"), &prog, Path::new("-o"), &image],
        dir,
        TIMEOUT,
    );
    assert_eq!(o.status, Some(0), "{}", o.describe());
    image
}

fn header(image: &Path) -> Header {
    let f = std::fs::File::open(image).unwrap();
    let mut block = vec![0u8; HEADER_SIZE];
    f.read_exact_at(&mut block, HEADER_OFFSET).unwrap();
    Header::decode(&block).unwrap()
}

/// A copy of `image` as `name` whose header `f` changes (checksum
/// recomputed); the file grows, sparse, to the header's image size.
fn damaged(image: &Path, name: &str, f: impl Fn(&mut Header)) -> PathBuf {
    let out = image.with_file_name(name);
    std::fs::copy(image, &out).unwrap();
    let mut h = header(image);
    f(&mut h);
    let file = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    file.write_all_at(&h.encode(), HEADER_OFFSET).unwrap();
    if h.image_size > file.metadata().unwrap().len() {
        file.set_len(h.image_size).unwrap();
    }
    out
}

fn kiln_run(image: &Path, memory: &str) -> Outcome {
    let dir = image.parent().unwrap();
    let args = [
        "run".as_ref(),
        image.as_os_str(),
        "--accel".as_ref(),
        "tcg".as_ref(),
        "-m".as_ref(),
        memory.as_ref(),
    ];
    run(kiln(), &args, dir, TIMEOUT)
}

fn inspect(image: &Path) -> Outcome {
    run(
        kiln(),
        &[Path::new("inspect"), image],
        image.parent().unwrap(),
        TIMEOUT,
    )
}

const GIB: u64 = 1 << 30;

/// A change to an image's header.
type HeaderChange = Box<dyn Fn(&mut Header)>;

#[test]
fn inspect_and_run_refuse_bad_headers_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let image = tiny_image(dir.path());
    let end = std::fs::metadata(&image).unwrap().len();
    // Sparse images with an 8 GiB manifest or index at their end: refused
    // from the header (today: an 8 GiB allocation and an abort).
    let cases: [(&str, HeaderChange, &str); 4] = [
        (
            "manifest.img",
            Box::new(move |h: &mut Header| {
                h.manifest.offset = end;
                h.manifest.len = 8 * GIB;
                h.image_size = end + 8 * GIB;
            }),
            "the manifest is 8589934592 bytes, more than the 16777216 bytes the format allows",
        ),
        (
            "index.img",
            Box::new(move |h: &mut Header| {
                h.fs_index.offset = end;
                h.fs_index.len = 8 * GIB;
                h.image_size = end + 8 * GIB;
            }),
            "the fs index is 8589934592 bytes, more than the 1073741824 bytes",
        ),
        (
            "beyond.img",
            Box::new(move |h: &mut Header| {
                h.fs_index.offset = end + GIB;
                h.image_size = end + 2 * GIB;
            }),
            "", // set below: the file is cut back to its old length
        ),
        (
            "overlap.img",
            Box::new(|h: &mut Header| h.manifest.offset = h.kernel.offset),
            "the kernel and manifest sections overlap",
        ),
    ];
    for (name, change, needle) in cases {
        let bad = damaged(&image, name, change);
        let needle = if name == "beyond.img" {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&bad)
                .unwrap()
                .set_len(end)
                .unwrap();
            "image is truncated"
        } else {
            needle
        };
        let o = inspect(&bad);
        assert_one_error(&o, needle);
        assert_eq!(o.status, Some(1), "{name}: {}", o.describe());
        let o = kiln_run(&bad, "64M");
        assert_one_error(&o, needle);
        assert_eq!(o.status, Some(125), "{name}: {}", o.describe());
    }
}

#[test]
fn run_checks_the_kernel_section_before_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let image = tiny_image(dir.path());
    let h = header(&image);
    let kernel_at = h.kernel.offset;
    let empty = damaged(&image, "empty.img", |h| h.kernel.len = 0);
    let at_zero = damaged(&image, "zero.img", |h| h.kernel.offset = 0);
    let unaligned = damaged(&image, "unaligned.img", |h| h.kernel.offset += 8);
    // Kernel bytes that are not an ELF file.
    let not_elf = damaged(&image, "not-elf.img", |_| {});
    std::fs::OpenOptions::new()
        .write(true)
        .open(&not_elf)
        .unwrap()
        .write_all_at(&[0u8; 64], kernel_at)
        .unwrap();
    // A kernel without its PVH note (type XEN_ELFNOTE_PHYS32_ENTRY).
    let no_pvh = damaged(&image, "no-pvh.img", |_| {});
    let mut kernel = vec![0u8; h.kernel.len as usize];
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&no_pvh)
        .unwrap();
    f.read_exact_at(&mut kernel, kernel_at).unwrap();
    let note = kernel
        .windows(8)
        .position(|w| w == b"\x12\x00\x00\x00Xen\x00")
        .expect("the kernel has a PVH note");
    f.write_all_at(&[0x11], kernel_at + note as u64).unwrap();

    for (bad, needle) in [
        (
            &empty,
            "the kernel section is empty (length 0): the image has no kernel",
        ),
        (
            &at_zero,
            "the kernel section overlaps the header or the reserved first MiB",
        ),
        (
            &unaligned,
            "the kernel section does not start at a 4 KiB boundary",
        ),
        (&not_elf, "the kernel section is not an ELF file"),
        (
            &no_pvh,
            "the kernel section has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
        ),
    ] {
        let o = kiln_run(bad, "64M");
        assert_one_error(&o, needle);
        assert_eq!(o.status, Some(125), "{}", o.describe());
        assert!(o.stdout.is_empty(), "the VM started: {}", o.describe());
    }
    // inspect lists such an image, and says what is wrong with its kernel.
    let o = inspect(&no_pvh);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert!(
        o.stdout
            .contains("NOT BOOTABLE: the kernel section has no PVH entry note"),
        "{}",
        o.describe()
    );
}

#[test]
fn kernel_refuses_an_index_larger_than_its_memory() {
    // A valid image whose file index holds a 96 MiB name table: kiln reads
    // it, the kernel of a 64M VM cannot (today: a kernel panic).
    let dir = tempfile::tempdir().unwrap();
    let image = tiny_image(dir.path());
    let h = header(&image);
    let end = std::fs::metadata(&image).unwrap().len();
    let mut index = vec![0u8; h.fs_index.len as usize];
    std::fs::File::open(&image)
        .unwrap()
        .read_exact_at(&mut index, h.fs_index.offset)
        .unwrap();
    let extra: u64 = 96 << 20;
    let names = u32::from_le_bytes(index[4..8].try_into().unwrap()) + extra as u32;
    index[4..8].copy_from_slice(&names.to_le_bytes());
    let big = damaged(&image, "big-index.img", |h| {
        h.fs_index.offset = end;
        h.fs_index.len += extra;
        h.image_size = kiln_image::align_up(end + h.fs_index.len);
    });
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .write_all_at(&index, end)
        .unwrap();
    let o = inspect(&big);
    assert_eq!(o.status, Some(0), "kiln reads it: {}", o.describe());
    let o = kiln_run(&big, "64M");
    assert!(!o.timed_out, "{}", o.describe());
    assert_eq!(o.status, Some(126), "{}", o.describe());
    let line = "kiln: cannot start the program: not enough memory for the image's fs index (";
    assert_eq!(
        o.stdout.lines().filter(|l| l.starts_with(line)).count(),
        1,
        "{}",
        o.describe()
    );
    assert!(!o.stdout.contains("panic"), "{}", o.describe());
}

#[test]
fn kernel_refuses_an_impossible_program_built_elsewhere() {
    // The program's segment patched in the image after `kiln build`
    // checked it: 1 TiB of memory.
    let dir = tempfile::tempdir().unwrap();
    let image = tiny_image(dir.path());
    let img = kiln::image::Image::open(&image).unwrap();
    let id = img.fs.lookup("/tiny").unwrap();
    let at = img.fs.entry(id).unwrap().data;
    // Program header 0 starts at 64; p_memsz is at 40 in it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap()
        .write_all_at(&(1u64 << 40).to_le_bytes(), at + 64 + 40)
        .unwrap();
    let o = kiln_run(&image, "64M");
    assert_eq!(o.status, Some(126), "{}", o.describe());
    let line = "kiln: cannot start the program: program is refused: program header 0 (PT_LOAD): \
                p_memsz 0x10000000000 is 1 TiB or more, more memory than a VM can have";
    assert!(o.stdout.lines().any(|l| l == line), "{}", o.describe());
}

#[test]
fn a_write_execute_segment_runs_as_on_linux() {
    // The program writes into its own code, then runs it.
    let dir = tempfile::tempdir().unwrap();
    let image = tiny_image(dir.path());
    let o = kiln_run(&image, "64M");
    assert_eq!(o.status, Some(42), "{}", o.describe());
    assert!(o.stdout.lines().any(|l| l == "ok"), "{}", o.describe());
}
