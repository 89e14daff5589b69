//! The image's file tree as the packager gathers it: every entry knows where
//! it came from, so that a clash names both sources. Host directories are
//! walked without following symlinks (they become symlinks in the image);
//! special files are refused.

use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
pub enum Content {
    /// Read from the host when the image is written.
    Host(PathBuf),
    /// Already in memory (the program, generated files).
    Bytes(Rc<[u8]>),
}

#[derive(Clone, Debug)]
pub enum Kind {
    Dir,
    File { size: u64, content: Content },
    Symlink(String),
}

/// One entry of the tree.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub mtime: u64,
    /// Where it came from, for messages ("data/a.txt (Files)").
    pub origin: Rc<str>,
    /// Directories that only exist because something sits below them.
    pub implicit: bool,
}

impl Node {
    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Dir => "directory",
            Kind::File { .. } => "file",
            Kind::Symlink(_) => "symlink",
        }
    }
}

/// The tree, keyed by absolute image path ("/" is the root).
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// The path of an io error, as a short lowercase reason.
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.raw_os_error() {
        Some(libc::ELOOP) => return "symbolic link loop".into(),
        Some(libc::ENOTDIR) => return "a path component is not a directory".into(),
        _ => {}
    }
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or(s)
        }
    }
}

/// Normalise an image path: absolute, no empty, `.` or `..` components,
/// valid UTF-8. Relative paths are taken from the root (as ops does).
pub fn image_path(p: &str) -> Result<String> {
    let mut out = String::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                bail!("{p}: \"..\" cannot be placed in the image; give the image path (HOST:IMAGE)")
            }
            c if c.len() > 255 => bail!("{p}: a path component is longer than 255 bytes"),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

fn mtime(meta: &Metadata) -> u64 {
    u64::try_from(meta.mtime()).unwrap_or(0)
}

/// Refuse what cannot go into an image.
fn check_type(host: &Path, meta: &Metadata) -> Result<()> {
    let t = meta.file_type();
    let what = if t.is_fifo() {
        "a named pipe (fifo)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        return Ok(());
    };
    bail!(
        "{}: is {what}; only regular files, directories and symlinks can go into an image",
        host.display()
    )
}

fn utf8_name(host: &Path, name: &std::ffi::OsStr) -> Result<String> {
    name.to_str().map(str::to_string).ok_or_else(|| {
        anyhow!(
            "{}: file names in the image must be valid UTF-8",
            host.display()
        )
    })
}

