//! Parsing of the values inside config fields (and of the same values on
//! the command line): ports, sizes, addresses, exit-status rules.

use anyhow::{anyhow, bail, Result};
use kiln_image::ExitMatch;
use serde_json::Value;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

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

/// A static IPv6 address, with an optional `/PREFIX` (default 64, as
/// Nanos uses for `ip6addr`).
pub fn parse_ipv6(field: &str, s: &str) -> Result<(Ipv6Addr, u8)> {
    let bad = || anyhow!("{field}: {s:?} is not an IPv6 address (e.g. 2001:db8::10 or fd00::5/64)");
    let (addr, prefix) = match s.trim().split_once('/') {
        Some((a, p)) => (
            a,
            p.parse::<u8>().ok().filter(|&p| p <= 128).ok_or_else(bad)?,
        ),
        None => (s.trim(), 64),
    };
    let ip: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
        bail!("{field}: {s:?} cannot be the VM's address");
    }
    Ok((ip, prefix))
}

/// Nanos' exit-status rule values (`reboot_on_exit`, `expected_exit_code`):
/// `true` or `"t"` (for a restart: any status but 0), `"*"` (any), `"N"`,
/// `"!N"`, or a list of statuses. `false`/`"f"` is no rule. `on_t` is what
/// `t` means for this rule (`None`: nothing, as Nanos' expected_exit_code).
pub fn parse_exit_match(v: &Value, on_t: Option<ExitMatch>) -> Result<Option<ExitMatch>, String> {
    let code = |s: &str| {
        s.trim()
            .parse::<u8>()
            .map_err(|_| format!("{s:?} is not an exit status (0 to 255)"))
    };
    match v {
        Value::Bool(true) => Ok(on_t),
        Value::Bool(false) => Ok(None),
        Value::Number(n) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(n) => Ok(Some(ExitMatch::Codes(vec![n]))),
            None => Err(format!("{n} is not an exit status (0 to 255)")),
        },
        Value::String(s) => match s.trim() {
            "t" | "true" => Ok(on_t),
            "f" | "false" | "" => Ok(None),
            "*" => Ok(Some(ExitMatch::Any)),
            s => match s.strip_prefix('!') {
                Some(n) => Ok(Some(ExitMatch::Not(code(n)?))),
                None => Ok(Some(ExitMatch::Codes(vec![code(s)?]))),
            },
        },
        Value::Array(items) => {
            let mut codes = Vec::new();
            for item in items {
                match parse_exit_match(item, None)? {
                    Some(ExitMatch::Codes(c)) => codes.extend(c),
                    _ => return Err("a list holds exit statuses only (e.g. [1, 2])".into()),
                }
            }
            Ok(Some(ExitMatch::Codes(codes)))
        }
        _ => Err("use true, \"*\", \"N\", \"!N\" or a list of statuses".into()),
    }
}

/// Linux interface names: 1 to 15 bytes, no '/', ',', ':' or white space.
pub fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn ipv6_addresses() {
        let a: Ipv6Addr = "2001:db8::10".parse().unwrap();
        assert_eq!(parse_ipv6("f", "2001:db8::10").unwrap(), (a, 64));
        assert_eq!(parse_ipv6("f", "2001:db8::10/48").unwrap(), (a, 48));
        assert!(parse_ipv6("f", "2001:db8::10/129").is_err());
        assert!(parse_ipv6("f", "10.0.2.15").is_err());
        assert!(parse_ipv6("f", "::1").is_err());
    }

    #[test]
    fn exit_rules() {
        let t = Some(ExitMatch::NonZero);
        assert_eq!(parse_exit_match(&json!(true), t.clone()), Ok(t.clone()));
        assert_eq!(parse_exit_match(&json!("t"), t.clone()), Ok(t.clone()));
        assert_eq!(parse_exit_match(&json!("t"), None), Ok(None));
        assert_eq!(
            parse_exit_match(&json!("*"), None),
            Ok(Some(ExitMatch::Any))
        );
        assert_eq!(
            parse_exit_match(&json!("!3"), None),
            Ok(Some(ExitMatch::Not(3)))
        );
        assert_eq!(
            parse_exit_match(&json!([1, "2"]), None),
            Ok(Some(ExitMatch::Codes(vec![1, 2])))
        );
        assert!(parse_exit_match(&json!("300"), None).is_err());
        assert!(parse_exit_match(&json!({}), None).is_err());
    }
}
