//! Trims an SNMP device to the limits the collector enforces (`parc_shared::limits`) before it
//! is spooled.
//!
//! The collector refuses a whole document when one list is too long, one string too large or
//! the body too big. A core switch with a huge forwarding table should cost the tail of that
//! table, not the switch: each cut is recorded in the device's `errors` (section "limits") so
//! the CMDB shows that the list is incomplete.

use parc_shared::limits::*;
use parc_shared::snmp::{SectionError, SnmpDevice};

/// Room left in a document for the header and the JSON around the device.
const ENVELOPE_BYTES: usize = 64 * 1024;

/// Trims `device` in place; returns how many values were cut.
pub fn fit_to_limits(device: &mut SnmpDevice) -> usize {
    let mut notes = Vec::new();
    let mut cut = 0;
    cut += truncate(
        &mut notes,
        "interfaces",
        &mut device.interfaces,
        MAX_SNMP_INTERFACES,
    );
    cut += truncate(
        &mut notes,
        "ip_addresses",
        &mut device.ip_addresses,
        MAX_SNMP_ADDRESSES,
    );
    if let Some(b) = &mut device.bridge {
        cut += truncate(
            &mut notes,
            "bridge.forwarding",
            &mut b.forwarding,
            MAX_FDB_ENTRIES,
        );
    }
    cut += truncate(
        &mut notes,
        "lldp_neighbors",
        &mut device.lldp_neighbors,
        MAX_NEIGHBORS,
    );
    cut += truncate(
        &mut notes,
        "cdp_neighbors",
        &mut device.cdp_neighbors,
        MAX_NEIGHBORS,
    );
    cut += truncate(&mut notes, "arp", &mut device.arp, MAX_ARP_ENTRIES);
    if let Some(h) = &mut device.host {
        cut += truncate(&mut notes, "host.storage", &mut h.storage, MAX_SNMP_STORAGE);
    }
    if let Some(p) = &mut device.printer {
        cut += truncate(
            &mut notes,
            "printer.supplies",
            &mut p.supplies,
            MAX_PRINTER_SUPPLIES,
        );
    }
    let strings = clamp_strings(device);
    if strings > 0 {
        notes.push(format!(
            "{strings} value(s) longer than {MAX_FIELD_CHARS} characters shortened"
        ));
        cut += strings;
    }
    cut += fit_size(&mut notes, device);
    for message in notes {
        tracing::warn!(device = %device.ip, %message, "SNMP device trimmed to the collector's limits");
        device.errors.push(SectionError {
            section: "limits".into(),
            message,
        });
    }
    cut
}

fn truncate<T>(notes: &mut Vec<String>, what: &str, list: &mut Vec<T>, max: usize) -> usize {
    if list.len() <= max {
        return 0;
    }
    notes.push(format!(
        "{what}: {} entries, the first {max} kept",
        list.len()
    ));
    let cut = list.len() - max;
    list.truncate(max);
    cut
}

/// Shortens every string of the device longer than MAX_FIELD_CHARS characters. Done over the
/// JSON form so that a field added to the wire model later is covered without a change here.
fn clamp_strings(device: &mut SnmpDevice) -> usize {
    fn walk(v: &mut serde_json::Value, cut: &mut usize) {
        match v {
            serde_json::Value::String(s) if s.len() > MAX_FIELD_CHARS => {
                if let Some((end, _)) = s.char_indices().nth(MAX_FIELD_CHARS) {
                    s.truncate(end);
                    *cut += 1;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, cut)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|v| walk(v, cut)),
            _ => {}
        }
    }
    // Byte length bounds character count: the common device skips the JSON round trip.
    let long = serde_json::to_string(device)
        .map(|j| j.len() > MAX_FIELD_CHARS)
        .unwrap_or(false);
    if !long {
        return 0;
    }
    let Ok(mut value) = serde_json::to_value(&*device) else {
        return 0;
    };
    let mut cut = 0;
    walk(&mut value, &mut cut);
    if cut > 0 {
        match serde_json::from_value(value) {
            Ok(d) => *device = d,
            Err(e) => tracing::error!(error = %e, "cannot rebuild a trimmed SNMP device"),
        }
    }
    cut
}

