//! The network interfaces and routes as Linux programs see them, for the
//! answers of `getifaddrs` (netlink dumps) and the `SIOCGIF*` ioctls.
//!
//! The machine has `lo` (index 1) and, with a network device, `eth0`
//! (index 2). Their addresses and routes come from the stack's
//! configuration: 127.0.0.1/8 and ::1 on `lo`; on `eth0` the static or
//! leased IPv4 address (none while DHCP runs) and the EUI-64 link-local
//! IPv6 address. Everything here is a snapshot: a program that asks again
//! after a DHCP lease sees the new address.

use super::stack::NetStack;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Interface flags (`IFF_*`).
pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_MULTICAST: u32 = 0x1000;
pub const IFF_LOWER_UP: u32 = 0x1_0000;

// Hardware types (`ARPHRD_*`).
pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;

// Operational states (`IF_OPER_*`).
pub const IF_OPER_UNKNOWN: u8 = 0;
pub const IF_OPER_UP: u8 = 6;

// Address and route scopes (`RT_SCOPE_*`).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;

// Route tables, origins and types.
pub const RT_TABLE_MAIN: u8 = 254;
pub const RT_TABLE_LOCAL: u8 = 255;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_DHCP: u8 = 16;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;

/// Index of `lo`.
pub const LO_INDEX: u32 = 1;
/// Index of `eth0`.
pub const ETH_INDEX: u32 = 2;

/// One address of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub ip: IpAddr,
    pub prefix: u8,
    /// The IPv4 broadcast address, if the interface has one.
    pub broadcast: Option<Ipv4Addr>,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// Configured for good (static, loopback, link-local), not leased.
    pub permanent: bool,
}

impl IfAddr {
    /// The IPv4 netmask of the prefix (`None` for IPv6).
    pub fn netmask_v4(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(_) => Some(v4_mask(self.prefix)),
            IpAddr::V6(_) => None,
        }
    }
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    pub index: u32,
    pub name: &'static str,
    /// `ARPHRD_*`.
    pub hw_type: u16,
    /// `IFF_*`, as netlink reports them (SIOCGIFFLAGS gets the low 16 bits).
    pub flags: u32,
    pub mtu: u32,
    pub txqlen: u32,
    /// `IF_OPER_*`.
    pub operstate: u8,
    pub qdisc: &'static str,
    pub hwaddr: [u8; 6],
    pub hw_broadcast: [u8; 6],
    /// IPv4 addresses first, then IPv6.
    pub addrs: Vec<IfAddr>,
}

impl Iface {
    /// The first IPv4 address, if any.
    pub fn ipv4(&self) -> Option<&IfAddr> {
        self.addrs.iter().find(|a| a.ip.is_ipv4())
    }
}

/// One route (main or local table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub dst_len: u8,
    pub table: u8,
    /// `RTPROT_*`: who made the route.
    pub protocol: u8,
    pub scope: u8,
    /// `RTN_*`.
    pub kind: u8,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
    /// The output interface's index.
    pub oif: u32,
    pub priority: Option<u32>,
}

/// What the interface list depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetFacts {
    /// The Ethernet device, when the machine has one.
    pub eth: Option<EthFacts>,
}

/// The Ethernet side's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthFacts {
    pub mac: [u8; 6],
    pub mtu: u32,
    pub ipv4: Option<(Ipv4Addr, u8)>,
    pub gateway: Option<Ipv4Addr>,
    pub link_local: Ipv6Addr,
    /// The static IPv6 address and prefix length, if any.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    /// The IPv4 address comes from a DHCP lease.
    pub dhcp: bool,
}

fn v4_mask(prefix: u8) -> Ipv4Addr {
    let p = prefix.min(32) as u32;
    Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0))
}

/// The broadcast address of a subnet (none for /31 and /32, as Linux).
fn v4_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(ip) | !u32::from(v4_mask(prefix))))
}

fn v6_network(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let p = prefix.min(128) as u32;
    Ipv6Addr::from(u128::from(ip) & u128::MAX.checked_shl(128 - p).unwrap_or(0))
}

