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
    /// Name servers (4 bytes IPv4 or 16 bytes IPv6 each).
    pub nameservers: Vec<Vec<u8>>,
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
        w.into_vec()
    }

    /// Decode tagged records; unknown tags are skipped.
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
                    .map(String::from)
                    .map_err(|_| FormatError::Invalid("manifest text is not UTF-8"))
            };
            match tag {
                TAG_PROGRAM => {
                    m.program = text()?;
                    have_program = true;
                }
                TAG_ARG => m.args.push(text()?),
                TAG_ENV => m.env.push(text()?),
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
                    m.tmpfs.push(TmpfsMount {
                        path: String::from(path),
                        size,
                    });
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
                    m.net.nameservers.push(payload.to_vec());
                }
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
                nameservers: vec![vec![10, 0, 2, 3], vec![0; 16]],
            },
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
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
