//! Lifecycle reports (viewer and up), limited to the entities the caller may read:
//! `GET /api/v1/reports/unmanaged?site=`, `/api/v1/reports/silent-agents`,
//! `/api/v1/reports/stale` (thresholds from `[lifecycle]`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::reports::{SilentReport, StaleReport, UnmanagedReport};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnmanagedQuery {
    site: Option<String>,
}

pub async fn unmanaged(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<UnmanagedQuery>, QueryRejection>,
) -> Result<Json<UnmanagedReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let site = q.site.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if site.is_some_and(|s| s.chars().count() > 256) {
        return Err(ApiError::BadRequest(
            "site is longer than 256 characters".into(),
        ));
    }
    let scope = principal.scope(Role::Viewer);
    Ok(Json(state.store.report_unmanaged(&scope, site).await?))
}

pub async fn silent_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SilentReport>, ApiError> {
    let scope = principal.scope(Role::Viewer);
    let days = state.lifecycle.silent_after_days;
    Ok(Json(
        state
            .store
            .report_silent_agents(&scope, Utc::now(), days)
            .await?,
    ))
}

pub async fn stale(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<StaleReport>, ApiError> {
    let scope = principal.scope(Role::Viewer);
    let days = state.lifecycle.stale_after_days;
    Ok(Json(
        state.store.report_stale(&scope, Utc::now(), days).await?,
    ))
}
