//! The manifest: what to run and how. Encoded as tagged records
//! (`tag: u16, len: u32, payload`) so that later versions can add records
//! that older kernels skip.

use super::bytes::{Reader, Writer};
use super::FormatError;
use alloc::string::String;
use alloc::vec::Vec;

const TAG_PROGRAM: u16 = 1;
const TAG_ARG: u16 = 2;
const TAG_ENV: u16 = 3;
const TAG_CWD: u16 = 4;
const TAG_TMPFS: u16 = 5;
const TAG_IPV4: u16 = 6;
const TAG_GATEWAY: u16 = 7;
const TAG_NAMESERVER: u16 = 8;
const TAG_IPV6: u16 = 9;
const TAG_REBOOT_ON_EXIT: u16 = 10;
const TAG_EXPECTED_EXIT: u16 = 11;

// Payload of the exit-rule records: a mode byte, then codes.
const EXIT_NONZERO: u8 = 0;
const EXIT_ANY: u8 = 1;
const EXIT_CODES: u8 = 2;
const EXIT_NOT: u8 = 3;

/// A tmpfs the kernel mounts before the program starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute mount point.
    pub path: String,
    /// Size limit in bytes (0: no limit beyond free memory).
    pub size: u64,
}

/// Network configuration. With no address the kernel uses DHCP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// Static IPv4 address and prefix length.
    pub ipv4: Option<([u8; 4], u8)>,
    /// Default IPv4 gateway.
    pub gateway: Option<[u8; 4]>,
    /// Static IPv6 address and prefix length (besides the link-local one).
    pub ipv6: Option<([u8; 16], u8)>,
    /// Name servers (4 bytes IPv4 or 16 bytes IPv6 each).
    pub nameservers: Vec<Vec<u8>>,
}

/// Which exit statuses a rule applies to (Nanos' `reboot_on_exit` and
/// `expected_exit_code` values: `t`, `*`, `N`, `!N`, a list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitMatch {
    /// Any status but 0 (`t`).
    NonZero,
    /// Every status (`*`).
    Any,
    /// One of these statuses.
    Codes(Vec<u8>),
    /// Every status but this one (`!N`).
    Not(u8),
}

impl ExitMatch {
    pub fn matches(&self, status: u8) -> bool {
        match self {
            ExitMatch::NonZero => status != 0,
            ExitMatch::Any => true,
            ExitMatch::Codes(c) => c.contains(&status),
            ExitMatch::Not(n) => status != *n,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            ExitMatch::NonZero => Vec::from([EXIT_NONZERO]),
            ExitMatch::Any => Vec::from([EXIT_ANY]),
            ExitMatch::Codes(c) => core::iter::once(EXIT_CODES)
                .chain(c.iter().copied())
                .collect(),
            ExitMatch::Not(n) => Vec::from([EXIT_NOT, *n]),
        }
    }

    fn decode(payload: &[u8]) -> Result<ExitMatch, FormatError> {
        match payload {
            [EXIT_NONZERO] => Ok(ExitMatch::NonZero),
            [EXIT_ANY] => Ok(ExitMatch::Any),
            [EXIT_CODES, codes @ ..] => {
                let mut v = Vec::new();
                v.try_reserve_exact(codes.len())
                    .map_err(|_| no_memory(payload.len()))?;
                v.extend_from_slice(codes);
                Ok(ExitMatch::Codes(v))
            }
            [EXIT_NOT, n] => Ok(ExitMatch::Not(*n)),
            _ => Err(FormatError::Invalid("bad exit rule record")),
        }
    }
}

/// What happens when the program exits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitRules {
    /// Statuses after which the VM restarts (ops' RebootOnExit), unless a
    /// shutdown was asked for.
    pub reboot: Option<ExitMatch>,
    /// Statuses reported as 0 (checked first, as Nanos does).
    pub expected: Option<ExitMatch>,
}

impl ExitRules {
    /// The status to report for `status`, and whether to restart.
    pub fn apply(&self, status: u8) -> (u8, bool) {
        let status = match &self.expected {
            Some(m) if m.matches(status) => 0,
            _ => status,
        };
        let reboot = self.reboot.as_ref().is_some_and(|m| m.matches(status));
        (status, reboot)
    }
}

/// What the kernel runs: the program's path inside the image file system,
/// its argv (argv[0] included), its environment (`KEY=value`) and its
/// working directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// tmpfs mounts beyond the default one at /tmp.
    pub tmpfs: Vec<TmpfsMount>,
    pub net: NetConfig,
    pub exit: ExitRules,
}

