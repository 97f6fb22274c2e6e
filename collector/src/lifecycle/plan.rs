//! Planning merges, splits and undos, and keeping split assets apart afterwards.

use std::collections::BTreeSet;

use super::explain::ReportedKeys;

/// A source row as a split sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub id: i64,
    /// agent_inventory, sweep, snmp.
    pub kind: String,
    pub last_seen: String,
    pub reported: ReportedKeys,
}

/// What a split moves to the new asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitPlan {
    /// Reported by a moving source and by no staying one: a key both sides reported stays
    /// with the asset (it cannot tell them apart, and moving it would re-create the confusion).
    pub macs: Vec<String>,
    pub addresses: Vec<String>,
    /// The asset's inventory facts and software came from a moving source (the newest
    /// inventory source moves): they go with it.
    pub inventory_facts: bool,
    /// Same for the latest SNMP record and the latest sweep record.
    pub snmp_facts: bool,
    pub sweep_facts: bool,
    /// Name, serial and UUID for the new asset: the newest moving source's, an inventory
    /// preferred (an agent reads DMI; a sweep only knows a name).
    pub identity: ReportedKeys,
    /// Same for the asset that stays, from the sources that stay.
    pub remaining_identity: ReportedKeys,
}

fn newest<'a>(sources: impl Iterator<Item = &'a SourceInfo>) -> Option<&'a SourceInfo> {
    sources.max_by(|a, b| {
        (a.kind == "agent_inventory", &a.last_seen, a.id).cmp(&(
            b.kind == "agent_inventory",
            &b.last_seen,
            b.id,
        ))
    })
}

fn newest_of_kind<'a>(sources: &'a [SourceInfo], kind: &str) -> Option<&'a SourceInfo> {
    sources
        .iter()
        .filter(|s| s.kind == kind)
        .max_by(|a, b| (&a.last_seen, a.id).cmp(&(&b.last_seen, b.id)))
}

/// Plans moving the sources `moving` of an asset whose sources are `sources` to a new asset.
pub fn split(sources: &[SourceInfo], moving: &[i64]) -> Result<SplitPlan, String> {
    let moving: BTreeSet<i64> = moving.iter().copied().collect();
    if moving.is_empty() {
        return Err("sources is empty: name the source ids that belong to another asset".into());
    }
    let unknown: Vec<String> = moving
        .iter()
        .filter(|id| !sources.iter().any(|s| s.id == **id))
        .map(i64::to_string)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "source {} is not on this asset",
            unknown.join(", ")
        ));
    }
    if sources.iter().all(|s| moving.contains(&s.id)) {
        return Err("every source of the asset would move: at least one must stay with it".into());
    }
    let (going, staying): (Vec<&SourceInfo>, Vec<&SourceInfo>) =
        sources.iter().partition(|s| moving.contains(&s.id));
    let keys = |side: &[&SourceInfo], f: fn(&ReportedKeys) -> &Vec<String>| {
        side.iter()
            .flat_map(|s| f(&s.reported).iter().cloned())
            .collect::<BTreeSet<String>>()
    };
    let only_going = |f: fn(&ReportedKeys) -> &Vec<String>| {
        let stay = keys(&staying, f);
        keys(&going, f)
            .into_iter()
            .filter(|k| !stay.contains(k))
            .collect::<Vec<String>>()
    };
    let moves = |kind: &str| newest_of_kind(sources, kind).is_some_and(|s| moving.contains(&s.id));
    let identity_of = |side: &[&SourceInfo]| {
        newest(side.iter().copied())
            .map(|s| ReportedKeys {
                macs: Vec::new(),
                addresses: Vec::new(),
                ..s.reported.clone()
            })
            .unwrap_or_default()
    };
    Ok(SplitPlan {
        macs: only_going(|r| &r.macs),
        addresses: only_going(|r| &r.addresses),
        inventory_facts: moves("agent_inventory"),
        snmp_facts: moves("snmp"),
        sweep_facts: moves("sweep"),
        identity: identity_of(&going),
        remaining_identity: identity_of(&staying),
    })
}

/// The candidates an automatic merge must not pick: those paired as never-merge with an
/// `anchor`, an asset that already holds the document's own source (the agent that sends the
/// inventory). After a split, that keeps each agent on its side even when its documents still
/// share a key (a hostname, a junk serial) with the other asset.
pub fn never_merge_excluded(candidates: &[i64], anchors: &[i64], pairs: &[(i64, i64)]) -> Vec<i64> {
    candidates
        .iter()
        .copied()
        .filter(|c| !anchors.contains(c))
        .filter(|c| {
            anchors
                .iter()
                .any(|a| pairs.contains(&(*a.min(c), *a.max(c))))
        })
        .collect()
}

/// A merge or split as undo sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpInfo {
    pub id: i64,
    pub kind: String,
    pub asset_id: i64,
    pub other_asset_id: i64,
    pub undone: bool,
}

impl OpInfo {
    fn touches(&self, other: &OpInfo) -> bool {
        [self.asset_id, self.other_asset_id]
            .iter()
            .any(|a| *a == other.asset_id || *a == other.other_asset_id)
    }
}

/// Why an operation cannot be undone (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoRefusal {
    AlreadyUndone,
    /// Later operations on the same assets, not undone: undo them first, newest first.
    DependedOn(Vec<i64>),
}

impl std::fmt::Display for UndoRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndoRefusal::AlreadyUndone => f.write_str("this operation was already undone"),
            UndoRefusal::DependedOn(ids) => write!(
                f,
                "later operations on the same assets depend on it: undo operation {} first",
                ids.iter()
                    .rev()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", then ")
            ),
        }
    }
}

