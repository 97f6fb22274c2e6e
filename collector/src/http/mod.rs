//! The HTTP API (axum).
//!
//! - [`ingest`]: `POST /api/v1/inventories`, `/api/v1/discoveries` and `/api/v1/snmp`: bearer
//!   token, bounded body, intake checks, then the store.
//! - [`assets`]: `GET /api/v1/assets`, `/api/v1/assets/{id}`, `/api/v1/assets/{id}/history`,
//!   filtered to the entities the caller may read.
//! - [`session`]: `POST|DELETE /api/v1/session` (sign in and out), `GET /api/v1/me`.
//! - [`users`]: users, their roles, API tokens.
//! - [`org`]: entities, sites (and their agent tokens), subnets, departments, locations,
//!   agent revocation, the audit log.
//!
//! Every route takes a [`crate::auth::Principal`] (session cookie or API token) except
//! `/healthz`, `/api/v1/openapi.json`, the web UI's static files, sign-in, and the agents' own
//! routes (site tokens).
//! - [`export`]: `GET /api/v1/assets/export?format=csv|json&<list filters>` (every matching
//!   asset, streamed) and `GET /api/v1/assets/{id}/glpi` (GLPI native inventory). Same
//!   authentication as the other reads.
//! - [`agents`]: `POST /api/v1/agents/enroll` (an agent registers its key) and the signature
//!   check every document endpoint runs.
//! - [`manage`]: `PATCH /api/v1/assets/{id}` (manual fields, state), `POST
//!   /api/v1/assets/{id}/merge` and `/split`, `POST /api/v1/operations/{id}/undo`.
//! - [`reports`]: `GET /api/v1/reports/unmanaged`, `/silent-agents`, `/stale` (and
//!   `/clones`, served by [`agents`]).
//!
//! - [`sweeps`]: sweeps started from the web UI (`POST|GET /api/v1/sweeps`,
//!   `GET /api/v1/sweeps/{id}`), a subnet's devices (`GET /api/v1/subnets/{id}/devices`), and
//!   the agents' side of jobs (`POST /api/v1/agents/jobs/claim`, `/api/v1/agents/jobs/{id}/fail`).
//! - [`dashboard`]: `GET /api/v1/dashboard`, the fleet's figures for the caller's entities.
//! - [`ui`]: the web UI, embedded: `GET /` (the page) and `GET /ui/{version}/{file}`.
//! - [`openapi`]: `GET /api/v1/openapi.json`, the OpenAPI description of every route in
//!   [`endpoints`].
//!
//! `GET /healthz` checks the database with a trivial query; `GET /metrics` is
//! [`crate::metrics::scrape`] (a group-wide role or any API token).
//!
//! [`endpoints`] is the one list of routes: the router is built from it and the OpenAPI
//! document is tested against it.

pub mod agents;
pub mod assets;
pub mod dashboard;
pub mod export;
pub mod ingest;
pub mod manage;
pub mod openapi;
pub mod org;
pub mod reports;
pub mod session;
pub mod sweeps;
pub mod ui;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use parc_config::collector::{AbuseLimits, Lifecycle};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

use crate::auth::AuthSettings;
use crate::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::ratelimit::RateLimits;
use crate::store::Store;

/// Documents being received, decompressed and parsed at once. Each may hold up to
/// `max_document_bytes` plus its parsed form in memory, and writes are serialised anyway, so
/// more would only cost memory. Beyond it agents get 429 with Retry-After and try later.
pub const INTAKE_SLOTS: u32 = 8;
/// The shortest wait a refused agent is asked for; under a backlog the pacer (`ingest::Pacer`)
/// books later returns. Short, because a longer floor idles the collector: at 10 s, the agents
/// refused in a storm's first second were away while the few new ones were served (about 10 s
/// of a 75 s storm of 10,000 agents).
pub const RETRY_AFTER_SECS: u64 = 1;

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
    pub metrics: Arc<Metrics>,
    /// Stale and silent thresholds (config `[lifecycle]`).
    pub lifecycle: Lifecycle,
    /// Session settings and the failed-login throttle.
    pub auth: Arc<AuthSettings>,
    /// Per-agent and per-token document rates (config `[limits]`).
    pub limits: Arc<RateLimits>,
    /// A document body must be received within this (config `limits.body_timeout_secs`).
    pub body_timeout: Duration,
    /// A request head must be received within this (config `limits.header_timeout_secs`).
    pub header_timeout: Duration,
}

impl AppState {
    pub fn new(store: Store, max_document_bytes: usize) -> AppState {
        AppState {
            store,
            max_document_bytes,
            intake: Arc::new(Semaphore::new(INTAKE_SLOTS as usize)),
            require_enrolment: false,
            metrics: Arc::new(Metrics::new()),
            lifecycle: Lifecycle::default(),
            auth: Arc::new(AuthSettings::default()),
            limits: Arc::new(RateLimits::off()),
            body_timeout: AbuseLimits::default().body_timeout,
            header_timeout: AbuseLimits::default().header_timeout,
        }
    }

    /// Rate limits and the body timeout of `[limits]` (without them, as [`AppState::new`]
    /// makes it for tests, documents are not rate-limited).
    pub fn abuse_limits(mut self, limits: &AbuseLimits) -> AppState {
        self.limits = Arc::new(RateLimits::new(limits.per_agent, limits.per_token));
        self.body_timeout = limits.body_timeout;
        self.header_timeout = limits.header_timeout;
        self
    }

    pub fn require_enrolment(mut self, required: bool) -> AppState {
        self.require_enrolment = required;
        self
    }

    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> AppState {
        self.lifecycle = lifecycle;
        self
    }
}

