//! The running program as the personality sees it. This is the whole
//! interface the kernel uses: boot the program, hand it each system call and
//! each user page fault, and act on the [`Flow`] that comes back.

use crate::platform::Platform;
use alloc::string::String;
use kiln_abi::context::UserContext;
pub use kiln_abi::{Access, BootError, FaultSignal, Signal, Tid, WaitFor, MAIN_TID};

/// What the kernel does after a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Flow {
    /// Return to the program; the result is already in `rax`.
    Continue,
    /// The call cannot finish now. The kernel parks the thread until the
    /// event may have happened, then issues the same call again (the
    /// context is left as it was on entry).
    Block(WaitFor),
    /// The program has ended (exit_group, or exit of its last thread) with
    /// this status (0..=255).
    Exit(i32),
    /// The program must be ended by a signal (no handler can run). The
    /// kernel prints the crash report and exits with 128 + signal.
    Kill(Signal),
    /// `clone` made a thread: the kernel adds it, ready to run with this
    /// context (its `rax` is 0, its stack and TLS set). The caller's result
    /// (the new tid) is already in its own `rax`, and it goes on.
    Spawn { tid: Tid, ctx: UserContext },
    /// This thread has ended (`exit` of one thread among several); the
    /// kernel forgets it and runs the others.
    ThreadExit,
}

mod deliver;
mod exit;
mod network;
mod oom;
mod signal;
mod timers;

use crate::fd::FdTable;
use crate::imagefs::ImageFs;
use crate::limits::Limits;
use crate::mm::user::UserMem;
use crate::mm::{fault, AddressSpace, Backing, Kind, Region, STACK_SIZE, STACK_TOP};
use crate::platform::Prot;
use crate::symbols::Symbols;
use crate::thread::futex::Futexes;
use crate::thread::signal::SignalState;
use crate::thread::table::Threads;
use crate::thread::timers::Timers;
use crate::vfs::{Cx, FileRef, Location, MappedFile, Mapping, Namespace, ProcessFacts};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kiln_abi::ioctl::Termios;
use kiln_image::EntryKind;

/// See [`Process::poll_need`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollNeed {
    No,
    Soon,
    Now,
}

/// How the kernel was asked to run the program (from its command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// `kiln.missing-files`: record every path the program looked for and
    /// did not find, and list them on the console when it exits.
    pub report_missing_files: bool,
    /// `kiln.trace=SET` (with `kiln.trace-time=wall`, `kiln.trace-strlen=N`):
    /// print the calls of SET as strace does.
    pub trace: Option<crate::tracing::TraceOptions>,
    /// `kiln.syscall-summary`: count calls, errors and time per call.
    pub syscall_summary: bool,
    /// What on the command line could not be used, to say on the console.
    pub problems: Vec<String>,
}

impl BootOptions {
    /// Read the options from a kernel command line (words separated by
    /// spaces; `kiln.missing-files` or `kiln.missing-files=1` turn the
    /// report on).
    pub fn from_cmdline(cmdline: &str) -> BootOptions {
        let mut o = BootOptions::default();
        for w in cmdline.split_ascii_whitespace() {
            match w {
                "kiln.missing-files" | "kiln.missing-files=1" | "kiln.missing-files=on" => {
                    o.report_missing_files = true
                }
                "kiln.missing-files=0" | "kiln.missing-files=off" => o.report_missing_files = false,
                "kiln.syscall-summary" => o.syscall_summary = true,
                _ => o.trace_word(w),
            }
        }
        o
    }
}

