//! Helpers for Kiln's integration tests and benchmarks: build the samples,
//! run `kiln` with a time limit, and collect what it printed.

pub mod bench;
pub mod elf;
pub mod fuzz;
pub mod linux_guest;
pub mod net;
pub mod step;

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

/// Time limit of one `kiln` invocation in the tests (TCG on a busy machine).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// Build the samples once per process with `samples/build.sh` (which keeps
/// up-to-date outputs) and return the directory that holds them.
pub fn samples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = root().join("target").join("samples");
        let res = Command::new("bash")
            .arg(root().join("samples").join("build.sh"))
            .arg(&out)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run bash samples/build.sh");
        assert!(
            res.status.success(),
            "samples/build.sh failed ({}):\n{}{}",
            res.status,
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        );
        out
    })
}

/// The path of a built sample: `hello-rust`, `hello-c-musl`, `hello-c-glibc`,
/// `exit-status`, `crash`, `fs-walk-c` or `fs-walk-rust`.
pub fn sample(name: &str) -> PathBuf {
    let p = samples_dir().join(name);
    assert!(p.is_file(), "sample {} was not built", p.display());
    p
}

/// `kiln run PROGRAM --machine MACHINE --accel tcg -m 256M OPTIONS -- ARGS`.
pub fn kiln_run(
    kiln: &Path,
    machine: &str,
    options: &[&str],
    program: &Path,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new(kiln);
    cmd.arg("run")
        .arg(program)
        .args(["--machine", machine, "--accel", "tcg", "-m", "256M"])
        .args(options)
        .arg("--")
        .args(args);
    cmd
}

/// The arguments of [`kiln_run`], for [`run`].
pub fn kiln_run_args(
    machine: &str,
    options: &[&str],
    program: &Path,
    args: &[&str],
) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec!["run".into(), program.into()];
    for a in ["--machine", machine, "--accel", "tcg", "-m", "256M"] {
        v.push(a.into());
    }
    v.extend(options.iter().map(|o| o.into()));
    v.push("--".into());
    v.extend(args.iter().map(|a| a.into()));
    v
}

/// What a finished command did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status; `None` when killed by a signal.
    pub status: Option<i32>,
    /// Standard output with `\r` removed (the serial console may send CRLF).
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Outcome {
    /// A compact description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Run `program args...` in `cwd` with stdin closed; after `timeout` it gets
/// SIGTERM (kiln then stops QEMU and cleans up), 5 s later SIGKILL.
pub fn run<S: AsRef<OsStr>>(program: &Path, args: &[S], cwd: &Path, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let pid = child.id() as i32;
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).replace('\r', "")
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("piped")));
    let err = reader(Box::new(child.stderr.take().expect("piped")));
    let (done, wait_done) = mpsc::channel::<()>();
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            if wait_done.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                signal(pid, libc::SIGTERM);
                if wait_done.recv_timeout(Duration::from_secs(5))
                    == Err(mpsc::RecvTimeoutError::Timeout)
                {
                    signal(pid, libc::SIGKILL);
                }
            }
        })
    };
    let status = child.wait().expect("wait for child");
    drop(done);
    let _ = watchdog.join();
    Outcome {
        status: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        timed_out: timed_out.load(Ordering::SeqCst),
        elapsed: start.elapsed(),
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions. `pid` is our
    // child; it could only have been recycled in the instant between its
    // reaping and the watchdog's cancellation.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Assert that `kiln` failed cleanly: a non-zero status and exactly one
/// line on stderr, `kiln: error: ...` containing `needle`.
pub fn assert_one_error(o: &Outcome, needle: &str) {
    assert!(
        !o.timed_out && o.status.is_some_and(|s| s != 0),
        "expected a failure: {}",
        o.describe()
    );
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {}", o.describe());
    assert!(lines[0].starts_with("kiln: error: "), "{}", o.describe());
    assert!(
        lines[0].contains(needle),
        "expected {needle:?} in the error: {}",
        o.describe()
    );
}

/// First argument that turns a benchmark binary into `kiln` (so that a
/// benchmark times the real command line, and uses the kiln it was built
/// with).
pub const AS_KILN: &str = "__as-kiln";

/// When this binary was started as `kiln` (first argument [`AS_KILN`]),
/// run kiln with the rest of the arguments and exit with its status.
pub fn run_as_kiln_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(AS_KILN) {
        let kiln_args = std::iter::once("kiln".to_string()).chain(args[2..].iter().cloned());
        std::process::exit(kiln::main_with_args(kiln_args));
    }
}

/// A `kiln` in `dir` for VM runs: a script that calls this binary as kiln.
pub fn kiln_script(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let me = std::env::current_exe().expect("own path");
    let path = dir.join("kiln");
    let script = format!("#!/bin/sh\nexec '{}' {AS_KILN} \"$@\"\n", me.display());
    std::fs::write(&path, script).expect("write the kiln script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}
