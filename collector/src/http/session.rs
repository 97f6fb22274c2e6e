//! Signing in and out, and who am I: `POST /api/v1/session` {login, password} sets the
//! `parc_session` cookie; `DELETE /api/v1/session` ends it; `GET /api/v1/me`.
//!
//! A wrong password and an unknown login get the same answer after the same work (a dummy
//! argon2 verification), and failures are throttled per login and per client address.

use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::AppState;
use crate::auth::{password, secret, AuthMethod, ClientIp, Principal, SESSION_COOKIE};
use crate::error::ApiError;
use crate::store::users::User;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    login: String,
    password: String,
}

fn cookie_header(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("hex id and fixed attributes")
}

const WRONG: &str = "wrong login or password";

pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let throttle = &state.auth.throttle;
    if let Err(wait) = throttle.check(&body.login, address.as_deref(), Instant::now()) {
        tracing::warn!(login = %body.login.trim(), address = ?address, "sign-in throttled");
        return Err(ApiError::Throttled(wait.as_secs().max(1)));
    }
    if body.password.len() > password::MAX_LENGTH || body.login.len() > 256 {
        return Err(ApiError::Unauthorized(WRONG.into()));
    }
    let creds = state.store.credentials(&body.login).await?;
    let given = body.password;
    let user = tokio::task::spawn_blocking(move || match creds {
        Some(c) if password::verify(&given, &c.password_hash) && !c.disabled => Some(c),
        Some(_) => None,
        None => {
            password::verify_dummy(&given);
            None
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let Some(user) = user else {
        throttle.failed(&body.login, address.as_deref(), Instant::now());
        tracing::info!(login = %body.login.trim(), address = ?address, "sign-in refused");
        return Err(ApiError::Unauthorized(WRONG.into()));
    };
    throttle.succeeded(&body.login);
    let id = secret::new_session_id();
    state
        .store
        .create_session(user.user_id, &secret::hash(&id))
        .await?;
    tracing::info!(login = %user.login, address = ?address, "signed in");
    let me = state
        .store
        .user(user.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized(WRONG.into()))?;
    let max_age = crate::store::users::SESSION_MAX_AGE.num_seconds();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        cookie_header(&id, max_age, state.auth.secure_cookie),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::OK, headers, Json(me)).into_response())
}

pub async fn sign_out(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let AuthMethod::Session(_) = principal.via {
        if let Some(id) = crate::auth::extract::cookie(&headers, SESSION_COOKIE) {
            state.store.delete_session(&secret::hash(id)).await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            cookie_header("", 0, state.auth.secure_cookie),
        )],
    )
        .into_response())
}

pub async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<User>, ApiError> {
    state
        .store
        .user(principal.user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))
}
