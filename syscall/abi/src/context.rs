//! The program's registers as saved on entry to the kernel.

/// User-mode register state of one thread. The kernel saves it on every
/// entry (syscall, exception, interrupt) and restores it on return; the
/// personality reads arguments from it and writes results into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UserContext {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub fs_base: u64,
}

impl UserContext {
    /// A fresh context that starts at `rip` with stack `rsp`, interrupts on.
    pub fn new(rip: u64, rsp: u64) -> Self {
        UserContext {
            rip,
            rsp,
            rflags: 0x202,
            ..Default::default()
        }
    }

    /// The syscall number (`rax` on entry).
    pub fn syscall_nr(&self) -> u64 {
        self.rax
    }

    /// The six syscall arguments in Linux order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}
