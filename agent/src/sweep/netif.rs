//! Which targets are on a directly attached Ethernet segment (swept with ARP) and which are
//! routed (swept with ICMP and TCP). Reading the interfaces is I/O; the split is pure.

use std::net::Ipv4Addr;

use super::arp::Mac;
use super::sys;
use super::targets::Block;

/// A local Ethernet interface address and the subnet it is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub ifname: String,
    pub ifindex: u32,
    pub my_ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: Mac,
}

impl Segment {
    fn range(&self) -> (u128, u128) {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        let net = u32::from(self.my_ip) & mask;
        (u128::from(net), u128::from(net | !mask))
    }
}

/// Ethernet segments this host is attached to (up, not loopback, not point-to-point, with a
/// subnet larger than one address).
pub fn local_segments() -> Vec<Segment> {
    let Ok(addrs) = sys::interfaces_v4() else {
        return Vec::new();
    };
    addrs
        .into_iter()
        .filter(|a| a.up && !a.loopback && !a.point_to_point && a.prefix < 31)
        .filter_map(|a| {
            let base = format!("/sys/class/net/{}", a.name);
            // ARPHRD_ETHER only: ARP means nothing on tunnels and IP-only links.
            if std::fs::read_to_string(format!("{base}/type")).ok()?.trim() != "1" {
                return None;
            }
            let mac = parse_mac(
                std::fs::read_to_string(format!("{base}/address"))
                    .ok()?
                    .trim(),
            )?;
            Some(Segment {
                ifindex: sys::if_index(&a.name).ok()?,
                ifname: a.name,
                my_ip: a.addr,
                prefix: a.prefix,
                mac,
            })
        })
        .collect()
}

pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Splits target blocks into on-link parts (with the index of their segment) and routed parts.
/// IPv6 blocks are always "routed" (neighbour discovery is not implemented).
pub fn split(blocks: &[Block], segments: &[Segment]) -> (Vec<(usize, Block)>, Vec<Block>) {
    let mut on_link = Vec::new();
    let mut routed = Vec::new();
    for b in blocks {
        if b.v6 {
            routed.push(*b);
            continue;
        }
        let mut cursor = b.first;
        while cursor <= b.last {
            let hit = segments.iter().enumerate().find(|(_, s)| {
                let (f, l) = s.range();
                f <= cursor && cursor <= l
            });
            match hit {
                Some((i, s)) => {
                    let end = s.range().1.min(b.last);
                    on_link.push((
                        i,
                        Block {
                            v6: false,
                            first: cursor,
                            last: end,
                        },
                    ));
                    cursor = end + 1;
                }
                None => {
                    // routed until the next segment starts
                    let next = segments
                        .iter()
                        .map(|s| s.range().0)
                        .filter(|&f| f > cursor)
                        .min()
                        .map_or(b.last, |f| (f - 1).min(b.last));
                    routed.push(Block {
                        v6: false,
                        first: cursor,
                        last: next,
                    });
                    cursor = next + 1;
                }
            }
        }
    }
    (on_link, routed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::targets::Targets;

    fn seg(ip: &str, prefix: u8) -> Segment {
        Segment {
            ifname: "eth0".into(),
            ifindex: 2,
            my_ip: ip.parse().unwrap(),
            prefix,
            mac: [2, 0, 0, 0, 0, 1],
        }
    }

    fn show(b: &Block) -> String {
        format!("{}-{}", b.addr(b.first), b.addr(b.last))
    }

    #[test]
    fn split_table() {
        let segs = [seg("10.0.0.254", 24), seg("10.0.2.1", 24)];
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&["10.0.0.0/24"], &["10.0.0.1-10.0.0.254"], &[]),
            (&["10.0.5.0/24"], &[], &["10.0.5.1-10.0.5.254"]),
            (
                &["10.0.0.0/22"],
                &["10.0.0.1-10.0.0.255", "10.0.2.0-10.0.2.255"],
                &["10.0.1.0-10.0.1.255", "10.0.3.0-10.0.3.254"],
            ),
            (&["fe80::1"], &[], &["fe80::1-fe80::1"]),
        ];
        for (targets, want_on, want_routed) in cases {
            let t = Targets::parse(targets, false).unwrap();
            let (on, routed) = split(t.blocks(), &segs);
            let on: Vec<String> = on.iter().map(|(_, b)| show(b)).collect();
            let routed: Vec<String> = routed.iter().map(show).collect();
            assert_eq!(on, *want_on, "{targets:?}");
            assert_eq!(routed, *want_routed, "{targets:?}");
        }
        assert_eq!(
            split(Targets::parse(&["10.0.0.9"], false).unwrap().blocks(), &[])
                .1
                .len(),
            1
        );
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("00:1b:21:0a:0b:0c"),
            Some([0, 0x1b, 0x21, 0x0a, 0x0b, 0x0c])
        );
        for bad in [
            "",
            "00:1b:21:0a:0b",
            "00:1b:21:0a:0b:0c:0d",
            "zz:1b:21:0a:0b:0c",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
