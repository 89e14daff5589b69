//! Files and the program's environment: the fs-walk samples (C and Rust)
//! booted with an ops-style config that maps tests/fixtures into the image;
//! `--missing-files`; a 1000-file tree; config errors.

use kiln_tests::{assert_one_error, root, run, sample, Outcome, TIMEOUT};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

fn kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln-cli"))
}

fn fixtures() -> PathBuf {
    root().join("tests").join("fixtures")
}

/// `kiln ARGS...` in a fresh temporary directory (returned, to look at).
fn kiln_in_tmp<S: AsRef<OsStr>>(args: &[S]) -> (Outcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let o = run(kiln(), args, dir.path(), TIMEOUT);
    assert!(!o.timed_out, "kiln timed out: {}", o.describe());
    (o, dir)
}

/// What fs-walk's `walk DIR` must print for a host directory mapped to
/// `image_dir`: computed from the host tree itself.
fn expected_walk(host: &Path, image_dir: &str, out: &mut Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(host)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let (h, i) = (host.join(&name), format!("{image_dir}/{name}"));
        let meta = std::fs::symlink_metadata(&h).unwrap();
        if meta.is_dir() {
            out.push(format!("d {i}"));
            expected_walk(&h, &i, out);
        } else if meta.file_type().is_symlink() {
            out.push(format!(
                "l {i} -> {}",
                std::fs::read_link(&h).unwrap().display()
            ));
        } else {
            out.push(format!("f {i} {}", meta.len()));
        }
    }
}

/// `lines` must appear in the console output, in this order (other lines
/// may come between).
fn expect_in_order(o: &Outcome, lines: &[String]) {
    let mut it = o.stdout.lines();
    for want in lines {
        assert!(
            it.any(|l| l == want),
            "missing console line {want:?} (or out of order): {}",
            o.describe()
        );
    }
}

