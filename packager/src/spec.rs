//! What to build: the config file and the command line merged into one
//! manifest and one file tree. Command-line values add to the config's
//! lists and override its single values.

use crate::config::{self, Config, PortForward};
use crate::image::{Program, DEFAULT_ENV};
use crate::pack;
use crate::root::{basename, HostRoot};
use crate::tree::{image_path, Kind, Node, Tree};
use anyhow::{anyhow, bail, Context, Result};
use kiln_image::{Manifest, NetConfig, TmpfsMount};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Options shared by `kiln build` and `kiln run PROGRAM`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct BuildArgs {
    /// ops-style config.json (Program, Args, Env, Files, Dirs, MapDirs,
    /// Mounts, Cwd, RunConfig, ...).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Put a host file (or directory, or symlink) into the image, at IMAGE
    /// or at the same path.
    #[arg(long = "file", value_name = "HOST[:IMAGE]")]
    pub files: Vec<String>,
    /// Copy a host directory recursively into the image, at IMAGE or at the
    /// same path.
    #[arg(long = "dir", value_name = "HOST[:IMAGE]")]
    pub dirs: Vec<String>,
    /// Set an environment variable of the program (repeatable).
    #[arg(
        short = 'e',
        long = "env",
        visible_alias = "envs",
        value_name = "KEY=VALUE"
    )]
    pub env: Vec<String>,
    /// An argument given to the program (repeatable; before those after --).
    #[arg(
        short = 'a',
        long = "args",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub arg: Vec<String>,
    /// Static IPv4 address of the VM (RunConfig.IPAddress) [default: DHCP].
    #[arg(long, value_name = "IPV4")]
    pub ip_address: Option<String>,
    /// Static IPv6 address of the VM, besides its link-local one
    /// (RunConfig.IPv6Address), e.g. 2001:db8::10 or fd00::5/64.
    #[arg(long, value_name = "IPV6[/PREFIX]")]
    pub ipv6_address: Option<String>,
    /// IPv4 default gateway (RunConfig.Gateway).
    #[arg(long, value_name = "IPV4")]
    pub gateway: Option<String>,
    /// IPv4 net mask of --ip-address (RunConfig.NetMask) [default: 255.255.255.0].
    #[arg(long, value_name = "MASK")]
    pub netmask: Option<String>,
    /// Do not copy a file named by the first argument into the image
    /// (DisableArgsCopy).
    #[arg(long)]
    pub disable_args_copy: bool,
    /// The program's working directory (default /).
    #[arg(long, value_name = "PATH")]
    pub cwd: Option<String>,
    /// Mount a tmpfs at PATH, limited to SIZE (e.g. 64M) if given.
    #[arg(long = "mount", value_name = "/PATH[:SIZE]")]
    pub mounts: Vec<String>,
    /// Take the program, its interpreter, libraries and runtime files (and
    /// the config's absolute Files, Dirs and MapDirs) from DIR instead of /
    /// (PROGRAM is then a path inside DIR; TargetRoot).
    #[arg(short = 'r', long, visible_alias = "target-root", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl BuildArgs {
    /// Was anything given that changes an image's contents?
    pub fn changes_contents(&self) -> bool {
        !(self.files.is_empty()
            && self.dirs.is_empty()
            && self.env.is_empty()
            && self.arg.is_empty()
            && self.cwd.is_none()
            && self.mounts.is_empty()
            && self.root.is_none()
            && self.ip_address.is_none()
            && self.ipv6_address.is_none()
            && self.gateway.is_none()
            && self.netmask.is_none()
            && !self.disable_args_copy)
    }
}

/// How `kiln run` should start the VM, from RunConfig.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    pub memory: Option<String>,
    pub cpus: Option<u32>,
    pub accel: Option<bool>,
    pub ports: Vec<PortForward>,
    pub udp_ports: Vec<PortForward>,
    /// `Bridged` (with `TapName`): the tap device.
    pub tap: Option<String>,
    pub gdb_port: Option<u16>,
    /// Wait for gdb before the kernel runs.
    pub debug: bool,
    pub verbose: bool,
    /// Host command run after the VM stops.
    pub at_exit: Option<String>,
    /// Debugflags' `missing_files`.
    pub missing_files: bool,
}

