//! Credentials: real, effective, saved and file-system user and group ids
//! and the supplementary groups, changed with Linux's rules (servers start
//! as root and drop to an unprivileged user with setgroups, setgid and
//! setuid). The program starts as root. Kiln keeps and reports the ids;
//! it does not check file permissions against them.

use crate::call::{ok, Args, Call, Outcome};
pub use crate::cred::*;
use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

/// Implements Linux `getuid(2)`.
pub fn getuid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds().uid.real.into())
}

/// Implements Linux `geteuid(2)`.
pub fn geteuid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds().uid.effective.into())
}

/// Implements Linux `getgid(2)`.
pub fn getgid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds().gid.real.into())
}

/// Implements Linux `getegid(2)`.
pub fn getegid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds().gid.effective.into())
}

/// Which set of ids a call works on.
#[derive(Clone, Copy)]
enum Kind {
    User,
    Group,
}

/// Apply `change` to the user or group ids, telling it whether the caller
/// is privileged; its value is the call's return value.
fn change(
    c: &mut Call<'_>,
    kind: Kind,
    change: impl FnOnce(&mut Ids, bool) -> SysResult<u32>,
) -> SysResult<Outcome> {
    let creds = c.proc.creds_mut();
    match kind {
        Kind::User => {
            let old = creds.uid;
            let privileged = creds.privileged();
            let r = change(&mut creds.uid, privileged)?;
            creds.user_ids_changed(old);
            ok(r.into())
        }
        Kind::Group => {
            let privileged = creds.group_privileged();
            ok(change(&mut creds.gid, privileged)?.into())
        }
    }
}

/// Implements Linux `setuid(2)`.
pub fn setuid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::User, |i, p| i.set(a.uint(0), p).map(|_| 0))
}

/// Implements Linux `setgid(2)`.
pub fn setgid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::Group, |i, p| i.set(a.uint(0), p).map(|_| 0))
}

/// Implements Linux `setreuid(2)`.
pub fn setreuid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::User, |i, p| {
        i.set_re(a.uint(0), a.uint(1), p).map(|_| 0)
    })
}

/// Implements Linux `setregid(2)`.
pub fn setregid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::Group, |i, p| {
        i.set_re(a.uint(0), a.uint(1), p).map(|_| 0)
    })
}

/// Implements Linux `setresuid(2)`.
pub fn setresuid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (r, e, s) = (a.uint(0), a.uint(1), a.uint(2));
    change(c, Kind::User, |i, p| i.set_res(r, e, s, p).map(|_| 0))
}

/// Implements Linux `setresgid(2)`.
pub fn setresgid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (r, e, s) = (a.uint(0), a.uint(1), a.uint(2));
    change(c, Kind::Group, |i, p| i.set_res(r, e, s, p).map(|_| 0))
}

/// Implements Linux `setfsuid(2)`: returns the previous fs uid.
pub fn setfsuid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::User, |i, p| Ok(i.set_fs(a.uint(0), p)))
}

/// Implements Linux `setfsgid(2)`: returns the previous fs gid.
pub fn setfsgid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    change(c, Kind::Group, |i, p| Ok(i.set_fs(a.uint(0), p)))
}

/// Write real, effective and saved ids to three user addresses.
fn put_res(c: &mut Call<'_>, a: Args, ids: Ids) -> SysResult<Outcome> {
    for (i, id) in [ids.real, ids.effective, ids.saved].into_iter().enumerate() {
        c.mem().write_u32(a.u(i), id)?;
    }
    ok(0)
}

/// Implements Linux `getresuid(2)`.
pub fn getresuid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ids = c.proc.creds().uid;
    put_res(c, a, ids)
}

/// Implements Linux `getresgid(2)`.
pub fn getresgid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ids = c.proc.creds().gid;
    put_res(c, a, ids)
}

/// Implements Linux `getgroups(2)`.
pub fn getgroups(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.int(0);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = c.proc.creds().groups.clone();
    if size == 0 {
        return ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    c.mem().write(a.u(1), &bytes)?;
    ok(groups.len() as u64)
}

/// Implements Linux `setgroups(2)` (needs privilege: EPERM otherwise).
pub fn setgroups(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.int(0);
    if size < 0 || size as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !c.proc.creds().group_privileged() {
        return Err(Errno::EPERM);
    }
    let mut bytes = crate::fallible::zeroed(size as usize * 4)?;
    if size > 0 {
        c.mem().read(a.u(1), &mut bytes)?;
    }
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    groups.sort_unstable();
    c.proc.creds_mut().groups = groups;
    ok(0)
}

/// Read a `cap_user_header_t`: (32-bit words per set, pid), or `None` for
/// a version Kiln does not know, after writing the preferred one back.
fn cap_header(c: &mut Call<'_>, header: u64) -> SysResult<Option<(usize, i32)>> {
    let hdr = c.mem().read_array::<8>(header)?;
    let version = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let pid = i32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    match version {
        LINUX_CAPABILITY_VERSION_1 => Ok(Some((1, pid))),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Ok(Some((2, pid))),
        _ => {
            c.mem().write_u32(header, LINUX_CAPABILITY_VERSION_3)?;
            Ok(None)
        }
    }
}

/// Implements Linux `capget(2)` for the program itself: version 1 gives
/// one 32-bit set, versions 2 and 3 two; an unknown version is answered
/// with version 3 in the header and EINVAL (0 when `data` is NULL, as
/// Linux does for programs probing the version).
pub fn capget(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (header, data) = (a.u(0), a.u(1));
    let Some((words, pid)) = cap_header(c, header)? else {
        return if data == 0 { ok(0) } else { Err(Errno::EINVAL) };
    };
    if data == 0 {
        return ok(0);
    }
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if !matches!(pid, 0 | 1) {
        return Err(Errno::ESRCH);
    }
    let caps = c.proc.creds().caps;
    let mut out = Vec::with_capacity(words * 12);
    for w in 0..words {
        let half = |set: u64| ((set >> (32 * w)) as u32).to_le_bytes();
        out.extend_from_slice(&half(caps.effective));
        out.extend_from_slice(&half(caps.permitted));
        out.extend_from_slice(&half(caps.inheritable));
    }
    c.mem().write(data, &out)?;
    ok(0)
}

/// Implements Linux `capset(2)` for the program itself (pid 0 or 1; another
/// pid is EPERM): the sets may shrink, never grow beyond the permitted set
/// (see [`crate::cred::Creds::set_caps`]). An unknown version writes the
/// preferred one back and is EINVAL.
pub fn capset(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (header, data) = (a.u(0), a.u(1));
    let Some((words, pid)) = cap_header(c, header)? else {
        return Err(Errno::EINVAL);
    };
    if !matches!(pid, 0 | 1) {
        return Err(Errno::EPERM);
    }
    let mut raw = alloc::vec![0u8; words * 12];
    c.mem().read(data, &mut raw)?;
    let word = |w: usize, i: usize| {
        let o = w * 12 + i * 4;
        (u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]) as u64) << (32 * w)
    };
    let set = |i: usize| (0..words).fold(0u64, |acc, w| acc | word(w, i));
    let new = crate::cred::Caps {
        effective: set(0),
        permitted: set(1),
        inheritable: set(2),
    };
    c.proc.creds_mut().set_caps(new)?;
    ok(0)
}
