//! The x86_64 Linux signal frame (`struct rt_sigframe`): what the kernel
//! pushes on the stack before running a handler, and what `rt_sigreturn`
//! reads back. Pure layout code: the caller writes the bytes through the
//! user-memory module.
//!
//! ```text
//! frame + 0     pretcode (sa_restorer: the handler's return address)
//! frame + 8     struct ucontext (304 bytes)
//!                 +0 uc_flags, +8 uc_link, +16 uc_stack (24 bytes),
//!                 +40 sigcontext (256 bytes), +296 uc_sigmask
//! frame + 312   siginfo (128 bytes)
//! below frame   (on 64-byte alignment) the FXSAVE image, 512 bytes
//! ```

use alloc::vec::Vec;
use kiln_abi::context::UserContext;

pub const UCONTEXT_OFFSET: u64 = 8;
pub const SIGINFO_OFFSET: u64 = 8 + UCONTEXT_SIZE;
pub const UCONTEXT_SIZE: u64 = 304;
pub const FRAME_SIZE: u64 = SIGINFO_OFFSET + SIGINFO_SIZE;
pub const SIGINFO_SIZE: u64 = 128;
pub const FPSTATE_SIZE: usize = 512;
/// Bytes below the interrupted rsp that the frame skips (the ABI's red zone).
pub const RED_ZONE: u64 = 128;
const MCONTEXT_OFFSET: usize = 40;
const SIGMASK_OFFSET: usize = 296;

/// The `siginfo_t` the handler gets, in the fields the kernel fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    /// Union words at offset 16: faults put the address in `words[0]`;
    /// kill/tgkill put pid | uid << 32 there; timers put tid | overrun << 32
    /// in `words[0]` and the value in `words[1]`.
    pub words: [u64; 2],
}

impl SigInfo {
    pub fn encode(&self) -> [u8; SIGINFO_SIZE as usize] {
        let mut b = [0u8; SIGINFO_SIZE as usize];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[4..8].copy_from_slice(&self.errno.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        b[16..24].copy_from_slice(&self.words[0].to_le_bytes());
        b[24..32].copy_from_slice(&self.words[1].to_le_bytes());
        b
    }
}

/// Everything that goes into one frame.
pub struct FrameSpec<'a> {
    pub ctx: &'a UserContext,
    pub info: SigInfo,
    /// The thread's signal mask before delivery (restored by sigreturn).
    pub old_mask: u64,
    /// The alternate stack as `sigaltstack` reports it now.
    pub altstack: (u64, u32, u64),
    /// Where the frame goes: the alternate stack's top, or the interrupted
    /// rsp (the red zone is skipped here).
    pub stack_top: u64,
    pub on_altstack: bool,
    pub handler: u64,
    pub restorer: u64,
    /// Fault details for the sigcontext: error code, trap number, cr2.
    pub fault: (u64, u64, u64),
    pub fpstate: &'a [u8; FPSTATE_SIZE],
    /// Code and stack selectors reported in the sigcontext.
    pub selectors: (u16, u16),
}

/// A frame ready to be written: its bytes go at `addr`, the FXSAVE image
/// at `fp_addr`, and the thread continues with `ctx`.
pub struct Frame {
    pub addr: u64,
    pub bytes: Vec<u8>,
    pub fp_addr: u64,
    pub ctx: UserContext,
}

