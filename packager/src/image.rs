//! Writing and reading images, with the one format definition in
//! `kiln_image`.

use crate::elfcheck::{self, ElfKind};
use crate::spec::BuildArgs;
use crate::tree::{io_reason, Content, Kind, Tree};
use anyhow::{anyhow, bail, Context, Result};
use kiln_image::fs::Placement;
use kiln_image::{
    align_up, Extent, FsIndex, Header, IndexBuilder, Manifest, HEADER_OFFSET, HEADER_SIZE, MAGIC,
};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The environment every program gets (kept small on purpose).
pub const DEFAULT_ENV: &[&str] = &["PATH=/bin:/usr/bin", "HOME=/", "TERM=xterm"];

/// A program vetted and read into memory, ready to be packed.
#[derive(Debug)]
pub struct Program {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its name in the image root (`/<name>`), also argv[0].
    pub name: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub mtime: u64,
    pub kind: ElfKind,
}

impl Program {
    /// Read and check the program at `path`; every bad input gets one
    /// message naming the file.
    pub fn load(path: &Path) -> Result<Program> {
        let shown = path.display();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{shown}: no such file"),
            Err(e) => bail!("{shown}: {e}"),
        };
        if meta.is_dir() {
            bail!("{shown}: is a directory, not a program");
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .ok_or_else(|| anyhow!("{shown}: the program's file name must be valid UTF-8"))?
            .to_string();
        let bytes = std::fs::read(path).with_context(|| format!("{shown}: cannot read"))?;
        let kind = elfcheck::check(&bytes).map_err(|e| anyhow!("{shown}: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Ok(Program {
            path: path.to_path_buf(),
            name,
            bytes,
            mode: meta.permissions().mode() & 0o7777,
            mtime,
            kind,
        })
    }
}

/// Where each section of an image goes, and the bytes of the small ones.
pub struct Layout {
    pub header: Header,
    pub manifest: Vec<u8>,
    pub index: Vec<u8>,
    pub files: Vec<Placement>,
}

/// Lay out an image: 1 MiB of zeros, the header block, then kernel,
/// manifest, fs index and fs data, each 4 KiB-aligned.
pub fn layout(kernel_len: u64, manifest: &Manifest, tree: &IndexBuilder) -> Layout {
    let manifest = manifest.encode();
    let kernel = Extent {
        offset: HEADER_OFFSET + HEADER_SIZE as u64,
        len: kernel_len,
    };
    let manifest_ext = Extent {
        offset: align_up(kernel.offset + kernel.len),
        len: manifest.len() as u64,
    };
    // The index's length does not depend on where the data starts, so lay
    // it out once to learn its size, then for real.
    let index_offset = align_up(manifest_ext.offset + manifest_ext.len);
    let probe = tree.build(0);
    let data_offset = align_up(index_offset + probe.index.len() as u64);
    let built = tree.build(data_offset);
    let header = Header {
        image_size: data_offset + built.data_len,
        kernel,
        manifest: manifest_ext,
        fs_index: Extent {
            offset: index_offset,
            len: built.index.len() as u64,
        },
        fs_data: Extent {
            offset: data_offset,
            len: built.data_len,
        },
    };
    Layout {
        header,
        manifest,
        index: built.index,
        files: built.files,
    }
}

