//! An asset's installed software: one row per asset in `asset_software`, the sorted list as
//! JSON (see migrations/*/0008_software_lists.sql for why not a row per package).
//!
//! The list is rendered and digested from the document before the write lock is taken
//! ([`stored_order`], [`digest_of`], [`to_json_in`]); inside the transaction it is one value
//! written ([`save`]) or, when the digest says it changed, one value read back ([`load`]) for
//! the history.

use serde::{Deserialize, Serialize};
use sqlx::Executor;

use super::{ts, Db, DbConn};
use crate::history::Package;
use parc_shared::inventory::Software;
use parc_shared::software_delta::DeltaError;
use parc_shared::software_digest::DigestRow;
use parc_shared::{Inventory, SoftwareDelta};

/// One installed package as stored. Lists are kept sorted, so that equal lists have equal
/// digests and JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SoftwareRow {
    pub name: String,
    pub version: Option<String>,
    pub arch: Option<String>,
    pub publisher: Option<String>,
    pub size_bytes: Option<i64>,
    /// RFC 3339, as [`ts`] writes it.
    pub install_date: Option<String>,
    pub source: String,
}

impl SoftwareRow {
    /// The inventory's packages, sorted: the reference for [`stored_order`], which finds the
    /// same order without the copies.
    #[cfg(test)]
    pub fn list_of(inv: &Inventory) -> Vec<SoftwareRow> {
        let mut rows: Vec<SoftwareRow> = inv.software.iter().map(SoftwareRow::of).collect();
        rows.sort();
        rows
    }

    /// A package as stored.
    pub fn of(s: &Software) -> SoftwareRow {
        SoftwareRow {
            name: s.name.clone(),
            version: s.version.clone(),
            arch: s.arch.clone(),
            publisher: s.publisher.clone(),
            size_bytes: s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            install_date: s.install_date.map(ts),
            source: s.source.clone(),
        }
    }

