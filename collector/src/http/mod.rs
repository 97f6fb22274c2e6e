//! The HTTP API (axum).
//!
//! - [`ingest`]: `POST /api/v1/inventories`, `/api/v1/discoveries` and `/api/v1/snmp`: bearer
//!   token, bounded body, intake checks, then the store.
//! - [`assets`]: `GET /api/v1/assets`, `/api/v1/assets/{id}`, `/api/v1/assets/{id}/history`.
//!   Reads are not authenticated yet: users and roles come with a later issue, and until then
//!   the collector should listen on an address only trusted networks reach.
//! - [`export`]: `GET /api/v1/assets/export?format=csv|json&<list filters>` (every matching
//!   asset, streamed) and `GET /api/v1/assets/{id}/glpi` (GLPI native inventory). Same
//!   authentication as the other reads.
//! - [`agents`]: `POST /api/v1/agents/enroll` (an agent registers its key) and the signature
//!   check every document endpoint runs.
//!
//! `GET /healthz` checks the database with a trivial query.

pub mod agents;
pub mod assets;
pub mod export;
pub mod ingest;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::store::Store;

/// Documents being received, decompressed and parsed at once. Each may hold up to
/// `max_document_bytes` plus its parsed form in memory, and writes are serialised anyway, so
/// more would only cost memory. Beyond it agents get 429 with Retry-After and try later.
pub const INTAKE_SLOTS: u32 = 8;
/// Seconds a refused agent is asked to wait.
pub const RETRY_AFTER_SECS: u64 = 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Largest accepted document once decompressed (from the configuration).
    pub max_document_bytes: usize,
    /// One permit per document in intake; see [`INTAKE_SLOTS`].
    pub intake: Arc<Semaphore>,
    /// Refuse documents of agents that never enrolled (config `agents.require_enrolment`).
    pub require_enrolment: bool,
}

impl AppState {
    pub fn new(store: Store, max_document_bytes: usize) -> AppState {
        AppState {
            store,
            max_document_bytes,
            intake: Arc::new(Semaphore::new(INTAKE_SLOTS as usize)),
            require_enrolment: false,
        }
    }

    pub fn require_enrolment(mut self, required: bool) -> AppState {
        self.require_enrolment = required;
        self
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/inventories", post(ingest::post_inventory))
        .route("/api/v1/discoveries", post(ingest::post_discovery))
        .route("/api/v1/snmp", post(ingest::post_snmp))
        .route("/api/v1/assets", get(assets::list))
        .route("/api/v1/assets/export", get(export::export))
        .route("/api/v1/assets/{id}", get(assets::detail))
        .route("/api/v1/assets/{id}/glpi", get(export::glpi))
        .route("/api/v1/assets/{id}/history", get(assets::history))
        .route("/api/v1/agents/enroll", post(agents::enroll))
        .fallback(not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(json!({"status": "ok"})))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}
