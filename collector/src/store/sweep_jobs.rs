//! Sweep jobs started from the web UI (issue #8), and the network view's reads.
//!
//! A job's life: [`Store::create_sweep_job`] (queued, audited) → [`Store::claim_sweep_job`] by
//! an agent of the job's site (running; one statement, so two agents never get the same job) →
//! [`record_sweep`], run by the discovery intake in its transaction (done, with the hosts found
//! and the asset each merged into) or [`Store::fail_sweep_job`] (failed, with the agent's
//! reason). A job no agent claims within [`CLAIM_WINDOW`] is expired: reads show it so at once
//! ([`effective_state`]), and the next claim of the site writes it.
//!
//! The pure half: [`parse_target`] and [`check_targets`] (what a job may ask: the agent's
//! target syntax and size limit, inside the site's subnets), [`overlaps`] (which sweeps concern
//! a subnet).

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;
use parc_shared::discovery::SweepJob;
use parc_shared::{DiscoveredHost, Discovery};
use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;
use uuid::Uuid;

use super::tokens::Site;
use super::{ts, Db, DbConn, Store};
use crate::auth::{Principal, Scope};

/// How long a queued job waits for an agent of its site.
pub const CLAIM_WINDOW: Duration = Duration::minutes(10);
/// The agent's limit for a sweep without `--allow-large` (a /16): a job never needs more.
pub const MAX_JOB_ADDRESSES: u128 = 1 << 16;
/// Targets per job; a UI user types a few.
pub const MAX_JOB_TARGETS: usize = 64;
/// Longest failure reason kept from an agent.
pub const MAX_ERROR_CHARS: usize = 2000;

const EXPIRED_REASON: &str = "no agent of the site claimed the job within 10 minutes";

// ---------------------------------------------------------------------------------------------
// Targets (pure)

/// A contiguous, inclusive run of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl Block {
    fn size(&self) -> u128 {
        self.last - self.first + 1
    }

    fn of_net(net: IpNet) -> Block {
        let (v6, first) = key(net.network());
        let (_, last) = key(net.broadcast());
        Block { v6, first, last }
    }
}

fn key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn addr(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    }
}

/// The addresses a target sweeps, with the agent's syntax (`parc-agent sweep`): a CIDR (IPv4
/// network and broadcast addresses are not swept), an address, `a.b.c.d-e.f.g.h` or
/// `a.b.c.d-h`.
pub fn parse_target(text: &str) -> Result<Block, String> {
    let t = text.trim();
    let invalid = |why: &str| format!("target {text:?}: {why}");
    if t.is_empty() {
        return Err(invalid("empty"));
    }
    if t.contains('/') {
        let net: IpNet = t
            .parse()
            .map_err(|_| invalid("not a network (expected e.g. 10.1.0.0/24)"))?;
        let mut b = Block::of_net(net.trunc());
        if matches!(net, IpNet::V4(n) if n.prefix_len() < 31) {
            b.first += 1;
            b.last -= 1;
        }
        return Ok(b);
    }
    if let Some((a, b)) = t.split_once('-') {
        let first: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| invalid("range start is not an address"))?;
        let last: IpAddr = match (first, b.trim().parse::<u8>()) {
            (IpAddr::V4(f), Ok(octet)) => {
                let o = f.octets();
                IpAddr::V4([o[0], o[1], o[2], octet].into())
            }
            _ => b
                .trim()
                .parse()
                .map_err(|_| invalid("range end is not an address or a last octet"))?,
        };
        let ((v6, first), (v6_last, last)) = (key(first), key(last));
        if v6 != v6_last {
            return Err(invalid("range mixes IPv4 and IPv6"));
        }
        if last < first {
            return Err(invalid("range ends before it starts"));
        }
        return Ok(Block { v6, first, last });
    }
    let ip: IpAddr = t.parse().map_err(|_| {
        invalid("not an address, a range (a.b.c.d-e.f.g.h, a.b.c.d-h) or a network (a.b.c.d/n)")
    })?;
    let (v6, n) = key(ip);
    Ok(Block {
        v6,
        first: n,
        last: n,
    })
}