    pub fn package(&self) -> Package {
        Package {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// The digest of the inventory's list ([`parc_shared::software_digest`]): most documents
/// bring an unchanged list, which then needs nothing else; the list is not built.
pub fn digest_of(inv: &Inventory) -> String {
    parc_shared::software_digest(&inv.software)
}

/// [`digest_of`] of a list as stored (sorted): equal to the digest of the document it came
/// from. None when a stored date does not read back.
pub fn digest_of_rows(rows: &[SoftwareRow]) -> Option<String> {
    let dates = rows
        .iter()
        .map(|r| match &r.install_date {
            None => Some(None),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| Some(t.timestamp_micros())),
        })
        .collect::<Option<Vec<Option<i64>>>>()?;
    Some(parc_shared::software_digest::digest_of_sorted(
        rows.iter()
            .zip(dates)
            .map(|(r, installed_micros)| DigestRow {
                name: &r.name,
                version: r.version.as_deref(),
                arch: r.arch.as_deref(),
                publisher: r.publisher.as_deref(),
                size: r.size_bytes,
                installed_micros,
                source: &r.source,
            }),
    ))
}

/// A list rebuilt from changes ([`rebuild`]).
#[derive(Debug, PartialEq)]
pub struct Rebuild {
    /// The list, sorted.
    pub rows: Vec<SoftwareRow>,
    /// Packages, as history compares them, that the base list had and this one has not, and
    /// the other way round: what a comparison of the two whole lists would find.
    pub removed: Vec<Package>,
    pub added: Vec<Package>,
}

/// Whether sorted `rows` hold a row of package `p`.
fn holds(rows: &[SoftwareRow], p: &Package) -> bool {
    fn key(r: &SoftwareRow) -> (&str, Option<&str>, Option<&str>) {
        (r.name.as_str(), r.version.as_deref(), r.arch.as_deref())
    }
    let want = (p.name.as_str(), p.version.as_deref(), p.arch.as_deref());
    let at = rows.partition_point(|r| key(r) < want);
    rows.get(at).is_some_and(|r| key(r) == want)
}

/// The list `delta` leads to from `base` (a stored list, sorted), sorted, checked against the
/// digest the delta claims. Works on stored rows, which are kept sorted: removals are found by
/// binary search, and dates are not parsed and formatted again, only read for the digest.
pub fn rebuild(base: Vec<SoftwareRow>, delta: &SoftwareDelta) -> Result<Rebuild, DeltaError> {
    let added: Vec<Package> = delta
        .added
        .iter()
        .map(|s| SoftwareRow::of(s).package())
        .filter(|p| !holds(&base, p))
        .collect();
    let mut keep = vec![true; base.len()];
    for (index, removed) in delta.removed.iter().enumerate() {
        let row = SoftwareRow::of(removed);
        // The first copy of it not already removed.
        let first = base.partition_point(|r| r < &row);
        let found = (first..base.len())
            .take_while(|&i| base[i] == row)
            .find(|&i| keep[i]);
        match found {
            Some(i) => keep[i] = false,
            None => {
                return Err(DeltaError::NotInBase {
                    index,
                    name: removed.name.chars().take(80).collect(),
                })
            }
        }
    }
    let mut rows: Vec<SoftwareRow> = base
        .into_iter()
        .zip(keep)
        .filter_map(|(r, keep)| keep.then_some(r))
        .collect();
    rows.extend(delta.added.iter().map(SoftwareRow::of));
    // Sorted runs with a few rows at the end: a cheap sort.
    rows.sort();
    let got = digest_of_rows(&rows).unwrap_or_default();
    if got != delta.digest {
        return Err(DeltaError::DigestMismatch {
            got,
            claimed: delta.digest.clone(),
        });
    }
    let removed = delta
        .removed
        .iter()
        .map(|s| SoftwareRow::of(s).package())
        .filter(|p| !holds(&rows, p))
        .collect();
    Ok(Rebuild {
        rows,
        removed,
        added,
    })
}

/// A row as stored: an array in field order (name, version, arch, publisher, size_bytes,
/// install_date, source). Objects would repeat the seven field names in every row, making a
/// list half again as large as the rows it replaced.
#[derive(Serialize)]
struct StoredRef<'a>(
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    &'a str,
);

#[derive(Deserialize)]
struct Stored(
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
);

impl From<Stored> for SoftwareRow {
    fn from(s: Stored) -> SoftwareRow {
        SoftwareRow {
            name: s.0,
            version: s.1,
            arch: s.2,
            publisher: s.3,
            size_bytes: s.4,
            install_date: s.5,
            source: s.6,
        }
    }
}

/// Where each of the inventory's packages goes in its stored list: the order of the
/// [`SoftwareRow`]s [`SoftwareRow::list_of`] builds, found without copying the packages.
pub fn stored_order(inv: &Inventory) -> Vec<usize> {
    let key = |i: &usize| {
        let s = &inv.software[*i];
        (
            &s.name,
            &s.version,
            &s.arch,
            &s.publisher,
            s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            // Stored as [`ts`] text, whose order is the dates' order.
            s.install_date,
            &s.source,
        )
    };
    let mut order: Vec<usize> = (0..inv.software.len()).collect();
    order.sort_by(|a, b| key(a).cmp(&key(b)));
    order
}

/// [`to_json`] of the inventory's list, in `order` ([`stored_order`]).
pub fn to_json_in(inv: &Inventory, order: &[usize]) -> String {
    let dates: Vec<Option<String>> = order
        .iter()
        .map(|&i| inv.software[i].install_date.map(ts))
        .collect();
    let stored: Vec<StoredRef<'_>> = order
        .iter()
        .zip(&dates)
        .map(|(&i, date)| {
            let s = &inv.software[i];
            StoredRef(
                &s.name,
                s.version.as_deref(),
                s.arch.as_deref(),
                s.publisher.as_deref(),
                s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                date.as_deref(),
                &s.source,
            )
        })
        .collect();
    serde_json::to_string(&stored).expect("software rows serialise")
}

/// The inventory's packages as history compares them, in `order`.
pub fn packages_in(inv: &Inventory, order: &[usize]) -> Vec<Package> {
    order
        .iter()
        .map(|&i| {
            let s = &inv.software[i];
            Package {
                name: s.name.clone(),
                version: s.version.clone(),
                arch: s.arch.clone(),
            }
        })
        .collect()
}

/// The stored form of a list.
pub fn to_json(rows: &[SoftwareRow]) -> String {
    let stored: Vec<StoredRef<'_>> = rows
        .iter()
        .map(|r| {
            StoredRef(
                &r.name,
                r.version.as_deref(),
                r.arch.as_deref(),
                r.publisher.as_deref(),
                r.size_bytes,
                r.install_date.as_deref(),
                &r.source,
            )
        })
        .collect();
    serde_json::to_string(&stored).expect("software rows serialise")
}

/// Replaces the asset's list (an empty list is stored as one, so that "no software" and "never
/// inventoried" stay apart).
pub async fn save(conn: &mut DbConn, asset_id: i64, list_json: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO asset_software (asset_id, list) VALUES ($1, $2)
         ON CONFLICT (asset_id) DO UPDATE SET list = excluded.list",
    )
    .bind(asset_id)
    .bind(list_json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The asset's list, sorted; empty when it has none. A list that does not parse is logged and
/// read as empty: the next inventory rewrites it.
pub async fn load<'c, E>(executor: E, asset_id: i64) -> Result<Vec<SoftwareRow>, sqlx::Error>
where
    E: Executor<'c, Database = Db>,
{
    Ok(parse(
        asset_id,
        list_text(executor, asset_id).await?.as_deref(),
    ))
}

/// The asset's packages as history compares them (name, version, architecture), sorted; the
/// other fields of the stored list are skipped, not built.
pub async fn load_packages<'c, E>(executor: E, asset_id: i64) -> Result<Vec<Package>, sqlx::Error>
where
    E: Executor<'c, Database = Db>,
{
    Ok(parse_packages(
        asset_id,
        list_text(executor, asset_id).await?.as_deref(),
    ))
}

/// A stored list as rows, sorted; None when it does not read back.
pub fn parse_rows(asset_id: i64, text: &str) -> Option<Vec<SoftwareRow>> {
    let stored: Vec<Stored> = serde_json::from_str(text)
        .inspect_err(|e| tracing::warn!(asset_id, error = %e, "stored software list unreadable"))
        .ok()?;
    let mut rows: Vec<SoftwareRow> = stored.into_iter().map(SoftwareRow::from).collect();
    rows.sort();
    Some(rows)
}

async fn list_text<'c, E>(executor: E, asset_id: i64) -> Result<Option<String>, sqlx::Error>
where
    E: Executor<'c, Database = Db>,
{
    sqlx::query_scalar("SELECT list FROM asset_software WHERE asset_id = $1")
        .bind(asset_id)
        .fetch_optional(executor)
        .await
}

fn parse(asset_id: i64, text: Option<&str>) -> Vec<SoftwareRow> {
    parse_sorted::<Stored, SoftwareRow>(asset_id, text)
}

fn parse_packages(asset_id: i64, text: Option<&str>) -> Vec<Package> {
    parse_sorted::<StoredPackage, Package>(asset_id, text)
}

/// A stored list as `T`s, sorted (lists written by the migration keep the old row order).
fn parse_sorted<S, T>(asset_id: i64, text: Option<&str>) -> Vec<T>
where
    S: serde::de::DeserializeOwned,
    T: From<S> + Ord,
{
    let Some(text) = text else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<S>>(text) {
        Ok(stored) => {
            let mut list: Vec<T> = stored.into_iter().map(T::from).collect();
            list.sort();
            list
        }
        Err(e) => {
            tracing::warn!(asset_id, error = %e, "stored software list unreadable");
            Vec::new()
        }
    }
}

/// A stored row's fields that history compares; the others are skipped, not built.
#[derive(Deserialize)]
struct StoredPackage(
    String,
    Option<String>,
    Option<String>,
    serde::de::IgnoredAny,
    serde::de::IgnoredAny,
    serde::de::IgnoredAny,
    serde::de::IgnoredAny,
);

impl From<StoredPackage> for Package {
    fn from(s: StoredPackage) -> Package {
        Package {
            name: s.0,
            version: s.1,
            arch: s.2,
        }
    }
}

/// Merging `from` into `into`: `into` keeps both lists (its digest is cleared by the merge, so
/// the next inventory rewrites the list it reports).
pub async fn merge(conn: &mut DbConn, into: i64, from: i64) -> Result<(), sqlx::Error> {
    let Some(from_text) = list_text(&mut *conn, from).await? else {
        return Ok(());
    };
    let mut rows = load(&mut *conn, into).await?;
    rows.extend(parse(from, Some(&from_text)));
    rows.sort();
    save(conn, into, &to_json(&rows)).await?;
    sqlx::query("DELETE FROM asset_software WHERE asset_id = $1")
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::inventory::Software;

    fn row(name: &str, version: &str) -> SoftwareRow {
        SoftwareRow {
            name: name.into(),
            version: Some(version.into()),
            arch: None,
            publisher: None,
            size_bytes: None,
            install_date: None,
            source: "dpkg".into(),
        }
    }

    #[test]
    fn a_stored_list_rebuilt_from_changes_is_the_agents_list() {
        let pkg = |name: &str, version: &str| Software {
            name: name.into(),
            version: Some(version.into()),
            install_date: Some(chrono::DateTime::from_timestamp(1_700_000_000, 5_000).unwrap()),
            source: "msi".into(),
            ..Default::default()
        };
        let base = vec![pkg("a", "1"), pkg("b", "1"), pkg("b", "1"), pkg("c", "1")];
        let stored = |list: &[Software]| {
            let mut rows: Vec<SoftwareRow> = list.iter().map(SoftwareRow::of).collect();
            rows.sort();
            rows
        };
        let base_digest = parc_shared::software_digest(&base);
        // The agent's new lists: unchanged, an upgrade, removals, everything, additions.
        let lists: Vec<Vec<Software>> = vec![
            base.clone(),
            vec![pkg("b", "2"), pkg("a", "1"), pkg("b", "1"), pkg("c", "1")],
            vec![pkg("c", "1")],
            vec![],
            vec![pkg("0", "1"), pkg("z", "9"), pkg("b", "1"), pkg("b", "1")],
        ];
        for list in lists {
            let delta = SoftwareDelta::between(&base, &base_digest, &list);
            let Rebuild {
                rows,
                removed,
                added,
            } = rebuild(stored(&base), &delta).unwrap();
            assert_eq!(rows, stored(&list));
            // What a comparison of the whole lists finds.
            let packages = |list: &[Software]| {
                let mut p: Vec<Package> = stored(list).iter().map(SoftwareRow::package).collect();
                p.dedup();
                p
            };
            let (old, new) = (packages(&base), packages(&list));
            let mut removed = removed;
            removed.sort();
            removed.dedup();
            let mut added = added;
            added.sort();
            added.dedup();
            assert_eq!(
                removed,
                old.iter()
                    .filter(|p| !new.contains(p))
                    .cloned()
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                added,
                new.iter()
                    .filter(|p| !old.contains(p))
                    .cloned()
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                digest_of_rows(&rows).unwrap(),
                parc_shared::software_digest(&list)
            );
        }

        let delta = SoftwareDelta::between(&base, &base_digest, &[pkg("a", "1")]);
        // Three copies of b removed where the base has two.
        let mut extra = delta.clone();
        extra.removed.push(pkg("b", "1"));
        assert_eq!(
            rebuild(stored(&base), &extra),
            Err(DeltaError::NotInBase {
                index: 3,
                name: "b".into()
            })
        );
        // Applied to another list than its base.
        assert!(matches!(
            rebuild(stored(&base[..3]), &delta),
            Err(DeltaError::NotInBase { .. })
        ));
        let mut wrong = delta.clone();
        wrong.digest = base_digest.clone();
        assert!(matches!(
            rebuild(stored(&base), &wrong),
            Err(DeltaError::DigestMismatch { claimed, .. }) if claimed == base_digest
        ));
    }

    #[test]
    fn digest_tells_lists_apart() {
        let a = vec![row("a", "1"), row("b", "1")];
        let mut moved = a.clone();
        // The same characters in other fields: a plain concatenation would not see it.
        moved[0].name = "a1".into();
        moved[0].version = Some(String::new());
        let mut none = a.clone();
        none[1].version = None;
        let mut empty = a.clone();
        empty[1].version = Some(String::new());
        let digests = [
            digest_of_rows(&a).unwrap(),
            digest_of_rows(&moved).unwrap(),
            digest_of_rows(&none).unwrap(),
            digest_of_rows(&empty).unwrap(),
            digest_of_rows(&a[..1]).unwrap(),
            digest_of_rows(&[]).unwrap(),
        ];
        for (i, d) in digests.iter().enumerate() {
            assert_eq!(d.len(), 64);
            for other in &digests[i + 1..] {
                assert_ne!(d, other);
            }
        }
        assert_eq!(digest_of_rows(&a), digest_of_rows(&a.clone()));
    }

    #[test]
    fn the_digest_of_an_inventory_is_the_digest_of_its_list() {
        use chrono::TimeZone;
        let at = |y| chrono::Utc.with_ymd_and_hms(y, 1, 2, 3, 4, 5).unwrap();
        let pkg =
            |name: &str, version: Option<&str>, size: Option<u64>, date: Option<i32>| Software {
                name: name.into(),
                version: version.map(str::to_string),
                size_bytes: size,
                install_date: date.map(at),
                source: "msi".into(),
                ..Default::default()
            };
        let lists: Vec<Vec<Software>> = vec![
            vec![],
            vec![pkg("a", None, None, None)],
            // Out of order, duplicates, ties broken by later fields, sizes past i64.
            vec![
                pkg("b", Some("2"), Some(5), Some(2024)),
                pkg("a", Some("1"), Some(u64::MAX), None),
                pkg("b", Some("2"), Some(5), Some(2023)),
                pkg("b", Some("2"), None, Some(2025)),
                pkg("a", Some("1"), Some(u64::MAX), None),
                pkg("a", None, Some(1), Some(2020)),
            ],
        ];
        for software in lists {
            let inv = Inventory {
                software,
                ..Default::default()
            };
            assert_eq!(
                digest_of(&inv),
                digest_of_rows(&SoftwareRow::list_of(&inv)).unwrap()
            );
            let rows = SoftwareRow::list_of(&inv);
            let order = stored_order(&inv);
            assert_eq!(to_json_in(&inv, &order), to_json(&rows));
            let packages: Vec<Package> = rows.iter().map(SoftwareRow::package).collect();
            assert_eq!(packages_in(&inv, &order), packages);
            let mut reversed = inv.clone();
            reversed.software.reverse();
            assert_eq!(digest_of(&reversed), digest_of(&inv));
        }
    }

    #[test]
    fn stored_lists_read_back_sorted_and_bad_ones_as_empty() {
        let rows = vec![row("b", "1"), row("a", "2"), row("a", "1")];
        let mut sorted = rows.clone();
        sorted.sort();
        assert_eq!(parse(1, Some(&to_json(&rows))), sorted);
        assert_eq!(parse(1, Some(&to_json(&sorted))), sorted);
        assert_eq!(parse(1, None), Vec::<SoftwareRow>::new());
        assert_eq!(
            to_json(&rows[..1]),
            r#"[["b","1",null,null,null,null,"dpkg"]]"#
        );
        assert_eq!(
            parse(1, Some("{\"not\": \"a list\"}")),
            Vec::<SoftwareRow>::new()
        );
        // What the migration writes (SQLite json_array / PostgreSQL json_build_array): nulls
        // and numbers as JSON, whitespace as the server puts it.
        let migrated = r#"[["x", null, null, "P", 12, "2026-01-02T03:04:05.000000Z", "msi"]]"#;
        let got = parse(1, Some(migrated));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].size_bytes, got[0].publisher.as_deref()),
            (Some(12), Some("P"))
        );
    }

    #[test]
    fn packages_are_read_from_the_stored_list_without_the_other_fields() {
        let mut rows = vec![row("zlib", "1.3"), row("curl", "8.5"), row("curl", "7.88")];
        rows[1].arch = Some("amd64".into());
        rows[1].install_date = Some("2026-01-01T00:00:00.000000Z".into());
        rows.sort();
        let want: Vec<Package> = rows.iter().map(SoftwareRow::package).collect();
        assert_eq!(parse_packages(1, Some(&to_json(&rows))), want);
        assert_eq!(parse_packages(1, None), Vec::<Package>::new());
        assert_eq!(
            parse_packages(1, Some("{not a list")),
            Vec::<Package>::new()
        );
    }
}
