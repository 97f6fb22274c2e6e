//! Deciding which asset a document describes. Pure: the store looks up candidates sharing any
//! key with the document, this module picks one (or none), and the decision is recorded with
//! the rule that made it.
//!
//! Inventories follow an ordered list of rules, first match wins (GLPI's approach, which admins
//! know), with one veto over all of them: two usable serials that differ, or two usable UUIDs
//! that differ, are two machines. That veto is what stops a docking station's MAC, moving from
//! laptop to laptop, or a disk image cloned onto other hardware from merging machines.
//!
//! SNMP devices follow a shorter list ([`reconcile_device`]: serial, MAC, address in the site)
//! under the same serial veto; [`device_kind`] decides what the asset becomes and
//! [`arp_assignment`] whether a router's ARP entry may give a MAC to an asset.

use std::fmt;

use parc_shared::snmp::DeviceType;
use parc_shared::Inventory;
use serde::Serialize;

use crate::facts;

/// How an incoming document was tied to an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Rule {
    #[serde(rename = "uuid+serial")]
    UuidSerial,
    #[serde(rename = "serial")]
    Serial,
    /// Only when corroborated: cloned VMs share SMBIOS UUIDs.
    #[serde(rename = "uuid")]
    Uuid,
    #[serde(rename = "agent_id")]
    AgentId,
    #[serde(rename = "mac")]
    Mac,
    #[serde(rename = "hostname")]
    Hostname,
    /// Sweeps only: the host's address is one the asset is known at.
    #[serde(rename = "ip")]
    Ip,
    /// Nothing matched: a new asset.
    #[serde(rename = "new")]
    New,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::UuidSerial => "uuid+serial",
            Rule::Serial => "serial",
            Rule::Uuid => "uuid",
            Rule::AgentId => "agent_id",
            Rule::Mac => "mac",
            Rule::Hostname => "hostname",
            Rule::Ip => "ip",
            Rule::New => "new",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity keys of a document or of a stored asset. Every field is already normalised and
/// junk-free (see [`facts`]); lists are sorted and deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    pub serial: Option<String>,
    pub uuid: Option<String>,
    /// Physical MACs only.
    pub macs: Vec<String>,
    /// An incoming document has one; a stored asset has every agent that ever reported it
    /// (a re-imaged PC brings a new one).
    pub agent_ids: Vec<String>,
    /// Kept for the record but matched by no rule: VM clones and un-sysprepped images copy it.
    pub machine_id: Option<String>,
    /// See [`facts::name_key`].
    pub name: Option<String>,
    pub site_id: i64,
}

impl Keys {
    pub fn from_inventory(inv: &Inventory, agent_id: &str, site_id: i64) -> Keys {
        let hw = &inv.hardware;
        Keys {
            serial: hw.serial.as_ref().and_then(|s| facts::serial_key(&s.value)),
            uuid: hw.uuid.as_ref().and_then(|u| facts::uuid_key(&u.value)),
            macs: inv.physical_macs(),
            agent_ids: vec![agent_id.to_string()],
            machine_id: inv.host.machine_id.clone(),
            name: facts::name_key(&inv.host.hostname),
            site_id,
        }
    }
}

/// A stored asset that shares at least one key with the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub asset_id: i64,
    pub keys: Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Match { asset_id: i64, rule: Rule },
    New,
}

impl Decision {
    pub fn rule(self) -> Rule {
        match self {
            Decision::Match { rule, .. } => rule,
            Decision::New => Rule::New,
        }
    }
}

const INVENTORY_RULES: [Rule; 6] = [
    Rule::UuidSerial,
    Rule::Serial,
    Rule::Uuid,
    Rule::AgentId,
    Rule::Mac,
    Rule::Hostname,
];

