//! ICMP echo probes: building requests and recognising replies, for both the raw socket (root:
//! the reply comes with its IPv4 header, and the echo id is ours) and the unprivileged datagram
//! socket (the kernel owns the id and strips the header). The payload carries the cookie of the
//! destination and the send time, so replies need no per-probe state.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::probe::{checksum, parse_ipv4, Cookies};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
/// Cookie (4) + send time in µs since the sweep started (8) + padding to 16.
const PAYLOAD: usize = 16;
pub const REQUEST_LEN: usize = 8 + PAYLOAD;

/// Builds an echo request to `dst`, sent `sent_us` µs after the sweep started.
pub fn echo_request(
    cookies: &Cookies,
    id: u16,
    seq: u16,
    dst: Ipv4Addr,
    sent_us: u64,
) -> [u8; REQUEST_LEN] {
    let mut p = [0u8; REQUEST_LEN];
    p[0] = ECHO_REQUEST;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&cookies.of(dst, 0).to_be_bytes());
    p[12..20].copy_from_slice(&sent_us.to_be_bytes());
    let c = checksum(0, &p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// Sequence numbers from this one up mark repeat probes: a second echo request to a host that
/// already answered, whose reply (or its absence) measures loss. Passes use 0, 1, 2...
pub const REPEAT_SEQ: u16 = 0x8000;

/// An echo reply that answers one of our requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    pub from: Ipv4Addr,
    pub rtt: Duration,
    /// The request's sequence number (the pass, or [`REPEAT_SEQ`]).
    pub seq: u16,
}

/// Reads a raw-socket packet (IPv4 header included). `id` is the echo id this sweep used;
/// `now_us` is the receive time in µs since the sweep started.
pub fn parse_raw(cookies: &Cookies, id: u16, pkt: &[u8], now_us: u64) -> Option<EchoReply> {
    let ip = parse_ipv4(pkt)?;
    if ip.protocol != 1 {
        return None;
    }
    let icmp = ip.payload;
    if icmp.len() < 8 || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    parse_echo(cookies, ip.src, icmp, now_us)
}

/// Reads a datagram-socket message (no IPv4 header; the kernel already matched the id).
pub fn parse_dgram(
    cookies: &Cookies,
    from: Ipv4Addr,
    icmp: &[u8],
    now_us: u64,
) -> Option<EchoReply> {
    parse_echo(cookies, from, icmp, now_us)
}

fn parse_echo(cookies: &Cookies, from: Ipv4Addr, icmp: &[u8], now_us: u64) -> Option<EchoReply> {
    if icmp.len() < REQUEST_LEN || icmp[0] != ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    let cookie = u32::from_be_bytes(icmp[8..12].try_into().ok()?);
    if cookie != cookies.of(from, 0) {
        return None;
    }
    let sent_us = u64::from_be_bytes(icmp[12..20].try_into().ok()?);
    Some(EchoReply {
        from,
        rtt: Duration::from_micros(now_us.saturating_sub(sent_us)),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a host does with our request: swap addresses, type 8 -> 0, fix the checksum.
    fn reply_to(req: &[u8], from: Ipv4Addr, to: Ipv4Addr) -> Vec<u8> {
        let mut icmp = req.to_vec();
        icmp[0] = ECHO_REPLY;
        icmp[2] = 0;
        icmp[3] = 0;
        let c = checksum(0, &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        ip.extend_from_slice(&from.octets());
        ip.extend_from_slice(&to.octets());
        let total = (ip.len() + icmp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn request_is_well_formed() {
        let c = Cookies::new();
        let r = echo_request(&c, 0x1234, 7, Ipv4Addr::new(10, 0, 0, 1), 99);
        assert_eq!(checksum(0, &r), 0, "checksum must verify");
        assert_eq!((r[0], r[1]), (8, 0));
        assert_eq!(u16::from_be_bytes([r[4], r[5]]), 0x1234);
    }

    #[test]
    fn replies_are_matched() {
        let c = Cookies::new();
        let host = Ipv4Addr::new(10, 0, 0, 1);
        let me = Ipv4Addr::new(10, 0, 0, 9);
        let req = echo_request(&c, 0x1234, 1, host, 1_000);
        let pkt = reply_to(&req, host, me);
        assert_eq!(
            parse_raw(&c, 0x1234, &pkt, 1_250),
            Some(EchoReply {
                from: host,
                rtt: Duration::from_micros(250),
                seq: 1,
            })
        );
        // another sweep's id, another sweep's key, a reply from an address we did not probe,
        // our own request seen on the wire: all ignored
        assert_eq!(parse_raw(&c, 0x9999, &pkt, 1_250), None);
        assert_eq!(parse_raw(&Cookies::new(), 0x1234, &pkt, 1_250), None);
        assert_eq!(
            parse_raw(
                &c,
                0x1234,
                &reply_to(&req, Ipv4Addr::new(10, 0, 0, 2), me),
                1_250
            ),
            None
        );
        let mut own = reply_to(&req, host, me);
        own[20] = ECHO_REQUEST;
        assert_eq!(parse_raw(&c, 0x1234, &own, 1_250), None);
        // datagram socket: no IP header
        assert_eq!(
            parse_dgram(&c, host, &pkt[20..], 1_100).map(|r| r.rtt),
            Some(Duration::from_micros(100))
        );
        assert_eq!(parse_dgram(&c, host, &pkt[20..30], 1_100), None);
        // a repeat probe's reply says so
        let repeat = reply_to(&echo_request(&c, 0x1234, REPEAT_SEQ, host, 0), host, me);
        assert_eq!(
            parse_raw(&c, 0x1234, &repeat, 5).map(|r| r.seq),
            Some(REPEAT_SEQ)
        );
    }
}
