//! Language runtimes whose standard library lives beside the program: a
//! small table keyed by the program's real file name (after symlinks), each
//! row saying which directories of the root to pack. Shared objects in those
//! directories (extension modules) get their own libraries resolved.
//!
//! | Program | Packed |
//! |---|---|
//! | `python3.N` | `<prefix>/lib/python3.N` (prefix: the directory above the program's, else `/usr`, `/usr/local`), without `test/`, `idlelib/`, `tkinter/`, `turtledemo/`, `ensurepip/` and `config-3.N-*/` (static archives for building extensions) |
//! | `node`, `nodejs` | nothing: the standard library is inside the program |
//! | `php`, `phpX.Y`, `php-fpmX.Y`, `php-cgiX.Y` | `/etc/php/X.Y/<cli, fpm or cgi>` and the extension directory `/usr/lib/php/<API>` (the API number read from the program) |
//! | `perl`, `perl5.X.Y` | `/etc/perl`, `/usr/lib/x86_64-linux-gnu/perl-base`, `/usr/lib/x86_64-linux-gnu/perl/5.*`, `/usr/share/perl/5.*` (Debian's core @INC) |
//! | `nginx` | `/etc/nginx` (mime.types, fastcgi_params, ... that configurations include; a user's file there wins), `/usr/share/nginx` and `/usr/lib/nginx/modules` (the dynamic modules that `modules-enabled/` loads, with their libraries); tmpfs at `/var/lib/nginx` and `/var/log/nginx`, where Debian's build keeps its temporary files and default logs |
//!
//! A row may also name directories the program writes to at start-up: they
//! become tmpfs mounts (unless the configuration mounts them itself).

use crate::ldconf::glob;
use crate::root::{dirname, join, resolve, Fs, Stat};
use crate::tree::wildcard;

/// A directory of the root to pack, minus the top-level entries whose
/// names match `exclude` (`*`, `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeDir {
    pub path: String,
    pub exclude: Vec<String>,
}

/// One row of the table.
pub struct Runtime {
    /// Its name in messages.
    pub name: &'static str,
    /// Does a real file name belong to this runtime?
    matches: fn(&str) -> bool,
    /// The directories to pack, from the root's layout.
    plan: fn(&dyn Fs, &Program) -> Vec<RuntimeDir>,
    /// Why nothing is packed, when that is the rule.
    pub nothing_because: Option<&'static str>,
    /// Directories the program writes to at start-up: tmpfs mounts.
    pub writable: &'static [&'static str],
}

/// What a plan looks at.
pub struct Program<'a> {
    /// The program's real path in the root.
    pub real: &'a str,
    pub bytes: &'a [u8],
}

/// The table.
pub static RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "python",
        matches: |n| python_version(n).is_some(),
        plan: python,
        nothing_because: None,
        writable: &[],
    },
    Runtime {
        name: "node",
        matches: |n| n == "node" || n == "nodejs",
        plan: |_, _| Vec::new(),
        nothing_because: Some("its standard library is inside the program"),
        writable: &[],
    },
    Runtime {
        name: "php",
        matches: |n| php_sapi(n).is_some(),
        plan: php,
        nothing_because: None,
        writable: &[],
    },
    Runtime {
        name: "perl",
        matches: |n| n == "perl" || wildcard("perl5.*.*", n),
        plan: perl,
        nothing_because: None,
        writable: &[],
    },
    Runtime {
        name: "nginx",
        matches: |n| n == "nginx",
        plan: |fs, _| {
            ["/etc/nginx", "/usr/share/nginx", "/usr/lib/nginx/modules"]
                .into_iter()
                .filter(|d| is_dir(fs, d))
                .map(|d| RuntimeDir {
                    path: d.into(),
                    exclude: Vec::new(),
                })
                .collect()
        },
        nothing_because: None,
        writable: &["/var/lib/nginx", "/var/log/nginx"],
    },
];

/// The row for a program whose real file name is `name`.
pub fn recognise(name: &str) -> Option<&'static Runtime> {
    RUNTIMES.iter().find(|r| (r.matches)(name))
}

impl Runtime {
    /// The directories to pack for `program`, those missing in the root
    /// left out.
    pub fn dirs(&self, fs: &dyn Fs, program: &Program) -> Vec<RuntimeDir> {
        (self.plan)(fs, program)
    }
}

fn is_dir(fs: &dyn Fs, path: &str) -> bool {
    resolve(fs, path, true).is_ok_and(|f| matches!(f.stat, Stat::Dir { .. }))
}

/// "3.11" from "python3.11".
fn python_version(name: &str) -> Option<&str> {
    let v = name.strip_prefix("python")?;
    let (major, minor) = v.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (major == "3" && digits(minor)).then_some(v)
}

fn python(fs: &dyn Fs, p: &Program) -> Vec<RuntimeDir> {
    let Some(ver) = python_version(crate::root::basename(p.real)) else {
        return Vec::new();
    };
    let prefix = dirname(dirname(p.real));
    let candidates =
        [prefix, "/usr", "/usr/local"].map(|pre| join(pre, &format!("lib/python{ver}")));
    let Some(dir) = candidates.into_iter().find(|d| is_dir(fs, d)) else {
        return Vec::new();
    };
    let exclude = [
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "config-*",
    ]
    .map(String::from)
    .to_vec();
    vec![RuntimeDir { path: dir, exclude }]
}

