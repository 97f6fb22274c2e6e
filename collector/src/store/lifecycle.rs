//! Manual fields and lifecycle state of an asset (`PATCH /api/v1/assets/{id}`), and the parts
//! of an asset's detail that explain it: manual values, state, who saw it when, conflicts
//! between locked values and automatic sources, and why each source is on it.

use chrono::{DateTime, Utc};
use parc_shared::Inventory;
use serde_json::{json, Map, Value};
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{ts, Db, DbConn, Store};
use crate::audit;
use crate::auth::Principal;
use crate::lifecycle::conflicts::{self, Locked};
use crate::lifecycle::explain;
use crate::lifecycle::manual::{Change, Patch};
use crate::lifecycle::plan;
use crate::reconcile::Candidate;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("no asset with id {0}")]
    NotFound(i64),
    /// Values that are well-formed but name nothing (an unknown department).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One history entry written by a person (manual edit, merge, split, undo).
pub(crate) struct ManualEntry {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

pub(crate) async fn write_manual_history(
    conn: &mut DbConn,
    asset_id: i64,
    entries: &[ManualEntry],
    source: &str,
    actor: &str,
    at: &str,
) -> Result<(), sqlx::Error> {
    for e in entries {
        sqlx::query(
            "INSERT INTO history (asset_id, field, old_value, new_value, changed_at, source, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(asset_id)
        .bind(e.field)
        .bind(&e.old)
        .bind(&e.new)
        .bind(at)
        .bind(source)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// "Name (#id)" of a referential row, or an error naming the missing id.
async fn referential(
    conn: &mut DbConn,
    table: &str,
    field: &str,
    id: i64,
    problems: &mut Vec<String>,
) -> Result<Option<String>, sqlx::Error> {
    let name: Option<String> =
        sqlx::query_scalar(&format!("SELECT name FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if name.is_none() {
        problems.push(format!("{field} {id} does not exist"));
    }
    Ok(name.map(|n| format!("{n} (#{id})")))
}

impl Store {
    /// Applies a checked patch as `actor` (whose right to do so the caller checked), with one
    /// history entry per changed field and an audit entry, in one transaction. Returns the
    /// number of fields that changed.
    pub async fn patch_asset(
        &self,
        id: i64,
        entity_id: i64,
        patch: &Patch,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<usize, PatchError> {
        let mut w = self.write().await?;
        let conn = &mut *w.tx;
        let Some(row) = sqlx::query(
            "SELECT a.asset_tag, a.owner, a.department_id, d.name, a.location_id, l.name,
                a.notes, a.state, a.state_since
             FROM assets a LEFT JOIN departments d ON d.id = a.department_id
                LEFT JOIN locations l ON l.id = a.location_id
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Err(PatchError::NotFound(id));
        };
        let label = |id: Option<i64>, name: Option<String>| {
            id.map(|i| format!("{} (#{i})", name.unwrap_or_default()))
        };
        let old_tag: Option<String> = row.get(0);
        let old_owner: Option<String> = row.get(1);
        let old_department = label(row.get(2), row.get(3));
        let old_location = label(row.get(4), row.get(5));
        let old_notes: Option<String> = row.get(6);
        let old_state: String = row.get(7);
        let old_since: Option<String> = row.get(8);

        let mut problems = Vec::new();
        let department = match patch.department_id {
            Change::Set(d) => {
                referential(conn, "departments", "department_id", d, &mut problems).await?
            }
            _ => None,
        };
        let location = match patch.location_id {
            Change::Set(l) => {
                referential(conn, "locations", "location_id", l, &mut problems).await?
            }
            _ => None,
        };
        if !problems.is_empty() {
            return Err(PatchError::Invalid(problems));
        }

        let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE assets SET id = id");
        let mut entries = Vec::new();
        let mut text = |q: &mut QueryBuilder<Db>,
                        column: &'static str,
                        change: &Change<String>,
                        old: &Option<String>| {
            let new = match change {
                Change::Keep => return,
                Change::Clear => None,
                Change::Set(v) => Some(v.clone()),
            };
            if &new != old {
                q.push(format!(", {column} = ")).push_bind(new.clone());
                entries.push(ManualEntry {
                    field: column,
                    old: old.clone(),
                    new,
                });
            }
        };
        text(&mut q, "asset_tag", &patch.asset_tag, &old_tag);
        text(&mut q, "owner", &patch.owner, &old_owner);
        text(&mut q, "notes", &patch.notes, &old_notes);
        for (column, field, change, old, new_label) in [
            (
                "department_id",
                "department",
                &patch.department_id,
                &old_department,
                department,
            ),
            (
                "location_id",
                "location",
                &patch.location_id,
                &old_location,
                location,
            ),
        ] {
            let new = match change {
                Change::Keep => continue,
                Change::Clear => None,
                Change::Set(v) => Some(*v),
            };
            if &new_label != old {
                q.push(format!(", {column} = ")).push_bind(new);
                entries.push(ManualEntry {
                    field,
                    old: old.clone(),
                    new: new_label,
                });
            }
        }
        if let Some((state, since)) = patch.state {
            let since = ts(since);
            if state.as_str() != old_state || Some(&since) != old_since.as_ref() {
                q.push(", state = ")
                    .push_bind(state.as_str())
                    .push(", state_since = ")
                    .push_bind(since.clone());
                entries.push(ManualEntry {
                    field: "state",
                    old: Some(match &old_since {
                        Some(s) => format!("{old_state} since {s}"),
                        None => old_state.clone(),
                    }),
                    new: Some(format!("{state} since {since}")),
                });
            }
        }
        if entries.is_empty() {
            return Ok(0);
        }
        q.push(" WHERE id = ").push_bind(id);
        q.build().execute(&mut *conn).await?;
        let at = ts(now);
        write_manual_history(conn, id, &entries, "manual", &actor.login, &at).await?;
        let details: Map<String, Value> = entries
            .iter()
            .map(|e| (e.field.to_string(), json!({"old": e.old, "new": e.new})))
            .collect();
        audit::record(
            conn,
            actor,
            "asset.update",
            Some(entity_id),
            &format!("asset:{id}"),
            &Value::Object(details),
        )
        .await?;
        w.commit().await?;
        Ok(entries.len())
    }

    /// Adds `manual`, `lifecycle`, `last_seen_by_source`, `conflicts` and `sources` to an
    /// asset's detail. `inv` is its parsed inventory facts; the SNMP record is read from
    /// `obj["snmp"]`.
    pub(crate) async fn insert_lifecycle(
        &self,
        id: i64,
        inv: Option<&Inventory>,
        obj: &mut Map<String, Value>,
    ) -> Result<(), sqlx::Error> {
        let row = sqlx::query(
            "SELECT a.asset_tag, a.owner, a.department_id, d.name, a.location_id, l.name,
                a.notes, a.state, a.state_since, a.first_seen, a.facts_observed_at,
                a.snmp_observed_at
             FROM assets a LEFT JOIN departments d ON d.id = a.department_id
                LEFT JOIN locations l ON l.id = a.location_id
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        let reference = |id: Option<i64>, name: Option<String>| match id {
            Some(id) => json!({"id": id, "name": name}),
            None => Value::Null,
        };
        let locked = Locked {
            asset_tag: row.get(0),
            owner: row.get(1),
            location: row.get(5),
        };
        obj.insert(
            "manual".into(),
            json!({
                "asset_tag": locked.asset_tag,
                "owner": locked.owner,
                "department": reference(row.get(2), row.get(3)),
                "location": reference(row.get(4), locked.location.clone()),
                "notes": row.get::<Option<String>, _>(6),
            }),
        );
        let since: Option<String> = row.get(8);
        let first_seen: String = row.get(9);
        obj.insert(
            "lifecycle".into(),
            json!({
                "state": row.get::<String, _>(7),
                "since": since.unwrap_or(first_seen),
            }),
        );
        let inv_at: Option<String> = row.get(10);
        let snmp_at: Option<String> = row.get(11);
        let observed =
            conflicts::observations(inv, inv_at.as_deref(), obj.get("snmp"), snmp_at.as_deref());
        obj.insert(
            "conflicts".into(),
            serde_json::to_value(conflicts::conflicts(&locked, &observed))
                .expect("conflicts serialise"),
        );

        let rows = sqlx::query(
            "SELECT id, kind, agent_id, rule, matched_keys, first_seen, last_seen,
                last_document_id
             FROM sources WHERE asset_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let mut sources = Vec::new();
        let mut by_source = Vec::new();
        for r in &rows {
            let matched: Option<String> = r.get(4);
            sources.push(json!({
                "id": r.get::<i64, _>(0),
                "kind": r.get::<String, _>(1),
                "agent_id": r.get::<String, _>(2),
                "rule": r.get::<String, _>(3),
                "matched_keys": explain::from_json(matched.as_deref()),
                "first_seen": r.get::<String, _>(5),
                "last_seen": r.get::<String, _>(6),
                "last_document_id": r.get::<String, _>(7),
            }));
            by_source.push(json!({
                "kind": r.get::<String, _>(1),
                "agent_id": r.get::<String, _>(2),
                "last_seen": r.get::<String, _>(6),
            }));
        }
        obj.insert("sources".into(), Value::Array(sources));
        obj.insert("last_seen_by_source".into(), Value::Array(by_source));
        Ok(())
    }
}

/// Drops the candidates an inventory from `agent_id` must not merge into: those a split
/// recorded as never-merge with the asset that already holds this agent's source. Costs no
/// query unless there are two candidates or more and one of them holds the agent.
pub(crate) async fn exclude_never_merged(
    conn: &mut DbConn,
    candidates: Vec<Candidate>,
    agent_id: &str,
) -> Result<Vec<Candidate>, sqlx::Error> {
    if candidates.len() < 2 {
        return Ok(candidates);
    }
    let anchors: Vec<i64> = candidates
        .iter()
        .filter(|c| c.keys.agent_ids.iter().any(|a| a == agent_id))
        .map(|c| c.asset_id)
        .collect();
    if anchors.is_empty() {
        return Ok(candidates);
    }
    let ids: Vec<i64> = candidates.iter().map(|c| c.asset_id).collect();
    let mut q: QueryBuilder<Db> =
        QueryBuilder::new("SELECT asset_a, asset_b FROM never_merge WHERE asset_a IN (");
    let mut sep = q.separated(", ");
    for id in &ids {
        sep.push_bind(*id);
    }
    q.push(") OR asset_b IN (");
    let mut sep = q.separated(", ");
    for id in &ids {
        sep.push_bind(*id);
    }
    q.push(")");
    let pairs: Vec<(i64, i64)> = q
        .build()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if pairs.is_empty() {
        return Ok(candidates);
    }
    let excluded = plan::never_merge_excluded(&ids, &anchors, &pairs);
    Ok(candidates
        .into_iter()
        .filter(|c| !excluded.contains(&c.asset_id))
        .collect())
}

/// Whether an asset last seen at `last_seen` (stored text) is stale at `now`.
pub fn is_stale(last_seen: &str, now: DateTime<Utc>, stale_after_days: u32) -> bool {
    last_seen < ts(now - chrono::Duration::days(i64::from(stale_after_days))).as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn staleness_is_by_last_seen() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        let days_ago = |d: i64| ts(now - chrono::Duration::days(d));
        assert!(!is_stale(&days_ago(29), now, 30));
        assert!(is_stale(&days_ago(31), now, 30));
        assert!(is_stale(&days_ago(8), now, 7));
    }
}