fn v4_network(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & u32::from(v4_mask(prefix)))
}

impl NetFacts {
    /// The interfaces, in index order.
    pub fn interfaces(&self) -> Vec<Iface> {
        let mut v = alloc::vec![Iface {
            index: LO_INDEX,
            name: "lo",
            hw_type: ARPHRD_LOOPBACK,
            flags: IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP,
            mtu: 65536,
            txqlen: 1000,
            operstate: IF_OPER_UNKNOWN,
            qdisc: "noqueue",
            hwaddr: [0; 6],
            hw_broadcast: [0; 6],
            addrs: alloc::vec![
                IfAddr {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    prefix: 8,
                    broadcast: None,
                    scope: RT_SCOPE_HOST,
                    permanent: true,
                },
                IfAddr {
                    ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                    broadcast: None,
                    scope: RT_SCOPE_HOST,
                    permanent: true,
                },
            ],
        }];
        if let Some(e) = &self.eth {
            let mut addrs = Vec::new();
            if let Some((ip, prefix)) = e.ipv4 {
                addrs.push(IfAddr {
                    ip: IpAddr::V4(ip),
                    prefix,
                    broadcast: v4_broadcast(ip, prefix),
                    scope: RT_SCOPE_UNIVERSE,
                    permanent: !e.dhcp,
                });
            }
            if let Some((ip, prefix)) = e.ipv6 {
                addrs.push(IfAddr {
                    ip: IpAddr::V6(ip),
                    prefix,
                    broadcast: None,
                    scope: RT_SCOPE_UNIVERSE,
                    permanent: true,
                });
            }
            addrs.push(IfAddr {
                ip: IpAddr::V6(e.link_local),
                prefix: 64,
                broadcast: None,
                scope: RT_SCOPE_LINK,
                permanent: true,
            });
            v.push(Iface {
                index: ETH_INDEX,
                name: "eth0",
                hw_type: ARPHRD_ETHER,
                flags: IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
                mtu: e.mtu,
                txqlen: 1000,
                operstate: IF_OPER_UP,
                qdisc: "fq_codel",
                hwaddr: e.mac,
                hw_broadcast: [0xff; 6],
                addrs,
            });
        }
        v
    }

