//! The read side: asset lists with search, one asset in detail, its history.

use std::collections::HashMap;

use parc_shared::Inventory;
use serde::Serialize;
use serde_json::{json, Value};

use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, DbRow};

use super::Store;
use crate::auth::Scope;
use crate::facts;

pub const MAX_PER_PAGE: u32 = 500;

/// A validated list query. Instants are [`super::ts`] text, compared as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetFilter {
    pub q: Option<String>,
    pub site: Option<String>,
    pub kind: Option<String>,
    /// Exact OS summary, as the dashboard groups them.
    pub os: Option<String>,
    /// Manufacturer, case-insensitive.
    pub vendor: Option<String>,
    /// Lifecycle state (`in_use`, …).
    pub state: Option<String>,
    /// last_seen at or after.
    pub seen_since: Option<String>,
    /// last_seen before (stale assets).
    pub seen_before: Option<String>,
    /// first_seen at or after (new assets).
    pub first_seen_since: Option<String>,
    /// Some(true): no agent inventory (sweep/SNMP only); Some(false): with one.
    pub unmanaged: Option<bool>,
    /// Agent inventory observed at or after (agents reporting).
    pub reported_since: Option<String>,
    /// Agent inventory observed before (silent agents).
    pub reported_before: Option<String>,
    /// Entity id or name.
    pub entity: Option<String>,
    /// The entities the caller may read. None: every entity, for internal callers only; the
    /// API always sets it from the caller's principal.
    pub scope: Option<Scope>,
    pub sort: Sort,
    /// From 1.
    pub page: u32,
    /// 1..=MAX_PER_PAGE.
    pub per_page: u32,
}

/// Columns a list can be sorted by: API name and SQL expression.
pub const SORT_COLUMNS: [(&str, &str); 10] = [
    ("id", "a.id"),
    ("name", "a.name"),
    ("kind", "a.kind"),
    ("site", "s.name"),
    ("serial", "a.serial"),
    ("manufacturer", "a.manufacturer"),
    ("model", "a.model"),
    ("os", "a.os"),
    ("first_seen", "a.first_seen"),
    ("last_seen", "a.last_seen"),
];

/// A list's order: one of [`SORT_COLUMNS`] (by index), then the id, for stable pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

