//! `kiln run`: boot an image under QEMU and turn what the kernel reports on
//! the control channel into kiln's exit status.

use crate::accel::{self, AccelChoice};
use crate::image::{is_image, write_image, Image};
use crate::inspect::ImageFs;
use crate::net::{self, NetMode, Network, Proto};
use crate::profile;
use crate::qemu::{self, Launch, Machine, Verdict};
use crate::relay::{self, Relay};
use crate::root::Fs;
use crate::spec::{load_config, resolve, run_settings, BuildArgs, RunSettings};
use crate::EXIT_VM_FAILURE;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Exit status after Ctrl-C or SIGTERM (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `-m`; `None`: RunConfig.Memory, else [`DEFAULT_MEMORY`].
    pub memory: Option<String>,
    pub machine: Machine,
    /// `--bios` / `--uefi`: boot a self-booting disk through this firmware.
    pub firmware: Option<crate::disk::firmware::Firmware>,
    /// `--accel`; `None`: from RunConfig.Accel, else auto.
    pub accel: Option<AccelChoice>,
    /// Ask the kernel to list the paths the program missed.
    pub missing_files: bool,
    /// `--profile[=HZ]` / `--profile-out`: sample the VM and report at exit.
    pub profile: Option<profile::Settings>,
    /// `--trace[=SET]` and its companions.
    pub trace: Option<crate::trace::TraceSettings>,
    /// `--syscall-summary`: print a table of the calls at exit.
    pub syscall_summary: bool,
    /// `--kernel-arg`: more words for the kernel's command line.
    pub kernel_args: Vec<String>,
    /// `-p`: TCP forwards as given ([`net::parse_forward`]).
    pub ports: Vec<String>,
    /// `--udp`: UDP forwards as given.
    pub udp_ports: Vec<String>,
    /// `--net`, when given.
    pub net: Option<NetMode>,
    /// `-b/--bridged`: a tap network (ops' spelling of `--net tap:NAME`).
    pub bridged: bool,
    /// `-t/--tapname`: the tap device (implies `-b`).
    pub tapname: Option<String>,
    /// `-g/--gdbport`: QEMU's gdb stub on this port of 127.0.0.1.
    pub gdb_port: Option<u16>,
    /// `-d/--debug`: the gdb stub, and QEMU waits for gdb before the kernel runs.
    pub debug: bool,
    /// `-v/--verbose`: show the QEMU command line.
    pub verbose: bool,
    /// `--smp`: CPUs (only 1 until SMP exists).
    pub smp: Option<u32>,
    pub build: BuildArgs,
    pub args: Vec<String>,
}

/// Memory of the VM when neither -m nor RunConfig.Memory says.
pub const DEFAULT_MEMORY: &str = "256M";
/// Kernel command-line word for `--missing-files`.
pub const MISSING_FILES_CMDLINE: &str = "kiln.missing-files";
/// Kernel command-line word for `--syscall-summary`.
pub const SUMMARY_CMDLINE: &str = "kiln.syscall-summary";

