//! Ingest throughput on a real SQLite file: a hospital's worth of inventories, then the same
//! machines again unchanged and with a few upgrades, then a sweep of the whole site, then SNMP
//! reports of the access switches (every machine on a port, every MAC also on each uplink) and
//! of the router (an ARP entry per machine), twice.
//!
//! `cargo run -p parc-collector --example ingest_bench [--release] -- [MACHINES] [PACKAGES]`
//! (defaults: 1100 machines, 1500 packages each). Documents go through the real router
//! (intake checks, merge, store) in process, one at a time, as the write path serialises them
//! anyway.

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use parc_collector::http::{router, AppState};
use parc_collector::store::Store;
use parc_shared::inventory::{NetworkInterface, Software};
use parc_shared::snmp::{
    ArpEntry, BridgeInfo, DeviceType, FdbEntry, Identification, LldpNeighbor, SnmpDevice,
    SnmpInterface, SnmpSystem,
};
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, HardwareId, Inventory, SourceKind,
};
use tower::ServiceExt;
use uuid::Uuid;

fn mac(i: u32) -> String {
    format!(
        "00:1a:2b:{:02x}:{:02x}:{:02x}",
        i >> 16,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn ip(i: u32) -> String {
    format!("198.18.{}.{}", i / 250, i % 250 + 1)
}

/// Access switches of 48 ports; port 48 is the uplink, where every machine's MAC is learnt.
const PORTS_PER_SWITCH: u32 = 47;

fn switch(s: u32, machines: u32, moved: bool) -> Document<SnmpDevice> {
    let first = s * PORTS_PER_SWITCH;
    let mut forwarding: Vec<FdbEntry> = (first..(first + PORTS_PER_SWITCH).min(machines))
        .map(|i| {
            // The second round moves every machine one port along.
            let port = (i - first + u32::from(moved)) % PORTS_PER_SWITCH + 1;
            FdbEntry {
                mac: mac(i),
                bridge_port: port,
                if_index: Some(port),
                vlan: Some(10),
            }
        })
        .collect();
    forwarding.extend((0..machines).map(|i| FdbEntry {
        mac: mac(i),
        bridge_port: 48,
        if_index: Some(48),
        vlan: Some(10),
    }));
    let device = SnmpDevice {
        ip: format!("198.18.250.{}", s + 1),
        version: "v2c".into(),
        system: SnmpSystem {
            name: Some(format!("sw-{s:03}")),
            ..Default::default()
        },
        interfaces: (1..=48)
            .map(|p| SnmpInterface {
                index: p,
                name: Some(format!("Gi1/0/{p}")),
                mac: Some(format!("00:1b:{s:02x}:00:00:{p:02x}")),
                ..Default::default()
            })
            .collect(),
        bridge: Some(BridgeInfo {
            num_ports: Some(48),
            forwarding,
        }),
        lldp_neighbors: vec![LldpNeighbor {
            local_port: 48,
            system_name: Some("core-1".into()),
            ..Default::default()
        }],
        identification: Identification {
            device_type: DeviceType::Switch,
            serial: Some(format!("FOC{s:08}")),
            ..Default::default()
        },
        ..Default::default()
    };
    Document {
        header: DocumentHeader::new(Uuid::from_u128(7), SourceKind::Snmp, Utc::now()),
        body: device,
    }
}

fn router_doc(machines: u32) -> Document<SnmpDevice> {
    let device = SnmpDevice {
        ip: "198.18.255.1".into(),
        version: "v2c".into(),
        arp: (0..machines + 1000)
            .map(|i| ArpEntry {
                ip: ip(i),
                // Machines answer with their own MAC; the sweep-only hosts get theirs here.
                mac: mac(if i < machines { i } else { i + 100_000 }),
                if_index: 1,
            })
            .collect(),
        identification: Identification {
            device_type: DeviceType::Router,
            ..Default::default()
        },
        ..Default::default()
    };
    Document {
        header: DocumentHeader::new(Uuid::from_u128(7), SourceKind::Snmp, Utc::now()),
        body: device,
    }
}

fn machine(i: u32, packages: u32, upgraded: bool) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = format!("pc-{i:05}");
    inv.os.family = "linux".into();
    inv.hardware.serial = HardwareId::serial(&format!("SN{i:08}"));
    inv.hardware.uuid = HardwareId::uuid(&format!("4c4c4544-0000-0000-0000-{i:012x}"));
    inv.network.interfaces = vec![NetworkInterface {
        name: "eth0".into(),
        mac: Some(mac(i)),
        addresses: vec![format!("{}/16", ip(i))],
        state: "up".into(),
        ..Default::default()
    }];
    inv.software = (0..packages)
        .map(|p| Software {
            name: format!("package-{p:05}"),
            version: Some(if upgraded && p % 300 == 0 {
                "2.0".into()
            } else {
                "1.0".into()
            }),
            arch: Some("amd64".into()),
            publisher: Some("Debian".into()),
            source: "dpkg".into(),
            ..Default::default()
        })
        .collect();
    Document {
        header: DocumentHeader::new(
            Uuid::from_u128(u128::from(i) + 1),
            SourceKind::AgentInventory,
            Utc::now(),
        ),
        body: inv,
    }
}

async fn post(app: &axum::Router, token: &str, path: &str, body: Vec<u8>) -> serde_json::Value {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    assert!(status.is_success(), "{status}");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let machines: u32 = args.next().map_or(1100, |a| a.parse().expect("MACHINES"));
    let packages: u32 = args.next().map_or(1500, |a| a.parse().expect("PACKAGES"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parc.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), 8)
        .await
        .unwrap();
    let (_, token) = store.create_token("bench").await.unwrap();
    let app = router(AppState::new(
        store.clone(),
        parc_shared::limits::MAX_DOCUMENT_BYTES,
    ));

    let rounds = [
        ("new machines", false),
        ("unchanged", false),
        ("5 upgrades each", true),
    ];
    for (name, upgraded) in rounds {
        let docs: Vec<Vec<u8>> = (0..machines)
            .map(|i| serde_json::to_vec(&machine(i, packages, upgraded)).unwrap())
            .collect();
        let bytes: usize = docs.iter().map(Vec::len).sum();
        let start = Instant::now();
        for doc in docs {
            post(&app, &token, "/api/v1/inventories", doc).await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:>16}: {machines} inventories ({:.1} MB JSON) in {secs:.2} s = {:.0} docs/s, {:.1} ms/doc",
            bytes as f64 / 1e6,
            f64::from(machines) / secs,
            secs * 1000.0 / f64::from(machines)
        );
    }

    let now = Utc::now();
    let hosts: Vec<DiscoveredHost> = (0..machines + 1000)
        .map(|i| DiscoveredHost {
            ip: format!("198.18.{}.{}", i / 250, i % 250 + 1),
            methods: vec![parc_shared::ProbeMethod::IcmpEcho],
            ..Default::default()
        })
        .collect();
    let n = hosts.len();
    let sweep = Document {
        header: DocumentHeader::new(Uuid::from_u128(u128::MAX), SourceKind::Sweep, now),
        body: Discovery {
            targets: vec!["198.18.0.0/16".into()],
            addresses_probed: 65_534,
            started_at: now,
            finished_at: now,
            hosts,
            job_id: None,
        },
    };
    let start = Instant::now();
    post(
        &app,
        &token,
        "/api/v1/discoveries",
        serde_json::to_vec(&sweep).unwrap(),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:>16}: {n} hosts ({machines} known by address) in {secs:.2} s = {:.0} hosts/s",
        "sweep",
        n as f64 / secs
    );
    snmp_rounds(&app, &token, machines).await;
    let start = Instant::now();
    let req = Request::get("/api/v1/assets?q=sn0000&per_page=500")
        .body(Body::empty())
        .unwrap();
    let status = app.clone().oneshot(req).await.unwrap().status();
    assert!(status.is_success());
    println!(
        "{:>16}: {:.1} ms",
        "search",
        start.elapsed().as_secs_f64() * 1000.0
    );
    store.close().await;
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!("{:>16}: {:.1} MB", "database", size as f64 / 1e6);
}

