//! Cloned agent identities: one agent id reporting from two machines.
//!
//! The agent id is created once per installation, so a disk image copied with the agent's state
//! (or a VM cloned after the agent ran) makes two machines speak with one id. Matching by agent
//! id would then merge them into one asset whose facts flip between the two. Before an
//! inventory is matched, [`exclude_clones`] removes the assets that carry this agent id but
//! whose hardware contradicts the document's (the pure rule is [`contradicts`]); the document
//! then finds or creates its own asset, and [`record`] writes the pair to `agent_clones`
//! (migration 0007), which `GET /api/v1/reports/clones` lists.

use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, DbConn, Store};
use crate::auth::Scope;
use crate::reconcile::{Candidate, Keys};

/// Most pairs one report lists.
pub const MAX_CLONE_ROWS: i64 = 10_000;

/// True when `stored` (an asset this agent id reported before) cannot be the machine that sent
/// `incoming`: a different serial or SMBIOS UUID, or (without an agreeing serial) physical MACs
/// on both sides and none in common. An agreeing UUID alone does not vouch: cloned VMs copy it.
pub fn contradicts(incoming: &Keys, stored: &Keys) -> bool {
    let differ =
        |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x != y);
    let same_serial = matches!((&incoming.serial, &stored.serial), (Some(x), Some(y)) if x == y);
    differ(&incoming.serial, &stored.serial)
        || differ(&incoming.uuid, &stored.uuid)
        || (!same_serial
            && !incoming.macs.is_empty()
            && !stored.macs.is_empty()
            && !incoming.macs.iter().any(|m| stored.macs.contains(m)))
}

/// Splits off the candidates that carry the document's agent id but contradict its hardware:
/// returns the candidates the document may still match, and the asset ids it was cloned from.
pub fn exclude_clones(candidates: Vec<Candidate>, incoming: &Keys) -> (Vec<Candidate>, Vec<i64>) {
    let mut cloned_from = Vec::new();
    let kept = candidates
        .into_iter()
        .filter(|c| {
            let same_agent = c
                .keys
                .agent_ids
                .iter()
                .any(|a| incoming.agent_ids.contains(a));
            if same_agent && contradicts(incoming, &c.keys) {
                cloned_from.push(c.asset_id);
                false
            } else {
                true
            }
        })
        .collect();
    cloned_from.sort_unstable();
    (kept, cloned_from)
}

