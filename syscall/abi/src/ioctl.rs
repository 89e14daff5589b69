//! `ioctl(2)` request numbers and the terminal structure they carry.

pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TCSETSW: u32 = 0x5403;
pub const TCSETSF: u32 = 0x5404;
pub const TIOCGWINSZ: u32 = 0x5413;
pub const FIONREAD: u32 = 0x541b;
/// Bytes queued for reading on a socket (the same number as FIONREAD).
pub const SIOCINQ: u32 = FIONREAD;
/// Bytes written to a socket and not yet sent.
pub const SIOCOUTQ: u32 = 0x5411;
pub const FIONBIO: u32 = 0x5421;
pub const FIONCLEX: u32 = 0x5450;
pub const FIOCLEX: u32 = 0x5451;

/// Size of the kernel's `struct termios` (TCGETS): four flag words, c_line
/// and 19 control characters.
pub const TERMIOS_SIZE: usize = 36;

/// The console's terminal settings, kept so that TCSETS* then TCGETS
/// round-trips. Initial values are those of a Linux tty in cooked mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios(pub [u8; TERMIOS_SIZE]);

impl Default for Termios {
    fn default() -> Self {
        let mut t = [0u8; TERMIOS_SIZE];
        let iflag: u32 = 0o400 | 0o2000; // ICRNL | IXON
        let oflag: u32 = 0o1 | 0o4; // OPOST | ONLCR
        let cflag: u32 = 0o17 | 0o60 | 0o200 | 0o2000; // B38400 | CS8 | CREAD | HUPCL
        let lflag: u32 = 0o1 | 0o2 | 0o10 | 0o20 | 0o40 | 0o1000 | 0o4000 | 0o100000; // ISIG ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN
        for (i, v) in [iflag, oflag, cflag, lflag].into_iter().enumerate() {
            t[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        // c_line = 0; c_cc: VINTR VQUIT VERASE VKILL VEOF VTIME VMIN VSWTC
        // VSTART VSTOP VSUSP VEOL VREPRINT VDISCARD VWERASE VLNEXT VEOL2.
        let cc = [
            3u8, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0,
        ];
        t[17..17 + cc.len()].copy_from_slice(&cc);
        Termios(t)
    }
}

// Network interface requests on any socket (`struct ifreq`, `struct ifconf`).
pub const SIOCGIFNAME: u32 = 0x8910;
pub const SIOCSIFLINK: u32 = 0x8911;
pub const SIOCGIFCONF: u32 = 0x8912;
pub const SIOCGIFFLAGS: u32 = 0x8913;
pub const SIOCSIFFLAGS: u32 = 0x8914;
pub const SIOCGIFADDR: u32 = 0x8915;
pub const SIOCSIFADDR: u32 = 0x8916;
pub const SIOCGIFDSTADDR: u32 = 0x8917;
pub const SIOCSIFDSTADDR: u32 = 0x8918;
pub const SIOCGIFBRDADDR: u32 = 0x8919;
pub const SIOCSIFBRDADDR: u32 = 0x891a;
pub const SIOCGIFNETMASK: u32 = 0x891b;
pub const SIOCSIFNETMASK: u32 = 0x891c;
pub const SIOCGIFMETRIC: u32 = 0x891d;
pub const SIOCSIFMETRIC: u32 = 0x891e;
pub const SIOCGIFMEM: u32 = 0x891f;
pub const SIOCSIFMEM: u32 = 0x8920;
pub const SIOCGIFMTU: u32 = 0x8921;
pub const SIOCSIFMTU: u32 = 0x8922;
pub const SIOCSIFNAME: u32 = 0x8923;
pub const SIOCSIFHWADDR: u32 = 0x8924;
pub const SIOCGIFHWADDR: u32 = 0x8927;
pub const SIOCGIFSLAVE: u32 = 0x8929;
pub const SIOCSIFSLAVE: u32 = 0x8930;
pub const SIOCADDMULTI: u32 = 0x8931;
pub const SIOCDELMULTI: u32 = 0x8932;
pub const SIOCGIFINDEX: u32 = 0x8933;
pub const SIOCSIFPFLAGS: u32 = 0x8934;
pub const SIOCGIFPFLAGS: u32 = 0x8935;
pub const SIOCDIFADDR: u32 = 0x8936;
pub const SIOCSIFHWBROADCAST: u32 = 0x8937;
pub const SIOCGIFCOUNT: u32 = 0x8938;
pub const SIOCGIFTXQLEN: u32 = 0x8942;
pub const SIOCSIFTXQLEN: u32 = 0x8943;
pub const SIOCETHTOOL: u32 = 0x8946;
pub const SIOCGMIIPHY: u32 = 0x8947;
pub const SIOCGMIIREG: u32 = 0x8948;
pub const SIOCSMIIREG: u32 = 0x8949;
pub const SIOCGIFMAP: u32 = 0x8970;
pub const SIOCSIFMAP: u32 = 0x8971;

/// Longest interface name, its NUL included (`IFNAMSIZ`).
pub const IFNAMSIZ: usize = 16;
/// `sizeof(struct ifreq)`: the name, then a 24-byte union.
pub const IFREQ_SIZE: usize = 40;
/// `sizeof(struct ifconf)`: `int ifc_len`, padding, then the buffer pointer.
pub const IFCONF_SIZE: usize = 16;