impl Tree {
    pub fn new() -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            Node {
                kind: Kind::Dir,
                mode: 0o755,
                mtime: 0,
                origin: "the image root".into(),
                implicit: true,
            },
        );
        Tree { nodes }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Entries in path order (a directory before what it holds).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Number of regular files.
    pub fn file_count(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| matches!(n.kind, Kind::File { .. }))
            .count()
    }

    /// Does anything sit below `dir`?
    pub fn has_children(&self, dir: &str) -> bool {
        self.first_below(dir).is_some()
    }

    /// The first entry below `dir`, in path order.
    pub fn first_below(&self, dir: &str) -> Option<(&String, &Node)> {
        let prefix = join(dir, "");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
    }

    /// Can `path` be added without a clash (nothing there, and every
    /// ancestor that exists is a directory)?
    pub fn is_free(&self, path: &str) -> bool {
        if self.nodes.contains_key(path) {
            return false;
        }
        let mut p = parent(path);
        while let Some(a) = p {
            match self.nodes.get(a) {
                Some(n) if !matches!(n.kind, Kind::Dir) => return false,
                _ => {}
            }
            p = parent(a);
        }
        true
    }

    /// Add `node` at `path` (normalised), creating missing directories.
    /// Two sources for one path, or a non-directory where a directory is
    /// needed, is an error naming both.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<()> {
        let mut ancestors = Vec::new();
        let mut p = parent(path);
        while let Some(a) = p {
            ancestors.push(a);
            p = parent(a);
        }
        for a in ancestors.into_iter().rev() {
            match self.nodes.get(a) {
                Some(n) if matches!(n.kind, Kind::Dir) => {}
                Some(n) => bail!(
                    "{path} (from {}) needs {a} to be a directory, but {a} is a {} (from {})",
                    node.origin,
                    n.what(),
                    n.origin
                ),
                None => {
                    self.nodes.insert(
                        a.to_string(),
                        Node {
                            kind: Kind::Dir,
                            mode: 0o755,
                            mtime: node.mtime,
                            origin: node.origin.clone(),
                            implicit: true,
                        },
                    );
                }
            }
        }
        match self.nodes.get_mut(path) {
            None => {
                self.nodes.insert(path.to_string(), node);
                Ok(())
            }
            Some(old) if matches!((&old.kind, &node.kind), (Kind::Dir, Kind::Dir)) => {
                // Two sources may both provide a directory; an explicit one
                // gives it its mode and time.
                if !node.implicit {
                    old.mode = node.mode;
                    old.mtime = node.mtime;
                    old.implicit = false;
                }
                Ok(())
            }
            Some(old) => bail!(
                "two sources for {path} in the image: {} (from {}) and {} (from {})",
                old.what(),
                old.origin,
                node.what(),
                node.origin
            ),
        }
    }

    /// Add `node` at `path` unless something is there already: the same
    /// thing (the same host file, a symlink with the same target, a
    /// directory), or something else the user put there, which wins.
    /// Returns whether it was added. A non-directory where a directory is
    /// needed is an error, as for [`Tree::insert`].
    pub fn insert_shared(&mut self, path: &str, node: Node) -> Result<bool> {
        if self.nodes.contains_key(path) {
            return Ok(false);
        }
        self.insert(path, node)?;
        Ok(true)
    }

    /// Add in-memory bytes as a file.
    pub fn add_bytes(
        &mut self,
        path: &str,
        bytes: Rc<[u8]>,
        mode: u32,
        mtime: u64,
        origin: &str,
    ) -> Result<()> {
        self.insert(
            path,
            Node {
                kind: Kind::File {
                    size: bytes.len() as u64,
                    content: Content::Bytes(bytes),
                },
                mode,
                mtime,
                origin: origin.into(),
                implicit: false,
            },
        )
    }

    /// Add a host file, directory or symlink at `image` (a normalised
    /// path). The host path itself is followed if it is a symlink (as `cp`
    /// does for its arguments); symlinks inside directories are kept.
    pub fn add_host(&mut self, host: &Path, image: &str, origin: &str) -> Result<()> {
        let meta = std::fs::metadata(host)
            .map_err(|e| anyhow!("{}: {}", host.display(), io_reason(&e)))?;
        let origin: Rc<str> = format!("{} ({origin})", host.display()).into();
        self.add_entry(host, image, &meta, &origin, 0)
    }

    fn add_entry(
        &mut self,
        host: &Path,
        image: &str,
        meta: &Metadata,
        origin: &Rc<str>,
        depth: usize,
    ) -> Result<()> {
        check_type(host, meta)?;
        let mode = meta.mode() & 0o7777;
        let t = meta.file_type();
        if t.is_symlink() {
            let target = std::fs::read_link(host)
                .map_err(|e| anyhow!("{}: {}", host.display(), io_reason(&e)))?;
            let target = target
                .to_str()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| anyhow!("{}: symlink target must be valid UTF-8", host.display()))?
                .to_string();
            return self.insert(
                image,
                Node {
                    kind: Kind::Symlink(target),
                    mode: 0o777,
                    mtime: mtime(meta),
                    origin: origin.clone(),
                    implicit: false,
                },
            );
        }
        if t.is_file() {
            return self.insert(
                image,
                Node {
                    kind: Kind::File {
                        size: meta.len(),
                        content: Content::Host(host.to_path_buf()),
                    },
                    mode,
                    mtime: mtime(meta),
                    origin: origin.clone(),
                    implicit: false,
                },
            );
        }
        // A directory.
        if depth > 256 {
            bail!("{}: directories nested too deeply", host.display());
        }
        self.insert(
            image,
            Node {
                kind: Kind::Dir,
                mode,
                mtime: mtime(meta),
                origin: origin.clone(),
                implicit: false,
            },
        )?;
        for (child, name, meta) in sorted_entries(host)? {
            self.add_entry(&child, &join(image, &name), &meta, origin, depth + 1)?;
        }
        Ok(())
    }

    /// ops MapDirs: `pattern` is a host path whose last component may hold
    /// `*` and `?`; every file below its directory whose name matches goes
    /// to `dest` plus its path relative to that directory. A pattern
    /// without wildcards that names a directory maps the directory's
    /// contents; one that names a file maps that file to `dest/<name>`.
    pub fn map_dir(&mut self, pattern: &Path, dest: &str, origin: &str) -> Result<usize> {
        let shown = pattern.display().to_string();
        let name = pattern
            .file_name()
            .map(|n| utf8_name(pattern, n))
            .transpose()?
            .unwrap_or_default();
        let has_glob = name.contains(['*', '?']);
        let (dir, pat) = if has_glob {
            let dir = pattern.parent().filter(|p| !p.as_os_str().is_empty());
            (dir.unwrap_or(Path::new(".")).to_path_buf(), name)
        } else {
            let meta =
                std::fs::metadata(pattern).map_err(|e| anyhow!("{shown}: {}", io_reason(&e)))?;
            if !meta.is_dir() {
                let origin: Rc<str> = format!("{shown} ({origin})").into();
                self.add_entry(pattern, &join(dest, &name), &meta, &origin, 0)?;
                return Ok(1);
            }
            (pattern.to_path_buf(), "*".to_string())
        };
        let meta =
            std::fs::metadata(&dir).map_err(|e| anyhow!("{}: {}", dir.display(), io_reason(&e)))?;
        if !meta.is_dir() {
            bail!("{shown}: {} is not a directory", dir.display());
        }
        let origin: Rc<str> = format!("{shown} ({origin})").into();
        let mut count = 0;
        self.map_walk(&dir, dest, &pat, &origin, &mut count, 0)?;
        Ok(count)
    }

    fn map_walk(
        &mut self,
        dir: &Path,
        dest: &str,
        pat: &str,
        origin: &Rc<str>,
        count: &mut usize,
        depth: usize,
    ) -> Result<()> {
        if depth > 256 {
            bail!("{}: directories nested too deeply", dir.display());
        }
        for (child, name, meta) in sorted_entries(dir)? {
            let image = join(dest, &name);
            if meta.is_dir() {
                self.map_walk(&child, &image, pat, origin, count, depth + 1)?;
            } else if wildcard(pat, &name) {
                self.add_entry(&child, &image, &meta, origin, depth)?;
                *count += 1;
            }
        }
        Ok(())
    }
}

