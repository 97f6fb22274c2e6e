//! Merges, splits and their undo, each in one write transaction with its history and audit
//! entries.
//!
//! Before changing anything an operation snapshots every row that names its assets (the asset
//! rows, MACs, addresses, software, sources, history, placements, links, never-merge pairs, and
//! which documents pointed at them) into `operations.snapshot`. Undo writes that snapshot
//! back: the assets are exactly as they were, except that history written since the operation
//! is kept (on the asset that survives) and facts that documents brought since are replaced by
//! the older ones until the next document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::Row;

use crate::store::QueryBuilder;

use super::lifecycle::{write_manual_history, ManualEntry};
use super::{ts, Db, DbConn, DbRow, Store};
use crate::audit;
use crate::auth::Principal;
use crate::facts;
use crate::lifecycle::explain::{self, MatchedKey, ReportedKeys};
use crate::lifecycle::plan::{self, OpInfo, SourceInfo, UndoRefusal};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (merging an asset into itself, unknown source ids).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(UndoRefusal),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What the API answers for a merge, split or undo.
#[derive(Debug, Clone, Serialize)]
pub struct OpOutcome {
    pub operation_id: i64,
    pub kind: String,
    pub asset_id: i64,
    pub other_asset_id: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Text,
}
use Ty::{Int, Text};

/// A table holding rows about assets: its columns, and those naming an asset.
struct Table {
    name: &'static str,
    cols: &'static [(&'static str, Ty)],
    asset_cols: &'static [&'static str],
}

const ASSETS: Table = Table {
    name: "assets",
    cols: &[
        ("id", Int),
        ("site_id", Int),
        ("kind", Text),
        ("name", Text),
        ("name_key", Text),
        ("serial", Text),
        ("uuid", Text),
        ("serial_key", Text),
        ("uuid_key", Text),
        ("machine_id", Text),
        ("manufacturer", Text),
        ("model", Text),
        ("os", Text),
        ("facts", Text),
        ("facts_observed_at", Text),
        ("software_digest", Text),
        ("sweep_facts", Text),
        ("match_rule", Text),
        ("first_seen", Text),
        ("last_seen", Text),
        ("firmware", Text),
        ("snmp_facts", Text),
        ("snmp_observed_at", Text),
        ("state", Text),
        ("state_since", Text),
        ("asset_tag", Text),
        ("owner", Text),
        ("department_id", Int),
        ("location_id", Int),
        ("notes", Text),
    ],
    asset_cols: &["id"],
};

/// Every table with rows about assets but the assets themselves and documents (which only
/// point at them and are re-pointed).
const CHILDREN: [Table; 8] = [
    Table {
        name: "asset_macs",
        cols: &[("asset_id", Int), ("mac", Text), ("source", Text)],
        asset_cols: &["asset_id"],
    },
    Table {
        name: "asset_addresses",
        cols: &[("asset_id", Int), ("address", Text), ("source", Text)],
        asset_cols: &["asset_id"],
    },
    Table {
        name: "asset_software",
        cols: &[("asset_id", Int), ("list", Text)],
        asset_cols: &["asset_id"],
    },
    Table {
        name: "sources",
        cols: &[
            ("id", Int),
            ("asset_id", Int),
            ("kind", Text),
            ("agent_id", Text),
            ("first_seen", Text),
            ("last_seen", Text),
            ("last_document_id", Text),
            ("rule", Text),
            ("matched_keys", Text),
            ("reported_keys", Text),
        ],
        asset_cols: &["asset_id"],
    },
    Table {
        name: "history",
        cols: &[
            ("id", Int),
            ("asset_id", Int),
            ("field", Text),
            ("old_value", Text),
            ("new_value", Text),
            ("changed_at", Text),
            ("source", Text),
            ("document_id", Text),
            ("actor", Text),
        ],
        asset_cols: &["asset_id"],
    },
    Table {
        name: "asset_ports",
        cols: &[
            ("asset_id", Int),
            ("switch_asset_id", Int),
            ("port", Text),
            ("if_index", Int),
            ("vlan", Int),
            ("mac", Text),
            ("seen_at", Text),
            ("document_id", Text),
        ],
        asset_cols: &["asset_id", "switch_asset_id"],
    },
    Table {
        name: "asset_links",
        cols: &[
            ("asset_id", Int),
            ("port", Text),
            ("neighbor_asset_id", Int),
            ("protocol", Text),
            ("remote_port", Text),
            ("seen_at", Text),
            ("document_id", Text),
        ],
        asset_cols: &["asset_id", "neighbor_asset_id"],
    },
    Table {
        name: "never_merge",
        cols: &[
            ("asset_a", Int),
            ("asset_b", Int),
            ("operation_id", Int),
            ("created_at", Text),
        ],
        asset_cols: &["asset_a", "asset_b"],
    },
];

