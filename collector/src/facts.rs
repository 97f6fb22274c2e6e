//! What the collector derives from a document before storing or comparing it: identity keys
//! (normalised, junk re-checked), the addresses worth indexing, the software rows.
//!
//! The agent already flags junk serials and UUIDs; the collector recomputes every verdict here
//! because an old or buggy agent must not be able to merge unrelated machines.

use std::net::IpAddr;

use parc_shared::inventory::NetworkInterface;
use parc_shared::{is_junk_serial, is_junk_uuid, normalize_mac, Inventory};

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
}
