//! `kiln run --profile`: where the time goes, and what costs exits.
//!
//! - Program code is sampled: the timer ticks at the asked rate while the
//!   program runs, and each tick that interrupts it records its `rip`. A
//!   tick that fell due while the kernel ran is taken as soon as the
//!   program resumes; it is dropped (that time is the kernel's, booked
//!   below), so that system call return sites are not overcounted.
//! - Kernel work is timed, not sampled (the kernel runs with interrupts
//!   off, so a tick would land on the program's next instruction): each
//!   system call, fault, interrupt and network turn is measured with the
//!   TSC and booked, as samples at the same rate, to the function that did
//!   the work (the syscall's handler, `Process::page_fault`, ...), which
//!   the host symbolizes from the kernel's ELF.
//! - Time halted waiting for an event is booked as idle.
//! - Counters of what makes a VM exit or wake (interrupts, frames sent and
//!   received, disk reads, timer programming, halts, system calls) are kept
//!   always; they cost an increment.
//!
//! At exit everything goes to `kiln run` on the control channel, as lines
//! `profile ...` (the format is the packager's `profile.rs`).

use crate::exit::control_line;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

/// What is counted.
#[derive(Clone, Copy)]
pub enum Counter {
    Syscalls,
    Faults,
    IrqTimer,
    IrqDevice,
    Halts,
    TimerArm,
    NetPoll,
    NetRx,
    NetTx,
    BlockRead,
}

const COUNTERS: [(Counter, &str); 10] = [
    (Counter::Syscalls, "syscalls"),
    (Counter::Faults, "faults"),
    (Counter::IrqTimer, "irq.timer"),
    (Counter::IrqDevice, "irq.device"),
    (Counter::Halts, "hlt"),
    (Counter::TimerArm, "timer.arm"),
    (Counter::NetPoll, "net.poll"),
    (Counter::NetRx, "net.rx"),
    (Counter::NetTx, "net.tx"),
    (Counter::BlockRead, "block.read"),
];

static COUNTS: [AtomicU64; COUNTERS.len()] = [const { AtomicU64::new(0) }; COUNTERS.len()];

/// Count one event.
#[inline]
pub fn count(c: Counter) {
    COUNTS[c as usize].fetch_add(1, Ordering::Relaxed);
}

/// Most distinct sample addresses kept (memory stays bounded).
const MAX_ADDRESSES: usize = 65_536;

/// Where a sample was taken.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Where {
    User,
    Kernel,
}

struct Profile {
    hz: u64,
    /// Program samples and kernel time (in samples) by address.
    samples: BTreeMap<(Where, u64), u64>,
    /// Kernel time not yet whole samples, by address (ns).
    kernel_ns: BTreeMap<u64, u64>,
    idle_ns: u64,
}

static PROFILE: Mutex<Option<Profile>> = Mutex::new(None);
/// Whether a profile is being taken (read on every system call: no lock).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The rate asked for on the command line (`kiln.profile=HZ`), if any.
pub fn from_cmdline(cmdline: &str) -> Option<u64> {
    cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("kiln.profile="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|hz| (10..=10_000).contains(hz))
}

/// Start profiling at `hz` samples per second.
pub fn start(hz: u64) {
    *PROFILE.lock() = Some(Profile {
        hz,
        samples: BTreeMap::new(),
        kernel_ns: BTreeMap::new(),
        idle_ns: 0,
    });
    ACTIVE.store(true, Ordering::Relaxed);
}

/// The sampling period, when profiling.
pub fn period_ns() -> Option<u64> {
    PROFILE.lock().as_ref().map(|p| 1_000_000_000 / p.hz)
}

fn bump(map: &mut BTreeMap<(Where, u64), u64>, key: (Where, u64), n: u64) {
    if let Some(v) = map.get_mut(&key) {
        *v += n;
    } else if map.len() < MAX_ADDRESSES {
        map.insert(key, n);
    }
}

/// A tick interrupted the program at `rip`.
pub fn sample_user(rip: u64) {
    if let Some(p) = PROFILE.lock().as_mut() {
        bump(&mut p.samples, (Where::User, rip), 1);
    }
}

/// The kernel spent `ns` in the function at `addr`.
pub fn kernel_time(addr: u64, ns: u64) {
    let mut guard = PROFILE.lock();
    let Some(p) = guard.as_mut() else {
        return;
    };
    let period = 1_000_000_000 / p.hz;
    let acc = p.kernel_ns.entry(addr).or_insert(0);
    *acc += ns;
    let whole = *acc / period;
    if whole > 0 {
        *acc -= whole * period;
        bump(&mut p.samples, (Where::Kernel, addr), whole);
    }
}

/// The kernel was halted for `ns`.
pub fn idle_time(ns: u64) {
    if let Some(p) = PROFILE.lock().as_mut() {
        p.idle_ns += ns;
    }
}

/// Whether a profile is being taken.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Send the profile and the counters to `kiln run`, with the program's
/// file mappings (start, end, file offset of start, path) for symbols.
pub fn dump(maps: impl Iterator<Item = (u64, u64, u64, alloc::string::String)>) {
    let Some(p) = PROFILE.lock().take() else {
        return;
    };
    ACTIVE.store(false, Ordering::Relaxed);
    control_line(format_args!("profile hz {}", p.hz));
    for ((w, addr), n) in &p.samples {
        let tag = match w {
            Where::User => 'u',
            Where::Kernel => 'k',
        };
        control_line(format_args!("profile sample {tag} {addr:x} {n}"));
    }
    let idle = p.idle_ns / (1_000_000_000 / p.hz);
    if idle > 0 {
        control_line(format_args!("profile sample i 0 {idle}"));
    }
    for (start, end, offset, path) in maps {
        control_line(format_args!(
            "profile map {start:x} {end:x} {offset:x} {path}"
        ));
    }
    for (c, name) in COUNTERS {
        let n = COUNTS[c as usize].load(Ordering::Relaxed);
        control_line(format_args!("profile count {name} {n}"));
    }
}

// The `Counter` order and the table stay in step.
const _: () = {
    let mut i = 0;
    while i < COUNTERS.len() {
        assert!(COUNTERS[i].0 as usize == i);
        i += 1;
    }
};
