//! The only way the personality touches program memory. Every access is
//! checked against the region's rights, pages are faulted in on demand, and
//! a bad pointer becomes EFAULT, never a kernel fault.

use super::fault::{allows, fill_page};
use super::{page_down, AddressSpace};
use crate::imagefs::ImageFs;
use crate::platform::{Platform, PAGE_SIZE};
use alloc::vec::Vec;
use kiln_abi::errno::Errno;
use kiln_abi::Access;

/// A checked view of the program's memory for one system call.
pub struct UserMem<'a> {
    pub space: &'a AddressSpace,
    pub fs: &'a ImageFs,
    pub p: &'a mut dyn Platform,
}

impl UserMem<'_> {
    /// Make the page at `addr` present if its region allows `access`.
    fn ready(&mut self, addr: u64, access: Access) -> Result<(), Errno> {
        let region = *self.space.find(addr).ok_or(Errno::EFAULT)?;
        if !allows(region.prot, access) {
            return Err(Errno::EFAULT);
        }
        let page = page_down(addr);
        if !self.p.mmu().is_mapped(page) {
            fill_page(self.fs, self.p, &region, page).map_err(|e| {
                if e == Errno::ENOMEM {
                    self.space.note_out_of_memory();
                }
                Errno::EFAULT
            })?;
        }
        Ok(())
    }

    /// Copy from `addr` into `buf` until done or the first bad page.
    /// Returns the number of bytes copied.
    pub fn read_partial(&mut self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(at) = addr.checked_add(done as u64) else {
                break;
            };
            if self.ready(at, Access::Read).is_err() {
                break;
            }
            let n = (buf.len() - done).min((PAGE_SIZE - at % PAGE_SIZE) as usize);
            self.p.mmu().read_mapped(at, &mut buf[done..done + n]);
            done += n;
        }
        done
    }

    /// Copy `data` to `addr` until done or the first bad page. Returns the
    /// number of bytes copied.
    pub fn write_partial(&mut self, addr: u64, data: &[u8]) -> usize {
        let mut done = 0usize;
        while done < data.len() {
            let Some(at) = addr.checked_add(done as u64) else {
                break;
            };
            if self.ready(at, Access::Write).is_err() {
                break;
            }
            let n = (data.len() - done).min((PAGE_SIZE - at % PAGE_SIZE) as usize);
            self.p.mmu().write_mapped(at, &data[done..done + n]);
            done += n;
        }
        done
    }

    /// Copy all of `buf` from `addr`, or EFAULT.
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if self.read_partial(addr, buf) == buf.len() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    /// Copy all of `data` to `addr`, or EFAULT.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        if self.write_partial(addr, data) == data.len() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    /// Read `N` bytes.
    pub fn read_array<const N: usize>(&mut self, addr: u64) -> Result<[u8; N], Errno> {
        let mut a = [0u8; N];
        self.read(addr, &mut a)?;
        Ok(a)
    }

    pub fn read_u64(&mut self, addr: u64) -> Result<u64, Errno> {
        self.read_array(addr).map(u64::from_le_bytes)
    }

    pub fn write_u64(&mut self, addr: u64, v: u64) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    pub fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Read a NUL-terminated string of at most `max` bytes (NUL excluded).
    /// ENAMETOOLONG if no NUL comes within `max` bytes, EFAULT on a bad page.
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let mut buf = [0u8; PAGE_SIZE as usize];
            self.read(at, &mut buf[..chunk])?;
            if let Some(nul) = buf[..chunk].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return if out.len() > max {
                    Err(Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            out.extend_from_slice(&buf[..chunk]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(chunk as u64).ok_or(Errno::EFAULT)?;
        }
    }
}
