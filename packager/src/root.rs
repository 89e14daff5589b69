//! A root file system the packager reads programs and libraries from: the
//! host's `/`, a directory given with `--root` (an unpacked container image,
//! a debootstrap tree), or, for `kiln inspect`, an image's own file system.
//!
//! Paths are resolved the way the kernel resolves them inside a `chroot`:
//! an absolute symlink target starts again at the root and `..` stops there,
//! so nothing escapes the root. Every symlink met on the way is recorded, so
//! that the image can hold the same links (`/lib -> usr/lib`,
//! `libz.so.1 -> libz.so.1.2.13`) and the file at its real place.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What is at a path (not following a final symlink).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stat {
    Dir { mode: u32, mtime: u64 },
    File { size: u64, mode: u32, mtime: u64 },
    Symlink(String),
}

/// Read access to a file system whose paths are absolute and `/`-separated.
/// `lstat` and `read` get paths whose directories are real (the resolver
/// below walks symlinks itself).
pub trait Fs {
    fn lstat(&self, path: &str) -> io::Result<Stat>;
    /// The contents of a regular file.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// The names in a directory, sorted.
    fn read_dir(&self, path: &str) -> io::Result<Vec<String>>;
}

/// A symlink met while resolving a path: its path and its target text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub path: String,
    pub target: String,
}

/// A resolved path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path as asked (normalised).
    pub path: String,
    /// Where it really is: no symlink in any component.
    pub real: String,
    /// The symlinks followed on the way, in order.
    pub links: Vec<Link>,
    /// What is at `real` (a symlink only when the last one was not followed).
    pub stat: Stat,
}

/// Why a path does not resolve.
#[derive(Debug)]
pub enum ResolveError {
    NotFound,
    NotDir,
    Loop,
    Io(io::Error),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound => write!(f, "no such file or directory"),
            ResolveError::NotDir => write!(f, "a path component is not a directory"),
            ResolveError::Loop => write!(f, "symbolic link loop"),
            ResolveError::Io(e) => write!(f, "{}", crate::tree::io_reason(e)),
        }
    }
}

/// Symlinks followed before a path counts as a loop (Linux's limit).
const MAX_LINKS: usize = 40;

/// Join a real directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" || dir.is_empty() {
        format!("/{name}")
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The directory part of an absolute path (`/` for `/x`).
pub fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// An absolute path without empty or `.` components, `..` applied
/// lexically (it never goes above `/`). A relative path is taken from `cwd`.
pub fn normalize(path: &str, cwd: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let start = if path.starts_with('/') { "" } else { cwd };
    for c in start.split('/').chain(path.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolve `path` (absolute) in `fs`, following every symlink (the last
/// one too when `follow_last`).
pub fn resolve(fs: &dyn Fs, path: &str, follow_last: bool) -> Result<Found, ResolveError> {
    let asked = normalize(path, "/");
    let mut done: Vec<String> = Vec::new();
    let mut todo: VecDeque<String> = asked
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut links = Vec::new();
    let mut stat = Stat::Dir {
        mode: 0o755,
        mtime: 0,
    };
    if todo.is_empty() {
        stat = fs.lstat("/").map_err(io_error)?;
    }
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here = format!(
            "/{}",
            done.iter()
                .chain([&c])
                .cloned()
                .collect::<Vec<_>>()
                .join("/")
        );
        let last = todo.is_empty();
        let st = fs.lstat(&here).map_err(io_error)?;
        match st {
            Stat::Symlink(target) if !last || follow_last => {
                if links.len() >= MAX_LINKS {
                    return Err(ResolveError::Loop);
                }
                links.push(Link {
                    path: here,
                    target: target.clone(),
                });
                if target.starts_with('/') {
                    done.clear();
                }
                for t in target.split('/').rev().filter(|t| !t.is_empty()) {
                    todo.push_front(t.to_string());
                }
                if todo.is_empty() {
                    // A link to "/".
                    stat = fs.lstat("/").map_err(io_error)?;
                }
            }
            Stat::Dir { .. } => {
                done.push(c);
                stat = st;
            }
            other => {
                if !last {
                    return Err(ResolveError::NotDir);
                }
                done.push(c);
                stat = other;
            }
        }
    }
    Ok(Found {
        path: asked,
        real: format!("/{}", done.join("/")),
        links,
        stat,
    })
}

fn io_error(e: io::Error) -> ResolveError {
    match e.kind() {
        io::ErrorKind::NotFound => ResolveError::NotFound,
        _ if e.raw_os_error() == Some(libc::ENOTDIR) => ResolveError::NotDir,
        _ => ResolveError::Io(e),
    }
}

/// A host directory used as the root (`/` when no `--root` is given).
#[derive(Clone, Debug)]
pub struct HostRoot {
    dir: PathBuf,
}

impl HostRoot {
    /// The host's own root.
    pub fn host() -> HostRoot {
        HostRoot {
            dir: PathBuf::from("/"),
        }
    }

    /// `dir` as the root; it must be a directory.
    pub fn new(dir: &Path) -> anyhow::Result<HostRoot> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(HostRoot {
                dir: dir.to_path_buf(),
            }),
            Ok(_) => anyhow::bail!("root {}: not a directory", dir.display()),
            Err(e) => anyhow::bail!("root {}: {}", dir.display(), crate::tree::io_reason(&e)),
        }
    }

    /// Is this the host's `/`?
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// The root as shown in messages.
    pub fn shown(&self) -> String {
        self.dir.display().to_string()
    }

    /// The host path of a path in the root.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }
}

