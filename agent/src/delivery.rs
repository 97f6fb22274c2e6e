//! Delivering spooled documents to the collector.
//!
//! Every document is spooled first ([`crate::spool`]) and removed only when the collector
//! acknowledges it. The collector's answer decides what happens next:
//! - 2xx: delivered, removed from the spool;
//! - 5xx, 429, or no answer: the collector is away or busy; the document stays and delivery
//!   stops until the next attempt (backoff with jitter, honouring `Retry-After`);
//! - 401/403: the agent's token (or, once enrolled, its signature) is refused; the document
//!   is fine, so it stays, and the error is reported (the admin fixes it; it is not retried in
//!   a loop);
//! - a collector certificate that is not the one pinned at enrolment: like no answer, the
//!   document stays, and the error names both fingerprints.
//! - other 4xx: the document itself was refused; it is moved to quarantine and reported, never
//!   retried.
//!
//! An inventory whose software list the collector already holds is sent without it, and one
//! whose list changed since as those changes ([`crate::software_ack`]); a 409
//! `software_list_unknown` then means "send the list", and the whole document goes at once.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use parc_config::agent::ServerConfig;
use parc_config::AgentConfig;
use parc_shared::snmp::SnmpDevice;
use parc_shared::{Discovery, Document, DocumentHeader, SourceKind};
use rand::Rng;
use reqwest::StatusCode;

use crate::enroll::{Enrollment, Signer, AGENT_HEADER, SIGNATURE_HEADER};
use crate::software_ack::{SoftwareAck, SpooledInventory};
use crate::spool::{Entry, Kind, Spool};
use crate::tls::ServerTrust;

/// The error code of the collector's 409 asking for an inventory's software list.
const SOFTWARE_LIST_UNKNOWN: &str = "software_list_unknown";

/// What the collector did with one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored (or recognised as a replay); the collector's JSON answer.
    Delivered(serde_json::Value),
    /// Try again later; `after` is the collector's Retry-After when it gave one.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The token was refused: keep the document, stop, tell the admin.
    Unauthorized(String),
    /// The document was refused: never retry it.
    Refused { status: u16, message: String },
    /// The document left out its software list, which the collector does not hold: send it
    /// with the list.
    SoftwareListUnknown,
}

/// Sends compressed documents to one collector.
pub struct Client {
    http: reqwest::Client,
    server: ServerConfig,
    /// Set once the agent is enrolled: every document is signed (see [`crate::enroll`]).
    signer: Option<Signer>,
    /// Where the collector's acknowledged software list is kept; None: always send it.
    software_ack: Option<SoftwareAck>,
}

