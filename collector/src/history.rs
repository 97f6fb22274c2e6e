//! Which tracked facts changed between two inventories of the same asset. Pure; the store
//! writes what this returns as history rows.

use std::collections::BTreeMap;

use parc_shared::Inventory;

use crate::facts;

/// One package as history sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
    pub arch: Option<String>,
}

impl Package {
    fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The tracked fields of an inventory, rendered as the text history shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    scalars: Vec<(&'static str, Option<String>)>,
    software: Vec<Package>,
}

impl Snapshot {
    pub fn of(inv: &Inventory, software: &[Package]) -> Snapshot {
        Snapshot::with(inv, software.to_vec())
    }

    /// [`Snapshot::of`], taking the packages.
    pub fn with(inv: &Inventory, mut software: Vec<Package>) -> Snapshot {
        let hw = &inv.hardware;
        let list = |items: Vec<String>| (!items.is_empty()).then(|| items.join(", "));
        let scalars = vec![
            ("hostname", Some(inv.host.hostname.clone())),
            ("fqdn", inv.host.fqdn.clone()),
            ("domain", inv.host.domain.clone()),
            ("os_name", inv.os.name.clone()),
            ("os_version", inv.os.version.clone()),
            ("kernel", inv.os.kernel.clone()),
            ("manufacturer", hw.manufacturer.clone()),
            ("model", hw.model.clone()),
            ("serial", hw.serial.as_ref().map(|s| s.value.clone())),
            ("uuid", hw.uuid.as_ref().map(|u| u.value.clone())),
            (
                "bios_version",
                hw.bios.as_ref().and_then(|b| b.version.clone()),
            ),
            ("cpu_model", inv.cpus.first().and_then(|c| c.model.clone())),
            (
                "memory",
                (inv.memory.total_bytes > 0).then(|| inv.memory.total_bytes.to_string()),
            ),
            ("mac_addresses", list(inv.physical_macs())),
            ("ip_addresses", list(facts::inventory_addresses(inv))),
        ];
        software.sort();
        software.dedup();
        Snapshot { scalars, software }
    }
}

/// A tracked field that changed: `old`/`new` are None when the value was or became absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut changes: Vec<Change> = old
        .scalars
        .iter()
        .zip(&new.scalars)
        .filter(|((_, o), (_, n))| o != n)
        .map(|((field, o), (_, n))| Change {
            field,
            old: o.clone(),
            new: n.clone(),
        })
        .collect();
    changes.extend(software_changes(&old.software, &new.software));
    changes
}

