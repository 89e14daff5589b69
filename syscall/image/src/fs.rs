//! The image's read-only file system: an index of entries in breadth-first
//! order, so that the children of every directory are contiguous and sorted
//! by name (lookup is a binary search per path component), followed by a
//! table of names. File contents live in the data section, each file at a
//! 4 KiB-aligned offset so that it can be mapped.
//!
//! ```text
//! u32 entry_count, u32 names_len
//! entry_count x 48-byte entries (entry 0 is the root directory)
//! names_len bytes of names and symlink targets
//! ```

use super::bytes::{Reader, Writer};
use super::{align_up, FormatError};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

/// Size of one encoded entry.
pub const ENTRY_SIZE: usize = 48;
/// Index of the root directory.
pub const ROOT: u32 = 0;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File = 1,
    Dir = 2,
    Symlink = 3,
}

impl EntryKind {
    fn from_u8(v: u8) -> Result<Self, FormatError> {
        match v {
            1 => Ok(EntryKind::File),
            2 => Ok(EntryKind::Dir),
            3 => Ok(EntryKind::Symlink),
            _ => Err(FormatError::Invalid("unknown entry kind")),
        }
    }
}

/// One file, directory or symlink of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub parent: u32,
    name_off: u32,
    name_len: u16,
    pub kind: EntryKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Directories: index of the first child.
    pub first_child: u32,
    /// Directories: number of children.
    pub child_count: u32,
    /// Files: size in bytes. Symlinks: length of the target.
    pub size: u64,
    /// Files: offset of the contents in the image. Symlinks: offset of the
    /// target in the name table.
    pub data: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// The parsed index.
#[derive(Clone, Debug)]
pub struct FsIndex {
    entries: Vec<Entry>,
    names: Vec<u8>,
}

impl FsIndex {
    /// How many bytes of the index section the index uses, from its first
    /// 8 bytes (entry count and name-table length): readers read that much
    /// and no more, whatever the section's length says.
    pub fn encoded_len(prefix: &[u8]) -> Result<u64, FormatError> {
        let mut r = Reader::new(prefix);
        let count = r.u32("fs index")? as u64;
        let names_len = r.u32("fs index")? as u64;
        // Cannot overflow: both are u32.
        Ok(8 + count * ENTRY_SIZE as u64 + names_len)
    }

    /// Parse and check an index. `data` is the image's file-data section:
    /// every file must lie inside it. The sizes are checked against
    /// `bytes` before anything is allocated, and the allocations are
    /// fallible ([`FormatError::NoMemory`]).
    pub fn parse(bytes: &[u8], data: super::Extent) -> Result<FsIndex, FormatError> {
        let mut r = Reader::new(bytes);
        let count = r.u32("fs index")? as usize;
        let names_len = r.u32("fs index")? as usize;
        if count == 0 {
            return Err(FormatError::Invalid("fs index has no root"));
        }
        if Self::encoded_len(bytes)? > bytes.len() as u64 {
            return Err(FormatError::Truncated("fs index"));
        }
        let mut entries = Vec::new();
        entries
            .try_reserve_exact(count)
            .map_err(|_| FormatError::NoMemory {
                what: "fs index",
                len: (count * core::mem::size_of::<Entry>()) as u64,
            })?;
        for _ in 0..count {
            let e = Entry {
                parent: r.u32("fs entry")?,
                name_off: r.u32("fs entry")?,
                name_len: r.u16("fs entry")?,
                kind: EntryKind::from_u8(r.u8("fs entry")?)?,
                mode: {
                    r.u8("fs entry")?;
                    r.u32("fs entry")?
                },
                first_child: r.u32("fs entry")?,
                child_count: r.u32("fs entry")?,
                size: r.u64("fs entry")?,
                data: r.u64("fs entry")?,
                mtime: r.u64("fs entry")?,
            };
            entries.push(e);
        }
        let mut names = Vec::new();
        names
            .try_reserve_exact(names_len)
            .map_err(|_| FormatError::NoMemory {
                what: "fs name table",
                len: names_len as u64,
            })?;
        names.extend_from_slice(r.bytes(names_len, "fs names")?);
        let index = FsIndex { entries, names };
        index.check(data)?;
        Ok(index)
    }

