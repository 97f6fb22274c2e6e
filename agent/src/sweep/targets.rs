//! Target expansion: what users type ("198.18.0.0/21", "10.0.0.5-10.0.0.9", "10.0.0.5-9",
//! "fe80::1") becomes a set of address blocks that is walked lazily, never materialised.
//!
//! Blocks are normalised (sorted, merged, deduplicated) so that overlapping targets never
//! probe an address twice and membership tests are a binary search.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Above this many addresses a sweep needs `--allow-large` (a /16).
pub const LARGE_SWEEP: u128 = 1 << 16;
/// Never sweep more than this, even with `--allow-large` (a /8): beyond it a typo is far more
/// likely than intent, and the found-set bookkeeping stays small.
pub const MAX_SWEEP: u128 = 1 << 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no targets given")]
    Empty,
    #[error("target {text:?}: {reason}")]
    Invalid { text: String, reason: String },
    #[error(
        "the targets hold {count} addresses, more than a /16 ({LARGE_SWEEP}); pass --allow-large if this is intended"
    )]
    TooLarge { count: u128 },
    #[error("the targets hold {count} addresses; Parc never sweeps more than {MAX_SWEEP} (a /8) at once")]
    Enormous { count: u128 },
}

/// A contiguous, inclusive run of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl Block {
    pub fn size(&self) -> u128 {
        self.last - self.first + 1
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = ip_key(ip);
        v6 == self.v6 && (self.first..=self.last).contains(&n)
    }

    pub fn addr(&self, n: u128) -> IpAddr {
        key_ip(self.v6, n)
    }
}

/// Integer form of an address, for interval arithmetic.
pub fn ip_key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

pub fn key_ip(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// The block a CIDR sweeps. Network and broadcast addresses of IPv4 prefixes shorter than /31
/// are skipped: nothing lives there, and probing the broadcast address would make every host of
/// the segment answer for it.
pub fn net_block(net: IpNet) -> Block {
    let net = net.trunc();
    let (v6, first) = ip_key(net.network());
    let (_, last) = ip_key(net.broadcast());
    match net {
        IpNet::V4(n) if n.prefix_len() < 31 => Block {
            v6,
            first: first + 1,
            last: last - 1,
        },
        _ => Block { v6, first, last },
    }
}

/// Parses one target as typed by a user.
pub fn parse_target(text: &str) -> Result<Block, TargetError> {
    let t = text.trim();
    let invalid = |reason: &str| TargetError::Invalid {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    if t.is_empty() {
        return Err(invalid("empty"));
    }
    if t.contains('/') {
        // Host bits are accepted and dropped ("10.1.2.3/24" means 10.1.2.0/24), as nmap does.
        let net: IpNet = t
            .parse()
            .map_err(|_| invalid("not a network (expected e.g. 10.1.0.0/16)"))?;
        return Ok(net_block(net));
    }
    // A dash makes a range only when an address precedes it: "pc-0001.lan.test" is a host name.
    if let Some((first, b)) = t
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<IpAddr>().ok()?, b)))
    {
        let b = b.trim();
        let last: IpAddr = match (first, b.parse::<u8>()) {
            // "10.0.0.5-9": the end replaces the last octet.
            (IpAddr::V4(f), Ok(octet)) => {
                let o = f.octets();
                IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], octet))
            }
            _ => b
                .parse()
                .map_err(|_| invalid("range end is not an address or a last octet"))?,
        };
        let (v6a, fa) = ip_key(first);
        let (v6b, lb) = ip_key(last);
        if v6a != v6b {
            return Err(invalid("range mixes IPv4 and IPv6"));
        }
        if lb < fa {
            return Err(invalid("range ends before it starts"));
        }
        return Ok(Block {
            v6: v6a,
            first: fa,
            last: lb,
        });
    }
    let ip: IpAddr = t
        .parse()
        .map_err(|_| invalid("not an address, range (a.b.c.d-e.f.g.h, a.b.c.d-h) or network (a.b.c.d/n); host names are not accepted"))?;
    let (v6, n) = ip_key(ip);
    Ok(Block {
        v6,
        first: n,
        last: n,
    })
}

