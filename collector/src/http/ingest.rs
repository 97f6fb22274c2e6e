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
use std::time::{Duration, Instant};

use super::AppState;
use crate::error::ApiError;
use crate::intake::{self, Encoding, IntakeError};
use crate::metrics::{Endpoint, Recorded};
use crate::store::discovery::DiscoveryOutcome;
use crate::store::inventory::InventoryOutcome;
use crate::store::snmp::SnmpOutcome;
use crate::store::tokens::Site;

#[tracing::instrument(skip_all, fields(site))]
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
    let _slot = intake_slot(state)?;
    let doc: Document<Inventory> = read_document(state, &headers, body).await?;
    let outcome = state.store.ingest_inventory(&site, &doc).await?;
    tracing::info!(
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

#[tracing::instrument(skip_all, fields(site))]
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
    let _slot = intake_slot(state)?;
    let doc: Document<Discovery> = read_document(state, &headers, body).await?;
    let outcome = state.store.ingest_discovery(&site, &doc).await?;
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

#[tracing::instrument(skip_all, fields(site))]
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
    let _slot = intake_slot(state)?;
    let doc: Document<SnmpDevice> = read_document(state, &headers, body).await?;
    let outcome = state.store.ingest_snmp(&site, &doc).await?;
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

/// A permit to receive one document, held until the response is built.
fn intake_slot(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state
        .intake
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy(super::RETRY_AFTER_SECS))
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
