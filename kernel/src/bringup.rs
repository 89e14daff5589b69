//! Temporary bring-up harness (removed once the personality lands): a
//! hand-assembled program that writes and exits, to exercise user entry,
//! demand faults, syscalls, timer waits and the exit path.
use alloc::string::String;
use kiln_syscall::context::UserContext;
use kiln_syscall::platform::{Platform, Prot};
use kiln_syscall::process::*;
pub struct Process;
const CODE: &[u8] = &[0x50, 0xB8,1,0,0,0, 0xBF,1,0,0,0, 0x48,0x8D,0x35,19,0,0,0, 0xBA,6,0,0,0, 0x0F,0x05, 0xB8,0xE7,0,0,0, 0xBF,42,0,0,0, 0x0F,0x05, b'h',b'e',b'l',b'l',b'o',b'\n'];
impl Process {
    pub fn boot(p: &mut dyn Platform) -> Result<(Process, UserContext), BootError> {
        let mut buf = alloc::vec![0u8; 4096];
        p.block().read_sectors(2048, &mut buf).map_err(|_| BootError("read".into()))?;
        crate::println!("nic {:?}", p.net().map(|n| n.mac()));
        crate::println!("disk {} bytes, header: {:?}", p.block().size(), kiln_syscall::image::Header::decode(&buf));
        p.mmu().map_zeroed(0x400000, Prot::READ | Prot::EXEC).unwrap();
        p.mmu().write_mapped(0x400000, CODE);
        Ok((Process, UserContext::new(0x400000, 0x7fff_0000_1000)))
    }
    pub fn syscall(&mut self, p: &mut dyn Platform, ctx: &mut UserContext) -> Flow {
        match ctx.rax {
            1 if p.clock().monotonic_ns() < 500_000_000 => Flow::Block(WaitFor::Deadline(500_000_000)),
            1 => { let mut b = [0u8; 6]; p.mmu().read_mapped(ctx.rsi, &mut b); p.console().write(&b); ctx.rax = 6; Flow::Continue }
            231 => Flow::Exit(ctx.rdi as i32),
            _ => { ctx.rax = (-38i64) as u64; Flow::Continue }
        }
    }
    pub fn page_fault(&mut self, p: &mut dyn Platform, addr: u64, _a: Access) -> Result<(), FaultSignal> {
        crate::println!("page fault at {addr:#x}");
        if addr >= 0x7fff_0000_0000 { p.mmu().map_zeroed(addr & !0xfff, Prot::READ | Prot::WRITE).unwrap(); Ok(()) }
        else { Err(FaultSignal { signal: Signal::Sigsegv, code: 1, addr }) }
    }
    pub fn symbolize(&self, _addr: u64) -> Option<(String, u64)> { None }
}
