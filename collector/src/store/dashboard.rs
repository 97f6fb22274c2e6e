//! The dashboard's figures: each one SQL statement over `assets`, filtered by the caller's
//! scope, so that its cost is one scan (or index range) however many assets there are.
//!
//! Every figure is defined by a filter the asset list also understands ([`Cutoffs`] gives the
//! instants both use), so a number on the dashboard links to exactly the assets it counts.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{ts, Db, Store};
use crate::auth::Scope;

/// An agent whose last inventory is older than this is "silent".
pub const SILENT_AFTER_DAYS: i64 = 7;
/// An asset nobody has seen (agent, sweep or SNMP) for this long is "stale".
pub const STALE_AFTER_DAYS: i64 = 30;
/// "New devices this week".
pub const NEW_WITHIN_DAYS: i64 = 7;
/// OS versions listed; the rest are summed as `other`.
pub const TOP_OS: i64 = 12;

/// The instants the dashboard's figures and the matching list filters compare with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cutoffs {
    /// Agents whose last inventory was observed at or after this are reporting.
    pub reporting_since: String,
    /// Assets first seen at or after this are new.
    pub new_since: String,
    /// Assets last seen before this are stale.
    pub stale_before: String,
}

impl Cutoffs {
    pub fn at(now: DateTime<Utc>) -> Cutoffs {
        Cutoffs {
            reporting_since: ts(now - Duration::days(SILENT_AFTER_DAYS)),
            new_since: ts(now - Duration::days(NEW_WITHIN_DAYS)),
            stale_before: ts(now - Duration::days(STALE_AFTER_DAYS)),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: i64,
    /// Assets with an agent inventory observed since `reporting_since`.
    pub agents_reporting: i64,
    /// Assets with an agent inventory, the last one older than that.
    pub agents_silent: i64,
    pub new_this_week: i64,
    /// Seen by sweeps or SNMP only: no agent inventory.
    pub unmanaged: i64,
    pub stale: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteCount {
    pub entity_id: i64,
    pub entity: String,
    pub site_id: i64,
    pub site: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCount {
    pub key: Option<String>,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteKindCount {
    pub site: String,
    pub kind: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub generated_at: String,
    pub silent_after_days: i64,
    pub stale_after_days: i64,
    pub cutoffs: Cutoffs,
    pub counts: Counts,
    pub by_site: Vec<SiteCount>,
    pub by_kind: Vec<KeyCount>,
    /// The most common OS versions, most common first; `None` is "unknown" (no OS reported).
    pub os: Vec<KeyCount>,
    /// Assets of other OS versions than those in `os`.
    pub os_other: i64,
    pub kinds_by_site: Vec<SiteKindCount>,
}

/// `SELECT … FROM assets a JOIN sites s JOIN entities e WHERE <scope>`: the common start of
/// every figure (the scope filter needs the WHERE to exist already).
fn scoped<'a>(select: &str, scope: &Scope) -> QueryBuilder<'a, Db> {
    let mut q = QueryBuilder::new(select);
    q.push(
        " FROM assets a JOIN sites s ON s.id = a.site_id JOIN entities e ON e.id = s.entity_id \
         WHERE 1 = 1",
    );
    scope.push_site_filter(&mut q, "a.site_id");
    q
}

impl Store {
    /// Every figure of the dashboard for what `scope` may see. The figures run concurrently on
    /// the pool's connections; each is one statement.
    pub async fn dashboard(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<Dashboard, sqlx::Error> {
        let cut = Cutoffs::at(now);
        let (counts, by_site, by_kind, os, kinds_by_site) = tokio::try_join!(
            self.counts(scope, &cut),
            self.by_site(scope),
            self.by_key(scope, "a.kind", None),
            self.by_key(scope, "a.os", Some(TOP_OS)),
            self.kinds_by_site(scope),
        )?;
        let listed: i64 = os.iter().map(|k| k.count).sum();
        Ok(Dashboard {
            generated_at: ts(now),
            silent_after_days: SILENT_AFTER_DAYS,
            stale_after_days: STALE_AFTER_DAYS,
            os_other: counts.total - listed,
            cutoffs: cut,
            counts,
            by_site,
            by_kind,
            os,
            kinds_by_site,
        })
    }

    async fn counts(&self, scope: &Scope, cut: &Cutoffs) -> Result<Counts, sqlx::Error> {
        // One scan for the six numbers. SUM is NULL over no rows and NUMERIC on PostgreSQL,
        // hence COALESCE and the cast.
        let sum = |q: &mut QueryBuilder<'_, Db>, cond: &str, bind: Option<&String>| {
            q.push(", CAST(COALESCE(SUM(CASE WHEN ").push(cond);
            if let Some(b) = bind {
                q.push_bind(b.clone());
            }
            q.push(" THEN 1 ELSE 0 END), 0) AS BIGINT)");
        };
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT COUNT(*)");
        sum(
            &mut q,
            "a.facts IS NOT NULL AND a.facts_observed_at >= ",
            Some(&cut.reporting_since),
        );
        sum(
            &mut q,
            "a.facts IS NOT NULL AND a.facts_observed_at < ",
            Some(&cut.reporting_since),
        );
        sum(&mut q, "a.first_seen >= ", Some(&cut.new_since));
        sum(&mut q, "a.facts IS NULL", None);
        sum(&mut q, "a.last_seen < ", Some(&cut.stale_before));
        q.push(" FROM assets a WHERE 1 = 1");
        scope.push_site_filter(&mut q, "a.site_id");
        let row = q.build().fetch_one(self.pool()).await?;
        Ok(Counts {
            total: row.get(0),
            agents_reporting: row.get(1),
            agents_silent: row.get(2),
            new_this_week: row.get(3),
            unmanaged: row.get(4),
            stale: row.get(5),
        })
    }

    async fn by_site(&self, scope: &Scope) -> Result<Vec<SiteCount>, sqlx::Error> {
        let mut q = scoped("SELECT e.id, e.name, s.id, s.name, COUNT(*)", scope);
        q.push(" GROUP BY e.id, e.name, s.id, s.name ORDER BY e.name, s.name");
        Ok(q.build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| SiteCount {
                entity_id: r.get(0),
                entity: r.get(1),
                site_id: r.get(2),
                site: r.get(3),
                count: r.get(4),
            })
            .collect())
    }

    /// Assets per value of `column`, most common first (ties by value), at most `limit`.
    async fn by_key(
        &self,
        scope: &Scope,
        column: &'static str,
        limit: Option<i64>,
    ) -> Result<Vec<KeyCount>, sqlx::Error> {
        let mut q = scoped(&format!("SELECT {column}, COUNT(*) AS n"), scope);
        // NULLS LAST: the drivers disagree on the default.
        q.push(format!(
            " GROUP BY {column} ORDER BY n DESC, {column} NULLS LAST"
        ));
        if let Some(limit) = limit {
            q.push(" LIMIT ").push_bind(limit);
        }
        Ok(q.build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| KeyCount {
                key: r.get(0),
                count: r.get(1),
            })
            .collect())
    }

    async fn kinds_by_site(&self, scope: &Scope) -> Result<Vec<SiteKindCount>, sqlx::Error> {
        let mut q = scoped("SELECT s.name, a.kind, COUNT(*)", scope);
        q.push(" GROUP BY s.name, a.kind ORDER BY s.name, a.kind");
        Ok(q.build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| SiteKindCount {
                site: r.get(0),
                kind: r.get(1),
                count: r.get(2),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    /// Inserts an asset: with an agent inventory `agent_days` old or none, first and last
    /// seen so many days before [`now`].
    async fn asset(
        store: &Store,
        site: i64,
        kind: &str,
        os: Option<&str>,
        agent_days: Option<i64>,
        first_days: i64,
        last_days: i64,
    ) {
        let at = |d: i64| ts(now() - Duration::days(d));
        sqlx::query(
            "INSERT INTO assets (site_id, kind, os, facts, facts_observed_at, match_rule,
                 first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, 'test', $6, $7)",
        )
        .bind(site)
        .bind(kind)
        .bind(os)
        .bind(agent_days.map(|_| "{}".to_string()))
        .bind(agent_days.map(at))
        .bind(at(first_days))
        .bind(at(last_days))
        .execute(store.pool())
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn figures_count_what_their_list_filters_select_within_the_scope() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("parc.db").display());
        let store = Store::open(&url, 4).await.unwrap();
        let now = now();
        for sql in [
            "INSERT INTO entities (id, name, created_at) VALUES (2, 'North', 'x'), (3, 'South', 'x')",
            "INSERT INTO sites (id, name, created_at, entity_id) VALUES (10, 'n1', 'x', 2),
                 (11, 'n2', 'x', 2), (20, 's1', 'x', 3)",
        ] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
        // North: reporting PC new this week, silent PC, sweep-only printer unseen for 40 days.
        asset(&store, 10, "computer", Some("Windows 11"), Some(1), 2, 1).await;
        asset(&store, 11, "computer", Some("Windows 10"), Some(9), 60, 9).await;
        asset(&store, 11, "printer", None, None, 90, 40).await;
        // South: two more PCs, one OS shared with North.
        asset(&store, 20, "computer", Some("Windows 11"), Some(0), 1, 0).await;
        asset(&store, 20, "computer", Some("Debian 12"), Some(0), 100, 0).await;

        let all = store.dashboard(&Scope::All, now).await.unwrap();
        assert_eq!(
            all.counts,
            Counts {
                total: 5,
                agents_reporting: 3,
                agents_silent: 1,
                new_this_week: 2,
                unmanaged: 1,
                stale: 1,
            }
        );
        let os: Vec<(Option<&str>, i64)> =
            all.os.iter().map(|k| (k.key.as_deref(), k.count)).collect();
        assert_eq!(
            os,
            [
                (Some("Windows 11"), 2),
                (Some("Debian 12"), 1),
                (Some("Windows 10"), 1),
                (None, 1)
            ]
        );
        assert_eq!(all.os_other, 0);

        let north = store
            .dashboard(&Scope::Entities(vec![2]), now)
            .await
            .unwrap();
        assert_eq!(north.counts.total, 3);
        assert_eq!(north.counts.agents_reporting, 1);
        let sites: Vec<(&str, &str, i64)> = north
            .by_site
            .iter()
            .map(|s| (s.entity.as_str(), s.site.as_str(), s.count))
            .collect();
        assert_eq!(sites, [("North", "n1", 1), ("North", "n2", 2)]);
        let kinds: Vec<(&str, &str, i64)> = north
            .kinds_by_site
            .iter()
            .map(|k| (k.site.as_str(), k.kind.as_str(), k.count))
            .collect();
        assert_eq!(
            kinds,
            [
                ("n1", "computer", 1),
                ("n2", "computer", 1),
                ("n2", "printer", 1)
            ]
        );

        // The list, given the dashboard's cut-offs, selects as many.
        use crate::store::assets::AssetFilter;
        let list = |f: AssetFilter| {
            let store = store.clone();
            async move {
                store
                    .list_assets(&AssetFilter {
                        page: 1,
                        per_page: 50,
                        ..f
                    })
                    .await
                    .unwrap()
                    .total
            }
        };
        let cut = &all.cutoffs;
        assert_eq!(
            list(AssetFilter {
                reported_since: Some(cut.reporting_since.clone()),
                ..Default::default()
            })
            .await,
            all.counts.agents_reporting
        );
        assert_eq!(
            list(AssetFilter {
                reported_before: Some(cut.reporting_since.clone()),
                ..Default::default()
            })
            .await,
            all.counts.agents_silent
        );
        assert_eq!(
            list(AssetFilter {
                first_seen_since: Some(cut.new_since.clone()),
                ..Default::default()
            })
            .await,
            all.counts.new_this_week
        );
        assert_eq!(
            list(AssetFilter {
                unmanaged: Some(true),
                ..Default::default()
            })
            .await,
            all.counts.unmanaged
        );
        assert_eq!(
            list(AssetFilter {
                seen_before: Some(cut.stale_before.clone()),
                ..Default::default()
            })
            .await,
            all.counts.stale
        );

        // Nothing at all for a scope of no entity.
        let none = store
            .dashboard(&Scope::Entities(vec![]), now)
            .await
            .unwrap();
        assert_eq!(none.counts, Counts::default());
        assert!(none.by_site.is_empty() && none.os.is_empty());
    }
}