/// Everything needed to write an image.
pub struct Spec {
    pub program: Program,
    pub manifest: Manifest,
    pub tree: Tree,
    pub run: RunSettings,
    /// The `kiln: note:` lines printed about what was added.
    pub notes: Vec<String>,
}

/// The root programs and libraries come from: `--root`, else the config's
/// `TargetRoot` (relative to the config's directory), else none (`/`).
fn root_dir(config: &Config, base: &Path, b: &BuildArgs) -> Option<PathBuf> {
    b.root.clone().or_else(|| {
        config
            .target_root
            .as_deref()
            .map(|r| config::host_path(base, r))
    })
}

/// Read the config (if any) and print its notes.
pub fn load_config(args: &BuildArgs) -> Result<Option<(Config, PathBuf)>> {
    let Some(path) = &args.config else {
        return Ok(None);
    };
    let config = Config::load(path)?;
    for note in config.notes() {
        crate::note!("{}: {note}", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = match &config.local_files_parent_directory {
        Some(d) => config::host_path(&dir, d),
        None => dir,
    };
    Ok(Some((config, base)))
}

/// The RunConfig settings of a config.
pub fn run_settings(config: &Config) -> Result<RunSettings> {
    let r = &config.run_config;
    Ok(RunSettings {
        memory: r.memory.clone(),
        cpus: r.cpus,
        accel: r.accel,
        ports: config::parse_ports("RunConfig.Ports", &r.ports)?,
        udp_ports: config::parse_ports("RunConfig.UDPPorts", &r.udp_ports)?,
        tap: r.tap.clone(),
        gdb_port: r.gdb_port,
        debug: r.debug,
        verbose: r.verbose,
        at_exit: r.at_exit.clone(),
        missing_files: config.missing_files,
    })
}

/// Split `HOST[:IMAGE]`: the part after the last `:` is the image path
/// when it is absolute.
fn split_mapping(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once(':') {
        Some((host, image)) if image.starts_with('/') && !host.is_empty() => (host, Some(image)),
        _ => (spec, None),
    }
}

/// The file systems the kernel mounts itself (see `vfs/mount.rs`).
const KERNEL_FS: [(&str, &str); 3] = [("proc", "/proc"), ("devfs", "/dev"), ("sysfs", "/sys")];

/// The tmpfs mounts the kernel always makes, and their modes.
const BUILTIN_TMPFS: [(&str, u32); 2] = [("/tmp", 0o1777), ("/run", 0o755)];

/// Merge the config and the command line into a [`Spec`].
pub fn resolve(program: Option<&Path>, cli_args: &[String], b: &BuildArgs) -> Result<Spec> {
    let loaded = load_config(b)?;
    let all_args: Vec<String> = b.arg.iter().chain(cli_args).cloned().collect();
    let cli_args = all_args.as_slice();
    let (mut config, base) = match loaded {
        Some((c, base)) => (c, base),
        None => (Config::default(), PathBuf::from(".")),
    };
    let cfg_name = b
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let in_cfg = |e: anyhow::Error| anyhow!("{cfg_name}: {e:#}");
    apply_network_flags(&mut config, b)?;
    config.disable_args_copy |= b.disable_args_copy;

    let root = root_dir(&config, &base, b)
        .map(|d| HostRoot::new(&d))
        .transpose()?;
    let program_path = match (program, &config.program, &root) {
        (Some(p), _, _) => p.to_path_buf(),
        // With a root, the config's Program is a path in that root.
        (None, Some(p), Some(_)) => PathBuf::from(p),
        (None, Some(p), None) => config::host_path(&base, p),
        (None, None, _) => bail!("no program: give PROGRAM, or \"Program\" in a config file (-c)"),
    };
    // A static program without a root goes in at /<name>, as it always
    // has; a dynamically linked one, or any program from a root, at its
    // own path in the root.
    // A note when the program cannot keep its own path.
    let mut moved: Option<String> = None;
    let (program, placed) = match &root {
        None => {
            let program = Program::load(&program_path)?;
            if program.kind.is_dynamic() {
                let abs = std::env::current_dir()
                    .context("cannot read the current directory")?
                    .join(&program_path);
                let path = abs.to_str().ok_or_else(|| {
                    anyhow!("{}: the program's path must be valid UTF-8", abs.display())
                })?;
                let mut placed = pack::locate(&HostRoot::host(), path)?;
                // Under /tmp or /run the program would be hidden by the
                // tmpfs there: it goes in at /<name>, as a static one.
                let tmpfs = BUILTIN_TMPFS.iter().map(|(m, _)| *m).find(|m| {
                    let under = |x: &str| x.starts_with(&format!("{m}/"));
                    under(&placed.path) || under(&placed.found.real)
                });
                if let Some(m) = tmpfs {
                    moved = Some(format!(
                        "{} is under {m}, a tmpfs in the VM: the program goes into the image at /{}",
                        placed.path, program.name
                    ));
                    placed.path = format!("/{}", program.name);
                }
                (program, Some(placed))
            } else {
                (program, None)
            }
        }
        Some(r) => {
            let given = program_path.to_str().ok_or_else(|| {
                anyhow!(
                    "{}: the program's path must be valid UTF-8",
                    program_path.display()
                )
            })?;
            let placed = pack::locate(r, given)?;
            let mut program = Program::load(&r.host_path(&placed.found.real))?;
            program.name = basename(&placed.path).to_string();
            (program, Some(placed))
        }
    };
    let host_root = root.clone().unwrap_or_else(HostRoot::host);

    let args = if !cli_args.is_empty() {
        cli_args.to_vec()
    } else {
        config.args.clone().unwrap_or_default()
    };

    let mut env: Vec<(String, String)> = DEFAULT_ENV
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut set = |k: &str, v: &str| match env.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    };
    for (k, v) in &config.env {
        if k.is_empty() || k.contains('=') {
            bail!("{cfg_name}: Env: bad variable name {k:?}");
        }
        set(k, v);
    }
    for e in &b.env {
        match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => set(k, v),
            _ => bail!("--env {e:?}: use KEY=VALUE"),
        }
    }

    let cwd = match (&b.cwd, &config.cwd) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => "/".to_string(),
    };
    if !cwd.starts_with('/') {
        bail!("working directory {cwd:?} must be an absolute path");
    }
    let cwd = image_path(&cwd)?;

    // The file tree: the program, then the config's sources, then the
    // command line's, then what the program loads.
    let mut tree = Tree::new();
    match placed.as_ref().filter(|_| moved.is_none()) {
        None => tree.add_bytes(
            &format!("/{}", program.name),
            program.bytes.clone().into(),
            program.mode,
            program.mtime,
            &format!("the program {}", program_path.display()),
        )?,
        Some(p) => pack::place_program(&mut tree, &host_root, p)?,
    }
    // As ops: with a TargetRoot, the config's absolute paths are in it.
    let source = |p: &str| config_source(root.as_ref(), &base, p);
    for f in &config.files {
        tree.add_host(&source(f), &image_path(f).map_err(in_cfg)?, "Files")?;
    }
    for d in &config.dirs {
        tree.add_host(&source(d), &image_path(d).map_err(in_cfg)?, "Dirs")?;
    }
    for (pattern, dest) in &config.map_dirs {
        tree.map_dir(
            &source(pattern),
            &image_path(dest).map_err(in_cfg)?,
            "MapDirs",
        )?;
    }
    for (list, flag) in [(&b.files, "--file"), (&b.dirs, "--dir")] {
        for spec in list {
            let (host, image) = split_mapping(spec);
            let image = image_path(image.unwrap_or(host)).with_context(|| flag.to_string())?;
            if flag == "--dir" && !Path::new(host).is_dir() && Path::new(host).exists() {
                bail!("--dir {host}: not a directory (use --file)");
            }
            tree.add_host(Path::new(host), &image, flag)?;
        }
    }
    let mut copied = None;
    if !config.disable_args_copy {
        // The config's Args are relative to its directory, -- ARGS to the
        // current one.
        let dir = if cli_args.is_empty() {
            base.as_path()
        } else {
            Path::new(".")
        };
        copied = copy_first_arg(&mut tree, dir, &args)?;
    }
    let mut packed = pack::Packed::default();
    if let Some(p) = &placed {
        if program.kind.is_dynamic() || root.is_some() {
            packed = pack::pack(
                &mut tree,
                &pack::Inputs {
                    root: &host_root,
                    placed: p,
                    bytes: &program.bytes,
                    env: &env,
                    cwd: &cwd,
                },
            )?;
        }
    }

    packed.notes.extend(moved.clone());
    packed.notes.extend(copied);
    let mut mounts = mounts(&config, b, &cfg_name)?;
    for w in &packed.writable {
        if !mounts.iter().any(|m| &m.path == w) {
            packed.notes.push(format!(
                "{w} is a tmpfs: the program writes there at start-up"
            ));
            mounts.push(TmpfsMount {
                path: w.clone(),
                size: 0,
            });
        }
    }
    // A program kept at its own path must not sit where a tmpfs goes.
    if let Some(p) = placed.as_ref().filter(|_| moved.is_none()) {
        let tmpfs = BUILTIN_TMPFS
            .map(|(p, _)| p)
            .into_iter()
            .chain(mounts.iter().map(|m| m.path.as_str()));
        for m in tmpfs {
            let under = |x: &str| x.starts_with(&format!("{m}/"));
            if under(&p.path) || under(&p.found.real) {
                bail!(
                    "{}: the program goes into the image at its own path, but {m} is a tmpfs in \
                     the VM; move it out of {m}",
                    p.path
                );
            }
        }
    }
    // The kernel always mounts a tmpfs at /tmp and /run, as Linux systems do.
    for path in BUILTIN_TMPFS.map(|(p, _)| p) {
        if tree.get(path).is_some_and(|n| !matches!(n.kind, Kind::Dir)) || tree.has_children(path) {
            bail!(
                "{path} is a tmpfs in the VM and would hide what the image puts there (from {})",
                tree.get(path)
                    .map_or(String::new(), |n| n.origin.to_string())
            );
        }
    }
    // The kernel's own file systems hide whatever the image puts there.
    for (fs, path) in KERNEL_FS {
        let hidden = match tree.get(path) {
            Some(n) if !matches!(n.kind, Kind::Dir) => Some((path, n)),
            _ => tree.first_below(path).map(|(p, n)| (p.as_str(), n)),
        };
        if let Some((p, n)) = hidden {
            bail!(
                "{p}: {path} is the kernel's {fs} in the VM and would hide this {} (from {})",
                kind_name(&n.kind),
                n.origin
            );
        }
    }
    for m in &mounts {
        if let Some(n) = tree.get(&m.path) {
            if !matches!(n.kind, Kind::Dir) {
                bail!(
                    "tmpfs mount point {} is not a directory in the image (from {})",
                    m.path,
                    n.origin
                );
            }
            if tree.has_children(&m.path) {
                bail!(
                    "tmpfs mount at {} would hide the image's files there (from {})",
                    m.path,
                    n.origin
                );
            }
        }
    }
    for (path, mode) in BUILTIN_TMPFS
        .into_iter()
        .chain(mounts.iter().map(|m| (m.path.as_str(), 0o755)))
    {
        if tree.is_free(path) {
            tree.insert(
                path,
                Node {
                    kind: Kind::Dir,
                    mode,
                    mtime: 0,
                    origin: "a tmpfs mount point".into(),
                    implicit: false,
                },
            )?;
        }
    }

    let net = net_config(&config).map_err(in_cfg)?;
    crate::etc::add_generated(&mut tree, &net)?;
    if packed.glibc {
        crate::etc::add_nsswitch(&mut tree)?;
    }
    let under_tmpfs = BUILTIN_TMPFS
        .map(|(p, _)| p)
        .into_iter()
        .chain(mounts.iter().map(|m| m.path.as_str()))
        .any(|m| cwd == m || cwd.starts_with(&format!("{m}/")));
    match tree.get(&cwd) {
        Some(n) if matches!(n.kind, Kind::Dir) => {}
        _ if under_tmpfs => {}
        Some(n) => bail!(
            "working directory {cwd} is a {} in the image, not a directory",
            kind_name(&n.kind)
        ),
        None => bail!("working directory {cwd} is not in the image"),
    }

    // argv[0] is the path the program was given by (redis-server picks
    // its mode from it, even where it is a symlink to redis-check-rdb).
    let run_as = match &placed {
        Some(p) => p.path.clone(),
        None => format!("/{}", program.name),
    };
    let argv0 = match (&config.argv0, &placed) {
        (Some(a), _) if cli_args.is_empty() => a.clone(),
        (_, Some(p)) => p.path.clone(),
        (_, None) => program.name.clone(),
    };
    let manifest = Manifest {
        program: run_as,
        args: std::iter::once(argv0).chain(args).collect(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd,
        tmpfs: mounts,
        net,
        exit: config.exit.clone(),
    };
    let run = run_settings(&config).map_err(in_cfg)?;
    for note in &packed.notes {
        crate::note!("{note}");
    }
    Ok(Spec {
        program,
        manifest,
        tree,
        run,
        notes: packed.notes,
    })
}