async fn snmp_rounds(app: &axum::Router, token: &str, machines: u32) {
    let switches = machines.div_ceil(PORTS_PER_SWITCH);
    for (name, moved) in [("switches", false), ("switches again", true)] {
        let docs: Vec<Vec<u8>> = (0..switches)
            .map(|s| serde_json::to_vec(&switch(s, machines, moved)).unwrap())
            .collect();
        let bytes: usize = docs.iter().map(Vec::len).sum();
        let start = Instant::now();
        let mut placed = 0;
        for doc in docs {
            placed += post(app, token, "/api/v1/snmp", doc).await["placements"]
                .as_u64()
                .unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:>16}: {switches} switches ({} FDB entries each, {:.1} MB JSON) in {secs:.2} s = {:.1} ms/switch, {placed} placed",
            machines + PORTS_PER_SWITCH,
            bytes as f64 / 1e6,
            secs * 1000.0 / f64::from(switches)
        );
    }
    // A core switch near the document size limit: 150,000 forwarding entries, mostly MACs no
    // asset has, every port an uplink.
    let mut core = switch(200, 0, false);
    core.body.ip = "198.18.251.1".into();
    core.body.bridge.as_mut().unwrap().forwarding = (0..150_000u32)
        .map(|i| FdbEntry {
            mac: mac(i + 200_000),
            bridge_port: i % 48 + 1,
            if_index: Some(i % 48 + 1),
            vlan: Some(i % 4 + 1),
        })
        .collect();
    let doc = serde_json::to_vec(&core).unwrap();
    let start = Instant::now();
    post(app, token, "/api/v1/snmp", doc.clone()).await;
    println!(
        "{:>16}: 150000 FDB entries ({:.1} MB JSON) in {:.2} s",
        "core switch",
        doc.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    // Rebuilt each time: a new document id, so the second one is not a replay.
    for name in ["router ARP", "router again"] {
        let doc = serde_json::to_vec(&router_doc(machines)).unwrap();
        let start = Instant::now();
        let given = post(app, token, "/api/v1/snmp", doc).await["arp_macs"].clone();
        println!(
            "{name:>16}: {} ARP entries in {:.2} s, {given} MACs given",
            machines + 1000,
            start.elapsed().as_secs_f64()
        );
    }
}
