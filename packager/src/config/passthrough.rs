//! ManifestPassthrough: ops copies these keys into Nanos' manifest as they
//! are. The keys Kiln has a meaning for are mapped onto the config; the
//! others are noted. Values win over the config's fields, as ops applies
//! them last.

use super::decode::Decoder;
use super::positions::Seg;
use super::{values, Config};
use kiln_image::ExitMatch;
use serde_json::Value;

fn child(path: &[Seg], key: &str) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Key(key.to_string()));
    p
}

/// Apply the passthrough object `v` (at `path`) to `c`.
pub(super) fn apply(d: &mut Decoder, c: &mut Config, path: &[Seg], v: &Value) {
    let Value::Object(map) = v else { return };
    let mut ignored = Vec::new();
    for (key, val) in map {
        let at = child(path, key);
        let shown = format!("ManifestPassthrough.{key}");
        let text = |d: &mut Decoder| match val {
            Value::String(s) => Some(s.clone()),
            _ => {
                d.problem(&at, format!("{shown}: expected a string"));
                None
            }
        };
        match key.as_str() {
            "cwd" => c.cwd = text(d).or(c.cwd.take()),
            "environment" => {
                match val {
                    Value::Object(env) => {
                        for (k, v) in env {
                            match v.as_str() {
                            Some(s) if !k.is_empty() && !k.contains('=') => {
                                c.env.insert(k.clone(), s.to_string());
                            }
                            _ => d.problem(
                                &child(&at, k),
                                format!("{shown}: {k:?} needs a string value and a name without '='"),
                            ),
                        }
                        }
                    }
                    _ => d.problem(&at, format!("{shown}: expected an object of strings")),
                }
            }
            // Nanos' argv, argv[0] included.
            "arguments" => match val.as_array().map(|a| {
                a.iter()
                    .map(|s| s.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
            }) {
                Some(Some(argv)) if !argv.is_empty() => {
                    c.argv0 = Some(argv[0].clone());
                    c.args = Some(argv[1..].to_vec());
                }
                Some(Some(_)) => {}
                _ => d.problem(&at, format!("{shown}: expected a list of strings")),
            },
            "reboot_on_exit" | "expected_exit_code" => {
                let reboot = key == "reboot_on_exit";
                let on_t = reboot.then_some(ExitMatch::NonZero);
                match values::parse_exit_match(val, on_t) {
                    Ok(m) if reboot => c.exit.reboot = m,
                    Ok(m) => c.exit.expected = m,
                    Err(e) => d.problem(&at, format!("{shown}: {e}")),
                }
            }
            "missing_files" => {
                c.missing_files =
                    !matches!(val, Value::Bool(false) | Value::Null) && val.as_str() != Some("f")
            }
            "ipaddr" | "netmask" | "gateway" | "ip6addr" => {
                let Some(s) = text(d) else { continue };
                let r = &mut c.run_config;
                let check = match key.as_str() {
                    "ipaddr" => values::parse_ipv4(&shown, &s).map(|_| r.ip_address = Some(s)),
                    "netmask" => values::mask_prefix(&shown, &s).map(|_| r.net_mask = Some(s)),
                    "gateway" => values::parse_ipv4(&shown, &s).map(|_| r.gateway = Some(s)),
                    _ => values::parse_ipv6(&shown, &s).map(|_| r.ipv6_address = Some(s)),
                };
                if let Err(e) = check {
                    d.problem(&at, format!("{e:#}"));
                }
            }
            "mounts" => d.problem(
                &at,
                format!(
                    "{shown}: volumes are not supported yet (copy files in with Dirs or MapDirs)"
                ),
            ),
            "firewall" => d.problem(
                &at,
                format!(
                    "{shown}: Kiln has no firewall, and ignoring one would expose what it \
                     closes; filter on the host instead"
                ),
            ),
            _ => ignored.push(key.as_str()),
        }
    }
    if !ignored.is_empty() {
        d.note(format!(
            "ManifestPassthrough {} ignored (no meaning in Kiln): {}",
            if ignored.len() == 1 {
                "key is"
            } else {
                "keys are"
            },
            ignored.join(", ")
        ));
    }
}
