//! Users, their roles, and API tokens.
//!
//! - `GET /api/v1/users` (admins: group admins see everyone, entity admins see users with a
//!   role in their entities), `POST /api/v1/users`, `PATCH /api/v1/users/{id}` (group admin;
//!   a user may change their own display name and password, giving the current one),
//!   `PUT /api/v1/users/{id}/roles` {entity_id|null, role|null} (admin of that entity; group
//!   roles need a group admin).
//! - `POST /api/v1/api-tokens` (for oneself; the token's role may not exceed one's own best),
//!   `GET /api/v1/api-tokens` (one's own; group admins all), `DELETE /api/v1/api-tokens/{id}`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::org::{body, id_of};
use super::AppState;
use crate::auth::{password, Principal, Role};
use crate::error::ApiError;
use crate::store::users::{check_login, NewUser, User, UserChange};

/// The highest role the principal has anywhere.
fn best_role(p: &Principal) -> Option<Role> {
    p.entity_roles.values().copied().max().max(p.group_role)
}

/// Whether `actor` may see and manage `user`: group admins anyone; entity admins users whose
/// roles all lie in entities they administer (never a group-wide user).
fn manages(actor: &Principal, user: &User) -> bool {
    actor.is_group(Role::Admin)
        || (!user.roles.is_empty()
            && user
                .roles
                .iter()
                .all(|g| g.entity_id.is_some_and(|e| actor.can(Role::Admin, e))))
}

