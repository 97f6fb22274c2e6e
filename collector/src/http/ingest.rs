//! Document intake endpoints. Order matters: the token is checked before the body is read, and
//! the body is fully checked before the store is called, so a refused request writes nothing.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parc_shared::{Discovery, Document, Inventory};

use super::AppState;
use crate::error::ApiError;
use crate::intake::{self, Encoding, IntakeError};
use crate::store::tokens::Site;

#[tracing::instrument(skip_all, fields(site))]
pub async fn post_inventory(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let site = authenticate(&state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let doc: Document<Inventory> = read_document(&state, &headers, body).await?;
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
    Ok((status, Json(outcome)).into_response())
}

#[tracing::instrument(skip_all, fields(site))]
pub async fn post_discovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let site = authenticate(&state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let doc: Document<Discovery> = read_document(&state, &headers, body).await?;
    let outcome = state.store.ingest_discovery(&site, &doc).await?;
    tracing::info!(
        document_id = %doc.header.document_id,
        hosts = outcome.hosts,
        created = outcome.created,
        matched = outcome.matched,
        duplicate = outcome.duplicate,
        "sweep accepted"
    );
    Ok((StatusCode::OK, Json(outcome)).into_response())
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Site, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header must be \"Bearer <token>\"".into())
        })?;
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
    // Refuse early when the client says how much it will send.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > wire_limit as u64) {
        return Err(too_large.into());
    }
    let bytes = axum::body::to_bytes(body, wire_limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            ApiError::Intake(too_large.clone())
        } else {
            ApiError::BadRequest(format!("could not read the request body: {inner}"))
        }
    })?;
    tokio::task::spawn_blocking(move || {
        let doc = match encoding {
            Encoding::Identity => intake::parse::<T>(&bytes),
            Encoding::Gzip => intake::parse::<T>(&intake::gunzip(&bytes, max_document)?),
        }?;
        Ok::<_, IntakeError>(doc)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(ApiError::from)
}
