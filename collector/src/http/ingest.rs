//! Document intake endpoints. Order matters: the token (and its rate, see
//! [`crate::ratelimit`]) is checked before the body is read, the body must arrive within the
//! body timeout, the agent's rate is checked once the document names it, and the body is fully
//! checked before the store is called, so a refused request writes nothing.
//! Each endpoint's result, whatever it is, goes through [`recorded`] to the metrics.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use parc_shared::snmp::SnmpDevice;
use parc_shared::{Discovery, Document, Inventory};
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::{AppState, INTAKE_SLOTS, RETRY_AFTER_SECS};
use crate::error::ApiError;
use crate::intake::{self, Encoding, IntakeError};
use crate::metrics::{Endpoint, Recorded};
use crate::store::discovery::DiscoveryOutcome;
use crate::store::inventory::InventoryOutcome;
use crate::store::snmp::SnmpOutcome;
use crate::store::tokens::Site;

#[tracing::instrument(level = "debug", skip_all, fields(site))]
pub async fn post_inventory(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    recorded(
        &state,
        Endpoint::Inventories,
        inventory(&state, headers, body),
    )
    .await
}

async fn inventory(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, InventoryOutcome), ApiError> {
    let site = admit(state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let slot = intake_slot(state).await?;
    let doc: Arc<Document<Inventory>> = Arc::new(read_document(state, &headers, body).await?);
    let outcome = state.store.ingest_inventory(&site, doc.clone()).await?;
    slot.served();
    tracing::info!(
        site = %site.name,
        document_id = %doc.header.document_id,
        hostname = %doc.body.host.hostname,
        asset_id = outcome.asset_id,
        rule = %outcome.rule,
        created = outcome.created,
        duplicate = outcome.duplicate,
        changes = outcome.changes,
        "inventory accepted"
    );
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, outcome))
}

#[tracing::instrument(level = "debug", skip_all, fields(site))]
pub async fn post_discovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    recorded(
        &state,
        Endpoint::Discoveries,
        discovery(&state, headers, body),
    )
    .await
}

async fn discovery(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, DiscoveryOutcome), ApiError> {
    let site = admit(state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let slot = intake_slot(state).await?;
    let doc: Document<Discovery> = read_document(state, &headers, body).await?;
    let outcome = state.store.ingest_discovery(&site, &doc).await?;
    slot.served();
    tracing::info!(
        document_id = %doc.header.document_id,
        hosts = outcome.hosts,
        created = outcome.created,
        matched = outcome.matched,
        duplicate = outcome.duplicate,
        "sweep accepted"
    );
    Ok((StatusCode::OK, outcome))
}

#[tracing::instrument(level = "debug", skip_all, fields(site))]
pub async fn post_snmp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    recorded(&state, Endpoint::Snmp, snmp(&state, headers, body)).await
}

async fn snmp(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, SnmpOutcome), ApiError> {
    let site = admit(state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let slot = intake_slot(state).await?;
    let doc: Document<SnmpDevice> = read_document(state, &headers, body).await?;
    let outcome = state.store.ingest_snmp(&site, &doc).await?;
    slot.served();
    tracing::info!(
        document_id = %doc.header.document_id,
        ip = %doc.body.ip,
        asset_id = outcome.asset_id,
        rule = %outcome.rule,
        kind = outcome.kind.as_deref().unwrap_or("-"),
        created = outcome.created,
        duplicate = outcome.duplicate,
        placements = outcome.placements,
        links = outcome.links,
        arp_macs = outcome.arp_macs,
        "snmp device accepted"
    );
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, outcome))
}

/// Runs one intake, records its result in the metrics (the only place intake is counted) and
/// turns it into the response.
async fn recorded<O: Recorded + Serialize>(
    state: &AppState,
    endpoint: Endpoint,
    intake: impl Future<Output = Result<(StatusCode, O), ApiError>>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = intake.await;
    let recorded = result.as_ref().map(|(_, outcome)| outcome);
    state.metrics.record(endpoint, started.elapsed(), recorded);
    let (status, outcome) = result?;
    Ok((status, Json(outcome)).into_response())
}

/// A permit to receive one document, held until the response is built. When every slot is
/// taken the document waits up to [`SLOT_WAIT`], if the documents already waiting are few
/// enough to be served within it ([`Pacer::may_wait`]); otherwise, or when the wait runs out,
/// the agent is told when to come back, at the pace the collector is serving (see
/// [`Pacer`]).
async fn intake_slot(state: &AppState) -> Result<Slot, ApiError> {
    let admission = &*ADMISSION;
    if let Ok(permit) = state.intake.clone().try_acquire_owned() {
        return Ok(Slot::new(permit));
    }
    let waiting = Waiting::enter(&admission.waiting);
    if !admission.may_wait(waiting.ahead) {
        drop(waiting);
        return Err(refuse(admission).await);
    }
    let got = tokio::time::timeout(SLOT_WAIT, state.intake.clone().acquire_owned()).await;
    drop(waiting);
    match got {
        Ok(Ok(permit)) => Ok(Slot::new(permit)),
        _ => Err(refuse(admission).await),
    }
}