/// Changes between two lists of named values (the same names, in the same order), as the SNMP
/// path tracks them. A value that disappears is a change to None.
pub fn scalar_changes(
    old: &[(&'static str, Option<String>)],
    new: &[(&'static str, Option<String>)],
) -> Vec<Change> {
    debug_assert!(old.iter().map(|o| o.0).eq(new.iter().map(|n| n.0)));
    old.iter()
        .zip(new)
        .filter(|((_, o), (_, n))| o != n)
        .map(|((field, o), (_, n))| Change {
            field,
            old: o.clone(),
            new: n.clone(),
        })
        .collect()
}

/// Packages are grouped by name and architecture so that an upgrade reads as one change
/// ("firefox-esr 115.1" → "firefox-esr 115.2") rather than a removal and an addition. Only the
/// packages in one list and not the other are grouped: usually a handful of ~800.
fn software_changes(old: &[Package], new: &[Package]) -> Vec<Change> {
    type Group<'a> = BTreeMap<(&'a str, Option<&'a str>), Vec<&'a Package>>;
    fn group<'a>(list: impl Iterator<Item = &'a Package>) -> Group<'a> {
        let mut g: Group<'a> = BTreeMap::new();
        for p in list {
            g.entry((p.name.as_str(), p.arch.as_deref()))
                .or_default()
                .push(p);
        }
        g
    }
    let (old, new) = (group(only_in(old, new)), group(only_in(new, old)));
    let mut keys: Vec<_> = old.keys().chain(new.keys()).copied().collect();
    keys.sort();
    keys.dedup();

    let mut out = Vec::new();
    for key in keys {
        let removed = old.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let added = new.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let paired = removed.len().min(added.len());
        for i in 0..removed.len().max(added.len()) {
            let (o, n) = if i < paired {
                (Some(removed[i]), Some(added[i]))
            } else {
                (removed.get(i).copied(), added.get(i).copied())
            };
            out.push(Change {
                field: "software",
                old: o.map(Package::label),
                new: n.map(Package::label),
            });
        }
    }
    out
}

/// The packages of `list` that `other` does not have, in order; both are sorted without
/// repeats, as in a [`Snapshot`].
fn only_in<'a>(list: &'a [Package], other: &'a [Package]) -> impl Iterator<Item = &'a Package> {
    let mut rest = other.iter().peekable();
    list.iter().filter(move |p| {
        while rest.next_if(|o| o < p).is_some() {}
        rest.peek() != Some(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::inventory::NetworkInterface;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: Some(version.into()),
            arch: Some("amd64".into()),
        }
    }

    fn inv(hostname: &str, mac: &str, ip: &str) -> Inventory {
        let mut inv = Inventory::default();
        inv.host.hostname = hostname.into();
        inv.network.interfaces.push(NetworkInterface {
            name: "eth0".into(),
            mac: Some(mac.into()),
            addresses: vec![ip.into(), "127.0.0.1/8".into()],
            state: "up".into(),
            ..Default::default()
        });
        inv
    }

    fn change(field: &'static str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            field,
            old: old.map(str::to_string),
            new: new.map(str::to_string),
        }
    }

    #[test]
    fn table() {
        let base = inv("pc-1", "00:1a:2b:3c:4d:01", "198.18.0.5/21");
        let sw = vec![pkg("curl", "7.88"), pkg("firefox-esr", "115.1")];
        let mut renamed = base.clone();
        renamed.host.hostname = "pc-2".into();
        let mut more_ram = base.clone();
        more_ram.memory.total_bytes = 16 << 30;
        let moved = inv("pc-1", "00:1a:2b:3c:4d:01", "198.18.1.9/21");

        let cases: Vec<(&str, Inventory, Vec<Package>, Vec<Change>)> = vec![
            ("nothing changed", base.clone(), sw.clone(), vec![]),
            (
                "rename",
                renamed,
                sw.clone(),
                vec![change("hostname", Some("pc-1"), Some("pc-2"))],
            ),
            (
                "memory appears",
                more_ram,
                sw.clone(),
                vec![change("memory", None, Some("17179869184"))],
            ),
            (
                "new address",
                moved,
                sw.clone(),
                vec![change(
                    "ip_addresses",
                    Some("198.18.0.5"),
                    Some("198.18.1.9"),
                )],
            ),
            (
                "upgrade, install, removal",
                base.clone(),
                vec![pkg("firefox-esr", "115.2"), pkg("vim", "9.0")],
                vec![
                    change("software", Some("curl 7.88"), None),
                    change(
                        "software",
                        Some("firefox-esr 115.1"),
                        Some("firefox-esr 115.2"),
                    ),
                    change("software", None, Some("vim 9.0")),
                ],
            ),
        ];
        let old = Snapshot::of(&base, &sw);
        for (name, new_inv, new_sw, want) in cases {
            assert_eq!(diff(&old, &Snapshot::of(&new_inv, &new_sw)), want, "{name}");
        }
    }

    #[test]
    fn scalars() {
        let s = |v: &str| Some(v.to_string());
        let old = [
            ("kind", s("unknown")),
            ("model", None),
            ("firmware", s("15.2")),
        ];
        let new = [
            ("kind", s("switch")),
            ("model", s("WS-C2960X")),
            ("firmware", s("15.2")),
        ];
        assert_eq!(
            scalar_changes(&old, &new),
            vec![
                change("kind", Some("unknown"), Some("switch")),
                change("model", None, Some("WS-C2960X")),
            ]
        );
        assert!(scalar_changes(&new, &new).is_empty());
    }

    #[test]
    fn package_order_does_not_matter() {
        let base = Inventory::default();
        let a = vec![pkg("a", "1"), pkg("b", "2")];
        let b = vec![pkg("b", "2"), pkg("a", "1")];
        assert!(diff(&Snapshot::of(&base, &a), &Snapshot::of(&base, &b)).is_empty());
    }

    #[test]
    fn only_in_walks_two_sorted_lists() {
        let (a, b, c, d) = (pkg("a", "1"), pkg("b", "1"), pkg("c", "1"), pkg("d", "1"));
        let cases: [(Vec<Package>, Vec<Package>, Vec<&Package>); 5] = [
            (vec![a.clone(), b.clone()], vec![], vec![&a, &b]),
            (vec![], vec![a.clone()], vec![]),
            (
                vec![a.clone(), c.clone()],
                vec![b.clone(), c.clone()],
                vec![&a],
            ),
            (
                vec![b.clone(), d.clone()],
                vec![a.clone(), c.clone()],
                vec![&b, &d],
            ),
            (
                vec![a.clone(), b.clone()],
                vec![a.clone(), b.clone()],
                vec![],
            ),
        ];
        for (list, other, want) in &cases {
            let got: Vec<&Package> = only_in(list, other).collect();
            assert_eq!(&got, want, "{list:?} vs {other:?}");
        }
    }

    /// The change list is the one of grouping both whole lists (how it was computed before the
    /// common packages were left out of the grouping).
    fn grouped_in_full(old: &[Package], new: &[Package]) -> Vec<Change> {
        let key = |p: &Package| (p.name.clone(), p.arch.clone());
        let mut keys: Vec<_> = old.iter().chain(new).map(key).collect();
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for k in keys {
            let before: Vec<&Package> = old.iter().filter(|p| key(p) == k).collect();
            let after: Vec<&Package> = new.iter().filter(|p| key(p) == k).collect();
            let removed: Vec<_> = before.iter().filter(|p| !after.contains(p)).collect();
            let added: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
            for i in 0..removed.len().max(added.len()) {
                out.push(Change {
                    field: "software",
                    old: removed.get(i).map(|p| p.label()),
                    new: added.get(i).map(|p| p.label()),
                });
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn software_changes_match_grouping_in_full(
            old in proptest::collection::vec(("[a-d]", "[1-3]", proptest::option::of("x(86|64)")), 0..12),
            new in proptest::collection::vec(("[a-d]", "[1-3]", proptest::option::of("x(86|64)")), 0..12),
        ) {
            let list = |v: Vec<(String, String, Option<String>)>| {
                let mut l: Vec<Package> = v
                    .into_iter()
                    .map(|(name, version, arch)| Package { name, version: Some(version), arch })
                    .collect();
                l.sort();
                l.dedup();
                l
            };
            let (old, new) = (list(old), list(new));
            proptest::prop_assert_eq!(software_changes(&old, &new), grouped_in_full(&old, &new));
        }
    }
}