impl BootOptions {
    /// The `kiln.trace*` words.
    fn trace_word(&mut self, w: &str) {
        use crate::tracing::{TraceOptions, TraceTime, DEFAULT_STRLEN, MAX_STRLEN};
        let Some((key, value)) = w.split_once('=') else {
            return;
        };
        let blank = TraceOptions {
            set: kiln_abi::sysno::SyscallSet::empty(),
            time: TraceTime::Relative,
            strlen: DEFAULT_STRLEN,
        };
        match key {
            "kiln.trace" => match kiln_abi::sysno::SyscallSet::parse(value) {
                Ok(set) => self.trace.get_or_insert(blank).set = set,
                Err(e) => self.problems.push(format!("kiln.trace: {e}")),
            },
            "kiln.trace-time" => match value {
                "wall" => self.trace.get_or_insert(blank).time = TraceTime::Wall,
                "relative" => self.trace.get_or_insert(blank).time = TraceTime::Relative,
                _ => self.problems.push(format!(
                    "kiln.trace-time: {value:?} is not wall or relative"
                )),
            },
            "kiln.trace-strlen" => match value.parse::<usize>() {
                Ok(n) if n <= MAX_STRLEN => self.trace.get_or_insert(blank).strlen = n,
                _ => self.problems.push(format!(
                    "kiln.trace-strlen: {value:?} is not 0..={MAX_STRLEN}"
                )),
            },
            _ => {}
        }
    }
}

/// Unknown numbers above the table are reported at most this many times,
/// so that a fuzzing program cannot fill memory with reports.
const MAX_REPORTED_UNKNOWN: usize = 64;

/// The running program: its address space, files and process state.
pub struct Process {
    space: AddressSpace,
    image: Arc<ImageFs>,
    ns: Namespace,
    fds: FdTable,
    signals: SignalState,
    limits: Limits,
    umask: u32,
    /// User and group ids (root at start).
    creds: crate::cred::Creds,
    /// personality(2)'s persona.
    personality: u32,
    /// membarrier registrations (the REGISTER_* command bits).
    membarrier: u32,
    /// mlockall(MCL_FUTURE): new mappings arrive populated.
    mlock_future: bool,
    /// Paths looked up and not found (ENOENT), in first-seen order, when
    /// `--missing-files` is on.
    missing: Option<Vec<String>>,
    brk_start: u64,
    brk_cur: u64,
    /// The program's path in the image (what /proc/self/exe names).
    exe: String,
    cwd: Location,
    reported: BTreeSet<u64>,
    symbols: Symbols,
    /// The network stack (loopback always; Ethernet when the machine has a
    /// device).
    net: crate::net::Net,
    /// Threads parked on readiness keys, and epoll observers.
    ready: crate::ready::Readiness,
    /// The threads, their signal state and blocked calls.
    threads: Threads,
    /// Futex wait queues.
    futexes: Futexes,
    /// alarm/setitimer, timer_create and timerfd timers.
    timers: Timers,
    /// `--trace` and `--syscall-summary`.
    tracing: crate::tracing::Tracing,
}

impl Process {
    /// Read the image header, manifest and fs index from p.block(), load the
    /// manifest's program and build its initial stack. Returns the process
    /// and the register state to enter user mode with.
    pub fn boot(p: &mut dyn Platform) -> Result<(Process, UserContext), BootError> {
        Self::boot_with(p, &BootOptions::default())
    }