/// The 429 for a refused document, answered when its booking says (see [`Booking`]); the
/// request holds no slot meanwhile.
async fn refuse(admission: &Admission) -> ApiError {
    let booking = admission.book();
    tokio::time::sleep(Duration::from_secs_f64(booking.hold_secs)).await;
    ApiError::Busy(booking.retry_after)
}

/// How long a document may wait for an intake slot before its agent gets a 429: short, so
/// that an agent hears "later" well within its timeout (and the p99 target of 200 ms).
pub const SLOT_WAIT: Duration = Duration::from_millis(100);
/// Documents that may wait for a slot at once, however fast documents are served: a waiting
/// request holds a connection but not yet its body.
pub const MAX_WAITING: usize = 8 * super::INTAKE_SLOTS as usize;
/// Documents that may always wait, however slowly documents are served.
pub const MIN_WAITING: usize = 2 * super::INTAKE_SLOTS as usize;
/// The longest wait a 429 asks for, whatever the backlog.
pub const MAX_RETRY_AFTER_SECS: u64 = 120;

/// An intake slot, and when it was granted (its service time paces [`Pacer`]).
struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    since: Instant,
}

impl Slot {
    fn new(permit: tokio::sync::OwnedSemaphorePermit) -> Slot {
        Slot {
            _permit: permit,
            since: Instant::now(),
        }
    }

    /// The document is stored: its time in the slot tells how fast the collector serves.
    fn served(&self) {
        ADMISSION.served(self.since.elapsed());
    }
}

/// Counts a waiting document for as long as it waits, even if its request is dropped.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// Documents that were already waiting.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Waiting<'a> {
        let ahead = count.fetch_add(1, Ordering::AcqRel);
        Waiting { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The admission state of this process. One per process rather than in [`AppState`]: a
/// process serves one collector (tests that build several states share it, which can only
/// lengthen a Retry-After).
static ADMISSION: LazyLock<Admission> = LazyLock::new(|| Admission {
    origin: Instant::now(),
    waiting: AtomicUsize::new(0),
    pacer: Mutex::new(Pacer::new()),
});

struct Admission {
    origin: Instant,
    waiting: AtomicUsize,
    pacer: Mutex<Pacer>,
}

impl Admission {
    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    fn may_wait(&self, ahead: usize) -> bool {
        self.pacer.lock().expect("pacer lock").may_wait(ahead)
    }

    fn book(&self) -> Booking {
        let now = self.now();
        self.pacer.lock().expect("pacer lock").book(now)
    }

    fn served(&self, took: Duration) {
        self.pacer
            .lock()
            .expect("pacer lock")
            .served(took.as_secs_f64());
    }
}

/// Hands refused agents return times at the pace documents are being stored, so that a storm
/// of agents comes back spread out instead of all at once after the same Retry-After (with a
/// fixed value, every agent refused in the first second of a storm returns in the same second
/// and is refused again: measured, 1.3 documents/s for 300 agents).
///
/// Each 429 books the next free return time, at least [`RETRY_AFTER_SECS`] away, and moves it
/// on by one service interval (1 / rate); the rate is [`INTAKE_SLOTS`] over the moving average
/// of the time documents spend in a slot. Times are seconds since an arbitrary origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    next_free: f64,
    service_secs: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

impl Pacer {
    /// Until documents are measured: 10 per slot and second, a cautious guess.
    const INITIAL_SERVICE_SECS: f64 = 0.1;
    /// Weight of the newest service time in the moving average.
    const ALPHA: f64 = 0.05;

    pub fn new() -> Pacer {
        Pacer {
            next_free: 0.0,
            service_secs: Self::INITIAL_SERVICE_SECS,
        }
    }

    /// Documents per second the slots are serving.
    pub fn rate(&self) -> f64 {
        f64::from(INTAKE_SLOTS) / self.service_secs
    }

    /// Whether a document with `ahead` documents already waiting for a slot should wait too:
    /// when they can be served within [`SLOT_WAIT`] at the current rate, bounded by
    /// [`MIN_WAITING`] and [`MAX_WAITING`]. A 429 costs the agent a new request (a new
    /// connection and TLS handshake) a second later, so it is kept for a backlog a short wait
    /// would not clear: in a storm of 64 agents at once, a fixed 16 refused about one request
    /// per document stored.
    pub fn may_wait(&self, ahead: usize) -> bool {
        let served_within_wait = (self.rate() * SLOT_WAIT.as_secs_f64()).round() as usize;
        ahead < served_within_wait.clamp(MIN_WAITING, MAX_WAITING)
    }

    /// Books a return time for an agent refused at `now`.
    pub fn book(&mut self, now: f64) -> Booking {
        // Bookings never run further ahead than the longest wait: an agent refused again on
        // its return books a second time, so the booked times can outgrow the real backlog
        // (the 10,000-agent storm of docs/benchmarks.md was refused ~28,000 times at ~24
        // documents/s: ~1,150 s of bookings for a 415 s storm).
        let at = self
            .next_free
            .min(now + MAX_RETRY_AFTER_SECS as f64)
            .max(now + RETRY_AFTER_SECS as f64);
        self.next_free = at + 1.0 / self.rate();
        // A microsecond of slack: `now + 10 - now` may come out a hair below 10.
        let ahead = at - now;
        let whole = (ahead + 1e-6).floor().max(1.0);
        Booking {
            retry_after: (whole as u64).min(MAX_RETRY_AFTER_SECS),
            hold_secs: (ahead - whole).clamp(0.0, 1.0),
        }
    }

    /// A document spent `secs` in its slot.
    pub fn served(&mut self, secs: f64) {
        let average = self.service_secs + Self::ALPHA * (secs - self.service_secs);
        self.service_secs = average.clamp(1e-4, 60.0);
    }
}

/// A refused agent's return: Retry-After is whole seconds and agents honour it exactly, so
/// agents refused together would come back together, however their bookings were spread
/// (measured: 2,000 agents at 64 at once were stored at 20 documents/s, each refused 3.4
/// times on average, by a collector that stores 140/s when they arrive spread out: every
/// second's returns arrived as one burst, and beyond the waiting room the burst was refused
/// again). The 429 is therefore answered after `hold_secs` (under a second), so that the
/// agent, waiting `retry_after` from then, returns at its booked instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Booking {
    pub retry_after: u64,
    pub hold_secs: f64,
}

