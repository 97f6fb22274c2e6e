//! The digest of a software list, which the agent and the collector must compute alike: the
//! agent sends it in place of a list the collector already holds
//! ([`Inventory::software_unchanged`](crate::Inventory::software_unchanged)), and the
//! collector keeps it beside each asset's list to tell at once whether a list changed.

use sha2::{Digest, Sha256};

use crate::inventory::Software;

/// Identifies a software list: equal digests mean equal lists, whatever the order the packages
/// come in. 64 lowercase hexadecimal characters (SHA-256).
///
/// Rows are sorted by name, version, arch, publisher, size, install date and source, then
/// each field is hashed with its presence and length (sizes past `i64::MAX` as `i64::MAX`,
/// as the collector stores them; dates as microseconds since the epoch), so that no two
/// different lists can be written alike.
pub fn software_digest(list: &[Software]) -> String {
    let size = |s: &Software| s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let mut rows: Vec<&Software> = list.iter().collect();
    rows.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.arch.cmp(&b.arch))
            .then_with(|| a.publisher.cmp(&b.publisher))
            .then_with(|| size(a).cmp(&size(b)))
            .then_with(|| a.install_date.cmp(&b.install_date))
            .then_with(|| a.source.cmp(&b.source))
    });
    digest_of_sorted(rows.into_iter().map(|s| DigestRow {
        name: &s.name,
        version: s.version.as_deref(),
        arch: s.arch.as_deref(),
        publisher: s.publisher.as_deref(),
        size: size(s),
        installed_micros: s.install_date.map(|t| t.timestamp_micros()),
        source: &s.source,
    }))
}

/// One package as [`software_digest`] reads it.
pub struct DigestRow<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub arch: Option<&'a str>,
    pub publisher: Option<&'a str>,
    /// Capped at `i64::MAX`.
    pub size: Option<i64>,
    pub installed_micros: Option<i64>,
    pub source: &'a str,
}

/// [`software_digest`] of packages already in its order (name, version, arch,
/// publisher, size, install date, source): for a list kept sorted in another form, such as
/// the collector's stored rows.
pub fn digest_of_sorted<'a>(rows: impl ExactSizeIterator<Item = DigestRow<'a>>) -> String {
    // One buffer hashed at once: tens of thousands of small updates cost more than the hashing.
    let mut buf: Vec<u8> = Vec::with_capacity(8 + rows.len() * 192);
    buf.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    for s in rows {
        text(&mut buf, Some(s.name));
        text(&mut buf, s.version);
        text(&mut buf, s.arch);
        text(&mut buf, s.publisher);
        number(&mut buf, s.size);
        number(&mut buf, s.installed_micros);
        text(&mut buf, Some(s.source));
    }
    hex::encode(Sha256::digest(&buf))
}

/// True for what [`software_digest`] returns: 64 lowercase hexadecimal characters.
pub fn is_software_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn text(buf: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

fn number(buf: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => buf.push(0),
        Some(n) => {
            buf.push(1);
            buf.extend_from_slice(&n.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pkg(name: &str, version: Option<&str>) -> Software {
        Software {
            name: name.into(),
            version: version.map(str::to_string),
            source: "dpkg".into(),
            ..Default::default()
        }
    }

    #[test]
    fn digests_tell_lists_apart_and_ignore_order() {
        let a = vec![pkg("a", Some("1")), pkg("b", Some("1"))];
        let mut moved = a.clone();
        // The same characters in other fields: a plain concatenation would not see it.
        moved[0].name = "a1".into();
        moved[0].version = Some(String::new());
        let mut none = a.clone();
        none[1].version = None;
        let mut dated = a.clone();
        dated[1].install_date = Some(chrono::Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap());
        let mut huge = a.clone();
        huge[1].size_bytes = Some(u64::MAX);
        let digests = [
            software_digest(&a),
            software_digest(&moved),
            software_digest(&none),
            software_digest(&dated),
            software_digest(&huge),
            software_digest(&a[..1]),
            software_digest(&[]),
        ];
        for (i, d) in digests.iter().enumerate() {
            assert!(is_software_digest(d), "{d}");
            for other in &digests[i + 1..] {
                assert_ne!(d, other);
            }
        }
        let reversed: Vec<Software> = a.iter().rev().cloned().collect();
        assert_eq!(software_digest(&reversed), software_digest(&a));
    }

    #[test]
    fn the_digest_of_no_software_is_fixed() {
        // The definition is shared with deployed agents: changing it must be deliberate.
        assert_eq!(
            software_digest(&[]),
            "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc"
        );
    }

    #[test]
    fn digest_text_is_recognised() {
        assert!(is_software_digest(&"0".repeat(64)));
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"0".repeat(65)] {
            assert!(!is_software_digest(bad), "{bad}");
        }
    }
}