/// `kiln run`: returns the program's exit status, [`EXIT_VM_FAILURE`] when
/// it reported none, or [`EXIT_INTERRUPTED`].
pub fn run_command(target: &Path, opts: &RunOptions) -> Result<i32> {
    install_signal_handler();
    // A bad -m, -p or --udp is reported before any work.
    if let Some(m) = &opts.memory {
        qemu::check_memory(m)?;
    }
    if let Some(n) = opts.smp.filter(|&n| n != 1) {
        bail!("--smp {n}: Kiln runs one CPU (SMP is not supported yet); use --smp 1");
    }
    if opts.net.is_some() && (opts.bridged || opts.tapname.is_some()) {
        bail!("give either --net or -b/-t (ops' spelling of --net tap:NAME), not both");
    }
    if let Some(p) = &opts.profile {
        let dir = p.out.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            bail!(
                "--profile-out {}: no such directory for the flame graph",
                p.out.display()
            );
        }
    }
    // Made now: an unwritable --trace-file is an error before any work.
    let trace_sink = opts.trace.as_ref().map(|t| t.sink()).transpose()?;
    let mut cli_forwards = Vec::new();
    for (proto, specs) in [(Proto::Tcp, &opts.ports), (Proto::Udp, &opts.udp_ports)] {
        for spec in specs {
            cli_forwards.extend(net::parse_forward(proto, spec)?);
        }
    }
    // Everything temporary lives here and goes when `work` is dropped, on
    // every path out of this function.
    let work = tempfile::Builder::new()
        .prefix("kiln-run-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    // A self-booting disk (any format) boots through firmware; its raw
    // copy is what kiln reads the image from.
    let disk = crate::disk::firmware::resolve(target, opts.firmware, work.path())?;
    let image_target = disk.as_ref().map_or(target, |d| d.raw.as_path());
    let (image_path, settings) = if is_image(image_target) {
        if !opts.args.is_empty() {
            bail!(
                "{}: arguments are fixed when an image is built; use `kiln build PROGRAM -- ARGS` or `kiln run PROGRAM -- ARGS`",
                target.display()
            );
        }
        if opts.build.changes_contents() {
            bail!(
                "{}: files, environment, working directory and mounts are fixed when an image is built; give them to `kiln build`",
                target.display()
            );
        }
        // With an image, a config only says how to run it.
        let settings = match load_config(&opts.build)? {
            Some((config, _)) if config.has_build_fields() => bail!(
                "{}: the image is already built; a config given to `kiln run IMAGE` may hold only RunConfig",
                target.display()
            ),
            Some((config, _)) => run_settings(&config)?,
            None => RunSettings::default(),
        };
        (image_target.to_path_buf(), settings)
    } else {
        let spec = resolve(Some(target), &opts.args, &opts.build)?;
        let path = work.path().join(format!("{}.img", spec.program.name));
        write_image(&spec.tree, &spec.manifest, crate::KERNEL, &path, true)?;
        (path, spec.run)
    };
    let memory = qemu::check_memory(
        opts.memory
            .as_deref()
            .or(settings.memory.as_deref())
            .unwrap_or(DEFAULT_MEMORY),
    )?;
    let accel_choice = match (opts.accel, settings.accel) {
        (Some(a), _) => a,
        (None, Some(false)) => AccelChoice::Tcg,
        (None, _) => AccelChoice::Auto,
    };
    let mut forwards = net::with_bind(Proto::Tcp, net::DEFAULT_BIND, &settings.ports);
    forwards.extend(net::with_bind(
        Proto::Udp,
        net::DEFAULT_BIND,
        &settings.udp_ports,
    ));
    forwards.extend(cli_forwards);
    let mode = match (&opts.net, &opts.tapname, opts.bridged, &settings.tap) {
        (Some(n), _, _, _) => n.clone(),
        (None, Some(t), _, _) => NetMode::Tap(t.clone()),
        (None, None, true, tap) => NetMode::Tap(
            tap.clone()
                .unwrap_or_else(|| crate::config::DEFAULT_TAP.to_string()),
        ),
        (None, None, false, Some(tap)) => NetMode::Tap(tap.clone()),
        (None, None, false, None) => NetMode::User,
    };
    let mut network = Network::new(mode, forwards)?;
    let mut image = Image::open(&image_path)?;
    if let Some((ip, prefix)) = image.manifest.net.ipv4 {
        network.guest = Some((ip.into(), prefix));
    }
    network.gateway = image.manifest.net.gateway.map(Into::into);
    let kernel = image.kernel()?;
    let kernel_path = work.path().join("kernel.elf");
    std::fs::write(&kernel_path, &kernel).context("cannot write the kernel to a temporary file")?;

    let debug = opts.debug || settings.debug;
    let gdb_port = opts
        .gdb_port
        .or(settings.gdb_port)
        .or(debug.then_some(crate::config::DEFAULT_GDB_PORT));
    // Before the accelerator probe, so that a busy port is the only message.
    network.check_host()?;
    if let Some(port) = gdb_port {
        if std::net::TcpListener::bind((net::DEFAULT_BIND, port)).is_err() {
            bail!("gdb port {port} is in use (choose another with -g)");
        }
    }
    let accel = accel::resolve(accel_choice, &kernel, &kernel_path);
    if interrupted() {
        return Ok(EXIT_INTERRUPTED);
    }
    let append = kernel_cmdline(
        opts.missing_files || settings.missing_files,
        opts.profile.as_ref(),
        opts.trace.as_ref(),
        opts.syscall_summary,
    );
    let append = match (append, opts.kernel_args.join(" ")) {
        (a, extra) if extra.is_empty() => a,
        (Some(a), extra) => Some(format!("{a} {extra}")),
        (None, extra) => Some(extra),
    };
    let needs_cmdline = opts.missing_files
        || settings.missing_files
        || opts.profile.is_some()
        || opts.trace.is_some()
        || opts.syscall_summary
        || !opts.kernel_args.is_empty();
    // (-q and -v still hold for kiln's own lines; the kernel keeps its default.)
    if disk.is_some() && needs_cmdline {
        bail!(
            "{}: --missing-files, --profile, --trace, --syscall-summary and --kernel-arg need the kernel command line, which a disk booted through firmware does not take; run the raw image without --bios/--uefi",
            target.display()
        );
    }
    let ctl = work.path().join("ctl");
    let requests = work.path().join("requests.sock");
    // The program's console is a virtio console on stdio; what the kernel
    // says on the serial port (before that, and on a panic) is copied to
    // standard output too.
    // Through firmware, what the firmware and GRUB print there comes
    // first: shown with -v, else left out up to the kernel's first line.
    let serial = match (&disk, crate::log::level()) {
        (Some(_), level) if level < crate::log::Level::Verbose => {
            Relay::with_start(relay::Target::Stdout, Some(b"kiln: "))?
        }
        _ => Relay::new(relay::Target::Stdout)?,
    };
    let launch = Launch {
        machine: opts.machine,
        accel,
        memory,
        kernel: kernel_path,
        image: Some(image_path),
        ctl: ctl.clone(),
        append,
        requests: Some(requests.clone()),
        trace: trace_sink.as_ref().map(|t| t.path.clone()),
        serial: Some(serial.path.clone()),
        net: Some(network.clone()),
        // RebootOnExit: the kernel resets the machine, QEMU boots it again.
        reboot: image.manifest.exit.reboot.is_some(),
        gdb: gdb_port.map(|port| qemu::Gdb { port, wait: debug }),
        firmware: disk.map(|d| d.boot),
    };
    let mut cmd = Command::new(qemu::qemu_binary());
    cmd.args(qemu::args(&launch)).stderr(Stdio::piped());
    if opts.verbose || settings.verbose || crate::log::level() == crate::log::Level::Verbose {
        let line: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        eprintln!("kiln: {}", line.join(" "));
    }
    if let Some(port) = gdb_port {
        eprintln!(
            "kiln: gdb stub on 127.0.0.1:{port}{} (gdb: target remote localhost:{port})",
            if debug { ", QEMU waits for it" } else { "" }
        );
        if debug {
            match gdb_command(&image, &launch.kernel, work.path(), port) {
                Ok(cmd) => eprintln!("kiln: to stop at the program's entry, run:\n  {cmd}"),
                Err(e) => crate::note!("no gdb command with the program's symbols: {e:#}"),
            }
        }
    }
    set_request_socket(Some(requests));
    let mut stderr = None;
    let started = Instant::now();
    let status = supervise_with(&mut cmd, None, |child| {
        stderr = child.stderr.take().map(relay_stderr);
    });
    let run_time = started.elapsed();
    serial.finish();
    set_request_socket(None);
    let failure = stderr.and_then(|t| t.join().ok().flatten());
    if let Some(hook) = &settings.at_exit {
        run_at_exit(hook);
    }
    let status = status?;
    if let Some(msg) = failure {
        bail!(msg);
    }
    if interrupted() {
        return Ok(EXIT_INTERRUPTED);
    }
    // Lossy: bytes that are not UTF-8 (the VM is untrusted) must not cost
    // the lines around them.
    let report = std::fs::read(&ctl)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let status = match qemu::parse_ctl(&report) {
        Verdict::Exit(n) => n as i32,
        Verdict::Panic => {
            if let Some(text) = crate::backtrace::kernel_report(&report, &kernel) {
                eprint!("{text}");
            }
            eprintln!("kiln: error: the kernel panicked (see the console output above)");
            EXIT_VM_FAILURE
        }
        Verdict::ProbeOk | Verdict::Silent => {
            let how = status.map_or("was stopped after its time limit".to_string(), |s| {
                format!("ended ({s})")
            });
            eprintln!("kiln: error: the VM {how} without reporting an exit status: kernel or hypervisor failure");
            EXIT_VM_FAILURE
        }
    };
    if let Some(t) = trace_sink {
        t.finish();
    }
    if let Some(crash) = crate::backtrace::Crash::parse(&report) {
        report_crash(&crash, &image);
    }
    if opts.syscall_summary {
        eprint!(
            "{}",
            crate::trace::summary_table(&crate::trace::parse_summary(&report))
        );
    }
    if let Some(settings) = &opts.profile {
        report_profile(&report, settings, &image, &kernel, run_time);
    }
    Ok(status)
}