/// Halves the longest table until the document fits in MAX_DOCUMENT_BYTES: each list can be
/// within its own bound and the whole still be too big (a full forwarding table and a full
/// ARP table together).
fn fit_size(notes: &mut Vec<String>, device: &mut SnmpDevice) -> usize {
    let budget = MAX_DOCUMENT_BYTES - ENVELOPE_BYTES;
    let mut cut = 0;
    loop {
        let size = serde_json::to_vec(device).map(|v| v.len()).unwrap_or(0);
        if size <= budget {
            return cut;
        }
        let fdb = device.bridge.as_ref().map_or(0, |b| b.forwarding.len());
        let lens = [
            ("bridge.forwarding", fdb),
            ("arp", device.arp.len()),
            ("interfaces", device.interfaces.len()),
            ("ip_addresses", device.ip_addresses.len()),
        ];
        let (what, len) = lens.into_iter().max_by_key(|(_, n)| *n).unwrap_or(("", 0));
        if len <= 1 {
            notes.push(format!(
                "{size} bytes of JSON even with its tables cut: over the {MAX_DOCUMENT_BYTES} accepted"
            ));
            return cut;
        }
        let keep = len / 2;
        notes.push(format!(
            "{what}: cut from {len} to {keep} entries to keep the document under {MAX_DOCUMENT_BYTES} bytes"
        ));
        match what {
            "bridge.forwarding" => {
                if let Some(b) = &mut device.bridge {
                    b.forwarding.truncate(keep);
                }
            }
            "arp" => device.arp.truncate(keep),
            "interfaces" => device.interfaces.truncate(keep),
            _ => device.ip_addresses.truncate(keep),
        }
        cut += len - keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::snmp::{ArpEntry, BridgeInfo, FdbEntry, LldpNeighbor, SnmpSystem};

    #[test]
    fn a_device_within_limits_is_untouched() {
        let mut d = SnmpDevice {
            ip: "10.0.0.1".into(),
            system: SnmpSystem {
                descr: Some("é".repeat(MAX_FIELD_CHARS)),
                ..Default::default()
            },
            lldp_neighbors: vec![LldpNeighbor::default(); 3],
            ..Default::default()
        };
        let before = d.clone();
        assert_eq!(fit_to_limits(&mut d), 0);
        assert_eq!(d, before);
    }

    #[test]
    fn long_lists_and_strings_are_cut_and_recorded() {
        let mut d = SnmpDevice {
            ip: "10.0.0.1".into(),
            system: SnmpSystem {
                // Multi-byte characters: the cut must land on a character boundary.
                descr: Some("é".repeat(MAX_FIELD_CHARS + 10)),
                ..Default::default()
            },
            lldp_neighbors: vec![LldpNeighbor::default(); MAX_NEIGHBORS + 7],
            ..Default::default()
        };
        assert_eq!(fit_to_limits(&mut d), 8);
        assert_eq!(d.lldp_neighbors.len(), MAX_NEIGHBORS);
        assert_eq!(
            d.system.descr.as_ref().unwrap().chars().count(),
            MAX_FIELD_CHARS
        );
        let limits: Vec<&str> = d
            .errors
            .iter()
            .filter(|e| e.section == "limits")
            .map(|e| e.message.as_str())
            .collect();
        assert_eq!(limits.len(), 2, "{limits:?}");
        assert!(
            limits[0].starts_with("lldp_neighbors: 4103 entries"),
            "{limits:?}"
        );
    }

    #[test]
    fn tables_within_their_bounds_are_still_cut_to_the_document_size() {
        // Each table within its own bound, together far over 16 MiB.
        let mac = "00:11:22:33:44:55".to_string();
        let mut d = SnmpDevice {
            ip: "10.0.0.1".into(),
            bridge: Some(BridgeInfo {
                num_ports: Some(48),
                forwarding: vec![
                    FdbEntry {
                        mac: mac.clone(),
                        bridge_port: 12,
                        if_index: Some(10012),
                        vlan: Some(100),
                    };
                    MAX_FDB_ENTRIES
                ],
            }),
            arp: vec![
                ArpEntry {
                    ip: "10.200.300.400".into(),
                    mac,
                    if_index: 10012,
                };
                MAX_ARP_ENTRIES
            ],
            ..Default::default()
        };
        assert!(fit_to_limits(&mut d) > 0);
        let size = serde_json::to_vec(&d).unwrap().len();
        assert!(size <= MAX_DOCUMENT_BYTES - ENVELOPE_BYTES, "{size}");
        assert!(d
            .errors
            .iter()
            .any(|e| e.message.contains("bridge.forwarding: cut")));
        // Halving, not emptying: most of the table survives.
        assert!(d.bridge.as_ref().unwrap().forwarding.len() >= MAX_FDB_ENTRIES / 4);
    }
}
