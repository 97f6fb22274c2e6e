//! Scope checks: a scheduled sweep may only touch the networks listed in `sweep.scopes`.
//! The check runs on the normalised target blocks before any socket is opened, so a refused
//! sweep sends nothing.

use std::net::IpAddr;

use ipnet::IpNet;

use super::targets::{ip_key, key_ip, Block};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target {target} is outside the allowed scopes ({scopes}): {address} is not covered")]
pub struct ScopeError {
    /// The offending block, as "first-last".
    pub target: String,
    /// The first address of it that no scope covers.
    pub address: IpAddr,
    pub scopes: String,
}

/// Checks that every address of every block lies in the union of `scopes`. An empty scope list
/// means "no restriction" (manual sweeps typed by an administrator).
pub fn check(blocks: &[Block], scopes: &[IpNet]) -> Result<(), ScopeError> {
    if scopes.is_empty() {
        return Ok(());
    }
    let mut intervals: Vec<Block> = scopes
        .iter()
        .map(|n| {
            let n = n.trunc();
            let (v6, first) = ip_key(n.network());
            let (_, last) = ip_key(n.broadcast());
            Block { v6, first, last }
        })
        .collect();
    intervals.sort();
    for b in blocks {
        if let Some(address) = first_uncovered(b, &intervals) {
            return Err(ScopeError {
                target: if b.first == b.last {
                    b.addr(b.first).to_string()
                } else {
                    format!("{}-{}", b.addr(b.first), b.addr(b.last))
                },
                address,
                scopes: scopes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// Walks the block from its start, jumping over each scope interval that covers the cursor.
/// `intervals` is sorted; scopes may overlap or be adjacent.
fn first_uncovered(b: &Block, intervals: &[Block]) -> Option<IpAddr> {
    let mut cursor = b.first;
    loop {
        let reach = intervals
            .iter()
            .filter(|s| s.v6 == b.v6 && s.first <= cursor && cursor <= s.last)
            .map(|s| s.last)
            .max();
        match reach {
            None => return Some(key_ip(b.v6, cursor)),
            Some(r) if r >= b.last => return None,
            Some(r) => cursor = r + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::targets::Targets;
    use proptest::prelude::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn table() {
        let cases: &[(&[&str], &[&str], Option<&str>)] = &[
            (&["10.0.0.0/24"], &[], None),
            (&["10.0.0.0/24"], &["10.0.0.0/16"], None),
            (&["10.0.0.0/24"], &["10.0.0.0/25", "10.0.0.128/25"], None),
            (&["10.0.0.0/24"], &["10.0.0.0/25"], Some("10.0.0.128")),
            (&["10.0.1.5"], &["10.0.0.0/24"], Some("10.0.1.5")),
            (&["10.0.0.0/16"], &["10.0.0.0/24"], Some("10.0.1.0")),
            (&["fe80::1"], &["10.0.0.0/8"], Some("fe80::1")),
            (&["fe80::1"], &["fe80::/64"], None),
            (
                &["10.0.0.250-10.0.1.3"],
                &["10.0.0.0/24", "10.0.1.0/31"],
                Some("10.0.1.2"),
            ),
        ];
        for (targets, scopes, want) in cases {
            let t = Targets::parse(targets, false).unwrap();
            let got = check(t.blocks(), &nets(scopes))
                .err()
                .map(|e| e.address.to_string());
            assert_eq!(got.as_deref(), *want, "{targets:?} in {scopes:?}");
        }
    }

    #[test]
    fn error_names_target_and_scopes() {
        let t = Targets::parse(&["10.9.0.0/24"], false).unwrap();
        let e = check(t.blocks(), &nets(&["10.0.0.0/16"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10.9.0.1-10.9.0.254") && e.contains("10.0.0.0/16"),
            "{e}"
        );
    }

    proptest! {
        /// The check agrees with a brute-force walk over every address.
        #[test]
        fn agrees_with_brute_force(
            first in 0u32..512, len in 0u32..300,
            scopes in proptest::collection::vec((0u32..1024, 22u8..=32), 0..4),
        ) {
            let base = 0x0a00_0000u32;
            let block = Block { v6: false, first: (base + first) as u128, last: (base + first + len) as u128 };
            let scopes: Vec<IpNet> = scopes.iter()
                .map(|(a, l)| IpNet::new(key_ip(false, (base + a) as u128), *l).unwrap().trunc())
                .collect();
            let brute = (block.first..=block.last)
                .map(|n| key_ip(false, n))
                .find(|ip| !scopes.iter().any(|s| s.contains(ip)));
            let got = check(&[block], &scopes).err().map(|e| e.address);
            if scopes.is_empty() {
                prop_assert_eq!(got, None);
            } else {
                prop_assert_eq!(got, brute);
            }
        }
    }
}
