//! Prometheus metrics of the collector, served at `GET /metrics` in the OpenMetrics text
//! format. Document intake is recorded in one place, [`Metrics::record`], which the three
//! document endpoints call once per request with its result; values that the collector
//! already holds (documents in intake, assets by kind) are read when scraped rather than
//! maintained alongside.
//!
//! Labels come only from the enums below and from the collector's own asset kinds, never
//! from what a client sent, so every series set is bounded.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::http::{AppState, INTAKE_SLOTS};
use crate::intake::IntakeError;
use crate::reconcile::Rule;
use crate::store::discovery::DiscoveryOutcome;
use crate::store::inventory::{InventoryOutcome, SoftwareList};
use crate::store::snmp::SnmpOutcome;
use crate::store::Store;

/// OpenMetrics text, which Prometheus negotiates and prometheus-client writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The document endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Inventories,
    Discoveries,
    Snmp,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Inventories => "inventories",
            Endpoint::Discoveries => "discoveries",
            Endpoint::Snmp => "snmp",
        }
    }
}

/// What became of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Stored (whether or not anything changed).
    Accepted,
    /// A replay of a document already stored: nothing written.
    Duplicate,
    /// Refused; see [`Reason`].
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Why a document was refused: one value per way [`ApiError`] can end an intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a rejection (accepted or duplicate documents).
    None,
    /// Missing or bad token, bad signature, revoked or unenrolled agent.
    Unauthorized,
    /// 429: every intake slot was taken.
    Overloaded,
    /// 429: over the agent's or the site token's document rate.
    RateLimited,
    TooLarge,
    UnsupportedEncoding,
    BadGzip,
    /// Not JSON at all.
    BadJson,
    /// JSON, but not the document's shape.
    Schema,
    SchemaVersion,
    WrongSource,
    /// Over one of the wire model's bounds (interfaces, software, hosts...).
    Limits,
    /// The body could not be read (client went away mid-upload).
    BadRequest,
    /// The document left out a software list the collector does not hold; the agent sends
    /// it again with the list.
    SoftwareListUnknown,
    /// The collector failed (database error); see its log.
    Internal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::None => "",
            Reason::Unauthorized => "unauthorized",
            Reason::Overloaded => "overloaded",
            Reason::RateLimited => "rate_limited",
            Reason::TooLarge => "too_large",
            Reason::UnsupportedEncoding => "unsupported_encoding",
            Reason::BadGzip => "bad_gzip",
            Reason::BadJson => "bad_json",
            Reason::Schema => "schema",
            Reason::SchemaVersion => "schema_version",
            Reason::WrongSource => "wrong_source",
            Reason::Limits => "limits",
            Reason::BadRequest => "bad_request",
            Reason::SoftwareListUnknown => "software_list_unknown",
            Reason::Internal => "internal",
        }
    }

    /// The reason an intake that failed with `e` was refused.
    pub fn of(e: &ApiError) -> Reason {
        match e {
            ApiError::Unauthorized(_) => Reason::Unauthorized,
            ApiError::Busy(_) => Reason::Overloaded,
            ApiError::RateLimited { .. } => Reason::RateLimited,
            ApiError::BadRequest(_) => Reason::BadRequest,
            // Not produced by intake; counted rather than dropped should that change.
            ApiError::NotFound(_)
            | ApiError::Forbidden(_)
            | ApiError::Conflict(_)
            | ApiError::Unprocessable(_)
            | ApiError::Throttled(_) => Reason::BadRequest,
            ApiError::SoftwareListUnknown(_) => Reason::SoftwareListUnknown,
            ApiError::Internal(_) => Reason::Internal,
            ApiError::Intake(e) => match e {
                IntakeError::TooLarge { .. } => Reason::TooLarge,
                IntakeError::UnsupportedEncoding(_) => Reason::UnsupportedEncoding,
                IntakeError::BadGzip(_) => Reason::BadGzip,
                IntakeError::Malformed(_) => Reason::BadJson,
                IntakeError::Schema { .. } => Reason::Schema,
                IntakeError::SchemaVersion { .. } => Reason::SchemaVersion,
                IntakeError::WrongSource { .. } => Reason::WrongSource,
                IntakeError::Limit(_) => Reason::Limits,
            },
        }
    }
}

macro_rules! label_value_as_str {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}
label_value_as_str!(Endpoint, Outcome, Reason);

/// How an asset was found for a document (or a sweep's host): a [`Rule`], or for sweeps,
/// whose outcome counts matches without naming the key, `mac_or_ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeRule {
    Rule(Rule),
    SweepMatch,
}

impl MergeRule {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRule::Rule(r) => r.as_str(),
            MergeRule::SweepMatch => "mac_or_ip",
        }
    }
}
label_value_as_str!(MergeRule, SoftwareList);

