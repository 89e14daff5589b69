//! Sending signals to the program itself: kill, tkill, tgkill. There is
//! one process (pid 1, in process group and session 1); any other target
//! does not exist. Unlike a real init, pid 1 is not shielded from signals
//! whose default action is to terminate.

use crate::call::{ok, Args, Call, Outcome};
use crate::thread::signal::{user_info, NSIG, SI_TKILL, SI_USER};
use kiln_abi::errno::{Errno, SysResult};

const PID: i32 = super::proc::PID as i32;

/// EINVAL unless `sig` is 0 (a probe) or a signal number.
pub fn check_signal(sig: i32) -> Result<(), Errno> {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Implements Linux `kill(2)`: pid 1 and 0 (own group) reach the program;
/// -1 ("everyone but init and me") and other pids find no one (ESRCH).
pub fn kill(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (pid, sig) = (a.int(0), a.int(1));
    check_signal(sig)?;
    match pid {
        PID | 0 => {}
        _ => return Err(Errno::ESRCH),
    }
    if sig != 0 {
        c.proc.send_signal(None, user_info(sig, SI_USER))?;
    }
    ok(0)
}

fn to_thread(c: &mut Call<'_>, tid: i32, sig: i32) -> SysResult<Outcome> {
    if c.proc.threads().get(tid).is_none() {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        c.proc.send_signal(Some(tid), user_info(sig, SI_TKILL))?;
    }
    ok(0)
}

/// Implements Linux `tgkill(2)` to one of the program's threads.
pub fn tgkill(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (tgid, tid, sig) = (a.int(0), a.int(1), a.int(2));
    check_signal(sig)?;
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if tgid != PID {
        return Err(Errno::ESRCH);
    }
    to_thread(c, tid, sig)
}

/// Implements Linux `tkill(2)`.
pub fn tkill(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (tid, sig) = (a.int(0), a.int(1));
    check_signal(sig)?;
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    to_thread(c, tid, sig)
}
