//! getrandom.

use crate::call::{ok, Args, Call, Outcome};
use kiln_abi::errno::{Errno, SysResult};

pub const GRND_NONBLOCK: u32 = 1;
pub const GRND_RANDOM: u32 = 2;
pub const GRND_INSECURE: u32 = 4;

/// Implements Linux `getrandom(2)`: the platform's entropy is always ready,
/// so no flag ever makes it wait.
pub fn getrandom(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(2);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(Errno::EINVAL);
    }
    let len = a.u(1).min(super::io::MAX_RW_COUNT);
    let mut done = 0u64;
    let mut buf = [0u8; 256];
    while done < len {
        let n = (len - done).min(256) as usize;
        c.p.random().fill(&mut buf[..n]);
        let put = c.mem().write_partial(a.u(0) + done, &buf[..n]);
        done += put as u64;
        if put < n {
            return if done == 0 {
                Err(Errno::EFAULT)
            } else {
                ok(done)
            };
        }
    }
    ok(done)
}