/// Sorted, merged, non-overlapping blocks.
pub fn normalise(mut blocks: Vec<Block>) -> Vec<Block> {
    blocks.sort();
    let mut out: Vec<Block> = Vec::with_capacity(blocks.len());
    for b in blocks {
        match out.last_mut() {
            Some(prev) if prev.v6 == b.v6 && b.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(b.last);
            }
            _ => out.push(b),
        }
    }
    out
}

/// The checked, normalised targets of one sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    blocks: Vec<Block>,
    count: u128,
}

impl Targets {
    /// Parses and size-checks user targets. Every target is parsed before the size check so the
    /// first invalid one is named even in a large list.
    pub fn parse<S: AsRef<str>>(texts: &[S], allow_large: bool) -> Result<Self, TargetError> {
        if texts.is_empty() {
            return Err(TargetError::Empty);
        }
        let blocks = texts
            .iter()
            .map(|t| parse_target(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let targets = Self::from_blocks(blocks);
        if targets.count > MAX_SWEEP {
            return Err(TargetError::Enormous {
                count: targets.count,
            });
        }
        if targets.count > LARGE_SWEEP && !allow_large {
            return Err(TargetError::TooLarge {
                count: targets.count,
            });
        }
        Ok(targets)
    }

    pub fn from_blocks(blocks: Vec<Block>) -> Self {
        let blocks = normalise(blocks);
        let count = blocks
            .iter()
            .map(Block::size)
            .fold(0u128, u128::saturating_add);
        Targets { blocks, count }
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn count(&self) -> u128 {
        self.count
    }

    /// Whether `ip` is one of the targets; replies from anything else are ignored.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = ip_key(ip);
        let i = self.blocks.partition_point(|b| (b.v6, b.last) < (v6, n));
        self.blocks
            .get(i)
            .is_some_and(|b| b.v6 == v6 && b.first <= n && n <= b.last)
    }

    /// Every target address, in order, lazily.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + Send + '_ {
        self.blocks
            .iter()
            .flat_map(|b| (b.first..=b.last).map(move |n| b.addr(n)))
    }

    /// Owned lazy iterator, for sender threads.
    pub fn into_iter_owned(self) -> impl Iterator<Item = IpAddr> + Send + 'static {
        self.blocks
            .into_iter()
            .flat_map(|b| (b.first..=b.last).map(move |n| b.addr(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ips(t: &Targets) -> Vec<String> {
        t.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn forms() {
        let cases: &[(&str, &[&str])] = &[
            ("10.0.0.5", &["10.0.0.5"]),
            ("10.0.0.5-7", &["10.0.0.5", "10.0.0.6", "10.0.0.7"]),
            (
                "10.0.0.254-10.0.1.1",
                &["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"],
            ),
            ("10.0.0.0/30", &["10.0.0.1", "10.0.0.2"]),
            ("10.0.0.9/30", &["10.0.0.9", "10.0.0.10"]),
            ("10.0.0.0/31", &["10.0.0.0", "10.0.0.1"]),
            ("10.0.0.7/32", &["10.0.0.7"]),
            ("fe80::1", &["fe80::1"]),
            ("fe80::1-fe80::2", &["fe80::1", "fe80::2"]),
            ("fe80::/127", &["fe80::", "fe80::1"]),
        ];
        for (text, want) in cases {
            let t = Targets::parse(&[*text], false).unwrap();
            assert_eq!(ips(&t), *want, "{text}");
            assert_eq!(t.count(), want.len() as u128, "{text}");
        }
    }

    #[test]
    fn bad_targets_are_named() {
        for bad in [
            "",
            "host.example",
            "10.0.0.9-5",
            "10.0.0.1-fe80::1",
            "10.0.0.0/33",
            "10.0.0.1-300",
            "1.2.3",
        ] {
            let err = Targets::parse(&[bad], false).unwrap_err();
            assert!(
                matches!(err, TargetError::Invalid { ref text, .. } if text == bad),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Targets::parse::<&str>(&[], false).unwrap_err(),
            TargetError::Empty
        );
    }

    #[test]
    fn host_name_with_a_dash_is_refused_as_a_host_name() {
        let err = Targets::parse(&["pc-0001.lan.test"], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("host names are not accepted"), "{err}");
    }

    #[test]
    fn size_limits() {
        assert!(Targets::parse(&["10.0.0.0/16"], false).is_ok());
        assert_eq!(
            Targets::parse(&["10.0.0.0/15"], false).unwrap_err(),
            TargetError::TooLarge { count: 131_070 }
        );
        assert_eq!(
            Targets::parse(&["10.0.0.0/16", "10.1.0.0/24"], false).unwrap_err(),
            TargetError::TooLarge {
                count: 65_534 + 254
            }
        );
        assert_eq!(
            Targets::parse(&["10.0.0.0/15"], true).unwrap().count(),
            131_070
        );
        assert!(matches!(
            Targets::parse(&["10.0.0.0/7"], true),
            Err(TargetError::Enormous { .. })
        ));
        assert!(matches!(
            Targets::parse(&["fe80::/64"], true),
            Err(TargetError::Enormous { .. })
        ));
    }

    #[test]
    fn overlaps_are_merged() {
        let t = Targets::parse(
            &["10.0.0.1-5", "10.0.0.3-8", "10.0.0.8", "10.0.0.10"],
            false,
        )
        .unwrap();
        assert_eq!(t.count(), 9);
        assert_eq!(t.blocks().len(), 2);
        assert!(t.contains("10.0.0.8".parse().unwrap()));
        assert!(!t.contains("10.0.0.9".parse().unwrap()));
        assert!(!t.contains("::a".parse().unwrap()));
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        (any::<bool>(), 0u128..2000, 0u128..300).prop_map(|(v6, first, len)| Block {
            v6,
            first,
            last: first + len,
        })
    }

    proptest! {
        /// The lazy walk yields exactly the union of the blocks, each address once, in order,
        /// and `contains` agrees with it.
        #[test]
        fn walk_is_the_union(blocks in proptest::collection::vec(arb_block(), 1..6)) {
            let mut want: Vec<(bool, u128)> = blocks.iter().flat_map(|b| (b.first..=b.last).map(move |n| (b.v6, n))).collect();
            want.sort();
            want.dedup();
            let t = Targets::from_blocks(blocks.clone());
            let got: Vec<(bool, u128)> = t.iter().map(ip_key).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(t.count(), want.len() as u128);
            for probe in 0u128..2400 {
                for v6 in [false, true] {
                    let inside = want.binary_search(&(v6, probe)).is_ok();
                    prop_assert_eq!(t.contains(key_ip(v6, probe)), inside);
                }
            }
        }

        /// A CIDR never yields an address outside the network, and skips network and broadcast
        /// addresses below /31.
        #[test]
        fn cidr_stays_inside(addr in any::<u32>(), len in 20u8..=32) {
            let net = IpNet::new(IpAddr::V4(Ipv4Addr::from(addr)), len).unwrap().trunc();
            let b = net_block(net);
            let t = Targets::from_blocks(vec![b]);
            for ip in t.iter() {
                prop_assert!(net.contains(&ip));
                if len < 31 {
                    prop_assert_ne!(ip, net.network());
                    prop_assert_ne!(ip, net.broadcast());
                }
            }
            let expect = if len < 31 { (1u128 << (32 - len)) - 2 } else { 1u128 << (32 - len) };
            prop_assert_eq!(t.count(), expect);
        }
    }
}
