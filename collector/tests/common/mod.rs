//! What the collector's API tests share: a fresh store (SQLite in a temporary directory, or
//! PostgreSQL with `PARC_TEST_POSTGRES=1`), the two-entity organisation, users with API tokens,
//! the documents agents send, and requests through the router without a socket.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::io::Write;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use parc_collector::auth::{bootstrap, secret};
use parc_collector::http::agents::signed_message;
use parc_collector::http::{router, AppState};
use parc_collector::store::Store;
use parc_shared::{DiscoveredHost, Discovery, Document, DocumentHeader, SourceKind};
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

/// Entity 1 ("Default", site chu-nord) and entity 2 ("CHU Sud", site chu-sud), as
/// [`two_entities`] makes them.
pub const NORD: i64 = 1;
pub const SUD: i64 = 2;

/// A migrated store of its own; the directory must outlive it.
pub async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = parc_collector::testing::database_url(dir.path());
    let store = Store::open(&url, 4).await.unwrap();
    (dir, store)
}

/// A collector as intake tests drive it: site chu-nord's agent token, unauthenticated GETs
/// answered as the group admin.
pub struct Intake {
    _dir: tempfile::TempDir,
    pub store: Store,
    pub app: Router,
    /// Site chu-nord's agent token.
    pub token: String,
    pub state: AppState,
}

/// A fresh collector with the state `configure` makes of its store.
pub async fn intake(configure: impl FnOnce(Store) -> AppState) -> Intake {
    let (dir, store) = store().await;
    let (_, token) = store.create_token("chu-nord").await.unwrap();
    let state = configure(store.clone());
    let app = reading_as_admin(&store, router(state.clone())).await;
    Intake {
        _dir: dir,
        store,
        app,
        token,
        state,
    }
}

pub async fn sql(store: &Store, q: &str) {
    sqlx::query(q).execute(store.pool()).await.unwrap();
}

/// Sites chu-nord (entity [`NORD`]) and chu-sud (entity [`SUD`], "CHU Sud"); their agent
/// tokens.
pub async fn two_entities(store: &Store) -> (String, String) {
    let (_, nord) = store.create_token("chu-nord").await.unwrap();
    let (_, sud) = store.create_token("chu-sud").await.unwrap();
    sql(
        store,
        "INSERT INTO entities (id, name, created_at) VALUES (2, 'CHU Sud', '2026-01-01T00:00:00.000000Z')",
    )
    .await;
    sql(
        store,
        "UPDATE sites SET entity_id = 2 WHERE name = 'chu-sud'",
    )
    .await;
    (nord, sud)
}

/// A user with `roles` (entity None: group-wide) and an API token capped at admin.
pub async fn user(store: &Store, login: &str, roles: &[(Option<i64>, &str)]) -> String {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (login, display_name, password_hash, created_at)
         VALUES ($1, $1, 'x', '2026-01-01T00:00:00.000000Z') RETURNING id",
    )
    .bind(login)
    .fetch_one(store.pool())
    .await
    .unwrap();
    for (entity, role) in roles {
        sqlx::query("INSERT INTO user_roles (user_id, entity_id, role) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*entity)
            .bind(*role)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let token = secret::new_api_token();
    sqlx::query(
        "INSERT INTO api_tokens (hash, user_id, name, role, created_at)
         VALUES ($1, $2, 'test', 'admin', '2026-01-01T00:00:00.000000Z')",
    )
    .bind(secret::hash(&token))
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap();
    token
}

/// A group admin's API token, as the collector's own bootstrap makes one.
pub async fn admin_token(store: &Store) -> String {
    bootstrap::admin_api_token(store, "tests-admin")
        .await
        .unwrap()
}

/// `app` with unauthenticated GETs made as the group admin: tests about intake read back
/// what was stored without signing in on every call.
pub async fn reading_as_admin(store: &Store, app: Router) -> Router {
    bootstrap::reads_as(app, admin_token(store).await)
}

/// The response to `req`: status, headers and the whole body.
pub async fn respond(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

/// The response to `req` as JSON (Null for an empty body); panics on any other body.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, bytes) = respond(app, req).await;
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// A request with a bearer token when given and a JSON body when given.
pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            r = r.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    r.body(body).unwrap()
}

/// A user's request: [`request`] answered as JSON.
pub async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send(app, request(method, path, token, body)).await
}

pub async fn get(app: &Router, path: &str, token: &str) -> (StatusCode, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

/// A JSON POST as agents send documents: raw bytes, a token and a content encoding when given.
pub fn post(
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
    encoding: Option<&str>,
) -> Request<Body> {
    let mut r = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(e) = encoding {
        r = r.header(header::CONTENT_ENCODING, e);
    }
    r.body(Body::from(body)).unwrap()
}

/// `doc` posted to `path` with an agent's site token.
pub fn document(path: &str, site_token: &str, doc: &impl serde::Serialize) -> Request<Body> {
    post(
        path,
        Some(site_token),
        serde_json::to_vec(doc).unwrap(),
        None,
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// The signature header value an enrolled agent sends with `body`.
pub fn signature(key: &SigningKey, agent: Uuid, body: &[u8]) -> String {
    let sig = key.sign(&signed_message(agent, body));
    format!(
        "ed25519={}",
        base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
    )
}

/// The kinds of the sources an asset's detail lists, in order.
pub fn source_kinds(asset: &Value) -> Vec<&str> {
    asset["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect()
}

/// A sweep's document: `agent` probed `probed` addresses of `targets` at `at` and found `hosts`.
pub fn discovery(
    agent: Uuid,
    targets: &[&str],
    probed: u64,
    at: DateTime<Utc>,
    hosts: Vec<DiscoveredHost>,
) -> Document<Discovery> {
    Document {
        header: DocumentHeader::new(agent, SourceKind::Sweep, at),
        body: Discovery {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            addresses_probed: probed,
            started_at: at,
            finished_at: at,
            hosts,
            job_id: None,
        },
    }
}
