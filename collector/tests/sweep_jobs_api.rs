//! Sweeps started from the web UI, through the real router on a real SQLite file: users with
//! roles in two entities queue jobs, agents claim them with their site tokens (signed once
//! enrolled) and answer with discovery documents or failures; the lists and the network view
//! show the results.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::Utc;
use common::{call, get, send, user, NORD, SUD};
use ed25519_dalek::SigningKey;
use parc_collector::http::agents::{AGENT_HEADER, SIGNATURE_HEADER};
use parc_collector::http::{router, AppState};
use parc_collector::store::Store;
use parc_shared::{DiscoveredHost, ProbeMethod};
use serde_json::{json, Value};
use uuid::Uuid;

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    app: Router,
    nord_site: i64,
    sud_site: i64,
    /// Site tokens.
    nord: String,
    sud: String,
    /// API tokens: technician and viewer of entity 1, technician of entity 2, group admin.
    tech: String,
    viewer: String,
    sud_tech: String,
    admin: String,
}

async fn env() -> Env {
    let (dir, store) = common::store().await;
    let (nord, sud) = common::two_entities(&store).await;
    let site = |name: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM sites WHERE name = $1")
                .bind(name)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let (nord_site, sud_site) = (site("chu-nord").await, site("chu-sud").await);
    for (cidr, site) in [
        ("10.1.2.0/24", nord_site),
        ("127.0.0.0/30", nord_site),
        ("10.9.0.0/24", sud_site),
    ] {
        sqlx::query(
            "INSERT INTO subnets (cidr, site_id, created_at)
             VALUES ($1, $2, '2026-01-01T00:00:00.000000Z')",
        )
        .bind(cidr)
        .bind(site)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let tech = user(&store, "tech-nord", &[(Some(NORD), "technician")]).await;
    let viewer = user(&store, "lecteur-nord", &[(Some(NORD), "viewer")]).await;
    let sud_tech = user(&store, "tech-sud", &[(Some(SUD), "technician")]).await;
    let admin = user(&store, "admin-groupe", &[(None, "admin")]).await;
    let app = router(AppState::new(store.clone(), 1 << 20));
    Env {
        _dir: dir,
        store,
        app,
        nord_site,
        sud_site,
        nord,
        sud,
        tech,
        viewer,
        sud_tech,
        admin,
    }
}

async fn start(e: &Env, token: &str, site: i64, targets: &[&str]) -> (StatusCode, Value) {
    call(
        &e.app,
        Method::POST,
        "/api/v1/sweeps",
        Some(token),
        Some(json!({"site_id": site, "targets": targets})),
    )
    .await
}

async fn queued(e: &Env, targets: &[&str]) -> i64 {
    let (status, body) = start(e, &e.tech, e.nord_site, targets).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "queued");
    body["id"].as_i64().unwrap()
}

/// An agent's request to a job endpoint with a site token, signed by `key` when given.
async fn agent_post(
    app: &Router,
    site_token: &str,
    path: &str,
    body: Value,
    key: Option<(&SigningKey, Uuid)>,
) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut r = common::post(path, Some(site_token), bytes.clone(), None);
    if let Some((key, agent)) = key {
        let h = r.headers_mut();
        h.insert(AGENT_HEADER, agent.to_string().parse().unwrap());
        h.insert(
            SIGNATURE_HEADER,
            common::signature(key, agent, &bytes).parse().unwrap(),
        );
    }
    send(app, r).await
}

async fn claim(e: &Env, site_token: &str, agent: Uuid) -> (StatusCode, Value) {
    agent_post(
        &e.app,
        site_token,
        "/api/v1/agents/jobs/claim",
        json!({"agent_id": agent}),
        None,
    )
    .await
}

/// A claim from site chu-nord's `agent`, signed by `key`.
async fn signed_claim(e: &Env, key: &SigningKey, agent: Uuid) -> (StatusCode, Value) {
    let body = json!({ "agent_id": agent });
    agent_post(
        &e.app,
        &e.nord,
        "/api/v1/agents/jobs/claim",
        body,
        Some((key, agent)),
    )
    .await
}

