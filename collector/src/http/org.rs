//! The organisation and its administration.
//!
//! - Entities: `GET /api/v1/entities` (those the caller has a role in), `POST` (group admin),
//!   `PATCH|DELETE /api/v1/entities/{id}` (group admin).
//! - Sites: `GET /api/v1/sites`, `POST` (admin of the entity), `PATCH|DELETE
//!   /api/v1/sites/{id}` (admin of the entity; moving needs admin of both), site agent tokens
//!   `POST /api/v1/sites/{id}/tokens`, `DELETE /api/v1/tokens/{id}`.
//! - Subnets: `GET /api/v1/subnets`, `POST` (admin of the site's entity; no overlap within an
//!   entity), `DELETE /api/v1/subnets/{id}`.
//! - Departments and locations (group-wide): `GET` for anyone signed in, changes by group admins.
//! - `POST /api/v1/agents/{id}/revoke` (admin of the agent's entity).
//! - `GET /api/v1/audit?since=&actor=&action=&limit=` (admins: their entities' entries; group
//!   admins everything).
//!
//! Records of entities the caller cannot see answer 404, as assets do.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::audit::{AuditFilter, MAX_ENTRIES};
use crate::store::org::{parse_cidr, RefKind, SiteInfo};
use crate::store::ts;

/// A JSON body or a 400 naming what is wrong with it.
pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(b)| b)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// An integer id from the path or a 400.
pub fn id_of(id: Result<Path<i64>, PathRejection>, what: &str) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest(format!("{what} id must be an integer")))
}

fn not_found(what: &str, id: i64) -> ApiError {
    ApiError::NotFound(format!("no {what} with id {id}"))
}

fn items<T: serde::Serialize>(items: T) -> Json<Value> {
    Json(json!({ "items": items }))
}

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

// ---- entities

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

pub async fn list_entities(
    State(state): State<AppState>,
    actor: Principal,
) -> Result<Json<Value>, ApiError> {
    Ok(items(
        state
            .store
            .list_entities(&actor.scope(Role::Viewer))
            .await?,
    ))
}

pub async fn create_entity(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<NameBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    actor.require_group(Role::Admin)?;
    let b = body(b)?;
    Ok(created(state.store.create_entity(&actor, &b.name).await?))
}

/// 404 for entities the caller has no role in, 403 when the role is too low.
fn check_entity(actor: &Principal, need: Role, id: i64) -> Result<(), ApiError> {
    if !actor.can(Role::Viewer, id) {
        return Err(not_found("entity", id));
    }
    actor.require(need, id)
}

pub async fn rename_entity(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<NameBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = id_of(id, "entity")?;
    check_entity(&actor, Role::Viewer, id)?;
    actor.require_group(Role::Admin)?;
    let b = body(b)?;
    let e = state.store.rename_entity(&actor, id, &b.name).await?;
    e.map(|e| Json(json!(e)))
        .ok_or_else(|| not_found("entity", id))
}

