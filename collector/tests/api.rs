//! Handler tests: the real router against a real SQLite file in a temporary directory, driven
//! with `oneshot`; one test over a real socket on 127.0.0.1.

mod common;

use std::io::Write;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{Duration, Utc};
use common::{gzip, post, send};
use parc_collector::http::AppState;
use parc_collector::store::Backend;
use parc_shared::inventory::{NetworkInterface, Software};
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, HardwareId, Inventory, ProbeMethod,
    SourceKind,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// Small enough that "too large" tests stay fast; the configuration's own floor.
const TEST_MAX_DOCUMENT: usize = 64 * 1024;

type Env = common::Intake;

async fn env() -> Env {
    common::intake(|store| AppState::new(store, TEST_MAX_DOCUMENT)).await
}

struct Machine {
    agent: Uuid,
    hostname: &'static str,
    serial: Option<&'static str>,
    uuid: Option<&'static str>,
    mac: &'static str,
    ip: &'static str,
}

const PC1: Machine = Machine {
    agent: Uuid::from_u128(1),
    hostname: "pc-0001",
    serial: Some("5CG1234XYZ"),
    uuid: Some("4c4c4544-0042-3510-8052-b4c04f4a4e32"),
    mac: "00:1a:2b:3c:4d:01",
    ip: "198.18.0.10/21",
};

fn inventory(m: &Machine, observed: chrono::DateTime<Utc>) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = m.hostname.into();
    inv.os.family = "linux".into();
    inv.os.name = Some("Debian GNU/Linux".into());
    inv.os.version = Some("12".into());
    inv.hardware.dmi_available = m.serial.is_some();
    inv.hardware.model = Some("EliteDesk 800 G6".into());
    inv.hardware.serial = m.serial.and_then(HardwareId::serial);
    inv.hardware.uuid = m.uuid.and_then(HardwareId::uuid);
    inv.memory.total_bytes = 8 << 30;
    inv.network.interfaces = vec![
        NetworkInterface {
            name: "eth0".into(),
            mac: Some(m.mac.into()),
            addresses: vec![m.ip.into(), "fe80::1/64".into()],
            state: "up".into(),
            ..Default::default()
        },
        NetworkInterface {
            name: "docker0".into(),
            mac: Some("02:42:ac:11:00:01".into()),
            addresses: vec!["172.17.0.1/16".into()],
            state: "up".into(),
            is_virtual: true,
            ..Default::default()
        },
    ];
    inv.software = vec![package("curl", "7.88.1"), package("firefox-esr", "115.1.0")];
    Document {
        header: DocumentHeader::new(m.agent, SourceKind::AgentInventory, observed),
        body: inv,
    }
}

fn package(name: &str, version: &str) -> Software {
    Software {
        name: name.into(),
        version: Some(version.into()),
        arch: Some("amd64".into()),
        source: "dpkg".into(),
        ..Default::default()
    }
}

fn sweep(hosts: Vec<DiscoveredHost>) -> Document<Discovery> {
    common::discovery(
        Uuid::from_u128(99),
        &["198.18.0.0/21"],
        2046,
        Utc::now(),
        hosts,
    )
}

fn host(ip: &str, mac: Option<&str>, name: Option<&str>) -> DiscoveredHost {
    DiscoveredHost {
        ip: ip.into(),
        mac: mac.map(str::to_string),
        name: name.map(str::to_string),
        methods: vec![ProbeMethod::IcmpEcho],
        ..Default::default()
    }
}

/// `body` posted with the site token, `encoding` as its content encoding when given.
async fn post_bytes(
    e: &Env,
    path: &str,
    body: Vec<u8>,
    encoding: Option<&str>,
) -> (StatusCode, Value) {
    send(&e.app, post(path, Some(&e.token), body, encoding)).await
}

async fn post_json(e: &Env, path: &str, doc: &impl serde::Serialize) -> (StatusCode, Value) {
    post_bytes(e, path, serde_json::to_vec(doc).unwrap(), None).await
}

async fn get(e: &Env, path: &str) -> (StatusCode, Value) {
    send(&e.app, Request::get(path).body(Body::empty()).unwrap()).await
}

