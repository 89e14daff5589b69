//! Credentials: real, effective, saved and file-system user and group ids
//! and the supplementary groups, changed with Linux's rules (servers start
//! as root and drop to an unprivileged user with setgroups, setgid and
//! setuid). The program starts as root. Kiln keeps and reports the ids;
//! it does not check file permissions against them.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use alloc::vec::Vec;

/// Linux's limit on supplementary groups.
pub const NGROUPS_MAX: usize = 65536;
/// "Leave unchanged" in setreuid/setresuid and friends.
const KEEP: u32 = u32::MAX;
/// Every capability Linux 6.1 knows (CAP_LAST_CAP = 40).
pub const CAP_FULL: u64 = (1 << 41) - 1;

pub const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
pub const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
pub const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// One kind of id (user or group): real, effective, saved, file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ids {
    pub real: u32,
    pub effective: u32,
    pub saved: u32,
    pub fs: u32,
}

impl Ids {
    fn is(&self, id: u32) -> bool {
        id == self.real || id == self.effective || id == self.saved
    }

    /// setuid/setgid: all four when privileged, else the effective (and
    /// fs) id to the real or saved one.
    fn set(&mut self, id: u32, privileged: bool) -> SysResult<()> {
        if id == KEEP {
            return Err(Errno::EINVAL);
        }
        if privileged {
            *self = Ids {
                real: id,
                effective: id,
                saved: id,
                fs: id,
            };
        } else if id == self.real || id == self.saved {
            self.effective = id;
            self.fs = id;
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// setreuid/setregid.
    fn set_re(&mut self, real: u32, effective: u32, privileged: bool) -> SysResult<()> {
        let old = *self;
        if !privileged {
            let real_ok = real == KEEP || real == old.real || real == old.effective;
            let eff_ok = effective == KEEP || old.is(effective);
            if !real_ok || !eff_ok {
                return Err(Errno::EPERM);
            }
        }
        if real != KEEP {
            self.real = real;
        }
        if effective != KEEP {
            self.effective = effective;
        }
        // The saved id follows the effective one when the real id is set or
        // the effective id becomes something other than the old real id.
        if real != KEEP || (effective != KEEP && effective != old.real) {
            self.saved = self.effective;
        }
        self.fs = self.effective;
        Ok(())
    }

    /// setresuid/setresgid.
    fn set_res(
        &mut self,
        real: u32,
        effective: u32,
        saved: u32,
        privileged: bool,
    ) -> SysResult<()> {
        if !privileged
            && [real, effective, saved]
                .iter()
                .any(|&i| i != KEEP && !self.is(i))
        {
            return Err(Errno::EPERM);
        }
        if real != KEEP {
            self.real = real;
        }
        if effective != KEEP {
            self.effective = effective;
        }
        if saved != KEEP {
            self.saved = saved;
        }
        self.fs = self.effective;
        Ok(())
    }

    /// setfsuid/setfsgid: never fails; returns the old fs id.
    fn set_fs(&mut self, id: u32, privileged: bool) -> u32 {
        let old = self.fs;
        if id != KEEP && (privileged || self.is(id) || id == self.fs) {
            self.fs = id;
        }
        old
    }
}

/// The process's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Creds {
    pub uid: Ids,
    pub gid: Ids,
    pub groups: Vec<u32>,
}

impl Creds {
    /// CAP_SETUID/CAP_SETGID and the rest: root's effective uid has them.
    pub fn privileged(&self) -> bool {
        self.uid.effective == 0
    }

    /// (effective, permitted) capability sets, as Linux derives them for
    /// a process without file capabilities: a root effective uid has all;
    /// a root real or saved uid keeps them permitted (seteuid(0) brings
    /// them back); otherwise none.
    pub fn capabilities(&self) -> (u64, u64) {
        let u = &self.uid;
        let permitted = if u.is(0) { CAP_FULL } else { 0 };
        let effective = if u.effective == 0 { permitted } else { 0 };
        (effective, permitted)
    }
}

/// Implements Linux `getuid(2)`.
pub fn getuid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds.uid.real.into())
}

/// Implements Linux `geteuid(2)`.
pub fn geteuid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds.uid.effective.into())
}

/// Implements Linux `getgid(2)`.
pub fn getgid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds.gid.real.into())
}

/// Implements Linux `getegid(2)`.
pub fn getegid(c: &mut Call<'_>, _a: Args) -> SysResult<Outcome> {
    ok(c.proc.creds.gid.effective.into())
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
    let privileged = c.proc.creds.privileged();
    let ids = match kind {
        Kind::User => &mut c.proc.creds.uid,
        Kind::Group => &mut c.proc.creds.gid,
    };
    ok(change(ids, privileged)?.into())
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
    let ids = c.proc.creds.uid;
    put_res(c, a, ids)
}

/// Implements Linux `getresgid(2)`.
pub fn getresgid(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let ids = c.proc.creds.gid;
    put_res(c, a, ids)
}