/// The entries of a host directory, sorted by name (so that errors and
/// images do not depend on the host's directory order).
fn sorted_entries(dir: &Path) -> Result<Vec<(PathBuf, String, Metadata)>> {
    let unreadable = |e: std::io::Error| {
        anyhow!(
            "{}: cannot read directory: {}",
            dir.display(),
            io_reason(&e)
        )
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let child = entry.path();
        let name = utf8_name(&child, &entry.file_name())?;
        let meta = std::fs::symlink_metadata(&child)
            .map_err(|e| anyhow!("{}: {}", child.display(), io_reason(&e)))?;
        out.push((child, name, meta));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Shell-style match of a whole name: `*` any run, `?` one character.
pub fn wildcard(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "a.txt"));
        assert!(wildcard("*.txt", "a.txt"));
        assert!(!wildcard("*.txt", "a.txt.bak"));
        assert!(wildcard("a?c*", "abcdef"));
        assert!(!wildcard("a?c", "ac"));
        assert!(wildcard("*a*b", "xxaxxb"));
    }

    #[test]
    fn image_paths() {
        assert_eq!(image_path("data/x").unwrap(), "/data/x");
        assert_eq!(image_path("./a//b/").unwrap(), "/a/b");
        assert_eq!(image_path("/").unwrap(), "/");
        assert!(image_path("../x").is_err());
    }

    #[test]
    fn walks_directories_keeping_symlinks_modes_and_times() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("site");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("sub/b.bin"), [0u8; 10]).unwrap();
        std::fs::set_permissions(
            root.join("sub/b.bin"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        symlink("../a.txt", root.join("sub/link")).unwrap();
        symlink("loop", root.join("loop")).unwrap(); // a dangling self-loop is kept as is
        let mut t = Tree::new();
        t.add_host(&root, "/srv", "Dirs").unwrap();
        let b = t.get("/srv/sub/b.bin").unwrap();
        assert!(matches!(b.kind, Kind::File { size: 10, .. }));
        assert_eq!(b.mode, 0o640);
        assert!(b.mtime > 1_600_000_000);
        assert!(
            matches!(&t.get("/srv/sub/link").unwrap().kind, Kind::Symlink(s) if s == "../a.txt")
        );
        assert!(matches!(&t.get("/srv/loop").unwrap().kind, Kind::Symlink(s) if s == "loop"));
        assert_eq!(t.file_count(), 2);
        assert!(t.has_children("/srv/sub"));
        assert!(!t.has_children("/srv/a.txt"));
    }

    #[test]
    fn clashes_name_both_sources() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::write(&a, "x").unwrap();
        let mut t = Tree::new();
        t.add_host(&a, "/etc/conf", "Files").unwrap();
        let e = t
            .add_host(&a, "/etc/conf", "--file")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("two sources for /etc/conf in the image: file (from "),
            "{e}"
        );
        assert!(e.contains("(Files)") && e.ends_with("(--file))"), "{e}");
        let e = t
            .add_host(&a, "/etc/conf/x", "--file")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs /etc/conf to be a directory, but /etc/conf is a file"),
            "{e}"
        );
        // Directories from two sources merge.
        t.add_host(d.path(), "/m", "Dirs").unwrap();
        let e = t
            .add_host(d.path(), "/m", "MapDirs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("two sources for /m/a"), "{e}");
    }

    #[test]
    fn refuses_special_files_and_reports_loops_and_missing_files() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo gets a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let mut t = Tree::new();
        let e = t.add_host(d.path(), "/d", "Dirs").unwrap_err().to_string();
        assert!(e.ends_with("pipe: is a named pipe (fifo); only regular files, directories and symlinks can go into an image"), "{e}");
        std::fs::remove_file(&fifo).unwrap();
        symlink("l2", d.path().join("l1")).unwrap();
        symlink("l1", d.path().join("l2")).unwrap();
        let e = t
            .add_host(&d.path().join("l1"), "/l", "Files")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("l1: symbolic link loop"), "{e}");
        let e = t
            .add_host(&d.path().join("nope"), "/n", "Files")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("nope: no such file or directory"), "{e}");
    }

    #[test]
    fn map_dirs_globs_like_ops() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        std::fs::write(d.path().join("x/a.txt"), "a").unwrap();
        std::fs::write(d.path().join("x/b.log"), "b").unwrap();
        std::fs::write(d.path().join("x/y/c.txt"), "c").unwrap();
        let mut t = Tree::new();
        assert_eq!(
            t.map_dir(&d.path().join("x/*.txt"), "/data", "MapDirs")
                .unwrap(),
            2
        );
        assert!(t.get("/data/a.txt").is_some() && t.get("/data/y/c.txt").is_some());
        assert!(t.get("/data/b.log").is_none());
        let mut t = Tree::new();
        assert_eq!(t.map_dir(&d.path().join("x"), "/d", "MapDirs").unwrap(), 3);
        assert_eq!(
            t.map_dir(&d.path().join("x/b.log"), "/e", "MapDirs")
                .unwrap(),
            1
        );
        assert!(t.get("/e/b.log").is_some());
    }
}