/// The first address of `b` that no block of `cover` holds.
fn first_uncovered(b: &Block, cover: &[Block]) -> Option<IpAddr> {
    let mut cursor = b.first;
    loop {
        let reach = cover
            .iter()
            .filter(|c| c.v6 == b.v6 && c.first <= cursor && cursor <= c.last)
            .map(|c| c.last)
            .max();
        match reach {
            None => return Some(addr(b.v6, cursor)),
            Some(r) if r >= b.last => return None,
            Some(r) => cursor = r + 1,
        }
    }
}

/// Checks what a user asks a job to sweep: valid targets, at most a /16 in all (the agent's
/// limit without `--allow-large`), each inside the union of `subnets` (the site's). Returns the
/// trimmed targets; the error names the first offending target.
pub fn check_targets(targets: &[String], subnets: &[IpNet]) -> Result<Vec<String>, String> {
    if targets.is_empty() {
        return Err("targets is empty: give at least one CIDR, range or address".into());
    }
    if targets.len() > MAX_JOB_TARGETS {
        return Err(format!(
            "{} targets; a job takes at most {MAX_JOB_TARGETS}",
            targets.len()
        ));
    }
    let cover: Vec<Block> = subnets.iter().map(|n| Block::of_net(n.trunc())).collect();
    let mut blocks = Vec::with_capacity(targets.len());
    for t in targets {
        let b = parse_target(t)?;
        if let Some(outside) = first_uncovered(&b, &cover) {
            let subnets = if subnets.is_empty() {
                "the site has no subnets".to_string()
            } else {
                subnets
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "target {:?} is not inside the site's subnets ({subnets}): {outside} is outside",
                t.trim()
            ));
        }
        blocks.push(b);
    }
    // Overlapping targets are swept once: count what the agent would.
    blocks.sort();
    let mut merged: Vec<Block> = Vec::with_capacity(blocks.len());
    for b in blocks {
        match merged.last_mut() {
            Some(p) if p.v6 == b.v6 && b.first <= p.last.saturating_add(1) => {
                p.last = p.last.max(b.last)
            }
            _ => merged.push(b),
        }
    }
    let count = merged
        .iter()
        .map(Block::size)
        .fold(0u128, u128::saturating_add);
    if count > MAX_JOB_ADDRESSES {
        return Err(format!(
            "the targets hold {count} addresses; a sweep started from the UI covers at most \
             {MAX_JOB_ADDRESSES} (a /16)"
        ));
    }
    Ok(targets.iter().map(|t| t.trim().to_string()).collect())
}

/// Whether any of `targets` touches `subnet`. Unparsable targets (none are accepted, but a
/// document's are the agent's word) touch nothing.
pub fn overlaps(targets: &[String], subnet: IpNet) -> bool {
    let s = Block::of_net(subnet.trunc());
    targets
        .iter()
        .filter_map(|t| parse_target(t).ok())
        .any(|b| b.v6 == s.v6 && b.first <= s.last && s.first <= b.last)
}

// ---------------------------------------------------------------------------------------------
// States (pure)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Expired,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "expired" => JobState::Expired,
            // Only the store writes states; anything else is a bug, shown as a failure.
            _ => JobState::Failed,
        }
    }
}

/// The state a job has at `now`: a queued job past its claim window is expired even before a
/// claim writes it so.
pub fn effective_state(stored: JobState, requested_at: &str, now: DateTime<Utc>) -> JobState {
    if stored == JobState::Queued && requested_at < ts(now - CLAIM_WINDOW).as_str() {
        JobState::Expired
    } else {
        stored
    }
}

// ---------------------------------------------------------------------------------------------
// Rows

/// One line of the sweep list: a job started from the UI, or a scheduled sweep (a discovery
/// document that answered no job).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// "job" or "scheduled".
    pub kind: &'static str,
    /// The job's id; None for scheduled sweeps.
    pub id: Option<i64>,
    /// The discovery document that carried the result.
    pub document_id: Option<String>,
    pub site_id: i64,
    pub site: String,
    pub targets: Vec<String>,
    pub state: JobState,
    pub requested_by: Option<String>,
    pub requested_at: Option<String>,
    /// The agent that swept (claimed the job).
    pub agent_id: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub hosts_found: Option<i64>,
    /// What the list is sorted by: when the job was asked for, or when the sweep was observed.
    pub at: String,
}

