//! SNMP intake end to end through the real router and a real SQLite file: devices merged with
//! what agents and sweeps reported, PCs placed on switch ports, MACs from a router's ARP table,
//! and refused documents that write nothing.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use common::{gzip, post, send};
use parc_collector::http::AppState;
use parc_collector::placement::MAX_ACCESS_PORT_MACS;
use parc_shared::inventory::NetworkInterface;
use parc_shared::snmp::{
    ArpEntry, BridgeInfo, DeviceType, FdbEntry, Identification, LldpNeighbor, PrinterInfo,
    PrinterSupply, SnmpDevice, SnmpInterface, SnmpSystem,
};
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, HardwareId, Inventory, ProbeMethod,
    SourceKind,
};
use serde_json::{json, Value};
use uuid::Uuid;

const TEST_MAX_DOCUMENT: usize = 64 * 1024;
const SNMP_AGENT: Uuid = Uuid::from_u128(77);

type Env = common::Intake;

async fn env() -> Env {
    common::intake(|store| AppState::new(store, TEST_MAX_DOCUMENT)).await
}

async fn post_json(e: &Env, path: &str, doc: &impl serde::Serialize) -> (StatusCode, Value) {
    send(&e.app, common::document(path, &e.token, doc)).await
}

async fn get(e: &Env, path: &str) -> Value {
    let (status, value) = send(&e.app, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {value}");
    value
}

async fn history(e: &Env, id: i64) -> Vec<Value> {
    get(e, &format!("/api/v1/assets/{id}/history")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

const PC_MAC: &str = "00:1a:2b:3c:4d:01";

fn pc_inventory() -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = "pc-0001".into();
    inv.os.family = "linux".into();
    inv.hardware.model = Some("EliteDesk 800 G6".into());
    inv.hardware.manufacturer = Some("HP".into());
    inv.hardware.serial = HardwareId::serial("5CG1234XYZ");
    inv.network.interfaces = vec![NetworkInterface {
        name: "eth0".into(),
        mac: Some(PC_MAC.into()),
        addresses: vec!["198.18.0.10/21".into()],
        state: "up".into(),
        ..Default::default()
    }];
    Document {
        header: DocumentHeader::new(
            Uuid::from_u128(1),
            SourceKind::AgentInventory,
            Utc::now() - Duration::hours(1),
        ),
        body: inv,
    }
}

fn snmp_doc(device: SnmpDevice, observed: DateTime<Utc>) -> Document<SnmpDevice> {
    Document {
        header: DocumentHeader::new(SNMP_AGENT, SourceKind::Snmp, observed),
        body: device,
    }
}

fn sweep(hosts: Vec<DiscoveredHost>) -> Document<Discovery> {
    let at = Utc::now() - Duration::minutes(30);
    common::discovery(SNMP_AGENT, &["198.18.0.0/20"], 4094, at, hosts)
}

fn swept(ip: &str, mac: Option<&str>) -> DiscoveredHost {
    DiscoveredHost {
        ip: ip.into(),
        mac: mac.map(str::to_string),
        methods: vec![ProbeMethod::IcmpEcho],
        ..Default::default()
    }
}

fn iface(index: u32, name: &str, mac: &str) -> SnmpInterface {
    SnmpInterface {
        index,
        name: Some(name.into()),
        if_type: Some(6),
        mac: Some(mac.into()),
        admin_status: Some(1),
        oper_status: Some(1),
        ..Default::default()
    }
}

fn fdb(mac: &str, if_index: u32, vlan: u32) -> FdbEntry {
    FdbEntry {
        mac: mac.into(),
        bridge_port: if_index,
        if_index: Some(if_index),
        vlan: Some(vlan),
    }
}

/// An access switch: the PC on `pc_port`, an uplink on 48 with an LLDP neighbour and more
/// MACs than an access port carries.
fn switch(pc_port: u32) -> SnmpDevice {
    let mut forwarding = vec![fdb(PC_MAC, pc_port, 10)];
    forwarding.extend(
        (0..=MAX_ACCESS_PORT_MACS).map(|i| fdb(&format!("00:1a:2b:77:00:{i:02x}"), 48, 10)),
    );
    // The PC's MAC is also learnt on the uplink of the switch upstream; here it is seen only on
    // its access port, and a second, unknown MAC sits on port 3.
    forwarding.push(fdb("00:1a:2b:55:00:01", 3, 10));
    SnmpDevice {
        ip: "198.18.0.2".into(),
        port: 161,
        version: "v2c".into(),
        system: SnmpSystem {
            descr: Some("Cisco IOS Software, C2960X".into()),
            object_id: Some("1.3.6.1.4.1.9.1.1208".into()),
            name: Some("sw-floor2".into()),
            location: Some("Building B, floor 2".into()),
            ..Default::default()
        },
        interfaces: vec![
            iface(1, "Gi1/0/1", "00:1a:2b:aa:00:01"),
            iface(2, "Gi1/0/2", "00:1a:2b:aa:00:02"),
            iface(3, "Gi1/0/3", "00:1a:2b:aa:00:03"),
            iface(48, "Gi1/0/48", "00:1a:2b:aa:00:30"),
        ],
        bridge: Some(BridgeInfo {
            num_ports: Some(48),
            forwarding,
        }),
        lldp_neighbors: vec![LldpNeighbor {
            local_port: 48,
            chassis_id: Some("00:1a:2b:cc:00:01".into()),
            port_id: Some("Te1/1/1".into()),
            system_name: Some("core-1".into()),
            ..Default::default()
        }],
        identification: Identification {
            device_type: DeviceType::Switch,
            vendor: Some("Cisco".into()),
            model: Some("WS-C2960X-48FPD-L".into()),
            serial: Some("FOC1234X0AB".into()),
            firmware: Some("15.2(7)E8".into()),
            enterprise: Some(9),
            evidence: vec!["bridge-mib".into()],
        },
        ..Default::default()
    }
}

fn field<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
    items.iter().filter(|h| h["field"] == name).collect()
}

#[tokio::test]
async fn switch_places_the_agent_pc_on_its_port_and_a_move_shows_in_history() {
    let e = env().await;
    let (status, pc) = post_json(&e, "/api/v1/inventories", &pc_inventory()).await;
    assert_eq!(status, StatusCode::CREATED, "{pc}");
    let pc_id = pc["asset_id"].as_i64().unwrap();
    // The core switch, known from a sweep by name, so that the LLDP neighbour resolves.
    let mut core = swept("198.18.0.1", Some("00:1a:2b:cc:00:01"));
    core.name = Some("core-1".into());
    let (status, _) = post_json(&e, "/api/v1/discoveries", &sweep(vec![core])).await;
    assert_eq!(status, StatusCode::OK);

    let first = snmp_doc(switch(1), Utc::now() - Duration::minutes(10));
    let (status, answer) = post_json(&e, "/api/v1/snmp", &first).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["kind"], "switch");
    assert_eq!(answer["placements"], 1, "{answer}");
    assert_eq!(answer["links"], 1, "{answer}");
    let switch_id = answer["asset_id"].as_i64().unwrap();

    let pc = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(pc["kind"], "computer");
    assert_eq!(pc["plugged_into"]["switch_id"], switch_id);
    assert_eq!(pc["plugged_into"]["switch_name"], "sw-floor2");
    assert_eq!(pc["plugged_into"]["port"], "Gi1/0/1");
    assert_eq!(pc["plugged_into"]["vlan"], 10);
    assert_eq!(pc["snmp"], Value::Null);
    // Existing fields are still there.
    assert_eq!(pc["hardware"]["model"], "EliteDesk 800 G6");

    let sw = get(&e, &format!("/api/v1/assets/{switch_id}")).await;
    assert_eq!(sw["kind"], "switch");
    assert_eq!(sw["name"], "sw-floor2");
    assert_eq!(sw["manufacturer"], "Cisco");
    assert_eq!(sw["model"], "WS-C2960X-48FPD-L");
    assert_eq!(sw["serial"], "FOC1234X0AB");
    assert_eq!(sw["firmware"], "15.2(7)E8");
    assert_eq!(sw["plugged_into"], Value::Null);
    assert_eq!(sw["snmp"]["system"]["location"], "Building B, floor 2");
    assert_eq!(sw["snmp"]["bridge"]["forwarding_entries"], 11);
    assert_eq!(sw["ports"], json!({"Gi1/0/1": [pc_id]}));
    assert_eq!(sw["links"][0]["neighbor_name"], "core-1");
    assert_eq!(sw["links"][0]["port"], "Gi1/0/48");
    assert_eq!(sw["links"][0]["protocol"], "lldp");
    assert!(sw["ip_addresses"]
        .as_array()
        .unwrap()
        .contains(&json!("198.18.0.2")));

    let moved = snmp_doc(switch(2), Utc::now() - Duration::minutes(5));
    let (status, answer) = post_json(&e, "/api/v1/snmp", &moved).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["asset_id"], switch_id, "same switch, by serial");
    assert_eq!(answer["rule"], "serial");
    assert_eq!(answer["changes"], 0, "{answer}");
    let pc = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(pc["plugged_into"]["port"], "Gi1/0/2");
    let sw = get(&e, &format!("/api/v1/assets/{switch_id}")).await;
    assert_eq!(sw["ports"], json!({"Gi1/0/2": [pc_id]}));
    let items = history(&e, pc_id).await;
    let moves = field(&items, "plugged_into");
    assert_eq!(moves.len(), 2, "{items:?}");
    assert_eq!(moves[0]["old"], "sw-floor2 Gi1/0/1");
    assert_eq!(moves[0]["new"], "sw-floor2 Gi1/0/2");
    assert_eq!(moves[0]["source"], "snmp");
    assert_eq!(moves[1]["old"], Value::Null);

    // A report delivered late (observed before the move) changes nothing.
    let late = snmp_doc(switch(1), Utc::now() - Duration::minutes(8));
    let (status, _) = post_json(&e, "/api/v1/snmp", &late).await;
    assert_eq!(status, StatusCode::OK);
    let pc = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(pc["plugged_into"]["port"], "Gi1/0/2");

    let switches = get(&e, "/api/v1/assets?kind=switch").await;
    assert_eq!(switches["total"], 1, "{switches}");
    assert_eq!(switches["items"][0]["id"], switch_id);
}

