//! Lifecycle, manual fields, merge/split/undo and reports, end to end through the real router
//! on a real database (a SQLite file, or PostgreSQL with `PARC_TEST_POSTGRES=1`): documents are
//! posted as agents post them, people act with API tokens of users holding roles in two
//! entities.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{call, get, send, sql, user, NORD, SUD};
use parc_collector::http::{router, AppState};
use parc_collector::store::Store;
use parc_shared::inventory::{NetworkInterface, Session, Software};
use parc_shared::{
    DiscoveredHost, Document, DocumentHeader, HardwareId, Inventory, ProbeMethod, SourceKind,
};
use serde_json::{json, Value};
use uuid::Uuid;

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    app: Router,
    /// Site tokens.
    nord: String,
    sud: String,
    /// API tokens of users: group admin, technician and viewer of entity 1, admin of entity 2.
    admin: String,
    tech: String,
    viewer: String,
    sud_admin: String,
}

async fn env() -> Env {
    let (dir, store) = common::store().await;
    let (nord, sud) = common::two_entities(&store).await;
    sql(
        &store,
        "INSERT INTO departments (id, name, created_at) VALUES (7, 'Cardiologie', '2026-01-01T00:00:00.000000Z')",
    )
    .await;
    sql(
        &store,
        "INSERT INTO locations (id, name, created_at) VALUES (9, 'Bâtiment A, étage 2', '2026-01-01T00:00:00.000000Z')",
    )
    .await;
    let admin = user(&store, "admin-groupe", &[(None, "admin")]).await;
    let tech = user(&store, "tech-nord", &[(Some(NORD), "technician")]).await;
    let viewer = user(&store, "lecteur-nord", &[(Some(NORD), "viewer")]).await;
    let sud_admin = user(&store, "admin-sud", &[(Some(SUD), "admin")]).await;
    let app = router(AppState::new(store.clone(), 1 << 20));
    Env {
        _dir: dir,
        store,
        app,
        nord,
        sud,
        admin,
        tech,
        viewer,
        sud_admin,
    }
}

async fn detail(e: &Env, id: i64) -> Value {
    let (status, v) = get(&e.app, &format!("/api/v1/assets/{id}"), &e.admin).await;
    assert_eq!(status, StatusCode::OK, "asset {id}: {v}");
    v
}

async fn post_doc(e: &Env, path: &str, site_token: &str, doc: &impl serde::Serialize) -> Value {
    let (status, v) = send(&e.app, common::document(path, site_token, doc)).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

struct Pc {
    agent: u128,
    hostname: &'static str,
    serial: Option<&'static str>,
    mac: &'static str,
    ip: &'static str,
    user: Option<&'static str>,
}

fn inventory(pc: &Pc, observed: DateTime<Utc>) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = pc.hostname.into();
    inv.os.family = "windows".into();
    inv.os.name = Some("Windows 11 Pro".into());
    inv.hardware.dmi_available = true;
    inv.hardware.model = Some("OptiPlex 7010".into());
    inv.hardware.serial = pc.serial.and_then(HardwareId::serial);
    inv.network.interfaces = vec![NetworkInterface {
        name: "Ethernet".into(),
        mac: Some(pc.mac.into()),
        addresses: vec![format!("{}/24", pc.ip)],
        state: "up".into(),
        ..Default::default()
    }];
    inv.users.logged_in = pc
        .user
        .map(|u| Session {
            user: u.into(),
            ..Default::default()
        })
        .into_iter()
        .collect();
    inv.software = vec![Software {
        name: format!("agent-of-{}", pc.hostname),
        version: Some("1".into()),
        source: "registry".into(),
        ..Default::default()
    }];
    Document {
        header: DocumentHeader::new(
            Uuid::from_u128(pc.agent),
            SourceKind::AgentInventory,
            observed,
        ),
        body: inv,
    }
}

/// A sweep of entity `site_token`'s site finding `hosts` (address, MAC).
async fn post_sweep(e: &Env, site_token: &str, hosts: &[(&str, &str)], observed: DateTime<Utc>) {
    let hosts = hosts
        .iter()
        .map(|(ip, mac)| DiscoveredHost {
            ip: ip.to_string(),
            mac: Some(mac.to_string()),
            methods: vec![ProbeMethod::IcmpEcho],
            ..Default::default()
        })
        .collect();
    let doc = common::discovery(
        Uuid::from_u128(900),
        &["198.18.0.0/24"],
        254,
        observed,
        hosts,
    );
    post_doc(e, "/api/v1/discoveries", site_token, &doc).await;
}

