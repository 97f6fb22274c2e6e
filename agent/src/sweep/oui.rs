//! Vendor names from a MAC's OUI. The table (`oui.tsv`, ~7,400 prefixes of ~100 vendors common
//! on hospital networks) is a subset of the IEEE public MA-L listing; see its header.

use std::sync::OnceLock;

use super::arp::Mac;

static TABLE: OnceLock<Vec<(u32, &'static str)>> = OnceLock::new();

fn table() -> &'static [(u32, &'static str)] {
    TABLE.get_or_init(|| parse(include_str!("oui.tsv")))
}

fn parse(text: &'static str) -> Vec<(u32, &'static str)> {
    let mut v: Vec<(u32, &'static str)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (hex, name) = l.split_once('\t')?;
            Some((u32::from_str_radix(hex.trim(), 16).ok()?, name.trim()))
        })
        .collect();
    v.sort_unstable();
    v
}

/// The vendor of `mac`, if its OUI is in the table. Locally administered addresses (random
/// MACs of phones, VMs) have no vendor.
pub fn vendor(mac: &Mac) -> Option<&'static str> {
    if mac[0] & 0x02 != 0 {
        return None;
    }
    let key = u32::from_be_bytes([0, mac[0], mac[1], mac[2]]);
    let t = table();
    t.binary_search_by_key(&key, |e| e.0).ok().map(|i| t[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_prefixes() {
        let cases: &[([u8; 6], Option<&str>)] = &[
            ([0x00, 0x1b, 0x21, 1, 2, 3], Some("Intel")),
            ([0x00, 0x50, 0x56, 1, 2, 3], Some("VMware")),
            ([0x3c, 0x52, 0x82, 0, 0, 0], Some("HP")),
            ([0x02, 0x42, 0xac, 0, 0, 2], None), // locally administered (docker)
            ([0x00, 0x22, 0x72, 0, 0, 0], None), // American Micro-Fuel Device: not in our subset
        ];
        for (mac, want) in cases {
            assert_eq!(vendor(mac), *want, "{mac:02x?}");
        }
    }

    #[test]
    fn table_is_well_formed() {
        let t = table();
        assert!(t.len() > 1_000);
        assert!(
            t.windows(2).all(|w| w[0].0 < w[1].0),
            "duplicate or unsorted prefixes"
        );
        assert!(t.iter().all(|(k, n)| *k <= 0xff_ffff && !n.is_empty()));
    }
}
