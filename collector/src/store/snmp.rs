//! Applying an SNMP device document to the CMDB, in one write transaction: the device merged
//! into its asset ([`reconcile::reconcile_device`]), its identification and summary stored with
//! per-field history, then, from its tables, where PCs are plugged in (switches' forwarding
//! tables), which devices are cabled to it (LLDP/CDP) and the MACs of hosts on remote subnets
//! (routers' ARP tables).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use parc_shared::snmp::{SnmpDevice, SnmpInterface};
use parc_shared::{Document, SourceKind};
use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, DbConn};

use super::inventory::{record_source, touch_seen, write_history};
use super::tokens::Site;
use super::{ts, Store};
use crate::facts;
use crate::history::{self, Change};
use crate::placement::{self, Neighbours};
use crate::reconcile::{
    self, ArpAction, ArpAsset, Decision, DeviceCandidate, DeviceKeys, MacHolder, Rule,
    INFRASTRUCTURE_KINDS,
};

/// What happened to an SNMP document; this is also the API's response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnmpOutcome {
    pub asset_id: i64,
    pub created: bool,
    pub rule: Rule,
    pub duplicate: bool,
    /// The asset's kind after the merge (None for a replay).
    pub kind: Option<String>,
    /// History entries written on the device's asset.
    pub changes: usize,
    /// Assets placed on this device's ports.
    pub placements: usize,
    /// LLDP/CDP neighbours resolved to assets.
    pub links: usize,
    /// MACs given to assets from the ARP table.
    pub arp_macs: usize,
}

impl Store {
    pub async fn ingest_snmp(
        &self,
        site: &Site,
        doc: &Document<SnmpDevice>,
    ) -> Result<SnmpOutcome, sqlx::Error> {
        let mut w = self.write().await?;
        let outcome = apply(&mut w.tx, site, doc, Utc::now()).await?;
        if !outcome.duplicate {
            w.commit().await?;
        }
        Ok(outcome)
    }
}

struct Ctx<'a> {
    site: &'a Site,
    document_id: &'a str,
    observed: &'a str,
}

/// The asset's fields SNMP may set, as history tracks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fields {
    kind: Option<String>,
    name: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    firmware: Option<String>,
}