/// Picks the asset an inventory describes: the first rule that some non-vetoed candidate
/// satisfies wins; among several such candidates the oldest asset (lowest id) wins, so that the
/// answer does not depend on the order the database returned them in.
pub fn reconcile(incoming: &Keys, candidates: &[Candidate]) -> Decision {
    for rule in INVENTORY_RULES {
        let best = candidates
            .iter()
            .filter(|c| !vetoed(incoming, &c.keys) && holds(rule, incoming, &c.keys))
            .map(|c| c.asset_id)
            .min();
        if let Some(asset_id) = best {
            return Decision::Match { asset_id, rule };
        }
    }
    Decision::New
}

/// True when the hardware says these are two different machines, whatever else they share.
pub fn vetoed(a: &Keys, b: &Keys) -> bool {
    differ(&a.serial, &b.serial) || differ(&a.uuid, &b.uuid)
}

fn differ(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x == y)
}

fn share(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

fn holds(rule: Rule, a: &Keys, b: &Keys) -> bool {
    let same_name = a.site_id == b.site_id && same(&a.name, &b.name);
    match rule {
        Rule::UuidSerial => same(&a.uuid, &b.uuid) && same(&a.serial, &b.serial),
        Rule::Serial => same(&a.serial, &b.serial),
        Rule::Uuid => {
            same(&a.uuid, &b.uuid)
                && (share(&a.macs, &b.macs) || same_name || share(&a.agent_ids, &b.agent_ids))
        }
        Rule::AgentId => share(&a.agent_ids, &b.agent_ids),
        Rule::Mac => share(&a.macs, &b.macs),
        Rule::Hostname => same_name,
        Rule::Ip | Rule::New => false,
    }
}

/// A host found by a sweep, as far as matching goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenHost {
    pub mac: Option<String>,
    pub ip: String,
    pub site_id: i64,
}

/// A stored asset sharing the host's MAC or (in the same site) its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCandidate {
    pub asset_id: i64,
    pub site_id: i64,
    pub macs: Vec<String>,
    pub addresses: Vec<String>,
}

/// Picks the asset a swept host is: by MAC, else by address within the site. An address match
/// is refused when both sides know MACs and none agree: DHCP gave the address to another
/// machine since.
pub fn reconcile_host(host: &SeenHost, candidates: &[HostCandidate]) -> Decision {
    if let Some(mac) = &host.mac {
        if let Some(asset_id) = candidates
            .iter()
            .filter(|c| c.macs.contains(mac))
            .map(|c| c.asset_id)
            .min()
        {
            return Decision::Match {
                asset_id,
                rule: Rule::Mac,
            };
        }
    }
    let by_ip = candidates
        .iter()
        .filter(|c| c.site_id == host.site_id && c.addresses.contains(&host.ip))
        .filter(|c| match &host.mac {
            Some(mac) => c.macs.is_empty() || c.macs.contains(mac),
            None => true,
        })
        .map(|c| c.asset_id)
        .min();
    match by_ip {
        Some(asset_id) => Decision::Match {
            asset_id,
            rule: Rule::Ip,
        },
        None => Decision::New,
    }
}

/// An SNMP device, as far as matching goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceKeys {
    /// Usable serial ([`facts::device_serial`]).
    pub serial: Option<String>,
    /// Usable interface MACs ([`facts::device_macs`]).
    pub macs: Vec<String>,
    /// Canonical address the device answered on.
    pub ip: String,
    pub site_id: i64,
}

/// A stored asset sharing the device's serial, one of its MACs, or (in any site) its address.
/// The store must return every asset holding one of the device's MACs: how many do is what
/// tells a shared MAC apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCandidate {
    pub asset_id: i64,
    pub site_id: i64,
    pub serial: Option<String>,
    pub macs: Vec<String>,
    pub addresses: Vec<String>,
}

/// A MAC held by more assets than this identifies none of them. One is the only safe bound:
/// a second holder already proves the MAC travels (docking station, USB NIC, a VRRP or
/// hypervisor MAC re-used across machines), and picking either would be a guess.
pub const MAX_MAC_HOLDERS: usize = 1;

