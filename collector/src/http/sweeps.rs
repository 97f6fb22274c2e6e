//! Sweeps started from the web UI and the network view (issue #8).
//!
//! Users (a [`Principal`]): `POST /api/v1/sweeps` queues a job (technician of the site's
//! entity; targets inside the site's subnets, at most a /16; audited), `GET /api/v1/sweeps`
//! lists jobs and scheduled sweeps of the caller's entities, `GET /api/v1/sweeps/{id}` is a job
//! with the hosts it found, `GET /api/v1/subnets/{id}/devices` the assets with an address in a
//! subnet. Another entity's job or subnet answers 404.
//!
//! Agents (site token, and the agent's signature once enrolled, as for documents):
//! `POST /api/v1/agents/jobs/claim` hands out the oldest queued job of the token's site (204
//! when there is none), `POST /api/v1/agents/jobs/{id}/fail` records why the agent could not run
//! it. The result itself is a discovery document carrying the job id
//! ([`crate::store::sweep_jobs::record_sweep`]).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use parc_shared::discovery::{JobClaim, JobFailure};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::sweep_jobs::{check_targets, FailOutcome, SweepFilter};

/// Bounds the agents' job requests and the UI's job creation: a few short strings.
const MAX_BODY_BYTES: usize = 16 * 1024;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const DEFAULT_DEVICES: usize = 1000;
const MAX_DEVICES: usize = 10_000;

fn parse_body<T: DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "body larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body must be {shape}: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSweep {
    site_id: i64,
    targets: Vec<String>,
}

/// `POST /api/v1/sweeps` {site_id, targets}: 202 {id, state: "queued"}.
#[tracing::instrument(skip_all, fields(user = %principal.login))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: NewSweep = parse_body(
        &body,
        r#"{"site_id": ID, "targets": ["CIDR" | "a.b.c.d" | "a.b.c.d-e.f.g.h", ...]}"#,
    )?;
    let no_site = || ApiError::NotFound(format!("no site {}", request.site_id));
    let site = state
        .store
        .site_subnets(request.site_id)
        .await?
        .ok_or_else(no_site)?;
    if !principal.can(Role::Viewer, site.entity_id) {
        return Err(no_site());
    }
    principal.require(Role::Technician, site.entity_id)?;
    let targets =
        check_targets(&request.targets, &site.subnets).map_err(ApiError::Unprocessable)?;
    let id = state
        .store
        .create_sweep_job(&principal, &site, &targets)
        .await?;
    tracing::info!(
        job_id = id,
        site_id = site.site_id,
        ?targets,
        "sweep job queued"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "state": "queued"})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    site: Option<i64>,
    subnet: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/v1/sweeps?site=&subnet=&limit=`: jobs and scheduled sweeps, newest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let scope = principal.scope(Role::Viewer);
    let mut filter = SweepFilter {
        site_id: query.site,
        subnet: None,
        limit,
    };
    if let Some(id) = query.subnet {
        let subnet = state
            .store
            .subnet_info(id)
            .await?
            .filter(|s| scope.contains(s.entity_id))
            .ok_or_else(|| ApiError::NotFound(format!("no subnet {id}")))?;
        if query.site.is_some_and(|site| site != subnet.site_id) {
            return Ok(Json(json!({"items": []})));
        }
        let net = subnet.net.ok_or_else(|| {
            ApiError::Unprocessable(format!("subnet {id} has no valid CIDR ({:?})", subnet.cidr))
        })?;
        filter.site_id = Some(subnet.site_id);
        filter.subnet = Some(net);
    }
    let items = state.store.list_sweeps(&scope, &filter, Utc::now()).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /api/v1/sweeps/{id}`: the job and the hosts it found.
pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, job) = state
        .store
        .sweep_job(id, Utc::now())
        .await?
        .filter(|(entity, _)| principal.can(Role::Viewer, *entity))
        .ok_or_else(|| ApiError::NotFound(format!("no sweep job {id}")))?;
    Ok(Json(
        serde_json::to_value(job).map_err(|e| ApiError::Internal(e.into()))?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct DevicesQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/subnets/{id}/devices?limit=`: {subnet, total, items}.
pub async fn subnet_devices(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(query): Query<DevicesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_DEVICES);
    if !(1..=MAX_DEVICES).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_DEVICES}"
        )));
    }
    let subnet = state
        .store
        .subnet_info(id)
        .await?
        .filter(|s| principal.can(Role::Viewer, s.entity_id))
        .ok_or_else(|| ApiError::NotFound(format!("no subnet {id}")))?;
    let (total, items) = state.store.subnet_devices(&subnet, limit).await?;
    Ok(Json(
        json!({"subnet": subnet, "total": total, "items": items}),
    ))
}

/// `POST /api/v1/agents/jobs/claim` {agent_id}: 200 with a [`parc_shared::discovery::SweepJob`]
/// now running under this agent, or 204.
#[tracing::instrument(skip_all, fields(site, agent_id))]
pub async fn claim(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let site = super::ingest::authenticate(&state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let request: JobClaim = parse_body(&body, r#"{"agent_id": UUID}"#)?;
    tracing::Span::current().record("agent_id", request.agent_id.to_string());
    super::agents::check_document(&state, &headers, request.agent_id, &body).await?;
    match state
        .store
        .claim_sweep_job(&site, request.agent_id, Utc::now())
        .await?
    {
        Some(job) => {
            tracing::info!(job_id = job.id, "sweep job claimed");
            Ok(Json(job).into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /api/v1/agents/jobs/{id}/fail` {agent_id, error}: 200 {id, state: "failed"}; 409 when
/// the job is not running under this agent.
#[tracing::instrument(skip_all, fields(site, agent_id, job_id = id))]
pub async fn fail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let site = super::ingest::authenticate(&state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    let request: JobFailure = parse_body(&body, r#"{"agent_id": UUID, "error": "why"}"#)?;
    tracing::Span::current().record("agent_id", request.agent_id.to_string());
    super::agents::check_document(&state, &headers, request.agent_id, &body).await?;
    match state
        .store
        .fail_sweep_job(&site, request.agent_id, id, &request.error)
        .await?
    {
        FailOutcome::Failed | FailOutcome::Again => {
            tracing::warn!(reason = %request.error, "sweep job failed");
            Ok(Json(json!({"id": id, "state": "failed"})).into_response())
        }
        FailOutcome::NoSuchJob => Err(ApiError::NotFound(format!(
            "no sweep job {id} in site {:?}",
            site.name
        ))),
        FailOutcome::NotYours(job_state) => Err(ApiError::Conflict(format!(
            "sweep job {id} is {}, not running under agent {}",
            job_state.as_str(),
            request.agent_id
        ))),
    }
}