/// ("8.2" or "" for a bare name, the SAPI's configuration directory) from
/// "php8.2", "php-fpm8.2", "php-cgi8.2", "php".
fn php_sapi(name: &str) -> Option<(&str, &'static str)> {
    let rest = name.strip_prefix("php")?;
    let (sapi, ver) = if let Some(v) = rest.strip_prefix("-fpm") {
        ("fpm", v)
    } else if let Some(v) = rest.strip_prefix("-cgi") {
        ("cgi", v)
    } else {
        ("cli", rest)
    };
    let ok = ver.is_empty()
        || ver.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        });
    ok.then_some((ver, sapi))
}

fn php(fs: &dyn Fs, p: &Program) -> Vec<RuntimeDir> {
    let Some((ver, sapi)) = php_sapi(crate::root::basename(p.real)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // A bare "php" takes the only version configured in the root.
    let ver = if ver.is_empty() {
        let versions = fs.read_dir("/etc/php").unwrap_or_default();
        match versions.as_slice() {
            [only] => only.clone(),
            _ => String::new(),
        }
    } else {
        ver.to_string()
    };
    if !ver.is_empty() {
        let conf = format!("/etc/php/{ver}/{sapi}");
        if is_dir(fs, &conf) {
            out.push(RuntimeDir {
                path: conf,
                exclude: Vec::new(),
            });
        }
    }
    // The extension directory is named by the module API number, which the
    // program carries as "API20220829,NTS".
    let api = find_api(p.bytes).or_else(|| {
        let dirs = fs.read_dir("/usr/lib/php").unwrap_or_default();
        let apis: Vec<String> = dirs
            .into_iter()
            .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        match apis.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    });
    if let Some(api) = api {
        let ext = format!("/usr/lib/php/{api}");
        if is_dir(fs, &ext) {
            out.push(RuntimeDir {
                path: ext,
                exclude: Vec::new(),
            });
        }
    }
    out
}

/// The PHP module API number in a program's bytes.
fn find_api(bytes: &[u8]) -> Option<String> {
    bytes.windows(12).find_map(|w| {
        (w.starts_with(b"API") && w[3..11].iter().all(u8::is_ascii_digit) && w[11] == b',')
            .then(|| String::from_utf8_lossy(&w[3..11]).into_owned())
    })
}

fn perl(fs: &dyn Fs, _: &Program) -> Vec<RuntimeDir> {
    let mut out = Vec::new();
    for pattern in [
        "/etc/perl",
        "/usr/lib/x86_64-linux-gnu/perl-base",
        "/usr/lib/x86_64-linux-gnu/perl/5.*",
        "/usr/share/perl/5.*",
    ] {
        for path in glob(fs, pattern) {
            if is_dir(fs, &path) {
                out.push(RuntimeDir {
                    path,
                    exclude: Vec::new(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::HostRoot;

    #[test]
    fn names() {
        assert_eq!(recognise("python3.11").unwrap().name, "python");
        assert!(recognise("python3").is_none());
        assert!(recognise("python3.11-config").is_none());
        assert_eq!(recognise("nodejs").unwrap().name, "node");
        assert_eq!(recognise("php8.2").unwrap().name, "php");
        assert_eq!(php_sapi("php-fpm8.2"), Some(("8.2", "fpm")));
        assert_eq!(php_sapi("php"), Some(("", "cli")));
        assert!(recognise("phpize8.2").is_none());
        assert_eq!(recognise("perl5.36.0").unwrap().name, "perl");
        let nginx = recognise("nginx").unwrap();
        assert_eq!(nginx.writable, ["/var/lib/nginx", "/var/log/nginx"]);
        assert!(recognise("nginx-debug").is_none());
        assert_eq!(find_api(b"xx\0API20220829,NTS\0"), Some("20220829".into()));
    }

    #[test]
    fn python_and_php_layouts() {
        let d = tempfile::tempdir().unwrap();
        for dir in [
            "usr/lib/python3.11/lib-dynload",
            "etc/php/8.2/cli/conf.d",
            "usr/lib/php/20220829",
            "usr/lib/php/20210902",
        ] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        let fs = HostRoot::new(d.path()).unwrap();
        let py = recognise("python3.11").unwrap();
        let dirs = py.dirs(
            &fs,
            &Program {
                real: "/usr/bin/python3.11",
                bytes: b"",
            },
        );
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].path, "/usr/lib/python3.11");
        assert!(dirs[0].exclude.contains(&"test".to_string()));
        let php = recognise("php8.2").unwrap();
        let dirs: Vec<String> = php
            .dirs(
                &fs,
                &Program {
                    real: "/usr/bin/php8.2",
                    bytes: b"..API20220829,NTS..",
                },
            )
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(dirs, ["/etc/php/8.2/cli", "/usr/lib/php/20220829"]);
    }
}