/// `--ip-address`, `--ipv6-address`, `--gateway`, `--netmask`: checked,
/// then in place of the config's RunConfig values.
fn apply_network_flags(config: &mut Config, b: &BuildArgs) -> Result<()> {
    let r = &mut config.run_config;
    if let Some(ip) = &b.ip_address {
        config::parse_ipv4("--ip-address", ip)?;
        r.ip_address = Some(ip.clone());
    }
    if let Some(v6) = &b.ipv6_address {
        config::parse_ipv6("--ipv6-address", v6)?;
        r.ipv6_address = Some(v6.clone());
    }
    if let Some(gw) = &b.gateway {
        config::parse_ipv4("--gateway", gw)?;
        r.gateway = Some(gw.clone());
    }
    if let Some(m) = &b.netmask {
        config::mask_prefix("--netmask", m)?;
        if r.ip_address.is_none() {
            bail!("--netmask needs --ip-address (or RunConfig.IPAddress)");
        }
        r.net_mask = Some(m.clone());
    }
    Ok(())
}

/// The host path of a Files, Dirs or MapDirs entry: relative paths from
/// `base`; absolute ones from the root when there is one (symlinks on the
/// way resolved inside it), else from the host.
fn config_source(root: Option<&HostRoot>, base: &Path, p: &str) -> PathBuf {
    match root {
        Some(r) if p.starts_with('/') => {
            let path = crate::root::normalize(p, "/");
            // A MapDirs pattern: resolve its directory, keep the pattern.
            let last = crate::root::basename(&path);
            let (dir, rest) = if last.contains(['*', '?']) {
                (crate::root::dirname(&path), Some(last))
            } else {
                (path.as_str(), None)
            };
            let real = match crate::root::resolve(r, dir, rest.is_some()) {
                Ok(found) => found.real,
                Err(_) => dir.to_string(),
            };
            match rest {
                Some(pattern) => r.host_path(&crate::root::join(&real, pattern)),
                None => r.host_path(&real),
            }
        }
        _ => config::host_path(base, p),
    }
}

