//! The file descriptor table: descriptors point at shared open-file
//! descriptions (offset and status flags are shared by dups, close-on-exec
//! belongs to the descriptor), as in Linux.

use crate::errno::Errno;
use alloc::vec::Vec;

pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_ACCMODE: u32 = 3;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_ASYNC: u32 = 0o20000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// Status flags that F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

/// What an open file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The console (standard input and output).
    Console,
    /// A file or directory of the image, by index entry.
    Image { id: u32 },
}

/// An open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFile {
    pub kind: FileKind,
    /// Access mode and status flags (`O_*`).
    pub flags: u32,
    /// File position.
    pub pos: u64,
    refs: usize,
}

impl OpenFile {
    pub fn new(kind: FileKind, flags: u32) -> Self {
        OpenFile {
            kind,
            flags,
            pos: 0,
            refs: 0,
        }
    }
    pub fn readable(&self) -> bool {
        self.flags & O_ACCMODE != O_WRONLY
    }
    pub fn writable(&self) -> bool {
        matches!(self.flags & O_ACCMODE, O_WRONLY | O_RDWR)
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    file: usize,
    cloexec: bool,
}

/// Descriptors and the open file descriptions they share.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    fds: Vec<Option<Slot>>,
    files: Vec<Option<OpenFile>>,
}

fn index(fd: i32) -> Result<usize, Errno> {
    usize::try_from(fd).map_err(|_| Errno::EBADF)
}

impl FdTable {
    /// A table with 0, 1 and 2 open on one console description (read-write).
    pub fn with_console() -> Self {
        let mut t = FdTable::default();
        let f = t.add_file(OpenFile::new(FileKind::Console, O_RDWR));
        for fd in 0..3 {
            t.install(fd, f, false);
        }
        t
    }

    fn add_file(&mut self, file: OpenFile) -> usize {
        match self.files.iter().position(Option::is_none) {
            Some(i) => {
                self.files[i] = Some(file);
                i
            }
            None => {
                self.files.push(Some(file));
                self.files.len() - 1
            }
        }
    }

    fn install(&mut self, fd: usize, file: usize, cloexec: bool) {
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        if let Some(old) = self.fds[fd].take() {
            self.release(old.file);
        }
        if let Some(f) = self.files[file].as_mut() {
            f.refs += 1;
        }
        self.fds[fd] = Some(Slot { file, cloexec });
    }

    fn release(&mut self, file: usize) {
        if let Some(f) = self.files[file].as_mut() {
            f.refs -= 1;
            if f.refs == 0 {
                self.files[file] = None;
            }
        }
    }

    fn slot(&self, fd: i32) -> Result<Slot, Errno> {
        self.fds
            .get(index(fd)?)
            .copied()
            .flatten()
            .ok_or(Errno::EBADF)
    }

    fn lowest_free(&self, min: usize, limit: usize) -> Result<usize, Errno> {
        (min..limit)
            .find(|&i| self.fds.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)
    }

    /// The open file behind `fd`.
    pub fn get(&self, fd: i32) -> Result<&OpenFile, Errno> {
        let s = self.slot(fd)?;
        self.files[s.file].as_ref().ok_or(Errno::EBADF)
    }

    /// The open file behind `fd`, for changing its position or flags.
    pub fn get_mut(&mut self, fd: i32) -> Result<&mut OpenFile, Errno> {
        let s = self.slot(fd)?;
        self.files[s.file].as_mut().ok_or(Errno::EBADF)
    }

    /// Open a new description on the lowest free descriptor below `limit`.
    pub fn open(&mut self, file: OpenFile, cloexec: bool, limit: usize) -> Result<i32, Errno> {
        let fd = self.lowest_free(0, limit)?;
        let f = self.add_file(file);
        self.install(fd, f, cloexec);
        Ok(fd as i32)
    }

    /// Close `fd`.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let s = self.slot(fd)?;
        self.fds[fd as usize] = None;
        self.release(s.file);
        Ok(())
    }

    /// Duplicate `fd` onto the lowest free descriptor `>= min` (F_DUPFD).
    pub fn dup_min(
        &mut self,
        fd: i32,
        min: usize,
        cloexec: bool,
        limit: usize,
    ) -> Result<i32, Errno> {
        let s = self.slot(fd)?;
        let new = self.lowest_free(min, limit)?;
        self.install(new, s.file, cloexec);
        Ok(new as i32)
    }

    /// Duplicate `fd` onto `new`, closing what `new` held (dup2/dup3).
    pub fn dup_to(&mut self, fd: i32, new: i32, cloexec: bool, limit: usize) -> Result<i32, Errno> {
        let s = self.slot(fd)?;
        let n = index(new)?;
        if n >= limit {
            return Err(Errno::EBADF);
        }
        self.install(n, s.file, cloexec);
        Ok(new)
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        Ok(self.slot(fd)?.cloexec)
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        self.slot(fd)?;
        if let Some(s) = self.fds[fd as usize].as_mut() {
            s.cloexec = on;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dups_share_the_description_and_close_releases_it() {
        let mut t = FdTable::with_console();
        let fd = t
            .open(
                OpenFile::new(FileKind::Image { id: 4 }, O_RDONLY),
                false,
                1024,
            )
            .unwrap();
        assert_eq!(fd, 3);
        let d = t.dup_min(fd, 10, true, 1024).unwrap();
        assert_eq!(d, 10);
        t.get_mut(fd).unwrap().pos = 99;
        assert_eq!(t.get(d).unwrap().pos, 99);
        assert!(t.cloexec(d).unwrap() && !t.cloexec(fd).unwrap());
        t.close(fd).unwrap();
        assert_eq!(t.get(d).unwrap().pos, 99);
        assert_eq!(t.close(fd), Err(Errno::EBADF));
        assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
        assert_eq!(t.dup_to(0, 1024, false, 1024), Err(Errno::EBADF));
        assert_eq!(t.dup_min(0, 5, false, 5), Err(Errno::EMFILE));
    }
}
