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

/// What the kernel runs: the program's path inside the image file system,
/// its argv (argv[0] included), its environment (`KEY=value`) and its
/// working directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
}

impl Manifest {
    /// Encode as tagged records.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let mut record = |tag: u16, value: &str| {
            w.u16(tag);
            w.u32(value.len() as u32);
            w.bytes(value.as_bytes());
        };
        record(TAG_PROGRAM, &self.program);
        for a in &self.args {
            record(TAG_ARG, a);
        }
        for e in &self.env {
            record(TAG_ENV, e);
        }
        record(TAG_CWD, &self.cwd);
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