/// ops' argument copy: when the first argument names a file in `dir` (a
/// relative path, e.g. `hi.js` for node), the file goes into the image at
/// `/` plus that path, unless something is there already. Directories are
/// not copied (ops would copy `.` whole). Returns the note to print.
fn copy_first_arg(tree: &mut Tree, dir: &Path, args: &[String]) -> Result<Option<String>> {
    let Some(first) = args.first() else {
        return Ok(None);
    };
    let rel = Path::new(first);
    let plain = !first.is_empty()
        && rel.is_relative()
        && rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    let host = dir.join(rel);
    if !plain || !host.is_file() {
        return Ok(None);
    }
    let Ok(image) = image_path(&format!("/{first}")) else {
        return Ok(None);
    };
    if !tree.is_free(&image) || tree.get(&image).is_some() {
        return Ok(None);
    }
    tree.add_host(&host, &image, "the first argument")?;
    Ok(Some(format!(
        "{image}: copied from {} because the first argument names it (as ops; \
         DisableArgsCopy turns this off)",
        host.display()
    )))
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Dir => "directory",
        Kind::File { .. } => "file",
        Kind::Symlink(_) => "symlink",
    }
}

/// tmpfs mounts from Mounts and --mount (which overrides a config entry
/// for the same path).
fn mounts(config: &Config, b: &BuildArgs, cfg_name: &str) -> Result<Vec<TmpfsMount>> {
    let mut by_path: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |what: &str, path: &str, size: &str| -> Result<()> {
        if !path.starts_with('/') {
            if size.starts_with('/') {
                bail!("{what}: kiln mounts only tmpfs, as {{\"/mount/point\": \"SIZE\"}}; {path:?} -> {size:?} looks like an ops volume");
            }
            bail!("{what}: mount point {path:?} must be an absolute path");
        }
        let path = image_path(path)?;
        if path == "/"
            || ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        {
            bail!("{what}: cannot mount a tmpfs at {path}");
        }
        let size = if size.trim().is_empty() {
            0
        } else {
            config::parse_size(size).ok_or_else(|| {
                anyhow!("{what}: size {size:?} of {path}: use a number with K, M or G, e.g. 64M")
            })?
        };
        by_path.insert(path, size);
        Ok(())
    };
    for (path, size) in &config.mounts {
        add(&format!("{cfg_name}: Mounts"), path, size)?;
    }
    for m in &b.mounts {
        let (path, size) = m.split_once(':').unwrap_or((m, ""));
        add(&format!("--mount {m}"), path, size)?;
    }
    Ok(by_path
        .into_iter()
        .map(|(path, size)| TmpfsMount { path, size })
        .collect())
}

