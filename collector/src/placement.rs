//! "Where is this PC plugged in": from a switch's forwarding table, which MACs sit alone (or
//! nearly) on an access port. Pure; the store maps the MACs to assets and keeps the result.
//!
//! A MAC is learnt on every port on its way from the switch to the host, so most entries of a
//! forwarding table are on uplinks and say nothing about where the host is. A port counts as
//! an uplink, and is ignored, when:
//! - an LLDP or CDP neighbour is seen on it (another switch, a router, an access point);
//! - it carries more than [`MAX_ACCESS_PORT_MACS`] MACs;
//! - one of its MACs belongs to a switch, router, firewall or access point asset.

use std::collections::{BTreeMap, BTreeSet};

use parc_shared::snmp::{FdbEntry, SnmpDevice, SnmpInterface};

use crate::facts;

/// Most MACs an access port carries: a PC, the IP phone it is daisy-chained behind, a docking
/// station's NIC, a few VMs or a small desk switch. A port with more leads to another switch or
/// to a Wi-Fi access point, whose hosts are not plugged in there. Eight leaves room for the
/// legitimate cases without counting a 24-port edge switch's uplink as an access port.
pub const MAX_ACCESS_PORT_MACS: usize = 8;

/// Ports of the switch where LLDP or CDP saw a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbours {
    /// lldpRemLocalPortNum values. Vendors number them either as bridge ports or as ifIndex,
    /// so both are compared.
    pub lldp_ports: BTreeSet<u32>,
    /// cdpCacheIfIndex values.
    pub cdp_if_indexes: BTreeSet<u32>,
}

impl Neighbours {
    pub fn of(d: &SnmpDevice) -> Neighbours {
        Neighbours {
            lldp_ports: d.lldp_neighbors.iter().map(|n| n.local_port).collect(),
            cdp_if_indexes: d.cdp_neighbors.iter().map(|n| n.if_index).collect(),
        }
    }

    fn on(&self, bridge_port: u32, if_index: Option<u32>) -> bool {
        self.lldp_ports.contains(&bridge_port)
            || if_index
                .is_some_and(|i| self.lldp_ports.contains(&i) || self.cdp_if_indexes.contains(&i))
    }
}

/// A MAC learnt on an access port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Normalised.
    pub mac: String,
    /// Interface name (ifName, else ifDescr), else "bridge port N".
    pub port: String,
    pub if_index: Option<u32>,
    pub vlan: Option<u32>,
}