/// Print `--profile`'s report on standard error and write its flame graph.
/// Whatever happens in there, the program's exit status stays kiln's.
fn report_profile(
    ctl: &str,
    settings: &profile::Settings,
    image: &Image,
    kernel: &[u8],
    run_time: Duration,
) {
    let fs = ImageFs { image };
    // Map paths are the program's view: follow symlinks inside the image.
    let read = |path: &str| {
        let found = crate::root::resolve(&fs, path, true).ok()?;
        fs.read(&found.real).ok()
    };
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        profile::finish(ctl, settings, kernel, read, run_time)
    }));
    match text {
        Ok(text) => eprint!("{text}"),
        Err(_) => eprintln!("kiln: profile: the report failed (a bug in kiln)"),
    }
}

/// The gdb command line that attaches to the stub with the kernel's
/// symbols and the program's at its load address (one address space), and
/// stops at the program's entry.
fn gdb_command(image: &Image, kernel: &Path, work: &Path, port: u16) -> Result<String> {
    let fs = ImageFs { image };
    let path = &image.manifest.program;
    let found = crate::root::resolve(&fs, path, true)
        .map_err(|_| anyhow::anyhow!("{path}: not found in the image"))?;
    let bytes = fs.read(&found.real)?;
    let elf = goblin::elf::Elf::parse(&bytes).context("the program is not an ELF file")?;
    // Where the kernel's loader puts it: ET_EXEC at its addresses, a PIE at
    // Linux's ELF_ET_DYN_BASE.
    let bias = if elf.header.e_type == goblin::elf::header::ET_DYN {
        kiln_abi::PIE_BASE
    } else {
        0
    };
    let program = work.join("program.elf");
    std::fs::write(&program, &bytes).context("cannot write the program for gdb")?;
    Ok(format!(
        "gdb -q {} -ex 'target remote 127.0.0.1:{port}' -ex 'add-symbol-file {} -o {bias:#x}' -ex 'hbreak *{:#x}' -ex continue",
        kernel.display(),
        program.display(),
        bias + elf.entry
    ))
}

