//! A pipe that QEMU writes into by path and kiln copies to its own standard
//! output or error as it comes: QEMU opening kiln's stdout or stderr itself
//! would not share kiln's file offset, and its lines could overwrite kiln's
//! in a regular file.

use anyhow::{bail, Result};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Drops bytes until a line starts with the marker.
struct Gate {
    marker: &'static [u8],
    line: Vec<u8>,
    open: bool,
}

impl Gate {
    fn new(marker: &'static [u8]) -> Gate {
        Gate {
            marker,
            line: Vec::new(),
            open: false,
        }
    }

    /// What of `data` passes: nothing until the marker, then everything
    /// from the start of its line.
    fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.line.clear();
                continue;
            }
            self.line.push(b);
            if self.line.len() >= self.marker.len() {
                if self.line.starts_with(self.marker) {
                    self.open = true;
                    let mut out = std::mem::take(&mut self.line);
                    out.extend_from_slice(&data[i + 1..]);
                    return out;
                }
                // Not this line: skip to its end.
                self.line.truncate(self.marker.len());
                self.line[0] = 0;
            }
        }
        Vec::new()
    }
}

/// Where a relay copies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub struct Relay {
    /// What QEMU opens (`/proc/self/fd/N`: the pipe's write end, inherited).
    pub path: PathBuf,
    /// kiln's copy of the write end, dropped by [`Relay::finish`].
    write_end: Option<OwnedFd>,
    copier: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    pub fn new(target: Target) -> Result<Relay> {
        Relay::with_start(target, None)
    }

    /// A relay that drops what comes before the first line starting with
    /// `start` (firmware and boot-loader chatter before the kernel speaks).
    pub fn with_start(target: Target, start: Option<&'static [u8]>) -> Result<Relay> {
        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) fills the two-element array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            bail!("cannot make a pipe for QEMU's output");
        }
        // The read end stays in kiln; the write end is inherited by QEMU.
        // SAFETY: setting a flag on a descriptor just made.
        unsafe { libc::fcntl(fds[0], libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: each descriptor is owned by exactly one value from here on.
        let (read_end, write_end) = unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                OwnedFd::from_raw_fd(fds[1]),
            )
        };
        let copier = std::thread::spawn(move || {
            let mut read_end = read_end;
            let mut buf = [0u8; 8192];
            let mut gate = start.map(Gate::new);
            loop {
                let n = match std::io::Read::read(&mut read_end, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let passed;
                let data = match &mut gate {
                    Some(g) if !g.open => {
                        passed = g.feed(&buf[..n]);
                        &passed[..]
                    }
                    _ => &buf[..n],
                };
                if data.is_empty() {
                    continue;
                }
                let n = data.len();
                let buf = data;
                // Line by line as it comes: a console, not a file copy.
                let _ = match target {
                    Target::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&buf[..n]).and_then(|_| out.flush())
                    }
                    Target::Stderr => std::io::stderr().write_all(&buf[..n]),
                };
            }
        });
        Ok(Relay {
            path: PathBuf::from(format!("/proc/self/fd/{}", fds[1])),
            write_end: Some(write_end),
            copier: Some(copier),
        })
    }

    /// After QEMU has exited: copy what is left in the pipe.
    pub fn finish(self) {
        drop(self)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // QEMU has its own copy of the write end: the copy ends when QEMU
        // has exited and this one is closed.
        self.write_end.take();
        if let Some(t) = self.copier.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_at_the_marker_line() {
        let mut g = Gate::new(b"kiln: ");
        assert!(g
            .feed(b"\x1b[2JBdsDxe: loading\r\nWelcome to GRUB!\n")
            .is_empty());
        assert!(g.feed(b"no kiln: here\nki").is_empty());
        assert_eq!(
            g.feed(b"ln: kernel panic\nmore\n"),
            b"kiln: kernel panic\nmore\n"
        );
        assert!(g.open);
    }
}