/// The HTTP client for `server`, trusting its certificate as `trust` says.
pub fn http_client(server: &ServerConfig, trust: &ServerTrust) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(server.timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("parc-agent/", env!("CARGO_PKG_VERSION")));
    match trust {
        ServerTrust::System => {}
        ServerTrust::Pinned(pin) => {
            builder = builder.use_preconfigured_tls(crate::tls::pinned_config(*pin));
        }
        ServerTrust::Ca(path) => {
            // Only the given CA: an internal PKI's collector has no business presenting a
            // certificate from a public CA.
            builder = builder.tls_built_in_root_certs(false);
            for cert in crate::tls::read_ca(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
    }
    builder.build().context("cannot build the HTTP client")
}

impl Client {
    /// A client that neither pins nor signs: for agents that never enrolled.
    pub fn new(server: &ServerConfig) -> Result<Self> {
        Ok(Client {
            http: http_client(server, &ServerTrust::System)?,
            server: server.clone(),
            signer: None,
            software_ack: None,
        })
    }

    /// The client of this agent: trusts the collector's certificate as decided at enrolment
    /// (pinned fingerprint or CA file, when `server` is the collector it enrolled with) and
    /// signs documents with its key.
    pub fn for_agent(config: &AgentConfig, server: &ServerConfig) -> Result<Self> {
        let software_ack = Some(SoftwareAck::in_dir(&config.state_dir));
        let Some(enrollment) = Enrollment::load(&config.state_dir)? else {
            return Ok(Client {
                software_ack,
                ..Client::new(server)?
            });
        };
        let trust = enrollment.trust_for(&server.url)?;
        let signer = Signer::load(&config.state_dir, enrollment.agent_id)?.with_context(|| {
            format!(
                "this agent is enrolled but its key ({}) is missing; it must be revoked and \
                 enrolled again",
                config.state_dir.join(crate::enroll::KEY_FILE).display()
            )
        })?;
        Ok(Client {
            http: http_client(server, &trust)?,
            server: server.clone(),
            signer: Some(signer),
            software_ack,
        })
    }

    /// Sends a spooled inventory, without its software list when this collector holds it,
    /// or with only its changes against the list the collector holds.
    pub async fn send_inventory(&self, gzip_body: Vec<u8>) -> Outcome {
        let Some(ack) = &self.software_ack else {
            return self.send(Kind::Inventory, gzip_body).await;
        };
        let spooled = match SpooledInventory::read(&gzip_body) {
            Ok(s) => s,
            // The collector says what is wrong with it.
            Err(_) => return self.send(Kind::Inventory, gzip_body).await,
        };
        let server = self.server.url.as_str();
        let slim = if ack.holds(server, &spooled.digest) {
            spooled.without_software()
        } else if let Some(delta) = ack
            .delta_base(server)
            .and_then(|(digest, base)| spooled.changes_from(&base, &digest))
        {
            spooled.with_changes(&delta)
        } else {
            return self.send_whole(ack, &spooled, gzip_body).await;
        };
        match slim {
            Ok(slim) => match self.send(Kind::Inventory, slim).await {
                Outcome::SoftwareListUnknown => {
                    tracing::info!("the collector does not hold this software list; sending it");
                    ack.forget();
                }
                other => {
                    record_acknowledgement(ack, server, &spooled, &other);
                    return other;
                }
            },
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot leave out the software list or send its changes; sending it")
            }
        }
        self.send_whole(ack, &spooled, gzip_body).await
    }

    async fn send_whole(
        &self,
        ack: &SoftwareAck,
        spooled: &SpooledInventory,
        gzip_body: Vec<u8>,
    ) -> Outcome {
        let outcome = self.send(Kind::Inventory, gzip_body).await;
        record_acknowledgement(ack, self.server.url.as_str(), spooled, &outcome);
        outcome
    }

    pub async fn send(&self, kind: Kind, gzip_body: Vec<u8>) -> Outcome {
        let url = match self.server.url.join(kind.endpoint()) {
            Ok(u) => u,
            Err(e) => {
                return Outcome::Refused {
                    status: 0,
                    message: format!("bad collector URL: {e}"),
                }
            }
        };
        let mut request = self
            .http
            .post(url)
            .bearer_auth(&self.server.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip");
        if let Some(signer) = &self.signer {
            // Over the exact bytes sent: the collector checks them before decompressing.
            request = request
                .header(AGENT_HEADER, signer.agent_id.to_string())
                .header(SIGNATURE_HEADER, signer.signature(&gzip_body));
        }
        let answer = request.body(gzip_body).send().await;
        let response = match answer {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("collector unreachable: {}", error_chain(&e)),
                    after: None,
                }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        classify(status, &text, retry_after)
    }

    /// POSTs a small JSON body to `path` (relative to the collector URL) with the site token
    /// and, once enrolled, the agent's signature of it, as documents are sent: the agent side
    /// of sweep jobs ([`crate::jobs`]). Returns the status and the body's text.
    pub async fn post_json(&self, path: &str, body: Vec<u8>) -> Result<(StatusCode, String)> {
        let url = self
            .server
            .url
            .join(path)
            .with_context(|| format!("bad collector URL for {path}"))?;
        let mut request = self
            .http
            .post(url)
            .bearer_auth(&self.server.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(signer) = &self.signer {
            request = request
                .header(AGENT_HEADER, signer.agent_id.to_string())
                .header(SIGNATURE_HEADER, signer.signature(&body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("collector unreachable: {}", error_chain(&e)))?;
        let status = response.status();
        Ok((status, response.text().await.unwrap_or_default()))
    }
}

/// Keeps the list the collector says it now holds for this machine: the one just sent.
fn record_acknowledgement(
    ack: &SoftwareAck,
    server: &str,
    spooled: &SpooledInventory,
    outcome: &Outcome,
) {
    if let Outcome::Delivered(answer) = outcome {
        if answer.get("software_digest").and_then(|d| d.as_str()) == Some(spooled.digest.as_str()) {
            let deltas =
                answer.get("accepts_software_delta") == Some(&serde_json::Value::Bool(true));
            ack.record(server, &spooled.digest, &spooled.list, deltas);
        }
    }
}

/// Decides what an HTTP answer means for the document (pure, so it is table-tested).
pub fn classify(status: StatusCode, body: &str, retry_after: Option<Duration>) -> Outcome {
    let message = || {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| body.chars().take(300).collect())
    };
    if status.is_success() {
        Outcome::Delivered(serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Outcome::Retry {
            reason: format!("collector answered {status}"),
            after: retry_after,
        }
    } else if status == StatusCode::CONFLICT
        && serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("error").and_then(|e| e.as_str()) == Some(SOFTWARE_LIST_UNKNOWN))
    {
        Outcome::SoftwareListUnknown
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Outcome::Unauthorized(format!(
            "collector refused the token or the agent's signature ({status}): {}",
            message()
        ))
    } else {
        Outcome::Refused {
            status: status.as_u16(),
            message: message(),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What one pass over the spool achieved.
#[derive(Debug, Default)]
pub struct FlushReport {
    pub delivered: Vec<(Entry, serde_json::Value)>,
    pub refused: Vec<(Entry, String)>,
    /// Entries still waiting after this pass.
    pub waiting: usize,
    /// Why the pass stopped early, if it did.
    pub stopped: Option<String>,
    pub retry_after: Option<Duration>,
}

/// Sends spooled documents oldest first until the spool is empty or the collector stops
/// accepting them.
pub async fn flush(spool: &Spool, client: &Client) -> Result<FlushReport> {
    let mut report = FlushReport::default();
    let entries = spool.entries()?;
    let total = entries.len();
    for (i, entry) in entries.into_iter().enumerate() {
        let body = match entry.read_body() {
            Ok(b) => b,
            Err(e) => {
                spool.quarantine(&entry.path, &format!("{e:#}"));
                continue;
            }
        };
        let outcome = match entry.kind {
            Kind::Inventory => client.send_inventory(body).await,
            kind => client.send(kind, body).await,
        };
        match outcome {
            Outcome::Delivered(answer) => {
                spool.remove(&entry)?;
                report.delivered.push((entry, answer));
            }
            Outcome::SoftwareListUnknown => {
                // Only an answer to a document sent without its list, which send_inventory
                // sends again with it; a collector saying so of a whole document is wrong.
                let why = format!(
                    "collector refused document {} as leaving out its software list, which it \
                     carries",
                    entry.document_id
                );
                tracing::error!("{why}");
                spool.quarantine(&entry.path, &why);
                report.refused.push((entry, why));
            }
            Outcome::Refused { status, message } => {
                let why = format!(
                    "collector refused document {} ({status}): {message}",
                    entry.document_id
                );
                tracing::error!("{why}");
                spool.quarantine(&entry.path, &why);
                report.refused.push((entry, why));
            }
            Outcome::Unauthorized(why) => {
                report.waiting = total - i;
                report.stopped = Some(why);
                return Ok(report);
            }
            Outcome::Retry { reason, after } => {
                report.waiting = total - i;
                report.stopped = Some(reason);
                report.retry_after = after;
                return Ok(report);
            }
        }
    }
    Ok(report)
}

/// First wait after a failed delivery in service mode.
pub const RETRY_BASE: Duration = Duration::from_secs(30);
/// Longest wait between two delivery attempts in service mode, whatever the collector asks.
pub const RETRY_CAP: Duration = Duration::from_secs(3600);

/// The service's retry policy, apart from the clock so that a day-long collector outage can
/// be simulated with shifted time (tests/tests/outage.rs): after a pass that went through,
/// nothing to wait for; after one that stopped, the collector's Retry-After (capped, a
/// collector cannot park its agents for days) or exponential backoff with full jitter.
#[derive(Debug)]
pub struct Retry {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Retry {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Retry {
            base,
            cap,
            failures: 0,
        }
    }

    /// Failed passes in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a pass over the spool: None when it went through (deliver again when there is
    /// something new), else how long to wait before the next attempt.
    pub fn after(&mut self, report: &FlushReport, rng: &mut impl Rng) -> Option<Duration> {
        if report.stopped.is_none() {
            self.failures = 0;
            return None;
        }
        let wait = match report.retry_after {
            Some(asked) => asked.min(self.cap),
            None => backoff(self.failures, self.base, self.cap, rng),
        };
        self.failures = self.failures.saturating_add(1);
        Some(wait)
    }
}

/// Delay before retry number `attempt` (0-based): exponential from `base`, capped, with full
/// jitter so that agents that lost the collector together do not come back together.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    let millis = exp.as_millis() as u64;
    Duration::from_millis(rng.gen_range(millis / 2..=millis.max(1)))
}

/// Opens the spool of an agent configuration.
pub fn open_spool(config: &AgentConfig) -> Result<Spool> {
    Spool::open(
        &config.state_dir.join("spool"),
        config.spool.max_bytes,
        config.spool.max_documents,
    )
}

/// Spools a document, then tries to deliver everything waiting. Returns a line for people.
/// Errors only when the document could not even be spooled, or when delivery failed (the
/// document is then safe in the spool and the error says so).
pub async fn deliver<T: serde::Serialize>(
    config: &AgentConfig,
    kind: Kind,
    document: &Document<T>,
) -> Result<String> {
    let spool = open_spool(config)?;
    spool.push(kind, document.header.document_id, document)?;
    let Some(server) = &config.server else {
        bail!(
            "no collector configured (server.url / --server); document {} kept in the spool ({})",
            document.header.document_id,
            spool_dir(config)
        );
    };
    let client = Client::for_agent(config, server)?;
    let report = flush(&spool, &client).await?;
    summarise(&report, document.header.document_id, config)
}

/// Spools and delivers a sweep's result.
pub async fn deliver_discovery(config: &AgentConfig, discovery: Discovery) -> Result<String> {
    let agent_id = crate::agent_id::load_or_create(&config.state_dir)?;
    let document = Document {
        header: DocumentHeader::new(agent_id, SourceKind::Sweep, discovery.finished_at),
        body: discovery,
    };
    deliver(config, Kind::Discovery, &document).await
}

/// Spools each SNMP device as its own document (trimmed to the collector's limits), then
/// tries to deliver everything waiting. Returns a line for people.
pub async fn deliver_snmp(config: &AgentConfig, devices: Vec<SnmpDevice>) -> Result<String> {
    let spool = open_spool(config)?;
    let ids = spool_snmp(config, &spool, devices)?;
    let Some(server) = &config.server else {
        bail!(
            "no collector configured (server.url / --server); {} SNMP document(s) kept in the spool ({})",
            ids.len(),
            spool_dir(config)
        );
    };
    let client = Client::for_agent(config, server)?;
    let report = flush(&spool, &client).await?;
    let delivered = report
        .delivered
        .iter()
        .filter(|(e, _)| ids.contains(&e.document_id))
        .count();
    if let Some((_, why)) = report
        .refused
        .iter()
        .find(|(e, _)| ids.contains(&e.document_id))
    {
        bail!(
            "{delivered} of {} SNMP document(s) delivered; {why}",
            ids.len()
        );
    }
    if delivered < ids.len() {
        bail!(
            "{delivered} of {} SNMP document(s) delivered; {}; {} document(s) kept in the spool ({}) for a later attempt",
            ids.len(),
            report.stopped.as_deref().unwrap_or("not delivered"),
            report.waiting,
            spool_dir(config)
        );
    }
    Ok(format!("delivered {delivered} SNMP document(s)"))
}

/// Spools each device as a `Document<SnmpDevice>` (source SNMP), trimmed to the collector's
/// limits first; returns the document ids.
pub fn spool_snmp(
    config: &AgentConfig,
    spool: &Spool,
    devices: Vec<SnmpDevice>,
) -> Result<Vec<uuid::Uuid>> {
    let agent_id = crate::agent_id::load_or_create(&config.state_dir)?;
    let observed_at = chrono::Utc::now();
    let mut ids = Vec::with_capacity(devices.len());
    for mut device in devices {
        crate::snmp::fit::fit_to_limits(&mut device);
        let document = Document {
            header: DocumentHeader::new(agent_id, SourceKind::Snmp, observed_at),
            body: device,
        };
        spool.push(Kind::Snmp, document.header.document_id, &document)?;
        ids.push(document.header.document_id);
    }
    Ok(ids)
}

fn spool_dir(config: &AgentConfig) -> String {
    config.state_dir.join("spool").display().to_string()
}

fn summarise(
    report: &FlushReport,
    document_id: uuid::Uuid,
    config: &AgentConfig,
) -> Result<String> {
    let mine = report
        .delivered
        .iter()
        .find(|(e, _)| e.document_id == document_id);
    if let Some((_, answer)) = mine {
        let mut line = format!("delivered document {document_id}: {answer}");
        if report.delivered.len() > 1 {
            line.push_str(&format!(
                " (and {} earlier spooled document(s))",
                report.delivered.len() - 1
            ));
        }
        return Ok(line);
    }
    if let Some((_, why)) = report
        .refused
        .iter()
        .find(|(e, _)| e.document_id == document_id)
    {
        bail!("{why}");
    }
    bail!(
        "{}; {} document(s) kept in the spool ({}) for a later attempt",
        report.stopped.as_deref().unwrap_or("not delivered"),
        report.waiting,
        spool_dir(config)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        let ok = classify(StatusCode::OK, r#"{"asset_id":1}"#, None);
        assert_eq!(ok, Outcome::Delivered(serde_json::json!({"asset_id": 1})));
        let busy = classify(
            StatusCode::TOO_MANY_REQUESTS,
            "",
            Some(Duration::from_secs(7)),
        );
        assert!(
            matches!(busy, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, "", None),
            Outcome::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, r#"{"message":"bad token"}"#, None),
            Outcome::Unauthorized(m) if m.contains("bad token")
        ));
        assert_eq!(
            classify(
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error":"x","message":"host.hostname is empty"}"#,
                None
            ),
            Outcome::Refused {
                status: 422,
                message: "host.hostname is empty".into()
            }
        );
        assert_eq!(
            classify(
                StatusCode::CONFLICT,
                r#"{"error":"software_list_unknown","message":"send the list"}"#,
                None
            ),
            Outcome::SoftwareListUnknown
        );
        assert!(matches!(
            classify(StatusCode::CONFLICT, r#"{"error":"conflict"}"#, None),
            Outcome::Refused { status: 409, .. }
        ));
    }

    #[test]
    fn retry_waits_grow_honour_retry_after_within_the_cap_and_reset() {
        let mut rng = rand::thread_rng();
        let mut retry = Retry::new(Duration::from_secs(30), Duration::from_secs(3600));
        let failed = FlushReport {
            stopped: Some("collector unreachable".into()),
            ..Default::default()
        };
        let first = retry.after(&failed, &mut rng).unwrap();
        assert!((15..=30).contains(&first.as_secs()), "{first:?}");
        for _ in 0..20 {
            retry.after(&failed, &mut rng);
        }
        let late = retry.after(&failed, &mut rng).unwrap();
        assert!((1800..=3600).contains(&late.as_secs()), "{late:?}");
        let asked = |secs| FlushReport {
            stopped: Some("429".into()),
            retry_after: Some(Duration::from_secs(secs)),
            ..Default::default()
        };
        assert_eq!(
            retry.after(&asked(7), &mut rng),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry.after(&asked(10_000_000), &mut rng),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(retry.failures(), 24);
        assert_eq!(retry.after(&FlushReport::default(), &mut rng), None);
        assert_eq!(retry.failures(), 0);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut rng = rand::thread_rng();
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(3600);
        for attempt in 0..40 {
            let d = backoff(attempt, base, cap, &mut rng);
            let exp = base.saturating_mul(1 << attempt.min(20)).min(cap);
            assert!(
                d <= exp && d >= exp / 2,
                "attempt {attempt}: {d:?} vs {exp:?}"
            );
        }
    }
}
