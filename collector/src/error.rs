//! The API's one error type: each variant is a status and a stable code; the message names the
//! problem for the client. Internal causes (database errors) are logged and never sent.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::intake::IntakeError;
use crate::store::inventory::IngestError;

/// The code of a 409 that asks the agent for its software list
/// ([`parc_shared::Inventory::software_unchanged`]); agents match on it.
pub const SOFTWARE_LIST_UNKNOWN: &str = "software_list_unknown";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    /// Authenticated but not allowed (role too low, CSRF header missing).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the current state (a name already taken, a referenced record).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but unacceptable values (an invalid CIDR, an overlapping subnet).
    #[error("{0}")]
    Unprocessable(String),
    /// Too many failed sign-ins; retry after this many seconds.
    #[error("too many failed sign-ins; retry in {0} s")]
    Throttled(u64),
    /// Too many documents in intake; the client should retry after this many seconds.
    #[error("the collector is busy; retry in {0} s")]
    Busy(u64),
    /// Over a per-agent or per-site-token document rate (config `[limits]`).
    #[error("too many documents from this {what}; retry in {retry_after} s")]
    RateLimited {
        what: &'static str,
        retry_after: u64,
    },
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// An inventory left out its software list as unchanged, and the collector does not hold
    /// that list for the machine: the agent sends it again with the list.
    #[error("{0}")]
    SoftwareListUnknown(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::SoftwareListUnknown { .. } | IngestError::SoftwareDeltaUnusable(_) => {
                ApiError::SoftwareListUnknown(e.to_string())
            }
            IngestError::Database(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            ApiError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Intake(e) => match e {
                IntakeError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                IntakeError::UnsupportedEncoding(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
                }
                IntakeError::BadGzip(_) => (StatusCode::BAD_REQUEST, "bad_gzip"),
                IntakeError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
                IntakeError::Schema { .. } => (StatusCode::BAD_REQUEST, "invalid_document"),
                IntakeError::SchemaVersion { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unsupported_schema_version",
                ),
                IntakeError::WrongSource { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "wrong_source")
                }
                IntakeError::Limit(_) => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
            },
            ApiError::SoftwareListUnknown(_) => (StatusCode::CONFLICT, SOFTWARE_LIST_UNKNOWN),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "internal error; see the collector's log".to_string()
            }
            other => other.to_string(),
        };
        let mut response =
            (status, Json(json!({"error": code, "message": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("valid header"),
            );
        }
        if let ApiError::Busy(secs)
        | ApiError::Throttled(secs)
        | ApiError::RateLimited {
            retry_after: secs, ..
        } = self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("valid header"),
            );
        }
        response
    }
}