/// One host a job's sweep found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobHost {
    pub address: String,
    pub mac: Option<String>,
    pub vendor: Option<String>,
    pub name: Option<String>,
    pub methods: Vec<String>,
    pub open_ports: Vec<u16>,
    pub rtt_us: Option<i64>,
    /// The asset the host was merged into (None once that asset is gone).
    pub asset_id: Option<i64>,
}

/// A job with what it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: SweepRow,
    pub hosts: Vec<JobHost>,
}

/// The list's filters.
#[derive(Debug, Clone, Default)]
pub struct SweepFilter {
    pub site_id: Option<i64>,
    /// Only sweeps whose targets touch this network (the subnet's).
    pub subnet: Option<IpNet>,
    pub limit: usize,
}

/// Where a job may go.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSubnets {
    pub site_id: i64,
    pub entity_id: i64,
    /// Stored CIDRs that parse (the subnet API checks them on the way in).
    pub subnets: Vec<IpNet>,
}

/// A subnet and its owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetInfo {
    pub id: i64,
    pub cidr: String,
    pub name: Option<String>,
    pub site_id: i64,
    pub site: String,
    #[serde(skip)]
    pub entity_id: i64,
    #[serde(skip)]
    pub net: Option<IpNet>,
}

/// An asset with addresses in a subnet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetDevice {
    pub asset_id: i64,
    pub name: Option<String>,
    pub kind: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// Its addresses inside the subnet, in address order.
    pub addresses: Vec<String>,
    pub macs: Vec<String>,
    /// Reported by an agent (not only seen by sweeps or SNMP).
    pub managed: bool,
    pub last_seen: String,
}

/// What a failure report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    Failed,
    /// Already failed by this agent: a retried report.
    Again,
    /// No such job in the agent's site.
    NoSuchJob,
    /// The job is not running under this agent (another agent's, or finished).
    NotYours(JobState),
}

// ---------------------------------------------------------------------------------------------
// Store

const JOB_COLUMNS: &str = "j.id, j.site_id, s.name, j.targets, j.state, j.requested_by_login,
    j.requested_at, j.claimed_by, j.started_at, j.finished_at, j.error, j.document_id,
    j.hosts_found";

fn job_row(row: &super::DbRow, now: DateTime<Utc>) -> SweepRow {
    let requested_at: String = row.get(6);
    let stored = JobState::parse(&row.get::<String, _>(4));
    let state = effective_state(stored, &requested_at, now);
    let mut error: Option<String> = row.get(10);
    if state == JobState::Expired && error.is_none() {
        error = Some(EXPIRED_REASON.to_string());
    }
    SweepRow {
        kind: "job",
        id: Some(row.get(0)),
        document_id: row.get(11),
        site_id: row.get(1),
        site: row.get(2),
        targets: json_list(row.get(3)),
        state,
        requested_by: row.get(5),
        at: requested_at.clone(),
        requested_at: Some(requested_at),
        agent_id: row.get(7),
        started_at: row.get(8),
        finished_at: row.get(9),
        error,
        hosts_found: row.get(12),
    }
}

fn json_list<T: serde::de::DeserializeOwned>(text: Option<String>) -> Vec<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

impl Store {
    /// The site's entity and subnets; None when there is no such site.
    pub async fn site_subnets(&self, site_id: i64) -> Result<Option<SiteSubnets>, sqlx::Error> {
        let Some(entity_id): Option<i64> =
            sqlx::query_scalar("SELECT entity_id FROM sites WHERE id = $1")
                .bind(site_id)
                .fetch_optional(self.pool())
                .await?
        else {
            return Ok(None);
        };
        let cidrs: Vec<String> =
            sqlx::query_scalar("SELECT cidr FROM subnets WHERE site_id = $1 ORDER BY id")
                .bind(site_id)
                .fetch_all(self.pool())
                .await?;
        Ok(Some(SiteSubnets {
            site_id,
            entity_id,
            subnets: cidrs.iter().filter_map(|c| c.trim().parse().ok()).collect(),
        }))
    }