fn nothing_stored(counts: &[(&str, i64)]) {
    for (table, n) in counts {
        assert_eq!(*n, 0, "{table} has {n} rows after a refused document");
    }
}

#[tokio::test]
async fn missing_bad_or_revoked_token_is_401_and_stores_nothing() {
    let e = env().await;
    let body = serde_json::to_vec(&inventory(&PC1, Utc::now())).unwrap();
    let (id, revoked) = e.store.create_token("chu-nord").await.unwrap();
    // Found valid once (and so remembered): revoking it here must still stop it at once.
    assert!(e.store.authenticate(&revoked).await.unwrap().is_some());
    e.store.revoke_token(id).await.unwrap();
    let wrong = format!("parc_{}", "0".repeat(64));
    for (name, token) in [
        ("missing", None),
        ("unknown", Some(wrong.as_str())),
        ("revoked", Some(revoked.as_str())),
        ("not a parc token", Some("hello")),
    ] {
        let (status, answer) = send(
            &e.app,
            post("/api/v1/inventories", token, body.clone(), None),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {answer}");
        assert_eq!(answer["error"], "unauthorized", "{name}");
        let (status, _) = send(
            &e.app,
            post("/api/v1/discoveries", token, b"{}".to_vec(), None),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    nothing_stored(&e.store.row_counts().await.unwrap());
}

#[tokio::test]
async fn malformed_documents_are_400_naming_the_problem() {
    let e = env().await;
    let mut wrong_type = serde_json::to_value(inventory(&PC1, Utc::now())).unwrap();
    wrong_type["body"]["memory"]["total_bytes"] = json!("lots");
    let mut missing = serde_json::to_value(inventory(&PC1, Utc::now())).unwrap();
    missing["header"]
        .as_object_mut()
        .unwrap()
        .remove("document_id");
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "truncated",
            b"{\"header\": ".to_vec(),
            "malformed_json",
            "EOF",
        ),
        ("not JSON", b"hello".to_vec(), "malformed_json", "line 1"),
        (
            "wrong type",
            serde_json::to_vec(&wrong_type).unwrap(),
            "invalid_document",
            "body.memory.total_bytes",
        ),
        (
            "missing field",
            serde_json::to_vec(&missing).unwrap(),
            "invalid_document",
            "document_id",
        ),
    ];
    for (name, body, code, needle) in cases {
        let (status, answer) = post_bytes(&e, "/api/v1/inventories", body, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {answer}");
        assert_eq!(answer["error"], code, "{name}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {message}");
    }
    let (status, answer) = post_bytes(
        &e,
        "/api/v1/inventories",
        b"not gzip".to_vec(),
        Some("gzip"),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("bad_gzip"))
    );
    nothing_stored(&e.store.row_counts().await.unwrap());
}

#[tokio::test]
async fn unacceptable_documents_are_422_naming_the_field() {
    let e = env().await;
    let doc = serde_json::to_value(inventory(&PC1, Utc::now())).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        d
    };
    let cases = vec![
        (
            "schema version",
            "/api/v1/inventories",
            edit(&|d| d["header"]["schema_version"] = json!(7)),
            "unsupported_schema_version",
            "schema_version 7 is not supported: this collector accepts schema_version 1",
        ),
        (
            "sweep sent as inventory",
            "/api/v1/inventories",
            edit(&|d| d["header"]["source"] = json!("sweep")),
            "wrong_source",
            "agent_inventory",
        ),
        (
            "inventory sent as sweep",
            "/api/v1/discoveries",
            doc.clone(),
            "wrong_source",
            "accepts only \"sweep\"",
        ),
        (
            "empty hostname",
            "/api/v1/inventories",
            edit(&|d| d["body"]["host"]["hostname"] = json!("")),
            "limit_exceeded",
            "body.host.hostname",
        ),
        (
            "overlong field",
            "/api/v1/inventories",
            edit(&|d| d["body"]["software"][0]["name"] = json!("x".repeat(5000))),
            "limit_exceeded",
            "body.software[0].name",
        ),
    ];
    for (name, path, body, code, needle) in cases {
        let (status, answer) = post_json(&e, path, &body).await;
        let want = if code == "invalid_document" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(status, want, "{name}: {answer}");
        assert_eq!(answer["error"], code, "{name}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(needle),
            "{name}: {answer}"
        );
    }
    let mut bad_ip = serde_json::to_value(sweep(vec![host("198.18.0.5", None, None)])).unwrap();
    bad_ip["body"]["hosts"][0]["ip"] = json!("198.18.0.500");
    let (status, answer) = post_json(&e, "/api/v1/discoveries", &bad_ip).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("body.hosts[0].ip"));
    nothing_stored(&e.store.row_counts().await.unwrap());
}

