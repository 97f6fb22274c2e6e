//! Access control across two entities, through the real router on a real SQLite file: every
//! route of `endpoints()` refuses anonymous callers (except the public ones), reads are
//! filtered by entity and another entity's asset is 404, CSRF, revoked tokens, throttled
//! sign-ins, audit entries.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use parc_collector::auth::bootstrap::system;
use parc_collector::auth::{password, Role};
use parc_collector::http::{endpoints, router, AppState};
use parc_collector::store::users::NewUser;
use parc_collector::store::Store;
use parc_shared::{DiscoveredHost, Discovery, Document, DocumentHeader, ProbeMethod, SourceKind};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

mod common;
use common::request as req;

/// Routes anyone may call: health, the OpenAPI document, the web UI's files, signing in.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/"),
    ("GET", "/ui/{version}/{file}"),
    ("POST", "/api/v1/session"),
];

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    app: Router,
    /// Role name → API token.
    tokens: Vec<(&'static str, String)>,
    asset_a: i64,
    asset_b: i64,
}

impl Env {
    fn token(&self, who: &str) -> &str {
        &self.tokens.iter().find(|(w, _)| *w == who).unwrap().1
    }

    /// `who`'s API token calls `path`; the answer as JSON (Null when it is not JSON).
    async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(&self.app, req(method, path, Some(self.token(who)), body)).await
    }
}

fn sweep(agent: u128, ip: &str, name: &str) -> Document<Discovery> {
    let now = Utc::now();
    Document {
        header: DocumentHeader::new(Uuid::from_u128(agent), SourceKind::Sweep, now),
        body: Discovery {
            targets: vec!["198.18.0.0/24".into()],
            addresses_probed: 254,
            started_at: now,
            finished_at: now,
            hosts: vec![DiscoveredHost {
                ip: ip.into(),
                name: Some(name.into()),
                methods: vec![ProbeMethod::IcmpEcho],
                ..Default::default()
            }],
            job_id: None,
        },
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = parc_collector::testing::database_url(dir.path());
    let store = Store::open(&url, 4).await.unwrap();
    let sys = system();
    let b = store.create_entity(&sys, "CH Sud").await.unwrap();
    let site_b = store.create_site(&sys, "sud", b.id).await.unwrap();
    let (_, token_a) = store.create_token("nord").await.unwrap(); // Default entity (1)
    let (_, token_b) = store.create_site_token(&sys, &site_b).await.unwrap();
    let app = router(AppState::new(store.clone(), 1 << 20));
    for (token, agent, ip, name) in [
        (&token_a, 1, "198.18.0.10", "pc-nord"),
        (&token_b, 2, "198.18.1.10", "pc-sud"),
    ] {
        let r = Request::post("/api/v1/discoveries")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::to_vec(&sweep(agent, ip, name)).unwrap(),
            ))
            .unwrap();
        assert_eq!(send(&app, r).await.0, StatusCode::OK);
    }
    let id_of = |name: &str| {
        let store = store.clone();
        let name = name.to_string();
        async move {
            let page = store
                .list_assets(&parc_collector::store::assets::AssetFilter {
                    q: Some(name),
                    page: 1,
                    per_page: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            page.items[0].id
        }
    };
    let (asset_a, asset_b) = (id_of("pc-nord").await, id_of("pc-sud").await);
    let mut tokens = Vec::new();
    for (who, entity, role) in [
        ("admin_a", Some(1), Role::Admin),
        ("tech_a", Some(1), Role::Technician),
        ("viewer_a", Some(1), Role::Viewer),
        ("group_viewer", None, Role::Viewer),
    ] {
        let user = store
            .create_user(
                &sys,
                &NewUser {
                    login: who.into(),
                    display_name: who.into(),
                    password_hash: password::hash("correct horse battery"),
                    roles: vec![(entity, role)],
                },
            )
            .await
            .unwrap();
        let (_, t) = store
            .create_api_token(&sys, user.id, "t", role, None)
            .await
            .unwrap();
        tokens.push((who, t));
    }
    Env {
        _dir: dir,
        store,
        app,
        tokens,
        asset_a,
        asset_b,
    }
}

fn concrete(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
        .replace("{version}", "v")
        .replace("{file}", "f")
}

#[tokio::test]
async fn every_route_but_the_public_ones_refuses_anonymous_callers() {
    let e = env().await;
    for ep in endpoints() {
        let public = PUBLIC
            .iter()
            .any(|(m, p)| *m == ep.method.as_str() && *p == ep.path);
        let (status, body) = send(
            &e.app,
            req(ep.method.clone(), &concrete(ep.path, 1), None, None),
        )
        .await;
        if public {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} is public",
                ep.method,
                ep.path
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} without credentials: {body}",
                ep.method,
                ep.path
            );
        }
    }
}