async fn fail(e: &Env, job: i64, agent: Uuid, error: &str) -> (StatusCode, Value) {
    agent_post(
        &e.app,
        &e.nord,
        &format!("/api/v1/agents/jobs/{job}/fail"),
        json!({"agent_id": agent, "error": error}),
        None,
    )
    .await
}

fn host(ip: &str, mac: Option<&str>, methods: Vec<ProbeMethod>) -> DiscoveredHost {
    DiscoveredHost {
        ip: ip.into(),
        mac: mac.map(String::from),
        vendor: mac.map(|_| "Intel".into()),
        methods,
        open_ports: vec![445],
        rtt_us: Some(420),
        ..Default::default()
    }
}

async fn post_discovery(
    e: &Env,
    agent: Uuid,
    targets: &[&str],
    hosts: Vec<DiscoveredHost>,
    job_id: Option<i64>,
) -> (StatusCode, Value) {
    let mut doc = common::discovery(agent, targets, 254, Utc::now(), hosts);
    doc.body.job_id = job_id;
    send(
        &e.app,
        common::document("/api/v1/discoveries", &e.nord, &doc),
    )
    .await
}

/// The id of the subnet 10.1.2.0/24 (site chu-nord).
async fn nord_subnet_id(e: &Env) -> i64 {
    sqlx::query_scalar("SELECT id FROM subnets WHERE cidr = '10.1.2.0/24'")
        .fetch_one(e.store.pool())
        .await
        .unwrap()
}