/// Picks the asset an SNMP device is: same usable serial, else an unshared interface MAC, else
/// the asset at its address in the site (typically the sweep's record of it). A differing
/// usable serial vetoes every rule; an address match is also refused when both sides know
/// MACs and none agree (the address was handed to another machine). Ties go to the oldest
/// asset.
pub fn reconcile_device(device: &DeviceKeys, candidates: &[DeviceCandidate]) -> Decision {
    let allowed = |c: &&DeviceCandidate| !differ(&device.serial, &c.serial);
    let pick = |rule: Rule, ok: &dyn Fn(&DeviceCandidate) -> bool| {
        candidates
            .iter()
            .filter(allowed)
            .filter(|c| ok(c))
            .map(|c| c.asset_id)
            .min()
            .map(|asset_id| Decision::Match { asset_id, rule })
    };
    let unshared: Vec<&String> = device
        .macs
        .iter()
        .filter(|m| candidates.iter().filter(|c| c.macs.contains(m)).count() <= MAX_MAC_HOLDERS)
        .collect();
    pick(Rule::Serial, &|c| same(&device.serial, &c.serial))
        .or_else(|| pick(Rule::Mac, &|c| unshared.iter().any(|m| c.macs.contains(m))))
        .or_else(|| {
            pick(Rule::Ip, &|c| {
                c.site_id == device.site_id
                    && c.addresses.contains(&device.ip)
                    && (device.macs.is_empty() || c.macs.is_empty() || share(&device.macs, &c.macs))
            })
        })
        .unwrap_or(Decision::New)
}

/// Kinds whose MACs mark a switch port as an uplink: what sits behind them is not plugged in
/// there.
pub const INFRASTRUCTURE_KINDS: [&str; 4] = ["switch", "router", "firewall", "wireless"];

/// What an asset becomes when SNMP identifies it as `identified`. A computer with an agent
/// inventory stays a computer whatever its SNMP agent claims (a Windows PC with the SNMP
/// service and IP forwarding on looks like a router), and an unidentified device ("other")
/// never overrides a kind already known.
pub fn device_kind(identified: DeviceType, current: Option<&str>, has_inventory: bool) -> String {
    let current = current.filter(|k| *k != "unknown");
    match (current, identified) {
        (Some("computer"), _) if has_inventory => "computer".into(),
        (Some(kind), DeviceType::Other) => kind.into(),
        _ => identified.as_str().into(),
    }
}

/// An asset as the ARP rule sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArpAsset {
    pub asset_id: i64,
    /// Usable serial.
    pub serial: Option<String>,
    pub macs: Vec<String>,
}