impl Fs for HostRoot {
    fn lstat(&self, path: &str) -> io::Result<Stat> {
        let host = self.host_path(path);
        let m = std::fs::symlink_metadata(&host)?;
        let t = m.file_type();
        let mtime = u64::try_from(m.mtime()).unwrap_or(0);
        let mode = m.mode() & 0o7777;
        if t.is_symlink() {
            let target = std::fs::read_link(&host)?;
            let target = target.to_str().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8")
            })?;
            Ok(Stat::Symlink(target.to_string()))
        } else if t.is_dir() {
            Ok(Stat::Dir { mode, mtime })
        } else if t.is_file() {
            Ok(Stat::File {
                size: m.len(),
                mode,
                mtime,
            })
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file, directory or symlink",
            ))
        }
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.host_path(path))
    }

    fn read_dir(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(self.host_path(path))? {
            if let Some(n) = e?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with merged /usr and a library symlink chain.
    pub(crate) fn merged_usr(d: &Path) {
        std::fs::create_dir_all(d.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(d.join("usr/lib64")).unwrap();
        symlink("usr/lib", d.join("lib")).unwrap();
        symlink("usr/lib64", d.join("lib64")).unwrap();
    }

    #[test]
    fn follows_links_inside_the_root_only() {
        let d = tempfile::tempdir().unwrap();
        merged_usr(d.path());
        let lib = d.path().join("usr/lib/x86_64-linux-gnu");
        std::fs::write(lib.join("libz.so.1.2.13"), "z").unwrap();
        symlink("libz.so.1.2.13", lib.join("libz.so.1")).unwrap();
        // An absolute link is taken from the root, not from the host.
        symlink(
            "/lib/x86_64-linux-gnu/libz.so.1",
            d.path().join("usr/lib64/libz.so.1"),
        )
        .unwrap();
        symlink("../../../../../../etc", lib.join("up")).unwrap();
        let root = HostRoot::new(d.path()).unwrap();
        let f = resolve(&root, "/lib64/libz.so.1", true).unwrap();
        assert_eq!(f.real, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
        let links: Vec<(&str, &str)> = f
            .links
            .iter()
            .map(|l| (l.path.as_str(), l.target.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                ("/lib64", "usr/lib64"),
                ("/usr/lib64/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
                ("/lib", "usr/lib"),
                ("/usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13"),
            ]
        );
        assert!(matches!(f.stat, Stat::File { size: 1, .. }));
        // ".." stops at the root: this is the root's /etc, which is missing.
        assert!(matches!(
            resolve(&root, "/lib/x86_64-linux-gnu/up/passwd", true),
            Err(ResolveError::NotFound)
        ));
        let f = resolve(&root, "/lib/x86_64-linux-gnu/libz.so.1", false).unwrap();
        assert_eq!(f.real, "/usr/lib/x86_64-linux-gnu/libz.so.1");
        assert_eq!(f.stat, Stat::Symlink("libz.so.1.2.13".into()));
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        assert!(matches!(
            resolve(&root, "/a", true),
            Err(ResolveError::Loop)
        ));
        assert!(matches!(
            resolve(&root, "/lib/x86_64-linux-gnu/libz.so.1/x", true),
            Err(ResolveError::NotDir)
        ));
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize("a/./b//c/../d", "/w"), "/w/a/b/d");
        assert_eq!(normalize("/../../x", "/"), "/x");
        assert_eq!(normalize("/", "/"), "/");
        assert_eq!(dirname("/x"), "/");
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(basename("/a/b"), "b");
    }
}
