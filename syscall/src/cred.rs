//! Credentials, the part of the process that holds its user and group
//! ids: real, effective, saved and file-system ids and the supplementary
//! groups, changed with Linux's rules. The handlers are in `sys/cred.rs`.

use alloc::vec::Vec;
use kiln_abi::errno::{Errno, SysResult};

/// Linux's limit on supplementary groups.
pub const NGROUPS_MAX: usize = 65536;
/// "Leave unchanged" in setreuid/setresuid and friends.
pub const KEEP: u32 = u32::MAX;
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
    pub fn is(&self, id: u32) -> bool {
        id == self.real || id == self.effective || id == self.saved
    }

    /// setuid/setgid: all four when privileged, else the effective (and
    /// fs) id to the real or saved one.
    pub fn set(&mut self, id: u32, privileged: bool) -> SysResult<()> {
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
    pub fn set_re(&mut self, real: u32, effective: u32, privileged: bool) -> SysResult<()> {
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
    pub fn set_res(
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
    pub fn set_fs(&mut self, id: u32, privileged: bool) -> u32 {
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
