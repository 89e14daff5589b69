//! How much kiln and the kernel say: `-q` nothing but the program's own
//! output (and errors), the default adds kiln's notes, `-v` also the
//! kernel's boot and device lines and the QEMU command line.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Normal as u8);

pub fn set(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Quiet,
        1 => Level::Normal,
        _ => Level::Verbose,
    }
}

/// The level from `-q` and `-v` (`-q` wins).
pub fn from_flags(quiet: bool, verbose: bool) -> Level {
    match (quiet, verbose) {
        (true, _) => Level::Quiet,
        (false, true) => Level::Verbose,
        _ => Level::Normal,
    }
}

/// The kernel command-line word for the level, if it is not the default.
pub fn cmdline(level: Level) -> Option<&'static str> {
    match level {
        Level::Quiet => Some("kiln.log=quiet"),
        Level::Normal => None,
        Level::Verbose => Some("kiln.log=verbose"),
    }
}

/// `kiln: note: ...` on standard error, unless `-q`.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if $crate::log::level() >= $crate::log::Level::Normal {
            eprintln!("kiln: note: {}", format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_levels_and_kernel_words() {
        assert_eq!(from_flags(false, false), Level::Normal);
        assert_eq!(from_flags(true, true), Level::Quiet);
        assert_eq!(cmdline(from_flags(false, true)), Some("kiln.log=verbose"));
        assert_eq!(cmdline(Level::Normal), None);
        assert_eq!(cmdline(Level::Quiet), Some("kiln.log=quiet"));
    }
}
