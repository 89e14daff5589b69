//! From JSON text to [`Config`]: serde_json parses, [`Positions`] says
//! where things are, and the field tables say what each name means. Every
//! problem is collected with its position; the caller gets all of them.

use super::fields::{self, Field, Ty, Use, CONFIG, RUN_CONFIG};
use super::positions::{Pos, Positions, Seg};
use super::{hint, passthrough, values, Config, DEFAULT_GDB_PORT, DEFAULT_TAP};
use anyhow::{anyhow, Result};
use kiln_image::ExitMatch;
use serde_json::Value;
use std::collections::BTreeMap;

/// The decoding state: where things are, what went wrong, what to note.
pub(super) struct Decoder<'a> {
    name: &'a str,
    pos: Positions,
    problems: Vec<(Pos, String)>,
    pub notes: Vec<String>,
}

/// A present, well-typed field of an object.
pub(super) struct Got<'v> {
    pub field: &'static Field,
    pub path: Vec<Seg>,
    /// `RunConfig.CPUs`: the canonical name, for messages.
    pub dotted: String,
    pub value: &'v Value,
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `a string ("x")`, `a number (2)`, ... for type errors.
fn describe(v: &Value) -> String {
    let short = |s: String| {
        if s.chars().count() > 30 {
            format!("{}...", s.chars().take(27).collect::<String>())
        } else {
            s
        }
    };
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", short(format!("{s:?}"))),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn expected(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "a string",
        Ty::Bool => "true or false",
        Ty::Int => "a whole number",
        Ty::Strs => "a list of strings",
        Ty::StrMap => "an object of strings",
        Ty::AnyMap | Ty::Struct(_) => "an object",
        Ty::StructList(_) => "a list of objects",
    }
}

/// Is `v` the zero value Go would leave a field at (so asking nothing)?
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

impl<'a> Decoder<'a> {
    /// A problem with the value at `path`.
    pub fn problem(&mut self, path: &[Seg], msg: String) {
        let at = self.pos.value(path);
        self.problems.push((at, msg));
    }

    pub fn note(&mut self, msg: String) {
        if !self.notes.contains(&msg) {
            self.notes.push(msg);
        }
    }