/// Implements Linux `getgroups(2)`.
pub fn getgroups(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let size = a.int(0);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = c.proc.creds.groups.clone();
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
    if !c.proc.creds.privileged() {
        return Err(Errno::EPERM);
    }
    let mut bytes = alloc::vec![0u8; size as usize * 4];
    if size > 0 {
        c.mem().read(a.u(1), &mut bytes)?;
    }
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    groups.sort_unstable();
    c.proc.creds.groups = groups;
    ok(0)
}

/// Implements Linux `capget(2)` for the program itself: version 1 gives
/// one 32-bit set, versions 2 and 3 two; an unknown version is answered
/// with version 3 in the header and EINVAL (0 when `data` is NULL, as
/// Linux does for programs probing the version).
pub fn capget(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (header, data) = (a.u(0), a.u(1));
    let hdr = c.mem().read_array::<8>(header)?;
    let version = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let pid = i32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let words = match version {
        LINUX_CAPABILITY_VERSION_1 => 1,
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => 2,
        _ => {
            c.mem().write_u32(header, LINUX_CAPABILITY_VERSION_3)?;
            return if data == 0 { ok(0) } else { Err(Errno::EINVAL) };
        }
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
    let (effective, permitted) = c.proc.creds.capabilities();
    let mut out = Vec::with_capacity(words * 12);
    for w in 0..words {
        let half = |set: u64| ((set >> (32 * w)) as u32).to_le_bytes();
        out.extend_from_slice(&half(effective));
        out.extend_from_slice(&half(permitted));
        out.extend_from_slice(&0u32.to_le_bytes()); // inheritable
    }
    c.mem().write(data, &out)?;
    ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Ids {
        Ids::default()
    }

    #[test]
    fn root_drops_to_a_user_for_good() {
        let mut u = root();
        u.set(1000, true).unwrap();
        assert_eq!(
            u,
            Ids {
                real: 1000,
                effective: 1000,
                saved: 1000,
                fs: 1000
            }
        );
        assert_eq!(u.set(0, false), Err(Errno::EPERM));
        assert_eq!(u.set(KEEP, true), Err(Errno::EINVAL));
    }

    #[test]
    fn seteuid_style_changes_keep_the_saved_root() {
        let mut u = root();
        // seteuid(1000) is setresuid(-1, 1000, -1) in glibc and musl.
        u.set_res(KEEP, 1000, KEEP, true).unwrap();
        assert_eq!((u.real, u.effective, u.saved, u.fs), (0, 1000, 0, 1000));
        // Unprivileged now, but 0 is the real and saved id: allowed back.
        u.set(0, false).unwrap();
        assert_eq!(u.effective, 0);
        // Unprivileged setresuid only picks among the current ids.
        let mut v = Ids {
            real: 5,
            effective: 6,
            saved: 7,
            fs: 6,
        };
        assert_eq!(v.set_res(8, KEEP, KEEP, false), Err(Errno::EPERM));
        v.set_res(7, 5, 6, false).unwrap();
        assert_eq!((v.real, v.effective, v.saved, v.fs), (7, 5, 6, 5));
    }

    #[test]
    fn setreuid_moves_the_saved_id_as_linux() {
        let mut u = Ids {
            real: 5,
            effective: 6,
            saved: 7,
            fs: 6,
        };
        // The effective id becoming the old real id leaves saved alone.
        u.set_re(KEEP, 5, false).unwrap();
        assert_eq!((u.real, u.effective, u.saved), (5, 5, 7));
        // Setting the real id copies the new effective id to saved.
        u.set_re(5, 7, false).unwrap();
        assert_eq!((u.real, u.effective, u.saved), (5, 7, 7));
        // An unprivileged real id must be the real or effective one.
        assert_eq!(u.set_re(9, KEEP, false), Err(Errno::EPERM));
    }

    #[test]
    fn setfsuid_returns_the_old_id_and_never_fails() {
        let mut u = Ids {
            real: 5,
            effective: 6,
            saved: 7,
            fs: 6,
        };
        assert_eq!(u.set_fs(9, false), 6);
        assert_eq!(u.fs, 6, "9 is none of the ids");
        assert_eq!(u.set_fs(7, false), 6);
        assert_eq!(u.fs, 7);
        assert_eq!(u.set_fs(KEEP, true), 7, "the -1 probe only reads");
    }

    #[test]
    fn capabilities_follow_the_uids() {
        let mut c = Creds::default();
        assert_eq!(c.capabilities(), (CAP_FULL, CAP_FULL));
        c.uid.set_res(KEEP, 1000, KEEP, true).unwrap();
        assert_eq!(c.capabilities(), (0, CAP_FULL));
        c.uid.set(0, false).unwrap();
        c.uid.set(1000, true).unwrap();
        assert_eq!(c.capabilities(), (0, 0));
    }
}
