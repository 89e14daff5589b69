//! Socket options as typed values, with their raw `(level, optname)` numbers
//! and value bytes. The syscall layer copies the bytes; this module decodes.

use super::SockType;
use alloc::vec::Vec;
use kiln_abi::errno::Errno;

pub const SOL_SOCKET: u32 = 1;
pub const SO_REUSEADDR: u32 = 2;
pub const SO_TYPE: u32 = 3;
pub const SO_ERROR: u32 = 4;
pub const SO_SNDBUF: u32 = 7;
pub const SO_RCVBUF: u32 = 8;
pub const SO_KEEPALIVE: u32 = 9;
pub const SO_LINGER: u32 = 13;
pub const SO_REUSEPORT: u32 = 15;
pub const SOL_TCP: u32 = 6;
pub const TCP_NODELAY: u32 = 1;
pub const TCP_KEEPIDLE: u32 = 4;
pub const TCP_KEEPINTVL: u32 = 5;
pub const TCP_KEEPCNT: u32 = 6;
pub const SOL_IPV6: u32 = 41;
pub const IPV6_V6ONLY: u32 = 26;

/// Which option (for `getsockopt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOptName {
    ReuseAddr,
    ReusePort,
    KeepAlive,
    Error,
    Type,
    RcvBuf,
    SndBuf,
    Linger,
    NoDelay,
    KeepIdle,
    KeepIntvl,
    KeepCnt,
    V6Only,
}

/// An option with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    ReuseAddr(bool),
    ReusePort(bool),
    KeepAlive(bool),
    /// The pending error (`SO_ERROR`, read-only; reading clears it).
    Error(Option<Errno>),
    /// `SO_TYPE` (read-only).
    Type(SockType),
    /// Buffer sizes as Linux reports them (twice what was asked).
    RcvBuf(u32),
    SndBuf(u32),
    /// `SO_LINGER`: `Some(seconds)` when on.
    Linger(Option<u32>),
    NoDelay(bool),
    /// Seconds.
    KeepIdle(u32),
    KeepIntvl(u32),
    KeepCnt(u32),
    V6Only(bool),
}

impl SockOptName {
    /// From `(level, optname)`; `None` for options not handled here (the
    /// syscall layer answers `ENOPROTOOPT` or accepts and ignores them).
    pub fn from_raw(level: u32, name: u32) -> Option<SockOptName> {
        Some(match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => SockOptName::ReuseAddr,
            (SOL_SOCKET, SO_REUSEPORT) => SockOptName::ReusePort,
            (SOL_SOCKET, SO_KEEPALIVE) => SockOptName::KeepAlive,
            (SOL_SOCKET, SO_ERROR) => SockOptName::Error,
            (SOL_SOCKET, SO_TYPE) => SockOptName::Type,
            (SOL_SOCKET, SO_RCVBUF) => SockOptName::RcvBuf,
            (SOL_SOCKET, SO_SNDBUF) => SockOptName::SndBuf,
            (SOL_SOCKET, SO_LINGER) => SockOptName::Linger,
            (SOL_TCP, TCP_NODELAY) => SockOptName::NoDelay,
            (SOL_TCP, TCP_KEEPIDLE) => SockOptName::KeepIdle,
            (SOL_TCP, TCP_KEEPINTVL) => SockOptName::KeepIntvl,
            (SOL_TCP, TCP_KEEPCNT) => SockOptName::KeepCnt,
            (SOL_IPV6, IPV6_V6ONLY) => SockOptName::V6Only,
            _ => return None,
        })
    }
}

fn int(bytes: &[u8]) -> Result<i32, Errno> {
    match bytes {
        [a, b, c, d, ..] => Ok(i32::from_ne_bytes([*a, *b, *c, *d])),
        _ => Err(Errno::EINVAL),
    }
}

fn positive(bytes: &[u8], max: i32) -> Result<u32, Errno> {
    match int(bytes)? {
        v if v >= 1 && v <= max => Ok(v as u32),
        _ => Err(Errno::EINVAL),
    }
}

