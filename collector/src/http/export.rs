//! `GET /api/v1/assets/export` (a filtered asset list as CSV or JSON, streamed) and
//! `GET /api/v1/assets/{id}/glpi` (a computer as a GLPI native inventory document).
//!
//! An export reads the list in batches of [`BATCH`] assets by id and writes each batch to the
//! response as it goes, through a channel of two chunks: a 50,000-asset export holds one batch
//! in memory, and a slow client slows the reads instead of piling up rows.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::assets::{check_query, ListQuery};
use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::export::Format;
use crate::store::assets::{AssetFilter, AssetSummary};
use crate::store::Store;

/// Assets read per query.
pub const BATCH: u32 = 500;

/// Export-only parameters; the filters are the list's own ([`ListQuery`]).
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    // Taken as text only to refuse them: an export has every matching asset.
    page: Option<String>,
    per_page: Option<String>,
}

pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    options: Result<Query<ExportQuery>, QueryRejection>,
    list: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(options) = options.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if options.page.is_some() || options.per_page.is_some() {
        return Err(ApiError::BadRequest(
            "an export has every matching asset: page and per_page do not apply".into(),
        ));
    }
    let format = Format::parse(options.format.as_deref()).map_err(ApiError::BadRequest)?;
    let Query(list) = list.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut filter = check_query(list).map_err(ApiError::BadRequest)?;
    filter.scope = Some(principal.scope(Role::Viewer));

    // The first batch before the headers: a database error is still a clean 500 here, while
    // later it can only cut the body short.
    let first = state.store.list_assets_after(&filter, 0, BATCH).await?;
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(write_batches(
        state.store.clone(),
        filter,
        format,
        first,
        tx,
    ));

    let filename = format!(
        "parc-assets-{}.{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .expect("ASCII file name");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Encodes `first`, then reads and encodes the following batches until one is short. Stops
/// when the client goes away; a database error ends the body early, which clients see as a
/// broken transfer rather than a short file that looks complete.
async fn write_batches(
    store: Store,
    filter: AssetFilter,
    format: Format,
    first: Vec<AssetSummary>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut batch = first;
    let mut is_first = true;
    let mut sent = 0usize;
    loop {
        let last = batch.len() < BATCH as usize;
        let after = batch.last().map(|a| a.id);
        let chunk = format.encode(&batch, is_first, last);
        sent += batch.len();
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            tracing::debug!(sent, "export client went away");
            return;
        }
        let Some(after) = after.filter(|_| !last) else {
            tracing::debug!(sent, ?format, "export finished");
            return;
        };
        is_first = false;
        batch = match store.list_assets_after(&filter, after, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, sent, "export failed");
                let _ = tx
                    .send(Err(std::io::Error::other(
                        "export failed; see the collector's log",
                    )))
                    .await;
                return;
            }
        };
    }
}

pub async fn glpi(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id
        .map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("asset id must be an integer".into()))?;
    super::assets::asset_entity_for(&state, &principal, Role::Viewer, id).await?;
    let record = state
        .store
        .computer_record(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    match record.glpi() {
        Some(doc) => Ok(Json(doc).into_response()),
        // Not an `ApiError` variant yet: the only 422 outside document intake.
        None => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "no_agent_inventory",
                "message": format!(
                    "asset {id} ({}) has no agent inventory: only computers that run the Parc \
                     agent can be exported as GLPI inventories",
                    record.kind
                ),
            })),
        )
            .into_response()),
    }
}
