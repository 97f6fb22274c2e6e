//! Applying an agent inventory to the CMDB, in one write transaction.

use chrono::{DateTime, Utc};
use parc_shared::{Document, Inventory, SourceKind};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, DbConn};

use super::tokens::Site;
use super::{ts, Store};
use crate::facts;
use crate::history::{self, Change, Package, Snapshot};
use crate::lifecycle::explain::{self, ReportedKeys};
use crate::reconcile::{self, Candidate, Decision, Keys, Rule};

/// What happened to an inventory; this is also the API's response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryOutcome {
    pub asset_id: i64,
    pub created: bool,
    pub rule: Rule,
    pub duplicate: bool,
    /// History entries written.
    pub changes: usize,
}

/// One software row as stored; compared whole to decide whether the table needs rewriting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct SoftwareRow {
    pub name: String,
    pub version: Option<String>,
    pub arch: Option<String>,
    pub publisher: Option<String>,
    pub size_bytes: Option<i64>,
    pub install_date: Option<String>,
    pub source: String,
}

impl SoftwareRow {
    fn package(&self) -> Package {
        Package {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// Identifies a sorted software list; equal digests mean equal rows.
fn software_digest(rows: &[SoftwareRow]) -> String {
    let bytes = serde_json::to_vec(rows).expect("software rows serialise");
    hex::encode(Sha256::digest(&bytes))
}

fn software_rows(inv: &Inventory) -> Vec<SoftwareRow> {
    let mut rows: Vec<SoftwareRow> = inv
        .software
        .iter()
        .map(|s| SoftwareRow {
            name: s.name.clone(),
            version: s.version.clone(),
            arch: s.arch.clone(),
            publisher: s.publisher.clone(),
            size_bytes: s.size_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            install_date: s.install_date.map(ts),
            source: s.source.clone(),
        })
        .collect();
    rows.sort();
    rows
}

impl Store {
    pub async fn ingest_inventory(
        &self,
        site: &Site,
        doc: &Document<Inventory>,
    ) -> Result<InventoryOutcome, sqlx::Error> {
        let mut w = self.write().await?;
        let outcome = apply(&mut w.tx, site, doc, Utc::now()).await?;
        if !outcome.duplicate {
            w.commit().await?;
        }
        Ok(outcome)
    }
}

async fn apply(
    conn: &mut DbConn,
    site: &Site,
    doc: &Document<Inventory>,
    received_at: DateTime<Utc>,
) -> Result<InventoryOutcome, sqlx::Error> {
    let header = &doc.header;
    let inv = &doc.body;
    let document_id = header.document_id.to_string();
    let agent_id = header.agent_id.to_string();

    if let Some(row) = sqlx::query("SELECT asset_id, rule FROM documents WHERE document_id = $1")
        .bind(&document_id)
        .fetch_optional(&mut *conn)
        .await?
    {
        let rule: Option<String> = row.get(1);
        return Ok(InventoryOutcome {
            asset_id: row.get::<Option<i64>, _>(0).unwrap_or(0),
            created: false,
            rule: rule_from_str(rule.as_deref()),
            duplicate: true,
            changes: 0,
        });
    }

    let keys = Keys::from_inventory(inv, &agent_id, site.id);
    let candidates = candidates(conn, &keys).await?;
    // After a split, this agent's documents stay on its side (see lifecycle::plan).
    let candidates = super::lifecycle::exclude_never_merged(conn, candidates, &agent_id).await?;
    // A cloned disk image: this agent id on contradicting hardware is another machine.
    let (candidates, cloned_from) = super::clones::exclude_clones(candidates, &keys);
    let decision = reconcile::reconcile(&keys, &candidates);
    let rule = decision.rule();
    tracing::debug!(?decision, candidates = candidates.len(), "inventory merge");

    let observed = ts(super::observed_at(header.observed_at, received_at));
    let facts_json = {
        let mut without_software = inv.clone();
        without_software.software.clear();
        serde_json::to_string(&without_software).expect("inventory serialises")
    };
    let new_software = software_rows(inv);
    let digest = software_digest(&new_software);
    let hw = &inv.hardware;
    let serial = hw.serial.as_ref().map(|s| s.value.clone());
    let uuid = hw.uuid.as_ref().map(|u| u.value.clone());

    let mut changes: Vec<Change> = Vec::new();
    let (asset_id, created, stale) = match decision {
        Decision::New => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO assets (site_id, kind, name, name_key, serial, uuid, serial_key,
                    uuid_key, machine_id, manufacturer, model, os, facts, facts_observed_at,
                    match_rule, software_digest, first_seen, last_seen)
                 VALUES ($1, 'computer', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                    $14, $15, $13, $13)
                 RETURNING id",
            )
            .bind(site.id)
            .bind(&inv.host.hostname)
            .bind(&keys.name)
            .bind(&serial)
            .bind(&uuid)
            .bind(&keys.serial)
            .bind(&keys.uuid)
            .bind(&inv.host.machine_id)
            .bind(&hw.manufacturer)
            .bind(&hw.model)
            .bind(facts::os_summary(inv))
            .bind(&facts_json)
            .bind(&observed)
            .bind(rule.as_str())
            .bind(&digest)
            .fetch_one(&mut *conn)
            .await?;
            insert_software(conn, id, &new_software.iter().collect::<Vec<_>>()).await?;
            changes.push(Change {
                field: "asset",
                old: None,
                new: Some(format!("created (rule: {rule})")),
            });
            (id, true, false)
        }
        Decision::Match { asset_id, .. } => {
            let row = sqlx::query(
                "SELECT facts, facts_observed_at, site_id, kind, name, software_digest
                 FROM assets WHERE id = $1",
            )
            .bind(asset_id)
            .fetch_one(&mut *conn)
            .await?;
            let old_facts: Option<String> = row.get(0);
            let old_observed: Option<String> = row.get(1);
            let old_site: i64 = row.get(2);
            let old_kind: String = row.get(3);
            let old_name: Option<String> = row.get(4);
            let old_digest: Option<String> = row.get(5);

            // A spooled document delivered after a newer one must not roll the facts back.
            let stale = old_observed
                .as_deref()
                .is_some_and(|o| o > observed.as_str());
            if !stale {
                let software_changed = old_digest.as_deref() != Some(digest.as_str());
                let old_software = if software_changed {
                    Some(load_software(conn, asset_id).await?)
                } else {
                    None
                };
                match old_facts.as_deref().map(serde_json::from_str::<Inventory>) {
                    Some(Ok(old_inv)) => {
                        let new_packages: Vec<Package> =
                            new_software.iter().map(SoftwareRow::package).collect();
                        let old_packages: Vec<Package> = match &old_software {
                            Some(rows) => rows.iter().map(|(_, s)| s.package()).collect(),
                            None => new_packages.clone(),
                        };
                        changes.extend(history::diff(
                            &Snapshot::of(&old_inv, &old_packages),
                            &Snapshot::of(inv, &new_packages),
                        ));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(asset_id, error = %e, "stored facts unreadable; history restarts");
                    }
                    // Known so far only from sweeps: there is nothing to compare field by
                    // field, so record what the asset became.
                    None => {
                        if old_kind != "computer" {
                            changes.push(Change {
                                field: "kind",
                                old: Some(old_kind),
                                new: Some("computer".into()),
                            });
                        }
                        if old_name.as_deref() != Some(inv.host.hostname.as_str()) {
                            changes.push(Change {
                                field: "hostname",
                                old: old_name,
                                new: Some(inv.host.hostname.clone()),
                            });
                        }
                    }
                }
                if old_site != site.id {
                    let old_site_name: String =
                        sqlx::query_scalar("SELECT name FROM sites WHERE id = $1")
                            .bind(old_site)
                            .fetch_one(&mut *conn)
                            .await?;
                    changes.push(Change {
                        field: "site",
                        old: Some(old_site_name),
                        new: Some(site.name.clone()),
                    });
                }
                sqlx::query(
                    "UPDATE assets SET site_id = $1, kind = 'computer', name = $2, name_key = $3,
                        serial = $4, uuid = $5, serial_key = $6, uuid_key = $7, machine_id = $8,
                        manufacturer = $9, model = $10, os = $11, facts = $12,
                        facts_observed_at = $13, match_rule = $14, software_digest = $15
                     WHERE id = $16",
                )
                .bind(site.id)
                .bind(&inv.host.hostname)
                .bind(&keys.name)
                .bind(&serial)
                .bind(&uuid)
                .bind(&keys.serial)
                .bind(&keys.uuid)
                .bind(&inv.host.machine_id)
                .bind(&hw.manufacturer)
                .bind(&hw.model)
                .bind(facts::os_summary(inv))
                .bind(&facts_json)
                .bind(&observed)
                .bind(rule.as_str())
                .bind(&digest)
                .bind(asset_id)
                .execute(&mut *conn)
                .await?;
                if let Some(old_software) = &old_software {
                    let (gone, added) = software_delta(old_software, &new_software);
                    delete_software(conn, &gone).await?;
                    insert_software(conn, asset_id, &added).await?;
                }
            }
            touch_seen(conn, asset_id, &observed).await?;
            if stale {
                // Only the source bookkeeping below is updated.
                tracing::info!(asset_id, %document_id, "older than the stored facts; not applied");
            }
            (asset_id, false, stale)
        }
    };

    if !stale {
        replace_inventory_keys(conn, asset_id, &keys.macs, &facts::inventory_addresses(inv))
            .await?;
    }

    record_source(
        conn,
        asset_id,
        SourceKind::AgentInventory,
        &agent_id,
        &observed,
        &document_id,
        rule,
    )
    .await?;
    super::clones::record(conn, &agent_id, asset_id, &cloned_from, &observed).await?;
    let matched = explain::inventory(
        &keys,
        candidates
            .iter()
            .find(|c| !created && c.asset_id == asset_id)
            .map(|c| &c.keys),
    );
    let reported = ReportedKeys {
        name: keys.name.clone(),
        serial: keys.serial.clone(),
        uuid: keys.uuid.clone(),
        macs: keys.macs.clone(),
        addresses: facts::inventory_addresses(inv),
    };
    super::lifecycle::explain_source(
        conn,
        asset_id,
        SourceKind::AgentInventory.as_str(),
        &agent_id,
        &matched,
        &reported,
    )
    .await?;
    write_history(
        conn,
        asset_id,
        &changes,
        &observed,
        "agent_inventory",
        &document_id,
    )
    .await?;
    sqlx::query(
        "INSERT INTO documents (document_id, agent_id, source, site_id, observed_at, received_at,
            asset_id, rule)
         VALUES ($1, $2, 'agent_inventory', $3, $4, $5, $6, $7)",
    )
    .bind(&document_id)
    .bind(&agent_id)
    .bind(site.id)
    .bind(&observed)
    .bind(ts(received_at))
    .bind(asset_id)
    .bind(rule.as_str())
    .execute(&mut *conn)
    .await?;

