//! TCP probes. Privileged: stateless SYN probes on a raw socket, the sequence number being the
//! cookie of (address, port), so a SYN-ACK or RST is recognised by its acknowledgement number
//! alone (the kernel, which knows no such connection, answers the SYN-ACK with a RST, which is
//! what we want). A timestamp option carries the send time, echoed in the SYN-ACK, for the RTT.
//! Unprivileged: [`connect_probe`], a plain `connect()` with a timeout.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::probe::{checksum, parse_ipv4, Cookies};

/// 20-byte header + MSS (4) + NOP NOP + timestamps (10).
pub const SYN_LEN: usize = 36;

const FIN_SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Builds a SYN from `src:sport` to `dst:dport` (the kernel adds the IPv4 header).
pub fn syn(
    cookies: &Cookies,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    sent_us: u64,
) -> [u8; SYN_LEN] {
    let mut t = [0u8; SYN_LEN];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&cookies.of(dst, dport).to_be_bytes());
    t[12] = ((SYN_LEN / 4) as u8) << 4;
    t[13] = FIN_SYN;
    t[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    t[24..26].copy_from_slice(&[1, 1]);
    t[26..28].copy_from_slice(&[8, 10]);
    t[28..32].copy_from_slice(&(sent_us as u32).to_be_bytes());
    let c = checksum(pseudo_sum(src, dst, SYN_LEN as u16), &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        6,
        len,
    ]
    .iter()
    .map(|&w| u32::from(w))
    .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    /// SYN-ACK: something listens.
    Open,
    /// RST: closed, but a host answered.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpAnswer {
    pub from: Ipv4Addr,
    pub port: u16,
    pub state: PortState,
    /// From the echoed timestamp (SYN-ACKs of hosts that support timestamps only).
    pub rtt: Option<Duration>,
}

/// Reads a raw-socket packet. Anything that does not acknowledge one of our cookies is ignored,
/// so the other TCP traffic of the host does not disturb a sweep.
pub fn parse_raw(cookies: &Cookies, sport: u16, pkt: &[u8], now_us: u64) -> Option<TcpAnswer> {
    let ip = parse_ipv4(pkt)?;
    let t = ip.payload;
    if ip.protocol != 6 || t.len() < 20 {
        return None;
    }
    let port = u16::from_be_bytes([t[0], t[1]]);
    if u16::from_be_bytes([t[2], t[3]]) != sport {
        return None;
    }
    let flags = t[13];
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    if flags & ACK == 0 || ack != cookies.of(ip.src, port).wrapping_add(1) {
        return None;
    }
    let state = if flags & RST != 0 {
        PortState::Closed
    } else if flags & FIN_SYN != 0 {
        PortState::Open
    } else {
        return None;
    };
    let hdr = (usize::from(t[12] >> 4) * 4).min(t.len());
    let rtt = (state == PortState::Open)
        .then(|| echoed_timestamp(&t[20.min(hdr)..hdr]))
        .flatten()
        .map(|tsecr| Duration::from_micros(u64::from((now_us as u32).wrapping_sub(tsecr))));
    Some(TcpAnswer {
        from: ip.src,
        port,
        state,
        rtt,
    })
}

/// TSecr of the timestamp option, if present.
fn echoed_timestamp(mut opts: &[u8]) -> Option<u32> {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return None,
            1 => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == 8 && len == 10 {
                    return Some(u32::from_be_bytes(opts[6..10].try_into().ok()?));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

/// Unprivileged probe: `connect()` with a timeout. Refused = a host answered with RST.
/// Timeouts and ICMP-derived errors (unreachable) are not evidence of anything: remote routers
/// rate-limit their unreachables, so silence is never read as "dead" from them either.
pub async fn connect_probe(addr: SocketAddr, timeout: Duration) -> Option<(PortState, Duration)> {
    let t0 = std::time::Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Some((PortState::Open, t0.elapsed())),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Some((PortState::Closed, t0.elapsed()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
    const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    /// A reply as a host would send it: ports swapped, ack = our seq + 1.
    fn answer(syn: &[u8], flags: u8, opts: &[u8]) -> Vec<u8> {
        let seq = u32::from_be_bytes(syn[4..8].try_into().unwrap());
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&syn[2..4]);
        t[2..4].copy_from_slice(&syn[0..2]);
        t[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = flags;
        t.extend_from_slice(opts);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&HOST.octets());
        ip.extend_from_slice(&ME.octets());
        let total = (ip.len() + t.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&t);
        ip
    }

    #[test]
    fn syn_is_well_formed() {
        let c = Cookies::new();
        let s = syn(&c, ME, 40_000, HOST, 445, 5);
        assert_eq!(
            checksum(pseudo_sum(ME, HOST, SYN_LEN as u16), &s),
            0,
            "checksum must verify"
        );
        assert_eq!(s[13], FIN_SYN);
        assert_eq!(
            u32::from_be_bytes(s[4..8].try_into().unwrap()),
            c.of(HOST, 445)
        );
    }

    #[test]
    fn answers_table() {
        let c = Cookies::new();
        let s = syn(&c, ME, 40_000, HOST, 445, 1_000);
        // timestamps option: NOP NOP kind 8 len 10, TSval (theirs), TSecr (our 1000)
        let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0x03, 0xe8];
        type Case = (&'static str, Vec<u8>, Option<(PortState, Option<Duration>)>);
        let cases: Vec<Case> = vec![
            (
                "syn-ack",
                answer(&s, FIN_SYN | ACK, &[]),
                Some((PortState::Open, None)),
            ),
            (
                "syn-ack with ts",
                answer(&s, FIN_SYN | ACK, &ts),
                Some((PortState::Open, Some(Duration::from_micros(500)))),
            ),
            (
                "rst-ack",
                answer(&s, RST | ACK, &[]),
                Some((PortState::Closed, None)),
            ),
            ("rst without ack", answer(&s, RST, &[]), None),
            ("plain ack", answer(&s, ACK, &[]), None),
        ];
        for (name, pkt, want) in cases {
            let got = parse_raw(&c, 40_000, &pkt, 1_500).map(|a| (a.state, a.rtt));
            assert_eq!(got, want, "{name}");
        }
        let ok = answer(&s, FIN_SYN | ACK, &[]);
        assert_eq!(parse_raw(&c, 40_001, &ok, 0), None, "other local port");
        assert_eq!(
            parse_raw(&Cookies::new(), 40_000, &ok, 0),
            None,
            "other sweep"
        );
        let mut forged = ok.clone();
        forged[20 + 11] ^= 1; // ack number off by one bit
        assert_eq!(parse_raw(&c, 40_000, &forged, 0), None, "wrong ack");
        let a = parse_raw(&c, 40_000, &ok, 0).unwrap();
        assert_eq!((a.from, a.port), (HOST, 445));
    }

    #[tokio::test]
    async fn connect_probe_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let t = Duration::from_secs(2);
        assert_eq!(
            connect_probe(open, t).await.map(|r| r.0),
            Some(PortState::Open)
        );
        assert_eq!(
            connect_probe(closed, t).await.map(|r| r.0),
            Some(PortState::Closed)
        );
    }
}
