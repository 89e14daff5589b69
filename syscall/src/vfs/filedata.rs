//! The bytes of a file in memory (tmpfs), kept in pages: a file is a size
//! and a map from page number to page, so that files may be sparse (holes
//! read as zeros and take no memory), no file needs contiguous memory, and
//! memory goes back to the store on truncate and unlink. A mount's size
//! limit ([`Budget`]) counts pages, as Linux's tmpfs counts blocks.

use crate::platform::{PageId, PageStore, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kiln_abi::errno::{Errno, SysResult};

/// Largest file size (Linux `MAX_LFS_FILESIZE` on 64-bit).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

const PAGE: usize = PAGE_SIZE as usize;

/// The bytes of data pages a file system may hold (0: no limit), and how
/// many it holds.
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The limit in bytes (0: none).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of pages in use.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Count one more page, unless that would pass the limit.
    fn take_page(&self) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                let new = u.checked_add(PAGE_SIZE)?;
                (self.limit == 0 || new <= self.limit).then_some(new)
            })
            .is_ok()
    }

    fn give_pages(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n * PAGE_SIZE))
            });
    }
}

/// Where a file's pages come from and whom they are counted against.
#[derive(Clone, Copy)]
pub struct Memory<'a> {
    pub store: &'a dyn PageStore,
    pub budget: &'a Budget,
}

impl Memory<'_> {
    /// A new zeroed page, counted; `None` when the limit or memory is
    /// reached.
    fn new_page(&self) -> Option<PageId> {
        if !self.budget.take_page() {
            return None;
        }
        let page = self.store.alloc();
        if page.is_none() {
            self.budget.give_pages(1);
        }
        page
    }

    fn drop_page(&self, page: PageId) {
        self.store.free(page);
        self.budget.give_pages(1);
    }
}

/// A file's size and pages. Pages wholly past the size do not exist; the
/// bytes of the last page past the size are zero.
#[derive(Default)]
pub struct FileData {
    size: u64,
    pages: BTreeMap<u64, PageId>,
}

impl FileData {
    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Memory held, in 512-byte blocks (`st_blocks`).
    pub fn blocks(&self) -> u64 {
        self.pages.len() as u64 * (PAGE_SIZE / 512)
    }

    /// Read at `off`; holes read as zeros. Returns the bytes read (0 at or
    /// past the end).
    pub fn read(&self, m: Memory<'_>, off: u64, buf: &mut [u8]) -> usize {
        if off >= self.size {
            return 0;
        }
        let n = (self.size - off).min(buf.len() as u64) as usize;
        let mut done = 0;
        while done < n {
            let pos = off + done as u64;
            let in_page = (pos % PAGE_SIZE) as usize;
            let k = (PAGE - in_page).min(n - done);
            let out = &mut buf[done..done + k];
            match self.pages.get(&(pos / PAGE_SIZE)) {
                Some(&p) => m.store.read(p, in_page, out),
                None => out.fill(0),
            }
            done += k;
        }
        n
    }

    /// Write at `off`, taking pages as needed. When the limit or memory
    /// runs out part way, the bytes that fit are written and counted (as a
    /// full disk does); when nothing fits, ENOSPC. EFBIG at or past the
    /// largest file size.
    pub fn write(&mut self, m: Memory<'_>, off: u64, data: &[u8]) -> SysResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if off >= MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let n = (MAX_FILE_SIZE - off).min(data.len() as u64) as usize;
        let mut done = 0;
        while done < n {
            let pos = off + done as u64;
            let index = pos / PAGE_SIZE;
            let in_page = (pos % PAGE_SIZE) as usize;
            let k = (PAGE - in_page).min(n - done);
            let page = match self.pages.get(&index) {
                Some(&p) => p,
                None => match m.new_page() {
                    Some(p) => {
                        self.pages.insert(index, p);
                        p
                    }
                    None => break,
                },
            };
            m.store.write(page, in_page, &data[done..done + k]);
            done += k;
        }
        if done == 0 {
            return Err(Errno::ENOSPC);
        }
        self.size = self.size.max(off + done as u64);
        Ok(done)
    }

