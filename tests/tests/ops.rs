//! ops users feel at home: realistic ops configs build, RebootOnExit
//! starts the program again, GdbPort opens QEMU's gdb stub, and
//! IPv6Address shows in the guest's interface list.

use kiln_tests::{kiln_run_args, root, run, sample, TIMEOUT};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

/// Every config under tests/fixtures/ops builds (configs without a Program
/// get one on the command line, as with `ops pkg load`), with no error and
/// with its notes.
#[test]
fn ops_fixture_configs_build() {
    let dir = root().join("tests/fixtures/ops");
    let hello = sample("hello-c-musl");
    let out = tempfile::tempdir().unwrap();
    let mut configs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 10, "fixtures: {configs:?}");
    let mut failures = Vec::new();
    for config in &configs {
        let text = std::fs::read_to_string(config).unwrap();
        let img = out.path().join("app.img");
        let mut args: Vec<std::ffi::OsString> = vec!["build".into()];
        if !text.contains("\"Program\"") {
            args.push(hello.clone().into());
        }
        args.extend(["-c".into(), config.into(), "-o".into(), img.clone().into()]);
        let o = run(kiln(), &args, &root(), TIMEOUT);
        if o.status != Some(0) || o.stderr.contains("kiln: error") || !img.is_file() {
            failures.push(format!("{}: {}", config.display(), o.describe()));
        }
        let _ = std::fs::remove_file(&img);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the fixtures ask for reaches the image: a mixed-case config's
/// fields, ManifestPassthrough's cwd and environment, the copy of the
/// file the first argument names.
#[test]
fn ops_fixture_contents_reach_the_image() {
    let dir = root().join("tests/fixtures/ops");
    let out = tempfile::tempdir().unwrap();
    let inspect = |config: &str| {
        let img = out.path().join("x.img");
        let build: Vec<std::ffi::OsString> = vec![
            "build".into(),
            sample("hello-c-musl").into(),
            "-c".into(),
            dir.join(config).into(),
            "-o".into(),
            img.clone().into(),
        ];
        let o = run(kiln(), &build, &root(), TIMEOUT);
        assert_eq!(o.status, Some(0), "{config}: {}", o.describe());
        let o = run(
            kiln(),
            &["inspect".into(), img.into_os_string()],
            &root(),
            TIMEOUT,
        );
        assert_eq!(o.status, Some(0), "{}", o.describe());
        o.stdout
    };
    let s = inspect("mixed-case.json");
    for want in ["MODE=mixed", "/hi.js", "/www/index.html", "10.0.2.15/24"] {
        assert!(s.contains(want), "{want} not in:\n{s}");
    }
    let s = inspect("manifest-passthrough.json");
    for want in ["GREETING=hello", "cwd       /static"] {
        assert!(s.contains(want), "{want} not in:\n{s}");
    }
    let s = inspect("args-copy.json");
    assert!(s.contains("/hi.js"), "{s}");
    let s = inspect("tmpfs-mounts.json");
    assert!(!s.contains("/hi.js"), "DisableArgsCopy: {s}");
}

/// Several problems of one config are reported in one run, each with its
/// line and column, and nothing is written.
#[test]
fn config_problems_all_at_once() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.json");
    std::fs::write(
        &config,
        "{\n  \"Prgram\": \"x\",\n  \"RunConfig\": {\"CPUs\": 2, \"Ports\": [\"web\"]},\n  \
         \"Mounts\": {\"/home/me/data\": \"/data\"}\n}\n",
    )
    .unwrap();
    let img = d.path().join("out.img");
    let args: Vec<std::ffi::OsString> = vec![
        "build".into(),
        sample("hello-c-musl").into(),
        "-c".into(),
        config.clone().into(),
        "-o".into(),
        img.clone().into(),
    ];
    let o = run(kiln(), &args, d.path(), TIMEOUT);
    assert_eq!(o.status, Some(1), "{}", o.describe());
    let errors: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("kiln: error: "))
        .collect();
    let c = config.display();
    assert_eq!(
        errors,
        [
            format!("kiln: error: {c}:2:3: unknown field \"Prgram\" (did you mean \"Program\"?)"),
            format!(
                "kiln: error: {c}:3:25: RunConfig.CPUs: 2 CPUs asked, but Kiln runs one CPU \
                 (SMP is not supported yet); use 1"
            ),
            format!(
                "kiln: error: {c}:3:38: RunConfig.Ports: bad port \"web\" (use \"8080\", \
                 \"8000-8010\" or \"8080:80\")"
            ),
            format!(
                "kiln: error: {c}:4:31: Mounts: \"/home/me/data\" -> \"/data\" is a host \
                 directory shared with the VM: volumes are not supported yet (copy files in \
                 with Dirs or MapDirs; Kiln mounts only tmpfs, as {{\"/mount/point\": \"SIZE\"}})"
            ),
        ],
        "{}",
        o.describe()
    );
    assert!(!img.exists());
}