#[tokio::test]
async fn printer_merges_with_the_sweep_asset_at_its_address() {
    let e = env().await;
    let (status, _) = post_json(
        &e,
        "/api/v1/discoveries",
        &sweep(vec![swept("198.18.0.30", None)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let swept_id = get(&e, "/api/v1/assets").await["items"][0]["id"]
        .as_i64()
        .unwrap();

    let printer = SnmpDevice {
        ip: "198.18.0.30".into(),
        version: "v2c".into(),
        system: SnmpSystem {
            name: Some("prn-b2-01".into()),
            ..Default::default()
        },
        interfaces: vec![iface(1, "eth0", "00:1a:2b:10:20:30")],
        printer: Some(PrinterInfo {
            serial: Some("CNB1K23456".into()),
            model: Some("HP LaserJet M607".into()),
            page_count: Some(123_456),
            supplies: vec![PrinterSupply {
                description: Some("Black Cartridge HP 37A".into()),
                level: Some(40),
                max: Some(100),
            }],
        }),
        identification: Identification {
            device_type: DeviceType::Printer,
            vendor: Some("HP".into()),
            model: Some("LaserJet M607".into()),
            serial: Some("CNB1K23456".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (status, answer) = post_json(&e, "/api/v1/snmp", &snmp_doc(printer, Utc::now())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["asset_id"], swept_id);
    assert_eq!(answer["rule"], "ip");

    let list = get(&e, "/api/v1/assets").await;
    assert_eq!(list["total"], 1, "one asset, not two: {list}");
    let asset = get(&e, &format!("/api/v1/assets/{swept_id}")).await;
    assert_eq!(asset["kind"], "printer");
    assert_eq!(asset["serial"], "CNB1K23456");
    assert_eq!(asset["name"], "prn-b2-01");
    assert_eq!(asset["manufacturer"], "HP");
    assert_eq!(asset["snmp"]["printer"]["page_count"], 123_456);
    assert_eq!(asset["snmp"]["printer"]["supplies"][0]["level"], 40);
    assert!(asset["mac_addresses"]
        .as_array()
        .unwrap()
        .contains(&json!("00:1a:2b:10:20:30")));
    let sources = common::source_kinds(&asset);
    assert_eq!(sources, ["sweep", "snmp"]);

    let items = history(&e, swept_id).await;
    let kind = field(&items, "kind");
    assert_eq!(kind.len(), 1, "{items:?}");
    assert_eq!(
        (&kind[0]["old"], &kind[0]["new"]),
        (&json!("unknown"), &json!("printer"))
    );
    assert_eq!(field(&items, "serial")[0]["new"], "CNB1K23456");

    let printers = get(&e, "/api/v1/assets?kind=printer").await;
    assert_eq!(printers["total"], 1);
    assert_eq!(get(&e, "/api/v1/assets?kind=unknown").await["total"], 0);
}

#[tokio::test]
async fn router_arp_gives_a_mac_to_a_remote_subnet_asset() {
    let e = env().await;
    // Routed subnet: the sweep saw the host but not its MAC.
    let (status, _) = post_json(
        &e,
        "/api/v1/discoveries",
        &sweep(vec![swept("198.18.8.50", None), swept("198.18.8.60", None)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, pc) = post_json(&e, "/api/v1/inventories", &pc_inventory()).await;
    assert_eq!(status, StatusCode::CREATED);
    let pc_id = pc["asset_id"].as_i64().unwrap();
    let list = get(&e, "/api/v1/assets?q=198.18.8.50").await;
    let remote_id = list["items"][0]["id"].as_i64().unwrap();
    let other_id = get(&e, "/api/v1/assets?q=198.18.8.60").await["items"][0]["id"]
        .as_i64()
        .unwrap();

    let router = SnmpDevice {
        ip: "198.18.0.1".into(),
        version: "v2c".into(),
        system: SnmpSystem {
            name: Some("rtr-1".into()),
            ..Default::default()
        },
        interfaces: vec![iface(1, "Gi0/0", "00:1a:2b:ee:00:01")],
        ip_forwarding: Some(true),
        arp: vec![
            ArpEntry {
                ip: "198.18.8.50".into(),
                mac: "00-1A-2B-3C-99-01".into(),
                if_index: 2,
            },
            // The agent PC's MAC seen at another address: the agent's word stands.
            ArpEntry {
                ip: "198.18.8.60".into(),
                mac: PC_MAC.into(),
                if_index: 2,
            },
            // Unknown address: nothing is created.
            ArpEntry {
                ip: "198.18.8.99".into(),
                mac: "00:1a:2b:3c:99:99".into(),
                if_index: 2,
            },
        ],
        identification: Identification {
            device_type: DeviceType::Router,
            ..Default::default()
        },
        ..Default::default()
    };
    let (status, answer) = post_json(&e, "/api/v1/snmp", &snmp_doc(router, Utc::now())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["arp_macs"], 1, "{answer}");
    assert_eq!(answer["kind"], "router");

    let remote = get(&e, &format!("/api/v1/assets/{remote_id}")).await;
    assert_eq!(remote["mac_addresses"], json!(["00:1a:2b:3c:99:01"]));
    let items = history(&e, remote_id).await;
    let macs = field(&items, "mac_addresses");
    assert_eq!(macs.len(), 1, "{items:?}");
    assert_eq!(macs[0]["new"], "00:1a:2b:3c:99:01");
    assert_eq!(macs[0]["source"], "snmp_arp");

    let other = get(&e, &format!("/api/v1/assets/{other_id}")).await;
    assert_eq!(other["mac_addresses"], json!([]));
    let pc = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(pc["mac_addresses"], json!([PC_MAC]));
    assert_eq!(get(&e, "/api/v1/assets").await["total"], 4);
}

#[tokio::test]
async fn snmp_on_an_agent_pc_never_downgrades_it() {
    let e = env().await;
    let (_, pc) = post_json(&e, "/api/v1/inventories", &pc_inventory()).await;
    let pc_id = pc["asset_id"].as_i64().unwrap();
    // Windows' SNMP service with IP forwarding on: an identifier might call it a router.
    let device = SnmpDevice {
        ip: "198.18.0.10".into(),
        version: "v2c".into(),
        system: SnmpSystem {
            name: Some("PC-0001-SNMP".into()),
            ..Default::default()
        },
        interfaces: vec![iface(1, "eth0", PC_MAC)],
        identification: Identification {
            device_type: DeviceType::Router,
            vendor: Some("Microsoft".into()),
            model: Some("Windows".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (status, answer) = post_json(&e, "/api/v1/snmp", &snmp_doc(device, Utc::now())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["asset_id"].as_i64(), &answer["rule"]),
        (Some(pc_id), &json!("mac"))
    );
    let asset = get(&e, &format!("/api/v1/assets/{pc_id}")).await;
    assert_eq!(asset["kind"], "computer");
    assert_eq!(asset["name"], "pc-0001");
    assert_eq!(asset["manufacturer"], "HP");
    assert_eq!(asset["model"], "EliteDesk 800 G6");
    assert_eq!(asset["snmp"]["identification"]["device_type"], "router");
}

#[tokio::test]
async fn sweep_host_with_snmp_identification_types_its_asset() {
    let e = env().await;
    let mut ups = swept("198.18.0.40", Some("00:1a:2b:40:40:40"));
    ups.methods.push(ProbeMethod::Snmp);
    ups.device = Some(Identification {
        device_type: DeviceType::Ups,
        vendor: Some("APC".into()),
        model: Some("Smart-UPS 1500".into()),
        ..Default::default()
    });
    let (status, answer) = post_json(&e, "/api/v1/discoveries", &sweep(vec![ups])).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let list = get(&e, "/api/v1/assets?kind=ups").await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["manufacturer"], "APC");
    assert_eq!(list["items"][0]["model"], "Smart-UPS 1500");
}

#[tokio::test]
async fn replay_changes_nothing() {
    let e = env().await;
    let doc = snmp_doc(switch(1), Utc::now());
    let (status, first) = post_json(&e, "/api/v1/snmp", &doc).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let before = e.store.row_counts().await.unwrap();
    let (status, again) = post_json(&e, "/api/v1/snmp", &doc).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["asset_id"], first["asset_id"]);
    assert_eq!(e.store.row_counts().await.unwrap(), before);
}

#[tokio::test]
async fn refused_documents_name_the_problem_and_write_nothing() {
    let e = env().await;
    let valid = serde_json::to_value(snmp_doc(switch(1), Utc::now())).unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut v = valid.clone();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let mut big = switch(1);
    big.bridge.as_mut().unwrap().forwarding = (0..3000u32)
        .map(|i| {
            fdb(
                &format!("00:1a:2b:00:{:02x}:{:02x}", i / 256, i % 256),
                5,
                1,
            )
        })
        .collect();
    let big = serde_json::to_vec(&snmp_doc(big, Utc::now())).unwrap();
    assert!(big.len() > TEST_MAX_DOCUMENT);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "truncated",
            b"{\"header\": {".to_vec(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "unknown device type",
            edited(&|v| v["body"]["identification"]["device_type"] = "toaster".into()),
            StatusCode::BAD_REQUEST,
            "body.identification.device_type",
        ),
        (
            "inventory posted as SNMP",
            edited(&|v| v["header"]["source"] = "agent_inventory".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "accepts only \"snmp\" documents",
        ),
        (
            "address",
            edited(&|v| v["body"]["ip"] = "sw-floor2".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body.ip: \"sw-floor2\" is not an IP address",
        ),
        (
            "too many supplies",
            edited(&|v| {
                v["body"]["printer"] = json!({"supplies": vec![json!({}); 257]});
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body.printer.supplies has 257 entries, more than the limit of 256",
        ),
        (
            "long string",
            edited(&|v| v["body"]["system"]["descr"] = "x".repeat(4097).into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body.system.descr is 4097 characters long",
        ),
        (
            "future schema",
            edited(&|v| v["header"]["schema_version"] = 9.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_version 9 is not supported",
        ),
        (
            "too large",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than the limit",
        ),
    ];
    for (name, body, want, message) in cases {
        let (status, answer) = send(&e.app, post("/api/v1/snmp", Some(&e.token), body, None)).await;
        assert_eq!(status, want, "{name}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{name}: {answer}"
        );
    }
    let valid = serde_json::to_vec(&valid).unwrap();
    let (status, _) = send(&e.app, post("/api/v1/snmp", None, valid.clone(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (table, n) in e.store.row_counts().await.unwrap() {
        assert_eq!(n, 0, "{table} has {n} rows after refused documents");
    }

    // The same document, gzipped, is accepted.
    let gzipped = post("/api/v1/snmp", Some(&e.token), gzip(&valid), Some("gzip"));
    let (status, answer) = send(&e.app, gzipped).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}