    /// The routes of the main and local tables, IPv4 then IPv6, as
    /// `ip route show table all` lists them.
    pub fn routes(&self) -> Vec<Route> {
        let route = |dst: IpAddr, dst_len: u8, table: u8, kind: u8, oif: u32| Route {
            dst,
            dst_len,
            table,
            protocol: RTPROT_KERNEL,
            scope: match (kind, dst) {
                (RTN_LOCAL, _) => RT_SCOPE_HOST,
                (_, IpAddr::V6(_)) => RT_SCOPE_UNIVERSE,
                _ => RT_SCOPE_LINK,
            },
            kind,
            gateway: None,
            prefsrc: None,
            oif,
            priority: None,
        };
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut v = Vec::new();
        let eth4 = self.eth.as_ref().and_then(|e| e.ipv4.map(|a| (e, a)));
        if let Some((e, (ip, prefix))) = eth4 {
            if let Some(g) = e.gateway {
                v.push(Route {
                    scope: RT_SCOPE_UNIVERSE,
                    protocol: if e.dhcp { RTPROT_DHCP } else { RTPROT_BOOT },
                    gateway: Some(IpAddr::V4(g)),
                    prefsrc: e.dhcp.then_some(IpAddr::V4(ip)),
                    ..route(
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        0,
                        RT_TABLE_MAIN,
                        RTN_UNICAST,
                        ETH_INDEX,
                    )
                });
            }
            let net = IpAddr::V4(v4_network(ip, prefix));
            v.push(Route {
                prefsrc: Some(IpAddr::V4(ip)),
                ..route(net, prefix, RT_TABLE_MAIN, RTN_UNICAST, ETH_INDEX)
            });
        }
        let lo_net = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0));
        v.push(Route {
            prefsrc: Some(lo4),
            ..route(lo_net, 8, RT_TABLE_LOCAL, RTN_LOCAL, LO_INDEX)
        });
        v.push(Route {
            prefsrc: Some(lo4),
            ..route(lo4, 32, RT_TABLE_LOCAL, RTN_LOCAL, LO_INDEX)
        });
        v.push(Route {
            prefsrc: Some(lo4),
            ..route(
                IpAddr::V4(Ipv4Addr::new(127, 255, 255, 255)),
                32,
                RT_TABLE_LOCAL,
                RTN_BROADCAST,
                LO_INDEX,
            )
        });
        if let Some((_, (ip, prefix))) = eth4 {
            let me = IpAddr::V4(ip);
            v.push(Route {
                prefsrc: Some(me),
                ..route(me, 32, RT_TABLE_LOCAL, RTN_LOCAL, ETH_INDEX)
            });
            if let Some(b) = v4_broadcast(ip, prefix) {
                v.push(Route {
                    prefsrc: Some(me),
                    ..route(IpAddr::V4(b), 32, RT_TABLE_LOCAL, RTN_BROADCAST, ETH_INDEX)
                });
            }
        }
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        v.push(Route {
            priority: Some(256),
            ..route(lo6, 128, RT_TABLE_MAIN, RTN_UNICAST, LO_INDEX)
        });
        if let Some(e) = &self.eth {
            let fe80 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0));
            if let Some((ip, prefix)) = e.ipv6 {
                v.push(Route {
                    priority: Some(256),
                    ..route(
                        IpAddr::V6(v6_network(ip, prefix)),
                        prefix,
                        RT_TABLE_MAIN,
                        RTN_UNICAST,
                        ETH_INDEX,
                    )
                });
            }
            v.push(Route {
                priority: Some(256),
                ..route(fe80, 64, RT_TABLE_MAIN, RTN_UNICAST, ETH_INDEX)
            });
            v.push(route(lo6, 128, RT_TABLE_LOCAL, RTN_LOCAL, LO_INDEX));
            if let Some((ip, _)) = e.ipv6 {
                v.push(route(
                    IpAddr::V6(ip),
                    128,
                    RT_TABLE_LOCAL,
                    RTN_LOCAL,
                    ETH_INDEX,
                ));
            }
            v.push(route(
                IpAddr::V6(e.link_local),
                128,
                RT_TABLE_LOCAL,
                RTN_LOCAL,
                ETH_INDEX,
            ));
        } else {
            v.push(route(lo6, 128, RT_TABLE_LOCAL, RTN_LOCAL, LO_INDEX));
        }
        v
    }
}

/// The interface called `name` (the bytes before a NUL; an alias suffix
/// `:N` names its interface, as Linux's device lookups do).
pub fn by_name<'a>(list: &'a [Iface], name: &[u8]) -> Option<&'a Iface> {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let name = &name[..end];
    let base = match name.iter().position(|&b| b == b':') {
        Some(i) => &name[..i],
        None => name,
    };
    list.iter().find(|i| i.name.as_bytes() == base)
}

/// The interface with index `index`.
pub fn by_index(list: &[Iface], index: i64) -> Option<&Iface> {
    list.iter().find(|i| i.index as i64 == index)
}

impl NetStack {
    /// What the interface list depends on, now.
    pub fn net_facts(&self) -> NetFacts {
        let eth = self.lanes.eth_present.then(|| {
            let mac = match self.lanes.eth.iface.hardware_addr() {
                smoltcp::wire::HardwareAddress::Ethernet(m) => m.0,
                #[allow(unreachable_patterns)]
                _ => [0; 6],
            };
            EthFacts {
                mac,
                mtu: self.lanes.eth_mtu as u32,
                ipv4: self.ipv4(),
                gateway: self.gateway(),
                link_local: self.ipv6_link_local(),
                ipv6: self.ipv6(),
                dhcp: self.uses_dhcp(),
            }
        });
        NetFacts { eth }
    }

    /// The network interfaces, in index order.
    pub fn interfaces(&self) -> Vec<Iface> {
        self.net_facts().interfaces()
    }

