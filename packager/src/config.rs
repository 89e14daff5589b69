//! ops-style `config.json`: the field names of NanoVMs' ops, so that users
//! can bring theirs. Unknown fields are errors that name the field; a few
//! ops fields that mean nothing to Kiln are accepted with a note.

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The top level of `config.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "PascalCase")]
pub struct Config {
    /// Host path of the program (the command line's PROGRAM wins).
    pub program: Option<String>,
    /// Arguments after argv[0].
    pub args: Option<Vec<String>>,
    /// Environment variables, added to (and overriding) the defaults.
    pub env: BTreeMap<String, String>,
    /// Host files, placed at the same path in the image.
    pub files: Vec<String>,
    /// Host directories, copied recursively to the same path in the image.
    pub dirs: Vec<String>,
    /// Host path or glob -> image directory.
    pub map_dirs: BTreeMap<String, String>,
    /// tmpfs mount point -> size ("64M"; "" for no limit).
    pub mounts: BTreeMap<String, String>,
    /// The program's working directory (default `/`).
    pub cwd: Option<String>,
    /// DNS servers (ops puts them at the top level).
    pub name_servers: Vec<String>,
    /// Base of relative paths in Files, Dirs and MapDirs (default: the
    /// config file's directory).
    pub local_files_parent_directory: Option<String>,
    /// The root file system the program, its interpreter, libraries and
    /// runtime files come from (as `--root`); Program is a path inside it.
    pub target_root: Option<String>,
    pub run_config: RunConfig,

    // ops fields that have no meaning for Kiln: accepted, noted, ignored.
    pub base_volume_sz: Option<Value>,
    pub boot: Option<Value>,
    pub kernel: Option<Value>,
    pub klibs: Option<Value>,
    pub nanos_version: Option<Value>,
    pub version: Option<Value>,
    pub cloud_config: Option<Value>,
    pub debugflags: Option<Value>,
}

/// `RunConfig`: how `kiln run` starts the VM, and the network settings
/// that go into the image.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "PascalCase")]
pub struct RunConfig {
    /// TCP ports forwarded from the host ("8080", "8000-8010", "8080:80").
    pub ports: Vec<String>,
    #[serde(rename = "UDPPorts")]
    pub udp_ports: Vec<String>,
    /// VM memory as `-m` takes it ("256M", "1G").
    pub memory: Option<String>,
    #[serde(rename = "CPUs")]
    pub cpus: Option<u32>,
    /// true: use KVM when the probe says it works (`--accel auto`);
    /// false: TCG.
    pub accel: Option<bool>,
    #[serde(rename = "IPAddress")]
    pub ip_address: Option<String>,
    pub net_mask: Option<String>,
    pub gateway: Option<String>,
    pub name_servers: Vec<String>,

    // ops fields without meaning here.
    pub verbose: Option<Value>,
    pub debug: Option<Value>,
    pub show_debug: Option<Value>,
    pub show_errors: Option<Value>,
    pub show_warnings: Option<Value>,
}

impl Config {
    /// Read and parse `path`. Every problem is one message that starts with
    /// the file's name (and the line and column where JSON pinpoints it).
    pub fn load(path: &Path) -> Result<Config> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => bail!("{shown}: {}", crate::tree::io_reason(&e)),
        };
        Config::parse(&text, &shown)
    }

    /// Parse the text of a config file called `name` (for messages).
    pub fn parse(text: &str, name: &str) -> Result<Config> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Config = match serde_path_to_error::deserialize(&mut de) {
            Ok(c) => c,
            Err(e) => {
                let path = e.path().to_string();
                return Err(json_error(name, &path, e.into_inner()));
            }
        };
        de.end().map_err(|e| json_error(name, ".", e))?;
        Ok(config)
    }

    /// Notes for the ops fields that Kiln accepts and ignores.
    pub fn notes(&self) -> Vec<String> {
        let r = &self.run_config;
        let ignored = [
            (
                "BaseVolumeSz",
                self.base_volume_sz.is_some(),
                "images are sized to their contents",
            ),
            (
                "Boot",
                self.boot.is_some(),
                "the kernel is inside the image",
            ),
            (
                "Kernel",
                self.kernel.is_some(),
                "kiln embeds its own kernel",
            ),
            ("Klibs", self.klibs.is_some(), "Kiln has no klibs"),
            (
                "NanosVersion",
                self.nanos_version.is_some(),
                "kiln embeds its own kernel",
            ),
            ("Version", self.version.is_some(), "not used"),
            (
                "CloudConfig",
                self.cloud_config.is_some(),
                "kiln runs images locally",
            ),
            ("Debugflags", self.debugflags.is_some(), "not used"),
            ("RunConfig.Verbose", r.verbose.is_some(), "not used"),
            ("RunConfig.Debug", r.debug.is_some(), "not used"),
            ("RunConfig.ShowDebug", r.show_debug.is_some(), "not used"),
            ("RunConfig.ShowErrors", r.show_errors.is_some(), "not used"),
            (
                "RunConfig.ShowWarnings",
                r.show_warnings.is_some(),
                "not used",
            ),
        ];
        ignored
            .iter()
            .filter(|(_, set, _)| *set)
            .map(|(field, _, why)| format!("{field} is ignored ({why})"))
            .collect()
    }

    /// Does this config say anything about the image's contents (as opposed
    /// to how to run it)?
    pub fn has_build_fields(&self) -> bool {
        let r = &self.run_config;
        self.program.is_some()
            || self.args.is_some()
            || !self.env.is_empty()
            || !self.files.is_empty()
            || !self.dirs.is_empty()
            || !self.map_dirs.is_empty()
            || !self.mounts.is_empty()
            || self.cwd.is_some()
            || self.target_root.is_some()
            || !self.name_servers.is_empty()
            || r.ip_address.is_some()
            || r.net_mask.is_some()
            || r.gateway.is_some()
            || !r.name_servers.is_empty()
    }
}

/// One line for a serde_json error: `NAME:LINE:COL: ...`, with unknown
/// fields named (and a guess at the intended one).
fn json_error(name: &str, path: &str, e: serde_json::Error) -> anyhow::Error {
    use serde_json::error::Category;
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            anyhow!("{name}:{}:{}: bad JSON: {msg}", e.line(), e.column())
        }
        Category::Data => {
            if let Some((field, expected)) = unknown_field(&msg) {
                // serde_path_to_error's path ends with the unknown field itself.
                let shown = if path.is_empty() || path == "." {
                    field.clone()
                } else {
                    path.to_string()
                };
                let hint = suggest(&field, &expected)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                anyhow!("{name}: unknown field \"{shown}\"{hint}")
            } else if path.is_empty() || path == "." {
                anyhow!("{name}:{}:{}: {msg}", e.line(), e.column())
            } else {
                anyhow!("{name}:{}:{}: {path}: {msg}", e.line(), e.column())
            }
        }
    }
}

/// Parse serde's "unknown field `X`, expected one of `A`, `B`" (or
/// "expected `A`", or "there are no fields").
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), expected))
}

/// The known field closest to `field`, if one is close enough.
fn suggest(field: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| {
            let score = if k.eq_ignore_ascii_case(field) {
                1.0
            } else {
                strsim::jaro_winkler(&k.to_ascii_lowercase(), &field.to_ascii_lowercase())
            };
            (score, k)
        })
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}

/// A host port forwarded into the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortForward {
    pub host: u16,
    pub guest: u16,
}

/// Parse ops port specs: "8080", "8000-8010" (a range, same ports on both
/// sides) or "8080:80" (host:guest).
pub fn parse_ports(field: &str, specs: &[String]) -> Result<Vec<PortForward>> {
    let mut out = Vec::new();
    for spec in specs {
        let bad =
            || anyhow!("{field}: bad port {spec:?} (use \"8080\", \"8000-8010\" or \"8080:80\")");
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(bad)
        };
        if let Some((a, b)) = spec.split_once('-') {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(bad());
            }
            out.extend((a..=b).map(|p| PortForward { host: p, guest: p }));
        } else if let Some((h, g)) = spec.split_once(':') {
            out.push(PortForward {
                host: port(h)?,
                guest: port(g)?,
            });
        } else {
            let p = port(spec)?;
            out.push(PortForward { host: p, guest: p });
        }
    }
    Ok(out)
}

/// Parse a size such as "64M", "1G", "4096" (bytes), "512K".
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_shl(shift).filter(|v| v >> shift == n)
}

/// An IPv4 address from a config field.
pub fn parse_ipv4(field: &str, s: &str) -> Result<Ipv4Addr> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("{field}: {s:?} is not an IPv4 address"))
}

/// Prefix length of a dotted net mask ("255.255.255.0" -> 24).
pub fn mask_prefix(field: &str, s: &str) -> Result<u8> {
    let m = u32::from(parse_ipv4(field, s)?);
    let prefix = m.leading_ones();
    if m.checked_shl(prefix).unwrap_or(0) != 0 {
        bail!("{field}: {s:?} is not a net mask (its one bits must come first)");
    }
    Ok(prefix as u8)
}

/// Resolve a host path from the config: relative paths are relative to
/// `base`.
pub fn host_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", Config::parse(text, "config.json").unwrap_err())
    }

    #[test]
    fn parses_ops_fields() {
        let c = Config::parse(
            r#"{
              "Program": "server", "Args": ["-v"], "Env": {"A": "1"},
              "Files": ["a.txt"], "Dirs": ["static"], "MapDirs": {"data/*": "/srv"},
              "Mounts": {"/var/cache": "64M"}, "Cwd": "/srv", "NameServers": ["1.1.1.1"],
              "BaseVolumeSz": "100m", "TargetRoot": "rootfs",
              "RunConfig": {"Ports": ["8080"], "UDPPorts": ["53"], "Memory": "512M", "CPUs": 2,
                            "Accel": true, "IPAddress": "10.0.2.15", "NetMask": "255.255.255.0",
                            "Gateway": "10.0.2.2", "NameServers": ["9.9.9.9"], "Verbose": true}
            }"#,
            "config.json",
        )
        .unwrap();
        assert_eq!(c.program.as_deref(), Some("server"));
        assert_eq!(c.map_dirs["data/*"], "/srv");
        assert_eq!(c.run_config.cpus, Some(2));
        assert_eq!(c.target_root.as_deref(), Some("rootfs"));
        assert_eq!(c.run_config.udp_ports, ["53"]);
        assert_eq!(c.run_config.ip_address.as_deref(), Some("10.0.2.15"));
        assert!(c.has_build_fields());
        assert_eq!(
            c.notes(),
            [
                "BaseVolumeSz is ignored (images are sized to their contents)",
                "RunConfig.Verbose is ignored (not used)"
            ]
        );
        assert!(!Config::parse("{}", "c").unwrap().has_build_fields());
    }

    #[test]
    fn unknown_fields_are_named_with_a_guess() {
        assert_eq!(
            err(r#"{"Prgram": "x"}"#),
            r#"config.json: unknown field "Prgram" (did you mean "Program"?)"#
        );
        assert_eq!(
            err(r#"{"RunConfig": {"Prots": ["1"]}}"#),
            r#"config.json: unknown field "RunConfig.Prots" (did you mean "Ports"?)"#
        );
        assert_eq!(
            err(r#"{"program": "x"}"#),
            r#"config.json: unknown field "program" (did you mean "Program"?)"#
        );
        assert_eq!(
            err(r#"{"Zzzzzz": 1}"#),
            r#"config.json: unknown field "Zzzzzz""#
        );
    }

    #[test]
    fn bad_json_has_line_and_column() {
        assert_eq!(
            err("{\n  \"Args\": [\"a\",]\n}"),
            "config.json:2:16: bad JSON: trailing comma"
        );
        assert!(err("{\"Args\": [").starts_with("config.json:1:10: bad JSON: EOF"));
        assert!(err("{} x").starts_with("config.json:1:4: bad JSON: trailing characters"));
        assert_eq!(
            err("{\n \"RunConfig\": {\"CPUs\": \"two\"}}"),
            "config.json:2:28: RunConfig.CPUs: invalid type: string \"two\", expected u32"
        );
    }

    #[test]
    fn ports_sizes_masks() {
        let p = parse_ports(
            "Ports",
            &["80".into(), "8000-8002".into(), "9090:90".into()],
        )
        .unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(
            p[4],
            PortForward {
                host: 9090,
                guest: 90
            }
        );
        assert!(parse_ports("Ports", &["http".into()]).is_err());
        assert!(parse_ports("Ports", &["9-1".into()]).is_err());
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(mask_prefix("NetMask", "255.255.255.0").unwrap(), 24);
        assert_eq!(mask_prefix("NetMask", "0.0.0.0").unwrap(), 0);
        assert!(mask_prefix("NetMask", "255.0.255.0").is_err());
    }
}
