//! Which calls raise SIGPIPE when they fail with EPIPE (writes to a pipe
//! or socket whose other end is gone), as Linux does unless the send asks
//! for MSG_NOSIGNAL.

/// `MSG_NOSIGNAL`.
pub const MSG_NOSIGNAL: u64 = 0x4000;

/// Whether syscall `nr` with `args`, having failed with EPIPE, sends
/// SIGPIPE to the calling thread.
pub fn applies(nr: u64, args: &[u64; 6]) -> bool {
    match nr {
        // write, pwrite64, writev, sendfile, splice, tee, vmsplice,
        // pwritev, copy_file_range, pwritev2
        1 | 18 | 20 | 40 | 275 | 276 | 278 | 296 | 326 | 328 => true,
        // sendto, sendmmsg: flags in the 4th argument
        44 | 307 => args[3] & MSG_NOSIGNAL == 0,
        // sendmsg: flags in the 3rd
        46 => args[2] & MSG_NOSIGNAL == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nosignal_is_honoured() {
        assert!(applies(1, &[0; 6]));
        assert!(applies(44, &[0; 6]));
        assert!(!applies(44, &[0, 0, 0, MSG_NOSIGNAL, 0, 0]));
        assert!(!applies(46, &[0, 0, MSG_NOSIGNAL, 0, 0, 0]));
        assert!(!applies(0, &[0; 6]));
    }
}