/// The access-port placements of a forwarding table, sorted by MAC. `infrastructure_macs`
/// are the MACs of switch, router, firewall and access point assets; `own_macs` the switch's
/// own, which it lists on its CPU port and which place nothing. Unusable MACs (multicast,
/// malformed) are dropped first and count for nothing.
pub fn place_macs(
    fdb: &[FdbEntry],
    interfaces: &[SnmpInterface],
    neighbours: &Neighbours,
    infrastructure_macs: &BTreeSet<String>,
    own_macs: &BTreeSet<String>,
) -> Vec<Placement> {
    let names: BTreeMap<u32, &str> = interfaces
        .iter()
        .filter_map(|i| {
            let name = i.name.as_deref().or(i.descr.as_deref())?.trim();
            (!name.is_empty()).then_some((i.index, name))
        })
        .collect();
    // A port is identified by its ifIndex when the switch maps it, else by its bridge port.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum PortKey {
        IfIndex(u32),
        BridgePort(u32),
    }
    struct Port {
        bridge_port: u32,
        if_index: Option<u32>,
        macs: BTreeMap<String, Option<u32>>,
    }
    let mut ports: BTreeMap<PortKey, Port> = BTreeMap::new();
    for e in fdb {
        let Some(mac) = facts::hardware_mac(&e.mac) else {
            continue;
        };
        if own_macs.contains(&mac) {
            continue;
        }
        let key = match e.if_index {
            Some(i) => PortKey::IfIndex(i),
            None => PortKey::BridgePort(e.bridge_port),
        };
        let port = ports.entry(key).or_insert_with(|| Port {
            bridge_port: e.bridge_port,
            if_index: e.if_index,
            macs: BTreeMap::new(),
        });
        // Q-BRIDGE lists a MAC once per VLAN; keep the lowest VLAN for a stable answer.
        let vlan = port.macs.entry(mac).or_insert(e.vlan);
        *vlan = match (*vlan, e.vlan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut out: Vec<Placement> = ports
        .values()
        .filter(|p| p.bridge_port != 0)
        .filter(|p| !neighbours.on(p.bridge_port, p.if_index))
        .filter(|p| p.macs.len() <= MAX_ACCESS_PORT_MACS)
        .filter(|p| !p.macs.keys().any(|m| infrastructure_macs.contains(m)))
        .flat_map(|p| {
            let port = p
                .if_index
                .and_then(|i| names.get(&i))
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("bridge port {}", p.bridge_port));
            p.macs.iter().map(move |(mac, vlan)| Placement {
                mac: mac.clone(),
                port: port.clone(),
                if_index: p.if_index,
                vlan: *vlan,
            })
        })
        .collect();
    out.sort_by(|a, b| a.mac.cmp(&b.mac).then_with(|| a.port.cmp(&b.port)));
    // A MAC on two access ports at once (a flapping entry) is somewhere; say neither.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in &out {
        *counts.entry(p.mac.clone()).or_default() += 1;
    }
    out.retain(|p| counts[&p.mac] == 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fdb(mac: &str, bridge_port: u32, if_index: Option<u32>, vlan: Option<u32>) -> FdbEntry {
        FdbEntry {
            mac: mac.into(),
            bridge_port,
            if_index,
            vlan,
        }
    }

    fn iface(index: u32, name: &str) -> SnmpInterface {
        SnmpInterface {
            index,
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn placed(mac: &str, port: &str, if_index: Option<u32>, vlan: Option<u32>) -> Placement {
        Placement {
            mac: mac.into(),
            port: port.into(),
            if_index,
            vlan,
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const PC: &str = "00:1a:2b:3c:4d:01";
    const PHONE: &str = "00:1a:2b:3c:4d:02";
    const ROUTER: &str = "00:1a:2b:3c:4d:fe";
    const SELF: &str = "00:1a:2b:3c:4d:ff";

    #[test]
    fn table() {
        let interfaces = vec![
            iface(10001, "Gi1/0/1"),
            iface(10002, "Gi1/0/2"),
            iface(10048, "Gi1/0/48"),
        ];
        let many: Vec<FdbEntry> = (0..=MAX_ACCESS_PORT_MACS as u32)
            .map(|i| fdb(&format!("00:1a:2b:00:00:{i:02x}"), 48, Some(10048), Some(1)))
            .collect();
        let at_limit: Vec<FdbEntry> = many[..MAX_ACCESS_PORT_MACS].to_vec();
        let lldp_on_48 = Neighbours {
            lldp_ports: [48].into(),
            ..Default::default()
        };
        let cdp_on_48 = Neighbours {
            cdp_if_indexes: [10048].into(),
            ..Default::default()
        };
        let none = Neighbours::default();
        type Case<'a> = (
            &'a str,
            Vec<FdbEntry>,
            &'a Neighbours,
            BTreeSet<String>,
            Vec<Placement>,
        );
        let cases: Vec<Case> = vec![
            (
                "PC alone on an access port, named by ifIndex",
                vec![fdb(PC, 1, Some(10001), Some(10))],
                &none,
                set(&[]),
                vec![placed(PC, "Gi1/0/1", Some(10001), Some(10))],
            ),
            (
                "PC behind a phone: both placed on the port",
                vec![
                    fdb(PC, 2, Some(10002), Some(10)),
                    fdb(PHONE, 2, Some(10002), Some(20)),
                ],
                &none,
                set(&[]),
                vec![
                    placed(PC, "Gi1/0/2", Some(10002), Some(10)),
                    placed(PHONE, "Gi1/0/2", Some(10002), Some(20)),
                ],
            ),
            (
                "uplink by LLDP (bridge port numbering)",
                vec![fdb(PC, 48, Some(10048), None)],
                &lldp_on_48,
                set(&[]),
                vec![],
            ),
            (
                "uplink by CDP (ifIndex)",
                vec![fdb(PC, 48, Some(10048), None)],
                &cdp_on_48,
                set(&[]),
                vec![],
            ),
            (
                "uplink: more MACs than an access port carries",
                many.clone(),
                &none,
                set(&[]),
                vec![],
            ),
            (
                "exactly the limit is still an access port",
                at_limit.clone(),
                &none,
                set(&[]),
                at_limit
                    .iter()
                    .map(|e| placed(&e.mac, "Gi1/0/48", Some(10048), Some(1)))
                    .collect(),
            ),
            (
                "uplink: a router's MAC on the port",
                vec![
                    fdb(PC, 48, Some(10048), None),
                    fdb(ROUTER, 48, Some(10048), None),
                ],
                &none,
                set(&[ROUTER]),
                vec![],
            ),
            (
                "own MAC on the CPU port and multicast are ignored",
                vec![
                    fdb(SELF, 0, None, None),
                    fdb("01:00:5e:00:00:fb", 1, Some(10001), None),
                    fdb(PC, 1, Some(10001), None),
                ],
                &none,
                set(&[]),
                vec![placed(PC, "Gi1/0/1", Some(10001), None)],
            ),
            (
                "no ifIndex mapping: named by bridge port",
                vec![fdb("00-1A-2B-3C-4D-01", 7, None, Some(5))],
                &none,
                set(&[]),
                vec![placed(PC, "bridge port 7", None, Some(5))],
            ),
            (
                "same MAC in two VLANs of one port: the lowest",
                vec![
                    fdb(PC, 1, Some(10001), Some(30)),
                    fdb(PC, 1, Some(10001), Some(10)),
                ],
                &none,
                set(&[]),
                vec![placed(PC, "Gi1/0/1", Some(10001), Some(10))],
            ),
            (
                "flapping between two access ports: placed nowhere",
                vec![fdb(PC, 1, Some(10001), None), fdb(PC, 2, Some(10002), None)],
                &none,
                set(&[]),
                vec![],
            ),
        ];
        for (name, entries, neighbours, infra, want) in cases {
            assert_eq!(
                place_macs(&entries, &interfaces, neighbours, &infra, &set(&[SELF])),
                want,
                "{name}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn placements_respect_every_uplink_rule_and_ignore_order(
            raw in proptest::collection::vec((0u8..24, 1u32..6, proptest::option::of(1u32..4)), 0..60),
            lldp in proptest::collection::btree_set(1u32..6, 0..2),
            infra in proptest::collection::btree_set(0u8..24, 0..3),
            rotate in 0usize..60,
        ) {
            let mac = |b: u8| format!("00:1a:2b:00:00:{b:02x}");
            let entries: Vec<FdbEntry> = raw
                .iter()
                .map(|(m, port, vlan)| fdb(&mac(*m), *port, Some(*port), *vlan))
                .collect();
            let neighbours = Neighbours { lldp_ports: lldp.clone(), ..Default::default() };
            let infra: BTreeSet<String> = infra.iter().map(|b| mac(*b)).collect();
            let own = BTreeSet::new();
            let out = place_macs(&entries, &[], &neighbours, &infra, &own);

            let mut shuffled = entries.clone();
            shuffled.reverse();
            if !shuffled.is_empty() {
                let n = rotate % shuffled.len();
                shuffled.rotate_left(n);
            }
            proptest::prop_assert_eq!(&place_macs(&shuffled, &[], &neighbours, &infra, &own), &out);

            for p in &out {
                let port = p.if_index.unwrap();
                proptest::prop_assert!(!lldp.contains(&port));
                let on_port: BTreeSet<&str> = entries
                    .iter()
                    .filter(|e| e.if_index == Some(port))
                    .map(|e| e.mac.as_str())
                    .collect();
                proptest::prop_assert!(on_port.len() <= MAX_ACCESS_PORT_MACS);
                proptest::prop_assert!(on_port.iter().all(|m| !infra.contains(*m)));
                proptest::prop_assert!(on_port.contains(p.mac.as_str()));
                proptest::prop_assert_eq!(out.iter().filter(|q| q.mac == p.mac).count(), 1);
            }
        }
    }
}
