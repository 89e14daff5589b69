//! The image as the running program sees it: header, manifest and file
//! system index read once at boot, file data read on demand through a small
//! page cache over the block device.

use crate::platform::BlockDevice;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use kiln_abi::errno::Errno;
use kiln_abi::BootError;
use kiln_image::{EntryKind, FsIndex, Header, Manifest, HEADER_OFFSET, HEADER_SIZE};
use spin::Mutex;

const SECTOR: u64 = 512;
const CACHE_PAGE: u64 = 4096;
/// Pages kept in the cache (256 KiB).
const CACHE_PAGES: usize = 64;
/// Symlinks followed in one path resolution before ELOOP (Linux: 40).
const MAX_SYMLINKS: u32 = 40;

/// Largest read sent to the device past the cache, in pages (1 MiB).
const MAX_DIRECT_PAGES: usize = 256;

/// A read cache of 4 KiB pages of the block device, evicting the oldest.
#[derive(Debug, Default)]
pub struct BlockCache {
    pages: BTreeMap<u64, Box<[u8]>>,
    order: VecDeque<u64>,
}

impl BlockCache {
    /// Read `buf.len()` bytes at byte `offset` of the device.
    pub fn read(
        &mut self,
        dev: &mut dyn BlockDevice,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), Errno> {
        let end = offset.checked_add(buf.len() as u64).ok_or(Errno::EIO)?;
        if end > dev.size() {
            return Err(Errno::EIO);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let page = at / CACHE_PAGE;
            let within = (at % CACHE_PAGE) as usize;
            let whole = (buf.len() - done) / CACHE_PAGE as usize;
            if within == 0 && whole > 1 && !self.pages.contains_key(&page) {
                // A large aligned read (loading the program, a big file)
                // goes to the device in one request and skips the cache.
                let n = whole.min(MAX_DIRECT_PAGES) * CACHE_PAGE as usize;
                dev.read_sectors(at / SECTOR, &mut buf[done..done + n])?;
                done += n;
                continue;
            }
            let n = (buf.len() - done).min(CACHE_PAGE as usize - within);
            let data = self.page(dev, page)?;
            buf[done..done + n].copy_from_slice(&data[within..within + n]);
            done += n;
        }
        Ok(())
    }

    fn page(&mut self, dev: &mut dyn BlockDevice, page: u64) -> Result<&[u8], Errno> {
        if !self.pages.contains_key(&page) {
            let start = page * CACHE_PAGE;
            // The device may end inside this page: read whole sectors only.
            let avail = dev.size().saturating_sub(start).min(CACHE_PAGE);
            let sectors = avail.div_ceil(SECTOR) * SECTOR;
            let mut data = vec![0u8; CACHE_PAGE as usize].into_boxed_slice();
            dev.read_sectors(start / SECTOR, &mut data[..sectors as usize])?;
            if self.order.len() >= CACHE_PAGES {
                if let Some(old) = self.order.pop_front() {
                    self.pages.remove(&old);
                }
            }
            self.order.push_back(page);
            self.pages.insert(page, data);
        }
        Ok(&self.pages[&page])
    }
}

/// The image's read-only file system and manifest.
#[derive(Debug)]
pub struct ImageFs {
    pub header: Header,
    pub manifest: Manifest,
    pub index: FsIndex,
    cache: Mutex<BlockCache>,
}

