//! Choosing the accelerator. `/dev/kvm` can exist and still be unable to
//! run guests (nested or paravirtual hypervisors), so `auto` boots the
//! kernel once under KVM in probe mode and caches the verdict, keyed by the
//! kernel's fingerprint and the QEMU binary.

use crate::qemu::{self, Accel, Launch, Machine, Verdict};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

/// How long a probe boot may take before KVM is declared unusable (a
/// working KVM answers in well under a second; one this slow loses to TCG).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM if a probe boot works (cached), otherwise TCG.
    Auto,
    Kvm,
    Tcg,
}

/// Pick the accelerator; in `auto` mode say which on stderr, in one line.
pub fn resolve(choice: AccelChoice, kernel: &[u8], kernel_path: &Path) -> Accel {
    match choice {
        AccelChoice::Kvm => Accel::Kvm,
        AccelChoice::Tcg => Accel::Tcg,
        AccelChoice::Auto => {
            let (accel, why) = auto(kernel, kernel_path);
            if crate::log::level() >= crate::log::Level::Normal {
                eprintln!("kiln: using {} ({why})", accel.name());
            }
            accel
        }
    }
}

fn auto(kernel: &[u8], kernel_path: &Path) -> (Accel, &'static str) {
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return (Accel::Tcg, "no usable /dev/kvm");
    }
    let qemu = qemu::qemu_binary();
    let key = cache_key(kernel, &qemu);
    let cache = cache_file();
    if let Some(accel) = cache.as_deref().and_then(|c| lookup(c, &key)) {
        return (
            accel,
            if accel == Accel::Kvm {
                "cached KVM probe"
            } else {
                "KVM probe failed, cached"
            },
        );
    }
    let accel = if probe(kernel_path) {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    if let Some(c) = cache {
        store(&c, &key, accel);
    }
    (
        accel,
        if accel == Accel::Kvm {
            "KVM probe passed"
        } else {
            "KVM probe failed"
        },
    )
}

/// Boot the kernel under KVM with the `kiln.probe` command line; it must
/// answer `probe ok` on the control channel.
pub fn probe(kernel_path: &Path) -> bool {
    let Ok(dir) = tempfile::Builder::new().prefix("kiln-probe-").tempdir() else {
        return false;
    };
    let ctl = dir.path().join("ctl");
    let launch = Launch {
        machine: Machine::Microvm,
        accel: Accel::Kvm,
        memory: "64M".into(),
        kernel: kernel_path.to_path_buf(),
        image: None,
        ctl: ctl.clone(),
        append: Some(qemu::PROBE_CMDLINE.into()),
        requests: None,
        trace: None,
        serial: None,
        net: None,
        reboot: false,
        gdb: None,
        firmware: None,
    };
    let mut cmd = Command::new(qemu::qemu_binary());
    cmd.args(qemu::args(&launch));
    crate::run::quiet(&mut cmd).stderr(Stdio::piped());
    // On a KVM "internal error" (e.g. an instruction the hypervisor cannot
    // emulate) QEMU pauses the VM instead of exiting: stop it at once.
    let watch = |child: &mut Child| {
        let pid = child.id() as i32;
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("KVM internal error") || line.contains("emulation failure") {
                        crate::run::terminate(pid, libc::SIGKILL);
                        break;
                    }
                }
            });
        }
    };
    match crate::run::supervise_with(&mut cmd, Some(PROBE_TIMEOUT), watch) {
        Ok(Some(_)) => {
            qemu::parse_ctl(&std::fs::read_to_string(&ctl).unwrap_or_default()) == Verdict::ProbeOk
        }
        _ => false,
    }
}

/// Kernel fingerprint plus the QEMU binary's path, size and time: a new
/// kernel or an upgraded QEMU probes again (without paying for running
/// `qemu --version` on every start).
pub fn cache_key(kernel: &[u8], qemu: &OsStr) -> String {
    let found = which(qemu);
    let id = found
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok().map(|m| (p.to_path_buf(), m)))
        .map(|(p, m)| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            format!("{}:{}:{}", p.display(), m.len(), t)
        })
        .unwrap_or_else(|| qemu.to_string_lossy().into_owned());
    format!(
        "{:016x}:{}",
        crate::fingerprint(kernel),
        id.replace(char::is_whitespace, "_")
    )
}