impl Sort {
    /// `name` or `-name` (descending).
    pub fn parse(text: &str) -> Result<Sort, String> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let column = SORT_COLUMNS
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| {
                let names: Vec<&str> = SORT_COLUMNS.iter().map(|(n, _)| *n).collect();
                format!("cannot sort by {name:?}: use one of {}", names.join(", "))
            })?;
        Ok(Sort { column, descending })
    }

    /// ` ORDER BY …`. NULLS LAST either way (SQLite and PostgreSQL both accept it; they
    /// disagree on the default).
    fn order_by(self) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        let column = SORT_COLUMNS[self.column].1;
        if column == "a.id" {
            format!(" ORDER BY a.id {dir}")
        } else {
            format!(" ORDER BY {column} {dir} NULLS LAST, a.id {dir}")
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetSummary {
    pub id: i64,
    pub name: Option<String>,
    pub kind: String,
    pub site: String,
    pub serial: Option<String>,
    pub uuid: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    pub ip_addresses: Vec<String>,
    pub mac_addresses: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub entity_id: i64,
    pub entity: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetPage {
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub items: Vec<AssetSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryItem {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub changed_at: String,
    pub source: String,
    pub document_id: Option<String>,
    /// Who made the change, for manual edits, merges, splits and undos.
    pub actor: Option<String>,
}

const SUMMARY_COLUMNS: &str = "a.id, a.name, a.kind, s.name, a.serial, a.uuid, a.manufacturer,
    a.model, a.os, a.first_seen, a.last_seen, s.entity_id, e.name";

/// Escapes LIKE wildcards so that a search for "50%" finds "50%", not everything.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn push_filter(q: &mut QueryBuilder<'_, Db>, f: &AssetFilter) {
    q.push(
        " FROM assets a JOIN sites s ON s.id = a.site_id JOIN entities e ON e.id = s.entity_id \
         WHERE 1 = 1",
    );
    if let Some(scope) = &f.scope {
        scope.push_site_filter(q, "a.site_id");
    }
    if let Some(entity) = &f.entity {
        // An entity by id or by name.
        match entity.parse::<i64>() {
            Ok(id) => q.push(" AND s.entity_id = ").push_bind(id),
            Err(_) => q.push(" AND e.name = ").push_bind(entity.clone()),
        };
    }
    if let Some(site) = &f.site {
        q.push(" AND s.name = ").push_bind(site.clone());
    }
    if let Some(kind) = &f.kind {
        q.push(" AND a.kind = ").push_bind(kind.clone());
    }
    if let Some(os) = &f.os {
        q.push(" AND a.os = ").push_bind(os.clone());
    }
    if let Some(vendor) = &f.vendor {
        q.push(" AND LOWER(a.manufacturer) = LOWER(")
            .push_bind(vendor.clone())
            .push(")");
    }
    if let Some(state) = &f.state {
        q.push(" AND a.state = ").push_bind(state.clone());
    }
    for (column, op, value) in [
        ("a.last_seen", ">=", &f.seen_since),
        ("a.last_seen", "<", &f.seen_before),
        ("a.first_seen", ">=", &f.first_seen_since),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} {op} ")).push_bind(v.clone());
        }
    }
    match f.unmanaged {
        Some(true) => {
            q.push(" AND a.facts IS NULL");
        }
        Some(false) => {
            q.push(" AND a.facts IS NOT NULL");
        }
        None => {}
    }
    for (op, value) in [(">=", &f.reported_since), ("<", &f.reported_before)] {
        if let Some(v) = value {
            q.push(format!(
                " AND a.facts IS NOT NULL AND a.facts_observed_at {op} "
            ))
            .push_bind(v.clone());
        }
    }
    if let Some(text) = &f.q {
        let p = like_pattern(text);
        q.push(" AND (");
        for (i, column) in ["a.name", "a.serial", "a.uuid", "a.model"]
            .iter()
            .enumerate()
        {
            if i > 0 {
                q.push(" OR ");
            }
            q.push(format!("LOWER({column}) LIKE "))
                .push_bind(p.clone())
                .push(" ESCAPE '\\'");
        }
        q.push(" OR EXISTS (SELECT 1 FROM asset_macs m WHERE m.asset_id = a.id AND m.mac LIKE ")
            .push_bind(p.clone())
            .push(" ESCAPE '\\')");
        q.push(" OR EXISTS (SELECT 1 FROM asset_addresses d WHERE d.asset_id = a.id AND LOWER(d.address) LIKE ")
            .push_bind(p)
            .push(" ESCAPE '\\')");
        q.push(")");
    }
}

fn summary(row: &DbRow) -> AssetSummary {
    AssetSummary {
        id: row.get(0),
        name: row.get(1),
        kind: row.get(2),
        site: row.get(3),
        serial: row.get(4),
        uuid: row.get(5),
        manufacturer: row.get(6),
        model: row.get(7),
        os: row.get(8),
        ip_addresses: Vec::new(),
        mac_addresses: Vec::new(),
        first_seen: row.get(9),
        last_seen: row.get(10),
        entity_id: row.get(11),
        entity: row.get(12),
    }
}