fn push_ids(q: &mut QueryBuilder<'_, Db>, ids: &[i64]) {
    q.push("(");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
}

/// ` WHERE (c1 IN (ids) OR c2 IN (ids))`
fn push_where(q: &mut QueryBuilder<'_, Db>, t: &Table, ids: &[i64]) {
    q.push(" WHERE (");
    for (i, c) in t.asset_cols.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push(format!("{c} IN "));
        push_ids(q, ids);
    }
    q.push(")");
}

fn read_row(t: &Table, row: &DbRow) -> Vec<Value> {
    t.cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| match ty {
            Int => json!(row.get::<Option<i64>, _>(i)),
            Text => json!(row.get::<Option<String>, _>(i)),
        })
        .collect()
}

fn col_list(t: &Table) -> String {
    t.cols
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn read_table(
    conn: &mut DbConn,
    t: &Table,
    ids: &[i64],
) -> Result<Vec<Vec<Value>>, sqlx::Error> {
    let mut q: QueryBuilder<Db> =
        QueryBuilder::new(format!("SELECT {} FROM {}", col_list(t), t.name));
    push_where(&mut q, t, ids);
    q.push(" ORDER BY 1, 2");
    let rows = q.build().fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(|r| read_row(t, r)).collect())
}

async fn insert_rows(conn: &mut DbConn, t: &Table, rows: &[Value]) -> Result<(), sqlx::Error> {
    for row in rows {
        let Some(values) = row.as_array() else {
            continue;
        };
        let mut q: QueryBuilder<Db> =
            QueryBuilder::new(format!("INSERT INTO {} ({}) VALUES (", t.name, col_list(t)));
        let mut sep = q.separated(", ");
        for ((_, ty), v) in t.cols.iter().zip(values) {
            match ty {
                Int => sep.push_bind(v.as_i64()),
                Text => sep.push_bind(v.as_str().map(str::to_string)),
            };
        }
        // A row that came back meanwhile (a placement a switch reported again) stays.
        q.push(") ON CONFLICT DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every row naming `ids`, as JSON: `{"tables": {name: [[values]]}, "history_max": id,
/// "documents": [[document_id, asset_id]]}`.
async fn snapshot(conn: &mut DbConn, ids: &[i64]) -> Result<Value, sqlx::Error> {
    let mut tables = Map::new();
    for t in std::iter::once(&ASSETS).chain(CHILDREN.iter()) {
        let rows = read_table(conn, t, ids).await?;
        tables.insert(t.name.into(), json!(rows));
    }
    let history_max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM history")
        .fetch_one(&mut *conn)
        .await?;
    let mut q: QueryBuilder<Db> =
        QueryBuilder::new("SELECT document_id, asset_id FROM documents WHERE asset_id IN ");
    push_ids(&mut q, ids);
    let documents: Vec<Value> = q
        .build()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| json!([r.get::<String, _>(0), r.get::<Option<i64>, _>(1)]))
        .collect();
    Ok(json!({
        "tables": tables,
        "history_max": history_max.unwrap_or(0),
        "documents": documents,
    }))
}

/// Writes a snapshot back. `current` are the assets the operation left (they lose every row
/// the snapshot does not have, except history written after it); `delete` are assets the
/// operation created, removed after their later history and documents moved to `keep`.
async fn restore(
    conn: &mut DbConn,
    snap: &Value,
    current: &[i64],
    delete: &[i64],
    keep: i64,
) -> Result<(), sqlx::Error> {
    let history_max = snap["history_max"].as_i64().unwrap_or(0);
    for d in delete {
        sqlx::query("UPDATE history SET asset_id = $1 WHERE asset_id = $2 AND id > $3")
            .bind(keep)
            .bind(d)
            .bind(history_max)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE documents SET asset_id = $1 WHERE asset_id = $2")
            .bind(keep)
            .bind(d)
            .execute(&mut *conn)
            .await?;
    }
    let snap_assets: Vec<i64> = snap["tables"]["assets"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r[0].as_i64()).collect())
        .unwrap_or_default();
    let mut ids: Vec<i64> = current.iter().chain(&snap_assets).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    for t in CHILDREN.iter() {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("DELETE FROM {}", t.name));
        push_where(&mut q, t, &ids);
        if t.name == "history" {
            q.push(" AND id <= ").push_bind(history_max);
        }
        q.build().execute(&mut *conn).await?;
    }
    for d in delete {
        sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(d)
            .execute(&mut *conn)
            .await?;
    }
    for row in snap["tables"]["assets"].as_array().into_iter().flatten() {
        let Some(values) = row.as_array() else {
            continue;
        };
        let id = values[0].as_i64().unwrap_or(0);
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM assets WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if exists.is_some() {
            update_asset(conn, id, values).await?;
        } else {
            insert_rows(conn, &ASSETS, std::slice::from_ref(row)).await?;
        }
    }
    for t in CHILDREN.iter() {
        let rows = match snap["tables"][t.name].as_array() {
            Some(rows) => rows.clone(),
            None if t.name == "asset_software" => legacy_software_lists(snap),
            None => Vec::new(),
        };
        insert_rows(conn, t, &rows).await?;
    }
    for d in snap["documents"].as_array().into_iter().flatten() {
        sqlx::query("UPDATE documents SET asset_id = $1 WHERE document_id = $2")
            .bind(d[1].as_i64())
            .bind(d[0].as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Snapshots taken before migration 0008 hold software as a row per package (`[asset_id,
/// name, version, arch, publisher, size_bytes, install_date, source]` in a `software` table);
/// they are restored as the per-asset lists that replaced those rows.
fn legacy_software_lists(snap: &Value) -> Vec<Value> {
    use super::software::{to_json, SoftwareRow};
    let mut lists: std::collections::BTreeMap<i64, Vec<SoftwareRow>> = Default::default();
    for row in snap["tables"]["software"].as_array().into_iter().flatten() {
        let text = |i: usize| row[i].as_str().map(str::to_string);
        let (Some(asset_id), Some(name), Some(source)) = (row[0].as_i64(), text(1), text(7)) else {
            continue;
        };
        lists.entry(asset_id).or_default().push(SoftwareRow {
            name,
            version: text(2),
            arch: text(3),
            publisher: text(4),
            size_bytes: row[5].as_i64(),
            install_date: text(6),
            source,
        });
    }
    lists
        .into_iter()
        .map(|(asset_id, mut rows)| {
            rows.sort();
            json!([asset_id, to_json(&rows)])
        })
        .collect()
}

/// Sets every column of the asset row `id` to `values` (in [`ASSETS`] order).
async fn update_asset(conn: &mut DbConn, id: i64, values: &[Value]) -> Result<(), sqlx::Error> {
    let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE assets SET ");
    let mut sep = q.separated(", ");
    for ((c, ty), v) in ASSETS.cols.iter().zip(values).skip(1) {
        sep.push(format!("{c} = "));
        match ty {
            Int => sep.push_bind_unseparated(v.as_i64()),
            Text => sep.push_bind_unseparated(v.as_str().map(str::to_string)),
        };
    }
    q.push(" WHERE id = ").push_bind(id);
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// An asset row of a snapshot as column → value.
fn asset_row(snap: &Value, id: i64) -> Option<Map<String, Value>> {
    snap["tables"]["assets"]
        .as_array()?
        .iter()
        .filter_map(Value::as_array)
        .find(|r| r[0].as_i64() == Some(id))
        .map(|r| {
            ASSETS
                .cols
                .iter()
                .zip(r)
                .map(|((c, _), v)| (c.to_string(), v.clone()))
                .collect()
        })
}

/// The asset row a merge leaves: the kept asset's values, its gaps filled from the other's,
/// seen from the earliest first sighting to the latest last one.
pub(crate) fn merged_row(into: &Map<String, Value>, from: &Map<String, Value>) -> Vec<Value> {
    let get = |m: &Map<String, Value>, c: &str| m.get(c).cloned().unwrap_or(Value::Null);
    let text =
        |m: &Map<String, Value>, c: &str| m.get(c).and_then(Value::as_str).map(str::to_string);
    let into_has_facts = !get(into, "facts").is_null();
    let from_has_facts = !get(from, "facts").is_null();
    let from_snmp_newer = text(from, "snmp_observed_at") > text(into, "snmp_observed_at");
    ASSETS
        .cols
        .iter()
        .map(|(c, _)| {
            let (a, b) = (get(into, c), get(from, c));
            match *c {
                "id" | "site_id" | "match_rule" | "state" | "state_since" => a,
                "first_seen" => json!(text(into, c).min(text(from, c))),
                "last_seen" => json!(text(into, c).max(text(from, c))),
                "kind" if a.as_str() == Some("unknown") => b,
                "facts" | "facts_observed_at" if !into_has_facts => b,
                // Both brought software: the kept list is no longer what the digest says, so
                // the next inventory rewrites it.
                "software_digest" if !into_has_facts => b,
                "software_digest" if from_has_facts => Value::Null,
                "snmp_facts" | "snmp_observed_at" if from_snmp_newer => b,
                _ if a.is_null() => b,
                _ => a,
            }
        })
        .collect()
}

fn op_keys(op: i64) -> String {
    explain::to_json(&[MatchedKey {
        key: "operation".into(),
        value: op.to_string(),
    }])
}

async fn asset_label(conn: &mut DbConn, id: i64) -> Result<String, sqlx::Error> {
    let name: Option<Option<String>> = sqlx::query_scalar("SELECT name FROM assets WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match name.flatten() {
        Some(n) => format!("#{id} ({n})"),
        None => format!("#{id}"),
    })
}

async fn insert_operation(
    conn: &mut DbConn,
    kind: &str,
    asset_id: i64,
    other: i64,
    actor: &Principal,
    at: &str,
    snap: &Value,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO operations (kind, asset_id, other_asset_id, actor_id, actor_login, created_at,
            snapshot)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(kind)
    .bind(asset_id)
    .bind(other)
    .bind(Some(actor.user_id).filter(|i| *i > 0))
    .bind(&actor.login)
    .bind(at)
    .bind(snap.to_string())
    .fetch_one(&mut *conn)
    .await
}

impl Store {
    /// Merges asset `from` into `into` as `actor` (an admin of both entities: checked by the
    /// caller). `entity_id` is `into`'s entity, for the audit log.
    pub async fn merge_assets(
        &self,
        into: i64,
        from: i64,
        entity_id: i64,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<OpOutcome, OpError> {
        if into == from {
            return Err(OpError::Invalid(
                "an asset cannot be merged into itself".into(),
            ));
        }
        let mut w = self.write().await?;
        let conn = &mut *w.tx;
        let at = ts(now);
        let snap = snapshot(conn, &[into, from]).await?;
        let (Some(into_row), Some(from_row)) = (asset_row(&snap, into), asset_row(&snap, from))
        else {
            return Err(OpError::NotFound("no such asset".into()));
        };
        let op = insert_operation(conn, "merge", into, from, actor, &at, &snap).await?;
        let from_label = asset_label(conn, from).await?;
        let into_label = asset_label(conn, into).await?;

        update_asset(conn, into, &merged_row(&into_row, &from_row)).await?;
        for (table, column) in [("asset_macs", "mac"), ("asset_addresses", "address")] {
            sqlx::query(&format!(
                "INSERT INTO {table} (asset_id, {column}, source)
                 SELECT $1, {column}, source FROM {table} WHERE asset_id = $2
                 ON CONFLICT DO NOTHING"
            ))
            .bind(into)
            .bind(from)
            .execute(&mut *conn)
            .await?;
        }
        super::software::merge(conn, into, from).await?;
        // A source on both (the same sweeping agent saw both) keeps one row spanning both.
        sqlx::query(
            "UPDATE sources SET
                first_seen = COALESCE((SELECT f.first_seen FROM sources f
                    WHERE f.asset_id = $2 AND f.kind = sources.kind
                        AND f.agent_id = sources.agent_id
                        AND f.first_seen < sources.first_seen), first_seen),
                last_seen = COALESCE((SELECT f.last_seen FROM sources f
                    WHERE f.asset_id = $2 AND f.kind = sources.kind
                        AND f.agent_id = sources.agent_id
                        AND f.last_seen > sources.last_seen), last_seen)
             WHERE asset_id = $1",
        )
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "DELETE FROM sources WHERE asset_id = $2 AND EXISTS (
                SELECT 1 FROM sources s WHERE s.asset_id = $1 AND s.kind = sources.kind
                    AND s.agent_id = sources.agent_id)",
        )
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE sources SET asset_id = $1, rule = 'merge', matched_keys = $3
             WHERE asset_id = $2",
        )
        .bind(into)
        .bind(from)
        .bind(op_keys(op))
        .execute(&mut *conn)
        .await?;
        // Placements: the kept asset's unless the other's is newer; as a switch, all of them.
        sqlx::query(
            "DELETE FROM asset_ports WHERE asset_id = $1 AND EXISTS (
                SELECT 1 FROM asset_ports f WHERE f.asset_id = $2
                    AND f.seen_at > asset_ports.seen_at)",
        )
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await?;
        for sql in [
            "UPDATE asset_ports SET asset_id = $1 WHERE asset_id = $2
                AND NOT EXISTS (SELECT 1 FROM asset_ports i WHERE i.asset_id = $1)",
            "UPDATE asset_ports SET switch_asset_id = $1 WHERE switch_asset_id = $2",
            "INSERT INTO asset_links (asset_id, port, neighbor_asset_id, protocol, remote_port,
                seen_at, document_id)
             SELECT $1, port, neighbor_asset_id, protocol, remote_port, seen_at, document_id
             FROM asset_links WHERE asset_id = $2 ON CONFLICT DO NOTHING",
            "INSERT INTO asset_links (asset_id, port, neighbor_asset_id, protocol, remote_port,
                seen_at, document_id)
             SELECT asset_id, port, $1, protocol, remote_port, seen_at, document_id
             FROM asset_links WHERE neighbor_asset_id = $2 AND asset_id <> $2
             ON CONFLICT DO NOTHING",
            "DELETE FROM asset_links WHERE asset_id = $1 AND neighbor_asset_id IN ($1, $2)",
            "DELETE FROM asset_ports WHERE asset_id = switch_asset_id AND asset_id IN ($1, $2)",
            "UPDATE documents SET asset_id = $1 WHERE asset_id = $2",
            "DELETE FROM never_merge WHERE asset_a IN ($1, $2) AND asset_b IN ($1, $2)",
            "INSERT INTO never_merge (asset_a, asset_b, operation_id, created_at)
             SELECT CASE WHEN asset_a = $2 THEN $1 ELSE asset_a END,
                    CASE WHEN asset_b = $2 THEN $1 ELSE asset_b END, operation_id, created_at
             FROM never_merge WHERE (asset_a = $2 AND $1 < asset_b)
                OR (asset_b = $2 AND asset_a < $1)
             ON CONFLICT DO NOTHING",
            "INSERT INTO never_merge (asset_a, asset_b, operation_id, created_at)
             SELECT CASE WHEN asset_a = $2 THEN asset_b ELSE asset_a END, $1, operation_id,
                    created_at
             FROM never_merge WHERE (asset_a = $2 AND asset_b < $1)
                OR (asset_b = $2 AND $1 < asset_a)
             ON CONFLICT DO NOTHING",
        ] {
            sqlx::query(sql)
                .bind(into)
                .bind(from)
                .execute(&mut *conn)
                .await?;
        }
        write_manual_history(
            conn,
            from,
            &[ManualEntry {
                field: "merge",
                old: None,
                new: Some(format!("merged into asset {into_label} (operation {op})")),
            }],
            "merge",
            &actor.login,
            &at,
        )
        .await?;
        sqlx::query("UPDATE history SET asset_id = $1 WHERE asset_id = $2")
            .bind(into)
            .bind(from)
            .execute(&mut *conn)
            .await?;
        write_manual_history(
            conn,
            into,
            &[ManualEntry {
                field: "merge",
                old: None,
                new: Some(format!("asset {from_label} merged in (operation {op})")),
            }],
            "merge",
            &actor.login,
            &at,
        )
        .await?;
        sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(from)
            .execute(&mut *conn)
            .await?;
        audit::record(
            conn,
            actor,
            "asset.merge",
            Some(entity_id),
            &format!("asset:{into}"),
            &json!({"operation": op, "into": into, "from": from, "from_entity": from_row.get("site_id")}),
        )
        .await?;
        w.commit().await?;
        Ok(OpOutcome {
            operation_id: op,
            kind: "merge".into(),
            asset_id: into,
            other_asset_id: from,
        })
    }

    /// Moves the sources `moving` of asset `id` to a new asset, with the MACs, addresses and
    /// facts they brought, and records the pair as never-merge.
    pub async fn split_asset(
        &self,
        id: i64,
        moving: &[i64],
        entity_id: i64,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<OpOutcome, OpError> {
        let mut w = self.write().await?;
        let conn = &mut *w.tx;
        let at = ts(now);
        let Some(site_id): Option<i64> =
            sqlx::query_scalar("SELECT site_id FROM assets WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Err(OpError::NotFound(format!("no asset with id {id}")));
        };
        let sources: Vec<SourceInfo> = sqlx::query(
            "SELECT id, kind, last_seen, reported_keys FROM sources WHERE asset_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| SourceInfo {
            id: r.get(0),
            kind: r.get(1),
            last_seen: r.get(2),
            reported: ReportedKeys::from_json(r.get::<Option<String>, _>(3).as_deref()),
        })
        .collect();
        let split = plan::split(&sources, moving).map_err(OpError::Invalid)?;
        let snap = snapshot(conn, &[id]).await?;
        let row = asset_row(&snap, id).expect("the asset was just read");
        let text = |c: &str| row.get(c).and_then(Value::as_str).map(str::to_string);
        let going: Vec<&SourceInfo> = sources.iter().filter(|s| moving.contains(&s.id)).collect();
        let staying: Vec<&SourceInfo> =
            sources.iter().filter(|s| !moving.contains(&s.id)).collect();
        let last_seen = |side: &[&SourceInfo]| side.iter().map(|s| s.last_seen.clone()).max();
        let going_ids: Vec<i64> = going.iter().map(|s| s.id).collect();
        let first_seen: Option<String> = {
            let mut q: QueryBuilder<Db> =
                QueryBuilder::new("SELECT MIN(first_seen) FROM sources WHERE id IN ");
            push_ids(&mut q, &going_ids);
            q.build_query_scalar().fetch_one(&mut *conn).await?
        };
        let going_last = last_seen(&going);
        let kind = if split.inventory_facts || going.iter().any(|s| s.kind == "agent_inventory") {
            "computer".to_string()
        } else if split.snmp_facts {
            text("kind").unwrap_or_else(|| "unknown".into())
        } else {
            "unknown".to_string()
        };
        let ident = &split.identity;
        let new_id: i64 = sqlx::query_scalar(
            "INSERT INTO assets (site_id, kind, name, name_key, serial, uuid, serial_key, uuid_key,
                match_rule, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $5, $6, 'split', $7, $8) RETURNING id",
        )
        .bind(site_id)
        .bind(&kind)
        .bind(&ident.name)
        .bind(ident.name.as_deref().and_then(facts::name_key))
        .bind(&ident.serial)
        .bind(&ident.uuid)
        .bind(first_seen.clone().unwrap_or_else(|| at.clone()))
        .bind(going_last.unwrap_or_else(|| at.clone()))
        .fetch_one(&mut *conn)
        .await?;
        let op = insert_operation(conn, "split", id, new_id, actor, &at, &snap).await?;

        // Facts go with the source that brought them; the asset that stays is described by its
        // remaining sources until they report again.
        let mut moved_columns: Vec<&str> = Vec::new();
        if split.inventory_facts {
            moved_columns.extend([
                "facts",
                "facts_observed_at",
                "software_digest",
                "os",
                "machine_id",
                "manufacturer",
                "model",
            ]);
            sqlx::query("UPDATE asset_software SET asset_id = $1 WHERE asset_id = $2")
                .bind(new_id)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        if split.snmp_facts {
            moved_columns.extend(["snmp_facts", "snmp_observed_at", "firmware"]);
            for sql in [
                "UPDATE asset_ports SET switch_asset_id = $1 WHERE switch_asset_id = $2",
                "UPDATE asset_links SET asset_id = $1 WHERE asset_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(new_id)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        if split.sweep_facts {
            moved_columns.push("sweep_facts");
        }
        if !moved_columns.is_empty() {
            let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE assets SET ");
            let mut sep = q.separated(", ");
            for c in &moved_columns {
                sep.push(format!("{c} = (SELECT o.{c} FROM assets o WHERE o.id = "));
                sep.push_bind_unseparated(id);
                sep.push_unseparated(")");
            }
            q.push(" WHERE id = ").push_bind(new_id);
            q.build().execute(&mut *conn).await?;
            let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE assets SET ");
            let mut sep = q.separated(", ");
            for c in &moved_columns {
                sep.push(format!("{c} = NULL"));
            }
            q.push(" WHERE id = ").push_bind(id);
            q.build().execute(&mut *conn).await?;
        }
        if split.inventory_facts || split.snmp_facts {
            let rest = &split.remaining_identity;
            sqlx::query(
                "UPDATE assets SET name = $1, name_key = $2, serial = $3, uuid = $4,
                    serial_key = $3, uuid_key = $4
                 WHERE id = $5",
            )
            .bind(rest.name.clone().or_else(|| text("name")))
            .bind(
                rest.name
                    .as_deref()
                    .and_then(facts::name_key)
                    .or_else(|| text("name_key")),
            )
            .bind(&rest.serial)
            .bind(&rest.uuid)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        let staying_last = last_seen(&staying);
        if let Some(last) = staying_last {
            sqlx::query("UPDATE assets SET last_seen = $1 WHERE id = $2")
                .bind(last)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        for (table, column, values) in [
            ("asset_macs", "mac", &split.macs),
            ("asset_addresses", "address", &split.addresses),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut q: QueryBuilder<Db> =
                QueryBuilder::new(format!("UPDATE {table} SET asset_id = "));
            q.push_bind(new_id)
                .push(" WHERE asset_id = ")
                .push_bind(id)
                .push(format!(" AND {column} IN ("));
            let mut sep = q.separated(", ");
            for v in values {
                sep.push_bind(v.clone());
            }
            q.push(")");
            q.build().execute(&mut *conn).await?;
        }
        // An inventory replaces the asset's inventory MACs and addresses with its own, so the
        // side whose agent reported less recently has lost them: each side gets back what its
        // sources last reported (keys both sides reported stay with the asset kept).
        for (asset, side, only) in [(id, &staying, None), (new_id, &going, Some(&split))] {
            for s in side.iter() {
                let source = match s.kind.as_str() {
                    "agent_inventory" => "inventory",
                    other => other,
                };
                for (table, column, values, allowed) in [
                    ("asset_macs", "mac", &s.reported.macs, only.map(|p| &p.macs)),
                    (
                        "asset_addresses",
                        "address",
                        &s.reported.addresses,
                        only.map(|p| &p.addresses),
                    ),
                ] {
                    for v in values {
                        if allowed.is_some_and(|a| !a.contains(v)) {
                            continue;
                        }
                        sqlx::query(&format!(
                            "INSERT INTO {table} (asset_id, {column}, source) VALUES ($1, $2, $3)
                             ON CONFLICT DO NOTHING"
                        ))
                        .bind(asset)
                        .bind(v)
                        .bind(source)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
            }
        }
        if !split.macs.is_empty() {
            let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE asset_ports SET asset_id = ");
            q.push_bind(new_id)
                .push(" WHERE asset_id = ")
                .push_bind(id)
                .push(" AND mac IN (");
            let mut sep = q.separated(", ");
            for v in &split.macs {
                sep.push_bind(v.clone());
            }
            q.push(")");
            q.build().execute(&mut *conn).await?;
        }
        for s in &going {
            let agent: String = sqlx::query_scalar(
                "UPDATE sources SET asset_id = $1, rule = 'split', matched_keys = $2
                 WHERE id = $3 RETURNING agent_id",
            )
            .bind(new_id)
            .bind(op_keys(op))
            .bind(s.id)
            .fetch_one(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE documents SET asset_id = $1 WHERE asset_id = $2 AND agent_id = $3
                    AND source = $4",
            )
            .bind(new_id)
            .bind(id)
            .bind(agent)
            .bind(&s.kind)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "INSERT INTO never_merge (asset_a, asset_b, operation_id, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id.min(new_id))
        .bind(id.max(new_id))
        .bind(op)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
        let ids_text = going_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        write_manual_history(
            conn,
            id,
            &[ManualEntry {
                field: "split",
                old: None,
                new: Some(format!(
                    "sources {ids_text} moved to new asset #{new_id} (operation {op})"
                )),
            }],
            "split",
            &actor.login,
            &at,
        )
        .await?;
        write_manual_history(
            conn,
            new_id,
            &[ManualEntry {
                field: "asset",
                old: None,
                new: Some(format!(
                    "created (rule: split) from sources {ids_text} of asset #{id} (operation {op})"
                )),
            }],
            "split",
            &actor.login,
            &at,
        )
        .await?;
        audit::record(
            conn,
            actor,
            "asset.split",
            Some(entity_id),
            &format!("asset:{id}"),
            &json!({"operation": op, "asset": id, "new_asset": new_id, "sources": going_ids}),
        )
        .await?;
        w.commit().await?;
        Ok(OpOutcome {
            operation_id: op,
            kind: "split".into(),
            asset_id: id,
            other_asset_id: new_id,
        })
    }

    /// The operation's assets and the entity of the asset it kept (None: no such operation).
    pub async fn operation(&self, id: i64) -> Result<Option<(OpInfo, Option<i64>)>, sqlx::Error> {
        let Some(r) = sqlx::query(
            "SELECT o.id, o.kind, o.asset_id, o.other_asset_id,
                CAST(CASE WHEN o.undone_at IS NULL THEN 0 ELSE 1 END AS BIGINT), s.entity_id
             FROM operations o LEFT JOIN assets a ON a.id = o.asset_id
                LEFT JOIN sites s ON s.id = a.site_id
             WHERE o.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        Ok(Some((op_info(&r), r.get(5))))
    }

    /// Undoes operation `id` (whose right the caller checked) unless later operations depend
    /// on it.
    pub async fn undo_operation(
        &self,
        id: i64,
        entity_id: i64,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<OpOutcome, OpError> {
        let mut w = self.write().await?;
        let conn = &mut *w.tx;
        let at = ts(now);
        let Some(r) = sqlx::query(
            "SELECT id, kind, asset_id, other_asset_id,
                CAST(CASE WHEN undone_at IS NULL THEN 0 ELSE 1 END AS BIGINT), snapshot
             FROM operations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Err(OpError::NotFound(format!("no operation with id {id}")));
        };
        let op = op_info(&r);
        let snap: Value = serde_json::from_str(&r.get::<String, _>(5))
            .map_err(|e| OpError::Db(sqlx::Error::Decode(Box::new(e))))?;
        let later: Vec<OpInfo> = sqlx::query(
            "SELECT id, kind, asset_id, other_asset_id,
                CAST(CASE WHEN undone_at IS NULL THEN 0 ELSE 1 END AS BIGINT)
             FROM operations WHERE id > $1",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(op_info)
        .collect();
        plan::undo_check(&op, &later).map_err(OpError::Refused)?;
        match op.kind.as_str() {
            "merge" => restore(conn, &snap, &[op.asset_id], &[], op.asset_id).await?,
            _ => {
                restore(
                    conn,
                    &snap,
                    &[op.asset_id, op.other_asset_id],
                    &[op.other_asset_id],
                    op.asset_id,
                )
                .await?
            }
        }
        sqlx::query("UPDATE operations SET undone_at = $1, undone_by = $2 WHERE id = $3")
            .bind(&at)
            .bind(&actor.login)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let note = format!("operation {id} ({}) undone", op.kind);
        let mut targets = vec![op.asset_id];
        if op.kind == "merge" {
            targets.push(op.other_asset_id);
        }
        for asset in targets {
            write_manual_history(
                conn,
                asset,
                &[ManualEntry {
                    field: "undo",
                    old: None,
                    new: Some(note.clone()),
                }],
                "undo",
                &actor.login,
                &at,
            )
            .await?;
        }
        audit::record(
            conn,
            actor,
            "asset.undo",
            Some(entity_id),
            &format!("operation:{id}"),
            &json!({"operation": id, "kind": op.kind, "asset": op.asset_id,
                    "other_asset": op.other_asset_id}),
        )
        .await?;
        w.commit().await?;
        Ok(OpOutcome {
            operation_id: id,
            kind: op.kind,
            asset_id: op.asset_id,
            other_asset_id: op.other_asset_id,
        })
    }
}

fn op_info(r: &DbRow) -> OpInfo {
    OpInfo {
        id: r.get(0),
        kind: r.get(1),
        asset_id: r.get(2),
        other_asset_id: r.get(3),
        undone: r.get::<i64, _>(4) != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_from_before_software_lists_restore_as_lists() {
        let t = "2026-01-02T03:04:05.000000Z";
        let snap = json!({"tables": {"software": [
            [7, "zlib", "1.3", null, null, null, null, "dpkg"],
            [4, "curl", "8.5", "amd64", "Debian", 1234, t, "dpkg"],
            [7, "curl", "7.88", null, null, null, null, "dpkg"],
            [7, null, "broken row without a name", null, null, null, null, "dpkg"],
        ]}});
        let lists = legacy_software_lists(&snap);
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0][0], 4);
        let four: Vec<super::super::software::SoftwareRow> =
            serde_json::from_str(lists[0][1].as_str().unwrap()).unwrap();
        assert_eq!(
            (
                four[0].arch.as_deref(),
                four[0].size_bytes,
                four[0].install_date.as_deref()
            ),
            (Some("amd64"), Some(1234), Some(t))
        );
        assert_eq!(lists[1][0], 7);
        let seven: Vec<super::super::software::SoftwareRow> =
            serde_json::from_str(lists[1][1].as_str().unwrap()).unwrap();
        let names: Vec<(&str, Option<&str>)> = seven
            .iter()
            .map(|r| (r.name.as_str(), r.version.as_deref()))
            .collect();
        assert_eq!(
            names,
            [("curl", Some("7.88")), ("zlib", Some("1.3"))],
            "sorted, the nameless row dropped"
        );
        // A snapshot taken after the change is restored as it is, never through this.
        assert!(legacy_software_lists(&json!({"tables": {}})).is_empty());
    }

    fn row(pairs: &[(&str, Value)]) -> Map<String, Value> {
        let mut m: Map<String, Value> = ASSETS
            .cols
            .iter()
            .map(|(c, _)| (c.to_string(), Value::Null))
            .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.clone());
        }
        m
    }

    fn col(values: &[Value], name: &str) -> Value {
        let i = ASSETS.cols.iter().position(|(c, _)| *c == name).unwrap();
        values[i].clone()
    }

    #[test]
    fn merged_rows_fill_gaps_and_widen_sightings() {
        let into = row(&[
            ("id", json!(1)),
            ("kind", json!("unknown")),
            ("name", json!("pc-1")),
            ("first_seen", json!("2026-11-10")),
            ("last_seen", json!("2026-11-12")),
            ("sweep_facts", json!("{}")),
            ("owner", json!("jdupont")),
        ]);
        let from = row(&[
            ("id", json!(2)),
            ("kind", json!("computer")),
            ("name", json!("PC-1")),
            ("serial", json!("SN1")),
            ("facts", json!("{\"x\":1}")),
            ("software_digest", json!("abc")),
            ("first_seen", json!("2026-11-01")),
            ("last_seen", json!("2026-11-11")),
            ("owner", json!("mmartin")),
            ("asset_tag", json!("INV-2")),
        ]);
        let m = merged_row(&into, &from);
        assert_eq!(col(&m, "id"), json!(1));
        assert_eq!(col(&m, "kind"), json!("computer"));
        assert_eq!(col(&m, "name"), json!("pc-1"));
        assert_eq!(col(&m, "serial"), json!("SN1"));
        assert_eq!(col(&m, "facts"), json!("{\"x\":1}"));
        assert_eq!(col(&m, "software_digest"), json!("abc"));
        assert_eq!(col(&m, "first_seen"), json!("2026-11-01"));
        assert_eq!(col(&m, "last_seen"), json!("2026-11-12"));
        assert_eq!(
            col(&m, "owner"),
            json!("jdupont"),
            "the kept asset's lock wins"
        );
        assert_eq!(col(&m, "asset_tag"), json!("INV-2"));

        // Both with inventories: the software list must be rewritten by the next one.
        let mut into2 = into.clone();
        into2.insert("facts".into(), json!("{}"));
        into2.insert("software_digest".into(), json!("def"));
        let m = merged_row(&into2, &from);
        assert_eq!(col(&m, "facts"), json!("{}"));
        assert_eq!(col(&m, "software_digest"), Value::Null);
    }
}