    /// [`Process::boot`] with options from the kernel command line.
    pub fn boot_with(
        p: &mut dyn Platform,
        options: &BootOptions,
    ) -> Result<(Process, UserContext), BootError> {
        let fs = ImageFs::open(p.block())?;
        let manifest = fs.manifest.clone();
        let prog = &manifest.program;
        let (bytes, data, prog_id) = read_elf(&fs, p, prog, "program")?;
        let mut space = AddressSpace::default();
        let program = crate::loader::ImageElf {
            bytes: &bytes,
            image_offset: data,
            file: prog_id,
        };
        let mut read = |p: &mut dyn Platform, path: &str| read_elf(&fs, p, path, "interpreter");
        let loaded = crate::loader::load(program, &mut space, p, &mut read)?;
        drop(bytes);
        let stack = Region {
            start: STACK_TOP - STACK_SIZE,
            end: STACK_TOP,
            prot: Prot::READ | Prot::WRITE,
            kind: Kind::Stack,
            backing: Backing::Zero,
        };
        space
            .insert(stack)
            .map_err(|_| BootError("program overlaps the stack area".into()))?;
        let vdso = crate::mm::vdso::map(&mut space, p)?;
        let mut random = [0u8; 16];
        p.random().fill(&mut random);
        let default_args = [prog.as_bytes()];
        let args: Vec<&[u8]> = if manifest.args.is_empty() {
            default_args.to_vec()
        } else {
            manifest.args.iter().map(|a| a.as_bytes()).collect()
        };
        let env: Vec<&[u8]> = manifest.env.iter().map(|e| e.as_bytes()).collect();
        let spec = crate::stack::StackSpec {
            args: &args,
            env: &env,
            execfn: prog.as_bytes(),
            loaded: &loaded,
            info: p.info(),
            random,
            vdso,
        };
        let rsp = crate::stack::build(
            &mut UserMem {
                space: &space,
                fs: &fs,
                p,
            },
            &spec,
        )
        .map_err(|e| BootError(format!("cannot build the initial stack: {e:?}")))?;
        // /proc/self/exe names the file itself, symlinks resolved.
        let fs_path = fs.path_of(prog_id);
        let image = Arc::new(fs);
        let termios = Arc::new(spin::Mutex::new(Termios::default()));
        let ns = crate::vfs::mount::standard(&image, &manifest, termios.clone(), p);
        let root = ns.root();
        let (net, ready) = network::boot(p, &manifest.net);
        let mut process = Process {
            space,
            image,
            ns,
            fds: FdTable::default(),
            signals: SignalState::default(),
            limits: Limits::default(),
            umask: 0o022,
            creds: Default::default(),
            personality: 0,
            membarrier: 0,
            mlock_future: false,
            missing: options.report_missing_files.then(Vec::new),
            brk_start: loaded.brk_start,
            brk_cur: loaded.brk_start,
            exe: fs_path,
            cwd: root.clone(),
            reported: BTreeSet::new(),
            symbols: loaded.symbols,
            net,
            ready,
            threads: Threads::new(p.clock().monotonic_ns(), comm_of(prog)),
            futexes: Futexes::default(),
            timers: Timers::default(),
            tracing: crate::tracing::Tracing::new(
                options.trace,
                options.syscall_summary,
                p.clock().monotonic_ns(),
            ),
        };
        for problem in &options.problems {
            let line = format!("kiln: {problem}\n");
            p.console().write(line.as_bytes());
        }
        let cwd = crate::vfs::mount::initial_cwd(&mut Cx { p, facts: &process }, &manifest.cwd);
        process.cwd = cwd.unwrap_or(root);
        let console =
            crate::vfs::mount::console_description(&mut Cx { p, facts: &process }, termios);
        for fd in 0..3 {
            process.fds.set(fd, console.clone());
        }
        Ok((process, UserContext::new(loaded.entry, rsp)))
    }

    /// The id of the program's first thread.
    pub fn main_tid(&self) -> Tid {
        MAIN_TID
    }

    /// Note that `path` was looked for and not found (`--missing-files`).
    pub fn note_missing(&mut self, path: &[u8]) {
        if let Some(list) = self.missing.as_mut() {
            let s = String::from_utf8_lossy(path).into_owned();
            if !list.contains(&s) && list.len() < 10_000 {
                list.push(s);
            }
        }
    }

    /// Print the missing files, once, at exit.
    pub(crate) fn report_missing(&mut self, p: &mut dyn Platform) {
        if let Some(list) = self.missing.take() {
            let mut out = String::from("kiln: missing files:\n");
            for path in list {
                out.push_str(&path);
                out.push('\n');
            }
            p.console().write(out.as_bytes());
        }
    }

    /// Whether `--missing-files` is recording.
    pub fn reports_missing_files(&self) -> bool {
        self.missing.is_some()
    }