async fn hash_password(pw: String) -> Result<String, ApiError> {
    password::check_new(&pw).map_err(ApiError::Unprocessable)?;
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

pub async fn list(
    State(state): State<AppState>,
    actor: Principal,
) -> Result<Json<Value>, ApiError> {
    if !actor.has_any(Role::Admin) {
        return Err(ApiError::Forbidden(
            "listing users needs an admin role".into(),
        ));
    }
    let users: Vec<User> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| manages(&actor, u))
        .collect();
    Ok(Json(json!({"items": users})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    login: String,
    display_name: Option<String>,
    password: String,
    #[serde(default)]
    roles: Vec<RoleBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    entity_id: Option<i64>,
    role: Option<Role>,
}

/// 403 unless `actor` may grant roles in `entity_id` (None: group-wide). An entity the actor
/// cannot read is "no entity" (422, as for sites), not 403, which would confirm it exists.
fn may_grant(actor: &Principal, entity_id: Option<i64>) -> Result<(), ApiError> {
    match entity_id {
        None => actor.require_group(Role::Admin),
        Some(e) if !actor.can(Role::Viewer, e) => {
            Err(ApiError::Unprocessable(format!("no entity with id {e}")))
        }
        Some(e) => actor.require(Role::Admin, e),
    }
}

pub async fn create(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<CreateUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !actor.has_any(Role::Admin) {
        return Err(ApiError::Forbidden(
            "creating users needs an admin role".into(),
        ));
    }
    let b = body(b)?;
    let login = check_login(&b.login).map_err(ApiError::Unprocessable)?;
    let mut roles = Vec::new();
    for r in &b.roles {
        may_grant(&actor, r.entity_id)?;
        let role = r
            .role
            .ok_or_else(|| ApiError::Unprocessable("each role needs a role".into()))?;
        roles.push((r.entity_id, role));
    }
    // Entity admins may only create users they can then manage.
    if !actor.is_group(Role::Admin) && roles.is_empty() {
        return Err(ApiError::Unprocessable(
            "give the user a role in one of your entities".into(),
        ));
    }
    let display_name = b.display_name.unwrap_or_else(|| login.clone());
    let display_name = crate::store::org::check_name("display", &display_name)?;
    let password_hash = hash_password(b.password).await?;
    let user = state
        .store
        .create_user(
            &actor,
            &NewUser {
                login,
                display_name,
                password_hash,
                roles,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    display_name: Option<String>,
    password: Option<String>,
    /// Required when changing one's own password.
    current_password: Option<String>,
    disabled: Option<bool>,
}

pub async fn update(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<UpdateUser>, JsonRejection>,
) -> Result<Json<User>, ApiError> {
    let id = id_of(id, "user")?;
    let b = body(b)?;
    let is_self = actor.user_id == id;
    let admin = actor.is_group(Role::Admin);
    let target = state.store.user(id).await?;
    let visible = target
        .as_ref()
        .is_some_and(|u| is_self || manages(&actor, u));
    let Some(target) = target.filter(|_| visible) else {
        return Err(ApiError::NotFound(format!("no user with id {id}")));
    };
    if !admin && !is_self {
        return Err(ApiError::Forbidden(
            "changing another user needs the group-wide admin role".into(),
        ));
    }
    if b.disabled.is_some() && (!admin || is_self) {
        return Err(ApiError::Forbidden(
            "only a group admin may disable or enable another user".into(),
        ));
    }
    if is_self && b.password.is_some() {
        let current = b.current_password.clone().unwrap_or_default();
        let creds = state
            .store
            .credentials(&target.login)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))?;
        let ok =
            tokio::task::spawn_blocking(move || password::verify(&current, &creds.password_hash))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
        if !ok {
            return Err(ApiError::Forbidden(
                "current_password is missing or wrong".into(),
            ));
        }
    }
    let display_name = b
        .display_name
        .map(|n| crate::store::org::check_name("display", &n))
        .transpose()?;
    let password_hash = match b.password {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    state
        .store
        .update_user(
            &actor,
            id,
            &UserChange {
                display_name,
                password_hash,
                disabled: b.disabled,
            },
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))
}

pub async fn set_role(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
    b: Result<Json<RoleBody>, JsonRejection>,
) -> Result<Json<User>, ApiError> {
    let id = id_of(id, "user")?;
    let b = body(b)?;
    if !actor.has_any(Role::Admin) {
        return Err(ApiError::Forbidden(
            "granting roles needs an admin role".into(),
        ));
    }
    let target = state.store.user(id).await?;
    // Entity admins may also give a role in their entity to a user they do not manage yet
    // (someone of another establishment joining theirs); the user must exist.
    let Some(_) = target else {
        return Err(ApiError::NotFound(format!("no user with id {id}")));
    };
    may_grant(&actor, b.entity_id)?;
    if id == actor.user_id && b.entity_id.is_none() && b.role != Some(Role::Admin) {
        return Err(ApiError::Unprocessable(
            "you cannot lower your own group-wide admin role; ask another group admin".into(),
        ));
    }
    state
        .store
        .set_user_role(&actor, id, b.entity_id, b.role)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: Option<Role>,
    expires_in_days: Option<u32>,
}

pub async fn create_token(
    State(state): State<AppState>,
    actor: Principal,
    b: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let name = crate::store::org::check_name("token", &b.name)?;
    let role = b.role.unwrap_or(Role::Viewer);
    let Some(best) = best_role(&actor) else {
        return Err(ApiError::Forbidden("you have no role to delegate".into()));
    };
    if role > best {
        return Err(ApiError::Forbidden(format!(
            "a token cannot have more than your own best role ({best})"
        )));
    }
    let expires_at = match b.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(Utc::now() + chrono::Duration::days(d.into())),
        Some(d) => {
            return Err(ApiError::Unprocessable(format!(
                "expires_in_days must be between 1 and 3650, not {d}"
            )))
        }
    };
    let (info, token) = state
        .store
        .create_api_token(&actor, actor.user_id, &name, role, expires_at)
        .await?;
    let mut out = serde_json::to_value(info).expect("serialisable");
    out["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn list_tokens(
    State(state): State<AppState>,
    actor: Principal,
) -> Result<Json<Value>, ApiError> {
    let user = (!actor.is_group(Role::Admin)).then_some(actor.user_id);
    let items = state.store.list_api_tokens(user).await?;
    Ok(Json(json!({"items": items})))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    actor: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(id, "token")?;
    let visible = state
        .store
        .api_token(id)
        .await?
        .is_some_and(|t| t.user_id == actor.user_id || actor.is_group(Role::Admin));
    if !visible || !state.store.revoke_api_token(&actor, id).await? {
        return Err(ApiError::NotFound(format!("no API token with id {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
