//! The namespace: the root file system, the mounts on top of it, and path
//! resolution as Linux does it (absolute and relative paths, `..` across
//! mount points, symlinks with ELOOP after 40, ENOTDIR, ENAMETOOLONG,
//! trailing slashes).
//!
//! A walk keeps the chain of directories it went through (a
//! [`Location`]); `..` steps back along it. Following a symlink replaces
//! the chain by the target's, so `..` after a symlink goes to the parent
//! of what the link points at, as on Linux.

use super::file::Cx;
use super::node::{NodeKind, NodeRef};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

/// Longest path accepted, NUL included (PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// Longest name of one component (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Symlinks followed in one resolution before ELOOP.
pub const MAX_SYMLINKS: u32 = 40;

/// A resolved path: the chain of (name, node) from the root ("" first).
#[derive(Clone)]
pub struct Location {
    chain: Vec<(Vec<u8>, NodeRef)>,
}

impl Location {
    /// The root of the namespace.
    pub fn root(root: NodeRef) -> Location {
        Location {
            chain: alloc::vec![(Vec::new(), root)],
        }
    }
    /// The node this location names.
    pub fn node(&self) -> &NodeRef {
        &self.chain[self.chain.len() - 1].1
    }
    /// The absolute path, "/" for the root.
    pub fn path(&self) -> Vec<u8> {
        if self.chain.len() == 1 {
            return b"/".to_vec();
        }
        let mut p = Vec::new();
        for (name, _) in &self.chain[1..] {
            p.push(b'/');
            p.extend_from_slice(name);
        }
        p
    }
    pub fn path_string(&self) -> String {
        String::from_utf8_lossy(&self.path()).into_owned()
    }
    /// The path of `name` inside this location.
    fn child_path(&self, name: &[u8]) -> Vec<u8> {
        let mut p = if self.chain.len() == 1 {
            Vec::new()
        } else {
            self.path()
        };
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }
    fn push(&mut self, name: &[u8], node: NodeRef) {
        self.chain.push((name.to_vec(), node));
    }
    fn pop(&mut self) {
        if self.chain.len() > 1 {
            self.chain.pop();
        }
    }
    /// The location of the parent directory (the root's is the root).
    pub fn parent(&self) -> Location {
        let mut l = self.clone();
        l.pop();
        l
    }
    /// The last name ("" for the root).
    pub fn name(&self) -> &[u8] {
        &self.chain[self.chain.len() - 1].0
    }
    /// Whether `node` is this location or one of its ancestors (a rename
    /// of a directory into itself).
    pub fn passes_through(&self, node: &NodeRef) -> bool {
        self.chain.iter().any(|(_, n)| same(n, node))
    }
}

/// Whether two references name the same node.
pub fn same(a: &NodeRef, b: &NodeRef) -> bool {
    core::ptr::addr_eq(alloc::sync::Arc::as_ptr(a), alloc::sync::Arc::as_ptr(b))
}

/// The last component of a path split off for create/remove/rename.
pub struct Parent {
    /// The directory that holds (or will hold) the name.
    pub dir: Location,
    /// The last component; "." or ".." are passed on for the caller's errno.
    pub name: Vec<u8>,
    /// The path ended with '/'.
    pub trailing_slash: bool,
}

/// The root file system and what is mounted on it.
pub struct Namespace {
    root: NodeRef,
    /// Mount point (absolute path, no trailing slash) to mounted root.
    mounts: BTreeMap<Vec<u8>, NodeRef>,
}

impl Namespace {
    pub fn new(root: NodeRef) -> Namespace {
        Namespace {
            root,
            mounts: BTreeMap::new(),
        }
    }

    /// Mount `fs` at the absolute path `at`. The mount point need not exist
    /// in the file system below (the image may lack /proc).
    pub fn mount(&mut self, at: &str, fs: NodeRef) {
        let at = at.trim_end_matches('/');
        if at.is_empty() {
            self.root = fs;
        } else {
            self.mounts.insert(at.as_bytes().to_vec(), fs);
        }
    }