    /// Check `v` against `ty` (recursing into objects, whose unknown keys
    /// are problems); true when it fits.
    /// Objects decoded by code (`recurse` false) are checked there.
    fn check(&mut self, path: &[Seg], dotted: &str, v: &Value, ty: Ty, recurse: bool) -> bool {
        let ok = match (ty, v) {
            (Ty::Str, Value::String(_)) | (Ty::Bool, Value::Bool(_)) => true,
            (Ty::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Ty::Strs, Value::Array(items)) => {
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() && !item.is_null() {
                        self.problem(
                            &child(path, Seg::Index(i)),
                            format!("{dotted}[{i}]: expected a string, found {}", describe(item)),
                        );
                        ok = false;
                    }
                }
                return ok;
            }
            (Ty::StrMap, Value::Object(map)) => {
                let mut ok = true;
                for (k, item) in map {
                    if !item.is_string() && !item.is_null() {
                        self.problem(
                            &child(path, Seg::Key(k.clone())),
                            format!(
                                "{dotted}[{k:?}]: expected a string, found {}",
                                describe(item)
                            ),
                        );
                        ok = false;
                    }
                }
                return ok;
            }
            (Ty::AnyMap, Value::Object(_)) => true,
            // An object's own problems (unknown keys, bad values) are
            // reported inside; its other fields still count.
            (Ty::Struct(table), Value::Object(_)) => {
                if recurse {
                    self.fields(path, dotted, v, table);
                }
                true
            }
            (Ty::StructList(table), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let p = child(path, Seg::Index(i));
                    let d = format!("{dotted}[{i}]");
                    if item.is_object() {
                        self.fields(&p, &d, item, table);
                    } else if !item.is_null() {
                        self.problem(
                            &p,
                            format!("{d}: expected an object, found {}", describe(item)),
                        );
                    }
                }
                true
            }
            _ => false,
        };
        if !ok {
            self.problem(
                path,
                format!("{dotted}: expected {}, found {}", expected(ty), describe(v)),
            );
        }
        ok
    }

    /// The fields of the object `v` at `path`, checked against `table`:
    /// unknown names are problems (with a hint when one is close), names
    /// match case-insensitively, `null` is absent, and of two keys for one
    /// field the later wins (as in ops) with a note.
    pub fn fields<'v>(
        &mut self,
        path: &[Seg],
        prefix: &str,
        v: &'v Value,
        table: &'static [Field],
    ) -> Vec<Got<'v>> {
        let Value::Object(map) = v else {
            return Vec::new();
        };
        let mut out: Vec<Got<'v>> = Vec::new();
        let keys: Vec<(String, Pos)> = self.pos.keys(path).to_vec();
        for (key, at) in keys {
            let Some(value) = map.get(&key) else { continue };
            let Some(field) = fields::lookup(table, &key) else {
                self.unknown(at, prefix, &key, table);
                continue;
            };
            let dotted = join(prefix, field.name);
            if let Some(i) = out.iter().position(|g| std::ptr::eq(g.field, field)) {
                self.note(format!(
                    "{dotted} is given twice; the later one is used (as ops does)"
                ));
                out.remove(i);
            }
            if value.is_null() {
                continue;
            }
            let p = child(path, Seg::Key(key.clone()));
            if self.check(&p, &dotted, value, field.ty, field.use_ != Use::Kiln) {
                out.push(Got {
                    field,
                    path: p,
                    dotted,
                    value,
                });
            }
        }
        out
    }

    /// An unknown key: a problem at the key, with a hint when a known name
    /// is a typo away, or when the name belongs to another block.
    fn unknown(&mut self, at: Pos, prefix: &str, key: &str, table: &'static [Field]) {
        let names: Vec<&str> = table.iter().map(|f| f.name).collect();
        let dotted = join(prefix, key);
        let hint = match hint::suggest(key, &names) {
            Some(s) => format!(" (did you mean \"{s}\"?)"),
            None if prefix.is_empty() && fields::lookup(RUN_CONFIG, key).is_some() => {
                let f = fields::lookup(RUN_CONFIG, key).map_or(key, |f| f.name);
                format!(" (it belongs in RunConfig: \"RunConfig\": {{\"{f}\": ...}})")
            }
            None => String::new(),
        };
        self.problems
            .push((at, format!("unknown field \"{dotted}\"{hint}")));
    }

    /// The note for an ignored field, unless it is at its zero value.
    fn ignored(&mut self, got: &Got, why: &str) {
        if !is_zero(got.value) {
            self.note(format!("{} is ignored ({why})", got.dotted));
        }
    }
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Decode `text` (the file `name`) into a [`Config`], or every problem.
pub(super) fn decode(text: &str, name: &str) -> Result<Config> {
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Err(syntax_error(name, e)),
    };
    let mut d = Decoder {
        name,
        pos: Positions::index(text),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    if !root.is_object() {
        return Err(anyhow!(
            "{name}:1:1: expected an object ({{...}}), found {}",
            describe(&root)
        ));
    }
    let mut c = Config::default();
    let mut pass = None;
    for got in d.fields(&[], "", &root, CONFIG) {
        if let Use::Note(why) = got.field.use_ {
            d.ignored(&got, why);
            continue;
        }
        let v = got.value;
        match got.field.name {
            "Program" => c.program = Some(string(v)),
            "Args" => c.args = Some(strings(v)),
            "Env" => {
                for (k, val) in string_map(v) {
                    if k.is_empty() || k.contains('=') {
                        d.problem(&got.path, format!("Env: bad variable name {k:?}"));
                    }
                    c.env.insert(k, val);
                }
            }
            "Files" => c.files = strings(v),
            "Dirs" => c.dirs = strings(v),
            "MapDirs" => c.map_dirs = string_map(v),
            "Mounts" => c.mounts = mounts(&mut d, &got),
            "Cwd" => c.cwd = Some(string(v)),
            "NameServers" => c.name_servers = addresses(&mut d, &got),
            "LocalFilesParentDirectory" => c.local_files_parent_directory = Some(string(v)),
            "TargetRoot" => c.target_root = Some(string(v)),
            "DisableArgsCopy" => c.disable_args_copy = v.as_bool() == Some(true),
            "RebootOnExit" => {
                if v.as_bool() == Some(true) {
                    c.exit.reboot = Some(ExitMatch::NonZero);
                }
            }
            "Debugflags" => debug_flags(&mut d, &mut c, v),
            "Klibs" => {
                let klibs = strings(v);
                if !klibs.is_empty() {
                    d.note(format!(
                        "Klibs is ignored (Kiln has no klibs; the kernel has its own network, \
                         clock and DNS set-up): {}",
                        klibs.join(", ")
                    ));
                }
            }
            "CloudConfig" => {
                d.fields(&got.path, "CloudConfig", v, fields::CLOUD_CONFIG);
                let set: Vec<&str> = fields::CLOUD_CONFIG
                    .iter()
                    .filter(|f| {
                        v.as_object()
                            .into_iter()
                            .flatten()
                            .any(|(k, val)| k.eq_ignore_ascii_case(f.name) && !is_zero(val))
                    })
                    .map(|f| f.name)
                    .collect();
                if !set.is_empty() {
                    d.note(format!(
                        "CloudConfig ({}) is ignored (cloud deployment settings: kiln runs \
                         images locally under QEMU)",
                        set.join(", ")
                    ));
                }
            }
            "ManifestPassthrough" => pass = Some(got.path.clone()),
            "RunConfig" => run_config(&mut d, &mut c, &got),
            other => unreachable!("config field {other} has no decoder"),
        }
    }
    // ManifestPassthrough comes last, as ops applies it after the rest.
    if let Some(path) = pass {
        let v = path
            .iter()
            .try_fold(&root, |v, s| match s {
                Seg::Key(k) => v.get(k),
                Seg::Index(i) => v.get(i),
            })
            .cloned()
            .unwrap_or(Value::Null);
        passthrough::apply(&mut d, &mut c, &path, &v);
    }
    let r = &c.run_config;
    if r.net_mask.is_some() && r.ip_address.is_none() {
        let at = find(&d, &root, &["RunConfig", "NetMask"]);
        d.problem(&at, "RunConfig.NetMask needs RunConfig.IPAddress".into());
    }
    if d.problems.is_empty() {
        c.notes = d.notes;
        return Ok(c);
    }
    d.problems.sort_by_key(|(p, _)| (p.line, p.col));
    let lines: Vec<String> = d
        .problems
        .iter()
        .map(|(p, m)| format!("{}:{}:{}: {m}", d.name, p.line, p.col))
        .collect();
    // One problem per line, each as its own `kiln: error:` line.
    Err(anyhow!(lines.join("\nkiln: error: ")))
}

