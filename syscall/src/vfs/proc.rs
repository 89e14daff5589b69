//! `/proc` (the process as pid 1 and `self`, and the system files programs
//! read) and `/sys` (the CPU lists), in the formats Linux uses.

use super::dir::{open_dir, FsIdent, GenFile, Link, Lister, StaticDir};
use super::file::{Cx, FileObject};
use super::node::{DirEntry, Node, NodeKind, NodeRef};
use super::path::Location;
use crate::mm::Kind;
use crate::platform::Prot;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt::Write;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat, StatFs, PROC_SUPER_MAGIC, SYSFS_MAGIC, S_IFDIR, S_IFLNK};
use kiln_abi::uts::{HOSTNAME, RELEASE};

/// File system ids of /proc and /sys.
pub const PROC_FS_ID: u32 = 3;
pub const SYS_FS_ID: u32 = 4;
const PROC: FsIdent = FsIdent {
    id: PROC_FS_ID,
    dev: makedev(0, 22),
    magic: PROC_SUPER_MAGIC,
};
const SYS: FsIdent = FsIdent {
    id: SYS_FS_ID,
    dev: makedev(0, 23),
    magic: SYSFS_MAGIC,
};

type Gen = fn(&mut Cx<'_>) -> Vec<u8>;

fn file(fs: FsIdent, ino: u64, gen: Gen) -> NodeRef {
    Arc::new(GenFile {
        fs,
        ino,
        mode: 0o444,
        gen,
    })
}

fn link(ino: u64, target: Gen) -> NodeRef {
    Arc::new(Link {
        fs: PROC,
        ino,
        target,
    })
}

fn dir(fs: FsIdent, ino: u64, children: Vec<(&'static str, NodeRef)>) -> NodeRef {
    Arc::new(StaticDir { fs, ino, children })
}

fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// The /proc directory.
pub fn procfs() -> NodeRef {
    let pid = dir(
        PROC,
        100,
        alloc::vec![
            ("cgroup", file(PROC, 101, |_| text("0::/\n"))),
            ("cmdline", file(PROC, 102, cmdline)),
            ("comm", file(PROC, 103, comm)),
            ("cwd", link(104, |cx| cx.facts.cwd().path())),
            ("environ", file(PROC, 105, environ)),
            ("exe", link(106, |cx| cx.facts.exe().as_bytes().to_vec())),
            ("fd", Arc::new(FdDir) as NodeRef),
            ("limits", file(PROC, 107, limits)),
            ("maps", file(PROC, 108, maps)),
            ("mountinfo", file(PROC, 109, mountinfo)),
            ("mounts", file(PROC, 110, mounts)),
            ("root", link(111, |_| text("/"))),
            ("stat", file(PROC, 112, pid_stat)),
            ("statm", file(PROC, 113, statm)),
            ("status", file(PROC, 114, status)),
        ],
    );
    let sys = dir(
        PROC,
        200,
        alloc::vec![
            (
                "fs",
                dir(
                    PROC,
                    201,
                    alloc::vec![
                        (
                            "file-max",
                            file(PROC, 202, |_| text("9223372036854775807\n"))
                        ),
                        ("nr_open", file(PROC, 203, |_| text("1048576\n"))),
                    ]
                )
            ),
            (
                "kernel",
                dir(
                    PROC,
                    210,
                    alloc::vec![
                        (
                            "hostname",
                            file(PROC, 211, |_| format!("{HOSTNAME}\n").into_bytes())
                        ),
                        (
                            "osrelease",
                            file(PROC, 212, |_| format!("{RELEASE}\n").into_bytes())
                        ),
                        ("ostype", file(PROC, 213, |_| text("Linux\n"))),
                        ("pid_max", file(PROC, 214, |_| text("4194304\n"))),
                        (
                            "random",
                            dir(
                                PROC,
                                215,
                                alloc::vec![
                                    ("boot_id", file(PROC, 216, uuid)),
                                    ("uuid", file(PROC, 217, uuid))
                                ]
                            )
                        ),
                    ]
                )
            ),
            (
                "net",
                dir(
                    PROC,
                    220,
                    alloc::vec![(
                        "core",
                        dir(
                            PROC,
                            221,
                            alloc::vec![(
                                "somaxconn",
                                // listen() caps its backlog at this, as Linux does.
                                file(PROC, 222, |_| text(&format!("{}\n", kiln_abi::MAX_BACKLOG)))
                            )]
                        )
                    )]
                )
            ),
            (
                "vm",
                dir(
                    PROC,
                    230,
                    alloc::vec![
                        // 1, "always": mmap reserves and pages arrive on
                        // first touch, whatever the size (Redis checks).
                        ("overcommit_memory", file(PROC, 231, |_| text("1\n"))),
                        ("max_map_count", file(PROC, 232, |_| text("65530\n"))),
                    ]
                )
            ),
        ],
    );
    dir(
        PROC,
        1,
        alloc::vec![
            ("1", pid),
            ("cpuinfo", file(PROC, 2, cpuinfo)),
            (
                "filesystems",
                file(PROC, 3, |_| text(
                    "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\n\tsquashfs\n"
                ))
            ),
            ("loadavg", file(PROC, 4, |_| text("0.00 0.00 0.00 1/1 1\n"))),
            ("meminfo", file(PROC, 5, meminfo)),
            ("mounts", link(6, |_| text("self/mounts"))),
            ("self", link(7, |_| text("1"))),
            ("stat", file(PROC, 8, sys_stat)),
            ("sys", sys),
            ("thread-self", link(9, |_| text("1/task/1"))),
            ("uptime", file(PROC, 10, uptime)),
            (
                "version",
                file(PROC, 11, |_| format!(
                    "Linux version {RELEASE} (kiln) #1 SMP PREEMPT_DYNAMIC Kiln\n"
                )
                .into_bytes())
            ),
        ],
    )
}

/// The /sys directory: CPU lists.
pub fn sysfs() -> NodeRef {
    let cpus: Gen = |cx| {
        let n = cx.p.info().cpus.max(1);
        if n == 1 {
            text("0\n")
        } else {
            format!("0-{}\n", n - 1).into_bytes()
        }
    };
    let cpu = dir(
        SYS,
        4,
        alloc::vec![
            ("online", file(SYS, 5, cpus)),
            ("possible", file(SYS, 6, cpus)),
            ("present", file(SYS, 7, cpus)),
        ],
    );
    let system = dir(SYS, 3, alloc::vec![("cpu", cpu)]);
    let devices = dir(SYS, 2, alloc::vec![("system", system)]);
    dir(SYS, 1, alloc::vec![("devices", devices)])
}

fn manifest_strings(v: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in v {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out
}

fn cmdline(cx: &mut Cx<'_>) -> Vec<u8> {
    let m = cx.facts.manifest();
    if m.args.is_empty() {
        manifest_strings(core::slice::from_ref(&m.program))
    } else {
        manifest_strings(&m.args)
    }
}

fn environ(cx: &mut Cx<'_>) -> Vec<u8> {
    manifest_strings(&cx.facts.manifest().env)
}

fn comm_name(cx: &Cx<'_>) -> String {
    let exe = cx.facts.exe();
    let base = exe.rsplit('/').next().unwrap_or(exe);
    base.chars().take(15).collect()
}

fn comm(cx: &mut Cx<'_>) -> Vec<u8> {
    format!("{}\n", comm_name(cx)).into_bytes()
}

fn maps(cx: &mut Cx<'_>) -> Vec<u8> {
    let mut s = String::new();
    for m in cx.facts.mappings() {
        let flag = |p, c| if m.prot.contains(p) { c } else { '-' };
        let (name, offset, dev, ino) = match (&m.file, m.kind) {
            (Some(f), _) => (f.path.as_str(), f.offset, "00:01", f.ino),
            (None, Kind::Brk) => ("[heap]", 0, "00:00", 0),
            (None, Kind::Stack) => ("[stack]", 0, "00:00", 0),
            (None, Kind::Vvar) => ("[vvar]", 0, "00:00", 0),
            (None, Kind::Vdso) => ("[vdso]", 0, "00:00", 0),
            (None, Kind::Segment | Kind::Mmap) => ("", 0, "00:00", 0),
        };
        // Linux pads the name to column 73.
        let head = format!(
            "{:08x}-{:08x} {}{}{}p {offset:08x} {dev} {ino}",
            m.start,
            m.end,
            flag(Prot::READ, 'r'),
            flag(Prot::WRITE, 'w'),
            flag(Prot::EXEC, 'x'),
        );
        if name.is_empty() {
            let _ = writeln!(s, "{head}");
        } else {
            let _ = writeln!(s, "{head:<72} {name}");
        }
    }
    s.into_bytes()
}

fn mount_list(cx: &Cx<'_>) -> Vec<(String, &'static str, &'static str)> {
    let mut v = alloc::vec![(String::from("/"), "squashfs", "ro")];
    for (at, root) in cx.facts.namespace().mounts() {
        let (ty, opts) = match root.fs_id() {
            PROC_FS_ID => ("proc", "rw,nosuid,nodev,noexec"),
            SYS_FS_ID => ("sysfs", "ro,nosuid,nodev,noexec"),
            super::dev::DEV_FS_ID => ("devtmpfs", "rw,nosuid"),
            _ => ("tmpfs", "rw,nosuid,nodev"),
        };
        v.push((String::from_utf8_lossy(at).into_owned(), ty, opts));
    }
    v
}

fn mountinfo(cx: &mut Cx<'_>) -> Vec<u8> {
    let mut s = String::new();
    for (i, (at, ty, opts)) in mount_list(cx).iter().enumerate() {
        let parent = if i == 0 { 1 } else { 2 };
        let _ = writeln!(
            s,
            "{} {parent} 0:{} / {at} {opts} - {ty} {ty} {}",
            i + 2,
            20 + i,
            if *ty == "squashfs" { "ro" } else { "rw" }
        );
    }
    s.into_bytes()
}

fn mounts(cx: &mut Cx<'_>) -> Vec<u8> {
    let mut s = String::new();
    for (at, ty, opts) in mount_list(cx) {
        let _ = writeln!(s, "{ty} {at} {ty} {opts} 0 0");
    }
    s.into_bytes()
}

/// Most pages one reading of the memory figures asks the MMU about;
/// regions past it count as resident in full.
const RESIDENT_PROBES: u64 = 1 << 20;

/// The program's memory, in pages, as /proc/self/{statm,status,stat}
/// report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    /// Every mapped region (VmSize).
    size: u64,
    /// Pages backed by a frame now (VmRSS).
    resident: u64,
    /// Resident pages of the program's file (RssFile).
    file: u64,
    /// The program's executable segments (VmExe).
    text: u64,
    /// Private writable memory but the stack (VmData).
    data: u64,
    /// The stack (VmStk).
    stack: u64,
}

fn usage(cx: &mut Cx<'_>) -> Usage {
    let page = crate::platform::PAGE_SIZE;
    let mut u = Usage::default();
    let mut probes = RESIDENT_PROBES;
    for m in cx.facts.mappings() {
        let (start, end, prot, kind) = (m.start, m.end, m.prot, m.kind);
        let pages = (end - start) / page;
        u.size += pages;
        match kind {
            Kind::Stack => u.stack += pages,
            Kind::Segment if prot.contains(Prot::EXEC) => u.text += pages,
            Kind::Vvar | Kind::Vdso => {}
            _ if prot.contains(Prot::WRITE) => u.data += pages,
            _ => {}
        }
        // Inaccessible reservations are never touched: not resident.
        if prot.is_empty() {
            continue;
        }
        let here = if pages <= probes {
            probes -= pages;
            let mmu = cx.p.mmu();
            (0..pages)
                .filter(|i| mmu.is_mapped(start + i * page))
                .count() as u64
        } else {
            pages
        };
        u.resident += here;
        if kind == Kind::Segment {
            u.file += here;
        }
    }
    u
}

/// /proc/self/statm: size resident shared text lib data dt, in pages.
fn statm(cx: &mut Cx<'_>) -> Vec<u8> {
    let u = usage(cx);
    format!(
        "{} {} {} {} 0 {} 0\n",
        u.size,
        u.resident,
        u.file,
        u.text,
        u.data + u.stack
    )
    .into_bytes()
}

fn status(cx: &mut Cx<'_>) -> Vec<u8> {
    let u = usage(cx);
    let kb = |pages: u64| pages * (crate::platform::PAGE_SIZE / 1024);
    let (vm, rss, stack) = (kb(u.size), kb(u.resident), kb(u.stack));
    let (data, exe, file) = (kb(u.data), kb(u.text), kb(u.file));
    let anon = rss - file;
    let cpus = cx.p.info().cpus.max(1);
    let mask = if cpus >= 64 {
        u64::MAX
    } else {
        (1u64 << cpus) - 1
    };
    let list = if cpus == 1 {
        String::from("0")
    } else {
        format!("0-{}", cpus - 1)
    };
    let creds = cx.facts.creds();
    let ids = |i: &crate::cred::Ids| format!("{}\t{}\t{}\t{}", i.real, i.effective, i.saved, i.fs);
    let (uid, gid) = (ids(&creds.uid), ids(&creds.gid));
    let groups: Vec<String> = creds.groups.iter().map(|g| format!("{g}")).collect();
    let groups = groups.join(" ");
    let (cap_eff, cap_prm) = creds.capabilities();
    let threads = cx.facts.thread_count();
    format!(
        "Name:\t{}\nUmask:\t{:04o}\nState:\tR (running)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\n\
         TracerPid:\t0\nUid:\t{uid}\nGid:\t{gid}\nFDSize:\t64\nGroups:\t{groups}\n\
         VmPeak:\t{vm} kB\nVmSize:\t{vm} kB\nVmLck:\t0 kB\nVmPin:\t0 kB\nVmHWM:\t{rss} kB\n\
         VmRSS:\t{rss} kB\nRssAnon:\t{anon} kB\nRssFile:\t{file} kB\nRssShmem:\t0 kB\n\
         VmData:\t{data} kB\nVmStk:\t{stack} kB\nVmExe:\t{exe} kB\nVmLib:\t0 kB\n\
         VmSwap:\t0 kB\nThreads:\t{threads}\n\
         SigQ:\t0/4096\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
         SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
         CapInh:\t0000000000000000\nCapPrm:\t{cap_prm:016x}\nCapEff:\t{cap_eff:016x}\n\
         CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n\
         Cpus_allowed:\t{mask:x}\nCpus_allowed_list:\t{list}\nMems_allowed:\t1\n\
         Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        comm_name(cx),
        cx.facts.umask(),
    )
    .into_bytes()
}

fn pid_stat(cx: &mut Cx<'_>) -> Vec<u8> {
    let u = usage(cx);
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
    // majflt cmajflt utime stime cutime cstime priority nice threads
    // itrealvalue starttime vsize rss rsslim ... (52 fields)
    let mut s = format!(
        "1 ({}) R 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 {} 0 0 {} {} 18446744073709551615",
        comm_name(cx),
        cx.facts.thread_count(),
        u.size * crate::platform::PAGE_SIZE,
        u.resident
    );
    for _ in 0..27 {
        s.push_str(" 0");
    }
    s.push('\n');
    s.into_bytes()
}

fn limits(cx: &mut Cx<'_>) -> Vec<u8> {
    let names = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let mut s = String::from(
        "Limit                     Soft Limit           Hard Limit           Units     \n",
    );
    let show = |v: u64| {
        if v == u64::MAX {
            String::from("unlimited")
        } else {
            format!("{v}")
        }
    };
    for (i, (name, unit)) in names.iter().enumerate() {
        let (soft, hard) = cx.facts.limits().0[i];
        let _ = writeln!(
            s,
            "{name:<26}{:<21}{:<21}{unit:<10}",
            show(soft),
            show(hard)
        );
    }
    s.into_bytes()
}

fn cpuinfo(cx: &mut Cx<'_>) -> Vec<u8> {
    let mut s = String::new();
    let n = cx.p.info().cpus.max(1);
    for i in 0..n {
        let _ = write!(
            s,
            "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 0\n\
             model name\t: Kiln virtual CPU\nstepping\t: 0\ncpu MHz\t\t: 2000.000\n\
             cache size\t: 4096 KB\nphysical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\n\
             cpu cores\t: {n}\napicid\t\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\n\
             cpuid level\t: 13\nwp\t\t: yes\nflags\t\t: fpu tsc msr pae cx8 apic sep cmov pat \
             clflush mmx fxsr sse sse2 syscall nx lm sse3 ssse3 cx16 sse4_1 sse4_2 popcnt\n\
             bogomips\t: 4000.00\nclflush size\t: 64\ncache_alignment\t: 64\n\
             address sizes\t: 40 bits physical, 48 bits virtual\npower management:\n\n"
        );
    }
    s.into_bytes()
}

fn meminfo(cx: &mut Cx<'_>) -> Vec<u8> {
    let info = cx.p.info();
    let (total, free) = (info.total_ram / 1024, info.free_ram / 1024);
    format!(
        "MemTotal:       {total:8} kB\nMemFree:        {free:8} kB\nMemAvailable:   {free:8} kB\n\
         Buffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\n\
         Active:                0 kB\nInactive:              0 kB\nSwapTotal:             0 kB\n\
         SwapFree:              0 kB\nDirty:                 0 kB\nShmem:                 0 kB\n\
         CommitLimit:    {total:8} kB\nCommitted_AS:          0 kB\nVmallocTotal:   34359738367 kB\n\
         HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n"
    )
    .into_bytes()
}

fn uptime(cx: &mut Cx<'_>) -> Vec<u8> {
    let cs = cx.p.clock().monotonic_ns() / 10_000_000;
    format!(
        "{}.{:02} {}.{:02}\n",
        cs / 100,
        cs % 100,
        cs / 100,
        cs % 100
    )
    .into_bytes()
}

fn sys_stat(cx: &mut Cx<'_>) -> Vec<u8> {
    let n = cx.p.info().cpus.max(1);
    let mut s = String::from("cpu  0 0 0 0 0 0 0 0 0 0\n");
    for i in 0..n {
        let _ = writeln!(s, "cpu{i} 0 0 0 0 0 0 0 0 0 0");
    }
    let boot = (cx.p.clock().realtime_ns()
        - cx.p.clock().monotonic_ns().min(cx.p.clock().realtime_ns()))
        / 1_000_000_000;
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {boot}\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
    );
    s.into_bytes()
}

fn uuid(cx: &mut Cx<'_>) -> Vec<u8> {
    let mut b = [0u8; 16];
    cx.p.random().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}\n",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
    .into_bytes()
}