#[tokio::test]
async fn oversized_bodies_and_gzip_bombs_are_413() {
    let e = env().await;
    let mut big = inventory(&PC1, Utc::now());
    big.body.software = (0..2000)
        .map(|i| package(&format!("pkg-{i:05}"), "1.0"))
        .collect();
    let body = serde_json::to_vec(&big).unwrap();
    assert!(body.len() > TEST_MAX_DOCUMENT);

    let (status, answer) = post_bytes(&e, "/api/v1/inventories", body.clone(), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "too_large");

    // Compressed it fits on the wire, inflated it does not.
    let compressed = gzip(&body);
    assert!(compressed.len() < TEST_MAX_DOCUMENT);
    let (status, answer) = post_bytes(&e, "/api/v1/inventories", compressed, Some("gzip")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("decompressed"),
        "{answer}"
    );

    // A bomb: 64 MiB of zeros in about 64 KiB.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap();
    let (status, _) = post_bytes(&e, "/api/v1/discoveries", bomb, Some("gzip")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, answer) = post_bytes(&e, "/api/v1/inventories", body, Some("br")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    nothing_stored(&e.store.row_counts().await.unwrap());
}

#[tokio::test]
async fn accepted_inventory_reads_back_as_asset_detail_and_history() {
    let e = env().await;
    let doc = inventory(&PC1, Utc::now());
    let (status, answer) = post_bytes(
        &e,
        "/api/v1/inventories",
        gzip(&serde_json::to_vec(&doc).unwrap()),
        Some("gzip"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer,
        json!({"asset_id": answer["asset_id"], "created": true, "rule": "new", "duplicate": false, "changes": 1,
            "software_digest": parc_shared::software_digest(&doc.body.software),
            "accepts_software_delta": true})
    );
    let id = answer["asset_id"].as_i64().unwrap();

    let (status, list) = get(&e, "/api/v1/assets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            list["total"].clone(),
            list["page"].clone(),
            list["per_page"].clone()
        ),
        (json!(1), json!(1), json!(50))
    );
    let item = &list["items"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["name"], "pc-0001");
    assert_eq!(item["kind"], "computer");
    assert_eq!(item["site"], "chu-nord");
    assert_eq!(item["serial"], "5CG1234XYZ");
    assert_eq!(item["os"], "Debian GNU/Linux 12");
    // Virtual interfaces and link-local addresses do not identify the machine.
    assert_eq!(item["mac_addresses"], json!(["00:1a:2b:3c:4d:01"]));
    assert_eq!(item["ip_addresses"], json!(["198.18.0.10"]));

    let (status, asset) = get(&e, &format!("/api/v1/assets/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        asset["hardware"]["serial"],
        json!({"value": "5CG1234XYZ", "junk": false})
    );
    assert_eq!(asset["os"]["name"], "Debian GNU/Linux");
    assert_eq!(asset["network_interfaces"].as_array().unwrap().len(), 2);
    assert_eq!(asset["network_interfaces"][1]["virtual"], true);
    assert_eq!(asset["software_count"], 2);
    assert_eq!(asset["software"][1]["name"], "firefox-esr");
    assert_eq!(asset["memory"]["total_bytes"], 8u64 << 30);
    assert_eq!(asset["match_rule"], "new");
    let sources = asset["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["kind"], "agent_inventory");
    assert_eq!(sources[0]["agent_id"], PC1.agent.to_string());
    assert_eq!(
        sources[0]["last_document_id"],
        doc.header.document_id.to_string()
    );

    let (_, history) = get(&e, &format!("/api/v1/assets/{id}/history")).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["field"], "asset");
    assert_eq!(items[0]["old"], Value::Null);
    assert_eq!(items[0]["new"], "created (rule: new)");
    assert_eq!(items[0]["source"], "agent_inventory");

    let (status, missing) = get(&e, "/api/v1/assets/999").await;
    assert_eq!(
        (status, missing["error"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, _) = get(&e, "/api/v1/assets/999/history").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&e, "/api/v1/assets/abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn replay_changes_nothing() {
    let e = env().await;
    let doc = inventory(&PC1, Utc::now());
    let (status, first) = post_json(&e, "/api/v1/inventories", &doc).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = first["asset_id"].as_i64().unwrap();
    let counts = e.store.row_counts().await.unwrap();
    let (_, before) = get(&e, &format!("/api/v1/assets/{id}")).await;

    // Same document id, content changed and later: still a replay.
    let mut replay = doc.clone();
    replay.body.host.hostname = "other".into();
    replay.header.observed_at = Utc::now() + Duration::hours(1);
    let (status, answer) = post_json(&e, "/api/v1/inventories", &replay).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"asset_id": id, "created": false, "rule": "new", "duplicate": true, "changes": 0})
    );
    assert_eq!(e.store.row_counts().await.unwrap(), counts);
    assert_eq!(get(&e, &format!("/api/v1/assets/{id}")).await.1, before);
}

#[tokio::test]
async fn renamed_and_upgraded_machine_is_the_same_asset_with_history() {
    let e = env().await;
    // In the past: observations are never later than their arrival.
    let t0 = Utc::now() - Duration::hours(1);
    let (_, first) = post_json(&e, "/api/v1/inventories", &inventory(&PC1, t0)).await;
    let id = first["asset_id"].as_i64().unwrap();

    let mut later = inventory(&PC1, t0 + Duration::minutes(5));
    later.body.host.hostname = "PC-RADIO-3".into();
    later.body.software[1] = package("firefox-esr", "115.2.0");
    let (status, answer) = post_json(&e, "/api/v1/inventories", &later).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["asset_id"], id);
    assert_eq!(answer["rule"], "uuid+serial");
    assert_eq!(answer["changes"], 2);

    let (_, list) = get(&e, "/api/v1/assets").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["name"], "PC-RADIO-3");
    let (_, history) = get(&e, &format!("/api/v1/assets/{id}/history")).await;
    let fields: Vec<(Value, Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["field"].clone(), h["old"].clone(), h["new"].clone()))
        .collect();
    // Newest first: the two changes, then the creation.
    assert_eq!(
        fields,
        vec![
            (
                json!("software"),
                json!("firefox-esr 115.1.0"),
                json!("firefox-esr 115.2.0")
            ),
            (json!("hostname"), json!("pc-0001"), json!("PC-RADIO-3")),
            (json!("asset"), Value::Null, json!("created (rule: new)")),
        ]
    );
    assert_eq!(
        history["items"][0]["document_id"],
        later.header.document_id.to_string()
    );

    // The same facts again under a new document id: recorded as seen, no history.
    let mut same = later.clone();
    same.header.document_id = Uuid::new_v4();
    same.header.observed_at = t0 + Duration::minutes(10);
    let (_, answer) = post_json(&e, "/api/v1/inventories", &same).await;
    assert_eq!(
        (answer["changes"].clone(), answer["duplicate"].clone()),
        (json!(0), json!(false))
    );
    let (_, asset) = get(&e, &format!("/api/v1/assets/{id}")).await;
    assert_eq!(
        asset["last_seen"].as_str().unwrap(),
        parc_collector::store::ts(same.header.observed_at)
    );
    assert_eq!(asset["software"][1]["version"], "115.2.0");
}

