//! Trims an inventory to the limits the collector enforces (`parc_shared::limits`).
//!
//! The collector refuses a whole document when one list is too long or one string too large.
//! Trimming here means an odd fact (a Kubernetes node with 2,000 veth interfaces, a 10 kB
//! GECOS field) costs that fact, with a warning, rather than the host's whole inventory.

use parc_shared::inventory::Inventory;
use parc_shared::limits::*;

/// Returns how many values were cut, for the log and the tests.
pub fn fit_to_limits(inv: &mut Inventory) -> usize {
    let mut cut = 0;
    let net = &mut inv.network;
    if net.interfaces.len() > MAX_INTERFACES {
        // Physical interfaces identify the machine: they are kept first.
        net.interfaces.sort_by_key(|i| i.is_virtual);
    }
    cut += truncate("network.interfaces", &mut net.interfaces, MAX_INTERFACES);
    for i in &mut net.interfaces {
        cut += truncate(
            "network.interfaces.addresses",
            &mut i.addresses,
            MAX_ADDRESSES_PER_INTERFACE,
        );
    }
    cut += truncate(
        "network.gateways",
        &mut net.gateways,
        MAX_ADDRESSES_PER_INTERFACE,
    );
    cut += truncate(
        "network.dns_servers",
        &mut net.dns_servers,
        MAX_ADDRESSES_PER_INTERFACE,
    );
    cut += truncate("software", &mut inv.software, MAX_SOFTWARE);
    cut += truncate("cpus", &mut inv.cpus, MAX_CPUS);
    cut += truncate("disks", &mut inv.disks, MAX_DISKS);
    cut += truncate("filesystems", &mut inv.filesystems, MAX_FILESYSTEMS);
    cut += truncate("users.local", &mut inv.users.local, MAX_USERS);
    cut += truncate("users.groups", &mut inv.users.groups, MAX_USERS);
    cut += truncate("users.logged_in", &mut inv.users.logged_in, MAX_USERS);
    for g in &mut inv.users.groups {
        cut += truncate("users.groups.members", &mut g.members, MAX_USERS);
    }
    cut + clamp_strings(inv)
}

fn truncate<T>(what: &str, list: &mut Vec<T>, max: usize) -> usize {
    if list.len() <= max {
        return 0;
    }
    tracing::warn!(
        what,
        found = list.len(),
        kept = max,
        "more entries than the collector accepts: the rest are dropped"
    );
    let cut = list.len() - max;
    list.truncate(max);
    cut
}

