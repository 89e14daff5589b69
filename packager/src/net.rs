//! The VM's network for `kiln run`: the `-p`, `--udp` and `--net` options,
//! the check that forwarded host ports are free, QEMU's `-netdev`/`-device`
//! arguments, and QEMU's own forwarding failure turned into one message.

use crate::config::{valid_ifname, PortForward};
use crate::qemu::Machine;
use anyhow::{anyhow, bail, Result};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::Path;

/// Where forwarded host ports listen unless the option names an address.
pub const DEFAULT_BIND: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A host port forwarded to a port of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub proto: Proto,
    /// Host address the forward listens on.
    pub bind: Ipv4Addr,
    pub host: u16,
    pub guest: u16,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.bind,
            self.host,
            self.guest,
            self.proto.name()
        )
    }
}

/// `--net`: what the VM's network card is plugged into.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum NetMode {
    /// QEMU user-mode networking (NAT, with host port forwards).
    #[default]
    User,
    /// No network card.
    None,
    /// An existing tap device of the host.
    Tap(String),
}

/// Parse `--net user|none|tap:NAME`.
pub fn parse_net(s: &str) -> Result<NetMode, String> {
    match s {
        "user" => Ok(NetMode::User),
        "none" => Ok(NetMode::None),
        _ => match s.strip_prefix("tap:") {
            Some(name) if valid_ifname(name) => Ok(NetMode::Tap(name.to_string())),
            Some(name) => Err(format!("{name:?} is not a network interface name")),
            None => Err("use user, none or tap:NAME".to_string()),
        },
    }
}

/// Parse one `-p`/`--udp` value: `PORT`, `LOW-HIGH` (same ports on both
/// sides), `HOST:GUEST`, or any of these after `ADDR:` (e.g.
/// `0.0.0.0:8080:80`) to listen on another host address than 127.0.0.1.
pub fn parse_forward(proto: Proto, spec: &str) -> Result<Vec<Forward>> {
    let flag = match proto {
        Proto::Tcp => "-p",
        Proto::Udp => "--udp",
    };
    let bad = || {
        anyhow!(
            "{flag} {spec:?}: use PORT, HOST:GUEST, LOW-HIGH, or ADDR:HOST:GUEST (e.g. 8080, 8080:80, 0.0.0.0:8080:80)"
        )
    };
    let (bind, rest) = match spec.split_once(':') {
        Some((addr, rest)) if addr.contains('.') => {
            (addr.parse::<Ipv4Addr>().map_err(|_| bad())?, rest)
        }
        _ => (DEFAULT_BIND, spec),
    };
    let ports = crate::config::parse_ports(flag, &[rest.to_string()]).map_err(|_| bad())?;
    Ok(with_bind(proto, bind, &ports))
}

/// Forwards from RunConfig.Ports / UDPPorts (listening on 127.0.0.1).
pub fn with_bind(proto: Proto, bind: Ipv4Addr, ports: &[PortForward]) -> Vec<Forward> {
    ports
        .iter()
        .map(|p| Forward {
            proto,
            bind,
            host: p.host,
            guest: p.guest,
        })
        .collect()
}

/// Everything about the VM's network card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub mode: NetMode,
    pub forwards: Vec<Forward>,
    /// The program's static address and prefix (manifest), if any: the
    /// forwards go there, and the user network is laid around it.
    pub guest: Option<(Ipv4Addr, u8)>,
    /// The static gateway (manifest), which the user network then uses as
    /// the host's address.
    pub gateway: Option<Ipv4Addr>,
}