/// Write an image holding `tree` and `manifest` to `out`, atomically: the
/// bytes go to a temporary file beside `out` that is renamed into place
/// once complete. File contents are streamed from the host in one pass (no
/// per-file sync); `progress` shows a bar on stderr for large trees.
pub fn write_image(
    tree: &Tree,
    manifest: &Manifest,
    kernel: &[u8],
    out: &Path,
    progress: bool,
) -> Result<Header> {
    let mut index = IndexBuilder::new();
    let mut contents: Vec<(&str, &Content)> = Vec::new();
    for (path, node) in tree.iter() {
        let r = match &node.kind {
            Kind::Dir => index.add_dir(path, node.mode, node.mtime),
            Kind::File { size, content } => {
                contents.push((path, content));
                index.add_file(
                    path,
                    *size,
                    node.mode,
                    node.mtime,
                    contents.len() as u64 - 1,
                )
            }
            Kind::Symlink(target) => index.add_symlink(path, target, node.mtime),
        };
        r.map_err(|e| anyhow!("{e}"))?;
    }
    let layout = layout(kernel.len() as u64, manifest, &index);
    let h = layout.header;
    // What no reader would accept is not written.
    if h.manifest.len > kiln_image::MAX_MANIFEST_LEN {
        bail!(
            "the arguments and environment take {}, more than an image may hold ({})",
            human_size(h.manifest.len),
            human_size(kiln_image::MAX_MANIFEST_LEN)
        );
    }
    if h.fs_index.len > kiln_image::MAX_INDEX_LEN {
        bail!(
            "the file index of {} entries takes {}, more than an image may hold ({})",
            index.len(),
            human_size(h.fs_index.len),
            human_size(kiln_image::MAX_INDEX_LEN)
        );
    }

    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.is_dir() {
        bail!(
            "{}: is a directory; give the image's file name with -o",
            out.display()
        );
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-image-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let f = tmp.as_file_mut();
    // Sparse: the unwritten gaps (first MiB, padding) read as zeros.
    f.set_len(h.image_size)?;
    f.write_all_at(&h.encode(), HEADER_OFFSET)?;
    f.write_all_at(kernel, h.kernel.offset)?;
    f.write_all_at(&layout.manifest, h.manifest.offset)?;
    f.write_all_at(&layout.index, h.fs_index.offset)?;

    let bar = progress_bar(progress, layout.files.len());
    let mut buf = vec![0u8; 1 << 20];
    for p in &layout.files {
        let (path, content) = contents[p.key as usize];
        match content {
            Content::Bytes(b) => f.write_all_at(b, p.offset)?,
            Content::Host(host) => copy_host_file(host, path, p.size, f, p.offset, &mut buf)?,
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(out)
        .map_err(|e| anyhow!("cannot write {}: {}", out.display(), e.error))?;
    Ok(h)
}

/// A progress bar on stderr when it is a terminal and there are many files.
fn progress_bar(wanted: bool, files: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !wanted || files < PROGRESS_MIN_FILES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(files as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "kiln: packing {bar:40} {pos}/{len} files ({elapsed})",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// Trees with at least this many files get a progress bar.
pub const PROGRESS_MIN_FILES: usize = 500;

/// Copy a host file of `size` bytes (as seen when the tree was gathered)
/// to `offset` in `out`. A file that changed size since is an error.
fn copy_host_file(
    host: &Path,
    image_path: &str,
    size: u64,
    out: &File,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    let shown = host.display();
    let mut src = File::open(host).map_err(|e| anyhow!("{shown}: {}", io_reason(&e)))?;
    let mut done = 0u64;
    loop {
        let n = src
            .read(buf)
            .map_err(|e| anyhow!("{shown}: cannot read: {}", io_reason(&e)))?;
        if n == 0 {
            break;
        }
        if done + n as u64 > size {
            bail!("{shown}: grew while it was packed (for {image_path})");
        }
        out.write_all_at(&buf[..n], offset + done)?;
        done += n as u64;
    }
    if done != size {
        bail!("{shown}: shrank while it was packed (for {image_path})");
    }
    Ok(())
}

/// `kiln build` of a plain image.
pub fn build_command(
    program: Option<&Path>,
    output: Option<PathBuf>,
    args: &[String],
    build: &BuildArgs,
) -> Result<()> {
    let plain = crate::disk::DiskOptions {
        bootable: false,
        format: crate::disk::Format::Raw,
    };
    build_disk_command(program, output, args, build, plain)
}

/// `kiln build`, of an image or (`disk`) a self-booting disk.
pub fn build_disk_command(
    program: Option<&Path>,
    output: Option<PathBuf>,
    args: &[String],
    build: &BuildArgs,
    disk: crate::disk::DiskOptions,
) -> Result<()> {
    let spec = crate::spec::resolve(program, args, build)?;
    let prog = &spec.program;
    let out = output
        .unwrap_or_else(|| PathBuf::from(format!("{}.{}", prog.name, disk.format.extension())));
    if let (Ok(a), Ok(b)) = (prog.path.canonicalize(), out.canonicalize()) {
        if a == b {
            bail!(
                "{}: the image would overwrite the program; choose another name with -o",
                out.display()
            );
        }
    }
    crate::bootcheck::check_kernel(crate::KERNEL)
        .map_err(|why| anyhow!("the kernel built into kiln: {why}"))?;
    let (_, size) = if disk.bootable() {
        crate::disk::write(&spec.tree, &spec.manifest, crate::KERNEL, &out, disk, true)?
    } else {
        let h = write_image(&spec.tree, &spec.manifest, crate::KERNEL, &out, true)?;
        (h, h.image_size)
    };
    let what = match disk.bootable() {
        true => format!("{} disk, boots by itself, ", disk.format.name()),
        false => String::new(),
    };
    eprintln!(
        "kiln: wrote {} ({what}{}, program {}, {} files)",
        out.display(),
        human_size(size),
        spec.manifest.program,
        spec.tree.file_count()
    );
    Ok(())
}

/// Does `path` hold a Kiln image (magic at [`HEADER_OFFSET`])?
pub fn is_image(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(HEADER_OFFSET))?;
            f.read_exact(&mut magic)
        })
        .map(|()| magic == MAGIC)
        .unwrap_or(false)
}

/// An image opened for reading.
pub struct Image {
    pub path: PathBuf,
    pub header: Header,
    pub manifest: Manifest,
    pub fs: FsIndex,
    file: File,
}

/// Largest file `kiln` reads whole from an image (to read an ELF file's
/// headers); larger files are streamed or left alone.
pub const MAX_WHOLE_READ: u64 = 1 << 30;

impl Image {
    /// Open an image: the header and every section are checked against
    /// the file's size before anything else is read, and only the bytes
    /// the manifest and index use are read (never what a damaged header
    /// claims).
    pub fn open(path: &Path) -> Result<Image> {
        let shown = path.display();
        let mut file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
        let len = file.metadata()?.len();
        if len < HEADER_OFFSET + HEADER_SIZE as u64 {
            bail!("{shown}: not a Kiln image (too small)");
        }
        let mut block = vec![0u8; HEADER_SIZE];
        file.seek(SeekFrom::Start(HEADER_OFFSET))?;
        file.read_exact(&mut block)?;
        let header = Header::decode(&block).map_err(|e| anyhow!("{shown}: {e}"))?;
        if header.image_size > len {
            bail!(
                "{shown}: image is truncated ({len} bytes, header says {})",
                header.image_size
            );
        }
        let mut image = Image {
            path: path.to_path_buf(),
            header,
            manifest: Manifest::default(),
            fs: empty_fs(),
            file,
        };
        let m = image.read_extent(header.manifest)?;
        image.manifest = Manifest::decode(&m).map_err(|e| anyhow!("{shown}: {e}"))?;
        let idx = header.fs_index;
        let prefix = image.read_at(Extent {
            offset: idx.offset,
            len: idx.len.min(8),
        })?;
        let used = FsIndex::encoded_len(&prefix).map_err(|e| anyhow!("{shown}: {e}"))?;
        if used > idx.len {
            bail!(
                "{shown}: image is invalid: the fs index needs {used} bytes, its section has {}",
                idx.len
            );
        }
        let idx = image.read_at(Extent {
            offset: idx.offset,
            len: used,
        })?;
        image.fs = FsIndex::parse(&idx, header.fs_data).map_err(|e| anyhow!("{shown}: {e}"))?;
        Ok(image)
    }

    /// Read a byte range of the image (at most [`MAX_WHOLE_READ`] bytes).
    pub fn read_extent(&mut self, e: Extent) -> Result<Vec<u8>> {
        self.read_at(e)
    }

    /// Number of regular files in the image's file system.
    pub fn file_count(&self) -> usize {
        (0..self.fs.len() as u32)
            .filter_map(|id| self.fs.entry(id))
            .filter(|e| e.kind == kiln_image::EntryKind::File)
            .count()
    }

    /// Read a byte range of the image without moving the file position
    /// (at most [`MAX_WHOLE_READ`] bytes, into a buffer that may fail).
    pub fn read_at(&self, e: Extent) -> Result<Vec<u8>> {
        let shown = self.path.display();
        if e.len > MAX_WHOLE_READ {
            bail!(
                "{shown}: cannot read {} bytes at {:#x} whole (the limit is {})",
                e.len,
                e.offset,
                human_size(MAX_WHOLE_READ)
            );
        }
        let mut buf = kiln_image::try_buffer(e.len, "section")
            .map_err(|_| anyhow!("{shown}: not enough memory to read {} bytes", e.len))?;
        self.file
            .read_exact_at(&mut buf, e.offset)
            .with_context(|| format!("{shown}: cannot read"))?;
        Ok(buf)
    }

    /// The kernel ELF, checked as QEMU needs it ([`crate::bootcheck`]).
    pub fn kernel(&mut self) -> Result<Vec<u8>> {
        let e = self.header.kernel;
        let bytes = self.read_extent(e)?;
        crate::bootcheck::check_kernel(&bytes)
            .map_err(|why| anyhow!("{}: {why}", self.path.display()))?;
        Ok(bytes)
    }

    /// The contents of the file at `path` in the image's file system.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let id = self
            .fs
            .lookup(path)
            .ok_or_else(|| anyhow!("{path}: not in the image"))?;
        let e = *self.fs.entry(id).expect("lookup returns valid ids");
        self.read_extent(Extent {
            offset: e.data,
            len: e.size,
        })
    }
}

fn empty_fs() -> FsIndex {
    let built = IndexBuilder::new().build(0);
    FsIndex::parse(&built.index, Extent::default()).expect("an empty index parses")
}

/// "4.2 MiB"-style sizes.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elfcheck::tests::elf;
    use kiln_image::EntryKind;

    fn program(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o751)).unwrap();
        p
    }

    fn static_elf() -> Vec<u8> {
        let mut b = elf(2, 62, goblin::elf::header::ET_EXEC, &[1]);
        b.extend((0..10_000u32).map(|i| (i * 7) as u8)); // some "code"
        b
    }

    /// Write an image for the program at `path` with `args` and `b`.
    fn build(
        path: &Path,
        args: &[&str],
        b: &BuildArgs,
        kernel: &[u8],
        out: &Path,
    ) -> Result<(Header, Program)> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let spec = crate::spec::resolve(Some(path), &args, b)?;
        let h = write_image(&spec.tree, &spec.manifest, kernel, out, false)?;
        Ok((h, spec.program))
    }

    #[test]
    fn image_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let prog_path = program(dir.path(), "hello", &static_elf());
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(data.join("sub/big.bin"), &big).unwrap();
        std::fs::write(data.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("sub/big.bin", data.join("link")).unwrap();
        let kernel: Vec<u8> = (0..5000u32).map(|i| i as u8 ^ 0x5a).collect();
        let out = dir.path().join("hello.img");
        let b = BuildArgs {
            dirs: vec![format!("{}:/data", data.display())],
            ..Default::default()
        };
        let (h, prog) = build(&prog_path, &["a b", "", "ü"], &b, &kernel, &out).unwrap();

        let raw = std::fs::read(&out).unwrap();
        assert_eq!(raw.len() as u64, h.image_size);
        assert_eq!(raw.len() % 4096, 0);
        assert!(
            raw[..HEADER_OFFSET as usize].iter().all(|&b| b == 0),
            "first MiB must stay zero"
        );
        for e in [h.kernel, h.manifest, h.fs_index, h.fs_data] {
            assert_eq!(e.offset % 4096, 0);
        }
        assert!(is_image(&out));
        assert!(!is_image(&prog_path));

        let mut img = Image::open(&out).unwrap();
        assert_eq!(img.header, h);
        assert_eq!(img.read_extent(h.kernel).unwrap(), kernel);
        // Not a kernel QEMU could boot: refused before it is used.
        let e = img.kernel().unwrap_err().to_string();
        assert!(e.ends_with("the kernel section is not an ELF file"), "{e}");
        assert_eq!(img.manifest.program, "/hello");
        assert_eq!(img.manifest.args, ["hello", "a b", "", "ü"]);
        assert_eq!(img.manifest.env, DEFAULT_ENV);
        assert_eq!(img.manifest.cwd, "/");
        let id = img.fs.lookup("/hello").unwrap();
        let e = *img.fs.entry(id).unwrap();
        assert_eq!(
            (e.kind, e.mode, e.size),
            (EntryKind::File, 0o751, prog.bytes.len() as u64)
        );
        assert_eq!(e.data % 4096, 0);
        assert_eq!(img.read_file("/hello").unwrap(), prog.bytes);
        assert_eq!(img.read_file("/data/sub/big.bin").unwrap(), big);
        assert_eq!(img.read_file("/data/empty").unwrap(), b"");
        let link = img.fs.lookup("/data/link").unwrap();
        assert_eq!(img.fs.symlink_target(link), Some(&b"sub/big.bin"[..]));
        assert!(img
            .read_file("/etc/hosts")
            .unwrap()
            .starts_with(b"127.0.0.1\tlocalhost kiln\n"));
        assert_eq!(
            img.read_file("/etc/localtime").unwrap(),
            crate::etc::tzif_utc()
        );
        let names: Vec<&[u8]> = img.fs.children(0).map(|c| img.fs.name(c)).collect();
        assert_eq!(
            names,
            [&b"data"[..], b"etc", b"hello", b"run", b"tmp", b"var"]
        );
        let var_run = img.fs.lookup("/var/run").unwrap();
        assert_eq!(img.fs.symlink_target(var_run), Some(&b"/run"[..]));
        let resolv = img.fs.lookup("/etc/resolv.conf").unwrap();
        assert_eq!(
            img.fs.symlink_target(resolv),
            Some(&b"/run/resolv.conf"[..])
        );
    }

    #[test]
    fn failed_builds_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let not_elf = program(dir.path(), "script", b"#!/bin/sh\necho hi\n");
        let ok = program(dir.path(), "ok", &static_elf());
        let out = dir.path().join("out.img");
        let none = BuildArgs::default();
        let err = build_command(Some(&not_elf), Some(out.clone()), &[], &none).unwrap_err();
        assert!(format!("{err:#}").contains("not an ELF"), "{err:#}");
        // A dynamically linked program whose library is not in its root.
        let root = tempfile::tempdir().unwrap();
        let fake = crate::deps::tests::FakeElf {
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            needed: &["libmissing.so.1"],
            ..Default::default()
        };
        fake.write(root.path(), "/usr/bin/dyn");
        crate::deps::tests::FakeElf::default().write(root.path(), "/lib64/ld-linux-x86-64.so.2");
        let in_root = BuildArgs {
            root: Some(root.path().to_path_buf()),
            ..Default::default()
        };
        let err = build_command(
            Some(Path::new("/usr/bin/dyn")),
            Some(out.clone()),
            &[],
            &in_root,
        )
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "libmissing.so.1 (needed by /usr/bin/dyn) not found in {}; searched \
                 /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib",
                root.path().display()
            )
        );
        let err = build_command(
            Some(&dir.path().join("missing")),
            Some(out.clone()),
            &[],
            &none,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").ends_with("missing: no such file"),
            "{err:#}"
        );
        // A missing file to pack fails before any file appears.
        let b = BuildArgs {
            files: vec!["/nonexistent/file".into()],
            ..Default::default()
        };
        let err = build_command(Some(&ok), Some(out.clone()), &[], &b).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "/nonexistent/file: no such file or directory"
        );
        // Writing into a directory that does not exist fails too.
        assert!(build(&ok, &[], &none, b"kernel", &dir.path().join("nope/out.img")).is_err());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["ok", "script"]);
    }

    #[test]
    fn a_file_that_changes_while_packed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let prog = program(dir.path(), "p", &static_elf());
        let f = dir.path().join("f");
        std::fs::write(&f, "1234").unwrap();
        let b = BuildArgs {
            files: vec![format!("{}:/f", f.display())],
            ..Default::default()
        };
        let spec = crate::spec::resolve(Some(&prog), &[], &b).unwrap();
        std::fs::write(&f, "123456").unwrap();
        let out = dir.path().join("x.img");
        let e = write_image(&spec.tree, &spec.manifest, b"k", &out, false).unwrap_err();
        assert!(
            e.to_string().ends_with("grew while it was packed (for /f)"),
            "{e}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn refuses_to_overwrite_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let p = program(dir.path(), "prog", &static_elf());
        let err = build_command(Some(&p), Some(p.clone()), &[], &BuildArgs::default()).unwrap_err();
        assert!(err.to_string().contains("overwrite the program"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), static_elf());
    }

    #[test]
    fn layout_is_ordered_and_aligned() {
        let mut tree = IndexBuilder::new();
        tree.add_file("/x", 5000, 0o755, 0, 0).unwrap();
        let m = Manifest {
            program: "/x".into(),
            args: vec!["x".into()],
            ..Default::default()
        };
        let l = layout(12345, &m, &tree);
        let h = l.header;
        assert_eq!(h.kernel.offset, HEADER_OFFSET + 4096);
        assert!(h.kernel.end().unwrap() <= h.manifest.offset);
        assert!(h.manifest.end().unwrap() <= h.fs_index.offset);
        assert!(h.fs_index.end().unwrap() <= h.fs_data.offset);
        assert_eq!(h.image_size, h.fs_data.offset + 8192);
        assert_eq!(
            l.files,
            [Placement {
                key: 0,
                offset: h.fs_data.offset,
                size: 5000
            }]
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}