impl SockOpt {
    /// Decode a `setsockopt` value. Read-only options give `ENOPROTOOPT`,
    /// short values `EINVAL`, as Linux.
    pub fn decode(name: SockOptName, bytes: &[u8]) -> Result<SockOpt, Errno> {
        Ok(match name {
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(int(bytes)? != 0),
            SockOptName::ReusePort => SockOpt::ReusePort(int(bytes)? != 0),
            SockOptName::KeepAlive => SockOpt::KeepAlive(int(bytes)? != 0),
            SockOptName::NoDelay => SockOpt::NoDelay(int(bytes)? != 0),
            SockOptName::V6Only => SockOpt::V6Only(int(bytes)? != 0),
            SockOptName::RcvBuf => SockOpt::RcvBuf(int(bytes)?.max(0) as u32),
            SockOptName::SndBuf => SockOpt::SndBuf(int(bytes)?.max(0) as u32),
            SockOptName::KeepIdle => SockOpt::KeepIdle(positive(bytes, 32767)?),
            SockOptName::KeepIntvl => SockOpt::KeepIntvl(positive(bytes, 32767)?),
            SockOptName::KeepCnt => SockOpt::KeepCnt(positive(bytes, 127)?),
            SockOptName::Linger => {
                if bytes.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let on = int(bytes)? != 0;
                let secs = int(&bytes[4..])?.max(0) as u32;
                SockOpt::Linger(on.then_some(secs))
            }
            SockOptName::Error | SockOptName::Type => return Err(Errno::ENOPROTOOPT),
        })
    }

    /// The value bytes `getsockopt` hands back (an `int`, or a `struct linger`).
    pub fn encode(&self) -> Vec<u8> {
        let i = |v: i32| v.to_ne_bytes().to_vec();
        match *self {
            SockOpt::ReuseAddr(b)
            | SockOpt::ReusePort(b)
            | SockOpt::KeepAlive(b)
            | SockOpt::NoDelay(b)
            | SockOpt::V6Only(b) => i(b as i32),
            SockOpt::Error(e) => i(e.map_or(0, |e| e as i32)),
            SockOpt::Type(t) => i(match t {
                SockType::Stream => 1,
                SockType::Dgram => 2,
            }),
            SockOpt::RcvBuf(v)
            | SockOpt::SndBuf(v)
            | SockOpt::KeepIdle(v)
            | SockOpt::KeepIntvl(v)
            | SockOpt::KeepCnt(v) => i(v.min(i32::MAX as u32) as i32),
            SockOpt::Linger(l) => {
                let mut v = i(l.is_some() as i32);
                v.extend_from_slice(&(l.unwrap_or(0) as i32).to_ne_bytes());
                v
            }
        }
    }
}

/// Options every socket keeps.
#[derive(Clone, Copy, Debug)]
pub(super) struct CommonOpts {
    pub reuse_addr: bool,
    pub reuse_port: bool,
    pub keepalive: bool,
    /// Buffer sizes in bytes as used (Linux reports twice these).
    pub rcvbuf: usize,
    pub sndbuf: usize,
    pub linger: Option<u32>,
    pub nodelay: bool,
    pub keepidle: u32,
    pub keepintvl: u32,
    pub keepcnt: u32,
    pub v6only: bool,
}

/// Smallest and largest buffer a socket may ask for.
const MIN_BUF: usize = 2048;
const MAX_BUF: usize = 4 << 20;

impl CommonOpts {
    pub fn new(rcvbuf: usize, sndbuf: usize) -> Self {
        CommonOpts {
            reuse_addr: false,
            reuse_port: false,
            keepalive: false,
            rcvbuf,
            sndbuf,
            linger: None,
            nodelay: false,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            v6only: false,
        }
    }

    /// Store an option every socket type treats alike. Returns `false` for
    /// options the caller handles itself.
    pub fn set(&mut self, opt: SockOpt) -> Result<bool, Errno> {
        match opt {
            SockOpt::ReuseAddr(b) => self.reuse_addr = b,
            SockOpt::ReusePort(b) => self.reuse_port = b,
            SockOpt::KeepAlive(b) => self.keepalive = b,
            SockOpt::RcvBuf(v) => self.rcvbuf = (v as usize).clamp(MIN_BUF, MAX_BUF),
            SockOpt::SndBuf(v) => self.sndbuf = (v as usize).clamp(MIN_BUF, MAX_BUF),
            SockOpt::Linger(l) => self.linger = l,
            SockOpt::Error(_) | SockOpt::Type(_) => return Err(Errno::ENOPROTOOPT),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Read an option every socket type treats alike; `None` for the rest.
    pub fn get(&self, name: SockOptName) -> Option<SockOpt> {
        Some(match name {
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(self.reuse_addr),
            SockOptName::ReusePort => SockOpt::ReusePort(self.reuse_port),
            SockOptName::KeepAlive => SockOpt::KeepAlive(self.keepalive),
            SockOptName::RcvBuf => SockOpt::RcvBuf((self.rcvbuf * 2) as u32),
            SockOptName::SndBuf => SockOpt::SndBuf((self.sndbuf * 2) as u32),
            SockOptName::Linger => SockOpt::Linger(self.linger),
            _ => return None,
        })
    }
}
