//! A software list sent as its changes against the list the collector acknowledged
//! ([`Inventory::software_delta`](crate::Inventory::software_delta)).
//!
//! A workstation that upgraded two packages overnight otherwise sends its ~800 packages again,
//! and the collector parses, sorts and digests them all to find two changes: in a morning storm
//! the fifth of the fleet whose lists changed cost the collector as much as the rest together.
//! The agent and the collector must agree on what "the same package" means, so both sides use
//! this module: packages are compared as [`software_digest`](crate::software_digest) sees
//! them (dates to the microsecond, sizes capped at `i64::MAX`), and lists are multisets (a
//! package may be installed twice, e.g. from two sources with the same fields).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::inventory::Software;

/// The changes that turn the list with digest `base` into the list with digest `digest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoftwareDelta {
    /// Digest of the acknowledged list the changes apply to.
    pub base: String,
    /// Packages of the new list that the base does not have (one entry per copy).
    #[serde(default)]
    pub added: Vec<Software>,
    /// Packages of the base that the new list does not have (one entry per copy).
    #[serde(default)]
    pub removed: Vec<Software>,
    /// Digest of the list the changes lead to: the collector checks the list it rebuilds
    /// against it, so a delta applied to anything but the agent's own base is refused.
    pub digest: String,
}

/// Why a delta does not apply to a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("software_delta.removed[{index}] ({name:?}) is not in the acknowledged list")]
    NotInBase { index: usize, name: String },
    #[error(
        "the list rebuilt from software_delta has digest {got}, not software_delta.digest {claimed}"
    )]
    DigestMismatch { got: String, claimed: String },
}

/// A package as the digest sees it: two packages with equal keys are the same package.
#[derive(PartialEq, Eq, Hash)]
struct Key<'a> {
    name: &'a str,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    publisher: Option<&'a str>,
    size: Option<i64>,
    installed_micros: Option<i64>,
    source: &'a str,
}

fn key(s: &Software) -> Key<'_> {
    Key {
        name: &s.name,
        version: s.version.as_deref(),
        arch: s.arch.as_deref(),
        publisher: s.publisher.as_deref(),
        size: s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        installed_micros: s.install_date.map(|t| t.timestamp_micros()),
        source: &s.source,
    }
}

/// How many times each package occurs in `list`.
fn counts(list: &[Software]) -> HashMap<Key<'_>, usize> {
    let mut counts = HashMap::with_capacity(list.len());
    for s in list {
        *counts.entry(key(s)).or_insert(0) += 1;
    }
    counts
}

impl SoftwareDelta {
    /// The changes from `base` (whose digest is `base_digest`) to `list`.
    pub fn between(base: &[Software], base_digest: &str, list: &[Software]) -> SoftwareDelta {
        let mut unmatched = counts(base);
        let mut added = Vec::new();
        for s in list {
            match unmatched.get_mut(&key(s)) {
                Some(n) if *n > 0 => *n -= 1,
                _ => added.push(s.clone()),
            }
        }
        let mut removed = Vec::new();
        for s in base {
            if let Some(n) = unmatched.get_mut(&key(s)) {
                if *n > 0 {
                    *n -= 1;
                    removed.push(s.clone());
                }
            }
        }
        SoftwareDelta {
            base: base_digest.to_string(),
            added,
            removed,
            digest: crate::software_digest(list),
        }
    }

