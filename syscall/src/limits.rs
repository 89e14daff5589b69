//! Resource limits, the part of the process that `prlimit64` changes and
//! `/proc/self/limits` shows.

pub const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIM_NLIMITS: usize = 16;
/// The hard ceiling for RLIMIT_NOFILE (Linux `fs.nr_open`).
pub const NR_OPEN: u64 = 1 << 20;

/// Resource limits as (soft, hard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits(pub [(u64, u64); RLIM_NLIMITS]);

impl Default for Limits {
    fn default() -> Self {
        let inf = (RLIM_INFINITY, RLIM_INFINITY);
        Limits([
            inf,                      // CPU
            inf,                      // FSIZE
            inf,                      // DATA
            (8 << 20, RLIM_INFINITY), // STACK
            (0, RLIM_INFINITY),       // CORE
            inf,                      // RSS
            (4096, 4096),             // NPROC
            (65536, 65536),           // NOFILE: one program owns the VM
            (8 << 20, 8 << 20),       // MEMLOCK
            inf,                      // AS
            inf,                      // LOCKS
            (4096, 4096),             // SIGPENDING
            (819_200, 819_200),       // MSGQUEUE
            (0, 0),                   // NICE
            (0, 0),                   // RTPRIO
            inf,                      // RTTIME
        ])
    }
}

impl Limits {
    /// Soft limit on descriptors.
    pub fn nofile(&self) -> u64 {
        self.0[RLIMIT_NOFILE].0.min(NR_OPEN)
    }
}
