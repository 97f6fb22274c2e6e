//! Names of live hosts: reverse DNS (hickory, configured from /etc/resolv.conf, queries bounded
//! by a semaphore and answers cached by the resolver) started as soon as a host is found, so the
//! lookups overlap the sweep; then NetBIOS node status (UDP 137) for the hosts DNS could not
//! name. Only live hosts are ever looked up.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioAsyncResolver;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::rate::RateLimiter;

/// Concurrent reverse lookups. The resolver multiplexes over UDP, so this bounds the load on
/// the site's DNS server rather than our sockets.
const DNS_CONCURRENCY: usize = 256;
const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// Reverse lookups in flight for the hosts found so far.
pub struct ReverseDns {
    resolver: Option<Arc<TokioAsyncResolver>>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<(IpAddr, Option<String>)>,
    /// Names of the lookups already reaped.
    names: HashMap<IpAddr, String>,
}

impl ReverseDns {
    /// `enabled = false`, or a host without a usable resolv.conf, gives a no-op resolver.
    pub fn new(enabled: bool) -> Self {
        let resolver = if enabled {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok((config, mut opts)) => {
                    // Sweep lookups go to the site's DNS, a few ms away: retry sooner and more
                    // often than resolv.conf's defaults, so a lost datagram costs 400 ms and
                    // not 1-5 s at the end of the sweep.
                    opts.timeout = opts.timeout.min(Duration::from_millis(400));
                    opts.attempts = opts.attempts.max(3);
                    Some(Arc::new(TokioAsyncResolver::tokio(config, opts)))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no DNS resolver configuration; names from reverse DNS disabled");
                    None
                }
            }
        } else {
            None
        };
        ReverseDns {
            resolver,
            permits: Arc::new(Semaphore::new(DNS_CONCURRENCY)),
            tasks: JoinSet::new(),
            names: HashMap::new(),
        }
    }

    pub fn submit(&mut self, ip: IpAddr) {
        let Some(resolver) = self.resolver.clone() else {
            return;
        };
        // A finished task keeps its whole allocation until joined: on a /16 with thousands of
        // hosts, reaping as we go keeps the peak down.
        while let Some(r) = self.tasks.try_join_next() {
            self.keep(r);
        }
        let permits = self.permits.clone();
        self.tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return (ip, None);
            };
            let name = match tokio::time::timeout(DNS_TIMEOUT, resolver.reverse_lookup(ip)).await {
                Ok(Ok(lookup)) => lookup
                    .iter()
                    .next()
                    .map(|ptr| ptr.to_string().trim_end_matches('.').to_string()),
                _ => None,
            };
            (ip, name)
        });
    }

    /// Waits for the lookups still in flight (each is bounded by its own timeout).
    pub async fn finish(mut self) -> HashMap<IpAddr, String> {
        while let Some(r) = self.tasks.join_next().await {
            self.keep(r);
        }
        self.names
    }

    fn keep(&mut self, r: Result<(IpAddr, Option<String>), tokio::task::JoinError>) {
        if let Ok((ip, Some(name))) = r {
            self.names.insert(ip, name);
        }
    }
}

/// NBSTAT query for the wildcard name "*" (RFC 1002, 4.2.17).
pub fn node_status_request(id: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(50);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    p.push(32);
    let mut name = [0u8; 16];
    name[0] = b'*';
    for b in name {
        p.push(b'A' + (b >> 4));
        p.push(b'A' + (b & 0x0f));
    }
    p.push(0);
    p.extend_from_slice(&[0x00, 0x21, 0x00, 0x01]);
    p
}