impl Manifest {
    /// Encode as tagged records.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let mut record = |tag: u16, value: &[u8]| {
            w.u16(tag);
            w.u32(value.len() as u32);
            w.bytes(value);
        };
        record(TAG_PROGRAM, self.program.as_bytes());
        for a in &self.args {
            record(TAG_ARG, a.as_bytes());
        }
        for e in &self.env {
            record(TAG_ENV, e.as_bytes());
        }
        record(TAG_CWD, self.cwd.as_bytes());
        for m in &self.tmpfs {
            let mut payload = Vec::from(m.size.to_le_bytes());
            payload.extend_from_slice(m.path.as_bytes());
            record(TAG_TMPFS, &payload);
        }
        if let Some((addr, prefix)) = self.net.ipv4 {
            record(TAG_IPV4, &[addr[0], addr[1], addr[2], addr[3], prefix]);
        }
        if let Some(gw) = self.net.gateway {
            record(TAG_GATEWAY, &gw);
        }
        for ns in &self.net.nameservers {
            record(TAG_NAMESERVER, ns);
        }
        if let Some((addr, prefix)) = self.net.ipv6 {
            let mut payload = Vec::from(addr);
            payload.push(prefix);
            record(TAG_IPV6, &payload);
        }
        if let Some(m) = &self.exit.reboot {
            record(TAG_REBOOT_ON_EXIT, &m.encode());
        }
        if let Some(m) = &self.exit.expected {
            record(TAG_EXPECTED_EXIT, &m.encode());
        }
        w.into_vec()
    }

    /// Decode tagged records; unknown tags are skipped. Every allocation
    /// is fallible ([`FormatError::NoMemory`]): the kernel decodes what
    /// the image holds.
    pub fn decode(data: &[u8]) -> Result<Manifest, FormatError> {
        let mut m = Manifest::default();
        let mut r = Reader::new(data);
        let mut have_program = false;
        while !r.is_empty() {
            let tag = r.u16("manifest record")?;
            let len = r.u32("manifest record")? as usize;
            let payload = r.bytes(len, "manifest record")?;
            let text = || {
                core::str::from_utf8(payload)
                    .map_err(|_| FormatError::Invalid("manifest text is not UTF-8"))
                    .and_then(|t| owned(t, data.len()))
            };
            match tag {
                TAG_PROGRAM => {
                    m.program = text()?;
                    have_program = true;
                }
                TAG_ARG => push(&mut m.args, text()?, data.len())?,
                TAG_ENV => push(&mut m.env, text()?, data.len())?,
                TAG_CWD => m.cwd = text()?,
                TAG_TMPFS => {
                    let (size, path) = payload
                        .split_at_checked(8)
                        .ok_or(FormatError::Truncated("tmpfs record"))?;
                    let path = core::str::from_utf8(path)
                        .map_err(|_| FormatError::Invalid("manifest text is not UTF-8"))?;
                    if !path.starts_with('/') {
                        return Err(FormatError::Invalid("tmpfs mount point is not absolute"));
                    }
                    let size = u64::from_le_bytes(
                        size.try_into()
                            .map_err(|_| FormatError::Truncated("tmpfs record"))?,
                    );
                    push(
                        &mut m.tmpfs,
                        TmpfsMount {
                            path: owned(path, data.len())?,
                            size,
                        },
                        data.len(),
                    )?;
                }
                TAG_IPV4 => {
                    let [a, b, c, d, prefix] = payload else {
                        return Err(FormatError::Invalid("bad IPv4 address record"));
                    };
                    if *prefix > 32 {
                        return Err(FormatError::Invalid("bad IPv4 prefix length"));
                    }
                    m.net.ipv4 = Some(([*a, *b, *c, *d], *prefix));
                }
                TAG_GATEWAY => {
                    m.net.gateway = Some(
                        payload
                            .try_into()
                            .map_err(|_| FormatError::Invalid("bad gateway record"))?,
                    );
                }
                TAG_NAMESERVER => {
                    if payload.len() != 4 && payload.len() != 16 {
                        return Err(FormatError::Invalid("bad name server record"));
                    }
                    let mut addr = Vec::new();
                    addr.try_reserve_exact(payload.len())
                        .map_err(|_| no_memory(data.len()))?;
                    addr.extend_from_slice(payload);
                    push(&mut m.net.nameservers, addr, data.len())?;
                }
                TAG_IPV6 => {
                    let (addr, prefix) = match payload.split_last() {
                        Some((&p, a)) if a.len() == 16 && p <= 128 => (a, p),
                        _ => return Err(FormatError::Invalid("bad IPv6 address record")),
                    };
                    let mut a = [0u8; 16];
                    a.copy_from_slice(addr);
                    m.net.ipv6 = Some((a, prefix));
                }
                TAG_REBOOT_ON_EXIT => m.exit.reboot = Some(ExitMatch::decode(payload)?),
                TAG_EXPECTED_EXIT => m.exit.expected = Some(ExitMatch::decode(payload)?),
                _ => {}
            }
        }
        if !have_program || !m.program.starts_with('/') {
            return Err(FormatError::Invalid(
                "manifest has no absolute program path",
            ));
        }
        if m.cwd.is_empty() {
            m.cwd = String::from("/");
        }
        Ok(m)
    }
}

