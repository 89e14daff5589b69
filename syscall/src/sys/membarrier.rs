//! membarrier: a memory barrier on every thread of the program. Kiln runs
//! the program's threads on one CPU, and a thread that is not running
//! passes through the kernel (a serialising return to user mode) before it
//! runs again, so once the call is made the barrier holds; what is left is
//! Linux's bookkeeping of commands and registrations.

use crate::call::{ok, Args, Call, Outcome};
use kiln_abi::errno::{Errno, SysResult};

pub const MEMBARRIER_CMD_QUERY: i32 = 0;
pub const MEMBARRIER_CMD_GLOBAL: i32 = 1;
pub const MEMBARRIER_CMD_GLOBAL_EXPEDITED: i32 = 2;
pub const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: i32 = 4;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED: i32 = 8;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: i32 = 16;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 32;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 64;

/// The commands Kiln answers (no RSEQ variants: rseq is ENOSYS).
const SUPPORTED: i32 = MEMBARRIER_CMD_GLOBAL
    | MEMBARRIER_CMD_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;

/// Implements Linux `membarrier(2)`: QUERY, the global and private
/// expedited commands and their registrations. A private expedited
/// barrier before its registration is EPERM, as on Linux.
pub fn membarrier(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (cmd, flags) = (a.int(0), a.uint(1));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let registered = c.proc.membarrier_mut();
    match cmd {
        MEMBARRIER_CMD_QUERY => ok(SUPPORTED as u64),
        MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_GLOBAL_EXPEDITED => ok(0),
        MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
        | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
        | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            *registered |= cmd as u32;
            ok(0)
        }
        MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE => {
            // Each barrier's registration command is the next bit up.
            if *registered & ((cmd as u32) << 1) == 0 {
                return Err(Errno::EPERM);
            }
            ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