/// A current holder of the MAC, with where its MAC came from ('inventory', 'sweep', 'snmp',
/// 'snmp_arp').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacHolder {
    pub asset: ArpAsset,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArpAction {
    /// Give the MAC to `asset_id`, taking it from the listed assets (which held it from
    /// sweeps or earlier ARP tables: they were wrong or out of date).
    Assign {
        asset_id: i64,
        take_from: Vec<i64>,
    },
    Skip(&'static str),
}

/// Decides what a router's ARP entry (ip → mac) does. `at_ip` are the assets known at the
/// address in the router's site, `holders` those already holding the MAC, `router` the
/// router's own asset.
pub fn arp_assignment(
    router: i64,
    mac: &str,
    at_ip: &[ArpAsset],
    holders: &[MacHolder],
) -> ArpAction {
    let [target] = at_ip else {
        return ArpAction::Skip(if at_ip.is_empty() {
            "address unknown"
        } else {
            "address ambiguous"
        });
    };
    if target.asset_id == router {
        return ArpAction::Skip("the router itself");
    }
    if target.macs.iter().any(|m| m == mac) {
        return ArpAction::Skip("already known");
    }
    let others: Vec<&MacHolder> = holders
        .iter()
        .filter(|h| h.asset.asset_id != target.asset_id)
        .collect();
    // Proxy ARP: the router answers for remote hosts with its own MAC.
    if others.iter().any(|h| h.asset.asset_id == router) {
        return ArpAction::Skip("the router's own MAC");
    }
    if others
        .iter()
        .any(|h| differ(&h.asset.serial, &target.serial))
    {
        return ArpAction::Skip("held by an asset with another serial");
    }
    // The agent on that machine reads its own NICs: its word beats a router's cache.
    if others.iter().any(|h| h.source == "inventory") {
        return ArpAction::Skip("reported by an agent on another asset");
    }
    ArpAction::Assign {
        asset_id: target.asset_id,
        take_from: others.iter().map(|h| h.asset.asset_id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SITE: i64 = 1;
    const OTHER_SITE: i64 = 2;

    fn keys(serial: &str, uuid: &str, macs: &[&str], agent: &str, name: &str) -> Keys {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Keys {
            serial: facts::serial_key(serial),
            uuid: facts::uuid_key(uuid),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            agent_ids: opt(agent).into_iter().collect(),
            machine_id: None,
            name: facts::name_key(name),
            site_id: SITE,
        }
    }

    fn cand(asset_id: i64, keys: Keys) -> Candidate {
        Candidate { asset_id, keys }
    }

    const U1: &str = "4c4c4544-0042-3510-8052-b4c04f4a4e32";
    const U2: &str = "564d1234-5678-9abc-def0-123456789abc";
    const M1: &str = "00:1a:2b:3c:4d:01";
    const M2: &str = "00:1a:2b:3c:4d:02";
    const M3: &str = "00:1a:2b:3c:4d:03";
    const DOCK: &str = "00:50:b6:00:00:01";

    #[test]
    fn table() {
        let mut other_site = keys("", "", &[], "", "pc-0001");
        other_site.site_id = OTHER_SITE;
        let cases: Vec<(&str, Keys, Vec<Candidate>, Decision)> = vec![
            (
                "rename: same hardware, new hostname",
                keys("SN1", U1, &[M1], "a1", "pc-new"),
                vec![cand(1, keys("SN1", U1, &[M1], "a1", "pc-old"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::UuidSerial,
                },
            ),
            (
                "NIC swap: new MAC, same serial and UUID",
                keys("SN1", U1, &[M2], "a1", "pc-0001"),
                vec![cand(1, keys("SN1", U1, &[M1], "a1", "pc-0001"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::UuidSerial,
                },
            ),
            (
                "re-imaged PC: new agent id, machine id and name, same serial and UUID",
                keys("SN1", U1, &[M1], "a2", "pc-reimaged"),
                vec![cand(1, keys("SN1", U1, &[M1], "a1", "pc-0001"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::UuidSerial,
                },
            ),
            (
                "two PCs with the same junk serial and no UUID are not merged",
                keys("To be filled by O.E.M.", "", &[M2], "a2", "pc-0002"),
                vec![cand(
                    1,
                    keys("To be filled by O.E.M.", "", &[M1], "a1", "pc-0001"),
                )],
                Decision::New,
            ),
            (
                "junk serial, no other key: falls through to the MAC",
                keys("Default string", "", &[M1], "a2", "pc-0002"),
                vec![cand(1, keys("Default string", "", &[M1], "a1", "pc-0001"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::Mac,
                },
            ),
            (
                "cloned VMs: same UUID, no serial, different MACs, names and agents",
                keys("", U2, &[M2], "a2", "vm-b"),
                vec![cand(1, keys("", U2, &[M1], "a1", "vm-a"))],
                Decision::New,
            ),
            (
                "VM UUID corroborated by its agent id",
                keys("", U2, &[M2], "a1", "vm-a"),
                vec![cand(1, keys("", U2, &[M1], "a1", "vm-a"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::Uuid,
                },
            ),
            (
                "VM UUID corroborated by its MAC after a re-install",
                keys("", U2, &[M1], "a9", "vm-a2"),
                vec![cand(1, keys("", U2, &[M1], "a1", "vm-a"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::Uuid,
                },
            ),
            (
                "dock MAC moved to another laptop: serials differ, no merge",
                keys("SN2", U2, &[M2, DOCK], "a2", "laptop-b"),
                vec![cand(1, keys("SN1", U1, &[M1, DOCK], "a1", "laptop-a"))],
                Decision::New,
            ),
            (
                "dock MAC, one laptop without UUID: the serial still vetoes",
                keys("SN2", "", &[DOCK], "a2", "laptop-b"),
                vec![cand(1, keys("SN1", "", &[DOCK], "a1", "laptop-a"))],
                Decision::New,
            ),
            (
                "cloned disk image on other hardware: same agent id, other serial",
                keys("SN2", U2, &[M2], "a1", "pc-0001"),
                vec![cand(1, keys("SN1", U1, &[M1], "a1", "pc-0001"))],
                Decision::New,
            ),
            (
                "no DMI at all: matched by MAC",
                keys("", "", &[M1], "a2", "pc-0001"),
                vec![cand(1, keys("", "", &[M1], "a1", "other-name"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::Mac,
                },
            ),
            (
                "no DMI at all, new NIC: matched by hostname in the same site",
                keys("", "", &[M2], "a2", "PC-0001"),
                vec![cand(1, keys("", "", &[M1], "a1", "pc-0001.lan.test"))],
                Decision::Match {
                    asset_id: 1,
                    rule: Rule::Hostname,
                },
            ),
            (
                "same hostname in another site is another machine",
                keys("", "", &[M2], "a2", "pc-0001"),
                vec![cand(1, other_site)],
                Decision::New,
            ),
            (
                "agent id alone",
                keys("", "", &[], "a1", "pc-x"),
                vec![cand(4, keys("", "", &[], "a1", "pc-y"))],
                Decision::Match {
                    asset_id: 4,
                    rule: Rule::AgentId,
                },
            ),
            (
                "a stronger rule wins over an older asset",
                keys("SN1", "", &[M1], "a1", "pc-0001"),
                vec![
                    cand(1, keys("", "", &[], "", "pc-0001")),
                    cand(2, keys("", "", &[M1], "", "x")),
                    cand(3, keys("SN1", "", &[], "", "y")),
                ],
                Decision::Match {
                    asset_id: 3,
                    rule: Rule::Serial,
                },
            ),
            (
                "tie: the oldest asset",
                keys("", "", &[M1, M2], "a1", "pc"),
                vec![
                    cand(7, keys("", "", &[M2], "", "x")),
                    cand(5, keys("", "", &[M1], "", "y")),
                ],
                Decision::Match {
                    asset_id: 5,
                    rule: Rule::Mac,
                },
            ),
            (
                "nothing in common",
                keys("SN9", U1, &[M3], "a9", "pc-9"),
                vec![],
                Decision::New,
            ),
        ];
        for (name, incoming, candidates, want) in cases {
            assert_eq!(reconcile(&incoming, &candidates), want, "{name}");
        }
    }

    #[test]
    fn junk_flag_is_not_trusted() {
        let mut inv = Inventory::default();
        inv.hardware.serial = Some(parc_shared::HardwareId {
            value: "To be filled by O.E.M.".into(),
            junk: false,
        });
        inv.hardware.uuid = Some(parc_shared::HardwareId {
            value: "00000000-0000-0000-0000-000000000000".into(),
            junk: false,
        });
        let k = Keys::from_inventory(&inv, "a1", SITE);
        assert_eq!((k.serial, k.uuid), (None, None));
    }

    #[test]
    fn swept_hosts() {
        let host = |mac: Option<&str>, ip: &str| SeenHost {
            mac: mac.map(str::to_string),
            ip: ip.to_string(),
            site_id: SITE,
        };
        let c = |asset_id, site_id, macs: &[&str], addrs: &[&str]| HostCandidate {
            asset_id,
            site_id,
            macs: macs.iter().map(|s| s.to_string()).collect(),
            addresses: addrs.iter().map(|s| s.to_string()).collect(),
        };
        let ip = "198.18.0.5";
        let cases = [
            (
                "MAC wins over address",
                host(Some(M1), ip),
                vec![c(2, SITE, &[], &[ip]), c(3, OTHER_SITE, &[M1], &[])],
                Decision::Match {
                    asset_id: 3,
                    rule: Rule::Mac,
                },
            ),
            (
                "address in the site",
                host(None, ip),
                vec![c(2, SITE, &[M1], &[ip])],
                Decision::Match {
                    asset_id: 2,
                    rule: Rule::Ip,
                },
            ),
            (
                "address in another site",
                host(None, ip),
                vec![c(2, OTHER_SITE, &[], &[ip])],
                Decision::New,
            ),
            (
                "address now on a machine with another MAC",
                host(Some(M2), ip),
                vec![c(2, SITE, &[M1], &[ip])],
                Decision::New,
            ),
            (
                "address on an asset without MACs",
                host(Some(M2), ip),
                vec![c(2, SITE, &[], &[ip])],
                Decision::Match {
                    asset_id: 2,
                    rule: Rule::Ip,
                },
            ),
            ("nothing", host(Some(M2), ip), vec![], Decision::New),
        ];
        for (name, h, cands, want) in cases {
            assert_eq!(reconcile_host(&h, &cands), want, "{name}");
        }
    }

    fn arb_keys() -> impl Strategy<Value = Keys> {
        // Small pools so that keys collide often.
        let serial = prop::option::of(prop::sample::select(vec!["SN1", "SN2", "SN3"]));
        let uuid = prop::option::of(prop::sample::select(vec![U1, U2]));
        let macs = prop::collection::vec(prop::sample::select(vec![M1, M2, M3, DOCK]), 0..3);
        let agent = prop::option::of(prop::sample::select(vec!["a1", "a2"]));
        let name = prop::option::of(prop::sample::select(vec!["pc-1", "pc-2"]));
        let site = 1i64..3;
        (serial, uuid, macs, agent, name, site).prop_map(|(s, u, m, a, n, site)| {
            let mut macs: Vec<String> = m.into_iter().map(str::to_string).collect();
            macs.sort();
            macs.dedup();
            Keys {
                serial: s.map(str::to_string),
                uuid: u.map(str::to_string),
                macs,
                agent_ids: a.into_iter().map(str::to_string).collect(),
                machine_id: None,
                name: n.map(str::to_string),
                site_id: site,
            }
        })
    }

    proptest! {
        #[test]
        fn merge_is_deterministic_and_respects_the_veto(
            incoming in arb_keys(),
            keys in prop::collection::vec(arb_keys(), 0..8),
            rotate in 0usize..8,
        ) {
            let candidates: Vec<Candidate> = keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| Candidate { asset_id: i as i64 + 1, keys: k })
                .collect();
            let decision = reconcile(&incoming, &candidates);

            let mut shuffled = candidates.clone();
            shuffled.reverse();
            if !shuffled.is_empty() {
                let n = rotate % shuffled.len();
                shuffled.rotate_left(n);
            }
            prop_assert_eq!(reconcile(&incoming, &shuffled), decision);

            if let Decision::Match { asset_id, rule } = decision {
                let chosen = candidates.iter().find(|c| c.asset_id == asset_id).unwrap();
                prop_assert!(!vetoed(&incoming, &chosen.keys), "{:?} vetoed but matched", rule);
                prop_assert!(holds(rule, &incoming, &chosen.keys));
            } else {
                // New only when no candidate satisfies any rule without a veto.
                for c in &candidates {
                    let any = INVENTORY_RULES.iter().any(|r| holds(*r, &incoming, &c.keys));
                    prop_assert!(vetoed(&incoming, &c.keys) || !any);
                }
            }
        }
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;
    use proptest::prelude::*;

    const SITE: i64 = 1;
    const M1: &str = "00:1a:2b:3c:4d:01";
    const M2: &str = "00:1a:2b:3c:4d:02";
    const IP: &str = "198.18.0.20";

    fn dev(serial: Option<&str>, macs: &[&str]) -> DeviceKeys {
        DeviceKeys {
            serial: serial.map(str::to_string),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            ip: IP.into(),
            site_id: SITE,
        }
    }

    fn cand(
        id: i64,
        site: i64,
        serial: Option<&str>,
        macs: &[&str],
        ips: &[&str],
    ) -> DeviceCandidate {
        DeviceCandidate {
            asset_id: id,
            site_id: site,
            serial: serial.map(str::to_string),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            addresses: ips.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn matched(asset_id: i64, rule: Rule) -> Decision {
        Decision::Match { asset_id, rule }
    }

    #[test]
    fn devices() {
        let cases = [
            (
                "serial beats an older asset at the address",
                dev(Some("FDO1"), &[M1]),
                vec![
                    cand(1, SITE, None, &[], &[IP]),
                    cand(5, 2, Some("FDO1"), &[], &[]),
                ],
                matched(5, Rule::Serial),
            ),
            (
                "MAC of an agent-reported PC",
                dev(None, &[M1]),
                vec![cand(3, SITE, Some("PC1"), &[M1], &["198.18.0.9"])],
                matched(3, Rule::Mac),
            ),
            (
                "MAC shared by two assets is ignored; the address decides",
                dev(None, &[M1]),
                vec![
                    cand(1, SITE, None, &[M1], &[]),
                    cand(2, SITE, None, &[M1], &[]),
                    cand(4, SITE, None, &[], &[IP]),
                ],
                matched(4, Rule::Ip),
            ),
            (
                "printer at the sweep's address",
                dev(Some("CNB1"), &[M1]),
                vec![cand(2, SITE, None, &[M1], &[IP])],
                matched(2, Rule::Mac),
            ),
            (
                "sweep asset at the address, no MAC known there",
                dev(Some("CNB1"), &[M1]),
                vec![cand(2, SITE, None, &[], &[IP])],
                matched(2, Rule::Ip),
            ),
            (
                "address in another site",
                dev(None, &[]),
                vec![cand(2, 2, None, &[], &[IP])],
                Decision::New,
            ),
            (
                "address now held by a machine with other MACs",
                dev(None, &[M2]),
                vec![cand(2, SITE, None, &[M1], &[IP])],
                Decision::New,
            ),
            (
                "serial veto over a MAC",
                dev(Some("FDO2"), &[M1]),
                vec![cand(2, SITE, Some("FDO1"), &[M1], &[IP])],
                Decision::New,
            ),
            ("nothing", dev(Some("X1Y2"), &[M1]), vec![], Decision::New),
        ];
        for (name, d, cands, want) in cases {
            assert_eq!(reconcile_device(&d, &cands), want, "{name}");
        }
    }

    #[test]
    fn kinds() {
        use DeviceType::*;
        let cases = [
            (Switch, None, false, "switch"),
            (Printer, Some("unknown"), false, "printer"),
            (Router, Some("computer"), true, "computer"),
            (Computer, Some("computer"), true, "computer"),
            (Router, Some("computer"), false, "router"),
            (Other, Some("switch"), false, "switch"),
            (Other, Some("unknown"), false, "other"),
            (Other, None, false, "other"),
            (Ups, Some("printer"), false, "ups"),
        ];
        for (identified, current, inv, want) in cases {
            assert_eq!(
                device_kind(identified, current, inv),
                want,
                "{identified} over {current:?} (inventory: {inv})"
            );
        }
    }

    #[test]
    fn arp() {
        const ROUTER: i64 = 9;
        let a = |id: i64, serial: Option<&str>, macs: &[&str]| ArpAsset {
            asset_id: id,
            serial: serial.map(str::to_string),
            macs: macs.iter().map(|m| m.to_string()).collect(),
        };
        let h = |asset: ArpAsset, source: &str| MacHolder {
            asset,
            source: source.into(),
        };
        let skip = ArpAction::Skip;
        let cases = [
            (
                "remote sweep asset gets its MAC",
                vec![a(1, None, &[])],
                vec![],
                ArpAction::Assign {
                    asset_id: 1,
                    take_from: vec![],
                },
            ),
            ("unknown address", vec![], vec![], skip("address unknown")),
            (
                "two assets at the address",
                vec![a(1, None, &[]), a(2, None, &[])],
                vec![],
                skip("address ambiguous"),
            ),
            (
                "already known",
                vec![a(1, None, &[M1])],
                vec![],
                skip("already known"),
            ),
            (
                "proxy ARP",
                vec![a(1, None, &[])],
                vec![h(a(ROUTER, Some("RT1"), &[M1]), "snmp")],
                skip("the router's own MAC"),
            ),
            (
                "veto: held by an asset with another serial",
                vec![a(1, Some("SN1"), &[])],
                vec![h(a(2, Some("SN2"), &[M1]), "sweep")],
                skip("held by an asset with another serial"),
            ),
            (
                "an agent's MAC is not taken",
                vec![a(1, None, &[])],
                vec![h(a(2, None, &[M1]), "inventory")],
                skip("reported by an agent on another asset"),
            ),
            (
                "stale sweep holder loses it",
                vec![a(1, Some("SN1"), &[])],
                vec![h(a(2, None, &[M1]), "sweep")],
                ArpAction::Assign {
                    asset_id: 1,
                    take_from: vec![2],
                },
            ),
            (
                "the router's own address",
                vec![a(ROUTER, None, &[])],
                vec![],
                skip("the router itself"),
            ),
        ];
        for (name, at_ip, holders, want) in cases {
            assert_eq!(arp_assignment(ROUTER, M1, &at_ip, &holders), want, "{name}");
        }
    }

    fn arb_candidate() -> impl Strategy<Value = DeviceCandidate> {
        let serial = prop::option::of(prop::sample::select(vec!["FDO1", "FDO2"]));
        let macs = prop::collection::vec(prop::sample::select(vec![M1, M2]), 0..3);
        let ips = prop::collection::vec(prop::sample::select(vec![IP, "198.18.0.21"]), 0..2);
        (serial, macs, ips, 1i64..3).prop_map(|(s, m, a, site)| DeviceCandidate {
            asset_id: 0,
            site_id: site,
            serial: s.map(str::to_string),
            macs: m.into_iter().map(str::to_string).collect(),
            addresses: a.into_iter().map(str::to_string).collect(),
        })
    }

    proptest! {
        #[test]
        fn device_merge_is_deterministic_and_respects_the_veto(
            serial in prop::option::of(prop::sample::select(vec!["FDO1", "FDO2"])),
            macs in prop::collection::vec(prop::sample::select(vec![M1, M2]), 0..3),
            cands in prop::collection::vec(arb_candidate(), 0..6),
        ) {
            let d = DeviceKeys {
                serial: serial.map(str::to_string),
                macs: macs.into_iter().map(str::to_string).collect(),
                ip: IP.into(),
                site_id: SITE,
            };
            let cands: Vec<DeviceCandidate> = cands
                .into_iter()
                .enumerate()
                .map(|(i, c)| DeviceCandidate { asset_id: i as i64 + 1, ..c })
                .collect();
            let decision = reconcile_device(&d, &cands);
            let mut reversed = cands.clone();
            reversed.reverse();
            prop_assert_eq!(reconcile_device(&d, &reversed), decision);
            if let Decision::Match { asset_id, rule } = decision {
                let c = cands.iter().find(|c| c.asset_id == asset_id).unwrap();
                prop_assert!(!differ(&d.serial, &c.serial));
                if rule == Rule::Ip {
                    prop_assert_eq!(c.site_id, SITE);
                }
            }
        }
    }
}