/// What an accepted document did, as the metrics see it.
pub trait Recorded {
    fn duplicate(&self) -> bool;
    /// Assets created or matched, by rule ([`Rule::New`] for created), with their counts.
    fn merges(&self) -> Vec<(MergeRule, u64)>;
    /// What an inventory did with its software list.
    fn software_list(&self) -> Option<SoftwareList> {
        None
    }
}

impl Recorded for InventoryOutcome {
    fn duplicate(&self) -> bool {
        self.duplicate
    }
    fn merges(&self) -> Vec<(MergeRule, u64)> {
        vec![(MergeRule::Rule(self.rule), 1)]
    }
    fn software_list(&self) -> Option<SoftwareList> {
        self.software_list
    }
}

impl Recorded for SnmpOutcome {
    fn duplicate(&self) -> bool {
        self.duplicate
    }
    fn merges(&self) -> Vec<(MergeRule, u64)> {
        vec![(MergeRule::Rule(self.rule), 1)]
    }
}

impl Recorded for DiscoveryOutcome {
    fn duplicate(&self) -> bool {
        self.duplicate
    }
    fn merges(&self) -> Vec<(MergeRule, u64)> {
        vec![
            (MergeRule::Rule(Rule::New), self.created as u64),
            (MergeRule::SweepMatch, self.matched as u64),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DocumentLabels {
    endpoint: Endpoint,
    outcome: Outcome,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    endpoint: Endpoint,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MergeLabels {
    endpoint: Endpoint,
    rule: MergeRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SoftwareListLabels {
    list: SoftwareList,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to 16 s: a replay answers in about a millisecond, a first inventory under load in
    // tens, and the storm target's p99 (200 ms) falls between two buckets' bounds.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The collector's metrics and the registry that encodes them. One per [`AppState`], so that
/// routers built in tests count apart.
pub struct Metrics {
    registry: Registry,
    documents: Family<DocumentLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    merges: Family<MergeLabels, Counter>,
    software_lists: Family<SoftwareListLabels, Counter>,
    throttled: Family<EndpointLabels, Counter>,
    in_flight: Gauge,
    assets: Family<KindLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("parc");
        let documents = Family::<DocumentLabels, Counter>::default();
        registry.register(
            "ingest_documents",
            "Documents received, by endpoint and outcome; reason says why a document was rejected",
            documents.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "ingest_duration",
            "Time from request to response of document intake, by endpoint and outcome",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let merges = Family::<MergeLabels, Counter>::default();
        registry.register(
            "merges",
            "Assets a stored document created (rule=new) or matched, by the rule that matched",
            merges.clone(),
        );
        let software_lists = Family::<SoftwareListLabels, Counter>::default();
        registry.register(
            "inventory_software_lists",
            "Software lists of applied inventories: left_out (the agent sent the digest of the \
             list the asset holds), unchanged (sent again as stored) or stored (new or changed)",
            software_lists.clone(),
        );
        let throttled = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "ingest_throttled",
            "Documents answered 429 with Retry-After because every intake slot was taken",
            throttled.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "ingest_in_flight",
            "Documents in intake now (each holds one of the collector's intake slots)",
            in_flight.clone(),
        );
        let assets = Family::<KindLabels, Gauge>::default();
        registry.register("assets", "Assets in the CMDB, by kind", assets.clone());
        Metrics {
            registry,
            documents,
            latency,
            merges,
            software_lists,
            throttled,
            in_flight,
            assets,
        }
    }

    /// Records one document request to `endpoint` that took `elapsed` and ended in `result`.
    pub fn record<O: Recorded>(
        &self,
        endpoint: Endpoint,
        elapsed: Duration,
        result: Result<&O, &ApiError>,
    ) {
        let (outcome, reason) = match result {
            Ok(o) if o.duplicate() => (Outcome::Duplicate, Reason::None),
            Ok(_) => (Outcome::Accepted, Reason::None),
            Err(e) => (Outcome::Rejected, Reason::of(e)),
        };
        self.documents
            .get_or_create(&DocumentLabels {
                endpoint,
                outcome,
                reason,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { endpoint, outcome })
            .observe(elapsed.as_secs_f64());
        match result {
            Ok(o) if !o.duplicate() => {
                for (rule, n) in o.merges().into_iter().filter(|(_, n)| *n > 0) {
                    self.merges
                        .get_or_create(&MergeLabels { endpoint, rule })
                        .inc_by(n);
                }
                if let Some(list) = o.software_list() {
                    self.software_lists
                        .get_or_create(&SoftwareListLabels { list })
                        .inc();
                }
            }
            Err(ApiError::Busy(_)) => {
                self.throttled
                    .get_or_create(&EndpointLabels { endpoint })
                    .inc();
            }
            _ => {}
        }
    }

    /// Sets the values read at scrape time and encodes everything.
    pub fn encode(&self, in_flight: i64, assets_by_kind: &[(String, i64)]) -> String {
        self.in_flight.set(in_flight);
        // Cleared first so that a kind with no asset left disappears rather than stays at
        // its last count.
        self.assets.clear();
        for (kind, n) in assets_by_kind {
            self.assets
                .get_or_create(&KindLabels { kind: kind.clone() })
                .set(*n);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Asset counts by kind; one indexed scan (`assets_kind`), cheap at a hospital's or a group's
/// size. Read here rather than through a `Store` method only because the store module is
/// another change's ground at the moment; it belongs in `store::assets`.
async fn assets_by_kind(store: &Store) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, COUNT(*) FROM assets GROUP BY kind ORDER BY kind")
        .fetch_all(store.pool())
        .await
}

/// `GET /metrics`. Not authenticated: it tells counts, never names or addresses.
/// For Prometheus (an API token) and group-wide users: the counts span every entity.
pub async fn scrape(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
) -> Result<Response, ApiError> {
    if principal.group_role.is_none()
        && !matches!(principal.via, crate::auth::AuthMethod::ApiToken(_))
    {
        return Err(ApiError::Forbidden(
            "metrics span every entity: they need a group-wide role or an API token".into(),
        ));
    }
    let assets = assets_by_kind(&state.store).await?;
    let in_flight = INTAKE_SLOTS as i64 - state.intake.available_permits() as i64;
    let body = state.metrics.encode(in_flight, &assets);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::IntakeError;

    #[test]
    fn every_intake_error_has_its_reason() {
        let cases: Vec<(ApiError, &str)> = vec![
            (ApiError::Unauthorized("x".into()), "unauthorized"),
            (ApiError::Busy(10), "overloaded"),
            (
                ApiError::RateLimited {
                    what: "agent",
                    retry_after: 3,
                },
                "rate_limited",
            ),
            (ApiError::BadRequest("x".into()), "bad_request"),
            (
                ApiError::SoftwareListUnknown("x".into()),
                "software_list_unknown",
            ),
            (
                ApiError::Intake(IntakeError::TooLarge {
                    what: "body",
                    limit: 1,
                }),
                "too_large",
            ),
            (
                ApiError::Internal(anyhow::anyhow!("database is locked")),
                "internal",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(Reason::of(&e).as_str(), want, "{e:?}");
        }
    }

    fn inventory(rule: Rule, duplicate: bool) -> InventoryOutcome {
        InventoryOutcome {
            asset_id: 1,
            created: rule == Rule::New,
            rule,
            duplicate,
            changes: 0,
            software_digest: None,
            accepts_software_delta: false,
            software_list: (!duplicate).then_some(SoftwareList::Stored),
        }
    }

    #[test]
    fn records_outcomes_merges_and_throttling() {
        let m = Metrics::new();
        let ms = Duration::from_millis(3);
        m.record(Endpoint::Inventories, ms, Ok(&inventory(Rule::New, false)));
        m.record(
            Endpoint::Inventories,
            ms,
            Ok(&inventory(Rule::Serial, false)),
        );
        // A replay is not a merge.
        m.record(
            Endpoint::Inventories,
            ms,
            Ok(&inventory(Rule::Serial, true)),
        );
        m.record::<InventoryOutcome>(Endpoint::Inventories, ms, Err(&ApiError::Busy(10)));
        let sweep = DiscoveryOutcome {
            hosts: 5,
            created: 0,
            matched: 5,
            duplicate: false,
        };
        m.record(Endpoint::Discoveries, ms, Ok(&sweep));
        let text = m.encode(2, &[("computer".into(), 7)]);
        for line in [
            r#"parc_ingest_documents_total{endpoint="inventories",outcome="accepted",reason=""} 2"#,
            r#"parc_ingest_documents_total{endpoint="inventories",outcome="duplicate",reason=""} 1"#,
            r#"parc_ingest_documents_total{endpoint="inventories",outcome="rejected",reason="overloaded"} 1"#,
            r#"parc_merges_total{endpoint="inventories",rule="new"} 1"#,
            r#"parc_merges_total{endpoint="inventories",rule="serial"} 1"#,
            r#"parc_merges_total{endpoint="discoveries",rule="mac_or_ip"} 5"#,
            r#"parc_ingest_throttled_total{endpoint="inventories"} 1"#,
            r#"parc_inventory_software_lists_total{list="stored"} 2"#,
            r#"parc_ingest_duration_seconds_count{endpoint="inventories",outcome="accepted"} 2"#,
            "parc_ingest_in_flight 2",
            r#"parc_assets{kind="computer"} 7"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // A sweep that created nothing does not show an empty "new" series.
        assert!(!text.contains(r#"endpoint="discoveries",rule="new""#));
        // Kinds are read afresh at each scrape.
        let text = m.encode(0, &[]);
        assert!(!text.contains("kind=\"computer\""), "{text}");
    }
}