/// Shortens every string longer than MAX_FIELD_CHARS characters, at a character boundary.
fn clamp_strings(inv: &mut Inventory) -> usize {
    let mut strings: Vec<&mut String> = Vec::new();
    let h = &mut inv.host;
    strings.push(&mut h.hostname);
    strings.extend(
        [
            &mut h.fqdn,
            &mut h.domain,
            &mut h.machine_id,
            &mut h.virtualization,
        ]
        .into_iter()
        .flatten(),
    );
    let o = &mut inv.os;
    strings.extend([&mut o.family, &mut o.arch]);
    strings.extend(
        [
            &mut o.name,
            &mut o.version,
            &mut o.pretty_name,
            &mut o.kernel,
            &mut o.timezone,
        ]
        .into_iter()
        .flatten(),
    );
    let hw = &mut inv.hardware;
    strings.extend(
        [&mut hw.manufacturer, &mut hw.model, &mut hw.chassis_type]
            .into_iter()
            .flatten(),
    );
    strings.extend(
        [&mut hw.serial, &mut hw.uuid]
            .into_iter()
            .flatten()
            .map(|id| &mut id.value),
    );
    if let Some(b) = &mut hw.bios {
        strings.extend(
            [&mut b.vendor, &mut b.version, &mut b.date]
                .into_iter()
                .flatten(),
        );
    }
    for c in &mut inv.cpus {
        strings.push(&mut c.arch);
        strings.extend([&mut c.model, &mut c.vendor].into_iter().flatten());
    }
    for d in &mut inv.disks {
        strings.push(&mut d.name);
        strings.extend(
            [&mut d.model, &mut d.vendor, &mut d.serial, &mut d.kind]
                .into_iter()
                .flatten(),
        );
    }
    for f in &mut inv.filesystems {
        strings.extend([&mut f.mount_point, &mut f.fs_type]);
        strings.extend(f.device.as_mut());
    }
    let net = &mut inv.network;
    for i in &mut net.interfaces {
        strings.extend([&mut i.name, &mut i.state]);
        strings.extend([&mut i.mac, &mut i.driver].into_iter().flatten());
        strings.extend(i.addresses.iter_mut());
    }
    strings.extend(net.gateways.iter_mut().chain(net.dns_servers.iter_mut()));
    for s in &mut inv.software {
        strings.extend([&mut s.name, &mut s.source]);
        strings.extend(
            [&mut s.version, &mut s.arch, &mut s.publisher]
                .into_iter()
                .flatten(),
        );
    }
    let u = &mut inv.users;
    for l in &mut u.local {
        strings.push(&mut l.name);
        strings.extend(
            [&mut l.full_name, &mut l.home, &mut l.shell]
                .into_iter()
                .flatten(),
        );
    }
    for g in &mut u.groups {
        strings.push(&mut g.name);
        strings.extend(g.members.iter_mut());
    }
    for s in &mut u.logged_in {
        strings.push(&mut s.user);
        strings.extend([&mut s.terminal, &mut s.host].into_iter().flatten());
    }

    let mut cut = 0;
    for s in strings {
        // Byte length bounds character count: most strings skip the char walk.
        if s.len() > MAX_FIELD_CHARS {
            if let Some((end, _)) = s.char_indices().nth(MAX_FIELD_CHARS) {
                let start: String = s.chars().take(40).collect();
                tracing::warn!(
                    chars = s.chars().count(),
                    start,
                    "value longer than the collector accepts: shortened"
                );
                s.truncate(end);
                cut += 1;
            }
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::inventory::{LocalUser, NetworkInterface, Software};

    #[test]
    fn oversized_lists_and_strings_are_trimmed_physical_interfaces_kept() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-0042".into();
        inv.network.interfaces = (0..MAX_INTERFACES + 5)
            .map(|n| NetworkInterface {
                name: format!("veth{n}"),
                is_virtual: true,
                ..Default::default()
            })
            .chain([NetworkInterface {
                name: "eno1".into(),
                ..Default::default()
            }])
            .collect();
        inv.users.local = vec![LocalUser {
            name: "jdupont".into(),
            full_name: Some("é".repeat(MAX_FIELD_CHARS + 10)),
            ..Default::default()
        }];
        inv.software = vec![Software {
            name: "ok".into(),
            version: Some("x".repeat(MAX_FIELD_CHARS)),
            ..Default::default()
        }];

        let cut = fit_to_limits(&mut inv);

        assert_eq!(cut, 6 + 1, "6 interfaces and one string");
        assert_eq!(inv.network.interfaces.len(), MAX_INTERFACES);
        assert_eq!(inv.network.interfaces[0].name, "eno1");
        let full_name = inv.users.local[0].full_name.as_ref().unwrap();
        assert_eq!(full_name.chars().count(), MAX_FIELD_CHARS);
        assert!(full_name.chars().all(|c| c == 'é'));
        assert_eq!(
            inv.software[0].version.as_ref().unwrap().len(),
            MAX_FIELD_CHARS,
            "at the limit is kept"
        );
    }

    #[test]
    fn an_ordinary_inventory_is_untouched() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-0042".into();
        inv.software = vec![Software {
            name: "bash".into(),
            version: Some("5.2.15-2+b7".into()),
            ..Default::default()
        }];
        let before = inv.clone();
        assert_eq!(fit_to_limits(&mut inv), 0);
        assert_eq!(inv, before);
    }
}
