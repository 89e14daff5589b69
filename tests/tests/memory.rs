//! Memory under pressure (the `memory` sample): a 100 MiB file in /tmp
//! reads back intact, a 1 GiB sparse file takes no memory, a full tmpfs
//! says ENOSPC, and a program that takes all memory dies as Linux's OOM
//! killer would end it: SIGKILL, status 137 and a console line.

use kiln_tests::{run, sample, Outcome, TIMEOUT};
use std::path::Path;

/// `kiln run memory` on q35 under TCG with `mem` of RAM and `options`.
fn memory(mem: &str, options: &[&str], args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let prog = sample("memory");
    let mut v: Vec<String> = vec!["run".into(), prog.display().to_string()];
    for a in ["--machine", "q35", "--accel", "tcg", "-m", mem] {
        v.push(a.into());
    }
    v.extend(options.iter().map(|s| s.to_string()));
    v.push("--".into());
    v.extend(args.iter().map(|s| s.to_string()));
    let o = run(
        Path::new(env!("CARGO_BIN_EXE_kiln-cli")),
        &v,
        dir.path(),
        TIMEOUT,
    );
    assert!(!o.timed_out, "kiln timed out: {}", o.describe());
    assert!(!o.stdout.contains("kernel panic"), "{}", o.describe());
    o
}

fn has_line(o: &Outcome, line: &str) {
    assert!(
        o.stdout.lines().any(|l| l == line),
        "missing console line {line:?}: {}",
        o.describe()
    );
}

#[test]
fn a_100_mib_file_in_tmp_reads_back_in_a_256m_vm() {
    let o = memory("256M", &[], &["tmpfs", "100"]);
    has_line(
        &o,
        "tmpfs: wrote 100 MiB (st_size 104857600, st_blocks 204800), read back 100 MiB, checksums match",
    );
    has_line(&o, "tmpfs: unlink gave back 100 MiB");
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn a_1_gib_sparse_file_takes_two_pages() {
    let o = memory("64M", &[], &["sparse", "/tmp/sparse"]);
    for line in [
        "sparse: st_size 1073741828 st_blocks 16",
        "sparse: SEEK_DATA 0 -> 8192",
        "sparse: SEEK_HOLE 8192 -> 12288",
        "sparse: SEEK_DATA 12288 -> 1073741824",
        "sparse: SEEK_HOLE 1073741824 -> 1073741828",
        "sparse: read across the hole's end: zeros then data",
    ] {
        has_line(&o, line);
    }
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn a_write_past_the_mount_size_is_enospc() {
    let o = memory("256M", &["--mount", "/data:1M"], &["fill", "/data/f"]);
    has_line(&o, "fill: wrote 1048576 bytes, then ENOSPC");
    has_line(&o, "fill: st_size 1048576");
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn the_mount_size_counts_pages_not_the_file_size() {
    // 1 MiB holds 256 pages: 256 bytes 64 KiB apart fit (a 16 MiB sparse
    // file), the 257th is ENOSPC, as on Linux.
    let o = memory("256M", &["--mount", "/data:1M"], &["dots", "/data/f"]);
    has_line(&o, "dots: 256 one-byte writes 64 KiB apart, then ENOSPC");
    has_line(&o, "dots: st_size 16711681 st_blocks 2048");
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn a_mount_larger_than_memory_fills_to_enospc_not_a_panic() {
    let o = memory("64M", &["--mount", "/big:1G"], &["fill", "/big/f"]);
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("fill: wrote ") && l.ends_with(" bytes, then ENOSPC"))
        .unwrap_or_else(|| panic!("no ENOSPC: {}", o.describe()));
    let bytes: u64 = line["fill: wrote ".len()..line.len() - " bytes, then ENOSPC".len()]
        .parse()
        .unwrap();
    assert!(bytes > 16 << 20 && bytes < 64 << 20, "{line}");
    assert_eq!(o.status, Some(0), "{}", o.describe());
}

#[test]
fn filling_memory_ends_in_sigkill_137_and_the_oom_line() {
    let o = memory("64M", &[], &["oom"]);
    let oom: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("kiln: out of memory: "))
        .collect();
    assert_eq!(oom.len(), 1, "{}", o.describe());
    let rest = oom[0]
        .strip_prefix("kiln: out of memory: killed /memory (pid 1): it had ")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let (resident, vm) = rest
        .strip_suffix(" MiB")
        .and_then(|r| r.split_once(" MiB resident, the VM has "))
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let (resident, vm): (u64, u64) = (resident.parse().unwrap(), vm.parse().unwrap());
    assert!(resident >= 32 && resident <= vm && vm <= 64, "{}", oom[0]);
    has_line(&o, "oom: 32 MiB touched");
    assert!(!o.stdout.contains("SIGBUS"), "{}", o.describe());
    assert_eq!(o.status, Some(137), "{}", o.describe());
}
