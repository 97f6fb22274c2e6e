//! Applying a sweep to the CMDB, in one write transaction: each live host is merged into the
//! asset with its MAC, else the asset known at its address in the site, else a new asset of
//! kind "unknown". A host that answered SNMP carries its identification, which types the asset
//! (kind, vendor, model) as an SNMP document would.

use std::net::IpAddr;

use chrono::Utc;
use parc_shared::snmp::Identification;
use parc_shared::{normalize_mac, DiscoveredHost, Discovery, Document, SourceKind};
use serde::Serialize;
use sqlx::Row;

use super::DbConn;

use super::inventory::{record_source, touch_seen, write_history};
use super::tokens::Site;
use super::{ts, Store};
use crate::facts;
use crate::history::{self, Change};
use crate::reconcile::{self, Decision, HostCandidate, Rule, SeenHost};

/// What happened to a sweep; this is also the API's response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveryOutcome {
    pub hosts: usize,
    pub created: usize,
    pub matched: usize,
    pub duplicate: bool,
}

impl Store {
    pub async fn ingest_discovery(
        &self,
        site: &Site,
        doc: &Document<Discovery>,
    ) -> Result<DiscoveryOutcome, sqlx::Error> {
        let mut w = self.write().await?;
        let conn: &mut DbConn = &mut w.tx;
        let document_id = doc.header.document_id.to_string();
        let agent_id = doc.header.agent_id.to_string();
        let received_at = Utc::now();
        let observed = ts(super::observed_at(doc.header.observed_at, received_at));
        let hosts = doc.body.hosts.len();

        let seen: Option<String> =
            sqlx::query_scalar("SELECT document_id FROM documents WHERE document_id = $1")
                .bind(&document_id)
                .fetch_optional(&mut *conn)
                .await?;
        if seen.is_some() {
            return Ok(DiscoveryOutcome {
                hosts,
                created: 0,
                matched: 0,
                duplicate: true,
            });
        }

        let mut outcome = DiscoveryOutcome {
            hosts,
            created: 0,
            matched: 0,
            duplicate: false,
        };
        let ctx = Ctx {
            site,
            agent_id: &agent_id,
            document_id: &document_id,
            observed: &observed,
        };
        let mut assets = Vec::with_capacity(hosts);
        for host in &doc.body.hosts {
            let (decision, asset_id) = merge_host(conn, &ctx, host).await?;
            match decision {
                Decision::New => outcome.created += 1,
                Decision::Match { .. } => outcome.matched += 1,
            }
            assets.push(asset_id);
        }
        sqlx::query(
            "INSERT INTO documents (document_id, agent_id, source, site_id, observed_at,
                received_at, hosts)
             VALUES ($1, $2, 'sweep', $3, $4, $5, $6)",
        )
        .bind(&document_id)
        .bind(&agent_id)
        .bind(site.id)
        .bind(&observed)
        .bind(ts(received_at))
        .bind(i64::try_from(hosts).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
        // What the sweep covered, and the web UI's job it answers, if any (issue #8).
        super::sweep_jobs::record_sweep(conn, site, &agent_id, &document_id, &doc.body, &assets)
            .await?;
        w.commit().await?;
        Ok(outcome)
    }
}

struct Ctx<'a> {
    site: &'a Site,
    agent_id: &'a str,
    document_id: &'a str,
    observed: &'a str,
}

async fn merge_host(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    host: &DiscoveredHost,
) -> Result<(Decision, i64), sqlx::Error> {
    // Validation already refused unparsable addresses; canonical text makes "::0:1" and "::1"
    // one address.
    let ip = host
        .ip
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| host.ip.trim().to_string());
    let mac = host.mac.as_deref().and_then(normalize_mac);
    let seen = SeenHost {
        mac: mac.clone(),
        ip: ip.clone(),
        site_id: ctx.site.id,
    };
    let candidates = host_candidates(conn, &seen).await?;
    let decision = reconcile::reconcile_host(&seen, &candidates);
    let sweep_facts = serde_json::json!({
        "ip": ip,
        "mac": mac,
        "vendor": host.vendor,
        "name": host.name,
        "methods": host.methods,
        "open_ports": host.open_ports,
        "rtt_us": host.rtt_us,
        "device": host.device,
    })
    .to_string();

    let mut changes = Vec::new();
    let asset_id = match decision {
        Decision::New => {
            let name = host
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO assets (site_id, kind, name, name_key, sweep_facts, match_rule,
                    first_seen, last_seen)
                 VALUES ($1, 'unknown', $2, $3, $4, 'new', $5, $5) RETURNING id",
            )
            .bind(ctx.site.id)
            .bind(name)
            .bind(name.and_then(facts::name_key))
            .bind(&sweep_facts)
            .bind(ctx.observed)
            .fetch_one(&mut *conn)
            .await?;
            changes.push(Change {
                field: "asset",
                old: None,
                new: Some(format!("created (rule: {})", Rule::New)),
            });
            id
        }
        Decision::Match { asset_id, .. } => {
            sqlx::query(
                "UPDATE assets SET sweep_facts = $1,
                    name = CASE WHEN name IS NULL THEN $2 ELSE name END,
                    name_key = CASE WHEN name_key IS NULL THEN $3 ELSE name_key END
                 WHERE id = $4",
            )
            .bind(&sweep_facts)
            .bind(&host.name)
            .bind(host.name.as_deref().and_then(facts::name_key))
            .bind(asset_id)
            .execute(&mut *conn)
            .await?;
            touch_seen(conn, asset_id, ctx.observed).await?;
            asset_id
        }
    };

    if let Some(device) = &host.device {
        let typed = type_from_device(conn, asset_id, device).await?;
        if !decision_is_new(decision) {
            changes.extend(typed);
        }
    }

    let known = candidates
        .iter()
        .find(|c| c.asset_id == asset_id)
        .is_some_and(|c| c.addresses.contains(&ip));
    if !known {
        sqlx::query(
            "INSERT INTO asset_addresses (asset_id, address, source) VALUES ($1, $2, 'sweep')
             ON CONFLICT (asset_id, address) DO NOTHING",
        )
        .bind(asset_id)
        .bind(&ip)
        .execute(&mut *conn)
        .await?;
        if !decision_is_new(decision) {
            changes.push(Change {
                field: "ip_addresses",
                old: None,
                new: Some(ip.clone()),
            });
        }
    }
    // An address is at one place at a time: what earlier sweeps saw there is gone.
    sqlx::query(
        "DELETE FROM asset_addresses WHERE address = $1 AND source = 'sweep' AND asset_id <> $2
           AND EXISTS (SELECT 1 FROM assets s WHERE s.id = asset_addresses.asset_id
                       AND s.site_id = $3)",
    )
    .bind(&ip)
    .bind(asset_id)
    .bind(ctx.site.id)
    .execute(&mut *conn)
    .await?;
    if let Some(mac) = &mac {
        sqlx::query(
            "INSERT INTO asset_macs (asset_id, mac, source) VALUES ($1, $2, 'sweep')
             ON CONFLICT (asset_id, mac) DO NOTHING",
        )
        .bind(asset_id)
        .bind(mac)
        .execute(&mut *conn)
        .await?;
    }
    record_source(
        conn,
        asset_id,
        SourceKind::Sweep,
        ctx.agent_id,
        ctx.observed,
        ctx.document_id,
        decision.rule(),
    )
    .await?;
    write_history(
        conn,
        asset_id,
        &changes,
        ctx.observed,
        "sweep",
        ctx.document_id,
    )
    .await?;
    Ok((decision, asset_id))
}