impl Network {
    /// Check the combination: forwards need user networking, and a host
    /// port may be forwarded once per protocol and address.
    pub fn new(mode: NetMode, forwards: Vec<Forward>) -> Result<Network> {
        if mode != NetMode::User {
            if let Some(f) = forwards.first() {
                let how = match &mode {
                    NetMode::None => "--net none gives the VM no network".to_string(),
                    NetMode::Tap(n) => {
                        format!("with --net tap:{n} the VM has its own address on the tap network")
                    }
                    NetMode::User => unreachable!(),
                };
                bail!(
                    "cannot forward host port {} ({} port forwards need --net user): {how}",
                    f.host,
                    f.proto.name()
                );
            }
        }
        for (i, a) in forwards.iter().enumerate() {
            if let Some(b) = forwards[..i].iter().find(|b| {
                b.proto == a.proto
                    && b.host == a.host
                    && (b.bind == a.bind || b.bind.is_unspecified() || a.bind.is_unspecified())
            }) {
                if b.guest == a.guest {
                    continue;
                }
                bail!(
                    "host {} port {} is forwarded twice (to {} and to {})",
                    a.proto.name(),
                    a.host,
                    b.guest,
                    a.guest
                );
            }
        }
        let mut forwards = forwards;
        let mut seen = Vec::new();
        forwards.retain(|f| {
            let new = !seen.contains(f);
            seen.push(*f);
            new
        });
        Ok(Network {
            mode,
            forwards,
            guest: None,
            gateway: None,
        })
    }

    /// Before starting QEMU: the tap device exists, and each forwarded host
    /// port can be bound now (the probe socket is closed at once).
    pub fn check_host(&self) -> Result<()> {
        if let NetMode::Tap(name) = &self.mode {
            if !Path::new("/sys/class/net").join(name).exists() {
                bail!(
                    "tap device {name} does not exist (create it: ip tuntap add dev {name} mode tap user $USER && ip link set {name} up)"
                );
            }
        }
        for f in &self.forwards {
            let addr = SocketAddrV4::new(f.bind, f.host);
            let res = match f.proto {
                Proto::Tcp => TcpListener::bind(addr).map(drop),
                Proto::Udp => UdpSocket::bind(addr).map(drop),
            };
            match res {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    let proto = match f.proto {
                        Proto::Tcp => "",
                        Proto::Udp => "UDP ",
                    };
                    bail!("host {proto}port {} is in use", f.host)
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
                    "host port {} cannot be used: permission denied (ports below 1024 need privileges; use -p HOST:{} with a higher HOST port)",
                    f.host,
                    f.guest
                ),
                Err(e) => bail!("host port {} on {} cannot be used: {e}", f.host, f.bind),
            }
        }
        Ok(())
    }

    /// QEMU's arguments for this network (none for `--net none`).
    pub fn qemu_args(&self, machine: Machine) -> Vec<String> {
        let netdev = match &self.mode {
            NetMode::None => return Vec::new(),
            NetMode::Tap(name) => format!("tap,id=net0,ifname={name},script=no,downscript=no"),
            NetMode::User => {
                let mut s = String::from("user,id=net0");
                if let Some((ip, prefix)) = self.guest.filter(|(ip, _)| !in_default_net(*ip)) {
                    let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
                    let net = Ipv4Addr::from(u32::from(ip) & mask);
                    s.push_str(&format!(",net={net}/{prefix}"));
                    if let Some(gw) = self.gateway {
                        s.push_str(&format!(",host={gw}"));
                    }
                }
                let guest = self.guest.map(|(ip, _)| ip.to_string()).unwrap_or_default();
                for f in &self.forwards {
                    s.push_str(&format!(
                        ",hostfwd={}:{}:{}-{guest}:{}",
                        f.proto.name(),
                        f.bind,
                        f.host,
                        f.guest
                    ));
                }
                s
            }
        };
        // event_idx=off: virtio-drivers' event-index test notifies the device
        // on every buffer once the device's index is behind (it does not
        // check that this add crossed it), an exit per frame; with flag-based
        // suppression the driver notifies only when the device asks.
        let device = match machine {
            Machine::Microvm => "virtio-net-device,netdev=net0,event_idx=off",
            Machine::Q35 => "virtio-net-pci,netdev=net0,disable-legacy=on,romfile=,event_idx=off",
        };
        vec!["-netdev".into(), netdev, "-device".into(), device.into()]
    }
}

/// Is `ip` in QEMU user networking's default 10.0.2.0/24?
fn in_default_net(ip: Ipv4Addr) -> bool {
    ip.octets()[..3] == [10, 0, 2]
}

