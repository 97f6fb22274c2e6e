//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the API.
//!
//! Written by hand in `collector/openapi/openapi.json` and embedded, rather than derived with
//! utoipa: deriving would put annotations on every handler and on the whole wire model in
//! `parc-shared`. A test (`tests/metrics_api.rs`) holds the document to
//! [`super::endpoints`], the list the router is built from, in both directions.

use axum::http::header;
use axum::response::IntoResponse;

/// The document as served.
pub const OPENAPI_JSON: &str = include_str!("../../openapi/openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
