//! `Principal` from a request: an API token in `Authorization: Bearer`, else the session
//! cookie. Cookie-authenticated writes must also carry `X-Requested-With: parc`: a browser
//! sends cookies with cross-site form posts but lets no other site set a custom header without
//! a CORS preflight, which this API never grants. `SameSite=Strict` on the cookie is the first
//! line; the header also covers browsers and same-site subdomains where it is not enough.

use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use chrono::Utc;

use super::principal::Principal;
use super::secret::{self, API_TOKEN_PREFIX};
use crate::error::ApiError;
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "parc_session";
pub const CSRF_HEADER: &str = "x-requested-with";
pub const CSRF_VALUE: &str = "parc";

/// The client's IP address as text, when the server was started with connect info (always in
/// [`crate::serve`]; not in `oneshot` tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip().to_string()),
        ))
    }
}

/// The value of cookie `name`, if the request has it once.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

enum Credential<'a> {
    ApiToken(&'a str),
    Session(&'a str),
}

fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into())
            })?;
        return match token.strip_prefix(API_TOKEN_PREFIX) {
            Some(body) if secret::well_formed(body) => Ok(Credential::ApiToken(token)),
            _ => Err(ApiError::Unauthorized(
                "not an API token (parc_api_…); site tokens only work for agent endpoints".into(),
            )),
        };
    }
    match cookie(headers, SESSION_COOKIE) {
        Some(id) if secret::well_formed(id) => Ok(Credential::Session(id)),
        Some(_) => Err(ApiError::Unauthorized(
            "invalid session; sign in again".into(),
        )),
        None => Err(ApiError::Unauthorized(
            "sign in (POST /api/v1/session) or send an API token".into(),
        )),
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let now = Utc::now();
        let principal = match credential(&parts.headers)? {
            Credential::ApiToken(token) => state
                .store
                .principal_for_api_token(&secret::hash(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized("unknown, expired or revoked API token".into())
                })?,
            Credential::Session(id) => {
                let p = state
                    .store
                    .principal_for_session(&secret::hash(id), now, state.auth.session_idle)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized("the session has expired; sign in again".into())
                    })?;
                let csrf_ok = parts
                    .headers
                    .get(CSRF_HEADER)
                    .is_some_and(|v| v.as_bytes() == CSRF_VALUE.as_bytes());
                if !is_safe(&parts.method) && !csrf_ok {
                    return Err(ApiError::Forbidden(format!(
                        "requests that change data need the header {CSRF_HEADER}: {CSRF_VALUE}"
                    )));
                }
                p
            }
        };
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; parc_session=xyz ; b=2"),
        );
        assert_eq!(cookie(&h, "parc_session"), Some("xyz"));
        assert_eq!(cookie(&h, "parc"), None);
        assert_eq!(cookie(&HeaderMap::new(), "a"), None);
    }

    #[test]
    fn credentials_are_shaped_before_any_lookup() {
        let token = secret::new_api_token();
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        assert!(matches!(credential(&h), Ok(Credential::ApiToken(t)) if t == token));
        let site_token = format!("parc_{}", "a".repeat(64));
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {site_token}").parse().unwrap(),
        );
        assert!(
            matches!(credential(&h), Err(ApiError::Unauthorized(m)) if m.contains("site tokens"))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(credential(&h).is_err());
        let mut h = HeaderMap::new();
        assert!(matches!(credential(&h), Err(ApiError::Unauthorized(m)) if m.contains("sign in")));
        h.insert(header::COOKIE, "parc_session=short".parse().unwrap());
        assert!(credential(&h).is_err());
    }
}
