//! Hardware identifiers and the rules both agent and collector apply to them.
//!
//! Vendors ship placeholder serials and UUIDs ("To be filled by O.E.M.", all zeros). Matching
//! on them merges unrelated machines, so they are flagged here once: the agent marks them as
//! junk in its document and the collector re-checks (it never trusts the flag alone).

use serde::{Deserialize, Serialize};

/// A hardware identifier as read from the machine, with the verdict on whether it can identify
/// the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareId {
    pub value: String,
    /// True when the value is a known vendor placeholder and must not be used for matching.
    #[serde(default)]
    pub junk: bool,
}

impl HardwareId {
    pub fn serial(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| HardwareId {
            value: value.to_string(),
            junk: is_junk_serial(value),
        })
    }

    pub fn uuid(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| HardwareId {
            value: value.to_ascii_lowercase(),
            junk: is_junk_uuid(value),
        })
    }

    /// The value when it can be used to identify a machine.
    pub fn usable(&self) -> Option<&str> {
        (!self.junk).then_some(self.value.as_str())
    }
}

/// Placeholder serials seen in the field (compared case-insensitively, ignoring spaces and
/// punctuation, so "To Be Filled By O.E.M." and "to be filled by oem" are both caught).
const JUNK_SERIALS: &[&str] = &[
    "tobefilledbyoem",
    "defaultstring",
    "systemserialnumber",
    "chassisserialnumber",
    "basebordserialnumber",
    "baseboardserialnumber",
    "serialnumber",
    "notapplicable",
    "notspecified",
    "notavailable",
    "none",
    "na",
    "null",
    "unknown",
    "oem",
    "o.e.m.",
    "0123456789",
    "123456789",
    "1234567890",
    "xxxxxxxxxx",
    "empty",
    "invalid",
    "default",
];

fn squash(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// True for serials that vendors use as placeholders and that therefore identify nothing.
pub fn is_junk_serial(value: &str) -> bool {
    let s = squash(value);
    if s.len() < 3 {
        return true;
    }
    // A run of one repeated character: "0000000", "XXXXXXXX", "11111111".
    let first = s.as_bytes()[0];
    if s.bytes().all(|b| b == first) {
        return true;
    }
    JUNK_SERIALS.iter().any(|j| squash(j) == s)
}

/// True for SMBIOS UUIDs that are placeholders: all zeros, all F, unparsable, or the
/// well-known "03000200-0400-0500-0006-000700080009" shipped by many white-box boards.
pub fn is_junk_uuid(value: &str) -> bool {
    let hex: String = value
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let only_hex_and_dashes = value
        .trim()
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == '-');
    if hex.len() != 32 || !only_hex_and_dashes {
        return true;
    }
    let first = hex.as_bytes()[0];
    hex.bytes().all(|b| b == first) || hex == "03000200040005000006000700080009"
}

/// Normalises a MAC address to lower-case colon-separated form ("aa:bb:cc:dd:ee:ff").
/// Returns None for anything that is not 6 octets, and for the all-zero and broadcast
/// addresses, which identify nothing.
pub fn normalize_mac(value: &str) -> Option<String> {
    let hex: String = value.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let separators_ok = value
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if hex.len() != 12 || !separators_ok {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    if hex == "000000000000" || hex == "ffffffffffff" {
        return None;
    }
    let octets: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(octets.join(":"))
}

/// True when the MAC is locally administered (bit 1 of the first octet): such addresses are
/// made up by software (VPNs, containers, randomised Wi-Fi) and do not identify hardware.
pub fn is_locally_administered(mac: &str) -> bool {
    u8::from_str_radix(mac.get(0..2).unwrap_or("00"), 16)
        .map(|b| b & 0x02 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_serials() {
        let cases = [
            ("To be filled by O.E.M.", true),
            ("To Be Filled By O.E.M.", true),
            ("Default string", true),
            ("System Serial Number", true),
            ("0", true),
            ("00000000", true),
            ("N/A", true),
            ("Not Specified", true),
            ("", true),
            ("XXXXXXXXXXXX", true),
            ("5CG1234XYZ", false),
            ("PF2ABCDE", false),
            (
                "VMware-56 4d 12 34 56 78 9a bc-de f0 12 34 56 78 9a bc",
                false,
            ),
        ];
        for (value, junk) in cases {
            assert_eq!(is_junk_serial(value), junk, "{value:?}");
        }
    }

    #[test]
    fn junk_uuids() {
        let cases = [
            ("00000000-0000-0000-0000-000000000000", true),
            ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", true),
            ("03000200-0400-0500-0006-000700080009", true),
            ("not-a-uuid", true),
            ("4C4C4544-0042-3510-8052-B4C04F4A4E32", false),
            ("564d1234-5678-9abc-def0-123456789abc", false),
        ];
        for (value, junk) in cases {
            assert_eq!(is_junk_uuid(value), junk, "{value:?}");
        }
    }

    #[test]
    fn mac_normalisation() {
        let cases = [
            ("AA:BB:CC:DD:EE:FF", Some("aa:bb:cc:dd:ee:ff")),
            ("aa-bb-cc-dd-ee-ff", Some("aa:bb:cc:dd:ee:ff")),
            ("aabb.ccdd.eeff", Some("aa:bb:cc:dd:ee:ff")),
            ("00:00:00:00:00:00", None),
            ("ff:ff:ff:ff:ff:ff", None),
            ("aa:bb:cc", None),
            ("zz:bb:cc:dd:ee:ff", None),
        ];
        for (value, want) in cases {
            assert_eq!(normalize_mac(value).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn locally_administered() {
        assert!(is_locally_administered("02:42:ac:11:00:02"));
        assert!(!is_locally_administered("00:1a:2b:3c:4d:5e"));
    }

    proptest::proptest! {
        #[test]
        fn normalised_mac_is_stable(bytes in proptest::array::uniform6(0u8..)) {
            let text = bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join("-");
            if let Some(norm) = normalize_mac(&text) {
                proptest::prop_assert_eq!(normalize_mac(&norm), Some(norm.clone()));
                proptest::prop_assert_eq!(norm.len(), 17);
            }
        }
    }
}
