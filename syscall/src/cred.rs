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

/// CAP_SETGID, CAP_SETUID and CAP_SETPCAP.
pub const CAP_SETGID: u64 = 1 << 6;
pub const CAP_SETUID: u64 = 1 << 7;
pub const CAP_SETPCAP: u64 = 1 << 8;

/// The capability sets of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The process's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub uid: Ids,
    pub gid: Ids,
    pub groups: Vec<u32>,
    pub caps: Caps,
    /// PR_SET_KEEPCAPS: leaving root keeps the permitted set.
    pub keep_caps: bool,
}

impl Default for Creds {
    /// Root, with every capability.
    fn default() -> Self {
        Creds {
            uid: Ids::default(),
            gid: Ids::default(),
            groups: Vec::new(),
            caps: Caps {
                effective: CAP_FULL,
                permitted: CAP_FULL,
                inheritable: 0,
            },
            keep_caps: false,
        }
    }
}

impl Creds {
    /// CAP_SETUID: may set any user id.
    pub fn privileged(&self) -> bool {
        self.caps.effective & CAP_SETUID != 0
    }

    /// CAP_SETGID: may set any group id and the groups.
    pub fn group_privileged(&self) -> bool {
        self.caps.effective & CAP_SETGID != 0
    }

    /// (effective, permitted) capability sets.
    pub fn capabilities(&self) -> (u64, u64) {
        (self.caps.effective, self.caps.permitted)
    }

    /// The user ids changed from `old` to `self.uid`: adjust the
    /// capabilities as Linux does for a process without file capabilities
    /// (`cap_emulate_setxuid`): leaving root for good clears the permitted
    /// and effective sets (unless KEEPCAPS); an effective uid leaving 0
    /// clears the effective set, one returning to 0 restores it.
    pub fn user_ids_changed(&mut self, old: Ids) {
        let new = self.uid;
        let was_root = old.real == 0 || old.effective == 0 || old.saved == 0;
        let left_root = new.real != 0 && new.effective != 0 && new.saved != 0;
        if was_root && left_root && !self.keep_caps {
            self.caps.permitted = 0;
            self.caps.effective = 0;
        }
        if old.effective == 0 && new.effective != 0 {
            self.caps.effective = 0;
        }
        if old.effective != 0 && new.effective == 0 {
            self.caps.effective = self.caps.permitted;
        }
    }

    /// capset(2)'s rules: no new permitted capability, effective within
    /// permitted, inheritable within the old inheritable and permitted
    /// sets (or anything bounded, with CAP_SETPCAP). EPERM otherwise.
    pub fn set_caps(&mut self, new: Caps) -> SysResult<()> {
        let old = self.caps;
        let inheritable_room = if old.effective & CAP_SETPCAP != 0 {
            CAP_FULL
        } else {
            old.inheritable | old.permitted
        };
        if new.permitted & !old.permitted != 0
            || new.effective & !new.permitted != 0
            || new.inheritable & !inheritable_room != 0
            || (new.permitted | new.effective | new.inheritable) & !CAP_FULL != 0
        {
            return Err(Errno::EPERM);
        }
        self.caps = new;
        Ok(())
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
        let old = c.uid;
        c.uid.set_res(KEEP, 1000, KEEP, true).unwrap();
        c.user_ids_changed(old);
        assert_eq!(c.capabilities(), (0, CAP_FULL));
        let old = c.uid;
        c.uid.set(0, false).unwrap();
        c.user_ids_changed(old);
        assert_eq!(
            c.capabilities(),
            (CAP_FULL, CAP_FULL),
            "seteuid(0) restores"
        );
        let old = c.uid;
        c.uid.set(1000, true).unwrap();
        c.user_ids_changed(old);
        assert_eq!(c.capabilities(), (0, 0));
    }

    #[test]
    fn keepcaps_and_capset() {
        let mut c = Creds {
            keep_caps: true,
            ..Creds::default()
        };
        let old = c.uid;
        c.uid.set(65534, true).unwrap();
        c.user_ids_changed(old);
        // KEEPCAPS: the permitted set survives leaving root, the effective
        // one does not; capset brings back what is permitted, no more.
        assert_eq!(c.capabilities(), (0, CAP_FULL));
        let net_admin = 1 << 12;
        let keep = Caps {
            effective: net_admin,
            permitted: net_admin,
            inheritable: 0,
        };
        assert_eq!(c.set_caps(keep), Ok(()));
        assert_eq!(c.capabilities(), (net_admin, net_admin));
        let more = Caps {
            effective: net_admin | CAP_SETUID,
            permitted: net_admin | CAP_SETUID,
            inheritable: 0,
        };
        assert_eq!(c.set_caps(more), Err(Errno::EPERM));
        let eff_beyond = Caps {
            effective: CAP_SETUID,
            ..keep
        };
        assert_eq!(c.set_caps(eff_beyond), Err(Errno::EPERM));
        assert!(!c.privileged(), "no CAP_SETUID left");
    }
}
