//! Trust: agent enrolment, signed documents, revocation (the real router on a real SQLite file,
//! driven with `oneshot`), and HTTPS with certificate reload over a real socket on 127.0.0.1.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use parc_collector::http::agents::{AGENT_HEADER, SIGNATURE_HEADER};
use parc_collector::http::AppState;
use parc_collector::store::Store;
use parc_collector::tls::{fingerprint, CertFiles, Reloadable};
use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
use serde_json::{json, Value};
use uuid::Uuid;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

type Env = common::Intake;

async fn env(require_enrolment: bool) -> Env {
    common::intake(|store| AppState::new(store, 1 << 20).require_enrolment(require_enrolment)).await
}

fn inventory(agent: Uuid, hostname: &str, observed: chrono::DateTime<Utc>) -> Vec<u8> {
    let mut inv = Inventory::default();
    inv.host.hostname = hostname.into();
    inv.os.family = "linux".into();
    let doc = Document {
        header: DocumentHeader::new(agent, SourceKind::AgentInventory, observed),
        body: inv,
    };
    serde_json::to_vec(&doc).unwrap()
}

/// How a request is signed.
enum Sig<'a> {
    None,
    By(&'a SigningKey, Uuid),
    Raw(&'a str),
}

async fn post(e: &Env, path: &str, body: Vec<u8>, sig: Sig<'_>) -> (StatusCode, Value) {
    let mut req = common::post(path, Some(&e.token), body.clone(), None);
    let h = req.headers_mut();
    match sig {
        Sig::None => {}
        Sig::By(key, agent) => {
            h.insert(AGENT_HEADER, agent.to_string().parse().unwrap());
            let signature = common::signature(key, agent, &body);
            h.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        }
        Sig::Raw(value) => {
            h.insert(SIGNATURE_HEADER, value.parse().unwrap());
        }
    }
    let (status, _, bytes) = common::respond(&e.app, req).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A fresh inventory of `agent` named `hostname`, signed as `sig` says.
async fn post_inventory(e: &Env, agent: Uuid, hostname: &str, sig: Sig<'_>) -> (StatusCode, Value) {
    let body = inventory(agent, hostname, Utc::now());
    post(e, "/api/v1/inventories", body, sig).await
}

async fn enroll(
    e: &Env,
    agent: Uuid,
    key: &SigningKey,
    signer: &SigningKey,
) -> (StatusCode, Value) {
    let body = serde_json::to_vec(&json!({
        "agent_id": agent,
        "public_key": B64.encode(key.verifying_key().to_bytes()),
    }))
    .unwrap();
    post(e, "/api/v1/agents/enroll", body, Sig::By(signer, agent)).await
}

async fn asset_names(e: &Env) -> Vec<String> {
    let list = Request::get("/api/v1/assets").body(Body::empty()).unwrap();
    let (_, list) = common::send(&e.app, list).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn enrolment_binds_an_agent_id_to_one_key() {
    let e = env(false).await;
    let agent = Uuid::new_v4();
    let key = SigningKey::from_bytes(&[1; 32]);
    let thief = SigningKey::from_bytes(&[2; 32]);

    let (status, body) = enroll(&e, agent, &key, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["site"], "chu-nord");
    let (status, _) = enroll(&e, agent, &key, &key).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "re-running enroll with the same key"
    );

    // A site-token holder cannot register its own key for an enrolled agent id.
    let (status, body) = enroll(&e, agent, &thief, &thief).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("another key"),
        "{body}"
    );
    // Registering a key requires holding it.
    let (status, body) = enroll(&e, Uuid::new_v4(), &key, &thief).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = post(
        &e,
        "/api/v1/agents/enroll",
        br#"{"agent_id": "x"}"#.to_vec(),
        Sig::None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(e.store.list_agents().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_leaked_site_token_cannot_overwrite_an_enrolled_agents_asset() {
    let e = env(false).await;
    let agent = Uuid::new_v4();
    let key = SigningKey::from_bytes(&[1; 32]);
    let thief = SigningKey::from_bytes(&[2; 32]);
    assert_eq!(enroll(&e, agent, &key, &key).await.0, StatusCode::CREATED);

    let now = Utc::now() - Duration::minutes(5);
    let genuine = inventory(agent, "pc-radio-1", now);
    let (status, body) = post(&e, "/api/v1/inventories", genuine, Sig::By(&key, agent)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let forged = || inventory(agent, "pc-evil", Utc::now());
    let other_agent = Uuid::new_v4();
    let cases: Vec<(&str, Sig, &str)> = vec![
        ("unsigned", Sig::None, "missing"),
        (
            "signed by another key",
            Sig::By(&thief, agent),
            "does not verify",
        ),
        ("garbage", Sig::Raw("ed25519=AAAA"), "ed25519=<base64"),
        (
            "signed as another agent",
            Sig::By(&key, other_agent),
            "does not match",
        ),
    ];
    for (name, sig, reason) in cases {
        let (status, body) = post(&e, "/api/v1/inventories", forged(), sig).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(reason), "{name}: {message}");
    }
    assert_eq!(asset_names(&e).await, vec!["pc-radio-1"]);

    // The genuine agent still gets through, and agents that never enrolled keep working with
    // the token alone.
    let (status, body) = post_inventory(&e, agent, "pc-radio-1b", Sig::By(&key, agent)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post_inventory(&e, other_agent, "pc-legacy", Sig::None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut names = asset_names(&e).await;
    names.sort();
    assert_eq!(names, vec!["pc-legacy", "pc-radio-1b"]);
}

#[tokio::test]
async fn revoked_agents_are_refused() {
    let e = env(false).await;
    let agent = Uuid::new_v4();
    let key = SigningKey::from_bytes(&[5; 32]);
    assert_eq!(enroll(&e, agent, &key, &key).await.0, StatusCode::CREATED);
    e.store.revoke_agent(agent).await.unwrap();
    let (status, body) = post_inventory(&e, agent, "pc-1", Sig::By(&key, agent)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
    let (status, _) = enroll(&e, agent, &key, &key).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked agent cannot enrol again"
    );
    assert!(asset_names(&e).await.is_empty());
}

#[tokio::test]
async fn enrolment_can_be_required() {
    let e = env(true).await;
    let (status, body) = post_inventory(&e, Uuid::new_v4(), "pc-1", Sig::None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("requires enrolment"),
        "{body}"
    );
    let agent = Uuid::new_v4();
    let key = SigningKey::from_bytes(&[6; 32]);
    assert_eq!(enroll(&e, agent, &key, &key).await.0, StatusCode::CREATED);
    let (status, body) = post_inventory(&e, agent, "pc-2", Sig::By(&key, agent)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The fingerprint of the certificate a fresh connection to `url` is served.
async fn served_fingerprint(url: &str) -> String {
    // Trust is checked by comparing the fingerprint below, which is the point of the test.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .unwrap();
    let response = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("a TLS connection");
    fingerprint(info.peer_certificate().expect("a server certificate"))
}

#[tokio::test]
async fn https_serves_the_certificate_and_reloads_it_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let self_signed = |sub: &str| {
        let config = parc_config::collector::Tls::SelfSigned {
            dir: dir.path().join(sub),
        };
        CertFiles::prepare(&config, &[]).unwrap().0
    };
    let files = self_signed("live");
    let cert = Reloadable::load(files.clone()).unwrap();
    let first = cert.fingerprint();

    let url = parc_collector::testing::database_url(dir.path());
    let store = Store::open(&url, 2).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parc_collector::serve_tls(
        listener,
        cert.clone(),
        AppState::new(store, 1 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let base = format!("https://{addr}");
    assert_eq!(served_fingerprint(&base).await, first);

    // Plain HTTP on the TLS port gets no API answer.
    let plain = reqwest::get(format!("http://{addr}/healthz")).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // A broken replacement is refused and the served certificate stays.
    std::fs::write(&files.key, "-----BEGIN PRIVATE KEY-----\ngarbage\n").unwrap();
    assert!(cert.reload().is_err());
    assert_eq!(served_fingerprint(&base).await, first);

    let next = self_signed("next");
    std::fs::copy(&next.cert, &files.cert).unwrap();
    std::fs::copy(&next.key, &files.key).unwrap();
    let second = cert.reload().unwrap();
    assert_ne!(second, first);
    assert_eq!(served_fingerprint(&base).await, second);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
