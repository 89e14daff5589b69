//! Issue 5's samples: threads, signals, timers and Go's runtime on microvm
//! and q35, checked by their output lines and exit status; the tokio and Go
//! HTTP servers serve the host and survive a connection flood. These need
//! a kernel with threads, futexes, signals and timers (issue 5).

use kiln_tests::net::{check_http_server, Place, Server};
use kiln_tests::TIMEOUT;
use std::path::Path;
use std::time::Duration;

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

fn vm(machine: &str) -> Place<'_> {
    Place::Vm {
        kiln: kiln(),
        machine,
    }
}

/// Run `name`, wait for it to exit, and expect status 0 and every line of
/// `lines` on the console, in this order.
fn expect_lines(name: &str, place: Place, lines: &[&str]) {
    let machine = place.label();
    let server = Server::start(place.command(name, &["--net", "none"], &[]));
    let last = lines.last().expect("a last line");
    let waited = server.wait_for(last, TIMEOUT);
    // Signal 0: just wait for the exit (briefly when the line never came).
    let patience = if waited.is_ok() {
        TIMEOUT
    } else {
        Duration::from_secs(1)
    };
    let ended = server.stop(0, patience);
    if let Err(e) = waited {
        panic!("{name} {machine}: {e}");
    }
    let console: Vec<&str> = ended.console.lines().map(str::trim_end).collect();
    let mut at = 0;
    for want in lines {
        match console[at..].iter().position(|l| l == want) {
            Some(i) => at += i + 1,
            None => {
                panic!("{name} {machine}: missing console line {want:?} (in order)\n{ended:?}")
            }
        }
    }
    assert!(
        !console.iter().any(|l| l.starts_with("FAIL")),
        "{name} {machine}: {ended:?}"
    );
    assert_eq!(ended.status, Some(0), "{name} {machine}: {ended:?}");
}

const THREADS_RUST: &[&str] = &[
    "mutex: 80000",
    "condvar: 1000 items, sum 499500",
    "channel: 1000 messages, sum 1624500",
    "join: 16 threads, sum of squares 1240",
    "short-lived: 200 threads, sum 19900",
    "barrier: 8 threads saw 8",
    "threads ok",
];

const PTHREADS: &[&str] = &[
    "join: 8 threads, sum of squares 140",
    "producer/consumer: 1000 items, sum 500500",
    "once: ran 1 time(s)",
    "tls: 8/8 threads had their own copy, main's is 7",
    "pthreads ok",
];

const SIGNALS: &[&str] = &[
    "raise: SIGUSR1 handled 1 time(s)",
    "kill: SIGUSR1 handled",
    "siginfo: si_signo SIGUSR2, si_code SI_USER, si_pid ours",
    "sigaltstack: the handler ran on the alternate stack",
    "sigsegv: recovered with siglongjmp, si_addr 0x10",
    "alarm: SIGALRM after a second",
    "setitimer: 3 ticks",
    "timer_create: SIGRTMIN with value 42, si_code SI_TIMER",
    "sigprocmask: blocked SIGUSR1 was pending, delivered on unblock",
    "nanosleep: EINTR from a timer, with time remaining",
    "signals ok",
];

const GOROUTINES: &[&str] = &[
    "waitgroup: 100 goroutines, sum 5050",
    "channels: pipeline sum 332833500",
    "sleep: at least 50ms",
    "timers: timer fired, 5 ticks, time.After fired",
    "recovered: runtime error: invalid memory address or nil pointer dereference",
    "parked: 1000 goroutines released, sum 499500",
    "goroutines ok",
];

#[test]
fn threads_rust_microvm() {
    expect_lines("threads-rust", vm("microvm"), THREADS_RUST);
}

#[test]
fn threads_rust_q35() {
    expect_lines("threads-rust", vm("q35"), THREADS_RUST);
}

#[test]
fn pthreads_microvm() {
    expect_lines("pthreads", vm("microvm"), PTHREADS);
}

#[test]
fn pthreads_q35() {
    expect_lines("pthreads", vm("q35"), PTHREADS);
}

#[test]
fn signals_microvm() {
    expect_lines("signals", vm("microvm"), SIGNALS);
}

#[test]
fn signals_q35() {
    expect_lines("signals", vm("q35"), SIGNALS);
}

#[test]
fn go_goroutines_microvm() {
    expect_lines("go-goroutines", vm("microvm"), GOROUTINES);
}

#[test]
fn go_goroutines_q35() {
    expect_lines("go-goroutines", vm("q35"), GOROUTINES);
}

/// A multi-threaded HTTP server: served to the host, flooded, then stopped
/// with Ctrl-C (SIGTERM: status 143).
fn http(name: &str, machine: &str, ready: &str) {
    check_http_server(vm(machine), name, ready);
}

#[test]
fn tokio_http_microvm() {
    http("tokio-http", "microvm", "tokio listening on");
}

#[test]
fn tokio_http_q35() {
    http("tokio-http", "q35", "tokio listening on");
}

#[test]
fn go_http_microvm() {
    http("go-http", "microvm", "go listening on");
}

#[test]
fn go_http_q35() {
    http("go-http", "q35", "go listening on");
}

/// The same checks against the samples on the host: the samples and this
/// test are right, so a failure above is the VM's.
#[test]
fn samples_run_natively() {
    expect_lines("threads-rust", Place::Host, THREADS_RUST);
    expect_lines("pthreads", Place::Host, PTHREADS);
    expect_lines("signals", Place::Host, SIGNALS);
    expect_lines("go-goroutines", Place::Host, GOROUTINES);
}

#[test]
fn tokio_http_native() {
    check_http_server(Place::Host, "tokio-http", "tokio listening on");
}

#[test]
fn go_http_native() {
    check_http_server(Place::Host, "go-http", "go listening on");
}