pub async fn delete_entity(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "entity")?;
    check_entity(&actor, Role::Viewer, id)?;
    actor.require_group(Role::Admin)?;
    if !state.store.delete_entity(&actor, id).await? {
        return Err(not_found("entity", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- sites

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteBody {
    name: Option<String>,
    entity_id: Option<i64>,
}

pub async fn list_sites(
    State(state): State<AppState>,
    actor: Principal,
) -> Result<Json<Value>, ApiError> {
    Ok(items(
        state.store.list_sites(&actor.scope(Role::Viewer)).await?,
    ))
}

/// A site the caller may see (404 otherwise) and must hold `need` in (403).
async fn site_for(
    state: &AppState,
    actor: &Principal,
    need: Role,
    id: i64,
) -> Result<SiteInfo, ApiError> {
    let site = state
        .store
        .site(id)
        .await?
        .filter(|s| actor.can(Role::Viewer, s.entity_id))
        .ok_or_else(|| not_found("site", id))?;
    actor.require(need, site.entity_id)?;
    Ok(site)
}

pub async fn create_site(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<SiteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let (Some(name), Some(entity_id)) = (b.name, b.entity_id) else {
        return Err(ApiError::Unprocessable(
            "a site needs a name and an entity_id".into(),
        ));
    };
    check_entity(&actor, Role::Admin, entity_id).map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::Unprocessable(format!("no entity with id {entity_id}")),
        e => e,
    })?;
    Ok(created(
        state.store.create_site(&actor, &name, entity_id).await?,
    ))
}

pub async fn update_site(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<SiteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = id_of(id, "site")?;
    site_for(&state, &actor, Role::Admin, id).await?;
    let b = body(b)?;
    if let Some(e) = b.entity_id {
        check_entity(&actor, Role::Admin, e).map_err(|err| match err {
            ApiError::NotFound(_) => ApiError::Unprocessable(format!("no entity with id {e}")),
            err => err,
        })?;
    }
    let s = state
        .store
        .update_site(&actor, id, b.name.as_deref(), b.entity_id)
        .await?;
    s.map(|s| Json(json!(s)))
        .ok_or_else(|| not_found("site", id))
}

pub async fn delete_site(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "site")?;
    site_for(&state, &actor, Role::Admin, id).await?;
    if !state.store.delete_site(&actor, id).await? {
        return Err(not_found("site", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_site_token(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(id, "site")?;
    let site = site_for(&state, &actor, Role::Admin, id).await?;
    let (token_id, token) = state.store.create_site_token(&actor, &site).await?;
    Ok(created(
        json!({"id": token_id, "site_id": site.id, "site": site.name, "token": token}),
    ))
}

pub async fn revoke_site_token(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "token")?;
    let entity = state
        .store
        .site_token_entity(id)
        .await?
        .filter(|e| actor.can(Role::Viewer, *e))
        .ok_or_else(|| not_found("token", id))?;
    actor.require(Role::Admin, entity)?;
    if !state.store.revoke_site_token(&actor, id).await? {
        return Err(not_found("token", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_agent(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id
        .ok()
        .and_then(|Path(id)| Uuid::parse_str(&id).ok())
        .ok_or_else(|| ApiError::BadRequest("agent id must be a UUID".into()))?;
    let entity = state
        .store
        .agent_entity(id)
        .await?
        .filter(|e| actor.can(Role::Viewer, *e))
        .ok_or_else(|| ApiError::NotFound(format!("no enrolled agent {id}")))?;
    actor.require(Role::Admin, entity)?;
    if !state.store.revoke_agent_by(&actor, id).await? {
        return Err(ApiError::NotFound(format!("no enrolled agent {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- subnets

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetBody {
    cidr: String,
    site_id: i64,
    name: Option<String>,
}

pub async fn list_subnets(
    State(state): State<AppState>,
    actor: Principal,
) -> Result<Json<Value>, ApiError> {
    Ok(items(
        state.store.list_subnets(&actor.scope(Role::Viewer)).await?,
    ))
}

pub async fn create_subnet(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<SubnetBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let cidr = parse_cidr(&b.cidr).map_err(ApiError::Unprocessable)?;
    site_for(&state, &actor, Role::Admin, b.site_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => {
                ApiError::Unprocessable(format!("no site with id {}", b.site_id))
            }
            e => e,
        })?;
    Ok(created(
        state
            .store
            .create_subnet(&actor, &cidr, b.site_id, b.name.as_deref())
            .await?,
    ))
}

pub async fn delete_subnet(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "subnet")?;
    let subnet = state
        .store
        .subnet(id)
        .await?
        .filter(|s| actor.can(Role::Viewer, s.entity_id))
        .ok_or_else(|| not_found("subnet", id))?;
    actor.require(Role::Admin, subnet.entity_id)?;
    state.store.delete_subnet(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- departments and locations

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefBody {
    name: String,
    site_id: Option<i64>,
}

async fn list_refs(state: AppState, kind: RefKind) -> Result<Json<Value>, ApiError> {
    Ok(items(state.store.list_referentials(kind).await?))
}

async fn save_ref(
    state: AppState,
    actor: Principal,
    kind: RefKind,
    id: Option<i64>,
    b: RefBody,
) -> Result<Response, ApiError> {
    actor.require_group(Role::Admin)?;
    if kind == RefKind::Department && b.site_id.is_some() {
        return Err(ApiError::Unprocessable(
            "departments have no site_id".into(),
        ));
    }
    let saved = state
        .store
        .save_referential(&actor, kind, id, &b.name, b.site_id)
        .await?;
    match (id, saved) {
        (None, Some(r)) => Ok(created(r)),
        (Some(_), Some(r)) => Ok(Json(r).into_response()),
        (Some(id), None) => Err(not_found(
            if kind == RefKind::Location {
                "location"
            } else {
                "department"
            },
            id,
        )),
        (None, None) => Err(ApiError::Internal(anyhow::anyhow!(
            "created record vanished"
        ))),
    }
}

async fn delete_ref(
    state: AppState,
    actor: Principal,
    kind: RefKind,
    id: i64,
) -> Result<StatusCode, ApiError> {
    actor.require_group(Role::Admin)?;
    if !state.store.delete_referential(&actor, kind, id).await? {
        return Err(not_found(
            if kind == RefKind::Location {
                "location"
            } else {
                "department"
            },
            id,
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_departments(
    State(state): State<AppState>,
    _actor: Principal,
) -> Result<Json<Value>, ApiError> {
    list_refs(state, RefKind::Department).await
}

pub async fn list_locations(
    State(state): State<AppState>,
    _actor: Principal,
) -> Result<Json<Value>, ApiError> {
    list_refs(state, RefKind::Location).await
}

pub async fn create_department(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<RefBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    actor.require_group(Role::Admin)?;
    save_ref(state, actor, RefKind::Department, None, body(b)?).await
}

pub async fn create_location(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<RefBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    actor.require_group(Role::Admin)?;
    save_ref(state, actor, RefKind::Location, None, body(b)?).await
}

pub async fn update_department(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<RefBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(id, "department")?;
    actor.require_group(Role::Admin)?;
    save_ref(state, actor, RefKind::Department, Some(id), body(b)?).await
}

pub async fn update_location(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<RefBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(id, "location")?;
    actor.require_group(Role::Admin)?;
    save_ref(state, actor, RefKind::Location, Some(id), body(b)?).await
}

pub async fn delete_department(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "department")?;
    delete_ref(state, actor, RefKind::Department, id).await
}

pub async fn delete_location(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "location")?;
    delete_ref(state, actor, RefKind::Location, id).await
}

// ---- audit

#[derive(Deserialize)]
pub struct AuditQuery {
    since: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<u32>,
}

pub async fn audit(
    State(state): State<AppState>,
    actor: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !actor.has_any(Role::Admin) {
        return Err(ApiError::Forbidden(
            "reading the audit log needs an admin role".into(),
        ));
    }
    let since = q
        .since
        .map(|s| {
            DateTime::parse_from_rfc3339(s.trim())
                .map(|t| ts(t.to_utc()))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "since must be an RFC 3339 time (2026-01-31T08:00:00Z), not {s:?}"
                    ))
                })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_ENTRIES).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_ENTRIES}"
        )));
    }
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        since,
        actor: nonempty(q.actor),
        action: nonempty(q.action),
        limit,
    };
    Ok(items(
        state
            .store
            .list_audit(&actor.scope(Role::Admin), &filter)
            .await?,
    ))
}
