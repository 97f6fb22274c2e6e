//! `/metrics` and `/api/v1/openapi.json` through the real router, on a real SQLite file in a
//! temporary directory.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use parc_collector::http::{endpoints, AppState, INTAKE_SLOTS};
use parc_shared::{Document, DocumentHeader, HardwareId, Inventory, SourceKind};
use serde_json::Value;
use uuid::Uuid;

type Env = common::Intake;

async fn env() -> Env {
    common::intake(|store| AppState::new(store, parc_shared::limits::MAX_DOCUMENT_BYTES)).await
}

fn inventory() -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = "pc-0001".into();
    inv.os.family = "linux".into();
    inv.hardware.dmi_available = true;
    inv.hardware.serial = HardwareId::serial("5CG1234XYZ");
    Document {
        header: DocumentHeader::new(Uuid::from_u128(1), SourceKind::AgentInventory, Utc::now()),
        body: inv,
    }
}

fn post(path: &str, token: &str, body: Vec<u8>) -> Request<Body> {
    common::post(path, Some(token), body, None)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let (status, _, body) = common::respond(app, req).await;
    (status, String::from_utf8(body).unwrap())
}

/// The samples of a scrape (`name{labels}` → value), checking the content type on the way.
async fn scrape(app: &Router) -> BTreeMap<String, f64> {
    let request = common::request(Method::GET, "/metrics", None, None);
    let (status, headers, body) = common::respond(app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Samples of the metric `name` (exactly, not its suffixed relatives).
fn series<'a>(samples: &'a BTreeMap<String, f64>, name: &str) -> BTreeMap<&'a str, f64> {
    samples
        .iter()
        .filter(|(s, _)| s.split('{').next() == Some(name))
        .map(|(s, v)| (s.as_str(), *v))
        .collect()
}

#[tokio::test]
async fn metrics_count_each_intake_outcome_with_its_labels() {
    let e = env().await;
    let body = serde_json::to_vec(&inventory()).unwrap();
    let (status, _) = send(&e.app, post("/api/v1/inventories", &e.token, body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, replay) = send(&e.app, post("/api/v1/inventories", &e.token, body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(replay.contains(r#""duplicate":true"#), "{replay}");
    let (status, _) = send(&e.app, post("/api/v1/inventories", "not-a-token", body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &e.app,
        post("/api/v1/inventories", &e.token, b"{\"header\": ".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let m = scrape(&e.app).await;
    let want = |pairs: &[(&'static str, f64)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
    assert_eq!(
        series(&m, "parc_ingest_documents_total"),
        want(&[
            (
                r#"parc_ingest_documents_total{endpoint="inventories",outcome="accepted",reason=""}"#,
                1.0
            ),
            (
                r#"parc_ingest_documents_total{endpoint="inventories",outcome="duplicate",reason=""}"#,
                1.0
            ),
            (
                r#"parc_ingest_documents_total{endpoint="inventories",outcome="rejected",reason="bad_json"}"#,
                1.0
            ),
            (
                r#"parc_ingest_documents_total{endpoint="inventories",outcome="rejected",reason="unauthorized"}"#,
                1.0
            ),
        ])
    );
    // The replay matched nothing anew: one merge, the creation.
    assert_eq!(
        series(&m, "parc_merges_total"),
        want(&[(
            r#"parc_merges_total{endpoint="inventories",rule="new"}"#,
            1.0
        )])
    );
    assert_eq!(
        series(&m, "parc_ingest_duration_seconds_count"),
        want(&[
            (
                r#"parc_ingest_duration_seconds_count{endpoint="inventories",outcome="accepted"}"#,
                1.0
            ),
            (
                r#"parc_ingest_duration_seconds_count{endpoint="inventories",outcome="duplicate"}"#,
                1.0
            ),
            (
                r#"parc_ingest_duration_seconds_count{endpoint="inventories",outcome="rejected"}"#,
                2.0
            ),
        ])
    );
    let accepted_seconds =
        m[r#"parc_ingest_duration_seconds_sum{endpoint="inventories",outcome="accepted"}"#];
    assert!(
        accepted_seconds > 0.0 && accepted_seconds < 60.0,
        "{accepted_seconds}"
    );
    // The +Inf bucket holds every observation.
    assert_eq!(
        m[r#"parc_ingest_duration_seconds_bucket{le="+Inf",endpoint="inventories",outcome="accepted"}"#],
        1.0
    );
    assert_eq!(
        series(&m, "parc_assets"),
        want(&[(r#"parc_assets{kind="computer"}"#, 1.0)])
    );
    assert_eq!(m["parc_ingest_in_flight"], 0.0);
    assert!(series(&m, "parc_ingest_throttled_total").is_empty());
}

#[tokio::test]
async fn metrics_show_busy_intake_and_429s() {
    let e = env().await;
    let held = e
        .state
        .intake
        .clone()
        .try_acquire_many_owned(INTAKE_SLOTS)
        .unwrap();
    let body = serde_json::to_vec(&inventory()).unwrap();
    let (status, _) = send(&e.app, post("/api/v1/snmp", &e.token, body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let m = scrape(&e.app).await;
    assert_eq!(m["parc_ingest_in_flight"], INTAKE_SLOTS as f64);
    assert_eq!(m[r#"parc_ingest_throttled_total{endpoint="snmp"}"#], 1.0);
    assert_eq!(
        m[r#"parc_ingest_documents_total{endpoint="snmp",outcome="rejected",reason="overloaded"}"#],
        1.0
    );
    drop(held);
    assert_eq!(scrape(&e.app).await["parc_ingest_in_flight"], 0.0);
}

/// Every (method, path) of an OpenAPI document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            methods
                .iter()
                .filter(|m| item.contains_key(**m))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_describes_exactly_the_routes_served() {
    let e = env().await;
    let request = common::request(Method::GET, "/api/v1/openapi.json", None, None);
    let (status, text) = send(&e.app, request).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not OpenAPI 3.x: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let served: BTreeSet<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_string()))
        .collect();
    let documented = operations(&doc);
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not in collector/openapi/openapi.json"
    );
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );

    // The list is what the router serves: each route answers its method (whatever the status,
    // not the fallback's 404 nor 405), and another method on its path is 405.
    for (method, path) in &served {
        let uri = path.replace("{id}", "1");
        let method: Method = method.parse().unwrap();
        let (status, body) = send(&e.app, common::request(method.clone(), &uri, None, None)).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(!body.contains("no such endpoint"), "{method} {uri}: {body}");
        let other = [
            Method::DELETE,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::GET,
        ]
        .into_iter()
        .find(|m| !served.contains(&(m.to_string(), path.clone())))
        .expect("a method the path does not serve");
        let (status, _) = send(&e.app, common::request(other.clone(), &uri, None, None)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{other} {uri}");
    }

    // Every operation is named and answers something; every reference resolves.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
}