    /// A user-mode page fault at `addr`. Ok(()) when the page is now mapped
    /// (demand paging); Err(FaultSignal) (SIGSEGV with SEGV_MAPERR=1 /
    /// SEGV_ACCERR=2) when the access is outside a region or against its
    /// rights; SIGBUS when the image cannot be read; SIGKILL when no frame
    /// is left to back the page (the out-of-memory line is on the console).
    pub fn page_fault(
        &mut self,
        p: &mut dyn Platform,
        tid: Tid,
        addr: u64,
        access: Access,
    ) -> Result<(), FaultSignal> {
        let _ = tid;
        let r = fault::resolve(&self.space, &self.image, p, addr, access);
        if let Err(f) = &r {
            if f.signal == Signal::SIGKILL {
                // No memory left: the SIGKILL that follows ends the program.
                let _ = self.out_of_memory(p);
            }
        }
        r
    }

    /// Called each time thread `tid` is about to return to user mode:
    /// deliver its pending signals (which may rewrite `ctx` and push frames
    /// on its stack). `Flow::Continue` to go on; `Kill`/`Exit` when a
    /// signal's default action ends the program.
    pub fn before_user(&mut self, p: &mut dyn Platform, tid: Tid, ctx: &mut UserContext) -> Flow {
        if self.space.take_out_of_memory() {
            return self.out_of_memory(p);
        }
        self.deliver_signals(p, tid, ctx)
    }

    /// Threads whose blocked calls should be issued again now (woken by a
    /// futex wake, a signal, ...). The kernel calls this after every system
    /// call, fault and `poll`.
    pub fn take_wakeups(&mut self) -> Vec<Tid> {
        let mut woken = self.threads.take_wakeups();
        for tid in network::take_wakeups(self) {
            if !woken.contains(&tid) {
                woken.push(tid);
            }
        }
        woken
    }

    /// Let time pass and devices work: run the network stack, fire expired
    /// timers. Returns when the next call is due at the latest (ns).
    pub fn poll(&mut self, p: &mut dyn Platform, now: u64) -> Option<u64> {
        let net = network::poll(self, p, now);
        let timers = timers::poll(self, now);
        match (net, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the network runs DHCP and has no lease yet: the kernel
    /// gives it a bounded time before the program starts.
    pub fn awaiting_lease(&self) -> bool {
        self.net.stack().awaiting_lease()
    }

    /// Whether a system call left work for `poll` (data to send, a timer
    /// armed): the kernel then polls before running the program again.
    pub fn needs_poll(&self) -> bool {
        network::needs_poll(self) || self.timers.needs_poll()
    }

    /// How soon the work a system call left for `poll` must be done: a
    /// timer armed must be known now; segments to send may wait for the
    /// thread to block, so that the replies to several connections leave
    /// in one turn of the network stack (the kernel bounds the wait).
    /// Socket calls that left work for the network stack since it last
    /// ran: the kernel runs it once a batch has grown this large, whatever
    /// other calls (console writes, time) came between.
    pub fn egress_backlog(&self) -> u32 {
        self.net.stack().touches()
    }

    /// See [`PollNeed`].
    pub fn poll_need(&self) -> PollNeed {
        if self.timers.needs_poll() {
            PollNeed::Now
        } else if network::needs_poll(self) {
            PollNeed::Soon
        } else {
            PollNeed::No
        }
    }

    /// The host asked the VM to shut down: the program gets SIGTERM.
    pub fn request_shutdown(&mut self) {
        let info =
            crate::thread::signal::user_info(Signal::SIGTERM.0, crate::thread::signal::SI_USER);
        // Sent from outside: no sender pid.
        let info = crate::thread::sigframe::SigInfo {
            words: [0, 0],
            ..info
        };
        let _ = self.send_signal(None, info);
    }

    /// The ids of the program's threads, in order.
    pub fn thread_ids(&self) -> impl Iterator<Item = Tid> + '_ {
        self.threads.tids()
    }

    /// Symbol containing `addr` in the program's ELF symbol table, as
    /// (name, offset), for crash backtraces.
    pub fn symbolize(&self, addr: u64) -> Option<(String, u64)> {
        self.symbols.lookup(addr)
    }

    /// The program's regions as (start, end, rights, kind), for crash
    /// reports and /proc/self/maps.
    pub fn regions(&self) -> impl Iterator<Item = (u64, u64, Prot, Kind)> + '_ {
        self.space.iter().map(|r| (r.start, r.end, r.prot, r.kind))
    }
}