#[tokio::test]
async fn reads_are_filtered_by_entity_and_other_entities_assets_are_404() {
    let e = env().await;
    let a = e.asset_a;
    let b = e.asset_b;
    // (who, path, expected status)
    let table: Vec<(&str, String, StatusCode)> = vec![
        ("viewer_a", format!("/api/v1/assets/{a}"), StatusCode::OK),
        (
            "viewer_a",
            format!("/api/v1/assets/{b}"),
            StatusCode::NOT_FOUND,
        ),
        (
            "viewer_a",
            format!("/api/v1/assets/{b}/history"),
            StatusCode::NOT_FOUND,
        ),
        (
            "viewer_a",
            format!("/api/v1/assets/{b}/glpi"),
            StatusCode::NOT_FOUND,
        ),
        (
            "viewer_a",
            format!("/api/v1/assets/{a}/history"),
            StatusCode::OK,
        ),
        (
            "viewer_a",
            "/api/v1/assets/999999".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "group_viewer",
            format!("/api/v1/assets/{b}"),
            StatusCode::OK,
        ),
        (
            "admin_a",
            format!("/api/v1/assets/{b}"),
            StatusCode::NOT_FOUND,
        ),
        ("viewer_a", "/metrics".into(), StatusCode::OK), // any API token
        ("viewer_a", "/api/v1/audit".into(), StatusCode::FORBIDDEN),
        ("tech_a", "/api/v1/users".into(), StatusCode::FORBIDDEN),
        ("admin_a", "/api/v1/users".into(), StatusCode::OK),
        ("group_viewer", "/api/v1/entities".into(), StatusCode::OK),
    ];
    for (who, path, expected) in &table {
        let (status, body) = send(&e.app, req(Method::GET, path, Some(e.token(who)), None)).await;
        assert_eq!(status, *expected, "{who} GET {path}: {body}");
    }
    for (who, expected) in [
        ("viewer_a", vec!["pc-nord"]),
        ("group_viewer", vec!["pc-nord", "pc-sud"]),
    ] {
        for path in ["/api/v1/assets", "/api/v1/assets/export?format=json"] {
            let (status, body) =
                send(&e.app, req(Method::GET, path, Some(e.token(who)), None)).await;
            assert_eq!(status, StatusCode::OK);
            let list = body
                .get("items")
                .unwrap_or(&body)
                .as_array()
                .unwrap()
                .clone();
            let mut names: Vec<&str> = list.iter().map(|a| a["name"].as_str().unwrap()).collect();
            names.sort();
            assert_eq!(names, expected, "{who} {path}");
        }
    }
    let (_, body) = e
        .call(
            Method::GET,
            "/api/v1/assets?entity=CH%20Sud",
            "group_viewer",
            None,
        )
        .await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["entity"], "CH Sud");
}

