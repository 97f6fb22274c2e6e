//! Lifecycle reports, each limited to the sites of the entities a user may read: devices that
//! only sweeps and SNMP know (no agent), agents that stopped reporting, assets nobody has seen
//! for a while. Retired assets are left out of the last two: silence is what retiring means.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{ts, Db, Store};
use crate::auth::Scope;

/// Most rows a report returns; `truncated` says when there were more.
pub const MAX_REPORT_ROWS: i64 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct ReportAsset {
    pub id: i64,
    pub name: Option<String>,
    pub kind: String,
    pub site: String,
    pub state: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Source kinds that saw it (unmanaged report).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seen_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteCount {
    pub site: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnmanagedReport {
    pub total: usize,
    pub truncated: bool,
    pub sites: Vec<SiteCount>,
    pub items: Vec<ReportAsset>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SilentAgent {
    pub agent_id: String,
    pub asset_id: i64,
    pub asset_name: Option<String>,
    pub site: String,
    pub last_inventory: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SilentReport {
    pub silent_after_days: u32,
    pub cutoff: String,
    pub truncated: bool,
    pub items: Vec<SilentAgent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaleReport {
    pub stale_after_days: u32,
    pub cutoff: String,
    pub truncated: bool,
    pub items: Vec<ReportAsset>,
}

const ASSET_COLUMNS: &str =
    "SELECT a.id, a.name, a.kind, s.name, a.state, a.first_seen, a.last_seen
     FROM assets a JOIN sites s ON s.id = a.site_id WHERE 1 = 1";

fn report_asset(r: &super::DbRow) -> ReportAsset {
    ReportAsset {
        id: r.get(0),
        name: r.get(1),
        kind: r.get(2),
        site: r.get(3),
        state: r.get(4),
        first_seen: r.get(5),
        last_seen: r.get(6),
        seen_by: Vec::new(),
    }
}

fn cutoff(now: DateTime<Utc>, days: u32) -> String {
    ts(now - chrono::Duration::days(i64::from(days)))
}

fn limit(q: &mut QueryBuilder<'_, Db>) {
    q.push(" LIMIT ").push_bind(MAX_REPORT_ROWS + 1);
}

fn truncate<T>(items: &mut Vec<T>) -> bool {
    let over = items.len() as i64 > MAX_REPORT_ROWS;
    items.truncate(MAX_REPORT_ROWS as usize);
    over
}

impl Store {
    /// Assets seen by sweeps or SNMP and never by an agent, by site then id.
    pub async fn report_unmanaged(
        &self,
        scope: &Scope,
        site: Option<&str>,
    ) -> Result<UnmanagedReport, sqlx::Error> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(ASSET_COLUMNS);
        q.push(
            " AND EXISTS (SELECT 1 FROM sources x WHERE x.asset_id = a.id
                AND x.kind IN ('sweep', 'snmp'))
              AND NOT EXISTS (SELECT 1 FROM sources x WHERE x.asset_id = a.id
                AND x.kind = 'agent_inventory')",
        );
        if let Some(site) = site {
            q.push(" AND s.name = ").push_bind(site.to_string());
        }
        scope.push_site_filter(&mut q, "a.site_id");
        q.push(" ORDER BY s.name, a.id");
        limit(&mut q);
        let mut items: Vec<ReportAsset> = q
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(report_asset)
            .collect();
        let truncated = truncate(&mut items);
        if !items.is_empty() {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT DISTINCT asset_id, kind FROM sources WHERE asset_id IN (",
            );
            let mut sep = q.separated(", ");
            for a in &items {
                sep.push_bind(a.id);
            }
            q.push(") ORDER BY asset_id, kind");
            let rows = q.build().fetch_all(self.pool()).await?;
            let index: std::collections::HashMap<i64, usize> =
                items.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
            for r in rows {
                if let Some(&i) = index.get(&r.get::<i64, _>(0)) {
                    items[i].seen_by.push(r.get(1));
                }
            }
        }
        let mut sites: Vec<SiteCount> = Vec::new();
        for a in &items {
            match sites.last_mut() {
                Some(s) if s.site == a.site => s.count += 1,
                _ => sites.push(SiteCount {
                    site: a.site.clone(),
                    count: 1,
                }),
            }
        }
        Ok(UnmanagedReport {
            total: items.len(),
            truncated,
            sites,
            items,
        })
    }

    /// Agents whose latest inventory (of any asset) is older than `days`, oldest first.
    pub async fn report_silent_agents(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        days: u32,
    ) -> Result<SilentReport, sqlx::Error> {
        let cutoff = cutoff(now, days);
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT x.agent_id, x.asset_id, a.name, s.name, x.last_seen
             FROM sources x JOIN assets a ON a.id = x.asset_id JOIN sites s ON s.id = a.site_id
             WHERE x.kind = 'agent_inventory' AND a.state <> 'retired' AND x.last_seen < ",
        );
        q.push_bind(cutoff.clone()).push(
            " AND NOT EXISTS (SELECT 1 FROM sources y WHERE y.kind = 'agent_inventory'
                AND y.agent_id = x.agent_id AND y.last_seen >= ",
        );
        q.push_bind(cutoff.clone()).push(")");
        scope.push_site_filter(&mut q, "a.site_id");
        q.push(" ORDER BY x.last_seen, x.agent_id");
        limit(&mut q);
        let mut items: Vec<SilentAgent> = q
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| SilentAgent {
                agent_id: r.get(0),
                asset_id: r.get(1),
                asset_name: r.get(2),
                site: r.get(3),
                last_inventory: r.get(4),
            })
            .collect();
        let truncated = truncate(&mut items);
        Ok(SilentReport {
            silent_after_days: days,
            cutoff,
            truncated,
            items,
        })
    }

    /// Assets (not retired) that no source has seen for `days`, longest silent first.
    pub async fn report_stale(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        days: u32,
    ) -> Result<StaleReport, sqlx::Error> {
        let cutoff = cutoff(now, days);
        let mut q: QueryBuilder<Db> = QueryBuilder::new(ASSET_COLUMNS);
        q.push(" AND a.state <> 'retired' AND a.last_seen < ")
            .push_bind(cutoff.clone());
        scope.push_site_filter(&mut q, "a.site_id");
        q.push(" ORDER BY a.last_seen, a.id");
        limit(&mut q);
        let mut items: Vec<ReportAsset> = q
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(report_asset)
            .collect();
        let truncated = truncate(&mut items);
        Ok(StaleReport {
            stale_after_days: days,
            cutoff,
            truncated,
            items,
        })
    }
}