/// The parts, for the handlers: each part is its own type with its own
/// methods, reached only through these (one lock per part, later, for SMP).
impl Process {
    /// The address space.
    pub fn space(&self) -> &AddressSpace {
        &self.space
    }
    /// The address space, to change.
    pub fn space_mut(&mut self) -> &mut AddressSpace {
        &mut self.space
    }
    /// The descriptor table.
    pub fn fds(&self) -> &FdTable {
        &self.fds
    }
    /// The descriptor table, to change.
    pub fn fds_mut(&mut self) -> &mut FdTable {
        &mut self.fds
    }
    /// The mount namespace.
    pub fn ns(&self) -> &Namespace {
        &self.ns
    }
    /// The mount namespace, to change.
    pub fn ns_mut(&mut self) -> &mut Namespace {
        &mut self.ns
    }
    /// Signal dispositions and queues.
    pub fn signals(&self) -> &SignalState {
        &self.signals
    }
    /// Signal dispositions and queues, to change.
    pub fn signals_mut(&mut self) -> &mut SignalState {
        &mut self.signals
    }
    /// Resource limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// Resource limits, to change.
    pub fn limits_mut(&mut self) -> &mut Limits {
        &mut self.limits
    }
    /// User and group ids.
    pub fn creds(&self) -> &crate::cred::Creds {
        &self.creds
    }
    /// User and group ids, to change.
    pub fn creds_mut(&mut self) -> &mut crate::cred::Creds {
        &mut self.creds
    }
    /// The network stack.
    pub fn net(&self) -> &crate::net::Net {
        &self.net
    }
    /// The network stack, to change.
    pub fn net_mut(&mut self) -> &mut crate::net::Net {
        &mut self.net
    }
    /// Threads parked on readiness keys, and epoll observers.
    pub fn ready(&self) -> &crate::ready::Readiness {
        &self.ready
    }
    /// Threads parked on readiness keys, and epoll observers, to change.
    pub fn ready_mut(&mut self) -> &mut crate::ready::Readiness {
        &mut self.ready
    }
    /// The threads and their blocked calls.
    pub fn threads(&self) -> &Threads {
        &self.threads
    }
    /// The threads and their blocked calls, to change.
    pub fn threads_mut(&mut self) -> &mut Threads {
        &mut self.threads
    }
    /// Futex wait queues.
    pub fn futexes(&self) -> &Futexes {
        &self.futexes
    }
    /// Futex wait queues, to change.
    pub fn futexes_mut(&mut self) -> &mut Futexes {
        &mut self.futexes
    }
    /// Alarm, interval, POSIX and fd timers.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }
    /// Alarm, interval, POSIX and fd timers, to change.
    pub fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }
    /// The image file system the program was loaded from.
    pub fn image(&self) -> &Arc<ImageFs> {
        &self.image
    }
    /// The working directory.
    pub fn cwd(&self) -> &Location {
        &self.cwd
    }
    /// Change the working directory.
    pub fn set_cwd(&mut self, loc: Location) {
        self.cwd = loc;
    }
    /// The file mode creation mask.
    pub fn umask(&self) -> u32 {
        self.umask
    }
    /// Set the file mode creation mask.
    pub fn set_umask(&mut self, mask: u32) {
        self.umask = mask;
    }
    /// personality(2)'s persona.
    pub fn personality(&self) -> u32 {
        self.personality
    }
    /// Set the persona.
    pub fn set_personality(&mut self, persona: u32) {
        self.personality = persona;
    }
    /// membarrier registrations (the REGISTER_* command bits), to change.
    pub fn membarrier_mut(&mut self) -> &mut u32 {
        &mut self.membarrier
    }
    /// Whether new mappings arrive populated (mlockall(MCL_FUTURE)).
    pub fn mlock_future(&self) -> bool {
        self.mlock_future
    }
    /// Set by mlockall(MCL_FUTURE), cleared by munlockall.
    pub fn set_mlock_future(&mut self, on: bool) {
        self.mlock_future = on;
    }
    /// The program break: (start, current).
    pub fn brk(&self) -> (u64, u64) {
        (self.brk_start, self.brk_cur)
    }
    /// Move the program break.
    pub fn set_brk(&mut self, cur: u64) {
        self.brk_cur = cur;
    }
    /// Note that system call `nr` was reported as unimplemented; false
    /// when it was reported before, or when too many unknown numbers
    /// were (a fuzzing program cannot fill memory with reports).
    /// Numbers above `max_known` are not in the table.
    pub(crate) fn first_report(&mut self, nr: u64, max_known: u64) -> bool {
        let unknown_reported = self.reported.iter().filter(|&&n| n > max_known).count();
        let known = nr <= max_known;
        if self.reported.contains(&nr) || (!known && unknown_reported >= MAX_REPORTED_UNKNOWN) {
            return false;
        }
        self.reported.insert(nr)
    }

    /// Checked access to program memory.
    /// `--trace` and `--syscall-summary` state.
    pub fn tracing(&self) -> &crate::tracing::Tracing {
        &self.tracing
    }

    pub fn tracing_mut(&mut self) -> &mut crate::tracing::Tracing {
        &mut self.tracing
    }

    pub fn mem<'a>(&'a self, p: &'a mut dyn Platform) -> UserMem<'a> {
        UserMem {
            space: &self.space,
            fs: &self.image,
            p,
        }
    }
}