#[tokio::test]
async fn reimaged_pc_and_cloned_vm() {
    let e = env().await;
    let (_, first) = post_json(&e, "/api/v1/inventories", &inventory(&PC1, Utc::now())).await;
    let id = first["asset_id"].as_i64().unwrap();

    // Re-imaged: new agent, new name, new OS id; same hardware.
    let reimaged = Machine {
        agent: Uuid::from_u128(2),
        hostname: "pc-fresh",
        ..PC1
    };
    let (_, answer) = post_json(&e, "/api/v1/inventories", &inventory(&reimaged, Utc::now())).await;
    assert_eq!(
        (answer["asset_id"].clone(), answer["rule"].clone()),
        (json!(id), json!("uuid+serial"))
    );
    let (_, asset) = get(&e, &format!("/api/v1/assets/{id}")).await;
    assert_eq!(
        asset["sources"].as_array().unwrap().len(),
        2,
        "one source per agent"
    );

    // Two VMs cloned from one template: same SMBIOS UUID, no serial, different everything else.
    let vm = |n: u128, name: &'static str, mac: &'static str| Machine {
        agent: Uuid::from_u128(n),
        hostname: name,
        serial: None,
        uuid: Some("564d1234-5678-9abc-def0-123456789abc"),
        mac,
        ip: "198.18.1.1/21",
    };
    let (s1, a) = post_json(
        &e,
        "/api/v1/inventories",
        &inventory(&vm(10, "vm-a", "00:50:56:00:00:0a"), Utc::now()),
    )
    .await;
    let (s2, b) = post_json(
        &e,
        "/api/v1/inventories",
        &inventory(&vm(11, "vm-b", "00:50:56:00:00:0b"), Utc::now()),
    )
    .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{a} {b}"
    );
    assert_ne!(a["asset_id"], b["asset_id"]);
    let (_, list) = get(&e, "/api/v1/assets").await;
    assert_eq!(list["total"], 3);
}