/// Print the backtraces of a program that died of a signal.
fn report_crash(crash: &crate::backtrace::Crash, image: &Image) {
    let fs = ImageFs { image };
    let mut read = |path: &str| {
        let found = crate::root::resolve(&fs, path, true).ok()?;
        fs.read(&found.real).ok()
    };
    // The tables come from the untrusted image: a bug they trigger must not
    // cost kiln the program's exit status.
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::backtrace::report(crash, &mut read)
    }));
    match text {
        Ok(text) => eprint!("{text}"),
        Err(_) => eprintln!("kiln: the backtrace failed (a bug in kiln)"),
    }
}

/// Copy QEMU's standard error to kiln's, except a host forwarding failure,
/// which the returned thread hands back as kiln's message.
fn relay_stderr(from: ChildStderr) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        let mut failure = None;
        let mut out = std::io::stderr();
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            match net::hostfwd_failure(&line) {
                Some(msg) => failure = failure.or(Some(msg)),
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        failure
    })
}

/// RunConfig.AtExit: a shell command run on the host once the VM has
/// stopped (as ops' hook). Its failure is a note; kiln's status stays the
/// program's.
fn run_at_exit(hook: &str) {
    match Command::new("sh").arg("-c").arg(hook).status() {
        Ok(s) if s.success() => {}
        Ok(s) => crate::note!("RunConfig.AtExit {hook:?} failed ({s})"),
        Err(e) => crate::note!("RunConfig.AtExit {hook:?} could not start: {e}"),
    }
}

/// The kernel command line (`-append`) for `--missing-files` and `--profile`.
pub fn kernel_cmdline(
    missing_files: bool,
    profile: Option<&profile::Settings>,
    trace: Option<&crate::trace::TraceSettings>,
    syscall_summary: bool,
) -> Option<String> {
    let mut words = Vec::new();
    if missing_files {
        words.push(MISSING_FILES_CMDLINE.to_string());
    }
    if let Some(p) = profile {
        words.push(p.cmdline());
    }
    if let Some(t) = trace {
        words.push(t.cmdline());
    }
    if syscall_summary {
        words.push(SUMMARY_CMDLINE.to_string());
    }
    words.extend(crate::log::cmdline(crate::log::level()).map(str::to_string));
    (!words.is_empty()).then(|| words.join(" "))
}

static CHILD: AtomicI32 = AtomicI32::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The running VM's request socket, while there is one.
static REQUEST_SOCKET: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Time the program gets to exit after SIGTERM before the VM is stopped.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);