/// A document's site token: authenticated, then held to its rate.
async fn admit(state: &AppState, headers: &HeaderMap) -> Result<Site, ApiError> {
    let site = authenticate(state, headers).await?;
    state
        .limits
        .token(bearer(headers)?)
        .map_err(|l| rate_limited(l, &site.name))?;
    Ok(site)
}

fn rate_limited(l: crate::ratelimit::Limited, who: &str) -> ApiError {
    tracing::warn!(
        limit = l.what,
        who,
        retry_after = l.retry_after_secs,
        "document rate-limited"
    );
    ApiError::RateLimited {
        what: l.what,
        retry_after: l.retry_after_secs,
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header must be \"Bearer <token>\"".into())
        })
}

pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Site, ApiError> {
    let token = bearer(headers)?;
    state
        .store
        .authenticate(token)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
}

/// Reads at most the wire limit, then decompresses and checks the document off the runtime.
async fn read_document<T: intake::Body + Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Document<T>, ApiError> {
    let encoding = Encoding::from_header(
        headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("(not text)")),
    )?;
    let max_document = state.max_document_bytes;
    let wire_limit = encoding.wire_limit(max_document);
    let too_large = IntakeError::TooLarge {
        what: if encoding == Encoding::Gzip {
            "compressed body"
        } else {
            "body"
        },
        limit: wire_limit,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let timeout = state.body_timeout;
    let bytes = tokio::time::timeout(timeout, read_bounded(body, wire_limit, declared))
        .await
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "the request body was not received within {} s",
                timeout.as_secs()
            ))
        })??
        .ok_or(ApiError::Intake(too_large))?;
    let (doc, bytes) = tokio::task::spawn_blocking(move || {
        crate::priority::lower_current_thread();
        let doc = match encoding {
            Encoding::Identity => intake::parse::<T>(&bytes),
            Encoding::Gzip => intake::parse::<T>(&intake::gunzip(&bytes, max_document)?),
        }?;
        Ok::<_, IntakeError>((doc, bytes))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    state
        .limits
        .agent(doc.header.agent_id)
        .map_err(|l| rate_limited(l, &doc.header.agent_id.to_string()))?;
    // Here, so that every document endpoint checks it: the agent id is known only once the
    // document is parsed, and the signature covers the bytes as received.
    super::agents::check_document(state, headers, doc.header.agent_id, &bytes).await?;
    Ok(doc)
}

/// After a body passes the limit, up to this much more is read and thrown away so that the
/// client, still sending, gets to read the 413 instead of a connection reset.
const DRAIN_CAP: u64 = 64 * 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the body into memory if it fits in `limit` bytes; None when it does not. Memory use
/// is bounded by the limit whatever the client sends or declares.
async fn read_bounded(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let read_error =
        |e: axum::Error| ApiError::BadRequest(format!("could not read the request body: {e}"));
    if declared.is_some_and(|n| n > limit as u64) {
        if declared.is_some_and(|n| n <= DRAIN_CAP) {
            drain(body).await;
        }
        return Ok(None);
    }
    let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(read_error)?.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drop(buf);
            drain(body).await;
            return Ok(None);
        }
        buf.extend_from_slice(&data);
    }
    Ok(Some(buf))
}