    /// Set the size. Growing makes a hole (no memory); shrinking gives
    /// back the pages past the new end and zeroes the rest of the last one.
    pub fn set_len(&mut self, m: Memory<'_>, len: u64) -> SysResult<()> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if len < self.size {
            self.drop_pages(m, len.div_ceil(PAGE_SIZE), u64::MAX);
            let tail = (len % PAGE_SIZE) as usize;
            if tail != 0 {
                if let Some(&p) = self.pages.get(&(len / PAGE_SIZE)) {
                    m.store.write(p, tail, &[0u8; PAGE][tail..]);
                }
            }
        }
        self.size = len;
        Ok(())
    }

    /// Give back the pages numbered `[first, end)`.
    fn drop_pages(&mut self, m: Memory<'_>, first: u64, end: u64) {
        if first >= end {
            return;
        }
        let gone: Vec<u64> = self.pages.range(first..end).map(|(&i, _)| i).collect();
        for i in gone {
            if let Some(p) = self.pages.remove(&i) {
                m.drop_page(p);
            }
        }
    }

    /// fallocate: give `[off, off + len)` pages now, and with `keep_size`
    /// false, grow the file to cover it. ENOSPC when they do not all fit;
    /// then the pages this call took are given back, as Linux does.
    pub fn allocate(
        &mut self,
        m: Memory<'_>,
        off: u64,
        len: u64,
        keep_size: bool,
    ) -> SysResult<()> {
        let end = off
            .checked_add(len)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        let mut taken = Vec::new();
        for index in off / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            if self.pages.contains_key(&index) {
                continue;
            }
            let page = if taken.try_reserve(1).is_ok() {
                m.new_page()
            } else {
                None
            };
            let Some(page) = page else {
                for i in taken {
                    if let Some(p) = self.pages.remove(&i) {
                        m.drop_page(p);
                    }
                }
                return Err(Errno::ENOSPC);
            };
            self.pages.insert(index, page);
            taken.push(index);
        }
        if !keep_size && end > self.size {
            self.size = end;
        }
        Ok(())
    }

    /// fallocate's PUNCH_HOLE: `[off, off + len)` reads as zeros after;
    /// whole pages inside it are given back.
    pub fn punch_hole(&mut self, m: Memory<'_>, off: u64, len: u64) {
        let end = off.saturating_add(len).min(self.size.max(off));
        if end <= off {
            return;
        }
        self.drop_pages(m, off.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        // The partial pages at either edge are zeroed in place (the whole
        // pages between are gone: the range may be far larger than memory).
        let head_end = end.min(off.div_ceil(PAGE_SIZE) * PAGE_SIZE);
        let tail_start = (end / PAGE_SIZE * PAGE_SIZE).max(head_end);
        for (from, to) in [(off, head_end), (tail_start, end)] {
            if from < to {
                if let Some(&p) = self.pages.get(&(from / PAGE_SIZE)) {
                    let in_page = (from % PAGE_SIZE) as usize;
                    m.store
                        .write(p, in_page, &[0u8; PAGE][..(to - from) as usize]);
                }
            }
        }
    }

    /// lseek's SEEK_DATA (`data`) or SEEK_HOLE from `off`, with page
    /// granularity as Linux's tmpfs: the first offset at or after `off`
    /// in a page that holds data, or in a hole (the end of the file counts
    /// as a hole). ENXIO at or past the end, or when no data follows.
    pub fn seek(&self, off: u64, data: bool) -> SysResult<u64> {
        if off >= self.size {
            return Err(Errno::ENXIO);
        }
        let first = off / PAGE_SIZE;
        let found = if data {
            self.pages
                .range(first..)
                .next()
                .map(|(&i, _)| (i * PAGE_SIZE).max(off))
                .filter(|&at| at < self.size)
        } else {
            let mut index = first;
            for (&i, _) in self.pages.range(first..) {
                if i != index {
                    break;
                }
                index += 1;
            }
            Some((index * PAGE_SIZE).max(off).min(self.size))
        };
        found.ok_or(Errno::ENXIO)
    }

    /// Each page that holds data, in order: (file offset, page).
    pub fn data_pages(&self) -> impl Iterator<Item = (u64, PageId)> + '_ {
        self.pages.iter().map(|(&i, &p)| (i * PAGE_SIZE, p))
    }

    /// Give every page back (the file is gone).
    pub fn release(&mut self, m: Memory<'_>) {
        for (_, p) in core::mem::take(&mut self.pages) {
            m.drop_page(p);
        }
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::HeapPages;

    struct Fs {
        store: HeapPages,
        budget: Budget,
    }

    impl Fs {
        fn new(limit: u64, frames: Option<usize>) -> Fs {
            Fs {
                store: HeapPages::new(frames),
                budget: Budget::new(limit),
            }
        }
        fn m(&self) -> Memory<'_> {
            Memory {
                store: &self.store,
                budget: &self.budget,
            }
        }
    }

    fn read_all(f: &FileData, m: Memory<'_>, off: u64, n: usize) -> Vec<u8> {
        let mut buf = alloc::vec![0xaa; n];
        let got = f.read(m, off, &mut buf);
        buf.truncate(got);
        buf
    }

    #[test]
    fn sparse_file_holds_only_written_pages() {
        let fs = Fs::new(64 << 20, None);
        let mut f = FileData::default();
        f.set_len(fs.m(), 1 << 30).unwrap();
        assert_eq!((f.len(), f.blocks(), fs.store.in_use()), (1 << 30, 0, 0));
        assert_eq!(f.write(fs.m(), 1 << 30, b"end").unwrap(), 3);
        assert_eq!(f.len(), (1 << 30) + 3);
        assert_eq!((f.blocks(), fs.budget.used()), (8, 4096));
        assert_eq!(read_all(&f, fs.m(), (1 << 30) - 2, 10), b"\0\0end");
        assert_eq!(read_all(&f, fs.m(), 12345, 4), [0; 4]);
        assert_eq!(f.seek(0, true), Ok(1 << 30));
        assert_eq!(f.seek(0, false), Ok(0));
        assert_eq!(f.seek(1 << 30, false), Ok((1 << 30) + 3));
        assert_eq!(f.seek((1 << 30) + 1, true), Ok((1 << 30) + 1));
        assert_eq!(f.seek((1 << 30) + 3, true), Err(Errno::ENXIO));
    }

    #[test]
    fn seek_finds_data_and_holes_by_page() {
        let fs = Fs::new(0, None);
        let mut f = FileData::default();
        f.write(fs.m(), 4096, &[1; 8192]).unwrap(); // pages 1 and 2
        f.write(fs.m(), 5 * 4096, b"x").unwrap(); // page 5
        assert_eq!(f.seek(0, true), Ok(4096));
        assert_eq!(f.seek(5000, true), Ok(5000));
        assert_eq!(f.seek(0, false), Ok(0));
        assert_eq!(f.seek(4096, false), Ok(3 * 4096));
        assert_eq!(f.seek(3 * 4096 + 7, true), Ok(5 * 4096));
        assert_eq!(f.seek(5 * 4096, false), Ok(5 * 4096 + 1));
        f.set_len(fs.m(), 9 * 4096).unwrap();
        assert_eq!(f.seek(5 * 4096 + 1, true), Ok(5 * 4096 + 1));
        assert_eq!(f.seek(6 * 4096, true), Err(Errno::ENXIO));
        assert_eq!(f.seek(6 * 4096, false), Ok(6 * 4096));
    }

    #[test]
    fn limit_is_exact_and_a_partial_write_counts_what_fit() {
        let fs = Fs::new(3 * 4096, None);
        let mut f = FileData::default();
        assert_eq!(f.write(fs.m(), 100, &[7; 20000]).unwrap(), 3 * 4096 - 100);
        assert_eq!(f.len(), 3 * 4096);
        assert_eq!(fs.budget.used(), 3 * 4096);
        // Inside pages it already has: no new memory needed.
        assert_eq!(f.write(fs.m(), 0, &[1; 50]).unwrap(), 50);
        assert_eq!(f.write(fs.m(), 3 * 4096, b"x"), Err(Errno::ENOSPC));
        assert_eq!(f.write(fs.m(), 1 << 20, b"x"), Err(Errno::ENOSPC));
        assert_eq!(f.len(), 3 * 4096, "nothing half-written");
        // Truncation gives pages back; they can be taken again.
        f.set_len(fs.m(), 4097).unwrap();
        assert_eq!((fs.budget.used(), fs.store.in_use()), (2 * 4096, 2));
        assert_eq!(read_all(&f, fs.m(), 4090, 100), [7, 7, 7, 7, 7, 7, 7]);
        f.set_len(fs.m(), 8192).unwrap();
        assert_eq!(
            read_all(&f, fs.m(), 4096, 3),
            [7, 0, 0],
            "old bytes past a cut are gone"
        );
        f.release(fs.m());
        assert_eq!((fs.budget.used(), fs.store.in_use()), (0, 0));
    }

    #[test]
    fn memory_running_out_is_enospc_not_a_panic() {
        let fs = Fs::new(0, Some(2));
        let mut f = FileData::default();
        assert_eq!(f.write(fs.m(), 0, &[1; 3 * 4096]).unwrap(), 2 * 4096);
        assert_eq!(f.write(fs.m(), 2 * 4096, b"x"), Err(Errno::ENOSPC));
        assert_eq!(fs.budget.used(), 2 * 4096, "a failed page is not counted");
    }

    #[test]
    fn sizes_past_the_largest_file_are_efbig() {
        let fs = Fs::new(0, None);
        let mut f = FileData::default();
        assert_eq!(f.write(fs.m(), MAX_FILE_SIZE, b"x"), Err(Errno::EFBIG));
        assert_eq!(f.write(fs.m(), MAX_FILE_SIZE - 1, b"xy"), Ok(1));
        assert_eq!(f.set_len(fs.m(), MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
        assert_eq!(
            f.allocate(fs.m(), MAX_FILE_SIZE, 1, false),
            Err(Errno::EFBIG)
        );
    }

    #[test]
    fn allocate_takes_all_or_nothing() {
        let fs = Fs::new(4 * 4096, None);
        let mut f = FileData::default();
        f.write(fs.m(), 0, b"a").unwrap();
        assert_eq!(f.allocate(fs.m(), 0, 8 * 4096, false), Err(Errno::ENOSPC));
        assert_eq!((fs.budget.used(), f.len()), (4096, 1));
        f.allocate(fs.m(), 0, 3 * 4096, true).unwrap();
        assert_eq!((fs.budget.used(), f.len()), (3 * 4096, 1));
        f.allocate(fs.m(), 4096, 10, false).unwrap();
        assert_eq!(f.len(), 4106);
        assert_eq!(read_all(&f, fs.m(), 0, 5000)[..2], *b"a\0");
    }

    #[test]
    fn punch_hole_zeroes_and_frees_whole_pages() {
        let fs = Fs::new(0, None);
        let mut f = FileData::default();
        f.write(fs.m(), 0, &[9; 4 * 4096]).unwrap();
        f.punch_hole(fs.m(), 100, 2 * 4096);
        assert_eq!(fs.store.in_use(), 3, "page 1 went back");
        assert_eq!(f.len(), 4 * 4096);
        let all = read_all(&f, fs.m(), 0, 4 * 4096);
        assert!(all[..100].iter().all(|&b| b == 9));
        assert!(all[100..100 + 2 * 4096].iter().all(|&b| b == 0));
        assert!(all[100 + 2 * 4096..].iter().all(|&b| b == 9));
        assert_eq!(f.seek(0, false), Ok(4096));
        // Within one page, and over a range far past memory.
        f.punch_hole(fs.m(), 10, 5);
        assert_eq!(read_all(&f, fs.m(), 8, 9), [9, 9, 0, 0, 0, 0, 0, 9, 9]);
        f.set_len(fs.m(), 1 << 62).unwrap();
        f.punch_hole(fs.m(), 20, 1 << 62);
        assert_eq!(fs.store.in_use(), 1);
        assert_eq!(read_all(&f, fs.m(), 18, 3), [9, 9, 0]);
    }
}
