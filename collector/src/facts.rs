//! What the collector derives from a document before storing or comparing it: identity keys
//! (normalised, junk re-checked), the addresses worth indexing, the software rows.
//!
//! The agent already flags junk serials and UUIDs; the collector recomputes every verdict here
//! because an old or buggy agent must not be able to merge unrelated machines.

use std::net::IpAddr;

use parc_shared::identity::is_locally_administered;
use parc_shared::inventory::NetworkInterface;
use parc_shared::snmp::SnmpDevice;
use parc_shared::{is_junk_serial, is_junk_uuid, normalize_mac, Inventory};
use serde_json::json;

/// A serial usable for matching: trimmed, upper-cased, None when absent or a vendor placeholder.
pub fn serial_key(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty() && !is_junk_serial(raw)).then(|| raw.to_ascii_uppercase())
}

/// An SMBIOS UUID usable for matching: lower-cased, None when absent or a placeholder.
pub fn uuid_key(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty() && !is_junk_uuid(raw)).then(|| raw.to_ascii_lowercase())
}

/// The name the hostname rule compares: the first DNS label, lower-cased, so that an agent's
/// "PC-0042" and a sweep's reverse-DNS "pc-0042.lan.test" are the same name. An address used
/// as a name is kept whole (its first "label" would be one octet).
pub fn name_key(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    if name.is_empty() {
        return None;
    }
    if name.parse::<IpAddr>().is_ok() {
        return Some(name.to_ascii_lowercase());
    }
    let short = name.split('.').next().unwrap_or(name);
    (!short.is_empty()).then(|| short.to_ascii_lowercase())
}