impl ProcessFacts for Process {
    fn exe(&self) -> &str {
        &self.exe
    }
    fn manifest(&self) -> &kiln_image::Manifest {
        &self.image.manifest
    }
    fn namespace(&self) -> &Namespace {
        &self.ns
    }
    fn cwd(&self) -> &Location {
        &self.cwd
    }
    fn mappings(&self) -> Vec<Mapping> {
        self.space
            .iter()
            .map(|r| {
                let file = match r.backing {
                    Backing::Image {
                        image_offset, file, ..
                    } => self.image.index.entry(file).map(|e| MappedFile {
                        path: self.image.path_of(file),
                        offset: image_offset.saturating_sub(e.data),
                        ino: file as u64 + 2,
                    }),
                    Backing::Zero => None,
                };
                Mapping {
                    start: r.start,
                    end: r.end,
                    prot: r.prot,
                    kind: r.kind,
                    file,
                }
            })
            .collect()
    }
    fn creds(&self) -> &crate::cred::Creds {
        &self.creds
    }
    fn umask(&self) -> u32 {
        self.umask
    }
    fn limits(&self) -> &Limits {
        &self.limits
    }
    fn file(&self, fd: i32) -> Option<FileRef> {
        self.fds.get(fd).ok().cloned()
    }
    fn open_fds(&self) -> Vec<i32> {
        self.fds.open_fds().collect()
    }
    fn thread_count(&self) -> usize {
        self.threads.tids().count()
    }
}

/// Read the ELF file at `path` of the image whole: (bytes, image offset of
/// its data, its entry). `what` names it in errors.
fn read_elf(
    fs: &ImageFs,
    p: &mut dyn Platform,
    path: &str,
    what: &str,
) -> Result<(Vec<u8>, u64, u32), BootError> {
    let id = fs
        .resolve(path.as_bytes(), true)
        .map_err(|e| BootError(format!("{what} {path} not found in the image ({e:?})")))?;
    let entry = *fs
        .index
        .entry(id)
        .ok_or_else(|| BootError(format!("{what} {path} not found")))?;
    if entry.kind != EntryKind::File {
        return Err(BootError(format!("{what} {path} is not a regular file")));
    }
    let bytes = fs
        .read_all(p.block(), id)
        .map_err(|e| BootError(format!("cannot read {what} {path}: {e:?}")))?;
    Ok((bytes, entry.data, id))
}

/// The thread name (`comm`) of a program: its file name, at most 15 bytes.
fn comm_of(path: &str) -> Vec<u8> {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.bytes().take(15).collect()
}