/// /proc/self/fd: one link per open descriptor.
struct FdDir;

impl Node for FdDir {
    fn kind(&self) -> NodeKind {
        NodeKind::Dir
    }
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(PROC.stat(300, S_IFDIR | 0o500, 0))
    }
    fn fs_id(&self) -> u32 {
        PROC_FS_ID
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        PROC.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, cx: &mut Cx<'_>, name: &[u8]) -> SysResult<NodeRef> {
        let fd: i32 = core::str::from_utf8(name)
            .ok()
            .filter(|s| {
                s.bytes().all(|b| b.is_ascii_digit()) && (s.len() == 1 || !s.starts_with('0'))
            })
            .and_then(|s| s.parse().ok())
            .ok_or(Errno::ENOENT)?;
        cx.facts.file(fd).ok_or(Errno::ENOENT)?;
        Ok(Arc::new(FdLink { fd }))
    }
    fn list(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        Ok(cx
            .facts
            .open_fds()
            .into_iter()
            .map(|fd| DirEntry {
                name: format!("{fd}").into_bytes(),
                ino: 1000 + fd as u64,
                kind: NodeKind::Symlink,
            })
            .collect())
    }
    fn open(&self, _cx: &mut Cx<'_>, flags: u32) -> SysResult<Box<dyn FileObject>> {
        open_dir(PROC, 300, flags, Arc::new(FdLister))
    }
}