    fn check(&self, data: super::Extent) -> Result<(), FormatError> {
        let n = self.entries.len() as u64;
        if self.entries[0].kind != EntryKind::Dir {
            return Err(FormatError::Invalid("fs root is not a directory"));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.parent as u64 >= n || (i > 0 && e.parent as usize >= i) {
                return Err(FormatError::Invalid("fs entry parent out of order"));
            }
            if e.name_off as usize + e.name_len as usize > self.names.len() {
                return Err(FormatError::Truncated("fs name"));
            }
            let name = &self.names[e.name_off as usize..e.name_off as usize + e.name_len as usize];
            if i > 0 && (name.is_empty() || name.contains(&b'/') || name == b"." || name == b"..") {
                return Err(FormatError::Invalid("fs entry has a bad name"));
            }
            match e.kind {
                EntryKind::Dir => {
                    let end = e.first_child as u64 + e.child_count as u64;
                    if e.child_count > 0 && (end > n || (e.first_child as usize) <= i) {
                        return Err(FormatError::Invalid("fs children out of range"));
                    }
                }
                EntryKind::File => {
                    let end = e
                        .data
                        .checked_add(e.size)
                        .ok_or(FormatError::Invalid("file extent"))?;
                    if e.size > 0 && (e.data < data.offset || end > data.end()?) {
                        return Err(FormatError::Truncated("file data outside the data section"));
                    }
                }
                EntryKind::Symlink => {
                    let end = e
                        .data
                        .checked_add(e.size)
                        .ok_or(FormatError::Invalid("symlink extent"))?;
                    if end > self.names.len() as u64 {
                        return Err(FormatError::Truncated("symlink target"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a parsed index holds at least the root.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with index `id`, if any.
    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.entries.get(id as usize)
    }

    /// The name of entry `id` (empty for the root).
    pub fn name(&self, id: u32) -> &[u8] {
        let e = &self.entries[id as usize];
        &self.names[e.name_off as usize..e.name_off as usize + e.name_len as usize]
    }

    /// The target of a symlink.
    pub fn symlink_target(&self, id: u32) -> Option<&[u8]> {
        let e = self.entry(id)?;
        (e.kind == EntryKind::Symlink)
            .then(|| &self.names[e.data as usize..(e.data + e.size) as usize])
    }

    /// The ids of a directory's children, sorted by name.
    pub fn children(&self, dir: u32) -> Range<u32> {
        match self.entry(dir) {
            Some(e) if e.kind == EntryKind::Dir => e.first_child..e.first_child + e.child_count,
            _ => 0..0,
        }
    }

    /// Find `name` among the children of `dir`.
    pub fn lookup_child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let range = self.children(dir);
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Resolve an absolute path without following symlinks (`.` and `..`
    /// are understood). Returns `None` when a component is missing or is not
    /// a directory.
    pub fn lookup(&self, path: &str) -> Option<u32> {
        let mut cur = ROOT;
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if comp == ".." {
                cur = self.entries[cur as usize].parent;
                continue;
            }
            cur = self.lookup_child(cur, comp.as_bytes())?;
        }
        Some(cur)
    }
}

/// Why the packager could not add a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// The path is not absolute, has an empty or `.`/`..` component, or a
    /// component longer than 255 bytes.
    BadPath(String),
    /// Something else already sits at this path (or a file sits where a
    /// directory is needed).
    Clash(String),
}

impl core::fmt::Display for TreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TreeError::BadPath(p) => write!(f, "bad path in image: {p:?}"),
            TreeError::Clash(p) => write!(f, "two entries for the same path in the image: {p}"),
        }
    }
}

#[derive(Clone, Debug)]
enum NodeKind {
    Dir(BTreeMap<Vec<u8>, usize>),
    File { size: u64, key: u64 },
    Symlink(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Node {
    parent: usize,
    name: Vec<u8>,
    mode: u32,
    mtime: u64,
    kind: NodeKind,
}

/// Where the packager must write a file's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The key given to [`IndexBuilder::add_file`].
    pub key: u64,
    /// Absolute offset in the image.
    pub offset: u64,
    pub size: u64,
}

/// The result of [`IndexBuilder::build`].
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    /// The encoded index section.
    pub index: Vec<u8>,
    /// Where each file goes, in increasing offset order.
    pub files: Vec<Placement>,
    /// Length of the data section (a multiple of 4 KiB).
    pub data_len: u64,
}

/// Collects the tree on the packager side and lays it out.
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    nodes: Vec<Node>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder {
            nodes: alloc::vec![Node {
                parent: 0,
                name: Vec::new(),
                mode: 0o755,
                mtime: 0,
                kind: NodeKind::Dir(BTreeMap::new()),
            }],
        }
    }
}