/// Records that `agent_id`'s document went to `asset_id` although the agent id also reports
/// the assets `cloned_from` from other hardware (in the document's transaction).
pub async fn record(
    conn: &mut DbConn,
    agent_id: &str,
    asset_id: i64,
    cloned_from: &[i64],
    observed: &str,
) -> Result<(), sqlx::Error> {
    for &other in cloned_from.iter().filter(|&&a| a != asset_id) {
        // The older asset is the original, whichever of the two machines sent this document:
        // both keep reporting, and the pair is one pair.
        let (original, clone) = (other.min(asset_id), other.max(asset_id));
        tracing::warn!(
            agent_id,
            original_asset_id = original,
            clone_asset_id = clone,
            "cloned agent identity: this agent id reports from other hardware; kept apart"
        );
        sqlx::query(
            "INSERT INTO agent_clones (agent_id, original_asset_id, clone_asset_id, first_seen,
                 last_seen, documents)
             VALUES ($1, $2, $3, $4, $4, 1)
             ON CONFLICT (agent_id, original_asset_id, clone_asset_id) DO UPDATE SET
                 last_seen = excluded.last_seen,
                 documents = agent_clones.documents + 1",
        )
        .bind(agent_id)
        .bind(original)
        .bind(clone)
        .bind(observed)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One side of a clone pair, as the report shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CloneSide {
    pub asset_id: i64,
    pub name: Option<String>,
    pub site: String,
    pub serial: Option<String>,
    pub uuid: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClonePair {
    pub agent_id: String,
    pub original: CloneSide,
    pub clone: CloneSide,
    pub first_seen: String,
    pub last_seen: String,
    pub documents: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClonesReport {
    pub truncated: bool,
    pub items: Vec<ClonePair>,
}

impl Store {
    /// Clone pairs where the caller may read either asset, most recent first.
    pub async fn report_clones(&self, scope: &Scope) -> Result<ClonesReport, sqlx::Error> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT c.agent_id, c.first_seen, c.last_seen, c.documents,
                    o.id, o.name, os.name, o.serial, o.uuid,
                    k.id, k.name, ks.name, k.serial, k.uuid
             FROM agent_clones c
             JOIN assets o ON o.id = c.original_asset_id JOIN sites os ON os.id = o.site_id
             JOIN assets k ON k.id = c.clone_asset_id JOIN sites ks ON ks.id = k.site_id
             WHERE 1 = 1",
        );
        // Both assets must be readable: a pair across entities is shown only to who sees both.
        scope.push_site_filter(&mut q, "o.site_id");
        scope.push_site_filter(&mut q, "k.site_id");
        q.push(" ORDER BY c.last_seen DESC, c.id DESC LIMIT ");
        q.push_bind(MAX_CLONE_ROWS + 1);
        let rows = q.build().fetch_all(self.pool()).await?;
        let side = |r: &super::DbRow, at: usize| CloneSide {
            asset_id: r.get(at),
            name: r.get(at + 1),
            site: r.get(at + 2),
            serial: r.get(at + 3),
            uuid: r.get(at + 4),
        };
        let mut items: Vec<ClonePair> = rows
            .iter()
            .map(|r| ClonePair {
                agent_id: r.get(0),
                first_seen: r.get(1),
                last_seen: r.get(2),
                documents: r.get(3),
                original: side(r, 4),
                clone: side(r, 9),
            })
            .collect();
        let truncated = items.len() as i64 > MAX_CLONE_ROWS;
        items.truncate(MAX_CLONE_ROWS as usize);
        Ok(ClonesReport { truncated, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(serial: Option<&str>, uuid: Option<&str>, macs: &[&str], agent: &str) -> Keys {
        Keys {
            serial: serial.map(String::from),
            uuid: uuid.map(String::from),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            agent_ids: vec![agent.to_string()],
            machine_id: None,
            name: Some("pc-1".into()),
            site_id: 1,
        }
    }

    #[test]
    fn contradicting_hardware() {
        let m1 = "02:00:00:00:00:01";
        let m2 = "02:00:00:00:00:02";
        let cases = [
            (
                "same machine",
                keys(Some("S1"), Some("U1"), &[m1], "a"),
                keys(Some("S1"), Some("U1"), &[m1], "a"),
                false,
            ),
            (
                "other serial",
                keys(Some("S2"), Some("U1"), &[m1], "a"),
                keys(Some("S1"), Some("U1"), &[m1], "a"),
                true,
            ),
            (
                "other uuid",
                keys(None, Some("U2"), &[m1], "a"),
                keys(None, Some("U1"), &[m1], "a"),
                true,
            ),
            (
                "cloned VM: same uuid, other MACs",
                keys(None, Some("U1"), &[m2], "a"),
                keys(None, Some("U1"), &[m1], "a"),
                true,
            ),
            (
                "new NIC, same serial",
                keys(Some("S1"), None, &[m2], "a"),
                keys(Some("S1"), None, &[m1], "a"),
                false,
            ),
            (
                "NIC added",
                keys(None, None, &[m1, m2], "a"),
                keys(None, None, &[m1], "a"),
                false,
            ),
            (
                "no MACs known on one side",
                keys(None, None, &[], "a"),
                keys(None, None, &[m1], "a"),
                false,
            ),
            (
                "nothing known",
                keys(None, None, &[], "a"),
                keys(None, None, &[], "a"),
                false,
            ),
            (
                "serial appears",
                keys(Some("S1"), None, &[m1], "a"),
                keys(None, None, &[m1], "a"),
                false,
            ),
        ];
        for (name, incoming, stored, want) in cases {
            assert_eq!(contradicts(&incoming, &stored), want, "{name}");
        }
    }

    #[test]
    fn only_this_agents_contradicting_assets_are_excluded() {
        let m1 = "02:00:00:00:00:01";
        let m2 = "02:00:00:00:00:02";
        let incoming = keys(Some("S2"), None, &[m2], "a");
        let candidates = vec![
            // The original machine of agent a.
            Candidate {
                asset_id: 1,
                keys: keys(Some("S1"), None, &[m1], "a"),
            },
            // Another agent's asset sharing the name: left to the merge rules (which veto it).
            Candidate {
                asset_id: 2,
                keys: keys(Some("S3"), None, &[], "b"),
            },
            // The clone's own asset from an earlier document: kept, it is this machine.
            Candidate {
                asset_id: 3,
                keys: keys(Some("S2"), None, &[m2], "a"),
            },
        ];
        let (kept, cloned_from) = exclude_clones(candidates, &incoming);
        assert_eq!(
            kept.iter().map(|c| c.asset_id).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(cloned_from, vec![1]);
    }
}