fn put(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Lay out a frame below `spec.stack_top`.
pub fn build(spec: &FrameSpec<'_>) -> Frame {
    let top = if spec.on_altstack {
        spec.stack_top
    } else {
        spec.stack_top.wrapping_sub(RED_ZONE)
    };
    let fp_addr = top.wrapping_sub(FPSTATE_SIZE as u64) & !63;
    // At the handler's first instruction rsp + 8 is 16-byte aligned, as if
    // the frame's pretcode had been pushed by a call.
    let addr = (fp_addr.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let c = spec.ctx;
    let mut b = alloc::vec![0u8; FRAME_SIZE as usize];
    put(&mut b, 0, spec.restorer);
    let uc = UCONTEXT_OFFSET as usize;
    // uc_flags 0, uc_link 0, then uc_stack.
    put(&mut b, uc + 16, spec.altstack.0);
    b[uc + 24..uc + 28].copy_from_slice(&spec.altstack.1.to_le_bytes());
    put(&mut b, uc + 32, spec.altstack.2);
    let m = uc + MCONTEXT_OFFSET;
    let gprs = [
        c.r8, c.r9, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15, c.rdi, c.rsi, c.rbp, c.rbx, c.rdx,
        c.rax, c.rcx, c.rsp, c.rip, c.rflags,
    ];
    for (i, v) in gprs.into_iter().enumerate() {
        put(&mut b, m + i * 8, v);
    }
    // cs, gs, fs, ss as four u16.
    b[m + 144..m + 146].copy_from_slice(&spec.selectors.0.to_le_bytes());
    b[m + 150..m + 152].copy_from_slice(&spec.selectors.1.to_le_bytes());
    put(&mut b, m + 152, spec.fault.0);
    put(&mut b, m + 160, spec.fault.1);
    put(&mut b, m + 168, spec.old_mask);
    put(&mut b, m + 176, spec.fault.2);
    put(&mut b, m + 184, fp_addr);
    put(&mut b, uc + SIGMASK_OFFSET, spec.old_mask);
    b[SIGINFO_OFFSET as usize..].copy_from_slice(&spec.info.encode());
    let ctx = UserContext {
        rip: spec.handler,
        rsp: addr,
        rdi: spec.info.signo as u64,
        rsi: addr + SIGINFO_OFFSET,
        rdx: addr + UCONTEXT_OFFSET,
        rax: 0,
        // Handlers start with DF and TF clear.
        rflags: c.rflags & !(0x400 | 0x100),
        fs_base: c.fs_base,
        ..*c
    };
    Frame {
        addr,
        bytes: b,
        fp_addr,
        ctx,
    }
}

/// What `rt_sigreturn` restores, read from the ucontext at the
/// interrupted thread's rsp.
pub struct Restored {
    pub ctx: UserContext,
    pub mask: u64,
    pub altstack: (u64, u32, u64),
    /// Where the FXSAVE image is (0: none).
    pub fp_addr: u64,
}

/// Decode a ucontext (`UCONTEXT_SIZE` bytes). The registers of `current`
/// not saved in a sigcontext (fs_base) are kept.
pub fn restore(uc: &[u8], current: &UserContext) -> Option<Restored> {
    if uc.len() < UCONTEXT_SIZE as usize {
        return None;
    }
    let m = MCONTEXT_OFFSET;
    let r = |i: usize| get(uc, m + i * 8);
    let ctx = UserContext {
        r8: r(0),
        r9: r(1),
        r10: r(2),
        r11: r(3),
        r12: r(4),
        r13: r(5),
        r14: r(6),
        r15: r(7),
        rdi: r(8),
        rsi: r(9),
        rbp: r(10),
        rbx: r(11),
        rdx: r(12),
        rax: r(13),
        rcx: r(14),
        rsp: r(15),
        rip: r(16),
        rflags: r(17),
        fs_base: current.fs_base,
    };
    let altstack = (
        get(uc, 16),
        u32::from_le_bytes(uc[24..28].try_into().ok()?),
        get(uc, 32),
    );
    Some(Restored {
        ctx,
        mask: get(uc, SIGMASK_OFFSET),
        altstack,
        fp_addr: get(uc, m + 184),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_and_round_trip() {
        let ctx = UserContext {
            rax: 1,
            rbx: 2,
            rcx: 3,
            rdx: 4,
            rsi: 5,
            rdi: 6,
            rbp: 7,
            r8: 8,
            r15: 15,
            rip: 0x401000,
            rsp: 0x7fff_0000_1008,
            rflags: 0x746,
            fs_base: 0x5000,
            ..Default::default()
        };
        let fp = [0xabu8; FPSTATE_SIZE];
        let spec = FrameSpec {
            ctx: &ctx,
            info: SigInfo {
                signo: 11,
                errno: 0,
                code: 1,
                words: [0xdead, 0],
            },
            old_mask: 0x5,
            altstack: (0, 2, 0),
            stack_top: ctx.rsp,
            on_altstack: false,
            handler: 0x402000,
            restorer: 0x403000,
            fault: (6, 14, 0xdead),
            fpstate: &fp,
            selectors: (0x23, 0x1b),
        };
        let f = build(&spec);
        assert_eq!((f.ctx.rsp + 8) % 16, 0);
        assert!(
            f.fp_addr.is_multiple_of(64) && f.fp_addr + FPSTATE_SIZE as u64 <= ctx.rsp - RED_ZONE
        );
        assert!(f.addr + FRAME_SIZE <= f.fp_addr);
        assert_eq!(
            (f.ctx.rip, f.ctx.rdi, f.ctx.rsi, f.ctx.rdx),
            (
                0x402000,
                11,
                f.addr + SIGINFO_OFFSET,
                f.addr + UCONTEXT_OFFSET
            )
        );
        assert_eq!(f.ctx.rflags & 0x500, 0);
        assert_eq!(get(&f.bytes, 0), 0x403000);
        assert_eq!(
            &f.bytes[SIGINFO_OFFSET as usize..SIGINFO_OFFSET as usize + 4],
            &11i32.to_le_bytes()
        );
        assert_eq!(get(&f.bytes, SIGINFO_OFFSET as usize + 16), 0xdead);
        let back = restore(&f.bytes[UCONTEXT_OFFSET as usize..], &f.ctx).unwrap();
        assert_eq!(back.ctx, ctx);
        assert_eq!(back.mask, 0x5);
        assert_eq!(back.fp_addr, f.fp_addr);
        assert_eq!(back.altstack, (0, 2, 0));
    }

    #[test]
    fn altstack_frames_start_at_its_top() {
        let ctx = UserContext {
            rsp: 0x7fff_0000_0000,
            ..Default::default()
        };
        let fp = [0u8; FPSTATE_SIZE];
        let spec = FrameSpec {
            ctx: &ctx,
            info: SigInfo::default(),
            old_mask: 0,
            altstack: (0x10_0000, 1, 0x8000),
            stack_top: 0x10_8000,
            on_altstack: true,
            handler: 1,
            restorer: 2,
            fault: (0, 0, 0),
            fpstate: &fp,
            selectors: (0x23, 0x1b),
        };
        let f = build(&spec);
        assert!(f.addr > 0x10_0000 && f.addr < 0x10_8000);
        assert!(restore(&f.bytes[..10], &ctx).is_none());
    }
}