/// Whether `op` can be undone given the operations recorded after it. An operation depends on
/// an earlier one when it involves one of its assets (the asset a merge kept, or the one a
/// split created, may since have been merged or split again), and the earlier snapshot would
/// overwrite what it did.
pub fn undo_check(op: &OpInfo, later: &[OpInfo]) -> Result<(), UndoRefusal> {
    if op.undone {
        return Err(UndoRefusal::AlreadyUndone);
    }
    let mut blocking: Vec<i64> = later
        .iter()
        .filter(|l| l.id > op.id && !l.undone && l.touches(op))
        .map(|l| l.id)
        .collect();
    blocking.sort_unstable();
    if blocking.is_empty() {
        Ok(())
    } else {
        Err(UndoRefusal::DependedOn(blocking))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(id: i64, kind: &str, last_seen: &str, name: &str, macs: &[&str]) -> SourceInfo {
        SourceInfo {
            id,
            kind: kind.into(),
            last_seen: last_seen.into(),
            reported: ReportedKeys {
                name: Some(name.into()),
                serial: None,
                uuid: None,
                macs: macs.iter().map(|m| m.to_string()).collect(),
                addresses: vec![format!("198.18.0.{id}")],
            },
        }
    }

    #[test]
    fn split_table() {
        // Two PCs named alike merged by hostname, plus a sweep that saw one of them.
        let sources = vec![
            src(1, "agent_inventory", "2026-11-20", "pc-a", &["m1"]),
            src(
                2,
                "agent_inventory",
                "2026-11-22",
                "pc-a",
                &["m2", "shared"],
            ),
            src(3, "sweep", "2026-11-21", "pc-a", &["m2", "shared"]),
            src(4, "snmp", "2026-11-19", "sw", &["m1", "shared"]),
        ];
        let plan = split(&sources, &[2, 3]).unwrap();
        assert_eq!(plan.macs, vec!["m2".to_string()]);
        assert_eq!(plan.addresses, vec!["198.18.0.2", "198.18.0.3"]);
        assert!(plan.inventory_facts, "source 2 is the newest inventory");
        assert!(plan.sweep_facts);
        assert!(!plan.snmp_facts);
        assert_eq!(plan.identity.name.as_deref(), Some("pc-a"));
        assert!(plan.identity.macs.is_empty());
        assert_eq!(plan.remaining_identity.name.as_deref(), Some("pc-a"));

        let plan = split(&sources, &[1]).unwrap();
        assert!(
            plan.macs.is_empty(),
            "m1 is also reported by source 4, which stays"
        );
        assert!(!plan.inventory_facts, "the newest inventory (2) stays");

        let plan = split(&sources, &[4]).unwrap();
        assert_eq!(plan.identity.name.as_deref(), Some("sw"));
        assert!(plan.snmp_facts);

        let errors = [
            (vec![], "sources is empty"),
            (vec![2, 9, 8], "source 8, 9 is not on this asset"),
            (vec![1, 2, 3, 4], "at least one must stay"),
        ];
        for (moving, want) in errors {
            let e = split(&sources, &moving).unwrap_err();
            assert!(e.contains(want), "{moving:?}: {e}");
        }
    }

    #[test]
    fn never_merge_table() {
        let pairs = [(3, 7)];
        let cases: [(&[i64], &[i64], Vec<i64>); 5] = [
            (&[3, 7], &[7], vec![3]),
            (&[3, 7], &[3], vec![7]),
            (&[3, 7], &[], vec![]),
            (&[3, 5], &[5], vec![]),
            (&[3, 7], &[3, 7], vec![]),
        ];
        for (candidates, anchors, want) in cases {
            assert_eq!(
                never_merge_excluded(candidates, anchors, &pairs),
                want,
                "{candidates:?} anchored on {anchors:?}"
            );
        }
    }

    fn op(id: i64, kind: &str, a: i64, b: i64, undone: bool) -> OpInfo {
        OpInfo {
            id,
            kind: kind.into(),
            asset_id: a,
            other_asset_id: b,
            undone,
        }
    }

    #[test]
    fn undo_table() {
        let merge = op(1, "merge", 10, 11, false);
        let cases = [
            ("nothing after it", vec![], Ok(())),
            (
                "an unrelated later operation",
                vec![op(2, "split", 20, 21, false)],
                Ok(()),
            ),
            (
                "the kept asset was split since",
                vec![op(2, "split", 10, 12, false)],
                Err(UndoRefusal::DependedOn(vec![2])),
            ),
            (
                "the later split was undone already",
                vec![op(2, "split", 10, 12, true)],
                Ok(()),
            ),
            (
                "chains are named newest first",
                vec![op(3, "merge", 12, 10, false), op(2, "split", 10, 12, false)],
                Err(UndoRefusal::DependedOn(vec![2, 3])),
            ),
            (
                "earlier operations never block",
                vec![op(0, "merge", 10, 9, false)],
                Ok(()),
            ),
        ];
        for (name, later, want) in cases {
            assert_eq!(undo_check(&merge, &later), want, "{name}");
        }
        assert_eq!(
            undo_check(&op(1, "merge", 1, 2, true), &[]),
            Err(UndoRefusal::AlreadyUndone)
        );
        assert_eq!(
            UndoRefusal::DependedOn(vec![2, 3]).to_string(),
            "later operations on the same assets depend on it: undo operation 3, then 2 first"
        );
    }
}
