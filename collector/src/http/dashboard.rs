//! `GET /api/v1/dashboard`: the fleet at a glance, for what the caller may see (viewer and up,
//! scoped to the caller's entities). See [`crate::store::dashboard`] for the figures.

use axum::extract::State;
use axum::Json;
use chrono::Utc;

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::dashboard::Dashboard;

pub async fn dashboard(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Dashboard>, ApiError> {
    let scope = principal.scope(Role::Viewer);
    Ok(Json(state.store.dashboard(&scope, Utc::now()).await?))
}