    /// The mounts as (mount point, root), for /proc/self/mountinfo.
    pub fn mounts(&self) -> impl Iterator<Item = (&[u8], &NodeRef)> {
        self.mounts.iter().map(|(k, v)| (k.as_slice(), v))
    }

    pub fn root(&self) -> Location {
        Location::root(self.root.clone())
    }

    /// Whether `loc` is a mount point (EBUSY for rmdir/rename).
    pub fn is_mount_point(&self, path: &[u8]) -> bool {
        path == b"/" || self.mounts.contains_key(path)
    }

    /// Names of mount points directly inside `dir` (listed by getdents even
    /// when the directory below lacks them).
    pub fn mount_names_in(&self, dir: &[u8]) -> Vec<Vec<u8>> {
        let prefix: &[u8] = if dir == b"/" { b"" } else { dir };
        self.mounts
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.strip_prefix(b"/")?;
                (!rest.contains(&b'/')).then(|| rest.to_vec())
            })
            .collect()
    }

    /// The child `name` of the directory at `loc`, mounts first.
    pub fn child(&self, cx: &mut Cx<'_>, loc: &Location, name: &[u8]) -> SysResult<NodeRef> {
        if let Some(m) = self.mounts.get(&loc.child_path(name)) {
            return Ok(m.clone());
        }
        loc.node().lookup(cx, name)
    }

    /// Resolve `path` from `start` (used for relative paths). `follow`:
    /// follow a symlink in the last component. An empty path is ENOENT.
    pub fn resolve(
        &self,
        cx: &mut Cx<'_>,
        start: &Location,
        path: &[u8],
        follow: bool,
    ) -> SysResult<Location> {
        let mut budget = MAX_SYMLINKS;
        let mut loc = start.clone();
        self.walk(cx, &mut loc, path, follow, &mut budget)?;
        Ok(loc)
    }

    fn walk(
        &self,
        cx: &mut Cx<'_>,
        loc: &mut Location,
        path: &[u8],
        follow: bool,
        budget: &mut u32,
    ) -> SysResult<()> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if path[0] == b'/' {
            *loc = self.root();
        }
        let trailing = path.ends_with(b"/");
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            if loc.node().kind() != NodeKind::Dir {
                return Err(Errno::ENOTDIR);
            }
            if comp.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            match *comp {
                b"." => continue,
                b".." => {
                    loc.pop();
                    continue;
                }
                _ => {}
            }
            let child = self.child(cx, loc, comp)?;
            if child.kind() == NodeKind::Symlink && (!last || follow || trailing) {
                if *budget == 0 {
                    return Err(Errno::ELOOP);
                }
                *budget -= 1;
                if let Some(jump) = child.jump(cx) {
                    *loc = jump?;
                    continue;
                }
                let target = child.readlink(cx)?;
                self.walk(cx, loc, &target, true, budget)?;
            } else {
                loc.push(comp, child);
            }
        }
        if trailing && loc.node().kind() != NodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(())
    }

    /// Split `path` into its directory (resolved, following symlinks) and
    /// last name, for calls that create, remove or rename that name.
    pub fn resolve_parent(
        &self,
        cx: &mut Cx<'_>,
        start: &Location,
        path: &[u8],
    ) -> SysResult<Parent> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trailing_slash = trimmed_len < path.len();
        if trimmed_len == 0 {
            // "/" itself: the root has no parent entry to work on.
            return Ok(Parent {
                dir: self.root(),
                name: b".".to_vec(),
                trailing_slash,
            });
        }
        let trimmed = &path[..trimmed_len];
        let cut = trimmed.iter().rposition(|&b| b == b'/');
        let (dir_part, name) = match cut {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let dir = if dir_part.is_empty() {
            start.clone()
        } else {
            self.resolve(cx, start, dir_part, true)?
        };
        if dir.node().kind() != NodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(Parent {
            dir,
            name: name.to_vec(),
            trailing_slash,
        })
    }
}