const PC1: Pc = Pc {
    agent: 1,
    hostname: "pc-accueil-01",
    serial: Some("5CG1234XYZ"),
    mac: "00:1a:2b:3c:4d:01",
    ip: "198.18.0.11",
    user: Some("HOSP\\mmartin"),
};
const PC2: Pc = Pc {
    agent: 2,
    hostname: "pc-accueil-02",
    serial: Some("5CG9999ABC"),
    mac: "00:1a:2b:3c:4d:02",
    ip: "198.18.0.12",
    user: None,
};

/// `pc`'s inventory sent with site chu-nord's token; the asset it went to.
async fn ingest(e: &Env, pc: &Pc, observed: DateTime<Utc>) -> i64 {
    ingest_to(e, &e.nord, pc, observed).await
}

async fn ingest_to(e: &Env, site_token: &str, pc: &Pc, observed: DateTime<Utc>) -> i64 {
    let doc = inventory(pc, observed);
    post_doc(e, "/api/v1/inventories", site_token, &doc).await["asset_id"]
        .as_i64()
        .unwrap()
}

async fn patch(e: &Env, id: i64, token: &str, body: Value) -> (StatusCode, Value) {
    call(
        &e.app,
        Method::PATCH,
        &format!("/api/v1/assets/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

/// The group admin merging into or splitting asset `id` (`action`: "merge" or "split").
async fn admin_acts(e: &Env, id: i64, action: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/assets/{id}/{action}");
    call(&e.app, Method::POST, &path, Some(&e.admin), Some(body)).await
}

/// The names of an asset detail's software list.
fn software_names(detail: &Value) -> Vec<String> {
    detail["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

async fn history(e: &Env, id: i64) -> Vec<Value> {
    let (status, v) = get(&e.app, &format!("/api/v1/assets/{id}/history"), &e.admin).await;
    assert_eq!(status, StatusCode::OK);
    v["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn manual_fields_survive_new_inventories_and_conflicts_show() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(2);
    let id = ingest(&e, &PC1, t0).await;
    let (status, d) = patch(
        &e,
        id,
        &e.tech,
        json!({"asset_tag": "INV-2024-0042", "owner": "jdupont", "department_id": 7,
               "location_id": 9, "notes": "Accueil\nposte partagé"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let manual = json!({
        "asset_tag": "INV-2024-0042",
        "owner": "jdupont",
        "department": {"id": 7, "name": "Cardiologie"},
        "location": {"id": 9, "name": "Bâtiment A, étage 2"},
        "notes": "Accueil\nposte partagé",
    });
    assert_eq!(d["manual"], manual);

    // A later inventory (renamed PC, another user) changes the automatic facts only.
    let renamed = Pc {
        hostname: "pc-accueil-01b",
        ..PC1
    };
    assert_eq!(ingest(&e, &renamed, t0 + Duration::hours(1)).await, id);
    let d = detail(&e, id).await;
    assert_eq!(d["name"], "pc-accueil-01b");
    assert_eq!(
        d["manual"], manual,
        "locked values are never written by documents"
    );
    assert_eq!(
        d["conflicts"],
        json!([{"field": "owner", "manual": "jdupont", "automatic": "HOSP\\mmartin",
                "source": "agent_inventory", "observed_at": d["last_seen"]}])
    );

    // The owner logs in: no conflict; clearing the owner unlocks it.
    let owner_now = Pc {
        user: Some("HOSP\\JDupont"),
        ..renamed
    };
    ingest(&e, &owner_now, t0 + Duration::hours(2)).await;
    assert_eq!(detail(&e, id).await["conflicts"], json!([]));
    let (status, d) = patch(&e, id, &e.tech, json!({"owner": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["manual"]["owner"], Value::Null);

    // Each change is in the history with who made it.
    let h = history(&e, id).await;
    let manual_entries: Vec<(&str, &str, Option<&str>)> = h
        .iter()
        .filter(|x| x["source"] == "manual")
        .map(|x| {
            (
                x["field"].as_str().unwrap(),
                x["actor"].as_str().unwrap(),
                x["new"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        manual_entries,
        vec![
            ("owner", "tech-nord", None),
            ("location", "tech-nord", Some("Bâtiment A, étage 2 (#9)")),
            ("department", "tech-nord", Some("Cardiologie (#7)")),
            ("notes", "tech-nord", Some("Accueil\nposte partagé")),
            ("owner", "tech-nord", Some("jdupont")),
            ("asset_tag", "tech-nord", Some("INV-2024-0042")),
        ]
    );
}

#[tokio::test]
async fn state_changes_with_dates_and_bad_patches_are_422_changing_nothing() {
    let e = env().await;
    let id = ingest(&e, &PC1, Utc::now()).await;
    let before = detail(&e, id).await;
    assert_eq!(before["lifecycle"]["state"], "in_use");
    assert_eq!(before["lifecycle"]["since"], before["first_seen"]);

    let (status, d) = patch(
        &e,
        id,
        &e.tech,
        json!({"state": "in_repair", "state_since": "2026-11-02"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        d["lifecycle"],
        json!({"state": "in_repair", "since": "2026-11-02T00:00:00.000000Z"})
    );
    let h = history(&e, id).await;
    assert_eq!(h[0]["field"], "state");
    assert_eq!(h[0]["new"], "in_repair since 2026-11-02T00:00:00.000000Z");

    let cases = [
        (json!({"state": "broken"}), "\"broken\" is not one of"),
        (
            json!({"state": "retired", "state_since": "2999-01-01"}),
            "in the future",
        ),
        (json!({"serial": "X"}), "unknown field `serial`"),
        (
            json!({"department_id": 4242}),
            "department_id 4242 does not exist",
        ),
        (json!({"owner": 12}), "invalid type"),
        (json!({}), "nothing to change"),
    ];
    let kept = detail(&e, id).await;
    for (body, want) in cases {
        let (status, v) = patch(&e, id, &e.tech, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().contains(want), "{body}: {v}");
    }
    assert_eq!(detail(&e, id).await, kept, "refused patches change nothing");
    assert_eq!(history(&e, id).await.len(), h.len());
    let (status, _) = send(
        &e.app,
        Request::patch(format!("/api/v1/assets/{id}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", e.tech))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Detail without what legitimately moves on: nothing, when the comparison is before/after.
async fn snapshot_of(e: &Env, ids: &[i64]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(detail(e, *id).await);
    }
    out
}

#[tokio::test]
async fn merge_then_undo_restores_both_assets_exactly() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(3);
    let a = ingest(&e, &PC1, t0).await;
    let b = ingest(&e, &PC2, t0 + Duration::minutes(5)).await;
    post_sweep(
        &e,
        &e.nord,
        &[(PC2.ip, PC2.mac), ("198.18.0.50", "00:50:56:00:00:50")],
        t0,
    )
    .await;
    patch(
        &e,
        b,
        &e.tech,
        json!({"asset_tag": "INV-B", "state": "in_stock"}),
    )
    .await;
    let before = snapshot_of(&e, &[a, b]).await;
    let history_before = (history(&e, a).await.len(), history(&e, b).await.len());

    let (status, op) = admin_acts(&e, a, "merge", json!({"from": b})).await;
    assert_eq!(status, StatusCode::OK, "{op}");
    assert_eq!(
        (op["kind"].as_str(), op["asset_id"].as_i64()),
        (Some("merge"), Some(a))
    );
    let (status, _) = get(&e.app, &format!("/api/v1/assets/{b}"), &e.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let merged = detail(&e, a).await;
    let mut macs = merged["mac_addresses"].as_array().unwrap().clone();
    macs.sort_by_key(|m| m.to_string());
    assert_eq!(macs, vec![json!(PC1.mac), json!(PC2.mac)]);
    assert_eq!(merged["software_count"], 2);
    assert_eq!(
        merged["manual"]["asset_tag"], "INV-B",
        "gaps filled from the merged asset"
    );
    let kinds: Vec<(&str, &str)> = merged["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("agent_inventory", "new"),
            ("agent_inventory", "merge"),
            ("sweep", "merge")
        ],
        "the sweep source that saw b moved with it"
    );
    let h = history(&e, a).await;
    assert_eq!(h.len(), history_before.0 + history_before.1 + 2);
    assert!(h[0]["new"]
        .as_str()
        .unwrap()
        .contains(&format!("asset #{b}")));
    assert_eq!(h[0]["actor"], "admin-groupe");

    let undo = format!("/api/v1/operations/{}/undo", op["operation_id"]);
    let (status, v) = call(&e.app, Method::POST, &undo, Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(snapshot_of(&e, &[a, b]).await, before);
    let (ha, hb) = (history(&e, a).await, history(&e, b).await);
    assert_eq!(
        hb.len(),
        history_before.1 + 1,
        "b's own history is back, plus the undo"
    );
    assert_eq!(hb[0]["field"], "undo");
    assert_eq!(
        ha.len(),
        history_before.0 + 3,
        "the merge entries of both sides and the undo stay on a"
    );

    let (status, v) = call(&e.app, Method::POST, &undo, Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        v["message"].as_str().unwrap().contains("already undone"),
        "{v}"
    );
}

/// After a merge the kept asset holds both software lists; the next inventory of its agent,
/// with the very list this collector stored for it before, puts that list back alone (the
/// merge cleared the stored digest, so the list is rewritten though it did not change).
#[tokio::test]
async fn the_next_inventory_after_a_merge_rewrites_the_software_list() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(3);
    let a = ingest(&e, &PC1, t0).await;
    let b = ingest(&e, &PC2, t0 + Duration::minutes(5)).await;
    let (status, op) = admin_acts(&e, a, "merge", json!({"from": b})).await;
    assert_eq!(status, StatusCode::OK, "{op}");
    let merged = detail(&e, a).await;
    assert_eq!(
        software_names(&merged),
        ["agent-of-pc-accueil-01", "agent-of-pc-accueil-02"]
    );
    assert_eq!(ingest(&e, &PC1, t0 + Duration::hours(1)).await, a);
    assert_eq!(
        software_names(&detail(&e, a).await),
        ["agent-of-pc-accueil-01"]
    );
}

/// Posts an inventory of site "nord"; its answer.
async fn post_inventory(e: &Env, doc: &Document<Inventory>) -> (StatusCode, Value) {
    send(
        &e.app,
        common::document("/api/v1/inventories", &e.nord, doc),
    )
    .await
}

/// `doc` as an agent sends it when the collector acknowledged `digest` for its list.
fn leaving_out_software(mut doc: Document<Inventory>, digest: &str) -> Document<Inventory> {
    doc.body.software.clear();
    doc.body.software_unchanged = Some(digest.to_string());
    doc
}

#[tokio::test]
async fn an_unchanged_software_list_is_left_out_and_asked_for_when_not_held() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(5);

    // The answer names the digest of the list the asset now holds: the agent's own.
    let first = inventory(&PC1, t0);
    let digest = parc_shared::software_digest(&first.body.software);
    let (status, v) = post_inventory(&e, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["software_digest"], json!(digest));
    let a = v["asset_id"].as_i64().unwrap();

    // Left out as unchanged: accepted, the list stays.
    let (status, v) = post_inventory(
        &e,
        &leaving_out_software(inventory(&PC1, t0 + Duration::hours(1)), &digest),
    )
    .await;
    assert_eq!(
        (status, v["asset_id"].as_i64()),
        (StatusCode::OK, Some(a)),
        "{v}"
    );
    assert_eq!(
        (v["changes"].as_u64(), &v["software_digest"]),
        (Some(0), &json!(digest))
    );
    assert_eq!(
        software_names(&detail(&e, a).await),
        ["agent-of-pc-accueil-01"]
    );

    // A list the asset does not hold: 409 with the code agents match on, and nothing written,
    // so the same document then sent with its list is stored, not taken for a replay.
    let mut upgraded = inventory(&PC1, t0 + Duration::hours(2));
    upgraded.body.software[0].version = Some("2".into());
    let upgraded_digest = parc_shared::software_digest(&upgraded.body.software);
    let (status, v) = post_inventory(
        &e,
        &leaving_out_software(upgraded.clone(), &upgraded_digest),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"], "software_list_unknown");
    assert!(
        v["message"].as_str().unwrap().contains(&upgraded_digest),
        "{v}"
    );
    let (status, v) = post_inventory(&e, &upgraded).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["duplicate"].as_bool(), &v["software_digest"]),
        (Some(false), &json!(upgraded_digest))
    );
    let software = &detail(&e, a).await["software"];
    assert_eq!(software[0]["version"], "2", "{software}");

    // A machine the collector never saw: no asset is created.
    let (status, v) = post_inventory(&e, &leaving_out_software(inventory(&PC2, t0), &digest)).await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::CONFLICT, &json!("software_list_unknown"))
    );
    let (_, list) = get(&e.app, "/api/v1/assets", &e.admin).await;
    assert_eq!(list["total"], 1, "{list}");

    // After a merge the asset holds both lists: a list left out is asked for again.
    let b = ingest(&e, &PC2, t0 + Duration::hours(3)).await;
    let (status, op) = admin_acts(&e, a, "merge", json!({"from": b})).await;
    assert_eq!(status, StatusCode::OK, "{op}");
    let (status, v) = post_inventory(
        &e,
        &leaving_out_software(inventory(&PC1, t0 + Duration::hours(4)), &upgraded_digest),
    )
    .await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::CONFLICT, &json!("software_list_unknown"))
    );
}

fn package(name: &str, version: &str) -> parc_shared::inventory::Software {
    parc_shared::inventory::Software {
        name: name.into(),
        version: Some(version.into()),
        publisher: Some("Vendor".into()),
        install_date: Some(Utc.with_ymd_and_hms(2026, 10, 1, 8, 30, 0).unwrap()),
        source: "registry".into(),
        ..Default::default()
    }
}

/// `doc` as an agent sends it when the collector acknowledged `base` (whose digest is
/// `base_digest`) and the list changed since.
fn sending_changes(
    mut doc: Document<Inventory>,
    base: &[parc_shared::inventory::Software],
    base_digest: &str,
) -> Document<Inventory> {
    let delta = parc_shared::SoftwareDelta::between(base, base_digest, &doc.body.software);
    doc.body.software.clear();
    doc.body.software_delta = Some(delta);
    doc
}

#[tokio::test]
async fn a_changed_software_list_is_sent_as_its_changes_against_the_acknowledged_one() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(5);
    let with = |at, list: &[parc_shared::inventory::Software]| {
        let mut doc = inventory(&PC1, at);
        doc.body.software = list.to_vec();
        doc
    };
    let base = vec![
        package("7-Zip", "23.01"),
        package("Firefox", "128.0"),
        package("VLC", "3.0.20"),
    ];
    let (status, v) = post_inventory(&e, &with(t0, &base)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let a = v["asset_id"].as_i64().unwrap();
    let base_digest = parc_shared::software_digest(&base);
    assert_eq!(
        (&v["software_digest"], &v["accepts_software_delta"]),
        (&json!(base_digest), &json!(true))
    );

    // Firefox upgraded, Notepad++ installed: two packages sent, the whole list stored, and
    // the history tells the upgrade and the installation.
    let next = vec![
        package("7-Zip", "23.01"),
        package("Firefox", "129.0"),
        package("Notepad++", "8.6"),
        package("VLC", "3.0.20"),
    ];
    let next_digest = parc_shared::software_digest(&next);
    let changes = sending_changes(with(t0 + Duration::hours(1), &next), &base, &base_digest);
    assert_eq!(changes.body.software_delta.as_ref().unwrap().len(), 3);
    let (status, v) = post_inventory(&e, &changes).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["asset_id"].as_i64(),
            &v["software_digest"],
            v["duplicate"].as_bool()
        ),
        (Some(a), &json!(next_digest), Some(false)),
        "{v}"
    );
    let stored = detail(&e, a).await;
    let versions: Vec<String> = stored["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["name"].as_str().unwrap(),
                s["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            "7-Zip 23.01",
            "Firefox 129.0",
            "Notepad++ 8.6",
            "VLC 3.0.20"
        ]
    );
    let software_history: Vec<String> = history(&e, a)
        .await
        .iter()
        .filter(|h| {
            h["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("software"))
        })
        .map(|h| format!("{} {} -> {}", h["field"], h["old"], h["new"]))
        .collect();
    assert!(
        software_history
            .iter()
            .any(|h| h.contains("Firefox") && h.contains("129.0")),
        "{software_history:?}"
    );
    assert!(
        software_history.iter().any(|h| h.contains("Notepad++")),
        "{software_history:?}"
    );

    // The same document again: a replay, nothing written twice.
    let (status, v) = post_inventory(&e, &changes).await;
    assert_eq!(
        (status, &v["duplicate"]),
        (StatusCode::OK, &json!(true)),
        "{v}"
    );

    // Changes against a list the asset no longer holds, or that lead elsewhere than they
    // claim: 409 with the code agents match on, and nothing written.
    let stale = sending_changes(
        with(t0 + Duration::hours(2), &base[..2]),
        &base,
        &base_digest,
    );
    let (status, v) = post_inventory(&e, &stale).await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::CONFLICT, &json!("software_list_unknown")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("software_delta"),
        "{v}"
    );
    let mut lying = sending_changes(
        with(t0 + Duration::hours(2), &next[..3]),
        &next,
        &next_digest,
    );
    lying.body.software_delta.as_mut().unwrap().digest = base_digest.clone();
    let (status, v) = post_inventory(&e, &lying).await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::CONFLICT, &json!("software_list_unknown")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("digest"), "{v}");
    let mut removing_what_is_not_there = sending_changes(
        with(t0 + Duration::hours(2), &next[..3]),
        &next,
        &next_digest,
    );
    removing_what_is_not_there
        .body
        .software_delta
        .as_mut()
        .unwrap()
        .removed
        .push(package("Chrome", "1"));
    let (status, v) = post_inventory(&e, &removing_what_is_not_there).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("Chrome"), "{v}");
    assert_eq!(
        detail(&e, a).await["software"].as_array().unwrap().len(),
        4,
        "nothing written by the refused documents"
    );

    // A machine the collector never saw: no asset is created.
    let mut unknown = sending_changes(with(t0, &next), &base, &base_digest);
    unknown.body.host.hostname = PC2.hostname.into();
    unknown.header.agent_id = uuid::Uuid::from_u128(999);
    let (status, v) = post_inventory(&e, &unknown).await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::CONFLICT, &json!("software_list_unknown")),
        "{v}"
    );
    let (_, list) = get(&e.app, "/api/v1/assets", &e.admin).await;
    assert_eq!(list["total"], 1, "{list}");
}

/// Two PCs whose vendor stamped the same serial on both boards (no UUID): the second one's
/// first inventory merges into the first by serial, which is the mistake a split repairs.
const TWIN1: Pc = Pc {
    agent: 11,
    hostname: "pc-radio-01",
    serial: Some("SN-DUPLICATED-1"),
    mac: "00:1a:2b:00:00:11",
    ip: "198.18.0.21",
    user: None,
};
const TWIN2: Pc = Pc {
    agent: 12,
    hostname: "pc-radio-02",
    serial: Some("SN-DUPLICATED-1"),
    mac: "00:1a:2b:00:00:12",
    ip: "198.18.0.22",
    user: None,
};

/// Documents that arrive while the write lock is taken are applied together by the next
/// holder, in one transaction; each still gets its own answer, a document refused on the way
/// writes nothing and stops none of the others, and a replay among them is recognised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventories_queued_together_are_applied_together_each_with_its_answer() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(1);
    let pc3 = Pc {
        agent: 3,
        hostname: "pc-accueil-03",
        serial: Some("5CG3333DEF"),
        mac: "00:1a:2b:3c:4d:03",
        ip: "198.18.0.13",
        user: None,
    };
    let unknown_list = leaving_out_software(inventory(&pc3, t0), &"0".repeat(64));
    let pc1 = inventory(&PC1, t0);
    let docs = [
        ("pc1", pc1.clone()),
        ("pc2", inventory(&PC2, t0)),
        ("pc3 without its list", unknown_list),
        ("pc1 again", pc1),
        ("pc3", inventory(&pc3, t0 + Duration::minutes(1))),
    ];
    let held = e.store.write().await.unwrap();
    let mut sent = Vec::new();
    for (what, doc) in docs {
        // One after the other, so that the queue keeps this order.
        let app = e.app.clone();
        let request = common::document("/api/v1/inventories", &e.nord, &doc);
        let waiting = e.store.inventories_waiting();
        sent.push((what, tokio::spawn(async move { send(&app, request).await })));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while e.store.inventories_waiting() == waiting {
            assert!(std::time::Instant::now() < deadline, "{what} never queued");
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(e.store.inventories_waiting(), 5);
    drop(held);

    let mut answers = Vec::new();
    for (what, task) in sent {
        let (status, v) = task.await.unwrap();
        answers.push((what, status, v));
    }
    let (_, status, v) = &answers[2];
    assert_eq!(*status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"], "software_list_unknown");
    let created: Vec<(&str, StatusCode, bool)> = answers
        .iter()
        .map(|(what, status, v)| (*what, *status, v["created"] == true))
        .collect();
    assert_eq!(
        created,
        [
            ("pc1", StatusCode::CREATED, true),
            ("pc2", StatusCode::CREATED, true),
            ("pc3 without its list", StatusCode::CONFLICT, false),
            ("pc1 again", StatusCode::OK, false),
            ("pc3", StatusCode::CREATED, true),
        ]
    );
    assert_eq!(answers[3].2["duplicate"], true);
    assert_eq!(answers[3].2["asset_id"], answers[0].2["asset_id"]);
    let (_, list) = get(&e.app, "/api/v1/assets", &e.admin).await;
    assert_eq!(list["total"], 3, "{list}");
    assert_eq!(e.store.inventories_waiting(), 0);
}

#[tokio::test]
async fn split_keeps_sources_apart_from_then_on_and_undo_restores() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(3);
    let a = ingest(&e, &TWIN1, t0).await;
    assert_eq!(ingest(&e, &TWIN2, t0 + Duration::minutes(1)).await, a);
    let before = detail(&e, a).await;
    let sources = before["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[1]["rule"], "serial");
    assert_eq!(
        sources[1]["matched_keys"],
        json!([{"key": "serial", "value": "SN-DUPLICATED-1"}]),
        "the detail says why the second source joined"
    );
    let twin2_source = sources[1]["id"].as_i64().unwrap();

    let (status, op) = admin_acts(&e, a, "split", json!({"sources": [twin2_source]})).await;
    assert_eq!(status, StatusCode::OK, "{op}");
    let b = op["other_asset_id"].as_i64().unwrap();
    let (da, db) = (detail(&e, a).await, detail(&e, b).await);
    assert_eq!(da["mac_addresses"], json!([TWIN1.mac]));
    assert_eq!(db["mac_addresses"], json!([TWIN2.mac]));
    assert_eq!(db["name"], "pc-radio-02");
    assert_eq!(db["sources"][0]["rule"], "split");
    assert_eq!(
        db["software"][0]["name"], "agent-of-pc-radio-02",
        "facts went with the source"
    );

    // New inventories from both machines land on their own side.
    assert_eq!(ingest(&e, &TWIN2, t0 + Duration::hours(1)).await, b);
    assert_eq!(ingest(&e, &TWIN1, t0 + Duration::hours(1)).await, a);
    assert_eq!(detail(&e, a).await["name"], "pc-radio-01");
    assert_eq!(detail(&e, b).await["name"], "pc-radio-02");

    // Invalid splits name the problem.
    for (body, want) in [
        (json!({"sources": []}), "sources is empty"),
        (json!({"sources": [987654]}), "not on this asset"),
        (json!({"sources": "all"}), "invalid type"),
    ] {
        let (status, v) = admin_acts(&e, a, "split", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().contains(want), "{body}: {v}");
    }

    // Undo: one asset again, the split-off one gone, history of both kept on the first.
    let undo = format!("/api/v1/operations/{}/undo", op["operation_id"]);
    let (status, v) = call(&e.app, Method::POST, &undo, Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _) = get(&e.app, &format!("/api/v1/assets/{b}"), &e.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let back = detail(&e, a).await;
    assert_eq!(back["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        back["mac_addresses"], before["mac_addresses"],
        "as before the split (the second inventory had replaced the first's MAC)"
    );
    let h = history(&e, a).await;
    assert_eq!(h[0]["field"], "undo");
    assert!(h.iter().any(|x| x["field"] == "split"));
}

#[tokio::test]
async fn split_then_undo_restores_the_asset_exactly() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(3);
    let a = ingest(&e, &TWIN1, t0).await;
    ingest(&e, &TWIN2, t0 + Duration::minutes(1)).await;
    let before = detail(&e, a).await;
    let source = before["sources"][1]["id"].as_i64().unwrap();
    let (_, op) = admin_acts(&e, a, "split", json!({"sources": [source]})).await;
    let undo = format!("/api/v1/operations/{}/undo", op["operation_id"]);
    let (status, _) = call(&e.app, Method::POST, &undo, Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail(&e, a).await, before);
}

#[tokio::test]
async fn undo_is_refused_while_later_operations_depend_on_it() {
    let e = env().await;
    let t0 = Utc::now() - Duration::hours(3);
    let a = ingest(&e, &PC1, t0).await;
    let b = ingest(&e, &PC2, t0).await;
    let (_, merge) = admin_acts(&e, a, "merge", json!({"from": b})).await;
    let source = detail(&e, a).await["sources"][1]["id"].as_i64().unwrap();
    let (status, split) = admin_acts(&e, a, "split", json!({"sources": [source]})).await;
    assert_eq!(status, StatusCode::OK, "{split}");
    let undo = |op: &Value| format!("/api/v1/operations/{}/undo", op["operation_id"]);
    let (status, v) = call(&e.app, Method::POST, &undo(&merge), Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("undo operation {} first", split["operation_id"])),
        "{v}"
    );
    let (status, _) = call(&e.app, Method::POST, &undo(&split), Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&e.app, Method::POST, &undo(&merge), Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail(&e, b).await["name"], PC2.hostname);
    let unknown = "/api/v1/operations/424242/undo";
    let (status, _) = call(&e.app, Method::POST, unknown, Some(&e.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reports_list_unmanaged_silent_and_stale_within_the_callers_entities() {
    let e = env().await;
    let now = Utc::now();
    // PC1 reports now; PC2's agent went silent 10 days ago, and nothing saw it for 40 days
    // (the sweep below does not reach it).
    let managed = ingest(&e, &PC1, now).await;
    let silent = ingest(&e, &PC2, now - Duration::days(40)).await;
    // A sweep sees PC1 and a printer without agent; another in entity 2 sees a camera.
    post_sweep(
        &e,
        &e.nord,
        &[(PC1.ip, PC1.mac), ("198.18.0.80", "00:80:77:00:00:80")],
        now,
    )
    .await;
    post_sweep(&e, &e.sud, &[("198.18.1.90", "00:40:8c:00:00:90")], now).await;

    let (status, r) = get(&e.app, "/api/v1/reports/unmanaged", &e.viewer).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let names: Vec<(&str, &str)> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["site"].as_str().unwrap(),
                i["seen_by"][0].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("chu-nord", "sweep")],
        "viewer of entity 1 only: {r}"
    );
    assert!(r["items"][0]["id"] != json!(managed));
    assert_eq!(r["sites"], json!([{"site": "chu-nord", "count": 1}]));
    let (_, r) = get(&e.app, "/api/v1/reports/unmanaged", &e.admin).await;
    assert_eq!(
        r["sites"],
        json!([{"site": "chu-nord", "count": 1}, {"site": "chu-sud", "count": 1}])
    );
    let (_, r) = get(&e.app, "/api/v1/reports/unmanaged?site=chu-sud", &e.admin).await;
    assert_eq!(r["total"], 1);
    let (_, r) = get(&e.app, "/api/v1/reports/unmanaged?site=chu-sud", &e.viewer).await;
    assert_eq!(r["total"], 0, "another entity's site reads as empty");
    let (status, _) = get(&e.app, "/api/v1/reports/unmanaged?sort=x", &e.viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, r) = get(&e.app, "/api/v1/reports/silent-agents", &e.viewer).await;
    let silent_agents: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(silent_agents, vec![Uuid::from_u128(PC2.agent).to_string()]);
    assert_eq!(r["silent_after_days"], 7);

    let (_, r) = get(&e.app, "/api/v1/reports/stale", &e.viewer).await;
    let stale: Vec<i64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stale, vec![silent]);
    assert_eq!(detail(&e, silent).await["stale"], true);
    assert_eq!(detail(&e, managed).await["stale"], false);
    let (_, r) = get(&e.app, "/api/v1/reports/stale", &e.sud_admin).await;
    assert_eq!(r["items"], json!([]));

    // Retired assets are expected to be silent.
    patch(&e, silent, &e.tech, json!({"state": "retired"})).await;
    let (_, r) = get(&e.app, "/api/v1/reports/stale", &e.viewer).await;
    assert_eq!(r["items"], json!([]));
    let (_, r) = get(&e.app, "/api/v1/reports/silent-agents", &e.viewer).await;
    assert_eq!(r["items"], json!([]));
}

#[tokio::test]
async fn roles_and_entities_are_enforced_on_every_route() {
    let e = env().await;
    let now = Utc::now();
    let a = ingest(&e, &PC1, now).await;
    let b = ingest(&e, &PC2, now).await;
    let pc_sud = Pc {
        agent: 30,
        hostname: "pc-sud",
        serial: Some("SUD-1"),
        mac: "00:1a:2b:00:00:30",
        ip: "198.18.1.30",
        user: None,
    };
    let sud = ingest_to(&e, &e.sud, &pc_sud, now).await;
    let counts = e.store.row_counts().await.unwrap();

    let p = |id: i64| format!("/api/v1/assets/{id}");
    let merge = |id: i64| format!("/api/v1/assets/{id}/merge");
    let split = |id: i64| format!("/api/v1/assets/{id}/split");
    let (tech, viewer, sud_admin, admin) = (
        Some(e.tech.as_str()),
        Some(e.viewer.as_str()),
        Some(e.sud_admin.as_str()),
        Some(e.admin.as_str()),
    );
    let notes = || json!({"notes": "x"});
    let sources = || json!({"sources": [1]});
    let from = |id: i64| json!({ "from": id });
    let none = || Value::Null;
    let stale = || "/api/v1/reports/stale".to_string();
    let undo = || "/api/v1/operations/1/undo".to_string();
    use Method as M;
    use StatusCode as S;
    // Name, method, path, token, body (null: none), expected status.
    type Case<'a> = (&'a str, Method, String, Option<&'a str>, Value, StatusCode);
    // One row a case: rustfmt would stretch each over eight lines.
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no token", M::PATCH, p(a), None, notes(), S::UNAUTHORIZED),
        ("viewer edits", M::PATCH, p(a), viewer, notes(), S::FORBIDDEN),
        ("other entity edits", M::PATCH, p(a), sud_admin, notes(), S::NOT_FOUND),
        ("technician merges", M::POST, merge(a), tech, from(b), S::FORBIDDEN),
        ("viewer splits", M::POST, split(a), viewer, sources(), S::FORBIDDEN),
        ("other entity splits", M::POST, split(a), sud_admin, sources(), S::NOT_FOUND),
        ("merge across entities by an entity admin", M::POST, merge(sud), sud_admin, from(a),
            S::NOT_FOUND),
        ("merge into itself", M::POST, merge(a), admin, from(a), S::UNPROCESSABLE_ENTITY),
        ("merge an unknown asset", M::POST, merge(a), admin, from(999_999), S::NOT_FOUND),
        ("no token on reports", M::GET, stale(), None, none(), S::UNAUTHORIZED),
        ("no token on undo", M::POST, undo(), None, none(), S::UNAUTHORIZED),
    ];
    for (name, method, path, token, body, want) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, v) = call(&e.app, method, &path, token, body).await;
        assert_eq!(status, want, "{name}: {v}");
    }
    assert_eq!(
        e.store.row_counts().await.unwrap(),
        counts,
        "refusals change nothing"
    );

    // A group admin merges across entities; undo is refused to the other entity's admin
    // (it cannot even see the operation) and to a technician.
    let (status, op) = admin_acts(&e, a, "merge", json!({"from": sud})).await;
    assert_eq!(status, StatusCode::OK, "{op}");
    let undo = format!("/api/v1/operations/{}/undo", op["operation_id"]);
    for (token, want) in [
        (&e.sud_admin, StatusCode::NOT_FOUND),
        (&e.tech, StatusCode::FORBIDDEN),
        (&e.admin, StatusCode::OK),
    ] {
        let (status, v) = call(&e.app, Method::POST, &undo, Some(token), None).await;
        assert_eq!(status, want, "{v}");
    }
    assert_eq!(detail(&e, sud).await["site"], "chu-sud");
}
