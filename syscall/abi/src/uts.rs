//! What `uname(2)` and `/proc/sys/kernel` report.

/// Host name reported by uname.
pub const HOSTNAME: &str = "kiln";
/// Kernel release reported by uname: new enough for glibc's checks.
pub const RELEASE: &str = "6.1.0-kiln";