async fn drain(mut body: Body) {
    let discard = async {
        let mut seen: u64 = 0;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > DRAIN_CAP {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_wait_for_a_slot_when_the_backlog_clears_within_the_wait() {
        // (seconds a document spends in its slot, documents already waiting, may wait)
        let cases = [
            // 8 slots at 100 ms: 80/s, 8 served within 100 ms; the floor lets 16 wait.
            (0.1, 0, true),
            (0.1, MIN_WAITING - 1, true),
            (0.1, MIN_WAITING, false),
            // 8 slots at 20 ms: 400/s, 40 served within 100 ms.
            (0.02, 39, true),
            (0.02, 40, false),
            // 8 slots at 1 ms: 8,000/s; the cap holds.
            (0.001, MAX_WAITING - 1, true),
            (0.001, MAX_WAITING, false),
            // Minutes per document: the floor still holds.
            (60.0, MIN_WAITING - 1, true),
            (60.0, MIN_WAITING, false),
        ];
        for (service, ahead, expected) in cases {
            let mut p = Pacer::new();
            for _ in 0..1000 {
                p.served(service);
            }
            assert_eq!(p.may_wait(ahead), expected, "{service} s, {ahead} ahead");
        }
    }

    #[test]
    fn refused_agents_are_booked_at_the_serving_pace() {
        let mut p = Pacer::new();
        // 8 slots, 50 ms each: 160 documents/s.
        for _ in 0..500 {
            p.served(0.05);
        }
        assert!((p.rate() - 160.0).abs() < 1.0, "{}", p.rate());
        // A storm's first second: 480 refusals, in bursts of 48 within a millisecond every
        // 100 ms, come back spread out at the serving pace, not in bursts.
        let refused: Vec<f64> = (0..480)
            .map(|i| 100.0 + (i / 48) as f64 * 0.1 + (i % 48) as f64 * 1e-5)
            .collect();
        let bookings: Vec<Booking> = refused.iter().map(|&t| p.book(t)).collect();
        assert_eq!(bookings[0].retry_after, RETRY_AFTER_SECS);
        assert_eq!(bookings[0].hold_secs, 0.0);
        let returns: Vec<f64> = refused
            .iter()
            .zip(&bookings)
            .map(|(t, b)| {
                assert!(b.retry_after >= RETRY_AFTER_SECS && b.retry_after <= MAX_RETRY_AFTER_SECS);
                assert!((0.0..1.0).contains(&b.hold_secs), "{b:?}");
                t + b.hold_secs + b.retry_after as f64
            })
            .collect();
        for pair in returns.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((gap - 1.0 / 160.0).abs() < 1e-4, "returns {gap} s apart");
        }
        // Later, with the backlog gone, the wait is the minimum again.
        assert_eq!(
            p.book(1000.0),
            Booking {
                retry_after: RETRY_AFTER_SECS,
                hold_secs: 0.0
            }
        );
    }

    #[test]
    fn a_stalled_collector_asks_for_longer_waits_up_to_a_bound() {
        let mut p = Pacer::new();
        for _ in 0..200 {
            p.served(30.0);
        }
        let waits: Vec<u64> = (0..300).map(|_| p.book(0.0).retry_after).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert!(waits[10] > 30, "{waits:?}");
        assert_eq!(*waits.last().unwrap(), MAX_RETRY_AFTER_SECS);
    }

    #[test]
    fn bookings_do_not_run_ahead_of_the_longest_wait() {
        let mut p = Pacer::new();
        for _ in 0..100_000 {
            p.book(0.0);
        }
        assert_eq!(p.book(0.0).retry_after, MAX_RETRY_AFTER_SECS);
        // Once that time has passed, a refusal waits no longer than the bound from now.
        assert!(p.book(200.0).retry_after <= MAX_RETRY_AFTER_SECS);
        assert_eq!(p.book(2_000.0).retry_after, RETRY_AFTER_SECS);
    }

    #[test]
    fn the_first_refusal_asks_for_the_minimum() {
        assert_eq!(Pacer::new().book(12_345.678).retry_after, RETRY_AFTER_SECS);
    }
}
