//! Owned object identifiers: parsing, printing, ordering and the table-index arithmetic the
//! collectors need.
//!
//! `Vec<u32>` ordering is exactly SNMP's lexicographic OID order, which is what walk loop
//! detection relies on.

use std::fmt;
use std::str::FromStr;

/// An object identifier as its arcs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(Vec<u32>);

impl Oid {
    pub fn new(arcs: &[u32]) -> Self {
        Oid(arcs.to_vec())
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This OID followed by `suffix`.
    pub fn child(&self, suffix: &[u32]) -> Oid {
        let mut arcs = self.0.clone();
        arcs.extend_from_slice(suffix);
        Oid(arcs)
    }

    pub fn starts_with(&self, prefix: &[u32]) -> bool {
        self.0.starts_with(prefix)
    }

    /// The arcs after `prefix` (a table row's index), or `None` when `prefix` is not a prefix.
    pub fn suffix(&self, prefix: &[u32]) -> Option<&[u32]> {
        self.0.strip_prefix(prefix)
    }

    /// The IANA private enterprise number when this is under 1.3.6.1.4.1.
    pub fn enterprise(&self) -> Option<u32> {
        self.suffix(&[1, 3, 6, 1, 4, 1])?.first().copied()
    }

    /// Converts a decoded BER OID; `None` for arcs that do not fit in 32 bits (SNMP forbids
    /// them) or for an empty encoding.
    pub fn from_ber(oid: &snmp2::Oid<'_>) -> Option<Oid> {
        let arcs: Option<Vec<u32>> = oid.iter()?.map(|a| u32::try_from(a).ok()).collect();
        let arcs = arcs?;
        (arcs.len() >= 2).then_some(Oid(arcs))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OID {0:?}: expected dotted decimal arcs like 1.3.6.1.2.1")]
pub struct OidParseError(String);

impl FromStr for Oid {
    type Err = OidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim().trim_start_matches('.');
        let arcs: Result<Vec<u32>, _> = trimmed.split('.').map(str::parse).collect();
        match arcs {
            Ok(arcs) if arcs.len() >= 2 && arcs[0] <= 2 => Ok(Oid(arcs)),
            _ => Err(OidParseError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (input, want) in [
            ("1.3.6.1.2.1.1.1.0", Some("1.3.6.1.2.1.1.1.0")),
            (".1.3.6.1", Some("1.3.6.1")),
            (" 1.0.8802.1.1.2 ", Some("1.0.8802.1.1.2")),
            ("1", None),
            ("", None),
            ("1.3.x", None),
            ("1..3", None),
            ("9.1", None),
            ("1.3.6.1.4294967296", None),
        ] {
            let got = input.parse::<Oid>().ok().map(|o| o.to_string());
            assert_eq!(got.as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn orders_like_snmp() {
        let a: Oid = "1.3.6.1.2.1.2.2.1.2.9".parse().unwrap();
        let b: Oid = "1.3.6.1.2.1.2.2.1.2.10".parse().unwrap();
        let c: Oid = "1.3.6.1.2.1.2.2.1.2.10.1".parse().unwrap();
        let d: Oid = "1.3.6.1.2.1.2.2.1.3".parse().unwrap();
        assert!(a < b && b < c && c < d);
    }

    #[test]
    fn enterprise_and_suffix() {
        let o: Oid = "1.3.6.1.4.1.8072.3.2.10".parse().unwrap();
        assert_eq!(o.enterprise(), Some(8072));
        assert_eq!(o.suffix(&[1, 3, 6, 1, 4, 1, 8072]), Some(&[3, 2, 10][..]));
        let m: Oid = "1.3.6.1.2.1.1.1.0".parse().unwrap();
        assert_eq!(m.enterprise(), None);
        assert_eq!(m.suffix(&[1, 3, 6, 1, 4]), None);
    }

    #[test]
    fn converts_from_ber() {
        let ber = snmp2::Oid::from(&[1, 3, 6, 1, 4, 1, 9, 1, 4_000_000_000]).unwrap();
        assert_eq!(
            Oid::from_ber(&ber).unwrap().to_string(),
            "1.3.6.1.4.1.9.1.4000000000"
        );
        let too_big = snmp2::Oid::from(&[1, 3, 6, 1, 1 << 40]).unwrap();
        assert_eq!(Oid::from_ber(&too_big), None);
    }
}