/// The path of a field given by canonical names (case-insensitively).
fn find(d: &Decoder, root: &Value, names: &[&str]) -> Vec<Seg> {
    let mut path = Vec::new();
    let mut v = root;
    for name in names {
        let key = d
            .pos
            .keys(&path)
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(k, _)| k.clone());
        let Some(key) = key else { break };
        let Some(next) = v.get(&key) else { break };
        v = next;
        path.push(Seg::Key(key));
    }
    path
}

/// A syntax error: `NAME:LINE:COL: bad JSON: ...`.
fn syntax_error(name: &str, e: serde_json::Error) -> anyhow::Error {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
    anyhow!("{name}:{}:{}: bad JSON: {msg}", e.line(), e.column())
}

/// The IP addresses of a list field.
fn addresses(d: &mut Decoder, got: &Got) -> Vec<String> {
    let list = strings(got.value);
    for (i, s) in list.iter().enumerate() {
        if s.trim().parse::<std::net::IpAddr>().is_err() {
            d.problem(
                &child(&got.path, Seg::Index(i)),
                format!("{}[{i}]: {s:?} is not an IP address", got.dotted),
            );
        }
    }
    list
}

/// Mounts: Kiln's tmpfs form `{"/mount/point": "SIZE"}`. ops' volume form
/// (`{"name": "/path"}`) and host-directory form (`{"/host/dir": "/guest"}`)
/// need volumes, which Kiln does not have yet.
fn mounts(d: &mut Decoder, got: &Got) -> BTreeMap<String, String> {
    let map = string_map(got.value);
    for (k, size) in &map {
        let p = child(&got.path, Seg::Key(k.clone()));
        if size.trim_start().starts_with('/') {
            let what = if k.starts_with('/') {
                "a host directory shared with the VM"
            } else {
                "an ops volume"
            };
            d.problem(
                &p,
                format!(
                    "Mounts: {k:?} -> {size:?} is {what}: volumes are not supported yet \
                     (copy files in with Dirs or MapDirs; Kiln mounts only tmpfs, as \
                     {{\"/mount/point\": \"SIZE\"}})"
                ),
            );
        } else if !k.starts_with('/') {
            d.problem(
                &p,
                format!("Mounts: mount point {k:?} must be an absolute path"),
            );
        } else if !size.trim().is_empty() && values::parse_size(size).is_none() {
            d.problem(
                &p,
                format!("Mounts: size {size:?} of {k}: use a number with K, M or G, e.g. 64M"),
            );
        }
    }
    map
}

/// Debugflags: `reboot_on_exit` and `missing_files` mean what they mean
/// to Nanos; the others are noted.
fn debug_flags(d: &mut Decoder, c: &mut Config, v: &Value) {
    let mut other = Vec::new();
    for flag in strings(v) {
        match flag.as_str() {
            "reboot_on_exit" => c.exit.reboot = Some(ExitMatch::NonZero),
            "missing_files" => c.missing_files = true,
            _ => other.push(flag),
        }
    }
    if !other.is_empty() {
        d.note(format!(
            "Debugflags ({}) are ignored (Kiln has no such kernel flags; `kiln run --profile` \
             shows where time goes)",
            other.join(", ")
        ));
    }
}