struct FdLister;

impl Lister for FdLister {
    fn entries(&self, cx: &mut Cx<'_>) -> SysResult<Vec<DirEntry>> {
        FdDir.list(cx)
    }
}

/// /proc/self/fd/N: names the file; following it reaches the very file.
struct FdLink {
    fd: i32,
}

impl Node for FdLink {
    fn kind(&self) -> NodeKind {
        NodeKind::Symlink
    }
    fn stat(&self, cx: &mut Cx<'_>) -> SysResult<Stat> {
        let len = self.readlink(cx)?.len() as u64;
        Ok(PROC.stat(1000 + self.fd as u64, S_IFLNK | 0o700, len))
    }
    fn fs_id(&self) -> u32 {
        PROC_FS_ID
    }
    fn statfs(&self, _cx: &mut Cx<'_>) -> StatFs {
        PROC.statfs()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn readlink(&self, cx: &mut Cx<'_>) -> SysResult<Vec<u8>> {
        let d = cx.facts.file(self.fd).ok_or(Errno::ENOENT)?;
        Ok(d.proc_name().into_bytes())
    }
    fn jump(&self, cx: &mut Cx<'_>) -> Option<SysResult<Location>> {
        let d = match cx.facts.file(self.fd) {
            Some(d) => d,
            None => return Some(Err(Errno::ENOENT)),
        };
        match (&d.loc, d.obj.name()) {
            (Some(l), None) => Some(Ok(l.clone())),
            _ => Some(Err(Errno::ENXIO)),
        }
    }
    fn open(&self, _cx: &mut Cx<'_>, _flags: u32) -> SysResult<Box<dyn FileObject>> {
        Err(Errno::ELOOP)
    }
}