/// Boot an fs-walk sample with tests/fixtures/fs-walk.json and check all of
/// what it reports.
fn fs_walk(name: &str, machine: &str) {
    let config = fixtures().join("fs-walk.json");
    let (o, _dir) = kiln_in_tmp(&[
        OsStr::new("run"),
        sample(name).as_os_str(),
        OsStr::new("-c"),
        config.as_os_str(),
        OsStr::new("--machine"),
        OsStr::new(machine),
        OsStr::new("--accel"),
        OsStr::new("tcg"),
    ]);
    let mut want = vec!["walk /data".to_string()];
    expected_walk(&fixtures().join("data"), "/data", &mut want);
    let hello = std::fs::read_to_string(fixtures().join("data/hello.txt")).unwrap();
    want.push(format!("cat /data/hello.txt ({} bytes)", hello.len()));
    want.extend(hello.lines().map(str::to_string));
    let greeting = std::fs::read_to_string(fixtures().join("greeting.txt")).unwrap();
    want.push(format!("cat /greeting.txt ({} bytes)", greeting.len()));
    want.extend(greeting.lines().map(str::to_string));
    want.push("open /data/missing.txt: ENOENT".into());
    // The walk and the file contents come straight from the image.
    expect_in_order(&o, &want);

    // /tmp, /proc/self, /dev/urandom, /etc and the working directory.
    let probe: Vec<String> = [
        "tmp: wrote 12 bytes to /tmp/kiln-a",
        "tmp: read back \"hello tmpfs\"",
        "tmp: renamed /tmp/kiln-a to /tmp/kiln-b",
        "tmp: listing kiln-b",
        "tmp: unlinked /tmp/kiln-b",
        "tmp: listing (empty)",
        &format!("exe: /{name}"),
        &format!(
            "cmdline: {name} walk /data cat /data/hello.txt cat /greeting.txt open /data/missing.txt probe"
        ),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expect_in_order(&o, &probe);
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with("maps: ") && l.ends_with(&format!(" /{name}"))),
        "no /proc/self/maps line naming the program: {}",
        o.describe()
    );
    let rest: Vec<String> = [
        "urandom: got 16 bytes",
        "hosts: 127.0.0.1\tlocalhost kiln",
        "resolv: nameserver 10.0.2.3",
        "cwd: /data",
        "fs-walk: done",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expect_in_order(&o, &rest);
    assert!(!o.stdout.contains("error: "), "{}", o.describe());
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn fs_walk_c_microvm() {
    fs_walk("fs-walk-c", "microvm");
}

#[test]
fn fs_walk_c_q35() {
    fs_walk("fs-walk-c", "q35");
}

#[test]
fn fs_walk_rust_microvm() {
    fs_walk("fs-walk-rust", "microvm");
}

#[test]
fn fs_walk_rust_q35() {
    fs_walk("fs-walk-rust", "q35");
}

#[test]
fn missing_files_are_listed_at_exit() {
    let (o, _dir) = kiln_in_tmp(&[
        OsStr::new("run"),
        sample("fs-walk-c").as_os_str(),
        OsStr::new("--missing-files"),
        OsStr::new("--accel"),
        OsStr::new("tcg"),
        OsStr::new("--"),
        OsStr::new("open"),
        OsStr::new("/etc/app.conf"),
        OsStr::new("open"),
        OsStr::new("/etc/hosts"),
        OsStr::new("open"),
        OsStr::new("/srv/data/nothing.txt"),
    ]);
    assert!(
        o.stdout.lines().any(|l| l == "open /etc/app.conf: ENOENT"),
        "{}",
        o.describe()
    );
    let mut lines = o
        .stdout
        .lines()
        .skip_while(|l| *l != "kiln: missing files:");
    assert!(
        lines.next().is_some(),
        "no \"kiln: missing files:\" report: {}",
        o.describe()
    );
    let listed: Vec<&str> = lines.take_while(|l| l.starts_with('/')).collect();
    for path in ["/etc/app.conf", "/srv/data/nothing.txt"] {
        assert!(
            listed.contains(&path),
            "{path} not listed: {}",
            o.describe()
        );
    }
    assert!(!listed.contains(&"/etc/hosts"), "{}", o.describe());
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn a_program_reads_files_from_a_1000_file_tree() {
    let tree = tempfile::tempdir().unwrap();
    for d in 0..10 {
        let dir = tree.path().join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(
                dir.join(format!("f{f:03}.txt")),
                format!("file d{d:02}/f{f:03}\n"),
            )
            .unwrap();
        }
    }
    let dir_arg = format!("{}:/srv", tree.path().display());
    let (o, _dir) = kiln_in_tmp(&[
        "run",
        sample("fs-walk-c").to_str().unwrap(),
        "--dir",
        &dir_arg,
        "--accel",
        "tcg",
        "--",
        "count",
        "/srv",
        "cat",
        "/srv/d00/f000.txt",
        "cat",
        "/srv/d05/f050.txt",
        "cat",
        "/srv/d09/f099.txt",
    ]);
    let want: Vec<String> = [
        "count /srv: 1000 files, 10 dirs",
        "cat /srv/d00/f000.txt (14 bytes)",
        "file d00/f000",
        "cat /srv/d05/f050.txt (14 bytes)",
        "file d05/f050",
        "cat /srv/d09/f099.txt (14 bytes)",
        "file d09/f099",
        "fs-walk: done",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expect_in_order(&o, &want);
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

/// `kiln build fs-walk-c -c CONFIG` in an empty directory (the default
/// output is ./fs-walk-c.img) fails with one line containing `needle` and
/// leaves the directory empty.
fn config_fails(config_text: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, config_text).unwrap();
    let o = run(
        kiln(),
        &[
            OsStr::new("build"),
            sample("fs-walk-c").as_os_str(),
            OsStr::new("-c"),
            OsStr::new("config.json"),
        ],
        dir.path(),
        TIMEOUT,
    );
    assert_one_error(&o, needle);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["config.json"], "kiln build left files behind");
}

#[test]
fn config_unknown_field_is_named() {
    config_fails(
        r#"{"Prgram": "x"}"#,
        r#"config.json:1:2: unknown field "Prgram" (did you mean "Program"?)"#,
    );
    config_fails(
        r#"{"RunConfig": {"Memroy": "1G"}}"#,
        r#"config.json:1:16: unknown field "RunConfig.Memroy" (did you mean "Memory"?)"#,
    );
}

#[test]
fn config_bad_json_has_line_and_column() {
    config_fails(
        "{\n  \"Args\": [\"a\"\n  \"Env\": {}\n}\n",
        "config.json:3:3: bad JSON: expected `,` or `]`",
    );
}

#[test]
fn config_missing_host_file() {
    config_fails(
        r#"{"Files": ["no/such/file.txt"]}"#,
        "no/such/file.txt: no such file or directory",
    );
}

#[test]
fn config_path_clashes() {
    let f = fixtures();
    let data = f.join("data").display().to_string();
    let greeting = f.join("greeting.txt").display().to_string();
    // Dirs puts the directory at its own path; MapDirs maps its files there too.
    config_fails(
        &format!(r#"{{"Dirs": ["{data}"], "MapDirs": {{"{data}/*": "{data}"}}}}"#),
        &format!("two sources for {data}/hello.txt in the image: file (from {data} (Dirs)) and file (from {data}/* (MapDirs))"),
    );
    // A file where a directory is needed.
    config_fails(
        &format!(r#"{{"Files": ["{greeting}"], "MapDirs": {{"{data}/*": "{greeting}"}}}}"#),
        &format!("needs {greeting} to be a directory, but {greeting} is a file"),
    );
}

#[test]
fn inspect_shows_the_config_and_the_tree() {
    let config = fixtures().join("fs-walk.json");
    let (o, dir) = kiln_in_tmp(&[
        OsStr::new("build"),
        sample("fs-walk-c").as_os_str(),
        OsStr::new("-c"),
        config.as_os_str(),
        OsStr::new("--env"),
        OsStr::new("EXTRA=1"),
        OsStr::new("-o"),
        OsStr::new("w.img"),
    ]);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let o = run(kiln(), &["inspect", "w.img"], dir.path(), TIMEOUT);
    assert_eq!(o.status, Some(0), "{}", o.describe());
    let hello = std::fs::metadata(fixtures().join("data/hello.txt"))
        .unwrap()
        .len();
    for want in [
        "program   /fs-walk-c",
        r#"argv      "fs-walk-c" "walk" "/data" "cat" "/data/hello.txt" "cat" "/greeting.txt" "open" "/data/missing.txt" "probe""#,
        "env       PATH=/bin:/usr/bin HOME=/ TERM=xterm KILN_SAMPLE=fixtures EXTRA=1",
        "cwd       /data",
        "mounts    /tmp (tmpfs), /run (tmpfs), /var/cache (tmpfs, 1.0 MiB)",
        "network   ipv4 dhcp",
        &format!("  -rw-r--r--  {hello:>10}  /data/hello.txt"),
        "  lrwxrwxrwx           9  /data/link -> hello.txt",
        "  drwxr-xr-x           -  /data/sub",
        "  -rw-r--r--         114  /etc/localtime",
        "  drwxrwxrwt           -  /tmp",
        "  drwxr-xr-x           -  /var/cache",
    ] {
        assert!(
            o.stdout.lines().any(|l| l == want),
            "inspect lacks {want:?}: {}",
            o.describe()
        );
    }
    assert!(o.stdout.contains("  /greeting.txt\n"), "{}", o.describe());
}