#[tokio::test]
async fn older_document_delivered_late_does_not_roll_facts_back() {
    let e = env().await;
    let t0 = Utc::now();
    let mut new = inventory(&PC1, t0);
    new.body.host.hostname = "pc-new-name".into();
    let old = inventory(&PC1, t0 - Duration::hours(2));
    let (_, a) = post_json(&e, "/api/v1/inventories", &new).await;
    let id = a["asset_id"].as_i64().unwrap();
    let (status, b) = post_json(&e, "/api/v1/inventories", &old).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (b["asset_id"].clone(), b["changes"].clone()),
        (json!(id), json!(0))
    );
    let (_, asset) = get(&e, &format!("/api/v1/assets/{id}")).await;
    assert_eq!(asset["name"], "pc-new-name");
    assert_eq!(
        asset["first_seen"].as_str().unwrap(),
        parc_collector::store::ts(old.header.observed_at)
    );
    assert_eq!(
        asset["last_seen"].as_str().unwrap(),
        parc_collector::store::ts(t0)
    );
}

#[tokio::test]
async fn concurrent_documents_for_one_machine_make_one_asset() {
    let e = env().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = e.app.clone();
        let token = e.token.clone();
        let doc = inventory(&PC1, Utc::now() + Duration::seconds(i));
        tasks.push(tokio::spawn(async move {
            send(&app, common::document("/api/v1/inventories", &token, &doc)).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert!(status.is_success(), "{answer}");
        created += usize::from(answer["created"] == true);
    }
    assert_eq!(created, 1);
    assert_eq!(get(&e, "/api/v1/assets").await.1["total"], 1);
}

#[tokio::test]
async fn sweeps_merge_by_mac_then_address_and_create_unknown_assets() {
    let e = env().await;
    let (_, pc) = post_json(&e, "/api/v1/inventories", &inventory(&PC1, Utc::now())).await;
    let pc_id = pc["asset_id"].as_i64().unwrap();

    let first = sweep(vec![
        // The PC, seen at a second address, MAC in another spelling.
        host(
            "198.18.0.77",
            Some("00-1A-2B-3C-4D-01"),
            Some("pc-0001.lan.test"),
        ),
        host(
            "198.18.3.9",
            Some("00:11:22:33:44:55"),
            Some("printer-2.lan.test"),
        ),
        // Routed: no MAC.
        host("198.18.5.5", None, None),
    ]);
    let (status, answer) = post_json(&e, "/api/v1/discoveries", &first).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"hosts": 3, "created": 2, "matched": 1, "duplicate": false})
    );

    let (_, asset) = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(asset["ip_addresses"], json!(["198.18.0.10", "198.18.0.77"]));
    assert_eq!(asset["kind"], "computer");
    let kinds = common::source_kinds(&asset);
    assert_eq!(kinds, ["agent_inventory", "sweep"]);
    assert_eq!(asset["sources"][1]["rule"], "mac");

    let (_, unknown) = get(&e, "/api/v1/assets?kind=unknown").await;
    assert_eq!(unknown["total"], 2);
    let printer = &unknown["items"][0];
    assert_eq!(
        (printer["name"].clone(), printer["mac_addresses"].clone()),
        (json!("printer-2.lan.test"), json!(["00:11:22:33:44:55"]))
    );
    assert_eq!(unknown["items"][1]["name"], Value::Null);

    // Replay: nothing changes.
    let counts = e.store.row_counts().await.unwrap();
    let (_, replay) = post_json(&e, "/api/v1/discoveries", &first).await;
    assert_eq!(
        replay,
        json!({"hosts": 3, "created": 0, "matched": 0, "duplicate": true})
    );
    assert_eq!(e.store.row_counts().await.unwrap(), counts);

    // Next sweep: the routed host is found again at its address, the printer by MAC; an
    // address now answering with another MAC is another device.
    let second = sweep(vec![
        host("198.18.5.5", None, Some("ws-55.lan.test")),
        host("198.18.3.9", Some("00:11:22:33:44:55"), None),
        host("198.18.0.10", Some("00:aa:bb:cc:dd:ee"), None),
    ]);
    let (_, answer) = post_json(&e, "/api/v1/discoveries", &second).await;
    assert_eq!(
        answer,
        json!({"hosts": 3, "created": 1, "matched": 2, "duplicate": false})
    );
    let (_, all) = get(&e, "/api/v1/assets?per_page=10").await;
    assert_eq!(all["total"], 4);
    let (_, named) = get(&e, "/api/v1/assets?q=WS-55").await;
    assert_eq!(
        named["total"], 1,
        "a name learnt later fills the blank: {named}"
    );

    // The later inventory of a machine first seen by a sweep merges into that asset.
    let printer_id = printer["id"].as_i64().unwrap();
    let printer_agent = Machine {
        agent: Uuid::from_u128(3),
        hostname: "printer-2",
        serial: None,
        uuid: None,
        mac: "00:11:22:33:44:55",
        ip: "198.18.3.9/21",
    };
    let (_, answer) = post_json(
        &e,
        "/api/v1/inventories",
        &inventory(&printer_agent, Utc::now()),
    )
    .await;
    assert_eq!(
        (answer["asset_id"].clone(), answer["rule"].clone()),
        (json!(printer_id), json!("mac"))
    );
    let (_, printer) = get(&e, &format!("/api/v1/assets/{printer_id}")).await;
    assert_eq!(
        (printer["kind"].clone(), printer["software_count"].clone()),
        (json!("computer"), json!(2))
    );
    let (_, history) = get(&e, &format!("/api/v1/assets/{printer_id}/history")).await;
    assert_eq!(history["items"][0]["field"], "hostname", "{history}");
    assert_eq!(history["items"][1]["field"], "kind", "{history}");
}