async fn job(e: &Env, id: i64) -> Value {
    let (status, body) = get(&e.app, &format!("/api/v1/sweeps/{id}"), &e.tech).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn only_technicians_of_the_site_entity_start_sweeps_and_it_is_audited() {
    let e = env().await;
    let (status, body) = call(
        &e.app,
        Method::POST,
        "/api/v1/sweeps",
        None,
        Some(json!({"site_id": e.nord_site, "targets": ["10.1.2.0/24"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = start(&e, &e.viewer, e.nord_site, &["10.1.2.0/24"]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewer: {body}");
    // Another entity's site does not exist for this user.
    let (status, body) = start(&e, &e.sud_tech, e.nord_site, &["10.1.2.0/24"]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "other entity: {body}");
    let (status, _) = start(&e, &e.tech, 999, &["10.1.2.0/24"]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An agent's site token is not a user.
    let (status, _) = start(&e, &e.nord, e.nord_site, &["10.1.2.0/24"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit WHERE action = 'sweep.start'")
            .fetch_one(e.store.pool())
            .await
            .unwrap();
    assert_eq!(audited, 0, "refused requests are not audited");

    let id = queued(&e, &["10.1.2.0/24"]).await;
    let (status, body) = start(&e, &e.sud_tech, e.sud_site, &["10.9.0.5"]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let row: (String, Option<i64>, String) = sqlx::query_as(
        "SELECT actor_login, entity_id, target FROM audit WHERE action = 'sweep.start' ORDER BY id",
    )
    .fetch_one(e.store.pool())
    .await
    .unwrap();
    assert_eq!(
        row,
        ("tech-nord".into(), Some(NORD), format!("sweep_job:{id}"))
    );

    let detail = job(&e, id).await;
    assert_eq!(detail["state"], "queued", "{detail}");
    assert_eq!(detail["requested_by"], "tech-nord");
    assert_eq!(detail["targets"], json!(["10.1.2.0/24"]));
}

#[tokio::test]
async fn targets_outside_the_site_subnets_are_refused_naming_the_target() {
    let e = env().await;
    let cases: &[(&[&str], &str)] = &[
        (&["10.1.3.0/24"], "10.1.3.0/24"),
        (&["10.1.2.7", "10.9.0.5"], "10.9.0.5"),
        (&["10.1.2.0/23"], "10.1.3.0"),
        (&["127.0.0.0/29"], "127.0.0.0/29"),
        (&["pc-0001.lan"], "pc-0001.lan"),
        (&[], "empty"),
    ];
    for (targets, needle) in cases {
        let (status, body) = start(&e, &e.tech, e.nord_site, targets).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{targets:?}: {body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{targets:?}: {message}");
    }
    // The size limit of the agent's sweeps: a site whose subnet is a /8.
    sqlx::query("INSERT INTO subnets (cidr, site_id, created_at) VALUES ('10.64.0.0/10', $1, 'x')")
        .bind(e.nord_site)
        .execute(e.store.pool())
        .await
        .unwrap();
    let (status, body) = start(&e, &e.tech, e.nord_site, &["10.64.0.0/15"]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    let (status, body) = call(
        &e.app,
        Method::POST,
        "/api/v1/sweeps",
        Some(&e.tech),
        Some(json!({"site": e.nord_site})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sweep_jobs")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(jobs, 0, "a refused job writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_job_is_claimed_by_exactly_one_agent_of_its_site() {
    let e = env().await;
    let ids = [
        queued(&e, &["10.1.2.1"]).await,
        queued(&e, &["10.1.2.2"]).await,
        queued(&e, &["10.1.2.3"]).await,
    ];
    // An agent of the other site sees none of them.
    let (status, _) = claim(&e, &e.sud, Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let agents: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let tasks: Vec<_> = agents
        .iter()
        .map(|agent| {
            let (app, token, agent) = (e.app.clone(), e.nord.clone(), *agent);
            tokio::spawn(async move {
                let (status, body) = agent_post(
                    &app,
                    &token,
                    "/api/v1/agents/jobs/claim",
                    json!({"agent_id": agent}),
                    None,
                )
                .await;
                (agent, status, body)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        let (agent, status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => claimed.push((body["id"].as_i64().unwrap(), agent, body)),
            StatusCode::NO_CONTENT => {}
            other => panic!("claim answered {other}: {body}"),
        }
    }
    claimed.sort_by_key(|(id, _, _)| *id);
    let claimed_ids: Vec<i64> = claimed.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(claimed_ids, ids, "every job once, none twice");
    // Oldest first, with its targets.
    assert_eq!(claimed[0].2["targets"], json!(["10.1.2.1"]));
    for (id, agent, _) in &claimed {
        let detail = job(&e, *id).await;
        assert_eq!(detail["state"], "running", "{detail}");
        assert_eq!(detail["agent_id"], agent.to_string());
        assert!(detail["started_at"].is_string());
    }
    let (status, _) = claim(&e, &e.nord, Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing left");
}

#[tokio::test]
async fn an_enrolled_agent_must_sign_its_claim() {
    let e = env().await;
    queued(&e, &["10.1.2.1"]).await;
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let agent = Uuid::new_v4();
    let enrol = json!({
        "agent_id": agent,
        "public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes()),
    });
    let (status, body) = agent_post(
        &e.app,
        &e.nord,
        "/api/v1/agents/enroll",
        enrol,
        Some((&key, agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = claim(&e, &e.nord, agent).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned: {body}");
    let other = SigningKey::from_bytes(&[4u8; 32]);
    let (status, _) = signed_claim(&e, &other, agent).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed by another key");
    let (status, body) = signed_claim(&e, &key, agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = claim(&e, "parc_0000", Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bad site token: {body}");
}

#[tokio::test]
async fn a_job_no_agent_claims_within_ten_minutes_expires() {
    let e = env().await;
    let old = queued(&e, &["10.1.2.1"]).await;
    let fresh = queued(&e, &["10.1.2.2"]).await;
    let eleven_minutes_ago = parc_collector::store::ts(Utc::now() - chrono::Duration::minutes(11));
    sqlx::query("UPDATE sweep_jobs SET requested_at = $1 WHERE id = $2")
        .bind(&eleven_minutes_ago)
        .bind(old)
        .execute(e.store.pool())
        .await
        .unwrap();
    // Reads show it expired before anything writes it.
    let detail = job(&e, old).await;
    assert_eq!(detail["state"], "expired", "{detail}");
    assert!(detail["error"].as_str().unwrap().contains("10 minutes"));
    assert_eq!(job(&e, fresh).await["state"], "queued");

    // The claim skips it, takes the fresh one, and writes the expiry.
    let (status, body) = claim(&e, &e.nord, Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], fresh);
    let stored: (String, Option<String>) =
        sqlx::query_as("SELECT state, finished_at FROM sweep_jobs WHERE id = $1")
            .bind(old)
            .fetch_one(e.store.pool())
            .await
            .unwrap();
    assert_eq!(stored.0, "expired");
    assert!(stored.1.is_some());
    let (status, _) = claim(&e, &e.nord, Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_agent_reports_why_it_could_not_run_its_job() {
    let e = env().await;
    let id = queued(&e, &["10.1.2.0/24"]).await;
    let (agent, intruder) = (Uuid::new_v4(), Uuid::new_v4());
    let (status, _) = fail(&e, id, agent, "not claimed yet").await;
    assert_eq!(status, StatusCode::CONFLICT, "a queued job cannot fail");
    let (status, _) = claim(&e, &e.nord, agent).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = fail(&e, id, intruder, "mine now").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let reason = "refused by agent: target 10.1.2.1-10.1.2.254 is outside the allowed scopes";
    let (status, body) = fail(&e, id, agent, reason).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "failed");
    let (status, _) = fail(&e, id, agent, reason).await;
    assert_eq!(status, StatusCode::OK, "a repeated report is fine");
    let (status, _) = fail(&e, 999, agent, reason).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The other site's token does not reach this site's jobs.
    let (status, _) = agent_post(
        &e.app,
        &e.sud,
        &format!("/api/v1/agents/jobs/{id}/fail"),
        json!({"agent_id": agent, "error": "x"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let detail = job(&e, id).await;
    assert_eq!(detail["state"], "failed", "{detail}");
    assert_eq!(detail["error"], reason);
    assert!(detail["finished_at"].is_string());
    // A result arriving after the failure does not revive the job.
    let (status, _) = post_discovery(&e, agent, &["10.1.2.0/24"], vec![], Some(id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job(&e, id).await["state"], "failed");
}

#[tokio::test]
async fn the_discovery_answering_a_job_completes_it_with_its_hosts() {
    let e = env().await;
    let id = queued(&e, &["10.1.2.0/24"]).await;
    let agent = Uuid::new_v4();
    let (status, _) = claim(&e, &e.nord, agent).await;
    assert_eq!(status, StatusCode::OK);
    let hosts = vec![
        host(
            "10.1.2.10",
            Some("00:1B:21:0A:0B:0C"),
            vec![ProbeMethod::Arp],
        ),
        host("10.1.2.9", None, vec![ProbeMethod::TcpClosed]),
    ];
    // Another agent cannot answer this agent's job: its sweep is stored as a plain sweep.
    let (status, body) = post_discovery(
        &e,
        Uuid::new_v4(),
        &["10.1.2.0/24"],
        hosts.clone(),
        Some(id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(job(&e, id).await["state"], "running");

    let (status, body) = post_discovery(&e, agent, &["10.1.2.0/24"], hosts, Some(id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail = job(&e, id).await;
    assert_eq!(detail["state"], "done", "{detail}");
    assert_eq!(detail["hosts_found"], 2);
    assert!(detail["document_id"].is_string());
    let found = detail["hosts"].as_array().unwrap();
    // Address order, numerically.
    assert_eq!(found[0]["address"], "10.1.2.9");
    assert_eq!(found[1]["address"], "10.1.2.10");
    assert_eq!(found[1]["mac"], "00:1b:21:0a:0b:0c");
    assert_eq!(found[1]["methods"], json!(["arp"]));
    assert_eq!(found[1]["open_ports"], json!([445]));
    assert_eq!(found[1]["rtt_us"], 420);
    // The asset each host became, as the CMDB shows it.
    for h in found {
        let asset = h["asset_id"].as_i64().expect("merged into an asset");
        let (status, a) = get(&e.app, &format!("/api/v1/assets/{asset}"), &e.tech).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert!(
            a.to_string().contains(h["address"].as_str().unwrap()),
            "{a}"
        );
    }
    // Another entity's user does not see the job.
    let (status, _) = get(&e.app, &format!("/api/v1/sweeps/{id}"), &e.sud_tech).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_list_shows_jobs_and_scheduled_sweeps_of_the_user_entities() {
    let e = env().await;
    let job_id = queued(&e, &["10.1.2.0/25"]).await;
    let agent = Uuid::new_v4();
    // A scheduled sweep of the same subnet, one of another network, and one in entity 2.
    let (status, body) = post_discovery(
        &e,
        agent,
        &["10.1.2.0/24"],
        vec![host("10.1.2.20", None, vec![ProbeMethod::IcmpEcho])],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = post_discovery(&e, agent, &["10.77.0.0/24"], vec![], None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = start(&e, &e.sud_tech, e.sud_site, &["10.9.0.0/24"]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let list = |token: String, query: &'static str| {
        let e = &e;
        async move {
            let (status, body) = get(&e.app, &format!("/api/v1/sweeps{query}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body["items"].as_array().unwrap().clone()
        }
    };
    let items = list(e.viewer.clone(), "").await;
    assert_eq!(items.len(), 3, "{items:?}");
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "job").count(),
        1,
        "{kinds:?}"
    );
    assert!(items.iter().all(|i| i["site"] == "chu-nord"), "{items:?}");
    let scheduled = items
        .iter()
        .find(|i| i["kind"] == "scheduled" && i["targets"] == json!(["10.1.2.0/24"]))
        .expect("the scheduled sweep is listed");
    assert_eq!(scheduled["hosts_found"], 1);
    assert_eq!(scheduled["agent_id"], agent.to_string());
    // Newest first.
    let at: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "{at:?}");

    assert_eq!(
        list(e.admin.clone(), "").await.len(),
        4,
        "group admin sees both"
    );
    assert_eq!(list(e.sud_tech.clone(), "").await.len(), 1);
    assert_eq!(list(e.viewer.clone(), "?limit=1").await.len(), 1);

    // The subnet 10.1.2.0/24: the job and the scheduled sweep of it, not the other network.
    let subnet = nord_subnet_id(&e).await;
    let by_subnet = format!("/api/v1/sweeps?subnet={subnet}");
    let (status, body) = get(&e.app, &by_subnet, &e.viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.iter().any(|i| i["id"] == job_id));
    let (status, _) = get(&e.app, &by_subnet, &e.sud_tech).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another entity's subnet");
    let (status, _) = get(&e.app, "/api/v1/sweeps?limit=0", &e.viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&e.app, Method::GET, "/api/v1/sweeps", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_subnet_lists_the_devices_with_an_address_in_it() {
    let e = env().await;
    let agent = Uuid::new_v4();
    let (status, body) = post_discovery(
        &e,
        agent,
        &["10.1.0.0/16"],
        vec![
            host(
                "10.1.2.30",
                Some("00:1b:21:00:00:30"),
                vec![ProbeMethod::Arp],
            ),
            host("10.1.2.4", None, vec![ProbeMethod::IcmpEcho]),
            host("10.1.3.4", None, vec![ProbeMethod::IcmpEcho]),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let subnet = nord_subnet_id(&e).await;
    let path = format!("/api/v1/subnets/{subnet}/devices");
    let (status, body) = get(&e.app, &path, &e.viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subnet"]["cidr"], "10.1.2.0/24");
    assert_eq!(body["subnet"]["site"], "chu-nord");
    assert_eq!(body["total"], 2, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["addresses"], json!(["10.1.2.4"]));
    assert_eq!(items[1]["addresses"], json!(["10.1.2.30"]));
    assert_eq!(items[1]["macs"], json!(["00:1b:21:00:00:30"]));
    assert_eq!(items[1]["managed"], false);
    assert_eq!(items[1]["kind"], "unknown");
    let (status, body) = get(&e.app, &format!("{path}?limit=1"), &e.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["total"].as_i64(),
            body["items"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );

    let (status, _) = get(&e.app, &path, &e.sud_tech).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another entity's subnet");
    let (status, _) = get(&e.app, "/api/v1/subnets/999/devices", &e.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