#[tokio::test]
async fn writes_need_the_role_in_the_entity_and_are_audited() {
    let e = env().await;
    let site = |entity: i64| json!({"name": format!("s{entity}"), "entity_id": entity});
    let table = [
        ("viewer_a", site(1), StatusCode::FORBIDDEN),
        ("tech_a", site(1), StatusCode::FORBIDDEN),
        ("admin_a", site(2), StatusCode::UNPROCESSABLE_ENTITY), // cannot see entity 2
        ("admin_a", site(1), StatusCode::CREATED),
    ];
    for (who, body, expected) in table {
        let (status, out) = send(
            &e.app,
            req(
                Method::POST,
                "/api/v1/sites",
                Some(e.token(who)),
                Some(body),
            ),
        )
        .await;
        assert_eq!(status, expected, "{who}: {out}");
    }
    // Subnets: overlap within the entity is refused with a clear message.
    let (_, sites) = e.call(Method::GET, "/api/v1/sites", "admin_a", None).await;
    let site_id = sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "s1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let subnet = |cidr: &str| json!({"cidr": cidr, "site_id": site_id});
    let (s, _) = e
        .call(
            Method::POST,
            "/api/v1/subnets",
            "admin_a",
            Some(subnet("10.1.0.0/16")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, out) = e
        .call(
            Method::POST,
            "/api/v1/subnets",
            "admin_a",
            Some(subnet("10.1.2.0/24")),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        out["message"].as_str().unwrap().contains("10.1.0.0/16"),
        "{out}"
    );
    let (s, _) = e
        .call(
            Method::POST,
            "/api/v1/subnets",
            "admin_a",
            Some(subnet("10.1.2.3/24")),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, audit) = e
        .call(
            Method::GET,
            "/api/v1/audit?action=site.create",
            "admin_a",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let entries = audit["items"].as_array().unwrap();
    // Entity admins see their entity's entries only: not the creation of site "sud" in CH Sud.
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "admin_a");
    assert_eq!(entries[0]["details"]["name"], "s1");
}

#[tokio::test]
async fn sessions_csrf_revocation_and_throttling() {
    let e = env().await;
    let sign_in = |login: &str, pw: &str| {
        req(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"login": login, "password": pw})),
        )
    };
    let response = e
        .app
        .clone()
        .oneshot(sign_in("admin_a", "correct horse battery"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |method: Method, path: &str, csrf: bool, body: Option<Value>| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &cookie);
        if csrf {
            r = r.header("X-Requested-With", "parc");
        }
        r.header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap()
    };
    let (s, me) = send(&e.app, with_cookie(Method::GET, "/api/v1/me", false, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["login"], "admin_a");
    assert_eq!(me["roles"][0]["role"], "admin");
    let body = json!({"name": "n2", "entity_id": 1});
    let (s, _) = send(
        &e.app,
        with_cookie(Method::POST, "/api/v1/sites", false, Some(body.clone())),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "cookie write without the CSRF header"
    );
    let (s, _) = send(
        &e.app,
        with_cookie(Method::POST, "/api/v1/sites", true, Some(body)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = send(
        &e.app,
        with_cookie(Method::DELETE, "/api/v1/session", true, None),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&e.app, with_cookie(Method::GET, "/api/v1/me", false, None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "signed-out session");

    // A revoked API token stops working at once.
    let (s, created) = e
        .call(
            Method::POST,
            "/api/v1/api-tokens",
            "viewer_a",
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let t = created["token"].as_str().unwrap().to_string();
    assert!(t.starts_with("parc_api_"));
    assert_eq!(
        send(&e.app, req(Method::GET, "/api/v1/me", Some(&t), None))
            .await
            .0,
        StatusCode::OK
    );
    let id = created["id"].as_i64().unwrap();
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/api/v1/api-tokens/{id}"),
            "viewer_a",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&e.app, req(Method::GET, "/api/v1/me", Some(&t), None))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A viewer cannot mint an admin token.
    let (s, _) = e
        .call(
            Method::POST,
            "/api/v1/api-tokens",
            "viewer_a",
            Some(json!({"name": "x", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Unknown login and wrong password: the same answer; then throttled with Retry-After.
    let (s1, b1) = send(&e.app, sign_in("nobody", "whatever whatever")).await;
    let (s2, b2) = send(&e.app, sign_in("tech_a", "wrong password!")).await;
    assert_eq!(
        (s1, &b1["message"]),
        (StatusCode::UNAUTHORIZED, &b2["message"])
    );
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    for _ in 0..4 {
        send(&e.app, sign_in("tech_a", "wrong password!")).await;
    }
    let response = e
        .app
        .clone()
        .oneshot(sign_in("tech_a", "correct horse battery"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    // Nothing about the throttled login reached the store's sessions.
    let _ = &e.store;
}