fn run_config(d: &mut Decoder, c: &mut Config, got: &Got) {
    let r = &mut c.run_config;
    let mut bridged = false;
    let mut tap = None;
    let mut bridge = None;
    for f in d.fields(&got.path, "RunConfig", got.value, RUN_CONFIG) {
        if let Use::Note(why) = f.field.use_ {
            d.ignored(&f, why);
            continue;
        }
        let v = f.value;
        let bad = |d: &mut Decoder, e: anyhow::Error| d.problem(&f.path, format!("{e:#}"));
        match f.field.name {
            "Ports" | "UDPPorts" => {
                let list = strings(v);
                for (i, spec) in list.iter().enumerate() {
                    if let Err(e) = values::parse_ports(&f.dotted, std::slice::from_ref(spec)) {
                        d.problem(&child(&f.path, Seg::Index(i)), format!("{e:#}"));
                    }
                }
                if f.field.name == "Ports" {
                    r.ports = list;
                } else {
                    r.udp_ports = list;
                }
            }
            "Memory" => {
                let m = string(v);
                if let Err(e) = crate::qemu::check_memory(&m) {
                    bad(d, anyhow!("RunConfig.Memory: {e:#}"));
                }
                r.memory = Some(m);
            }
            "CPUs" => match v.as_i64() {
                Some(0) => {}
                Some(1) => r.cpus = Some(1),
                Some(n) if n > 1 => d.problem(
                    &f.path,
                    format!(
                        "RunConfig.CPUs: {n} CPUs asked, but Kiln runs one CPU (SMP is not \
                         supported yet); use 1"
                    ),
                ),
                _ => d.problem(&f.path, "RunConfig.CPUs: must be 1".into()),
            },
            "GPUs" => {
                if v.as_i64() != Some(0) {
                    d.problem(
                        &f.path,
                        "RunConfig.GPUs: Kiln has no GPU passthrough; use 0 or leave it out".into(),
                    );
                }
            }
            "Accel" => r.accel = v.as_bool(),
            "IPAddress" => {
                let s = string(v);
                if let Err(e) = values::parse_ipv4("RunConfig.IPAddress", &s) {
                    bad(d, e);
                }
                r.ip_address = Some(s);
            }
            "NetMask" => {
                let s = string(v);
                if let Err(e) = values::mask_prefix("RunConfig.NetMask", &s) {
                    bad(d, e);
                }
                r.net_mask = Some(s);
            }
            "Gateway" => {
                let s = string(v);
                if let Err(e) = values::parse_ipv4("RunConfig.Gateway", &s) {
                    bad(d, e);
                }
                r.gateway = Some(s);
            }
            "IPv6Address" => {
                let s = string(v);
                if let Err(e) = values::parse_ipv6("RunConfig.IPv6Address", &s) {
                    bad(d, e);
                }
                r.ipv6_address = Some(s);
            }
            "NameServers" => r.name_servers = addresses(d, &f),
            "Bridged" => bridged = v.as_bool() == Some(true),
            "TapName" => {
                let s = string(v);
                if !values::valid_ifname(&s) {
                    bad(
                        d,
                        anyhow!("RunConfig.TapName: {s:?} is not a network interface name"),
                    );
                }
                tap = Some(s);
            }
            "BridgeName" => bridge = Some(string(v)).filter(|s| !s.is_empty()),
            "GdbPort" => match v.as_i64() {
                Some(0) => {}
                Some(p) if (1..=65535).contains(&p) => r.gdb_port = Some(p as u16),
                _ => bad(d, anyhow!("RunConfig.GdbPort: use a port from 1 to 65535")),
            },
            "Debug" => r.debug = v.as_bool() == Some(true),
            "Verbose" => r.verbose = v.as_bool() == Some(true),
            "AtExit" => r.at_exit = Some(string(v)).filter(|s| !s.trim().is_empty()),
            "Mounts" => {
                if !strings(v).is_empty() {
                    d.problem(
                        &f.path,
                        "RunConfig.Mounts: volumes are not supported yet (copy files in with \
                         Dirs or MapDirs)"
                            .into(),
                    );
                }
            }
            other => unreachable!("RunConfig field {other} has no decoder"),
        }
    }
    if r.debug && r.gdb_port.is_none() {
        r.gdb_port = Some(DEFAULT_GDB_PORT);
    }
    match (bridged, tap) {
        (true, tap) => r.tap = Some(tap.unwrap_or_else(|| DEFAULT_TAP.to_string())),
        (false, Some(t)) => d.note(format!(
            "RunConfig.TapName {t:?} is ignored without RunConfig.Bridged (as in ops)"
        )),
        (false, None) => {}
    }
    if let Some(b) = bridge {
        d.note(format!(
            "RunConfig.BridgeName {b:?} is ignored (kiln does not create bridges: add the tap \
             device to {b} yourself)"
        ));
    }
}