    /// Queues a job (targets already checked) and records it in the audit log, together.
    pub async fn create_sweep_job(
        &self,
        actor: &Principal,
        site: &SiteSubnets,
        targets: &[String],
    ) -> Result<i64, sqlx::Error> {
        let now = ts(Utc::now());
        let targets_json = serde_json::to_string(targets).expect("strings serialise");
        let mut w = self.write().await?;
        let conn: &mut DbConn = &mut w.tx;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sweep_jobs (site_id, targets, requested_by, requested_by_login,
                requested_at, state)
             VALUES ($1, $2, $3, $4, $5, 'queued') RETURNING id",
        )
        .bind(site.site_id)
        .bind(&targets_json)
        .bind(Some(actor.user_id).filter(|id| *id > 0))
        .bind(&actor.login)
        .bind(&now)
        .fetch_one(&mut *conn)
        .await?;
        crate::audit::record(
            conn,
            actor,
            "sweep.start",
            Some(site.entity_id),
            &format!("sweep_job:{id}"),
            &serde_json::json!({"site_id": site.site_id, "targets": targets}),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// Hands the oldest queued job of `site` to `agent_id`, or None. Expires the site's jobs
    /// past their window first, in the same transaction.
    pub async fn claim_sweep_job(
        &self,
        site: &Site,
        agent_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SweepJob>, sqlx::Error> {
        let mut w = self.write().await?;
        let conn: &mut DbConn = &mut w.tx;
        sqlx::query(
            "UPDATE sweep_jobs SET state = 'expired', finished_at = $1, error = $2
             WHERE site_id = $3 AND state = 'queued' AND requested_at < $4",
        )
        .bind(ts(now))
        .bind(EXPIRED_REASON)
        .bind(site.id)
        .bind(ts(now - CLAIM_WINDOW))
        .execute(&mut *conn)
        .await?;
        // `state = 'queued'` again in the outer WHERE: on PostgreSQL two claims may pick the
        // same id, and the second then re-reads the row, finds it running and updates nothing.
        let row = sqlx::query(
            "UPDATE sweep_jobs SET state = 'running', claimed_by = $1, started_at = $2
             WHERE id = (SELECT id FROM sweep_jobs WHERE site_id = $3 AND state = 'queued'
                         ORDER BY id LIMIT 1)
               AND state = 'queued'
             RETURNING id, targets",
        )
        .bind(agent_id.to_string())
        .bind(ts(now))
        .bind(site.id)
        .fetch_optional(&mut *conn)
        .await?;
        w.commit().await?;
        Ok(row.map(|r| SweepJob {
            id: r.get(0),
            targets: json_list(r.get(1)),
        }))
    }

    /// Records that `agent_id` could not run job `job_id` of `site`.
    pub async fn fail_sweep_job(
        &self,
        site: &Site,
        agent_id: Uuid,
        job_id: i64,
        error: &str,
    ) -> Result<FailOutcome, sqlx::Error> {
        let error: String = error.trim().chars().take(MAX_ERROR_CHARS).collect();
        let agent = agent_id.to_string();
        let mut w = self.write().await?;
        let conn: &mut DbConn = &mut w.tx;
        let Some(row) =
            sqlx::query("SELECT state, claimed_by FROM sweep_jobs WHERE id = $1 AND site_id = $2")
                .bind(job_id)
                .bind(site.id)
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Ok(FailOutcome::NoSuchJob);
        };
        let state = JobState::parse(&row.get::<String, _>(0));
        let claimed_by: Option<String> = row.get(1);
        let outcome = match (state, claimed_by.as_deref() == Some(agent.as_str())) {
            (JobState::Running, true) => {
                sqlx::query(
                    "UPDATE sweep_jobs SET state = 'failed', finished_at = $1, error = $2
                     WHERE id = $3",
                )
                .bind(ts(Utc::now()))
                .bind(if error.is_empty() {
                    "the agent gave no reason"
                } else {
                    &error
                })
                .bind(job_id)
                .execute(&mut *conn)
                .await?;
                FailOutcome::Failed
            }
            (JobState::Failed, true) => FailOutcome::Again,
            (state, _) => FailOutcome::NotYours(state),
        };
        w.commit().await?;
        Ok(outcome)
    }

    /// Jobs and scheduled sweeps in `scope`, newest first.
    pub async fn list_sweeps(
        &self,
        scope: &Scope,
        filter: &SweepFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<SweepRow>, sqlx::Error> {
        // The subnet filter reads targets, which SQL cannot: fetch a wider window of the site's
        // sweeps and filter here. Older sweeps of a busy site may then be left out; the UI
        // shows the latest ones.
        let fetch = if filter.subnet.is_some() {
            (filter.limit * 10).max(1000)
        } else {
            filter.limit
        } as i64;

        let mut q: QueryBuilder<'_, Db> = QueryBuilder::new(format!(
            "SELECT {JOB_COLUMNS} FROM sweep_jobs j JOIN sites s ON s.id = j.site_id WHERE 1 = 1"
        ));
        scope.push_site_filter(&mut q, "j.site_id");
        if let Some(site) = filter.site_id {
            q.push(" AND j.site_id = ").push_bind(site);
        }
        q.push(" ORDER BY j.id DESC LIMIT ").push_bind(fetch);
        let mut rows: Vec<SweepRow> = q
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| job_row(r, now))
            .collect();

