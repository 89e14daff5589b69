//! Fast user-space mutexes: waiting on a 32-bit word and waking its
//! waiters, with bitsets, requeueing and WAKE_OP. There is one process, so
//! private and shared futexes are the same: both are keyed by address.
//!
//! Why a wake cannot be lost (the kernel runs one call at a time):
//! 1. A waiter's call reads the word and, if it still holds the expected
//!    value, queues the thread before anything else runs.
//! 2. A waker changes the word in user space, then calls FUTEX_WAKE: the
//!    waiter is either queued (and is woken) or has not checked yet (and
//!    will see the new value and return EAGAIN).
//! 3. A woken thread is off the queue; when the kernel re-issues its call,
//!    that is how the call knows it was woken (0) rather than re-issued
//!    for a deadline (ETIMEDOUT) or spuriously (it waits again).

use super::time::read_timespec;
use crate::call::{ok, Args, Call, Outcome};
use crate::process::WaitFor;
use crate::thread::futex::MATCH_ANY;
use kiln_abi::errno::{Errno, SysResult};

pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_FD: u32 = 2;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_CMP_REQUEUE: u32 = 4;
pub const FUTEX_WAKE_OP: u32 = 5;
pub const FUTEX_LOCK_PI: u32 = 6;
pub const FUTEX_UNLOCK_PI: u32 = 7;
pub const FUTEX_TRYLOCK_PI: u32 = 8;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAKE_BITSET: u32 = 10;
pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
pub const FUTEX_CMP_REQUEUE_PI: u32 = 12;
pub const FUTEX_LOCK_PI2: u32 = 13;
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
pub const FUTEX_CLOCK_REALTIME: u32 = 256;

fn aligned(addr: u64) -> Result<u64, Errno> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    Ok(addr)
}

fn read_word(c: &mut Call<'_>, addr: u64) -> Result<u32, Errno> {
    Ok(u32::from_le_bytes(c.mem().read_array::<4>(addr)?))
}

/// How many a wake count wakes: Linux's loop wakes one before checking
/// the count, so 0 and negative counts wake one.
fn wake_count(v: u32) -> u32 {
    (v as i32).max(1) as u32
}

