//! The Kiln image, format version 1: the one definition that the packager
//! writes and the kernel reads. See `docs/image-format.md`.
//!
//! Layout (all numbers little-endian, every section 4 KiB-aligned):
//!
//! ```text
//! 0 .. 1 MiB         reserved (zeros) for a future boot loader
//! 1 MiB              header block (4 KiB), see [`Header`]
//! kernel             the kernel ELF, as `kiln run` hands it to the hypervisor
//! manifest           tagged records, see [`Manifest`]
//! fs index           directory tree, see [`fs::FsIndex`]
//! fs data            file contents, each file at a 4 KiB-aligned offset
//! ```
//!
//! This crate is the whole contract between the packager (which writes
//! images) and the kernel (which reads them): it depends on nothing of the
//! Linux personality.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bytes;
pub mod fs;
pub mod manifest;
pub mod program;

pub use fs::{BuiltIndex, Entry, EntryKind, FsIndex, IndexBuilder, Placement, TreeError};
pub use manifest::{ExitMatch, ExitRules, Manifest, NetConfig, TmpfsMount};

use bytes::{Reader, Writer};

/// Where the kernel writes the resolver configuration of the current
/// network configuration (a DHCP lease, or the manifest's static address),
/// on the `/run` tmpfs. The packager links `/etc/resolv.conf` there when the
/// image uses DHCP and names no server itself.
pub const LEASE_RESOLV_CONF: &str = "/run/resolv.conf";

/// Offset of the header: the first MiB stays free for a boot loader.
pub const HEADER_OFFSET: u64 = 1 << 20;
/// Size of the header block.
pub const HEADER_SIZE: usize = 4096;
/// Alignment of every section and of every file's data.
pub const ALIGN: u64 = 4096;
/// Magic bytes at the start of the header.
pub const MAGIC: [u8; 8] = *b"KILNIMG\0";
/// The format version this code reads and writes.
pub const VERSION: u32 = 1;

/// Largest kernel section: more than any kernel Kiln builds, and small
/// enough that `kiln run` can hold it (it hands the kernel to QEMU).
pub const MAX_KERNEL_LEN: u64 = 64 << 20;
/// Largest manifest: arguments and environment beyond this could not be
/// given to a program anyway (Linux allows a few MiB of them).
pub const MAX_MANIFEST_LEN: u64 = 16 << 20;
/// Largest file-system index: about 20 million entries, far more than a
/// VM could hold in memory.
pub const MAX_INDEX_LEN: u64 = 1 << 30;

/// The sections in header order, as messages name them.
pub const SECTION_NAMES: [&str; 4] = ["kernel", "manifest", "fs index", "fs data"];

/// Why an image could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The header does not start with [`MAGIC`].
    BadMagic,
    /// A version this code does not know.
    UnsupportedVersion(u32),
    /// The header's checksum does not match its contents.
    BadChecksum,
    /// A section or record points outside the image or is cut short.
    Truncated(&'static str),
    /// A value that cannot be right (bad kind, bad name, ...).
    Invalid(&'static str),
    /// A section of the header that breaks a rule of the layout.
    BadSection {
        section: &'static str,
        problem: &'static str,
    },
    /// Two sections share bytes.
    Overlap(&'static str, &'static str),
    /// A section or table larger than the format allows.
    TooLarge {
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// A reader could not get the memory to hold what the image holds.
    NoMemory { what: &'static str, len: u64 },
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FormatError::BadMagic => write!(f, "not a Kiln image (bad magic)"),
            FormatError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "image format version {v} is not supported (this build reads {VERSION})"
                )
            }
            FormatError::BadChecksum => write!(f, "image header checksum mismatch"),
            FormatError::Truncated(what) => write!(f, "image is truncated: {what}"),
            FormatError::Invalid(what) => write!(f, "image is invalid: {what}"),
            FormatError::BadSection { section, problem } => {
                write!(f, "image is invalid: the {section} section {problem}")
            }
            FormatError::Overlap(a, b) => {
                write!(f, "image is invalid: the {a} and {b} sections overlap")
            }
            FormatError::TooLarge { what, len, max } => write!(
                f,
                "image is invalid: the {what} is {len} bytes, more than the {max} bytes the format allows"
            ),
            FormatError::NoMemory { what, len } => write!(
                f,
                "not enough memory for the image's {what} ({len} bytes)"
            ),
        }
    }
}

