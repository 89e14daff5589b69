//! Kiln sample: the Rust twin of samples/fs-walk.c, with the same commands
//! and the same output (see that file for the command list).

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

struct Walker {
    failed: bool,
}

/// The name of an errno value, as the C sample prints it.
fn errname(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(2) => "ENOENT",
        Some(13) => "EACCES",
        Some(30) => "EROFS",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        Some(40) => "ELOOP",
        Some(17) => "EEXIST",
        Some(22) => "EINVAL",
        Some(38) => "ENOSYS",
        Some(9) => "EBADF",
        Some(14) => "EFAULT",
        Some(39) => "ENOTEMPTY",
        _ => "errno?",
    }
}

impl Walker {
    fn fail(&mut self, what: &str, path: &str, e: &std::io::Error) {
        println!("error: {what} {path}: {}", errname(e));
        self.failed = true;
    }

    fn names(&mut self, dir: &str) -> Vec<String> {
        match fs::read_dir(dir) {
            Ok(rd) => {
                let mut v: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                self.fail("opendir", dir, &e);
                Vec::new()
            }
        }
    }

    fn walk(&mut self, dir: &str, print: bool, files: &mut u64, dirs: &mut u64) {
        for name in self.names(dir) {
            let path = if dir.ends_with('/') {
                format!("{dir}{name}")
            } else {
                format!("{dir}/{name}")
            };
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.fail("lstat", &path, &e);
                    continue;
                }
            };
            let t = meta.file_type();
            if t.is_dir() {
                *dirs += 1;
                if print {
                    println!("d {path}");
                }
                self.walk(&path, print, files, dirs);
            } else if t.is_symlink() {
                match fs::read_link(&path) {
                    Ok(target) if print => println!("l {path} -> {}", target.display()),
                    Ok(_) => {}
                    Err(e) => self.fail("readlink", &path, &e),
                }
            } else {
                *files += 1;
                if print {
                    println!("f {path} {}", meta.len());
                }
            }
        }
    }

    fn first_line(&mut self, label: &str, path: &str) {
        match fs::read_to_string(path) {
            Ok(s) => println!("{label}: {}", s.lines().next().unwrap_or("")),
            Err(e) => self.fail("open", path, &e),
        }
    }

    fn list_tmp(&mut self) {
        let names = self.names("/tmp");
        if names.is_empty() {
            println!("tmp: listing (empty)");
        } else {
            println!("tmp: listing {}", names.join(" "));
        }
    }

    fn probe(&mut self) {
        // /tmp: create, write, read back, rename, unlink.
        let created = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open("/tmp/kiln-a");
        match created {
            Err(e) => self.fail("create", "/tmp/kiln-a", &e),
            Ok(mut f) => {
                let msg = b"hello tmpfs\n";
                match f.write(msg) {
                    Ok(n) => println!("tmp: wrote {n} bytes to /tmp/kiln-a"),
                    Err(e) => self.fail("write", "/tmp/kiln-a", &e),
                }
                drop(f);
                match fs::read_to_string("/tmp/kiln-a") {
                    Ok(s) => println!("tmp: read back \"{}\"", s.trim_end_matches('\n')),
                    Err(e) => self.fail("reopen", "/tmp/kiln-a", &e),
                }
                match fs::rename("/tmp/kiln-a", "/tmp/kiln-b") {
                    Ok(()) => println!("tmp: renamed /tmp/kiln-a to /tmp/kiln-b"),
                    Err(e) => self.fail("rename", "/tmp/kiln-a", &e),
                }
                self.list_tmp();
                match fs::remove_file("/tmp/kiln-b") {
                    Ok(()) => println!("tmp: unlinked /tmp/kiln-b"),
                    Err(e) => self.fail("unlink", "/tmp/kiln-b", &e),
                }
                self.list_tmp();
            }
        }

        // /proc/self.
        let exe = match fs::read_link("/proc/self/exe") {
            Ok(p) => {
                println!("exe: {}", p.display());
                p.display().to_string()
            }
            Err(e) => {
                self.fail("readlink", "/proc/self/exe", &e);
                String::new()
            }
        };
        match fs::read("/proc/self/cmdline") {
            Ok(mut b) => {
                if b.last() == Some(&0) {
                    b.pop();
                }
                let s: String = String::from_utf8_lossy(&b).replace('\0', " ");
                println!("cmdline: {s}");
            }
            Err(e) => self.fail("open", "/proc/self/cmdline", &e),
        }
        match fs::read_to_string("/proc/self/maps") {
            Ok(maps) => match maps.lines().find(|l| !exe.is_empty() && l.ends_with(&exe)) {
                Some(line) => println!("maps: {line}"),
                None => {
                    println!("error: /proc/self/maps does not show {exe}");
                    self.failed = true;
                }
            },
            Err(e) => self.fail("open", "/proc/self/maps", &e),
        }

        // /dev/urandom.
        match fs::File::open("/dev/urandom") {
            Ok(mut f) => {
                let mut r = [0u8; 16];
                match f.read(&mut r) {
                    Ok(n) => println!("urandom: got {n} bytes"),
                    Err(e) => self.fail("read", "/dev/urandom", &e),
                }
            }
            Err(e) => self.fail("open", "/dev/urandom", &e),
        }

        // /etc and the working directory.
        self.first_line("hosts", "/etc/hosts");
        self.first_line("resolv", "/etc/resolv.conf");
        match std::env::current_dir() {
            Ok(d) => println!("cwd: {}", d.display()),
            Err(e) => self.fail("getcwd", "", &e),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut w = Walker { failed: false };
    let mut it = args.iter();
    while let Some(cmd) = it.next() {
        if cmd == "probe" {
            w.probe();
            continue;
        }
        let Some(arg) = it.next() else {
            println!("error: {cmd} needs an argument");
            std::process::exit(2);
        };
        match cmd.as_str() {
            "walk" => {
                println!("walk {arg}");
                w.walk(arg, true, &mut 0, &mut 0);
            }
            "count" => {
                let (mut files, mut dirs) = (0, 0);
                w.walk(arg, false, &mut files, &mut dirs);
                println!("count {arg}: {files} files, {dirs} dirs");
            }
            "cat" => match fs::read(Path::new(arg)) {
                Ok(b) => {
                    println!("cat {arg} ({} bytes)", b.len());
                    let s = String::from_utf8_lossy(&b);
                    print!("{s}");
                    if !s.is_empty() && !s.ends_with('\n') {
                        println!();
                    }
                }
                Err(e) => w.fail("open", arg, &e),
            },
            "open" => match fs::File::open(arg) {
                Ok(_) => println!("open {arg}: ok"),
                Err(e) => println!("open {arg}: {}", errname(&e)),
            },
            _ => {
                println!("error: unknown command {cmd}");
                std::process::exit(2);
            }
        }
    }
    println!("fs-walk: done");
    std::process::exit(i32::from(w.failed));
}