fn set_request_socket(path: Option<PathBuf>) {
    *REQUEST_SOCKET.lock().unwrap_or_else(|e| e.into_inner()) = path;
}

/// Ask the kernel to deliver SIGTERM to the program. False when there is no
/// VM to ask or it cannot be reached.
fn request_shutdown() -> bool {
    let path = REQUEST_SOCKET
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(path) = path else { return false };
    match UnixStream::connect(&path) {
        Ok(mut s) => s.write_all(&[qemu::SHUTDOWN_REQUEST]).is_ok(),
        Err(_) => false,
    }
}

/// The first Ctrl-C, SIGTERM or SIGHUP asks the program to stop (it gets
/// SIGTERM and [`GRACE_PERIOD`] to exit, and its exit status is kiln's);
/// a second one, or the end of the grace period, stops QEMU (politely, so
/// that it restores the terminal) and `run_command` cleans up and returns.
fn install_signal_handler() {
    static ONCE: Once = Once::new();
    static REQUESTED: AtomicBool = AtomicBool::new(false);
    ONCE.call_once(|| {
        // If another handler is already installed (embedding), keep it.
        let _ = ctrlc::set_handler(|| {
            if !REQUESTED.swap(true, Ordering::SeqCst) && request_shutdown() {
                if crate::log::level() >= crate::log::Level::Normal {
                    eprintln!(
                        "kiln: asked the program to stop (SIGTERM); interrupt again to stop the VM now"
                    );
                }
                let pid = CHILD.load(Ordering::SeqCst);
                std::thread::spawn(move || {
                    std::thread::sleep(GRACE_PERIOD);
                    if CHILD.load(Ordering::SeqCst) == pid {
                        INTERRUPTED.store(true, Ordering::SeqCst);
                        terminate(pid, libc::SIGTERM);
                    }
                });
                return;
            }
            INTERRUPTED.store(true, Ordering::SeqCst);
            terminate(CHILD.load(Ordering::SeqCst), libc::SIGTERM);
        });
    });
}

/// Has the user asked kiln to stop?
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub(crate) fn terminate(pid: i32, signal: i32) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is a
        // child of this process that has not been reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Spawn `cmd`, wait for it, and kill it when kiln is interrupted or
/// `timeout` passes (then the result is `None`).
pub fn supervise(cmd: &mut Command, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    supervise_with(cmd, timeout, |_| {})
}

/// [`supervise`], calling `on_spawn` with the child first (to take its pipes).
pub fn supervise_with(
    cmd: &mut Command,
    timeout: Option<Duration>,
    on_spawn: impl FnOnce(&mut Child),
) -> Result<Option<ExitStatus>> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child: Child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("cannot start {program}: not found (install the qemu-system-x86 package, or set KILN_QEMU)")
        }
        Err(e) => bail!("cannot start {program}: {e}"),
    };
    on_spawn(&mut child);
    let pid = child.id() as i32;
    CHILD.store(pid, Ordering::SeqCst);
    if interrupted() {
        terminate(pid, libc::SIGTERM);
    }
    let (cancel, cancelled) = mpsc::channel::<()>();
    let timed_out = std::sync::Arc::new(AtomicBool::new(false));
    let watchdog = timeout.map(|t| {
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(t) {
                timed_out.store(true, Ordering::SeqCst);
                terminate(pid, libc::SIGKILL);
            }
        })
    });
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    drop(cancel);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let status = status.with_context(|| format!("waiting for {program}"))?;
    Ok((!timed_out.load(Ordering::SeqCst)).then_some(status))
}

/// Stdio for a child that must stay quiet.
pub fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_goes_on_the_kernel_command_line() {
        assert_eq!(kernel_cmdline(false, None, None, false), None);
        assert_eq!(
            kernel_cmdline(true, None, None, false).as_deref(),
            Some("kiln.missing-files")
        );
        let p = profile::settings(Some("250"), None).unwrap();
        assert_eq!(
            kernel_cmdline(true, p.as_ref(), None, false).as_deref(),
            Some("kiln.missing-files kiln.profile=250")
        );
        assert_eq!(
            kernel_cmdline(false, p.as_ref(), None, false).as_deref(),
            Some("kiln.profile=250")
        );
        let t = crate::trace::TraceSettings::from_options(Some("read"), None, None, None).unwrap();
        assert_eq!(
            kernel_cmdline(false, None, t.as_ref(), true).as_deref(),
            Some("kiln.trace=read kiln.syscall-summary")
        );
    }
}
