//! Sending a storm: every agent posts its one document, at most `concurrency` at a time, and
//! answers the collector as `parc-agent` does (agent/src/delivery.rs): 2xx is delivered; 429
//! (and 5xx) means wait `Retry-After` seconds, or the agent's backoff when there is none, then
//! send the same document again; anything else is a failure, counted and not retried.
//!
//! An agent waiting out a Retry-After does not hold a sending slot: in a real storm it is a PC
//! that went quiet, and other PCs keep arriving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::Rng;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::stats::{Answer, Recorder, Summary};

/// The agent's backoff when a 429/5xx carries no Retry-After (agent/src/service.rs).
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(3600);
/// The agent's default `server.timeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A document still refused after this many tries is counted as undelivered (an agent would
/// keep it in its spool).
const MAX_ATTEMPTS: u32 = 20;

/// One agent's ready-to-send document.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The collector this agent talks to (index into the URLs: a load balancer's choice).
    pub collector: usize,
    /// Its site token.
    pub token: Arc<str>,
    /// The gzip-compressed JSON document as sent first: without its software list when the
    /// agent holds the collector's acknowledgement of it.
    pub body: Vec<u8>,
    /// The whole document, sent when the collector answers that it does not hold the list
    /// left out of `body` (409 `software_list_unknown`); `None` when `body` is whole.
    pub whole: Option<Vec<u8>>,
    /// `body` sends its list as changes against the acknowledged one (else, when `whole` is
    /// set, it leaves the list out as unchanged).
    pub delta: bool,
}

/// Where documents go.
pub struct Target {
    /// `.../api/v1/inventories` of each collector.
    pub endpoints: Vec<String>,
    pub concurrency: usize,
    /// Open a new connection per request (each agent is another PC) rather than reuse pooled
    /// ones.
    pub fresh_connections: bool,
}

/// The error code of a 409 to a document whose software list the collector does not hold.
const SOFTWARE_LIST_UNKNOWN: &str = "software_list_unknown";

/// Classifies an answer the way the agent's `delivery::classify` does.
pub fn answer_of(status: StatusCode, body: &[u8]) -> Answer {
    if status.is_success() {
        Answer::Accepted
    } else if status == StatusCode::CONFLICT
        && error_code(body).as_deref() == Some(SOFTWARE_LIST_UNKNOWN)
    {
        Answer::ListUnknown
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Answer::Busy
    } else {
        Answer::Failed
    }
}

/// The code of a collector's error answer (`{"error": code, "message": ...}`).
fn error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
    }
    serde_json::from_slice::<Refusal>(body)
        .ok()
        .map(|r| r.error)
}

/// The agent's reading of Retry-After: whole seconds.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The agent's exponential backoff with full jitter (agent/src/delivery.rs `backoff`).
fn backoff(attempt: u32) -> Duration {
    let exp = RETRY_BASE
        .saturating_mul(1u32 << attempt.min(20))
        .min(RETRY_CAP);
    let millis = exp.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis.max(1)))
}

/// Sends every prepared document and measures the whole storm.
pub async fn storm(target: &Target, documents: Vec<Prepared>) -> Result<Summary> {
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent("parc-storm");
    if target.fresh_connections {
        builder = builder.pool_max_idle_per_host(0);
    }
    let client = builder.build().context("cannot build the HTTP client")?;
    let slots = Arc::new(Semaphore::new(target.concurrency.max(1)));
    let endpoints: Arc<[String]> = target.endpoints.clone().into();
    let cpu_before = own_cpu();
    let started = Instant::now();
    let mut agents = JoinSet::new();
    for doc in documents {
        let (client, slots, endpoints) = (client.clone(), slots.clone(), endpoints.clone());
        agents.spawn(async move { agent(&client, &slots, &endpoints[doc.collector], doc).await });
    }
    let mut total = Recorder::default();
    while let Some(done) = agents.join_next().await {
        total.merge(done.context("an agent task panicked")?);
    }
    let wall = started.elapsed();
    let mut summary = total.summary(wall);
    summary.generator_cpu_s = match (cpu_before, own_cpu()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Ok(summary)
}

/// CPU time (user + system) this process used so far, from /proc (Linux): the generator
/// shares the machine with the collector, so its share is part of what a storm measures.
fn own_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux architecture Parc builds for.
    Some(Duration::from_millis(ticks * 10))
}

async fn agent(
    client: &reqwest::Client,
    slots: &Semaphore,
    endpoint: &str,
    mut doc: Prepared,
) -> Recorder {
    let mut rec = Recorder::default();
    if doc.delta {
        rec.delta();
    } else if doc.whole.is_some() {
        rec.left_out();
    }
    for attempt in 0..MAX_ATTEMPTS {
        let permit = slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let sent = Instant::now();
        let result = client
            .post(endpoint)
            .bearer_auth(&*doc.token)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(doc.body.clone())
            .send()
            .await;
        let (answer, wait) = match result {
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(
                    response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                );
                // The whole answer is part of the latency, as the agent reads it.
                let body = response.bytes().await.unwrap_or_default();
                let answer = answer_of(status, &body);
                if answer == Answer::Failed {
                    eprintln!("agent refused: {status}");
                }
                (answer, wait)
            }
            Err(e) => {
                eprintln!("no answer: {e}");
                (Answer::Failed, None)
            }
        };
        rec.record(answer, sent.elapsed());
        drop(permit);
        match answer {
            Answer::Accepted => return rec,
            Answer::Failed => break,
            Answer::ListUnknown => match doc.whole.take() {
                Some(whole) => doc.body = whole,
                None => break,
            },
            Answer::Busy => {
                tokio::time::sleep(wait.unwrap_or_else(|| backoff(attempt))).await;
            }
        }
    }
    rec.undelivered();
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_the_agent_reads_them() {
        let unknown = br#"{"error":"software_list_unknown","message":"..."}"#;
        let cases: [(StatusCode, &[u8], Answer); 8] = [
            (StatusCode::OK, b"{}", Answer::Accepted),
            (StatusCode::CREATED, b"{}", Answer::Accepted),
            (StatusCode::TOO_MANY_REQUESTS, b"", Answer::Busy),
            (StatusCode::SERVICE_UNAVAILABLE, b"", Answer::Busy),
            (StatusCode::CONFLICT, unknown, Answer::ListUnknown),
            (
                StatusCode::CONFLICT,
                br#"{"error":"conflict"}"#,
                Answer::Failed,
            ),
            (StatusCode::UNAUTHORIZED, b"", Answer::Failed),
            (StatusCode::BAD_REQUEST, unknown, Answer::Failed),
        ];
        for (status, body, want) in cases {
            assert_eq!(answer_of(status, body), want, "{status}");
        }
        assert_eq!(retry_after(Some(" 10 ")), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn backoff_stays_within_the_agents_bounds() {
        for attempt in 0..30 {
            let d = backoff(attempt);
            let exp = RETRY_BASE
                .saturating_mul(1 << attempt.min(20))
                .min(RETRY_CAP);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
    }
}