/// If `line` (QEMU's standard error) says a host forward could not be set
/// up, the message kiln reports instead.
pub fn hostfwd_failure(line: &str) -> Option<String> {
    let (_, rule) = line.split_once("Could not set up host forwarding rule")?;
    let rule = rule.trim().trim_matches(|c| c == '\'' || c == '"');
    // The rule is PROTO:ADDR:HOSTPORT-GUESTADDR:GUESTPORT.
    let mut parts = rule.splitn(3, ':');
    let proto = parts.next().unwrap_or("tcp");
    let _addr = parts.next();
    let port = parts
        .next()
        .and_then(|r| r.split('-').next())
        .unwrap_or("?");
    let proto = if proto == "udp" { "UDP " } else { "" };
    Some(format!(
        "host {proto}port {port} is in use (QEMU could not forward it)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(bind: [u8; 4], host: u16, guest: u16) -> Forward {
        Forward {
            proto: Proto::Tcp,
            bind: bind.into(),
            host,
            guest,
        }
    }

    #[test]
    fn forward_forms() {
        assert_eq!(
            parse_forward(Proto::Tcp, "8080").unwrap(),
            [tcp([127, 0, 0, 1], 8080, 8080)]
        );
        assert_eq!(
            parse_forward(Proto::Tcp, "8080:80").unwrap(),
            [tcp([127, 0, 0, 1], 8080, 80)]
        );
        assert_eq!(
            parse_forward(Proto::Tcp, "0.0.0.0:8080:80").unwrap(),
            [tcp([0, 0, 0, 0], 8080, 80)]
        );
        assert_eq!(
            parse_forward(Proto::Tcp, "192.168.1.5:9000").unwrap(),
            [tcp([192, 168, 1, 5], 9000, 9000)]
        );
        assert_eq!(parse_forward(Proto::Tcp, "9000-9002").unwrap().len(), 3);
        let udp = parse_forward(Proto::Udp, "5353:53").unwrap();
        assert_eq!(udp[0].proto, Proto::Udp);
        assert_eq!((udp[0].host, udp[0].guest), (5353, 53));
        for bad in [
            "", "http", "0", "70000", "1:2:3", "1.2.3:80", "a:b", "9-1", "8080:",
        ] {
            let e = parse_forward(Proto::Tcp, bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("-p {bad:?}: use PORT")),
                "{bad}: {e}"
            );
        }
        assert!(parse_forward(Proto::Udp, "x")
            .unwrap_err()
            .to_string()
            .starts_with("--udp"));
    }

    #[test]
    fn net_modes() {
        assert_eq!(parse_net("user"), Ok(NetMode::User));
        assert_eq!(parse_net("none"), Ok(NetMode::None));
        assert_eq!(parse_net("tap:tap0"), Ok(NetMode::Tap("tap0".into())));
        assert!(parse_net("tap:").is_err());
        assert!(parse_net("tap:a,b").is_err());
        assert!(parse_net("tap:waytoolonginterfacename").is_err());
        assert!(parse_net("bridge").is_err());
    }

    #[test]
    fn forwards_need_user_networking() {
        let f = vec![tcp([127, 0, 0, 1], 8080, 80)];
        let e = Network::new(NetMode::None, f.clone()).unwrap_err();
        assert!(e.to_string().contains("need --net user"), "{e}");
        assert!(Network::new(NetMode::Tap("t0".into()), f.clone()).is_err());
        assert!(Network::new(NetMode::User, f).is_ok());
        assert!(Network::new(NetMode::None, vec![]).is_ok());
    }

    #[test]
    fn a_host_port_is_forwarded_once() {
        let e = Network::new(
            NetMode::User,
            vec![tcp([127, 0, 0, 1], 8080, 80), tcp([0, 0, 0, 0], 8080, 81)],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "host tcp port 8080 is forwarded twice (to 80 and to 81)"
        );
        // The same forward twice (config and -p) is kept once; TCP and UDP
        // may share a number.
        let mut udp = tcp([127, 0, 0, 1], 8080, 80);
        udp.proto = Proto::Udp;
        let n = Network::new(
            NetMode::User,
            vec![
                tcp([127, 0, 0, 1], 8080, 80),
                tcp([127, 0, 0, 1], 8080, 80),
                udp,
            ],
        )
        .unwrap();
        assert_eq!(n.forwards.len(), 2);
    }

    fn joined(n: &Network, m: Machine) -> String {
        n.qemu_args(m).join(" ")
    }

    #[test]
    fn user_network_command_lines() {
        let mut fw = parse_forward(Proto::Tcp, "8080:80").unwrap();
        fw.extend(parse_forward(Proto::Udp, "5353:53").unwrap());
        fw.extend(parse_forward(Proto::Tcp, "0.0.0.0:9000").unwrap());
        let n = Network::new(NetMode::User, fw).unwrap();
        assert_eq!(
            joined(&n, Machine::Microvm),
            "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53,\
             hostfwd=tcp:0.0.0.0:9000-:9000 -device virtio-net-device,netdev=net0,event_idx=off"
        );
        let plain = Network::new(NetMode::User, vec![]).unwrap();
        assert_eq!(
            joined(&plain, Machine::Q35),
            "-netdev user,id=net0 -device virtio-net-pci,netdev=net0,disable-legacy=on,romfile=,event_idx=off"
        );
    }

    #[test]
    fn static_address_moves_the_user_network() {
        let mut n =
            Network::new(NetMode::User, parse_forward(Proto::Tcp, "8080").unwrap()).unwrap();
        n.guest = Some(([10, 0, 2, 15].into(), 24));
        assert_eq!(
            n.qemu_args(Machine::Microvm)[1],
            "user,id=net0,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:8080"
        );
        n.guest = Some(([192, 168, 7, 20].into(), 24));
        n.gateway = Some([192, 168, 7, 1].into());
        assert_eq!(
            n.qemu_args(Machine::Microvm)[1],
            "user,id=net0,net=192.168.7.0/24,host=192.168.7.1,hostfwd=tcp:127.0.0.1:8080-192.168.7.20:8080"
        );
    }

    #[test]
    fn tap_and_none_command_lines() {
        let tap = Network::new(NetMode::Tap("kiln0".into()), vec![]).unwrap();
        assert_eq!(
            joined(&tap, Machine::Q35),
            "-netdev tap,id=net0,ifname=kiln0,script=no,downscript=no \
             -device virtio-net-pci,netdev=net0,disable-legacy=on,romfile=,event_idx=off"
        );
        let none = Network::new(NetMode::None, vec![]).unwrap();
        assert!(none.qemu_args(Machine::Microvm).is_empty());
    }

    #[test]
    fn busy_ports_are_found_before_qemu_starts() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let n = Network::new(
            NetMode::User,
            parse_forward(Proto::Tcp, &port.to_string()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            n.check_host().unwrap_err().to_string(),
            format!("host port {port} is in use")
        );
        drop(held);
        assert!(n.check_host().is_ok());

        let held = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let n = Network::new(
            NetMode::User,
            parse_forward(Proto::Udp, &port.to_string()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            n.check_host().unwrap_err().to_string(),
            format!("host UDP port {port} is in use")
        );
    }

    #[test]
    fn missing_tap_device() {
        let n = Network::new(NetMode::Tap("kiln-nonexist".into()), vec![]).unwrap();
        let e = n.check_host().unwrap_err().to_string();
        assert!(
            e.starts_with("tap device kiln-nonexist does not exist"),
            "{e}"
        );
    }

    #[test]
    fn qemu_forwarding_failure() {
        let line = "qemu-system-x86_64: -netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80: \
                    Could not set up host forwarding rule 'tcp:127.0.0.1:8080-:80'";
        assert_eq!(
            hostfwd_failure(line).as_deref(),
            Some("host port 8080 is in use (QEMU could not forward it)")
        );
        let line = "qemu: Could not set up host forwarding rule 'udp:127.0.0.1:5353-:53'";
        assert_eq!(
            hostfwd_failure(line).as_deref(),
            Some("host UDP port 5353 is in use (QEMU could not forward it)")
        );
        assert_eq!(hostfwd_failure("qemu-system-x86_64: warning: x"), None);
    }
}