/// Manifest network records from RunConfig and NameServers.
fn net_config(config: &Config) -> Result<NetConfig> {
    let r = &config.run_config;
    let mut net = NetConfig::default();
    match (&r.ip_address, &r.net_mask) {
        (Some(ip), mask) => {
            let addr = config::parse_ipv4("RunConfig.IPAddress", ip)?;
            let prefix = match mask {
                Some(m) => config::mask_prefix("RunConfig.NetMask", m)?,
                None => 24,
            };
            net.ipv4 = Some((addr.octets(), prefix));
        }
        (None, Some(_)) => bail!("RunConfig.NetMask needs RunConfig.IPAddress"),
        (None, None) => {}
    }
    if let Some(gw) = &r.gateway {
        net.gateway = Some(config::parse_ipv4("RunConfig.Gateway", gw)?.octets());
    }
    if let Some(v6) = &r.ipv6_address {
        let (addr, prefix) = config::parse_ipv6("RunConfig.IPv6Address", v6)?;
        net.ipv6 = Some((addr.octets(), prefix));
    }
    for (field, list) in [
        ("NameServers", &config.name_servers),
        ("RunConfig.NameServers", &r.name_servers),
    ] {
        for ns in list {
            let ip: IpAddr = ns
                .trim()
                .parse()
                .map_err(|_| anyhow!("{field}: {ns:?} is not an IP address"))?;
            let bytes = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            if !net.nameservers.contains(&bytes) {
                net.nameservers.push(bytes);
            }
        }
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elfcheck::tests::elf;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let prog = d.path().join("prog");
        let mut bytes = elf(2, 62, goblin::elf::header::ET_EXEC, &[1]);
        bytes.extend([0u8; 100]);
        std::fs::write(&prog, bytes).unwrap();
        std::fs::create_dir_all(d.path().join("data/sub")).unwrap();
        std::fs::write(d.path().join("data/a.txt"), "a").unwrap();
        std::fs::write(d.path().join("data/sub/b.txt"), "bb").unwrap();
        std::fs::write(d.path().join("hosts"), "10.1.1.1 db\n").unwrap();
        (d, prog)
    }

    fn config(d: &Path, json: &str) -> BuildArgs {
        let p = d.join("config.json");
        std::fs::write(&p, json).unwrap();
        BuildArgs {
            config: Some(p),
            ..Default::default()
        }
    }

    #[test]
    fn config_and_command_line_merge() {
        let (d, _) = setup();
        let mut b = config(
            d.path(),
            r#"{"Program": "prog", "Args": ["x"], "Env": {"A": "1", "HOME": "/srv"},
                "MapDirs": {"data/*": "/srv"}, "Files": ["hosts"], "Cwd": "/srv",
                "Mounts": {"/var/cache": "1M"},
                "RunConfig": {"Memory": "512M", "Ports": ["8080"], "IPAddress": "10.0.2.15",
                              "Gateway": "10.0.2.2", "NameServers": ["1.1.1.1"]}}"#,
        );
        b.env.push("B=2".into());
        b.mounts.push("/scratch".into());
        b.files
            .push(format!("{}:/etc/hosts", d.path().join("hosts").display()));
        let s = resolve(None, &[], &b).unwrap();
        let m = &s.manifest;
        assert_eq!(m.program, "/prog");
        assert_eq!(m.args, ["prog", "x"]);
        assert_eq!(
            m.env,
            [
                "PATH=/bin:/usr/bin",
                "HOME=/srv",
                "TERM=xterm",
                "A=1",
                "B=2"
            ]
        );
        assert_eq!(m.cwd, "/srv");
        assert_eq!(
            m.tmpfs,
            [
                TmpfsMount {
                    path: "/scratch".into(),
                    size: 0
                },
                TmpfsMount {
                    path: "/var/cache".into(),
                    size: 1 << 20
                }
            ]
        );
        assert_eq!(m.net.ipv4, Some(([10, 0, 2, 15], 24)));
        assert_eq!(m.net.gateway, Some([10, 0, 2, 2]));
        assert_eq!(m.net.nameservers, [vec![1, 1, 1, 1]]);
        assert_eq!(s.run.memory.as_deref(), Some("512M"));
        assert_eq!(
            s.run.ports,
            [PortForward {
                host: 8080,
                guest: 8080
            }]
        );
        for p in [
            "/srv/a.txt",
            "/srv/sub/b.txt",
            "/hosts",
            "/etc/hosts",
            "/etc/passwd",
            "/tmp",
            "/var/cache",
        ] {
            assert!(s.tree.get(p).is_some(), "{p}");
        }
        // The user's /etc/hosts (from --file) won over the generated one.
        assert!(matches!(
            s.tree.get("/etc/hosts").unwrap().kind,
            Kind::File { size: 12, .. }
        ));
        // Command-line args replace the config's.
        let s = resolve(None, &["y".into()], &b).unwrap();
        assert_eq!(s.manifest.args, ["prog", "y"]);
    }

    #[test]
    fn errors_are_single_clear_lines() {
        let (d, prog) = setup();
        let err = |json: &str, extra: &[&str]| {
            let mut b = config(d.path(), json);
            b.files.extend(extra.iter().map(|s| s.to_string()));
            format!(
                "{:#}",
                resolve(Some(&prog), &[], &b).err().expect("an error")
            )
        };
        let e = err(r#"{"Files": ["missing.txt"]}"#, &[]);
        assert!(e.ends_with("missing.txt: no such file or directory"), "{e}");
        let e = err(
            r#"{"Files": ["hosts"]}"#,
            &[&format!("{}:/hosts", d.path().join("data/a.txt").display())],
        );
        assert!(e.starts_with("two sources for /hosts in the image"), "{e}");
        let e = err(r#"{"Files": ["prog"]}"#, &[]);
        assert!(
            e.starts_with("two sources for /prog in the image: file (from the program"),
            "{e}"
        );
        let e = err(r#"{"Cwd": "/nowhere"}"#, &[]);
        assert_eq!(e, "working directory /nowhere is not in the image");
        let e = err(r#"{"Mounts": {"data": "/mnt"}}"#, &[]);
        assert!(
            e.contains("is an ops volume: volumes are not supported yet"),
            "{e}"
        );
        let e = err(r#"{"Mounts": {"/srv": "lots"}}"#, &[]);
        assert!(e.contains("size \"lots\""), "{e}");
        let e = err(
            r#"{"MapDirs": {"data/*": "/m"}, "Mounts": {"/m": ""}}"#,
            &[],
        );
        assert!(e.starts_with("tmpfs mount at /m would hide"), "{e}");
        let e = err(r#"{"MapDirs": {"data/*": "/proc"}}"#, &[]);
        assert!(
            e.starts_with(
                "/proc/a.txt: /proc is the kernel's proc in the VM and would hide this file (from "
            ),
            "{e}"
        );
        let e = err(
            r#"{"Dirs": ["data"]}"#,
            &[&format!("{}:/dev/x", d.path().join("data/a.txt").display())],
        );
        assert!(e.starts_with("/dev/x: /dev is the kernel's devfs"), "{e}");
        let e = err(r#"{"MapDirs": {"data/*": "/run"}}"#, &[]);
        assert!(
            e.starts_with("/run is a tmpfs in the VM and would hide"),
            "{e}"
        );
        let e = err(r#"{"RunConfig": {"IPAddress": "10.0.2"}}"#, &[]);
        assert!(
            e.ends_with("RunConfig.IPAddress: \"10.0.2\" is not an IPv4 address"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            resolve(None, &[], &BuildArgs::default()).err().unwrap()
        );
        assert!(e.starts_with("no program"), "{e}");
    }

    #[test]
    fn target_root_holds_the_configs_absolute_files() {
        let (d, prog) = setup();
        let r = d.path().join("rootfs");
        for dir in ["bin", "etc", "srv/www"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::copy(&prog, r.join("bin/prog")).unwrap();
        std::fs::write(r.join("etc/app.conf"), "from the root").unwrap();
        std::fs::write(r.join("srv/www/index.html"), "<h1>").unwrap();
        // An absolute symlink inside the root points into the root.
        std::os::unix::fs::symlink("/srv/www", r.join("www-link")).unwrap();
        std::fs::write(d.path().join("local.txt"), "host").unwrap();
        let b = config(
            d.path(),
            r#"{"TargetRoot": "rootfs", "Program": "/bin/prog",
                "Files": ["/etc/app.conf", "local.txt"],
                "MapDirs": {"/www-link/*": "/www"}}"#,
        );
        let s = resolve(None, &[], &b).unwrap();
        assert!(matches!(
            s.tree.get("/etc/app.conf").unwrap().kind,
            Kind::File { size: 13, .. }
        ));
        assert!(matches!(
            s.tree.get("/local.txt").unwrap().kind,
            Kind::File { size: 4, .. }
        ));
        assert!(s.tree.get("/www/index.html").is_some());
        assert_eq!(s.manifest.program, "/bin/prog");
    }

    #[test]
    fn ops_fields_reach_the_manifest() {
        let (d, prog) = setup();
        std::fs::write(d.path().join("hi.js"), "console.log(1)").unwrap();
        let b = config(
            d.path(),
            r#"{"RebootOnExit": true, "Args": ["hi.js"],
                "RunConfig": {"IPv6Address": "fd00::5/48", "Bridged": true, "GdbPort": 4000},
                "ManifestPassthrough": {"expected_exit_code": "3"}}"#,
        );
        let s = resolve(Some(&prog), &[], &b).unwrap();
        let m = &s.manifest;
        assert_eq!(m.exit.reboot, Some(kiln_image::ExitMatch::NonZero));
        assert_eq!(m.exit.expected, Some(kiln_image::ExitMatch::Codes(vec![3])));
        let v6: std::net::Ipv6Addr = "fd00::5".parse().unwrap();
        assert_eq!(m.net.ipv6, Some((v6.octets(), 48)));
        assert_eq!(s.run.tap.as_deref(), Some("tap0"));
        assert_eq!(s.run.gdb_port, Some(4000));
        // ops' argument copy: hi.js names a file next to the config.
        assert!(s.tree.get("/hi.js").is_some());
        assert!(s.notes.iter().any(|n| n.starts_with("/hi.js: copied from")));
        // -a arguments come first and replace Args; flags replace RunConfig.
        let mut b2 = b.clone();
        b2.arg = vec!["x".into()];
        b2.disable_args_copy = true;
        b2.ipv6_address = Some("fd00::9".into());
        let s = resolve(Some(&prog), &["y".into()], &b2).unwrap();
        assert_eq!(s.manifest.args, ["prog", "x", "y"]);
        assert!(s.tree.get("/hi.js").is_none());
        let v6: std::net::Ipv6Addr = "fd00::9".parse().unwrap();
        assert_eq!(s.manifest.net.ipv6, Some((v6.octets(), 64)));
        // Passthrough's arguments give argv[0] too.
        let b = config(
            d.path(),
            r#"{"ManifestPassthrough": {"arguments": ["server", "-v"]}}"#,
        );
        let s = resolve(Some(&prog), &[], &b).unwrap();
        assert_eq!(s.manifest.args, ["server", "-v"]);
        let b3 = BuildArgs {
            netmask: Some("255.0.0.0".into()),
            ..Default::default()
        };
        let e = resolve(Some(&prog), &[], &b3).err().unwrap();
        assert!(format!("{e:#}").contains("--netmask needs --ip-address"));
    }

    #[test]
    fn cwd_may_be_a_tmpfs() {
        let (_d, prog) = setup();
        let b = BuildArgs {
            cwd: Some("/tmp/work".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(Some(&prog), &[], &b).unwrap().manifest.cwd,
            "/tmp/work"
        );
    }

    #[test]
    fn mappings() {
        assert_eq!(split_mapping("a/b:/c"), ("a/b", Some("/c")));
        assert_eq!(split_mapping("a/b"), ("a/b", None));
        assert_eq!(split_mapping("a:b"), ("a:b", None));
    }
}