impl Store {
    pub async fn list_assets(&self, f: &AssetFilter) -> Result<AssetPage, sqlx::Error> {
        let mut count: QueryBuilder<Db> = QueryBuilder::new("SELECT COUNT(*)");
        push_filter(&mut count, f);
        let total: i64 = count.build_query_scalar().fetch_one(self.pool()).await?;

        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS}"));
        push_filter(&mut q, f);
        q.push(f.sort.order_by())
            .push(" LIMIT ")
            .push_bind(i64::from(f.per_page))
            .push(" OFFSET ")
            .push_bind((i64::from(f.page) - 1) * i64::from(f.per_page));
        let rows = q.build().fetch_all(self.pool()).await?;
        let mut items: Vec<AssetSummary> = rows.iter().map(summary).collect();
        self.fill_keys(&mut items).await?;
        Ok(AssetPage {
            total,
            page: f.page,
            per_page: f.per_page,
            items,
        })
    }

    /// Up to `limit` assets matching `f` with ids above `after`, in id order: the export reads
    /// a whole filtered list in batches this way (keyset, so each batch costs the same however
    /// far in it is). `f.page` and `f.per_page` are ignored; the filter is the list's own.
    pub async fn list_assets_after(
        &self,
        f: &AssetFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AssetSummary>, sqlx::Error> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS}"));
        push_filter(&mut q, f);
        q.push(" AND a.id > ")
            .push_bind(after)
            .push(" ORDER BY a.id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(self.pool()).await?;
        let mut items: Vec<AssetSummary> = rows.iter().map(summary).collect();
        self.fill_keys(&mut items).await?;
        Ok(items)
    }

    /// Adds addresses and MACs to a page of assets in two queries rather than two per asset.
    async fn fill_keys(&self, items: &mut [AssetSummary]) -> Result<(), sqlx::Error> {
        if items.is_empty() {
            return Ok(());
        }
        let index: HashMap<i64, usize> = items.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        for (table, column) in [("asset_addresses", "address"), ("asset_macs", "mac")] {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT asset_id, {column} FROM {table} WHERE asset_id IN ("
            ));
            let mut sep = q.separated(", ");
            for a in items.iter() {
                sep.push_bind(a.id);
            }
            q.push(format!(") ORDER BY asset_id, {column}"));
            for row in q.build().fetch_all(self.pool()).await? {
                let id: i64 = row.get(0);
                let value: String = row.get(1);
                if let Some(&i) = index.get(&id) {
                    match column {
                        "address" => items[i].ip_addresses.push(value),
                        _ => items[i].mac_addresses.push(value),
                    }
                }
            }
        }
        Ok(())
    }

    /// One asset with everything known about it, or None.
    pub async fn asset_detail(&self, id: i64) -> Result<Option<Value>, sqlx::Error> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS}, a.facts, a.sweep_facts, a.match_rule, a.firmware,
                a.snmp_facts
             FROM assets a JOIN sites s ON s.id = a.site_id JOIN entities e ON e.id = s.entity_id
             WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let mut items = [summary(&row)];
        self.fill_keys(&mut items).await?;
        let [asset] = items;
        let facts_text: Option<String> = row.get(13);
        let sweep_text: Option<String> = row.get(14);
        let match_rule: String = row.get(15);
        let firmware: Option<String> = row.get(16);
        let snmp_text: Option<String> = row.get(17);

        let inv: Option<Inventory> = facts_text.as_deref().and_then(|t| {
            serde_json::from_str(t)
                .map_err(|e| tracing::warn!(asset_id = id, error = %e, "stored facts unreadable"))
                .ok()
        });
        // Sorted by row: by name, then version.
        let software: Vec<Value> = super::software::load(self.pool(), id)
            .await?
            .into_iter()
            .map(|r| serde_json::to_value(r).expect("software row serialises"))
            .collect();
        let mut out = serde_json::to_value(&asset).expect("summary serialises");
        let obj = out.as_object_mut().expect("summary is an object");
        let (hardware, os, rest) = match &inv {
            Some(inv) => {
                let hw = &inv.hardware;
                (
                    json!({
                        "manufacturer": hw.manufacturer,
                        "model": hw.model,
                        "serial": facts::hardware_id_json(hw.serial.as_ref(), false),
                        "uuid": facts::hardware_id_json(hw.uuid.as_ref(), true),
                        "chassis": hw.chassis_type,
                        "bios": hw.bios,
                        "dmi_available": hw.dmi_available,
                    }),
                    serde_json::to_value(&inv.os).expect("os serialises"),
                    json!({
                        "host": inv.host,
                        "cpus": inv.cpus,
                        "memory": inv.memory,
                        "disks": inv.disks,
                        "filesystems": inv.filesystems,
                        "network_interfaces": inv.network.interfaces,
                        "gateways": inv.network.gateways,
                        "dns_servers": inv.network.dns_servers,
                        "users": inv.users,
                    }),
                )
            }
            None => (
                Value::Null,
                Value::Null,
                json!({
                    "host": null,
                    "cpus": [],
                    "memory": null,
                    "disks": [],
                    "filesystems": [],
                    "network_interfaces": [],
                    "gateways": [],
                    "dns_servers": [],
                    "users": null,
                }),
            ),
        };
        obj.insert(
            "os_summary".into(),
            obj.get("os").cloned().unwrap_or(Value::Null),
        );
        obj.insert("hardware".into(), hardware);
        obj.insert("os".into(), os);
        if let Value::Object(rest) = rest {
            obj.extend(rest);
        }
        obj.insert("software_count".into(), json!(software.len()));
        obj.insert("software".into(), Value::Array(software));
        obj.insert("match_rule".into(), json!(match_rule));
        obj.insert(
            "discovery".into(),
            sweep_text
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null),
        );
        obj.insert("firmware".into(), json!(firmware));
        obj.insert(
            "snmp".into(),
            snmp_text
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null),
        );
        self.insert_network_position(id, obj).await?;
        self.insert_lifecycle(id, inv.as_ref(), obj).await?;
        Ok(Some(out))
    }

    /// `plugged_into` (the switch port the asset was last seen on), `ports` (for a switch,
    /// port name → ids of the assets it placed there) and `links` (LLDP/CDP neighbours, both ways).
    async fn insert_network_position(
        &self,
        id: i64,
        obj: &mut serde_json::Map<String, Value>,
    ) -> Result<(), sqlx::Error> {
        let plugged = sqlx::query(
            "SELECT p.switch_asset_id, s.name, p.port, p.vlan, p.seen_at
             FROM asset_ports p JOIN assets s ON s.id = p.switch_asset_id WHERE p.asset_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|r| {
            json!({
                "switch_id": r.get::<i64, _>(0),
                "switch_name": r.get::<Option<String>, _>(1),
                "port": r.get::<String, _>(2),
                "vlan": r.get::<Option<i64>, _>(3),
                "seen_at": r.get::<String, _>(4),
            })
        });
        obj.insert("plugged_into".into(), plugged.unwrap_or(Value::Null));

        // port → asset ids, the shape the API promises; each asset's VLAN is in its own
        // plugged_into.
        let mut ports = serde_json::Map::new();
        for r in sqlx::query(
            "SELECT port, asset_id FROM asset_ports WHERE switch_asset_id = $1
             ORDER BY port, asset_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        {
            let port: String = r.get(0);
            let asset_id: i64 = r.get(1);
            if let Some(ids) = ports
                .entry(port)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                ids.push(json!(asset_id));
            }
        }
        obj.insert("ports".into(), Value::Object(ports));

        let links: Vec<Value> = sqlx::query(
            "SELECT l.port, l.neighbor_asset_id, n.name, l.protocol, l.remote_port, l.seen_at
             FROM asset_links l JOIN assets n ON n.id = l.neighbor_asset_id
             WHERE l.asset_id = $1
             UNION ALL
             SELECT l.remote_port, l.asset_id, n.name, l.protocol, l.port, l.seen_at
             FROM asset_links l JOIN assets n ON n.id = l.asset_id
             WHERE l.neighbor_asset_id = $1 AND l.asset_id <> $1
             ORDER BY 1, 2",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            json!({
                "port": r.get::<Option<String>, _>(0),
                "neighbor_id": r.get::<i64, _>(1),
                "neighbor_name": r.get::<Option<String>, _>(2),
                "protocol": r.get::<String, _>(3),
                "remote_port": r.get::<Option<String>, _>(4),
                "seen_at": r.get::<String, _>(5),
            })
        })
        .collect();
        obj.insert("links".into(), Value::Array(links));
        Ok(())
    }

    /// History of an asset, newest first; None when the asset does not exist.
    pub async fn asset_history(&self, id: i64) -> Result<Option<Vec<HistoryItem>>, sqlx::Error> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM assets WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT field, old_value, new_value, changed_at, source, document_id, actor
             FROM history WHERE asset_id = $1 ORDER BY id DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(
            rows.iter()
                .map(|r| HistoryItem {
                    field: r.get(0),
                    old: r.get(1),
                    new: r.get(2),
                    changed_at: r.get(3),
                    source: r.get(4),
                    document_id: r.get(5),
                    actor: r.get(6),
                })
                .collect(),
        ))
    }

    /// Row counts of the tables a refused document must not touch; for tests and diagnostics.
    pub async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
        let mut out = Vec::new();
        for table in [
            "assets",
            "asset_macs",
            "asset_addresses",
            "asset_software",
            "sources",
            "documents",
            "history",
            "asset_ports",
            "asset_links",
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(self.pool())
                .await?;
            out.push((table, n));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_and_order_stably() {
        assert_eq!(
            Sort::parse("name").unwrap(),
            Sort {
                column: 1,
                descending: false
            }
        );
        let s = Sort::parse("-last_seen").unwrap();
        assert_eq!(
            s.order_by(),
            " ORDER BY a.last_seen DESC NULLS LAST, a.id DESC"
        );
        assert_eq!(Sort::default().order_by(), " ORDER BY a.id ASC");
        let e = Sort::parse("facts; DROP TABLE assets").unwrap_err();
        assert!(
            e.contains("cannot sort by") && e.contains("last_seen"),
            "{e}"
        );
        assert!(Sort::parse("-").is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("PC_1"), "%pc\\_1%");
        assert_eq!(like_pattern("50%"), "%50\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}