    /// The routes of the main and local tables.
    pub fn routes(&self) -> Vec<Route> {
        self.net_facts().routes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ipv4: Option<(Ipv4Addr, u8)>) -> NetFacts {
        NetFacts {
            eth: Some(EthFacts {
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                mtu: 1500,
                ipv4,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                link_local: Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456),
                ipv6: None,
                dhcp: true,
            }),
        }
    }

    #[test]
    fn lo_alone_without_a_device() {
        let l = NetFacts { eth: None }.interfaces();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].index, l[0].name, l[0].mtu), (1, "lo", 65536));
        assert_eq!(l[0].flags & 0xffff, 0x49);
        assert_eq!(l[0].addrs.len(), 2);
        let r = NetFacts { eth: None }.routes();
        assert!(r.iter().all(|r| r.oif == LO_INDEX));
        assert!(r.iter().all(|r| r.gateway.is_none()));
    }

    #[test]
    fn eth0_with_a_lease() {
        let f = eth(Some((Ipv4Addr::new(10, 0, 2, 15), 24)));
        let l = f.interfaces();
        assert_eq!(l[1].name, "eth0");
        assert_eq!(l[1].flags & 0xffff, 0x1043);
        let a = l[1].ipv4().unwrap();
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(10, 0, 2, 255)));
        assert_eq!(a.netmask_v4(), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert!(!a.permanent);
        let r = f.routes();
        let default = r.iter().find(|r| r.dst_len == 0).unwrap();
        assert_eq!(
            default.gateway,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)))
        );
        assert_eq!((default.oif, default.protocol), (ETH_INDEX, RTPROT_DHCP));
        assert!(r
            .iter()
            .any(|r| r.dst == IpAddr::V4(Ipv4Addr::new(10, 0, 2, 0))
                && r.dst_len == 24
                && r.table == RT_TABLE_MAIN
                && r.scope == RT_SCOPE_LINK));
    }

    #[test]
    fn eth0_waiting_for_dhcp_has_only_its_link_local_address() {
        let l = eth(None).interfaces();
        assert!(l[1].ipv4().is_none());
        assert_eq!(l[1].addrs.len(), 1);
        assert_eq!(l[1].addrs[0].scope, RT_SCOPE_LINK);
        assert!(eth(None).routes().iter().all(|r| r.dst_len != 0));
    }

    #[test]
    fn a_static_ipv6_address_is_listed_and_routed() {
        let mut f = eth(Some((Ipv4Addr::new(10, 0, 2, 15), 24)));
        let v6: Ipv6Addr = "2001:db8::10".parse().unwrap();
        f.eth.as_mut().unwrap().ipv6 = Some((v6, 64));
        let l = f.interfaces();
        let a: Vec<_> = l[1]
            .addrs
            .iter()
            .map(|a| (a.ip, a.prefix, a.scope))
            .collect();
        assert_eq!(
            a[1..],
            [
                (IpAddr::V6(v6), 64, RT_SCOPE_UNIVERSE),
                (
                    IpAddr::V6(f.eth.as_ref().unwrap().link_local),
                    64,
                    RT_SCOPE_LINK
                )
            ]
        );
        let r = f.routes();
        let net: Ipv6Addr = "2001:db8::".parse().unwrap();
        assert!(r.iter().any(|r| r.dst == IpAddr::V6(net)
            && r.dst_len == 64
            && r.table == RT_TABLE_MAIN
            && r.oif == ETH_INDEX));
        assert!(r
            .iter()
            .any(|r| r.dst == IpAddr::V6(v6) && r.dst_len == 128 && r.table == RT_TABLE_LOCAL));
    }

    #[test]
    fn names_and_masks() {
        let l = eth(None).interfaces();
        assert_eq!(by_name(&l, b"eth0\0junk").unwrap().index, 2);
        assert_eq!(by_name(&l, b"eth0:1").unwrap().index, 2);
        assert!(by_name(&l, b"eth1").is_none());
        assert!(by_name(&l, b"").is_none());
        assert_eq!(by_index(&l, 1).unwrap().name, "lo");
        assert!(by_index(&l, 3).is_none());
        assert_eq!(v4_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(v4_mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(v4_broadcast(Ipv4Addr::new(10, 0, 0, 1), 31), None);
    }
}
