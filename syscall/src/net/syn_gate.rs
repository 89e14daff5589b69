//! What a listener with a full accept queue does with a new SYN. Linux
//! drops it, so the client retries a second later and gets in once the
//! program accepts; smoltcp, finding no listening socket, would answer
//! RST and the client would see ECONNREFUSED. The stack asks
//! [`syn_target`] about each incoming packet before smoltcp sees it and
//! drops the SYNs whose listener has no room.

use core::net::IpAddr;
use smoltcp::phy::Medium;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket,
};

/// Where a connection-opening SYN (SYN without ACK) goes: its destination
/// address and port. `None` for any other packet.
pub fn syn_target(packet: &[u8], medium: Medium) -> Option<(IpAddr, u16)> {
    let ip = match medium {
        Medium::Ethernet => {
            let frame = EthernetFrame::new_checked(packet).ok()?;
            match frame.ethertype() {
                EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6 => {}
                _ => return None,
            }
            &packet[EthernetFrame::<&[u8]>::header_len()..]
        }
        _ => packet,
    };
    let (dst, payload): (IpAddr, &[u8]) = match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            // A fragment's payload does not start with a TCP header.
            if p.next_header() != IpProtocol::Tcp || p.more_frags() || p.frag_offset() != 0 {
                return None;
            }
            let start = p.header_len() as usize;
            let end = (p.total_len() as usize).min(ip.len());
            (IpAddr::V4(p.dst_addr()), ip.get(start..end)?)
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Tcp {
                return None;
            }
            let start = p.header_len();
            let end = (start + p.payload_len() as usize).min(ip.len());
            (IpAddr::V6(p.dst_addr()), ip.get(start..end)?)
        }
        _ => return None,
    };
    let tcp = TcpPacket::new_checked(payload).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| (dst, tcp.dst_port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// An IPv4 TCP packet with the given flags byte, to 10.0.2.15:8080.
    fn ipv4_tcp(flags: u8) -> alloc::vec::Vec<u8> {
        let mut p = alloc::vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 2, 2]);
        p[16..20].copy_from_slice(&[10, 0, 2, 15]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&8080u16.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p
    }

    #[test]
    fn finds_opening_syns_only() {
        let dst = (IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)), 8080);
        assert_eq!(syn_target(&ipv4_tcp(0x02), Medium::Ip), Some(dst));
        assert_eq!(syn_target(&ipv4_tcp(0x12), Medium::Ip), None, "SYN-ACK");
        assert_eq!(syn_target(&ipv4_tcp(0x10), Medium::Ip), None, "ACK");
        let mut frame = alloc::vec![0u8; 14];
        frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        frame.extend(ipv4_tcp(0x02));
        assert_eq!(syn_target(&frame, Medium::Ethernet), Some(dst));
        frame[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(syn_target(&frame, Medium::Ethernet), None, "ARP");
        assert_eq!(syn_target(&ipv4_tcp(0x02)[..30], Medium::Ip), None, "short");
        assert_eq!(syn_target(&[], Medium::Ip), None);
    }
}
