//! A small authoritative DNS server over std's UdpSocket: it answers A and
//! AAAA queries from a zone file, NXDOMAIN for names it does not hold, and
//! an empty answer for a known name without records of the asked type.
//!
//!     dns-rust [PORT] [ZONE]      (defaults: 53 and /etc/kiln-zone.txt)
//!
//! Zone file: `NAME A|AAAA ADDRESS` per line; `#` starts a comment.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
const TTL: u32 = 60;

/// Lower-case names without the trailing dot, to their addresses.
type Zone = BTreeMap<String, Vec<IpAddr>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(53);
    let zone_path = args.next().unwrap_or_else(|| "/etc/kiln-zone.txt".into());
    let text = std::fs::read_to_string(&zone_path)
        .unwrap_or_else(|e| panic!("cannot read the zone {zone_path}: {e}"));
    let zone = parse_zone(&text);
    let records: usize = zone.values().map(Vec::len).sum();

    let socket = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
    println!("dns listening on 0.0.0.0:{port} ({records} records from {zone_path})");
    let mut buf = [0u8; 512];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("recv_from: {e}");
                continue;
            }
        };
        if let Some(reply) = answer(&zone, &buf[..n]) {
            if let Err(e) = socket.send_to(&reply, peer) {
                eprintln!("send_to {peer}: {e}");
            }
        }
    }
}

fn parse_zone(text: &str) -> Zone {
    let mut zone = Zone::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let [name, kind, addr] = words[..] else {
            if !words.is_empty() {
                eprintln!("zone line {}: expected NAME TYPE ADDRESS", n + 1);
            }
            continue;
        };
        let addr: IpAddr = match (kind.to_ascii_uppercase().as_str(), addr.parse()) {
            ("A", Ok(a @ IpAddr::V4(_))) | ("AAAA", Ok(a @ IpAddr::V6(_))) => a,
            _ => {
                eprintln!("zone line {}: bad record {line:?}", n + 1);
                continue;
            }
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        zone.entry(name).or_default().push(addr);
    }
    zone
}

/// The reply to one query message, or `None` for something not worth one.
fn answer(zone: &Zone, q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None; // too short, or a response
    }
    let id = [q[0], q[1]];
    let rd = q[2] & 0x01;
    let opcode = (q[2] >> 3) & 0x0f;
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    let header = |rcode: u8, qd: u16, an: u16| {
        let mut h = Vec::with_capacity(512);
        h.extend_from_slice(&id);
        h.push(0x84 | rd); // QR, AA, RD copied
        h.push(rcode);
        for count in [qd, an, 0, 0] {
            h.extend_from_slice(&count.to_be_bytes());
        }
        h
    };
    if opcode != 0 {
        return Some(header(RCODE_NOTIMP, 0, 0));
    }
    if qdcount != 1 {
        return Some(header(RCODE_FORMERR, 0, 0));
    }
    // The question: labels, then type and class.
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return Some(header(RCODE_FORMERR, 0, 0)); // no compression in questions
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*q.get(i + 2)?, *q.get(i + 3)?]);
    let question = &q[12..i + 4];
    let name = labels.join(".");

    let Some(addrs) = zone.get(&name) else {
        let mut r = header(RCODE_NXDOMAIN, 1, 0);
        r.extend_from_slice(question);
        return Some(r);
    };
    let matching: Vec<&IpAddr> = addrs
        .iter()
        .filter(|a| {
            qclass == CLASS_IN
                && matches!(
                    (qtype, a),
                    (TYPE_A, IpAddr::V4(_)) | (TYPE_AAAA, IpAddr::V6(_))
                )
        })
        .collect();
    let mut r = header(0, 1, matching.len() as u16);
    r.extend_from_slice(question);
    for a in matching {
        r.extend_from_slice(&[0xc0, 12]); // the name: a pointer to the question's
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        let data = match a {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    Some(r)
}