/// One route: its method and path, and the handler bound to exactly that method.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

fn endpoint<H, T>(method: Method, path: &'static str, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
    Endpoint {
        method,
        path,
        handler: on(filter, handler),
    }
}

/// Every route the API serves. Add new ones here (and to `openapi/openapi.json`, which a test
/// holds to this list).
pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        endpoint(M::GET, "/", ui::index),
        endpoint(M::GET, "/ui/{version}/{file}", ui::file),
        endpoint(M::GET, "/healthz", healthz),
        endpoint(M::GET, "/metrics", metrics::scrape),
        endpoint(M::GET, "/api/v1/openapi.json", openapi::document),
        endpoint(M::POST, "/api/v1/inventories", ingest::post_inventory),
        endpoint(M::POST, "/api/v1/discoveries", ingest::post_discovery),
        endpoint(M::POST, "/api/v1/snmp", ingest::post_snmp),
        endpoint(M::GET, "/api/v1/dashboard", dashboard::dashboard),
        endpoint(M::GET, "/api/v1/assets", assets::list),
        endpoint(M::GET, "/api/v1/assets/export", export::export),
        endpoint(M::GET, "/api/v1/assets/{id}", assets::detail),
        endpoint(M::PATCH, "/api/v1/assets/{id}", manage::patch),
        endpoint(M::POST, "/api/v1/assets/{id}/merge", manage::merge),
        endpoint(M::POST, "/api/v1/assets/{id}/split", manage::split),
        endpoint(M::POST, "/api/v1/operations/{id}/undo", manage::undo),
        endpoint(M::GET, "/api/v1/reports/unmanaged", reports::unmanaged),
        endpoint(
            M::GET,
            "/api/v1/reports/silent-agents",
            reports::silent_agents,
        ),
        endpoint(M::GET, "/api/v1/reports/stale", reports::stale),
        endpoint(M::GET, "/api/v1/reports/clones", agents::clones),
        endpoint(M::GET, "/api/v1/assets/{id}/glpi", export::glpi),
        endpoint(M::GET, "/api/v1/assets/{id}/history", assets::history),
        endpoint(M::POST, "/api/v1/agents/enroll", agents::enroll),
        endpoint(M::POST, "/api/v1/agents/jobs/claim", sweeps::claim),
        endpoint(M::POST, "/api/v1/agents/jobs/{id}/fail", sweeps::fail),
        endpoint(M::POST, "/api/v1/sweeps", sweeps::create),
        endpoint(M::GET, "/api/v1/sweeps", sweeps::list),
        endpoint(M::GET, "/api/v1/sweeps/{id}", sweeps::detail),
        endpoint(
            M::GET,
            "/api/v1/subnets/{id}/devices",
            sweeps::subnet_devices,
        ),
        // Users and access (issue #7).
        endpoint(M::POST, "/api/v1/session", session::sign_in),
        endpoint(M::DELETE, "/api/v1/session", session::sign_out),
        endpoint(M::GET, "/api/v1/me", session::me),
        endpoint(M::GET, "/api/v1/users", users::list),
        endpoint(M::POST, "/api/v1/users", users::create),
        endpoint(M::PATCH, "/api/v1/users/{id}", users::update),
        endpoint(M::PUT, "/api/v1/users/{id}/roles", users::set_role),
        endpoint(M::GET, "/api/v1/api-tokens", users::list_tokens),
        endpoint(M::POST, "/api/v1/api-tokens", users::create_token),
        endpoint(M::DELETE, "/api/v1/api-tokens/{id}", users::revoke_token),
        endpoint(M::GET, "/api/v1/entities", org::list_entities),
        endpoint(M::POST, "/api/v1/entities", org::create_entity),
        endpoint(M::PATCH, "/api/v1/entities/{id}", org::rename_entity),
        endpoint(M::DELETE, "/api/v1/entities/{id}", org::delete_entity),
        endpoint(M::GET, "/api/v1/sites", org::list_sites),
        endpoint(M::POST, "/api/v1/sites", org::create_site),
        endpoint(M::PATCH, "/api/v1/sites/{id}", org::update_site),
        endpoint(M::DELETE, "/api/v1/sites/{id}", org::delete_site),
        endpoint(M::POST, "/api/v1/sites/{id}/tokens", org::create_site_token),
        endpoint(M::DELETE, "/api/v1/tokens/{id}", org::revoke_site_token),
        endpoint(M::POST, "/api/v1/agents/{id}/revoke", org::revoke_agent),
        endpoint(M::GET, "/api/v1/subnets", org::list_subnets),
        endpoint(M::POST, "/api/v1/subnets", org::create_subnet),
        endpoint(M::DELETE, "/api/v1/subnets/{id}", org::delete_subnet),
        endpoint(M::GET, "/api/v1/departments", org::list_departments),
        endpoint(M::POST, "/api/v1/departments", org::create_department),
        endpoint(M::PATCH, "/api/v1/departments/{id}", org::update_department),
        endpoint(
            M::DELETE,
            "/api/v1/departments/{id}",
            org::delete_department,
        ),
        endpoint(M::GET, "/api/v1/locations", org::list_locations),
        endpoint(M::POST, "/api/v1/locations", org::create_location),
        endpoint(M::PATCH, "/api/v1/locations/{id}", org::update_location),
        endpoint(M::DELETE, "/api/v1/locations/{id}", org::delete_location),
        endpoint(M::GET, "/api/v1/audit", org::audit),
    ]
}

pub fn router(state: AppState) -> Router {
    endpoints()
        .into_iter()
        // Two methods on one path merge into one method router.
        .fold(Router::new(), |r, e| r.route(e.path, e.handler))
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
