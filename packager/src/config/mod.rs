//! ops-style `config.json`: the field names of NanoVMs' ops, so that users
//! can bring theirs. Every field of ops' `Config`, `RunConfig` and
//! `CloudConfig` is known ([`fields`]): honoured where Kiln can, accepted
//! with a note where ignoring it is harmless, refused with a reason where
//! ignoring it would be wrong. Names match case-insensitively, as ops' Go
//! decoder does. Every problem of a file is reported at once, each with its
//! line and column.

mod decode;
pub mod fields;
pub mod hint;
mod passthrough;
mod positions;
mod values;

pub use positions::{Pos, Seg};
pub use values::*;

use anyhow::{bail, Result};
use kiln_image::ExitRules;
use std::collections::BTreeMap;
use std::path::Path;

/// What a config file asks for (after decoding and checking).
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// Host path of the program (the command line's PROGRAM wins).
    pub program: Option<String>,
    /// Arguments after argv[0].
    pub args: Option<Vec<String>>,
    /// argv[0], from ManifestPassthrough's `arguments`.
    pub argv0: Option<String>,
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
    /// The root file system the program, its libraries and the absolute
    /// paths of Files, Dirs and MapDirs come from (as `--root`).
    pub target_root: Option<String>,
    /// ops copies a file named by the first argument into the image unless
    /// this is set.
    pub disable_args_copy: bool,
    /// RebootOnExit and expected exit statuses.
    pub exit: ExitRules,
    /// Debugflags' or ManifestPassthrough's `missing_files`.
    pub missing_files: bool,
    pub run_config: RunConfig,
    /// The `kiln: note:` lines about fields Kiln accepts and ignores.
    notes: Vec<String>,
}

/// `RunConfig`: how `kiln run` starts the VM, and the network settings
/// that go into the image.
#[derive(Debug, Default, Clone)]
pub struct RunConfig {
    /// TCP ports forwarded from the host ("8080", "8000-8010", "8080:80").
    pub ports: Vec<String>,
    pub udp_ports: Vec<String>,
    /// VM memory as `-m` takes it ("256M", "1G").
    pub memory: Option<String>,
    pub cpus: Option<u32>,
    /// true: use KVM when the probe says it works (`--accel auto`);
    /// false: TCG.
    pub accel: Option<bool>,
    pub ip_address: Option<String>,
    pub net_mask: Option<String>,
    pub gateway: Option<String>,
    pub ipv6_address: Option<String>,
    pub name_servers: Vec<String>,
    /// The tap device when `Bridged` (default `tap0`, as ops).
    pub tap: Option<String>,
    /// QEMU's gdb stub on this port of 127.0.0.1.
    pub gdb_port: Option<u16>,
    /// Wait for gdb before the kernel starts (ops' `Debug`).
    pub debug: bool,
    pub verbose: bool,
    /// A shell command run on the host after the VM stops.
    pub at_exit: Option<String>,
}

/// The tap device ops uses when `Bridged` names none.
pub const DEFAULT_TAP: &str = "tap0";
/// The gdb port of `Debug` without `GdbPort` (QEMU's `-s`).
pub const DEFAULT_GDB_PORT: u16 = 1234;

impl Config {
    /// Read and parse `path`. Problems start with the file's name, line and
    /// column; several are one message of several lines.
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
        decode::decode(text, name)
    }

    /// Notes for the ops fields that Kiln accepts and ignores.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Does this config say anything about the image's contents (as opposed
    /// to how to run it)?
    pub fn has_build_fields(&self) -> bool {
        let r = &self.run_config;
        self.program.is_some()
            || self.args.is_some()
            || self.argv0.is_some()
            || !self.env.is_empty()
            || !self.files.is_empty()
            || !self.dirs.is_empty()
            || !self.map_dirs.is_empty()
            || !self.mounts.is_empty()
            || self.cwd.is_some()
            || self.target_root.is_some()
            || !self.name_servers.is_empty()
            || self.exit != ExitRules::default()
            || r.ip_address.is_some()
            || r.net_mask.is_some()
            || r.gateway.is_some()
            || r.ipv6_address.is_some()
            || !r.name_servers.is_empty()
    }
}

#[cfg(test)]
mod tests;
