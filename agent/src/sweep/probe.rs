//! What the stateless probes share: per-sweep cookies that let a reply be recognised without
//! remembering what was sent (as zmap and masscan do), the Internet checksum, and the IPv4
//! header parsing of raw-socket reads.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

/// Keyed hash of (address, port). A fresh random key per sweep means a stray or forged packet
/// cannot pass for an answer, and answers to an earlier sweep are ignored.
#[derive(Debug, Clone)]
pub struct Cookies {
    key: RandomState,
}

impl Default for Cookies {
    fn default() -> Self {
        Self::new()
    }
}

impl Cookies {
    pub fn new() -> Self {
        Cookies {
            key: RandomState::new(),
        }
    }

    pub fn of(&self, ip: Ipv4Addr, port: u16) -> u32 {
        self.key.hash_one((u32::from(ip), port)) as u32
    }

    /// [`Cookies::of`] for either family (IPv4 gives the same cookie as `of`).
    pub fn of_ip(&self, ip: std::net::IpAddr, port: u16) -> u32 {
        match ip {
            std::net::IpAddr::V4(v4) => self.of(v4, port),
            std::net::IpAddr::V6(v6) => self.key.hash_one((u128::from(v6), port)) as u32,
        }
    }
}

/// RFC 1071 checksum over `data` with `initial` as a partial sum (for pseudo-headers).
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet as read from a raw socket: source, protocol, payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4View<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload: &'a [u8],
}

pub fn parse_ipv4(pkt: &[u8]) -> Option<Ipv4View<'_>> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if ihl < 20 || pkt.len() < ihl {
        return None;
    }
    // Trust the shorter of the read length and the header's total length.
    let end = if total >= ihl {
        total.min(pkt.len())
    } else {
        pkt.len()
    };
    Some(Ipv4View {
        src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
        protocol: pkt[9],
        payload: &pkt[ihl..end],
    })
}

/// An Ethernet frame carrying an IPv4 packet built here (header checksum included), for
/// probes sent on an attached segment straight to a MAC learnt by ARP: such probes never wait
/// in the kernel's neighbour queue.
pub fn ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 20 + payload.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = 64;
    h[9] = protocol;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_frame_round_trips() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1));
        let f = ipv4_frame([1; 6], [2; 6], a, b, 6, 7, &[9, 9, 9]);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(checksum(0, &f[14..34]), 0, "header checksum must verify");
        let v = parse_ipv4(&f[14..]).unwrap();
        assert_eq!(
            (v.src, v.dst, v.protocol, v.payload),
            (a, b, 6, &[9u8, 9, 9][..])
        );
    }

    #[test]
    fn checksum_known_values() {
        // RFC 1071 example bytes, and the IPv4 header example from Wikipedia ("IPv4 header
        // checksum"), whose checksum field 0xb861 must verify to 0.
        assert_eq!(
            checksum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(0, &hdr), 0);
        assert_eq!(checksum(0, &[0xff]), !0xff00);
    }

    #[test]
    fn cookies_differ_by_address_port_and_sweep() {
        let c = Cookies::new();
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(c.of(a, 80), c.of(a, 80));
        assert_ne!(c.of(a, 80), c.of(a, 81));
        assert_ne!(c.of(a, 80), c.of(Ipv4Addr::new(10, 0, 0, 2), 80));
        assert_ne!(c.of(a, 80), Cookies::new().of(a, 80));
    }

    #[test]
    fn ipv4_parse_rejects_garbage() {
        assert!(parse_ipv4(&[]).is_none());
        assert!(parse_ipv4(&[0x60; 40]).is_none()); // IPv6
        assert!(parse_ipv4(&[0x4f; 20]).is_none()); // IHL 60 > length
        let mut p = vec![
            0x45, 0, 0, 24, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4, 99,
        ];
        let v = parse_ipv4(&p).unwrap();
        assert_eq!(
            (v.src, v.protocol, v.payload),
            (Ipv4Addr::new(10, 0, 0, 1), 6, &[1u8, 2, 3, 4][..])
        );
        p[3] = 10; // total length shorter than the header: use what was read
        assert_eq!(parse_ipv4(&p).unwrap().payload.len(), 5);
    }
}
