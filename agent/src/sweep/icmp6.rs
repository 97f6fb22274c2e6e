//! ICMPv6 echo probes (RFC 4443): the IPv6 twin of [`super::icmp`]. Both socket kinds give the
//! ICMPv6 message without its IP header and the sender in the source address, and the kernel
//! computes ICMPv6 checksums itself (RFC 3542 §3.1, it covers a pseudo-header with the source
//! address the kernel picks), so requests go out with a zero checksum. A raw socket (root) sees
//! every ICMPv6 message, so replies are matched on our echo id; a datagram "ping" socket gets
//! only its own, with the id owned by the kernel.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::icmp::REQUEST_LEN;
use super::probe::Cookies;

const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;

/// Builds an echo request to `dst`, sent `sent_us` µs after the sweep started; same layout as
/// the IPv4 one (cookie, send time).
pub fn echo_request(
    cookies: &Cookies,
    id: u16,
    seq: u16,
    dst: Ipv6Addr,
    sent_us: u64,
) -> [u8; REQUEST_LEN] {
    let mut p = [0u8; REQUEST_LEN];
    p[0] = ECHO_REQUEST;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&cookies.of_ip(IpAddr::V6(dst), 0).to_be_bytes());
    p[12..20].copy_from_slice(&sent_us.to_be_bytes());
    p
}

/// An echo reply that answers one of our requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    pub from: Ipv6Addr,
    pub rtt: Duration,
    pub seq: u16,
}

/// Reads one ICMPv6 message from `from`. `id`: the echo id to match (raw sockets), `None` for a
/// datagram socket, where the kernel already matched it.
pub fn parse(
    cookies: &Cookies,
    id: Option<u16>,
    from: Ipv6Addr,
    icmp: &[u8],
    now_us: u64,
) -> Option<EchoReply> {
    if icmp.len() < REQUEST_LEN || icmp[0] != ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    if id.is_some_and(|id| u16::from_be_bytes([icmp[4], icmp[5]]) != id) {
        return None;
    }
    let cookie = u32::from_be_bytes(icmp[8..12].try_into().ok()?);
    if cookie != cookies.of_ip(IpAddr::V6(from), 0) {
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

    fn reply_to(req: &[u8]) -> Vec<u8> {
        let mut r = req.to_vec();
        r[0] = ECHO_REPLY;
        r
    }

    #[test]
    fn replies_are_matched() {
        let c = Cookies::new();
        let host: Ipv6Addr = "fd00:1::10".parse().unwrap();
        let req = echo_request(&c, 0x4242, 0, host, 1_000);
        assert_eq!((req[0], req[1]), (ECHO_REQUEST, 0));
        let reply = reply_to(&req);
        assert_eq!(
            parse(&c, Some(0x4242), host, &reply, 1_300),
            Some(EchoReply {
                from: host,
                rtt: Duration::from_micros(300),
                seq: 0
            })
        );
        // datagram socket: the kernel rewrote the id
        let mut rewritten = reply.clone();
        rewritten[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert!(parse(&c, None, host, &rewritten, 1_300).is_some());
        // raw socket: another process's echo id, another sweep's key, another sender, our own
        // request looped back, neighbour discovery, a short message: all ignored
        assert_eq!(parse(&c, Some(0x4242), host, &rewritten, 1_300), None);
        assert_eq!(parse(&Cookies::new(), Some(0x4242), host, &reply, 1), None);
        let other: Ipv6Addr = "fd00:1::11".parse().unwrap();
        assert_eq!(parse(&c, Some(0x4242), other, &reply, 1), None);
        assert_eq!(parse(&c, Some(0x4242), host, &req, 1), None);
        let mut ndp = reply.clone();
        ndp[0] = 136;
        assert_eq!(parse(&c, Some(0x4242), host, &ndp, 1), None);
        assert_eq!(parse(&c, Some(0x4242), host, &reply[..12], 1), None);
    }
}
