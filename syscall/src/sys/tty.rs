//! ioctl: the console's terminal requests, the generic FIO* requests, and
//! (in [`super::ifreq`]) the network interface requests on sockets.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::O_NONBLOCK;
use crate::vfs::{Reply, Request};
use kiln_abi::errno::{Errno, SysResult};

pub use kiln_abi::ioctl::*;

/// Implements Linux `ioctl(2)`: FIONBIO, FIOCLEX, FIONCLEX on any
/// descriptor; the rest goes to the file object (the console: TCGETS,
/// TCSETS/TCSETSW/TCSETSF, TIOCGWINSZ; pipes and sockets: FIONREAD); the
/// SIOCGIF*/SIOCSIF* interface requests on sockets; ENOTTY otherwise.
pub fn ioctl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let fd = a.fd(0);
    let file = c.proc.fds().get(fd)?.clone();
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
            c.proc.fds_mut().set_cloexec(fd, a.uint(1) == FIOCLEX)?;
            ok(0)
        }
        _ if file.is_path() => Err(Errno::EBADF),
        cmd if super::ifreq::handles(cmd) => super::ifreq::ioctl(c, &file, cmd, arg),
        cmd => {
            let req = match cmd {
                FIONREAD => Request::ReadableBytes,
                SIOCOUTQ => Request::UnsentBytes,
                TCGETS => Request::GetTermios,
                TCSETS | TCSETSW | TCSETSF => {
                    Request::SetTermios(Termios(c.mem().read_array::<TERMIOS_SIZE>(arg)?))
                }
                TIOCGWINSZ => Request::WindowSize,
                _ => return Err(Errno::ENOTTY),
            };
            match file.obj.ioctl(&mut c.cx(), req)? {
                Reply::Done => {}
                Reply::Int(n) => c.mem().write_u32(arg, n)?,
                Reply::Termios(t) => c.mem().write(arg, &t.0)?,
                Reply::WindowSize { rows, cols } => {
                    let mut ws = [0u8; 8];
                    ws[..2].copy_from_slice(&rows.to_le_bytes());
                    ws[2..4].copy_from_slice(&cols.to_le_bytes());
                    c.mem().write(arg, &ws)?;
                }
            }
            ok(0)
        }
    }
}