    Ok(InventoryOutcome {
        asset_id,
        created,
        rule,
        duplicate: false,
        changes: changes.len(),
    })
}

fn rule_from_str(s: Option<&str>) -> Rule {
    [
        Rule::UuidSerial,
        Rule::Serial,
        Rule::Uuid,
        Rule::AgentId,
        Rule::Mac,
        Rule::Hostname,
        Rule::Ip,
    ]
    .into_iter()
    .find(|r| Some(r.as_str()) == s)
    .unwrap_or(Rule::New)
}

/// Every asset sharing at least one key with the document, with its own keys.
async fn candidates(conn: &mut DbConn, keys: &Keys) -> Result<Vec<Candidate>, sqlx::Error> {
    // One indexed lookup per key, united: an OR across columns would scan the assets table,
    // whose rows carry the facts JSON, on every document.
    let mut q: QueryBuilder<Db> = QueryBuilder::new("");
    let union = |q: &mut QueryBuilder<Db>, select: &str| {
        if !q.sql().is_empty() {
            q.push(" UNION ");
        }
        q.push(select);
    };
    if let Some(serial) = &keys.serial {
        union(&mut q, "SELECT id FROM assets WHERE serial_key = ");
        q.push_bind(serial.clone());
    }
    if let Some(uuid) = &keys.uuid {
        union(&mut q, "SELECT id FROM assets WHERE uuid_key = ");
        q.push_bind(uuid.clone());
    }
    if !keys.macs.is_empty() {
        union(&mut q, "SELECT asset_id FROM asset_macs WHERE mac IN (");
        let mut sep = q.separated(", ");
        for mac in &keys.macs {
            sep.push_bind(mac.clone());
        }
        q.push(")");
    }
    for agent in &keys.agent_ids {
        union(
            &mut q,
            "SELECT asset_id FROM sources WHERE kind = 'agent_inventory' AND agent_id = ",
        );
        q.push_bind(agent.clone());
    }
    if let Some(name) = &keys.name {
        union(&mut q, "SELECT id FROM assets WHERE site_id = ");
        q.push_bind(keys.site_id)
            .push(" AND name_key = ")
            .push_bind(name.clone());
    }
    if q.sql().is_empty() {
        return Ok(Vec::new());
    }
    q.push(" ORDER BY 1");
    let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await?;

    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query(
            "SELECT serial_key, uuid_key, machine_id, name_key, site_id FROM assets WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let macs: Vec<String> =
            sqlx::query_scalar("SELECT mac FROM asset_macs WHERE asset_id = $1 ORDER BY mac")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let agent_ids: Vec<String> = sqlx::query_scalar(
            "SELECT agent_id FROM sources WHERE asset_id = $1 AND kind = 'agent_inventory'
             ORDER BY agent_id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        out.push(Candidate {
            asset_id: id,
            keys: Keys {
                serial: row.get(0),
                uuid: row.get(1),
                macs,
                agent_ids,
                machine_id: row.get(2),
                name: row.get(3),
                site_id: row.get(4),
            },
        });
    }
    Ok(out)
}

/// The stored software of an asset with row ids, sorted by row.
async fn load_software(
    conn: &mut DbConn,
    asset_id: i64,
) -> Result<Vec<(i64, SoftwareRow)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, version, arch, publisher, size_bytes, install_date, source, id
         FROM software WHERE asset_id = $1",
    )
    .bind(asset_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<(i64, SoftwareRow)> = rows
        .into_iter()
        .map(|r| {
            let row = SoftwareRow {
                name: r.get(0),
                version: r.get(1),
                arch: r.get(2),
                publisher: r.get(3),
                size_bytes: r.get(4),
                install_date: r.get(5),
                source: r.get(6),
            };
            (r.get(7), row)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Which stored rows to delete and which new rows to insert so that the table holds `new`.
/// Only the difference is written: a PC with 1,500 packages and two upgrades costs four row
/// writes, not 3,000. Both inputs are sorted by row; duplicates are kept as duplicates.
pub(crate) fn software_delta<'a>(
    old: &[(i64, SoftwareRow)],
    new: &'a [SoftwareRow],
) -> (Vec<i64>, Vec<&'a SoftwareRow>) {
    let (mut gone, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some((id, o)), Some(n)) => match o.cmp(n) {
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    gone.push(*id);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    added.push(n);
                    j += 1;
                }
            },
            (Some((id, _)), None) => {
                gone.push(*id);
                i += 1;
            }
            (None, Some(n)) => {
                added.push(n);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (gone, added)
}

async fn delete_software(conn: &mut DbConn, ids: &[i64]) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(SOFTWARE_CHUNK) {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("DELETE FROM software WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per INSERT: 7 columns each stays far below SQLite's bound-parameter limit.
const SOFTWARE_CHUNK: usize = 1_000;

async fn insert_software(
    conn: &mut DbConn,
    asset_id: i64,
    rows: &[&SoftwareRow],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(SOFTWARE_CHUNK) {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO software (asset_id, name, version, arch, publisher, size_bytes,
                install_date, source) ",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(asset_id)
                .push_bind(s.name.clone())
                .push_bind(s.version.clone())
                .push_bind(s.arch.clone())
                .push_bind(s.publisher.clone())
                .push_bind(s.size_bytes)
                .push_bind(s.install_date.clone())
                .push_bind(s.source.clone());
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The MACs and addresses an inventory reports replace the previous inventory's; those a sweep
/// added are kept.
async fn replace_inventory_keys(
    conn: &mut DbConn,
    asset_id: i64,
    macs: &[String],
    addresses: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM asset_macs WHERE asset_id = $1 AND source = 'inventory'")
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
    for mac in macs {
        sqlx::query(
            "INSERT INTO asset_macs (asset_id, mac, source) VALUES ($1, $2, 'inventory')
             ON CONFLICT (asset_id, mac) DO UPDATE SET source = 'inventory'",
        )
        .bind(asset_id)
        .bind(mac)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM asset_addresses WHERE asset_id = $1 AND source = 'inventory'")
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
    for address in addresses {
        sqlx::query(
            "INSERT INTO asset_addresses (asset_id, address, source) VALUES ($1, $2, 'inventory')
             ON CONFLICT (asset_id, address) DO UPDATE SET source = 'inventory'",
        )
        .bind(asset_id)
        .bind(address)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Moves first/last seen outwards to include `observed`, never inwards.
pub(super) async fn touch_seen(
    conn: &mut DbConn,
    asset_id: i64,
    observed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE assets SET
            last_seen = CASE WHEN last_seen < $1 THEN $1 ELSE last_seen END,
            first_seen = CASE WHEN first_seen > $1 THEN $1 ELSE first_seen END
         WHERE id = $2",
    )
    .bind(observed)
    .bind(asset_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn record_source(
    conn: &mut DbConn,
    asset_id: i64,
    kind: SourceKind,
    agent_id: &str,
    observed: &str,
    document_id: &str,
    rule: Rule,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sources (asset_id, kind, agent_id, first_seen, last_seen, last_document_id, rule)
         VALUES ($1, $2, $3, $4, $4, $5, $6)
         ON CONFLICT (asset_id, kind, agent_id) DO UPDATE SET
            first_seen = CASE WHEN excluded.first_seen < sources.first_seen
                         THEN excluded.first_seen ELSE sources.first_seen END,
            last_seen = CASE WHEN excluded.last_seen > sources.last_seen
                        THEN excluded.last_seen ELSE sources.last_seen END,
            last_document_id = excluded.last_document_id,
            rule = excluded.rule",
    )
    .bind(asset_id)
    .bind(kind.as_str())
    .bind(agent_id)
    .bind(observed)
    .bind(document_id)
    .bind(rule.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn write_history(
    conn: &mut DbConn,
    asset_id: i64,
    changes: &[Change],
    changed_at: &str,
    source: &str,
    document_id: &str,
) -> Result<(), sqlx::Error> {
    for c in changes {
        sqlx::query(
            "INSERT INTO history (asset_id, field, old_value, new_value, changed_at, source, document_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(asset_id)
        .bind(c.field)
        .bind(&c.old)
        .bind(&c.new)
        .bind(changed_at)
        .bind(source)
        .bind(document_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn software_delta_writes_only_the_difference() {
        let old = vec![
            (10, row("a", "1")),
            (11, row("b", "1")),
            (12, row("b", "1")),
            (13, row("c", "1")),
        ];
        let new = vec![row("a", "1"), row("b", "1"), row("c", "2"), row("d", "1")];
        let (gone, added) = software_delta(&old, &new);
        assert_eq!(gone, vec![12, 13]);
        assert_eq!(added, vec![&new[2], &new[3]]);

        let (gone, added) = software_delta(&old, &[]);
        assert_eq!((gone.len(), added.len()), (4, 0));
        let (gone, added) = software_delta(&[], &new);
        assert_eq!((gone.len(), added.len()), (0, 4));
    }
}