/// An address without its prefix length ("192.0.2.10/24" → "192.0.2.10"), canonicalised, or
/// None when it cannot locate a machine: loopback, unspecified, link-local and multicast
/// addresses exist on every host.
pub fn routable_address(text: &str) -> Option<String> {
    let addr = text.split('/').next()?.trim();
    // Scoped IPv6 ("fe80::1%eth0") is link-local anyway.
    let ip: IpAddr = addr.parse().ok()?;
    let useless = ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || match ip {
            IpAddr::V4(v4) => v4.is_link_local() || v4.is_broadcast(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
    (!useless).then(|| ip.to_string())
}

/// Addresses of the machine's physical interfaces. Virtual interfaces are left out: every
/// Docker host has 172.17.0.1, and a sweep finding that address must not land on all of them.
pub fn inventory_addresses(inv: &Inventory) -> Vec<String> {
    let mut out: Vec<String> = inv
        .network
        .interfaces
        .iter()
        .filter(|i| !i.is_virtual)
        .flat_map(|i| i.addresses.iter())
        .filter_map(|a| routable_address(a))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The serial and UUID of an inventory as stored for display: raw value and recomputed junk
/// verdict.
pub fn hardware_id_json(id: Option<&parc_shared::HardwareId>, uuid: bool) -> serde_json::Value {
    match id {
        None => serde_json::Value::Null,
        Some(id) => {
            let junk = if uuid {
                uuid_key(&id.value).is_none()
            } else {
                serial_key(&id.value).is_none()
            };
            serde_json::json!({"value": id.value, "junk": junk})
        }
    }
}

/// MAC of an interface, normalised; None for anything unusable.
pub fn interface_mac(i: &NetworkInterface) -> Option<String> {
    i.mac.as_deref().and_then(normalize_mac)
}

/// "Debian GNU/Linux 12", the one-line OS shown in asset lists.
pub fn os_summary(inv: &Inventory) -> Option<String> {
    let os = &inv.os;
    if let Some(p) = os.pretty_name.as_deref().filter(|p| !p.trim().is_empty()) {
        return Some(p.to_string());
    }
    match (os.name.as_deref(), os.version.as_deref()) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.to_string()),
        _ => (!os.family.is_empty()).then(|| os.family.clone()),
    }
}

/// A MAC that can identify hardware: normalised, not all-zero or broadcast, not multicast
/// (group bit set: LLDP, STP and VRRP addresses are shared by every device speaking them) and
/// not locally administered (made up by software).
pub fn hardware_mac(raw: &str) -> Option<String> {
    let mac = normalize_mac(raw)?;
    let first = u8::from_str_radix(&mac[0..2], 16).ok()?;
    (first & 0x01 == 0 && !is_locally_administered(&mac)).then_some(mac)
}

/// The device's interface MACs usable for matching, sorted and deduplicated.
pub fn device_macs(d: &SnmpDevice) -> Vec<String> {
    let mut macs: Vec<String> = d
        .interfaces
        .iter()
        .filter_map(|i| i.mac.as_deref())
        .filter_map(hardware_mac)
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// The device's serial as reported (identification first, then the ENTITY-MIB chassis, then
/// the Printer-MIB), with its matching key when it is not a placeholder.
pub fn device_serial(d: &SnmpDevice) -> (Option<String>, Option<String>) {
    let reported = [
        d.identification.serial.as_deref(),
        d.chassis.as_ref().and_then(|c| c.serial.as_deref()),
        d.printer.as_ref().and_then(|p| p.serial.as_deref()),
    ];
    // A junk identification serial must not hide a usable chassis serial.
    let usable = reported
        .iter()
        .flatten()
        .find_map(|s| serial_key(s).map(|key| (s.trim(), key)));
    match usable {
        Some((raw, key)) => (Some(raw.to_string()), Some(key)),
        None => (
            reported
                .iter()
                .flatten()
                .map(|s| s.trim())
                .find(|s| !s.is_empty())
                .map(str::to_string),
            None,
        ),
    }
}

/// What the CMDB keeps of an SNMP record: everything but the forwarding and ARP tables, which
/// can hold a quarter of a million rows each and are stored as placements and MACs instead.
pub fn snmp_summary(d: &SnmpDevice) -> serde_json::Value {
    json!({
        "ip": d.ip,
        "port": d.port,
        "version": d.version,
        "identification": d.identification,
        "system": d.system,
        "chassis": d.chassis,
        "interfaces": d.interfaces,
        "ip_addresses": d.ip_addresses,
        "ip_forwarding": d.ip_forwarding,
        "printer": d.printer,
        "ups": d.ups,
        // Makers' MIB values (battery runtime, manufacture date, vendor serials) that the
        // standard MIBs lacked: kept so the asset shows what the device said.
        "vendor_mib": d.vendor_mib,
        "host": d.host,
        "bridge": d.bridge.as_ref().map(|b| json!({
            "num_ports": b.num_ports,
            "forwarding_entries": b.forwarding.len(),
        })),
        "lldp_neighbors": d.lldp_neighbors,
        "cdp_neighbors": d.cdp_neighbors,
        "arp_entries": d.arp.len(),
        "errors": d.errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_keys() {
        let cases = [
            ("  5cg1234xyz ", Some("5CG1234XYZ")),
            ("To be filled by O.E.M.", None),
            ("0000000000", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(serial_key(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn uuid_keys() {
        let cases = [
            (
                "4C4C4544-0042-3510-8052-B4C04F4A4E32",
                Some("4c4c4544-0042-3510-8052-b4c04f4a4e32"),
            ),
            ("00000000-0000-0000-0000-000000000000", None),
            ("03000200-0400-0500-0006-000700080009", None),
        ];
        for (raw, want) in cases {
            assert_eq!(uuid_key(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn name_keys() {
        let cases = [
            ("PC-0042", Some("pc-0042")),
            ("pc-0042.lan.test.", Some("pc-0042")),
            ("198.18.0.7", Some("198.18.0.7")),
            ("  ", None),
        ];
        for (raw, want) in cases {
            assert_eq!(name_key(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn routable_addresses() {
        let cases = [
            ("198.18.0.10/21", Some("198.18.0.10")),
            ("2001:db8::1/64", Some("2001:db8::1")),
            ("127.0.0.1/8", None),
            ("::1/128", None),
            ("fe80::1/64", None),
            ("169.254.3.4/16", None),
            ("0.0.0.0", None),
            ("not an address", None),
        ];
        for (raw, want) in cases {
            assert_eq!(routable_address(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn hardware_macs() {
        let cases = [
            ("00:1A:2B:3C:4D:5E", Some("00:1a:2b:3c:4d:5e")),
            ("01:80:c2:00:00:0e", None),
            ("01:00:5e:00:00:01", None),
            ("02:42:ac:11:00:02", None),
            ("00:00:00:00:00:00", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(hardware_mac(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn device_serials() {
        use parc_shared::snmp::{EntityChassis, PrinterInfo};
        let mut d = SnmpDevice::default();
        assert_eq!(device_serial(&d), (None, None));
        d.identification.serial = Some("To be filled by O.E.M.".into());
        d.chassis = Some(EntityChassis {
            serial: Some("fdo1234x0ab".into()),
            ..Default::default()
        });
        assert_eq!(
            device_serial(&d),
            (Some("fdo1234x0ab".into()), Some("FDO1234X0AB".into()))
        );
        d.chassis = None;
        assert_eq!(
            device_serial(&d),
            (Some("To be filled by O.E.M.".into()), None)
        );
        let printer = SnmpDevice {
            printer: Some(PrinterInfo {
                serial: Some(" CNB1K23456 ".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            device_serial(&printer),
            (Some("CNB1K23456".into()), Some("CNB1K23456".into()))
        );
    }
}
