//! Paths: open/openat (read-only image files), readlink, getcwd, stat
//! family, getdents64. The writable file systems (tmpfs, /dev, /proc) come
//! in a later issue.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::{
    FileKind, OpenFile, O_ACCMODE, O_APPEND, O_CLOEXEC, O_DIRECTORY, O_LARGEFILE, O_NONBLOCK,
    O_RDONLY,
};
use crate::image::EntryKind;
use alloc::string::String;
use alloc::vec::Vec;

pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20000000 | O_DIRECTORY;
/// Longest path accepted, NUL included (PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// What `readlink("/proc/self/exe")` is matched against.
const PROC_SELF_EXE: [&[u8]; 2] = [b"/proc/self/exe", b"/proc/1/exe"];

fn read_path(c: &mut Call<'_>, addr: u64) -> Result<Vec<u8>, Errno> {
    let p = c.mem().read_cstr(addr, PATH_MAX - 1)?;
    Ok(p)
}

/// The absolute form of `path` relative to `dirfd` (AT_FDCWD: the cwd).
fn absolute(c: &Call<'_>, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(path.to_vec());
    }
    let mut base: Vec<u8> = if dirfd == AT_FDCWD {
        c.proc.cwd.as_bytes().to_vec()
    } else {
        match c.proc.fds.get(dirfd)?.kind {
            FileKind::Image { id }
                if c.proc.fs.index.entry(id).map(|e| e.kind) == Some(EntryKind::Dir) =>
            {
                c.proc.fs.path_of(id).into_bytes()
            }
            _ => return Err(Errno::ENOTDIR),
        }
    };
    base.push(b'/');
    base.extend_from_slice(path);
    Ok(base)
}

fn resolve_at(c: &mut Call<'_>, dirfd: i32, path_addr: u64, follow: bool) -> Result<u32, Errno> {
    let path = read_path(c, path_addr)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let abs = absolute(c, dirfd, &path)?;
    c.proc.fs.resolve(&abs, follow)
}

/// Implements Linux `openat(2)` for the image's read-only file system:
/// files and directories open O_RDONLY; asking to write, create or
/// truncate gives EROFS (EEXIST for O_CREAT|O_EXCL on an existing path).
pub fn openat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    open_common(c, a.fd(0), a.u(1), a.uint(2))
}

/// Implements Linux `open(2)`, as `openat(AT_FDCWD, ...)`.
pub fn open(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    open_common(c, AT_FDCWD, a.u(0), a.uint(1))
}

fn open_common(c: &mut Call<'_>, dirfd: i32, path_addr: u64, flags: u32) -> SysResult<Outcome> {
    let path = read_path(c, path_addr)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let abs = absolute(c, dirfd, &path)?;
    let found = c.proc.fs.resolve(&abs, flags & O_NOFOLLOW == 0);
    let wants_write =
        flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 || flags & O_TMPFILE == O_TMPFILE;
    let id = match found {
        Ok(id) => {
            if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                return Err(Errno::EEXIST);
            }
            id
        }
        Err(Errno::ENOENT) if flags & O_CREAT != 0 => {
            // The parent exists (else this stays ENOENT) but the file system is read-only.
            let cut = abs.iter().rposition(|&b| b == b'/').unwrap_or(0);
            let parent = if cut == 0 { &b"/"[..] } else { &abs[..cut] };
            c.proc.fs.resolve(parent, true)?;
            return Err(Errno::EROFS);
        }
        Err(e) => return Err(e),
    };
    let kind = c.proc.fs.index.entry(id).ok_or(Errno::ENOENT)?.kind;
    if kind == EntryKind::Symlink && flags & O_PATH == 0 {
        return Err(Errno::ELOOP);
    }
    if flags & O_DIRECTORY != 0 && kind != EntryKind::Dir {
        return Err(Errno::ENOTDIR);
    }
    if wants_write {
        return Err(if kind == EntryKind::Dir {
            Errno::EISDIR
        } else {
            Errno::EROFS
        });
    }
    let status = (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY)) | O_LARGEFILE;
    let limit = c.fd_limit();
    let fd = c.proc.fds.open(
        OpenFile::new(FileKind::Image { id }, status),
        flags & O_CLOEXEC != 0,
        limit,
    )?;
    ok(fd as u64)
}

fn readlink_common(
    c: &mut Call<'_>,
    dirfd: i32,
    path_addr: u64,
    buf: u64,
    size: i32,
) -> SysResult<Outcome> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(c, path_addr)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let target: Vec<u8> = if PROC_SELF_EXE.contains(&path.as_slice()) {
        c.proc.exe.as_bytes().to_vec()
    } else {
        let abs = absolute(c, dirfd, &path)?;
        let id = c.proc.fs.resolve(&abs, false)?;
        c.proc
            .fs
            .index
            .symlink_target(id)
            .ok_or(Errno::EINVAL)?
            .to_vec()
    };
    let n = target.len().min(size as usize);
    c.mem().write(buf, &target[..n])?;
    ok(n as u64)
}

/// Implements Linux `readlink(2)`: `/proc/self/exe` names the program;
/// symlinks of the image are read; other `/proc` paths are ENOENT for now.
pub fn readlink(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    readlink_common(c, AT_FDCWD, a.u(0), a.u(1), a.int(2))
}

/// Implements Linux `readlinkat(2)` (as readlink).
pub fn readlinkat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    readlink_common(c, a.fd(0), a.u(1), a.u(2), a.int(3))
}