/// A byte range of the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

impl Extent {
    /// The end offset, or an error if it overflows.
    pub fn end(&self) -> Result<u64, FormatError> {
        self.offset
            .checked_add(self.len)
            .ok_or(FormatError::Invalid("extent overflows"))
    }
}

/// The header block at [`HEADER_OFFSET`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Total size of the image file.
    pub image_size: u64,
    pub kernel: Extent,
    pub manifest: Extent,
    pub fs_index: Extent,
    pub fs_data: Extent,
}

impl Header {
    /// Encode into a header block, with magic, version and checksum.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut w = Writer::default();
        w.bytes(&MAGIC);
        w.u32(VERSION);
        w.u32(0); // flags, none defined yet
        w.u64(self.image_size);
        for e in [self.kernel, self.manifest, self.fs_index, self.fs_data] {
            w.u64(e.offset);
            w.u64(e.len);
        }
        let sum = checksum(w.as_slice());
        w.u64(sum);
        let mut block = [0u8; HEADER_SIZE];
        block[..w.as_slice().len()].copy_from_slice(w.as_slice());
        block
    }

    /// Decode a header block and check that its sections fit in the image.
    pub fn decode(block: &[u8]) -> Result<Header, FormatError> {
        let mut r = Reader::new(block);
        let magic = r.bytes(8, "header")?;
        if magic != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = r.u32("header")?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let _flags = r.u32("header")?;
        let image_size = r.u64("header")?;
        let mut ext = [Extent::default(); 4];
        for e in ext.iter_mut() {
            e.offset = r.u64("header")?;
            e.len = r.u64("header")?;
        }
        let covered = r.position();
        let sum = r.u64("header")?;
        if sum != checksum(&block[..covered]) {
            return Err(FormatError::BadChecksum);
        }
        let header = Header {
            image_size,
            kernel: ext[0],
            manifest: ext[1],
            fs_index: ext[2],
            fs_data: ext[3],
        };
        header.check_layout()?;
        Ok(header)
    }

    /// The sections with their names, in header order.
    pub fn sections(&self) -> [(&'static str, Extent); 4] {
        let [k, m, i, d] = SECTION_NAMES;
        [
            (k, self.kernel),
            (m, self.manifest),
            (i, self.fs_index),
            (d, self.fs_data),
        ]
    }

    /// Every section inside the image, 4 KiB-aligned, after the header
    /// block, apart from the others, and no larger than the format allows.
    /// Checked before anything is read, so a reader never allocates or
    /// seeks for what a damaged header says.
    fn check_layout(&self) -> Result<(), FormatError> {
        let first_free = HEADER_OFFSET + HEADER_SIZE as u64;
        let sections = self.sections();
        for (section, e) in sections {
            let bad = |problem| FormatError::BadSection { section, problem };
            let end = e
                .end()
                .map_err(|_| bad("ends beyond the largest possible offset"))?;
            if end > self.image_size {
                return Err(bad("ends beyond the end of the image"));
            }
            if e.offset % ALIGN != 0 {
                return Err(bad("does not start at a 4 KiB boundary"));
            }
            if e.len > 0 && e.offset < first_free {
                return Err(bad("overlaps the header or the reserved first MiB"));
            }
        }
        for (what, e, max) in [
            ("kernel section", self.kernel, MAX_KERNEL_LEN),
            ("manifest", self.manifest, MAX_MANIFEST_LEN),
            ("fs index", self.fs_index, MAX_INDEX_LEN),
        ] {
            if e.len > max {
                return Err(FormatError::TooLarge {
                    what,
                    len: e.len,
                    max,
                });
            }
        }
        for (i, (a, ea)) in sections.iter().enumerate() {
            for (b, eb) in &sections[i + 1..] {
                // Ends cannot overflow: checked above.
                let apart = ea.len == 0
                    || eb.len == 0
                    || ea.offset + ea.len <= eb.offset
                    || eb.offset + eb.len <= ea.offset;
                if !apart {
                    return Err(FormatError::Overlap(a, b));
                }
            }
        }
        Ok(())
    }
}