/// Out of memory while decoding a manifest of `len` bytes.
fn no_memory(len: usize) -> FormatError {
    FormatError::NoMemory {
        what: "manifest",
        len: len as u64,
    }
}

/// `s` as an owned string, or [`FormatError::NoMemory`] (for a manifest of
/// `len` bytes).
fn owned(s: &str, len: usize) -> Result<String, FormatError> {
    let mut out = String::new();
    out.try_reserve_exact(s.len()).map_err(|_| no_memory(len))?;
    out.push_str(s);
    Ok(out)
}

/// Push onto `v`, or [`FormatError::NoMemory`].
fn push<T>(v: &mut Vec<T>, item: T, len: usize) -> Result<(), FormatError> {
    v.try_reserve(1).map_err(|_| no_memory(len))?;
    v.push(item);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn manifest_round_trip() {
        let m = Manifest {
            program: "/hello".into(),
            args: vec!["hello".into(), "a b".into(), "".into()],
            env: vec!["PATH=/bin".into(), "X=é".into()],
            cwd: "/srv".into(),
            tmpfs: vec![TmpfsMount {
                path: "/var/cache".into(),
                size: 1 << 20,
            }],
            net: NetConfig {
                ipv4: Some(([10, 0, 2, 15], 24)),
                gateway: Some([10, 0, 2, 2]),
                ipv6: Some((
                    [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10],
                    64,
                )),
                nameservers: vec![vec![10, 0, 2, 3], vec![0; 16]],
            },
            exit: ExitRules {
                reboot: Some(ExitMatch::Codes(vec![3, 4])),
                expected: Some(ExitMatch::Not(7)),
            },
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn exit_rules_follow_nanos() {
        let rules = ExitRules {
            reboot: Some(ExitMatch::NonZero),
            expected: Some(ExitMatch::Codes(vec![2])),
        };
        // An expected status counts as 0, which does not restart.
        assert_eq!(rules.apply(2), (0, false));
        assert_eq!(rules.apply(3), (3, true));
        assert_eq!(rules.apply(0), (0, false));
        assert!(ExitMatch::Any.matches(0));
        assert!(!ExitMatch::Not(1).matches(1) && ExitMatch::Not(1).matches(0));
        for m in [
            ExitMatch::NonZero,
            ExitMatch::Any,
            ExitMatch::Codes(vec![]),
            ExitMatch::Not(9),
        ] {
            assert_eq!(ExitMatch::decode(&m.encode()).unwrap(), m);
        }
        assert!(ExitMatch::decode(&[3]).is_err());
        assert!(ExitMatch::decode(&[]).is_err());
    }

    #[test]
    fn manifest_skips_unknown_records_and_defaults_cwd() {
        let m = Manifest {
            program: "/p".into(),
            ..Default::default()
        };
        let mut data = m.encode();
        data.extend_from_slice(&99u16.to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        data.extend_from_slice(b"xyz");
        let back = Manifest::decode(&data).unwrap();
        assert_eq!(back.program, "/p");
        assert_eq!(back.cwd, "/".to_string());
    }

    #[test]
    fn manifest_rejects_truncation_and_missing_program() {
        let m = Manifest {
            program: "/p".into(),
            args: vec!["p".into()],
            ..Default::default()
        };
        let data = m.encode();
        assert!(matches!(
            Manifest::decode(&data[..data.len() - 1]),
            Err(FormatError::Truncated(_))
        ));
        assert!(matches!(
            Manifest::decode(&[]),
            Err(FormatError::Invalid(_))
        ));
    }
}