impl Fields {
    fn tracked(&self) -> [(&'static str, Option<String>); 6] {
        [
            ("kind", self.kind.clone()),
            ("name", self.name.clone()),
            ("manufacturer", self.manufacturer.clone()),
            ("model", self.model.clone()),
            ("serial", self.serial.clone()),
            ("firmware", self.firmware.clone()),
        ]
    }
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn canonical_ip(text: &str) -> Option<String> {
    text.trim().parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

async fn apply(
    conn: &mut DbConn,
    site: &Site,
    doc: &Document<SnmpDevice>,
    received_at: DateTime<Utc>,
) -> Result<SnmpOutcome, sqlx::Error> {
    let d = &doc.body;
    let document_id = doc.header.document_id.to_string();
    let agent_id = doc.header.agent_id.to_string();

    if let Some(row) = sqlx::query("SELECT asset_id, rule FROM documents WHERE document_id = $1")
        .bind(&document_id)
        .fetch_optional(&mut *conn)
        .await?
    {
        let rule: Option<String> = row.get(1);
        return Ok(SnmpOutcome {
            asset_id: row.get::<Option<i64>, _>(0).unwrap_or(0),
            created: false,
            rule: [Rule::Serial, Rule::Mac, Rule::Ip]
                .into_iter()
                .find(|r| Some(r.as_str()) == rule.as_deref())
                .unwrap_or(Rule::New),
            duplicate: true,
            kind: None,
            changes: 0,
            placements: 0,
            links: 0,
            arp_macs: 0,
        });
    }

    // Intake refused unparsable addresses.
    let ip = canonical_ip(&d.ip).unwrap_or_else(|| d.ip.trim().to_string());
    let (serial_raw, serial_key) = facts::device_serial(d);
    let keys = DeviceKeys {
        serial: serial_key.clone(),
        macs: facts::device_macs(d),
        ip: ip.clone(),
        site_id: site.id,
    };
    let candidates = device_candidates(conn, &keys).await?;
    let decision = reconcile::reconcile_device(&keys, &candidates);
    let rule = decision.rule();
    tracing::debug!(?decision, candidates = candidates.len(), "snmp merge");
    let observed = ts(super::observed_at(doc.header.observed_at, received_at));
    let ctx = Ctx {
        site,
        document_id: &document_id,
        observed: &observed,
    };
    let summary = facts::snmp_summary(d).to_string();
    let ident = &d.identification;
    let reported = Fields {
        kind: None,
        name: nonempty(d.system.name.as_deref()),
        manufacturer: nonempty(ident.vendor.as_deref()),
        model: nonempty(ident.model.as_deref())
            .or_else(|| nonempty(d.chassis.as_ref().and_then(|c| c.model.as_deref())))
            .or_else(|| nonempty(d.printer.as_ref().and_then(|p| p.model.as_deref()))),
        serial: serial_raw,
        firmware: nonempty(ident.firmware.as_deref()),
    };

    let mut changes: Vec<Change> = Vec::new();
    let (asset_id, created, stale, kind) = match decision {
        Decision::New => {
            let kind = reconcile::device_kind(ident.device_type, None, false);
            let name = reported.name.clone();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO assets (site_id, kind, name, name_key, serial, serial_key,
                    manufacturer, model, firmware, snmp_facts, snmp_observed_at, match_rule,
                    first_seen, last_seen)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', $11, $11)
                 RETURNING id",
            )
            .bind(site.id)
            .bind(&kind)
            .bind(&name)
            .bind(name.as_deref().and_then(facts::name_key))
            .bind(&reported.serial)
            .bind(&serial_key)
            .bind(&reported.manufacturer)
            .bind(&reported.model)
            .bind(&reported.firmware)
            .bind(&summary)
            .bind(&observed)
            .fetch_one(&mut *conn)
            .await?;
            changes.push(Change {
                field: "asset",
                old: None,
                new: Some(format!("created (rule: {})", Rule::New)),
            });
            (id, true, false, kind)
        }
        Decision::Match { asset_id, .. } => {
            let row = sqlx::query(
                "SELECT kind, name, manufacturer, model, serial, firmware,
                    CASE WHEN facts IS NULL THEN 0 ELSE 1 END,
                    snmp_observed_at, serial_key
                 FROM assets WHERE id = $1",
            )
            .bind(asset_id)
            .fetch_one(&mut *conn)
            .await?;
            let old = Fields {
                kind: row.get(0),
                name: row.get(1),
                manufacturer: row.get(2),
                model: row.get(3),
                serial: row.get(4),
                firmware: row.get(5),
            };
            let has_inventory = row.get::<i64, _>(6) != 0;
            let old_observed: Option<String> = row.get(7);
            let old_serial_key: Option<String> = row.get(8);
            let stale = old_observed
                .as_deref()
                .is_some_and(|o| o > observed.as_str());
            let kind =
                reconcile::device_kind(ident.device_type, old.kind.as_deref(), has_inventory);
            if !stale {
                // The agent reads DMI; what an SNMP agent says about the same machine only
                // fills gaps.
                let pick = |old: &Option<String>, new: &Option<String>| {
                    if has_inventory {
                        old.clone().or_else(|| new.clone())
                    } else {
                        new.clone().or_else(|| old.clone())
                    }
                };
                // A usable serial beats a placeholder whatever its source.
                let (serial, key) = match (&old_serial_key, &serial_key) {
                    (Some(_), _) if has_inventory => (old.serial.clone(), old_serial_key.clone()),
                    (_, Some(k)) => (reported.serial.clone(), Some(k.clone())),
                    (Some(_), None) => (old.serial.clone(), old_serial_key.clone()),
                    (None, None) => (pick(&old.serial, &reported.serial), None),
                };
                let new = Fields {
                    kind: Some(kind.clone()),
                    name: old.name.clone().or_else(|| reported.name.clone()),
                    manufacturer: pick(&old.manufacturer, &reported.manufacturer),
                    model: pick(&old.model, &reported.model),
                    serial,
                    firmware: pick(&old.firmware, &reported.firmware),
                };
                changes.extend(history::scalar_changes(&old.tracked(), &new.tracked()));
                sqlx::query(
                    "UPDATE assets SET kind = $1, name = $2,
                        name_key = CASE WHEN name_key IS NULL THEN $3 ELSE name_key END,
                        manufacturer = $4, model = $5, serial = $6, serial_key = $7,
                        firmware = $8, snmp_facts = $9, snmp_observed_at = $10
                     WHERE id = $11",
                )
                .bind(&kind)
                .bind(&new.name)
                .bind(new.name.as_deref().and_then(facts::name_key))
                .bind(&new.manufacturer)
                .bind(&new.model)
                .bind(&new.serial)
                .bind(&key)
                .bind(&new.firmware)
                .bind(&summary)
                .bind(&observed)
                .bind(asset_id)
                .execute(&mut *conn)
                .await?;
            } else {
                tracing::info!(asset_id, %document_id, "older than the stored SNMP facts; not applied");
            }
            touch_seen(conn, asset_id, &observed).await?;
            (asset_id, false, stale, kind)
        }
    };

    let mut outcome = SnmpOutcome {
        asset_id,
        created,
        rule,
        duplicate: false,
        kind: Some(kind),
        changes: changes.len(),
        placements: 0,
        links: 0,
        arp_macs: 0,
    };
    if !stale {
        replace_device_keys(conn, asset_id, &keys.macs, &device_addresses(d, &ip)).await?;
        outcome.placements = place(conn, &ctx, asset_id, d).await?;
        outcome.links = link(conn, &ctx, asset_id, d).await?;
        outcome.arp_macs = learn_arp(conn, &ctx, asset_id, d, &ip).await?;
    }
    record_source(
        conn,
        asset_id,
        SourceKind::Snmp,
        &agent_id,
        &observed,
        &document_id,
        rule,
    )
    .await?;
    write_history(conn, asset_id, &changes, &observed, "snmp", &document_id).await?;
    sqlx::query(
        "INSERT INTO documents (document_id, agent_id, source, site_id, observed_at, received_at,
            asset_id, rule)
         VALUES ($1, $2, 'snmp', $3, $4, $5, $6, $7)",
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
    Ok(outcome)
}

/// The address it answered on (kept whatever it is, as a sweep keeps what it probed: it is how
/// the device is reached) and the routable addresses it reports.
fn device_addresses(d: &SnmpDevice, ip: &str) -> Vec<String> {
    let mut out: Vec<String> = d
        .ip_addresses
        .iter()
        .filter_map(|a| facts::routable_address(&a.ip))
        .chain(std::iter::once(ip.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The MACs and addresses an SNMP report gives replace the previous report's; rows from other
/// sources are left alone.
async fn replace_device_keys(
    conn: &mut DbConn,
    asset_id: i64,
    macs: &[String],
    addresses: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM asset_macs WHERE asset_id = $1 AND source = 'snmp'")
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
    for mac in macs {
        sqlx::query(
            "INSERT INTO asset_macs (asset_id, mac, source) VALUES ($1, $2, 'snmp')
             ON CONFLICT (asset_id, mac) DO NOTHING",
        )
        .bind(asset_id)
        .bind(mac)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM asset_addresses WHERE asset_id = $1 AND source = 'snmp'")
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
    for address in addresses {
        sqlx::query(
            "INSERT INTO asset_addresses (asset_id, address, source) VALUES ($1, $2, 'snmp')
             ON CONFLICT (asset_id, address) DO NOTHING",
        )
        .bind(asset_id)
        .bind(address)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Bound parameters per `IN (...)` list, far below SQLite's limit.
const IN_CHUNK: usize = 500;

/// One asset holding a MAC.
struct Holder {
    mac: String,
    asset_id: i64,
    source: String,
    kind: String,
    serial_key: Option<String>,
}

/// Every asset holding one of `macs`, in chunked indexed lookups.
async fn mac_holders<'a>(
    conn: &mut DbConn,
    macs: impl IntoIterator<Item = &'a String>,
) -> Result<Vec<Holder>, sqlx::Error> {
    let macs: Vec<&String> = macs.into_iter().collect();
    let mut out = Vec::new();
    for chunk in macs.chunks(IN_CHUNK) {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT m.mac, m.asset_id, m.source, a.kind, a.serial_key
             FROM asset_macs m JOIN assets a ON a.id = m.asset_id WHERE m.mac IN (",
        );
        let mut sep = q.separated(", ");
        for mac in chunk {
            sep.push_bind((*mac).clone());
        }
        q.push(") ORDER BY m.mac, m.asset_id");
        for r in q.build().fetch_all(&mut *conn).await? {
            out.push(Holder {
                mac: r.get(0),
                asset_id: r.get(1),
                source: r.get(2),
                kind: r.get(3),
                serial_key: r.get(4),
            });
        }
    }
    Ok(out)
}

/// Every asset sharing the device's serial or one of its MACs, or at its address in the site.
async fn device_candidates(
    conn: &mut DbConn,
    keys: &DeviceKeys,
) -> Result<Vec<DeviceCandidate>, sqlx::Error> {
    let mut ids: BTreeSet<i64> = mac_holders(conn, &keys.macs)
        .await?
        .into_iter()
        .map(|h| h.asset_id)
        .collect();
    let by_serial_or_ip: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM assets WHERE serial_key = $1
         UNION
         SELECT d.asset_id FROM asset_addresses d WHERE d.address = $2
           AND EXISTS (SELECT 1 FROM assets s WHERE s.id = d.asset_id AND s.site_id = $3)",
    )
    .bind(&keys.serial)
    .bind(&keys.ip)
    .bind(keys.site_id)
    .fetch_all(&mut *conn)
    .await?;
    ids.extend(by_serial_or_ip);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query("SELECT site_id, serial_key FROM assets WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let macs = sqlx::query_scalar("SELECT mac FROM asset_macs WHERE asset_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        let addresses =
            sqlx::query_scalar("SELECT address FROM asset_addresses WHERE asset_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        out.push(DeviceCandidate {
            asset_id: id,
            site_id: row.get(0),
            serial: row.get(1),
            macs,
            addresses,
        });
    }
    Ok(out)
}

/// How an asset is named in history and API answers: its name, else its id.
async fn asset_label(conn: &mut DbConn, id: i64) -> Result<String, sqlx::Error> {
    let name: Option<Option<String>> = sqlx::query_scalar("SELECT name FROM assets WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(name.flatten().unwrap_or_else(|| format!("asset {id}")))
}

fn port_name(interfaces: &[SnmpInterface], index: u32, fallback: &str) -> String {
    interfaces
        .iter()
        .find(|i| i.index == index)
        .and_then(|i| nonempty(i.name.as_deref()).or_else(|| nonempty(i.descr.as_deref())))
        .unwrap_or_else(|| format!("{fallback} {index}"))
}

/// Replaces the placements this switch gave before with those of its forwarding table;
/// returns how many assets it placed. A device without a bridge section leaves them alone.
async fn place(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    switch_id: i64,
    d: &SnmpDevice,
) -> Result<usize, sqlx::Error> {
    let Some(bridge) = &d.bridge else {
        return Ok(0);
    };
    let macs: BTreeSet<String> = bridge
        .forwarding
        .iter()
        .filter_map(|e| facts::hardware_mac(&e.mac))
        .collect();
    let holders = mac_holders(conn, &macs).await?;
    let mut own: BTreeSet<String> = facts::device_macs(d).into_iter().collect();
    let mut infrastructure = BTreeSet::new();
    let mut owners: HashMap<&str, Vec<i64>> = HashMap::new();
    for h in &holders {
        if h.asset_id == switch_id {
            own.insert(h.mac.clone());
        } else if INFRASTRUCTURE_KINDS.contains(&h.kind.as_str()) {
            infrastructure.insert(h.mac.clone());
        }
        owners.entry(h.mac.as_str()).or_default().push(h.asset_id);
    }
    let placements = placement::place_macs(
        &bridge.forwarding,
        &d.interfaces,
        &Neighbours::of(d),
        &infrastructure,
        &own,
    );
    // A MAC held by several assets places none of them; an asset with two MACs on the switch
    // keeps the first (placements are sorted by MAC, so the choice is stable).
    let mut rows: BTreeMap<i64, &placement::Placement> = BTreeMap::new();
    for p in &placements {
        if let Some([asset_id]) = owners.get(p.mac.as_str()).map(Vec::as_slice) {
            rows.entry(*asset_id).or_insert(p);
        }
    }

    let ids: Vec<i64> = rows.keys().copied().collect();
    let mut before: HashMap<i64, (i64, String, String)> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT asset_id, switch_asset_id, port, seen_at FROM asset_ports WHERE asset_id IN (",
        );
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        for r in q.build().fetch_all(&mut *conn).await? {
            before.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
        }
    }
    sqlx::query("DELETE FROM asset_ports WHERE switch_asset_id = $1")
        .bind(switch_id)
        .execute(&mut *conn)
        .await?;
    let switch_label = asset_label(conn, switch_id).await?;
    let mut labels: HashMap<i64, String> = HashMap::from([(switch_id, switch_label.clone())]);
    let mut placed = 0;
    for (asset_id, p) in rows {
        let old = before.get(&asset_id);
        // Another switch saw it more recently: that report is the truth.
        if old.is_some_and(|(sw, _, seen)| *sw != switch_id && seen.as_str() > ctx.observed) {
            continue;
        }
        sqlx::query(
            "INSERT INTO asset_ports (asset_id, switch_asset_id, port, if_index, vlan, mac,
                seen_at, document_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (asset_id) DO UPDATE SET switch_asset_id = excluded.switch_asset_id,
                port = excluded.port, if_index = excluded.if_index, vlan = excluded.vlan,
                mac = excluded.mac, seen_at = excluded.seen_at,
                document_id = excluded.document_id",
        )
        .bind(asset_id)
        .bind(switch_id)
        .bind(&p.port)
        .bind(p.if_index.map(i64::from))
        .bind(p.vlan.map(i64::from))
        .bind(&p.mac)
        .bind(ctx.observed)
        .bind(ctx.document_id)
        .execute(&mut *conn)
        .await?;
        placed += 1;
        let old_label = match old {
            Some((sw, port, _)) if (*sw, port.as_str()) == (switch_id, p.port.as_str()) => continue,
            Some((sw, port, _)) => {
                if !labels.contains_key(sw) {
                    let label = asset_label(conn, *sw).await?;
                    labels.insert(*sw, label);
                }
                Some(format!("{} {port}", labels[sw]))
            }
            None => None,
        };
        let change = Change {
            field: "plugged_into",
            old: old_label,
            new: Some(format!("{switch_label} {}", p.port)),
        };
        write_history(
            conn,
            asset_id,
            &[change],
            ctx.observed,
            "snmp",
            ctx.document_id,
        )
        .await?;
    }
    Ok(placed)
}

/// Asset ids whose name key is `name` in the site.
async fn assets_named(
    conn: &mut DbConn,
    site_id: i64,
    name: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let Some(key) = facts::name_key(name) else {
        return Ok(Vec::new());
    };
    sqlx::query_scalar("SELECT id FROM assets WHERE site_id = $1 AND name_key = $2")
        .bind(site_id)
        .bind(key)
        .fetch_all(&mut *conn)
        .await
}

/// Asset ids at `address` in the site.
async fn assets_at(
    conn: &mut DbConn,
    site_id: i64,
    address: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let Some(ip) = canonical_ip(address) else {
        return Ok(Vec::new());
    };
    sqlx::query_scalar(
        "SELECT DISTINCT d.asset_id FROM asset_addresses d WHERE d.address = $1
           AND EXISTS (SELECT 1 FROM assets s WHERE s.id = d.asset_id AND s.site_id = $2)",
    )
    .bind(ip)
    .bind(site_id)
    .fetch_all(&mut *conn)
    .await
}

/// The one asset among `ids` that is not the device itself; None when there is none or more.
fn single(ids: Vec<i64>, device: i64) -> Option<i64> {
    match ids.iter().filter(|id| **id != device).collect::<Vec<_>>()[..] {
        [one] => Some(*one),
        _ => None,
    }
}

/// Replaces the device's links with the LLDP/CDP neighbours that resolve to one asset: LLDP
/// by chassis MAC, else system name; CDP by device id as a name, else its address.
async fn link(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    device_id: i64,
    d: &SnmpDevice,
) -> Result<usize, sqlx::Error> {
    let mut links: Vec<(String, i64, &'static str, Option<String>)> = Vec::new();
    for n in &d.lldp_neighbors {
        let mut found = None;
        if let Some(mac) = n.chassis_id.as_deref().and_then(facts::hardware_mac) {
            let holders = mac_holders(conn, [&mac]).await?;
            found = single(holders.iter().map(|h| h.asset_id).collect(), device_id);
        }
        if found.is_none() {
            if let Some(name) = n.system_name.as_deref() {
                found = single(assets_named(conn, ctx.site.id, name).await?, device_id);
            }
        }
        if let Some(neighbour) = found {
            let port = port_name(&d.interfaces, n.local_port, "port");
            let remote =
                nonempty(n.port_descr.as_deref()).or_else(|| nonempty(n.port_id.as_deref()));
            links.push((port, neighbour, "lldp", remote));
        }
    }
    for n in &d.cdp_neighbors {
        let mut found = None;
        if let Some(name) = n.device_id.as_deref() {
            found = single(assets_named(conn, ctx.site.id, name).await?, device_id);
        }
        if found.is_none() {
            if let Some(address) = n.address.as_deref() {
                found = single(assets_at(conn, ctx.site.id, address).await?, device_id);
            }
        }
        if let Some(neighbour) = found {
            let port = port_name(&d.interfaces, n.if_index, "ifIndex");
            links.push((port, neighbour, "cdp", nonempty(n.port.as_deref())));
        }
    }
    sqlx::query("DELETE FROM asset_links WHERE asset_id = $1")
        .bind(device_id)
        .execute(&mut *conn)
        .await?;
    let mut stored = 0;
    for (port, neighbour, protocol, remote) in links {
        stored += sqlx::query(
            "INSERT INTO asset_links (asset_id, port, neighbor_asset_id, protocol, remote_port,
                seen_at, document_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (asset_id, port, neighbor_asset_id) DO NOTHING",
        )
        .bind(device_id)
        .bind(&port)
        .bind(neighbour)
        .bind(protocol)
        .bind(&remote)
        .bind(ctx.observed)
        .bind(ctx.document_id)
        .execute(&mut *conn)
        .await?
        .rows_affected() as usize;
    }
    Ok(stored)
}

/// Gives the MACs of a router's ARP table to the assets known at those addresses (see
/// [`reconcile::arp_assignment`]); returns how many it gave.
async fn learn_arp(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    router_id: i64,
    d: &SnmpDevice,
    ip: &str,
) -> Result<usize, sqlx::Error> {
    if d.arp.is_empty() {
        return Ok(0);
    }
    let own: BTreeSet<String> = device_addresses(d, ip).into_iter().collect();
    // One read of the site's addresses (a few thousand rows) instead of one query per entry of
    // a table that may hold a quarter of a million.
    let mut known: HashMap<String, Vec<i64>> = HashMap::new();
    for r in sqlx::query(
        "SELECT d.address, d.asset_id FROM asset_addresses d JOIN assets a ON a.id = d.asset_id
         WHERE a.site_id = $1",
    )
    .bind(ctx.site.id)
    .fetch_all(&mut *conn)
    .await?
    {
        known.entry(r.get(0)).or_default().push(r.get(1));
    }
    let mut given = 0;
    for e in &d.arp {
        let (Some(mac), Some(entry_ip)) = (facts::hardware_mac(&e.mac), canonical_ip(&e.ip)) else {
            continue;
        };
        if own.contains(&entry_ip) {
            continue;
        }
        let Some(ids) = known.get(&entry_ip) else {
            continue;
        };
        let mut at_ip = Vec::with_capacity(ids.len());
        for id in ids {
            at_ip.push(arp_asset(conn, *id).await?);
        }
        let holders: Vec<MacHolder> = mac_holders(conn, [&mac])
            .await?
            .into_iter()
            .map(|h| MacHolder {
                asset: ArpAsset {
                    asset_id: h.asset_id,
                    serial: h.serial_key,
                    macs: vec![h.mac],
                },
                source: h.source,
            })
            .collect();
        match reconcile::arp_assignment(router_id, &mac, &at_ip, &holders) {
            ArpAction::Assign {
                asset_id,
                take_from,
            } => {
                for from in take_from {
                    sqlx::query("DELETE FROM asset_macs WHERE asset_id = $1 AND mac = $2")
                        .bind(from)
                        .bind(&mac)
                        .execute(&mut *conn)
                        .await?;
                    let change = Change {
                        field: "mac_addresses",
                        old: Some(mac.clone()),
                        new: None,
                    };
                    write_history(
                        conn,
                        from,
                        &[change],
                        ctx.observed,
                        "snmp_arp",
                        ctx.document_id,
                    )
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO asset_macs (asset_id, mac, source) VALUES ($1, $2, 'snmp_arp')
                     ON CONFLICT (asset_id, mac) DO NOTHING",
                )
                .bind(asset_id)
                .bind(&mac)
                .execute(&mut *conn)
                .await?;
                let change = Change {
                    field: "mac_addresses",
                    old: None,
                    new: Some(mac.clone()),
                };
                write_history(
                    conn,
                    asset_id,
                    &[change],
                    ctx.observed,
                    "snmp_arp",
                    ctx.document_id,
                )
                .await?;
                given += 1;
            }
            ArpAction::Skip(why) => {
                tracing::trace!(%mac, ip = %entry_ip, why, "ARP entry not applied");
            }
        }
    }
    Ok(given)
}

async fn arp_asset(conn: &mut DbConn, id: i64) -> Result<ArpAsset, sqlx::Error> {
    let serial: Option<String> = sqlx::query_scalar("SELECT serial_key FROM assets WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let macs = sqlx::query_scalar("SELECT mac FROM asset_macs WHERE asset_id = $1")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(ArpAsset {
        asset_id: id,
        serial,
        macs,
    })
}