fn components(path: &str) -> Result<Vec<&[u8]>, TreeError> {
    let bad = || TreeError::BadPath(String::from(path));
    if !path.starts_with('/') {
        return Err(bad());
    }
    let comps: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::as_bytes)
        .collect();
    if comps
        .iter()
        .any(|c| *c == b"." || *c == b".." || c.len() > 255)
    {
        return Err(bad());
    }
    Ok(comps)
}

impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries so far, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: the root is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Walk to the parent directory of `path`, creating missing directories.
    fn parent_of<'p>(&mut self, path: &'p str) -> Result<(usize, &'p [u8]), TreeError> {
        let comps = components(path)?;
        let (last, dirs) = comps
            .split_last()
            .ok_or_else(|| TreeError::Clash(String::from(path)))?;
        let mut cur = 0;
        for comp in dirs {
            cur = self.child_dir(cur, comp, path, 0o755, 0)?;
        }
        Ok((cur, last))
    }

    fn child_dir(
        &mut self,
        dir: usize,
        name: &[u8],
        path: &str,
        mode: u32,
        mtime: u64,
    ) -> Result<usize, TreeError> {
        let existing = match &self.nodes[dir].kind {
            NodeKind::Dir(children) => children.get(name).copied(),
            _ => return Err(TreeError::Clash(String::from(path))),
        };
        match existing {
            Some(id) if matches!(self.nodes[id].kind, NodeKind::Dir(_)) => Ok(id),
            Some(_) => Err(TreeError::Clash(String::from(path))),
            None => Ok(self.insert(dir, name, mode, mtime, NodeKind::Dir(BTreeMap::new()))),
        }
    }

    fn insert(&mut self, dir: usize, name: &[u8], mode: u32, mtime: u64, kind: NodeKind) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            parent: dir,
            name: name.to_vec(),
            mode,
            mtime,
            kind,
        });
        if let NodeKind::Dir(children) = &mut self.nodes[dir].kind {
            children.insert(name.to_vec(), id);
        }
        id
    }

    fn insert_new(
        &mut self,
        path: &str,
        mode: u32,
        mtime: u64,
        kind: NodeKind,
    ) -> Result<(), TreeError> {
        let (dir, name) = self.parent_of(path)?;
        match &self.nodes[dir].kind {
            NodeKind::Dir(children) if children.contains_key(name) => {
                Err(TreeError::Clash(String::from(path)))
            }
            NodeKind::Dir(_) => {
                self.insert(dir, name, mode, mtime, kind);
                Ok(())
            }
            _ => Err(TreeError::Clash(String::from(path))),
        }
    }

    /// Add a directory (and any missing parents). Adding one that exists
    /// updates its mode and time.
    pub fn add_dir(&mut self, path: &str, mode: u32, mtime: u64) -> Result<(), TreeError> {
        if components(path)?.is_empty() {
            self.nodes[0].mode = mode & 0o7777;
            self.nodes[0].mtime = mtime;
            return Ok(());
        }
        let (dir, name) = self.parent_of(path)?;
        let id = self.child_dir(dir, name, path, mode & 0o7777, mtime)?;
        self.nodes[id].mode = mode & 0o7777;
        self.nodes[id].mtime = mtime;
        Ok(())
    }

    /// Add a regular file of `size` bytes. `key` comes back in the
    /// placement so the caller knows which contents go where.
    pub fn add_file(
        &mut self,
        path: &str,
        size: u64,
        mode: u32,
        mtime: u64,
        key: u64,
    ) -> Result<(), TreeError> {
        self.insert_new(path, mode & 0o7777, mtime, NodeKind::File { size, key })
    }

    /// Add a symbolic link.
    pub fn add_symlink(&mut self, path: &str, target: &str, mtime: u64) -> Result<(), TreeError> {
        if target.is_empty() {
            return Err(TreeError::BadPath(String::from(path)));
        }
        self.insert_new(
            path,
            0o777,
            mtime,
            NodeKind::Symlink(target.as_bytes().to_vec()),
        )
    }

    /// Lay the tree out breadth-first, with file data starting at
    /// `data_offset` (4 KiB-aligned).
    pub fn build(&self, data_offset: u64) -> BuiltIndex {
        // Breadth-first order: each directory's children get consecutive ids.
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut new_id = alloc::vec![0u32; self.nodes.len()];
        let mut queue = VecDeque::from([0usize]);
        order.push(0usize);
        while let Some(n) = queue.pop_front() {
            if let NodeKind::Dir(children) = &self.nodes[n].kind {
                for &c in children.values() {
                    new_id[c] = order.len() as u32;
                    order.push(c);
                    queue.push_back(c);
                }
            }
        }
        let mut names = Vec::new();
        let mut files = Vec::new();
        let mut data = data_offset;
        let mut w = Writer::default();
        w.u32(order.len() as u32);
        let names_len_at = w.as_slice().len();
        w.u32(0);
        for &n in &order {
            let node = &self.nodes[n];
            let name_off = names.len() as u32;
            names.extend_from_slice(&node.name);
            let (kind, first, count, size, ptr) = match &node.kind {
                NodeKind::Dir(children) => {
                    let first = children.values().next().map(|&c| new_id[c]).unwrap_or(0);
                    (EntryKind::Dir, first, children.len() as u32, 0, 0)
                }
                NodeKind::File { size, key } => {
                    let offset = data;
                    files.push(Placement {
                        key: *key,
                        offset,
                        size: *size,
                    });
                    data = align_up(data + size);
                    (EntryKind::File, 0, 0, *size, offset)
                }
                NodeKind::Symlink(target) => {
                    let off = names.len() as u64;
                    names.extend_from_slice(target);
                    (EntryKind::Symlink, 0, 0, target.len() as u64, off)
                }
            };
            w.u32(if n == 0 { 0 } else { new_id[node.parent] });
            w.u32(name_off);
            w.u16(node.name.len() as u16);
            w.u8(kind as u8);
            w.u8(0);
            w.u32(node.mode);
            w.u32(first);
            w.u32(count);
            w.u64(size);
            w.u64(ptr);
            w.u64(node.mtime);
        }
        w.bytes(&names);
        let mut index = w.into_vec();
        index[names_len_at..names_len_at + 4].copy_from_slice(&(names.len() as u32).to_le_bytes());
        BuiltIndex {
            index,
            files,
            data_len: data - data_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Extent;

    fn sample() -> (IndexBuilder, BuiltIndex) {
        let mut b = IndexBuilder::new();
        b.add_file("/hello", 10_000, 0o755, 5, 1).unwrap();
        b.add_file("/etc/hosts", 20, 0o644, 6, 2).unwrap();
        b.add_dir("/tmp", 0o1777, 7).unwrap();
        b.add_symlink("/etc/alias", "hosts", 8).unwrap();
        b.add_file("/a/b/c/deep", 0, 0o600, 9, 3).unwrap();
        let built = b.build(0x20_0000);
        (b, built)
    }

    fn parse(built: &BuiltIndex) -> FsIndex {
        FsIndex::parse(
            &built.index,
            Extent {
                offset: 0x20_0000,
                len: built.data_len,
            },
        )
        .unwrap()
    }

    #[test]
    fn round_trip_lookup_and_listing() {
        let (_, built) = sample();
        let fs = parse(&built);
        let hello = fs.lookup("/hello").unwrap();
        let e = fs.entry(hello).unwrap();
        assert_eq!(
            (e.kind, e.size, e.mode, e.mtime),
            (EntryKind::File, 10_000, 0o755, 5)
        );
        assert_eq!(e.data % 4096, 0);
        let hosts = fs.entry(fs.lookup("/etc/./hosts").unwrap()).unwrap();
        assert_eq!(hosts.size, 20);
        assert!(hosts.data >= e.data + 10_000 || hosts.data + 20 <= e.data);
        let alias = fs.lookup("/etc/alias").unwrap();
        assert_eq!(fs.symlink_target(alias), Some(&b"hosts"[..]));
        assert_eq!(
            fs.lookup("/a/b/c/../c/deep")
                .map(|i| fs.entry(i).unwrap().kind),
            Some(EntryKind::File)
        );
        assert_eq!(fs.entry(fs.lookup("/tmp").unwrap()).unwrap().mode, 0o1777);
        let names: Vec<&[u8]> = fs.children(ROOT).map(|c| fs.name(c)).collect();
        assert_eq!(names, [&b"a"[..], b"etc", b"hello", b"tmp"]);
        assert_eq!(fs.lookup("/missing"), None);
        assert_eq!(fs.lookup("/hello/x"), None);
        assert_eq!(fs.lookup("/"), Some(ROOT));
    }

    #[test]
    fn placements_are_aligned_and_cover_every_file() {
        let (_, built) = sample();
        let mut keys: Vec<u64> = built.files.iter().map(|p| p.key).collect();
        keys.sort();
        assert_eq!(keys, [1, 2, 3]);
        assert!(built.files.iter().all(|p| p.offset % 4096 == 0));
        assert_eq!(built.data_len % 4096, 0);
    }

    #[test]
    fn builder_rejects_clashes_and_bad_paths() {
        let mut b = IndexBuilder::new();
        b.add_file("/x", 1, 0o644, 0, 0).unwrap();
        assert_eq!(
            b.add_file("/x", 1, 0o644, 0, 1),
            Err(TreeError::Clash("/x".into()))
        );
        assert_eq!(
            b.add_dir("/x", 0o755, 0),
            Err(TreeError::Clash("/x".into()))
        );
        assert_eq!(
            b.add_file("/x/y", 1, 0o644, 0, 1),
            Err(TreeError::Clash("/x/y".into()))
        );
        assert!(matches!(
            b.add_file("rel", 1, 0o644, 0, 1),
            Err(TreeError::BadPath(_))
        ));
        assert!(matches!(
            b.add_file("/a/../b", 1, 0o644, 0, 1),
            Err(TreeError::BadPath(_))
        ));
        assert!(matches!(
            b.add_symlink("/l", "", 0),
            Err(TreeError::BadPath(_))
        ));
        b.add_dir("/d", 0o700, 0).unwrap();
        b.add_dir("/d", 0o755, 0).unwrap();
    }

    #[test]
    fn parse_rejects_damaged_indexes() {
        let (_, built) = sample();
        let data = Extent {
            offset: 0x20_0000,
            len: built.data_len,
        };
        assert!(FsIndex::parse(&built.index[..built.index.len() - 1], data).is_err());
        // A file whose data lies outside the data section.
        assert!(FsIndex::parse(
            &built.index,
            Extent {
                offset: 0x20_0000,
                len: 4096
            }
        )
        .is_err());
        // A bad kind byte in the first entry.
        let mut bad = built.index.clone();
        bad[8 + 10] = 9;
        assert!(FsIndex::parse(&bad, data).is_err());
        assert!(FsIndex::parse(&[0; 8], data).is_err());
    }

    #[test]
    fn counts_are_checked_against_the_bytes_before_allocating() {
        let (_, built) = sample();
        let data = Extent {
            offset: 0x20_0000,
            len: built.data_len,
        };
        assert_eq!(
            FsIndex::encoded_len(&built.index).unwrap(),
            built.index.len() as u64
        );
        // Bytes after the index are not part of it.
        let mut longer = built.index.clone();
        longer.extend_from_slice(&[0xff; 100]);
        assert_eq!(
            parse(&built).len(),
            FsIndex::parse(&longer, data).unwrap().len()
        );
        // Counts that claim more than is there: refused, whatever their size.
        for (count, names) in [(u32::MAX, 0), (1, u32::MAX), (2_000_000, 96 << 20)] {
            let mut bad = built.index.clone();
            bad[..4].copy_from_slice(&count.to_le_bytes());
            bad[4..8].copy_from_slice(&names.to_le_bytes());
            assert_eq!(
                FsIndex::parse(&bad, data).unwrap_err(),
                FormatError::Truncated("fs index")
            );
        }
    }
}