    /// Packages added and removed.
    pub fn len(&self) -> usize {
        self.added.len() + self.removed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list the changes lead to from `base` (the list whose digest is `self.base`; the
    /// caller checks that), checked against `self.digest`. The order of the result is not
    /// meaningful: lists are compared and stored sorted.
    pub fn apply(&self, base: &[Software]) -> Result<Vec<Software>, DeltaError> {
        let mut to_remove = counts(&self.removed);
        let mut list = Vec::with_capacity(base.len() + self.added.len());
        for s in base {
            match to_remove.get_mut(&key(s)) {
                Some(n) if *n > 0 => *n -= 1,
                _ => list.push(s.clone()),
            }
        }
        if let Some((index, s)) = self.removed.iter().enumerate().rev().find(|(_, s)| {
            // Several copies removed: the last ones are the ones not found.
            to_remove.get(&key(s)).is_some_and(|&n| n > 0)
        }) {
            return Err(DeltaError::NotInBase {
                index,
                name: s.name.chars().take(80).collect(),
            });
        }
        list.extend(self.added.iter().cloned());
        let got = crate::software_digest(&list);
        if got != self.digest {
            return Err(DeltaError::DigestMismatch {
                got,
                claimed: self.digest.clone(),
            });
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software_digest;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn pkg(name: &str, version: &str) -> Software {
        Software {
            name: name.into(),
            version: Some(version.into()),
            source: "dpkg".into(),
            ..Default::default()
        }
    }

    fn names(list: &[Software]) -> Vec<String> {
        let mut v: Vec<String> = list
            .iter()
            .map(|s| format!("{} {}", s.name, s.version.as_deref().unwrap_or("-")))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn deltas_between_lists() {
        let base = vec![pkg("a", "1"), pkg("b", "1"), pkg("c", "1")];
        // (new list, added, removed)
        let cases: Vec<(Vec<Software>, Vec<&str>, Vec<&str>)> = vec![
            (base.clone(), vec![], vec![]),
            // Order does not matter.
            (
                vec![pkg("c", "1"), pkg("a", "1"), pkg("b", "1")],
                vec![],
                vec![],
            ),
            // An upgrade is one removed and one added.
            (
                vec![pkg("a", "1"), pkg("b", "2"), pkg("c", "1")],
                vec!["b 2"],
                vec!["b 1"],
            ),
            (vec![pkg("a", "1")], vec![], vec!["b 1", "c 1"]),
            (
                vec![pkg("a", "1"), pkg("b", "1"), pkg("c", "1"), pkg("d", "1")],
                vec!["d 1"],
                vec![],
            ),
            // A second copy of a package is a change.
            (
                vec![pkg("a", "1"), pkg("a", "1"), pkg("b", "1"), pkg("c", "1")],
                vec!["a 1"],
                vec![],
            ),
            (vec![], vec![], vec!["a 1", "b 1", "c 1"]),
        ];
        let base_digest = software_digest(&base);
        for (list, added, removed) in cases {
            let delta = SoftwareDelta::between(&base, &base_digest, &list);
            assert_eq!(names(&delta.added), added, "added, for {:?}", names(&list));
            assert_eq!(
                names(&delta.removed),
                removed,
                "removed, for {:?}",
                names(&list)
            );
            assert_eq!(delta.base, base_digest);
            assert_eq!(delta.digest, software_digest(&list));
            let rebuilt = delta.apply(&base).unwrap();
            assert_eq!(names(&rebuilt), names(&list));
        }
    }

    #[test]
    fn packages_are_compared_as_the_digest_compares_them() {
        let mut a = pkg("a", "1");
        a.install_date = Some(Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap());
        a.size_bytes = Some(u64::MAX);
        // The same package as the collector stores it: microseconds, size capped.
        let mut stored = a.clone();
        stored.install_date = Some(Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap());
        stored.size_bytes = Some(i64::MAX as u64);
        let delta = SoftwareDelta::between(&[a.clone()], &software_digest(&[a.clone()]), &[]);
        assert_eq!(delta.removed, vec![a]);
        assert_eq!(delta.apply(&[stored]).unwrap(), vec![]);
    }

    #[test]
    fn a_delta_that_does_not_fit_the_list_is_refused() {
        let base = vec![pkg("a", "1"), pkg("b", "1")];
        let delta = SoftwareDelta::between(
            &base,
            &software_digest(&base),
            &[pkg("a", "1"), pkg("b", "2")],
        );
        // Applied to another list: the package to remove is not there.
        assert_eq!(
            delta.apply(&[pkg("a", "1"), pkg("b", "3")]),
            Err(DeltaError::NotInBase {
                index: 0,
                name: "b".into()
            })
        );
        // Removing two copies of a package installed once.
        let mut twice = delta.clone();
        twice.removed.push(pkg("b", "1"));
        assert_eq!(
            twice.apply(&base),
            Err(DeltaError::NotInBase {
                index: 1,
                name: "b".into()
            })
        );
        // Removals that fit but lead to another list than the one claimed.
        let mut other = delta.clone();
        other.added = vec![pkg("b", "9")];
        assert!(matches!(
            other.apply(&base),
            Err(DeltaError::DigestMismatch { claimed, .. }) if claimed == delta.digest
        ));
        assert_eq!(names(&delta.apply(&base).unwrap()), ["a 1", "b 2"]);
    }

    fn arb_list() -> impl Strategy<Value = Vec<Software>> {
        prop::collection::vec(
            (0u8..6, 0u8..3, prop::option::of(0u64..3)).prop_map(|(n, v, size)| Software {
                size_bytes: size,
                ..pkg(&format!("p{n}"), &format!("{v}"))
            }),
            0..12,
        )
    }

    proptest! {
        #[test]
        fn a_delta_rebuilds_the_list_it_was_made_from(base in arb_list(), list in arb_list()) {
            let delta = SoftwareDelta::between(&base, &software_digest(&base), &list);
            let rebuilt = delta.apply(&base).unwrap();
            prop_assert_eq!(software_digest(&rebuilt), software_digest(&list));
            prop_assert!(delta.len() <= base.len() + list.len());
        }
    }
}