/// Implements Linux `futex(2)`: WAIT, WAKE, WAIT_BITSET, WAKE_BITSET,
/// REQUEUE, CMP_REQUEUE, WAKE_OP, private or shared, with
/// FUTEX_CLOCK_REALTIME for WAIT_BITSET. Differs: the PI operations are
/// ENOSYS (glibc uses them only for PTHREAD_PRIO_INHERIT mutexes).
pub fn futex(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let op = a.uint(1);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime
        && !matches!(
            cmd,
            FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
        )
    {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT => wait(c, a, MATCH_ANY, false, false),
        FUTEX_WAIT_BITSET => wait(c, a, a.uint(5), true, realtime),
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE {
                MATCH_ANY
            } else {
                a.uint(5)
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let addr = aligned(a.u(0))?;
            ok(c.proc.futex_wake(addr, wake_count(a.uint(2)), bitset) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => requeue(c, a, cmd == FUTEX_CMP_REQUEUE),
        FUTEX_WAKE_OP => wake_op(c, a),
        _ => Err(Errno::ENOSYS),
    }
}

/// FUTEX_WAIT / FUTEX_WAIT_BITSET.
fn wait(
    c: &mut Call<'_>,
    a: Args,
    bitset: u32,
    absolute: bool,
    realtime: bool,
) -> SysResult<Outcome> {
    let addr = aligned(a.u(0))?;
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let tid = c.tid;
    if c.reissued() {
        if !c.proc.futexes().is_waiting(tid) {
            return ok(0);
        }
        let deadline = c.thread().call.and_then(|s| s.deadline);
        if deadline.is_some_and(|d| c.now() >= d) {
            c.proc.futexes_mut().cancel(tid);
            return Err(Errno::ETIMEDOUT);
        }
        return Ok(Outcome::Block(WaitFor::Wakeup { deadline }));
    }
    let timeout = if a.u(3) != 0 {
        Some(read_timespec(c, a.u(3))?)
    } else {
        None
    };
    if read_word(c, addr)? != a.uint(2) {
        return Err(Errno::EAGAIN);
    }
    let real_now = c.p.clock().realtime_ns();
    let deadline = timeout.map(|t| {
        c.deadline(|now| match (absolute, realtime) {
            (false, _) => now.saturating_add(t),
            (true, false) => t,
            (true, true) => now.saturating_add(t.saturating_sub(real_now)),
        })
    });
    if deadline.is_some_and(|d| c.now() >= d) {
        return Err(Errno::ETIMEDOUT);
    }
    c.proc.futexes_mut().wait(addr, tid, bitset);
    Ok(Outcome::Block(WaitFor::Wakeup { deadline }))
}

/// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE: wake some waiters of the first word,
/// move others to the second. Returns woken plus moved.
fn requeue(c: &mut Call<'_>, a: Args, cmp: bool) -> SysResult<Outcome> {
    let (from, to) = (aligned(a.u(0))?, aligned(a.u(4))?);
    let (nr_wake, nr_requeue) = (a.int(2), a.int(3));
    if nr_wake < 0 || nr_requeue < 0 {
        return Err(Errno::EINVAL);
    }
    if cmp && read_word(c, from)? != a.uint(5) {
        return Err(Errno::EAGAIN);
    }
    let (woken, moved) = c
        .proc
        .futexes_mut()
        .requeue(from, to, nr_wake as u32, nr_requeue as u32);
    for &t in &woken {
        c.proc.threads_mut().wake(t);
    }
    ok(woken.len() as u64 + moved as u64)
}

/// The encoded operation of FUTEX_WAKE_OP applied to `old`; None for an
/// unknown operation.
pub fn wake_op_apply(encoded: u32, old: u32) -> Option<(u32, bool)> {
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let sign12 = |v: u32| ((v << 20) as i32) >> 20;
    let mut oparg = sign12((encoded >> 12) & 0xfff);
    let cmparg = sign12(encoded & 0xfff);
    if encoded & (8 << 28) != 0 {
        oparg = 1i32.wrapping_shl((oparg & 31) as u32);
    }
    let oparg = oparg as u32;
    let new = match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return None,
    };
    let o = old as i32;
    let hit = match cmp {
        0 => o == cmparg,
        1 => o != cmparg,
        2 => o < cmparg,
        3 => o <= cmparg,
        4 => o > cmparg,
        5 => o >= cmparg,
        _ => return None,
    };
    Some((new, hit))
}

/// FUTEX_WAKE_OP: change the second word, wake waiters of the first, and
/// of the second too if its old value passes the comparison.
fn wake_op(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (addr1, addr2) = (aligned(a.u(0))?, aligned(a.u(4))?);
    let old = read_word(c, addr2)?;
    let (new, hit) = wake_op_apply(a.uint(5), old).ok_or(Errno::ENOSYS)?;
    c.mem().write_u32(addr2, new)?;
    let mut n = c.proc.futex_wake(addr1, wake_count(a.uint(2)), MATCH_ANY);
    if hit {
        n += c.proc.futex_wake(addr2, wake_count(a.uint(3)), MATCH_ANY);
    }
    ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(op: u32, cmp: u32, oparg: u32, cmparg: u32) -> u32 {
        (op & 0xf) << 28 | (cmp & 0xf) << 24 | (oparg & 0xfff) << 12 | (cmparg & 0xfff)
    }

    #[test]
    fn wake_op_ops_and_comparisons() {
        assert_eq!(wake_op_apply(enc(0, 0, 7, 5), 5), Some((7, true)));
        assert_eq!(wake_op_apply(enc(1, 1, 2, 5), 5), Some((7, false)));
        assert_eq!(wake_op_apply(enc(2, 2, 0b100, 9), 1), Some((0b101, true)));
        assert_eq!(wake_op_apply(enc(3, 3, 1, 3), 3), Some((2, true)));
        assert_eq!(wake_op_apply(enc(4, 4, 0xff, 3), 3), Some((0xfc, false)));
        assert_eq!(wake_op_apply(enc(0, 5, 1, 0xfff), 0), Some((1, true))); // 0 >= -1
                                                                            // OPARG_SHIFT: oparg is a bit number.
        assert_eq!(wake_op_apply(enc(8 | 2, 0, 4, 0), 0), Some((16, true)));
        assert_eq!(wake_op_apply(enc(5, 0, 0, 0), 0), None);
        assert_eq!(wake_op_apply(enc(0, 6, 0, 0), 0), None);
        // Negative operands are sign-extended.
        assert_eq!(wake_op_apply(enc(1, 2, 0xfff, 0), 1), Some((0, false)));
        assert_eq!(wake_count(0), 1);
        assert_eq!(wake_count(u32::MAX), 1);
        assert_eq!(wake_count(i32::MAX as u32), i32::MAX as u32);
    }
}