impl ImageFs {
    /// Read the header, manifest and index from the block device. Every
    /// size the header gives is checked against the disk before anything
    /// is allocated, and the buffers are fallible: a damaged or oversized
    /// image is a [`BootError`] naming the problem, never a kernel panic.
    pub fn open(dev: &mut dyn BlockDevice) -> Result<ImageFs, BootError> {
        let mut cache = BlockCache::default();
        let bad = |what: &str, e: &dyn core::fmt::Display| BootError(format!("{what}: {e}"));
        let mut block = [0u8; HEADER_SIZE];
        cache
            .read(dev, HEADER_OFFSET, &mut block)
            .map_err(|e| bad("cannot read the image header", &format_args!("{e:?}")))?;
        let header = Header::decode(&block).map_err(|e| bad("bad image header", &e))?;
        if header.image_size > dev.size() {
            return Err(BootError(format!(
                "the image is truncated: its header says {} bytes, the disk has {}",
                header.image_size,
                dev.size()
            )));
        }
        let read = |cache: &mut BlockCache,
                    dev: &mut dyn BlockDevice,
                    offset: u64,
                    len: u64,
                    what: &'static str| {
            let mut buf =
                kiln_image::try_buffer(len, what).map_err(|e| BootError(format!("{e}")))?;
            cache
                .read(dev, offset, &mut buf)
                .map_err(|e| BootError(format!("cannot read the image {what}: {e:?}")))?;
            Ok::<_, BootError>(buf)
        };
        let m = header.manifest;
        let manifest = read(&mut cache, dev, m.offset, m.len, "manifest")?;
        let manifest = Manifest::decode(&manifest).map_err(|e| bad("bad manifest", &e))?;
        // Only as much of the index section as the index says it uses.
        let idx = header.fs_index;
        let prefix = read(&mut cache, dev, idx.offset, idx.len.min(8), "fs index")?;
        let used = FsIndex::encoded_len(&prefix).map_err(|e| bad("bad file system index", &e))?;
        if used > idx.len {
            return Err(BootError(format!(
                "bad file system index: it needs {used} bytes, its section has {}",
                idx.len
            )));
        }
        let index = read(&mut cache, dev, idx.offset, used, "fs index")?;
        let index =
            FsIndex::parse(&index, header.fs_data).map_err(|e| bad("bad file system index", &e))?;
        Ok(ImageFs {
            header,
            manifest,
            index,
            cache: Mutex::new(cache),
        })
    }

    /// Read raw image bytes (used for file-backed pages).
    pub fn read_image(
        &self,
        dev: &mut dyn BlockDevice,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), Errno> {
        self.cache.lock().read(dev, offset, buf)
    }

    /// Read from file `id` at `pos`; returns the bytes read (0 at the end).
    pub fn read_file(
        &self,
        dev: &mut dyn BlockDevice,
        id: u32,
        pos: u64,
        buf: &mut [u8],
    ) -> Result<usize, Errno> {
        let e = *self.index.entry(id).ok_or(Errno::EBADF)?;
        match e.kind {
            EntryKind::File => {}
            EntryKind::Dir => return Err(Errno::EISDIR),
            EntryKind::Symlink => return Err(Errno::EINVAL),
        }
        if pos >= e.size {
            return Ok(0);
        }
        let n = (e.size - pos).min(buf.len() as u64) as usize;
        self.cache.lock().read(dev, e.data + pos, &mut buf[..n])?;
        Ok(n)
    }

    /// The whole contents of file `id` (ENOMEM when it does not fit).
    pub fn read_all(&self, dev: &mut dyn BlockDevice, id: u32) -> Result<Vec<u8>, Errno> {
        let size = self.index.entry(id).ok_or(Errno::ENOENT)?.size;
        let mut buf = kiln_image::try_buffer(size, "file").map_err(|_| Errno::ENOMEM)?;
        let n = self.read_file(dev, id, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Resolve an absolute path, following symlinks in every component and,
    /// if `follow_last`, in the last one. Errors as Linux path walk:
    /// ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<u32, Errno> {
        let mut budget = MAX_SYMLINKS;
        self.walk(kiln_image::fs::ROOT, path, follow_last, &mut budget)
    }

    fn walk(
        &self,
        start: u32,
        path: &[u8],
        follow_last: bool,
        budget: &mut u32,
    ) -> Result<u32, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= 4096 {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut cur = if path[0] == b'/' {
            kiln_image::fs::ROOT
        } else {
            start
        };
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let dir = self.index.entry(cur).ok_or(Errno::ENOENT)?;
            if dir.kind != EntryKind::Dir {
                return Err(Errno::ENOTDIR);
            }
            if comp.len() > 255 {
                return Err(Errno::ENAMETOOLONG);
            }
            match *comp {
                b"." => continue,
                b".." => {
                    cur = dir.parent;
                    continue;
                }
                _ => {}
            }
            let next = self.index.lookup_child(cur, comp).ok_or(Errno::ENOENT)?;
            let kind = self.index.entry(next).map(|e| e.kind);
            if kind == Some(EntryKind::Symlink) && (!last || follow_last) {
                if *budget == 0 {
                    return Err(Errno::ELOOP);
                }
                *budget -= 1;
                let target = self.index.symlink_target(next).ok_or(Errno::ENOENT)?;
                cur = self.walk(cur, target, true, budget)?;
            } else {
                cur = next;
            }
        }
        // A trailing slash demands a directory.
        if path.ends_with(b"/") && self.index.entry(cur).map(|e| e.kind) != Some(EntryKind::Dir) {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// The absolute path of entry `id`.
    pub fn path_of(&self, id: u32) -> String {
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != kiln_image::fs::ROOT {
            parts.push(String::from_utf8_lossy(self.index.name(cur)).into_owned());
            cur = match self.index.entry(cur) {
                Some(e) => e.parent,
                None => break,
            };
        }
        if parts.is_empty() {
            return String::from("/");
        }
        parts
            .iter()
            .rev()
            .fold(String::new(), |acc, p| acc + "/" + p)
    }
}