#[tokio::test]
async fn asset_search_and_paging() {
    let e = env().await;
    let mut machines = Vec::new();
    for i in 0..5u128 {
        let mut doc = inventory(&PC1, Utc::now());
        doc.header.agent_id = Uuid::from_u128(100 + i);
        doc.body.host.hostname = format!("ws-{i}");
        doc.body.hardware.serial = HardwareId::serial(&format!("SN-{i}-ABC"));
        doc.body.hardware.uuid = None;
        doc.body.network.interfaces[0].mac = Some(format!("00:1a:2b:00:00:0{i}"));
        doc.body.network.interfaces[0].addresses = vec![format!("198.18.2.{i}/21")];
        machines.push(doc);
    }
    for doc in &machines {
        assert_eq!(
            post_json(&e, "/api/v1/inventories", doc).await.0,
            StatusCode::CREATED
        );
    }
    let cases = [
        ("/api/v1/assets?q=sn-3", 1),
        ("/api/v1/assets?q=00:1a:2b:00:00:04", 1),
        ("/api/v1/assets?q=198.18.2.", 5),
        ("/api/v1/assets?q=elitedesk", 5),
        ("/api/v1/assets?q=%25", 0),
        ("/api/v1/assets?site=chu-nord&kind=computer", 5),
        ("/api/v1/assets?site=elsewhere", 0),
        ("/api/v1/assets?q=", 5),
    ];
    for (path, total) in cases {
        let (status, page) = get(&e, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(page["total"], total, "{path}: {page}");
    }
    let (_, page) = get(&e, "/api/v1/assets?per_page=2&page=3").await;
    assert_eq!(
        (
            page["total"].clone(),
            page["items"].as_array().unwrap().len()
        ),
        (json!(5), 1)
    );
    assert_eq!(page["items"][0]["name"], "ws-4");
    for bad in ["per_page=501", "per_page=0", "page=0", "page=x"] {
        let (status, answer) = get(&e, &format!("/api/v1/assets?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer["error"], "bad_request", "{bad}");
    }
}

/// The JSON answer to a request over the socket.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn serves_over_a_real_socket_and_shuts_down() {
    let e = env().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(e.store.clone(), TEST_MAX_DOCUMENT);
    let server = tokio::spawn(parc_collector::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let health = json_of(client.get(format!("{base}/healthz"))).await;
    assert_eq!(health, json!({"status": "ok"}));
    let response = client
        .post(format!("{base}/api/v1/inventories"))
        .bearer_auth(&e.token)
        .json(&inventory(&PC1, Utc::now()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    // Too large, sent in full: the client gets the 413, not a reset connection.
    let big = vec![b' '; 4 * TEST_MAX_DOCUMENT];
    let response = client
        .post(format!("{base}/api/v1/inventories"))
        .bearer_auth(&e.token)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    let admin = parc_collector::auth::bootstrap::admin_api_token(&e.store, "socket-admin")
        .await
        .unwrap();
    let list = json_of(
        client
            .get(format!("{base}/api/v1/assets"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(list["total"], 1);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn busy_collector_answers_429_with_retry_after() {
    let e = env().await;
    let held = e
        .state
        .intake
        .clone()
        .try_acquire_many_owned(parc_collector::http::INTAKE_SLOTS)
        .unwrap();
    let body = serde_json::to_vec(&inventory(&PC1, Utc::now())).unwrap();
    let request = post("/api/v1/inventories", Some(&e.token), body.clone(), None);
    let (status, headers, _) = common::respond(&e.app, request).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers[header::RETRY_AFTER],
        parc_collector::http::RETRY_AFTER_SECS.to_string().as_str()
    );
    nothing_stored(&e.store.row_counts().await.unwrap());

    drop(held);
    let (status, _) = post_bytes(&e, "/api/v1/inventories", body, None).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// On PostgreSQL a collector analyses the lookup tables itself once it has stored its first
/// inventories (store/statistics.rs): without statistics the planner answered each lookup with
/// scans of every MAC, address and agent row. SQLite's planner needs none, and gets none.
#[tokio::test]
async fn lookup_tables_are_analysed_after_the_first_inventories() {
    let e = env().await;
    let first = parc_collector::store::statistics::FIRST_ANALYSIS;
    for i in 0..first {
        let mut doc = inventory(&PC1, Utc::now());
        doc.header.agent_id = Uuid::from_u128(1_000 + u128::from(i));
        doc.body.host.hostname = format!("pc-{i:04}");
        doc.body.hardware.serial = HardwareId::serial(&format!("SN{i:06}"));
        doc.body.hardware.uuid = None;
        doc.body.network.interfaces[0].mac =
            Some(format!("00:1a:2b:3c:{:02x}:{:02x}", i / 256, i % 256));
        let (status, answer) = send(
            &e.app,
            common::document("/api/v1/inventories", &e.token, &doc),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "inventory {i}: {answer}");
    }
    match e.store.backend() {
        Backend::Postgres => {
            // Well within autovacuum's naptime (a minute), so only the collector can have
            // analysed them.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let analysed: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL
                     AND relname IN ('assets', 'asset_macs', 'asset_addresses', 'sources', 'documents')",
                )
                .fetch_one(e.store.pool())
                .await
                .unwrap();
                if analysed == 5 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{analysed} of 5 tables analysed after {first} inventories"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        Backend::Sqlite => {
            let stat1: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'",
            )
            .fetch_one(e.store.pool())
            .await
            .unwrap();
            assert_eq!(stat1, 0, "SQLite was analysed");
        }
    }
}
