//! The library directories a root configures: glibc's `/etc/ld.so.conf`
//! (with `include` globs, as `ldconfig` reads it to build the cache) and
//! musl's `/etc/ld-musl-x86_64.path`.

use crate::root::{dirname, normalize, resolve, Fs, Stat};
use crate::tree::wildcard;

/// Nesting limit of `include` lines.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The directories `/etc/ld.so.conf` of `fs` lists, in order, without
/// duplicates. A missing file lists none.
pub fn ld_so_conf_dirs(fs: &dyn Fs) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen_files = Vec::new();
    read_conf(fs, "/etc/ld.so.conf", 0, &mut out, &mut seen_files);
    out
}

fn read_conf(
    fs: &dyn Fs,
    path: &str,
    depth: usize,
    out: &mut Vec<String>,
    seen_files: &mut Vec<String>,
) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Some(text) = read_text(fs, path) else {
        return;
    };
    if seen_files.iter().any(|s| s == path) {
        return; // an include loop
    }
    seen_files.push(path.to_string());
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("include") => {
                for pattern in words {
                    let pattern = normalize(pattern, dirname(path));
                    for file in glob(fs, &pattern) {
                        read_conf(fs, &file, depth + 1, out, seen_files);
                    }
                }
            }
            Some("hwcap") => {}
            _ => {
                for dir in line.split([' ', '\t', ',', ':']).filter(|d| !d.is_empty()) {
                    // ldconfig accepts (and ignores) a "=TYPE" suffix.
                    let dir = dir.split('=').next().unwrap_or(dir);
                    if !dir.starts_with('/') {
                        continue;
                    }
                    let dir = normalize(dir, "/");
                    if !out.contains(&dir) {
                        out.push(dir);
                    }
                }
            }
        }
    }
}

/// musl's search path: the lines (or `:`-separated entries) of
/// `/etc/ld-musl-ARCH.path` beside the interpreter's prefix, or `None`
/// when there is no such file (musl then uses `/lib:/usr/local/lib:/usr/lib`).
pub fn musl_path(fs: &dyn Fs, interpreter: &str) -> Option<(String, Vec<String>)> {
    let file = musl_path_file(interpreter);
    let text = read_text(fs, &file)?;
    let dirs = text
        .split([':', '\n'])
        .map(str::trim)
        .filter(|d| d.starts_with('/'))
        .map(|d| normalize(d, "/"))
        .collect();
    Some((file, dirs))
}

/// Where musl's loader reads its path file: `/etc/ld-musl-x86_64.path`
/// under the directory above the one holding the interpreter (for
/// `/lib/ld-musl-x86_64.so.1`, the root).
pub fn musl_path_file(interpreter: &str) -> String {
    let lib_dir = dirname(interpreter);
    let prefix = if lib_dir == "/" { "" } else { dirname(lib_dir) };
    let prefix = if prefix == "/" { "" } else { prefix };
    format!("{prefix}/etc/ld-musl-x86_64.path")
}

/// musl's built-in search path.
pub const MUSL_DEFAULT_PATH: &[&str] = &["/lib", "/usr/local/lib", "/usr/lib"];

fn read_text(fs: &dyn Fs, path: &str) -> Option<String> {
    let f = resolve(fs, path, true).ok()?;
    if !matches!(f.stat, Stat::File { .. }) {
        return None;
    }
    let bytes = fs.read(&f.real).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Expand a path pattern whose components may hold `*` and `?`: the
/// matching paths, sorted within each directory (as glob(3) sorts).
pub fn glob(fs: &dyn Fs, pattern: &str) -> Vec<String> {
    let mut paths = vec![String::from("/")];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for p in &paths {
            if comp.contains(['*', '?']) {
                let Ok(dir) = resolve(fs, p, true) else {
                    continue;
                };
                let Ok(names) = fs.read_dir(&dir.real) else {
                    continue;
                };
                for n in names {
                    // As glob(3), `*` does not match a leading dot.
                    if wildcard(comp, &n) && (!n.starts_with('.') || comp.starts_with('.')) {
                        next.push(crate::root::join(p, &n));
                    }
                }
            } else {
                next.push(crate::root::join(p, comp));
            }
        }
        paths = next;
    }
    paths.retain(|p| resolve(fs, p, true).is_ok());
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::HostRoot;

    #[test]
    fn includes_globs_and_comments() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc");
        std::fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        std::fs::write(
            etc.join("ld.so.conf"),
            "# top\n/opt/first\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last # trailing\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("ld.so.conf.d/b.conf"),
            "/opt/b1:/opt/b2, /opt/b3\nhwcap 0 nosegneg\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("ld.so.conf.d/a.conf"),
            "/opt/a\ninclude nested/*.conf\n",
        )
        .unwrap();
        std::fs::write(etc.join("ld.so.conf.d/ignored.txt"), "/opt/no\n").unwrap();
        std::fs::create_dir_all(etc.join("ld.so.conf.d/nested")).unwrap();
        std::fs::write(etc.join("ld.so.conf.d/nested/n.conf"), "/opt/n/\n").unwrap();
        // A file including itself does not loop.
        std::fs::write(
            etc.join("ld.so.conf.d/c.conf"),
            "include /etc/ld.so.conf.d/c.conf\n/opt/c=libc6\n",
        )
        .unwrap();
        let root = HostRoot::new(d.path()).unwrap();
        assert_eq!(
            ld_so_conf_dirs(&root),
            [
                "/opt/first",
                "/opt/a",
                "/opt/n",
                "/opt/b1",
                "/opt/b2",
                "/opt/b3",
                "/opt/c",
                "/opt/last"
            ]
        );
    }

    #[test]
    fn musl_path_file_sits_above_the_interpreter() {
        assert_eq!(
            musl_path_file("/lib/ld-musl-x86_64.so.1"),
            "/etc/ld-musl-x86_64.path"
        );
        assert_eq!(
            musl_path_file("/usr/local/musl/lib/ld-musl-x86_64.so.1"),
            "/usr/local/musl/etc/ld-musl-x86_64.path"
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/ld-musl-x86_64.path"),
            "/lib/x86_64-linux-musl\n/usr/lib/x86_64-linux-musl:/opt/lib\n",
        )
        .unwrap();
        let root = HostRoot::new(d.path()).unwrap();
        let (file, dirs) = musl_path(&root, "/lib/ld-musl-x86_64.so.1").unwrap();
        assert_eq!(file, "/etc/ld-musl-x86_64.path");
        assert_eq!(
            dirs,
            [
                "/lib/x86_64-linux-musl",
                "/usr/lib/x86_64-linux-musl",
                "/opt/lib"
            ]
        );
    }
}