/// A buffer of `len` zero bytes for `what`, or [`FormatError::NoMemory`]:
/// readers use it for every allocation whose size comes from the image.
pub fn try_buffer(len: u64, what: &'static str) -> Result<alloc::vec::Vec<u8>, FormatError> {
    let no_memory = FormatError::NoMemory { what, len };
    let n = usize::try_from(len).map_err(|_| no_memory.clone())?;
    let mut buf = alloc::vec::Vec::new();
    buf.try_reserve_exact(n).map_err(|_| no_memory)?;
    buf.resize(n, 0);
    Ok(buf)
}

/// FNV-1a, 64 bit: catches a damaged or foreign header, nothing more.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Round `v` up to [`ALIGN`].
pub const fn align_up(v: u64) -> u64 {
    (v + ALIGN - 1) & !(ALIGN - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            image_size: 0x40_0000,
            kernel: Extent {
                offset: 0x10_1000,
                len: 0x1234,
            },
            manifest: Extent {
                offset: 0x10_3000,
                len: 77,
            },
            fs_index: Extent {
                offset: 0x10_4000,
                len: 500,
            },
            fs_data: Extent {
                offset: 0x10_5000,
                len: 0x2000,
            },
        }
    }

    #[test]
    fn header_round_trip() {
        let h = sample();
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn header_rejects_damage() {
        let mut block = sample().encode();
        block[20] ^= 1;
        assert_eq!(Header::decode(&block), Err(FormatError::BadChecksum));
        let mut block = sample().encode();
        block[0] = b'X';
        assert_eq!(Header::decode(&block), Err(FormatError::BadMagic));
        let mut block = sample().encode();
        block[8] = 2;
        assert_eq!(
            Header::decode(&block),
            Err(FormatError::UnsupportedVersion(2))
        );
        assert!(matches!(
            Header::decode(&block[..10]),
            Err(FormatError::Truncated(_)) | Err(FormatError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn header_rejects_sections_past_the_end() {
        let mut h = sample();
        h.fs_data.len = 0x40_0000;
        assert_eq!(
            Header::decode(&h.encode()),
            Err(FormatError::BadSection {
                section: "fs data",
                problem: "ends beyond the end of the image"
            })
        );
        let mut h = sample();
        h.manifest.offset = u64::MAX - 4095;
        assert!(matches!(
            Header::decode(&h.encode()),
            Err(FormatError::BadSection {
                section: "manifest",
                ..
            })
        ));
    }

    #[test]
    fn header_rejects_bad_layouts() {
        let problem = |h: Header| match Header::decode(&h.encode()) {
            Err(e) => e.to_string(),
            Ok(_) => "accepted".into(),
        };
        let mut h = sample();
        h.kernel.offset += 12;
        assert_eq!(
            problem(h),
            "image is invalid: the kernel section does not start at a 4 KiB boundary"
        );
        let mut h = sample();
        h.kernel.offset = 0;
        assert_eq!(
            problem(h),
            "image is invalid: the kernel section overlaps the header or the reserved first MiB"
        );
        let mut h = sample();
        h.fs_index.offset = h.manifest.offset;
        assert_eq!(
            problem(h),
            "image is invalid: the manifest and fs index sections overlap"
        );
        // An empty section may sit anywhere aligned inside the image.
        let mut h = sample();
        h.manifest.len = 0;
        h.manifest.offset = 0;
        assert!(Header::decode(&h.encode()).is_ok());
        let mut h = sample();
        h.image_size = 1 << 40;
        h.manifest.offset = 1 << 30;
        h.manifest.len = 96 << 20;
        assert_eq!(
            problem(h),
            "image is invalid: the manifest is 100663296 bytes, more than the 16777216 bytes the format allows"
        );
        h.manifest.len = 100;
        h.fs_index.offset = 1 << 32;
        h.fs_index.len = 8 << 30;
        assert!(problem(h).contains("the fs index is 8589934592 bytes"));
        h.fs_index.len = 100;
        h.kernel.len = 1 << 30;
        assert!(problem(h).contains("the kernel section is 1073741824 bytes"));
    }

    #[test]
    fn buffers_for_image_sizes_are_fallible() {
        assert_eq!(try_buffer(3, "manifest").unwrap(), [0, 0, 0]);
        assert_eq!(
            try_buffer(u64::MAX, "manifest"),
            Err(FormatError::NoMemory {
                what: "manifest",
                len: u64::MAX
            })
        );
    }
}