fn which(name: &OsStr) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return Some(p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// `$XDG_CACHE_HOME/kiln/accel`, or `~/.cache/kiln/accel`.
pub fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("kiln").join("accel"))
}

/// The cached verdict for `key`. The file holds lines `KEY VERDICT`.
pub fn lookup(cache: &Path, key: &str) -> Option<Accel> {
    let text = std::fs::read_to_string(cache).ok()?;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| match v {
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        })
}

/// Record a verdict (best effort: a read-only home just means probing again).
pub fn store(cache: &Path, key: &str, accel: Accel) {
    let old = std::fs::read_to_string(cache).unwrap_or_default();
    let mut lines: Vec<&str> = old
        .lines()
        .filter(|l| l.split_once(' ').is_some_and(|(k, _)| k != key))
        .collect();
    let new = format!("{key} {}", accel.name());
    lines.push(&new);
    let keep = &lines[lines.len().saturating_sub(16)..];
    let Some(dir) = cache.parent() else { return };
    let _ = std::fs::create_dir_all(dir);
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if writeln!(tmp, "{}", keep.join("\n")).is_ok() {
            let _ = tmp.persist(cache);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("kiln").join("accel");
        assert_eq!(lookup(&cache, "a"), None);
        store(&cache, "a", Accel::Tcg);
        store(&cache, "b", Accel::Kvm);
        assert_eq!(lookup(&cache, "a"), Some(Accel::Tcg));
        assert_eq!(lookup(&cache, "b"), Some(Accel::Kvm));
        store(&cache, "a", Accel::Kvm);
        assert_eq!(lookup(&cache, "a"), Some(Accel::Kvm));
        assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 2);
    }

    #[test]
    fn cache_key_follows_the_kernel_and_qemu() {
        let dir = tempfile::tempdir().unwrap();
        let qemu_a = dir.path().join("qemu-a");
        let qemu_b = dir.path().join("qemu b");
        std::fs::write(&qemu_a, b"qemu 1").unwrap();
        std::fs::write(&qemu_b, b"qemu 1").unwrap();
        let (a, b) = (qemu_a.as_os_str(), qemu_b.as_os_str());
        let kernel_1 = b"kernel one".to_vec();
        let kernel_2 = b"kernel two".to_vec();

        // The same inputs (built separately) give the same key.
        assert_eq!(cache_key(&kernel_1, a), cache_key(&kernel_1.clone(), a));
        // Another kernel, or another QEMU, gives another key.
        assert_ne!(cache_key(&kernel_1, a), cache_key(&kernel_2, a));
        assert_ne!(cache_key(&kernel_1, a), cache_key(&kernel_1, b));
        // An upgraded QEMU at the same path (here: another size) too.
        let before = cache_key(&kernel_1, a);
        std::fs::write(&qemu_a, b"qemu 1.1").unwrap();
        assert_ne!(before, cache_key(&kernel_1, a));
        // A QEMU that is not there is keyed by its name.
        let missing = OsStr::new("/nonexistent/qemu-system-x86_64");
        assert_ne!(cache_key(&kernel_1, missing), cache_key(&kernel_1, a));
        // Keys are one word: the cache file is `KEY VERDICT` lines.
        for q in [a, b, missing] {
            assert!(!cache_key(&kernel_1, q).contains(char::is_whitespace));
        }
    }

    #[test]
    fn explicit_choices_need_no_probe() {
        let nowhere = Path::new("/nonexistent/kernel");
        assert_eq!(resolve(AccelChoice::Tcg, b"", nowhere), Accel::Tcg);
        assert_eq!(resolve(AccelChoice::Kvm, b"", nowhere), Accel::Kvm);
    }
}