/// The machine name from a node status response: the first unique name with suffix 0x00
/// (the workstation service).
pub fn parse_node_status(resp: &[u8], id: u16) -> Option<String> {
    if resp.len() < 12 || u16::from_be_bytes([resp[0], resp[1]]) != id || resp[2] & 0x80 == 0 {
        return None;
    }
    let mut i = 12;
    // the answer's name: labels or a compression pointer
    loop {
        let l = *resp.get(i)?;
        if l == 0 {
            i += 1;
            break;
        }
        if l & 0xc0 == 0xc0 {
            i += 2;
            break;
        }
        i += 1 + usize::from(l);
    }
    // type, class, ttl, rdlength, then the name count
    let count = usize::from(*resp.get(i + 10)?);
    let mut p = i + 11;
    for _ in 0..count {
        let entry = resp.get(p..p + 18)?;
        let suffix = entry[15];
        let group = entry[16] & 0x80 != 0;
        if suffix == 0 && !group {
            let name = String::from_utf8_lossy(&entry[..15]).trim_end().to_string();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic()) {
                return Some(name);
            }
        }
        p += 18;
    }
    None
}

/// Asks each host for its NetBIOS name over one UDP socket, paced by the sweep's rate limiter,
/// and collects answers until `wait` after the last query.
pub async fn netbios_names(
    hosts: &[Ipv4Addr],
    wait: Duration,
    limiter: &RateLimiter,
) -> HashMap<IpAddr, String> {
    let mut names = HashMap::new();
    if hosts.is_empty() {
        return names;
    }
    let Ok(sock) = tokio::net::UdpSocket::bind("0.0.0.0:0").await else {
        return names;
    };
    let id: u16 = rand::random();
    let req = node_status_request(id);
    let recv = async {
        let mut buf = [0u8; 1500];
        loop {
            if let Ok((n, from)) = sock.recv_from(&mut buf).await {
                if let Some(name) = parse_node_status(&buf[..n], id) {
                    names.insert(from.ip(), name);
                }
            }
        }
    };
    let send = async {
        for ip in hosts {
            limiter.acquire().await;
            // a failed send only loses this host's NetBIOS name
            let _ = sock.send_to(&req, SocketAddr::from((*ip, 137))).await;
        }
        tokio::time::sleep(wait).await;
    };
    tokio::select! {
        _ = send => {}
        _ = recv => {}
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: u16, entries: &[(&str, u8, u16)]) -> Vec<u8> {
        let q = node_status_request(id);
        let mut r = q[..12].to_vec();
        r[2] = 0x84; // response, authoritative
        r[5] = 0; // no question
        r[7] = 1; // one answer
        r.extend_from_slice(&q[12..46]); // the name
        r.extend_from_slice(&[0x00, 0x21, 0x00, 0x01, 0, 0, 0, 0]);
        let rdlen = (1 + entries.len() * 18 + 46) as u16;
        r.extend_from_slice(&rdlen.to_be_bytes());
        r.push(entries.len() as u8);
        for (name, suffix, flags) in entries {
            let mut n = format!("{name:<15}").into_bytes();
            n.truncate(15);
            r.extend_from_slice(&n);
            r.push(*suffix);
            r.extend_from_slice(&flags.to_be_bytes());
        }
        r.extend_from_slice(&[0u8; 46]); // statistics
        r
    }

    #[test]
    fn request_layout() {
        let r = node_status_request(0x4242);
        assert_eq!(r.len(), 50);
        assert_eq!(&r[13..15], b"CK"); // '*' = 0x2a -> 'C','K'
        assert_eq!(&r[46..], &[0, 0x21, 0, 1]);
    }

    #[test]
    fn node_status_table() {
        let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
            (
                response(
                    7,
                    &[
                        ("WORKGROUP", 0x00, 0x8400),
                        ("PC-0042", 0x00, 0x0400),
                        ("PC-0042", 0x20, 0x0400),
                    ],
                ),
                Some("PC-0042"),
            ),
            (response(7, &[("WORKGROUP", 0x00, 0x8400)]), None),
            (response(7, &[("PC-0042", 0x20, 0x0400)]), None),
            (response(8, &[("PC-0042", 0x00, 0x0400)]), None), // another query's id
            (response(7, &[]), None),
        ];
        for (i, (resp, want)) in cases.iter().enumerate() {
            assert_eq!(parse_node_status(resp, 7).as_deref(), *want, "case {i}");
        }
        let r = response(7, &[("PC-0042", 0x00, 0x0400)]);
        for cut in 0..r.len() - 46 - 18 {
            assert_eq!(parse_node_status(&r[..cut], 7), None, "truncated at {cut}");
        }
    }
}
