//! ioctl: the console's terminal requests, and the generic FIO* requests.

use crate::call::{ok, Args, Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::fd::O_NONBLOCK;

pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TCSETSW: u32 = 0x5403;
pub const TCSETSF: u32 = 0x5404;
pub const TIOCGWINSZ: u32 = 0x5413;
pub const FIONREAD: u32 = 0x541b;
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

/// Implements Linux `ioctl(2)`: FIONBIO, FIOCLEX, FIONCLEX on any
/// descriptor; the rest goes to the file object (the console: TCGETS,
/// TCSETS/TCSETSW/TCSETSF, TIOCGWINSZ; pipes and sockets: FIONREAD); ENOTTY otherwise.
pub fn ioctl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = c.proc.fds.get(fd)?.clone();
    let arg = a.u(2);
    match a.uint(1) {
        FIONBIO => {
            let on = c.mem().read_array::<4>(arg).map(u32::from_le_bytes)? != 0;
            let flags = file.flags();
            file.set_flags(if on {
                flags | O_NONBLOCK
            } else {
                flags & !O_NONBLOCK
            });
            ok(0)
        }
        FIOCLEX | FIONCLEX => {
            c.proc.fds.set_cloexec(fd, a.uint(1) == FIOCLEX)?;
            ok(0)
        }
        _ if file.is_path() => Err(Errno::EBADF),
        cmd => ok(file.obj.ioctl(c, cmd, arg)?),
    }
}