        let mut q: QueryBuilder<'_, Db> = QueryBuilder::new(
            "SELECT d.document_id, d.site_id, s.name, d.targets, d.agent_id, d.observed_at,
                d.hosts
             FROM documents d JOIN sites s ON s.id = d.site_id
             WHERE d.source = 'sweep' AND d.job_id IS NULL",
        );
        scope.push_site_filter(&mut q, "d.site_id");
        if let Some(site) = filter.site_id {
            q.push(" AND d.site_id = ").push_bind(site);
        }
        q.push(" ORDER BY d.observed_at DESC LIMIT ")
            .push_bind(fetch);
        for r in q.build().fetch_all(self.pool()).await? {
            let observed: String = r.get(5);
            rows.push(SweepRow {
                kind: "scheduled",
                id: None,
                document_id: Some(r.get(0)),
                site_id: r.get(1),
                site: r.get(2),
                targets: json_list(r.get(3)),
                state: JobState::Done,
                requested_by: None,
                requested_at: None,
                agent_id: Some(r.get(4)),
                started_at: None,
                finished_at: Some(observed.clone()),
                error: None,
                hosts_found: r.get(6),
                at: observed,
            });
        }
        if let Some(net) = filter.subnet {
            rows.retain(|r| overlaps(&r.targets, net));
        }
        rows.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        rows.truncate(filter.limit);
        Ok(rows)
    }

    /// A job with its hosts, and the entity it belongs to (for the caller's check).
    pub async fn sweep_job(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, JobDetail)>, sqlx::Error> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS}, s.entity_id FROM sweep_jobs j JOIN sites s ON s.id = j.site_id
             WHERE j.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let entity_id: i64 = row.get(13);
        let job = job_row(&row, now);
        let mut hosts: Vec<JobHost> = sqlx::query(
            "SELECT address, mac, vendor, name, methods, open_ports, rtt_us, asset_id
             FROM sweep_job_hosts WHERE job_id = $1",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|r| JobHost {
            address: r.get(0),
            mac: r.get(1),
            vendor: r.get(2),
            name: r.get(3),
            methods: json_list(r.get(4)),
            open_ports: json_list(r.get(5)),
            rtt_us: r.get(6),
            asset_id: r.get(7),
        })
        .collect();
        hosts.sort_by_key(|h| address_order(&h.address));
        Ok(Some((entity_id, JobDetail { job, hosts })))
    }

    /// A subnet, its site and entity.
    pub async fn subnet_info(&self, id: i64) -> Result<Option<SubnetInfo>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT n.id, n.cidr, n.name, n.site_id, s.name, s.entity_id
             FROM subnets n JOIN sites s ON s.id = n.site_id WHERE n.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            let cidr: String = r.get(1);
            SubnetInfo {
                id: r.get(0),
                net: cidr.trim().parse().ok(),
                cidr,
                name: r.get(2),
                site_id: r.get(3),
                site: r.get(4),
                entity_id: r.get(5),
            }
        }))
    }

    /// The assets of `subnet`'s entity with an address inside it, in address order. Two
    /// entities may use the same private range, so other entities' assets never show.
    pub async fn subnet_devices(
        &self,
        subnet: &SubnetInfo,
        limit: usize,
    ) -> Result<(usize, Vec<SubnetDevice>), sqlx::Error> {
        let Some(net) = subnet.net else {
            return Ok((0, Vec::new()));
        };
        let mut q: QueryBuilder<'_, Db> = QueryBuilder::new(
            "SELECT a.asset_id, a.address FROM asset_addresses a
             JOIN assets x ON x.id = a.asset_id JOIN sites s ON s.id = x.site_id
             WHERE s.entity_id = ",
        );
        q.push_bind(subnet.entity_id);
        // A text prefix narrows the scan to the right addresses in SQL; the exact test is
        // below.
        if let Some(prefix) = text_prefix(net) {
            q.push(" AND a.address LIKE ")
                .push_bind(format!("{prefix}%"));
        }
        let mut by_asset: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for r in q.build().fetch_all(self.pool()).await? {
            let address: String = r.get(1);
            if address.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)) {
                by_asset.entry(r.get(0)).or_default().push(address);
            }
        }
        let total = by_asset.len();
        let mut ordered: Vec<(i64, Vec<String>)> = by_asset.into_iter().collect();
        for (_, addresses) in &mut ordered {
            addresses.sort_by_key(|a| address_order(a));
        }
        ordered.sort_by_key(|(id, addresses)| (address_order(&addresses[0]), *id));
        ordered.truncate(limit);

        let mut devices = Vec::with_capacity(ordered.len());
        for (asset_id, addresses) in ordered {
            let Some(r) = sqlx::query(
                "SELECT name, kind, manufacturer, model,
                    CASE WHEN facts IS NULL THEN 0 ELSE 1 END, last_seen
                 FROM assets WHERE id = $1",
            )
            .bind(asset_id)
            .fetch_optional(self.pool())
            .await?
            else {
                continue;
            };
            let macs: Vec<String> =
                sqlx::query_scalar("SELECT mac FROM asset_macs WHERE asset_id = $1 ORDER BY mac")
                    .bind(asset_id)
                    .fetch_all(self.pool())
                    .await?;
            devices.push(SubnetDevice {
                asset_id,
                name: r.get(0),
                kind: r.get(1),
                manufacturer: r.get(2),
                model: r.get(3),
                addresses,
                macs,
                managed: r.get::<i64, _>(4) != 0,
                last_seen: r.get(5),
            });
        }
        Ok((total, devices))
    }
}