/// RebootOnExit: after a failing exit the VM restarts and the program runs
/// again (as Nanos' reboot_on_exit); kiln is stopped after the second run.
#[test]
fn reboot_on_exit_runs_the_program_again() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.json");
    std::fs::write(&config, r#"{"RebootOnExit": true}"#).unwrap();
    let mut child = Command::new(kiln())
        .args(kiln_run_args(
            "microvm",
            &["-c", config.to_str().unwrap(), "--net", "none"],
            &sample("crash"),
            &[],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let mut console = String::new();
    while console.matches("crash: writing to NULL").count() < 2 {
        match out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => console.push_str(&line),
            Err(_) => give_up(&mut child, &err, &format!("console: {console}")),
        }
    }
    stop(&mut child);
    assert!(
        console.contains("restarting (RebootOnExit)"),
        "console: {console}"
    );
}

/// RebootOnExit restarts only after a failure: a program that exits 0
/// ends the VM, and kiln's status is 0.
#[test]
fn reboot_on_exit_ends_after_success() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.json");
    std::fs::write(&config, r#"{"RebootOnExit": true}"#).unwrap();
    let args = kiln_run_args(
        "microvm",
        &["-c", config.to_str().unwrap(), "--net", "none"],
        &sample("hello-c-musl"),
        &[],
    );
    let o = run(kiln(), &args, d.path(), TIMEOUT);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert_eq!(o.stdout.matches("Hello from C on Kiln!").count(), 1);
}

/// -g opens QEMU's gdb stub on 127.0.0.1 (with -d, QEMU waits for gdb, so
/// the port stays open); it answers gdb's remote protocol.
#[test]
fn gdb_port_opens_the_stub() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(kiln())
        .args(kiln_run_args(
            "microvm",
            &["-g", &port.to_string(), "-d", "--net", "none"],
            &sample("hello-c-musl"),
            &[],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let err = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => give_up(&mut child, &err, &format!("no gdb stub on {port}: {e}")),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // "?": why did the target stop? The stub answers with a stop packet.
    stream.write_all(b"$?#3f").unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !reply
        .windows(2)
        .any(|w| w[0] == b'$' && (w[1] == b'S' || w[1] == b'T'))
    {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    drop(stream);
    stop(&mut child);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.contains("$S") || reply.contains("$T"),
        "gdb stub reply: {reply:?}"
    );
}

/// RunConfig.IPv6Address (here --ipv6-address) is the guest's address:
/// getifaddrs lists it on eth0, beside the link-local one.
#[test]
fn ipv6_address_is_on_eth0() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"RunConfig": {"IPv6Address": "fd00:5::15", "IPAddress": "10.0.2.15"}}"#,
    )
    .unwrap();
    let args = kiln_run_args(
        "microvm",
        &["-c", config.to_str().unwrap()],
        &sample("ifaddrs-musl"),
        &[],
    );
    let o = run(kiln(), &args, d.path(), TIMEOUT);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    assert!(
        o.stdout
            .contains("ifa eth0 inet6 fd00:5::15 netmask ffff:ffff:ffff:ffff:: scope 0"),
        "{}",
        o.describe()
    );
}

/// The lines of `r` as they come; the channel closes at the end.
fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    rx
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; `child` has not
    // been reaped, so its pid is still its own.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait for kiln") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop kiln: Ctrl-C twice stops the VM at once and lets kiln clean up;
/// SIGKILL if that does not end it.
fn stop(child: &mut Child) {
    signal(child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    signal(child, libc::SIGINT);
    if wait_until(child, Instant::now() + Duration::from_secs(10)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn give_up(child: &mut Child, err: &Receiver<String>, why: &str) -> ! {
    stop(child);
    let mut stderr = String::new();
    while let Ok(line) = err.recv_timeout(Duration::from_secs(2)) {
        stderr.push_str(&line);
    }
    panic!("{why}\n--- kiln's stderr ---\n{stderr}");
}