/// Implements Linux `getcwd(2)`: the manifest's working directory.
pub fn getcwd(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let mut cwd: Vec<u8> = c.proc.cwd.as_bytes().to_vec();
    cwd.push(0);
    if (a.u(1) as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    c.mem().write(a.u(0), &cwd)?;
    ok(cwd.len() as u64)
}

/// Implements Linux `chdir(2)` within the image.
pub fn chdir(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let id = resolve_at(c, AT_FDCWD, a.u(0), true)?;
    if c.proc.fs.index.entry(id).map(|e| e.kind) != Some(EntryKind::Dir) {
        return Err(Errno::ENOTDIR);
    }
    c.proc.cwd = c.proc.fs.path_of(id);
    ok(0)
}

/// What `struct stat` carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub mtime: u64,
}

pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

impl Stat {
    /// The x86_64 `struct stat` (144 bytes).
    pub fn encode(&self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(28, &self.uid.to_le_bytes());
        put(32, &self.gid.to_le_bytes());
        put(40, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for t in [72, 88, 104] {
            put(t, &self.mtime.to_le_bytes());
        }
        b
    }
}

/// The console as a tty: /dev/pts/0 (char device 136:0), mode 0620.
pub fn console_stat(now_s: u64) -> Stat {
    Stat {
        dev: 0x16,
        ino: 3,
        nlink: 1,
        mode: S_IFCHR | 0o620,
        rdev: 136 << 8,
        blksize: 1024,
        mtime: now_s,
        ..Default::default()
    }
}

fn image_stat(c: &Call<'_>, id: u32) -> Result<Stat, Errno> {
    let e = c.proc.fs.index.entry(id).ok_or(Errno::ENOENT)?;
    let (kind, nlink) = match e.kind {
        EntryKind::File => (S_IFREG, 1),
        EntryKind::Dir => (S_IFDIR, 2),
        EntryKind::Symlink => (S_IFLNK, 1),
    };
    Ok(Stat {
        dev: 0x801,
        ino: id as u64 + 2,
        nlink,
        mode: kind | (e.mode & 0o7777),
        size: e.size,
        blksize: 4096,
        blocks: e.size.div_ceil(512),
        mtime: e.mtime,
        ..Default::default()
    })
}

fn fd_stat(c: &Call<'_>, fd: i32) -> Result<Stat, Errno> {
    match c.proc.fds.get(fd)?.kind {
        FileKind::Console => Ok(console_stat(c.p.clock().realtime_ns() / 1_000_000_000)),
        FileKind::Image { id } => image_stat(c, id),
    }
}

/// Implements Linux `fstat(2)`.
pub fn fstat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let st = fd_stat(c, a.fd(0))?;
    c.mem().write(a.u(1), &st.encode())?;
    ok(0)
}

fn stat_path(c: &mut Call<'_>, dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult<Outcome> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = read_path(c, path)?;
    let st = if p.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if dirfd == AT_FDCWD {
            let cwd = String::from(c.proc.cwd.as_str());
            let id = c.proc.fs.resolve(cwd.as_bytes(), true)?;
            image_stat(c, id)?
        } else {
            fd_stat(c, dirfd)?
        }
    } else {
        let abs = absolute(c, dirfd, &p)?;
        let id = c.proc.fs.resolve(&abs, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        image_stat(c, id)?
    };
    c.mem().write(buf, &st.encode())?;
    ok(0)
}

/// Implements Linux `newfstatat(2)` (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW).
pub fn newfstatat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, a.fd(0), a.u(1), a.u(2), a.uint(3))
}

/// Implements Linux `stat(2)`.
pub fn stat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, AT_FDCWD, a.u(0), a.u(1), 0)
}

/// Implements Linux `lstat(2)`.
pub fn lstat(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    stat_path(c, AT_FDCWD, a.u(0), a.u(1), AT_SYMLINK_NOFOLLOW)
}

const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;
const DT_LNK: u8 = 10;

/// Implements Linux `getdents64(2)` on image directories ("." and ".."
/// first, then the entries sorted by name).
pub fn getdents64(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = *c.proc.fds.get(fd)?;
    let FileKind::Image { id } = file.kind else {
        return Err(Errno::ENOTDIR);
    };
    let dir = *c.proc.fs.index.entry(id).ok_or(Errno::EBADF)?;
    if dir.kind != EntryKind::Dir {
        return Err(Errno::ENOTDIR);
    }
    let children = c.proc.fs.index.children(id);
    let total = 2 + children.len() as u64;
    let mut out = Vec::new();
    let mut pos = file.pos;
    while pos < total {
        let (ino, ty, name): (u64, u8, Vec<u8>) = match pos {
            0 => (id as u64 + 2, DT_DIR, b".".to_vec()),
            1 => (dir.parent as u64 + 2, DT_DIR, b"..".to_vec()),
            n => {
                let child = children.start + (n - 2) as u32;
                let ty = match c.proc.fs.index.entry(child).map(|e| e.kind) {
                    Some(EntryKind::Dir) => DT_DIR,
                    Some(EntryKind::Symlink) => DT_LNK,
                    _ => DT_REG,
                };
                (child as u64 + 2, ty, c.proc.fs.index.name(child).to_vec())
            }
        };
        let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > a.u(2) as usize {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&(pos + 1).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(ty);
        out.extend_from_slice(&name);
        out.resize(out.len() + reclen - 19 - name.len(), 0);
        pos += 1;
    }
    c.mem().write(a.u(1), &out)?;
    c.proc.fds.get_mut(fd)?.pos = pos;
    ok(out.len() as u64)
}
