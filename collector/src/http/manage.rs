//! Changing assets by hand: manual fields and lifecycle (technician), merge, split and undo
//! (admin). Every change is in the asset's history with the user, and in the audit log.
//!
//! Access: an asset the caller may not read answers 404 (as the read endpoints do), one it may
//! read but not change 403.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::lifecycle::manual::{self, RawPatch};
use crate::store::lifecycle::{is_stale, PatchError};
use crate::store::operations::{OpError, OpOutcome};

fn path_id(id: Result<Path<i64>, PathRejection>, what: &str) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest(format!("{what} id must be an integer")))
}

/// A body that is not JSON is a 400; JSON with wrong or unknown fields a 422 naming them.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match b {
        Ok(Json(t)) => Ok(t),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            Err(ApiError::Unprocessable(e.body_text()))
        }
        Err(e) => Err(ApiError::BadRequest(e.body_text())),
    }
}

/// The entity of an asset the principal may read; 404 otherwise, whether it exists or not.
pub(crate) async fn readable_entity(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<i64, ApiError> {
    match state.store.asset_entity(id).await? {
        Some(e) if p.can(Role::Viewer, e) => Ok(e),
        _ => Err(ApiError::NotFound(format!("no asset with id {id}"))),
    }
}

/// Adds `stale` (config `[lifecycle] stale_after_days`) to an asset's detail.
pub fn insert_stale(detail: &mut Value, stale_after_days: u32) {
    let stale = detail["last_seen"]
        .as_str()
        .is_some_and(|l| is_stale(l, Utc::now(), stale_after_days));
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("stale".into(), json!(stale));
    }
}

async fn detail(state: &AppState, id: i64) -> Result<Value, ApiError> {
    let mut v = state
        .store
        .asset_detail(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    insert_stale(&mut v, state.lifecycle.stale_after_days);
    Ok(v)
}

/// `PATCH /api/v1/assets/{id}`: manual fields and state; answers the updated detail.
pub async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
    raw: Result<Json<RawPatch>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id, "asset")?;
    let entity = readable_entity(&state, &principal, id).await?;
    principal.require(Role::Technician, entity)?;
    let now = Utc::now();
    let patch =
        manual::check(body(raw)?, now).map_err(|p| ApiError::Unprocessable(p.join("; ")))?;
    match state
        .store
        .patch_asset(id, entity, &patch, &principal, now)
        .await
    {
        Ok(_) => {}
        Err(PatchError::NotFound(id)) => {
            return Err(ApiError::NotFound(format!("no asset with id {id}")))
        }
        Err(e @ PatchError::Invalid(_)) => return Err(ApiError::Unprocessable(e.to_string())),
        Err(PatchError::Db(e)) => return Err(e.into()),
    }
    Ok(Json(detail(&state, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The asset merged into the one in the path, then deleted.
    from: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    /// Ids of the asset's sources that belong to another machine.
    sources: Vec<i64>,
}

fn op_error(e: OpError) -> ApiError {
    match e {
        OpError::NotFound(m) => ApiError::NotFound(m),
        OpError::Invalid(m) => ApiError::Unprocessable(m),
        OpError::Refused(r) => ApiError::Conflict(r.to_string()),
        OpError::Db(e) => e.into(),
    }
}

fn outcome(o: OpOutcome) -> (StatusCode, Json<OpOutcome>) {
    (StatusCode::OK, Json(o))
}

/// `POST /api/v1/assets/{id}/merge` {from}: admin of both assets' entities.
pub async fn merge(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
    raw: Result<Json<MergeBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OpOutcome>), ApiError> {
    let id = path_id(id, "asset")?;
    let entity = readable_entity(&state, &principal, id).await?;
    let MergeBody { from } = body(raw)?;
    if from == id {
        return Err(ApiError::Unprocessable(
            "from is the asset itself: name another asset".into(),
        ));
    }
    let from_entity = readable_entity(&state, &principal, from).await?;
    principal.require(Role::Admin, entity)?;
    principal.require(Role::Admin, from_entity)?;
    state
        .store
        .merge_assets(id, from, entity, &principal, Utc::now())
        .await
        .map(outcome)
        .map_err(op_error)
}

/// `POST /api/v1/assets/{id}/split` {sources}: admin of the asset's entity.
pub async fn split(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
    raw: Result<Json<SplitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OpOutcome>), ApiError> {
    let id = path_id(id, "asset")?;
    let entity = readable_entity(&state, &principal, id).await?;
    principal.require(Role::Admin, entity)?;
    let SplitBody { sources } = body(raw)?;
    state
        .store
        .split_asset(id, &sources, entity, &principal, Utc::now())
        .await
        .map(outcome)
        .map_err(op_error)
}

/// `POST /api/v1/operations/{id}/undo`: admin of the entity of the asset the operation kept.
pub async fn undo(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<(StatusCode, Json<OpOutcome>), ApiError> {
    let id = path_id(id, "operation")?;
    let not_found = || ApiError::NotFound(format!("no operation with id {id}"));
    let (_, entity) = state.store.operation(id).await?.ok_or_else(not_found)?;
    // The kept asset is gone only when a later merge took it, which blocks the undo anyway;
    // without an entity to check, only a group-wide admin goes on to hear that.
    let entity = match entity {
        Some(e) if principal.can(Role::Viewer, e) => {
            principal.require(Role::Admin, e)?;
            e
        }
        None if principal.is_group(Role::Admin) => 0,
        _ => return Err(not_found()),
    };
    state
        .store
        .undo_operation(id, entity, &principal, Utc::now())
        .await
        .map(outcome)
        .map_err(op_error)
}
