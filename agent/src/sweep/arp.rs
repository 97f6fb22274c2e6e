//! ARP probes on directly attached Ethernet segments: who-has requests and their replies, as
//! whole frames for an AF_PACKET socket. ARP cannot be filtered by a host firewall, so on a
//! local segment it finds firewalled PCs too, and it never goes through the kernel's neighbour
//! table (whose queue of unresolved addresses is what makes fping fail with ENOBUFS).

use std::net::Ipv4Addr;

pub const ETH_P_ARP: u16 = 0x0806;
/// Ethernet minimum frame (without FCS); shorter frames are padded by us, not the driver.
pub const FRAME_LEN: usize = 60;

pub type Mac = [u8; 6];

pub fn request(src_mac: Mac, src_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, who-has
    f[22..28].copy_from_slice(&src_mac);
    f[28..32].copy_from_slice(&src_ip.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    pub ip: Ipv4Addr,
    pub mac: Mac,
}

/// Recognises an ARP reply addressed to us (`my_ip`). Requests from other hosts and replies to
/// other machines are ignored.
pub fn parse_reply(frame: &[u8], my_ip: Ipv4Addr) -> Option<ArpReply> {
    if frame.len() < 42 || u16::from_be_bytes([frame[12], frame[13]]) != ETH_P_ARP {
        return None;
    }
    let a = &frame[14..42];
    if a[0..8] != [0, 1, 0x08, 0x00, 6, 4, 0, 2] {
        return None;
    }
    let tpa = Ipv4Addr::new(a[24], a[25], a[26], a[27]);
    if tpa != my_ip {
        return None;
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&a[8..14]);
    Some(ArpReply {
        ip: Ipv4Addr::new(a[14], a[15], a[16], a[17]),
        mac,
    })
}

pub fn format_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
    const MY_MAC: Mac = [2, 0, 0, 0, 0, 1];

    fn reply(req: &[u8], mac: Mac) -> Vec<u8> {
        let mut f = req.to_vec();
        f[0..6].copy_from_slice(&req[6..12]);
        f[6..12].copy_from_slice(&mac);
        f[21] = 2;
        let (sha_spa, tha_tpa) = (req[22..32].to_vec(), req[32..42].to_vec());
        f[22..28].copy_from_slice(&mac);
        f[28..32].copy_from_slice(&tha_tpa[6..10]);
        f[32..42].copy_from_slice(&sha_spa);
        f
    }

    #[test]
    fn request_layout() {
        let r = request(MY_MAC, ME, Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(&r[0..6], &[0xff; 6]);
        assert_eq!(&r[12..14], &[0x08, 0x06]);
        assert_eq!(&r[38..42], &[10, 0, 0, 7]);
        assert_eq!(r.len(), 60);
    }

    #[test]
    fn replies_table() {
        let host = Ipv4Addr::new(10, 0, 0, 7);
        let mac = [0x00, 0x1b, 0x21, 1, 2, 3];
        let req = request(MY_MAC, ME, host);
        let good = reply(&req, mac);
        assert_eq!(parse_reply(&good, ME), Some(ArpReply { ip: host, mac }));
        assert_eq!(
            parse_reply(&good, Ipv4Addr::new(10, 0, 0, 253)),
            None,
            "reply to someone else"
        );
        assert_eq!(parse_reply(&req, ME), None, "a request, not a reply");
        assert_eq!(parse_reply(&good[..41], ME), None, "truncated");
        let mut ipv4 = good.clone();
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_reply(&ipv4, ME), None, "not ARP");
        assert_eq!(format_mac(&mac), "00:1b:21:01:02:03");
    }
}
