//! The file descriptor table: descriptors point at shared open file
//! descriptions ([`crate::vfs::Description`]: the object, offset and status flags are
//! shared by dups), close-on-exec belongs to the descriptor, as in Linux.

use alloc::vec::Vec;
use kiln_abi::errno::Errno;

pub use kiln_abi::fcntl::*;

/// A shared open file description.
pub use crate::vfs::FileRef;

#[derive(Clone)]
struct Slot {
    file: FileRef,
    cloexec: bool,
}

/// Descriptors and the descriptions they share.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: Vec<Option<Slot>>,
    /// Every descriptor below this one is open: the search for a free one
    /// starts here, so opening N descriptors costs O(N), not O(N^2).
    free_from: usize,
}

fn index(fd: i32) -> Result<usize, Errno> {
    usize::try_from(fd).map_err(|_| Errno::EBADF)
}

impl FdTable {
    fn slot(&self, fd: i32) -> Result<&Slot, Errno> {
        self.fds
            .get(index(fd)?)
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    fn lowest_free(&mut self, min: usize, limit: usize) -> Result<usize, Errno> {
        let i = (min.max(self.free_from)..limit)
            .find(|&i| self.fds.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)?;
        if min <= self.free_from {
            self.free_from = i;
        }
        Ok(i)
    }

    /// ENOMEM when the table cannot grow to hold `fd` (as Linux's
    /// `expand_files`).
    fn install(
        &mut self,
        fd: usize,
        file: FileRef,
        cloexec: bool,
    ) -> Result<Option<FileRef>, Errno> {
        if self.fds.len() <= fd {
            let more = fd + 1 - self.fds.len();
            crate::fallible::reserve(&mut self.fds, more)?;
            self.fds.resize(fd + 1, None);
        }
        Ok(self.fds[fd].replace(Slot { file, cloexec }).map(|s| s.file))
    }

    /// The description behind `fd`.
    pub fn get(&self, fd: i32) -> Result<&FileRef, Errno> {
        Ok(&self.slot(fd)?.file)
    }

    /// Open `file` on the lowest free descriptor below `limit`.
    pub fn open(&mut self, file: FileRef, cloexec: bool, limit: usize) -> Result<i32, Errno> {
        let fd = self.lowest_free(0, limit)?;
        self.install(fd, file, cloexec)?;
        Ok(fd as i32)
    }

    /// Put `file` on exactly `fd` (boot: the console on 0, 1, 2).
    pub fn set(&mut self, fd: usize, file: FileRef) {
        let _ = self.install(fd, file, false);
    }

    /// Close `fd`; returns its description (dropped by the caller).
    pub fn close(&mut self, fd: i32) -> Result<FileRef, Errno> {
        self.slot(fd)?;
        let s = self.fds[fd as usize].take().ok_or(Errno::EBADF)?;
        self.free_from = self.free_from.min(fd as usize);
        while self.fds.last().is_some_and(Option::is_none) {
            self.fds.pop();
        }
        Ok(s.file)
    }

    /// Duplicate `fd` onto the lowest free descriptor `>= min` (F_DUPFD).
    pub fn dup_min(
        &mut self,
        fd: i32,
        min: usize,
        cloexec: bool,
        limit: usize,
    ) -> Result<i32, Errno> {
        let file = self.slot(fd)?.file.clone();
        let new = self.lowest_free(min, limit)?;
        self.install(new, file, cloexec)?;
        Ok(new as i32)
    }

    /// Duplicate `fd` onto `new`, closing what `new` held (dup2/dup3).
    pub fn dup_to(&mut self, fd: i32, new: i32, cloexec: bool, limit: usize) -> Result<i32, Errno> {
        let file = self.slot(fd)?.file.clone();
        let n = index(new)?;
        if n >= limit {
            return Err(Errno::EBADF);
        }
        self.install(n, file, cloexec)?;
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

    /// The open descriptors, in order.
    pub fn open_fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.fds
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as i32)
    }

    /// One past the highest open descriptor.
    pub fn end(&self) -> usize {
        self.fds.len()
    }
}