/// Sets kind, manufacturer, model and (when the asset has none usable) serial from a sweep's
/// SNMP identification; returns what changed. An agent's DMI wins over SNMP for everything
/// but gaps, as in the SNMP path.
async fn type_from_device(
    conn: &mut DbConn,
    asset_id: i64,
    device: &Identification,
) -> Result<Vec<Change>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT kind, manufacturer, model, serial, serial_key, firmware,
                CASE WHEN facts IS NULL THEN 0 ELSE 1 END
         FROM assets WHERE id = $1",
    )
    .bind(asset_id)
    .fetch_one(&mut *conn)
    .await?;
    let old_kind: String = row.get(0);
    let old: [Option<String>; 4] = [row.get(1), row.get(2), row.get(3), row.get(5)];
    let old_serial_key: Option<String> = row.get(4);
    let has_inventory = row.get::<i64, _>(6) != 0;
    let given = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let reported = [
        given(&device.vendor),
        given(&device.model),
        given(&device.serial),
        given(&device.firmware),
    ];
    let serial_key = reported[2].as_deref().and_then(facts::serial_key);
    let mut new = old.clone();
    for (i, (n, r)) in new.iter_mut().zip(&reported).enumerate() {
        let keep_serial = i == 2 && (old_serial_key.is_some() || serial_key.is_none());
        let keep = has_inventory || keep_serial;
        *n = if keep {
            n.clone().or_else(|| r.clone())
        } else {
            r.clone().or_else(|| n.clone())
        };
    }
    let kind = reconcile::device_kind(device.device_type, Some(&old_kind), has_inventory);
    let new_serial_key = if new[2] == old[2] {
        old_serial_key
    } else {
        new[2].as_deref().and_then(facts::serial_key)
    };
    sqlx::query(
        "UPDATE assets SET kind = $1, manufacturer = $2, model = $3, serial = $4,
            serial_key = $5, firmware = $6 WHERE id = $7",
    )
    .bind(&kind)
    .bind(&new[0])
    .bind(&new[1])
    .bind(&new[2])
    .bind(&new_serial_key)
    .bind(&new[3])
    .bind(asset_id)
    .execute(&mut *conn)
    .await?;
    let fields = ["manufacturer", "model", "serial", "firmware"];
    let tracked = |kind: &str, values: &[Option<String>; 4]| {
        let mut v = vec![("kind", Some(kind.to_string()))];
        v.extend(fields.iter().copied().zip(values.iter().cloned()));
        v
    };
    Ok(history::scalar_changes(
        &tracked(&old_kind, &old),
        &tracked(&kind, &new),
    ))
}

fn decision_is_new(d: Decision) -> bool {
    matches!(d, Decision::New)
}

async fn host_candidates(
    conn: &mut DbConn,
    host: &SeenHost,
) -> Result<Vec<HostCandidate>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT asset_id FROM asset_macs WHERE mac = $1
         UNION
         SELECT a.asset_id FROM asset_addresses a WHERE a.address = $2
           AND EXISTS (SELECT 1 FROM assets s WHERE s.id = a.asset_id AND s.site_id = $3)
         ORDER BY 1",
    )
    .bind(&host.mac)
    .bind(&host.ip)
    .bind(host.site_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let site_id: i64 = sqlx::query_scalar("SELECT site_id FROM assets WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let macs = sqlx::query("SELECT mac FROM asset_macs WHERE asset_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let addresses =
            sqlx::query_scalar("SELECT address FROM asset_addresses WHERE asset_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        out.push(HostCandidate {
            asset_id: id,
            site_id,
            macs,
            addresses,
        });
    }
    Ok(out)
}