/// Sorts addresses numerically (10.0.0.9 before 10.0.0.10), unparsable ones last.
fn address_order(text: &str) -> (u8, bool, u128) {
    match text.parse::<IpAddr>() {
        Ok(ip) => {
            let (v6, n) = key(ip);
            (0, v6, n)
        }
        Err(_) => (1, false, 0),
    }
}

/// The dotted text every IPv4 address of `net` starts with ("10.1." for 10.1.0.0/16); None
/// when that says nothing (IPv6, or a prefix shorter than /8).
fn text_prefix(net: IpNet) -> Option<String> {
    let IpNet::V4(n) = net else { return None };
    let octets = usize::from(n.prefix_len() / 8).min(4);
    if octets == 0 {
        return None;
    }
    let o = n.network().octets();
    if octets == 4 {
        return Some(n.network().to_string());
    }
    Some(
        o[..octets]
            .iter()
            .map(|b| format!("{b}."))
            .collect::<String>(),
    )
}

/// The discovery intake's part, in its transaction: remembers what the sweep covered (for the
/// network view), and when it answers a job claimed by this agent in this site, marks the job
/// done with the hosts found and their assets. `assets[i]` is the asset `discovery.hosts[i]`
/// merged into. A job id that is not such a job is ignored (logged): the sweep itself is good.
pub(crate) async fn record_sweep(
    conn: &mut DbConn,
    site: &Site,
    agent_id: &str,
    document_id: &str,
    discovery: &Discovery,
    assets: &[i64],
) -> Result<(), sqlx::Error> {
    let targets = serde_json::to_string(&discovery.targets).expect("strings serialise");
    let job_id = match discovery.job_id {
        None => None,
        Some(job) => {
            let done = sqlx::query(
                "UPDATE sweep_jobs SET state = 'done', finished_at = $1, document_id = $2,
                    hosts_found = $3
                 WHERE id = $4 AND site_id = $5 AND claimed_by = $6 AND state = 'running'",
            )
            .bind(ts(Utc::now()))
            .bind(document_id)
            .bind(i64::try_from(discovery.hosts.len()).unwrap_or(i64::MAX))
            .bind(job)
            .bind(site.id)
            .bind(agent_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if done {
                for (host, asset_id) in discovery.hosts.iter().zip(assets) {
                    insert_host(conn, job, host, *asset_id).await?;
                }
                Some(job)
            } else {
                tracing::warn!(
                    job_id = job,
                    agent_id,
                    "sweep answers a job that is not running under this agent in this site; \
                     stored as a plain sweep"
                );
                None
            }
        }
    };
    sqlx::query("UPDATE documents SET targets = $1, job_id = $2 WHERE document_id = $3")
        .bind(targets)
        .bind(job_id)
        .bind(document_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_host(
    conn: &mut DbConn,
    job_id: i64,
    host: &DiscoveredHost,
    asset_id: i64,
) -> Result<(), sqlx::Error> {
    let address = host
        .ip
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| host.ip.trim().to_string());
    sqlx::query(
        "INSERT INTO sweep_job_hosts (job_id, address, mac, vendor, name, methods, open_ports,
            rtt_us, asset_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (job_id, address) DO NOTHING",
    )
    .bind(job_id)
    .bind(address)
    .bind(host.mac.as_deref().and_then(parc_shared::normalize_mac))
    .bind(&host.vendor)
    .bind(&host.name)
    .bind(serde_json::to_string(&host.methods).expect("methods serialise"))
    .bind(serde_json::to_string(&host.open_ports).expect("ports serialise"))
    .bind(host.rtt_us.map(|r| i64::try_from(r).unwrap_or(i64::MAX)))
    .bind(asset_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_parse_like_the_agent() {
        let v4 = |a: &str| u32::from(a.parse::<std::net::Ipv4Addr>().unwrap()) as u128;
        let cases = [
            ("10.1.2.0/24", (v4("10.1.2.1"), v4("10.1.2.254"))),
            ("10.1.2.7/24", (v4("10.1.2.1"), v4("10.1.2.254"))),
            ("10.1.2.6/31", (v4("10.1.2.6"), v4("10.1.2.7"))),
            ("10.1.2.7", (v4("10.1.2.7"), v4("10.1.2.7"))),
            ("10.1.2.5-9", (v4("10.1.2.5"), v4("10.1.2.9"))),
            (" 10.1.2.5 - 10.1.3.1 ", (v4("10.1.2.5"), v4("10.1.3.1"))),
        ];
        for (text, (first, last)) in cases {
            let b = parse_target(text).unwrap();
            assert_eq!((b.v6, b.first, b.last), (false, first, last), "{text}");
        }
        assert!(parse_target("fe80::1").unwrap().v6);
        for bad in [
            "",
            "host.lan",
            "10.1.2.9-5",
            "10.1.2.0/33",
            "10.0.0.1-::1",
            "10.1.2.x",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn job_targets_must_lie_in_the_site_subnets() {
        let site = nets(&["10.1.2.0/24", "10.1.3.0/24", "127.0.0.0/30"]);
        let ok: &[&[&str]] = &[
            &["10.1.2.0/24"],
            &["10.1.2.0/23"],
            &["10.1.2.250-10.1.3.4"],
            &["127.0.0.1", " 127.0.0.2 "],
            &["10.1.2.0/24", "10.1.2.0/25"],
        ];
        for targets in ok {
            assert!(
                check_targets(&strings(targets), &site).is_ok(),
                "{targets:?}"
            );
        }
        let bad: &[(&[&str], &str)] = &[
            (&[], "empty"),
            (&["10.1.4.1"], "\"10.1.4.1\" is not inside"),
            (&["10.1.2.0/22"], "10.1.0.1 is outside"),
            (&["10.1.3.200-10.1.4.3"], "10.1.4.0 is outside"),
            (&["127.0.0.1", "127.0.0.5"], "\"127.0.0.5\""),
            (&["nope"], "target \"nope\""),
        ];
        for (targets, needle) in bad {
            let err = check_targets(&strings(targets), &site).unwrap_err();
            assert!(err.contains(needle), "{targets:?}: {err}");
        }
        let err = check_targets(&strings(&["10.0.0.1"]), &[]).unwrap_err();
        assert!(err.contains("the site has no subnets"), "{err}");
        let too_many = vec!["10.1.2.1".to_string(); MAX_JOB_TARGETS + 1];
        assert!(check_targets(&too_many, &site).is_err());
    }

    #[test]
    fn a_job_covers_at_most_a_slash_16() {
        let site = nets(&["10.0.0.0/8"]);
        assert!(check_targets(&strings(&["10.1.0.0/16"]), &site).is_ok());
        // Overlaps count once.
        assert!(check_targets(&strings(&["10.1.0.0/16", "10.1.2.0/24"]), &site).is_ok());
        // 65,534 + 6 > 65,536.
        let err = check_targets(&strings(&["10.1.0.0/16", "10.2.0.0/29"]), &site).unwrap_err();
        assert!(err.contains("65540 addresses"), "{err}");
        assert!(check_targets(&strings(&["10.0.0.0/15"]), &site).is_err());
    }

    #[test]
    fn sweeps_of_a_subnet() {
        let net: IpNet = "10.1.2.0/24".parse().unwrap();
        let cases: &[(&[&str], bool)] = &[
            (&["10.1.2.7"], true),
            (&["10.1.0.0/16"], true),
            (&["10.1.1.250-10.1.2.1"], true),
            (&["10.1.3.0/24"], false),
            (&["10.1.1.0/24", "10.1.2.0/24"], true),
            (&["garbage"], false),
            (&[], false),
            (&["::1"], false),
        ];
        for (targets, want) in cases {
            assert_eq!(overlaps(&strings(targets), net), *want, "{targets:?}");
        }
    }

    #[test]
    fn queued_jobs_expire_after_the_window() {
        let now = Utc::now();
        let fresh = ts(now - Duration::minutes(9));
        let old = ts(now - Duration::minutes(11));
        assert_eq!(
            effective_state(JobState::Queued, &fresh, now),
            JobState::Queued
        );
        assert_eq!(
            effective_state(JobState::Queued, &old, now),
            JobState::Expired
        );
        assert_eq!(
            effective_state(JobState::Running, &old, now),
            JobState::Running
        );
        assert_eq!(effective_state(JobState::Done, &old, now), JobState::Done);
    }

    #[test]
    fn text_prefixes() {
        let cases = [
            ("10.1.2.0/24", Some("10.1.2.")),
            ("10.1.0.0/20", Some("10.1.")),
            ("10.0.0.0/8", Some("10.")),
            ("10.1.2.3/32", Some("10.1.2.3")),
            ("0.0.0.0/0", None),
            ("fe80::/64", None),
        ];
        for (net, want) in cases {
            assert_eq!(text_prefix(net.parse().unwrap()).as_deref(), want, "{net}");
        }
    }

    #[test]
    fn addresses_sort_numerically() {
        let mut list = strings(&["10.0.0.10", "junk", "10.0.0.9", "::1", "9.0.0.1"]);
        list.sort_by_key(|a| address_order(a));
        assert_eq!(
            list,
            strings(&["9.0.0.1", "10.0.0.9", "10.0.0.10", "::1", "junk"])
        );
    }
}
